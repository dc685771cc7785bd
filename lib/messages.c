/*
 * lib/messages.c - adk_messages: POST/GET/PUT /messages (protocol 4.1, vectors 8.8).
 */
#include <string.h>

#include "adk_internal.h"
#include "agentex/messages.h"
#include "client_internal.h"

/* The wire text of a streaming status; false for a value outside the enum. */
static bool streaming_name(adk_streaming_status_t s, const char **name)
{
    switch (s) {
    case ADK_STREAMING_NONE:
        *name = NULL;
        return true;
    case ADK_STREAMING_IN_PROGRESS:
        *name = "IN_PROGRESS";
        return true;
    case ADK_STREAMING_DONE:
        *name = "DONE";
        return true;
    }
    return false;
}

/* {"task_id": task_id, "content": content[, "streaming_status": ss]}, the start of the
 * body of create and update. */
static agentex_err_t message_body(agentex_client_t *c, const char *fn, const char *task_id,
                                  const adk_content_t *content, const char *ss, cJSON **out)
{
    cJSON *body = cJSON_CreateObject();
    agentex_err_t err;
    if (!body || !agx_adk_add_str(body, "task_id", task_id)) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    err = agx_adk_add_content(body, "content", content);
    if (err != AGENTEX_OK) {
        err = agx_adk_body_fail(c, fn, err, "content cannot be serialised");
        goto out;
    }
    if (ss && !agx_adk_add_str(body, "streaming_status", ss)) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
out:
    if (err != AGENTEX_OK) {
        cJSON_Delete(body);
        body = NULL;
    }
    *out = body;
    return err;
}

/* The error for contents[i] of a batch that adk_content_to_json refused. */
static agentex_err_t batch_content_fail(agentex_client_t *c, const char *fn, agentex_err_t err,
                                        size_t i)
{
    if (err == AGENTEX_ENOMEM)
        return agx_adk_enomem(c, fn);
    return agx_client_fail(c, AGENTEX_EINVAL, "%s: contents[%zu] cannot be serialised", fn, i);
}

agentex_err_t adk_messages_create(agentex_client_t *c, const char *task_id,
                                  const adk_content_t *content,
                                  adk_streaming_status_t streaming_status, int64_t created_at,
                                  adk_message_t **out)
{
    static const char fn[] = "adk_messages_create";
    const char *ss = NULL;
    cJSON *body = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!content)
        return agx_adk_einval(c, fn, "content is NULL");
    if (!streaming_name(streaming_status, &ss))
        return agx_adk_einval(c, fn, "streaming_status is not an adk_streaming_status_t");

    err = message_body(c, fn, task_id, content, ss, &body);
    if (err != AGENTEX_OK)
        goto out;
    if (created_at != ADK_TIME_NONE) {
        err = agx_adk_add_time(body, "created_at", created_at);
        if (err != AGENTEX_OK) {
            err = agx_adk_body_fail(c, fn, err, "created_at is out of range");
            goto out;
        }
    }
    err = agx_adk_request(c, fn, "POST", "/messages", NULL, body, &agx_adk_message, out);
out:
    cJSON_Delete(body);
    return err;
}

agentex_err_t adk_messages_get(agentex_client_t *c, const char *message_id, adk_message_t **out)
{
    if (out)
        *out = NULL;
    return agx_adk_by_id(c, "adk_messages_get", "GET", "/messages/", message_id, "message_id",
                         &agx_adk_message, out);
}

agentex_err_t adk_messages_list(agentex_client_t *c, const char *task_id,
                                const adk_list_opts_t *opts, adk_message_list_t **out)
{
    const agx_adk_filter_t filters[] = {{"task_id", task_id, true}};
    if (out)
        *out = NULL;
    return agx_adk_list(c, "adk_messages_list", "/messages", filters, 1, opts,
                        &agx_adk_message_list, out);
}

agentex_err_t adk_messages_update(agentex_client_t *c, const char *task_id, const char *message_id,
                                  const adk_content_t *content,
                                  adk_streaming_status_t streaming_status, adk_message_t **out)
{
    static const char fn[] = "adk_messages_update";
    const char *ss = NULL;
    cJSON *body = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!agx_adk_str_ok(message_id))
        return agx_adk_einval(c, fn, "message_id is NULL or empty");
    if (!content)
        return agx_adk_einval(c, fn, "content is NULL");
    if (!streaming_name(streaming_status, &ss))
        return agx_adk_einval(c, fn, "streaming_status is not an adk_streaming_status_t");

    err = message_body(c, fn, task_id, content, ss, &body);
    if (err != AGENTEX_OK)
        return err;
    err = agx_adk_request_at(c, fn, "PUT", "/messages/", message_id, NULL, body, &agx_adk_message,
                             out);
    cJSON_Delete(body);
    return err;
}

agentex_err_t adk_messages_create_batch(agentex_client_t *c, const char *task_id,
                                        const adk_content_t *const *contents, size_t n,
                                        int64_t created_at, adk_message_list_t **out)
{
    static const char fn[] = "adk_messages_create_batch";
    cJSON *body = NULL, *arr = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!contents || n == 0)
        return agx_adk_einval(c, fn, "contents is NULL or n is 0");
    for (size_t i = 0; i < n; i++)
        if (!contents[i])
            return agx_client_fail(c, AGENTEX_EINVAL, "%s: contents[%zu] is NULL", fn, i);

    body = cJSON_CreateObject();
    if (!body || !agx_adk_add_str(body, "task_id", task_id) ||
        !(arr = cJSON_AddArrayToObject(body, "contents"))) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        cJSON *j = NULL;
        err = adk_content_to_json(contents[i], &j);
        if (err != AGENTEX_OK) {
            err = batch_content_fail(c, fn, err, i);
            goto out;
        }
        if (!cJSON_AddItemToArray(arr, j)) {
            cJSON_Delete(j);
            err = agx_adk_enomem(c, fn);
            goto out;
        }
    }
    if (created_at != ADK_TIME_NONE) {
        err = agx_adk_add_time(body, "created_at", created_at);
        if (err != AGENTEX_OK) {
            err = agx_adk_body_fail(c, fn, err, "created_at is out of range");
            goto out;
        }
    }
    err = agx_adk_request(c, fn, "POST", "/messages/batch", NULL, body, &agx_adk_message_list, out);
out:
    cJSON_Delete(body);
    return err;
}

agentex_err_t adk_messages_update_batch(agentex_client_t *c, const char *task_id,
                                        const char *const *message_ids,
                                        const adk_content_t *const *contents, size_t n,
                                        adk_message_list_t **out)
{
    static const char fn[] = "adk_messages_update_batch";
    cJSON *body = NULL, *updates = NULL;
    agentex_err_t err;

    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!message_ids || !contents || n == 0)
        return agx_adk_einval(c, fn, "message_ids or contents is NULL, or n is 0");
    for (size_t i = 0; i < n; i++) {
        if (!agx_adk_str_ok(message_ids[i]))
            return agx_client_fail(c, AGENTEX_EINVAL, "%s: message_ids[%zu] is NULL or empty", fn,
                                   i);
        if (!contents[i])
            return agx_client_fail(c, AGENTEX_EINVAL, "%s: contents[%zu] is NULL", fn, i);
        /* The ids become the keys of one JSON object: a repeated id would be ambiguous. */
        for (size_t k = 0; k < i; k++)
            if (strcmp(message_ids[k], message_ids[i]) == 0)
                return agx_client_fail(c, AGENTEX_EINVAL,
                                       "%s: message_ids[%zu] repeats message_ids[%zu]", fn, i, k);
    }

    body = cJSON_CreateObject();
    if (!body || !agx_adk_add_str(body, "task_id", task_id) ||
        !(updates = cJSON_AddObjectToObject(body, "updates"))) {
        err = agx_adk_enomem(c, fn);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        err = agx_adk_add_content(updates, message_ids[i], contents[i]);
        if (err != AGENTEX_OK) {
            err = batch_content_fail(c, fn, err, i);
            goto out;
        }
    }
    err = agx_adk_request(c, fn, "PUT", "/messages/batch", NULL, body, &agx_adk_message_list, out);
out:
    cJSON_Delete(body);
    return err;
}
