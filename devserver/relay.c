/*
 * devserver/relay.c - `agentex-dev --redis-url URL`: task streams read from Redis, as the
 * real backend does (protocol 6.2), instead of the in-process /stream/publish channel.
 *
 * Agents XADD TaskMessageUpdates to `task:{id}` (field `data`).  For every task that has
 * at least one SSE or websocket subscriber there is one relay: its own Redis connection
 * and its own thread, which loops on `XREAD COUNT 10 BLOCK 2000 STREAMS task:{id} <cursor>`
 * and hands each valid entry to dev_publish (entries that fail validation are dropped
 * with a log line).  One thread per active task stream keeps every blocking read off the
 * HTTP service thread and off the worker pool, keeps a slow or broken stream from
 * delaying the others, and needs no multiplexing of cursors; a local development server
 * has few concurrent task streams, so the thread count stays small.
 *
 * Cursor: the first subscriber of a task creates the relay on a worker thread
 * (dev_relay_join, called before the subscriber's `connected` frame is written); it
 * connects and snapshots the stream's tail id (XREVRANGE key + - COUNT 1, "0-0" when the
 * stream is empty) before the relay thread starts.  Later subscribers share the running
 * relay, whose cursor is never past an entry that did not exist when they joined, so
 * nothing written after `connected` is missed; entries already in the stream before the
 * relay's snapshot are not replayed (clients read history from GET /messages).  A task
 * already terminal gets its whole buffered stream (dev_relay_replay) before the end.
 *
 * Errors: a failed connect or read publishes {"type":"error","message":...} to the task's
 * subscribers, then the relay waits 1, 2, 4 ... (at most 30) seconds, reconnects and goes
 * on from its cursor (a relay that never got a snapshot takes one then).
 *
 * Lifetime: each subscriber holds a reference (taken by dev_relay_join, dropped by
 * dev_relay_leave when the subscription is freed).  When the last one leaves, the relay's
 * socket is shut down so that its XREAD returns at once; the thread then unlinks and frees
 * the relay.  dev_relay_stop ends every thread (shutdown); dev_relay_free frees the rest.
 * Locks: relays->mu guards the list, refs, fds and flags; it is never held during Redis
 * I/O or while publishing.
 */
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dev.h"

#define RELAY_BLOCK_MS 2000
#define RELAY_COUNT 10
#define RELAY_CONNECT_MS 2000
#define RELAY_BACKOFF_MAX_S 30
#define RELAY_REPLAY_MAX 10000

struct dev_relay {
    struct dev_relay *next;
    char task_id[80];
    char key[96];
    int refs;          /* subscribers (relays->mu) */
    bool ready;        /* the creator is done connecting (relays->mu) */
    bool thread_done;  /* no thread runs for this relay (relays->mu) */
    int fd;            /* socket of the relay thread's connection, -1 none (relays->mu) */
    bool idle_shutdown; /* the last leave shut fd down; a read error is ours (relays->mu) */
    char cursor[64];   /* last id read; "" until a snapshot was taken (relay thread) */
    redisContext *ctx; /* handed from the creator to the thread */
};

struct dev_relays {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    dev_relay_t *head;
    int nthreads;
    bool stop;
    char host[256];
    int port;
    int db;
    char *user;
    char *password;
};

/* ---- URL and connections ------------------------------------------------------------ */

/* redis://[[user]:password@]host[:port][/db]; 0 ok, -1 with a message in err. */
static int parse_url(dev_relays_t *R, const char *url, char *err, size_t errlen)
{
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        snprintf(err, errlen, "must start with redis://");
        return -1;
    }
    const char *p = url + sizeof scheme - 1;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            snprintf(err, errlen, "userinfo must be [user]:password");
            return -1;
        }
        if (colon > p)
            R->user = strndup(p, (size_t)(colon - p));
        R->password = strndup(colon + 1, (size_t)(at - colon - 1));
        if ((colon > p && !R->user) || !R->password) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p = at + 1;
    }
    size_t hl = strcspn(p, ":/");
    if (hl == 0 || hl >= sizeof R->host) {
        snprintf(err, errlen, "missing or too long host");
        return -1;
    }
    memcpy(R->host, p, hl);
    R->host[hl] = '\0';
    p += hl;
    R->port = 6379;
    if (*p == ':') {
        char *end = NULL;
        errno = 0;
        long port = strtol(p + 1, &end, 10);
        if (errno || end == p + 1 || port < 1 || port > 65535 || (*end && *end != '/')) {
            snprintf(err, errlen, "bad port");
            return -1;
        }
        R->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1]) {
        char *end = NULL;
        errno = 0;
        long db = strtol(p + 1, &end, 10);
        if (errno || end == p + 1 || *end || db < 0 || db > 1000000) {
            snprintf(err, errlen, "bad database number");
            return -1;
        }
        R->db = (int)db;
    } else if (*p && strcmp(p, "/") != 0) {
        snprintf(err, errlen, "unexpected '%s'", p);
        return -1;
    }
    return 0;
}

/* Connects (AUTH, SELECT).  NULL with a message in err. */
static redisContext *relay_connect(dev_relays_t *R, char *err, size_t errlen)
{
    struct timeval tv = {RELAY_CONNECT_MS / 1000, (RELAY_CONNECT_MS % 1000) * 1000};
    redisContext *c = redisConnectWithTimeout(R->host, R->port, tv);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "%s:%d: %s", R->host, R->port, c->errstr);
        redisFree(c);
        return NULL;
    }
    /* a read never waits much longer than the XREAD block time */
    struct timeval rtv = {(RELAY_BLOCK_MS + 3000) / 1000, 0};
    redisSetTimeout(c, rtv);
    redisReply *r = NULL;
    if (R->password)
        r = R->user ? redisCommand(c, "AUTH %s %s", R->user, R->password)
                    : redisCommand(c, "AUTH %s", R->password);
    if (R->password && (!r || r->type == REDIS_REPLY_ERROR)) {
        snprintf(err, errlen, "AUTH: %s", r ? r->str : c->errstr);
        goto fail;
    }
    if (r)
        freeReplyObject(r);
    r = NULL;
    if (R->db) {
        r = redisCommand(c, "SELECT %d", R->db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "SELECT %d: %s", R->db, r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    return c;
fail:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return NULL;
}

/* The id of the stream's last entry ("0-0" when empty or missing); -1 on error. */
static int snapshot(redisContext *c, const char *key, char *out, size_t outlen, char *err,
                    size_t errlen)
{
    redisReply *r = redisCommand(c, "XREVRANGE %s + - COUNT 1", key);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "XREVRANGE %s: %s", key,
                 r && r->type == REDIS_REPLY_ERROR ? r->str
                 : c->errstr[0]                    ? c->errstr
                                                   : "unexpected reply");
        if (r)
            freeReplyObject(r);
        return -1;
    }
    snprintf(out, outlen, "0-0");
    if (r->elements > 0 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements >= 1 && r->element[0]->element[0]->type == REDIS_REPLY_STRING)
        snprintf(out, outlen, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    return 0;
}

/* One stream entry [id, [field, value, ...]]: the normalized update of its `data` field,
 * or NULL (logged) when it fails validation. */
static cJSON *entry_update(const char *key, const redisReply *e)
{
    const redisReply *f = e->element[1];
    const char *data = NULL;
    size_t len = 0;
    if (f->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i + 1 < f->elements; i += 2)
            if (f->element[i]->type == REDIS_REPLY_STRING &&
                strcmp(f->element[i]->str, "data") == 0 &&
                f->element[i + 1]->type == REDIS_REPLY_STRING) {
                data = f->element[i + 1]->str;
                len = f->element[i + 1]->len;
                break;
            }
    char eb[512];
    cJSON *j = data ? dev_parse(data, len) : NULL;
    cJSON *u = j ? dev_norm_update(j, eb, sizeof eb) : NULL;
    if (!data)
        snprintf(eb, sizeof eb, "no field 'data'");
    else if (!j)
        snprintf(eb, sizeof eb, "'data' is not JSON");
    if (!u)
        dev_log(AGENTEX_LOG_WARN, "redis %s %s: entry dropped: %s", key, e->element[0]->str, eb);
    cJSON_Delete(j);
    return u;
}

static bool entry_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
           e->element[0]->type == REDIS_REPLY_STRING;
}

/* ---- the relay thread --------------------------------------------------------------- */

typedef struct relay_arg {
    dsrv_t *d;
    dev_relay_t *r;
} relay_arg_t;

static void publish_error(dsrv_t *d, const char *task_id, const char *msg)
{
    cJSON *f = cJSON_CreateObject();
    if (!f)
        return;
    cJSON_AddStringToObject(f, "type", "error");
    char text[600];
    snprintf(text, sizeof text, "Redis stream read failed: %s", msg);
    cJSON_AddStringToObject(f, "message", text);
    dev_publish(d, task_id, f);
    cJSON_Delete(f);
}

/* true when the relay must end (caller holds R->mu) */
static bool relay_over(dev_relays_t *R, dev_relay_t *r) { return R->stop || r->refs == 0; }

static void set_fd(dev_relays_t *R, dev_relay_t *r, redisContext *c)
{
    pthread_mutex_lock(&R->mu);
    r->fd = c ? c->fd : -1;
    /* a leave that came while we were connecting could not shut this socket down */
    bool over = relay_over(R, r);
    pthread_mutex_unlock(&R->mu);
    if (over && c)
        shutdown(c->fd, SHUT_RDWR);
}

/* Relays one XREAD reply; false on a malformed reply. */
static bool relay_reply(dsrv_t *d, dev_relay_t *r, const redisReply *rep)
{
    /* [[key, [[id, [field, value ...]] ...]]] */
    if (rep->elements < 1 || rep->element[0]->type != REDIS_REPLY_ARRAY ||
        rep->element[0]->elements != 2 || rep->element[0]->element[1]->type != REDIS_REPLY_ARRAY)
        return false;
    const redisReply *entries = rep->element[0]->element[1];
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (!entry_ok(e))
            return false;
        snprintf(r->cursor, sizeof r->cursor, "%s", e->element[0]->str);
        cJSON *u = entry_update(r->key, e);
        if (u) {
            dev_log(AGENTEX_LOG_DEBUG, "redis %s %s: %s", r->key, r->cursor, dev_jstr(u, "type"));
            dev_publish(d, r->task_id, u);
            cJSON_Delete(u);
        }
    }
    return true;
}

static void *relay_main(void *arg)
{
    relay_arg_t *a = arg;
    dsrv_t *d = a->d;
    dev_relay_t *r = a->r;
    free(a);
    dev_relays_t *R = d->relays;
    redisContext *c = r->ctx;
    r->ctx = NULL;
    int backoff_s = 1;
    char err[512];
    pthread_mutex_lock(&R->mu);
    while (!relay_over(R, r)) {
        pthread_mutex_unlock(&R->mu);
        bool failed = false;
        if (!c) {
            c = relay_connect(R, err, sizeof err);
            failed = !c;
            set_fd(R, r, c);
        }
        if (!failed && !r->cursor[0])
            failed = snapshot(c, r->key, r->cursor, sizeof r->cursor, err, sizeof err) != 0;
        if (!failed) {
            redisReply *rep = redisCommand(c, "XREAD COUNT %d BLOCK %d STREAMS %s %s", RELAY_COUNT,
                                           RELAY_BLOCK_MS, r->key, r->cursor);
            if (!rep) {
                snprintf(err, sizeof err, "%s", c->errstr[0] ? c->errstr : "connection lost");
                failed = true;
            } else if (rep->type == REDIS_REPLY_ERROR) {
                snprintf(err, sizeof err, "XREAD %s: %s", r->key, rep->str);
                failed = true;
            } else if (rep->type == REDIS_REPLY_ARRAY && !relay_reply(d, r, rep)) {
                snprintf(err, sizeof err, "XREAD %s: unexpected reply", r->key);
                failed = true;
            } else {
                backoff_s = 1;
            }
            if (rep)
                freeReplyObject(rep);
        }
        pthread_mutex_lock(&R->mu);
        if (!failed || relay_over(R, r))
            continue;
        if (r->idle_shutdown) {
            /* the read failed because the last subscriber's leave shut the socket down, and
             * a new subscriber joined before we noticed: reconnect from the cursor, quietly */
            r->idle_shutdown = false;
            pthread_mutex_unlock(&R->mu);
            set_fd(R, r, NULL);
            redisFree(c);
            c = NULL;
            pthread_mutex_lock(&R->mu);
            continue;
        }
        pthread_mutex_unlock(&R->mu);
        dev_log(AGENTEX_LOG_WARN, "redis %s: %s (retrying in %d s)", r->key, err, backoff_s);
        publish_error(d, r->task_id, err);
        if (c) {
            set_fd(R, r, NULL);
            redisFree(c);
            c = NULL;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += backoff_s;
        backoff_s = backoff_s * 2 > RELAY_BACKOFF_MAX_S ? RELAY_BACKOFF_MAX_S : backoff_s * 2;
        pthread_mutex_lock(&R->mu);
        while (!relay_over(R, r))
            if (pthread_cond_timedwait(&R->cv, &R->mu, &ts) == ETIMEDOUT)
                break;
    }
    /* R->mu held */
    dev_log(AGENTEX_LOG_DEBUG, "redis %s: relay ended", r->key);
    r->fd = -1;
    bool free_it = r->refs == 0;
    if (free_it) {
        for (dev_relay_t **pp = &R->head; *pp; pp = &(*pp)->next)
            if (*pp == r) {
                *pp = r->next;
                break;
            }
    } else {
        r->thread_done = true;
    }
    pthread_mutex_unlock(&R->mu);
    if (c)
        redisFree(c);
    if (free_it)
        free(r);
    pthread_mutex_lock(&R->mu);
    R->nthreads--;
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
    return NULL;
}

/* ---- public (dev.h) ------------------------------------------------------------------- */

int dev_relay_start(dsrv_t *d, const char *url)
{
    dev_relays_t *R = calloc(1, sizeof *R);
    if (!R) {
        fprintf(stderr, "agentex-dev: out of memory\n");
        return -1;
    }
    char err[256];
    if (parse_url(R, url, err, sizeof err) != 0) {
        fprintf(stderr, "agentex-dev: --redis-url: %s: '%s'\n", err, url);
        free(R->user);
        free(R->password);
        free(R);
        return -1;
    }
    pthread_mutex_init(&R->mu, NULL);
    pthread_cond_init(&R->cv, NULL);
    d->relays = R;
    return 0;
}

const char *dev_relay_describe(dsrv_t *d, char *buf, size_t len)
{
    dev_relays_t *R = d->relays;
    if (!R)
        snprintf(buf, len, "in-process (/stream/publish)");
    else
        snprintf(buf, len, "redis %s:%d db %d", R->host, R->port, R->db);
    return buf;
}

dev_relay_t *dev_relay_join(dsrv_t *d, const char *task_id)
{
    dev_relays_t *R = d->relays;
    if (!R || !task_id)
        return NULL;
    pthread_mutex_lock(&R->mu);
    if (R->stop) {
        pthread_mutex_unlock(&R->mu);
        return NULL;
    }
    dev_relay_t *r = R->head;
    while (r && (r->thread_done || strcmp(r->task_id, task_id) != 0))
        r = r->next;
    if (r) {
        r->refs++;
        while (!r->ready)
            pthread_cond_wait(&R->cv, &R->mu);
        pthread_mutex_unlock(&R->mu);
        return r;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        pthread_mutex_unlock(&R->mu);
        return NULL;
    }
    snprintf(r->task_id, sizeof r->task_id, "%s", task_id);
    snprintf(r->key, sizeof r->key, "task:%s", task_id);
    r->refs = 1;
    r->fd = -1;
    r->next = R->head;
    R->head = r;
    pthread_mutex_unlock(&R->mu);

    /* connect and snapshot here, before the caller's `connected` frame */
    char err[512];
    redisContext *c = relay_connect(R, err, sizeof err);
    if (c && snapshot(c, r->key, r->cursor, sizeof r->cursor, err, sizeof err) != 0) {
        redisFree(c);
        c = NULL;
    }
    if (!c)
        dev_log(AGENTEX_LOG_WARN, "redis %s: %s (the relay retries)", r->key, err);
    r->ctx = c;
    relay_arg_t *a = malloc(sizeof *a);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&R->mu);
    r->ready = true;
    r->fd = c ? c->fd : -1;
    pthread_t th;
    bool started = false;
    if (a && !R->stop) {
        a->d = d;
        a->r = r;
        started = pthread_create(&th, &attr, relay_main, a) == 0;
    }
    if (started) {
        R->nthreads++;
    } else {
        if (!R->stop)
            dev_log(AGENTEX_LOG_ERROR, "redis %s: cannot start the relay thread", r->key);
        free(a);
        r->thread_done = true;
        r->fd = -1;
        r->ctx = NULL;
    }
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
    pthread_attr_destroy(&attr);
    if (!started && c)
        redisFree(c);
    return r;
}

void dev_relay_leave(dsrv_t *d, dev_relay_t *r)
{
    dev_relays_t *R = d->relays;
    if (!R || !r)
        return;
    pthread_mutex_lock(&R->mu);
    bool free_it = false;
    if (--r->refs == 0) {
        if (r->thread_done) {
            for (dev_relay_t **pp = &R->head; *pp; pp = &(*pp)->next)
                if (*pp == r) {
                    *pp = r->next;
                    break;
                }
            free_it = true;
        } else {
            if (r->fd >= 0) {
                shutdown(r->fd, SHUT_RDWR); /* ends the blocking XREAD now */
                r->idle_shutdown = true;
            }
            pthread_cond_broadcast(&R->cv);
        }
    }
    pthread_mutex_unlock(&R->mu);
    if (free_it)
        free(r);
}

void dev_relay_replay(dsrv_t *d, const char *task_id,
                      void (*fn)(const char *json, size_t len, void *ud), void *ud)
{
    dev_relays_t *R = d->relays;
    if (!R || !task_id)
        return;
    char err[512], key[96];
    snprintf(key, sizeof key, "task:%s", task_id);
    redisContext *c = relay_connect(R, err, sizeof err);
    redisReply *rep = c ? redisCommand(c, "XRANGE %s - + COUNT %d", key, RELAY_REPLAY_MAX) : NULL;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        if (c)
            snprintf(err, sizeof err, "XRANGE %s: %s", key,
                     rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                     : c->errstr[0]                        ? c->errstr
                                                           : "unexpected reply");
        dev_log(AGENTEX_LOG_WARN, "redis %s: replay failed: %s", key, err);
        goto out;
    }
    for (size_t i = 0; i < rep->elements; i++) {
        if (!entry_ok(rep->element[i]))
            break;
        cJSON *u = entry_update(key, rep->element[i]);
        char *text = u ? dev_print(u) : NULL;
        if (text)
            fn(text, strlen(text), ud);
        cJSON_free(text);
        cJSON_Delete(u);
    }
out:
    if (rep)
        freeReplyObject(rep);
    if (c)
        redisFree(c);
}

void dev_relay_stop(dsrv_t *d)
{
    dev_relays_t *R = d->relays;
    if (!R)
        return;
    pthread_mutex_lock(&R->mu);
    R->stop = true;
    for (dev_relay_t *r = R->head; r; r = r->next)
        if (r->fd >= 0)
            shutdown(r->fd, SHUT_RDWR);
    pthread_cond_broadcast(&R->cv);
    while (R->nthreads > 0)
        pthread_cond_wait(&R->cv, &R->mu);
    pthread_mutex_unlock(&R->mu);
}

void dev_relay_free(dsrv_t *d)
{
    dev_relays_t *R = d->relays;
    if (!R)
        return;
    dev_relay_stop(d);
    while (R->head) {
        dev_relay_t *r = R->head;
        R->head = r->next;
        free(r);
    }
    pthread_cond_destroy(&R->cv);
    pthread_mutex_destroy(&R->mu);
    free(R->user);
    free(R->password);
    free(R);
    d->relays = NULL;
}
