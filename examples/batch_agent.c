/*
 * batch_agent.c - an agent that processes a task's events in batches with the agent
 * task tracker's cursor (protocol 7.3), and posts one summary message per batch.
 *
 * Shows: the cursor pattern.  On every event/send the handler
 *   1. gets the task's tracker (GET /tracker?task_id&agent_id);
 *   2. lists the events after the tracker's cursor (GET /events?...&last_processed_event_id);
 *   3. processes the batch and posts one summary message;
 *   4. moves the cursor past the batch, resending the status (PUT /tracker/{id});
 *   5. repeats until no event is left.
 * Events that arrive while a batch is being processed wait in the task's mailbox; when
 * their turn comes the cursor is already past them and nothing is posted twice.  Because
 * the cursor only moves after a batch was processed, an agent that crashes processes the
 * batch again on the next event (at least once).
 *
 * Build:
 *   cc batch_agent.c -o batch_agent $(pkg-config --cflags --libs agentex)
 * Run:
 *   AGENT_NAME=batch-agent ACP_URL=http://localhost ACP_PORT=8002 \
 *   AGENTEX_BASE_URL=http://localhost:5003 ./batch_agent
 */
#include <agentex/agentex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 50

static agentex_err_t post_text(agentex_client_t *c, const char *task_id, const char *text)
{
    adk_content_t *content = NULL;
    adk_message_t *msg = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_AGENT, text, &content);
    if (err == AGENTEX_OK)
        err = adk_messages_create(c, task_id, content, ADK_STREAMING_NONE, ADK_TIME_NONE, &msg);
    adk_message_free(msg);
    adk_content_free(content);
    return err;
}

/* Builds "Processed N events: a | b | ..." (texts cut to fit). */
static void summarise(const adk_event_list_t *events, char *out, size_t len)
{
    size_t n = adk_event_list_count(events);
    int used = snprintf(out, len, "Processed %zu event%s:", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n && used > 0 && (size_t)used < len; i++) {
        const adk_content_t *c = adk_event_content(adk_event_list_at(events, i));
        const char *text = c ? adk_content_text(c) : NULL;
        used += snprintf(out + used, len - (size_t)used, "%s %s", i ? " |" : "",
                         text ? text : "(non-text)");
    }
}

static agentex_err_t on_event_send(acp_ctx_t *ctx, const adk_task_t *task, const adk_event_t *event,
                                   void *userdata)
{
    (void)event; /* the cursor, not this delivery, says what is new */
    (void)userdata;
    agentex_client_t *c = acp_ctx_client(ctx);
    const char *task_id = adk_task_id(task), *agent_id = acp_ctx_agent_id(ctx);
    adk_tracker_t *tracker = NULL;
    adk_event_list_t *batch = NULL;
    char *cursor = NULL;
    agentex_err_t err = adk_tracker_get_by_task_and_agent(c, task_id, agent_id, &tracker);
    if (err != AGENTEX_OK)
        goto out;
    if (adk_tracker_last_processed_event_id(tracker) &&
        !(cursor = strdup(adk_tracker_last_processed_event_id(tracker)))) {
        err = AGENTEX_ENOMEM;
        goto out;
    }
    while (!acp_task_cancelled(ctx)) {
        err = adk_events_list(c, task_id, agent_id, cursor, BATCH, &batch);
        if (err != AGENTEX_OK)
            goto out;
        size_t n = adk_event_list_count(batch);
        if (n == 0)
            break;
        char summary[2048];
        summarise(batch, summary, sizeof summary);
        if ((err = post_text(c, task_id, summary)) != AGENTEX_OK)
            goto out;
        /* move the cursor only after the batch was processed */
        const char *last = adk_event_id(adk_event_list_at(batch, n - 1));
        char reason[64];
        snprintf(reason, sizeof reason, "processed %zu event%s", n, n == 1 ? "" : "s");
        adk_tracker_t *moved = NULL;
        err = adk_tracker_update(c, adk_tracker_id(tracker), last, "READY", reason, false, &moved);
        adk_tracker_free(moved);
        if (err != AGENTEX_OK)
            goto out;
        free(cursor);
        if (!(cursor = strdup(last))) {
            err = AGENTEX_ENOMEM;
            goto out;
        }
        adk_event_list_free(batch);
        batch = NULL;
    }
out:
    if (err != AGENTEX_OK)
        acp_ctx_set_error(ctx, "%s (%s)", agentex_strerror(err), agentex_client_errmsg(c));
    free(cursor);
    adk_event_list_free(batch);
    adk_tracker_free(tracker);
    return err;
}

/* Sets the tracker's status, leaving the cursor where it is. */
static agentex_err_t mark_tracker(acp_ctx_t *ctx, const adk_task_t *task, const char *status,
                                  const char *reason)
{
    agentex_client_t *c = acp_ctx_client(ctx);
    adk_tracker_t *tracker = NULL;
    agentex_err_t err =
        adk_tracker_get_by_task_and_agent(c, adk_task_id(task), acp_ctx_agent_id(ctx), &tracker);
    if (err == AGENTEX_OK)
        err = adk_tracker_update(c, adk_tracker_id(tracker), NULL, status, reason, false, NULL);
    if (err != AGENTEX_OK)
        acp_ctx_set_error(ctx, "%s (%s)", agentex_strerror(err), agentex_client_errmsg(c));
    adk_tracker_free(tracker);
    return err;
}

static agentex_err_t on_task_create(acp_ctx_t *ctx, const adk_task_t *task, const cJSON *params,
                                    void *userdata)
{
    (void)params;
    (void)userdata;
    /* the backend created the tracker with the task (protocol 7.1): say we are ready */
    return mark_tracker(ctx, task, "READY", "waiting for events");
}

static agentex_err_t on_task_cancel(acp_ctx_t *ctx, const adk_task_t *task, void *userdata)
{
    (void)userdata;
    /* runs after the handlers already queued for the task */
    return mark_tracker(ctx, task, "CANCELLED", "task cancelled");
}

int main(void)
{
    agentex_set_log_cb(AGENTEX_LOG_INFO, agentex_log_stderr, NULL);
    acp_server_t *server = NULL;
    agentex_err_t err = acp_server_new(&server);
    if (err != AGENTEX_OK) {
        fprintf(stderr, "batch_agent: %s\n", agentex_strerror(err));
        return 1;
    }
    if ((err = acp_server_on_task_create(server, on_task_create, NULL)) != AGENTEX_OK ||
        (err = acp_server_on_event_send(server, on_event_send, NULL)) != AGENTEX_OK ||
        (err = acp_server_on_task_cancel(server, on_task_cancel, NULL)) != AGENTEX_OK ||
        (err = acp_server_run(server)) != AGENTEX_OK)
        fprintf(stderr, "batch_agent: %s: %s\n", agentex_strerror(err), acp_server_errmsg(server));
    if (acp_server_free(server) != AGENTEX_OK)
        fprintf(stderr, "batch_agent: could not free the server\n");
    return err == AGENTEX_OK ? 0 : 1;
}
