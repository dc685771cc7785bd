/*
 * agentex.c - the `agentex` command-line tool: talk to agents through an Agentex backend
 * (agentex-dev or the real one) from a shell.
 *
 * It is also an example of the client side of libagentex, written on the public API
 * only: adk_rpc_* (task/create, event/send, task/cancel through the backend),
 * adk_messages_list and adk_agents_get_by_name (REST), and adk_stream_t (the task's
 * Server-Sent Events, with deltas accumulated into whole messages).
 *
 *   agentex [--url URL] [--agent NAME] COMMAND ...
 *
 * Run `agentex --help` for the commands.  Exit status: 0 on success, 1 when a call
 * failed (one line on stderr: "agentex: <what>: <error>: <detail>"), 2 on bad usage.
 *
 * Build:  cc agentex.c $(pkg-config --cflags --libs agentex) -o agentex
 */
#include <agentex/agentex.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char USAGE[] =
    "usage: agentex [--url URL] [--agent NAME] COMMAND ...\n"
    "\n"
    "Talk to Agentex agents through a backend (agentex-dev or the real one).\n"
    "\n"
    "commands:\n"
    "  task create [--name N] [--params JSON]  create a task (get-or-create by name);\n"
    "                                          prints its id\n"
    "  send TASK_ID TEXT          send a text event (author user); prints\n"
    "                             \"<event id> <sequence id>\"\n"
    "  cancel TASK_ID             cancel the task; prints its new status\n"
    "  messages TASK_ID           the task's messages, oldest first (\"agent: ...\")\n"
    "  watch TASK_ID [--timeout S]\n"
    "                             follow the task live: every message as it completes,\n"
    "                             streamed text as it arrives, status changes; ends when\n"
    "                             the task ends, after S seconds, or on Ctrl-C\n"
    "  say TASK_ID TEXT [--timeout S]\n"
    "                             send TEXT and print the agent's reply as it streams\n"
    "                             (default timeout 60 s)\n"
    "  chat NAME                  get-or-create the task named NAME and talk: each line\n"
    "                             read is sent, the conversation is printed live; ends\n"
    "                             at end of input (after the last reply) or Ctrl-C\n"
    "  agent NAME                 the agent's status (\"NAME STATUS\"); exit 1 if unknown\n"
    "\n"
    "options:\n"
    "  --url URL     backend base URL (default: $AGENTEX_BASE_URL, else " AGENTEX_DEFAULT_BASE_URL
    ")\n"
    "  --agent NAME  the agent for task create, send, cancel, say, chat\n"
    "                (default: $AGENT_NAME)\n"
    "  -h, --help    this text\n"
    "\n"
    "Exit status: 0 success, 1 a call failed (one line on stderr), 2 bad usage.\n";

typedef struct cli {
    const char *url;   /* NULL: the environment's */
    const char *agent; /* NULL: $AGENT_NAME */
    agentex_client_t *client;
} cli_t;

/* ---- errors ----------------------------------------------------------------------------- */

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("agentex: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (agentex --help)\n", stderr);
    va_end(ap);
    return EXIT_USAGE;
}

/* One line: "agentex: <what>: <strerror>[: <detail>]", newlines in detail flattened. */
static int fail(const char *what, agentex_err_t err, const char *detail)
{
    fprintf(stderr, "agentex: %s: %s", what, agentex_strerror(err));
    if (detail && *detail) {
        fputs(": ", stderr);
        for (const char *p = detail; *p; p++)
            fputc(*p == '\n' || *p == '\r' ? ' ' : *p, stderr);
    }
    fputc('\n', stderr);
    return EXIT_FAIL;
}

static int fail_client(const cli_t *cli, const char *what, agentex_err_t err)
{
    return fail(what, err, cli->client ? agentex_client_errmsg(cli->client) : "");
}

/* ---- setup ------------------------------------------------------------------------------ */

static int open_client(cli_t *cli)
{
    /* the SDK's environment (keys, extra headers); --url wins over AGENTEX_BASE_URL */
    if (cli->url && setenv("AGENTEX_BASE_URL", cli->url, 1) != 0)
        return fail("backend URL", AGENTEX_ENOMEM, cli->url);
    const char *env = getenv("AGENTEX_BASE_URL");
    agentex_err_t err = env && *env ? agentex_client_from_env(&cli->client)
                                    : agentex_client_new(NULL, &cli->client);
    if (err != AGENTEX_OK)
        return fail("backend URL", err, env);
    /* an interactive tool: fail fast when nothing listens */
    err = agentex_client_set_retries(cli->client, 0, 0, 0);
    if (err == AGENTEX_OK)
        err = agentex_client_set_timeouts(cli->client, 3000, 0);
    if (err != AGENTEX_OK)
        return fail_client(cli, "client", err);
    return 0;
}

static int need_agent(cli_t *cli, const char *command)
{
    if (!cli->agent) {
        const char *env = getenv("AGENT_NAME");
        cli->agent = env && *env ? env : NULL;
    }
    if (!cli->agent)
        return usage_error("%s: no agent: give --agent NAME or set AGENT_NAME", command);
    return 0;
}

/* Parses a positive number of seconds into milliseconds. */
static bool parse_seconds(const char *s, long *ms)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 86400.0 * 365)
        return false;
    *ms = (long)(v * 1000.0 + 0.5);
    if (*ms < 1)
        *ms = 1;
    return true;
}

static const char *author_name(adk_author_t a) { return a == ADK_AUTHOR_AGENT ? "agent" : "user"; }

/* A one-line description of content that is not text. */
static void describe_content(const adk_content_t *c, char *buf, size_t len)
{
    switch (adk_content_type(c)) {
    case ADK_CONTENT_DATA: {
        char *json = cJSON_PrintUnformatted(adk_content_data(c));
        snprintf(buf, len, "[data] %s", json ? json : "");
        cJSON_free(json);
        break;
    }
    case ADK_CONTENT_TOOL_REQUEST:
        snprintf(buf, len, "[tool request] %s",
                 adk_content_tool_name(c) ? adk_content_tool_name(c) : "");
        break;
    case ADK_CONTENT_TOOL_RESPONSE:
        snprintf(buf, len, "[tool response] %s",
                 adk_content_tool_name(c) ? adk_content_tool_name(c) : "");
        break;
    case ADK_CONTENT_REASONING:
        snprintf(buf, len, "[reasoning]");
        break;
    default:
        snprintf(buf, len, "[content]");
        break;
    }
}

static void print_message_line(const adk_content_t *c)
{
    if (!c) {
        printf("agent: \n");
        return;
    }
    const char *text = adk_content_text(c);
    char other[512];
    if (!text) {
        describe_content(c, other, sizeof other);
        text = other;
    }
    printf("%s: %s\n", author_name(adk_content_author(c)), text);
}

/* ---- task create, send, cancel, messages, agent ----------------------------------------- */

static int cmd_task(cli_t *cli, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "create") != 0)
        return usage_error("task: expected 'task create'");
    const char *name = NULL, *params_text = NULL;
    for (int i = 1; i < argc; i++) {
        bool is_name = !strcmp(argv[i], "--name"), is_params = !strcmp(argv[i], "--params");
        if ((is_name || is_params) && i + 1 >= argc)
            return usage_error("task create: %s needs a value", argv[i]);
        if (is_name)
            name = argv[++i];
        else if (is_params)
            params_text = argv[++i];
        else
            return usage_error("task create: unexpected argument '%s'", argv[i]);
    }
    int rc = need_agent(cli, "task create");
    if (rc)
        return rc;
    cJSON *params = NULL;
    if (params_text) {
        /* exactly one JSON value: "{...} junk" is refused, not cut short */
        params = cJSON_ParseWithOpts(params_text, NULL, 1);
        if (!cJSON_IsObject(params)) {
            cJSON_Delete(params);
            return usage_error("task create: --params must be a JSON object");
        }
    }
    if ((rc = open_client(cli)) == 0) {
        adk_task_t *task = NULL;
        agentex_err_t err = adk_rpc_task_create(cli->client, cli->agent, name, params, NULL, &task);
        if (err != AGENTEX_OK)
            rc = fail_client(cli, "task create", err);
        else
            printf("%s\n", adk_task_id(task));
        adk_task_free(task);
    }
    cJSON_Delete(params);
    return rc;
}

static agentex_err_t send_text(cli_t *cli, const char *task_id, const char *text, adk_event_t **out)
{
    adk_content_t *content = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_USER, text, &content);
    if (err == AGENTEX_OK)
        err = adk_rpc_event_send(cli->client, cli->agent, task_id, content, out);
    adk_content_free(content);
    return err;
}

static int cmd_send(cli_t *cli, int argc, char **argv)
{
    if (argc != 2)
        return usage_error("send: expected TASK_ID TEXT");
    int rc = need_agent(cli, "send");
    if (rc || (rc = open_client(cli)))
        return rc;
    adk_event_t *event = NULL;
    agentex_err_t err = send_text(cli, argv[0], argv[1], &event);
    if (err != AGENTEX_OK)
        rc = fail_client(cli, "send", err);
    else
        printf("%s %lld\n", adk_event_id(event), (long long)adk_event_sequence_id(event));
    adk_event_free(event);
    return rc;
}

static int cmd_cancel(cli_t *cli, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("cancel: expected TASK_ID");
    int rc = need_agent(cli, "cancel");
    if (rc || (rc = open_client(cli)))
        return rc;
    adk_task_t *task = NULL;
    agentex_err_t err = adk_rpc_task_cancel(cli->client, cli->agent, argv[0], &task);
    if (err != AGENTEX_OK) {
        rc = fail_client(cli, "cancel", err);
    } else {
        /* the RPC answers with the task as the agent saw it; read the stored status */
        adk_task_t *now = NULL;
        if (adk_tasks_get(cli->client, argv[0], &now) == AGENTEX_OK) {
            adk_task_free(task);
            task = now;
        }
        const char *status = adk_task_status_text(task);
        printf("%s\n", status ? status : "unknown");
    }
    adk_task_free(task);
    return rc;
}

static int cmd_messages(cli_t *cli, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("messages: expected TASK_ID");
    int rc = open_client(cli);
    if (rc)
        return rc;
    /* a missing task is an error, not an empty conversation */
    adk_task_t *task = NULL;
    agentex_err_t err = adk_tasks_get(cli->client, argv[0], &task);
    adk_task_free(task);
    if (err != AGENTEX_OK)
        return fail_client(cli, "messages", err);
    adk_list_opts_t opts = {.limit = 100, .order_by = "created_at", .order_direction = "asc"};
    for (opts.page_number = 1;; opts.page_number++) {
        adk_message_list_t *list = NULL;
        err = adk_messages_list(cli->client, argv[0], &opts, &list);
        if (err != AGENTEX_OK)
            return fail_client(cli, "messages", err);
        size_t n = adk_message_list_count(list);
        for (size_t i = 0; i < n; i++)
            print_message_line(adk_message_content(adk_message_list_at(list, i)));
        adk_message_list_free(list);
        if (n < (size_t)opts.limit)
            break;
    }
    return 0;
}

static int cmd_agent(cli_t *cli, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("agent: expected NAME");
    int rc = open_client(cli);
    if (rc)
        return rc;
    adk_agent_t *agent = NULL;
    agentex_err_t err = adk_agents_get_by_name(cli->client, argv[0], &agent);
    if (err != AGENTEX_OK)
        return fail_client(cli, "agent", err);
    const char *status = adk_agent_status(agent);
    printf("%s %s\n", adk_agent_name(agent), status ? status : "unknown");
    adk_agent_free(agent);
    return 0;
}

/* ---- watch and say ---------------------------------------------------------------------- */

/* What the terminal shows of a stream: the message whose deltas are being printed (its
 * text so far is on the current line) and the ids of messages already printed whole. */
typedef struct watch {
    cli_t *cli;
    const char *task_id;
    const char *say_text; /* say: sent once the stream is connected */
    bool sent;
    agentex_err_t send_err;
    bool replied;           /* say: an agent message completed after the send */
    bool history_done;      /* watch: the stored messages were printed */
    int expected, replies;  /* chat: events sent, agent messages completed since */
    bool finished;          /* chat: the stream ended */
    bool stream_failed;     /* chat: ... with an error (its line printed) */
    long last_ms;           /* chat: when the stream last brought something */
    agentex_client_t *hist; /* chat: the stream thread's client (NULL: cli->client) */
    pthread_mutex_t mu;     /* chat: the reader and the stream thread share stdout and w */
    char *open_id;          /* message streaming on the current line, NULL if none */
    size_t open_len;        /* bytes of its text printed */
    char **done;            /* ids of messages printed complete */
    size_t n_done, cap_done;
    bool oom;
} watch_t;

static volatile sig_atomic_t g_signalled;
static adk_stream_t *volatile g_stream;

static void on_signal(int sig)
{
    (void)sig;
    g_signalled = 1;
    if (g_stream)
        adk_stream_stop(g_stream);
}

static bool is_done(const watch_t *w, const char *id)
{
    for (size_t i = 0; id && i < w->n_done; i++)
        if (!strcmp(w->done[i], id))
            return true;
    return false;
}

static void mark_done(watch_t *w, const char *id)
{
    if (!id || is_done(w, id))
        return;
    if (w->n_done == w->cap_done) {
        size_t cap = w->cap_done ? w->cap_done * 2 : 16;
        char **grown = realloc(w->done, cap * sizeof *grown);
        if (!grown) {
            w->oom = true;
            return;
        }
        w->done = grown;
        w->cap_done = cap;
    }
    char *copy = strdup(id);
    if (!copy) {
        w->oom = true;
        return;
    }
    w->done[w->n_done++] = copy;
}

/* Ends the line of the message being streamed, if any. */
static void close_line(watch_t *w)
{
    if (w->open_id) {
        fputc('\n', stdout);
        free(w->open_id);
        w->open_id = NULL;
        w->open_len = 0;
    }
}

/* Starts a streamed line for message id with its text so far. */
static void open_line(watch_t *w, const char *id, adk_author_t author, const char *text)
{
    close_line(w);
    w->open_id = strdup(id);
    if (!w->open_id) {
        w->oom = true;
        return;
    }
    printf("%s: %s", author_name(author), text ? text : "");
    w->open_len = text ? strlen(text) : 0;
}

static bool is_open(const watch_t *w, const char *id)
{
    return w->open_id && id && !strcmp(w->open_id, id);
}

/* A message is complete with content c: finish its line or print it whole. */
static void complete(watch_t *w, const char *id, const adk_content_t *c)
{
    const char *text = c ? adk_content_text(c) : NULL;
    if (is_open(w, id)) {
        /* print what the deltas did not (a "full" may carry more than they did) */
        if (text && strlen(text) > w->open_len)
            fputs(text + w->open_len, stdout);
        close_line(w);
    } else if (!is_done(w, id)) {
        close_line(w);
        print_message_line(c);
    } else {
        return;
    }
    mark_done(w, id);
    if (w->sent && (!c || adk_content_author(c) == ADK_AUTHOR_AGENT)) {
        w->replied = true;
        w->replies++;
        if (w->say_text)
            adk_stream_stop(g_stream);
    }
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void update_locked(watch_t *w, const adk_stream_update_t *u)
{
    w->last_ms = now_ms();
    const char *id = adk_stream_update_message_id(u);
    const adk_content_t *c = adk_stream_update_content(u);
    const adk_message_t *parent = adk_stream_update_parent(u);
    adk_author_t author = c ? adk_content_author(c) : ADK_AUTHOR_AGENT;
    if (!id)
        return;
    switch (adk_stream_update_kind(u)) {
    case ADK_STREAM_UPDATE_START:
        if (!is_open(w, id) && !is_done(w, id))
            open_line(w, id, author, c ? adk_content_text(c) : NULL);
        break;
    case ADK_STREAM_UPDATE_DELTA: {
        const char *delta = adk_stream_update_text_delta(u);
        if (is_done(w, id) || !delta)
            break;
        if (!is_open(w, id)) {
            /* joined mid-stream: the accumulated text already holds this delta */
            open_line(w, id, author, c ? adk_content_text(c) : delta);
        } else {
            fputs(delta, stdout);
            w->open_len += strlen(delta);
        }
        break;
    }
    case ADK_STREAM_UPDATE_DONE:
        complete(w, id, c);
        break;
    case ADK_STREAM_UPDATE_FULL:
        /* a message stored as IN_PROGRESS (a stream begins): show it like a start */
        if (parent && adk_message_streaming_status(parent) == ADK_STREAMING_IN_PROGRESS) {
            if (!is_open(w, id) && !is_done(w, id))
                open_line(w, id, author, c ? adk_content_text(c) : NULL);
        } else {
            complete(w, id, c);
        }
        break;
    }
    fflush(stdout);
}

static void on_update(adk_stream_t *s, const adk_stream_update_t *u, void *userdata)
{
    (void)s;
    watch_t *w = userdata;
    pthread_mutex_lock(&w->mu);
    update_locked(w, u);
    pthread_mutex_unlock(&w->mu);
}

static void on_task_updated(adk_stream_t *s, const adk_task_t *task, void *userdata)
{
    (void)s;
    watch_t *w = userdata;
    pthread_mutex_lock(&w->mu);
    close_line(w);
    const char *status = adk_task_status_text(task);
    const char *reason = adk_task_status_reason(task);
    if (reason && *reason)
        printf("-- task %s: %s\n", status ? status : "?", reason);
    else
        printf("-- task %s\n", status ? status : "?");
    fflush(stdout);
    pthread_mutex_unlock(&w->mu);
}

/* watch: prints the stored messages not printed yet, oldest first.  Run on each
 * "connected" (the first one and after every reconnect: the backend does not replay what
 * was published while the stream was down), so a message is either listed here or
 * streamed after (and then skipped as already printed): nothing is lost or shown twice.
 * print false: only remember them as printed (say: what was there before the send). */
static void list_history(watch_t *w, bool print)
{
    adk_list_opts_t opts = {.limit = 100, .order_by = "created_at", .order_direction = "asc"};
    for (opts.page_number = 1;; opts.page_number++) {
        adk_message_list_t *list = NULL;
        agentex_client_t *c = w->hist ? w->hist : w->cli->client;
        agentex_err_t err = adk_messages_list(c, w->task_id, &opts, &list);
        if (err != AGENTEX_OK) {
            fail("listing the messages", err, agentex_client_errmsg(c));
            return;
        }
        size_t n = adk_message_list_count(list);
        for (size_t i = 0; i < n; i++) {
            const adk_message_t *m = adk_message_list_at(list, i);
            if (adk_message_streaming_status(m) == ADK_STREAMING_IN_PROGRESS ||
                is_done(w, adk_message_id(m)))
                continue; /* still streaming: its deltas will show it */
            if (print) /* ends its line if it was streaming when the connection dropped */
                complete(w, adk_message_id(m), adk_message_content(m));
            else
                mark_done(w, adk_message_id(m));
        }
        adk_message_list_free(list);
        if (n < (size_t)opts.limit)
            break;
    }
}

static void on_connected(adk_stream_t *s, const char *task_id, void *userdata)
{
    (void)task_id;
    watch_t *w = userdata;
    if (!w->say_text) {
        pthread_mutex_lock(&w->mu);
        w->history_done = true;
        list_history(w, true);
        fflush(stdout);
        pthread_mutex_unlock(&w->mu);
        return;
    }
    if (w->sent) {
        /* reconnected: the reply may have completed while the stream was down */
        list_history(w, true);
        fflush(stdout);
        return;
    }
    /* what is there now is not the reply: listed later, after a reconnect, it must not
     * count as one */
    list_history(w, false);
    /* subscribed before sending: the reply cannot be missed */
    adk_event_t *event = NULL;
    w->send_err = send_text(w->cli, w->task_id, w->say_text, &event);
    adk_event_free(event);
    if (w->send_err != AGENTEX_OK) {
        adk_stream_stop(s);
        return;
    }
    w->sent = true;
    close_line(w);
    printf("user: %s\n", w->say_text);
    fflush(stdout);
}

/* say to a sync agent: message/send answers with the turn's messages at once. */
static int say_sync(cli_t *cli, const char *task_id, const char *text)
{
    adk_content_t *content = NULL;
    adk_message_list_t *reply = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_USER, text, &content);
    if (err == AGENTEX_OK)
        err = adk_rpc_message_send(cli->client, cli->agent, task_id, content, &reply);
    adk_content_free(content);
    if (err != AGENTEX_OK)
        return fail_client(cli, "say", err);
    printf("user: %s\n", text);
    for (size_t i = 0; i < adk_message_list_count(reply); i++)
        print_message_line(adk_message_content(adk_message_list_at(reply, i)));
    adk_message_list_free(reply);
    return 0;
}

static int run_stream(cli_t *cli, const char *task_id, const char *say_text, long timeout_ms)
{
    int rc = open_client(cli);
    if (rc)
        return rc;
    /* resolve the task first: a bad id is one clear line, not a retry loop */
    adk_task_t *task = NULL;
    agentex_err_t err = adk_tasks_get(cli->client, task_id, &task);
    const char *what = say_text ? "say" : "watch";
    if (err != AGENTEX_OK)
        return fail_client(cli, what, err);
    adk_task_status_t status = adk_task_status(task);
    adk_task_free(task);
    if (say_text) {
        /* sync agents take message/send, not event/send */
        adk_agent_t *agent = NULL;
        err = adk_agents_get_by_name(cli->client, cli->agent, &agent);
        bool sync = err == AGENTEX_OK && adk_agent_acp_type(agent) &&
                    !strcmp(adk_agent_acp_type(agent), "sync");
        adk_agent_free(agent);
        if (err != AGENTEX_OK)
            return fail_client(cli, "say", err);
        if (sync)
            return say_sync(cli, task_id, say_text);
    }
    watch_t w = {.cli = cli, .task_id = task_id, .say_text = say_text};
    pthread_mutex_init(&w.mu, NULL);
    if (adk_task_status_is_terminal(status) && !say_text) {
        /* nothing more will happen: the stored conversation and the status */
        list_history(&w, true);
        printf("-- task %s\n", adk_task_status_name(status));
        for (size_t i = 0; i < w.n_done; i++)
            free(w.done[i]);
        free(w.done);
        pthread_mutex_destroy(&w.mu);
        return w.oom ? fail(what, AGENTEX_ENOMEM, "") : 0;
    }

    adk_stream_t *s = NULL;
    err = adk_stream_new(agentex_client_base_url(cli->client), task_id, &s);
    if (err != AGENTEX_OK) {
        pthread_mutex_destroy(&w.mu);
        return fail(what, err, "");
    }
    /* the same credentials and headers as the REST calls */
    if ((err = adk_stream_set_client(s, cli->client)) != AGENTEX_OK) {
        pthread_mutex_destroy(&w.mu);
        adk_stream_free(s);
        return fail(what, err, "");
    }
    adk_stream_on_connected(s, on_connected, &w);
    adk_stream_on_update(s, on_update, &w);
    adk_stream_on_task_updated(s, on_task_updated, &w);

    g_stream = s;
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    err = adk_stream_run(s, timeout_ms);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    g_stream = NULL;
    close_line(&w);
    fflush(stdout);

    if (w.send_err != AGENTEX_OK)
        rc = fail_client(cli, "say", w.send_err);
    else if (w.oom)
        rc = fail(what, AGENTEX_ENOMEM, "");
    else if (say_text && !w.replied && err == AGENTEX_ETIMEDOUT)
        rc = fail("say", err, "no reply from the agent");
    else if (say_text && !w.replied && err == AGENTEX_OK)
        rc = fail("say", AGENTEX_ESTATE, "the task ended before the agent replied");
    else if (err == AGENTEX_OK || err == AGENTEX_ETIMEDOUT || err == AGENTEX_ECANCELED)
        rc = 0; /* ended, timed out as asked, or stopped (by the reply or Ctrl-C) */
    else
        rc = fail(what, err, adk_stream_errmsg(s));
    if (err == AGENTEX_ECANCELED && g_signalled && !w.replied && say_text)
        rc = EXIT_FAIL;
    free(w.open_id);
    for (size_t i = 0; i < w.n_done; i++)
        free(w.done[i]);
    free(w.done);
    pthread_mutex_destroy(&w.mu);
    adk_stream_free(s);
    return rc;
}

static int cmd_watch(cli_t *cli, int argc, char **argv, bool say)
{
    const char *name = say ? "say" : "watch";
    const char *pos[2] = {NULL, NULL};
    size_t npos = 0, want = say ? 2 : 1;
    long timeout_ms = say ? 60000 : 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--timeout")) {
            if (i + 1 >= argc || !parse_seconds(argv[i + 1], &timeout_ms))
                return usage_error("%s: --timeout needs a positive number of seconds", name);
            i++;
        } else if (npos < want) {
            pos[npos++] = argv[i];
        } else {
            return usage_error("%s: unexpected argument '%s'", name, argv[i]);
        }
    }
    if (npos != want)
        return usage_error(say ? "say: expected TASK_ID TEXT" : "watch: expected TASK_ID");
    if (say) {
        int rc = need_agent(cli, "say");
        if (rc)
            return rc;
    }
    return run_stream(cli, pos[0], say ? pos[1] : NULL, timeout_ms);
}

/* ---- chat ------------------------------------------------------------------------------- */

static void *chat_stream_main(void *arg)
{
    watch_t *w = arg;
    agentex_err_t err = adk_stream_run(g_stream, 0);
    pthread_mutex_lock(&w->mu);
    w->finished = true;
    if (err != AGENTEX_OK && err != AGENTEX_ECANCELED) {
        close_line(w);
        fail("chat: stream", err, adk_stream_errmsg(g_stream));
        w->stream_failed = true;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static bool chat_finished(watch_t *w)
{
    pthread_mutex_lock(&w->mu);
    bool f = w->finished;
    pthread_mutex_unlock(&w->mu);
    return f;
}

static int cmd_chat(cli_t *cli, int argc, char **argv)
{
    if (argc != 1)
        return usage_error("chat: expected NAME (the task's name)");
    int rc = need_agent(cli, "chat");
    if (rc || (rc = open_client(cli)))
        return rc;
    /* an existing task is resumed as it is; task/create only for a new one */
    adk_task_t *task = NULL;
    agentex_err_t err = adk_tasks_get_by_name(cli->client, argv[0], &task);
    if (err == AGENTEX_ENOTFOUND)
        err = adk_rpc_task_create(cli->client, cli->agent, argv[0], NULL, NULL, &task);
    if (err != AGENTEX_OK)
        return fail_client(cli, "chat", err);
    char *task_id = strdup(adk_task_id(task));
    adk_task_free(task);
    watch_t w = {.cli = cli, .task_id = task_id};
    pthread_mutex_init(&w.mu, NULL);
    adk_stream_t *s = NULL;
    if (!task_id)
        err = AGENTEX_ENOMEM;
    if (err == AGENTEX_OK)
        err = agentex_client_dup(cli->client, &w.hist);
    if (err == AGENTEX_OK)
        err = adk_stream_new(agentex_client_base_url(cli->client), task_id, &s);
    if (err == AGENTEX_OK)
        err = adk_stream_set_client(s, cli->client);
    pthread_t th;
    if (err == AGENTEX_OK) {
        adk_stream_on_connected(s, on_connected, &w);
        adk_stream_on_update(s, on_update, &w);
        adk_stream_on_task_updated(s, on_task_updated, &w);
        g_stream = s;
        if (pthread_create(&th, NULL, chat_stream_main, &w) != 0)
            err = AGENTEX_EINTERNAL;
    }
    if (err != AGENTEX_OK) {
        rc = fail("chat", err, "");
        goto out;
    }
    /* read input only once subscribed: every reply then comes over the stream */
    for (long end = now_ms() + 10000; now_ms() < end;) {
        pthread_mutex_lock(&w.mu);
        bool ready = w.history_done || w.finished;
        pthread_mutex_unlock(&w.mu);
        if (ready)
            break;
        struct timespec pause = {0, 10 * 1000000L};
        nanosleep(&pause, NULL);
    }
    bool tty = isatty(STDIN_FILENO);
    if (tty)
        fprintf(stderr, "-- task %s (%s), agent %s: type a message and press Enter; Ctrl-D ends\n",
                argv[0], task_id, cli->agent);
    struct sigaction sa = {0}, old_int;
    sa.sa_handler = on_signal; /* no SA_RESTART: Ctrl-C ends the read too */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!g_signalled && !chat_finished(&w) && (n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        pthread_mutex_lock(&w.mu);
        if (!tty) { /* a transcript: show what was sent */
            close_line(&w);
            printf("user: %s\n", line);
            fflush(stdout);
        }
        w.sent = true;
        w.expected++;
        pthread_mutex_unlock(&w.mu);
        adk_event_t *event = NULL;
        err = send_text(cli, task_id, line, &event);
        adk_event_free(event);
        if (err != AGENTEX_OK) {
            pthread_mutex_lock(&w.mu);
            w.expected--;
            close_line(&w);
            fflush(stdout);
            rc = fail_client(cli, "chat: send", err);
            pthread_mutex_unlock(&w.mu);
        }
    }
    free(line);
    /* end of input: let the last replies arrive: at least one agent message per line
     * sent, then 500 ms of quiet (at most 30 s in all) */
    for (long end = now_ms() + 30000; !g_signalled && now_ms() < end;) {
        pthread_mutex_lock(&w.mu);
        bool done = w.finished || (w.replies >= w.expected && now_ms() - w.last_ms >= 500);
        pthread_mutex_unlock(&w.mu);
        if (done)
            break;
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
    adk_stream_stop(s);
    pthread_join(th, NULL);
    sigaction(SIGINT, &old_int, NULL);
    g_stream = NULL;
    close_line(&w);
    fflush(stdout);
    if (w.oom)
        rc = fail("chat", AGENTEX_ENOMEM, "");
    else if (w.stream_failed)
        rc = EXIT_FAIL;
out:
    for (size_t i = 0; i < w.n_done; i++)
        free(w.done[i]);
    free(w.done);
    free(w.open_id);
    adk_stream_free(s);
    agentex_client_free(w.hist);
    pthread_mutex_destroy(&w.mu);
    free(task_id);
    return rc;
}

/* ---- main ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    cli_t cli = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(USAGE, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--url") || !strcmp(argv[i], "--agent")) {
            if (i + 1 >= argc)
                return usage_error("%s needs a value", argv[i]);
            if (argv[i][2] == 'u')
                cli.url = argv[++i];
            else
                cli.agent = argv[++i];
        } else {
            return usage_error("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc)
        return usage_error("no command");
    const char *cmd = argv[i++];
    int n = argc - i;
    char **rest = argv + i;
    int rc;
    if (!strcmp(cmd, "task"))
        rc = cmd_task(&cli, n, rest);
    else if (!strcmp(cmd, "send"))
        rc = cmd_send(&cli, n, rest);
    else if (!strcmp(cmd, "cancel"))
        rc = cmd_cancel(&cli, n, rest);
    else if (!strcmp(cmd, "messages"))
        rc = cmd_messages(&cli, n, rest);
    else if (!strcmp(cmd, "watch"))
        rc = cmd_watch(&cli, n, rest, false);
    else if (!strcmp(cmd, "say"))
        rc = cmd_watch(&cli, n, rest, true);
    else if (!strcmp(cmd, "chat"))
        rc = cmd_chat(&cli, n, rest);
    else if (!strcmp(cmd, "agent"))
        rc = cmd_agent(&cli, n, rest);
    else if (!strcmp(cmd, "help"))
        rc = (fputs(USAGE, stdout), 0);
    else
        rc = usage_error("unknown command '%s'", cmd);
    agentex_client_free(cli.client);
    if (fflush(stdout) != 0 && rc == 0)
        rc = EXIT_FAIL;
    return rc;
}
