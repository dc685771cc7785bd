/*
 * devserver/rest.c - routing and the REST handlers.
 *
 * REST handlers run on the service thread with the store lock held; they stage the
 * response (status + body) and the stream frames to publish, and the dispatcher sends
 * both after the lock is released.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"

typedef struct rctx {
    dsrv_t *d;
    agx_http_req_t *r;
    int status;
    cJSON *body;
    cJSON *pub; /* array of [task_id, frame] */
} rctx_t;

static void ok(rctx_t *c, cJSON *body)
{
    c->status = 200;
    c->body = body;
}

/* Stages an error response (replacing whatever was staged). */
static void stage_error(rctx_t *c, int status, cJSON *body)
{
    cJSON_Delete(c->body);
    c->status = status;
    c->body = body;
}

static void err(rctx_t *c, int status, const char *fmt, ...) AGENTEX_PRINTF(3, 4);
static void err(rctx_t *c, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    stage_error(c, status, dev_error_body(status, msg));
}

static void e422(rctx_t *c, const char *fmt, ...) AGENTEX_PRINTF(2, 3);
static void e422(rctx_t *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    stage_error(c, 422, dev_422_body(msg));
}

static void e500_write(rctx_t *c) { err(c, 500, "Internal Server Error. write failed"); }

/* BEGIN IMMEDIATE; false, with the 500 staged, when the database is busy. */
static bool tx_begin(rctx_t *c)
{
    if (dev_begin(c->d) == 0)
        return true;
    err(c, 500, "Internal Server Error. database busy");
    return false;
}

/* COMMIT; false, rolled back and with the 500 staged, when it fails. */
static bool tx_commit(rctx_t *c)
{
    if (dev_commit(c->d) == 0)
        return true;
    dev_rollback(c->d);
    err(c, 500, "Internal Server Error. commit failed");
    return false;
}

/* ROLLBACK and stage the write failure. */
static void tx_write_failed(rctx_t *c)
{
    dev_rollback(c->d);
    e500_write(c);
}

static void notfound_id(rctx_t *c, const char *id)
{
    err(c, 404, "Item with id '%s' does not exist.", id);
}

/* The 404 of an entity looked up by id, or else by name. */
static void notfound_ref(rctx_t *c, const char *id, const char *name)
{
    if (id)
        notfound_id(c, id);
    else
        err(c, 404, "Item with name '%s' does not exist.", name);
}

/* Answers j, or the 404 of id when it is NULL. */
static void ok_or_404(rctx_t *c, const char *id, cJSON *j)
{
    if (!j)
        notfound_id(c, id);
    else
        ok(c, j);
}

static void pub(rctx_t *c, const char *task_id, cJSON *frame)
{
    if (!c->pub)
        c->pub = cJSON_CreateArray();
    cJSON *pair = cJSON_CreateArray();
    cJSON_AddItemToArray(pair, cJSON_CreateString(task_id));
    cJSON_AddItemToArray(pair, frame);
    cJSON_AddItemToArray(c->pub, pair);
}

static void pub_task(rctx_t *c, const cJSON *task)
{
    pub(c, dev_jstr(task, "id"), dev_frame_task_updated(task));
}

/* A `full` frame for a message written through REST, so that clients see messages of
 * agents that do not stream.  Not for a message written as IN_PROGRESS: that is the start
 * of a streamed message, which its agent announces itself (start, deltas, done); an empty
 * `full` arriving between its deltas would make subscribers restart the text. */
static void pub_msg(rctx_t *c, const cJSON *m)
{
    const char *st = dev_jstr(m, "streaming_status");
    if (st && strcmp(st, "IN_PROGRESS") == 0)
        return;
    pub(c, dev_jstr(m, "task_id"), dev_frame_full(m));
}

static char *now_iso(char buf[40])
{
    dev_iso_time(agx_now_us(), buf);
    return buf;
}

static void set_str(cJSON *o, const char *key, const char *val)
{
    cJSON *v = val ? cJSON_CreateString(val) : cJSON_CreateNull();
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else
        cJSON_AddItemToObject(o, key, v);
}

static void set_item(cJSON *o, const char *key, cJSON *v)
{
    if (cJSON_GetObjectItemCaseSensitive(o, key))
        cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
    else
        cJSON_AddItemToObject(o, key, v);
}

/* ---- body / query validation ----------------------------------------------------------- */

/* Parses the body as a JSON object; on failure stages a 422 and returns NULL.
 * allow_empty: an empty body (or JSON null) gives an empty object. */
static cJSON *body_obj(rctx_t *c, bool allow_empty)
{
    size_t len = 0;
    const char *b = agx_http_req_body(c->r, &len);
    size_t i = 0;
    while (i < len && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
        i++;
    if (i == len) {
        if (allow_empty)
            return cJSON_CreateObject();
        e422(c, "body: Field required");
        return NULL;
    }
    cJSON *j = dev_parse(b, len);
    if (!j) {
        e422(c, "body: JSON decode error");
        return NULL;
    }
    if (cJSON_IsNull(j) && allow_empty) {
        cJSON_Delete(j);
        return cJSON_CreateObject();
    }
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        e422(c, "body: Input should be a valid dictionary or object");
        return NULL;
    }
    return j;
}

/* Field checks: return false and stage a 422. */

/* o[key] of the type is accepts (what: its name in the 422); *out is NULL when the field is
 * absent (allowed unless required) or null (allowed when nullable). */
static bool want_typed(rctx_t *c, const cJSON *o, const char *key, bool required, bool nullable,
                       cJSON_bool (*is)(const cJSON *), const char *what, const cJSON **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v) {
        if (required) {
            e422(c, "body.%s: Field required", key);
            return false;
        }
        return true;
    }
    if (cJSON_IsNull(v) && nullable)
        return true;
    if (!is(v)) {
        e422(c, "body.%s: Input should be a valid %s", key, what);
        return false;
    }
    *out = v;
    return true;
}

static bool want_str(rctx_t *c, const cJSON *o, const char *key, bool required, bool nullable,
                     const char **out)
{
    const cJSON *v;
    bool ok = want_typed(c, o, key, required, nullable, cJSON_IsString, "string", &v);
    *out = v ? v->valuestring : NULL;
    return ok;
}

static bool want_obj(rctx_t *c, const cJSON *o, const char *key, bool required, bool nullable,
                     const cJSON **out)
{
    return want_typed(c, o, key, required, nullable, cJSON_IsObject, "dictionary", out);
}

static bool want_enum(rctx_t *c, const cJSON *o, const char *key, const char *const *allowed,
                      bool required, const char **out)
{
    if (!want_str(c, o, key, required, !required, out))
        return false;
    if (!*out)
        return true;
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(allowed[i], *out) == 0)
            return true;
    e422(c, "body.%s: Input should be one of the allowed values (got '%s')", key, *out);
    return false;
}

static cJSON *want_content(rctx_t *c, const cJSON *v, const char *where)
{
    char eb[512];
    if (!v) {
        e422(c, "%s: Field required", where);
        return NULL;
    }
    cJSON *n = dev_norm_content(v, eb, sizeof eb);
    if (!n)
        e422(c, "%s: %s", where, eb);
    return n;
}

static const char *qp(rctx_t *c, const char *name) { return agx_http_req_query_param(c->r, name); }

static bool q_required(rctx_t *c, const char *name, const char **out)
{
    *out = qp(c, name);
    if (!*out) {
        e422(c, "query.%s: Field required", name);
        return false;
    }
    return true;
}

typedef struct paging {
    long limit, page;
    bool asc;
} paging_t;

/* loose: the routes whose limit and page_number have no minimum in the OpenAPI spec
 * (/tasks, /messages): the real backend's store takes limit 0 as its default (50) and
 * rejects a page_number below 1 with a ClientError (400). */
static bool q_paging_opt(rctx_t *c, paging_t *p, bool loose)
{
    if (dev_query_int(c->r, "limit", 50, loose ? 0 : 1, 1000000, &p->limit)) {
        e422(c, "query.limit: Input should be a valid integer greater than or equal to 1");
        return false;
    }
    if (p->limit == 0)
        p->limit = 50;
    if (loose && dev_query_int(c->r, "page_number", 1, LONG_MIN, LONG_MAX, &p->page) == 0 &&
        p->page < 1) {
        err(c, 400, "Page number must be greater than 0");
        return false;
    }
    if (dev_query_int(c->r, "page_number", 1, 1, 1000000000, &p->page)) {
        e422(c, "query.page_number: Input should be a valid integer greater than or equal to 1");
        return false;
    }
    const char *dir = qp(c, "order_direction");
    if (!dir || strcmp(dir, "desc") == 0 || strcmp(dir, "DESC") == 0) {
        p->asc = false;
    } else if (strcmp(dir, "asc") == 0 || strcmp(dir, "ASC") == 0) {
        p->asc = true;
    } else {
        e422(c, "query.order_direction: Input should be 'asc' or 'desc'");
        return false;
    }
    return true;
}

static bool q_paging(rctx_t *c, paging_t *p) { return q_paging_opt(c, p, false); }

static int64_t offset(const paging_t *p) { return (int64_t)(p->page - 1) * p->limit; }

/* ---- agents ------------------------------------------------------------------------------ */

static bool name_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    return true;
}

static const char *const ACP_TYPES[] = {"sync", "async", "agentic", NULL};
static const char *const INPUT_TYPES[] = {"text", "json", NULL};

static void h_register(rctx_t *c)
{
    dsrv_t *d = c->d;
    cJSON *b = body_obj(c, false);
    if (!b)
        return;
    const char *name, *desc, *url, *type, *agent_id, *input_type;
    const cJSON *meta;
    if (!want_str(c, b, "name", true, false, &name) ||
        !want_str(c, b, "description", true, false, &desc) ||
        !want_str(c, b, "acp_url", true, false, &url) ||
        !want_enum(c, b, "acp_type", ACP_TYPES, true, &type) ||
        !want_str(c, b, "agent_id", false, true, &agent_id) ||
        !want_obj(c, b, "registration_metadata", false, true, &meta) ||
        !want_enum(c, b, "agent_input_type", INPUT_TYPES, false, &input_type))
        goto out;
    if (!name_ok(name)) {
        e422(c, "body.name: String should match pattern '^[a-z0-9-]+$' (input: '%s')", name);
        goto out;
    }
    char ts[40];
    now_iso(ts);
    cJSON *a = agent_id ? dev_agent_get(d, agent_id, NULL) : dev_agent_get(d, NULL, name);
    if (!a && agent_id) {
        notfound_id(c, agent_id);
        goto out;
    }
    bool changed = true;
    if (a) {
        char *before = dev_print(a);
        set_str(a, "name", name);
        set_str(a, "description", desc);
        set_str(a, "acp_url", url);
        set_str(a, "status", "Ready");
        set_str(a, "status_reason", "Agent registered successfully.");
        set_str(a, "acp_type", type);
        if (input_type)
            set_str(a, "agent_input_type", input_type);
        if (meta && cJSON_GetArraySize(meta) > 0) {
            cJSON *m = cJSON_GetObjectItemCaseSensitive(a, "registration_metadata");
            if (!cJSON_IsObject(m)) {
                m = cJSON_CreateObject();
                set_item(a, "registration_metadata", m);
            }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, meta) set_item(m, kv->string, cJSON_Duplicate(kv, true));
        }
        char *after = dev_print(a);
        changed = agent_id || !before || !after || strcmp(before, after) != 0;
        cJSON_free(before);
        cJSON_free(after);
        if (changed) {
            set_str(a, "registered_at", ts);
            set_str(a, "updated_at", ts);
        }
    } else {
        char id[37];
        dev_uuid4(id);
        a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "id", id);
        cJSON_AddNullToObject(a, "docker_image");
        cJSON_AddStringToObject(a, "name", name);
        cJSON_AddStringToObject(a, "description", desc);
        cJSON_AddStringToObject(a, "acp_type", type);
        cJSON_AddStringToObject(a, "status", "Ready");
        cJSON_AddStringToObject(a, "status_reason", "Agent registered successfully.");
        cJSON_AddStringToObject(a, "acp_url", url);
        cJSON_AddStringToObject(a, "created_at", ts);
        cJSON_AddStringToObject(a, "updated_at", ts);
        cJSON_AddItemToObject(a, "registration_metadata",
                              meta ? cJSON_Duplicate(meta, true) : cJSON_CreateNull());
        cJSON_AddStringToObject(a, "registered_at", ts);
        dev_add_str(a, "agent_input_type", input_type);
        cJSON_AddNullToObject(a, "production_deployment_id");
    }
    const char *aid = dev_jstr(a, "id");
    if (!tx_begin(c)) {
        cJSON_Delete(a);
        goto out;
    }
    if (dev_agent_put(d, a)) {
        dev_rollback(d);
        err(c, 400, "Item already exists. Please check all unique constraints and try again.");
        cJSON_Delete(a);
        goto out;
    }
    char key[129];
    sqlite3_stmt *st = NULL;
    key[0] = '\0';
    if (sqlite3_prepare_v2(d->db, "SELECT api_key FROM agents WHERE id=?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, aid, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            snprintf(key, sizeof key, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    if (!key[0]) {
        dev_hex_random(key, 32);
        (void)dev_exec(d, "UPDATE agents SET api_key=? WHERE id=?", "ss", key, aid);
    }
    (void)dev_exec(d, "UPDATE agents SET health_failures=0 WHERE id=?", "s", aid);
    if (!tx_commit(c)) {
        cJSON_Delete(a);
        goto out;
    }
    cJSON *resp = dev_agent_public(a);
    cJSON_AddStringToObject(resp, "agent_api_key", key);
    dev_log(AGENTEX_LOG_INFO, "registered agent %s (%s) at %s", name, aid, url);
    cJSON_Delete(a);
    ok(c, resp);
out:
    cJSON_Delete(b);
}

static const char *order_col(rctx_t *c, const char *def)
{
    const char *ob = qp(c, "order_by");
    if (!ob)
        return def;
    if (!strcmp(ob, "name"))
        return "name";
    return def;
}

static void h_agents_list(rctx_t *c)
{
    paging_t p;
    if (!q_paging(c, &p))
        return;
    const char *task_id = qp(c, "task_id");
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT json FROM agents WHERE (?1 IS NULL OR id IN (SELECT agent_id FROM tasks WHERE "
             "id=?1)) ORDER BY %s %s, rowid %s LIMIT ?2 OFFSET ?3",
             order_col(c, "created_us"), p.asc ? "ASC" : "DESC", p.asc ? "ASC" : "DESC");
    cJSON *rows = dev_list_json(c->d, sql, "sii", task_id, (int64_t)p.limit, offset(&p));
    cJSON *out = cJSON_CreateArray();
    cJSON *a;
    cJSON_ArrayForEach(a, rows) cJSON_AddItemToArray(out, dev_agent_public(a));
    cJSON_Delete(rows);
    ok(c, out);
}

static void h_agent_get(rctx_t *c, const char *id, const char *name)
{
    cJSON *a = dev_agent_get(c->d, id, name);
    if (!a) {
        notfound_ref(c, id, name);
        return;
    }
    ok(c, dev_agent_public(a));
    cJSON_Delete(a);
}

static void h_agent_delete(rctx_t *c, const char *id, const char *name)
{
    cJSON *a = dev_agent_get(c->d, id, name);
    if (!a) {
        notfound_ref(c, id, name);
        return;
    }
    const char *st = dev_jstr(a, "status");
    if (st && !strcmp(st, "Deleted")) {
        err(c, 404, "Agent %s not found", id ? id : name);
        cJSON_Delete(a);
        return;
    }
    char ts[40];
    set_str(a, "status", "Deleted");
    set_str(a, "status_reason", "Agent deleted successfully");
    set_str(a, "updated_at", now_iso(ts));
    if (dev_agent_put(c->d, a)) {
        e500_write(c);
        cJSON_Delete(a);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", dev_jstr(a, "id"));
    char msg[600];
    snprintf(msg, sizeof msg, "Agent '%s' deleted successfully", id ? id : name);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_Delete(a);
    ok(c, o);
}

/* ---- tasks ---------------------------------------------------------------------------------- */

static const char *const TASK_STATUSES[] = {"CANCELED",  "COMPLETED",   "FAILED",
                                            "RUNNING",   "INTERRUPTED", "TERMINATED",
                                            "TIMED_OUT", "DELETED",     NULL};

/* Loads a live (not deleted) task or stages the 404. */
static cJSON *live_task(rctx_t *c, const char *id, const char *name)
{
    cJSON *t = dev_task_get(c->d, id, name);
    if (!t) {
        notfound_ref(c, id, name);
        return NULL;
    }
    const char *st = dev_jstr(t, "status");
    if (st && !strcmp(st, "DELETED")) {
        err(c, 404, "Task %s not found", id ? id : name);
        cJSON_Delete(t);
        return NULL;
    }
    return t;
}

/* relationships=... (repeatable, TaskRelationships): every value must be "agents".
 * 1 when the agents are wanted, 0 when not, -1 when a 422 was staged. */
static int q_relationships(rctx_t *c)
{
    static const char key[] = "relationships=";
    const size_t kl = sizeof key - 1;
    const char *q = agx_http_req_query(c->r);
    int want = 0, i = 0;
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len >= kl && strncmp(q, key, kl) == 0) {
            if (len - kl != 6 || strncmp(q + kl, "agents", 6) != 0) {
                e422(c, "query.relationships.%d: Input should be 'agents'", i);
                return -1;
            }
            want = 1;
            i++;
        }
        q = amp ? amp + 1 : NULL;
    }
    return want;
}

static cJSON *task_agents(rctx_t *c, const char *task_id)
{
    char buf[128];
    const char *aid = dev_task_agent_id(c->d, task_id, buf, sizeof buf);
    cJSON *arr = cJSON_CreateArray();
    cJSON *a = aid ? dev_agent_get(c->d, aid, NULL) : NULL;
    if (a) {
        cJSON_AddItemToArray(arr, dev_agent_public(a));
        cJSON_Delete(a);
    }
    return arr;
}

static void h_task_get(rctx_t *c, const char *id, const char *name)
{
    int rel = q_relationships(c);
    if (rel < 0)
        return;
    cJSON *t = live_task(c, id, name);
    if (!t)
        return;
    cJSON_AddItemToObject(t, "agents",
                          rel ? task_agents(c, dev_jstr(t, "id")) : cJSON_CreateNull());
    ok(c, t);
}

/* Postgres `a @> b` (JSONB containment), as the real backend filters task_metadata:
 * objects contain objects whose every key they hold with a contained value, arrays contain
 * arrays whose every element is contained in one of theirs (order and repeats ignored),
 * scalars only equal scalars.  (Top-level array-contains-scalar does not apply: both sides
 * are objects here.) */
static bool jsonb_contains(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return false;
    if (cJSON_IsObject(b)) {
        if (!cJSON_IsObject(a))
            return false;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, b)
        {
            if (!jsonb_contains(cJSON_GetObjectItemCaseSensitive(a, kv->string), kv))
                return false;
        }
        return true;
    }
    if (cJSON_IsArray(b)) {
        if (!cJSON_IsArray(a))
            return false;
        const cJSON *x;
        cJSON_ArrayForEach(x, b)
        {
            bool found = false;
            const cJSON *y;
            cJSON_ArrayForEach(y, a)
            {
                if ((found = jsonb_contains(y, x)))
                    break;
            }
            if (!found)
                return false;
        }
        return true;
    }
    if (cJSON_IsObject(a) || cJSON_IsArray(a))
        return false;
    return cJSON_Compare(a, b, true);
}

static void h_tasks_list(rctx_t *c)
{
    paging_t p;
    if (!q_paging_opt(c, &p, true))
        return;
    int rel = q_relationships(c);
    if (rel < 0)
        return;
    const char *status = qp(c, "status");
    if (status) {
        bool known = false;
        for (size_t i = 0; TASK_STATUSES[i]; i++)
            known |= strcmp(TASK_STATUSES[i], status) == 0;
        if (!known) {
            e422(c, "query.status: Input should be 'CANCELED', 'COMPLETED', 'FAILED', 'RUNNING', "
                    "'INTERRUPTED', 'TERMINATED', 'TIMED_OUT' or 'DELETED'");
            return;
        }
        if (!strcmp(status, "DELETED")) {
            err(c, 400,
                "Cannot filter by DELETED status; deleted tasks are not returned by "
                "list_tasks.");
            return;
        }
    }
    const char *meta = qp(c, "task_metadata");
    cJSON *metaj = NULL;
    if (meta) {
        metaj = dev_parse(meta, strlen(meta));
        if (!metaj) {
            err(c, 400, "Invalid JSON in task_metadata query parameter: Expecting value");
            return;
        }
        if (!cJSON_IsObject(metaj) || !metaj->child) {
            err(c, 400,
                cJSON_IsObject(metaj) ? "task_metadata cannot be empty; omit the parameter "
                                        "to skip filtering."
                                      : "task_metadata must decode to a JSON object.");
            cJSON_Delete(metaj);
            return;
        }
    }
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT json FROM tasks WHERE status IS NOT 'DELETED' AND (?1 IS NULL OR agent_id=?1) "
             "AND (?2 IS NULL OR agent_id IN (SELECT id FROM agents WHERE name=?2)) "
             "AND (?3 IS NULL OR status=?3) ORDER BY %s %s, rowid %s",
             order_col(c, "created_us"), p.asc ? "ASC" : "DESC", p.asc ? "ASC" : "DESC");
    cJSON *rows = dev_list_json(c->d, sql, "sss", qp(c, "agent_id"), qp(c, "agent_name"), status);
    cJSON *out = cJSON_CreateArray();
    long skip = (long)offset(&p), n = 0;
    cJSON *t;
    cJSON_ArrayForEach(t, rows)
    {
        if (metaj) {
            if (!jsonb_contains(cJSON_GetObjectItemCaseSensitive(t, "task_metadata"), metaj))
                continue;
        }
        if (skip > 0) {
            skip--;
            continue;
        }
        if (n >= p.limit)
            break;
        n++;
        cJSON *s = cJSON_CreateObject();
        static const char *const keys[] = {
            "id",         "name",          "status", "status_reason", "created_at", "updated_at",
            "cleaned_at", "task_metadata", NULL};
        for (size_t i = 0; keys[i]; i++)
            dev_copy_key(s, t, keys[i]);
        cJSON_AddItemToObject(s, "agents",
                              rel ? task_agents(c, dev_jstr(t, "id")) : cJSON_CreateNull());
        cJSON_AddItemToArray(out, s);
    }
    cJSON_Delete(rows);
    cJSON_Delete(metaj);
    ok(c, out);
}

static void h_task_put(rctx_t *c, const char *id, const char *name)
{
    cJSON *b = body_obj(c, false);
    if (!b)
        return;
    const cJSON *meta, *merge;
    cJSON *t = NULL;
    if (!want_obj(c, b, "task_metadata", false, true, &meta) ||
        !want_obj(c, b, "merge_params", false, true, &merge))
        goto out;
    t = live_task(c, id, name);
    if (!t)
        goto out;
    if (merge && merge->child) {
        cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "params");
        if (!cJSON_IsObject(params)) {
            params = cJSON_CreateObject();
            set_item(t, "params", params);
        }
        const cJSON *kv;
        cJSON_ArrayForEach(kv, merge) set_item(params, kv->string, cJSON_Duplicate(kv, true));
        char ts[40];
        set_str(t, "updated_at", now_iso(ts));
        if (dev_task_put(c->d, t)) {
            e500_write(c);
            goto out;
        }
    }
    if (meta) {
        char ts[40];
        set_item(t, "task_metadata", cJSON_Duplicate(meta, true));
        set_str(t, "updated_at", now_iso(ts));
        if (dev_task_put(c->d, t)) {
            e500_write(c);
            goto out;
        }
        pub_task(c, t);
    }
    ok(c, t);
    t = NULL;
out:
    cJSON_Delete(t);
    cJSON_Delete(b);
}

static void h_task_delete(rctx_t *c, const char *id, const char *name)
{
    cJSON *t = live_task(c, id, name);
    if (!t)
        return;
    if (dev_task_set_status(c->d, t, "DELETED", "Task deleted successfully")) {
        e500_write(c);
        cJSON_Delete(t);
        return;
    }
    pub_task(c, t);
    cJSON *o = cJSON_CreateObject();
    char msg[600];
    cJSON_AddStringToObject(o, "id", dev_jstr(t, "id"));
    if (id)
        snprintf(msg, sizeof msg, "Task %s deleted successfully", id);
    else
        snprintf(msg, sizeof msg, "Task '%s' deleted successfully", name);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_Delete(t);
    ok(c, o);
}

static void h_task_transition(rctx_t *c, const char *id, const char *action)
{
    static const struct {
        const char *action, *status, *reason;
    } T[] = {{"complete", "COMPLETED", "Task completed"},
             {"fail", "FAILED", "Task failed"},
             {"cancel", "CANCELED", "Task canceled"},
             {"terminate", "TERMINATED", "Task terminated"},
             {"timeout", "TIMED_OUT", "Task timed_out"},
             {"interrupt", "INTERRUPTED", "Task interrupted"}};
    size_t k = 0;
    while (strcmp(T[k].action, action) != 0)
        k++;
    cJSON *b = body_obj(c, true);
    if (!b)
        return;
    const char *reason;
    cJSON *t = NULL;
    if (!want_str(c, b, "reason", false, true, &reason))
        goto out;
    t = live_task(c, id, NULL);
    if (!t)
        goto out;
    const char *cur = dev_jstr(t, "status");
    if (!cur)
        cur = "None";
    if (!strcmp(action, "interrupt")) {
        if (strcmp(cur, "RUNNING") != 0) {
            err(c, 400,
                "Task %s is not running (current status: TaskStatus.%s). Only running tasks can be "
                "interrupted.",
                id, cur);
            goto out;
        }
    } else if (dev_status_terminal(cur)) {
        err(c, 400,
            "Task %s cannot be transitioned (current status: TaskStatus.%s). Only running or "
            "interrupted tasks can have their status updated.",
            id, cur);
        goto out;
    }
    if (dev_task_set_status(c->d, t, T[k].status, reason && *reason ? reason : T[k].reason)) {
        e500_write(c);
        goto out;
    }
    pub_task(c, t);
    ok(c, t);
    t = NULL;
out:
    cJSON_Delete(t);
    cJSON_Delete(b);
}

/* ---- messages ------------------------------------------------------------------------------- */

static const char *const STREAMING_STATUSES[] = {"IN_PROGRESS", "DONE", NULL};

static bool want_time(rctx_t *c, const cJSON *b, const char *key, int64_t *out)
{
    const char *s;
    if (!want_str(c, b, key, false, true, &s))
        return false;
    if (s && dev_parse_time(s, out)) {
        e422(c, "body.%s: Input should be a valid datetime", key);
        return false;
    }
    return true;
}

static void h_msg_create(rctx_t *c)
{
    cJSON *b = body_obj(c, false), *content = NULL;
    if (!b)
        return;
    const char *task_id, *ss;
    int64_t created = agx_now_us();
    if (!want_str(c, b, "task_id", true, false, &task_id) ||
        !(content =
              want_content(c, cJSON_GetObjectItemCaseSensitive(b, "content"), "body.content")) ||
        !want_enum(c, b, "streaming_status", STREAMING_STATUSES, false, &ss) ||
        !want_time(c, b, "created_at", &created))
        goto out;
    cJSON *m = dev_message_create(c->d, task_id, content, ss, created);
    if (!m) {
        e500_write(c);
        goto out;
    }
    pub_msg(c, m);
    ok(c, m);
out:
    cJSON_Delete(content);
    cJSON_Delete(b);
}

static void h_msg_get(rctx_t *c, const char *id) { ok_or_404(c, id, dev_message_get(c->d, id)); }

static void h_msg_put(rctx_t *c, const char *id)
{
    cJSON *b = body_obj(c, false), *content = NULL, *m = NULL;
    if (!b)
        return;
    const char *task_id, *ss;
    if (!want_str(c, b, "task_id", true, false, &task_id) ||
        !(content =
              want_content(c, cJSON_GetObjectItemCaseSensitive(b, "content"), "body.content")) ||
        !want_enum(c, b, "streaming_status", STREAMING_STATUSES, false, &ss))
        goto out;
    m = dev_message_get(c->d, id);
    if (!m || strcmp(dev_jstr(m, "task_id") ? dev_jstr(m, "task_id") : "", task_id) != 0) {
        notfound_id(c, id);
        goto out;
    }
    char ts[40];
    set_item(m, "content", content);
    content = NULL;
    if (ss)
        set_str(m, "streaming_status", ss);
    set_str(m, "updated_at", now_iso(ts));
    if (dev_message_put(c->d, m)) {
        e500_write(c);
        goto out;
    }
    pub_msg(c, m);
    ok(c, m);
    m = NULL;
out:
    cJSON_Delete(m);
    cJSON_Delete(content);
    cJSON_Delete(b);
}

static void h_msg_batch_create(rctx_t *c)
{
    cJSON *b = body_obj(c, false), *norm = NULL, *out = NULL;
    if (!b)
        return;
    const char *task_id;
    int64_t base = agx_now_us();
    if (!want_str(c, b, "task_id", true, false, &task_id) || !want_time(c, b, "created_at", &base))
        goto done;
    const cJSON *contents = cJSON_GetObjectItemCaseSensitive(b, "contents");
    if (!cJSON_IsArray(contents)) {
        e422(c, contents ? "body.contents: Input should be a valid list"
                         : "body.contents: Field required");
        goto done;
    }
    norm = cJSON_CreateArray();
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, contents)
    {
        char where[64];
        snprintf(where, sizeof where, "body.contents.%d", i++);
        cJSON *n = want_content(c, e, where);
        if (!n)
            goto done;
        cJSON_AddItemToArray(norm, n);
    }
    if (!tx_begin(c))
        goto done;
    out = cJSON_CreateArray();
    i = 0;
    cJSON_ArrayForEach(e, norm)
    {
        cJSON *m = dev_message_create(c->d, task_id, e, NULL, base + (int64_t)i * 1000);
        i++;
        if (!m) {
            tx_write_failed(c);
            goto done;
        }
        cJSON_AddItemToArray(out, m);
    }
    if (!tx_commit(c))
        goto done;
    cJSON *m;
    cJSON_ArrayForEach(m, out) pub_msg(c, m);
    ok(c, out);
    out = NULL;
done:
    cJSON_Delete(out);
    cJSON_Delete(norm);
    cJSON_Delete(b);
}

static void h_msg_batch_update(rctx_t *c)
{
    cJSON *b = body_obj(c, false), *out = NULL, *norm = NULL;
    if (!b)
        return;
    const char *task_id;
    const cJSON *updates;
    if (!want_str(c, b, "task_id", true, false, &task_id) ||
        !want_obj(c, b, "updates", true, false, &updates))
        goto done;
    norm = cJSON_CreateObject();
    const cJSON *kv;
    cJSON_ArrayForEach(kv, updates)
    {
        char where[160];
        snprintf(where, sizeof where, "body.updates.%.100s", kv->string);
        cJSON *n = want_content(c, kv, where);
        if (!n)
            goto done;
        cJSON_AddItemToObject(norm, kv->string, n);
    }
    if (!tx_begin(c))
        goto done;
    out = cJSON_CreateArray();
    char ts[40];
    now_iso(ts);
    cJSON_ArrayForEach(kv, norm)
    {
        cJSON *m = dev_message_get(c->d, kv->string);
        if (!m || strcmp(dev_jstr(m, "task_id") ? dev_jstr(m, "task_id") : "", task_id) != 0) {
            cJSON_Delete(m);
            continue;
        }
        set_item(m, "content", cJSON_Duplicate(kv, true));
        set_str(m, "updated_at", ts);
        if (dev_message_put(c->d, m)) {
            cJSON_Delete(m);
            tx_write_failed(c);
            goto done;
        }
        cJSON_AddItemToArray(out, m);
    }
    if (!tx_commit(c))
        goto done;
    cJSON *m;
    cJSON_ArrayForEach(m, out) pub_msg(c, m);
    ok(c, out);
    out = NULL;
done:
    cJSON_Delete(out);
    cJSON_Delete(norm);
    cJSON_Delete(b);
}

/* filters=...: a JSON array of TaskMessageEntityFilter objects, or one object (the backend
 * takes both).  *out is NULL when absent or empty; false when an error was staged. */
static bool q_msg_filters(rctx_t *c, cJSON **out)
{
    *out = NULL;
    const char *f = qp(c, "filters");
    if (!f || !*f)
        return true;
    cJSON *j = dev_parse(f, strlen(f));
    if (!j) {
        err(c, 400, "Invalid JSON in filters parameter: Expecting value");
        return false;
    }
    if (cJSON_IsObject(j)) {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(a, j);
        j = a;
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        if (!cJSON_IsObject(it))
            break;
        i++;
    }
    if (!cJSON_IsArray(j) || i != cJSON_GetArraySize(j)) {
        e422(c, "query.filters.%d: Input should be a valid dictionary", cJSON_IsArray(j) ? i : 0);
        cJSON_Delete(j);
        return false;
    }
    *out = j;
    return true;
}

/* want's non-null leaves all present and equal in have (the backend flattens a filter to
 * dotted paths, drops nulls, and matches every path by equality). */
static bool json_subset(const cJSON *have, const cJSON *want)
{
    if (cJSON_IsNull(want))
        return true;
    if (cJSON_IsObject(want)) {
        const cJSON *kv;
        cJSON_ArrayForEach(kv, want)
        {
            const cJSON *h =
                cJSON_IsObject(have) ? cJSON_GetObjectItemCaseSensitive(have, kv->string) : NULL;
            if (!json_subset(h, kv))
                return false;
        }
        return true;
    }
    return have && cJSON_Compare(have, want, true);
}

/* Inclusion filters are OR'd, exclusion filters ("exclude": true) OR'd and negated, the two
 * groups AND'd. */
static bool msg_selected(const cJSON *msg, const cJSON *filters)
{
    bool any_inc = false, inc_hit = false;
    const cJSON *f;
    cJSON_ArrayForEach(f, filters)
    {
        bool ex = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(f, "exclude"));
        bool m = true;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, f)
        {
            if (strcmp(kv->string, "exclude") != 0 &&
                !json_subset(cJSON_GetObjectItemCaseSensitive(msg, kv->string), kv))
                m = false;
        }
        if (ex && m)
            return false;
        if (!ex) {
            any_inc = true;
            inc_hit |= m;
        }
    }
    return !any_inc || inc_hit;
}

/* Keeps the rows the filters select, skipping the first skip of them and keeping at most
 * keep (-1: all). */
static void msg_filter_rows(cJSON *rows, const cJSON *filters, int64_t skip, int64_t keep)
{
    int i = 0;
    int64_t kept = 0;
    while (i < cJSON_GetArraySize(rows)) {
        bool sel = msg_selected(cJSON_GetArrayItem(rows, i), filters);
        if (sel && skip > 0) {
            skip--;
            sel = false;
        } else if (sel && keep >= 0 && kept >= keep) {
            sel = false;
        }
        if (sel) {
            kept++;
            i++;
        } else {
            cJSON_DeleteItemFromArray(rows, i);
        }
    }
}

static void h_msg_list(rctx_t *c)
{
    const char *task_id;
    paging_t p;
    cJSON *filters;
    if (!q_required(c, "task_id", &task_id) || !q_paging_opt(c, &p, true) ||
        !q_msg_filters(c, &filters))
        return;
    char sql[256];
    const char *dir = p.asc ? "ASC" : "DESC";
    snprintf(sql, sizeof sql,
             "SELECT json FROM messages WHERE task_id=? ORDER BY created_us %s, id %s "
             "LIMIT ? OFFSET ?",
             dir, dir);
    if (!filters) {
        ok(c, dev_list_json(c->d, sql, "sii", task_id, (int64_t)p.limit, offset(&p)));
        return;
    }
    /* filtered: page after filtering (LIMIT -1 is no limit) */
    cJSON *rows = dev_list_json(c->d, sql, "sii", task_id, (int64_t)-1, (int64_t)0);
    msg_filter_rows(rows, filters, offset(&p), p.limit);
    cJSON_Delete(filters);
    ok(c, rows);
}

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64url_encode(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        out[o++] = B64URL[(v >> 18) & 63];
        out[o++] = B64URL[(v >> 12) & 63];
        out[o++] = i + 1 < n ? B64URL[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? B64URL[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static char *b64url_decode(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        const char *p = strchr(B64URL, s[i]);
        if (!p || !s[i]) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)(p - B64URL);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return out;
}

static void h_msg_paginated(rctx_t *c)
{
    const char *task_id;
    long limit;
    if (!q_required(c, "task_id", &task_id))
        return;
    /* no minimum in the spec: limit=0 gives no data but has_more (the real route fetches
     * limit + 1 and keeps limit) */
    if (dev_query_int(c->r, "limit", 50, 0, 1000000, &limit)) {
        e422(c, "query.limit: Input should be a valid integer greater than or equal to 0");
        return;
    }
    const char *dir = qp(c, "direction");
    bool newer = false;
    if (dir && !strcmp(dir, "newer"))
        newer = true;
    else if (dir && strcmp(dir, "older") != 0) {
        e422(c, "query.direction: Input should be 'older' or 'newer'");
        return;
    }
    cJSON *filters;
    if (!q_msg_filters(c, &filters))
        return;
    /* with filters: select first, then count (LIMIT -1 is no limit) */
    int64_t want = filters ? -1 : (int64_t)limit + 1;
    const char *cur = qp(c, "cursor");
    const char *cid = NULL;
    int64_t cts = 0;
    cJSON *cj = NULL;
    if (cur) {
        char *raw = b64url_decode(cur);
        cj = raw ? dev_parse(raw, strlen(raw)) : NULL;
        free(raw);
        cid = cj ? dev_jstr(cj, "id") : NULL;
        if (!cid || dev_parse_time(dev_jstr(cj, "created_at"), &cts))
            cid = NULL; /* invalid cursor: ignored */
    }
    cJSON *rows;
    if (!cid)
        rows = dev_list_json(c->d,
                             "SELECT json FROM messages WHERE task_id=? ORDER BY created_us DESC, "
                             "id DESC LIMIT ?",
                             "si", task_id, want);
    else if (!newer)
        rows =
            dev_list_json(c->d,
                          "SELECT json FROM messages WHERE task_id=?1 AND (created_us<?2 OR "
                          "(created_us=?2 AND id<?3)) ORDER BY created_us DESC, id DESC LIMIT ?4",
                          "sisi", task_id, cts, cid, want);
    else
        rows = dev_list_json(c->d,
                             "SELECT json FROM messages WHERE task_id=?1 AND (created_us>?2 OR "
                             "(created_us=?2 AND id>?3)) ORDER BY created_us ASC, id ASC LIMIT ?4",
                             "sisi", task_id, cts, cid, want);
    if (filters) {
        msg_filter_rows(rows, filters, 0, (int64_t)limit + 1);
        cJSON_Delete(filters);
    }
    bool has_more = cJSON_GetArraySize(rows) > limit;
    if (has_more)
        cJSON_DeleteItemFromArray(rows, (int)limit);
    cJSON *data = rows;
    if (newer && cid) { /* newest first */
        data = cJSON_CreateArray();
        for (int i = cJSON_GetArraySize(rows) - 1; i >= 0; i--)
            cJSON_AddItemToArray(data, cJSON_DetachItemFromArray(rows, i));
        cJSON_Delete(rows);
    }
    cJSON *o = cJSON_CreateObject();
    cJSON *next = NULL;
    int n = cJSON_GetArraySize(data);
    if (has_more && n > 0) {
        const cJSON *edge = cJSON_GetArrayItem(data, newer && cid ? 0 : n - 1);
        cJSON *cur_o = cJSON_CreateObject();
        cJSON_AddNumberToObject(cur_o, "v", 1);
        dev_copy_key(cur_o, edge, "id");
        dev_copy_key(cur_o, edge, "created_at");
        char *txt = dev_print(cur_o);
        char *enc = txt ? b64url_encode(txt) : NULL;
        if (enc)
            next = cJSON_CreateString(enc);
        free(enc);
        cJSON_free(txt);
        cJSON_Delete(cur_o);
    }
    cJSON_AddItemToObject(o, "data", data);
    cJSON_AddItemToObject(o, "next_cursor", next ? next : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "has_more", has_more);
    cJSON_Delete(cj);
    ok(c, o);
}

/* ---- events ---------------------------------------------------------------------------------- */

static void h_event_get(rctx_t *c, const char *id)
{
    ok_or_404(c, id, dev_get_json(c->d, "SELECT json FROM events WHERE id=?", "s", id));
}

static void h_events_list(rctx_t *c)
{
    const char *task_id, *agent_id;
    long limit;
    if (!q_required(c, "task_id", &task_id) || !q_required(c, "agent_id", &agent_id))
        return;
    if (dev_query_int(c->r, "limit", -1, 1, 1000, &limit)) {
        e422(c, "query.limit: Input should be less than or equal to 1000 and greater than or "
                "equal to 1");
        return;
    }
    int64_t after = 0;
    const char *cursor = qp(c, "last_processed_event_id");
    if (cursor && *cursor)
        after = dev_get_int(c->d, "SELECT seq FROM events WHERE id=?", 0, "s", cursor);
    ok(c, dev_list_json(c->d,
                        "SELECT json FROM events WHERE task_id=? AND agent_id=? AND seq>? "
                        "ORDER BY seq ASC LIMIT ?",
                        "ssii", task_id, agent_id, after, (int64_t)limit));
}

/* ---- states ------------------------------------------------------------------------------------
 */

static void h_state_create(rctx_t *c)
{
    cJSON *b = body_obj(c, false);
    if (!b)
        return;
    const char *task_id, *agent_id;
    const cJSON *state;
    if (!want_str(c, b, "task_id", true, false, &task_id) ||
        !want_str(c, b, "agent_id", true, false, &agent_id) ||
        !want_obj(c, b, "state", true, false, &state))
        goto out;
    char id[25], ts[40];
    dev_object_id(id);
    int64_t now = agx_now_us();
    dev_iso_time(now, ts);
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "task_id", task_id);
    cJSON_AddStringToObject(s, "agent_id", agent_id);
    cJSON_AddItemToObject(s, "state", cJSON_Duplicate(state, true));
    cJSON_AddStringToObject(s, "id", id);
    cJSON_AddStringToObject(s, "created_at", ts);
    cJSON_AddNullToObject(s, "updated_at");
    char *text = dev_print(s);
    if (!text ||
        dev_exec(c->d, "INSERT INTO states(id,task_id,agent_id,created_us,json) VALUES(?,?,?,?,?)",
                 "sssis", id, task_id, agent_id, now, text)) {
        cJSON_Delete(s);
        e500_write(c);
    } else {
        ok(c, s);
    }
    cJSON_free(text);
out:
    cJSON_Delete(b);
}

/* GET /<table>?task_id=&agent_id=: both filters optional, paged, ordered by creation time
 * and then by tiebreak. */
static void list_by_task_agent(rctx_t *c, const char *table, const char *tiebreak)
{
    paging_t p;
    if (!q_paging(c, &p))
        return;
    char sql[320];
    const char *dir = p.asc ? "ASC" : "DESC";
    snprintf(sql, sizeof sql,
             "SELECT json FROM %s WHERE (?1 IS NULL OR task_id=?1) AND (?2 IS NULL OR "
             "agent_id=?2) ORDER BY created_us %s, %s %s LIMIT ?3 OFFSET ?4",
             table, dir, tiebreak, dir);
    ok(c, dev_list_json(c->d, sql, "ssii", qp(c, "task_id"), qp(c, "agent_id"), (int64_t)p.limit,
                        offset(&p)));
}

static void h_states_list(rctx_t *c) { list_by_task_agent(c, "states", "id"); }

static void h_state_get(rctx_t *c, const char *id)
{
    ok_or_404(c, id, dev_get_json(c->d, "SELECT json FROM states WHERE id=?", "s", id));
}

static void h_state_put(rctx_t *c, const char *id)
{
    cJSON *b = body_obj(c, false), *s = NULL;
    if (!b)
        return;
    const cJSON *state;
    if (!want_obj(c, b, "state", true, false, &state))
        goto out;
    s = dev_get_json(c->d, "SELECT json FROM states WHERE id=?", "s", id);
    if (!s) {
        notfound_id(c, id);
        goto out;
    }
    char ts[40];
    set_item(s, "state", cJSON_Duplicate(state, true));
    set_str(s, "updated_at", now_iso(ts));
    if (dev_update_json(c->d, "states", id, s)) {
        e500_write(c);
        goto out;
    }
    ok(c, s);
    s = NULL;
out:
    cJSON_Delete(s);
    cJSON_Delete(b);
}

static void h_state_delete(rctx_t *c, const char *id)
{
    cJSON *s = dev_get_json(c->d, "SELECT json FROM states WHERE id=?", "s", id);
    if (!s) {
        notfound_id(c, id);
        return;
    }
    if (dev_exec(c->d, "DELETE FROM states WHERE id=?", "s", id)) {
        cJSON_Delete(s);
        e500_write(c);
        return;
    }
    ok(c, s);
}

/* ---- tracker ------------------------------------------------------------------------------------
 */

static void h_tracker_get(rctx_t *c, const char *id)
{
    ok_or_404(c, id, dev_get_json(c->d, "SELECT json FROM trackers WHERE id=?", "s", id));
}

static void h_trackers_list(rctx_t *c) { list_by_task_agent(c, "trackers", "rowid"); }

static void h_tracker_put(rctx_t *c, const char *id)
{
    cJSON *b = body_obj(c, false), *t = NULL;
    if (!b)
        return;
    const char *cursor, *status, *reason;
    if (!want_str(c, b, "last_processed_event_id", false, true, &cursor) ||
        !want_str(c, b, "status", false, true, &status) ||
        !want_str(c, b, "status_reason", false, true, &reason))
        goto out;
    t = dev_get_json(c->d, "SELECT json FROM trackers WHERE id=?", "s", id);
    if (!t) {
        err(c, 400, "No record found for given key");
        goto out;
    }
    if (cursor) {
        int64_t seq = dev_get_int(c->d, "SELECT seq FROM events WHERE id=?", -1, "s", cursor);
        if (seq < 0) {
            err(c, 400, "Event with ID %s not found", cursor);
            goto out;
        }
        const char *old = dev_jstr(t, "last_processed_event_id");
        int64_t cur =
            old ? dev_get_int(c->d, "SELECT seq FROM events WHERE id=?", -1, "s", old) : -1;
        if (cur >= 0 && seq < cur) {
            err(c, 400,
                "Cannot move cursor backwards: new sequence ID %lld < current sequence ID %lld",
                (long long)seq, (long long)cur);
            goto out;
        }
        set_str(t, "last_processed_event_id", cursor);
    }
    set_str(t, "status", status);
    set_str(t, "status_reason", reason);
    char ts[40];
    set_str(t, "updated_at", now_iso(ts));
    if (dev_update_json(c->d, "trackers", id, t)) {
        err(c, 500, "Internal server error");
        goto out;
    }
    ok(c, t);
    t = NULL;
out:
    cJSON_Delete(t);
    cJSON_Delete(b);
}

/* ---- misc -------------------------------------------------------------------------------------
 */

static void h_openapi(rctx_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "openapi", "3.1.0");
    cJSON *info = cJSON_AddObjectToObject(o, "info");
    cJSON_AddStringToObject(info, "title", "Agentex API (agentex-dev)");
    cJSON_AddStringToObject(info, "version", "0.1.0");
    cJSON_AddObjectToObject(o, "paths");
    ok(c, o);
}

static void h_healthz(rctx_t *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", "healthy");
    ok(c, o);
}

/* ---- dispatch ----------------------------------------------------------------------------------
 */

#define MAXSEG 8

static int split(const char *path, char *buf, size_t buflen, char **seg)
{
    snprintf(buf, buflen, "%s", path);
    int n = 0;
    char *p = buf;
    while (*p == '/')
        p++;
    while (*p && n < MAXSEG) {
        seg[n++] = p;
        char *s = strchr(p, '/');
        if (!s)
            break;
        *s = '\0';
        p = s + 1;
    }
    if (*p && n == MAXSEG)
        return MAXSEG + 1;
    /* a trailing slash leaves an empty last segment out */
    return n;
}

static bool is(const char *a, const char *b) { return a && strcmp(a, b) == 0; }

static bool transition_action(const char *s)
{
    return is(s, "complete") || is(s, "fail") || is(s, "cancel") || is(s, "terminate") ||
           is(s, "timeout") || is(s, "interrupt");
}

/* Returns: 0 handled (staged), 1 no route, 2 method not allowed. */
static int route(rctx_t *c, const char *m, int n, char **s)
{
    bool G = is(m, "GET"), P = is(m, "POST"), U = is(m, "PUT"), D = is(m, "DELETE");
    const char *s0 = n > 0 ? s[0] : "";
    if (n == 1 && is(s0, "healthz") && G)
        return h_healthz(c), 0;
    if (n == 1 && is(s0, "openapi.json") && G)
        return h_openapi(c), 0;
    if (is(s0, "agents")) {
        if (n == 1)
            return G ? (h_agents_list(c), 0) : 2;
        if (n == 2 && is(s[1], "register"))
            return P ? (h_register(c), 0) : 2;
        if (n == 3 && is(s[1], "name"))
            return G ? (h_agent_get(c, NULL, s[2]), 0) : D ? (h_agent_delete(c, NULL, s[2]), 0) : 2;
        if (n == 2)
            return G ? (h_agent_get(c, s[1], NULL), 0) : D ? (h_agent_delete(c, s[1], NULL), 0) : 2;
        return 1;
    }
    if (is(s0, "tasks")) {
        if (n == 1)
            return G ? (h_tasks_list(c), 0) : 2;
        if (n == 3 && is(s[1], "name")) {
            if (G)
                return h_task_get(c, NULL, s[2]), 0;
            if (U)
                return h_task_put(c, NULL, s[2]), 0;
            if (D)
                return h_task_delete(c, NULL, s[2]), 0;
            return 2;
        }
        if (n == 2) {
            if (G)
                return h_task_get(c, s[1], NULL), 0;
            if (U)
                return h_task_put(c, s[1], NULL), 0;
            if (D)
                return h_task_delete(c, s[1], NULL), 0;
            return 2;
        }
        if (n == 3 && transition_action(s[2]))
            return P ? (h_task_transition(c, s[1], s[2]), 0) : 2;
        return 1;
    }
    if (is(s0, "messages")) {
        if (n == 1)
            return P ? (h_msg_create(c), 0) : G ? (h_msg_list(c), 0) : 2;
        if (n == 2 && is(s[1], "batch"))
            return P ? (h_msg_batch_create(c), 0) : U ? (h_msg_batch_update(c), 0) : 2;
        if (n == 2 && is(s[1], "paginated") && G)
            return h_msg_paginated(c), 0;
        if (n == 2)
            return G ? (h_msg_get(c, s[1]), 0) : U ? (h_msg_put(c, s[1]), 0) : 2;
        return 1;
    }
    if (is(s0, "events")) {
        if (n == 1)
            return G ? (h_events_list(c), 0) : 2;
        if (n == 2)
            return G ? (h_event_get(c, s[1]), 0) : 2;
        return 1;
    }
    if (is(s0, "states")) {
        if (n == 1)
            return P ? (h_state_create(c), 0) : G ? (h_states_list(c), 0) : 2;
        if (n == 2) {
            if (G)
                return h_state_get(c, s[1]), 0;
            if (U)
                return h_state_put(c, s[1]), 0;
            if (D)
                return h_state_delete(c, s[1]), 0;
            return 2;
        }
        return 1;
    }
    if (is(s0, "tracker")) {
        if (n == 1)
            return G ? (h_trackers_list(c), 0) : 2;
        if (n == 2)
            return G ? (h_tracker_get(c, s[1]), 0) : U ? (h_tracker_put(c, s[1]), 0) : 2;
        return 1;
    }
    return 1;
}

void dev_on_request(agx_http_req_t *r, void *userdata)
{
    dsrv_t *d = userdata;
    const char *m = agx_http_req_method(r);
    const char *path = agx_http_req_path(r);
    dev_log(AGENTEX_LOG_INFO, "%s %s %s%s%s", agx_http_req_peer(r), m, path,
            *agx_http_req_query(r) ? "?" : "", agx_http_req_query(r));
    char buf[2048], *s[MAXSEG] = {0};
    int n = split(path, buf, sizeof buf, s);
    /* routes that answer on their own */
    if (n >= 3 && is(s[0], "agents") && is(s[n - 1], "rpc") &&
        (n == 3 || (n == 4 && is(s[1], "name")))) {
        if (!is(m, "POST")) {
            dev_respond_error(r, 405, "Method Not Allowed");
            return;
        }
        dev_rpc(d, r, n == 3 ? s[1] : NULL, n == 4 ? s[2] : NULL);
        return;
    }
    if (is(s[0], "tasks") && n >= 3 && is(s[n - 1], "stream") &&
        (n == 3 || (n == 4 && is(s[1], "name")))) {
        if (!is(m, "GET")) {
            dev_respond_error(r, 405, "Method Not Allowed");
            return;
        }
        dev_sse_subscribe(d, r, n == 3 ? s[1] : NULL, n == 4 ? s[2] : NULL);
        return;
    }
    rctx_t c = {.d = d, .r = r, .status = 0, .body = NULL, .pub = NULL};
    dev_lock(d);
    int rc = n > MAXSEG ? 1 : route(&c, m, n, s);
    dev_unlock(d);
    if (rc == 1)
        err(&c, 404, "Not Found");
    else if (rc == 2)
        err(&c, 405, "Method Not Allowed");
    if (c.pub) {
        cJSON *pair;
        cJSON_ArrayForEach(pair, c.pub)
        {
            dev_publish(d, cJSON_GetArrayItem(pair, 0)->valuestring, cJSON_GetArrayItem(pair, 1));
        }
        cJSON_Delete(c.pub);
    }
    dev_respond_json(r, c.status ? c.status : 500, c.body);
}
