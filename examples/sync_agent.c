/*
 * sync_agent.c - a sync agent (ACP type "sync"): the backend calls message/send and
 * reads the reply as an NDJSON stream; this agent streams "You said: <text>" back
 * word by word.
 *
 * Shows: acp_server_on_message_send, and acp_reply_start / acp_reply_delta_text /
 * acp_reply_done writing one update line each, at once.  A sync agent does not create
 * messages itself: the backend persists the user's message and the agent's reply.
 *
 * Build:
 *   cc sync_agent.c -o sync_agent $(pkg-config --cflags --libs agentex)
 * Run:
 *   AGENT_NAME=sync-agent ACP_TYPE=sync ACP_URL=http://localhost ACP_PORT=8003 \
 *   AGENTEX_BASE_URL=http://localhost:5003 ./sync_agent
 */
#include <agentex/agentex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static agentex_err_t on_message_send(acp_ctx_t *ctx, const adk_task_t *task,
                                     const adk_content_t *content, void *userdata)
{
    (void)task;
    (void)userdata;
    const char *text = adk_content_text(content);
    if (!text) {
        acp_ctx_set_error(ctx, "only text messages are understood");
        return AGENTEX_EINVAL; /* a -32602 error line */
    }
    adk_content_t *start = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_AGENT, "", &start);
    if (err == AGENTEX_OK)
        err = adk_content_set_format(start, ADK_FORMAT_MARKDOWN);
    if (err == AGENTEX_OK)
        err = acp_reply_start(ctx, 0, start);
    adk_content_free(start);
    if (err == AGENTEX_OK)
        err = acp_reply_delta_text(ctx, 0, "You said:");
    /* one delta per word of the user's text */
    const char *p = text;
    while (err == AGENTEX_OK && *p) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 0)
            break;
        char *word = malloc(n + 2);
        if (!word) {
            err = AGENTEX_ENOMEM;
            break;
        }
        word[0] = ' ';
        memcpy(word + 1, p, n);
        word[n + 1] = '\0';
        err = acp_reply_delta_text(ctx, 0, word);
        free(word);
        p += n;
    }
    if (err == AGENTEX_OK)
        err = acp_reply_done(ctx, 0);
    return err;
}

int main(void)
{
    agentex_set_log_cb(AGENTEX_LOG_INFO, agentex_log_stderr, NULL);
    acp_server_t *server = NULL;
    agentex_err_t err = acp_server_new(&server);
    if (err != AGENTEX_OK) {
        fprintf(stderr, "sync_agent: %s\n", agentex_strerror(err));
        return 1;
    }
    const char *name = getenv("AGENT_NAME");
    if ((err = acp_server_set_agent(server, name ? name : "sync-agent", getenv("AGENT_DESCRIPTION"),
                                    "sync")) != AGENTEX_OK ||
        (err = acp_server_on_message_send(server, on_message_send, NULL)) != AGENTEX_OK ||
        (err = acp_server_run(server)) != AGENTEX_OK)
        fprintf(stderr, "sync_agent: %s: %s\n", agentex_strerror(err), acp_server_errmsg(server));
    if (acp_server_free(server) != AGENTEX_OK)
        fprintf(stderr, "sync_agent: could not free the server\n");
    return err == AGENTEX_OK ? 0 : 1;
}
