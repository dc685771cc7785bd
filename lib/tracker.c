/*
 * lib/tracker.c - adk_tracker: /tracker (protocol 4.4 and 7.3, vectors 8.9).
 */
#include "adk_internal.h"
#include "agentex/tracker.h"
#include "client_internal.h"

agentex_err_t adk_tracker_get(agentex_client_t *c, const char *tracker_id, adk_tracker_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_by_id(c, "adk_tracker_get", "GET", "/tracker/", tracker_id, "tracker_id",
                         &agx_adk_tracker, out);
}

agentex_err_t adk_tracker_get_by_task_and_agent(agentex_client_t *c, const char *task_id,
                                                const char *agent_id, adk_tracker_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_find(c, "adk_tracker_get_by_task_and_agent", "/tracker", task_id, agent_id,
                        &agx_adk_tracker, "a list of AgentTaskTrackers", "tracker", out);
}

agentex_err_t adk_tracker_list(agentex_client_t *c, const char *task_id, const char *agent_id,
                               const adk_list_opts_t *opts, adk_tracker_list_t **out)
{
    const agx_adk_filter_t filters[] = {{"task_id", task_id, false}, {"agent_id", agent_id, false}};
    if (out)
        *out = NULL;
    return agx_adk_list(c, "adk_tracker_list", "/tracker", filters, 2, opts, &agx_adk_tracker_list,
                        out);
}

agentex_err_t adk_tracker_update(agentex_client_t *c, const char *tracker_id,
                                 const char *last_processed_event_id, const char *status,
                                 const char *status_reason, bool keep_status, adk_tracker_t **out)
{
    static const char fn[] = "adk_tracker_update";
    adk_tracker_t *cur = NULL;
    cJSON *body = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(tracker_id))
        return agx_adk_einval(c, fn, "tracker_id is NULL or empty");
    if (last_processed_event_id && !*last_processed_event_id)
        return agx_adk_einval(c, fn, "last_processed_event_id is empty (use NULL)");

    /* The backend overwrites status and status_reason on every PUT (protocol 4.4), so
     * "keep" means: read them first and send them back. */
    if (keep_status && !status) {
        err = agx_adk_request_at(c, fn, "GET", "/tracker/", tracker_id, NULL, NULL,
                                 &agx_adk_tracker, &cur);
        if (err != AGENTEX_OK)
            goto out;
        status = adk_tracker_status(cur);
        if (!status_reason)
            status_reason = adk_tracker_status_reason(cur);
    }

    body = cJSON_CreateObject();
    if (!body || !agx_adk_add_str(body, "last_processed_event_id", last_processed_event_id) ||
        !agx_adk_add_str(body, "status", status) ||
        !agx_adk_add_str(body, "status_reason", status_reason)) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    err = agx_adk_request_at(c, fn, "PUT", "/tracker/", tracker_id, NULL, body, &agx_adk_tracker,
                             out);
out:
    adk_tracker_free(cur);
    cJSON_Delete(body);
    return err;
}
