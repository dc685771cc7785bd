/*
 * lib/tasks.c - adk_tasks and adk_agents: /tasks and /agents (protocol 4.5, 4.6,
 * vectors 8.11).
 */
#include "adk_internal.h"
#include "agentex/tasks.h"
#include "client_internal.h"

agentex_err_t adk_tasks_get(agentex_client_t *c, const char *task_id, adk_task_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_by_id(c, "adk_tasks_get", "GET", "/tasks/", task_id, "task_id", &agx_adk_task,
                         out);
}

agentex_err_t adk_tasks_get_by_name(agentex_client_t *c, const char *name, adk_task_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_by_id(c, "adk_tasks_get_by_name", "GET", "/tasks/name/", name, "name",
                         &agx_adk_task, out);
}

agentex_err_t adk_tasks_list(agentex_client_t *c, const char *agent_id, const char *agent_name,
                             const adk_list_opts_t *opts, adk_task_list_t **out)
{
    const agx_adk_filter_t filters[] = {{"agent_id", agent_id, false},
                                        {"agent_name", agent_name, false}};
    if (out)
        *out = NULL;
    return agx_adk_list(c, "adk_tasks_list", "/tasks", filters, 2, opts, &agx_adk_task_list, out);
}

agentex_err_t adk_tasks_update(agentex_client_t *c, const char *task_id, const cJSON *task_metadata,
                               const cJSON *merge_params, adk_task_t **out)
{
    static const char fn[] = "adk_tasks_update";
    cJSON *body = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!task_metadata && !merge_params)
        return agx_adk_einval(c, fn, "task_metadata and merge_params are both NULL");
    if (task_metadata && !cJSON_IsObject(task_metadata))
        return agx_adk_einval(c, fn, "task_metadata is not a JSON object");
    if (merge_params && !cJSON_IsObject(merge_params))
        return agx_adk_einval(c, fn, "merge_params is not a JSON object");

    body = cJSON_CreateObject();
    if (!body || (task_metadata && !agx_adk_add_copy(body, "task_metadata", task_metadata)) ||
        (merge_params && !agx_adk_add_copy(body, "merge_params", merge_params))) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    err = agx_adk_request_at(c, fn, "PUT", "/tasks/", task_id, NULL, body, &agx_adk_task, out);
out:
    cJSON_Delete(body);
    return err;
}

/* POST /tasks/{id}/<action> {"reason": reason|null} */
static agentex_err_t task_transition(agentex_client_t *c, const char *fn, const char *action,
                                     const char *task_id, const char *reason, adk_task_t **out)
{
    cJSON *body = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    body = cJSON_CreateObject();
    if (!body || !agx_adk_add_str(body, "reason", reason)) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    err = agx_adk_request_at(c, fn, "POST", "/tasks/", task_id, action, body, &agx_adk_task, out);
out:
    cJSON_Delete(body);
    return err;
}

agentex_err_t adk_tasks_complete(agentex_client_t *c, const char *task_id, const char *reason,
                                 adk_task_t **out)
{
    return task_transition(c, "adk_tasks_complete", "/complete", task_id, reason, out);
}

agentex_err_t adk_tasks_fail(agentex_client_t *c, const char *task_id, const char *reason,
                             adk_task_t **out)
{
    return task_transition(c, "adk_tasks_fail", "/fail", task_id, reason, out);
}

agentex_err_t adk_tasks_cancel(agentex_client_t *c, const char *task_id, const char *reason,
                               adk_task_t **out)
{
    return task_transition(c, "adk_tasks_cancel", "/cancel", task_id, reason, out);
}

agentex_err_t adk_tasks_terminate(agentex_client_t *c, const char *task_id, const char *reason,
                                  adk_task_t **out)
{
    return task_transition(c, "adk_tasks_terminate", "/terminate", task_id, reason, out);
}

agentex_err_t adk_tasks_timeout(agentex_client_t *c, const char *task_id, const char *reason,
                                adk_task_t **out)
{
    return task_transition(c, "adk_tasks_timeout", "/timeout", task_id, reason, out);
}

agentex_err_t adk_tasks_interrupt(agentex_client_t *c, const char *task_id, const char *reason,
                                  adk_task_t **out)
{
    return task_transition(c, "adk_tasks_interrupt", "/interrupt", task_id, reason, out);
}

agentex_err_t adk_tasks_delete(agentex_client_t *c, const char *task_id)
{
    return agx_adk_by_id(c, "adk_tasks_delete", "DELETE", "/tasks/", task_id, "task_id", NULL,
                         NULL);
}

/* ---- agents ---- */

agentex_err_t adk_agents_get(agentex_client_t *c, const char *agent_id, adk_agent_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_by_id(c, "adk_agents_get", "GET", "/agents/", agent_id, "agent_id",
                         &agx_adk_agent, out);
}

agentex_err_t adk_agents_get_by_name(agentex_client_t *c, const char *name, adk_agent_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_by_id(c, "adk_agents_get_by_name", "GET", "/agents/name/", name, "name",
                         &agx_adk_agent, out);
}

agentex_err_t adk_agents_list(agentex_client_t *c, const adk_list_opts_t *opts,
                              adk_agent_list_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_list(c, "adk_agents_list", "/agents", NULL, 0, opts, &agx_adk_agent_list, out);
}
