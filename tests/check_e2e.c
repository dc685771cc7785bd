/*
 * tests/check_e2e.c - end to end: real processes talking over loopback.
 *
 * Each test starts $AGX_BUILD_DIR/bin/agentex-dev (--port 0, its listening line read
 * from stdout) and one or more example agents from $AGX_BUILD_DIR/examples (ACP_PORT=0,
 * registration with the dev server), then drives them as a user would: through the
 * backend's client RPC (adk_rpc_*), REST (adk_*), the task's SSE stream (adk_stream_t)
 * and the `agentex` command-line tool ($AGX_BUILD_DIR/bin/agentex).
 *
 * Process hygiene: every child stays in the test's process group and is recorded.  The
 * checked teardown sends SIGTERM, waits, and SIGKILLs what did not stop; a failed
 * assertion ends the forked test without teardown, and then Check's kill of the test's
 * process group (after every forked test) stops them.  A test that stops a process
 * itself asserts exit status 0 (under ASan that also means no leak).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentex/agentex.h"
#include "support/proc.h"

extern char **environ;

/* ---- files ------------------------------------------------------------------------ */

/* The whole file, NUL-terminated (NULL if it cannot be read).  Caller frees. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static bool file_contains(const char *path, const char *needle)
{
    char *text = read_file(path);
    bool found = text && strstr(text, needle);
    free(text);
    return found;
}

static bool wait_file_contains(const char *path, const char *needle, long timeout_ms)
{
    long end = tp_now_ms() + timeout_ms;
    while (!file_contains(path, needle)) {
        if (tp_now_ms() > end)
            return false;
        tp_sleep_ms(20);
    }
    return true;
}

/* ---- processes -------------------------------------------------------------------------- */

typedef struct proc {
    pid_t pid; /* 0: not running */
    int out_fd;
    char log[512];
    char name[64];
} proc_t;

#define MAX_PROCS 16
static proc_t *g_procs[MAX_PROCS];
static char g_tmp[320];

static void track(proc_t *p)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (!g_procs[i] || g_procs[i] == p) {
            g_procs[i] = p;
            return;
        }
    ck_abort_msg("too many processes");
}

/* SIGTERM, wait up to 10 s, then SIGKILL.  Returns the exit status, 128+signal when
 * killed, -1 if it was not running. */
static int proc_stop(proc_t *p)
{
    if (!p || p->pid <= 0)
        return -1;
    int rc = tp_stop(p->pid);
    p->pid = 0;
    if (p->out_fd >= 0)
        close(p->out_fd);
    p->out_fd = -1;
    return rc;
}

static void stop_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (g_procs[i]) {
            proc_stop(g_procs[i]);
            g_procs[i] = NULL;
        }
}

/* Stops p and asserts a clean exit; on failure shows the tail of its log. */
static void proc_stop_ok(proc_t *p)
{
    int rc = proc_stop(p);
    if (rc != 0) {
        char *log = read_file(p->log);
        size_t len = log ? strlen(log) : 0;
        ck_abort_msg("%s exited with status %d on SIGTERM; log tail:\n%s", p->name, rc,
                     log ? log + (len > 2000 ? len - 2000 : 0) : "(none)");
    }
}

/* envp: environ without the variables that would leak into the child, plus extra
 * ("NAME=value", NULL-terminated). */
static char **child_env(const char *const *extra)
{
    static const char *const drop[] = {"AGENT_", "ACP_",           "AGENTEX_",
                                       "REDIS_", "AUTH_PRINCIPAL", NULL};
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra && extra[k])
        k++;
    char **env = calloc(n + k + 1, sizeof *env);
    ck_assert_ptr_nonnull(env);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        bool skip = false;
        for (size_t d = 0; drop[d]; d++)
            if (!strncmp(environ[i], drop[d], strlen(drop[d])))
                skip = true;
        if (!skip)
            env[m++] = environ[i];
    }
    for (size_t i = 0; i < k; i++)
        env[m++] = (char *)extra[i];
    env[m] = NULL;
    return env;
}

/* Starts argv[0] with env extra; stderr (and stdout unless want_stdout) to p->log. */
static void proc_start(proc_t *p, const char *name, const char *const *argv,
                       const char *const *env_extra, bool want_stdout)
{
    memset(p, 0, sizeof *p);
    p->out_fd = -1;
    snprintf(p->name, sizeof p->name, "%s", name);
    static int seq;
    snprintf(p->log, sizeof p->log, "%s/%s.%d.log", g_tmp, name, ++seq);
    int logfd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    ck_assert_int_ge(logfd, 0);
    int fds[2] = {-1, -1};
    if (want_stdout)
        ck_assert_int_eq(pipe(fds), 0);
    char **env = child_env(env_extra);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(logfd, 2);
        dup2(want_stdout ? fds[1] : logfd, 1);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        execve(argv[0], (char *const *)argv, env);
        dprintf(2, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    free(env);
    close(logfd);
    if (want_stdout) {
        close(fds[1]);
        p->out_fd = fds[0];
    }
    p->pid = pid;
    track(p);
}

/* ---- agentex-dev -------------------------------------------------------------------------- */

static proc_t g_dev;
static char g_url[256];

/* Starts agentex-dev (db NULL: in memory) and reads its listening line into g_url. */
static void dev_start(const char *db)
{
    const char *argv[12] = {
        tp_dev_binary(),        "--host", "127.0.0.1", "--port", "0", "--log-level", "warn",
        "--health-interval-ms", "0"};
    int n = 9;
    if (db) {
        argv[n++] = "--db";
        argv[n++] = db;
    }
    argv[n] = NULL;
    proc_start(&g_dev, "agentex-dev", argv, NULL, true);
    char line[256];
    int r = tp_read_line(g_dev.out_fd, line, sizeof line, 10000);
    ck_assert_msg(r != -2, "agentex-dev printed no listening line");
    ck_assert_msg(r != -1, "agentex-dev closed stdout (log %s)", g_dev.log);
    const char *prefix = "agentex-dev listening on ";
    ck_assert_msg(!strncmp(line, prefix, strlen(prefix)), "listening line: '%s'", line);
    snprintf(g_url, sizeof g_url, "%s", line + strlen(prefix));
    ck_assert_msg(!strncmp(g_url, "http://127.0.0.1:", 17), "url: %s", g_url);
}

static agentex_client_t *client(void)
{
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(g_url, &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_retries(c, 0, 0, 0), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_timeouts(c, 3000, 15000), AGENTEX_OK);
    return c;
}

/* ---- agents ------------------------------------------------------------------------------- */

/* Starts examples/<prog> as agent `name` against g_url and waits until it serves (its log
 * says so, after registration) and the backend lists it Ready.  Returns its agent id
 * (static buffer of the proc). */
static void agent_start_env(proc_t *p, const char *prog, const char *name, const char *acp_type,
                            const char *extra_env)
{
    char bin[600], env_name[96], env_base[300], env_type[64];
    snprintf(bin, sizeof bin, "%s/examples/%s", tp_build_dir(), prog);
    snprintf(env_name, sizeof env_name, "AGENT_NAME=%s", name);
    snprintf(env_base, sizeof env_base, "AGENTEX_BASE_URL=%s", g_url);
    snprintf(env_type, sizeof env_type, "ACP_TYPE=%s", acp_type ? acp_type : "async");
    const char *argv[] = {bin, NULL};
    const char *env[] = {env_name,     env_base,
                         env_type,     "ACP_URL=http://127.0.0.1",
                         "ACP_PORT=0", "ACP_HOST=127.0.0.1",
                         extra_env,    NULL};
    proc_start(p, prog, argv, env, false);
    ck_assert_msg(wait_file_contains(p->log, "serving on", 10000),
                  "%s did not start serving (log %s)", prog, p->log);
    agentex_client_t *c = client();
    adk_agent_t *a = NULL;
    ck_assert_int_eq(adk_agents_get_by_name(c, name, &a), AGENTEX_OK);
    ck_assert_str_eq(adk_agent_name(a), name);
    ck_assert_str_eq(adk_agent_status(a), "Ready");
    ck_assert_str_eq(adk_agent_acp_type(a), acp_type ? acp_type : "async");
    ck_assert_str_eq(adk_agent_status_reason(a), "Agent registered successfully.");
    adk_agent_free(a);
    agentex_client_free(c);
}

static void agent_start(proc_t *p, const char *prog, const char *name, const char *acp_type)
{
    agent_start_env(p, prog, name, acp_type, NULL);
}

static char *agent_id_of(agentex_client_t *c, const char *name)
{
    adk_agent_t *a = NULL;
    ck_assert_int_eq(adk_agents_get_by_name(c, name, &a), AGENTEX_OK);
    char *id = strdup(adk_agent_id(a));
    adk_agent_free(a);
    return id;
}

/* ---- conversation helpers --------------------------------------------------------------- */

static char *task_create(agentex_client_t *c, const char *agent, const char *name)
{
    adk_task_t *t = NULL;
    agentex_err_t err = adk_rpc_task_create(c, agent, name, NULL, NULL, &t);
    ck_assert_msg(err == AGENTEX_OK, "task/create: %s: %s", agentex_strerror(err),
                  agentex_client_errmsg(c));
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_RUNNING);
    char *id = strdup(adk_task_id(t));
    adk_task_free(t);
    return id;
}

/* event/send with text; returns the stored event (caller frees) or asserts success. */
static adk_event_t *event_send(agentex_client_t *c, const char *agent, const char *task,
                               const char *text)
{
    adk_content_t *content = NULL;
    adk_event_t *ev = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, text, &content), AGENTEX_OK);
    agentex_err_t err = adk_rpc_event_send(c, agent, task, content, &ev);
    adk_content_free(content);
    ck_assert_msg(err == AGENTEX_OK, "event/send: %s: %s", agentex_strerror(err),
                  agentex_client_errmsg(c));
    ck_assert_str_eq(adk_event_task_id(ev), task);
    ck_assert_str_eq(adk_content_text(adk_event_content(ev)), text);
    return ev;
}

static adk_message_list_t *messages(agentex_client_t *c, const char *task)
{
    adk_list_opts_t opts = {.limit = 100, .order_by = "created_at", .order_direction = "asc"};
    adk_message_list_t *l = NULL;
    ck_assert_int_eq(adk_messages_list(c, task, &opts, &l), AGENTEX_OK);
    return l;
}

static const char *msg_text(const adk_message_list_t *l, size_t i)
{
    const adk_content_t *ct = adk_message_content(adk_message_list_at(l, i));
    return ct ? adk_content_text(ct) : NULL;
}

/* Waits until the task has at least n messages, all DONE or without a status; returns
 * them oldest first. */
static adk_message_list_t *wait_messages(agentex_client_t *c, const char *task, size_t n)
{
    long end = tp_now_ms() + 10000;
    for (;;) {
        adk_message_list_t *l = messages(c, task);
        size_t got = adk_message_list_count(l);
        bool settled = got >= n;
        for (size_t i = 0; settled && i < got; i++)
            if (adk_message_streaming_status(adk_message_list_at(l, i)) ==
                ADK_STREAMING_IN_PROGRESS)
                settled = false;
        if (settled)
            return l;
        adk_message_list_free(l);
        ck_assert_msg(tp_now_ms() < end, "task %s: %zu messages, wanted %zu", task, got, n);
        tp_sleep_ms(30);
    }
}

/* ---- an SSE subscriber on its own thread ------------------------------------------------ */

#define MAX_TEXTS 32

typedef struct sse {
    pthread_t th;
    adk_stream_t *s;
    pthread_mutex_t mu;
    int connected;
    int starts, deltas, dones, fulls, task_updates;
    char *completed[MAX_TEXTS]; /* text of each message ended (done, or full not in progress) */
    int n_completed;
    char delta_text[4096]; /* text deltas concatenated */
    adk_task_status_t last_status;
    agentex_err_t result;
    bool finished;
} sse_t;

static void sse_add_completed(sse_t *x, const adk_content_t *c)
{
    if (x->n_completed < MAX_TEXTS)
        x->completed[x->n_completed++] =
            strdup(c && adk_content_text(c) ? adk_content_text(c) : "");
}

static void sse_on_connected(adk_stream_t *s, const char *task_id, void *ud)
{
    (void)s, (void)task_id;
    sse_t *x = ud;
    pthread_mutex_lock(&x->mu);
    x->connected++;
    pthread_mutex_unlock(&x->mu);
}

static void sse_on_update(adk_stream_t *s, const adk_stream_update_t *u, void *ud)
{
    (void)s;
    sse_t *x = ud;
    pthread_mutex_lock(&x->mu);
    const adk_message_t *parent = adk_stream_update_parent(u);
    switch (adk_stream_update_kind(u)) {
    case ADK_STREAM_UPDATE_START:
        x->starts++;
        break;
    case ADK_STREAM_UPDATE_DELTA: {
        x->deltas++;
        const char *t = adk_stream_update_text_delta(u);
        size_t len = strlen(x->delta_text);
        if (t)
            snprintf(x->delta_text + len, sizeof x->delta_text - len, "%s", t);
        break;
    }
    case ADK_STREAM_UPDATE_DONE:
        x->dones++;
        sse_add_completed(x, adk_stream_update_content(u));
        break;
    case ADK_STREAM_UPDATE_FULL:
        x->fulls++;
        if (!parent || adk_message_streaming_status(parent) != ADK_STREAMING_IN_PROGRESS)
            sse_add_completed(x, adk_stream_update_content(u));
        break;
    }
    pthread_mutex_unlock(&x->mu);
}

static void sse_on_task(adk_stream_t *s, const adk_task_t *t, void *ud)
{
    (void)s;
    sse_t *x = ud;
    pthread_mutex_lock(&x->mu);
    x->task_updates++;
    x->last_status = adk_task_status(t);
    pthread_mutex_unlock(&x->mu);
}

static void *sse_main(void *arg)
{
    sse_t *x = arg;
    agentex_err_t err = adk_stream_run(x->s, 30000);
    pthread_mutex_lock(&x->mu);
    x->result = err;
    x->finished = true;
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

/* Subscribes to the task and waits for the "connected" frame. */
static sse_t *sse_start(const char *task)
{
    sse_t *x = calloc(1, sizeof *x);
    ck_assert_ptr_nonnull(x);
    pthread_mutex_init(&x->mu, NULL);
    ck_assert_int_eq(adk_stream_new(g_url, task, &x->s), AGENTEX_OK);
    ck_assert_int_eq(adk_stream_set_reconnect(x->s, 0, 100, 100), AGENTEX_OK);
    adk_stream_on_connected(x->s, sse_on_connected, x);
    adk_stream_on_update(x->s, sse_on_update, x);
    adk_stream_on_task_updated(x->s, sse_on_task, x);
    ck_assert_int_eq(pthread_create(&x->th, NULL, sse_main, x), 0);
    long end = tp_now_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&x->mu);
        int connected = x->connected;
        pthread_mutex_unlock(&x->mu);
        if (connected)
            break;
        ck_assert_msg(tp_now_ms() < end, "no connected frame");
        tp_sleep_ms(10);
    }
    return x;
}

/* Waits (10 s at most) until *counter (guarded by x->mu) reaches n; what names it
 * in the failure message. */
static void sse_wait_count(sse_t *x, const int *counter, int n, const char *what)
{
    long end = tp_now_ms() + 10000;
    for (;;) {
        pthread_mutex_lock(&x->mu);
        int got = *counter;
        pthread_mutex_unlock(&x->mu);
        if (got >= n)
            return;
        ck_assert_msg(tp_now_ms() < end, "SSE: %d %s, wanted %d", got, what, n);
        tp_sleep_ms(10);
    }
}

/* Waits until the subscriber saw n completed messages. */
static void sse_wait_completed(sse_t *x, int n)
{
    sse_wait_count(x, &x->n_completed, n, "completed messages");
}

/* Waits until n `done` frames were seen.  The agent publishes `done` over the websocket and
 * then stores the final text with PUT /messages, whose `full` frame agentex-dev may relay
 * first: the two come over different connections. */
static void sse_wait_dones(sse_t *x, int n) { sse_wait_count(x, &x->dones, n, "done frames"); }

/* Waits for adk_stream_run to return by itself; returns its result. */
static agentex_err_t sse_wait_end(sse_t *x, long timeout_ms)
{
    long end = tp_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&x->mu);
        bool done = x->finished;
        agentex_err_t r = x->result;
        pthread_mutex_unlock(&x->mu);
        if (done)
            return r;
        if (tp_now_ms() > end)
            return (agentex_err_t)-1;
        tp_sleep_ms(10);
    }
}

static void sse_free(sse_t *x)
{
    if (!x)
        return;
    adk_stream_stop(x->s);
    pthread_join(x->th, NULL);
    adk_stream_free(x->s);
    for (int i = 0; i < x->n_completed; i++)
        free(x->completed[i]);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

/* ---- the agentex CLI ---------------------------------------------------------------------- */

typedef struct cli_result {
    int status;
    char out[8192];
    char err[2048];
} cli_result_t;

/* Runs build/bin/agentex --url g_url ARGS... (NULL-terminated). */
/* Runs argv (env: ours minus the agent variables, plus env_extra), collects its output
 * and exit status (128+signal if killed; killed after 30 s). */
static void run_argv(cli_result_t *r, const char *const *argv, const char *const *env_extra,
                     const char *input)
{
    int o[2], e[2], in[2];
    ck_assert_int_eq(pipe(o), 0);
    ck_assert_int_eq(pipe(e), 0);
    ck_assert_int_eq(pipe(in), 0);
    char **env = child_env(env_extra);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(in[1]);
        close(o[0]);
        close(e[0]);
        execve(argv[0], (char *const *)argv, env);
        _exit(127);
    }
    free(env);
    close(in[0]);
    close(o[1]);
    close(e[1]);
    /* small inputs only: they fit in the pipe */
    if (input)
        ck_assert_int_eq(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
    close(in[1]);
    memset(r, 0, sizeof *r);
    size_t lo = 0, le = 0;
    struct pollfd pf[2] = {{.fd = o[0], .events = POLLIN}, {.fd = e[0], .events = POLLIN}};
    int open_fds = 2;
    long end = tp_now_ms() + 30000;
    while (open_fds > 0 && tp_now_ms() < end) {
        if (poll(pf, 2, 100) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char *buf = i == 0 ? r->out : r->err;
            size_t *len = i == 0 ? &lo : &le;
            size_t cap = i == 0 ? sizeof r->out : sizeof r->err;
            char tmp[1024];
            ssize_t got = read(pf[i].fd, tmp, sizeof tmp);
            if (got <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
                continue;
            }
            size_t take = (size_t)got < cap - 1 - *len ? (size_t)got : cap - 1 - *len;
            memcpy(buf + *len, tmp, take);
            *len += take;
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    int status = 0;
    if (open_fds > 0)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void cli_run(cli_result_t *r, const char *const *args)
{
    char bin[600];
    snprintf(bin, sizeof bin, "%s/bin/agentex", tp_build_dir());
    const char *argv[24] = {bin, "--url", g_url};
    int n = 3;
    for (int i = 0; args[i] && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    run_argv(r, argv, NULL, NULL);
}

#define CLI(r, ...)                                                                                \
    do {                                                                                           \
        const char *args_[] = {__VA_ARGS__, NULL};                                                 \
        cli_run((r), args_);                                                                       \
    } while (0)

/* stderr is exactly one line starting with prefix */
static void assert_one_error_line(const cli_result_t *r, const char *prefix)
{
    ck_assert_msg(!strncmp(r->err, prefix, strlen(prefix)), "stderr: '%s'", r->err);
    size_t len = strlen(r->err);
    ck_assert_msg(len > 0 && r->err[len - 1] == '\n' && !memchr(r->err, '\n', len - 1),
                  "not one line: '%s'", r->err);
}

/* ---- fixture ------------------------------------------------------------------------------ */

/* The unchecked fixture runs in the runner process around the whole TCase: it owns a
 * temporary root that is removed even when a test failed (a failed assertion ends the
 * forked test at once: no checked teardown, no atexit).  Each test gets a directory in
 * it for logs and databases.  AGX_E2E_KEEP=1 keeps everything. */
static char g_root[256];

static void rm_rf(const char *dir, const char *must_contain)
{
    if (!dir[0] || !strstr(dir, must_contain) || getenv("AGX_E2E_KEEP"))
        return;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
}

static void root_setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/agx-e2e.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_root))
        g_root[0] = '\0';
}

static void root_teardown(void) { rm_rf(g_root, "/agx-e2e."); }

static void setup(void)
{
    ck_assert_msg(g_root[0], "no temporary directory");
    snprintf(g_tmp, sizeof g_tmp, "%s/test.XXXXXX", g_root);
    ck_assert_ptr_nonnull(mkdtemp(g_tmp));
    memset(&g_dev, 0, sizeof g_dev);
    g_url[0] = '\0';
}

/* Only reached when the test passed; after a failure Check kills the test's process
 * group, which holds every process the test started. */
static void teardown(void)
{
    stop_all();
    rm_rf(g_tmp, "/agx-e2e.");
}

/* ---- echo_agent --------------------------------------------------------------------------- */

static const char WELCOME[] = "Welcome! Send me a message and I will echo it.";

START_TEST(test_echo_conversation_and_cancel)
{
    proc_t agent;
    dev_start(NULL);
    agent_start(&agent, "echo_agent", "e2e-echo", NULL); /* registered, Ready */
    agentex_client_t *c = client();

    char *task = task_create(c, "e2e-echo", "e2e-task");
    adk_message_list_t *l = wait_messages(c, task, 1);
    ck_assert_uint_eq(adk_message_list_count(l), 1);
    ck_assert_str_eq(msg_text(l, 0), WELCOME);
    ck_assert_int_eq(adk_content_author(adk_message_content(adk_message_list_at(l, 0))),
                     ADK_AUTHOR_AGENT);
    adk_message_list_free(l);

    sse_t *x = sse_start(task);
    adk_event_t *e1 = event_send(c, "e2e-echo", task, "first");
    adk_event_t *e2 = event_send(c, "e2e-echo", task, "second");
    ck_assert_int_gt(adk_event_sequence_id(e2), adk_event_sequence_id(e1));
    l = wait_messages(c, task, 3);
    ck_assert_uint_eq(adk_message_list_count(l), 3);
    ck_assert_str_eq(msg_text(l, 1), "You said: first");
    ck_assert_str_eq(msg_text(l, 2), "You said: second");
    adk_message_list_free(l);

    /* the stream carried a full frame for each message, in order */
    sse_wait_completed(x, 2);
    pthread_mutex_lock(&x->mu);
    ck_assert_int_eq(x->connected, 1);
    ck_assert_int_eq(x->n_completed, 2);
    ck_assert_str_eq(x->completed[0], "You said: first");
    ck_assert_str_eq(x->completed[1], "You said: second");
    ck_assert_int_eq(x->deltas, 0);
    pthread_mutex_unlock(&x->mu);

    /* cancel: CANCELED stored, task_updated on the stream, the stream ends by itself */
    adk_task_t *t = NULL;
    ck_assert_int_eq(adk_rpc_task_cancel(c, "e2e-echo", task, &t), AGENTEX_OK);
    adk_task_free(t);
    ck_assert_int_eq(sse_wait_end(x, 5000), AGENTEX_OK);
    ck_assert_int_ge(x->task_updates, 1);
    ck_assert_int_eq(x->last_status, ADK_TASK_CANCELED);
    ck_assert_int_eq(adk_stream_task_status(x->s), ADK_TASK_CANCELED);
    ck_assert_int_eq(adk_tasks_get(c, task, &t), AGENTEX_OK);
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_CANCELED);
    adk_task_free(t);
    /* the agent ran its cancel handler */
    ck_assert_msg(wait_file_contains(agent.log, "task cancelled", 5000), "no cancel in %s",
                  agent.log);
    /* an event after the cancel is still stored but gets no reply */
    sse_free(x);
    adk_event_free(e1);
    adk_event_free(e2);
    free(task);
    agentex_client_free(c);
    proc_stop_ok(&agent);
    proc_stop_ok(&g_dev);
}
END_TEST

/* ---- batch_agent: the tracker cursor, and persist-before-deliver ------------------------ */

static adk_tracker_t *wait_cursor(agentex_client_t *c, const char *task, const char *agent_id,
                                  const char *event_id)
{
    long end = tp_now_ms() + 10000;
    for (;;) {
        adk_tracker_t *tr = NULL;
        ck_assert_int_eq(adk_tracker_get_by_task_and_agent(c, task, agent_id, &tr), AGENTEX_OK);
        const char *cur = adk_tracker_last_processed_event_id(tr);
        if (cur && !strcmp(cur, event_id))
            return tr;
        adk_tracker_free(tr);
        ck_assert_msg(tp_now_ms() < end, "tracker cursor never reached %s", event_id);
        tp_sleep_ms(30);
    }
}

/* Every text appears in exactly one summary and the counts add up. */
static void assert_summaries(const adk_message_list_t *l, const char *const *texts, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < adk_message_list_count(l); i++) {
        const char *m = msg_text(l, i);
        ck_assert_ptr_nonnull(m);
        size_t k = 0;
        ck_assert_msg(sscanf(m, "Processed %zu event", &k) == 1, "summary '%s'", m);
        total += k;
    }
    ck_assert_uint_eq(total, n);
    for (size_t t = 0; t < n; t++) {
        int seen = 0;
        for (size_t i = 0; i < adk_message_list_count(l); i++) {
            const char *m = strchr(msg_text(l, i), ':');
            for (const char *p = m; p && (p = strstr(p, texts[t])); p++)
                seen++;
        }
        ck_assert_msg(seen == 1, "'%s' summarised %d times", texts[t], seen);
    }
}

START_TEST(test_batch_cursor)
{
    proc_t agent;
    dev_start(NULL);
    agent_start(&agent, "batch_agent", "e2e-batch", NULL);
    agentex_client_t *c = client();
    char *agent_id = agent_id_of(c, "e2e-batch");
    char *task = task_create(c, "e2e-batch", NULL);

    static const char *const texts[] = {"alpha", "beta", "gamma", "delta"};
    adk_event_t *ev[4];
    for (int i = 0; i < 4; i++)
        ev[i] = event_send(c, "e2e-batch", task, texts[i]);
    adk_tracker_t *tr = wait_cursor(c, task, agent_id, adk_event_id(ev[3]));
    ck_assert_str_eq(adk_tracker_status(tr), "READY");
    ck_assert_ptr_nonnull(strstr(adk_tracker_status_reason(tr), "processed"));
    adk_tracker_free(tr);

    adk_message_list_t *l = wait_messages(c, task, 1);
    assert_summaries(l, texts, 4);
    adk_message_list_free(l);

    /* cancel: the agent marks its tracker */
    adk_task_t *t = NULL;
    ck_assert_int_eq(adk_rpc_task_cancel(c, "e2e-batch", task, &t), AGENTEX_OK);
    adk_task_free(t);
    long end = tp_now_ms() + 5000;
    for (;;) {
        ck_assert_int_eq(adk_tracker_get_by_task_and_agent(c, task, agent_id, &tr), AGENTEX_OK);
        bool cancelled = !strcmp(adk_tracker_status(tr), "CANCELLED");
        if (cancelled)
            ck_assert_str_eq(adk_tracker_last_processed_event_id(tr), adk_event_id(ev[3]));
        adk_tracker_free(tr);
        if (cancelled)
            break;
        ck_assert_msg(tp_now_ms() < end, "tracker never CANCELLED");
        tp_sleep_ms(30);
    }
    for (int i = 0; i < 4; i++)
        adk_event_free(ev[i]);
    free(task);
    free(agent_id);
    agentex_client_free(c);
    proc_stop_ok(&agent);
    proc_stop_ok(&g_dev);
}
END_TEST

START_TEST(test_persist_before_deliver)
{
    proc_t agent, again;
    dev_start(NULL);
    agent_start(&agent, "batch_agent", "e2e-pbd", NULL);
    agentex_client_t *c = client();
    char *agent_id = agent_id_of(c, "e2e-pbd");
    char *task = task_create(c, "e2e-pbd", NULL);
    adk_event_t *first = event_send(c, "e2e-pbd", task, "first");
    adk_tracker_free(wait_cursor(c, task, agent_id, adk_event_id(first)));
    proc_stop_ok(&agent);

    /* the agent is down: event/send fails, but the event is stored */
    adk_content_t *content = NULL;
    adk_event_t *lost = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, "while down", &content), AGENTEX_OK);
    agentex_err_t err = adk_rpc_event_send(c, "e2e-pbd", task, content, &lost);
    adk_content_free(content);
    ck_assert_int_eq(err, AGENTEX_ERPC);
    ck_assert_ptr_null(lost);
    ck_assert_msg(!strncmp(agentex_client_errmsg(c), "-32603: ", 8), "errmsg '%s'",
                  agentex_client_errmsg(c));
    adk_event_list_t *events = NULL;
    ck_assert_int_eq(adk_events_list(c, task, agent_id, adk_event_id(first), 0, &events),
                     AGENTEX_OK);
    ck_assert_uint_eq(adk_event_list_count(events), 1);
    const adk_event_t *stored = adk_event_list_at(events, 0);
    ck_assert_str_eq(adk_content_text(adk_event_content(stored)), "while down");
    ck_assert_int_gt(adk_event_sequence_id(stored), adk_event_sequence_id(first));

    /* the agent comes back (same name, new port): the next event makes it catch up */
    agent_start(&again, "batch_agent", "e2e-pbd", NULL);
    char *id2 = agent_id_of(c, "e2e-pbd");
    ck_assert_str_eq(id2, agent_id); /* re-registration by name keeps the id */
    adk_event_t *after = event_send(c, "e2e-pbd", task, "after");
    adk_tracker_free(wait_cursor(c, task, agent_id, adk_event_id(after)));
    adk_message_list_t *l = wait_messages(c, task, 2);
    ck_assert_uint_eq(adk_message_list_count(l), 2);
    ck_assert_str_eq(msg_text(l, 0), "Processed 1 event: first");
    ck_assert_str_eq(msg_text(l, 1), "Processed 2 events: while down | after");
    adk_message_list_free(l);

    adk_event_list_free(events);
    adk_event_free(first);
    adk_event_free(after);
    free(id2);
    free(task);
    free(agent_id);
    agentex_client_free(c);
    proc_stop_ok(&again);
    proc_stop_ok(&g_dev);
}
END_TEST

/* ---- auto-cursor ---------------------------------------------------------------------------- */

/* echo_agent with ACP_AUTO_CURSOR=1: events sent while it is down are answered, in order
 * and once each, as soon as it is back (before any new event), and the cursor keeps the
 * status an operator set on the tracker. */
START_TEST(test_auto_cursor_restart_catches_up)
{
    proc_t agent, again;
    dev_start(NULL);
    agent_start_env(&agent, "echo_agent", "e2e-auto", NULL, "ACP_AUTO_CURSOR=1");
    agentex_client_t *c = client();
    char *agent_id = agent_id_of(c, "e2e-auto");
    char *task = task_create(c, "e2e-auto", NULL);
    adk_event_t *one = event_send(c, "e2e-auto", task, "one");
    adk_tracker_t *tr = wait_cursor(c, task, agent_id, adk_event_id(one));
    ck_assert_int_eq(
        adk_tracker_update(c, adk_tracker_id(tr), NULL, "WATCHED", "by the test", false, NULL),
        AGENTEX_OK);
    adk_tracker_free(tr);
    proc_stop_ok(&agent);

    /* down: both deliveries fail, both events are stored */
    adk_event_list_t *missed = NULL;
    for (int i = 0; i < 2; i++) {
        adk_content_t *content = NULL;
        adk_event_t *ev = NULL;
        ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, i ? "three" : "two", &content),
                         AGENTEX_OK);
        ck_assert_int_eq(adk_rpc_event_send(c, "e2e-auto", task, content, &ev), AGENTEX_ERPC);
        adk_content_free(content);
    }
    ck_assert_int_eq(adk_events_list(c, task, agent_id, adk_event_id(one), 0, &missed), AGENTEX_OK);
    ck_assert_uint_eq(adk_event_list_count(missed), 2);

    /* back: the start-up catch-up answers them with no new event */
    agent_start_env(&again, "echo_agent", "e2e-auto", NULL, "ACP_AUTO_CURSOR=1");
    const char *last = adk_event_id(adk_event_list_at(missed, 1));
    tr = wait_cursor(c, task, agent_id, last);
    ck_assert_str_eq(adk_tracker_status(tr), "WATCHED");
    ck_assert_str_eq(adk_tracker_status_reason(tr), "by the test");
    adk_tracker_free(tr);
    adk_event_t *four = event_send(c, "e2e-auto", task, "four");
    adk_tracker_free(wait_cursor(c, task, agent_id, adk_event_id(four)));

    static const char *const want[] = {NULL, "You said: one", "You said: two", "You said: three",
                                       "You said: four"};
    adk_message_list_t *l = wait_messages(c, task, 5);
    tp_sleep_ms(200); /* nothing more arrives: every event was answered once */
    adk_message_list_free(l);
    l = wait_messages(c, task, 5);
    ck_assert_uint_eq(adk_message_list_count(l), 5);
    ck_assert_ptr_nonnull(strstr(msg_text(l, 0), "Welcome!"));
    for (size_t i = 1; i < 5; i++)
        ck_assert_str_eq(msg_text(l, i), want[i]);
    adk_message_list_free(l);
    ck_assert_msg(file_contains(again.log, "auto-cursor: catching up 1 task"), "log %s",
                  again.log);

    adk_event_list_free(missed);
    adk_event_free(one);
    adk_event_free(four);
    free(task);
    free(agent_id);
    agentex_client_free(c);
    proc_stop_ok(&again);
    proc_stop_ok(&g_dev);
}
END_TEST

/* Concurrent event/send calls reach the agent in any order; with the auto-cursor each
 * task's replies still follow its events' sequence_id order, once each. */
#define AC_TASKS 4
#define AC_SENDERS 3
#define AC_EVENTS 12 /* per sender */

typedef struct ac_sender {
    pthread_t th;
    const char *task;
    int index;
    int failures;
} ac_sender_t;

static void *ac_send(void *arg)
{
    ac_sender_t *x = arg;
    agentex_client_t *c = NULL;
    if (agentex_client_new(g_url, &c) != AGENTEX_OK ||
        agentex_client_set_timeouts(c, 3000, 15000) != AGENTEX_OK) {
        agentex_client_free(c);
        x->failures = AC_EVENTS;
        return NULL;
    }
    for (int i = 0; i < AC_EVENTS; i++) {
        char text[64];
        snprintf(text, sizeof text, "s%d-%d", x->index, i);
        adk_content_t *content = NULL;
        adk_event_t *ev = NULL;
        if (adk_content_text_new(ADK_AUTHOR_USER, text, &content) != AGENTEX_OK ||
            adk_rpc_event_send(c, "e2e-auto-order", x->task, content, &ev) != AGENTEX_OK)
            x->failures++;
        adk_content_free(content);
        adk_event_free(ev);
    }
    agentex_client_free(c);
    return NULL;
}

START_TEST(test_auto_cursor_concurrent_senders_in_order)
{
    proc_t agent;
    dev_start(NULL);
    agent_start_env(&agent, "echo_agent", "e2e-auto-order", NULL, "ACP_AUTO_CURSOR=1");
    agentex_client_t *c = client();
    char *agent_id = agent_id_of(c, "e2e-auto-order");
    char *tasks[AC_TASKS];
    for (int t = 0; t < AC_TASKS; t++)
        tasks[t] = task_create(c, "e2e-auto-order", NULL);
    ac_sender_t snd[AC_TASKS * AC_SENDERS];
    for (int k = 0; k < AC_TASKS * AC_SENDERS; k++) {
        snd[k] = (ac_sender_t){.task = tasks[k % AC_TASKS], .index = k, .failures = 0};
        ck_assert_int_eq(pthread_create(&snd[k].th, NULL, ac_send, &snd[k]), 0);
    }
    for (int k = 0; k < AC_TASKS * AC_SENDERS; k++) {
        pthread_join(snd[k].th, NULL);
        ck_assert_int_eq(snd[k].failures, 0);
    }
    const size_t per_task = AC_SENDERS * AC_EVENTS;
    for (int t = 0; t < AC_TASKS; t++) {
        adk_event_list_t *evs = NULL;
        ck_assert_int_eq(adk_events_list(c, tasks[t], agent_id, NULL, 1000, &evs), AGENTEX_OK);
        ck_assert_uint_eq(adk_event_list_count(evs), per_task);
        adk_tracker_free(
            wait_cursor(c, tasks[t], agent_id, adk_event_id(adk_event_list_at(evs, per_task - 1))));
        adk_message_list_t *l = wait_messages(c, tasks[t], per_task + 1);
        ck_assert_uint_eq(adk_message_list_count(l), per_task + 1); /* the welcome, then one each */
        for (size_t i = 0; i < per_task; i++) {
            char want[96];
            snprintf(want, sizeof want, "You said: %s",
                     adk_content_text(adk_event_content(adk_event_list_at(evs, i))));
            ck_assert_str_eq(msg_text(l, i + 1), want);
        }
        adk_message_list_free(l);
        adk_event_list_free(evs);
        free(tasks[t]);
    }
    free(agent_id);
    agentex_client_free(c);
    proc_stop_ok(&agent);
    proc_stop_ok(&g_dev);
}
END_TEST

/* ---- state_agent -------------------------------------------------------------------------- */

START_TEST(test_state_counter)
{
    proc_t agent;
    dev_start(NULL);
    agent_start(&agent, "state_agent", "e2e-state", NULL);
    agentex_client_t *c = client();
    char *agent_id = agent_id_of(c, "e2e-state");
    char *task = task_create(c, "e2e-state", NULL);
    for (int i = 0; i < 3; i++) {
        adk_event_free(event_send(c, "e2e-state", task, "tick"));
        adk_message_list_t *l = wait_messages(c, task, (size_t)i + 1);
        char want[32];
        snprintf(want, sizeof want, "Turn %d", i + 1);
        ck_assert_str_eq(msg_text(l, (size_t)i), want);
        adk_message_list_free(l);
    }
    adk_state_t *st = NULL;
    ck_assert_int_eq(adk_state_get_by_task_and_agent(c, task, agent_id, &st), AGENTEX_OK);
    const cJSON *turns = cJSON_GetObjectItemCaseSensitive(adk_state_value(st), "turns");
    ck_assert(cJSON_IsNumber(turns));
    ck_assert_int_eq(turns->valueint, 3);
    adk_state_free(st);
    /* a second task has its own counter */
    char *task2 = task_create(c, "e2e-state", NULL);
    adk_event_free(event_send(c, "e2e-state", task2, "tick"));
    adk_message_list_t *l = wait_messages(c, task2, 1);
    ck_assert_str_eq(msg_text(l, 0), "Turn 1");
    adk_message_list_free(l);
    free(task2);
    free(task);
    free(agent_id);
    agentex_client_free(c);
    proc_stop_ok(&agent);
    proc_stop_ok(&g_dev);
}
END_TEST

/* ---- sync_agent: message/send through agentex-dev --------------------------------------- */

typedef struct body {
    char buf[16384];
    size_t len;
} body_t;

static size_t body_write(char *p, size_t sz, size_t n, void *ud)
{
    body_t *b = ud;
    size_t len = sz * n, take = len < sizeof b->buf - 1 - b->len ? len : sizeof b->buf - 1 - b->len;
    memcpy(b->buf + b->len, p, take);
    b->len += take;
    b->buf[b->len] = '\0';
    return len;
}

START_TEST(test_sync_message_send)
{
    proc_t agent;
    dev_start(NULL);
    agent_start(&agent, "sync_agent", "e2e-sync", "sync");
    agentex_client_t *c = client();
    char *task = task_create(c, "e2e-sync", "sync-task");

    /* non-streaming client */
    adk_content_t *content = NULL;
    adk_message_list_t *reply = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, "hello there", &content), AGENTEX_OK);
    agentex_err_t err = adk_rpc_message_send(c, "e2e-sync", task, content, &reply);
    adk_content_free(content);
    ck_assert_msg(err == AGENTEX_OK, "message/send: %s: %s", agentex_strerror(err),
                  agentex_client_errmsg(c));
    ck_assert_uint_eq(adk_message_list_count(reply), 1);
    ck_assert_str_eq(msg_text(reply, 0), "You said: hello there");
    ck_assert_int_eq(adk_message_streaming_status(adk_message_list_at(reply, 0)),
                     ADK_STREAMING_DONE);
    adk_message_list_free(reply);

    /* streaming client: NDJSON lines, one JSON-RPC envelope each */
    char url[320], req[512];
    snprintf(url, sizeof url, "%s/agents/name/e2e-sync/rpc", g_url);
    snprintf(req, sizeof req,
             "{\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"id\":7,\"params\":{\"task_id\":"
             "\"%s\",\"stream\":true,\"content\":{\"type\":\"text\",\"author\":\"user\","
             "\"content\":\"one two three\"}}}",
             task);
    CURL *h = curl_easy_init();
    ck_assert_ptr_nonnull(h);
    body_t *b = calloc(1, sizeof *b);
    struct curl_slist *hdr = curl_slist_append(NULL, "content-type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    ck_assert_int_eq(code, 200);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);

    char text[256] = "";
    int starts = 0, deltas = 0, dones = 0;
    for (char *line = b->buf, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        ck_assert_msg(nl != NULL, "unterminated line '%s'", line);
        *nl = '\0';
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(j != NULL, "not JSON: '%s'", line);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "jsonrpc")->valuestring, "2.0");
        ck_assert_int_eq(cJSON_GetObjectItem(j, "id")->valueint, 7);
        ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "error")));
        const cJSON *r = cJSON_GetObjectItem(j, "result");
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItem(r, "type"));
        ck_assert_ptr_nonnull(type);
        const cJSON *parent = cJSON_GetObjectItem(r, "parent_task_message");
        ck_assert_ptr_nonnull(cJSON_GetStringValue(cJSON_GetObjectItem(parent, "id")));
        if (!strcmp(type, "start")) {
            starts++;
        } else if (!strcmp(type, "delta")) {
            deltas++;
            const char *d = cJSON_GetStringValue(
                cJSON_GetObjectItem(cJSON_GetObjectItem(r, "delta"), "text_delta"));
            ck_assert_ptr_nonnull(d);
            size_t len = strlen(text);
            snprintf(text + len, sizeof text - len, "%s", d);
        } else if (!strcmp(type, "done")) {
            dones++;
        }
        cJSON_Delete(j);
    }
    free(b);
    ck_assert_int_eq(starts, 1);
    ck_assert_int_eq(deltas, 4); /* "You said:" and one per word */
    ck_assert_int_eq(dones, 1);
    ck_assert_str_eq(text, "You said: one two three");

    /* both turns persisted: the user's messages and the agent's replies */
    adk_message_list_t *l = wait_messages(c, task, 4);
    ck_assert_uint_eq(adk_message_list_count(l), 4);
    ck_assert_str_eq(msg_text(l, 0), "hello there");
    ck_assert_int_eq(adk_content_author(adk_message_content(adk_message_list_at(l, 0))),
                     ADK_AUTHOR_USER);
    ck_assert_str_eq(msg_text(l, 1), "You said: hello there");
    ck_assert_str_eq(msg_text(l, 2), "one two three");
    ck_assert_str_eq(msg_text(l, 3), "You said: one two three");
    ck_assert_int_eq(adk_content_author(adk_message_content(adk_message_list_at(l, 3))),
                     ADK_AUTHOR_AGENT);
    adk_message_list_free(l);

    /* the CLI's say takes message/send for a sync agent */
    cli_result_t *r = calloc(1, sizeof *r);
    CLI(r, "--agent", "e2e-sync", "say", task, "via the cli");
    ck_assert_msg(r->status == 0, "say: %d %s", r->status, r->err);
    ck_assert_str_eq(r->out, "user: via the cli\nagent: You said: via the cli\n");
    free(r);
    free(task);
    agentex_client_free(c);
    proc_stop_ok(&agent);
    proc_stop_ok(&g_dev);
}
END_TEST

/* ---- streaming_agent: deltas over SSE ----------------------------------------------------- */

START_TEST(test_streaming_deltas)
{
    proc_t agent;
    dev_start(NULL);
    agent_start(&agent, "streaming_agent", "e2e-stream", NULL);
    agentex_client_t *c = client();
    char *task = task_create(c, "e2e-stream", NULL);
    sse_t *x = sse_start(task);
    adk_event_free(event_send(c, "e2e-stream", task, "go"));

    adk_message_list_t *l = wait_messages(c, task, 1);
    ck_assert_uint_eq(adk_message_list_count(l), 1);
    const adk_message_t *m = adk_message_list_at(l, 0);
    ck_assert_int_eq(adk_message_streaming_status(m), ADK_STREAMING_DONE);
    const char *final = msg_text(l, 0);
    ck_assert_ptr_nonnull(final);
    ck_assert(!strncmp(final, "Streaming lets a user watch", 27));
    ck_assert_ptr_nonnull(strstr(final, "still reads every word."));

    sse_wait_completed(x, 1);
    sse_wait_dones(x, 1);
    pthread_mutex_lock(&x->mu);
    ck_assert_int_ge(x->starts, 1);
    ck_assert_int_ge(x->deltas, 2); /* the text arrived in pieces */
    ck_assert_int_eq(x->dones, 1);
    ck_assert_str_eq(x->delta_text, final);   /* the deltas add up to the stored text */
    ck_assert_str_eq(x->completed[0], final); /* and so does the accumulator's message */
    pthread_mutex_unlock(&x->mu);
    adk_message_list_free(l);
    sse_free(x);
    free(task);
    agentex_client_free(c);
    proc_stop_ok(&agent);
    proc_stop_ok(&g_dev);
}
END_TEST

/* ---- every example agent: registers, then exits 0 on SIGTERM ---------------------------- */

START_TEST(test_examples_register_and_stop)
{
    static const struct {
        const char *prog, *name, *type;
    } ex[] = {{"echo_agent", "ex-echo", NULL},
              {"batch_agent", "ex-batch", NULL},
              {"state_agent", "ex-state", NULL},
              {"sync_agent", "ex-sync", "sync"},
              {"streaming_agent", "ex-stream", NULL}};
    enum { N = sizeof ex / sizeof *ex };
    proc_t agents[N];
    dev_start(NULL);
    for (size_t i = 0; i < N; i++)
        agent_start(&agents[i], ex[i].prog, ex[i].name, ex[i].type); /* Ready */
    agentex_client_t *c = client();
    adk_agent_list_t *l = NULL;
    ck_assert_int_eq(adk_agents_list(c, NULL, &l), AGENTEX_OK);
    ck_assert_uint_eq(adk_agent_list_count(l), N);
    adk_agent_list_free(l);
    agentex_client_free(c);
    for (size_t i = 0; i < N; i++)
        proc_stop_ok(&agents[i]);
    proc_stop_ok(&g_dev);
}
END_TEST

/* ---- agentex-dev restart with --db ------------------------------------------------------- */

START_TEST(test_dev_restart_keeps_data)
{
    proc_t agent;
    char db[400];
    snprintf(db, sizeof db, "%s/dev.db", g_tmp);
    dev_start(db);
    agent_start(&agent, "echo_agent", "e2e-keep", NULL);
    agentex_client_t *c = client();
    char *agent_id = agent_id_of(c, "e2e-keep");
    char *task = task_create(c, "e2e-keep", "kept-task");
    adk_event_free(event_send(c, "e2e-keep", task, "remember me"));
    adk_message_list_free(wait_messages(c, task, 2));
    agentex_client_free(c);
    proc_stop_ok(&agent);
    proc_stop_ok(&g_dev);

    dev_start(db); /* a new port, the same file */
    c = client();
    adk_agent_t *a = NULL;
    ck_assert_int_eq(adk_agents_get_by_name(c, "e2e-keep", &a), AGENTEX_OK);
    ck_assert_str_eq(adk_agent_id(a), agent_id);
    adk_agent_free(a);
    adk_task_t *t = NULL;
    ck_assert_int_eq(adk_tasks_get_by_name(c, "kept-task", &t), AGENTEX_OK);
    ck_assert_str_eq(adk_task_id(t), task);
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_RUNNING);
    adk_task_free(t);
    adk_message_list_t *l = messages(c, task);
    ck_assert_uint_eq(adk_message_list_count(l), 2);
    ck_assert_str_eq(msg_text(l, 0), WELCOME);
    ck_assert_str_eq(msg_text(l, 1), "You said: remember me");
    adk_message_list_free(l);
    adk_event_list_t *ev = NULL;
    ck_assert_int_eq(adk_events_list(c, task, agent_id, NULL, 0, &ev), AGENTEX_OK);
    ck_assert_uint_eq(adk_event_list_count(ev), 1);
    adk_event_list_free(ev);
    free(task);
    free(agent_id);
    agentex_client_free(c);
    proc_stop_ok(&g_dev);
}
END_TEST

/* ---- the agentex CLI ---------------------------------------------------------------------- */

static bool is_uuid_line(const char *s, size_t len)
{
    if (len != 37 || s[36] != '\n')
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

START_TEST(test_cli)
{
    proc_t agent;
    cli_result_t *r = calloc(1, sizeof *r);
    dev_start(NULL);
    agent_start(&agent, "echo_agent", "e2e-cli", NULL);

    CLI(r, "agent", "e2e-cli");
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "e2e-cli Ready\n");

    CLI(r, "--agent", "e2e-cli", "task", "create", "--name", "cli-task", "--params", "{\"a\":1}");
    ck_assert_msg(r->status == 0, "status %d: %s", r->status, r->err);
    ck_assert_msg(is_uuid_line(r->out, strlen(r->out)), "task create printed '%s'", r->out);
    char task[40];
    memcpy(task, r->out, 36);
    task[36] = '\0';
    ck_assert_str_eq(r->err, "");

    CLI(r, "--agent", "e2e-cli", "send", task, "hi there");
    ck_assert_msg(r->status == 0, "status %d: %s", r->status, r->err);
    char evid[64];
    long long seq = 0;
    ck_assert_msg(sscanf(r->out, "%63s %lld", evid, &seq) == 2 && seq > 0, "send: '%s'", r->out);
    ck_assert_uint_eq(strlen(evid), 36);

    agentex_client_t *c = client();
    adk_message_list_free(wait_messages(c, task, 2));
    CLI(r, "messages", task);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "agent: Welcome! Send me a message and I will echo it.\n"
                             "agent: You said: hi there\n");

    CLI(r, "--agent", "e2e-cli", "say", task, "how are you", "--timeout", "10");
    ck_assert_msg(r->status == 0, "status %d: %s", r->status, r->err);
    ck_assert_str_eq(r->out, "user: how are you\nagent: You said: how are you\n");

    CLI(r, "--agent", "e2e-cli", "cancel", task);
    ck_assert_msg(r->status == 0, "status %d: %s", r->status, r->err);
    ck_assert_str_eq(r->out, "CANCELED\n");

    /* watch on an ended task: the stored conversation, then the status */
    CLI(r, "watch", task, "--timeout", "5");
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "agent: Welcome! Send me a message and I will echo it.\n"
                             "agent: You said: hi there\n"
                             "agent: You said: how are you\n"
                             "-- task CANCELED\n");

    /* a live watch ends on the terminal status */
    char *t2 = task_create(c, "e2e-cli", "cli-task-2");
    adk_message_list_free(wait_messages(c, t2, 1));
    pid_t w = fork();
    ck_assert_int_ge(w, 0);
    if (w == 0) {
        /* the child only waits a little, then cancels: the parent's watch must end */
        tp_sleep_ms(1500);
        agentex_client_t *c2 = client();
        adk_task_t *t = NULL;
        agentex_err_t e = adk_rpc_task_cancel(c2, "e2e-cli", t2, &t);
        adk_task_free(t);
        agentex_client_free(c2);
        _exit(e == AGENTEX_OK ? 0 : 1);
    }
    CLI(r, "watch", t2, "--timeout", "15");
    int wst = 0;
    waitpid(w, &wst, 0);
    ck_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "agent: Welcome! Send me a message and I will echo it.\n"
                             "-- task CANCELED: Task canceled by user\n");

    /* chat: lines from stdin are sent, the conversation printed; ends after the replies */
    {
        char bin[600];
        snprintf(bin, sizeof bin, "%s/bin/agentex", tp_build_dir());
        const char *argv[] = {bin, "--url", g_url, "--agent", "e2e-cli", "chat", "cli-chat", NULL};
        run_argv(r, argv, NULL, "one\n\ntwo\n");
    }
    ck_assert_msg(r->status == 0, "chat: %d %s", r->status, r->err);
    ck_assert_str_eq(r->err, "");
    static const char *const chat_lines[] = {
        "agent: Welcome! Send me a message and I will echo it.\n", "user: one\n",
        "agent: You said: one\n", "user: two\n", "agent: You said: two\n"};
    const char *at[5];
    for (size_t i = 0; i < 5; i++) {
        at[i] = strstr(r->out, chat_lines[i]);
        ck_assert_msg(at[i] && !strstr(at[i] + 1, chat_lines[i]), "chat output:\n%s", r->out);
    }
    /* input is read ahead: only each reply after its line, and the replies in order */
    ck_assert_msg(at[1] < at[2] && at[3] < at[4] && at[2] < at[4], "chat order:\n%s", r->out);
    ck_assert_uint_eq(strlen(r->out), strlen(chat_lines[0]) + strlen(chat_lines[1]) +
                                          strlen(chat_lines[2]) + strlen(chat_lines[3]) +
                                          strlen(chat_lines[4]));

    /* errors: exit 1 and one line */
    CLI(r, "messages", "no-such-task");
    ck_assert_int_eq(r->status, 1);
    ck_assert_str_eq(r->out, "");
    assert_one_error_line(r, "agentex: messages: not found");
    CLI(r, "--agent", "e2e-cli", "send", "no-such-task", "x");
    ck_assert_int_eq(r->status, 1);
    assert_one_error_line(r, "agentex: send: ");
    CLI(r, "--agent", "e2e-cli", "cancel", "no-such-task");
    ck_assert_int_eq(r->status, 1);
    assert_one_error_line(r, "agentex: cancel: ");
    CLI(r, "watch", "no-such-task");
    ck_assert_int_eq(r->status, 1);
    assert_one_error_line(r, "agentex: watch: not found");
    CLI(r, "agent", "nobody");
    ck_assert_int_eq(r->status, 1);
    assert_one_error_line(r, "agentex: agent: not found");
    CLI(r, "--agent", "nobody", "task", "create");
    ck_assert_int_eq(r->status, 1);
    assert_one_error_line(r, "agentex: task create: ");

    /* usage: exit 2 */
    CLI(r, "frobnicate");
    ck_assert_int_eq(r->status, 2);
    assert_one_error_line(r, "agentex: unknown command 'frobnicate'");
    CLI(r, "send", task);
    ck_assert_int_eq(r->status, 2);
    CLI(r, "watch", task, "--timeout", "soon");
    ck_assert_int_eq(r->status, 2);
    CLI(r, "--agent", "e2e-cli", "task", "create", "--params", "[1]");
    ck_assert_int_eq(r->status, 2);
    CLI(r, "--help");
    ck_assert_int_eq(r->status, 0);
    ck_assert(!strncmp(r->out, "usage: agentex ", 15));

    free(t2);
    free(r);
    agentex_client_free(c);
    proc_stop_ok(&agent);

    /* no backend at all: a connection error, one line */
    proc_stop_ok(&g_dev);
    r = calloc(1, sizeof *r);
    CLI(r, "messages", task);
    ck_assert_int_eq(r->status, 1);
    assert_one_error_line(r, "agentex: messages: ");
    free(r);
}
END_TEST

/* ---- make demo ------------------------------------------------------------------------------ */

START_TEST(test_demo)
{
    const char *src = getenv("AGX_SRC_DIR");
    char script[600], build[600];
    snprintf(script, sizeof script, "%s/tools/demo.sh", src && *src ? src : ".");
    /* the demo on the sanitizer build: every process it stops must exit 0 */
    const char *dir = tp_build_dir();
    if (dir[0] == '/')
        snprintf(build, sizeof build, "BUILD=%s", dir);
    else {
        char cwd[400];
        ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
        snprintf(build, sizeof build, "BUILD=%s/%s", cwd, dir);
    }
    const char *argv[] = {"/bin/bash", script, NULL};
    const char *env[] = {build, NULL};
    cli_result_t *r = calloc(1, sizeof *r);
    run_argv(r, argv, env, NULL);
    ck_assert_msg(r->status == 0, "demo exited %d:\n%s\n%s", r->status, r->out, r->err);
    static const char *const expect[] = {
        "agent: Welcome! Send me a message and I will echo it.\n",
        "user: Hello\nagent: You said: Hello\n",
        "user: What can you do?\nagent: You said: What can you do?\n",
        "   status: CANCELED\n",
        "   | -- task CANCELED: Task canceled by user\n",
        "   agent: You said: first, while it runs\n   agent: You said: second, while it is down\n",
        "echo_agent stopped (exit status 0)\n",
        "agentex-dev stopped (exit status 0)\n"};
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
        ck_assert_msg(strstr(r->out, expect[i]), "demo output lacks '%s':\n%s", expect[i], r->out);
    ck_assert_msg(!strstr(r->out, "\033["), "colours on a pipe");
    free(r);
}
END_TEST

Suite *e2e_suite(void);
Suite *e2e_suite(void)
{
    Suite *s = suite_create("e2e");
    TCase *tc = tcase_create("agents");
    tcase_set_timeout(tc, 15);
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_examples_register_and_stop);
    tcase_add_test(tc, test_echo_conversation_and_cancel);
    tcase_add_test(tc, test_batch_cursor);
    tcase_add_test(tc, test_persist_before_deliver);
    tcase_add_test(tc, test_auto_cursor_restart_catches_up);
    tcase_add_test(tc, test_auto_cursor_concurrent_senders_in_order);
    tcase_add_test(tc, test_state_counter);
    tcase_add_test(tc, test_sync_message_send);
    tcase_add_test(tc, test_streaming_deltas);
    tcase_add_test(tc, test_dev_restart_keeps_data);
    suite_add_tcase(s, tc);
    tc = tcase_create("cli");
    tcase_set_timeout(tc, 15);
    tcase_add_unchecked_fixture(tc, root_setup, root_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_cli);
    tcase_add_test(tc, test_demo);
    suite_add_tcase(s, tc);
    return s;
}
