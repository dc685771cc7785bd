/*
 * lib/tracker.c - adk_tracker: /tracker (protocol 4.4 and 7.3, vectors 8.9).
 */
#include "adk_internal.h"
#include "agentex/tracker.h"
#include "client_internal.h"
#include "internal.h"
#include "types_internal.h"

static agentex_err_t tracker_result(agentex_client_t *c, const char *fn, const cJSON *json,
                                    adk_tracker_t **out)
{
    adk_tracker_t *t = NULL;
    agentex_err_t err =
        agx_adk_parsed(c, fn, adk_tracker_from_json(json, &t), "an AgentTaskTracker");
    if (err == AGENTEX_OK)
        *out = t;
    return err;
}

/* GET /tracker/{id} without resetting the caller's argument checks (shared by get and
 * the keep_status read of update). */
static agentex_err_t tracker_fetch(agentex_client_t *c, const char *fn, const char *tracker_id,
                                   adk_tracker_t **out)
{
    char *path = NULL;
    cJSON *resp = NULL;
    agentex_err_t err = agx_adk_path(c, fn, "/tracker/", tracker_id, NULL, &path);
    if (err != AGENTEX_OK)
        return err;
    err = agx_client_request(c, "GET", path, NULL, NULL, &resp);
    if (err == AGENTEX_OK)
        err = tracker_result(c, fn, resp, out);
    agx_free(path);
    cJSON_Delete(resp);
    return err;
}

agentex_err_t adk_tracker_get(agentex_client_t *c, const char *tracker_id, adk_tracker_t **out)
{
    static const char fn[] = "adk_tracker_get";
    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(tracker_id))
        return agx_adk_einval(c, fn, "tracker_id is NULL or empty");
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    return tracker_fetch(c, fn, tracker_id, out);
}

agentex_err_t adk_tracker_get_by_task_and_agent(agentex_client_t *c, const char *task_id,
                                                const char *agent_id, adk_tracker_t **out)
{
    static const char fn[] = "adk_tracker_get_by_task_and_agent";
    cJSON *resp = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!agx_adk_str_ok(agent_id))
        return agx_adk_einval(c, fn, "agent_id is NULL or empty");
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    const char *query[] = {"task_id", task_id, "agent_id", agent_id, NULL};
    err = agx_client_request(c, "GET", "/tracker", query, NULL, &resp);
    if (err != AGENTEX_OK)
        goto out;
    if (!cJSON_IsArray(resp)) {
        err = agx_adk_parsed(c, fn, AGENTEX_EPROTO, "a list of AgentTaskTrackers");
        goto out;
    }
    if (cJSON_GetArraySize(resp) == 0) {
        err = agx_client_fail(c, AGENTEX_ENOTFOUND, "%s: no tracker for task %s and agent %s", fn,
                              task_id, agent_id);
        goto out;
    }
    err = tracker_result(c, fn, cJSON_GetArrayItem(resp, 0), out);
out:
    cJSON_Delete(resp);
    return err;
}

agentex_err_t adk_tracker_list(agentex_client_t *c, const char *task_id, const char *agent_id,
                               const adk_list_opts_t *opts, adk_tracker_list_t **out)
{
    static const char fn[] = "adk_tracker_list";
    agx_adk_page_t pg;
    cJSON *resp = NULL;
    adk_tracker_list_t *l = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (task_id && !*task_id)
        return agx_adk_einval(c, fn, "task_id is empty (use NULL for no filter)");
    if (agent_id && !*agent_id)
        return agx_adk_einval(c, fn, "agent_id is empty (use NULL for no filter)");
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    err = agx_adk_page(c, fn, opts, &pg);
    if (err != AGENTEX_OK)
        return err;
    const char *query[] = {"task_id",  task_id,     "agent_id",        agent_id,
                           "limit",    pg.limit,    "page_number",     pg.page_number,
                           "order_by", pg.order_by, "order_direction", pg.order_direction,
                           NULL};
    err = agx_client_request(c, "GET", "/tracker", query, NULL, &resp);
    if (err == AGENTEX_OK) {
        err = agx_adk_parsed(c, fn, agx_tracker_list_from_json(resp, &l),
                             "a list of AgentTaskTrackers");
        if (err == AGENTEX_OK)
            *out = l;
    }
    cJSON_Delete(resp);
    return err;
}

agentex_err_t adk_tracker_update(agentex_client_t *c, const char *tracker_id,
                                 const char *last_processed_event_id, const char *status,
                                 const char *status_reason, bool keep_status, adk_tracker_t **out)
{
    static const char fn[] = "adk_tracker_update";
    adk_tracker_t *cur = NULL;
    char *path = NULL;
    cJSON *body = NULL, *resp = NULL;
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
        err = tracker_fetch(c, fn, tracker_id, &cur);
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
    err = agx_adk_path(c, fn, "/tracker/", tracker_id, NULL, &path);
    if (err != AGENTEX_OK)
        goto out;
    err = agx_client_request(c, "PUT", path, NULL, body, out ? &resp : NULL);
    if (err == AGENTEX_OK && out)
        err = tracker_result(c, fn, resp, out);
out:
    adk_tracker_free(cur);
    agx_free(path);
    cJSON_Delete(body);
    cJSON_Delete(resp);
    return err;
}
