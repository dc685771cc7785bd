/*
 * echo_agent.c - the smallest useful Agentex agent: it greets every new task and
 * echoes every text event back as an agent message.
 *
 * Shows: creating an acp_server_t, registering the three async handlers, posting a
 * message from inside a handler with the worker's client, logging with the task id,
 * and letting acp_server_run() stop cleanly on SIGINT / SIGTERM.
 *
 * Build:
 *   cc echo_agent.c -o echo_agent $(pkg-config --cflags --libs agentex)
 * Run (against a local backend, e.g. agentex-dev on port 5003):
 *   AGENT_NAME=echo-agent ACP_URL=http://localhost ACP_PORT=8000 \
 *   AGENTEX_BASE_URL=http://localhost:5003 ./echo_agent
 * It registers itself, then serves POST /api and GET /healthz until Ctrl-C.
 */
#include <agentex/agentex.h>
#include <stdio.h>

/* Posts one text message authored by the agent to the task. */
static agentex_err_t post_text(acp_ctx_t *ctx, const char *task_id, const char *text)
{
    adk_content_t *content = NULL;
    adk_message_t *msg = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_AGENT, text, &content);
    if (err == AGENTEX_OK)
        err = adk_messages_create(acp_ctx_client(ctx), task_id, content, ADK_STREAMING_NONE,
                                  ADK_TIME_NONE, &msg);
    if (err != AGENTEX_OK)
        acp_ctx_set_error(ctx, "posting a message: %s (%s)", agentex_strerror(err),
                          agentex_client_errmsg(acp_ctx_client(ctx)));
    adk_message_free(msg);
    adk_content_free(content);
    return err;
}

static agentex_err_t on_task_create(acp_ctx_t *ctx, const adk_task_t *task, const cJSON *params,
                                    void *userdata)
{
    (void)params;
    (void)userdata;
    acp_ctx_log(ctx, AGENTEX_LOG_INFO, "new task");
    return post_text(ctx, adk_task_id(task), "Welcome! Send me a message and I will echo it.");
}

static agentex_err_t on_event_send(acp_ctx_t *ctx, const adk_task_t *task, const adk_event_t *event,
                                   void *userdata)
{
    (void)userdata;
    if (acp_task_cancelled(ctx))
        return AGENTEX_OK; /* the task was cancelled while this event waited */
    const adk_content_t *content = adk_event_content(event);
    const char *text = content ? adk_content_text(content) : NULL;
    if (!text) {
        acp_ctx_log(ctx, AGENTEX_LOG_INFO, "ignoring a non-text event");
        return AGENTEX_OK;
    }
    char reply[4096];
    snprintf(reply, sizeof reply, "You said: %s", text);
    return post_text(ctx, adk_task_id(task), reply);
}

static agentex_err_t on_task_cancel(acp_ctx_t *ctx, const adk_task_t *task, void *userdata)
{
    (void)task;
    (void)userdata;
    acp_ctx_log(ctx, AGENTEX_LOG_INFO, "task cancelled");
    return AGENTEX_OK;
}

int main(void)
{
    agentex_set_log_cb(AGENTEX_LOG_INFO, agentex_log_stderr, NULL);

    acp_server_t *server = NULL;
    agentex_err_t err = acp_server_new(&server);
    if (err != AGENTEX_OK) {
        fprintf(stderr, "echo_agent: %s\n", agentex_strerror(err));
        return 1;
    }
    if ((err = acp_server_on_task_create(server, on_task_create, NULL)) != AGENTEX_OK ||
        (err = acp_server_on_event_send(server, on_event_send, NULL)) != AGENTEX_OK ||
        (err = acp_server_on_task_cancel(server, on_task_cancel, NULL)) != AGENTEX_OK ||
        (err = acp_server_run(server)) != AGENTEX_OK) /* returns after SIGINT/SIGTERM */
        fprintf(stderr, "echo_agent: %s: %s\n", agentex_strerror(err), acp_server_errmsg(server));
    if (acp_server_free(server) != AGENTEX_OK)
        fprintf(stderr, "echo_agent: could not free the server\n");
    return err == AGENTEX_OK ? 0 : 1;
}
