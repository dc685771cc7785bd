/*
 * lib/stream_sub.c - subscribing to a task's stream: GET /tasks/{id}/stream (SSE, protocol
 * 6.1/6.2) over libcurl, with callbacks, a delta accumulator, reconnect with backoff and a
 * clean end on a terminal task status.
 */
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agentex/streaming.h"
#include "client_internal.h"
#include "internal.h"
#include "sse.h"
#include "stream_internal.h"
#include "types_internal.h"

/* one message being accumulated, keyed by its id */
typedef struct acc_entry {
    char *id;
    adk_content_t *start; /* content of the start frame */
    agx_accum_t acc;
    struct acc_entry *next;
} acc_entry_t;

struct adk_stream_update {
    adk_stream_update_kind_t kind;
    const cJSON *json;
    const cJSON *delta;
    const adk_message_t *parent;
    const adk_content_t *content;
};

struct adk_stream {
    char *url;
    struct curl_slist *headers;
    int max_attempts;
    long base_ms, max_ms, idle_ms;
    adk_stream_connected_cb on_connected;
    void *connected_ud;
    adk_stream_update_cb on_update;
    void *update_ud;
    adk_stream_update_cb on_message;
    void *message_ud;
    adk_stream_task_cb on_task;
    void *task_ud;
    adk_stream_error_cb on_error;
    void *error_ud;
    atomic_int stop;
    adk_task_status_t status;
    acc_entry_t *entries;
    char errmsg[512];
    /* per run */
    agx_sse_t sse;
    bool terminal;
    bool connected;
    bool refused; /* an "error" frame came before "connected": the backend refused */
    agentex_err_t fatal; /* ENOMEM etc. found inside a callback */
    int64_t deadline_ms; /* 0: none */
    int64_t last_data_ms;
    bool timed_out;
    bool idle_dropped; /* this connection was silent for idle_ms */
};

static void set_errmsg(adk_stream_t *s, const char *fmt, ...) AGENTEX_PRINTF(2, 3);
static void set_errmsg(adk_stream_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
}

static void report_error(adk_stream_t *s, agentex_err_t err, const char *msg)
{
    AGX_WARN("stream: %s", msg);
    if (s->on_error)
        s->on_error(s, err, msg, s->error_ud);
}

/* ---- accumulator entries ---- */

static void entry_free(acc_entry_t *e)
{
    agx_free(e->id);
    adk_content_free(e->start);
    agx_accum_free(&e->acc);
    agx_free(e);
}

static acc_entry_t *entry_find(adk_stream_t *s, const char *id, bool create)
{
    for (acc_entry_t *e = s->entries; e; e = e->next)
        if (strcmp(e->id, id) == 0)
            return e;
    if (!create)
        return NULL;
    acc_entry_t *e = agx_calloc(1, sizeof *e);
    if (!e || !(e->id = agx_strdup(id))) {
        agx_free(e);
        return NULL;
    }
    agx_accum_init(&e->acc);
    e->next = s->entries;
    s->entries = e;
    return e;
}

static void entry_remove(adk_stream_t *s, acc_entry_t *victim)
{
    for (acc_entry_t **pp = &s->entries; *pp; pp = &(*pp)->next) {
        if (*pp == victim) {
            *pp = victim->next;
            entry_free(victim);
            return;
        }
    }
}

/* ---- update accessors ---- */

adk_stream_update_kind_t adk_stream_update_kind(const adk_stream_update_t *u)
{
    return u ? u->kind : ADK_STREAM_UPDATE_START;
}
const adk_message_t *adk_stream_update_parent(const adk_stream_update_t *u)
{
    return u ? u->parent : NULL;
}
const char *adk_stream_update_message_id(const adk_stream_update_t *u)
{
    return u && u->parent ? adk_message_id(u->parent) : NULL;
}
const adk_content_t *adk_stream_update_content(const adk_stream_update_t *u)
{
    return u ? u->content : NULL;
}
const cJSON *adk_stream_update_delta(const adk_stream_update_t *u) { return u ? u->delta : NULL; }
const char *adk_stream_update_text_delta(const adk_stream_update_t *u)
{
    if (!u || !u->delta)
        return NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(u->delta, "type");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(u->delta, "text_delta");
    if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0 || !cJSON_IsString(v))
        return NULL;
    return v->valuestring;
}
const cJSON *adk_stream_update_json(const adk_stream_update_t *u) { return u ? u->json : NULL; }

/* ---- frames ---- */

static void handle_update(adk_stream_t *s, const cJSON *j, adk_stream_update_kind_t kind)
{
    adk_stream_update_t u;
    memset(&u, 0, sizeof u);
    u.kind = kind;
    u.json = j;
    adk_message_t *parent = NULL;
    adk_content_t *content = NULL, *accumulated = NULL;
    const cJSON *pj = cJSON_GetObjectItemCaseSensitive(j, "parent_task_message");
    if (cJSON_IsObject(pj) && adk_message_from_json(pj, &parent) != AGENTEX_OK) {
        report_error(s, AGENTEX_EPROTO, "stream: malformed parent_task_message, frame dropped");
        return;
    }
    u.parent = parent;
    const char *id = parent ? adk_message_id(parent) : NULL;
    acc_entry_t *e = id ? entry_find(s, id, kind == ADK_STREAM_UPDATE_START ||
                                                kind == ADK_STREAM_UPDATE_DELTA)
                        : NULL;
    if (id && !e && (kind == ADK_STREAM_UPDATE_START || kind == ADK_STREAM_UPDATE_DELTA)) {
        s->fatal = AGENTEX_ENOMEM;
        goto out;
    }
    if (kind == ADK_STREAM_UPDATE_START || kind == ADK_STREAM_UPDATE_FULL) {
        const cJSON *cj = cJSON_GetObjectItemCaseSensitive(j, "content");
        if (adk_content_from_json(cj, &content) != AGENTEX_OK) {
            report_error(s, AGENTEX_EPROTO, "stream: malformed content, frame dropped");
            goto out;
        }
        u.content = content;
        if (kind == ADK_STREAM_UPDATE_START && e) {
            adk_content_free(e->start);
            e->start = NULL;
            agx_accum_free(&e->acc);
            if (adk_content_dup(content, &e->start) != AGENTEX_OK) {
                s->fatal = AGENTEX_ENOMEM;
                goto out;
            }
        }
    } else {
        if (kind == ADK_STREAM_UPDATE_DELTA) {
            u.delta = cJSON_GetObjectItemCaseSensitive(j, "delta");
            if (!cJSON_IsObject(u.delta))
                u.delta = NULL;
            if (e && u.delta) {
                agentex_err_t err = agx_accum_add_json(&e->acc, u.delta);
                if (err == AGENTEX_ENOMEM) {
                    s->fatal = err;
                    goto out;
                }
                if (err != AGENTEX_OK)
                    report_error(s, AGENTEX_EPROTO, "stream: delta not accumulated (malformed "
                                                    "or of another content type)");
            }
        }
        if (e && (e->acc.kind != -1 || e->start) &&
            agx_accum_content(&e->acc, e->start, &accumulated) == AGENTEX_OK)
            u.content = accumulated;
        else if (!e && parent && kind == ADK_STREAM_UPDATE_DONE)
            u.content = adk_message_content(parent);
    }
    if (s->on_update)
        s->on_update(s, &u, s->update_ud);
    if ((kind == ADK_STREAM_UPDATE_DONE || kind == ADK_STREAM_UPDATE_FULL) && s->on_message)
        s->on_message(s, &u, s->message_ud);
    if ((kind == ADK_STREAM_UPDATE_DONE || kind == ADK_STREAM_UPDATE_FULL) && id) {
        acc_entry_t *done = entry_find(s, id, false);
        if (done)
            entry_remove(s, done);
    }
out:
    adk_message_free(parent);
    adk_content_free(content);
    adk_content_free(accumulated);
}

static int on_sse_event(const agx_sse_event_t *ev, void *ud)
{
    adk_stream_t *s = ud;
    cJSON *j = agx_json_parse(ev->data, ev->data_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsString(t)) {
        report_error(s, AGENTEX_EPROTO, "stream: frame is not a JSON object with a type");
        cJSON_Delete(j);
        return 0;
    }
    const char *type = t->valuestring;
    if (strcmp(type, "connected") == 0) {
        s->connected = true;
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(j, "taskId");
        if (s->on_connected)
            s->on_connected(s, cJSON_IsString(tid) ? tid->valuestring : "", s->connected_ud);
    } else if (strcmp(type, "start") == 0) {
        handle_update(s, j, ADK_STREAM_UPDATE_START);
    } else if (strcmp(type, "delta") == 0) {
        handle_update(s, j, ADK_STREAM_UPDATE_DELTA);
    } else if (strcmp(type, "full") == 0) {
        handle_update(s, j, ADK_STREAM_UPDATE_FULL);
    } else if (strcmp(type, "done") == 0) {
        handle_update(s, j, ADK_STREAM_UPDATE_DONE);
    } else if (strcmp(type, "task_updated") == 0) {
        adk_task_t *task = NULL;
        if (adk_task_from_json(cJSON_GetObjectItemCaseSensitive(j, "task"), &task) !=
            AGENTEX_OK) {
            report_error(s, AGENTEX_EPROTO, "stream: malformed task_updated frame");
        } else {
            s->status = adk_task_status(task);
            if (s->on_task)
                s->on_task(s, task, s->task_ud);
            if (adk_task_status_is_terminal(s->status))
                s->terminal = true;
            adk_task_free(task);
        }
    } else if (strcmp(type, "error") == 0) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        char msg[400];
        snprintf(msg, sizeof msg, "stream: backend error: %s",
                 cJSON_IsString(m) ? m->valuestring : "(no message)");
        report_error(s, AGENTEX_EPROTO, msg);
        /* Before "connected" the backend could not open the stream at all (protocol 6.2:
         * e.g. an unknown task, answered with HTTP 200, an error frame and a close): a
         * reconnect would get the same answer, so the run ends here. */
        if (!s->connected) {
            s->refused = true;
            set_errmsg(s, "GET %s: the backend refused the stream: %s", s->url,
                       cJSON_IsString(m) ? m->valuestring : "(no message)");
        }
    } else {
        AGX_DEBUG("stream: ignoring frame of type %s", type);
    }
    cJSON_Delete(j);
    if (s->fatal != AGENTEX_OK || s->terminal || s->refused || atomic_load(&s->stop))
        return 1;
    return 0;
}

/* ---- handle ---- */

static agentex_err_t stream_new(const char *base_url, const char *prefix, const char *key,
                                adk_stream_t **out)
{
    if (out)
        *out = NULL;
    if (!base_url || !key || !*key || !out ||
        (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0))
        return AGENTEX_EINVAL;
    agx_global_init();
    adk_stream_t *s = agx_calloc(1, sizeof *s);
    if (!s)
        return AGENTEX_ENOMEM;
    s->max_attempts = 10;
    s->base_ms = 500;
    s->max_ms = 10000;
    s->idle_ms = 45000;
    atomic_init(&s->stop, 0);
    agx_sse_init(&s->sse, 0, on_sse_event, s);
    char *esc = agx_url_escape(key);
    agx_buf_t b;
    agx_buf_init(&b);
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/')
        n--;
    if (!esc || agx_buf_append(&b, base_url, n) != 0 ||
        agx_buf_printf(&b, "%s%s/stream", prefix, esc) != 0) {
        agx_free(esc);
        agx_buf_free(&b);
        adk_stream_free(s);
        return AGENTEX_ENOMEM;
    }
    agx_free(esc);
    s->url = agx_buf_steal(&b);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: text/event-stream");
    if (!h) {
        adk_stream_free(s);
        return AGENTEX_ENOMEM;
    }
    s->headers = h;
    *out = s;
    return AGENTEX_OK;
}

agentex_err_t adk_stream_new(const char *base_url, const char *task_id, adk_stream_t **out)
{
    return stream_new(base_url, "/tasks/", task_id, out);
}

agentex_err_t adk_stream_new_by_name(const char *base_url, const char *task_name,
                                     adk_stream_t **out)
{
    return stream_new(base_url, "/tasks/name/", task_name, out);
}

void adk_stream_free(adk_stream_t *s)
{
    if (!s)
        return;
    while (s->entries) {
        acc_entry_t *e = s->entries;
        s->entries = e->next;
        entry_free(e);
    }
    agx_sse_free(&s->sse);
    curl_slist_free_all(s->headers);
    agx_free(s->url);
    agx_free(s);
}

static int set_header_cb(const char *name, const char *value, void *ud)
{
    agentex_err_t err = adk_stream_set_header(ud, name, value);
    return err == AGENTEX_OK ? 0 : (int)err;
}

agentex_err_t adk_stream_set_client(adk_stream_t *s, const agentex_client_t *c)
{
    if (!s || !c)
        return AGENTEX_EINVAL;
    int rc = agx_client_foreach_header(c, set_header_cb, s);
    if (rc == 0)
        return AGENTEX_OK;
    return rc < 0 ? AGENTEX_ENOMEM : (agentex_err_t)rc;
}

agentex_err_t adk_stream_set_header(adk_stream_t *s, const char *name, const char *value)
{
    if (!s || !name || !*name || strpbrk(name, ":\r\n ") || (value && strpbrk(value, "\r\n")))
        return AGENTEX_EINVAL;
    size_t nl = strlen(name);
    struct curl_slist *out = NULL;
    for (struct curl_slist *h = s->headers; h; h = h->next) {
        if (strncasecmp(h->data, name, nl) == 0 && h->data[nl] == ':')
            continue;
        struct curl_slist *t = curl_slist_append(out, h->data);
        if (!t) {
            curl_slist_free_all(out);
            return AGENTEX_ENOMEM;
        }
        out = t;
    }
    if (value) {
        agx_buf_t b;
        agx_buf_init(&b);
        struct curl_slist *t = NULL;
        if (agx_buf_printf(&b, "%s: %s", name, value) == 0)
            t = curl_slist_append(out, b.data);
        agx_buf_free(&b);
        if (!t) {
            curl_slist_free_all(out);
            return AGENTEX_ENOMEM;
        }
        out = t;
    }
    curl_slist_free_all(s->headers);
    s->headers = out;
    return AGENTEX_OK;
}

agentex_err_t adk_stream_set_reconnect(adk_stream_t *s, int max_attempts, long base_ms,
                                       long max_ms)
{
    if (!s || max_attempts < -1 || base_ms <= 0 || max_ms < base_ms)
        return AGENTEX_EINVAL;
    s->max_attempts = max_attempts;
    s->base_ms = base_ms;
    s->max_ms = max_ms;
    return AGENTEX_OK;
}

agentex_err_t adk_stream_set_idle_timeout_ms(adk_stream_t *s, long idle_ms)
{
    if (!s || idle_ms <= 0)
        return AGENTEX_EINVAL;
    s->idle_ms = idle_ms;
    return AGENTEX_OK;
}

void adk_stream_on_connected(adk_stream_t *s, adk_stream_connected_cb cb, void *userdata)
{
    if (s) {
        s->on_connected = cb;
        s->connected_ud = userdata;
    }
}
void adk_stream_on_update(adk_stream_t *s, adk_stream_update_cb cb, void *userdata)
{
    if (s) {
        s->on_update = cb;
        s->update_ud = userdata;
    }
}
void adk_stream_on_message(adk_stream_t *s, adk_stream_update_cb cb, void *userdata)
{
    if (s) {
        s->on_message = cb;
        s->message_ud = userdata;
    }
}
void adk_stream_on_task_updated(adk_stream_t *s, adk_stream_task_cb cb, void *userdata)
{
    if (s) {
        s->on_task = cb;
        s->task_ud = userdata;
    }
}
void adk_stream_on_error(adk_stream_t *s, adk_stream_error_cb cb, void *userdata)
{
    if (s) {
        s->on_error = cb;
        s->error_ud = userdata;
    }
}

void adk_stream_stop(adk_stream_t *s)
{
    if (s)
        atomic_store(&s->stop, 1);
}

adk_task_status_t adk_stream_task_status(const adk_stream_t *s)
{
    return s ? s->status : ADK_TASK_STATUS_NONE;
}

const char *adk_stream_errmsg(const adk_stream_t *s) { return s ? s->errmsg : ""; }

/* ---- running ---- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    adk_stream_t *s = ud;
    size_t n = size * nmemb;
    s->last_data_ms = agx_now_ms();
    agentex_err_t err = agx_sse_feed(&s->sse, ptr, n);
    if (err == AGENTEX_OK)
        return n;
    if (err == AGENTEX_EPROTO || err == AGENTEX_ENOMEM) {
        if (s->fatal == AGENTEX_OK && err == AGENTEX_ENOMEM)
            s->fatal = err;
        report_error(s, err, err == AGENTEX_EPROTO ? "stream: event too large, reconnecting"
                                                   : "stream: out of memory");
    }
    return 0; // abort the transfer (also after a terminal status / stop)
}

static int xfer_cb(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    adk_stream_t *s = ud;
    if (atomic_load(&s->stop))
        return 1;
    int64_t now = agx_now_ms();
    if (s->deadline_ms && now >= s->deadline_ms) {
        s->timed_out = true;
        return 1;
    }
    if (now - s->last_data_ms > s->idle_ms) {
        s->idle_dropped = true;
        return 1;
    }
    return 0;
}

/* One connection.  Returns OK when the stream ended (drop, terminal, stop, timeout: the
 * flags tell), or a final error (EAUTH, ENOTFOUND, ENOMEM). */
static agentex_err_t run_once(adk_stream_t *s, CURL *h, long *http_status)
{
    agx_sse_reset(&s->sse);
    s->connected = false;
    s->refused = false;
    s->idle_dropped = false;
    s->last_data_ms = agx_now_ms();
    curl_easy_setopt(h, CURLOPT_URL, s->url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xfer_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_FAILONERROR, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(h);
    *http_status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, http_status);
    if (*http_status == 401 || *http_status == 403) {
        set_errmsg(s, "GET %s: HTTP %ld", s->url, *http_status);
        return AGENTEX_EAUTH;
    }
    if (*http_status == 404) {
        set_errmsg(s, "GET %s: HTTP 404", s->url);
        return AGENTEX_ENOTFOUND;
    }
    if (s->refused)
        return AGENTEX_EPROTO; /* errmsg set by the frame handler */
    if (rc != CURLE_OK && s->idle_dropped && !s->terminal && !atomic_load(&s->stop) &&
        !s->timed_out && s->fatal == AGENTEX_OK)
        set_errmsg(s, "GET %s: nothing received for %ld ms", s->url, s->idle_ms);
    else if (rc != CURLE_OK && !s->terminal && !atomic_load(&s->stop) && !s->timed_out &&
             s->fatal == AGENTEX_OK)
        set_errmsg(s, "GET %s: %s", s->url, cerr[0] ? cerr : curl_easy_strerror(rc));
    else if (*http_status && (*http_status < 200 || *http_status > 299))
        set_errmsg(s, "GET %s: HTTP %ld", s->url, *http_status);
    else if (rc == CURLE_OK && !s->terminal)
        set_errmsg(s, "GET %s: the stream ended", s->url);
    return AGENTEX_OK;
}

static bool sleep_interruptible(adk_stream_t *s, long ms)
{
    int64_t until = agx_now_ms() + ms;
    for (;;) {
        if (atomic_load(&s->stop))
            return false;
        int64_t now = agx_now_ms();
        if (s->deadline_ms && now >= s->deadline_ms) {
            s->timed_out = true;
            return false;
        }
        if (now >= until)
            return true;
        int64_t step = until - now;
        if (step > 20)
            step = 20;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
    }
}

agentex_err_t adk_stream_run(adk_stream_t *s, long timeout_ms)
{
    if (!s || timeout_ms < 0)
        return AGENTEX_EINVAL;
    s->errmsg[0] = '\0';
    s->terminal = false;
    s->timed_out = false;
    s->fatal = AGENTEX_OK;
    s->deadline_ms = timeout_ms ? agx_now_ms() + timeout_ms : 0;
    CURL *h = curl_easy_init();
    if (!h)
        return AGENTEX_ENOMEM;
    agentex_err_t result = AGENTEX_OK;
    int failures = 0;
    for (;;) {
        if (atomic_load(&s->stop)) {
            result = AGENTEX_ECANCELED;
            break;
        }
        long status = 0;
        agentex_err_t err = run_once(s, h, &status);
        if (err != AGENTEX_OK) {
            if (!s->refused) /* the error frame was reported already */
                report_error(s, err, s->errmsg);
            result = err;
            break;
        }
        if (s->fatal != AGENTEX_OK) {
            set_errmsg(s, "stream: out of memory");
            result = s->fatal;
            break;
        }
        if (s->terminal) {
            result = AGENTEX_OK;
            break;
        }
        if (atomic_load(&s->stop)) {
            result = AGENTEX_ECANCELED;
            break;
        }
        if (s->timed_out) {
            set_errmsg(s, "stream: no terminal status within %ld ms", timeout_ms);
            result = AGENTEX_ETIMEDOUT;
            break;
        }
        // dropped: reconnect with backoff
        if (s->connected)
            failures = 0;
        failures++;
        report_error(s, AGENTEX_ECONNECT, s->errmsg);
        if (s->max_attempts >= 0 && failures > s->max_attempts) {
            result = AGENTEX_ECONNECT;
            break;
        }
        long wait = s->base_ms;
        for (int i = 1; i < failures && wait < s->max_ms; i++)
            wait *= 2;
        if (wait > s->max_ms)
            wait = s->max_ms;
        if (!sleep_interruptible(s, wait)) {
            result = atomic_load(&s->stop) ? AGENTEX_ECANCELED : AGENTEX_ETIMEDOUT;
            if (result == AGENTEX_ETIMEDOUT)
                set_errmsg(s, "stream: no terminal status within %ld ms", timeout_ms);
            break;
        }
    }
    curl_easy_cleanup(h);
    if (result == AGENTEX_ECANCELED) {
        atomic_store(&s->stop, 0);
        set_errmsg(s, "stream: stopped");
    }
    return result;
}
