/*
 * streaming_agent.c - an async Agentex agent that streams its answer word by word.
 *
 * Each event the user sends gets a long answer.  The agent opens a streamed message
 * (POST /messages, IN_PROGRESS, then a "start" update), publishes every word as a text
 * delta (coalesced by default: the first at once, then merged every 50 ms or 128
 * characters), and closes it ("done", then PUT /messages/{id} with the whole text).
 * Clients watching GET /tasks/{id}/stream see the words arrive; GET /messages shows the
 * final text.  A publish failure is logged but never loses the message.
 *
 * Build:  cc streaming_agent.c $(pkg-config --cflags --libs agentex) -o streaming_agent
 * Run:    AGENTEX_BASE_URL=http://localhost:5003 AGENT_NAME=streaming-agent ./streaming_agent
 *
 * Environment: the ACP server's (AGENTEX_BASE_URL, AGENT_NAME, ACP_URL, ACP_PORT, ...)
 * and the stream transport's: REDIS_URL (the real backend), else AGENTEX_STREAM_WS_URL
 * or AGENTEX_BASE_URL (agentex-dev's websocket); REDIS_STREAM_MAXLEN,
 * REDIS_STREAM_TTL_SECONDS, AGENTEX_STREAMING_MODE (off, per_token, coalesced).
 * With agentex-dev: no REDIS_URL uses its websocket; to test the real backend's Redis path,
 * start `agentex-dev --redis-url redis://127.0.0.1:6379` and run the agent with the same
 * REDIS_URL (agentex-dev then relays what the agent XADDs to task:{id}).
 * Stops on SIGINT / SIGTERM.
 */
#include <agentex/agentex.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char ANSWER[] =
    "Streaming lets a user watch an answer being written instead of waiting for all of "
    "it. This agent sends each word as a small text delta; the library merges deltas "
    "that arrive close together, so the stream stays light even when a model produces "
    "hundreds of tokens per second. When the answer is complete the whole text is "
    "stored with the message, so a client that connects later still reads every word.";

static agentex_err_t stream_answer(acp_ctx_t *ctx, adk_streamer_t *streamer, const char *task_id)
{
    adk_content_t *initial = NULL;
    adk_streaming_msg_t *msg = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_AGENT, "", &initial);
    if (err == AGENTEX_OK)
        err = adk_content_set_format(initial, ADK_FORMAT_MARKDOWN);
    if (err == AGENTEX_OK)
        err = adk_streaming_open(acp_ctx_client(ctx), streamer, task_id, initial, &msg);
    if (err != AGENTEX_OK) {
        acp_ctx_log(ctx, AGENTEX_LOG_ERROR, "open: %s: %s", agentex_strerror(err),
                    agentex_client_errmsg(acp_ctx_client(ctx)));
        goto out;
    }
    const char *p = ANSWER;
    while (*p && !acp_task_cancelled(ctx)) {
        char word[64];
        size_t n = strcspn(p, " ");
        size_t sp = p[n] == ' ' ? 1 : 0;
        if (n + sp >= sizeof word)
            n = sizeof word - 1 - sp;
        memcpy(word, p, n + sp);
        word[n + sp] = '\0';
        p += n + sp;
        err = adk_streaming_text(msg, word);
        if (err != AGENTEX_OK)
            break;
        struct timespec pause = {0, 20 * 1000000L}; // pretend a model is thinking
        nanosleep(&pause, NULL);
    }
    adk_message_t *stored = NULL;
    agentex_err_t cerr = adk_streaming_close(msg, &stored);
    if (cerr != AGENTEX_OK)
        acp_ctx_log(ctx, AGENTEX_LOG_ERROR, "close: %s: %s", agentex_strerror(cerr),
                    agentex_client_errmsg(acp_ctx_client(ctx)));
    else if (adk_streaming_publish_error(msg) != AGENTEX_OK)
        // the code only: the streamer's message may be another handler's by now (the
        // library logged the details when the publish failed)
        acp_ctx_log(ctx, AGENTEX_LOG_WARN, "stored, but live streaming failed: %s",
                    agentex_strerror(adk_streaming_publish_error(msg)));
    if (err == AGENTEX_OK)
        err = cerr;
    adk_message_free(stored);
out:
    adk_streaming_msg_free(msg);
    adk_content_free(initial);
    return err;
}

static agentex_err_t on_event(acp_ctx_t *ctx, const adk_task_t *task, const adk_event_t *event,
                              void *userdata)
{
    (void)event;
    return stream_answer(ctx, userdata, adk_task_id(task));
}

static agentex_err_t on_create(acp_ctx_t *ctx, const adk_task_t *task, const cJSON *params,
                               void *userdata)
{
    (void)ctx, (void)task, (void)params, (void)userdata;
    return AGENTEX_OK;
}

int main(void)
{
    agentex_set_log_cb(AGENTEX_LOG_INFO, agentex_log_stderr, NULL);
    adk_streamer_t *streamer = NULL;
    acp_server_t *server = NULL;
    agentex_err_t err = adk_streamer_from_env(&streamer);
    if (err != AGENTEX_OK) {
        fprintf(stderr, "stream transport: %s\n", agentex_strerror(err));
        return 1;
    }
    err = acp_server_new(&server);
    if (err == AGENTEX_OK)
        err = acp_server_on_task_create(server, on_create, streamer);
    if (err == AGENTEX_OK)
        err = acp_server_on_event_send(server, on_event, streamer);
    if (err == AGENTEX_OK)
        err = acp_server_run(server); // until SIGINT / SIGTERM
    if (err != AGENTEX_OK)
        fprintf(stderr, "streaming_agent: %s: %s\n", agentex_strerror(err),
                server ? acp_server_errmsg(server) : "");
    if (acp_server_free(server) != AGENTEX_OK)
        fprintf(stderr, "streaming_agent: server not freed\n");
    adk_streamer_free(streamer); // after the server: no handler uses it any more
    return err == AGENTEX_OK ? 0 : 1;
}
