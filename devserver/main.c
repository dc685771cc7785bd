/*
 * devserver/main.c - agentex-dev: command line, start-up and clean shutdown.
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"

static agx_httpd_t *g_httpd;

static void on_signal(int sig)
{
    (void)sig;
    if (g_httpd)
        agx_httpd_stop(g_httpd);
}

static void usage(FILE *f)
{
    fputs("usage: agentex-dev [--host ADDR] [--port N] [--db FILE] [--log-level LEVEL]\n"
          "                   [--health-interval-ms N] [--ping-interval-ms N]\n"
          "                   [--rpc-timeout-ms N] [--workers N] [--redis-url URL]\n"
          "                   [--help] [--version]\n"
          "\n"
          "A single-process local Agentex backend (SQLite storage).\n"
          "  --host ADDR              bind address (default 127.0.0.1)\n"
          "  --port N                 port, 0 = any free port (default 5003)\n"
          "  --db FILE                SQLite database file (default: in memory)\n"
          "  --log-level LEVEL        debug, info, warn, error, off (default info)\n"
          "  --health-interval-ms N   agent health probe period (default 30000, 0 = off)\n"
          "  --ping-interval-ms N     SSE keep-alive after N ms of silence (default 15000)\n"
          "  --rpc-timeout-ms N       timeout of calls to agents (default 60000)\n"
          "  --workers N              threads for calls to agents (default 32)\n"
          "  --redis-url URL          read task streams from Redis like the real backend:\n"
          "                           SSE/websocket subscribers of a task get what agents\n"
          "                           XADD to task:{id} (field data); URL is\n"
          "                           redis://[[user]:password@]host[:port][/db]\n"
          "                           (default: no Redis, agents publish on /stream/publish)\n"
          "The first line on stdout is \"agentex-dev listening on http://HOST:PORT\".\n",
          f);
}

static int parse_long(const char *opt, const char *v, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || errno || *end || n < min || n > max) {
        fprintf(stderr, "agentex-dev: %s: invalid value '%s'\n", opt, v ? v : "");
        return -1;
    }
    *out = n;
    return 0;
}

static void *worker_init(void *ud)
{
    (void)ud;
    return curl_easy_init();
}

static void worker_fini(void *wctx, void *ud)
{
    (void)ud;
    if (wctx)
        curl_easy_cleanup(wctx);
}

static bool on_ws_open(agx_ws_t *ws, const char *path, void *ud)
{
    return dev_ws_open(ud, ws, path);
}
static void on_ws_message(agx_ws_t *ws, const char *data, size_t len, bool binary, void *ud)
{
    dev_ws_message(ud, ws, data, len, binary);
}
static void on_ws_close(agx_ws_t *ws, void *ud) { dev_ws_close(ud, ws); }

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *db = NULL, *redis_url = NULL;
    long port = 5003;
    dsrv_t d;
    memset(&d, 0, sizeof d);
    d.health_interval_ms = 30000;
    d.health_timeout_ms = 5000;
    d.ping_interval_ms = 15000;
    d.rpc_timeout_ms = 60000;
    d.workers = 32;
    agentex_log_level_t lvl = AGENTEX_LOG_INFO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("agentex-dev %s (libagentex %s)\n", DEV_VERSION, agentex_version_string());
            return 0;
        } else if (!strcmp(a, "--host") && v) {
            host = v;
            i++;
        } else if (!strcmp(a, "--port") && v) {
            if (parse_long(a, v, 0, 65535, &port))
                return 2;
            i++;
        } else if (!strcmp(a, "--redis-url") && v) {
            redis_url = v;
            i++;
        } else if (!strcmp(a, "--db") && v) {
            db = v;
            i++;
        } else if (!strcmp(a, "--log-level") && v) {
            if (agentex_log_level_parse(v, &lvl) != AGENTEX_OK) {
                fprintf(stderr, "agentex-dev: --log-level: invalid value '%s'\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--health-interval-ms") && v) {
            if (parse_long(a, v, 0, 86400000L, &d.health_interval_ms))
                return 2;
            i++;
        } else if (!strcmp(a, "--health-timeout-ms") && v) {
            if (parse_long(a, v, 1, 600000L, &d.health_timeout_ms))
                return 2;
            i++;
        } else if (!strcmp(a, "--ping-interval-ms") && v) {
            if (parse_long(a, v, 1, 86400000L, &d.ping_interval_ms))
                return 2;
            i++;
        } else if (!strcmp(a, "--workers") && v) {
            if (parse_long(a, v, 1, 1024, &d.workers))
                return 2;
            i++;
        } else if (!strcmp(a, "--rpc-timeout-ms") && v) {
            if (parse_long(a, v, 1, 86400000L, &d.rpc_timeout_ms))
                return 2;
            i++;
        } else {
            if (!strncmp(a, "--", 2) && !v && strcmp(a, "--") != 0)
                fprintf(stderr, "agentex-dev: %s: missing value or unknown option (see --help)\n",
                        a);
            else
                fprintf(stderr, "agentex-dev: unknown argument '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (redis_url && dev_relay_start(&d, redis_url))
        return 2;
    dev_log_level = (int)lvl;
    agentex_set_log_cb(lvl == AGENTEX_LOG_INFO ? AGENTEX_LOG_WARN : lvl, agentex_log_stderr, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_mutex_init(&d.dbmu, NULL);
    pthread_mutex_init(&d.waitmu, NULL);
    pthread_cond_init(&d.waitcv, NULL);
    int rc = 1;
    if (dev_store_open(&d, db))
        goto out;
    if (agx_pool_new((int)d.workers, worker_init, worker_fini, NULL, &d.pool) != AGENTEX_OK) {
        fprintf(stderr, "agentex-dev: cannot start %ld worker threads\n", d.workers);
        goto out;
    }
    if (dev_hub_new(&d)) {
        fprintf(stderr, "agentex-dev: out of memory\n");
        goto out;
    }
    agx_httpd_config_t cfg = {
        .host = host,
        .port = (int)port,
        .on_request = dev_on_request,
        .on_ws_open = on_ws_open,
        .on_ws_message = on_ws_message,
        .on_ws_close = on_ws_close,
        .userdata = &d,
    };
    if (agx_httpd_new(&cfg, &d.httpd) != AGENTEX_OK) {
        fprintf(stderr, "agentex-dev: cannot listen on %s:%ld\n", host, port);
        goto out;
    }
    g_httpd = d.httpd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (dev_health_start(&d)) {
        fprintf(stderr, "agentex-dev: cannot start the health checker\n");
        goto out;
    }
    printf("agentex-dev listening on http://%s:%d\n", host, agx_httpd_port(d.httpd));
    fflush(stdout);
    dev_log(AGENTEX_LOG_INFO, "storage: %s", db ? db : ":memory:");
    char sdesc[300];
    dev_log(AGENTEX_LOG_INFO, "task streams: %s", dev_relay_describe(&d, sdesc, sizeof sdesc));
    if (agx_httpd_run(d.httpd) != AGENTEX_OK) {
        fprintf(stderr, "agentex-dev: server loop failed\n");
        goto out;
    }
    dev_log(AGENTEX_LOG_INFO, "shutting down");
    rc = 0;
out:
    dev_health_stop(&d);
    dev_hub_close_all(&d);
    dev_relay_stop(&d);
    dev_wait_jobs(&d);
    g_httpd = NULL;
    if (d.httpd)
        agx_httpd_free(d.httpd);
    agx_pool_free(d.pool);
    dev_hub_free(&d);
    dev_relay_free(&d);
    dev_store_close(&d);
    curl_global_cleanup();
    pthread_cond_destroy(&d.waitcv);
    pthread_mutex_destroy(&d.waitmu);
    pthread_mutex_destroy(&d.dbmu);
    return rc;
}
