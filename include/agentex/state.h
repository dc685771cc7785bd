/*
 * agentex/state.h - adk_state: per (task, agent) JSON state.
 * Protocol reference section 4.3.
 */
#ifndef AGENTEX_STATE_H
#define AGENTEX_STATE_H

#include "client.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* POST /states {"task_id","agent_id","state"}; state must be an object.  out may be NULL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_state_create(agentex_client_t *c,
                                                             const char *task_id,
                                                             const char *agent_id,
                                                             const cJSON *state,
                                                             adk_state_t **out);
/* GET /states/{id} */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_state_get(agentex_client_t *c,
                                                          const char *state_id,
                                                          adk_state_t **out);
/* GET /states?task_id&agent_id, first element.  AGENTEX_ENOTFOUND when there is none. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_state_get_by_task_and_agent(agentex_client_t *c,
                                                                            const char *task_id,
                                                                            const char *agent_id,
                                                                            adk_state_t **out);
/* PUT /states/{id} {"state","task_id","agent_id"}: the whole state is replaced.
 * out may be NULL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_state_update(agentex_client_t *c,
                                                             const char *state_id,
                                                             const char *task_id,
                                                             const char *agent_id,
                                                             const cJSON *state,
                                                             adk_state_t **out);
/* DELETE /states/{id}; out (may be NULL) receives the state as it was. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_state_delete(agentex_client_t *c,
                                                             const char *state_id,
                                                             adk_state_t **out);

#ifdef __cplusplus
}
#endif
#endif
