/*
 * lib/tasks.c - adk_tasks and adk_agents: /tasks and /agents (protocol 4.5, 4.6,
 * vectors 8.11).
 */
#include "adk_internal.h"
#include "agentex/tasks.h"
#include "client_internal.h"
#include "internal.h"
#include "types_internal.h"

static agentex_err_t task_result(agentex_client_t *c, const char *fn, const cJSON *json,
                                 adk_task_t **out)
{
    adk_task_t *t = NULL;
    agentex_err_t err = agx_adk_parsed(c, fn, adk_task_from_json(json, &t), "a Task");
    if (err == AGENTEX_OK)
        *out = t;
    return err;
}

static agentex_err_t agent_result(agentex_client_t *c, const char *fn, const cJSON *json,
                                  adk_agent_t **out)
{
    adk_agent_t *a = NULL;
    agentex_err_t err = agx_adk_parsed(c, fn, adk_agent_from_json(json, &a), "an Agent");
    if (err == AGENTEX_OK)
        *out = a;
    return err;
}

/* GET <prefix><escaped key> answered by one Task. */
static agentex_err_t task_get(agentex_client_t *c, const char *fn, const char *prefix,
                              const char *key, const char *key_name, adk_task_t **out)
{
    char *path = NULL;
    cJSON *resp = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(key))
        return agx_client_fail(c, AGENTEX_EINVAL, "%s: %s is NULL or empty", fn, key_name);
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    err = agx_adk_path(c, fn, prefix, key, NULL, &path);
    if (err != AGENTEX_OK)
        return err;
    err = agx_client_request(c, "GET", path, NULL, NULL, &resp);
    if (err == AGENTEX_OK)
        err = task_result(c, fn, resp, out);
    agx_free(path);
    cJSON_Delete(resp);
    return err;
}

agentex_err_t adk_tasks_get(agentex_client_t *c, const char *task_id, adk_task_t **out)
{
    return task_get(c, "adk_tasks_get", "/tasks/", task_id, "task_id", out);
}

agentex_err_t adk_tasks_get_by_name(agentex_client_t *c, const char *name, adk_task_t **out)
{
    return task_get(c, "adk_tasks_get_by_name", "/tasks/name/", name, "name", out);
}

agentex_err_t adk_tasks_list(agentex_client_t *c, const char *agent_id, const char *agent_name,
                             const adk_list_opts_t *opts, adk_task_list_t **out)
{
    static const char fn[] = "adk_tasks_list";
    agx_adk_page_t pg;
    cJSON *resp = NULL;
    adk_task_list_t *l = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (agent_id && !*agent_id)
        return agx_adk_einval(c, fn, "agent_id is empty (use NULL for no filter)");
    if (agent_name && !*agent_name)
        return agx_adk_einval(c, fn, "agent_name is empty (use NULL for no filter)");
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    err = agx_adk_page(c, fn, opts, &pg);
    if (err != AGENTEX_OK)
        return err;
    const char *query[] = {"agent_id", agent_id,    "agent_name",      agent_name,
                           "limit",    pg.limit,    "page_number",     pg.page_number,
                           "order_by", pg.order_by, "order_direction", pg.order_direction,
                           NULL};
    err = agx_client_request(c, "GET", "/tasks", query, NULL, &resp);
    if (err == AGENTEX_OK) {
        err = agx_adk_parsed(c, fn, agx_task_list_from_json(resp, &l), "a list of Tasks");
        if (err == AGENTEX_OK)
            *out = l;
    }
    cJSON_Delete(resp);
    return err;
}

agentex_err_t adk_tasks_update(agentex_client_t *c, const char *task_id, const cJSON *task_metadata,
                               const cJSON *merge_params, adk_task_t **out)
{
    static const char fn[] = "adk_tasks_update";
    char *path = NULL;
    cJSON *body = NULL, *resp = NULL;
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
    err = agx_adk_path(c, fn, "/tasks/", task_id, NULL, &path);
    if (err != AGENTEX_OK)
        goto out;
    err = agx_client_request(c, "PUT", path, NULL, body, out ? &resp : NULL);
    if (err == AGENTEX_OK && out)
        err = task_result(c, fn, resp, out);
out:
    agx_free(path);
    cJSON_Delete(body);
    cJSON_Delete(resp);
    return err;
}

/* POST /tasks/{id}/<action> {"reason": reason|null} */
static agentex_err_t task_transition(agentex_client_t *c, const char *fn, const char *action,
                                     const char *task_id, const char *reason, adk_task_t **out)
{
    char *path = NULL;
    cJSON *body = NULL, *resp = NULL;
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
    err = agx_adk_path(c, fn, "/tasks/", task_id, action, &path);
    if (err != AGENTEX_OK)
        goto out;
    err = agx_client_request(c, "POST", path, NULL, body, out ? &resp : NULL);
    if (err == AGENTEX_OK && out)
        err = task_result(c, fn, resp, out);
out:
    agx_free(path);
    cJSON_Delete(body);
    cJSON_Delete(resp);
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
    static const char fn[] = "adk_tasks_delete";
    char *path = NULL;
    agentex_err_t err;

    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    err = agx_adk_path(c, fn, "/tasks/", task_id, NULL, &path);
    if (err != AGENTEX_OK)
        return err;
    err = agx_client_request(c, "DELETE", path, NULL, NULL, NULL);
    agx_free(path);
    return err;
}

/* ---- agents ---- */

static agentex_err_t agent_get(agentex_client_t *c, const char *fn, const char *prefix,
                               const char *key, const char *key_name, adk_agent_t **out)
{
    char *path = NULL;
    cJSON *resp = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(key))
        return agx_client_fail(c, AGENTEX_EINVAL, "%s: %s is NULL or empty", fn, key_name);
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    err = agx_adk_path(c, fn, prefix, key, NULL, &path);
    if (err != AGENTEX_OK)
        return err;
    err = agx_client_request(c, "GET", path, NULL, NULL, &resp);
    if (err == AGENTEX_OK)
        err = agent_result(c, fn, resp, out);
    agx_free(path);
    cJSON_Delete(resp);
    return err;
}

agentex_err_t adk_agents_get(agentex_client_t *c, const char *agent_id, adk_agent_t **out)
{
    return agent_get(c, "adk_agents_get", "/agents/", agent_id, "agent_id", out);
}

agentex_err_t adk_agents_get_by_name(agentex_client_t *c, const char *name, adk_agent_t **out)
{
    return agent_get(c, "adk_agents_get_by_name", "/agents/name/", name, "name", out);
}

agentex_err_t adk_agents_list(agentex_client_t *c, const adk_list_opts_t *opts,
                              adk_agent_list_t **out)
{
    static const char fn[] = "adk_agents_list";
    agx_adk_page_t pg;
    cJSON *resp = NULL;
    adk_agent_list_t *l = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    err = agx_adk_page(c, fn, opts, &pg);
    if (err != AGENTEX_OK)
        return err;
    const char *query[] = {"limit",           pg.limit,           "page_number",
                           pg.page_number,    "order_by",         pg.order_by,
                           "order_direction", pg.order_direction, NULL};
    err = agx_client_request(c, "GET", "/agents", query, NULL, &resp);
    if (err == AGENTEX_OK) {
        err = agx_adk_parsed(c, fn, agx_agent_list_from_json(resp, &l), "a list of Agents");
        if (err == AGENTEX_OK)
            *out = l;
    }
    cJSON_Delete(resp);
    return err;
}
