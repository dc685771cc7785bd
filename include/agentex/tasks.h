/*
 * agentex/tasks.h - adk_tasks and adk_agents: reading and ending tasks, reading agents.
 * Protocol reference sections 4.5 and 4.6; status rules in 5.2.
 */
#ifndef AGENTEX_TASKS_H
#define AGENTEX_TASKS_H

#include "client.h"
#include "messages.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /tasks/{id} and GET /tasks/name/{name} */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_get(agentex_client_t *c, const char *task_id,
                                                          adk_task_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_get_by_name(agentex_client_t *c,
                                                                  const char *name,
                                                                  adk_task_t **out);
/* GET /tasks[?agent_id][&agent_name][&limit...]; NULL filters are omitted. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_list(agentex_client_t *c,
                                                           const char *agent_id,
                                                           const char *agent_name,
                                                           const adk_list_opts_t *opts,
                                                           adk_task_list_t **out);
/* PUT /tasks/{id} {"task_metadata"} (replaces it) and/or {"merge_params"} (shallow merge);
 * NULL omits a key.  Both NULL is AGENTEX_EINVAL.  out may be NULL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_update(agentex_client_t *c,
                                                             const char *task_id,
                                                             const cJSON *task_metadata,
                                                             const cJSON *merge_params,
                                                             adk_task_t **out);
/* POST /tasks/{id}/complete|fail|cancel|terminate|timeout|interrupt {"reason"}: reason NULL
 * sends null (the backend then writes its default status_reason).  out may be NULL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_complete(agentex_client_t *c,
                                                               const char *task_id,
                                                               const char *reason,
                                                               adk_task_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_fail(agentex_client_t *c, const char *task_id,
                                                           const char *reason, adk_task_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_cancel(agentex_client_t *c,
                                                             const char *task_id,
                                                             const char *reason,
                                                             adk_task_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_terminate(agentex_client_t *c,
                                                                const char *task_id,
                                                                const char *reason,
                                                                adk_task_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_timeout(agentex_client_t *c,
                                                              const char *task_id,
                                                              const char *reason,
                                                              adk_task_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_interrupt(agentex_client_t *c,
                                                                const char *task_id,
                                                                const char *reason,
                                                                adk_task_t **out);
/* DELETE /tasks/{id} (soft delete; the agent is not notified). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tasks_delete(agentex_client_t *c,
                                                             const char *task_id);

/* GET /agents/{id} and GET /agents/name/{name} */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_agents_get(agentex_client_t *c,
                                                           const char *agent_id,
                                                           adk_agent_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_agents_get_by_name(agentex_client_t *c,
                                                                   const char *name,
                                                                   adk_agent_t **out);
/* GET /agents[?limit...] */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_agents_list(agentex_client_t *c,
                                                            const adk_list_opts_t *opts,
                                                            adk_agent_list_t **out);

#ifdef __cplusplus
}
#endif
#endif
