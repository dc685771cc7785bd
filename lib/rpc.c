/*
 * lib/rpc.c - adk_rpc: client-side JSON-RPC to an agent through the backend
 * (protocol 4.7, vectors 8.14).
 */
#include <stdatomic.h>
#include <string.h>

#include "adk_internal.h"
#include "agentex/rpc.h"
#include "client_internal.h"
#include "internal.h"

/* Request ids: one increasing counter for the process (ids only need to differ between
 * the calls of one connection; the counter is the cheapest way to make them differ). */
static atomic_uint_fast32_t rpc_next_id = 1;

/* Checks the envelope of an answer to request id and moves its "result" to *result
 * (NULL allowed: the result is dropped). */
static agentex_err_t rpc_answer(agentex_client_t *c, const char *fn, cJSON *resp, double id,
                                cJSON **result)
{
    if (!cJSON_IsObject(resp))
        return agx_client_fail_answer(c, AGENTEX_EPROTO, "%s: the answer is not a JSON-RPC object",
                                      fn);
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(resp, "jsonrpc");
    if (!cJSON_IsString(ver) || strcmp(ver->valuestring, "2.0") != 0)
        return agx_client_fail_answer(c, AGENTEX_EPROTO,
                                      "%s: the answer's \"jsonrpc\" is not \"2.0\"", fn);
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(resp, "id");
    bool id_ok = cJSON_IsNumber(rid) && rid->valuedouble == id;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(resp, "error");
    if (error && !cJSON_IsNull(error)) {
        /* A request the peer could not read is answered with id null (JSON-RPC 2.0 5). */
        if (!id_ok && !cJSON_IsNull(rid))
            return agx_client_fail_answer(c, AGENTEX_EPROTO,
                                          "%s: the answer's id does not match the request's (%.0f)",
                                          fn, id);
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(error, "code");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(error, "message");
        if (!cJSON_IsObject(error) || !cJSON_IsNumber(code))
            return agx_client_fail_answer(c, AGENTEX_EPROTO, "%s: malformed JSON-RPC error object",
                                          fn);
        return agx_client_fail_answer(c, AGENTEX_ERPC, "%d: %s", code->valueint,
                                      cJSON_IsString(msg) ? msg->valuestring : "(no message)");
    }
    if (!id_ok)
        return agx_client_fail_answer(
            c, AGENTEX_EPROTO, "%s: the answer's id does not match the request's (%.0f)", fn, id);
    cJSON *res = cJSON_DetachItemFromObjectCaseSensitive(resp, "result");
    if (!res)
        return agx_client_fail_answer(c, AGENTEX_EPROTO, "%s: the answer has no \"result\"", fn);
    if (result)
        *result = res;
    else
        cJSON_Delete(res);
    return AGENTEX_OK;
}

/* The common body of every call.  Arguments must be checked by the caller, except
 * method and the agent key which are checked here. */
static agentex_err_t rpc_do(agentex_client_t *c, const char *fn, bool by_id, const char *agent,
                            const char *method, const cJSON *params, cJSON **result)
{
    char *path = NULL;
    cJSON *body = NULL, *resp = NULL;
    agentex_err_t err;

    if (!agx_adk_str_ok(agent))
        return agx_client_fail(c, AGENTEX_EINVAL, "%s: %s is NULL or empty", fn,
                               by_id ? "agent_id" : "agent_name");
    if (!agx_adk_str_ok(method))
        return agx_adk_einval(c, fn, "method is NULL or empty");
    if (params && !cJSON_IsObject(params) && !cJSON_IsArray(params))
        return agx_adk_einval(c, fn, "params is neither a JSON object nor an array");

    double id = (double)atomic_fetch_add(&rpc_next_id, 1);
    body = cJSON_CreateObject();
    if (!body || !agx_adk_add_str(body, "jsonrpc", "2.0") ||
        !agx_adk_add_str(body, "method", method)) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    if (params ? !agx_adk_add_copy(body, "params", params)
               : !cJSON_AddObjectToObject(body, "params")) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    if (!cJSON_AddNumberToObject(body, "id", id)) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    err = agx_adk_path(c, fn, by_id ? "/agents/" : "/agents/name/", agent, "/rpc", &path);
    if (err != AGENTEX_OK)
        goto out;
    err = agx_client_request(c, "POST", path, NULL, body, &resp);
    if (err == AGENTEX_OK)
        err = rpc_answer(c, fn, resp, id, result);
out:
    agx_free(path);
    cJSON_Delete(body);
    cJSON_Delete(resp);
    return err;
}

/* adk_rpc_call and adk_rpc_call_by_id. */
static agentex_err_t rpc_call(agentex_client_t *c, const char *fn, bool by_id, const char *agent,
                              const char *method, const cJSON *params, cJSON **result)
{
    if (result)
        *result = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    return rpc_do(c, fn, by_id, agent, method, params, result);
}

agentex_err_t adk_rpc_call(agentex_client_t *c, const char *agent_name, const char *method,
                           const cJSON *params, cJSON **result)
{
    return rpc_call(c, "adk_rpc_call", false, agent_name, method, params, result);
}

agentex_err_t adk_rpc_call_by_id(agentex_client_t *c, const char *agent_id, const char *method,
                                 const cJSON *params, cJSON **result)
{
    return rpc_call(c, "adk_rpc_call_by_id", true, agent_id, method, params, result);
}

/* Runs method with params (owned by the caller) on the agent named agent_name; when out
 * (the caller's T **) is non-NULL, the result is parsed as kind into *out. */
static agentex_err_t rpc_typed(agentex_client_t *c, const char *fn, const char *agent_name,
                               const char *method, const cJSON *params, const agx_adk_kind_t *kind,
                               void *out)
{
    cJSON *res = NULL;
    agentex_err_t err = rpc_do(c, fn, false, agent_name, method, params, out ? &res : NULL);
    if (err == AGENTEX_OK && out)
        err = agx_adk_result(c, fn, kind, res, out);
    cJSON_Delete(res);
    return err;
}

agentex_err_t adk_rpc_task_create(agentex_client_t *c, const char *agent_name,
                                  const char *task_name, const cJSON *params,
                                  const cJSON *task_metadata, adk_task_t **out)
{
    static const char fn[] = "adk_rpc_task_create";
    cJSON *p = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (task_name && !*task_name)
        return agx_adk_einval(c, fn, "task_name is empty (use NULL for an unnamed task)");
    if (params && !cJSON_IsObject(params))
        return agx_adk_einval(c, fn, "params is not a JSON object");
    if (task_metadata && !cJSON_IsObject(task_metadata))
        return agx_adk_einval(c, fn, "task_metadata is not a JSON object");
    p = cJSON_CreateObject();
    if (!p || (task_name && !agx_adk_add_str(p, "name", task_name)) ||
        (params && !agx_adk_add_copy(p, "params", params)) ||
        (task_metadata && !agx_adk_add_copy(p, "task_metadata", task_metadata))) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    err = rpc_typed(c, fn, agent_name, "task/create", p, &agx_adk_task, out);
out:
    cJSON_Delete(p);
    return err;
}

/*
 * The calls whose params name a task: {"task_id": task_id, "content": content (left out
 * when NULL)}.  message/send (sync) also needs content and adds "stream": false.
 */
static agentex_err_t rpc_on_task(agentex_client_t *c, const char *fn, const char *method,
                                 const char *agent_name, const char *task_id,
                                 const adk_content_t *content, bool sync_send,
                                 const agx_adk_kind_t *kind, void *out)
{
    cJSON *p = NULL;
    agentex_err_t err;

    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (sync_send && !content)
        return agx_adk_einval(c, fn, "content is NULL");
    p = cJSON_CreateObject();
    if (!p || !agx_adk_add_str(p, "task_id", task_id)) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    if (content) {
        err = agx_adk_add_content(p, "content", content);
        if (err != AGENTEX_OK) {
            err = agx_adk_body_fail(c, fn, err, "content cannot be serialised");
            goto out;
        }
    }
    if (sync_send && !cJSON_AddFalseToObject(p, "stream")) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    err = rpc_typed(c, fn, agent_name, method, p, kind, out);
out:
    cJSON_Delete(p);
    return err;
}

agentex_err_t adk_rpc_event_send(agentex_client_t *c, const char *agent_name, const char *task_id,
                                 const adk_content_t *content, adk_event_t **out)
{
    if (out)
        *out = NULL;
    return rpc_on_task(c, "adk_rpc_event_send", "event/send", agent_name, task_id, content, false,
                       &agx_adk_event, out);
}

static agentex_err_t rpc_task_by_id(agentex_client_t *c, const char *fn, const char *method,
                                    const char *agent_name, const char *task_id, adk_task_t **out)
{
    if (out)
        *out = NULL;
    return rpc_on_task(c, fn, method, agent_name, task_id, NULL, false, &agx_adk_task, out);
}

agentex_err_t adk_rpc_task_cancel(agentex_client_t *c, const char *agent_name, const char *task_id,
                                  adk_task_t **out)
{
    return rpc_task_by_id(c, "adk_rpc_task_cancel", "task/cancel", agent_name, task_id, out);
}

agentex_err_t adk_rpc_task_interrupt(agentex_client_t *c, const char *agent_name,
                                     const char *task_id, adk_task_t **out)
{
    return rpc_task_by_id(c, "adk_rpc_task_interrupt", "task/interrupt", agent_name, task_id, out);
}

agentex_err_t adk_rpc_message_send(agentex_client_t *c, const char *agent_name, const char *task_id,
                                   const adk_content_t *content, adk_message_list_t **out)
{
    if (out)
        *out = NULL;
    return rpc_on_task(c, "adk_rpc_message_send", "message/send", agent_name, task_id, content,
                       true, &agx_adk_message_list, out);
}
