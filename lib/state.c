/*
 * lib/state.c - adk_state: /states (protocol 4.3, vectors 8.10).
 */
#include "adk_internal.h"
#include "agentex/state.h"
#include "client_internal.h"

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

/* POST /states (create) or PUT /states/{state_id} (update). */
static agentex_err_t state_write(agentex_client_t *c, const char *fn, bool update,
                                 const char *state_id, const char *task_id, const char *agent_id,
                                 const cJSON *state, adk_state_t **out)
{
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (update && !agx_adk_str_ok(state_id))
        return agx_adk_einval(c, fn, "state_id is NULL or empty");
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!agx_adk_str_ok(agent_id))
        return agx_adk_einval(c, fn, "agent_id is NULL or empty");
    if (!cJSON_IsObject(state))
        return agx_adk_einval(c, fn, "state is not a JSON object");
    cJSON *body = state_body(task_id, agent_id, state, update);
    if (!body)
        return agx_adk_enomem(c, fn);
    if (update)
        err =
            agx_adk_request_at(c, fn, "PUT", "/states/", state_id, NULL, body, &agx_adk_state, out);
    else
        err = agx_adk_request(c, fn, "POST", "/states", NULL, body, &agx_adk_state, out);
    cJSON_Delete(body);
    return err;
}

agentex_err_t adk_state_create(agentex_client_t *c, const char *task_id, const char *agent_id,
                               const cJSON *state, adk_state_t **out)
{
    return state_write(c, "adk_state_create", false, NULL, task_id, agent_id, state, out);
}

/* GET or DELETE /states/{id}. */
static agentex_err_t state_by_id(agentex_client_t *c, const char *fn, const char *method,
                                 const char *state_id, adk_state_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_by_id(c, fn, method, "/states/", state_id, "state_id", &agx_adk_state, out);
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
    if (out)
        *out = NULL;
    return agx_adk_find(c, "adk_state_get_by_task_and_agent", "/states", task_id, agent_id,
                        &agx_adk_state, "a list of States", "state", out);
}

agentex_err_t adk_state_update(agentex_client_t *c, const char *state_id, const char *task_id,
                               const char *agent_id, const cJSON *state, adk_state_t **out)
{
    return state_write(c, "adk_state_update", true, state_id, task_id, agent_id, state, out);
}
