/*
 * lib/events.c - adk_events: GET /events/{id}, GET /events (protocol 4.2, vectors 8.9).
 */
#include <stdio.h>

#include "adk_internal.h"
#include "agentex/events.h"
#include "client_internal.h"

agentex_err_t adk_events_get(agentex_client_t *c, const char *event_id, adk_event_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_by_id(c, "adk_events_get", "GET", "/events/", event_id, "event_id",
                         &agx_adk_event, out);
}

agentex_err_t adk_events_list(agentex_client_t *c, const char *task_id, const char *agent_id,
                              const char *last_processed_event_id, int limit,
                              adk_event_list_t **out)
{
    static const char fn[] = "adk_events_list";
    char limit_buf[24];

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!agx_adk_str_ok(agent_id))
        return agx_adk_einval(c, fn, "agent_id is NULL or empty");
    if (last_processed_event_id && !*last_processed_event_id)
        return agx_adk_einval(c, fn, "last_processed_event_id is empty (use NULL)");
    if (limit < 0 || limit > 1000)
        return agx_client_fail(c, AGENTEX_EINVAL,
                               "%s: limit %d is outside 1-1000 (0 leaves it out)", fn, limit);
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    snprintf(limit_buf, sizeof limit_buf, "%d", limit);
    const char *query[] = {"task_id",
                           task_id,
                           "agent_id",
                           agent_id,
                           "last_processed_event_id",
                           last_processed_event_id,
                           "limit",
                           limit > 0 ? limit_buf : NULL,
                           NULL};
    return agx_adk_request(c, fn, "GET", "/events", query, NULL, &agx_adk_event_list, out);
}
