/*
 * agentex/streaming.h - adk_streaming: publishing streamed message updates, and
 * subscribing to a task's stream.  Protocol reference sections 5.6 and 6.
 *
 * Publishing.  An adk_streamer_t is a transport: Redis (what the real backend reads:
 * XADD task:{id} MAXLEN ~ N * data <json>, then EXPIRE task:{id} TTL) or a websocket
 * to agentex-dev's /stream/publish (one TaskMessageUpdate JSON per text message).
 * An adk_streaming_msg_t is one streamed message (protocol 6.3): open creates it
 * through REST with streaming_status IN_PROGRESS and publishes "start"; deltas are
 * accumulated locally and published per the streamer's mode; close publishes "done"
 * (or "full") and stores the final content through REST with DONE.  A publish
 * failure never loses the message: it is logged and reported by
 * adk_streaming_publish_error(), and close still stores the content.
 *
 * Subscribing.  An adk_stream_t reads GET /tasks/{id}/stream (Server-Sent Events),
 * calls your callbacks, accumulates deltas into whole messages, reconnects with
 * backoff when the connection drops, and ends cleanly when the task reaches a
 * terminal status.  adk_stream_run() blocks in the caller's thread.
 */
#ifndef AGENTEX_STREAMING_H
#define AGENTEX_STREAMING_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "client.h"
#include "common.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- publishing: the transport ---- */

typedef enum adk_stream_mode {
    ADK_STREAM_MODE_OFF = 0,       /* deltas only accumulate: start and done/full are published */
    ADK_STREAM_MODE_PER_TOKEN = 1, /* every delta published at once */
    ADK_STREAM_MODE_COALESCED = 2  /* the default: first delta at once, then merged batches */
} adk_stream_mode_t;

typedef struct adk_streamer adk_streamer_t;

/* A Redis transport: redis://[[user]:password@]host[:port][/db] (port 6379, db 0).
 * No I/O: the connection is made at the first publish and remade after a failure. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_new_redis(const char *redis_url,
                                                                   adk_streamer_t **out);
/* A websocket transport to agentex-dev: ws://host[:port]/stream/publish (plain ws only). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_new_ws(const char *ws_url,
                                                                adk_streamer_t **out);
/* From the environment: REDIS_URL selects Redis; otherwise AGENTEX_STREAM_WS_URL, or an
 * http:// AGENTEX_BASE_URL turned into ws:// with "/stream/publish" appended (agentex-dev),
 * selects the websocket; otherwise (no such variable, or an https:// backend: a real
 * deployment) Redis at redis://localhost:6379, the Python SDK's default.  Also REDIS_STREAM_MAXLEN (default 10000), REDIS_STREAM_TTL_SECONDS (default
 * 3600) and AGENTEX_STREAMING_MODE (off, per_token, coalesced).  Bad values: EINVAL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_from_env(adk_streamer_t **out);
AGENTEX_API void adk_streamer_free(adk_streamer_t *s);

/* Setters: not synchronised, so call them before the streamer is shared between threads;
 * a message takes the mode and coalescing settings when it is opened. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_set_mode(adk_streamer_t *s,
                                                                  adk_stream_mode_t mode);
/* MAXLEN ~ maxlen on each XADD; 0 omits MAXLEN.  Negative: EINVAL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_set_maxlen(adk_streamer_t *s,
                                                                    long maxlen);
/* EXPIRE after each XADD; 0 skips EXPIRE.  Negative: EINVAL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_set_ttl_seconds(adk_streamer_t *s,
                                                                         long ttl);
/* Coalesced mode: flush every interval_ms (default 50) or once max_chars (default 128)
 * characters are buffered.  Both must be positive. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_set_coalescing(adk_streamer_t *s,
                                                                        long interval_ms,
                                                                        size_t max_chars);
/* Connect and I/O limit for one publish (default 5000 ms). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_set_timeout_ms(adk_streamer_t *s,
                                                                        long timeout_ms);
AGENTEX_API adk_stream_mode_t adk_streamer_mode(const adk_streamer_t *s);

/* Publishing is thread-safe: publishes from several threads are serialised on the one
 * connection.  Publishes one TaskMessageUpdate exactly as given (compact JSON text); the task id is
 * update.parent_task_message.task_id (EINVAL when missing).  Blocks for one round trip. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_publish(adk_streamer_t *s,
                                                                 const cJSON *update);
/* Publishes {"content":M.content,"index":null,"parent_task_message":M,"type":"full"} for a
 * message made with adk_messages_create (the Python SDK's emit_updates). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streamer_publish_full(adk_streamer_t *s,
                                                                      const adk_message_t *m);
/* The last publish failure's message (of any thread's publish), "" if none.  Borrowed
 * until the next publish. */
AGENTEX_API const char *adk_streamer_errmsg(const adk_streamer_t *s);

/* ---- publishing: one streamed message ---- */

typedef struct adk_streaming_msg adk_streaming_msg_t;

/* POST /messages {task_id, content: initial, streaming_status: IN_PROGRESS}, then publishes
 * "start".  c and s are borrowed: both must outlive the message; c is used only inside
 * open and close (the caller's thread).  A failed POST returns its error and *out NULL;
 * a failed "start" publish does not fail the call (see adk_streaming_publish_error). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_open(agentex_client_t *c,
                                                               adk_streamer_t *s,
                                                               const char *task_id,
                                                               const adk_content_t *initial,
                                                               adk_streaming_msg_t **out);
/* Deltas (protocol 5.6).  Each is accumulated, then published per the mode.  They fail
 * only with EINVAL, ENOMEM, or ESTATE after close; never because of a publish failure. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_text(adk_streaming_msg_t *m,
                                                               const char *text);
/* A fragment of the JSON text of a data object. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_data(adk_streaming_msg_t *m,
                                                               const char *json_fragment);
/* A fragment of the JSON text of the tool call's arguments object. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_tool_request(
    adk_streaming_msg_t *m, const char *tool_call_id, const char *name, const char *arguments);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_tool_response(
    adk_streaming_msg_t *m, const char *tool_call_id, const char *name, const char *content);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_reasoning_summary(
    adk_streaming_msg_t *m, int index, const char *text);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_reasoning_content(
    adk_streaming_msg_t *m, int index, const char *text);
/* Publishes what the coalescing buffer holds now (blocks for the publish). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_flush(adk_streaming_msg_t *m);
/* The message as created by open (IN_PROGRESS), borrowed until adk_streaming_msg_free. */
AGENTEX_API const adk_message_t *adk_streaming_message(const adk_streaming_msg_t *m);
/* The content accumulated so far (the initial content if no delta came): a new object. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_content(const adk_streaming_msg_t *m,
                                                                  adk_content_t **out);
/* Drains the buffer, publishes "done", then PUT /messages/{id} with the accumulated
 * content and DONE.  Returns the PUT's result; out (may be NULL) gets the stored message. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_close(adk_streaming_msg_t *m,
                                                                adk_message_t **out);
/* Drains the buffer, publishes "full" with content, then PUT with content and DONE. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_streaming_close_full(
    adk_streaming_msg_t *m, const adk_content_t *content, adk_message_t **out);
/* The first publish failure of this message (AGENTEX_OK if none). */
AGENTEX_API agentex_err_t adk_streaming_publish_error(const adk_streaming_msg_t *m);
/* Frees m.  No I/O: a message never closed stays IN_PROGRESS on the backend. */
AGENTEX_API void adk_streaming_msg_free(adk_streaming_msg_t *m);

/* ---- subscribing ---- */

typedef struct adk_stream adk_stream_t;

typedef enum adk_stream_update_kind {
    ADK_STREAM_UPDATE_START = 0,
    ADK_STREAM_UPDATE_DELTA = 1,
    ADK_STREAM_UPDATE_FULL = 2,
    ADK_STREAM_UPDATE_DONE = 3
} adk_stream_update_kind_t;

/* One start/delta/full/done frame, borrowed for the duration of the callback. */
typedef struct adk_stream_update adk_stream_update_t;
AGENTEX_API adk_stream_update_kind_t adk_stream_update_kind(const adk_stream_update_t *u);
/* parent_task_message, NULL if the frame had none. */
AGENTEX_API const adk_message_t *adk_stream_update_parent(const adk_stream_update_t *u);
/* The parent's id, NULL if none. */
AGENTEX_API const char *adk_stream_update_message_id(const adk_stream_update_t *u);
/* start/full: the frame's content.  delta/done: the message accumulated so far from the
 * start content and the deltas (NULL if nothing is known). */
AGENTEX_API const adk_content_t *adk_stream_update_content(const adk_stream_update_t *u);
/* delta: the delta object ({"type":"text","text_delta":...}); NULL otherwise. */
AGENTEX_API const cJSON *adk_stream_update_delta(const adk_stream_update_t *u);
/* delta of type text: its text; NULL otherwise. */
AGENTEX_API const char *adk_stream_update_text_delta(const adk_stream_update_t *u);
/* The whole frame as received. */
AGENTEX_API const cJSON *adk_stream_update_json(const adk_stream_update_t *u);

typedef void (*adk_stream_connected_cb)(adk_stream_t *s, const char *task_id, void *userdata);
typedef void (*adk_stream_update_cb)(adk_stream_t *s, const adk_stream_update_t *u,
                                     void *userdata);
typedef void (*adk_stream_task_cb)(adk_stream_t *s, const adk_task_t *task, void *userdata);
/* An "error" frame (EPROTO, the backend's message), a dropped connection (before a
 * reconnect), or an HTTP failure.  msg is valid during the call. */
typedef void (*adk_stream_error_cb)(adk_stream_t *s, agentex_err_t err, const char *msg,
                                    void *userdata);

/* A subscription to GET {base_url}/tasks/{task_id}/stream.  No I/O. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_stream_new(const char *base_url,
                                                           const char *task_id,
                                                           adk_stream_t **out);
/* The same by task name: GET {base_url}/tasks/name/{task_name}/stream. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_stream_new_by_name(const char *base_url,
                                                                   const char *task_name,
                                                                   adk_stream_t **out);
AGENTEX_API void adk_stream_free(adk_stream_t *s);
/* Adds a request header (e.g. "x-agent-api-key"); value NULL removes it. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_stream_set_header(adk_stream_t *s,
                                                                  const char *name,
                                                                  const char *value);
/* Sends the credentials and extra headers of client c with the subscription
 * (x-agent-api-key, "Authorization: Bearer", agentex_client_set_header ones); copied, c may be
 * freed afterwards.  Inside a handler: adk_stream_set_client(s, acp_ctx_client(ctx)). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_stream_set_client(adk_stream_t *s,
                                                                  const agentex_client_t *c);
/* Reconnects after a drop: up to max_attempts in a row (0 = never reconnect, -1 = no
 * limit; default 10), waiting base_ms (default 500) doubled each time up to max_ms
 * (default 10000).  The count restarts after each successful "connected" frame. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_stream_set_reconnect(adk_stream_t *s,
                                                                     int max_attempts,
                                                                     long base_ms, long max_ms);
/* A connection silent for idle_ms (default 45000: three missed keep-alives) is dropped. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_stream_set_idle_timeout_ms(adk_stream_t *s,
                                                                           long idle_ms);
/* Callbacks; each call replaces the previous pair, NULL unregisters.  They run in the
 * thread that calls adk_stream_run. */
AGENTEX_API void adk_stream_on_connected(adk_stream_t *s, adk_stream_connected_cb cb,
                                         void *userdata);
AGENTEX_API void adk_stream_on_update(adk_stream_t *s, adk_stream_update_cb cb, void *userdata);
/* Called with the accumulated message when a message ends (done or full). */
AGENTEX_API void adk_stream_on_message(adk_stream_t *s, adk_stream_update_cb cb,
                                       void *userdata);
AGENTEX_API void adk_stream_on_task_updated(adk_stream_t *s, adk_stream_task_cb cb,
                                            void *userdata);
AGENTEX_API void adk_stream_on_error(adk_stream_t *s, adk_stream_error_cb cb, void *userdata);
/*
 * Reads the stream in the caller's thread until:
 *   the task reaches a terminal status (task_updated) -> AGENTEX_OK;
 *   timeout_ms passes (0 = no limit)                  -> AGENTEX_ETIMEDOUT;
 *   adk_stream_stop was called                        -> AGENTEX_ECANCELED;
 *   reconnect attempts are exhausted                  -> AGENTEX_ECONNECT;
 *   the backend refuses (401/403, 404)                -> AGENTEX_EAUTH, AGENTEX_ENOTFOUND;
 *   an "error" frame before "connected" (the real backend's answer, with HTTP 200, for
 *   a task it cannot stream, e.g. an unknown one)    -> AGENTEX_EPROTO, not retried.
 * May be called again afterwards (a new connection).
 */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_stream_run(adk_stream_t *s, long timeout_ms);
/* Makes adk_stream_run return ECANCELED soon.  Thread-safe and async-signal-safe. */
AGENTEX_API void adk_stream_stop(adk_stream_t *s);
/* The last task status seen (ADK_TASK_STATUS_NONE before any task_updated). */
AGENTEX_API adk_task_status_t adk_stream_task_status(const adk_stream_t *s);
/* The last failure's message, "" if none.  Borrowed until the next call on s. */
AGENTEX_API const char *adk_stream_errmsg(const adk_stream_t *s);

#ifdef __cplusplus
}
#endif

#endif
