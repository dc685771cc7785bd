/*
 * devserver/hub.c - task streams: SSE (GET /tasks/{id}/stream), the same stream over a
 * websocket (/tasks/{id}/stream/ws), and the websocket publish endpoint
 * (/stream/publish) through which agents push TaskMessageUpdates.
 *
 * Locks: hub->mu guards the subscriber list and is never held while writing.  Each
 * subscriber has its own mutex that serializes its writes; a subscription that ends
 * (terminal task_updated, peer gone, shutdown) is marked done under that mutex, so
 * nothing is written after the end.
 *
 * With --redis-url (relay.c) a new subscription is set up on a job thread: it first joins
 * the task's Redis relay (connect + snapshot of the stream tail), then writes `connected`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev.h"

typedef struct sub {
    struct sub *next;
    atomic_int refs;
    pthread_mutex_t mu;
    bool done;
    bool is_ws;
    agx_http_req_t *req;
    agx_ws_t *ws;
    char task_id[80];
    dsrv_t *dsrv;
    dev_relay_t *relay;      /* --redis-url: left when the subscription is freed */
    _Atomic int64_t last_ms; /* read by the ticker without s->mu */
} sub_t;

struct dev_hub {
    pthread_mutex_t mu;
    sub_t *head;
    pthread_t ticker;
    bool ticker_started;
    bool stop;
    pthread_cond_t cv;
};

/* marker stored as the userdata of publish websockets */
static char PUBLISHER;

static void sub_unref(sub_t *s)
{
    if (atomic_fetch_sub(&s->refs, 1) == 1) {
        if (s->ws)
            agx_ws_unref(s->ws);
        if (s->relay)
            dev_relay_leave(s->dsrv, s->relay);
        pthread_mutex_destroy(&s->mu);
        free(s);
    }
}

static sub_t *sub_new(dsrv_t *d, const char *task_id)
{
    sub_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->dsrv = d;
    pthread_mutex_init(&s->mu, NULL);
    snprintf(s->task_id, sizeof s->task_id, "%s", task_id);
    atomic_init(&s->last_ms, agx_now_ms());
    return s;
}

static void hub_add(dev_hub_t *h, sub_t *s)
{
    pthread_mutex_lock(&h->mu);
    s->next = h->head;
    h->head = s;
    pthread_mutex_unlock(&h->mu);
}

/* Unlinks s if still listed; true when this call unlinked it (and so owns the hub's
 * reference). */
static bool hub_unlink(dev_hub_t *h, sub_t *s)
{
    bool found = false;
    pthread_mutex_lock(&h->mu);
    for (sub_t **pp = &h->head; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            s->next = NULL;
            found = true;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    return found;
}

/* Ends the subscription (caller holds s->mu). */
static void sub_finish_locked(sub_t *s)
{
    if (s->done)
        return;
    s->done = true;
    if (s->is_ws)
        agx_ws_close(s->ws);
    else
        agx_http_stream_end(s->req);
}

/* Writes one frame (caller holds s->mu). */
static void sub_write_locked(sub_t *s, const char *json, size_t len)
{
    if (s->done)
        return;
    int rc;
    if (s->is_ws) {
        rc = agx_ws_send(s->ws, json, len, false);
    } else {
        size_t n = len + 8;
        char *buf = malloc(n + 1);
        if (!buf)
            return;
        memcpy(buf, "data: ", 6);
        memcpy(buf + 6, json, len);
        memcpy(buf + 6 + len, "\n\n", 2);
        rc = agx_http_stream_write(s->req, buf, n);
        free(buf);
    }
    if (rc == 0)
        atomic_store(&s->last_ms, agx_now_ms());
}

static bool frame_is_terminal(const cJSON *frame)
{
    const char *type = dev_jstr(frame, "type");
    if (!type || strcmp(type, "task_updated") != 0)
        return false;
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(frame, "task");
    return dev_status_terminal(dev_jstr(task, "status"));
}

void dev_publish(dsrv_t *d, const char *task_id, const cJSON *frame)
{
    dev_hub_t *h = d->hub;
    if (!h || !task_id)
        return;
    bool terminal = frame_is_terminal(frame);
    sub_t **list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&h->mu);
    for (sub_t **pp = &h->head; *pp;) {
        sub_t *s = *pp;
        if (strcmp(s->task_id, task_id) != 0) {
            pp = &s->next;
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            sub_t **nl = realloc(list, nc * sizeof *nl);
            if (!nl)
                break;
            list = nl;
            cap = nc;
        }
        list[n++] = s;
        if (terminal) { /* the hub's reference moves to us */
            *pp = s->next;
            s->next = NULL;
        } else {
            atomic_fetch_add(&s->refs, 1);
            pp = &s->next;
        }
    }
    pthread_mutex_unlock(&h->mu);
    if (n == 0) {
        free(list);
        return;
    }
    char *text = dev_print(frame);
    for (size_t i = 0; i < n; i++) {
        sub_t *s = list[i];
        pthread_mutex_lock(&s->mu);
        if (text)
            sub_write_locked(s, text, strlen(text));
        if (terminal)
            sub_finish_locked(s);
        pthread_mutex_unlock(&s->mu);
        sub_unref(s);
    }
    cJSON_free(text);
    free(list);
}

void dev_publish_task_updated(dsrv_t *d, const cJSON *task)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "type", "task_updated");
    cJSON_AddItemToObject(f, "task", cJSON_Duplicate(task, true));
    dev_publish(d, dev_jstr(task, "id"), f);
    cJSON_Delete(f);
}

void dev_publish_message_full(dsrv_t *d, const cJSON *msg)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "type", "full");
    cJSON_AddNullToObject(f, "index");
    cJSON_AddItemToObject(f, "parent_task_message", cJSON_Duplicate(msg, true));
    dev_copy_key(f, msg, "content");
    dev_publish(d, dev_jstr(msg, "task_id"), f);
    cJSON_Delete(f);
}

static char *connected_frame(const char *task_id)
{
    cJSON *f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "type", "connected");
    cJSON_AddStringToObject(f, "taskId", task_id);
    char *t = dev_print(f);
    cJSON_Delete(f);
    return t;
}

/* Resolves the task; returns its id and whether it is terminal, or -1 (unknown/deleted). */
static int resolve(dsrv_t *d, const char *id, const char *name, char *out, size_t outlen,
                   bool *terminal)
{
    dev_lock(d);
    cJSON *t = dev_task_get(d, id, name);
    dev_unlock(d);
    if (!t)
        return -1;
    const char *st = dev_jstr(t, "status");
    int rc = 0;
    if (st && !strcmp(st, "DELETED"))
        rc = -1;
    snprintf(out, outlen, "%s", dev_jstr(t, "id") ? dev_jstr(t, "id") : "");
    *terminal = dev_status_terminal(st);
    cJSON_Delete(t);
    return rc;
}

static void sse_closed(agx_http_req_t *r, void *ud)
{
    dsrv_t *d = ud;
    dev_hub_t *h = d->hub;
    sub_t *s = NULL;
    pthread_mutex_lock(&h->mu);
    for (sub_t **pp = &h->head; *pp; pp = &(*pp)->next)
        if (!(*pp)->is_ws && (*pp)->req == r) {
            s = *pp;
            *pp = s->next;
            s->next = NULL;
            break;
        }
    pthread_mutex_unlock(&h->mu);
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    sub_finish_locked(s);
    pthread_mutex_unlock(&s->mu);
    sub_unref(s);
}

static const char SSE_HEADERS[] = "Cache-Control: no-cache\r\nConnection: keep-alive\r\n"
                                  "X-Accel-Buffering: no\r\n";

static void replay_write(const char *json, size_t len, void *ud)
{
    sub_write_locked(ud, json, len);
}

/* Joins the hub and writes `connected` (SSE: after the response head); ends at once for a
 * task already terminal (with --redis-url after replaying its buffered Redis stream).
 * Consumes the caller's reference, which becomes the hub's. */
static void sub_attach(dsrv_t *d, sub_t *s)
{
    char id[128];
    bool terminal = false;
    pthread_mutex_lock(&s->mu);
    if (s->done) { /* a websocket closed before the attach job ran */
        pthread_mutex_unlock(&s->mu);
        sub_unref(s);
        return;
    }
    hub_add(d->hub, s);
    /* status read after joining the hub: a terminal write after this point is published
     * to us; one before it is seen here */
    (void)resolve(d, s->task_id, NULL, id, sizeof id, &terminal);
    if (!s->is_ws)
        agx_http_stream_begin(s->req, 200, "text/event-stream", SSE_HEADERS);
    char *c = connected_frame(s->task_id);
    if (c)
        sub_write_locked(s, c, strlen(c));
    cJSON_free(c);
    if (terminal && d->relays)
        dev_relay_replay(d, s->task_id, replay_write, s);
    bool unlinked = false;
    /* an SSE peer gone before the job joined the hub was not seen by sse_closed */
    if (terminal || (!s->is_ws && agx_http_req_closed(s->req))) {
        sub_finish_locked(s);
        unlinked = hub_unlink(d->hub, s);
    }
    pthread_mutex_unlock(&s->mu);
    if (unlinked)
        sub_unref(s);
}

static void attach_job(void *wctx, void *arg)
{
    (void)wctx;
    sub_t *s = arg;
    s->relay = dev_relay_join(s->dsrv, s->task_id);
    sub_attach(s->dsrv, s);
}

void dev_sse_subscribe(dsrv_t *d, agx_http_req_t *r, const char *task_id, const char *task_name)
{
    char id[128];
    bool terminal = false;
    /* Quick existence check for a proper 404 before the stream starts. */
    if (resolve(d, task_id, task_name, id, sizeof id, &terminal) != 0) {
        if (task_id)
            dev_respond_error(r, 404, "Item with id '%s' does not exist.", task_id);
        else
            dev_respond_error(r, 404, "Item with name '%s' does not exist.", task_name);
        return;
    }
    sub_t *s = sub_new(d, id);
    if (!s) {
        dev_respond_error(r, 500, "Internal Server Error. out of memory");
        return;
    }
    s->req = r;
    agx_http_req_set_close_cb(r, sse_closed, d);
    if (!d->relays) {
        sub_attach(d, s);
    } else if (dev_spawn(d, attach_job, s) != 0) {
        agx_http_req_set_close_cb(r, NULL, NULL);
        dev_respond_error(r, 503, "Service Unavailable. shutting down");
        sub_unref(s);
    }
}

/* /tasks/{id}/stream/ws, /tasks/name/{name}/stream/ws, /stream/publish */
bool dev_ws_open(dsrv_t *d, agx_ws_t *ws, const char *path)
{
    dev_log(AGENTEX_LOG_INFO, "websocket %s", path);
    if (strcmp(path, "/stream/publish") == 0) {
        agx_ws_set_userdata(ws, &PUBLISHER);
        return true;
    }
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    const char *id = NULL, *name = NULL;
    size_t len = strlen(buf);
    static const char suffix[] = "/stream/ws";
    if (strncmp(buf, "/tasks/", 7) != 0 || len <= 7 + sizeof suffix - 1 ||
        strcmp(buf + len - (sizeof suffix - 1), suffix) != 0)
        return false;
    buf[len - (sizeof suffix - 1)] = '\0';
    char *rest = buf + 7;
    if (strncmp(rest, "name/", 5) == 0)
        name = rest + 5;
    else
        id = rest;
    if (!*(id ? id : name) || strchr(id ? id : name, '/'))
        return false;
    char tid[128];
    bool terminal = false;
    if (resolve(d, id, name, tid, sizeof tid, &terminal) != 0)
        return false;
    sub_t *s = sub_new(d, tid);
    if (!s)
        return false;
    s->is_ws = true;
    s->ws = ws;
    agx_ws_ref(ws);
    atomic_fetch_add(&s->refs, 1); /* owned by the websocket until dev_ws_close */
    agx_ws_set_userdata(ws, s);
    if (!d->relays) {
        sub_attach(d, s);
    } else if (dev_spawn(d, attach_job, s) != 0) {
        agx_ws_set_userdata(ws, NULL);
        sub_unref(s);
        sub_unref(s);
        return false;
    }
    return true;
}

void dev_ws_message(dsrv_t *d, agx_ws_t *ws, const char *data, size_t len, bool binary)
{
    if (agx_ws_userdata(ws) != &PUBLISHER)
        return; /* subscribers have nothing to say */
    cJSON *j = binary ? NULL : dev_parse(data, len);
    char eb[512];
    cJSON *u = j ? dev_norm_update(j, eb, sizeof eb) : NULL;
    if (!j)
        snprintf(eb, sizeof eb, "not a JSON text message");
    const char *task_id =
        u ? dev_jstr(cJSON_GetObjectItemCaseSensitive(u, "parent_task_message"), "task_id") : NULL;
    if (!u || !task_id) {
        dev_log(AGENTEX_LOG_WARN, "stream/publish: dropped update: %s",
                u ? "parent_task_message.task_id missing" : eb);
    } else {
        dev_log(AGENTEX_LOG_DEBUG, "stream/publish: %s for task %s", dev_jstr(u, "type"), task_id);
        dev_publish(d, task_id, u);
    }
    cJSON_Delete(u);
    cJSON_Delete(j);
}

void dev_ws_close(dsrv_t *d, agx_ws_t *ws)
{
    void *ud = agx_ws_userdata(ws);
    if (!ud || ud == &PUBLISHER)
        return;
    sub_t *s = ud; /* alive: the websocket owns a reference until here */
    agx_ws_set_userdata(ws, NULL);
    /* done first: an attach job that has not joined the hub yet will not */
    pthread_mutex_lock(&s->mu);
    s->done = true;
    pthread_mutex_unlock(&s->mu);
    bool unlinked = hub_unlink(d->hub, s);
    if (unlinked)
        sub_unref(s);
    sub_unref(s);
}

/* ---- keep-alive ticker -------------------------------------------------------------------- */

void dev_hub_tick(dsrv_t *d)
{
    dev_hub_t *h = d->hub;
    int64_t now = agx_now_ms();
    sub_t **list = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&h->mu);
    for (sub_t *s = h->head; s; s = s->next) {
        if (s->is_ws || now - atomic_load(&s->last_ms) < d->ping_interval_ms)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            sub_t **nl = realloc(list, nc * sizeof *nl);
            if (!nl)
                break;
            list = nl;
            cap = nc;
        }
        atomic_fetch_add(&s->refs, 1);
        list[n++] = s;
    }
    pthread_mutex_unlock(&h->mu);
    for (size_t i = 0; i < n; i++) {
        sub_t *s = list[i];
        pthread_mutex_lock(&s->mu);
        if (!s->done && agx_http_stream_write(s->req, ":ping\n\n", 7) == 0)
            atomic_store(&s->last_ms, agx_now_ms());
        pthread_mutex_unlock(&s->mu);
        sub_unref(s);
    }
    free(list);
}

static void *ticker_main(void *arg)
{
    dsrv_t *d = arg;
    dev_hub_t *h = d->hub;
    long step = d->ping_interval_ms / 4;
    if (step < 20)
        step = 20;
    if (step > 1000)
        step = 1000;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (step % 1000) * 1000000L;
        ts.tv_sec += step / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
        if (h->stop)
            break;
        pthread_mutex_unlock(&h->mu);
        dev_hub_tick(d);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

int dev_hub_new(dsrv_t *d)
{
    dev_hub_t *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    d->hub = h;
    if (pthread_create(&h->ticker, NULL, ticker_main, d) == 0)
        h->ticker_started = true;
    return 0;
}

void dev_hub_close_all(dsrv_t *d)
{
    dev_hub_t *h = d->hub;
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    sub_t *list = h->head;
    h->head = NULL;
    h->stop = true;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    while (list) {
        sub_t *s = list;
        list = s->next;
        s->next = NULL;
        pthread_mutex_lock(&s->mu);
        sub_finish_locked(s);
        pthread_mutex_unlock(&s->mu);
        sub_unref(s);
    }
}

void dev_hub_free(dsrv_t *d)
{
    dev_hub_t *h = d->hub;
    if (!h)
        return;
    dev_hub_close_all(d);
    if (h->ticker_started)
        pthread_join(h->ticker, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
    d->hub = NULL;
}
