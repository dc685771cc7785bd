/*
 * lib/streaming.c - publishing streamed message updates (protocol 5.6, 6.3, 6.4):
 * the delta accumulator, the Redis and websocket transports, coalescing, and the
 * streamed-message lifecycle.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agentex/messages.h"
#include "agentex/streaming.h"
#include "client_internal.h"
#include "internal.h"
#include "stream_internal.h"
#include "types_internal.h"

/* ======================================================================================
 * accumulator
 * ==================================================================================== */

static const char *const DELTA_NAMES[] = {"text",          "data",
                                          "tool_request",  "tool_response",
                                          "reasoning_summary", "reasoning_content"};

const char *agx_delta_type_name(agx_delta_type_t t)
{
    return (unsigned)t < 6 ? DELTA_NAMES[t] : "text";
}

int agx_delta_type_parse(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < 6; i++)
        if (strcmp(s, DELTA_NAMES[i]) == 0)
            return i;
    return -1;
}

static int delta_content_kind(agx_delta_type_t t)
{
    switch (t) {
    case AGX_DELTA_TEXT:
        return ADK_CONTENT_TEXT;
    case AGX_DELTA_DATA:
        return ADK_CONTENT_DATA;
    case AGX_DELTA_TOOL_REQUEST:
        return ADK_CONTENT_TOOL_REQUEST;
    case AGX_DELTA_TOOL_RESPONSE:
        return ADK_CONTENT_TOOL_RESPONSE;
    default:
        return ADK_CONTENT_REASONING;
    }
}

void agx_accum_init(agx_accum_t *a)
{
    memset(a, 0, sizeof *a);
    a->kind = -1;
    agx_buf_init(&a->text);
}

void agx_accum_free(agx_accum_t *a)
{
    if (!a)
        return;
    agx_buf_free(&a->text);
    agx_free(a->call_id);
    agx_free(a->name);
    for (size_t i = 0; i < a->n_summary; i++)
        agx_buf_free(&a->summary[i]);
    for (size_t i = 0; i < a->n_rcontent; i++)
        agx_buf_free(&a->rcontent[i]);
    agx_free(a->summary);
    agx_free(a->rcontent);
    agx_accum_init(a);
}

static agentex_err_t grow_list(agx_buf_t **list, size_t *n, size_t index)
{
    if (index < *n)
        return AGENTEX_OK;
    agx_buf_t *l = agx_realloc(*list, (index + 1) * sizeof *l);
    if (!l)
        return AGENTEX_ENOMEM;
    for (size_t i = *n; i <= index; i++)
        agx_buf_init(&l[i]);
    *list = l;
    *n = index + 1;
    return AGENTEX_OK;
}

agentex_err_t agx_accum_add(agx_accum_t *a, agx_delta_type_t t, const char *call_id,
                            const char *name, int index, const char *text, size_t len)
{
    if ((unsigned)t > AGX_DELTA_REASONING_CONTENT)
        return AGENTEX_EINVAL;
    int kind = delta_content_kind(t);
    if (a->kind != -1 && a->kind != kind)
        return AGENTEX_EINVAL;
    bool tool = t == AGX_DELTA_TOOL_REQUEST || t == AGX_DELTA_TOOL_RESPONSE;
    if (tool && (!call_id || !name))
        return AGENTEX_EINVAL;
    bool reasoning = t == AGX_DELTA_REASONING_SUMMARY || t == AGX_DELTA_REASONING_CONTENT;
    if (reasoning && (index < 0 || index >= AGX_ACCUM_MAX_INDEX))
        return AGENTEX_EINVAL;
    if (tool && !a->call_id) {
        a->call_id = agx_strdup(call_id);
        a->name = agx_strdup(name);
        if (!a->call_id || !a->name) {
            agx_free(a->call_id);
            agx_free(a->name);
            a->call_id = a->name = NULL;
            return AGENTEX_ENOMEM;
        }
    }
    agx_buf_t *dst = &a->text;
    if (t == AGX_DELTA_REASONING_SUMMARY) {
        if (grow_list(&a->summary, &a->n_summary, (size_t)index) != AGENTEX_OK)
            return AGENTEX_ENOMEM;
        dst = &a->summary[index];
    } else if (t == AGX_DELTA_REASONING_CONTENT) {
        if (grow_list(&a->rcontent, &a->n_rcontent, (size_t)index) != AGENTEX_OK)
            return AGENTEX_ENOMEM;
        dst = &a->rcontent[index];
    }
    if (agx_buf_append(dst, text ? text : "", text ? len : 0) != 0)
        return AGENTEX_ENOMEM;
    a->kind = kind;
    return AGENTEX_OK;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

agentex_err_t agx_accum_add_json(agx_accum_t *a, const cJSON *delta)
{
    if (!cJSON_IsObject(delta))
        return AGENTEX_EPROTO;
    int t = agx_delta_type_parse(json_str(delta, "type"));
    if (t < 0)
        return AGENTEX_EPROTO;
    static const char *const text_key[] = {"text_delta",    "data_delta",
                                           "arguments_delta", "content_delta",
                                           "summary_delta", "content_delta"};
    const char *text = json_str(delta, text_key[t]);
    int index = 0;
    if (t == AGX_DELTA_REASONING_SUMMARY || t == AGX_DELTA_REASONING_CONTENT) {
        const cJSON *iv = cJSON_GetObjectItemCaseSensitive(
            delta, t == AGX_DELTA_REASONING_SUMMARY ? "summary_index" : "content_index");
        if (!cJSON_IsNumber(iv) || iv->valuedouble < 0 || iv->valuedouble >= AGX_ACCUM_MAX_INDEX)
            return AGENTEX_EPROTO;
        index = (int)iv->valuedouble;
    }
    agentex_err_t err = agx_accum_add(a, (agx_delta_type_t)t, json_str(delta, "tool_call_id"),
                                      json_str(delta, "name"), index, text,
                                      text ? strlen(text) : 0);
    return err == AGENTEX_EINVAL ? AGENTEX_EPROTO : err;
}

static const char *buf_str(const agx_buf_t *b) { return b->data ? b->data : ""; }

agentex_err_t agx_accum_content(const agx_accum_t *a, const adk_content_t *initial,
                                adk_content_t **out)
{
    *out = NULL;
    if (a->kind == -1) {
        if (!initial)
            return AGENTEX_EINVAL;
        return adk_content_dup(initial, out);
    }
    agentex_err_t err = AGENTEX_OK;
    adk_content_t *c = NULL;
    cJSON *j = NULL;
    const char **list1 = NULL, **list2 = NULL;
    switch (a->kind) {
    case ADK_CONTENT_TEXT:
        err = adk_content_text_new(ADK_AUTHOR_AGENT, buf_str(&a->text), &c);
        if (err == AGENTEX_OK && initial && adk_content_type(initial) == ADK_CONTENT_TEXT) {
            err = adk_content_set_style(c, adk_content_style(initial));
            if (err == AGENTEX_OK)
                err = adk_content_set_format(c, adk_content_format(initial));
        }
        break;
    case ADK_CONTENT_DATA:
        j = agx_json_parse(buf_str(&a->text), a->text.len);
        if (!cJSON_IsObject(j)) {
            AGX_WARN("streaming: accumulated data is not a JSON object: stored as text");
            err = adk_content_text_new(ADK_AUTHOR_AGENT, buf_str(&a->text), &c);
        } else {
            err = adk_content_data_new(ADK_AUTHOR_AGENT, j, &c);
        }
        break;
    case ADK_CONTENT_TOOL_REQUEST:
        j = a->text.len ? agx_json_parse(buf_str(&a->text), a->text.len) : cJSON_CreateObject();
        if (!cJSON_IsObject(j)) {
            AGX_WARN("streaming: tool arguments are not a JSON object: stored as {}");
            cJSON_Delete(j);
            j = cJSON_CreateObject();
        }
        if (!j) {
            err = AGENTEX_ENOMEM;
            break;
        }
        err = adk_content_tool_request_new(ADK_AUTHOR_AGENT, a->call_id, a->name, j, &c);
        break;
    case ADK_CONTENT_TOOL_RESPONSE:
        j = cJSON_CreateString(buf_str(&a->text));
        if (!j) {
            err = AGENTEX_ENOMEM;
            break;
        }
        err = adk_content_tool_response_new(ADK_AUTHOR_AGENT, a->call_id, a->name, j, -1, &c);
        break;
    default:
        list1 = agx_calloc(a->n_summary + 1, sizeof *list1);
        list2 = agx_calloc(a->n_rcontent + 1, sizeof *list2);
        if (!list1 || !list2) {
            err = AGENTEX_ENOMEM;
            break;
        }
        for (size_t i = 0; i < a->n_summary; i++)
            list1[i] = buf_str(&a->summary[i]);
        for (size_t i = 0; i < a->n_rcontent; i++)
            list2[i] = buf_str(&a->rcontent[i]);
        err = adk_content_reasoning_new(ADK_AUTHOR_AGENT, list1, a->n_summary,
                                        a->n_rcontent ? list2 : NULL, a->n_rcontent, &c);
        break;
    }
    cJSON_Delete(j);
    agx_free(list1);
    agx_free(list2);
    if (err != AGENTEX_OK) {
        adk_content_free(c);
        return err;
    }
    *out = c;
    return AGENTEX_OK;
}

/* ======================================================================================
 * transports
 * ==================================================================================== */

enum { T_REDIS = 1, T_WS = 2 };

struct adk_streamer {
    int kind;
    char *host;
    int port;
    char *path;     /* ws */
    char *user;     /* redis */
    char *password; /* redis */
    int db;
    long maxlen;
    long ttl;
    adk_stream_mode_t mode;
    long interval_ms;
    size_t max_chars;
    long timeout_ms;
    pthread_mutex_t mu; /* one publish at a time on the connection */
    redisContext *redis;
    int ws_fd;
    agx_buf_t ws_in; /* server bytes of a frame not read whole yet */
    char errmsg[256];
};

static agentex_err_t streamer_alloc(int kind, adk_streamer_t **out)
{
    adk_streamer_t *s = agx_calloc(1, sizeof *s);
    if (!s)
        return AGENTEX_ENOMEM;
    s->kind = kind;
    s->maxlen = 10000;
    s->ttl = 3600;
    s->mode = ADK_STREAM_MODE_COALESCED;
    s->interval_ms = 50;
    s->max_chars = 128;
    s->timeout_ms = 5000;
    s->ws_fd = -1;
    agx_buf_init(&s->ws_in);
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return AGENTEX_OK;
}

void adk_streamer_free(adk_streamer_t *s)
{
    if (!s)
        return;
    if (s->redis)
        redisFree(s->redis);
    if (s->ws_fd >= 0)
        close(s->ws_fd);
    agx_buf_free(&s->ws_in);
    pthread_mutex_destroy(&s->mu);
    agx_free(s->host);
    agx_free(s->path);
    agx_free(s->user);
    agx_free(s->password);
    agx_free(s);
}

/* host[:port] from [p, end); port defaults to defport. */
static agentex_err_t parse_hostport(const char *p, const char *end, int defport, char **host,
                                    int *port)
{
    const char *colon = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == ':')
            colon = q;
    const char *hend = colon ? colon : end;
    if (hend == p)
        return AGENTEX_EINVAL;
    *port = defport;
    if (colon) {
        long v = 0;
        if (colon + 1 == end)
            return AGENTEX_EINVAL;
        for (const char *q = colon + 1; q < end; q++) {
            if (*q < '0' || *q > '9')
                return AGENTEX_EINVAL;
            v = v * 10 + (*q - '0');
            if (v > 65535)
                return AGENTEX_EINVAL;
        }
        if (v == 0)
            return AGENTEX_EINVAL;
        *port = (int)v;
    }
    *host = agx_strndup(p, (size_t)(hend - p));
    return *host ? AGENTEX_OK : AGENTEX_ENOMEM;
}

agentex_err_t adk_streamer_new_redis(const char *url, adk_streamer_t **out)
{
    if (out)
        *out = NULL;
    if (!url || !out || strncmp(url, "redis://", 8) != 0)
        return AGENTEX_EINVAL;
    agx_global_init();
    adk_streamer_t *s = NULL;
    agentex_err_t err = streamer_alloc(T_REDIS, &s);
    if (err != AGENTEX_OK)
        return err;
    const char *p = url + 8;
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p && !(s->user = agx_strndup(p, (size_t)(colon - p))))
                goto nomem;
            if (!(s->password = agx_strndup(colon + 1, (size_t)(at - colon - 1))))
                goto nomem;
        } else if (!(s->password = agx_strndup(p, (size_t)(at - p)))) {
            goto nomem;
        }
        p = at + 1;
    }
    err = parse_hostport(p, end, 6379, &s->host, &s->port);
    if (err != AGENTEX_OK)
        goto fail;
    if (*end == '/' && end[1]) {
        long db = 0;
        for (const char *q = end + 1; *q && *q != '?' && *q != '#'; q++) {
            if (*q < '0' || *q > '9' || db > 100000) {
                err = AGENTEX_EINVAL;
                goto fail;
            }
            db = db * 10 + (*q - '0');
        }
        s->db = (int)db;
    }
    *out = s;
    return AGENTEX_OK;
nomem:
    err = AGENTEX_ENOMEM;
fail:
    adk_streamer_free(s);
    return err;
}

agentex_err_t adk_streamer_new_ws(const char *url, adk_streamer_t **out)
{
    if (out)
        *out = NULL;
    if (!url || !out || strncmp(url, "ws://", 5) != 0)
        return AGENTEX_EINVAL;
    agx_global_init();
    adk_streamer_t *s = NULL;
    agentex_err_t err = streamer_alloc(T_WS, &s);
    if (err != AGENTEX_OK)
        return err;
    const char *p = url + 5;
    const char *end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p))) {
        err = AGENTEX_EINVAL;
        goto fail;
    }
    err = parse_hostport(p, end, 80, &s->host, &s->port);
    if (err != AGENTEX_OK)
        goto fail;
    s->path = agx_strdup(*end == '/' ? end : "/");
    if (!s->path || strpbrk(s->path, " \r\n")) {
        err = s->path ? AGENTEX_EINVAL : AGENTEX_ENOMEM;
        goto fail;
    }
    *out = s;
    return AGENTEX_OK;
fail:
    adk_streamer_free(s);
    return err;
}

static agentex_err_t env_long(const char *name, long def, long *out)
{
    const char *v = getenv(name);
    *out = def;
    if (!v || !*v)
        return AGENTEX_OK;
    char *e = NULL;
    errno = 0;
    long x = strtol(v, &e, 10);
    if (errno || *e || x < 0)
        return AGENTEX_EINVAL;
    *out = x;
    return AGENTEX_OK;
}

agentex_err_t adk_streamer_from_env(adk_streamer_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    long maxlen, ttl;
    if (env_long("REDIS_STREAM_MAXLEN", 10000, &maxlen) != AGENTEX_OK ||
        env_long("REDIS_STREAM_TTL_SECONDS", 3600, &ttl) != AGENTEX_OK)
        return AGENTEX_EINVAL;
    adk_stream_mode_t mode = ADK_STREAM_MODE_COALESCED;
    const char *m = getenv("AGENTEX_STREAMING_MODE");
    if (m && *m) {
        if (strcasecmp(m, "off") == 0)
            mode = ADK_STREAM_MODE_OFF;
        else if (strcasecmp(m, "per_token") == 0)
            mode = ADK_STREAM_MODE_PER_TOKEN;
        else if (strcasecmp(m, "coalesced") == 0)
            mode = ADK_STREAM_MODE_COALESCED;
        else
            return AGENTEX_EINVAL;
    }
    agentex_err_t err;
    adk_streamer_t *s = NULL;
    const char *redis = getenv("REDIS_URL");
    const char *ws = getenv("AGENTEX_STREAM_WS_URL");
    const char *base = getenv("AGENTEX_BASE_URL");
    if (redis && *redis) {
        err = adk_streamer_new_redis(redis, &s);
    } else if (ws && *ws) {
        err = adk_streamer_new_ws(ws, &s);
    } else if (base && strncmp(base, "http://", 7) == 0) {
        /* agentex-dev's /stream/publish; an https backend is a real deployment, which
         * relays Redis: the Python SDK's default below */
        agx_buf_t b;
        agx_buf_init(&b);
        size_t n = strlen(base);
        while (n > 7 && base[n - 1] == '/')
            n--;
        if (agx_buf_puts(&b, "ws://") != 0 || agx_buf_append(&b, base + 7, n - 7) != 0 ||
            agx_buf_puts(&b, "/stream/publish") != 0) {
            agx_buf_free(&b);
            return AGENTEX_ENOMEM;
        }
        err = adk_streamer_new_ws(b.data, &s);
        agx_buf_free(&b);
    } else {
        err = adk_streamer_new_redis("redis://localhost:6379", &s);
    }
    if (err != AGENTEX_OK)
        return err;
    s->maxlen = maxlen;
    s->ttl = ttl;
    s->mode = mode;
    *out = s;
    return AGENTEX_OK;
}

agentex_err_t adk_streamer_set_mode(adk_streamer_t *s, adk_stream_mode_t mode)
{
    if (!s || (unsigned)mode > ADK_STREAM_MODE_COALESCED)
        return AGENTEX_EINVAL;
    s->mode = mode;
    return AGENTEX_OK;
}

agentex_err_t adk_streamer_set_maxlen(adk_streamer_t *s, long maxlen)
{
    if (!s || maxlen < 0)
        return AGENTEX_EINVAL;
    s->maxlen = maxlen;
    return AGENTEX_OK;
}

agentex_err_t adk_streamer_set_ttl_seconds(adk_streamer_t *s, long ttl)
{
    if (!s || ttl < 0)
        return AGENTEX_EINVAL;
    s->ttl = ttl;
    return AGENTEX_OK;
}

agentex_err_t adk_streamer_set_coalescing(adk_streamer_t *s, long interval_ms, size_t max_chars)
{
    if (!s || interval_ms <= 0 || max_chars == 0)
        return AGENTEX_EINVAL;
    s->interval_ms = interval_ms;
    s->max_chars = max_chars;
    return AGENTEX_OK;
}

agentex_err_t adk_streamer_set_timeout_ms(adk_streamer_t *s, long timeout_ms)
{
    if (!s || timeout_ms <= 0)
        return AGENTEX_EINVAL;
    s->timeout_ms = timeout_ms;
    return AGENTEX_OK;
}

adk_stream_mode_t adk_streamer_mode(const adk_streamer_t *s)
{
    return s ? s->mode : ADK_STREAM_MODE_OFF;
}

const char *adk_streamer_errmsg(const adk_streamer_t *s) { return s ? s->errmsg : ""; }

static agentex_err_t set_err(adk_streamer_t *s, agentex_err_t err, const char *fmt, ...)
    AGENTEX_PRINTF(3, 4);
static agentex_err_t set_err(adk_streamer_t *s, agentex_err_t err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    AGX_WARN("streaming: publish failed: %s", s->errmsg);
    return err;
}

/* ---- Redis ---- */

static agentex_err_t redis_connect(adk_streamer_t *s)
{
    struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
    if (!c)
        return set_err(s, AGENTEX_ENOMEM, "redis: out of memory");
    if (c->err) {
        agentex_err_t e = set_err(s, AGENTEX_ECONNECT, "redis %s:%d: %s", s->host, s->port,
                                  c->errstr);
        redisFree(c);
        return e;
    }
    redisSetTimeout(c, tv);
    redisReply *r = NULL;
    if (s->password) {
        r = s->user ? redisCommand(c, "AUTH %s %s", s->user, s->password)
                    : redisCommand(c, "AUTH %s", s->password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            agentex_err_t e = set_err(s, r ? AGENTEX_EAUTH : AGENTEX_ECONNECT, "redis AUTH: %s",
                                      r ? r->str : c->errstr);
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return e;
        }
        freeReplyObject(r);
    }
    if (s->db) {
        r = redisCommand(c, "SELECT %d", s->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            agentex_err_t e = set_err(s, AGENTEX_EPROTO, "redis SELECT %d: %s", s->db,
                                      r ? r->str : c->errstr);
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return e;
        }
        freeReplyObject(r);
    }
    s->redis = c;
    return AGENTEX_OK;
}

/* An idle connection has nothing to read (every reply was consumed): readable means the
 * server closed it (restart, CLIENT KILL, its idle timeout) or broke the protocol. */
static bool redis_conn_stale(const redisContext *c)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    int rc;
    do
        rc = poll(&p, 1, 0);
    while (rc < 0 && errno == EINTR);
    return rc != 0 || c->err;
}

static agentex_err_t redis_publish(adk_streamer_t *s, const char *key, const char *json,
                                   size_t len)
{
    if (s->redis && redis_conn_stale(s->redis)) {
        AGX_INFO("streaming: redis %s:%d: connection closed by the server, reconnecting",
                 s->host, s->port);
        redisFree(s->redis);
        s->redis = NULL;
    }
    if (!s->redis) {
        agentex_err_t err = redis_connect(s);
        if (err != AGENTEX_OK)
            return err;
    }
    redisContext *c = s->redis;
    int rc;
    if (s->maxlen > 0)
        rc = redisAppendCommand(c, "XADD %s MAXLEN ~ %ld * data %b", key, s->maxlen, json, len);
    else
        rc = redisAppendCommand(c, "XADD %s * data %b", key, json, len);
    if (rc == REDIS_OK && s->ttl > 0)
        rc = redisAppendCommand(c, "EXPIRE %s %ld", key, s->ttl);
    if (rc != REDIS_OK) {
        // an XADD may already sit in the output buffer: a later publish would read its
        // reply as its own, so the connection goes
        redisFree(c);
        s->redis = NULL;
        return set_err(s, AGENTEX_ENOMEM, "redis: out of memory");
    }
    agentex_err_t err = AGENTEX_OK;
    for (int i = 0; i < (s->ttl > 0 ? 2 : 1); i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
            err = set_err(s, AGENTEX_ECONNECT, "redis %s:%d: %s", s->host, s->port,
                          c->errstr[0] ? c->errstr : "connection lost");
            redisFree(c);
            s->redis = NULL;
            return err;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            if (i == 0)
                err = set_err(s, AGENTEX_EPROTO, "redis XADD: %s", r->str);
            else // an EXPIRE failure is only logged (as the Python SDK)
                AGX_WARN("streaming: redis EXPIRE %s: %s", key, r->str);
        }
        freeReplyObject(r);
    }
    return err;
}

/* ---- websocket (blocking client, RFC 6455, plain ws://) ---- */

static agentex_err_t io_wait(int fd, short ev, long timeout_ms)
{
    struct pollfd p = {fd, ev, 0};
    int rc;
    do
        rc = poll(&p, 1, (int)timeout_ms);
    while (rc < 0 && errno == EINTR);
    return rc > 0 ? AGENTEX_OK : rc == 0 ? AGENTEX_ETIMEDOUT : AGENTEX_EIO;
}

static agentex_err_t send_all(int fd, const char *buf, size_t len, long timeout_ms)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR))
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            agentex_err_t e = io_wait(fd, POLLOUT, timeout_ms);
            if (e != AGENTEX_OK)
                return e;
            continue;
        }
        if (n <= 0)
            return AGENTEX_ECONNECT;
        buf += n;
        len -= (size_t)n;
    }
    return AGENTEX_OK;
}

static agentex_err_t ws_connect(adk_streamer_t *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(s->host, port, &hints, &res);
    if (gai != 0)
        return set_err(s, AGENTEX_ECONNECT, "ws %s:%d: %s", s->host, s->port, gai_strerror(gai));
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return set_err(s, AGENTEX_ECONNECT, "ws %s:%d: %s", s->host, s->port, strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // the key only has to be 16 bytes base64; it need not be secret
    unsigned char raw[16];
    uint64_t seed = (uint64_t)agx_now_us() ^ ((uint64_t)(uintptr_t)s << 17);
    for (int i = 0; i < 16; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        raw[i] = (unsigned char)(seed >> 56);
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char key[25];
    int k = 0;
    for (int i = 0; i < 15; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        key[k++] = b64[(v >> 18) & 63];
        key[k++] = b64[(v >> 12) & 63];
        key[k++] = b64[(v >> 6) & 63];
        key[k++] = b64[v & 63];
    }
    key[k++] = b64[raw[15] >> 2];
    key[k++] = b64[(raw[15] & 3) << 4];
    key[k++] = '=';
    key[k++] = '=';
    key[k] = '\0';
    agx_buf_t req;
    agx_buf_init(&req);
    agentex_err_t err = AGENTEX_OK;
    if (agx_buf_printf(&req,
                       "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                       s->path, s->host, s->port, key) != 0) {
        err = set_err(s, AGENTEX_ENOMEM, "ws: out of memory");
        goto out;
    }
    if (send_all(fd, req.data, req.len, s->timeout_ms) != AGENTEX_OK) {
        err = set_err(s, AGENTEX_ECONNECT, "ws %s:%d: handshake send failed", s->host, s->port);
        goto out;
    }
    // read the response head byte by byte, so no frame byte after it is consumed
    char head[2048];
    size_t hl = 0;
    while (hl < sizeof head - 1) {
        ssize_t n = recv(fd, head + hl, 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = set_err(s, AGENTEX_ECONNECT, "ws %s:%d: handshake: connection closed",
                          s->host, s->port);
            goto out;
        }
        hl++;
        if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[hl] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr(head, "\r\n");
        if (eol)
            *eol = '\0';
        err = set_err(s, AGENTEX_EPROTO, "ws %s:%d%s: upgrade refused: %s", s->host, s->port,
                      s->path, head);
        goto out;
    }
out:
    agx_buf_free(&req);
    if (err != AGENTEX_OK) {
        close(fd);
        return err;
    }
    s->ws_fd = fd;
    return AGENTEX_OK;
}

/* One masked frame (FIN set) of opcode op. */
static agentex_err_t ws_send_frame(adk_streamer_t *s, unsigned op, const char *payload,
                                   size_t len)
{
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = (unsigned char)(0x80 | op);
    if (len < 126) {
        hdr[h++] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    uint32_t mask = (uint32_t)agx_now_us() * 2654435761u;
    unsigned char mk[4] = {(unsigned char)(mask >> 24), (unsigned char)(mask >> 16),
                           (unsigned char)(mask >> 8), (unsigned char)mask};
    memcpy(hdr + h, mk, 4);
    h += 4;
    char *frame = agx_malloc(h + len);
    if (!frame)
        return set_err(s, AGENTEX_ENOMEM, "ws: out of memory");
    memcpy(frame, hdr, h);
    for (size_t i = 0; i < len; i++)
        frame[h + i] = (char)(payload[i] ^ mk[i & 3]);
    agentex_err_t err = send_all(s->ws_fd, frame, h + len, s->timeout_ms);
    agx_free(frame);
    return err;
}

#define WS_MAX_SERVER_FRAME 65536

/* Reads what the server sent since the last publish (it has nothing to say to a
 * publisher but control frames): answers pings, ignores pongs and data; false when the
 * connection is going away (a close frame anywhere, end of stream, an error, a frame too
 * large to be a control message).  A frame split across reads waits in s->ws_in. */
static bool ws_drain(adk_streamer_t *s)
{
    char buf[512];
    for (;;) {
        ssize_t n = recv(s->ws_fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            if (agx_buf_append(&s->ws_in, buf, (size_t)n) != 0 ||
                s->ws_in.len > WS_MAX_SERVER_FRAME + 14)
                return false;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            return false;
        break;
    }
    const unsigned char *d = (const unsigned char *)s->ws_in.data;
    size_t off = 0, total = s->ws_in.len;
    while (total - off >= 2) {
        const unsigned char *f = d + off;
        size_t avail = total - off, h = 2;
        uint64_t plen = f[1] & 0x7f;
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = (uint64_t)f[2] << 8 | f[3];
            h = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int i = 0; i < 8; i++)
                plen = plen << 8 | f[2 + i];
            h = 10;
        }
        if (plen > WS_MAX_SERVER_FRAME)
            return false;
        size_t mh = (f[1] & 0x80) ? 4 : 0; // servers must not mask; tolerated
        if (avail < h + mh + plen)
            break;
        char payload[126];
        size_t pl = plen < sizeof payload ? (size_t)plen : sizeof payload;
        for (size_t i = 0; i < pl; i++)
            payload[i] = (char)(f[h + mh + i] ^ (mh ? f[h + (i & 3)] : 0));
        unsigned op = f[0] & 0x0f;
        if (op == 0x8) {
            // answer the close (RFC 6455 5.5.1) with its status code, then give up on it
            (void)ws_send_frame(s, 0x8, payload, pl >= 2 ? 2 : 0);
            return false;
        }
        if (op == 0x9 && (plen > 125 || ws_send_frame(s, 0xA, payload, pl) != AGENTEX_OK))
            return false;
        off += h + mh + (size_t)plen;
    }
    if (off) {
        memmove(s->ws_in.data, s->ws_in.data + off, total - off);
        s->ws_in.len = total - off;
    }
    return true;
}

static void ws_disconnect(adk_streamer_t *s)
{
    if (s->ws_fd >= 0)
        close(s->ws_fd);
    s->ws_fd = -1;
    agx_buf_reset(&s->ws_in);
}

static agentex_err_t ws_send_text(adk_streamer_t *s, const char *json, size_t len)
{
    return ws_send_frame(s, 0x1, json, len);
}

static agentex_err_t ws_publish(adk_streamer_t *s, const char *json, size_t len)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (s->ws_fd >= 0 && !ws_drain(s))
            ws_disconnect(s);
        if (s->ws_fd < 0) {
            agentex_err_t err = ws_connect(s);
            if (err != AGENTEX_OK)
                return err;
        }
        agentex_err_t err = ws_send_text(s, json, len);
        if (err == AGENTEX_OK)
            return AGENTEX_OK;
        ws_disconnect(s);
        if (err == AGENTEX_ENOMEM)
            return err;
        if (attempt == 1)
            return set_err(s, AGENTEX_ECONNECT, "ws %s:%d: send failed", s->host, s->port);
    }
    return AGENTEX_EINTERNAL;
}

/* Publishes one JSON text for task_id. */
static agentex_err_t publish_text(adk_streamer_t *s, const char *task_id, const char *json,
                                  size_t len)
{
    agentex_err_t err;
    pthread_mutex_lock(&s->mu);
    s->errmsg[0] = '\0';
    if (s->kind == T_REDIS) {
        agx_buf_t key;
        agx_buf_init(&key);
        if (agx_buf_puts(&key, "task:") != 0 || agx_buf_puts(&key, task_id) != 0)
            err = set_err(s, AGENTEX_ENOMEM, "out of memory");
        else
            err = redis_publish(s, key.data, json, len);
        agx_buf_free(&key);
    } else {
        err = ws_publish(s, json, len);
    }
    pthread_mutex_unlock(&s->mu);
    return err;
}

agentex_err_t adk_streamer_publish(adk_streamer_t *s, const cJSON *update)
{
    if (!s || !cJSON_IsObject(update))
        return AGENTEX_EINVAL;
    const cJSON *parent = cJSON_GetObjectItemCaseSensitive(update, "parent_task_message");
    const char *task_id = json_str(parent, "task_id");
    if (!task_id || !json_str(update, "type"))
        return AGENTEX_EINVAL;
    char *text = agx_json_print(update);
    if (!text)
        return AGENTEX_ENOMEM;
    agentex_err_t err = publish_text(s, task_id, text, strlen(text));
    agx_free(text);
    return err;
}

/* {"content":C,"index":null,"parent_task_message":M,"type":T} with C/M already JSON text
 * (C NULL: no content key, for "done"). */
static agentex_err_t build_update(agx_buf_t *b, const char *type, const char *content_key,
                                  const char *content, const char *parent)
{
    agx_buf_reset(b);
    int rc = agx_buf_puts(b, "{");
    if (content) {
        rc |= agx_buf_printf(b, "\"%s\":", content_key);
        rc |= agx_buf_puts(b, content);
        rc |= agx_buf_puts(b, ",");
    }
    rc |= agx_buf_puts(b, "\"index\":null,\"parent_task_message\":");
    rc |= agx_buf_puts(b, parent);
    rc |= agx_buf_printf(b, ",\"type\":\"%s\"}", type);
    return rc ? AGENTEX_ENOMEM : AGENTEX_OK;
}

static char *content_json_text(const adk_content_t *c)
{
    cJSON *j = NULL;
    if (adk_content_to_json(c, &j) != AGENTEX_OK)
        return NULL;
    char *t = agx_json_print(j);
    cJSON_Delete(j);
    return t;
}

static char *message_json_text(const adk_message_t *m)
{
    cJSON *j = NULL;
    if (adk_message_to_json(m, &j) != AGENTEX_OK)
        return NULL;
    char *t = agx_json_print(j);
    cJSON_Delete(j);
    return t;
}

agentex_err_t adk_streamer_publish_full(adk_streamer_t *s, const adk_message_t *m)
{
    if (!s || !m || !adk_message_task_id(m) || !adk_message_content(m))
        return AGENTEX_EINVAL;
    agentex_err_t err = AGENTEX_ENOMEM;
    agx_buf_t b;
    agx_buf_init(&b);
    char *ct = content_json_text(adk_message_content(m));
    char *mt = message_json_text(m);
    if (ct && mt && build_update(&b, "full", "content", ct, mt) == AGENTEX_OK)
        err = publish_text(s, adk_message_task_id(m), b.data, b.len);
    agx_free(ct);
    agx_free(mt);
    agx_buf_free(&b);
    return err;
}

/* ======================================================================================
 * one streamed message
 * ==================================================================================== */

typedef struct pend {
    agx_delta_type_t type;
    int index;
    char *call_id;
    char *name;
    agx_buf_t text;
} pend_t;

struct adk_streaming_msg {
    agentex_client_t *client;
    adk_streamer_t *streamer;
    adk_stream_mode_t mode;
    long interval_ms;
    size_t max_chars;
    adk_message_t *msg;
    char *msg_json;
    adk_content_t *initial;
    agx_accum_t acc;
    pthread_mutex_t mu;     /* queue, accumulator, flags */
    pthread_mutex_t pub_mu; /* taken across "take the queue and publish it": keeps order */
    pthread_cond_t cv;
    pthread_t flusher;
    bool flusher_started;
    bool stop;
    bool closed;
    bool any_published;  /* the first delta went out */
    pend_t *q;
    size_t nq, capq;
    size_t qchars; /* characters buffered (UTF-8 code points) */
    int64_t oldest_ms; /* when the oldest queued delta arrived */
    agentex_err_t pub_err;
};

static void pend_free_all(pend_t *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        agx_free(q[i].call_id);
        agx_free(q[i].name);
        agx_buf_free(&q[i].text);
    }
    agx_free(q);
}

static void note_pub_err(adk_streaming_msg_t *m, agentex_err_t err)
{
    if (err == AGENTEX_OK)
        return;
    pthread_mutex_lock(&m->mu);
    if (m->pub_err == AGENTEX_OK)
        m->pub_err = err;
    pthread_mutex_unlock(&m->mu);
}

static agentex_err_t publish_delta(adk_streaming_msg_t *m, const pend_t *p)
{
    cJSON *d = cJSON_CreateObject();
    agentex_err_t err = AGENTEX_ENOMEM;
    agx_buf_t b;
    agx_buf_init(&b);
    char *dt = NULL;
    if (!d)
        goto out;
    // keys in sorted order, as the Python SDK serialises them (protocol 8.12)
    const char *txt = p->text.data ? p->text.data : "";
    bool ok = true;
    switch (p->type) {
    case AGX_DELTA_TEXT:
        ok = cJSON_AddStringToObject(d, "text_delta", txt) != NULL;
        break;
    case AGX_DELTA_DATA:
        ok = cJSON_AddStringToObject(d, "data_delta", txt) != NULL;
        break;
    case AGX_DELTA_TOOL_REQUEST:
    case AGX_DELTA_TOOL_RESPONSE:
        ok = cJSON_AddStringToObject(d, p->type == AGX_DELTA_TOOL_REQUEST ? "arguments_delta"
                                                                           : "content_delta",
                                     txt) &&
             cJSON_AddStringToObject(d, "name", p->name) &&
             cJSON_AddStringToObject(d, "tool_call_id", p->call_id);
        break;
    case AGX_DELTA_REASONING_SUMMARY:
        ok = cJSON_AddStringToObject(d, "summary_delta", txt) &&
             cJSON_AddNumberToObject(d, "summary_index", p->index);
        break;
    case AGX_DELTA_REASONING_CONTENT:
        ok = cJSON_AddStringToObject(d, "content_delta", txt) &&
             cJSON_AddNumberToObject(d, "content_index", p->index);
        break;
    }
    if (!ok || !cJSON_AddStringToObject(d, "type", agx_delta_type_name(p->type)))
        goto out;
    dt = agx_json_print(d);
    if (!dt || build_update(&b, "delta", "delta", dt, m->msg_json) != AGENTEX_OK)
        goto out;
    err = publish_text(m->streamer, adk_message_task_id(m->msg), b.data, b.len);
out:
    cJSON_Delete(d);
    agx_free(dt);
    agx_buf_free(&b);
    return err;
}

/* Takes the queue and publishes it, in order.  Returns the first publish error. */
static agentex_err_t flush_queue(adk_streaming_msg_t *m)
{
    pthread_mutex_lock(&m->pub_mu);
    pthread_mutex_lock(&m->mu);
    pend_t *q = m->q;
    size_t n = m->nq;
    m->q = NULL;
    m->nq = m->capq = 0;
    m->qchars = 0;
    pthread_mutex_unlock(&m->mu);
    agentex_err_t first = AGENTEX_OK;
    for (size_t i = 0; i < n; i++) {
        agentex_err_t err = publish_delta(m, &q[i]);
        if (err != AGENTEX_OK && first == AGENTEX_OK)
            first = err;
    }
    pthread_mutex_unlock(&m->pub_mu);
    pend_free_all(q, n);
    note_pub_err(m, first);
    return first;
}

static void *flusher_main(void *arg)
{
    adk_streaming_msg_t *m = arg;
    agx_thread_name("agx-flusher");
    pthread_mutex_lock(&m->mu);
    while (!m->stop) {
        if (m->nq == 0) {
            pthread_cond_wait(&m->cv, &m->mu);
            continue;
        }
        int64_t due = m->oldest_ms + m->interval_ms;
        int64_t now = agx_now_ms();
        if (now < due) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t ns = (int64_t)ts.tv_nsec + (due - now) * 1000000;
            ts.tv_sec += (time_t)(ns / 1000000000);
            ts.tv_nsec = (long)(ns % 1000000000);
            pthread_cond_timedwait(&m->cv, &m->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&m->mu);
        (void)flush_queue(m);
        pthread_mutex_lock(&m->mu);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static void stop_flusher(adk_streaming_msg_t *m)
{
    if (!m->flusher_started)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->flusher, NULL);
    m->flusher_started = false;
}

void adk_streaming_msg_free(adk_streaming_msg_t *m)
{
    if (!m)
        return;
    stop_flusher(m);
    if (!m->closed)
        AGX_WARN("streaming: message %s freed while still open (stays IN_PROGRESS)",
                 adk_message_id(m->msg) ? adk_message_id(m->msg) : "?");
    pend_free_all(m->q, m->nq);
    agx_accum_free(&m->acc);
    adk_message_free(m->msg);
    adk_content_free(m->initial);
    agx_free(m->msg_json);
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->pub_mu);
    pthread_cond_destroy(&m->cv);
    agx_free(m);
}

agentex_err_t adk_streaming_open(agentex_client_t *c, adk_streamer_t *s, const char *task_id,
                                 const adk_content_t *initial, adk_streaming_msg_t **out)
{
    if (out)
        *out = NULL;
    if (!c || !s || !task_id || !initial || !out)
        return AGENTEX_EINVAL;
    adk_streaming_msg_t *m = agx_calloc(1, sizeof *m);
    if (!m)
        return AGENTEX_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->pub_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    agx_accum_init(&m->acc);
    m->client = c;
    m->streamer = s;
    m->mode = s->mode;
    m->interval_ms = s->interval_ms;
    m->max_chars = s->max_chars;
    m->closed = true; // nothing to warn about until the POST succeeded
    agentex_err_t err = adk_content_dup(initial, &m->initial);
    if (err != AGENTEX_OK)
        goto fail;
    err = adk_messages_create(c, task_id, initial, ADK_STREAMING_IN_PROGRESS, ADK_TIME_NONE,
                              &m->msg);
    if (err != AGENTEX_OK)
        goto fail;
    m->closed = false;
    char *ct = content_json_text(initial);
    m->msg_json = message_json_text(m->msg);
    agx_buf_t b;
    agx_buf_init(&b);
    if (!ct || !m->msg_json || build_update(&b, "start", "content", ct, m->msg_json) != 0) {
        agx_free(ct);
        agx_buf_free(&b);
        // the message exists on the backend: report, and let the caller close it
        AGX_ERROR("streaming: out of memory building the start update");
        if (!m->msg_json) {
            err = AGENTEX_ENOMEM;
            m->closed = true;
            goto fail;
        }
        m->pub_err = AGENTEX_ENOMEM;
        *out = m;
        return AGENTEX_OK;
    }
    agx_free(ct);
    m->pub_err = publish_text(s, task_id, b.data, b.len);
    agx_buf_free(&b);
    *out = m;
    return AGENTEX_OK;
fail:
    adk_streaming_msg_free(m);
    return err;
}

/* Characters (code points) in UTF-8 text: protocol 6.4 counts characters, not bytes. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static agentex_err_t add_delta(adk_streaming_msg_t *m, agx_delta_type_t t, const char *call_id,
                               const char *name, int index, const char *text)
{
    if (!m || !text)
        return AGENTEX_EINVAL;
    size_t len = strlen(text);
    pthread_mutex_lock(&m->mu);
    agentex_err_t err = AGENTEX_OK;
    bool flush_now = false;
    if (m->closed) {
        err = AGENTEX_ESTATE;
        goto out;
    }
    err = agx_accum_add(&m->acc, t, call_id, name, index, text, len);
    if (err != AGENTEX_OK || m->mode == ADK_STREAM_MODE_OFF)
        goto out;
    // queue it, merged with the last queued delta of the same channel (protocol 6.4)
    pend_t *last = m->nq ? &m->q[m->nq - 1] : NULL;
    bool same = last && last->type == t &&
                ((t == AGX_DELTA_TOOL_REQUEST || t == AGX_DELTA_TOOL_RESPONSE)
                     ? strcmp(last->call_id, call_id) == 0
                     : (t != AGX_DELTA_REASONING_SUMMARY && t != AGX_DELTA_REASONING_CONTENT) ||
                           last->index == index);
    if (same && m->mode == ADK_STREAM_MODE_COALESCED) {
        if (agx_buf_append(&last->text, text, len) != 0) {
            err = AGENTEX_ENOMEM;
            goto out;
        }
    } else {
        if (m->nq == m->capq) {
            size_t cap = m->capq ? m->capq * 2 : 8;
            pend_t *q = agx_realloc(m->q, cap * sizeof *q);
            if (!q) {
                err = AGENTEX_ENOMEM;
                goto out;
            }
            m->q = q;
            m->capq = cap;
        }
        pend_t *p = &m->q[m->nq];
        memset(p, 0, sizeof *p);
        p->type = t;
        p->index = index;
        agx_buf_init(&p->text);
        if ((call_id && !(p->call_id = agx_strdup(call_id))) ||
            (name && !(p->name = agx_strdup(name))) || agx_buf_append(&p->text, text, len) != 0) {
            agx_free(p->call_id);
            agx_free(p->name);
            agx_buf_free(&p->text);
            err = AGENTEX_ENOMEM;
            goto out;
        }
        if (m->nq == 0)
            m->oldest_ms = agx_now_ms();
        m->nq++;
    }
    m->qchars += utf8_chars(text, len);
    if (m->mode == ADK_STREAM_MODE_PER_TOKEN || !m->any_published ||
        m->qchars >= m->max_chars) {
        flush_now = true;
        m->any_published = true;
    } else if (!m->flusher_started) {
        m->stop = false;
        if (pthread_create(&m->flusher, NULL, flusher_main, m) == 0)
            m->flusher_started = true;
        else // no timer thread: the buffer is flushed by size and at close
            AGX_WARN("streaming: could not start the coalescing thread");
    } else {
        pthread_cond_signal(&m->cv);
    }
out:
    pthread_mutex_unlock(&m->mu);
    if (err == AGENTEX_ENOMEM)
        return err; // accumulated content may be ahead of the published one; fine
    if (flush_now)
        (void)flush_queue(m);
    return err;
}

agentex_err_t adk_streaming_text(adk_streaming_msg_t *m, const char *text)
{
    return add_delta(m, AGX_DELTA_TEXT, NULL, NULL, 0, text);
}

agentex_err_t adk_streaming_data(adk_streaming_msg_t *m, const char *json_fragment)
{
    return add_delta(m, AGX_DELTA_DATA, NULL, NULL, 0, json_fragment);
}

agentex_err_t adk_streaming_tool_request(adk_streaming_msg_t *m, const char *tool_call_id,
                                         const char *name, const char *arguments)
{
    if (!tool_call_id || !name)
        return AGENTEX_EINVAL;
    return add_delta(m, AGX_DELTA_TOOL_REQUEST, tool_call_id, name, 0, arguments);
}

agentex_err_t adk_streaming_tool_response(adk_streaming_msg_t *m, const char *tool_call_id,
                                          const char *name, const char *content)
{
    if (!tool_call_id || !name)
        return AGENTEX_EINVAL;
    return add_delta(m, AGX_DELTA_TOOL_RESPONSE, tool_call_id, name, 0, content);
}

agentex_err_t adk_streaming_reasoning_summary(adk_streaming_msg_t *m, int index,
                                              const char *text)
{
    if (index < 0 || index >= AGX_ACCUM_MAX_INDEX)
        return AGENTEX_EINVAL;
    return add_delta(m, AGX_DELTA_REASONING_SUMMARY, NULL, NULL, index, text);
}

agentex_err_t adk_streaming_reasoning_content(adk_streaming_msg_t *m, int index,
                                              const char *text)
{
    if (index < 0 || index >= AGX_ACCUM_MAX_INDEX)
        return AGENTEX_EINVAL;
    return add_delta(m, AGX_DELTA_REASONING_CONTENT, NULL, NULL, index, text);
}

agentex_err_t adk_streaming_flush(adk_streaming_msg_t *m)
{
    if (!m)
        return AGENTEX_EINVAL;
    return flush_queue(m);
}

const adk_message_t *adk_streaming_message(const adk_streaming_msg_t *m)
{
    return m ? m->msg : NULL;
}

agentex_err_t adk_streaming_content(const adk_streaming_msg_t *m, adk_content_t **out)
{
    if (out)
        *out = NULL;
    if (!m || !out)
        return AGENTEX_EINVAL;
    adk_streaming_msg_t *mm = (adk_streaming_msg_t *)m;
    pthread_mutex_lock(&mm->mu);
    agentex_err_t err = agx_accum_content(&m->acc, m->initial, out);
    pthread_mutex_unlock(&mm->mu);
    return err;
}

agentex_err_t adk_streaming_publish_error(const adk_streaming_msg_t *m)
{
    if (!m)
        return AGENTEX_EINVAL;
    adk_streaming_msg_t *mm = (adk_streaming_msg_t *)m;
    pthread_mutex_lock(&mm->mu);
    agentex_err_t e = m->pub_err;
    pthread_mutex_unlock(&mm->mu);
    return e;
}

static agentex_err_t finish(adk_streaming_msg_t *m, const adk_content_t *full,
                            adk_message_t **out)
{
    if (out)
        *out = NULL;
    if (!m)
        return AGENTEX_EINVAL;
    pthread_mutex_lock(&m->mu);
    bool closed = m->closed;
    m->closed = true;
    pthread_mutex_unlock(&m->mu);
    if (closed)
        return AGENTEX_ESTATE;
    stop_flusher(m);
    (void)flush_queue(m);
    adk_content_t *final = NULL;
    agentex_err_t err = full ? adk_content_dup(full, &final)
                             : agx_accum_content(&m->acc, m->initial, &final);
    if (err != AGENTEX_OK) {
        m->closed = false; // the caller may retry the close
        return err;
    }
    agx_buf_t b;
    agx_buf_init(&b);
    char *ct = full ? content_json_text(full) : NULL;
    agentex_err_t perr = AGENTEX_ENOMEM;
    if ((!full || ct) && build_update(&b, full ? "full" : "done", "content", ct, m->msg_json) ==
                             AGENTEX_OK)
        perr = publish_text(m->streamer, adk_message_task_id(m->msg), b.data, b.len);
    note_pub_err(m, perr);
    agx_free(ct);
    agx_buf_free(&b);
    err = adk_messages_update(m->client, adk_message_task_id(m->msg), adk_message_id(m->msg),
                              final, ADK_STREAMING_DONE, out);
    adk_content_free(final);
    if (err != AGENTEX_OK)
        AGX_ERROR("streaming: storing message %s failed: %s", adk_message_id(m->msg),
                  agentex_client_errmsg(m->client));
    return err;
}

agentex_err_t adk_streaming_close(adk_streaming_msg_t *m, adk_message_t **out)
{
    return finish(m, NULL, out);
}

agentex_err_t adk_streaming_close_full(adk_streaming_msg_t *m, const adk_content_t *content,
                                       adk_message_t **out)
{
    if (!content) {
        if (out)
            *out = NULL;
        return AGENTEX_EINVAL;
    }
    return finish(m, content, out);
}
