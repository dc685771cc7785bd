/*
 * state_agent.c - an agent that keeps a per-task counter in adk_state and answers
 * every event with "Turn N".
 *
 * Shows: get-or-create of the task's state at task/create and on every event
 * (adk_state_get_by_task_and_agent, then adk_state_create on AGENTEX_ENOTFOUND),
 * updating it with adk_state_update, and the
 * per-task mailbox: events of one task are handled one at a time, so the
 * read-increment-write below needs no lock.
 *
 * Build:
 *   cc state_agent.c -o state_agent $(pkg-config --cflags --libs agentex)
 * Run:
 *   AGENT_NAME=state-agent ACP_URL=http://localhost ACP_PORT=8001 \
 *   AGENTEX_BASE_URL=http://localhost:5003 ./state_agent
 */
#include <agentex/agentex.h>
#include <stdio.h>

static agentex_err_t post_text(acp_ctx_t *ctx, const char *task_id, const char *text)
{
    adk_content_t *content = NULL;
    adk_message_t *msg = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_AGENT, text, &content);
    if (err == AGENTEX_OK)
        err = adk_messages_create(acp_ctx_client(ctx), task_id, content, ADK_STREAMING_NONE,
                                  ADK_TIME_NONE, &msg);
    adk_message_free(msg);
    adk_content_free(content);
    return err;
}

/* The task's state, created as {"turns":0} when there is none yet.  (The backend does
 * not make (task, agent) unique, so always look before creating.) */
static agentex_err_t get_or_create_state(agentex_client_t *c, const char *task_id,
                                         const char *agent_id, adk_state_t **out)
{
    agentex_err_t err = adk_state_get_by_task_and_agent(c, task_id, agent_id, out);
    if (err == AGENTEX_ENOTFOUND) {
        cJSON *initial = cJSON_CreateObject();
        if (!initial || !cJSON_AddNumberToObject(initial, "turns", 0))
            err = AGENTEX_ENOMEM;
        else
            err = adk_state_create(c, task_id, agent_id, initial, out);
        cJSON_Delete(initial);
    }
    return err;
}

static agentex_err_t on_task_create(acp_ctx_t *ctx, const adk_task_t *task, const cJSON *params,
                                    void *userdata)
{
    (void)params;
    (void)userdata;
    agentex_client_t *c = acp_ctx_client(ctx);
    adk_state_t *state = NULL;
    /* task/create may arrive more than once for a task (protocol 7.4): get-or-create */
    agentex_err_t err = get_or_create_state(c, adk_task_id(task), acp_ctx_agent_id(ctx), &state);
    if (err != AGENTEX_OK)
        acp_ctx_set_error(ctx, "%s (%s)", agentex_strerror(err), agentex_client_errmsg(c));
    adk_state_free(state);
    return err;
}

static agentex_err_t on_event_send(acp_ctx_t *ctx, const adk_task_t *task, const adk_event_t *event,
                                   void *userdata)
{
    (void)event;
    (void)userdata;
    agentex_client_t *c = acp_ctx_client(ctx);
    const char *task_id = adk_task_id(task), *agent_id = acp_ctx_agent_id(ctx);
    adk_state_t *state = NULL, *updated = NULL;
    cJSON *value = NULL;

    agentex_err_t err = get_or_create_state(c, task_id, agent_id, &state);
    if (err != AGENTEX_OK)
        goto out;

    /* increment and write back (the whole state is replaced) */
    value = cJSON_Duplicate(adk_state_value(state), 1);
    if (!value) {
        err = AGENTEX_ENOMEM;
        goto out;
    }
    const cJSON *turns = cJSON_GetObjectItemCaseSensitive(value, "turns");
    int n = (cJSON_IsNumber(turns) ? turns->valueint : 0) + 1;
    cJSON_DeleteItemFromObjectCaseSensitive(value, "turns");
    if (!cJSON_AddNumberToObject(value, "turns", n)) {
        err = AGENTEX_ENOMEM;
        goto out;
    }
    err = adk_state_update(c, adk_state_id(state), task_id, agent_id, value, &updated);
    if (err != AGENTEX_OK)
        goto out;

    char reply[64];
    snprintf(reply, sizeof reply, "Turn %d", n);
    err = post_text(ctx, task_id, reply);
out:
    if (err != AGENTEX_OK)
        acp_ctx_set_error(ctx, "%s (%s)", agentex_strerror(err), agentex_client_errmsg(c));
    cJSON_Delete(value);
    adk_state_free(updated);
    adk_state_free(state);
    return err;
}

int main(void)
{
    agentex_set_log_cb(AGENTEX_LOG_INFO, agentex_log_stderr, NULL);
    acp_server_t *server = NULL;
    agentex_err_t err = acp_server_new(&server);
    if (err != AGENTEX_OK) {
        fprintf(stderr, "state_agent: %s\n", agentex_strerror(err));
        return 1;
    }
    if ((err = acp_server_on_task_create(server, on_task_create, NULL)) != AGENTEX_OK ||
        (err = acp_server_on_event_send(server, on_event_send, NULL)) != AGENTEX_OK ||
        (err = acp_server_run(server)) != AGENTEX_OK)
        fprintf(stderr, "state_agent: %s: %s\n", agentex_strerror(err), acp_server_errmsg(server));
    if (acp_server_free(server) != AGENTEX_OK)
        fprintf(stderr, "state_agent: could not free the server\n");
    return err == AGENTEX_OK ? 0 : 1;
}
