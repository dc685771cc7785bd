/*
 * devserver/rpc.c - the client-facing JSON-RPC endpoint (/agents/{id}/rpc,
 * /agents/name/{name}/rpc) and the forwarding of task/create, event/send, task/cancel,
 * task/interrupt and message/send to the agent's POST {acp_url}/api.
 *
 * dev_rpc validates the envelope on the service thread, then everything else runs on a
 * job thread: store work (under the lock, never across network I/O), the outbound call
 * with libcurl, and the answer with agx_http_respond / agx_http_stream_*.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"

typedef struct rpcjob {
    dsrv_t *d;
    agx_http_req_t *r;
    char *agent_id, *agent_name;
    cJSON *body;
    const char *method;
    cJSON *params;          /* borrowed from body */
    cJSON *id;              /* borrowed from body, may be NULL */
    struct curl_slist *fwd; /* forwardable client headers */
    /* filled by the worker */
    cJSON *agent;  /* stored entity */
    char key[129]; /* agent api key */
    char request_id[33];
    CURL *curl;     /* the worker's handle (connections reused), or NULL */
    bool streaming; /* client asked message/send with stream:true */
    bool stream_open;
} rpcjob_t;

/* ---- answers ---------------------------------------------------------------------------- */

static cJSON *envelope(rpcjob_t *j, cJSON *result, int code, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "jsonrpc", "2.0");
    if (msg) {
        cJSON_AddNullToObject(o, "result");
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddNumberToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddNullToObject(e, "data");
    } else {
        cJSON_AddItemToObject(o, "result", result ? result : cJSON_CreateNull());
        cJSON_AddNullToObject(o, "error");
    }
    cJSON_AddItemToObject(o, "id", j->id ? cJSON_Duplicate(j->id, true) : cJSON_CreateNull());
    return o;
}

static void stream_line(rpcjob_t *j, cJSON *env)
{
    char *t = dev_print(env);
    cJSON_Delete(env);
    if (!t)
        return;
    size_t n = strlen(t);
    char *line = malloc(n + 2);
    if (line) {
        memcpy(line, t, n);
        line[n] = '\n';
        line[n + 1] = '\0';
        agx_http_stream_write(j->r, line, n + 1);
        free(line);
    }
    cJSON_free(t);
}

/* Ends the request with a JSON-RPC error (an NDJSON error line when streaming). */
static void answer_error(rpcjob_t *j, int code, const char *msg)
{
    dev_log(AGENTEX_LOG_INFO, "rpc %s failed: %s", j->method, msg);
    if (j->streaming) {
        stream_line(j, envelope(j, NULL, code, msg));
        agx_http_stream_end(j->r);
    } else {
        dev_respond_json(j->r, 200, envelope(j, NULL, code, msg));
    }
}

static void answer_result(rpcjob_t *j, cJSON *result)
{
    dev_respond_json(j->r, 200, envelope(j, result, 0, NULL));
}

/* ---- outbound HTTP ---------------------------------------------------------------------- */

typedef int (*line_fn)(void *ctx, const char *line, size_t len);

typedef struct xfer {
    agx_buf_t buf;
    line_fn on_line;
    void *ctx;
    bool aborted;
} xfer_t;

static size_t on_write(char *p, size_t sz, size_t n, void *ud)
{
    xfer_t *x = ud;
    size_t len = sz * n;
    if (agx_buf_append(&x->buf, p, len))
        return 0;
    if (!x->on_line)
        return len;
    char *start = x->buf.data;
    char *nl;
    while ((nl = memchr(start, '\n', x->buf.len - (size_t)(start - x->buf.data)))) {
        size_t ll = (size_t)(nl - start);
        if (ll && start[ll - 1] == '\r')
            ll--;
        if (ll && x->on_line(x->ctx, start, ll)) {
            x->aborted = true;
            return 0;
        }
        start = nl + 1;
    }
    size_t rest = x->buf.len - (size_t)(start - x->buf.data);
    memmove(x->buf.data, start, rest);
    x->buf.len = rest;
    x->buf.data[rest] = '\0';
    return len;
}

static char *rpc_id_for(const char *method, const char *task_id)
{
    static const struct {
        const char *m, *n;
    } N[] = {{"task/create", "TASK_CREATE"},
             {"event/send", "EVENT_SEND"},
             {"task/cancel", "TASK_CANCEL"},
             {"task/interrupt", "TASK_INTERRUPT"},
             {"message/send", "MESSAGE_SEND"}};
    const char *name = "UNKNOWN";
    for (size_t i = 0; i < sizeof N / sizeof N[0]; i++)
        if (!strcmp(N[i].m, method))
            name = N[i].n;
    size_t len = strlen(name) + strlen(task_id) + 32;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "AgentRPCMethod.%s-%s", name, task_id);
    return s;
}

/*
 * POSTs {"jsonrpc":"2.0","method":...,"params":...,"id":...} to {acp_url}/api.
 * Without on_line: validates the acknowledgement (2.7).  With on_line: every NDJSON
 * line goes to on_line as it arrives.  0 on success, -1 with errbuf set.
 */
static int forward(rpcjob_t *j, const char *method, const char *rpc_id, cJSON *params,
                   line_fn on_line, void *ctx, char *errbuf, size_t errlen)
{
    const char *acp = dev_jstr(j->agent, "acp_url");
    if (!acp || !*acp) {
        snprintf(errbuf, errlen, "Agent %s does not have an ACP URL configured",
                 dev_jstr(j->agent, "id"));
        return -1;
    }
    char url[2048];
    dev_url_join(url, sizeof url, acp, "/api");
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "jsonrpc", "2.0");
    cJSON_AddStringToObject(req, "method", method);
    cJSON_AddItemReferenceToObject(req, "params", params);
    cJSON_AddStringToObject(req, "id", rpc_id);
    char *body = dev_print(req);
    cJSON_Delete(req);
    if (!body) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    struct curl_slist *h = NULL;
    for (struct curl_slist *s = j->fwd; s; s = s->next)
        h = curl_slist_append(h, s->data);
    char line[256];
    h = curl_slist_append(h, "content-type: application/json");
    h = curl_slist_append(h, on_line ? "accept: text/event-stream" : "accept: */*");
    h = curl_slist_append(h, "Expect:");
    if (j->key[0]) {
        snprintf(line, sizeof line, "x-agent-api-key: %s", j->key);
        h = curl_slist_append(h, line);
    }
    snprintf(line, sizeof line, "x-request-id: %s", j->request_id);
    h = curl_slist_append(h, line);
    CURL *c = j->curl ? j->curl : curl_easy_init();
    if (j->curl)
        curl_easy_reset(c);
    xfer_t x = {.on_line = on_line, .ctx = ctx};
    agx_buf_init(&x.buf);
    char cerr[CURL_ERROR_SIZE] = "";
    int rc = -1;
    if (!c || !h) {
        snprintf(errbuf, errlen, "out of memory");
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "agentex-dev/" DEV_VERSION);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dev_curl_abort_on_stop);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, j->d);
    if (on_line) {
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 300L);
    } else {
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, j->d->rpc_timeout_ms);
    }
    CURLcode cc = curl_easy_perform(c);
    if (x.aborted) {
        rc = -2; /* errbuf already set by the line handler */
        goto out;
    }
    if (cc == CURLE_ABORTED_BY_CALLBACK) {
        snprintf(errbuf, errlen, "agentex-dev is shutting down");
        goto out;
    }
    if (cc != CURLE_OK) {
        snprintf(errbuf, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
        goto out;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
        snprintf(errbuf, errlen, "%s error '%ld' for url '%.900s'",
                 status >= 500 ? "Server" : "Client", status, url);
        goto out;
    }
    if (on_line) {
        /* a last line without a newline */
        if (x.buf.len > 0 && on_line(ctx, x.buf.data, x.buf.len)) {
            rc = -2;
            goto out;
        }
        rc = 0;
        goto out;
    }
    cJSON *resp = dev_parse(x.buf.data ? x.buf.data : "", x.buf.len);
    if (!cJSON_IsObject(resp)) {
        snprintf(errbuf, errlen, "Invalid JSON-RPC response from ACP server: %.200s",
                 x.buf.data ? x.buf.data : "");
        cJSON_Delete(resp);
        goto out;
    }
    const cJSON *jv = cJSON_GetObjectItemCaseSensitive(resp, "jsonrpc");
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(resp, "id");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(resp, "error");
    if (jv && !(cJSON_IsString(jv) && !strcmp(jv->valuestring, "2.0"))) {
        snprintf(errbuf, errlen, "Invalid JSON-RPC response from ACP server: jsonrpc is not 2.0");
    } else if (!cJSON_IsString(idv) || strcmp(idv->valuestring, rpc_id) != 0) {
        char *t = idv ? dev_print(idv) : NULL;
        snprintf(errbuf, errlen, "Response ID %s does not match request ID %s", t ? t : "None",
                 rpc_id);
        cJSON_free(t);
    } else if (ev && !cJSON_IsNull(ev)) {
        char *t = dev_print(ev);
        snprintf(errbuf, errlen, "RPC error: %s", t ? t : "");
        cJSON_free(t);
    } else {
        rc = 0;
    }
    cJSON_Delete(resp);
out:
    if (rc == -1)
        dev_log(AGENTEX_LOG_WARN, "delivery of %s to %s failed: %s", method, url, errbuf);
    else if (rc == 0)
        dev_log(AGENTEX_LOG_DEBUG, "delivered %s to %s", method, url);
    agx_buf_free(&x.buf);
    curl_slist_free_all(h);
    if (c && c != j->curl)
        curl_easy_cleanup(c);
    else if (c)
        curl_easy_reset(c); /* drop pointers to this call's buffers; connections stay */
    cJSON_free(body);
    return rc ? -1 : 0;
}

static cJSON *base_params(rpcjob_t *j, const cJSON *task)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "agent", cJSON_Duplicate(j->agent, true));
    cJSON_AddItemToObject(p, "task", cJSON_Duplicate(task, true));
    return p;
}

/* ---- task helpers (worker side) ------------------------------------------------------------ */

static void publish_task(rpcjob_t *j, const cJSON *task) { dev_publish_task_updated(j->d, task); }

/* Sets FAILED with the error text ("fail_task": no guard) and publishes. */
static void fail_task(rpcjob_t *j, const char *task_id, const char *reason)
{
    dev_lock(j->d);
    cJSON *t = dev_task_get(j->d, task_id, NULL);
    int rc = t ? dev_task_set_status(j->d, t, "FAILED", reason) : -1;
    dev_unlock(j->d);
    if (rc == 0)
        publish_task(j, t);
    cJSON_Delete(t);
}

/* Resolves params.task_id / params.task_name.  On failure answers and returns NULL. */
static cJSON *find_task(rpcjob_t *j)
{
    const char *tid = dev_jstr(j->params, "task_id");
    const char *tname = dev_jstr(j->params, "task_name");
    if (!tid && !tname) {
        char msg[160];
        snprintf(msg, sizeof msg, "Either task_id or task_name must be provided for %s", j->method);
        answer_error(j, -32603, msg);
        return NULL;
    }
    dev_lock(j->d);
    cJSON *t = dev_task_get(j->d, tid, tid ? NULL : tname);
    dev_unlock(j->d);
    if (!t) {
        char msg[600];
        if (tid) {
            snprintf(msg, sizeof msg, "Item with id '%s' does not exist.", tid);
            answer_error(j, -32603, msg);
        } else if (j->streaming) {
            snprintf(msg, sizeof msg, "Item with name '%s' does not exist.", tname);
            answer_error(j, -32603, msg);
        } else {
            /* the real backend resolves names during authorization: a plain 404 */
            dev_respond_error(j->r, 404, "Item with name '%s' does not exist.", tname);
        }
    }
    return t;
}

/* ---- task/create ------------------------------------------------------------------------------
 */

static void do_task_create(rpcjob_t *j)
{
    dsrv_t *d = j->d;
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(j->params, "params");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j->params, "task_metadata");
    const char *name = dev_jstr(j->params, "name");
    const char *aid = dev_jstr(j->agent, "id");
    cJSON *frames = cJSON_CreateArray();
    dev_lock(d);
    cJSON *t = name ? dev_task_get(d, NULL, name) : NULL;
    if (t) {
        if (!strcmp(dev_jstr(t, "status") ? dev_jstr(t, "status") : "", "INTERRUPTED") &&
            dev_task_set_status(d, t, "RUNNING", "Task resumed on next turn") == 0)
            cJSON_AddItemToArray(frames, cJSON_Duplicate(t, true));
        if (cJSON_IsObject(params) &&
            !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(t, "params"), params, true)) {
            char ts[40];
            dev_iso_time(agx_now_us(), ts);
            cJSON_ReplaceItemInObjectCaseSensitive(t, "params", cJSON_Duplicate(params, true));
            cJSON_ReplaceItemInObjectCaseSensitive(t, "updated_at", cJSON_CreateString(ts));
            if (dev_task_put(d, t) == 0)
                cJSON_AddItemToArray(frames, cJSON_Duplicate(t, true));
        }
    } else {
        t = dev_task_create(d, aid, name, params, meta);
    }
    dev_unlock(d);
    cJSON *f;
    cJSON_ArrayForEach(f, frames) publish_task(j, f);
    cJSON_Delete(frames);
    if (!t) {
        answer_error(j, -32603, "could not create the task (store error)");
        return;
    }
    const char *type = dev_jstr(j->agent, "acp_type");
    if (type && !strcmp(type, "sync")) {
        answer_result(j, t);
        return;
    }
    const char *tid = dev_jstr(t, "id");
    char *rid = rpc_id_for("task/create", tid);
    cJSON *p = base_params(j, t);
    cJSON_AddItemToObject(
        p, "params", cJSON_IsObject(params) ? cJSON_Duplicate(params, true) : cJSON_CreateNull());
    char eb[1024];
    int rc = rid ? forward(j, "task/create", rid, p, NULL, NULL, eb, sizeof eb) : -1;
    if (!rid)
        snprintf(eb, sizeof eb, "out of memory");
    cJSON_Delete(p);
    free(rid);
    if (rc) {
        if (!atomic_load(&j->d->stopping)) /* a shutdown is not the agent's failure */
            fail_task(j, tid, eb);
        answer_error(j, -32603, eb);
        cJSON_Delete(t);
        return;
    }
    if (!strcmp(dev_jstr(t, "status") ? dev_jstr(t, "status") : "", "FAILED")) {
        /* on the current row, not the snapshot taken before the forward: writes made
         * meanwhile (metadata, params, another status) are kept; only a task still FAILED
         * is set back to RUNNING */
        dev_lock(d);
        cJSON *cur = dev_task_get(d, tid, NULL);
        const char *cs = cur ? dev_jstr(cur, "status") : NULL;
        int wrc = cs && !strcmp(cs, "FAILED")
                      ? dev_task_set_status(d, cur, "RUNNING", "Task forwarded to ACP server")
                      : -1;
        dev_unlock(d);
        if (cur) {
            if (wrc == 0)
                publish_task(j, cur);
            cJSON_Delete(t);
            t = cur;
        }
    }
    answer_result(j, t);
}

/* ---- event/send, task/cancel, task/interrupt ----------------------------------------------------
 */

static void do_event_send(rpcjob_t *j)
{
    char eb[1024];
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(j->params, "content");
    cJSON *content = NULL;
    if (cv && !cJSON_IsNull(cv)) {
        content = dev_norm_content(cv, eb, sizeof eb);
        if (!content) {
            char msg[1100];
            snprintf(msg, sizeof msg, "Invalid parameters: %s", eb);
            answer_error(j, -32602, msg);
            return;
        }
    }
    cJSON *t = find_task(j);
    if (!t) {
        cJSON_Delete(content);
        return;
    }
    dev_lock(j->d);
    cJSON *ev = dev_event_create(j->d, dev_jstr(t, "id"), dev_jstr(j->agent, "id"), content);
    dev_unlock(j->d);
    cJSON_Delete(content);
    if (!ev) {
        answer_error(j, -32603, "could not store the event");
        cJSON_Delete(t);
        return;
    }
    char *rid = rpc_id_for("event/send", dev_jstr(t, "id"));
    cJSON *p = base_params(j, t);
    cJSON_AddItemToObject(p, "event", cJSON_Duplicate(ev, true));
    cJSON_AddNullToObject(p, "request");
    int rc = rid ? forward(j, "event/send", rid, p, NULL, NULL, eb, sizeof eb) : -1;
    cJSON_Delete(p);
    free(rid);
    cJSON_Delete(t);
    if (rc) {
        cJSON_Delete(ev);
        answer_error(j, -32603, eb);
        return;
    }
    answer_result(j, ev);
}

static void do_cancel_or_interrupt(rpcjob_t *j, bool cancel)
{
    cJSON *t = find_task(j);
    if (!t)
        return;
    char eb[1024];
    char *rid = rpc_id_for(j->method, dev_jstr(t, "id"));
    cJSON *p = base_params(j, t);
    int rc = rid ? forward(j, j->method, rid, p, NULL, NULL, eb, sizeof eb) : -1;
    cJSON_Delete(p);
    free(rid);
    if (rc) {
        cJSON_Delete(t);
        answer_error(j, -32603, eb);
        return;
    }
    char tid[128];
    snprintf(tid, sizeof tid, "%s", dev_jstr(t, "id"));
    cJSON_Delete(t);
    bool changed = false;
    dev_lock(j->d);
    t = dev_task_get(j->d, tid, NULL);
    if (t && cancel) {
        const char *st = dev_jstr(t, "status");
        if (!dev_status_terminal(st) &&
            dev_task_set_status(j->d, t, "CANCELED", "Task canceled by user") == 0)
            changed = true;
    }
    dev_unlock(j->d);
    if (!t) {
        answer_error(j, -32603, "task disappeared");
        return;
    }
    if (changed)
        publish_task(j, t);
    answer_result(j, t);
}

/* ---- message/send ---------------------------------------------------------------------------- */

typedef struct acc {
    bool has_index;
    double index;
    cJSON *parent;  /* TaskMessage (streaming path) */
    cJSON *content; /* final content (non-streaming path) */
    char dtype[32];
    agx_buf_t text;
    char *tool_call_id, *tool_name;
    bool completed, has_deltas;
} acc_t;

typedef struct msgctx {
    rpcjob_t *j;
    char rpc_id[200];
    char task_id[80];
    acc_t *accs;
    size_t n, cap;
    char err[1024];
} msgctx_t;

static acc_t *acc_for(msgctx_t *m, const cJSON *index)
{
    bool has = cJSON_IsNumber(index);
    double v = has ? index->valuedouble : 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->accs[i].has_index == has && (!has || m->accs[i].index == v))
            return &m->accs[i];
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 4;
        acc_t *na = realloc(m->accs, nc * sizeof *na);
        if (!na)
            return NULL;
        m->accs = na;
        m->cap = nc;
    }
    acc_t *a = &m->accs[m->n++];
    memset(a, 0, sizeof *a);
    a->has_index = has;
    a->index = v;
    agx_buf_init(&a->text);
    return a;
}

static void acc_free(msgctx_t *m)
{
    for (size_t i = 0; i < m->n; i++) {
        cJSON_Delete(m->accs[i].parent);
        cJSON_Delete(m->accs[i].content);
        agx_buf_free(&m->accs[i].text);
        free(m->accs[i].tool_call_id);
        free(m->accs[i].tool_name);
    }
    free(m->accs);
}

static int acc_add(msgctx_t *m, acc_t *a, const cJSON *delta)
{
    if (!cJSON_IsObject(delta))
        return 0;
    const char *type = dev_jstr(delta, "type");
    if (!a->dtype[0]) {
        snprintf(a->dtype, sizeof a->dtype, "%s", type);
        free(a->tool_call_id);
        free(a->tool_name);
        a->tool_call_id =
            dev_jstr(delta, "tool_call_id") ? strdup(dev_jstr(delta, "tool_call_id")) : NULL;
        a->tool_name = dev_jstr(delta, "name") ? strdup(dev_jstr(delta, "name")) : NULL;
    } else if (strcmp(a->dtype, type) != 0) {
        snprintf(m->err, sizeof m->err, "Delta type mismatch: DeltaType.%s != DeltaType.%s",
                 a->dtype, type);
        return -1;
    }
    static const struct {
        const char *type, *field;
    } F[] = {{"text", "text_delta"},
             {"data", "data_delta"},
             {"tool_request", "arguments_delta"},
             {"tool_response", "content_delta"},
             {"reasoning_summary", "summary_delta"},
             {"reasoning_content", "content_delta"}};
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++)
        if (!strcmp(F[i].type, type)) {
            const char *s = dev_jstr(delta, F[i].field);
            if (s && agx_buf_puts(&a->text, s))
                return -1;
        }
    a->has_deltas = true;
    return 0;
}

/* Content from the accumulated deltas (new object) or NULL with m->err set. */
static cJSON *acc_content(msgctx_t *m, acc_t *a)
{
    const char *s = a->text.data ? a->text.data : "";
    cJSON *c = cJSON_CreateObject();
    if (!strcmp(a->dtype, "text")) {
        cJSON_AddStringToObject(c, "type", "text");
        cJSON_AddStringToObject(c, "author", "agent");
        cJSON_AddStringToObject(c, "content", s);
    } else if (!strcmp(a->dtype, "data") || !strcmp(a->dtype, "tool_request")) {
        cJSON *v = dev_parse(s, strlen(s));
        bool data = !strcmp(a->dtype, "data");
        if (!cJSON_IsObject(v)) {
            snprintf(m->err, sizeof m->err, "Accumulated %s is not valid JSON: %.300s",
                     data ? "data content" : "tool request arguments", s);
            cJSON_Delete(v);
            cJSON_Delete(c);
            return NULL;
        }
        cJSON_AddStringToObject(c, "type", a->dtype);
        cJSON_AddStringToObject(c, "author", "agent");
        if (data) {
            cJSON_AddItemToObject(c, "data", v);
        } else {
            dev_add_str(c, "tool_call_id", a->tool_call_id ? a->tool_call_id : "");
            dev_add_str(c, "name", a->tool_name ? a->tool_name : "");
            cJSON_AddItemToObject(c, "arguments", v);
        }
    } else if (!strcmp(a->dtype, "tool_response")) {
        cJSON_AddStringToObject(c, "type", "tool_response");
        cJSON_AddStringToObject(c, "author", "agent");
        dev_add_str(c, "tool_call_id", a->tool_call_id ? a->tool_call_id : "");
        dev_add_str(c, "name", a->tool_name ? a->tool_name : "");
        cJSON_AddStringToObject(c, "content", s);
    } else if (!strcmp(a->dtype, "reasoning_content") || !strcmp(a->dtype, "reasoning_summary")) {
        bool content = !strcmp(a->dtype, "reasoning_content");
        cJSON_AddStringToObject(c, "type", "reasoning");
        cJSON_AddStringToObject(c, "author", "agent");
        cJSON *sum = cJSON_AddArrayToObject(c, "summary");
        if (content) {
            cJSON *arr = cJSON_AddArrayToObject(c, "content");
            cJSON_AddItemToArray(arr, cJSON_CreateString(s));
        } else {
            cJSON_AddItemToArray(sum, cJSON_CreateString(s));
        }
    } else {
        snprintf(m->err, sizeof m->err, "Unknown delta type: %s", a->dtype);
        cJSON_Delete(c);
        return NULL;
    }
    char eb[256];
    cJSON *n = dev_norm_content(c, eb, sizeof eb);
    cJSON_Delete(c);
    if (!n)
        snprintf(m->err, sizeof m->err, "%s", eb);
    return n;
}

static cJSON *initial_content(const cJSON *delta)
{
    const char *type = dev_jstr(delta, "type");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "author", "agent");
    if (!type || !strcmp(type, "text")) {
        cJSON_AddStringToObject(c, "type", "text");
        cJSON_AddStringToObject(c, "content", "");
    } else if (!strcmp(type, "data")) {
        cJSON_AddStringToObject(c, "type", "data");
        cJSON_AddObjectToObject(c, "data");
    } else if (!strcmp(type, "tool_request")) {
        cJSON_AddStringToObject(c, "type", "tool_request");
        dev_copy_key(c, delta, "tool_call_id");
        dev_copy_key(c, delta, "name");
        cJSON_AddObjectToObject(c, "arguments");
    } else if (!strcmp(type, "tool_response")) {
        cJSON_AddStringToObject(c, "type", "tool_response");
        dev_copy_key(c, delta, "tool_call_id");
        dev_copy_key(c, delta, "name");
        cJSON_AddStringToObject(c, "content", "");
    } else {
        cJSON_AddStringToObject(c, "type", "reasoning");
        cJSON_AddArrayToObject(c, "summary");
        cJSON_AddArrayToObject(c, "content");
    }
    char eb[128];
    cJSON *n = dev_norm_content(c, eb, sizeof eb);
    cJSON_Delete(c);
    return n;
}

static cJSON *msg_create(msgctx_t *m, const cJSON *content, const char *status)
{
    dev_lock(m->j->d);
    cJSON *msg = dev_message_create(m->j->d, m->task_id, content, status, agx_now_us());
    dev_unlock(m->j->d);
    if (!msg)
        snprintf(m->err, sizeof m->err, "Error appending message to task %s", m->task_id);
    return msg;
}

static int msg_update(msgctx_t *m, acc_t *a, const cJSON *content)
{
    char ts[40];
    dev_iso_time(agx_now_us(), ts);
    cJSON_ReplaceItemInObjectCaseSensitive(a->parent, "content", cJSON_Duplicate(content, true));
    cJSON_ReplaceItemInObjectCaseSensitive(a->parent, "streaming_status",
                                           cJSON_CreateString("DONE"));
    cJSON_ReplaceItemInObjectCaseSensitive(a->parent, "updated_at", cJSON_CreateString(ts));
    dev_lock(m->j->d);
    int rc = dev_message_put(m->j->d, a->parent);
    dev_unlock(m->j->d);
    if (rc)
        snprintf(m->err, sizeof m->err, "Error updating message of task %s", m->task_id);
    return rc;
}

/* Streaming path: flush accumulated deltas into the parent message. */
static int flush_stream(msgctx_t *m, acc_t *a)
{
    if (a->completed || !a->has_deltas)
        return 0;
    cJSON *c = acc_content(m, a);
    if (!c)
        return -1;
    int rc = 0;
    if (a->parent) {
        rc = msg_update(m, a, c);
    } else {
        a->parent = msg_create(m, c, "DONE");
        rc = a->parent ? 0 : -1;
    }
    cJSON_Delete(c);
    return rc;
}

/* Parses one NDJSON line of the agent's reply; NULL (skip) for non-JSON lines, or sets
 * m->err and returns NULL with *fatal. */
static cJSON *agent_update(msgctx_t *m, const char *line, size_t len, bool *fatal)
{
    *fatal = false;
    cJSON *o = dev_parse(line, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return NULL; /* the backend skips lines that are not JSON */
    }
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "error");
    cJSON *u = NULL;
    *fatal = true;
    if (!cJSON_IsString(idv) || strcmp(idv->valuestring, m->rpc_id) != 0) {
        char *t = idv ? dev_print(idv) : NULL;
        snprintf(m->err, sizeof m->err, "Response ID %s does not match request ID %s",
                 t ? t : "None", m->rpc_id);
        cJSON_free(t);
    } else if (ev && !cJSON_IsNull(ev)) {
        char *t = dev_print(ev);
        snprintf(m->err, sizeof m->err, "RPC error: %s", t ? t : "");
        cJSON_free(t);
    } else {
        char eb[512];
        u = dev_norm_update(cJSON_GetObjectItemCaseSensitive(o, "result"), eb, sizeof eb);
        if (!u)
            snprintf(m->err, sizeof m->err, "Unknown update type: %s", eb);
        else
            *fatal = false;
    }
    cJSON_Delete(o);
    return u;
}

static void set_parent(cJSON *u, const cJSON *parent)
{
    cJSON_ReplaceItemInObjectCaseSensitive(
        u, "parent_task_message", parent ? cJSON_Duplicate(parent, true) : cJSON_CreateNull());
}

static int on_stream_line(void *ctx, const char *line, size_t len)
{
    msgctx_t *m = ctx;
    bool fatal;
    cJSON *u = agent_update(m, line, len, &fatal);
    if (!u)
        return fatal ? -1 : 0;
    int rc = -1;
    acc_t *a = acc_for(m, cJSON_GetObjectItemCaseSensitive(u, "index"));
    if (!a) {
        snprintf(m->err, sizeof m->err, "out of memory");
        goto out;
    }
    if (a->completed) {
        rc = 0;
        goto out;
    }
    const char *type = dev_jstr(u, "type");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(u, "content");
    if (!strcmp(type, "full")) {
        if (a->parent) {
            if (msg_update(m, a, content))
                goto out;
        } else if (!(a->parent = msg_create(m, content, "DONE"))) {
            goto out;
        }
        a->completed = true;
    } else if (!strcmp(type, "start")) {
        if (!a->parent && !(a->parent = msg_create(m, content, "IN_PROGRESS")))
            goto out;
    } else if (!strcmp(type, "delta")) {
        const cJSON *delta = cJSON_GetObjectItemCaseSensitive(u, "delta");
        if (!a->parent) {
            cJSON *init = initial_content(delta);
            a->parent = init ? msg_create(m, init, "IN_PROGRESS") : NULL;
            if (!a->parent) {
                cJSON_Delete(init);
                goto out;
            }
            cJSON *start = cJSON_CreateObject();
            cJSON_AddStringToObject(start, "type", "start");
            dev_copy_key(start, u, "index");
            cJSON_AddItemToObject(start, "parent_task_message", cJSON_Duplicate(a->parent, true));
            cJSON_AddItemToObject(start, "content", init);
            stream_line(m->j, envelope(m->j, start, 0, NULL));
        }
        if (acc_add(m, a, delta))
            goto out;
    } else { /* done */
        if (flush_stream(m, a))
            goto out;
        /* a start without deltas: its content is final, it is now DONE too */
        const char *ss = a->parent ? dev_jstr(a->parent, "streaming_status") : NULL;
        if (a->parent && !a->has_deltas && !(ss && !strcmp(ss, "DONE")) &&
            msg_update(m, a, cJSON_GetObjectItemCaseSensitive(a->parent, "content")))
            goto out;
        a->completed = true;
    }
    set_parent(u, a->parent);
    stream_line(m->j, envelope(m->j, u, 0, NULL));
    u = NULL;
    rc = 0;
out:
    cJSON_Delete(u);
    return rc;
}

static int on_sync_line(void *ctx, const char *line, size_t len)
{
    msgctx_t *m = ctx;
    bool fatal;
    cJSON *u = agent_update(m, line, len, &fatal);
    if (!u)
        return fatal ? -1 : 0;
    int rc = -1;
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(u, "index");
    if (!cJSON_IsNumber(idx)) {
        snprintf(m->err, sizeof m->err, "Task message index is required");
        goto out;
    }
    acc_t *a = acc_for(m, idx);
    if (!a) {
        snprintf(m->err, sizeof m->err, "out of memory");
        goto out;
    }
    rc = 0;
    if (a->completed)
        goto out;
    const char *type = dev_jstr(u, "type");
    if (!strcmp(type, "full")) {
        a->content = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(u, "content"), true);
        a->completed = true;
    } else if (!strcmp(type, "delta")) {
        rc = acc_add(m, a, cJSON_GetObjectItemCaseSensitive(u, "delta"));
    } else if (!strcmp(type, "done")) {
        if (a->has_deltas) {
            a->content = acc_content(m, a);
            rc = a->content ? 0 : -1;
        }
        a->completed = true;
    }
out:
    cJSON_Delete(u);
    return rc;
}

static void do_message_send(rpcjob_t *j)
{
    dsrv_t *d = j->d;
    char eb[1024];
    msgctx_t m = {.j = j};
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(j->params, "stream");
    j->streaming = cJSON_IsTrue(sv);
    if (j->streaming) {
        agx_http_stream_begin(j->r, 200, "application/x-ndjson",
                              "Cache-Control: no-cache\r\nConnection: keep-alive\r\n");
        j->stream_open = true;
    }
    cJSON *content =
        dev_norm_content(cJSON_GetObjectItemCaseSensitive(j->params, "content"), eb, sizeof eb);
    if (!content) {
        char msg[1100];
        snprintf(msg, sizeof msg, "Invalid parameters: %s", eb);
        answer_error(j, -32602, msg);
        return;
    }
    const char *tid = dev_jstr(j->params, "task_id");
    const char *tname = dev_jstr(j->params, "task_name");
    const cJSON *tparams = cJSON_GetObjectItemCaseSensitive(j->params, "task_params");
    cJSON *frames = cJSON_CreateArray();
    cJSON *t = NULL, *umsg = NULL;
    dev_lock(d);
    if (tid || tname)
        t = dev_task_get(d, tid, tid ? NULL : tname);
    if (!t && tid) {
        dev_unlock(d);
        snprintf(eb, sizeof eb, "Item with id '%s' does not exist.", tid);
        goto fail_nofail;
    }
    if (t) {
        if (!strcmp(dev_jstr(t, "status") ? dev_jstr(t, "status") : "", "INTERRUPTED") &&
            dev_task_set_status(d, t, "RUNNING", "Task resumed on next turn") == 0)
            cJSON_AddItemToArray(frames, cJSON_Duplicate(t, true));
        if (cJSON_IsObject(tparams) &&
            !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(t, "params"), tparams, true)) {
            char ts[40];
            dev_iso_time(agx_now_us(), ts);
            cJSON_ReplaceItemInObjectCaseSensitive(t, "params", cJSON_Duplicate(tparams, true));
            cJSON_ReplaceItemInObjectCaseSensitive(t, "updated_at", cJSON_CreateString(ts));
            if (dev_task_put(d, t) == 0)
                cJSON_AddItemToArray(frames, cJSON_Duplicate(t, true));
        }
    } else {
        t = dev_task_create(d, dev_jstr(j->agent, "id"), tname, tparams, NULL);
    }
    if (t)
        umsg = dev_message_create(d, dev_jstr(t, "id"), content, j->streaming ? "DONE" : NULL,
                                  agx_now_us());
    dev_unlock(d);
    cJSON *f;
    cJSON_ArrayForEach(f, frames) publish_task(j, f);
    cJSON_Delete(frames);
    frames = NULL;
    if (!t || !umsg) {
        snprintf(eb, sizeof eb, "Error appending input message to task");
        if (t)
            fail_task(j, dev_jstr(t, "id"), eb);
        goto fail_nofail;
    }
    snprintf(m.task_id, sizeof m.task_id, "%s", dev_jstr(t, "id"));
    char *rid = rpc_id_for("message/send", m.task_id);
    snprintf(m.rpc_id, sizeof m.rpc_id, "%s", rid ? rid : "");
    free(rid);
    cJSON *p = base_params(j, t);
    cJSON_AddItemToObject(p, "content", cJSON_Duplicate(content, true));
    cJSON_AddTrueToObject(p, "stream");
    int rc = forward(j, "message/send", m.rpc_id, p, j->streaming ? on_stream_line : on_sync_line,
                     &m, eb, sizeof eb);
    cJSON_Delete(p);
    if (rc && m.err[0])
        snprintf(eb, sizeof eb, "%s", m.err);
    if (j->streaming) {
        for (size_t i = 0; rc == 0 && i < m.n; i++)
            if (flush_stream(&m, &m.accs[i])) {
                snprintf(eb, sizeof eb, "%s", m.err);
                rc = -1;
            }
        if (rc) {
            if (!atomic_load(&d->stopping))
                fail_task(j, m.task_id, eb);
            answer_error(j, -32603, eb);
        } else {
            agx_http_stream_end(j->r);
        }
        goto done;
    }
    if (rc) {
        answer_error(j, -32603, eb);
        goto done;
    }
    /* non-streaming: persist the outputs in index order of first appearance */
    cJSON *contents = cJSON_CreateArray();
    for (size_t i = 0; i < m.n; i++) {
        acc_t *a = &m.accs[i];
        cJSON *c = a->content ? cJSON_Duplicate(a->content, true)
                              : (a->has_deltas ? acc_content(&m, a) : NULL);
        if (!c && a->has_deltas) {
            cJSON_Delete(contents);
            answer_error(j, -32603, m.err);
            goto done;
        }
        if (c)
            cJSON_AddItemToArray(contents, c);
    }
    cJSON *out = cJSON_CreateArray();
    bool ok = true;
    int64_t now = agx_now_us();
    int i = 0;
    dev_lock(d);
    if (dev_begin(d) == 0) {
        cJSON *c;
        cJSON_ArrayForEach(c, contents)
        {
            cJSON *msg = dev_message_create(d, m.task_id, c, "DONE", now + i++);
            if (!msg) {
                ok = false;
                break;
            }
            cJSON_AddItemToArray(out, msg);
        }
        if (ok && dev_commit(d))
            ok = false;
        if (!ok)
            dev_rollback(d);
    } else {
        ok = false;
    }
    dev_unlock(d);
    cJSON_Delete(contents);
    if (!ok) {
        cJSON_Delete(out);
        snprintf(eb, sizeof eb, "Error appending response message to task %s", m.task_id);
        fail_task(j, m.task_id, eb);
        answer_error(j, -32603, eb);
    } else {
        answer_result(j, out);
    }
    goto done;
fail_nofail:
    answer_error(j, -32603, eb);
done:
    acc_free(&m);
    cJSON_Delete(frames);
    cJSON_Delete(umsg);
    cJSON_Delete(t);
    cJSON_Delete(content);
}

/* ---- job ------------------------------------------------------------------------------------- */

static bool method_allowed(const char *acp_type, const char *method)
{
    if (acp_type && !strcmp(acp_type, "sync"))
        return !strcmp(method, "message/send") || !strcmp(method, "task/interrupt") ||
               !strcmp(method, "task/create");
    return strcmp(method, "message/send") != 0;
}

static const char *enum_name(const char *s, char *buf, size_t len)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < len; i++)
        buf[i] = (s[i] == '/') ? '_' : (char)((s[i] >= 'a' && s[i] <= 'z') ? s[i] - 32 : s[i]);
    buf[i] = '\0';
    return buf;
}

static void job_free(rpcjob_t *j)
{
    cJSON_Delete(j->body);
    cJSON_Delete(j->agent);
    curl_slist_free_all(j->fwd);
    free(j->agent_id);
    free(j->agent_name);
    free(j);
}

static void rpc_job(void *wctx, void *arg)
{
    rpcjob_t *j = arg;
    j->curl = wctx;
    dsrv_t *d = j->d;
    char msg[700];
    dev_lock(d);
    j->agent = dev_agent_get(d, j->agent_id, j->agent_id ? NULL : j->agent_name);
    if (j->agent) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(d->db, "SELECT api_key FROM agents WHERE id=?", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_text(st, 1, dev_jstr(j->agent, "id"), -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
                snprintf(j->key, sizeof j->key, "%s", (const char *)sqlite3_column_text(st, 0));
            sqlite3_finalize(st);
        }
    }
    dev_unlock(d);
    bool is_stream = !strcmp(j->method, "message/send") &&
                     cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j->params, "stream"));
    if (!j->agent) {
        j->streaming = is_stream;
        if (is_stream)
            agx_http_stream_begin(j->r, 200, "application/x-ndjson", NULL);
        if (j->agent_id)
            snprintf(msg, sizeof msg, "Item with id '%s' does not exist.", j->agent_id);
        else
            snprintf(msg, sizeof msg, "Item with name '%s' does not exist.", j->agent_name);
        answer_error(j, -32603, msg);
        goto out;
    }
    const char *status = dev_jstr(j->agent, "status");
    const char *type = dev_jstr(j->agent, "acp_type");
    if ((status && !strcmp(status, "Deleted")) || !method_allowed(type, j->method)) {
        j->streaming = is_stream;
        if (is_stream)
            agx_http_stream_begin(j->r, 200, "application/x-ndjson", NULL);
        char m1[64], t1[64];
        if (status && !strcmp(status, "Deleted"))
            snprintf(msg, sizeof msg, "Agent %s is deleted",
                     j->agent_id ? j->agent_id : dev_jstr(j->agent, "id"));
        else
            snprintf(msg, sizeof msg,
                     "Unsupported method: AgentRPCMethod.%s for ACP type: ACPType.%s",
                     enum_name(j->method, m1, sizeof m1), enum_name(type, t1, sizeof t1));
        answer_error(j, -32603, msg);
        goto out;
    }
    if (!strcmp(j->method, "task/create"))
        do_task_create(j);
    else if (!strcmp(j->method, "event/send"))
        do_event_send(j);
    else if (!strcmp(j->method, "task/cancel"))
        do_cancel_or_interrupt(j, true);
    else if (!strcmp(j->method, "task/interrupt"))
        do_cancel_or_interrupt(j, false);
    else
        do_message_send(j);
out:
    job_free(j);
}

static bool forwardable(const char *name)
{
    static const char *const drop[] = {"connection",
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
                                       "x-api-key",
                                       "x-agent-api-key",
                                       "x-acting-user-api-key",
                                       "x-acting-user-cookie",
                                       "x-acting-user-authorization",
                                       "x-acting-as-agent",
                                       "x-selected-account-id",
                                       "x-request-id",
                                       NULL};
    bool keep = !strncmp(name, "x-", 2) || !strcmp(name, "traceparent") ||
                !strcmp(name, "tracestate") || !strcmp(name, "baggage");
    for (size_t i = 0; keep && drop[i]; i++)
        if (!strcmp(drop[i], name))
            keep = false;
    return keep;
}

static const char *const METHODS[] = {"event/send",  "task/create",    "message/send",
                                      "task/cancel", "task/interrupt", NULL};

void dev_rpc(dsrv_t *d, agx_http_req_t *r, const char *agent_id, const char *agent_name)
{
    size_t len = 0;
    const char *b = agx_http_req_body(r, &len);
    cJSON *body = dev_parse(b, len);
    if (!body) {
        dev_respond_422(r, "body: JSON decode error");
        return;
    }
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        dev_respond_422(r, "body: Input should be a valid dictionary or object");
        return;
    }
    const cJSON *jv = cJSON_GetObjectItemCaseSensitive(body, "jsonrpc");
    const char *method = dev_jstr(body, "method");
    cJSON *params = cJSON_GetObjectItemCaseSensitive(body, "params");
    cJSON *id = cJSON_GetObjectItemCaseSensitive(body, "id");
    const char *bad = NULL;
    if (jv && !(cJSON_IsString(jv) && !strcmp(jv->valuestring, "2.0")))
        bad = "body.jsonrpc: Input should be '2.0'";
    else if (!cJSON_GetObjectItemCaseSensitive(body, "method"))
        bad = "body.method: Field required";
    else if (!method)
        bad = "body.method: Input should be 'event/send', 'task/create', 'message/send', "
              "'task/cancel' or 'task/interrupt'";
    else if (!params)
        bad = "body.params: Field required";
    else if (!cJSON_IsObject(params))
        bad = "body.params: Input should be a valid dictionary or object";
    else if (id && !cJSON_IsNull(id) && !cJSON_IsString(id) &&
             !(cJSON_IsNumber(id) && id->valuedouble == (double)(long long)id->valuedouble))
        bad = "body.id: Input should be a valid integer or string";
    if (!bad) {
        bool known = false;
        for (size_t i = 0; METHODS[i]; i++)
            known |= !strcmp(METHODS[i], method);
        if (!known)
            bad = "body.method: Input should be 'event/send', 'task/create', 'message/send', "
                  "'task/cancel' or 'task/interrupt'";
    }
    if (bad) {
        cJSON_Delete(body);
        dev_respond_422(r, "%s", bad);
        return;
    }
    rpcjob_t *j = calloc(1, sizeof *j);
    if (!j) {
        cJSON_Delete(body);
        dev_respond_error(r, 500, "Internal Server Error. out of memory");
        return;
    }
    j->d = d;
    j->r = r;
    j->body = body;
    j->method = method;
    j->params = params;
    j->id = id;
    j->agent_id = agent_id ? strdup(agent_id) : NULL;
    j->agent_name = agent_name ? strdup(agent_name) : NULL;
    dev_hex_random(j->request_id, 16);
    size_t n = agx_http_req_header_count(r);
    for (size_t i = 0; i < n; i++) {
        const char *hn, *hv;
        agx_http_req_header_at(r, i, &hn, &hv);
        if (!hn || !hv || !forwardable(hn))
            continue;
        size_t l = strlen(hn) + strlen(hv) + 3;
        char *line = malloc(l);
        if (!line)
            continue;
        snprintf(line, l, "%s: %s", hn, hv);
        j->fwd = curl_slist_append(j->fwd, line);
        free(line);
    }
    /* param shapes common to every method */
    static const char *const objs[] = {"params", "task_metadata", "task_params", NULL};
    for (size_t i = 0; objs[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, objs[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsObject(v)) {
            char m[128];
            snprintf(m, sizeof m,
                     "Invalid parameters: params.%s: Input should be a valid dictionary", objs[i]);
            dev_respond_json(r, 200, envelope(j, NULL, -32602, m));
            job_free(j);
            return;
        }
    }
    const cJSON *sv = cJSON_GetObjectItemCaseSensitive(params, "stream");
    if (sv && !cJSON_IsNull(sv) && !cJSON_IsBool(sv)) {
        dev_respond_json(r, 200,
                         envelope(j, NULL, -32602,
                                  "Invalid parameters: params.stream: Input should be a "
                                  "valid boolean"));
        job_free(j);
        return;
    }
    static const char *const strs[] = {"task_id", "task_name", "name", NULL};
    for (size_t i = 0; strs[i]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, strs[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
            char m[128];
            snprintf(m, sizeof m, "Invalid parameters: params.%s: Input should be a valid string",
                     strs[i]);
            dev_respond_json(r, 200, envelope(j, NULL, -32602, m));
            job_free(j);
            return;
        }
    }
    if (dev_spawn(d, rpc_job, j)) {
        dev_respond_error(r, 500, "Internal Server Error. cannot start a worker");
        job_free(j);
    }
}
