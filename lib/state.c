/*
 * lib/state.c - adk_state: /states (protocol 4.3, vectors 8.10).
 */
#include "adk_internal.h"
#include "agentex/state.h"
#include "client_internal.h"
#include "internal.h"
#include "types_internal.h"

static agentex_err_t state_result(agentex_client_t *c, const char *fn, const cJSON *json,
                                  adk_state_t **out)
{
    adk_state_t *s = NULL;
    agentex_err_t err = agx_adk_parsed(c, fn, adk_state_from_json(json, &s), "a State");
    if (err == AGENTEX_OK)
        *out = s;
    return err;
}

/* {"state": ..., "task_id": ..., "agent_id": ...} in the order the protocol shows for
 * each call (create: task_id, agent_id, state; update: state, task_id, agent_id). */
static cJSON *state_body(const char *task_id, const char *agent_id, const cJSON *state,
                         bool state_first)
{
    cJSON *body = cJSON_CreateObject();
    if (!body)
        return NULL;
    bool ok = true;
    if (state_first)
        ok = agx_adk_add_copy(body, "state", state);
    ok = ok && agx_adk_add_str(body, "task_id", task_id) &&
         agx_adk_add_str(body, "agent_id", agent_id);
    if (ok && !state_first)
        ok = agx_adk_add_copy(body, "state", state);
    if (!ok) {
        cJSON_Delete(body);
        return NULL;
    }
    return body;
}

agentex_err_t adk_state_create(agentex_client_t *c, const char *task_id, const char *agent_id,
                               const cJSON *state, adk_state_t **out)
{
    static const char fn[] = "adk_state_create";
    cJSON *body = NULL, *resp = NULL;
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
    if (!cJSON_IsObject(state))
        return agx_adk_einval(c, fn, "state is not a JSON object");
    body = state_body(task_id, agent_id, state, false);
    if (!body)
        return agx_adk_enomem(c, fn);
    err = agx_client_request(c, "POST", "/states", NULL, body, out ? &resp : NULL);
    if (err == AGENTEX_OK && out)
        err = state_result(c, fn, resp, out);
    cJSON_Delete(body);
    cJSON_Delete(resp);
    return err;
}

/* GET or DELETE /states/{id}. */
static agentex_err_t state_by_id(agentex_client_t *c, const char *fn, const char *method,
                                 const char *state_id, adk_state_t **out)
{
    char *path = NULL;
    cJSON *resp = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(state_id))
        return agx_adk_einval(c, fn, "state_id is NULL or empty");
    if (!out && method[0] == 'G')
        return agx_adk_einval(c, fn, "out is NULL");
    err = agx_adk_path(c, fn, "/states/", state_id, NULL, &path);
    if (err != AGENTEX_OK)
        return err;
    err = agx_client_request(c, method, path, NULL, NULL, out ? &resp : NULL);
    if (err == AGENTEX_OK && out)
        err = state_result(c, fn, resp, out);
    agx_free(path);
    cJSON_Delete(resp);
    return err;
}

agentex_err_t adk_state_get(agentex_client_t *c, const char *state_id, adk_state_t **out)
{
    return state_by_id(c, "adk_state_get", "GET", state_id, out);
}

agentex_err_t adk_state_delete(agentex_client_t *c, const char *state_id, adk_state_t **out)
{
    return state_by_id(c, "adk_state_delete", "DELETE", state_id, out);
}

agentex_err_t adk_state_get_by_task_and_agent(agentex_client_t *c, const char *task_id,
                                              const char *agent_id, adk_state_t **out)
{
    static const char fn[] = "adk_state_get_by_task_and_agent";
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
    err = agx_client_request(c, "GET", "/states", query, NULL, &resp);
    if (err != AGENTEX_OK)
        goto out;
    if (!cJSON_IsArray(resp)) {
        err = agx_adk_parsed(c, fn, AGENTEX_EPROTO, "a list of States");
        goto out;
    }
    if (cJSON_GetArraySize(resp) == 0) {
        err = agx_client_fail(c, AGENTEX_ENOTFOUND, "%s: no state for task %s and agent %s", fn,
                              task_id, agent_id);
        goto out;
    }
    err = state_result(c, fn, cJSON_GetArrayItem(resp, 0), out);
out:
    cJSON_Delete(resp);
    return err;
}

agentex_err_t adk_state_update(agentex_client_t *c, const char *state_id, const char *task_id,
                               const char *agent_id, const cJSON *state, adk_state_t **out)
{
    static const char fn[] = "adk_state_update";
    char *path = NULL;
    cJSON *body = NULL, *resp = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(state_id))
        return agx_adk_einval(c, fn, "state_id is NULL or empty");
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!agx_adk_str_ok(agent_id))
        return agx_adk_einval(c, fn, "agent_id is NULL or empty");
    if (!cJSON_IsObject(state))
        return agx_adk_einval(c, fn, "state is not a JSON object");
    body = state_body(task_id, agent_id, state, true);
    if (!body)
        return agx_adk_enomem(c, fn);
    err = agx_adk_path(c, fn, "/states/", state_id, NULL, &path);
    if (err == AGENTEX_OK)
        err = agx_client_request(c, "PUT", path, NULL, body, out ? &resp : NULL);
    if (err == AGENTEX_OK && out)
        err = state_result(c, fn, resp, out);
    agx_free(path);
    cJSON_Delete(body);
    cJSON_Delete(resp);
    return err;
}
