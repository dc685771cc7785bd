/*
 * lib/acp.c - acp_server_t: the Agent Communication Protocol server.
 *
 * Threads:
 *  - the service thread (agx_httpd) parses JSON-RPC, validates, answers the ack and
 *    submits the handler to the pool; it never runs user code;
 *  - the pool's workers run handlers, each with its own agentex_client_t;
 *  - a supervisor thread waits for acp_server_stop() (a byte on a pipe, so that stop is
 *    async-signal-safe), then drains: new requests are refused, every queued handler
 *    runs (agx_pool_shutdown), and only then is the HTTP loop stopped, so message/send
 *    streams in flight finish intact.
 * Start-up: the backend version guard, registration, the workers, the supervisor, then
 * (auto-cursor) one job that queues a catch-up per task still open; see "auto-cursor" below.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "acp_internal.h"
#include "adk_internal.h"
#include "agentex/acp.h"
#include "agentex/events.h"
#include "agentex/tracker.h"
#include "client_internal.h"
#include "http_server.h"
#include "internal.h"
#include "jsonrpc.h"
#include "pool.h"
#include "types_internal.h"

enum method_kind {
    M_TASK_CREATE = 0,
    M_EVENT_SEND,
    M_TASK_CANCEL,
    M_TASK_INTERRUPT,
    M_MESSAGE_SEND,
    M_COUNT
};

static const char *const method_names[M_COUNT] = {
    "task/create", "event/send", "task/cancel", "task/interrupt", "message/send",
};

typedef union handler_fn {
    acp_task_create_cb task_create;
    acp_event_send_cb event_send;
    acp_task_cancel_cb task_cancel;
    acp_task_interrupt_cb task_interrupt;
    acp_message_send_cb message_send;
    void (*any)(void);
} handler_fn_t;

typedef struct handler {
    handler_fn_t fn;
    void *ud;
} handler_t;

/* One per task with queued or running handlers: the cancellation flag lives here. */
typedef struct task_entry {
    char *id;
    long refs; /* under tasks_mu */
    atomic_bool cancelled;
    struct task_entry *next;
    /* auto-cursor: what this process knows of the task's tracker.  Read and written only
     * by the task's own jobs, which run one at a time (per-task delivery). */
    bool cur_loaded;
    char *tracker_id;
    char *cursor_id;    /* last_processed_event_id; NULL: none */
    int64_t cursor_seq; /* its sequence_id; -1: not known */
} task_entry_t;

#define TASK_BUCKETS 256

enum { ST_IDLE = 0, ST_ACTIVE = 1 };

struct acp_server {
    pthread_mutex_t mu; /* configuration, handlers, state */
    pthread_cond_t cv;

    /* configuration */
    char *name, *description, *acp_type, *base_url, *acp_url, *api_key, *agent_id_env;
    char *input_type, *principal_b64, *deployment_id, *sdk_key, *custom_headers, *host;
    int port;
    bool auth_check;
    int reg_attempts;
    long reg_delay_ms;
    int workers;
    int worker_nice; /* added to the workers' nice value (acp_server_set_worker_nice) */
    acp_delivery_t delivery;
    size_t max_body;
    size_t max_pending; /* acknowledged handlers not yet finished, beyond which acks wait */
    size_t eager_max;   /* below this many, requests take the full path (see handle_api) */
    long header_ms, idle_ms;
    bool auto_cursor; /* acp_server_set_auto_cursor */
    handler_t handlers[M_COUNT];

    /* run time */
    int state;
    char *agent_id;    /* registered */
    cJSON *agent_json; /* the registration's answer, without agent_api_key */
    agentex_client_t *tmpl;
    agx_httpd_t *httpd;
    agx_pool_t *pool;
    atomic_int bound_port;
    atomic_bool stop_flag; /* acp_server_stop was called */
    atomic_bool stopping;  /* service thread: refuse new work */
    int stop_pipe[2];
    pthread_t supervisor;
    bool have_supervisor;
    pthread_t run_thread;
    bool have_run_thread;
    bool stopped_start; /* acp_server_start stopped while registering: wait gives OK once */
    int start_phase;    /* 0 pending, 1 serving, 2 failed (start/wait) */
    agentex_err_t start_err, run_result;

    pthread_mutex_t tasks_mu;
    task_entry_t *buckets[TASK_BUCKETS];

    /* backpressure (see admit_or_defer): handlers queued or running, and the requests
     * validated but not yet acknowledged because that count reached max_pending */
    atomic_size_t inflight;
    atomic_size_t ndeferred;  /* written by the service thread, read by workers */
    atomic_bool posted;       /* a handlers_done is queued on the service thread */
    acp_ctx_t *dhead, *dtail; /* service thread only */

    /* finished contexts, freed on the service thread that allocated them (see reap_push) */
    _Atomic(acp_ctx_t *) reap;
    atomic_size_t nreap;

    char errmsg[512];
};

struct acp_ctx {
    acp_server_t *s;
    agentex_client_t *client; /* the worker's */
    enum method_kind kind;
    handler_t h;
    cJSON *root; /* the request body; params points into it */
    cJSON *params;
    const char *task_id; /* params.task.id, borrowed from root */
    adk_task_t *task;    /* the typed objects: built by the worker (async methods) */
    adk_agent_t *agent;
    adk_event_t *event;
    adk_content_t *content;
    char *id_json;
    bool notification;
    task_entry_t *entry;
    agx_http_req_t *req;  /* message/send only */
    agx_http_req_t *dreq; /* deferred: the request still to be answered */
    const char *dkey;     /* deferred: the mailbox key */
    struct acp_ctx *dnext;
    struct acp_ctx *rnext; /* on the reap stack */
    /* fast path (fast_admit): the body and the forwarded headers ("name\0value\0" pairs)
     * live in the context's own block, and the worker parses root from body */
    const char *body;
    size_t body_len;
    const char *hdrs;
    size_t nhdrs;
    bool fast;
    bool stream_broken;
    bool has_error;
    char *errmsg; /* acp_ctx_set_error's message, NULL until then (or on ENOMEM) */
};

#define ACP_CTX_ERRMSG_MAX 512 /* acp_ctx_set_error's message, NUL included */

static _Thread_local acp_server_t *tl_current_server;
static _Atomic(acp_server_t *) signal_server;

static void set_errmsg(acp_server_t *s, const char *fmt, ...) AGENTEX_PRINTF(2, 3);
static void set_errmsg(acp_server_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
}

static int replace_str(char **dst, const char *src)
{
    char *c = NULL;
    if (src) {
        c = agx_strdup(src);
        if (!c)
            return -1;
    }
    agx_free(*dst);
    *dst = c;
    return 0;
}

bool agx_acp_name_valid(const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static bool acp_type_valid(const char *t)
{
    return t && (strcmp(t, "sync") == 0 || strcmp(t, "async") == 0 || strcmp(t, "agentic") == 0);
}

/* ---- creation, configuration ---- */

static int env_dup(char **dst, const char *var)
{
    const char *v = getenv(var);
    return v ? replace_str(dst, v) : 0;
}

/* An integer setting from the environment: unset or empty keeps *dst; a value that is not
 * a whole number in [lo, hi] keeps it too, with a warning naming what was expected. */
static void env_int(int *dst, const char *var, long lo, long hi, const char *expected)
{
    const char *v = getenv(var);
    if (!v || !*v)
        return;
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (end && *end == '\0' && errno == 0 && n >= lo && n <= hi)
        *dst = (int)n;
    else
        AGX_WARN("acp: ignoring %s=\"%s\" (not %s)", var, v, expected);
}

agentex_err_t acp_server_new(acp_server_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    agx_global_init();
    acp_server_t *s = agx_calloc(1, sizeof *s);
    if (!s)
        return AGENTEX_ENOMEM;
    s->stop_pipe[0] = s->stop_pipe[1] = -1;
    s->port = 8000;
    s->auth_check = true;
    s->reg_attempts = 3;
    s->reg_delay_ms = 5000;
    s->workers = 4;
    s->worker_nice = ACP_DEFAULT_WORKER_NICE;
    s->delivery = ACP_DELIVERY_PER_TASK;
    s->max_body = 8u << 20;
    s->max_pending = ACP_DEFAULT_MAX_PENDING;
    s->eager_max = AGX_ACP_EAGER_MAX;
    s->header_ms = 10000;
    s->idle_ms = 30000;
    atomic_init(&s->bound_port, 0);
    atomic_init(&s->stop_flag, false);
    atomic_init(&s->stopping, false);
    atomic_init(&s->inflight, 0);
    atomic_init(&s->ndeferred, 0);
    atomic_init(&s->posted, false);
    atomic_init(&s->reap, NULL);
    atomic_init(&s->nreap, 0);
    bool mu = false, cv = false, tmu = false;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto nomem;
    mu = true;
    if (pthread_cond_init(&s->cv, NULL) != 0)
        goto nomem;
    cv = true;
    if (pthread_mutex_init(&s->tasks_mu, NULL) != 0)
        goto nomem;
    tmu = true;
    if (pipe(s->stop_pipe) != 0) {
        s->stop_pipe[0] = s->stop_pipe[1] = -1;
        goto nomem;
    }
    for (int i = 0; i < 2; i++)
        (void)fcntl(s->stop_pipe[i], F_SETFD, FD_CLOEXEC);
    (void)fcntl(s->stop_pipe[1], F_SETFL, O_NONBLOCK);
    (void)fcntl(s->stop_pipe[0], F_SETFL, O_NONBLOCK);

    if (replace_str(&s->acp_type, "async") || replace_str(&s->host, "0.0.0.0") ||
        replace_str(&s->base_url, AGENTEX_DEFAULT_BASE_URL) || env_dup(&s->name, "AGENT_NAME") ||
        env_dup(&s->description, "AGENT_DESCRIPTION") || env_dup(&s->acp_url, "ACP_URL") ||
        env_dup(&s->acp_type, "ACP_TYPE") || env_dup(&s->base_url, "AGENTEX_BASE_URL") ||
        env_dup(&s->agent_id_env, "AGENT_ID") || env_dup(&s->api_key, "AGENT_API_KEY") ||
        env_dup(&s->input_type, "AGENT_INPUT_TYPE") ||
        env_dup(&s->principal_b64, "AUTH_PRINCIPAL_B64") ||
        env_dup(&s->deployment_id, "AGENTEX_DEPLOYMENT_ID") ||
        env_dup(&s->sdk_key, "AGENTEX_SDK_API_KEY") ||
        env_dup(&s->custom_headers, "AGENTEX_CUSTOM_HEADERS"))
        goto nomem;
    const char *host = getenv("ACP_HOST");
    if (host && *host && replace_str(&s->host, host))
        goto nomem;
    env_int(&s->port, "ACP_PORT", 0, 65535, "a port number");
    const char *mp = getenv("ACP_MAX_PENDING");
    if (mp && *mp) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(mp, &end, 10);
        if (end && *end == '\0' && errno == 0 && n >= 1 && mp[0] != '-' && n <= SIZE_MAX)
            s->max_pending = (size_t)n;
        else
            AGX_WARN("acp: ignoring ACP_MAX_PENDING=\"%s\" (not a positive number)", mp);
    }
    env_int(&s->worker_nice, "ACP_WORKER_NICE", 0, 19, "a number from 0 to 19");
    int auto_cursor = 0;
    env_int(&auto_cursor, "ACP_AUTO_CURSOR", 0, 1, "0 or 1");
    s->auto_cursor = auto_cursor == 1;
    *out = s;
    return AGENTEX_OK;
nomem:
    if (s->stop_pipe[0] >= 0) {
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
    }
    if (tmu)
        pthread_mutex_destroy(&s->tasks_mu);
    if (cv)
        pthread_cond_destroy(&s->cv);
    if (mu)
        pthread_mutex_destroy(&s->mu);
    agx_free(s->name);
    agx_free(s->description);
    agx_free(s->acp_type);
    agx_free(s->base_url);
    agx_free(s->acp_url);
    agx_free(s->api_key);
    agx_free(s->agent_id_env);
    agx_free(s->input_type);
    agx_free(s->principal_b64);
    agx_free(s->deployment_id);
    agx_free(s->sdk_key);
    agx_free(s->custom_headers);
    agx_free(s->host);
    agx_free(s);
    return AGENTEX_ENOMEM;
}

/* Locks s->mu and checks that the server is idle; returns ESTATE (unlocked) otherwise. */
static agentex_err_t lock_idle(acp_server_t *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->state != ST_IDLE) {
        pthread_mutex_unlock(&s->mu);
        return AGENTEX_ESTATE;
    }
    return AGENTEX_OK;
}

/* The one-field setters: store v in *field while the server is idle (ESTATE otherwise). */
static agentex_err_t store_int(acp_server_t *s, int *field, int v)
{
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    *field = v;
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

static agentex_err_t store_size(acp_server_t *s, size_t *field, size_t v)
{
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    *field = v;
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

static agentex_err_t store_bool(acp_server_t *s, bool *field, bool v)
{
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    *field = v;
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

agentex_err_t acp_server_set_agent(acp_server_t *s, const char *name, const char *description,
                                   const char *acp_type)
{
    if (!s || !agx_acp_name_valid(name) || (acp_type && !acp_type_valid(acp_type)))
        return AGENTEX_EINVAL;
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    char *n = agx_strdup(name), *d = description ? agx_strdup(description) : NULL;
    char *t = acp_type ? agx_strdup(acp_type) : NULL;
    if (!n || (description && !d) || (acp_type && !t)) {
        pthread_mutex_unlock(&s->mu);
        agx_free(n);
        agx_free(d);
        agx_free(t);
        return AGENTEX_ENOMEM;
    }
    agx_free(s->name);
    s->name = n;
    agx_free(s->description);
    s->description = d;
    if (t) {
        agx_free(s->acp_type);
        s->acp_type = t;
    }
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

static agentex_err_t set_string(acp_server_t *s, char **field, const char *value)
{
    if (!s)
        return AGENTEX_EINVAL;
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    err = replace_str(field, value) ? AGENTEX_ENOMEM : AGENTEX_OK;
    pthread_mutex_unlock(&s->mu);
    return err;
}

agentex_err_t acp_server_set_backend(acp_server_t *s, const char *base_url)
{
    return set_string(s, s ? &s->base_url : NULL, base_url ? base_url : "");
}

agentex_err_t acp_server_set_acp_url(acp_server_t *s, const char *acp_url)
{
    if (!acp_url)
        return AGENTEX_EINVAL;
    return set_string(s, s ? &s->acp_url : NULL, acp_url);
}

agentex_err_t acp_server_set_api_key(acp_server_t *s, const char *key)
{
    return set_string(s, s ? &s->api_key : NULL, key && *key ? key : NULL);
}

agentex_err_t acp_server_set_auth_check(acp_server_t *s, bool on)
{
    return s ? store_bool(s, &s->auth_check, on) : AGENTEX_EINVAL;
}

agentex_err_t acp_server_set_auto_cursor(acp_server_t *s, bool on)
{
    return s ? store_bool(s, &s->auto_cursor, on) : AGENTEX_EINVAL;
}

agentex_err_t acp_server_set_register_retries(acp_server_t *s, int attempts, long delay_ms)
{
    if (!s || attempts < 1 || delay_ms < 0)
        return AGENTEX_EINVAL;
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    s->reg_attempts = attempts;
    s->reg_delay_ms = delay_ms;
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

agentex_err_t acp_server_set_listen(acp_server_t *s, const char *host, int port)
{
    if (!s || port < 0 || port > 65535)
        return AGENTEX_EINVAL;
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    if (host && replace_str(&s->host, host)) {
        pthread_mutex_unlock(&s->mu);
        return AGENTEX_ENOMEM;
    }
    s->port = port;
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

agentex_err_t acp_server_set_workers(acp_server_t *s, int n)
{
    if (!s || n < 1 || n > 256)
        return AGENTEX_EINVAL;
    return store_int(s, &s->workers, n);
}

agentex_err_t acp_server_set_worker_nice(acp_server_t *s, int n)
{
    if (!s || n < 0 || n > 19)
        return AGENTEX_EINVAL;
    return store_int(s, &s->worker_nice, n);
}

agentex_err_t acp_server_set_delivery(acp_server_t *s, acp_delivery_t mode)
{
    if (!s || (mode != ACP_DELIVERY_PER_TASK && mode != ACP_DELIVERY_CONCURRENT))
        return AGENTEX_EINVAL;
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    s->delivery = mode;
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

agentex_err_t acp_server_set_max_body(acp_server_t *s, size_t bytes)
{
    if (!s || bytes == 0)
        return AGENTEX_EINVAL;
    return store_size(s, &s->max_body, bytes);
}

agentex_err_t acp_server_set_max_pending(acp_server_t *s, size_t n)
{
    if (!s || n == 0)
        return AGENTEX_EINVAL;
    return store_size(s, &s->max_pending, n);
}

agentex_err_t agx_acp_set_eager_max(acp_server_t *s, size_t n)
{
    if (!s)
        return AGENTEX_EINVAL;
    return store_size(s, &s->eager_max, n);
}

agentex_err_t acp_server_set_timeouts(acp_server_t *s, long header_ms, long idle_ms)
{
    if (!s || header_ms <= 0 || idle_ms <= 0)
        return AGENTEX_EINVAL;
    agentex_err_t err = lock_idle(s);
    if (err)
        return err;
    s->header_ms = header_ms;
    s->idle_ms = idle_ms;
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

static agentex_err_t set_handler(acp_server_t *s, enum method_kind k, handler_fn_t fn, void *ud)
{
    if (!s)
        return AGENTEX_EINVAL;
    pthread_mutex_lock(&s->mu);
    s->handlers[k].fn = fn;
    s->handlers[k].ud = fn.any ? ud : NULL;
    pthread_mutex_unlock(&s->mu);
    return AGENTEX_OK;
}

agentex_err_t acp_server_on_task_create(acp_server_t *s, acp_task_create_cb cb, void *userdata)
{
    handler_fn_t fn = {.task_create = cb};
    return set_handler(s, M_TASK_CREATE, fn, userdata);
}

agentex_err_t acp_server_on_event_send(acp_server_t *s, acp_event_send_cb cb, void *userdata)
{
    handler_fn_t fn = {.event_send = cb};
    return set_handler(s, M_EVENT_SEND, fn, userdata);
}

agentex_err_t acp_server_on_task_cancel(acp_server_t *s, acp_task_cancel_cb cb, void *userdata)
{
    handler_fn_t fn = {.task_cancel = cb};
    return set_handler(s, M_TASK_CANCEL, fn, userdata);
}

agentex_err_t acp_server_on_task_interrupt(acp_server_t *s, acp_task_interrupt_cb cb,
                                           void *userdata)
{
    handler_fn_t fn = {.task_interrupt = cb};
    return set_handler(s, M_TASK_INTERRUPT, fn, userdata);
}

agentex_err_t acp_server_on_message_send(acp_server_t *s, acp_message_send_cb cb, void *userdata)
{
    handler_fn_t fn = {.message_send = cb};
    return set_handler(s, M_MESSAGE_SEND, fn, userdata);
}

int acp_server_port(const acp_server_t *s)
{
    if (!s)
        return 0;
    int p = atomic_load(&((acp_server_t *)s)->bound_port);
    return p > 0 ? p : s->port;
}

const char *acp_server_agent_id(const acp_server_t *s) { return s ? s->agent_id : NULL; }

const char *acp_server_api_key(const acp_server_t *s) { return s ? s->api_key : NULL; }

const char *acp_server_errmsg(const acp_server_t *s) { return s ? s->errmsg : ""; }

/* ---- task entries (cancellation flags) ---- */

static size_t hash_str(const char *s)
{
    size_t h = 5381;
    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

static void entry_free(task_entry_t *e)
{
    agx_free(e->id);
    agx_free(e->tracker_id);
    agx_free(e->cursor_id);
    agx_free(e);
}

static task_entry_t *task_acquire(acp_server_t *s, const char *id)
{
    size_t b = hash_str(id) % TASK_BUCKETS;
    pthread_mutex_lock(&s->tasks_mu);
    task_entry_t *e = s->buckets[b];
    while (e && strcmp(e->id, id) != 0)
        e = e->next;
    if (!e) {
        e = agx_calloc(1, sizeof *e);
        if (e)
            e->id = agx_strdup(id);
        if (!e || !e->id) {
            agx_free(e);
            pthread_mutex_unlock(&s->tasks_mu);
            return NULL;
        }
        atomic_init(&e->cancelled, false);
        e->next = s->buckets[b];
        s->buckets[b] = e;
    }
    e->refs++;
    pthread_mutex_unlock(&s->tasks_mu);
    return e;
}

static void task_release(acp_server_t *s, task_entry_t *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&s->tasks_mu);
    if (--e->refs == 0) {
        task_entry_t **pp = &s->buckets[hash_str(e->id) % TASK_BUCKETS];
        while (*pp && *pp != e)
            pp = &(*pp)->next;
        if (*pp)
            *pp = e->next;
        entry_free(e);
    }
    pthread_mutex_unlock(&s->tasks_mu);
}

/* ---- contexts ---- */

static void free_typed(acp_ctx_t *ctx)
{
    adk_task_free(ctx->task);
    adk_agent_free(ctx->agent);
    adk_event_free(ctx->event);
    adk_content_free(ctx->content);
    ctx->task = NULL;
    ctx->agent = NULL;
    ctx->event = NULL;
    ctx->content = NULL;
}

static void ctx_free(acp_ctx_t *ctx)
{
    if (!ctx)
        return;
    cJSON_Delete(ctx->root);
    free_typed(ctx);
    if (!ctx->fast) /* else in the context's block */
        agx_free(ctx->id_json);
    agx_free(ctx->errmsg);
    agx_free(ctx);
}

agentex_client_t *acp_ctx_client(acp_ctx_t *ctx) { return ctx ? ctx->client : NULL; }

const adk_agent_t *acp_ctx_agent(const acp_ctx_t *ctx) { return ctx ? ctx->agent : NULL; }

const char *acp_ctx_agent_id(const acp_ctx_t *ctx)
{
    if (!ctx)
        return NULL;
    if (ctx->s->agent_id)
        return ctx->s->agent_id;
    return ctx->agent ? adk_agent_id(ctx->agent) : NULL;
}

const adk_task_t *acp_ctx_task(const acp_ctx_t *ctx) { return ctx ? ctx->task : NULL; }

const char *acp_ctx_method(const acp_ctx_t *ctx) { return ctx ? method_names[ctx->kind] : NULL; }

const cJSON *acp_ctx_params(const acp_ctx_t *ctx) { return ctx ? ctx->params : NULL; }

const char *acp_ctx_header(const acp_ctx_t *ctx, const char *name)
{
    if (!ctx || !name || !ctx->params)
        return NULL;
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(ctx->params, "request");
    const cJSON *hdrs =
        cJSON_IsObject(req) ? cJSON_GetObjectItemCaseSensitive(req, "headers") : NULL;
    if (!cJSON_IsObject(hdrs))
        return NULL;
    const cJSON *v = cJSON_GetObjectItem(hdrs, name); /* case-insensitive */
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool acp_task_cancelled(const acp_ctx_t *ctx)
{
    return ctx && ctx->entry && atomic_load(&ctx->entry->cancelled);
}

void acp_ctx_log(const acp_ctx_t *ctx, agentex_log_level_t level, const char *fmt, ...)
{
    if (!fmt || !agx_log_enabled(level))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char *tid = ctx ? ctx->task_id : NULL;
    agx_log(level, "task %s: %s", tid ? tid : "-", line);
}

void acp_ctx_set_error(acp_ctx_t *ctx, const char *fmt, ...)
{
    if (!ctx || !fmt)
        return;
    /* allocated on first use: most handlers never fail, and every queued context pays
     * for its size */
    if (!ctx->errmsg)
        ctx->errmsg = agx_malloc(ACP_CTX_ERRMSG_MAX);
    if (ctx->errmsg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->errmsg, ACP_CTX_ERRMSG_MAX, fmt, ap);
        va_end(ap);
    }
    ctx->has_error = true;
}

/* ---- message/send replies ---- */

static agentex_err_t reply_write(acp_ctx_t *ctx, const char *type, int index, const cJSON *payload)
{
    if (ctx->notification)
        return AGENTEX_OK; /* the notification form answers "null" at the end */
    if (ctx->stream_broken)
        return AGENTEX_ECONNECT;
    char *line = agx_rpc_update_line(ctx->id_json, type, index, payload);
    if (!line)
        return AGENTEX_ENOMEM;
    int rc = agx_http_stream_write(ctx->req, line, strlen(line));
    agx_free(line);
    if (rc != 0) {
        ctx->stream_broken = true;
        return AGENTEX_ECONNECT;
    }
    return AGENTEX_OK;
}

static agentex_err_t reply_check(const acp_ctx_t *ctx, int index)
{
    if (!ctx || index < 0)
        return AGENTEX_EINVAL;
    if (ctx->kind != M_MESSAGE_SEND)
        return AGENTEX_ESTATE;
    return AGENTEX_OK;
}

static agentex_err_t reply_content(acp_ctx_t *ctx, const char *type, int index,
                                   const adk_content_t *content)
{
    agentex_err_t err = reply_check(ctx, index);
    if (err)
        return err;
    if (!content)
        return AGENTEX_EINVAL;
    cJSON *j = NULL;
    err = adk_content_to_json(content, &j);
    if (err)
        return err;
    err = reply_write(ctx, type, index, j);
    cJSON_Delete(j);
    return err;
}

agentex_err_t acp_reply_start(acp_ctx_t *ctx, int index, const adk_content_t *content)
{
    return reply_content(ctx, "start", index, content);
}

agentex_err_t acp_reply_full(acp_ctx_t *ctx, int index, const adk_content_t *content)
{
    return reply_content(ctx, "full", index, content);
}

agentex_err_t acp_reply_delta_text(acp_ctx_t *ctx, int index, const char *text)
{
    agentex_err_t err = reply_check(ctx, index);
    if (err)
        return err;
    if (!text)
        return AGENTEX_EINVAL;
    cJSON *d = cJSON_CreateObject();
    if (!d || !cJSON_AddStringToObject(d, "text_delta", text) ||
        !cJSON_AddStringToObject(d, "type", "text")) {
        cJSON_Delete(d);
        return AGENTEX_ENOMEM;
    }
    err = reply_write(ctx, "delta", index, d);
    cJSON_Delete(d);
    return err;
}

agentex_err_t acp_reply_delta(acp_ctx_t *ctx, int index, const cJSON *delta)
{
    agentex_err_t err = reply_check(ctx, index);
    if (err)
        return err;
    const cJSON *t = cJSON_IsObject(delta) ? cJSON_GetObjectItemCaseSensitive(delta, "type") : NULL;
    if (!cJSON_IsString(t))
        return AGENTEX_EINVAL;
    return reply_write(ctx, "delta", index, delta);
}

agentex_err_t acp_reply_done(acp_ctx_t *ctx, int index)
{
    agentex_err_t err = reply_check(ctx, index);
    if (err)
        return err;
    return reply_write(ctx, "done", index, NULL);
}

/* ---- running handlers (worker threads) ---- */

/* Lowers the calling worker's priority by s->worker_nice.  On Linux the nice value is
 * per thread and who == 0 names the calling thread; a worker inherits the nice value of
 * the thread that created the pool.  Lowering needs no privilege; a failure (a sandbox
 * refusing setpriority) only costs the ack path its head start, so it is logged. */
static void worker_lower_priority(const acp_server_t *s)
{
    if (s->worker_nice <= 0)
        return;
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    if (base == -1 && errno != 0)
        return;
    int target = base + s->worker_nice > 19 ? 19 : base + s->worker_nice;
    if (target != base && setpriority(PRIO_PROCESS, 0, target) != 0)
        AGX_DEBUG("acp: cannot lower a worker's priority to nice %d (errno %d)", target, errno);
}

static void *worker_init(void *userdata)
{
    acp_server_t *s = userdata;
    worker_lower_priority(s);
    agentex_client_t *c = NULL;
    if (agentex_client_dup(s->tmpl, &c) != AGENTEX_OK) {
        AGX_ERROR("acp: could not create a worker's client (out of memory)");
        return NULL;
    }
    return c;
}

static void worker_fini(void *wctx, void *userdata)
{
    (void)userdata;
    agentex_client_free(wctx);
}

/* Frees every context on the reap stack.  Any thread: each caller takes the whole
 * stack at once, so two callers never free the same context. */
static void reap_all(acp_server_t *s)
{
    acp_ctx_t *c = atomic_exchange(&s->reap, NULL);
    while (c) {
        acp_ctx_t *n = c->rnext;
        ctx_free(c);
        c = n;
    }
}

/* Worker side: hands a finished context back to the service thread, which parsed and
 * allocated it (freed there by handlers_done).  Freeing there keeps glibc's allocations
 * on one thread's arena and cache (a worker freeing the service thread's chunks contends
 * for that arena's lock), and takes the cost of freeing the parse tree off the workers,
 * which are the bottleneck under load.  Returns the number of contexts waiting. */
static size_t reap_push(acp_server_t *s, acp_ctx_t *ctx)
{
    acp_ctx_t *head = atomic_load(&s->reap);
    do
        ctx->rnext = head;
    while (!atomic_compare_exchange_weak(&s->reap, &head, ctx));
    return atomic_fetch_add(&s->nreap, 1) + 1;
}

/* ---- auto-cursor (acp_server_set_auto_cursor) ----
 *
 * DESIGN's "durability without Temporal": the backend stores every event before it
 * delivers it, and the tracker keeps a per (task, agent) cursor, so the agent can always
 * ask which events it has not processed yet.  With the option on, an event/send does not
 * call the handler for its own event only: in the task's mailbox, cursor_deliver lists
 * the task's events after the cursor and calls the handler on each, in sequence_id
 * order, moving the cursor past every event whose handler returned AGENTEX_OK.  Events
 * whose delivery failed while the agent was down or busy, and events delivered out of
 * order, are therefore handled in order; an event that arrives again after the list
 * already handled it is skipped.  At start-up cursor_scan_job does the same for every
 * RUNNING or INTERRUPTED task of the agent. */

#define CURSOR_PAGE 100 /* events (and tasks, at start-up) per list call */

/* Reads the task's tracker once per run of queued jobs (the entry lives while the task
 * has any).  Later jobs trust what the earlier ones wrote. */
static agentex_err_t cursor_load(acp_ctx_t *ctx)
{
    task_entry_t *e = ctx->entry;
    if (e->cur_loaded)
        return AGENTEX_OK;
    adk_tracker_t *t = NULL;
    agentex_err_t err =
        adk_tracker_get_by_task_and_agent(ctx->client, ctx->task_id, ctx->s->agent_id, &t);
    if (err)
        return err;
    if (replace_str(&e->tracker_id, adk_tracker_id(t)) ||
        replace_str(&e->cursor_id, adk_tracker_last_processed_event_id(t)))
        err = AGENTEX_ENOMEM;
    adk_tracker_free(t);
    e->cursor_seq = -1;
    e->cur_loaded = err == AGENTEX_OK;
    return err;
}

/* Moves the cursor to ev, keeping the tracker's status and status_reason (the backend
 * overwrites both on every PUT, so adk_tracker_update reads them first). */
static agentex_err_t cursor_commit(acp_ctx_t *ctx, const adk_event_t *ev)
{
    task_entry_t *e = ctx->entry;
    agentex_err_t err =
        adk_tracker_update(ctx->client, e->tracker_id, adk_event_id(ev), NULL, NULL, true, NULL);
    if (!err && replace_str(&e->cursor_id, adk_event_id(ev)))
        err = AGENTEX_ENOMEM;
    if (err) {
        e->cur_loaded = false; /* the next job reads the tracker again */
        return err;
    }
    e->cursor_seq = adk_event_sequence_id(ev);
    return AGENTEX_OK;
}

/* Calls the event handler on ev.  The request's own event keeps its params; an event
 * found in the list gets params of its own (agent and task as the request's, the listed
 * event, and "request": null: it came with no request, so no forwarded headers). */
static agentex_err_t cursor_call(acp_ctx_t *ctx, const adk_event_t *ev, bool own)
{
    agx_free(ctx->errmsg);
    ctx->errmsg = NULL;
    ctx->has_error = false;
    if (own)
        return ctx->h.fn.event_send(ctx, ctx->task, ev, ctx->h.ud);
    cJSON *saved = ctx->params, *params = NULL, *evj = NULL;
    if (adk_event_to_json(ev, &evj) != AGENTEX_OK)
        return AGENTEX_ENOMEM;
    if (!(params = cJSON_CreateObject()) || !cJSON_AddItemToObjectCS(params, "event", evj)) {
        cJSON_Delete(evj);
        cJSON_Delete(params);
        return AGENTEX_ENOMEM;
    }
    if (!cJSON_AddItemReferenceToObject(params, "agent",
                                        cJSON_GetObjectItemCaseSensitive(saved, "agent")) ||
        !cJSON_AddItemReferenceToObject(params, "task",
                                        cJSON_GetObjectItemCaseSensitive(saved, "task")) ||
        !cJSON_AddNullToObject(params, "request")) {
        cJSON_Delete(params);
        return AGENTEX_ENOMEM;
    }
    ctx->params = params;
    agentex_err_t rc = ctx->h.fn.event_send(ctx, ctx->task, ev, ctx->h.ud);
    ctx->params = saved;
    cJSON_Delete(params);
    return rc;
}

/* ev is at or behind the cursor this process moved.  sequence_id values above 2^53 arrive
 * rounded (cJSON reads numbers as doubles); rounding keeps their order, so only equal
 * values are ambiguous, and the event id settles those. */
static bool cursor_passed(const task_entry_t *e, const adk_event_t *ev)
{
    int64_t seq = adk_event_sequence_id(ev);
    return e->cursor_seq >= 0 && (seq < e->cursor_seq || (seq == e->cursor_seq && e->cursor_id &&
                                                          !strcmp(adk_event_id(ev), e->cursor_id)));
}

/* Logs a failed event/send handler; the cursor stays before its event. */
static void cursor_handler_failed(acp_ctx_t *ctx, const adk_event_t *ev, agentex_err_t rc)
{
    agx_log(AGENTEX_LOG_ERROR,
            "task %s: event/send handler failed on event %s (sequence %lld): %s (%s); the "
            "cursor stays before it",
            ctx->task_id, adk_event_id(ev), (long long)adk_event_sequence_id(ev),
            ctx->has_error && ctx->errmsg ? ctx->errmsg : agentex_strerror(rc),
            agentex_err_name(rc));
}

/* The task's pending events, in order, up to the end of the list.  ctx->event is the
 * request's event (NULL for the start-up catch-up).  Logs every failure itself.  When
 * the bookkeeping fails (the tracker or the list cannot be read, the cursor cannot be
 * moved), the request's own event still goes to the handler if it has not yet: the
 * option must never deliver less than the plain mode; the event stays after the cursor
 * and is handled again later (at least once). */
static agentex_err_t cursor_deliver(acp_ctx_t *ctx)
{
    acp_server_t *s = ctx->s;
    task_entry_t *e = ctx->entry;
    const adk_event_t *own = ctx->event;
    const char *own_id = own ? adk_event_id(own) : NULL;
    const char *what = "read the tracker";
    bool seen = false;
    size_t handled = 0;
    agentex_err_t err = cursor_load(ctx);
    if (err)
        goto bookkeeping_failed;
    if (own && cursor_passed(e, own)) {
        AGX_DEBUG("acp: task %s: event %s is behind the cursor: handled already", ctx->task_id,
                  own_id);
        return AGENTEX_OK;
    }
    for (;;) {
        adk_event_list_t *page = NULL;
        what = "list the events after the cursor";
        err = adk_events_list(ctx->client, ctx->task_id, s->agent_id, e->cursor_id, CURSOR_PAGE,
                              &page);
        if (err)
            goto bookkeeping_failed;
        size_t n = adk_event_list_count(page), progress = 0;
        for (size_t i = 0; i < n; i++) {
            const adk_event_t *ev = adk_event_list_at(page, i);
            if (cursor_passed(e, ev))
                continue; /* a backend that ignored the cursor */
            /* stopping: finish up to the acknowledged event; the rest wait in the backend */
            if (atomic_load(&s->stopping) && (!own || seen))
                break;
            bool is_own = own_id && strcmp(adk_event_id(ev), own_id) == 0;
            agentex_err_t rc = cursor_call(ctx, ev, is_own);
            if (rc != AGENTEX_OK) {
                cursor_handler_failed(ctx, ev, rc);
                adk_event_list_free(page);
                return rc;
            }
            seen = seen || is_own;
            handled++;
            progress++;
            what = "move the cursor past a handled event (it will be handled again)";
            if ((err = cursor_commit(ctx, ev)) != AGENTEX_OK) {
                adk_event_list_free(page);
                goto bookkeeping_failed;
            }
        }
        adk_event_list_free(page);
        if (n < CURSOR_PAGE || progress == 0 || (atomic_load(&s->stopping) && (!own || seen)))
            break;
    }
    if (own && !seen && !atomic_load(&s->stopping))
        AGX_INFO("acp: task %s: event %s was not after the tracker's cursor: handled already",
                 ctx->task_id, own_id);
    if (handled > (own && seen ? 1u : 0u))
        AGX_INFO("acp: task %s: auto-cursor delivered %zu event(s)", ctx->task_id, handled);
    return AGENTEX_OK;

bookkeeping_failed:
    agx_log(AGENTEX_LOG_ERROR, "task %s: auto-cursor: cannot %s: %s%s", ctx->task_id, what,
            agentex_client_errmsg(ctx->client),
            own && !seen ? "; handling the request's own event without the cursor" : "");
    if (own && !seen) {
        agentex_err_t rc = cursor_call(ctx, own, true);
        if (rc != AGENTEX_OK)
            cursor_handler_failed(ctx, own, rc);
        return rc;
    }
    return err;
}

/* A start-up catch-up of one task (no request behind it): cursor_deliver, then free. */
static void cursor_task_job(void *wctx, void *arg)
{
    acp_ctx_t *ctx = arg;
    ctx->client = wctx;
    tl_current_server = ctx->s;
    (void)cursor_deliver(ctx);
    tl_current_server = NULL;
    task_release(ctx->s, ctx->entry);
    ctx_free(ctx);
}

/* Queues the catch-up of task t in its mailbox.  Returns 0 when queued. */
static int cursor_queue_task(acp_server_t *s, const adk_task_t *t)
{
    acp_ctx_t *ctx = agx_calloc(1, sizeof *ctx);
    cJSON *task_json = NULL;
    if (!ctx)
        return -1;
    ctx->s = s;
    ctx->kind = M_EVENT_SEND;
    ctx->h = s->handlers[M_EVENT_SEND];
    ctx->root = cJSON_CreateObject();
    if (!ctx->root || adk_task_to_json(t, &task_json) != AGENTEX_OK ||
        !cJSON_AddItemToObjectCS(ctx->root, "task", task_json)) {
        cJSON_Delete(task_json);
        goto fail;
    }
    cJSON *agent = s->agent_json ? cJSON_Duplicate(s->agent_json, 1) : cJSON_CreateNull();
    if (!agent || !cJSON_AddItemToObjectCS(ctx->root, "agent", agent)) {
        cJSON_Delete(agent);
        goto fail;
    }
    if (!cJSON_AddNullToObject(ctx->root, "event") ||
        !cJSON_AddNullToObject(ctx->root, "request") ||
        adk_task_from_json(task_json, &ctx->task) != AGENTEX_OK)
        goto fail;
    if (adk_agent_from_json(agent, &ctx->agent) != AGENTEX_OK)
        ctx->agent = NULL; /* an answer without every field: acp_ctx_agent gives NULL */
    ctx->params = ctx->root;
    if (!(ctx->entry = task_acquire(s, adk_task_id(t))))
        goto fail;
    ctx->task_id = ctx->entry->id;
    if (agx_pool_submit(s->pool, ctx->task_id, cursor_task_job, ctx) == AGENTEX_OK)
        return 0;
    task_release(s, ctx->entry);
fail:
    ctx_free(ctx);
    return -1;
}

/* Start-up (a job of its own): queues the catch-up of every open task of the agent,
 * RUNNING or INTERRUPTED (the backend forwards event/send whatever the task's status,
 * protocol 7.6; a finished task's missed events wait for its next event/send).  One list
 * per status: the filter takes one value. */
static void cursor_scan_job(void *wctx, void *arg)
{
    static const char *const statuses[] = {"RUNNING", "INTERRUPTED"};
    acp_server_t *s = arg;
    agentex_client_t *c = wctx;
    size_t queued = 0, failed = 0;
    for (size_t k = 0; k < sizeof statuses / sizeof statuses[0]; k++) {
        for (int page = 1; !atomic_load(&s->stopping); page++) {
            const agx_adk_filter_t f[] = {{"agent_id", s->agent_id, true},
                                          {"status", statuses[k], false}};
            adk_list_opts_t o = {CURSOR_PAGE, page, "created_at", "asc"};
            adk_task_list_t *l = NULL;
            if (agx_adk_list(c, "acp auto-cursor", "/tasks", f, 2, &o, &agx_adk_task_list, &l)) {
                agx_log(AGENTEX_LOG_ERROR,
                        "acp: auto-cursor: cannot list the agent's %s tasks: %s; their missed "
                        "events are handled with their next event/send",
                        statuses[k], agentex_client_errmsg(c));
                break;
            }
            size_t n = adk_task_list_count(l);
            for (size_t i = 0; i < n; i++) {
                if (cursor_queue_task(s, adk_task_list_at(l, i)) == 0)
                    queued++;
                else
                    failed++;
            }
            adk_task_list_free(l);
            if (n < CURSOR_PAGE)
                break;
        }
    }
    if (failed)
        agx_log(AGENTEX_LOG_ERROR,
                "acp: auto-cursor: %zu task(s) not caught up (stopping or out of memory)", failed);
    AGX_INFO("acp: auto-cursor: catching up %zu task(s)", queued);
}

static void backlog_done(acp_server_t *s, size_t nreap);
static agentex_err_t build_typed(acp_ctx_t *ctx);
static int fill_kept_headers(const acp_ctx_t *ctx, cJSON *params);

static void job_run(void *wctx, void *arg)
{
    acp_ctx_t *ctx = arg;
    acp_server_t *s = ctx->s;
    ctx->client = wctx;
    agentex_err_t rc = AGENTEX_OK;
    if (ctx->fast) {
        /* the service thread only scanned the body: the tree is made here */
        ctx->root = agx_json_parse(ctx->body, ctx->body_len);
        ctx->params = cJSON_GetObjectItemCaseSensitive(ctx->root, "params");
        if (!ctx->root || !cJSON_IsObject(ctx->params) || fill_kept_headers(ctx, ctx->params)) {
            agx_log(AGENTEX_LOG_ERROR, "task %s: acknowledged %s dropped: %s", ctx->task_id,
                    method_names[ctx->kind], "out of memory");
            goto done;
        }
    }
    if (ctx->fast) {
        /* the service thread checked params; the objects are built here, off its path */
        rc = build_typed(ctx);
        if (rc != AGENTEX_OK) {
            agx_log(AGENTEX_LOG_ERROR, "task %s: acknowledged %s dropped: %s", ctx->task_id,
                    method_names[ctx->kind],
                    rc == AGENTEX_ENOMEM ? "out of memory" : "params failed the typed parse");
            goto done;
        }
    }
    tl_current_server = s;
    bool logged = false; /* cursor_deliver logs its own failures */
    switch (ctx->kind) {
    case M_TASK_CREATE: {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(ctx->params, "params");
        rc = ctx->h.fn.task_create(ctx, ctx->task, cJSON_IsObject(p) ? p : NULL, ctx->h.ud);
        break;
    }
    case M_EVENT_SEND:
        if (s->auto_cursor) {
            rc = cursor_deliver(ctx);
            logged = true;
        } else {
            rc = ctx->h.fn.event_send(ctx, ctx->task, ctx->event, ctx->h.ud);
        }
        break;
    case M_TASK_CANCEL:
        rc = ctx->h.fn.task_cancel(ctx, ctx->task, ctx->h.ud);
        break;
    case M_TASK_INTERRUPT:
        rc = ctx->h.fn.task_interrupt(ctx, ctx->task, ctx->h.ud);
        break;
    case M_MESSAGE_SEND:
        rc = ctx->h.fn.message_send(ctx, ctx->task, ctx->content, ctx->h.ud);
        break;
    case M_COUNT:
        break;
    }
    tl_current_server = NULL;
    const char *msg = ctx->has_error && ctx->errmsg ? ctx->errmsg : agentex_strerror(rc);
    if (rc != AGENTEX_OK && !logged)
        agx_log(AGENTEX_LOG_ERROR, "task %s: %s handler failed: %s (%s)", ctx->task_id,
                method_names[ctx->kind], msg, agentex_err_name(rc));
    if (ctx->kind == M_MESSAGE_SEND) {
        if (ctx->notification) {
            (void)agx_http_respond(ctx->req, 200, "application/json", NULL, "null", 4);
        } else {
            if (rc != AGENTEX_OK && !ctx->stream_broken) {
                char *line = agx_rpc_error(
                    ctx->id_json,
                    rc == AGENTEX_EINVAL ? AGX_RPC_INVALID_PARAMS : AGX_RPC_INTERNAL_ERROR, msg);
                if (line) {
                    size_t n = strlen(line);
                    /* agx_rpc_error gives no newline: add one (NDJSON) */
                    char *l2 = agx_realloc(line, n + 2);
                    if (l2) {
                        l2[n] = '\n';
                        l2[n + 1] = '\0';
                        (void)agx_http_stream_write(ctx->req, l2, n + 1);
                        line = l2;
                    }
                    agx_free(line);
                }
            }
            (void)agx_http_stream_end(ctx->req);
        }
    }
done:
    if (ctx->fast) { /* this thread built them: freed here, not by reap_all */
        free_typed(ctx);
        cJSON_Delete(ctx->root);
        ctx->root = NULL;
        ctx->params = NULL;
    }
    agx_free(ctx->errmsg);
    ctx->errmsg = NULL;
    task_release(s, ctx->entry);
    backlog_done(s, reap_push(s, ctx));
}

/* ---- the service thread ---- */

static const char oom_reply[] =
    "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":-32603,\"message\":\"out of "
    "memory\",\"data\":null},\"id\":null}";

static void respond_json(agx_http_req_t *r, char *body)
{
    if (!body) {
        (void)agx_http_respond(r, 200, "application/json", NULL, oom_reply, sizeof oom_reply - 1);
        return;
    }
    (void)agx_http_respond(r, 200, "application/json", NULL, body, strlen(body));
    agx_free(body);
}

static void respond_rpc_error(agx_http_req_t *r, const char *id_json, int code, const char *msg)
{
    respond_json(r, agx_rpc_error(id_json, code, msg));
}

static void handle_healthz(acp_server_t *s, agx_http_req_t *r)
{
    agx_buf_t b;
    agx_buf_init(&b);
    int rc = agx_buf_puts(&b, "{\"status\":\"healthy\"");
    if (rc == 0 && s->agent_id) {
        rc = agx_buf_puts(&b, ",\"agent_id\":");
        if (rc == 0)
            rc = agx_json_escape(&b, s->agent_id);
    }
    if (rc == 0)
        rc = agx_buf_puts(&b, "}");
    if (rc != 0) {
        agx_buf_free(&b);
        (void)agx_http_respond(r, 500, "application/json", NULL, "{\"detail\":\"out of memory\"}",
                               26);
        return;
    }
    (void)agx_http_respond(r, 200, "application/json", NULL, b.data, b.len);
    agx_buf_free(&b);
}

/* Adds one forwarded header to *hdrs (created on first use); a repeated name: the last
 * one wins.  -1 on ENOMEM. */
static int add_header(cJSON **hdrs, const char *name, const char *value)
{
    if (!*hdrs && !(*hdrs = cJSON_CreateObject()))
        return -1;
    cJSON *v = cJSON_CreateString(value ? value : "");
    if (!v)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(*hdrs, name))
        cJSON_ReplaceItemInObjectCaseSensitive(*hdrs, name, v);
    else if (!cJSON_AddItemToObject(*hdrs, name, v)) {
        cJSON_Delete(v);
        return -1;
    }
    return 0;
}

/* params.request = {"headers": hdrs} when hdrs (taken) is not NULL.  -1 on ENOMEM. */
static int attach_headers(cJSON *params, cJSON *hdrs)
{
    if (!hdrs)
        return 0;
    cJSON *req = cJSON_CreateObject();
    if (!req) {
        cJSON_Delete(hdrs);
        return -1;
    }
    cJSON_AddItemToObject(req, "headers", hdrs);
    if (cJSON_GetObjectItemCaseSensitive(params, "request"))
        cJSON_ReplaceItemInObjectCaseSensitive(params, "request", req);
    else
        cJSON_AddItemToObject(params, "request", req);
    return 0;
}

/* Fills params.request = {"headers":{...}} with the forwarded headers (protocol 2.11),
 * when at least one survives.  -1 on ENOMEM. */
static int fill_request_headers(agx_http_req_t *r, cJSON *params)
{
    cJSON *hdrs = NULL;
    size_t n = agx_http_req_header_count(r);
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL, *value = NULL;
        agx_http_req_header_at(r, i, &name, &value);
        if (name && agx_acp_header_forwarded(name) && add_header(&hdrs, name, value) != 0) {
            cJSON_Delete(hdrs);
            return -1;
        }
    }
    return attach_headers(params, hdrs);
}

/* The same from the pairs a fast-path context kept.  Worker. */
static int fill_kept_headers(const acp_ctx_t *ctx, cJSON *params)
{
    cJSON *hdrs = NULL;
    const char *p = ctx->hdrs;
    for (size_t i = 0; i < ctx->nhdrs; i++) {
        const char *name = p, *value = p + strlen(p) + 1;
        p = value + strlen(value) + 1;
        if (add_header(&hdrs, name, value) != 0) {
            cJSON_Delete(hdrs);
            return -1;
        }
    }
    return attach_headers(params, hdrs);
}

/* ---- params: checked on the service thread, typed on the worker ---- */

/* What the typed parsers (adk_agent/task/event_from_json) require of each field, so that
 * the service thread can check params without building the objects: a queued request
 * then holds its parse tree only, and the worker builds the objects (build_typed). */
#define VNELEM(a) (sizeof(a) / sizeof((a)[0]))

enum vkind { V_STR, V_TIME, V_OBJ, V_SEQ, V_CONTENT };

typedef struct vfield {
    const char *key;
    unsigned char kind;
    bool required; /* absent or null fails */
} vfield_t;

static const vfield_t agent_vfields[] = {
    {"id", V_STR, true},
    {"docker_image", V_STR, false},
    {"name", V_STR, true},
    {"description", V_STR, false},
    {"acp_type", V_STR, false},
    {"status", V_STR, false},
    {"status_reason", V_STR, false},
    {"acp_url", V_STR, false},
    {"created_at", V_TIME, false},
    {"updated_at", V_TIME, false},
    {"registration_metadata", V_OBJ, false},
    {"registered_at", V_TIME, false},
    {"agent_input_type", V_STR, false},
    {"production_deployment_id", V_STR, false},
    {"agent_api_key", V_STR, false},
};

static const vfield_t task_vfields[] = {
    {"id", V_STR, true},
    {"name", V_STR, false},
    {"status", V_STR, false},
    {"status_reason", V_STR, false},
    {"created_at", V_TIME, false},
    {"updated_at", V_TIME, false},
    {"cleaned_at", V_TIME, false},
    {"params", V_OBJ, false},
    {"task_metadata", V_OBJ, false},
};

static const vfield_t event_vfields[] = {
    {"id", V_STR, true},       {"sequence_id", V_SEQ, true},  {"task_id", V_STR, true},
    {"agent_id", V_STR, true}, {"created_at", V_TIME, false}, {"content", V_CONTENT, false},
};

/* A non-negative integer that fits int64_t exactly (the typed parsers' rule). */
static bool v_seq_ok(const cJSON *it)
{
    if (!cJSON_IsNumber(it))
        return false;
    double d = it->valuedouble;
    if (!(d >= 0.0 && d < 9223372036854775808.0))
        return false; /* also NaN */
    return (double)(int64_t)d == d;
}

/* AGENTEX_OK, AGENTEX_EPROTO (a field is missing or has the wrong type or value) or
 * AGENTEX_ENOMEM (content is checked by parsing it).  Only the first member with a
 * given key counts, as in cJSON_GetObjectItemCaseSensitive. */
static agentex_err_t check_fields(const cJSON *obj, const vfield_t *f, size_t n)
{
    uint32_t seen = 0;
    for (const cJSON *it = obj->child; it; it = it->next) {
        if (!it->string)
            continue;
        size_t i = 0;
        while (i < n && (f[i].key[0] != it->string[0] || strcmp(f[i].key, it->string) != 0))
            i++;
        if (i == n || (seen & (UINT32_C(1) << i)))
            continue;
        seen |= UINT32_C(1) << i;
        if (cJSON_IsNull(it)) {
            if (f[i].required)
                return AGENTEX_EPROTO;
            continue;
        }
        int64_t t;
        switch ((enum vkind)f[i].kind) {
        case V_STR:
            if (!cJSON_IsString(it) || !it->valuestring)
                return AGENTEX_EPROTO;
            break;
        case V_TIME:
            if (!cJSON_IsString(it) || !it->valuestring ||
                adk_time_parse(it->valuestring, &t) != AGENTEX_OK)
                return AGENTEX_EPROTO;
            break;
        case V_OBJ:
            if (!cJSON_IsObject(it))
                return AGENTEX_EPROTO;
            break;
        case V_SEQ:
            if (!v_seq_ok(it))
                return AGENTEX_EPROTO;
            break;
        case V_CONTENT: {
            adk_content_t *c = NULL;
            agentex_err_t err = adk_content_from_json(it, &c);
            adk_content_free(c);
            if (err)
                return err == AGENTEX_ENOMEM ? err : AGENTEX_EPROTO;
            break;
        }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (f[i].required && !(seen & (UINT32_C(1) << i)))
            return AGENTEX_EPROTO;
    return AGENTEX_OK;
}

/* Builds the typed objects from the (checked) params.  Any thread. */
static agentex_err_t build_typed(acp_ctx_t *ctx)
{
    const cJSON *p = ctx->params;
    agentex_err_t err =
        adk_agent_from_json(cJSON_GetObjectItemCaseSensitive(p, "agent"), &ctx->agent);
    if (!err)
        err = adk_task_from_json(cJSON_GetObjectItemCaseSensitive(p, "task"), &ctx->task);
    if (!err && ctx->kind == M_EVENT_SEND)
        err = adk_event_from_json(cJSON_GetObjectItemCaseSensitive(p, "event"), &ctx->event);
    if (!err && ctx->kind == M_MESSAGE_SEND && !ctx->content)
        err = adk_content_from_json(cJSON_GetObjectItemCaseSensitive(p, "content"), &ctx->content);
    return err;
}

static int invalid(char *msg, size_t msglen, const char *what, agentex_err_t err)
{
    if (err == AGENTEX_ENOMEM)
        return 1;
    snprintf(msg, msglen, "Invalid params: %s: %s", what, agentex_strerror(err));
    return AGX_RPC_INVALID_PARAMS;
}

/* The full path's params check and build (service thread).  0, or a JSON-RPC error code
 * with a message in msg (1 = ENOMEM).  Sets ctx->task_id and builds the typed objects
 * (the fast path checks by the same rules and leaves the build to the worker). */
static int check_params(acp_ctx_t *ctx, char *msg, size_t msglen)
{
    cJSON *p = ctx->params;
    if (!cJSON_IsObject(p)) {
        snprintf(msg, msglen, "Invalid params: params must be an object");
        return AGX_RPC_INVALID_PARAMS;
    }
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(p, "task");
    const cJSON *agent = cJSON_GetObjectItemCaseSensitive(p, "agent");
    if (!cJSON_IsObject(agent)) {
        snprintf(msg, msglen, "Invalid params: params.agent must be an object");
        return AGX_RPC_INVALID_PARAMS;
    }
    if (!cJSON_IsObject(task)) {
        snprintf(msg, msglen, "Invalid params: params.task must be an object");
        return AGX_RPC_INVALID_PARAMS;
    }
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(task, "id");
    if (!cJSON_IsString(tid) || !tid->valuestring[0]) {
        snprintf(msg, msglen, "Invalid params: params.task.id must be a non-empty string");
        return AGX_RPC_INVALID_PARAMS;
    }
    ctx->task_id = tid->valuestring;
    agentex_err_t err = check_fields(agent, agent_vfields, VNELEM(agent_vfields));
    if (err)
        return invalid(msg, msglen, "params.agent", err);
    err = check_fields(task, task_vfields, VNELEM(task_vfields));
    if (err)
        return invalid(msg, msglen, "params.task", err);
    if (ctx->kind == M_TASK_CREATE) {
        const cJSON *pp = cJSON_GetObjectItemCaseSensitive(p, "params");
        if (pp && !cJSON_IsNull(pp) && !cJSON_IsObject(pp)) {
            snprintf(msg, msglen, "Invalid params: params.params must be an object or null");
            return AGX_RPC_INVALID_PARAMS;
        }
    } else if (ctx->kind == M_EVENT_SEND) {
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(p, "event");
        if (!cJSON_IsObject(ev)) {
            snprintf(msg, msglen, "Invalid params: params.event must be an object");
            return AGX_RPC_INVALID_PARAMS;
        }
        err = check_fields(ev, event_vfields, VNELEM(event_vfields));
        if (err)
            return invalid(msg, msglen, "params.event", err);
    } else if (ctx->kind == M_MESSAGE_SEND) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(p, "content");
        if (!cJSON_IsObject(c)) {
            snprintf(msg, msglen, "Invalid params: params.content must be an object");
            return AGX_RPC_INVALID_PARAMS;
        }
        err = adk_content_from_json(c, &ctx->content);
        if (err)
            return invalid(msg, msglen, "params.content", err);
    }
    err = build_typed(ctx);
    if (err) /* checked above: only ENOMEM is left */
        return invalid(msg, msglen, "params", err);
    return 0;
}

/* ---- the fast path: checking a request without building its tree ----
 *
 * Most requests are well-formed async calls.  For them the service thread only scans the
 * body (a strict JSON checker that builds nothing) and checks the envelope and the params
 * by the rules check_params applies; the queued job then holds one block (the context, the
 * body bytes, the task id, the forwarded headers) and the worker parses the body and
 * builds the objects.  The scanner accepts a subset of what cJSON accepts (RFC 8259
 * JSON, no \u0000, bounded depth, plain keys) and only when every check of the full path
 * would pass: anything else, errors included, declines the fast path and the request
 * takes the full path (agx_rpc_parse + check_params), which answers exactly as before. */

#define FP_MAX_DEPTH 64

static const char *fp_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int fp_hex4(const char *p, const char *e, unsigned *out)
{
    if (e - p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* p at '"': the position after the closing quote, or NULL.  *esc: it holds escapes. */
static const char *fp_string(const char *p, const char *e, bool *esc)
{
    *esc = false;
    for (p++; p < e;) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c != '\\') {
            p++;
            continue;
        }
        *esc = true;
        if (++p >= e)
            return NULL;
        switch (*p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p++;
            break;
        case 'u': {
            unsigned u, u2;
            if (fp_hex4(p + 1, e, &u) != 0 || u == 0 || (u >= 0xDC00 && u <= 0xDFFF))
                return NULL;
            p += 5;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || fp_hex4(p + 2, e, &u2) != 0 ||
                    u2 < 0xDC00 || u2 > 0xDFFF)
                    return NULL;
                p += 6;
            }
            break;
        }
        default:
            return NULL;
        }
    }
    return NULL;
}

/* An RFC 8259 number of at most 63 bytes (cJSON reads that many). */
static const char *fp_number(const char *p, const char *e)
{
    const char *s = p;
    if (p < e && *p == '-')
        p++;
    if (p >= e || *p < '0' || *p > '9')
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    if (p < e && *p == '.') {
        if (++p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return NULL;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    return p - s <= 63 ? p : NULL;
}

static const char *fp_value(const char *p, const char *e, int depth)
{
    if (p >= e)
        return NULL;
    switch (*p) {
    case '"': {
        bool esc;
        return fp_string(p, e, &esc);
    }
    case '{':
    case '[': {
        bool obj = *p == '{';
        char close = obj ? '}' : ']';
        if (depth >= FP_MAX_DEPTH)
            return NULL;
        p = fp_ws(p + 1, e);
        if (p < e && *p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                bool esc;
                if (p >= e || *p != '"' || !(p = fp_string(p, e, &esc)))
                    return NULL;
                p = fp_ws(p, e);
                if (p >= e || *p != ':')
                    return NULL;
                p = fp_ws(p + 1, e);
            }
            if (!(p = fp_value(p, e, depth + 1)))
                return NULL;
            p = fp_ws(p, e);
            if (p >= e)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p = fp_ws(p + 1, e);
        }
    }
    case 't':
        return e - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return e - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return e - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    default:
        return fp_number(p, e);
    }
}

/* A value inside the checked text: [p, e) with p at its first byte; p NULL: absent. */
typedef struct fp_span {
    const char *p, *e;
} fp_span_t;

/* What fp_walk extracts from an object: for each key, the first member's value; a key
 * with a nested schema is walked by that schema (when its value is an object). */
typedef struct fp_obj {
    size_t n;
    const char *const *keys;
    fp_span_t *vals;
    struct fp_obj *const *sub; /* NULL, or per key NULL / a schema */
} fp_obj_t;

/*
 * Checks the object at p (at '{') and fills o->vals.  Every byte is read once: the
 * members of a nested schema are checked by its own walk.  NULL: declined (not JSON the
 * scanner takes, or a key with an escape: it might decode to one of the keys).
 */
static const char *fp_walk(const char *p, const char *e, const fp_obj_t *o, int depth)
{
    if (depth >= FP_MAX_DEPTH)
        return NULL;
    p = fp_ws(p + 1, e);
    if (p < e && *p == '}')
        return p + 1;
    for (;;) {
        bool esc;
        const char *ke;
        if (p >= e || *p != '"' || !(ke = fp_string(p, e, &esc)) || esc)
            return NULL;
        const char *ks = p + 1;
        size_t kl = (size_t)(ke - 1 - ks);
        p = fp_ws(ke, e);
        if (p >= e || *p != ':')
            return NULL;
        p = fp_ws(p + 1, e);
        size_t i = 0;
        while (i < o->n &&
               (o->keys[i][0] != *ks || strncmp(o->keys[i], ks, kl) != 0 || o->keys[i][kl] != '\0'))
            i++;
        const char *vs = p;
        if (i < o->n && !o->vals[i].p && o->sub && o->sub[i] && p < e && *p == '{')
            p = fp_walk(p, e, o->sub[i], depth + 1);
        else
            p = fp_value(p, e, depth + 1);
        if (!p)
            return NULL;
        if (i < o->n && !o->vals[i].p) {
            o->vals[i].p = vs;
            o->vals[i].e = p;
        }
        p = fp_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == '}')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = fp_ws(p + 1, e);
    }
}

static bool fp_is(fp_span_t v, char first) { return v.p && v.p < v.e && *v.p == first; }
static bool fp_null(fp_span_t v) { return v.p && v.e - v.p == 4 && memcmp(v.p, "null", 4) == 0; }
static bool fp_absent_or_null(fp_span_t v) { return !v.p || fp_null(v); }

/* A string value without escapes: its bytes (between the quotes) in *s, *n. */
static bool fp_plain_str(fp_span_t v, const char **s, size_t *n)
{
    if (!fp_is(v, '"') || memchr(v.p + 1, '\\', (size_t)(v.e - v.p - 2)))
        return false;
    *s = v.p + 1;
    *n = (size_t)(v.e - v.p - 2);
    return true;
}

static bool fp_str_eq(fp_span_t v, const char *lit)
{
    const char *s;
    size_t n;
    return fp_plain_str(v, &s, &n) && n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* text content without attachments, the common case (content_parse's rules); the rest
 * declines.  m: type, author, style, format, content, attachments. */
static bool fp_content_ok(const fp_span_t *m)
{
    return fp_str_eq(m[0], "text") && (fp_str_eq(m[1], "user") || fp_str_eq(m[1], "agent")) &&
           (fp_absent_or_null(m[2]) || fp_str_eq(m[2], "static") || fp_str_eq(m[2], "active")) &&
           (fp_absent_or_null(m[3]) || fp_str_eq(m[3], "plain") || fp_str_eq(m[3], "markdown") ||
            fp_str_eq(m[3], "code")) &&
           fp_is(m[4], '"') && fp_absent_or_null(m[5]);
}

/* The typed parsers' rule for one field, on the fast path (false: decline).  content:
 * the members of the field's object, when it is V_CONTENT. */
static bool fp_field_ok(fp_span_t v, const vfield_t *f, const fp_span_t *content)
{
    if (!v.p || fp_null(v))
        return !f->required;
    char buf[64];
    const char *s;
    size_t n;
    switch ((enum vkind)f->kind) {
    case V_STR:
        return fp_is(v, '"');
    case V_TIME: {
        int64_t t;
        if (!fp_plain_str(v, &s, &n) || n >= sizeof buf)
            return false;
        memcpy(buf, s, n);
        buf[n] = '\0';
        return adk_time_parse(buf, &t) == AGENTEX_OK;
    }
    case V_OBJ:
        return fp_is(v, '{');
    case V_SEQ: {
        n = (size_t)(v.e - v.p);
        if (n >= sizeof buf || !(*v.p == '-' || (*v.p >= '0' && *v.p <= '9')))
            return false;
        memcpy(buf, v.p, n);
        buf[n] = '\0';
        cJSON num; /* the value cJSON gives it: strtod of the same text */
        memset(&num, 0, sizeof num);
        num.type = cJSON_Number;
        num.valuedouble = strtod(buf, NULL);
        return v_seq_ok(&num);
    }
    case V_CONTENT:
        return content && fp_is(v, '{') && fp_content_ok(content);
    }
    return false;
}

static bool fp_fields_ok(fp_span_t o, const vfield_t *f, size_t n, const fp_span_t *vals,
                         const fp_span_t *content)
{
    if (!fp_is(o, '{'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!fp_field_ok(vals[i], &f[i], content))
            return false;
    return true;
}

static void fp_keys(const vfield_t *f, size_t n, const char **keys)
{
    for (size_t i = 0; i < n; i++)
        keys[i] = f[i].key;
}

bool agx_acp_fast_scan(const char *body, size_t len, agx_acp_fast_t *out)
{
    memset(out, 0, sizeof *out);
    if (!body)
        return false;
    static const char *const env_keys[] = {"jsonrpc", "method", "id", "params"};
    static const char *const par_keys[] = {"agent", "task", "event", "params"};
    static const char *const con_keys[] = {"type",   "author",  "style",
                                           "format", "content", "attachments"};
    const char *ak[VNELEM(agent_vfields)], *tk[VNELEM(task_vfields)], *ek[VNELEM(event_vfields)];
    fp_keys(agent_vfields, VNELEM(ak), ak);
    fp_keys(task_vfields, VNELEM(tk), tk);
    fp_keys(event_vfields, VNELEM(ek), ek);
    fp_span_t env[4], par[4], av[VNELEM(agent_vfields)], tv[VNELEM(task_vfields)],
        ev[VNELEM(event_vfields)], cv[6];
    memset(env, 0, sizeof env);
    memset(par, 0, sizeof par);
    memset(av, 0, sizeof av);
    memset(tv, 0, sizeof tv);
    memset(ev, 0, sizeof ev);
    memset(cv, 0, sizeof cv);
    fp_obj_t con = {6, con_keys, cv, NULL};
    fp_obj_t *const ev_sub[VNELEM(event_vfields)] = {[5] = &con}; /* "content" */
    fp_obj_t ag = {VNELEM(ak), ak, av, NULL}, ta = {VNELEM(tk), tk, tv, NULL};
    fp_obj_t evo = {VNELEM(ek), ek, ev, ev_sub};
    fp_obj_t *const par_sub[4] = {&ag, &ta, &evo, NULL};
    fp_obj_t pa = {4, par_keys, par, par_sub};
    fp_obj_t *const env_sub[4] = {NULL, NULL, NULL, &pa};
    fp_obj_t top = {4, env_keys, env, env_sub};

    const char *e = body + len, *p = fp_ws(body, e);
    if (p >= e || *p != '{')
        return false;
    const char *end = fp_walk(p, e, &top, 0);
    if (!end || fp_ws(end, e) != e)
        return false;
    if (env[0].p && !fp_str_eq(env[0], "2.0"))
        return false;
    const char *s;
    size_t n;
    if (!fp_plain_str(env[1], &s, &n))
        return false;
    int kind = -1;
    for (int i = 0; i < M_COUNT; i++)
        if (strlen(method_names[i]) == n && memcmp(method_names[i], s, n) == 0)
            kind = i;
    if (kind < 0 || kind == M_MESSAGE_SEND)
        return false;
    out->kind = kind;
    if (env[2].p && !fp_null(env[2])) {
        if (!fp_is(env[2], '"') && !(*env[2].p == '-' || (*env[2].p >= '0' && *env[2].p <= '9')))
            return false;
        out->id = env[2].p;
        out->id_len = (size_t)(env[2].e - env[2].p);
    }
    /* check_params' order; the first failing check declines */
    if (!fp_is(env[3], '{') || !fp_is(par[0], '{') || !fp_is(par[1], '{') ||
        !fp_plain_str(tv[0], &s, &n) || n == 0) /* task_vfields[0]: "id" */
        return false;
    out->task_id = s;
    out->task_id_len = n;
    if (!fp_fields_ok(par[0], agent_vfields, VNELEM(agent_vfields), av, NULL) ||
        !fp_fields_ok(par[1], task_vfields, VNELEM(task_vfields), tv, NULL))
        return false;
    if (kind == M_EVENT_SEND && !fp_fields_ok(par[2], event_vfields, VNELEM(event_vfields), ev, cv))
        return false;
    if (kind == M_TASK_CREATE && !(fp_absent_or_null(par[3]) || fp_is(par[3], '{')))
        return false;
    return true;
}

/* A request that will not be queued after all: its task reference, its context and
 * its share of the backlog are given back. */
static void unadmit(acp_server_t *s, acp_ctx_t *ctx)
{
    task_release(s, ctx->entry);
    ctx_free(ctx);
    atomic_fetch_sub(&s->inflight, 1);
}

/* Answers (or starts the stream of) a validated request and queues its handler.
 * Service thread.  Takes ctx (its task entry acquired). */
static void admit(acp_server_t *s, acp_ctx_t *ctx, agx_http_req_t *r, const char *key)
{
    atomic_fetch_add(&s->inflight, 1);
    if (ctx->kind == M_MESSAGE_SEND) {
        ctx->req = r;
        if (!ctx->notification)
            (void)agx_http_stream_begin(r, 200, "application/x-ndjson",
                                        "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n");
        agentex_err_t err = agx_pool_submit(s->pool, key, job_run, ctx);
        if (err) {
            AGX_ERROR("acp: task %s: could not queue message/send: %s", ctx->task_id,
                      agentex_strerror(err));
            if (ctx->notification) {
                respond_rpc_error(r, ctx->id_json, AGX_RPC_INTERNAL_ERROR, agentex_strerror(err));
            } else {
                char *line =
                    agx_rpc_error(ctx->id_json, AGX_RPC_INTERNAL_ERROR, agentex_strerror(err));
                if (line) {
                    (void)agx_http_stream_write(r, line, strlen(line));
                    (void)agx_http_stream_write(r, "\n", 1);
                    agx_free(line);
                }
                (void)agx_http_stream_end(r);
            }
            unadmit(s, ctx);
        }
        return; /* else the job owns ctx */
    }

    /* async methods: the acknowledgement goes out before the handler can run */
    char *ack = ctx->notification ? agx_rpc_null_result() : agx_rpc_ack(ctx->id_json);
    if (!ack) { /* not acknowledged: the handler must not run */
        respond_json(r, NULL);
        unadmit(s, ctx);
        return;
    }
    respond_json(r, ack);
    AGX_DEBUG("acp: task %s: %s acknowledged", ctx->task_id, method_names[ctx->kind]);
    agentex_err_t err = agx_pool_submit(s->pool, key, job_run, ctx);
    if (err) {
        AGX_ERROR("acp: task %s: acknowledged %s dropped: %s", ctx->task_id,
                  method_names[ctx->kind], agentex_strerror(err));
        unadmit(s, ctx);
    }
}

/* Answers a held request without queueing it: the server is stopping, or the client
 * went away while it waited (then nothing was acknowledged and the answer is lost). */
static void refuse_deferred(acp_server_t *s, acp_ctx_t *ctx)
{
    respond_rpc_error(ctx->dreq, ctx->id_json, AGX_RPC_INTERNAL_ERROR, "Server is shutting down");
    task_release(s, ctx->entry);
    ctx_free(ctx);
}

/* Admits held requests, oldest first, while the backlog is under the limit.  Service
 * thread (directly, or posted by a worker whose handler brought the backlog down). */
static void resume_deferred(acp_server_t *s)
{
    while (s->dhead) {
        bool stop = atomic_load(&s->stopping);
        if (!stop && atomic_load(&s->inflight) >= s->max_pending)
            return;
        acp_ctx_t *ctx = s->dhead;
        s->dhead = ctx->dnext;
        if (!s->dhead)
            s->dtail = NULL;
        atomic_fetch_sub(&s->ndeferred, 1);
        ctx->dnext = NULL;
        if (stop || agx_http_req_closed(ctx->dreq))
            refuse_deferred(s, ctx);
        else
            admit(s, ctx, ctx->dreq, ctx->dkey);
    }
}

/* Service thread, at every sweep of the HTTP server (at most 1 s apart): admits held
 * requests for which slots are free but too few to have woken the thread (see
 * backlog_done), so that once a slot is free a held request waits at most one sweep,
 * even while the other handlers keep running. */
static void on_tick(void *arg)
{
    acp_server_t *s = arg;
    if (s->dhead)
        resume_deferred(s);
}

/* Service thread, posted by a worker: frees the finished contexts and admits held
 * requests. */
static void handlers_done(void *arg)
{
    acp_server_t *s = arg;
    atomic_store(&s->posted, false);
    atomic_store(&s->nreap, 0);
    reap_all(s);
    resume_deferred(s);
}

#define REAP_BATCH 64 /* finished contexts worth a wake-up of the service thread */

/* Worker side: a handler finished (its context is on the reap stack, nreap of them).
 * Wakes the service thread once per batch, not per handler: when requests are held and
 * enough slots are free again to admit all of them, or 1/16 of the limit (at least one)
 * if that is fewer; when REAP_BATCH contexts wait to be freed; or when no handler is
 * left (so that an idle server holds nothing).  Under sustained overload, waking it
 * every few finished handlers cost the service thread more CPU than the requests
 * themselves: CPU the handlers then lacked. */
static void backlog_done(acp_server_t *s, size_t nreap)
{
    size_t left = atomic_fetch_sub(&s->inflight, 1) - 1;
    size_t held = atomic_load(&s->ndeferred);
    size_t batch = s->max_pending / 16; /* free slots worth a wake-up */
    if (batch == 0)
        batch = 1;
    if (held && held < batch)
        batch = held;
    bool resume = held > 0 && left + batch <= s->max_pending;
    if (!resume && nreap < REAP_BATCH && left > 0)
        return;
    if (atomic_exchange(&s->posted, true))
        return;
    if (agx_httpd_post(s->httpd, handlers_done, s) != 0) {
        atomic_store(&s->posted, false);
        reap_all(s); /* the loop has stopped: free here; the drain answers held requests */
    }
}

/* Service thread: queues the request now, or holds it while the backlog is full (or
 * older requests are held: arrival order is kept).  A held request keeps its
 * connection busy, so the server reads nothing more from that connection until it
 * is answered. */
static void admit_or_defer(acp_server_t *s, acp_ctx_t *ctx, agx_http_req_t *r, const char *key)
{
    if (!s->dhead && atomic_load(&s->inflight) < s->max_pending) {
        admit(s, ctx, r, key);
        return;
    }
    ctx->dreq = r;
    ctx->dkey = key;
    ctx->dnext = NULL;
    if (s->dtail)
        s->dtail->dnext = ctx;
    else
        s->dhead = ctx;
    s->dtail = ctx;
    atomic_fetch_add(&s->ndeferred, 1);
    /* a worker may have finished between the check above and the count: look again
     * (both sides use sequentially consistent atomics, so one of them sees the other) */
    resume_deferred(s);
}
/* The fast path (see agx_acp_fast_scan): true when it took the request (admitted or
 * held).  false leaves the request to the full path, which answers it. */
static bool fast_admit(acp_server_t *s, agx_http_req_t *r, const char *body, size_t len)
{
    agx_acp_fast_t f;
    if (!agx_acp_fast_scan(body, len, &f))
        return false;
    if (s->auth_check && s->api_key && s->api_key[0]) {
        const char *k = agx_http_req_header(r, "x-agent-api-key");
        if (!k || !agx_str_equal_ct(k, s->api_key))
            return false;
    }
    pthread_mutex_lock(&s->mu);
    handler_t h = s->handlers[f.kind];
    pthread_mutex_unlock(&s->mu);
    if (!h.fn.any || atomic_load(&s->stopping))
        return false;
    /* one block: the context, the body, the id, the task id, the forwarded headers */
    size_t nh = agx_http_req_header_count(r), nfw = 0, hbytes = 0;
    for (size_t i = 0; i < nh; i++) {
        const char *name = NULL, *value = NULL;
        agx_http_req_header_at(r, i, &name, &value);
        if (name && agx_acp_header_forwarded(name)) {
            nfw++;
            hbytes += strlen(name) + strlen(value ? value : "") + 2;
        }
    }
    const char *id = f.id ? f.id : "null";
    size_t idl = f.id ? f.id_len : 4;
    acp_ctx_t *ctx = agx_malloc(sizeof *ctx + len + 1 + idl + 1 + f.task_id_len + 1 + hbytes);
    if (!ctx)
        return false;
    memset(ctx, 0, sizeof *ctx);
    char *p = (char *)(ctx + 1);
    ctx->body = p;
    ctx->body_len = len;
    memcpy(p, body, len);
    p[len] = '\0';
    p += len + 1;
    ctx->id_json = p;
    memcpy(p, id, idl);
    p[idl] = '\0';
    p += idl + 1;
    ctx->task_id = p;
    memcpy(p, f.task_id, f.task_id_len);
    p[f.task_id_len] = '\0';
    p += f.task_id_len + 1;
    ctx->hdrs = p;
    ctx->nhdrs = nfw;
    for (size_t i = 0; i < nh; i++) {
        const char *name = NULL, *value = NULL;
        agx_http_req_header_at(r, i, &name, &value);
        if (name && agx_acp_header_forwarded(name)) {
            size_t a = strlen(name) + 1, b = strlen(value ? value : "") + 1;
            memcpy(p, name, a);
            memcpy(p + a, value ? value : "", b);
            p += a + b;
        }
    }
    ctx->s = s;
    ctx->kind = (enum method_kind)f.kind;
    ctx->h = h;
    ctx->notification = f.id == NULL;
    ctx->fast = true;
    ctx->entry = task_acquire(s, ctx->task_id);
    if (!ctx->entry) {
        agx_free(ctx);
        return false;
    }
    if (ctx->kind == M_TASK_CANCEL)
        atomic_store(&ctx->entry->cancelled, true);
    admit_or_defer(s, ctx, r, s->delivery == ACP_DELIVERY_PER_TASK ? ctx->task_id : NULL);
    return true;
}

static void handle_api(acp_server_t *s, agx_http_req_t *r)
{
    size_t len = 0;
    const char *body = agx_http_req_body(r, &len);
    /* While few handlers are outstanding the full path is best: the service thread
     * parses and builds while the workers run, and a handler starts with its objects
     * ready.  Beyond that the backlog grows: the fast path acknowledges sooner and a
     * queued job holds its body bytes only (about 1 KiB instead of 6 for an event). */
    if (atomic_load(&s->inflight) >= s->eager_max && fast_admit(s, r, body, len))
        return;
    agx_rpc_req_t rq;
    char *emsg = NULL;
    acp_ctx_t *ctx = NULL;
    int rc = agx_rpc_parse(body, len, &rq, &emsg);
    if (rc == 1) {
        respond_json(r, NULL);
        goto out;
    }
    if (rc != 0) {
        AGX_DEBUG("acp: rejected request: %s", emsg);
        respond_rpc_error(r, rq.id_json, rc, emsg);
        goto out;
    }
    /* the x-agent-api-key check (protocol 2.12): after parsing, before method lookup */
    if (s->auth_check && s->api_key && s->api_key[0]) {
        const char *k = agx_http_req_header(r, "x-agent-api-key");
        if (!k || !agx_str_equal_ct(k, s->api_key)) {
            AGX_WARN("acp: %s refused: %s x-agent-api-key", rq.method, k ? "wrong" : "missing");
            respond_rpc_error(r, rq.id_json, AGX_RPC_METHOD_NOT_FOUND, "Unauthorized");
            goto out;
        }
    }
    enum method_kind kind = M_COUNT;
    for (int i = 0; i < M_COUNT; i++)
        if (strcmp(rq.method, method_names[i]) == 0)
            kind = (enum method_kind)i;
    handler_t h = {{0}, NULL};
    if (kind != M_COUNT) {
        pthread_mutex_lock(&s->mu);
        h = s->handlers[kind];
        pthread_mutex_unlock(&s->mu);
    }
    if (kind == M_COUNT || !h.fn.any) {
        agx_buf_t m;
        agx_buf_init(&m);
        if (agx_buf_printf(&m, "Method %s not found", rq.method) != 0)
            respond_json(r, NULL);
        else
            respond_rpc_error(r, rq.id_json, AGX_RPC_METHOD_NOT_FOUND, m.data);
        agx_buf_free(&m);
        goto out;
    }
    if (atomic_load(&s->stopping)) {
        respond_rpc_error(r, rq.id_json, AGX_RPC_INTERNAL_ERROR, "Server is shutting down");
        goto out;
    }

    ctx = agx_calloc(1, sizeof *ctx);
    if (!ctx) {
        respond_json(r, NULL);
        goto out;
    }
    ctx->s = s;
    ctx->kind = kind;
    ctx->h = h;
    ctx->notification = rq.notification;
    ctx->root = rq.root;
    ctx->params = rq.params;
    ctx->id_json = rq.id_json;
    rq.root = NULL;
    rq.id_json = NULL;
    char msg[256];
    rc = check_params(ctx, msg, sizeof msg);
    if (rc == 0 && fill_request_headers(r, ctx->params) != 0)
        rc = 1;
    if (rc == 1) {
        respond_json(r, NULL);
        goto out;
    }
    if (rc != 0) {
        AGX_DEBUG("acp: %s rejected: %s", rq.method, msg);
        respond_rpc_error(r, ctx->id_json, rc, msg);
        goto out;
    }
    ctx->entry = task_acquire(s, ctx->task_id);
    if (!ctx->entry) {
        respond_json(r, NULL);
        goto out;
    }
    if (kind == M_TASK_CANCEL)
        atomic_store(&ctx->entry->cancelled, true);
    const char *key = s->delivery == ACP_DELIVERY_PER_TASK ? ctx->task_id : NULL;
    admit_or_defer(s, ctx, r, key);
    ctx = NULL; /* admitted, deferred or answered and freed */
out:
    ctx_free(ctx);
    agx_rpc_req_clear(&rq);
    agx_free(emsg);
}

static void on_request(agx_http_req_t *r, void *userdata)
{
    acp_server_t *s = userdata;
    const char *method = agx_http_req_method(r), *path = agx_http_req_path(r);
    if (method && path && strcmp(path, "/healthz") == 0 && strcmp(method, "GET") == 0)
        handle_healthz(s, r);
    else if (method && path && strcmp(path, "/api") == 0 && strcmp(method, "POST") == 0)
        handle_api(s, r);
    else
        (void)agx_http_respond(r, 404, "application/json", NULL, "{\"detail\":\"Not Found\"}", 22);
}

/* ---- registration ---- */

agentex_err_t agx_acp_registration_body(const acp_server_t *s, int port, cJSON **out)
{
    if (!s || !out)
        return AGENTEX_EINVAL;
    *out = NULL;
    agentex_err_t err = AGENTEX_ENOMEM;
    agx_buf_t url, desc;
    agx_buf_init(&url);
    agx_buf_init(&desc);
    cJSON *principal = NULL, *meta = NULL;
    unsigned char *raw = NULL;
    cJSON *b = cJSON_CreateObject();
    if (!b)
        goto out;
    const char *acp_url = s->acp_url && s->acp_url[0] ? s->acp_url : "http://localhost";
    size_t ul = strlen(acp_url);
    while (ul > 0 && acp_url[ul - 1] == '/')
        ul--;
    if (agx_buf_append(&url, acp_url, ul) || agx_buf_printf(&url, ":%d", port))
        goto out;
    if (s->description) {
        if (agx_buf_puts(&desc, s->description))
            goto out;
    } else if (agx_buf_printf(&desc, "Generic description for agent: %s", s->name ? s->name : "")) {
        goto out;
    }
    if (s->principal_b64 && s->principal_b64[0]) {
        size_t n = 0;
        raw = agx_base64_decode(s->principal_b64, &n);
        if (raw) {
            const char *end = NULL;
            principal = cJSON_ParseWithLengthOpts((const char *)raw, n, &end, false);
        }
        if (!principal)
            AGX_WARN("acp: AUTH_PRINCIPAL_B64 is not base64 JSON; principal_context is null");
    }
    if (s->deployment_id && s->deployment_id[0]) {
        meta = cJSON_CreateObject();
        if (!meta || !cJSON_AddStringToObject(meta, "deployment_id", s->deployment_id))
            goto out;
    }
    if (!cJSON_AddStringToObject(b, "name", s->name ? s->name : "") ||
        !cJSON_AddStringToObject(b, "description", desc.data) ||
        !cJSON_AddStringToObject(b, "acp_url", url.data) ||
        !cJSON_AddStringToObject(b, "acp_type", s->acp_type ? s->acp_type : "async"))
        goto out;
    if (principal) {
        cJSON_AddItemToObject(b, "principal_context", principal);
        principal = NULL;
    } else if (!cJSON_AddNullToObject(b, "principal_context")) {
        goto out;
    }
    if (meta) {
        cJSON_AddItemToObject(b, "registration_metadata", meta);
        meta = NULL;
    } else if (!cJSON_AddNullToObject(b, "registration_metadata")) {
        goto out;
    }
    if (s->input_type && s->input_type[0] &&
        !cJSON_AddStringToObject(b, "agent_input_type", s->input_type))
        goto out;
    if (s->agent_id_env && s->agent_id_env[0] &&
        !cJSON_AddStringToObject(b, "agent_id", s->agent_id_env))
        goto out;
    *out = b;
    b = NULL;
    err = AGENTEX_OK;
out:
    cJSON_Delete(b);
    cJSON_Delete(principal);
    cJSON_Delete(meta);
    agx_free(raw);
    agx_buf_free(&url);
    agx_buf_free(&desc);
    return err;
}

/* Sleeps ms, waking early when stop is requested.  false when stopped. */
static bool sleep_unless_stopped(acp_server_t *s, long ms)
{
    int64_t until = agx_now_ms() + ms;
    while (!atomic_load(&s->stop_flag)) {
        int64_t left = until - agx_now_ms();
        if (left <= 0)
            return true;
        struct timespec ts = {0, (left > 50 ? 50 : left) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* ---- the backend version guard (protocol 3.2, as the Python SDK) ---- */

#define MIN_BACKEND_MAJOR 0
#define MIN_BACKEND_MINOR 1
#define MIN_BACKEND_PATCH 0
#define VERSION_TEXT_(n) #n
#define VERSION_TEXT(n) VERSION_TEXT_(n)
#define MIN_BACKEND_VERSION                                                                        \
    VERSION_TEXT(MIN_BACKEND_MAJOR)                                                                \
    "." VERSION_TEXT(MIN_BACKEND_MINOR) "." VERSION_TEXT(MIN_BACKEND_PATCH)

/* One SemVer number: digits, no leading zero (but "0"). */
static const char *semver_num(const char *p, long *out)
{
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return NULL;
    long n = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (n > (LONG_MAX - 9) / 10)
            return NULL;
        n = n * 10 + (*p - '0');
    }
    *out = n;
    return p;
}

/* -1 older than MIN_BACKEND_VERSION, 0 not older, -2 not a SemVer ("1.2.3", optionally
 * "-pre" and/or "+build"; a pre-release is older than its release). */
int agx_acp_version_older(const char *v)
{
    long x[3];
    const char *p = v;
    for (int i = 0; i < 3; i++) {
        if (!p || !(p = semver_num(p, &x[i])))
            return -2;
        if (i < 2 && *p++ != '.')
            return -2;
    }
    if (*p && *p != '-' && *p != '+')
        return -2;
    if (*p == '-' && !p[1])
        return -2;
    const long min[3] = {MIN_BACKEND_MAJOR, MIN_BACKEND_MINOR, MIN_BACKEND_PATCH};
    for (int i = 0; i < 3; i++)
        if (x[i] != min[i])
            return x[i] < min[i] ? -1 : 0;
    return *p == '-' ? -1 : 0; /* the minimum's own pre-release is older */
}

static bool env_true(const char *var)
{
    const char *v = getenv(var);
    return v && (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
                 !strcasecmp(v, "on"));
}

/* GET {base}/openapi.json (5 s), info.version: start-up fails only on a SemVer older than
 * MIN_BACKEND_VERSION; an unreachable backend or another answer is a warning.
 * AGENTEX_SKIP_VERSION_CHECK=1/true/yes/on skips it. */
static agentex_err_t version_guard(acp_server_t *s)
{
    if (env_true("AGENTEX_SKIP_VERSION_CHECK")) {
        AGX_DEBUG("acp: backend version check skipped (AGENTEX_SKIP_VERSION_CHECK)");
        return AGENTEX_OK;
    }
    agentex_client_t *c = NULL;
    cJSON *doc = NULL;
    agentex_err_t err = agentex_client_new(s->base_url, &c); /* the URL was checked before */
    if (!err && !(err = agentex_client_set_timeouts(c, 0, 5000)))
        err = agentex_client_set_retries(c, 0, 0, 0);
    if (err) {
        agentex_client_free(c);
        return err;
    }
    err = agx_client_request(c, "GET", "/openapi.json", NULL, NULL, &doc);
    const cJSON *info = err ? NULL : cJSON_GetObjectItemCaseSensitive(doc, "info");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(info, "version");
    int older = cJSON_IsString(ver) ? agx_acp_version_older(ver->valuestring) : -2;
    if (err)
        AGX_WARN("acp: cannot read the backend version (%s); continuing", agentex_client_errmsg(c));
    else if (older == -2)
        AGX_WARN("acp: %s/openapi.json has no SemVer info.version; continuing", s->base_url);
    else
        AGX_DEBUG("acp: backend version %s", ver->valuestring);
    if (older == -1) {
        set_errmsg(s,
                   "the backend at %s is version %s, older than " MIN_BACKEND_VERSION
                   " (set AGENTEX_SKIP_VERSION_CHECK=1 to start anyway)",
                   s->base_url, ver->valuestring);
        err = AGENTEX_EPROTO;
    } else {
        err = AGENTEX_OK;
    }
    cJSON_Delete(doc);
    agentex_client_free(c);
    return err;
}

static agentex_err_t do_register(acp_server_t *s, int port)
{
    agentex_client_t *c = NULL;
    cJSON *body = NULL, *resp = NULL;
    agentex_err_t err = agx_acp_registration_body(s, port, &body);
    if (err) {
        set_errmsg(s, "registration: %s", agentex_strerror(err));
        goto out;
    }
    err = agentex_client_new(s->base_url, &c);
    if (err) {
        set_errmsg(s, "registration: bad backend URL \"%s\": %s", s->base_url,
                   agentex_strerror(err));
        goto out;
    }
    if ((err = version_guard(s)) != AGENTEX_OK ||
        (err = agentex_client_set_timeouts(c, 0, 30000)) != AGENTEX_OK)
        goto out;
    long delay = s->reg_delay_ms;
    for (int attempt = 1; attempt <= s->reg_attempts; attempt++) {
        if (atomic_load(&s->stop_flag)) {
            err = AGENTEX_ECANCELED;
            set_errmsg(s, "registration interrupted by acp_server_stop");
            goto out;
        }
        cJSON_Delete(resp);
        resp = NULL;
        err = agx_client_request(c, "POST", "/agents/register", NULL, body, &resp);
        if (err == AGENTEX_OK) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(resp, "id");
            const cJSON *key = cJSON_GetObjectItemCaseSensitive(resp, "agent_api_key");
            if (!cJSON_IsString(id) || !id->valuestring[0]) {
                err = AGENTEX_EPROTO;
                set_errmsg(s, "registration with %s: the response has no agent id", s->base_url);
                goto out;
            }
            if (replace_str(&s->agent_id, id->valuestring) ||
                (cJSON_IsString(key) && key->valuestring[0] &&
                 replace_str(&s->api_key, key->valuestring))) {
                err = AGENTEX_ENOMEM;
                goto out;
            }
            /* the agent object of the handlers the auto-cursor catch-up calls; the key
             * is a secret, and not part of an Agent */
            cJSON_DeleteItemFromObjectCaseSensitive(resp, "agent_api_key");
            cJSON_Delete(s->agent_json);
            s->agent_json = resp;
            resp = NULL;
            AGX_INFO("acp: registered agent %s as %s", s->name, s->agent_id);
            goto out;
        }
        set_errmsg(s, "agent registration at %s/agents/register failed after %d attempt%s: %s",
                   s->base_url, attempt, attempt == 1 ? "" : "s", agentex_client_errmsg(c));
        AGX_WARN("acp: registration attempt %d/%d failed: %s", attempt, s->reg_attempts,
                 agentex_client_errmsg(c));
        if (attempt < s->reg_attempts) {
            if (!sleep_unless_stopped(s, delay)) {
                err = AGENTEX_ECANCELED;
                set_errmsg(s, "registration interrupted by acp_server_stop");
                goto out;
            }
            delay = delay > LONG_MAX / 2 ? delay : delay * 2;
        }
    }
out:
    cJSON_Delete(body);
    cJSON_Delete(resp);
    agentex_client_free(c);
    return err;
}

/* ---- start, serve, stop ---- */

static agentex_err_t build_template_client(acp_server_t *s)
{
    const char *base = s->base_url && s->base_url[0] ? s->base_url : NULL;
    agentex_err_t err = agentex_client_new(base, &s->tmpl);
    if (err) {
        set_errmsg(s, "bad backend URL \"%s\": %s", s->base_url ? s->base_url : "",
                   agentex_strerror(err));
        return err;
    }
    if (s->sdk_key && s->sdk_key[0] &&
        (err = agentex_client_set_sdk_api_key(s->tmpl, s->sdk_key)) != AGENTEX_OK)
        return err;
    if (s->custom_headers) {
        const char *p = s->custom_headers;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            char *line = agx_strndup(p, n);
            if (!line)
                return AGENTEX_ENOMEM;
            char *colon = strchr(line, ':');
            if (colon) {
                *colon = '\0';
                char *name = line, *value = colon + 1;
                while (*name == ' ' || *name == '\t')
                    name++;
                size_t nl2 = strlen(name);
                while (nl2 && (name[nl2 - 1] == ' ' || name[nl2 - 1] == '\t'))
                    name[--nl2] = '\0';
                while (*value == ' ' || *value == '\t')
                    value++;
                size_t vl = strlen(value);
                while (vl && (value[vl - 1] == '\r' || value[vl - 1] == ' '))
                    value[--vl] = '\0';
                if (*name && agentex_client_set_header(s->tmpl, name, value) != AGENTEX_OK)
                    AGX_WARN("acp: ignoring AGENTEX_CUSTOM_HEADERS line \"%s\"", name);
            }
            agx_free(line);
            p += n;
            if (*p == '\n')
                p++;
        }
    }
    return AGENTEX_OK;
}

static void drain_pipe(acp_server_t *s)
{
    char buf[64];
    while (read(s->stop_pipe[0], buf, sizeof buf) > 0)
        ;
}

typedef struct barrier {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    acp_server_t *s;
} barrier_t;

static void barrier_fn(void *arg)
{
    barrier_t *b = arg;
    resume_deferred(b->s); /* stopping: refuses the requests still held */
    pthread_mutex_lock(&b->mu);
    b->done = true;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void noop_fn(void *arg) { (void)arg; }

static void *supervisor_main(void *arg)
{
    acp_server_t *s = arg;
    agx_thread_name("agx-supervisor");
    while (!atomic_load(&s->stop_flag)) {
        struct pollfd pfd = {.fd = s->stop_pipe[0], .events = POLLIN, .revents = 0};
        if (poll(&pfd, 1, -1) > 0)
            drain_pipe(s);
    }
    AGX_INFO("acp: stopping: draining %zu queued handler(s)", agx_pool_pending(s->pool));
    atomic_store(&s->stopping, true);
    /* once this runs on the service thread, no request can be queued any more */
    barrier_t b = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, s};
    if (agx_httpd_post(s->httpd, barrier_fn, &b) == 0) {
        pthread_mutex_lock(&b.mu);
        while (!b.done)
            pthread_cond_wait(&b.cv, &b.mu);
        pthread_mutex_unlock(&b.mu);
    }
    agx_pool_shutdown(s->pool);
    agx_httpd_stop(s->httpd);
    /* a queued no-op wakes the service loop at once (lws_cancel_service) */
    (void)agx_httpd_post(s->httpd, noop_fn, NULL);
    return NULL;
}

static void cleanup_run(acp_server_t *s)
{
    agx_pool_free(s->pool);
    s->pool = NULL;
    agx_httpd_free(s->httpd);
    s->httpd = NULL;
    agentex_client_free(s->tmpl);
    s->tmpl = NULL;
    atomic_store(&s->bound_port, 0);
    pthread_mutex_lock(&s->mu);
    s->state = ST_IDLE;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Binds, registers, starts the workers and the supervisor. */
static agentex_err_t prepare(acp_server_t *s)
{
    agentex_err_t err;
    s->errmsg[0] = '\0';
    bool registering = s->base_url && s->base_url[0];
    if (registering) {
        if (!agx_acp_name_valid(s->name)) {
            set_errmsg(s,
                       "agent name %s%s%s must match ^[a-z0-9-]+$ (set AGENT_NAME or call "
                       "acp_server_set_agent)",
                       s->name ? "\"" : "", s->name ? s->name : "(unset)", s->name ? "\"" : "");
            err = AGENTEX_EINVAL;
            goto fail;
        }
        if (!acp_type_valid(s->acp_type)) {
            set_errmsg(s, "ACP type \"%s\" is not sync, async or agentic",
                       s->acp_type ? s->acp_type : "");
            err = AGENTEX_EINVAL;
            goto fail;
        }
    }
    if (s->auto_cursor && !registering) {
        set_errmsg(s, "auto-cursor needs a backend to register with (AGENTEX_BASE_URL): the "
                      "cursor is the agent's tracker there");
        err = AGENTEX_EINVAL;
        goto fail;
    }
    if (s->auto_cursor && s->delivery != ACP_DELIVERY_PER_TASK) {
        set_errmsg(s, "auto-cursor needs per-task delivery: a task's events are handled in "
                      "order, one at a time");
        err = AGENTEX_EINVAL;
        goto fail;
    }
    if ((err = build_template_client(s)) != AGENTEX_OK) {
        if (!s->errmsg[0])
            set_errmsg(s, "client set-up: %s", agentex_strerror(err));
        goto fail;
    }
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.host = s->host;
    cfg.port = s->port;
    cfg.max_body = s->max_body;
    cfg.header_timeout_ms = s->header_ms;
    cfg.idle_timeout_ms = s->idle_ms;
    cfg.on_request = on_request;
    cfg.on_tick = on_tick;
    cfg.userdata = s;
    err = agx_httpd_new(&cfg, &s->httpd);
    if (err) {
        set_errmsg(s, "cannot listen on %s:%d: %s", s->host, s->port, agentex_strerror(err));
        goto fail;
    }
    atomic_store(&s->bound_port, agx_httpd_port(s->httpd));
    if (registering && (err = do_register(s, acp_server_port(s))) != AGENTEX_OK)
        goto fail;
    if (s->api_key && (err = agentex_client_set_agent_api_key(s->tmpl, s->api_key)) != AGENTEX_OK)
        goto fail;
    err = agx_pool_new(s->workers, worker_init, worker_fini, s, &s->pool);
    if (err) {
        set_errmsg(s, "cannot start %d worker threads: %s", s->workers, agentex_strerror(err));
        goto fail;
    }
    if (pthread_create(&s->supervisor, NULL, supervisor_main, s) != 0) {
        err = AGENTEX_ENOMEM;
        set_errmsg(s, "cannot start the supervisor thread");
        goto fail;
    }
    s->have_supervisor = true;
    AGX_INFO("acp: serving on %s:%d (%s delivery%s, %d workers)", s->host, acp_server_port(s),
             s->delivery == ACP_DELIVERY_PER_TASK ? "per-task" : "concurrent",
             s->auto_cursor ? ", auto-cursor" : "", s->workers);
    /* the catch-up runs beside the requests: both go through the tasks' mailboxes */
    if (s->auto_cursor && s->handlers[M_EVENT_SEND].fn.any &&
        agx_pool_submit(s->pool, NULL, cursor_scan_job, s) != AGENTEX_OK)
        AGX_ERROR("acp: auto-cursor: could not queue the start-up catch-up (out of memory)");
    return AGENTEX_OK;
fail:
    if (err == AGENTEX_ECANCELED) /* stopped while registering: a clean stop */
        err = AGENTEX_OK;
    if (s->pool) {
        agx_pool_shutdown(s->pool);
    }
    reap_all(s);
    atomic_store(&s->nreap, 0);
    cleanup_run(s);
    return err;
}

/* After the HTTP loop returned. */
static void finish(acp_server_t *s)
{
    if (s->have_supervisor) {
        acp_server_stop(s); /* in case the loop ended on its own */
        pthread_join(s->supervisor, NULL);
        s->have_supervisor = false;
    }
    atomic_store(&s->stopping, true);
    resume_deferred(s); /* a loop that ended on its own: refuse what is still held */
    reap_all(s);        /* the workers have stopped */
    atomic_store(&s->nreap, 0);
    atomic_store(&s->inflight, 0);
    atomic_store(&s->posted, false);
    cleanup_run(s);
}

static agentex_err_t begin(acp_server_t *s)
{
    if (!s)
        return AGENTEX_EINVAL;
    if (tl_current_server == s)
        return AGENTEX_ESTATE;
    pthread_mutex_lock(&s->mu);
    if (s->state != ST_IDLE) {
        pthread_mutex_unlock(&s->mu);
        return AGENTEX_ESTATE;
    }
    s->state = ST_ACTIVE;
    pthread_mutex_unlock(&s->mu);
    s->stopped_start = false;
    atomic_store(&s->stop_flag, false);
    atomic_store(&s->stopping, false);
    drain_pipe(s);
    return AGENTEX_OK;
}

static void on_signal(int sig)
{
    (void)sig;
    acp_server_t *s = atomic_load(&signal_server);
    if (s)
        acp_server_stop(s);
}

agentex_err_t acp_server_run(acp_server_t *s)
{
    agentex_err_t err = begin(s);
    if (err)
        return err;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    atomic_store(&signal_server, s);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    bool stopped_early = false;
    err = prepare(s);
    if (err == AGENTEX_OK && s->httpd == NULL)
        stopped_early = true; /* stopped during registration */
    if (err == AGENTEX_OK && !stopped_early) {
        err = agx_httpd_run(s->httpd);
        if (err)
            set_errmsg(s, "the HTTP service loop failed: %s", agentex_strerror(err));
        finish(s);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    acp_server_t *expected = s;
    atomic_compare_exchange_strong(&signal_server, &expected, NULL);
    return err;
}

static void *run_thread_main(void *arg)
{
    acp_server_t *s = arg;
    agx_thread_name("agx-httpd");
    agentex_err_t err = prepare(s);
    bool serving = err == AGENTEX_OK && s->httpd != NULL;
    pthread_mutex_lock(&s->mu);
    s->start_phase = serving ? 1 : 2;
    s->start_err = err;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!serving) {
        s->run_result = err;
        return NULL;
    }
    err = agx_httpd_run(s->httpd);
    if (err)
        set_errmsg(s, "the HTTP service loop failed: %s", agentex_strerror(err));
    finish(s);
    s->run_result = err;
    return NULL;
}

agentex_err_t acp_server_start(acp_server_t *s)
{
    agentex_err_t err = begin(s);
    if (err)
        return err;
    if (s->have_run_thread) { /* a previous start that was never waited for */
        pthread_join(s->run_thread, NULL);
        s->have_run_thread = false;
    }
    s->start_phase = 0;
    if (pthread_create(&s->run_thread, NULL, run_thread_main, s) != 0) {
        set_errmsg(s, "cannot start the server thread");
        pthread_mutex_lock(&s->mu);
        s->state = ST_IDLE;
        pthread_mutex_unlock(&s->mu);
        return AGENTEX_ENOMEM;
    }
    s->have_run_thread = true;
    pthread_mutex_lock(&s->mu);
    while (s->start_phase == 0)
        pthread_cond_wait(&s->cv, &s->mu);
    int phase = s->start_phase;
    err = s->start_err;
    pthread_mutex_unlock(&s->mu);
    if (phase == 2) {
        pthread_join(s->run_thread, NULL);
        s->have_run_thread = false;
        /* AGENTEX_OK here: stopped during registration; like a stop after start, the
         * result is collected by acp_server_wait */
        s->stopped_start = err == AGENTEX_OK;
        return err;
    }
    return AGENTEX_OK;
}

agentex_err_t acp_server_wait(acp_server_t *s)
{
    if (!s)
        return AGENTEX_EINVAL;
    if (tl_current_server == s)
        return AGENTEX_ESTATE;
    if (!s->have_run_thread) {
        if (!s->stopped_start)
            return AGENTEX_ESTATE;
        s->stopped_start = false;
        return AGENTEX_OK;
    }
    pthread_join(s->run_thread, NULL);
    s->have_run_thread = false;
    return s->run_result;
}

void acp_server_stop(acp_server_t *s)
{
    if (!s)
        return;
    int saved = errno; /* async-signal-safe: an atomic store and a write() */
    atomic_store(&s->stop_flag, true);
    if (s->stop_pipe[1] >= 0) {
        ssize_t n = write(s->stop_pipe[1], "x", 1);
        (void)n;
    }
    errno = saved;
}

agentex_err_t acp_server_free(acp_server_t *s)
{
    if (!s)
        return AGENTEX_OK;
    if (tl_current_server == s)
        return AGENTEX_ESTATE;
    acp_server_stop(s);
    if (s->have_run_thread) {
        pthread_join(s->run_thread, NULL);
        s->have_run_thread = false;
    }
    /* acp_server_run on another thread: wait until it has drained */
    pthread_mutex_lock(&s->mu);
    while (s->state != ST_IDLE)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < TASK_BUCKETS; i++) {
        task_entry_t *e = s->buckets[i];
        while (e) {
            task_entry_t *n = e->next;
            entry_free(e);
            e = n;
        }
    }
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->tasks_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    agx_free(s->name);
    agx_free(s->description);
    agx_free(s->acp_type);
    agx_free(s->base_url);
    agx_free(s->acp_url);
    agx_free(s->api_key);
    agx_free(s->agent_id_env);
    agx_free(s->input_type);
    agx_free(s->principal_b64);
    agx_free(s->deployment_id);
    agx_free(s->sdk_key);
    agx_free(s->custom_headers);
    agx_free(s->host);
    agx_free(s->agent_id);
    cJSON_Delete(s->agent_json);
    agx_free(s);
    return AGENTEX_OK;
}
