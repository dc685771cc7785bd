/*
 * agentex/rpc.h - adk_rpc: the client side of the backend's agent JSON-RPC.
 * Protocol reference sections 4.7 and 8.14.
 *
 * POST /agents/name/{agent_name}/rpc (or /agents/{agent_id}/rpc for the _by_id call)
 * with {"jsonrpc":"2.0","method":...,"params":...,"id":N}, N a process-wide increasing
 * integer.  This is how a client, a test harness or another agent creates tasks and
 * sends events to an agent through the backend.  Every call blocks on one request.
 *
 * Errors: a JSON-RPC error object in the answer is AGENTEX_ERPC and
 * agentex_client_errmsg() reads "<code>: <message>" (e.g. "-32603: connection refused");
 * an answer whose "jsonrpc" is not "2.0", whose id is not the request's, or that has
 * neither "result" nor "error" is AGENTEX_EPROTO.  HTTP-level failures are mapped as
 * for every other call (agentex_errors(3)).
 */
#ifndef AGENTEX_RPC_H
#define AGENTEX_RPC_H

#include "client.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Calls method on the agent named agent_name.  params NULL sends {}; it is copied.
 * result (may be NULL) receives a new tree holding the JSON-RPC "result" (a JSON null
 * when the result was null); free it with cJSON_Delete. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_rpc_call(agentex_client_t *c,
                                                         const char *agent_name, const char *method,
                                                         const cJSON *params, cJSON **result);
/* The same, addressed by agent id: POST /agents/{agent_id}/rpc. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_rpc_call_by_id(agentex_client_t *c,
                                                               const char *agent_id,
                                                               const char *method,
                                                               const cJSON *params, cJSON **result);

/* task/create {"name"?,"params"?,"task_metadata"?}: NULL omits a key; params and
 * task_metadata must be JSON objects.  Get-or-create by name: an existing task_name
 * returns that task (and overwrites its params if params is given).  out (may be NULL)
 * receives the Task. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t
adk_rpc_task_create(agentex_client_t *c, const char *agent_name, const char *task_name,
                    const cJSON *params, const cJSON *task_metadata, adk_task_t **out);
/* event/send {"task_id","content"?}: content NULL omits it.  out (may be NULL) receives
 * the Event the backend stored (and delivered to the agent). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_rpc_event_send(agentex_client_t *c,
                                                               const char *agent_name,
                                                               const char *task_id,
                                                               const adk_content_t *content,
                                                               adk_event_t **out);
/* task/cancel and task/interrupt {"task_id"}.  out (may be NULL) receives the Task. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_rpc_task_cancel(agentex_client_t *c,
                                                                const char *agent_name,
                                                                const char *task_id,
                                                                adk_task_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_rpc_task_interrupt(agentex_client_t *c,
                                                                   const char *agent_name,
                                                                   const char *task_id,
                                                                   adk_task_t **out);
/* message/send {"task_id","content","stream":false} to a sync agent: the reply is the
 * list of TaskMessages the turn produced.  out (may be NULL) receives it. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_rpc_message_send(agentex_client_t *c,
                                                                 const char *agent_name,
                                                                 const char *task_id,
                                                                 const adk_content_t *content,
                                                                 adk_message_list_t **out);

#ifdef __cplusplus
}
#endif
#endif
