/*
 * agentex/tracker.h - adk_tracker: the per (task, agent) event cursor.
 * Protocol reference sections 4.4 and 7.3.
 */
#ifndef AGENTEX_TRACKER_H
#define AGENTEX_TRACKER_H

#include "client.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /tracker/{id} */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tracker_get(agentex_client_t *c,
                                                            const char *tracker_id,
                                                            adk_tracker_t **out);
/* GET /tracker?task_id&agent_id, first element.  AGENTEX_ENOTFOUND when there is none. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tracker_get_by_task_and_agent(
    agentex_client_t *c, const char *task_id, const char *agent_id, adk_tracker_t **out);
/* GET /tracker[?task_id][&agent_id][&limit...]; NULL filters are omitted. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tracker_list(agentex_client_t *c,
                                                             const char *task_id,
                                                             const char *agent_id,
                                                             const adk_list_opts_t *opts,
                                                             adk_tracker_list_t **out);
/*
 * PUT /tracker/{id} {"last_processed_event_id","status","status_reason"}, all three keys
 * always sent.  The backend overwrites status and status_reason every time, so pass the
 * values you want kept: status NULL means "resend the tracker's current status" only
 * when keep_status is true (one extra GET), otherwise it is sent as null.
 * last_processed_event_id NULL leaves the cursor where it is.  out may be NULL.
 */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tracker_update(
    agentex_client_t *c, const char *tracker_id, const char *last_processed_event_id,
    const char *status, const char *status_reason, bool keep_status, adk_tracker_t **out);

#ifdef __cplusplus
}
#endif
#endif
