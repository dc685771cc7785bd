/*
 * lib/jsonrpc.c - JSON-RPC 2.0 envelopes for the ACP server: parsing requests,
 * serialising acknowledgements, errors and NDJSON update lines; the header filter of
 * protocol 2.11; base64 for AUTH_PRINCIPAL_B64.
 */
#include <string.h>
#include <strings.h>

#include "jsonrpc.h"

/* ---- raw id extraction ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"'; returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }
        if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                if (!p)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p;
}

char *agx_rpc_raw_id(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p == '}')
            return NULL;
        const char *ks = p;
        p = skip_string(p, end);
        if (!p)
            return NULL;
        /* an escaped key may decode to "id" (cJSON's first match): give up, the caller
         * falls back to cJSON's rendering */
        if (memchr(ks, '\\', (size_t)(p - ks)))
            return NULL;
        bool is_id = (p - ks) == 4 && memcmp(ks, "\"id\"", 4) == 0;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_ws(p + 1, end);
        const char *vs = p;
        p = skip_value(p, end);
        if (!p || p == vs)
            return NULL;
        if (is_id)
            return agx_strndup(vs, (size_t)(p - vs));
        p = skip_ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == ',')
            p++;
        else
            return NULL;
    }
}

/* ---- parsing ---- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* true when the raw id text t (n bytes) is valid JSON as it stands: cJSON also accepts
 * numbers such as 01, 1. or 1.e3 and strings with raw control characters, which must not
 * be echoed into a reply. */
static bool raw_id_is_json(const char *t, size_t n)
{
    const char *p = t, *end = t + n;
    if (p < end && *p == '"') {
        for (; p < end; p++)
            if ((unsigned char)*p < 0x20)
                return false;
        return true;
    }
    if (p < end && *p == '-')
        p++;
    if (p >= end || !is_digit(*p))
        return false;
    if (*p == '0')
        p++;
    else
        while (p < end && is_digit(*p))
            p++;
    if (p < end && *p == '.') {
        if (++p >= end || !is_digit(*p))
            return false;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return false;
        while (p < end && is_digit(*p))
            p++;
    }
    return p == end;
}

void agx_rpc_req_clear(agx_rpc_req_t *req)
{
    if (!req)
        return;
    cJSON_Delete(req->root);
    agx_free(req->id_json);
    memset(req, 0, sizeof *req);
}

static int fail(agx_rpc_req_t *req, char **errmsg, int code, const char *msg)
{
    if (!req->id_json) {
        req->id_json = agx_strdup("null");
        if (!req->id_json)
            return 1;
    }
    *errmsg = agx_strdup(msg);
    return *errmsg ? code : 1;
}

int agx_rpc_parse(const char *body, size_t len, agx_rpc_req_t *req, char **errmsg)
{
    memset(req, 0, sizeof *req);
    *errmsg = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body ? body : "", body ? len : 0, &end, false);
    if (root && end) {
        /* trailing whitespace only */
        const char *stop = body + len;
        while (end < stop && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
            end++;
        if (end != stop) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (!root) {
        agx_buf_t m;
        agx_buf_init(&m);
        size_t off = (end && body && end >= body) ? (size_t)(end - body) : 0;
        if (len == 0)
            off = 0;
        if (agx_buf_printf(&m, "Parse error: invalid JSON at byte %zu", off) != 0) {
            agx_buf_free(&m);
            return fail(req, errmsg, 1, "");
        }
        int rc = fail(req, errmsg, AGX_RPC_PARSE_ERROR, m.data);
        agx_buf_free(&m);
        return rc;
    }
    req->root = root;
    if (!cJSON_IsObject(root))
        return fail(req, errmsg, AGX_RPC_INVALID_REQUEST,
                    "Invalid Request: the body must be a JSON object");

    /* the id first, so that every later error can echo it */
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "id");
    if (id && !cJSON_IsNull(id)) {
        if (!cJSON_IsString(id) && !cJSON_IsNumber(id))
            return fail(req, errmsg, AGX_RPC_INVALID_REQUEST,
                        "Invalid Request: id must be a string, a number or null");
        req->id_json = agx_rpc_raw_id(body, len);
        if (req->id_json && !raw_id_is_json(req->id_json, strlen(req->id_json))) {
            agx_free(req->id_json);
            req->id_json = NULL;
        }
        if (!req->id_json) {
            /* the scanner only fails on ENOMEM or on keys it cannot match byte for
             * byte (escaped "id"): fall back to cJSON's rendering */
            char *txt = cJSON_PrintUnformatted(id);
            if (!txt)
                return 1;
            req->id_json = agx_strdup(txt);
            cJSON_free(txt);
            if (!req->id_json)
                return 1;
        }
    } else {
        req->notification = true;
        req->id_json = agx_strdup("null");
        if (!req->id_json)
            return 1;
    }

    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "jsonrpc");
    if (ver && !(cJSON_IsString(ver) && strcmp(ver->valuestring, "2.0") == 0))
        return fail(req, errmsg, AGX_RPC_INVALID_REQUEST,
                    "Invalid Request: jsonrpc must be \"2.0\"");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(root, "method");
    if (!cJSON_IsString(method))
        return fail(req, errmsg, AGX_RPC_INVALID_REQUEST,
                    "Invalid Request: method must be a string");
    req->method = method->valuestring;
    req->params = cJSON_GetObjectItemCaseSensitive(root, "params");
    return 0;
}

/* ---- serialising ---- */

int agx_json_escape(agx_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (agx_buf_append(b, "\"", 1) != 0)
        return -1;
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    const unsigned char *run = p;
    for (; *p; p++) {
        const char *esc = NULL;
        char u[7];
        switch (*p) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        default:
            if (*p < 0x20) {
                u[0] = '\\';
                u[1] = 'u';
                u[2] = '0';
                u[3] = '0';
                u[4] = hex[*p >> 4];
                u[5] = hex[*p & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (esc) {
            if (agx_buf_append(b, run, (size_t)(p - run)) != 0 || agx_buf_puts(b, esc) != 0)
                return -1;
            run = p + 1;
        }
    }
    if (agx_buf_append(b, run, (size_t)(p - run)) != 0)
        return -1;
    return agx_buf_append(b, "\"", 1);
}

static char *finish(agx_buf_t *b, int rc)
{
    if (rc != 0) {
        agx_buf_free(b);
        return NULL;
    }
    return agx_buf_steal(b);
}

char *agx_rpc_ack(const char *id_json)
{
    /* on every acknowledgement: two copies, no format string */
    static const char head[] =
        "{\"jsonrpc\":\"2.0\",\"result\":{\"status\":\"processing\"},\"error\":null,\"id\":";
    const char *id = id_json ? id_json : "null";
    size_t hl = sizeof head - 1, il = strlen(id);
    char *out = agx_malloc(hl + il + 2);
    if (!out)
        return NULL;
    memcpy(out, head, hl);
    memcpy(out + hl, id, il);
    out[hl + il] = '}';
    out[hl + il + 1] = '\0';
    return out;
}

char *agx_rpc_null_result(void)
{
    return agx_strdup("{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":null,\"id\":null}");
}

char *agx_rpc_error(const char *id_json, int code, const char *message)
{
    agx_buf_t b;
    agx_buf_init(&b);
    int rc = agx_buf_printf(&b,
                            "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":%d,"
                            "\"message\":",
                            code);
    if (rc == 0)
        rc = agx_json_escape(&b, message);
    if (rc == 0)
        rc = agx_buf_printf(&b, ",\"data\":null},\"id\":%s}", id_json ? id_json : "null");
    return finish(&b, rc);
}

char *agx_rpc_update_line(const char *id_json, const char *type, int index, const cJSON *payload)
{
    agx_buf_t b;
    agx_buf_init(&b);
    int rc = agx_buf_puts(&b, "{\"jsonrpc\":\"2.0\",\"result\":{");
    if (rc == 0 && payload) {
        char *txt = cJSON_PrintUnformatted(payload);
        if (!txt)
            rc = -1;
        else {
            rc = agx_buf_printf(&b, "\"%s\":%s,", strcmp(type, "delta") == 0 ? "delta" : "content",
                                txt);
            cJSON_free(txt);
        }
    }
    if (rc == 0)
        rc = agx_buf_printf(&b,
                            "\"index\":%d,\"parent_task_message\":null,\"type\":\"%s\"},"
                            "\"error\":null,\"id\":%s}\n",
                            index, type, id_json ? id_json : "null");
    return finish(&b, rc);
}

/* ---- header filter (protocol 2.11) ---- */

bool agx_acp_header_forwarded(const char *name)
{
    static const char *const excluded[] = {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "host",
        "authorization",
        "cookie",
        "x-agent-api-key",
    };
    if (!name || strncasecmp(name, "x-", 2) != 0)
        return false;
    if (strncasecmp(name, "x-forwarded-", 12) == 0 || strncasecmp(name, "sec-", 4) == 0)
        return false;
    for (size_t i = 0; i < sizeof excluded / sizeof excluded[0]; i++)
        if (strcasecmp(name, excluded[i]) == 0)
            return false;
    return true;
}

/* ---- base64 ---- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

unsigned char *agx_base64_decode(const char *in, size_t *outlen)
{
    if (!in)
        return NULL;
    size_t n = strlen(in);
    while (n && (in[n - 1] == '\n' || in[n - 1] == '\r' || in[n - 1] == ' '))
        n--;
    if (n % 4 != 0)
        return NULL;
    unsigned char *out = agx_malloc(n / 4 * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];
            if (c == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) /* data after padding */
                goto bad;
            v[k] = b64val(c);
            if (v[k] < 0)
                goto bad;
        }
        unsigned triple = ((unsigned)v[0] << 18) | ((unsigned)v[1] << 12) | ((unsigned)v[2] << 6) |
                          (unsigned)v[3];
        out[o++] = (unsigned char)(triple >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(triple >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)triple;
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
bad:
    agx_free(out);
    return NULL;
}
