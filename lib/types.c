/*
 * lib/types.c - the Agentex resources: the message content union, agent, task, event,
 * message, state, tracker, and their lists.
 *
 * Fixed resources are described by field tables in wire order; one generic parser,
 * printer and destructor walk the tables.  The content union has its own code.
 *
 * Wire names live here only.  Parsing: unknown keys are ignored, null means absent for
 * optional fields, a missing required field or a wrong JSON type is AGENTEX_EPROTO.
 * Every allocation of ours goes through agx_*; cJSON trees are copied with
 * cJSON_Duplicate (cJSON's allocator), whose failure is also AGENTEX_ENOMEM.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agentex/types.h"
#include "internal.h"
#include "types_internal.h"

/* ---- small helpers ---- */

static int lookup(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Adds item under a constant key; false (and nothing leaked) if item is NULL. */
static bool put(cJSON *obj, const char *key, cJSON *item)
{
    if (!item)
        return false;
    if (!cJSON_AddItemToObjectCS(obj, key, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

static cJSON *time_or_null(int64_t t)
{
    char buf[32];
    if (t == ADK_TIME_NONE || adk_time_format(t, buf, sizeof buf) != AGENTEX_OK)
        return cJSON_CreateNull();
    return cJSON_CreateString(buf);
}

/* A deep copy of j as a root value: cJSON_Duplicate also copies the member name j had
 * in its parent object, which a stored value must not carry. */
static cJSON *json_copy(const cJSON *j)
{
    cJSON *d = cJSON_Duplicate(j, 1);
    if (d && d->string) {
        if (!(d->type & cJSON_StringIsConst))
            cJSON_free(d->string);
        d->string = NULL;
        d->type &= ~cJSON_StringIsConst;
    }
    return d;
}

static cJSON *json_or_null(const cJSON *j)
{
    return j ? json_copy(j) : cJSON_CreateNull();
}

/* An integer-valued JSON number in [min, INT64_MAX]; false otherwise.  cJSON keeps
 * numbers as double, so anything beyond 2^63 or with a fraction is rejected. */
static bool json_int64(const cJSON *it, int64_t min, int64_t *out)
{
    if (!cJSON_IsNumber(it))
        return false;
    double d = it->valuedouble;
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return false; /* also NaN */
    int64_t v = (int64_t)d;
    if ((double)v != d || v < min)
        return false;
    *out = v;
    return true;
}

static void str_array_free(char **a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        agx_free(a[i]);
    agx_free(a);
}

/* Copies n strings (none may be NULL); *out NULL when n is 0. */
static agentex_err_t str_array_dup(const char *const *src, size_t n, char ***out)
{
    *out = NULL;
    if (n == 0)
        return AGENTEX_OK;
    char **a = agx_calloc(n, sizeof *a);
    if (!a)
        return AGENTEX_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        a[i] = agx_strdup(src[i]);
        if (!a[i]) {
            str_array_free(a, i);
            return AGENTEX_ENOMEM;
        }
    }
    *out = a;
    return AGENTEX_OK;
}

/* Parses a JSON array of strings. */
static agentex_err_t str_array_parse(const cJSON *arr, char ***out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (!cJSON_IsArray(arr))
        return AGENTEX_EPROTO;
    size_t n = (size_t)cJSON_GetArraySize(arr);
    if (n == 0)
        return AGENTEX_OK;
    char **a = agx_calloc(n, sizeof *a);
    if (!a)
        return AGENTEX_ENOMEM;
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        agentex_err_t rc = AGENTEX_OK;
        if (!cJSON_IsString(it) || !it->valuestring)
            rc = AGENTEX_EPROTO;
        else if (!(a[i] = agx_strdup(it->valuestring)))
            rc = AGENTEX_ENOMEM;
        if (rc != AGENTEX_OK) {
            str_array_free(a, i);
            return rc;
        }
        i++;
    }
    *out = a;
    *n_out = i;
    return AGENTEX_OK;
}

static cJSON *str_array_json(char *const *a, size_t n)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateString(a[i]);
        if (!s || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

static agentex_err_t proto_error(const char *what, const char *key)
{
    AGX_DEBUG("%s: \"%s\" is missing or has the wrong type or value", what, key);
    return AGENTEX_EPROTO;
}

/* ---- content ---- */

static const char *const content_type_names[] = {"text", "data", "tool_request", "tool_response",
                                                 "reasoning"};
static const char *const author_names[] = {"user", "agent"};
static const char *const style_names[] = {"static", "active"};
static const char *const format_names[] = {"plain", "markdown", "code"};

typedef struct attachment {
    char *file_id;
    char *name;
    char *mime_type;
    int64_t size;
} attachment_t;

struct adk_content {
    adk_content_type_t type;
    adk_author_t author;
    adk_style_t style;
    adk_text_format_t format; /* text */
    char *text;               /* text */
    attachment_t *att;        /* text */
    size_t n_att;
    bool has_att;       /* false: "attachments": null */
    cJSON *json;        /* data: data; tool_request: arguments; tool_response: content */
    char *tool_call_id; /* tool_request, tool_response */
    char *tool_name;    /* tool_request, tool_response */
    int is_error;       /* tool_response: 0, 1, -1 (null) */
    char **summary;     /* reasoning */
    size_t n_summary;
    char **rcontent; /* reasoning */
    size_t n_rcontent;
    bool has_rcontent; /* false: "content": null */
};

static void attachment_clear(attachment_t *a)
{
    agx_free(a->file_id);
    agx_free(a->name);
    agx_free(a->mime_type);
}

void adk_content_free(adk_content_t *c)
{
    if (!c)
        return;
    agx_free(c->text);
    for (size_t i = 0; i < c->n_att; i++)
        attachment_clear(&c->att[i]);
    agx_free(c->att);
    cJSON_Delete(c->json);
    agx_free(c->tool_call_id);
    agx_free(c->tool_name);
    str_array_free(c->summary, c->n_summary);
    str_array_free(c->rcontent, c->n_rcontent);
    agx_free(c);
}

static agentex_err_t content_alloc(adk_content_type_t type, adk_author_t author,
                                   adk_content_t **out)
{
    adk_content_t *c = agx_calloc(1, sizeof *c);
    if (!c)
        return AGENTEX_ENOMEM;
    c->type = type;
    c->author = author;
    c->style = ADK_STYLE_STATIC;
    c->format = ADK_FORMAT_PLAIN;
    c->is_error = -1;
    *out = c;
    return AGENTEX_OK;
}

static bool author_ok(adk_author_t a) { return a == ADK_AUTHOR_USER || a == ADK_AUTHOR_AGENT; }

agentex_err_t adk_content_text_new(adk_author_t author, const char *text, adk_content_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!text || !author_ok(author))
        return AGENTEX_EINVAL;
    adk_content_t *c;
    if (content_alloc(ADK_CONTENT_TEXT, author, &c) != AGENTEX_OK)
        return AGENTEX_ENOMEM;
    if (!(c->text = agx_strdup(text))) {
        adk_content_free(c);
        return AGENTEX_ENOMEM;
    }
    *out = c;
    return AGENTEX_OK;
}

agentex_err_t adk_content_data_new(adk_author_t author, const cJSON *data, adk_content_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!cJSON_IsObject(data) || !author_ok(author))
        return AGENTEX_EINVAL;
    adk_content_t *c;
    if (content_alloc(ADK_CONTENT_DATA, author, &c) != AGENTEX_OK)
        return AGENTEX_ENOMEM;
    if (!(c->json = json_copy(data))) {
        adk_content_free(c);
        return AGENTEX_ENOMEM;
    }
    *out = c;
    return AGENTEX_OK;
}

static agentex_err_t tool_new(adk_content_type_t type, adk_author_t author,
                              const char *tool_call_id, const char *name, const cJSON *json,
                              adk_content_t **out)
{
    adk_content_t *c;
    if (content_alloc(type, author, &c) != AGENTEX_OK)
        return AGENTEX_ENOMEM;
    if (!(c->tool_call_id = agx_strdup(tool_call_id)) || !(c->tool_name = agx_strdup(name)) ||
        !(c->json = json_copy(json))) {
        adk_content_free(c);
        return AGENTEX_ENOMEM;
    }
    *out = c;
    return AGENTEX_OK;
}

agentex_err_t adk_content_tool_request_new(adk_author_t author, const char *tool_call_id,
                                           const char *name, const cJSON *arguments,
                                           adk_content_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!author_ok(author) || !tool_call_id || !name || !cJSON_IsObject(arguments))
        return AGENTEX_EINVAL;
    return tool_new(ADK_CONTENT_TOOL_REQUEST, author, tool_call_id, name, arguments, out);
}

agentex_err_t adk_content_tool_response_new(adk_author_t author, const char *tool_call_id,
                                            const char *name, const cJSON *content, int is_error,
                                            adk_content_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!author_ok(author) || !tool_call_id || !name || !content || is_error < -1 || is_error > 1)
        return AGENTEX_EINVAL;
    agentex_err_t rc =
        tool_new(ADK_CONTENT_TOOL_RESPONSE, author, tool_call_id, name, content, out);
    if (rc == AGENTEX_OK)
        (*out)->is_error = is_error;
    return rc;
}

static bool strs_ok(const char *const *a, size_t n)
{
    if (n && !a)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!a[i])
            return false;
    return true;
}

agentex_err_t adk_content_reasoning_new(adk_author_t author, const char *const *summary,
                                        size_t n_summary, const char *const *content,
                                        size_t n_content, adk_content_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!author_ok(author) || !strs_ok(summary, n_summary) || (!content && n_content) ||
        !strs_ok(content, n_content))
        return AGENTEX_EINVAL;
    adk_content_t *c;
    if (content_alloc(ADK_CONTENT_REASONING, author, &c) != AGENTEX_OK)
        return AGENTEX_ENOMEM;
    if (str_array_dup(summary, n_summary, &c->summary) != AGENTEX_OK)
        goto nomem;
    c->n_summary = n_summary;
    if (content) {
        if (str_array_dup(content, n_content, &c->rcontent) != AGENTEX_OK)
            goto nomem;
        c->n_rcontent = n_content;
        c->has_rcontent = true;
    }
    *out = c;
    return AGENTEX_OK;
nomem:
    adk_content_free(c);
    return AGENTEX_ENOMEM;
}

agentex_err_t adk_content_set_style(adk_content_t *c, adk_style_t style)
{
    if (!c || (style != ADK_STYLE_STATIC && style != ADK_STYLE_ACTIVE))
        return AGENTEX_EINVAL;
    c->style = style;
    return AGENTEX_OK;
}

agentex_err_t adk_content_set_format(adk_content_t *c, adk_text_format_t format)
{
    if (!c || c->type != ADK_CONTENT_TEXT || (unsigned)format >= NELEM(format_names))
        return AGENTEX_EINVAL;
    c->format = format;
    return AGENTEX_OK;
}

/* Appends an attachment taking ownership of the three strings (freed on failure). */
static agentex_err_t attachment_push(adk_content_t *c, char *file_id, char *name, int64_t size,
                                     char *mime_type)
{
    attachment_t *a =
        file_id && name && mime_type ? agx_realloc(c->att, (c->n_att + 1) * sizeof *a) : NULL;
    if (!a) {
        agx_free(file_id);
        agx_free(name);
        agx_free(mime_type);
        return AGENTEX_ENOMEM;
    }
    c->att = a;
    a[c->n_att++] = (attachment_t){file_id, name, mime_type, size};
    c->has_att = true;
    return AGENTEX_OK;
}

agentex_err_t adk_content_add_attachment(adk_content_t *c, const char *file_id, const char *name,
                                         int64_t size, const char *mime_type)
{
    if (!c || c->type != ADK_CONTENT_TEXT || !file_id || !name || !mime_type || size < 0)
        return AGENTEX_EINVAL;
    return attachment_push(c, agx_strdup(file_id), agx_strdup(name), size, agx_strdup(mime_type));
}

adk_content_type_t adk_content_type(const adk_content_t *c)
{
    return c ? c->type : ADK_CONTENT_TEXT;
}
adk_author_t adk_content_author(const adk_content_t *c) { return c ? c->author : ADK_AUTHOR_USER; }
adk_style_t adk_content_style(const adk_content_t *c) { return c ? c->style : ADK_STYLE_STATIC; }
adk_text_format_t adk_content_format(const adk_content_t *c)
{
    return c ? c->format : ADK_FORMAT_PLAIN;
}
const char *adk_content_text(const adk_content_t *c)
{
    return c && c->type == ADK_CONTENT_TEXT ? c->text : NULL;
}
const cJSON *adk_content_data(const adk_content_t *c)
{
    return c && c->type == ADK_CONTENT_DATA ? c->json : NULL;
}
static bool is_tool(const adk_content_t *c)
{
    return c && (c->type == ADK_CONTENT_TOOL_REQUEST || c->type == ADK_CONTENT_TOOL_RESPONSE);
}
const char *adk_content_tool_call_id(const adk_content_t *c)
{
    return is_tool(c) ? c->tool_call_id : NULL;
}
const char *adk_content_tool_name(const adk_content_t *c)
{
    return is_tool(c) ? c->tool_name : NULL;
}
const cJSON *adk_content_tool_arguments(const adk_content_t *c)
{
    return c && c->type == ADK_CONTENT_TOOL_REQUEST ? c->json : NULL;
}
const cJSON *adk_content_tool_result(const adk_content_t *c)
{
    return c && c->type == ADK_CONTENT_TOOL_RESPONSE ? c->json : NULL;
}
int adk_content_tool_is_error(const adk_content_t *c)
{
    return c && c->type == ADK_CONTENT_TOOL_RESPONSE ? c->is_error : -1;
}
size_t adk_content_reasoning_summary_count(const adk_content_t *c)
{
    return c && c->type == ADK_CONTENT_REASONING ? c->n_summary : 0;
}
const char *adk_content_reasoning_summary_at(const adk_content_t *c, size_t i)
{
    return i < adk_content_reasoning_summary_count(c) ? c->summary[i] : NULL;
}
size_t adk_content_reasoning_content_count(const adk_content_t *c)
{
    return c && c->type == ADK_CONTENT_REASONING ? c->n_rcontent : 0;
}
const char *adk_content_reasoning_content_at(const adk_content_t *c, size_t i)
{
    return i < adk_content_reasoning_content_count(c) ? c->rcontent[i] : NULL;
}
size_t adk_content_attachment_count(const adk_content_t *c)
{
    return c && c->type == ADK_CONTENT_TEXT ? c->n_att : 0;
}

agentex_err_t adk_content_attachment_at(const adk_content_t *c, size_t i, const char **file_id,
                                        const char **name, int64_t *size, const char **mime_type)
{
    if (i >= adk_content_attachment_count(c))
        return AGENTEX_EINVAL;
    const attachment_t *a = &c->att[i];
    if (file_id)
        *file_id = a->file_id;
    if (name)
        *name = a->name;
    if (size)
        *size = a->size;
    if (mime_type)
        *mime_type = a->mime_type;
    return AGENTEX_OK;
}

/* A string member of obj: required (present and a string) or optional (absent or null
 * gives NULL).  Copied into *out. */
static agentex_err_t get_str(const cJSON *obj, const char *key, bool required, char **out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!it || cJSON_IsNull(it))
        return required ? proto_error("content", key) : AGENTEX_OK;
    if (!cJSON_IsString(it) || !it->valuestring)
        return proto_error("content", key);
    return (*out = agx_strdup(it->valuestring)) ? AGENTEX_OK : AGENTEX_ENOMEM;
}

/* An enum member given by its wire names; absent or null gives def (or EPROTO when
 * def < 0: required). */
static agentex_err_t get_enum(const cJSON *obj, const char *key, const char *const *names, size_t n,
                              int def, int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it || cJSON_IsNull(it)) {
        if (def < 0)
            return proto_error("content", key);
        *out = def;
        return AGENTEX_OK;
    }
    int v = cJSON_IsString(it) && it->valuestring ? lookup(names, n, it->valuestring) : -1;
    if (v < 0)
        return proto_error("content", key);
    *out = v;
    return AGENTEX_OK;
}

static agentex_err_t parse_attachments(adk_content_t *c, const cJSON *arr)
{
    if (!cJSON_IsArray(arr))
        return proto_error("content", "attachments");
    c->has_att = true;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        int64_t size = 0;
        char *file_id = NULL, *name = NULL, *mime = NULL;
        agentex_err_t rc = AGENTEX_OK;
        if (!cJSON_IsObject(it))
            rc = proto_error("content", "attachments");
        else if (!json_int64(cJSON_GetObjectItemCaseSensitive(it, "size"), INT64_MIN, &size))
            rc = proto_error("attachment", "size");
        if (rc == AGENTEX_OK && (rc = get_str(it, "file_id", true, &file_id)) == AGENTEX_OK &&
            (rc = get_str(it, "name", true, &name)) == AGENTEX_OK &&
            (rc = get_str(it, "type", true, &mime)) == AGENTEX_OK)
            rc = attachment_push(c, file_id, name, size, mime);
        else {
            agx_free(file_id);
            agx_free(name);
            agx_free(mime);
        }
        if (rc != AGENTEX_OK)
            return rc;
    }
    return AGENTEX_OK;
}

/* The body of adk_content_from_json; json may be anything. */
static agentex_err_t content_parse(const cJSON *json, adk_content_t **out)
{
    int type, author, style, format;
    agentex_err_t rc;
    adk_content_t *c = NULL;
    const cJSON *it;

    if (!cJSON_IsObject(json))
        return proto_error("content", "(object)");
    if ((rc = get_enum(json, "type", content_type_names, NELEM(content_type_names), -1, &type)) !=
            AGENTEX_OK ||
        (rc = get_enum(json, "author", author_names, NELEM(author_names), -1, &author)) !=
            AGENTEX_OK ||
        (rc = get_enum(json, "style", style_names, NELEM(style_names), ADK_STYLE_STATIC, &style)) !=
            AGENTEX_OK)
        return rc;
    if ((rc = content_alloc((adk_content_type_t)type, (adk_author_t)author, &c)) != AGENTEX_OK)
        return rc;
    c->style = (adk_style_t)style;

    switch (c->type) {
    case ADK_CONTENT_TEXT:
        if ((rc = get_enum(json, "format", format_names, NELEM(format_names), ADK_FORMAT_PLAIN,
                           &format)) != AGENTEX_OK ||
            (rc = get_str(json, "content", true, &c->text)) != AGENTEX_OK)
            goto out;
        c->format = (adk_text_format_t)format;
        it = cJSON_GetObjectItemCaseSensitive(json, "attachments");
        if (it && !cJSON_IsNull(it) && (rc = parse_attachments(c, it)) != AGENTEX_OK)
            goto out;
        break;
    case ADK_CONTENT_DATA:
        it = cJSON_GetObjectItemCaseSensitive(json, "data");
        if (!cJSON_IsObject(it)) {
            rc = proto_error("content", "data");
            goto out;
        }
        if (!(c->json = json_copy(it))) {
            rc = AGENTEX_ENOMEM;
            goto out;
        }
        break;
    case ADK_CONTENT_TOOL_REQUEST:
    case ADK_CONTENT_TOOL_RESPONSE: {
        bool req = c->type == ADK_CONTENT_TOOL_REQUEST;
        const char *key = req ? "arguments" : "content";
        if ((rc = get_str(json, "tool_call_id", true, &c->tool_call_id)) != AGENTEX_OK ||
            (rc = get_str(json, "name", true, &c->tool_name)) != AGENTEX_OK)
            goto out;
        it = cJSON_GetObjectItemCaseSensitive(json, key);
        if (!it || (req && !cJSON_IsObject(it))) {
            rc = proto_error("content", key);
            goto out;
        }
        if (!(c->json = json_copy(it))) {
            rc = AGENTEX_ENOMEM;
            goto out;
        }
        if (!req) {
            it = cJSON_GetObjectItemCaseSensitive(json, "is_error");
            if (it && !cJSON_IsNull(it)) {
                if (!cJSON_IsBool(it)) {
                    rc = proto_error("content", "is_error");
                    goto out;
                }
                c->is_error = cJSON_IsTrue(it) ? 1 : 0;
            }
        }
        break;
    }
    case ADK_CONTENT_REASONING:
        it = cJSON_GetObjectItemCaseSensitive(json, "summary");
        if ((rc = str_array_parse(it, &c->summary, &c->n_summary)) != AGENTEX_OK) {
            if (rc == AGENTEX_EPROTO)
                proto_error("content", "summary");
            goto out;
        }
        it = cJSON_GetObjectItemCaseSensitive(json, "content");
        if (it && !cJSON_IsNull(it)) {
            if ((rc = str_array_parse(it, &c->rcontent, &c->n_rcontent)) != AGENTEX_OK) {
                if (rc == AGENTEX_EPROTO)
                    proto_error("content", "content");
                goto out;
            }
            c->has_rcontent = true;
        }
        break;
    }
    rc = AGENTEX_OK;
out:
    if (rc != AGENTEX_OK) {
        adk_content_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

agentex_err_t adk_content_from_json(const cJSON *json, adk_content_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!json)
        return AGENTEX_EINVAL;
    return content_parse(json, out);
}

static cJSON *attachments_json(const adk_content_t *c)
{
    if (!c->has_att)
        return cJSON_CreateNull();
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < c->n_att; i++) {
        const attachment_t *a = &c->att[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            goto fail;
        }
        if (!put(o, "file_id", cJSON_CreateString(a->file_id)) ||
            !put(o, "name", cJSON_CreateString(a->name)) ||
            !put(o, "size", cJSON_CreateNumber((double)a->size)) ||
            !put(o, "type", cJSON_CreateString(a->mime_type)))
            goto fail;
    }
    return arr;
fail:
    cJSON_Delete(arr);
    return NULL;
}

static cJSON *is_error_json(int is_error)
{
    return is_error < 0 ? cJSON_CreateNull() : cJSON_CreateBool(is_error != 0);
}

agentex_err_t adk_content_to_json(const adk_content_t *c, cJSON **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return AGENTEX_ENOMEM;
    if (!put(o, "type", cJSON_CreateString(content_type_names[c->type])) ||
        !put(o, "author", cJSON_CreateString(author_names[c->author])) ||
        !put(o, "style", cJSON_CreateString(style_names[c->style])))
        goto nomem;
    bool ok = true;
    switch (c->type) {
    case ADK_CONTENT_TEXT:
        ok = put(o, "format", cJSON_CreateString(format_names[c->format])) &&
             put(o, "content", cJSON_CreateString(c->text)) &&
             put(o, "attachments", attachments_json(c));
        break;
    case ADK_CONTENT_DATA:
        ok = put(o, "data", json_copy(c->json));
        break;
    case ADK_CONTENT_TOOL_REQUEST:
    case ADK_CONTENT_TOOL_RESPONSE: {
        bool req = c->type == ADK_CONTENT_TOOL_REQUEST;
        ok = put(o, "tool_call_id", cJSON_CreateString(c->tool_call_id)) &&
             put(o, "name", cJSON_CreateString(c->tool_name)) &&
             put(o, req ? "arguments" : "content", json_copy(c->json)) &&
             (req || put(o, "is_error", is_error_json(c->is_error)));
        break;
    }
    case ADK_CONTENT_REASONING:
        ok = put(o, "summary", str_array_json(c->summary, c->n_summary)) &&
             put(o, "content",
                 c->has_rcontent ? str_array_json(c->rcontent, c->n_rcontent) : cJSON_CreateNull());
        break;
    }
    if (!ok)
        goto nomem;
    *out = o;
    return AGENTEX_OK;
nomem:
    cJSON_Delete(o);
    return AGENTEX_ENOMEM;
}

agentex_err_t adk_content_dup(const adk_content_t *c, adk_content_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    adk_content_t *d;
    if (content_alloc(c->type, c->author, &d) != AGENTEX_OK)
        return AGENTEX_ENOMEM;
    d->style = c->style;
    d->format = c->format;
    d->is_error = c->is_error;
    d->has_att = c->has_att;
    d->has_rcontent = c->has_rcontent;
    if ((c->text && !(d->text = agx_strdup(c->text))) ||
        (c->tool_call_id && !(d->tool_call_id = agx_strdup(c->tool_call_id))) ||
        (c->tool_name && !(d->tool_name = agx_strdup(c->tool_name))) ||
        (c->json && !(d->json = json_copy(c->json))))
        goto nomem;
    if (str_array_dup((const char *const *)c->summary, c->n_summary, &d->summary) != AGENTEX_OK)
        goto nomem;
    d->n_summary = c->n_summary;
    if (str_array_dup((const char *const *)c->rcontent, c->n_rcontent, &d->rcontent) != AGENTEX_OK)
        goto nomem;
    d->n_rcontent = c->n_rcontent;
    for (size_t i = 0; i < c->n_att; i++) {
        const attachment_t *a = &c->att[i];
        if (attachment_push(d, agx_strdup(a->file_id), agx_strdup(a->name), a->size,
                            agx_strdup(a->mime_type)) != AGENTEX_OK)
            goto nomem;
    }
    *out = d;
    return AGENTEX_OK;
nomem:
    adk_content_free(d);
    return AGENTEX_ENOMEM;
}

/* ---- fixed resources, described by field tables ---- */

typedef enum field_kind {
    F_STR,       /* char *: string or null */
    F_TIME,      /* int64_t: ISO-8601 string or null (ADK_TIME_NONE) */
    F_OBJ,       /* cJSON *: object or null */
    F_CONTENT,   /* adk_content_t *: TaskMessageContent or null */
    F_SEQ,       /* int64_t: non-negative integer */
    F_STREAMING, /* adk_streaming_status_t: "IN_PROGRESS", "DONE" or null */
} field_kind_t;

enum {
    F_REQUIRED = 1,  /* absent or null: EPROTO */
    F_IF_PRESENT = 2 /* printed only when the key was in the parsed JSON */
};

typedef struct field {
    const char *key;
    unsigned char kind;
    unsigned char flags;
    size_t off;
} field_t;

/* Every resource struct starts with this: which table keys the parsed JSON had. */
typedef struct resource {
    uint32_t present;
} resource_t;

#define FIELD_PTR(obj, f) ((char *)(obj) + (f)->off)

static const char *const streaming_names[] = {"IN_PROGRESS", "DONE"};

static void fields_free(void *obj, const field_t *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const field_t *f = &fields[i];
        void *p = FIELD_PTR(obj, f);
        switch ((field_kind_t)f->kind) {
        case F_STR:
            agx_free(*(char **)p);
            break;
        case F_OBJ:
            cJSON_Delete(*(cJSON **)p);
            break;
        case F_CONTENT:
            adk_content_free(*(adk_content_t **)p);
            break;
        case F_TIME:
        case F_SEQ:
        case F_STREAMING:
            break;
        }
    }
}

static agentex_err_t field_parse(const cJSON *it, const field_t *f, void *p)
{
    switch ((field_kind_t)f->kind) {
    case F_STR:
        if (!cJSON_IsString(it) || !it->valuestring)
            return AGENTEX_EPROTO;
        return (*(char **)p = agx_strdup(it->valuestring)) ? AGENTEX_OK : AGENTEX_ENOMEM;
    case F_TIME:
        if (!cJSON_IsString(it) || !it->valuestring ||
            adk_time_parse(it->valuestring, (int64_t *)p) != AGENTEX_OK)
            return AGENTEX_EPROTO;
        return AGENTEX_OK;
    case F_OBJ:
        if (!cJSON_IsObject(it))
            return AGENTEX_EPROTO;
        return (*(cJSON **)p = json_copy(it)) ? AGENTEX_OK : AGENTEX_ENOMEM;
    case F_CONTENT:
        return content_parse(it, (adk_content_t **)p);
    case F_SEQ:
        return json_int64(it, 0, (int64_t *)p) ? AGENTEX_OK : AGENTEX_EPROTO;
    case F_STREAMING: {
        int v = cJSON_IsString(it) && it->valuestring
                    ? lookup(streaming_names, NELEM(streaming_names), it->valuestring)
                    : -1;
        if (v < 0)
            return AGENTEX_EPROTO;
        *(adk_streaming_status_t *)p = (adk_streaming_status_t)(v + 1);
        return AGENTEX_OK;
    }
    }
    return AGENTEX_EINTERNAL;
}

/* A table has at most this many keys (one bit each in resource_t.present). */
#define MAX_FIELDS 32

/* found[i]: the first member of the object json named fields[i].key, or NULL (as
 * cJSON_GetObjectItemCaseSensitive would answer), in one pass over the members.  They
 * usually come in the table's order, so each key is first looked for after the previous
 * member's: a handful of comparisons in all instead of one search of the object per key. */
static void fields_find(const cJSON *json, const field_t *fields, size_t n, const cJSON **found)
{
    size_t next = 0;
    for (size_t i = 0; i < n; i++)
        found[i] = NULL;
    for (const cJSON *it = json->child; it; it = it->next) {
        if (!it->string)
            continue;
        for (size_t k = 0; k < n; k++) {
            size_t j = (next + k) % n;
            if (strcmp(fields[j].key, it->string) == 0) {
                if (!found[j])
                    found[j] = it;
                next = j + 1;
                break;
            }
        }
    }
}

/* Parses json into a zeroed struct obj (a resource_t first). On error the caller frees
 * obj with fields_free. */
static agentex_err_t fields_parse(const cJSON *json, const char *what, const field_t *fields,
                                  size_t n, void *obj)
{
    resource_t *r = obj;
    const cJSON *found[MAX_FIELDS];
    for (size_t i = 0; i < n; i++)
        if (fields[i].kind == F_TIME)
            *(int64_t *)FIELD_PTR(obj, &fields[i]) = ADK_TIME_NONE;
    if (!cJSON_IsObject(json))
        return proto_error(what, "(object)");
    fields_find(json, fields, n, found);
    for (size_t i = 0; i < n; i++) {
        const field_t *f = &fields[i];
        const cJSON *it = found[i];
        if (it)
            r->present |= UINT32_C(1) << i;
        if (!it || cJSON_IsNull(it)) {
            if (f->flags & F_REQUIRED)
                return proto_error(what, f->key);
            continue;
        }
        agentex_err_t rc = field_parse(it, f, FIELD_PTR(obj, f));
        if (rc == AGENTEX_EPROTO)
            return proto_error(what, f->key);
        if (rc != AGENTEX_OK)
            return rc;
    }
    return AGENTEX_OK;
}

static cJSON *field_json(const field_t *f, const void *p)
{
    switch ((field_kind_t)f->kind) {
    case F_STR:
        return str_or_null(*(char *const *)p);
    case F_TIME:
        return time_or_null(*(const int64_t *)p);
    case F_OBJ:
        return json_or_null(*(cJSON *const *)p);
    case F_CONTENT: {
        const adk_content_t *c = *(adk_content_t *const *)p;
        cJSON *j = NULL;
        if (!c)
            return cJSON_CreateNull();
        return adk_content_to_json(c, &j) == AGENTEX_OK ? j : NULL;
    }
    case F_SEQ:
        return cJSON_CreateNumber((double)*(const int64_t *)p);
    case F_STREAMING: {
        adk_streaming_status_t s = *(const adk_streaming_status_t *)p;
        return s == ADK_STREAMING_NONE ? cJSON_CreateNull()
                                       : cJSON_CreateString(streaming_names[s - 1]);
    }
    }
    return NULL;
}

static agentex_err_t fields_to_json(const void *obj, const field_t *fields, size_t n, cJSON **out)
{
    const resource_t *r = obj;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return AGENTEX_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const field_t *f = &fields[i];
        if ((f->flags & F_IF_PRESENT) && !(r->present & (UINT32_C(1) << i)))
            continue;
        if (!put(o, f->key, field_json(f, FIELD_PTR(obj, f)))) {
            cJSON_Delete(o);
            return AGENTEX_ENOMEM;
        }
    }
    *out = o;
    return AGENTEX_OK;
}

/*
 * Defines, for a resource T with struct adk_T and table T_fields:
 * adk_T_from_json, adk_T_to_json, adk_T_free.  post_parse (may be NULL-op) runs after a
 * successful parse.
 */
#define DEFINE_RESOURCE(T, what, post_parse)                                                       \
    void adk_##T##_free(adk_##T##_t *x)                                                            \
    {                                                                                              \
        if (!x)                                                                                    \
            return;                                                                                \
        fields_free(x, T##_fields, NELEM(T##_fields));                                             \
        agx_free(x);                                                                               \
    }                                                                                              \
    _Static_assert(NELEM(T##_fields) <= MAX_FIELDS, #T ": too many fields");                       \
    static agentex_err_t T##_parse(const cJSON *json, adk_##T##_t **out)                           \
    {                                                                                              \
        adk_##T##_t *x = agx_calloc(1, sizeof *x);                                                 \
        if (!x)                                                                                    \
            return AGENTEX_ENOMEM;                                                                 \
        agentex_err_t rc = fields_parse(json, what, T##_fields, NELEM(T##_fields), x);             \
        if (rc != AGENTEX_OK) {                                                                    \
            adk_##T##_free(x);                                                                     \
            return rc;                                                                             \
        }                                                                                          \
        post_parse(x);                                                                             \
        *out = x;                                                                                  \
        return AGENTEX_OK;                                                                         \
    }                                                                                              \
    agentex_err_t adk_##T##_from_json(const cJSON *json, adk_##T##_t **out)                        \
    {                                                                                              \
        if (!out)                                                                                  \
            return AGENTEX_EINVAL;                                                                 \
        *out = NULL;                                                                               \
        if (!json)                                                                                 \
            return AGENTEX_EINVAL;                                                                 \
        return T##_parse(json, out);                                                               \
    }                                                                                              \
    agentex_err_t adk_##T##_to_json(const adk_##T##_t *x, cJSON **out)                             \
    {                                                                                              \
        if (!out)                                                                                  \
            return AGENTEX_EINVAL;                                                                 \
        *out = NULL;                                                                               \
        if (!x)                                                                                    \
            return AGENTEX_EINVAL;                                                                 \
        return fields_to_json(x, T##_fields, NELEM(T##_fields), out);                              \
    }

#define FLD(T, key, kind, flags, member)                                                           \
    {                                                                                              \
        key, kind, flags, offsetof(struct adk_##T, member)                                         \
    }

/* ---- agent ---- */

struct adk_agent {
    resource_t r;
    char *id, *docker_image, *name, *description, *acp_type, *status, *status_reason, *acp_url;
    int64_t created_at, updated_at, registered_at;
    cJSON *registration_metadata;
    char *agent_input_type, *production_deployment_id, *api_key;
};

/* Order of the ACP params.agent entity (protocol 8); docker_image and acp_url only come in
 * that entity and agent_api_key only in a registration answer: printed when parsed. */
static const field_t agent_fields[] = {
    FLD(agent, "id", F_STR, F_REQUIRED, id),
    FLD(agent, "docker_image", F_STR, F_IF_PRESENT, docker_image),
    FLD(agent, "name", F_STR, F_REQUIRED, name),
    FLD(agent, "description", F_STR, 0, description),
    FLD(agent, "acp_type", F_STR, 0, acp_type),
    FLD(agent, "status", F_STR, 0, status),
    FLD(agent, "status_reason", F_STR, 0, status_reason),
    FLD(agent, "acp_url", F_STR, F_IF_PRESENT, acp_url),
    FLD(agent, "created_at", F_TIME, 0, created_at),
    FLD(agent, "updated_at", F_TIME, 0, updated_at),
    FLD(agent, "registration_metadata", F_OBJ, 0, registration_metadata),
    FLD(agent, "registered_at", F_TIME, 0, registered_at),
    FLD(agent, "agent_input_type", F_STR, 0, agent_input_type),
    FLD(agent, "production_deployment_id", F_STR, 0, production_deployment_id),
    FLD(agent, "agent_api_key", F_STR, F_IF_PRESENT, api_key),
};

static void no_post_parse(void *x) { (void)x; }

DEFINE_RESOURCE(agent, "agent", no_post_parse)

const char *adk_agent_id(const adk_agent_t *a) { return a ? a->id : NULL; }
const char *adk_agent_name(const adk_agent_t *a) { return a ? a->name : NULL; }
const char *adk_agent_description(const adk_agent_t *a) { return a ? a->description : NULL; }
const char *adk_agent_acp_type(const adk_agent_t *a) { return a ? a->acp_type : NULL; }
const char *adk_agent_status(const adk_agent_t *a) { return a ? a->status : NULL; }
const char *adk_agent_status_reason(const adk_agent_t *a) { return a ? a->status_reason : NULL; }
const char *adk_agent_acp_url(const adk_agent_t *a) { return a ? a->acp_url : NULL; }
const char *adk_agent_api_key(const adk_agent_t *a) { return a ? a->api_key : NULL; }
const cJSON *adk_agent_registration_metadata(const adk_agent_t *a)
{
    return a ? a->registration_metadata : NULL;
}
int64_t adk_agent_created_at(const adk_agent_t *a) { return a ? a->created_at : ADK_TIME_NONE; }
int64_t adk_agent_updated_at(const adk_agent_t *a) { return a ? a->updated_at : ADK_TIME_NONE; }
int64_t adk_agent_registered_at(const adk_agent_t *a)
{
    return a ? a->registered_at : ADK_TIME_NONE;
}

/* ---- task ---- */

static const char *const task_status_names[] = {NULL,      "RUNNING",  "INTERRUPTED", "COMPLETED",
                                                "FAILED",  "CANCELED", "TERMINATED",  "TIMED_OUT",
                                                "DELETED", NULL};

const char *adk_task_status_name(adk_task_status_t s)
{
    return (unsigned)s < NELEM(task_status_names) ? task_status_names[s] : NULL;
}

bool adk_task_status_is_terminal(adk_task_status_t s)
{
    switch (s) {
    case ADK_TASK_COMPLETED:
    case ADK_TASK_FAILED:
    case ADK_TASK_CANCELED:
    case ADK_TASK_TERMINATED:
    case ADK_TASK_TIMED_OUT:
    case ADK_TASK_DELETED:
        return true;
    default:
        return false;
    }
}

struct adk_task {
    resource_t r;
    char *id, *name, *status_text, *status_reason;
    int64_t created_at, updated_at, cleaned_at;
    cJSON *params, *metadata;
    adk_task_status_t status;
};

static const field_t task_fields[] = {
    FLD(task, "id", F_STR, F_REQUIRED, id),
    FLD(task, "name", F_STR, 0, name),
    FLD(task, "status", F_STR, 0, status_text),
    FLD(task, "status_reason", F_STR, 0, status_reason),
    FLD(task, "created_at", F_TIME, 0, created_at),
    FLD(task, "updated_at", F_TIME, 0, updated_at),
    FLD(task, "cleaned_at", F_TIME, 0, cleaned_at),
    FLD(task, "params", F_OBJ, 0, params),
    FLD(task, "task_metadata", F_OBJ, 0, metadata),
};

static void task_post_parse(adk_task_t *t)
{
    t->status = ADK_TASK_STATUS_NONE;
    if (!t->status_text)
        return;
    t->status = ADK_TASK_STATUS_UNKNOWN;
    for (size_t i = 0; i < NELEM(task_status_names); i++)
        if (task_status_names[i] && strcmp(task_status_names[i], t->status_text) == 0)
            t->status = (adk_task_status_t)i;
}

DEFINE_RESOURCE(task, "task", task_post_parse)

const char *adk_task_id(const adk_task_t *t) { return t ? t->id : NULL; }
const char *adk_task_name(const adk_task_t *t) { return t ? t->name : NULL; }
adk_task_status_t adk_task_status(const adk_task_t *t)
{
    return t ? t->status : ADK_TASK_STATUS_NONE;
}
const char *adk_task_status_text(const adk_task_t *t) { return t ? t->status_text : NULL; }
const char *adk_task_status_reason(const adk_task_t *t) { return t ? t->status_reason : NULL; }
const cJSON *adk_task_params(const adk_task_t *t) { return t ? t->params : NULL; }
const cJSON *adk_task_metadata(const adk_task_t *t) { return t ? t->metadata : NULL; }
int64_t adk_task_created_at(const adk_task_t *t) { return t ? t->created_at : ADK_TIME_NONE; }
int64_t adk_task_updated_at(const adk_task_t *t) { return t ? t->updated_at : ADK_TIME_NONE; }

/* ---- event ---- */

struct adk_event {
    resource_t r;
    char *id;
    int64_t sequence_id;
    char *task_id, *agent_id;
    int64_t created_at;
    adk_content_t *content;
};

static const field_t event_fields[] = {
    FLD(event, "id", F_STR, F_REQUIRED, id),
    FLD(event, "sequence_id", F_SEQ, F_REQUIRED, sequence_id),
    FLD(event, "task_id", F_STR, F_REQUIRED, task_id),
    FLD(event, "agent_id", F_STR, F_REQUIRED, agent_id),
    FLD(event, "created_at", F_TIME, 0, created_at),
    FLD(event, "content", F_CONTENT, 0, content),
};

DEFINE_RESOURCE(event, "event", no_post_parse)

const char *adk_event_id(const adk_event_t *e) { return e ? e->id : NULL; }
int64_t adk_event_sequence_id(const adk_event_t *e) { return e ? e->sequence_id : -1; }
const char *adk_event_task_id(const adk_event_t *e) { return e ? e->task_id : NULL; }
const char *adk_event_agent_id(const adk_event_t *e) { return e ? e->agent_id : NULL; }
int64_t adk_event_created_at(const adk_event_t *e) { return e ? e->created_at : ADK_TIME_NONE; }
const adk_content_t *adk_event_content(const adk_event_t *e) { return e ? e->content : NULL; }

/* ---- message ---- */

struct adk_message {
    resource_t r;
    char *id, *task_id;
    adk_content_t *content;
    adk_streaming_status_t streaming_status;
    int64_t created_at, updated_at;
};

static const field_t message_fields[] = {
    FLD(message, "id", F_STR, 0, id),
    FLD(message, "task_id", F_STR, F_REQUIRED, task_id),
    FLD(message, "content", F_CONTENT, F_REQUIRED, content),
    FLD(message, "streaming_status", F_STREAMING, 0, streaming_status),
    FLD(message, "created_at", F_TIME, 0, created_at),
    FLD(message, "updated_at", F_TIME, 0, updated_at),
};

DEFINE_RESOURCE(message, "message", no_post_parse)

const char *adk_message_id(const adk_message_t *m) { return m ? m->id : NULL; }
const char *adk_message_task_id(const adk_message_t *m) { return m ? m->task_id : NULL; }
const adk_content_t *adk_message_content(const adk_message_t *m) { return m ? m->content : NULL; }
adk_streaming_status_t adk_message_streaming_status(const adk_message_t *m)
{
    return m ? m->streaming_status : ADK_STREAMING_NONE;
}
int64_t adk_message_created_at(const adk_message_t *m) { return m ? m->created_at : ADK_TIME_NONE; }
int64_t adk_message_updated_at(const adk_message_t *m) { return m ? m->updated_at : ADK_TIME_NONE; }

/* ---- state ---- */

struct adk_state {
    resource_t r;
    char *task_id, *agent_id;
    cJSON *state;
    char *id;
    int64_t created_at, updated_at;
};

static const field_t state_fields[] = {
    FLD(state, "task_id", F_STR, F_REQUIRED, task_id),
    FLD(state, "agent_id", F_STR, F_REQUIRED, agent_id),
    FLD(state, "state", F_OBJ, F_REQUIRED, state),
    FLD(state, "id", F_STR, F_REQUIRED, id),
    FLD(state, "created_at", F_TIME, 0, created_at),
    FLD(state, "updated_at", F_TIME, 0, updated_at),
};

DEFINE_RESOURCE(state, "state", no_post_parse)

const char *adk_state_id(const adk_state_t *s) { return s ? s->id : NULL; }
const char *adk_state_task_id(const adk_state_t *s) { return s ? s->task_id : NULL; }
const char *adk_state_agent_id(const adk_state_t *s) { return s ? s->agent_id : NULL; }
const cJSON *adk_state_value(const adk_state_t *s) { return s ? s->state : NULL; }
int64_t adk_state_created_at(const adk_state_t *s) { return s ? s->created_at : ADK_TIME_NONE; }
int64_t adk_state_updated_at(const adk_state_t *s) { return s ? s->updated_at : ADK_TIME_NONE; }

/* ---- tracker ---- */

struct adk_tracker {
    resource_t r;
    char *id, *agent_id, *task_id, *status, *status_reason, *last_processed_event_id;
    int64_t created_at, updated_at;
};

static const field_t tracker_fields[] = {
    FLD(tracker, "id", F_STR, F_REQUIRED, id),
    FLD(tracker, "agent_id", F_STR, F_REQUIRED, agent_id),
    FLD(tracker, "task_id", F_STR, F_REQUIRED, task_id),
    FLD(tracker, "status", F_STR, 0, status),
    FLD(tracker, "status_reason", F_STR, 0, status_reason),
    FLD(tracker, "last_processed_event_id", F_STR, 0, last_processed_event_id),
    FLD(tracker, "created_at", F_TIME, 0, created_at),
    FLD(tracker, "updated_at", F_TIME, 0, updated_at),
};

DEFINE_RESOURCE(tracker, "tracker", no_post_parse)

const char *adk_tracker_id(const adk_tracker_t *t) { return t ? t->id : NULL; }
const char *adk_tracker_task_id(const adk_tracker_t *t) { return t ? t->task_id : NULL; }
const char *adk_tracker_agent_id(const adk_tracker_t *t) { return t ? t->agent_id : NULL; }
const char *adk_tracker_status(const adk_tracker_t *t) { return t ? t->status : NULL; }
const char *adk_tracker_status_reason(const adk_tracker_t *t)
{
    return t ? t->status_reason : NULL;
}
const char *adk_tracker_last_processed_event_id(const adk_tracker_t *t)
{
    return t ? t->last_processed_event_id : NULL;
}
int64_t adk_tracker_created_at(const adk_tracker_t *t) { return t ? t->created_at : ADK_TIME_NONE; }
int64_t adk_tracker_updated_at(const adk_tracker_t *t) { return t ? t->updated_at : ADK_TIME_NONE; }

/* ---- lists ---- */

#define DEFINE_LIST(T)                                                                             \
    struct adk_##T##_list {                                                                        \
        size_t n;                                                                                  \
        adk_##T##_t **items;                                                                       \
    };                                                                                             \
    size_t adk_##T##_list_count(const adk_##T##_list_t *l) { return l ? l->n : 0; }                \
    const adk_##T##_t *adk_##T##_list_at(const adk_##T##_list_t *l, size_t i)                      \
    {                                                                                              \
        return l && i < l->n ? l->items[i] : NULL;                                                 \
    }                                                                                              \
    void adk_##T##_list_free(adk_##T##_list_t *l)                                                  \
    {                                                                                              \
        if (!l)                                                                                    \
            return;                                                                                \
        for (size_t i = 0; i < l->n; i++)                                                          \
            adk_##T##_free(l->items[i]);                                                           \
        agx_free(l->items);                                                                        \
        agx_free(l);                                                                               \
    }                                                                                              \
    agentex_err_t agx_##T##_list_from_json(const cJSON *arr, adk_##T##_list_t **out)               \
    {                                                                                              \
        if (!out)                                                                                  \
            return AGENTEX_EINVAL;                                                                 \
        if (!cJSON_IsArray(arr))                                                                   \
            return proto_error(#T " list", "(array)");                                             \
        adk_##T##_list_t *l = agx_calloc(1, sizeof *l);                                            \
        size_t n = (size_t)cJSON_GetArraySize(arr);                                                \
        if (!l || (n && !(l->items = agx_calloc(n, sizeof *l->items)))) {                          \
            agx_free(l);                                                                           \
            return AGENTEX_ENOMEM;                                                                 \
        }                                                                                          \
        const cJSON *it;                                                                           \
        cJSON_ArrayForEach(it, arr)                                                                \
        {                                                                                          \
            agentex_err_t rc = T##_parse(it, &l->items[l->n]);                                     \
            if (rc != AGENTEX_OK) {                                                                \
                adk_##T##_list_free(l);                                                            \
                return rc;                                                                         \
            }                                                                                      \
            l->n++;                                                                                \
        }                                                                                          \
        *out = l;                                                                                  \
        return AGENTEX_OK;                                                                         \
    }

DEFINE_LIST(agent)
DEFINE_LIST(task)
DEFINE_LIST(event)
DEFINE_LIST(message)
DEFINE_LIST(state)
DEFINE_LIST(tracker)
