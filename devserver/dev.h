/*
 * devserver/dev.h - agentex-dev, a single-binary local Agentex backend.
 *
 * Layout: main.c (command line, start/stop), store.c (SQLite), util.c (ids, clocks,
 * JSON and HTTP helpers), rest.c (REST routes), rpc.c (client JSON-RPC and forwarding
 * to agents), hub.c (SSE / websocket task streams, publish endpoint), health.c (agent
 * health probes), relay.c (--redis-url: task streams read from Redis).
 *
 * Threads: the HTTP service thread runs every REST handler (SQLite work only, no
 * network I/O).  Everything that talks to an agent runs on a job thread (dev_spawn)
 * and answers with agx_http_respond / agx_http_stream_* from there.  The SQLite
 * connection is guarded by dev->dbmu (dev_lock / dev_unlock).
 */
#ifndef AGX_DEVSERVER_H
#define AGX_DEVSERVER_H

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "http_server.h"
#include "internal.h"
#include "pool.h"

#define DEV_VERSION "0.1.0"

typedef struct dev_hub dev_hub_t;
typedef struct dev_relays dev_relays_t;
typedef struct dev_relay dev_relay_t;

typedef struct dsrv {
    sqlite3 *db;
    pthread_mutex_t dbmu;
    agx_httpd_t *httpd;
    dev_hub_t *hub;
    dev_relays_t *relays; /* --redis-url; NULL: in-process streams */
    long health_interval_ms;
    long health_timeout_ms;
    long ping_interval_ms;
    long rpc_timeout_ms;
    atomic_bool stopping;
    /* outbound work (agent calls) */
    agx_pool_t *pool;
    long workers;
    /* health thread */
    pthread_t health_thread;
    bool health_started;
    pthread_mutex_t waitmu;
    pthread_cond_t waitcv;
} dsrv_t;

/* ---- util.c ---------------------------------------------------------------------- */
extern int dev_log_level; /* agentex_log_level_t */
void dev_log(int level, const char *fmt, ...) AGENTEX_PRINTF(2, 3);
void dev_uuid4(char out[37]);
void dev_object_id(char out[25]);
void dev_hex_random(char *out, size_t nbytes); /* 2*nbytes hex chars + NUL */
/* "2026-03-01T09:00:00.412000Z" for microseconds since the epoch. */
void dev_iso_time(int64_t us, char out[40]);
/* Parses an ISO-8601 time (offset optional, 'Z' or +hh:mm); -1 on error. */
int dev_parse_time(const char *s, int64_t *us);

cJSON *dev_parse(const char *text, size_t len);
char *dev_print(const cJSON *j);                         /* compact, malloc'd */
const char *dev_jstr(const cJSON *obj, const char *key); /* string or NULL */
bool dev_jnull_or_absent(const cJSON *obj, const char *key);
/* Adds key: string or null. */
void dev_add_str(cJSON *obj, const char *key, const char *val);
/* Copies obj[key] (or null when absent) into dst[key]. */
void dev_copy_key(cJSON *dst, const cJSON *src, const char *key);

void dev_respond_json(agx_http_req_t *r, int status, cJSON *body); /* frees body */
void dev_respond_error(agx_http_req_t *r, int status, const char *fmt, ...) AGENTEX_PRINTF(3, 4);
void dev_respond_422(agx_http_req_t *r, const char *fmt, ...) AGENTEX_PRINTF(2, 3);

/* Validates and normalizes a TaskMessageContent (defaults filled, keys in schema
 * order).  NULL and *err set (static or into errbuf) on bad input. */
cJSON *dev_norm_content(const cJSON *c, char *errbuf, size_t errlen);
/* Validates a TaskMessageUpdate; returns a normalized copy or NULL. */
cJSON *dev_norm_update(const cJSON *u, char *errbuf, size_t errlen);

/* Query parameter helpers: 0 ok (default used when absent), -1 bad value. */
int dev_query_int(agx_http_req_t *r, const char *name, long def, long min, long max, long *out);

/* Runs fn(wctx, arg) on the worker pool (wctx: the worker's CURL handle).  -1 on
 * failure (the job will not run).  dev_wait_jobs runs what is queued and joins. */
int dev_spawn(dsrv_t *d, agx_job_fn fn, void *arg);
void dev_wait_jobs(dsrv_t *d);
/* CURLOPT_XFERINFOFUNCTION (data: the dsrv_t): aborts transfers once stopping is set, so
 * that a shutdown does not wait for slow agents. */
int dev_curl_abort_on_stop(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow);

/* ---- store.c --------------------------------------------------------------------- */
int dev_store_open(dsrv_t *d, const char *path);
void dev_store_close(dsrv_t *d);
void dev_lock(dsrv_t *d);
void dev_unlock(dsrv_t *d);
/* Statement helpers (caller holds the lock).  fmt: one char per argument,
 * 's' const char * (NULL binds NULL), 'i' int64_t. */
int dev_exec(dsrv_t *d, const char *sql, const char *fmt, ...);
/* First column of the first row parsed as JSON, or NULL. */
cJSON *dev_get_json(dsrv_t *d, const char *sql, const char *fmt, ...);
/* First column of every row parsed as JSON, as an array (never NULL). */
cJSON *dev_list_json(dsrv_t *d, const char *sql, const char *fmt, ...);
/* First column of the first row as int64; def if none. */
int64_t dev_get_int(dsrv_t *d, const char *sql, int64_t def, const char *fmt, ...);
int64_t dev_last_rowid(dsrv_t *d);
int dev_begin(dsrv_t *d);
int dev_commit(dsrv_t *d);
void dev_rollback(dsrv_t *d);

/* Domain helpers (caller holds the lock). */
cJSON *dev_agent_get(dsrv_t *d, const char *id, const char *name); /* stored entity */
int dev_agent_put(dsrv_t *d, const cJSON *agent);
cJSON *dev_agent_public(const cJSON *agent); /* REST Agent shape (new object) */
cJSON *dev_task_get(dsrv_t *d, const char *id, const char *name);
int dev_task_put(dsrv_t *d, const cJSON *task);
/* Creates task + tracker rows (one transaction).  Returns the task. */
cJSON *dev_task_create(dsrv_t *d, const char *agent_id, const char *name, const cJSON *params,
                       const cJSON *metadata);
const char *dev_task_agent_id(dsrv_t *d, const char *task_id, char *buf, size_t len);
/* Sets status + reason (+ updated_at) and stores.  Does not publish. */
int dev_task_set_status(dsrv_t *d, cJSON *task, const char *status, const char *reason);
bool dev_status_terminal(const char *status);
cJSON *dev_message_create(dsrv_t *d, const char *task_id, const cJSON *content,
                          const char *streaming_status, int64_t created_us);
cJSON *dev_message_get(dsrv_t *d, const char *id);
int dev_message_put(dsrv_t *d, const cJSON *msg);
cJSON *dev_event_create(dsrv_t *d, const char *task_id, const char *agent_id, const cJSON *content);

/* ---- hub.c ----------------------------------------------------------------------- */
int dev_hub_new(dsrv_t *d);
void dev_hub_free(dsrv_t *d);
/* Sends one frame (JSON of an SSE data frame) to every subscriber of task_id.
 * A task_updated with a terminal status closes the subscriptions afterwards. */
void dev_publish(dsrv_t *d, const char *task_id, const cJSON *frame);
void dev_publish_task_updated(dsrv_t *d, const cJSON *task);
void dev_publish_message_full(dsrv_t *d, const cJSON *msg);
/* GET /tasks/{id}/stream (SSE). */
void dev_sse_subscribe(dsrv_t *d, agx_http_req_t *r, const char *task_id, const char *task_name);
bool dev_ws_open(dsrv_t *d, agx_ws_t *ws, const char *path);
void dev_ws_message(dsrv_t *d, agx_ws_t *ws, const char *data, size_t len, bool binary);
void dev_ws_close(dsrv_t *d, agx_ws_t *ws);
/* Keep-alive pings; called about once a second. */
void dev_hub_tick(dsrv_t *d);
/* Ends every subscription (shutdown). */
void dev_hub_close_all(dsrv_t *d);

/* ---- relay.c (--redis-url) ---------------------------------------------------------- */
/* Parses the URL (redis://[[user]:password@]host[:port][/db]); -1 with a message on stderr. */
int dev_relay_start(dsrv_t *d, const char *url);
const char *dev_relay_describe(dsrv_t *d, char *buf, size_t len);
/* Attaches one subscriber to the task's relay, creating it (connect + tail snapshot) when
 * it is the first: blocks, so call it from a job thread, before writing `connected`.
 * NULL without --redis-url or during shutdown. */
dev_relay_t *dev_relay_join(dsrv_t *d, const char *task_id);
void dev_relay_leave(dsrv_t *d, dev_relay_t *r);
/* Calls fn with every valid entry buffered in task:{id} (a terminal task's replay). */
void dev_relay_replay(dsrv_t *d, const char *task_id,
                      void (*fn)(const char *json, size_t len, void *ud), void *ud);
void dev_relay_stop(dsrv_t *d); /* ends the relay threads */
void dev_relay_free(dsrv_t *d);

/* ---- rest.c / rpc.c / health.c ---------------------------------------------------- */
void dev_on_request(agx_http_req_t *r, void *userdata);
void dev_rpc(dsrv_t *d, agx_http_req_t *r, const char *agent_id, const char *agent_name);
int dev_health_start(dsrv_t *d);
/* Per-request log line and response staging for REST handlers (rest.c). */
void dev_health_stop(dsrv_t *d);

#endif
