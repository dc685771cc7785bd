/*
 * agentex/acp.h - acp_server_t: turn a C program into an Agentex agent.
 *
 * The server speaks the Agent Communication Protocol: JSON-RPC 2.0 on POST /api
 * (task/create, event/send, task/cancel, task/interrupt, message/send) and
 * GET /healthz.  On start it registers the agent with the backend
 * (POST {AGENTEX_BASE_URL}/agents/register) and keeps the returned agent id and key.
 *
 * Execution model:
 *  - one service thread accepts requests, answers the acknowledgement
 *    {"status":"processing"} at once and queues the handler; it never runs user code;
 *  - a pool of worker threads runs handlers (acp_server_set_workers);
 *  - by default the handlers of one task run one at a time, in arrival order (a
 *    per-task mailbox); different tasks run in parallel.  ACP_DELIVERY_CONCURRENT
 *    runs every handler as soon as a worker is free (the Python SDK's behaviour);
 *  - task/cancel marks the task cancelled at once (acp_task_cancelled() turns true
 *    for its running and queued handlers), then the cancel handler is queued in the
 *    task's mailbox: it runs after the handlers already queued for that task return.
 *    Queued handlers of a cancelled task still run (so nothing acknowledged is lost)
 *    and should check acp_task_cancelled() first;
 *  - acp_server_stop() (any thread, or a signal handler) stops accepting requests;
 *    every acknowledged handler still runs to completion, then acp_server_run() returns.
 */
#ifndef AGENTEX_ACP_H
#define AGENTEX_ACP_H

#include "client.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct acp_server acp_server_t;
typedef struct acp_ctx acp_ctx_t;

typedef enum acp_delivery {
    ACP_DELIVERY_PER_TASK = 0,  /* default: one handler at a time per task, in order */
    ACP_DELIVERY_CONCURRENT = 1 /* every handler runs as soon as a worker is free */
} acp_delivery_t;

/* Handlers.  ctx, task, params, event and content are borrowed for the call.
 * A non-OK return is logged (the backend has already been acknowledged); an async
 * handler that wants the task to fail calls adk_tasks_fail itself. */
typedef agentex_err_t (*acp_task_create_cb)(acp_ctx_t *ctx, const adk_task_t *task, const cJSON *params, void *userdata);
typedef agentex_err_t (*acp_event_send_cb)(acp_ctx_t *ctx, const adk_task_t *task, const adk_event_t *event, void *userdata);
typedef agentex_err_t (*acp_task_cancel_cb)(acp_ctx_t *ctx, const adk_task_t *task, void *userdata);
typedef agentex_err_t (*acp_task_interrupt_cb)(acp_ctx_t *ctx, const adk_task_t *task, void *userdata);
/* message/send (sync agents): reply with acp_reply_* while the handler runs; each call
 * writes one NDJSON line to the backend at once.  A non-OK return ends the reply with a
 * JSON-RPC error line (code -32603, or -32602 for AGENTEX_EINVAL) carrying the message
 * set with acp_ctx_set_error() or agentex_strerror(). */
typedef agentex_err_t (*acp_message_send_cb)(acp_ctx_t *ctx, const adk_task_t *task, const adk_content_t *content, void *userdata);

/*
 * A new server configured from the Python SDK's environment variables: AGENT_NAME,
 * AGENT_DESCRIPTION, ACP_URL, ACP_PORT (default 8000), ACP_TYPE (default async),
 * AGENTEX_BASE_URL (default http://localhost:5003; empty turns registration off),
 * AGENT_ID, AGENT_API_KEY, AGENT_INPUT_TYPE, AUTH_PRINCIPAL_B64, AGENTEX_DEPLOYMENT_ID,
 * AGENTEX_SDK_API_KEY, AGENTEX_CUSTOM_HEADERS; and, specific to libagentex, ACP_HOST (the
 * listening address, default 0.0.0.0), ACP_MAX_PENDING and ACP_AUTO_CURSOR.  Setters below
 * override them.
 * Nothing is bound or contacted until acp_server_run / acp_server_start.
 */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_new(acp_server_t **out);
/* Stops (if running), waits for the handlers, frees.  AGENTEX_ESTATE (and nothing freed)
 * when called from inside a handler.  NULL is a no-op returning AGENTEX_OK. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_free(acp_server_t *s);

/* Identity and registration.  name must match ^[a-z0-9-]+$.  acp_type "sync", "async"
 * or "agentic".  description NULL means "Generic description for agent: <name>". */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_agent(acp_server_t *s, const char *name, const char *description, const char *acp_type);
/* The backend base URL; NULL or "" turns registration off (the server then serves
 * without an agent id, as for local tests). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_backend(acp_server_t *s, const char *base_url);
/* The URL the backend uses to reach this agent, without port (ACP_URL), e.g.
 * "http://127.0.0.1".  Registered as acp_url ":" port (the bound port when 0). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_acp_url(acp_server_t *s, const char *acp_url);
/* The agent API key (AGENT_API_KEY).  Registration replaces it with the backend's. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_api_key(acp_server_t *s, const char *key);
/* Check x-agent-api-key on POST /api when a key is known (default on). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_auth_check(acp_server_t *s, bool on);
/* Registration attempts (default 3) and the pause before each retry (default 5000 ms,
 * doubling). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_register_retries(acp_server_t *s, int attempts, long delay_ms);

/* Listening address: host (default ACP_HOST or "0.0.0.0") and port (default ACP_PORT or 8000;
 * 0 picks a free port, see acp_server_port). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_listen(acp_server_t *s, const char *host, int port);
/* Worker threads running handlers (default 4, 1..256). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_workers(acp_server_t *s, int n);
/* Acknowledgements before handler work: the workers run at the nice value of the thread
 * that starts the server plus n (0..19, capped at 19; default ACP_DEFAULT_WORKER_NICE or
 * the ACP_WORKER_NICE environment variable), so the service thread, which answers the
 * backend, wins the CPU over handlers.  0 keeps the workers at the server's priority.
 * Linux per-thread nice; threads a handler starts inherit it.  See acp_server(3). */
#define ACP_DEFAULT_WORKER_NICE 10
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_worker_nice(acp_server_t *s, int n);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_delivery(acp_server_t *s, acp_delivery_t mode);
/* Auto-cursor (default off, or ACP_AUTO_CURSOR=1): each event/send hands the event
 * handler every event of the task after the tracker's cursor, in sequence_id order, and
 * moves the cursor past each one the handler returned AGENTEX_OK for; at start-up the
 * agent's RUNNING and INTERRUPTED tasks catch up the same way.  Events are handled at
 * least once and in order across restarts.  Needs registration and per-task delivery
 * (else acp_server_run fails with AGENTEX_EINVAL).  See acp_server(3). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_auto_cursor(acp_server_t *s, bool on);
/* Largest accepted request body (default 8 MiB): larger gets HTTP 413. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_max_body(acp_server_t *s, size_t bytes);
/* Backpressure: at most n acknowledged handlers queued or running (default
 * ACP_DEFAULT_MAX_PENDING, n >= 1).  Beyond that, valid requests are held
 * unanswered (their connections are not read further) until handlers finish; then
 * they are acknowledged and queued in arrival order.  Nothing is refused or dropped:
 * acks are delayed.  See acp_server(3). */
#define ACP_DEFAULT_MAX_PENDING 1024
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_max_pending(acp_server_t *s, size_t n);
/* A connection that sends no complete request within header_ms (default 10000) or
 * stays idle for idle_ms between requests (default 30000) is closed. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_set_timeouts(acp_server_t *s, long header_ms, long idle_ms);

/* Handler registration: registering again replaces the pair; cb NULL unregisters
 * (the method then answers -32601). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_on_task_create(acp_server_t *s, acp_task_create_cb cb, void *userdata);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_on_event_send(acp_server_t *s, acp_event_send_cb cb, void *userdata);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_on_task_cancel(acp_server_t *s, acp_task_cancel_cb cb, void *userdata);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_on_task_interrupt(acp_server_t *s, acp_task_interrupt_cb cb, void *userdata);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_on_message_send(acp_server_t *s, acp_message_send_cb cb, void *userdata);

/* Binds, registers, serves on the calling thread until acp_server_stop() or SIGINT /
 * SIGTERM (handlers for both are installed for the duration of the call and restored
 * after), then drains the handlers.  AGENTEX_EIO when the port cannot be bound,
 * registration errors as the client's when registration finally fails. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_run(acp_server_t *s);
/* As acp_server_run, but serves on a thread of its own and returns once the server is
 * bound and registered.  No signal handlers are installed.  Stop with acp_server_stop,
 * then acp_server_wait. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_start(acp_server_t *s);
/* Blocks until a started server has stopped and drained. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_server_wait(acp_server_t *s);
/* Asks the server to stop.  Thread-safe and async-signal-safe. */
AGENTEX_API void acp_server_stop(acp_server_t *s);

/* The bound port (after run/start bound it), else the configured one. */
AGENTEX_API int acp_server_port(const acp_server_t *s);
/* The agent id and key after registration (NULL before or without).  Borrowed. */
AGENTEX_API const char *acp_server_agent_id(const acp_server_t *s);
AGENTEX_API const char *acp_server_api_key(const acp_server_t *s);
/* The last failure's message ("" if none).  Borrowed. */
AGENTEX_API const char *acp_server_errmsg(const acp_server_t *s);

/* ---- inside a handler ---- */

/* The worker's client: configured with the backend URL, the agent key and the
 * server's extra headers.  Borrowed; valid until the handler returns; safe to block on. */
AGENTEX_API agentex_client_t *acp_ctx_client(acp_ctx_t *ctx);
AGENTEX_API const adk_agent_t *acp_ctx_agent(const acp_ctx_t *ctx);
/* The registered agent id if there is one, else params.agent.id. */
AGENTEX_API const char *acp_ctx_agent_id(const acp_ctx_t *ctx);
AGENTEX_API const adk_task_t *acp_ctx_task(const acp_ctx_t *ctx);
/* The JSON-RPC method ("event/send", ...). */
AGENTEX_API const char *acp_ctx_method(const acp_ctx_t *ctx);
/* The whole JSON-RPC params object, with params.request.headers filled as the Python
 * SDK does (inbound x-* headers minus x-agent-api-key, x-forwarded-*, sec-*). */
AGENTEX_API const cJSON *acp_ctx_params(const acp_ctx_t *ctx);
/* One forwarded header by lower-case name, or NULL. */
AGENTEX_API const char *acp_ctx_header(const acp_ctx_t *ctx, const char *name);
/* true once task/cancel arrived for this handler's task.  Thread-safe. */
AGENTEX_API bool acp_task_cancelled(const acp_ctx_t *ctx);
/* Logs through the library's log callback, prefixed with the task id. */
AGENTEX_API void acp_ctx_log(const acp_ctx_t *ctx, agentex_log_level_t level, const char *fmt, ...) AGENTEX_PRINTF(3, 4);
/* The message used when the handler returns an error (message/send error line, log). */
AGENTEX_API void acp_ctx_set_error(acp_ctx_t *ctx, const char *fmt, ...) AGENTEX_PRINTF(2, 3);

/* ---- message/send replies (sync agents): one NDJSON line each, written at once ----
 * index: the message's position in this reply (0, 1, ...).  AGENTEX_ESTATE outside a
 * message/send handler; AGENTEX_ECONNECT when the backend has gone away. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_reply_start(acp_ctx_t *ctx, int index, const adk_content_t *content);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_reply_delta_text(acp_ctx_t *ctx, int index, const char *text);
/* Any TaskMessageDelta object ({"type":"data","data_delta":...}, ...), copied. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_reply_delta(acp_ctx_t *ctx, int index, const cJSON *delta);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_reply_full(acp_ctx_t *ctx, int index, const adk_content_t *content);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t acp_reply_done(acp_ctx_t *ctx, int index);

#ifdef __cplusplus
}
#endif
#endif
