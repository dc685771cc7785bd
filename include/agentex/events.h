/*
 * agentex/events.h - adk_events: a task's processing notifications (read-only).
 * Protocol reference section 4.2.
 */
#ifndef AGENTEX_EVENTS_H
#define AGENTEX_EVENTS_H

#include "client.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* GET /events/{id} */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_events_get(agentex_client_t *c,
                                                           const char *event_id,
                                                           adk_event_t **out);

/* GET /events?task_id&agent_id[&last_processed_event_id][&limit], ascending sequence_id.
 * last_processed_event_id NULL lists from the start; limit 0 omits it (else 1-1000). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_events_list(agentex_client_t *c,
                                                            const char *task_id,
                                                            const char *agent_id,
                                                            const char *last_processed_event_id,
                                                            int limit, adk_event_list_t **out);

#ifdef __cplusplus
}
#endif
#endif
