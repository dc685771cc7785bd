/*
 * tools/httpd_bench.c - a tiny server on lib/http_server.c for load tests (not installed).
 *
 *   build/bin/httpd_bench [port] [mode]
 *     prints "PORT <n>" and answers every request with an ~80-byte JSON ack;
 *     mode "direct" (default): from the service thread, inside on_request;
 *     mode "pool": from a 4-thread agx_pool (keyed by connection, like per-task mailboxes);
 *     mode "stream": a chunked reply (head, one chunk, end) from the pool.
 *   SIGINT/SIGTERM stop it (agx_httpd_stop from the signal handler).
 *   wrk -t2 -c32 -d5s -s /work/shared/bench/event_send.lua http://127.0.0.1:<n>/api
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "pool.h"

static agx_httpd_t *server;
static agx_pool_t *pool;
static int mode; /* 0 direct, 1 pool, 2 stream */

static const char ack[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"status\":\"accepted\","
                          "\"detail\":\"event queued\"}}";

static void on_signal(int sig)
{
    (void)sig;
    agx_httpd_stop(server);
}

static void job(void *wctx, void *arg)
{
    (void)wctx;
    agx_http_req_t *req = arg;
    if (mode == 1) {
        agx_http_respond(req, 200, NULL, NULL, ack, sizeof ack - 1);
        return;
    }
    agx_http_stream_begin(req, 200, "application/x-ndjson", NULL);
    agx_http_stream_write(req, ack, sizeof ack - 1);
    agx_http_stream_end(req);
}

static void on_request(agx_http_req_t *req, void *ud)
{
    (void)ud;
    if (mode == 0) {
        agx_http_respond(req, 200, NULL, NULL, ack, sizeof ack - 1);
        return;
    }
    char key[32];
    snprintf(key, sizeof key, "%p", (void *)req);
    if (agx_pool_submit(pool, key, job, req) != AGENTEX_OK)
        agx_http_respond(req, 503, NULL, NULL, "{}", 2);
}

int main(int argc, char **argv)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.port = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 0;
    if (argc > 2)
        mode = strcmp(argv[2], "pool") == 0 ? 1 : strcmp(argv[2], "stream") == 0 ? 2 : 0;
    cfg.on_request = on_request;
    if (agx_pool_new(4, NULL, NULL, NULL, &pool) != AGENTEX_OK ||
        agx_httpd_new(&cfg, &server) != AGENTEX_OK) {
        fprintf(stderr, "httpd_bench: cannot start\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("PORT %d\n", agx_httpd_port(server));
    fflush(stdout);
    agx_httpd_run(server);
    agx_pool_free(pool); /* runs what is queued: those answers fail (-1), nothing leaks */
    agx_httpd_free(server);
    return 0;
}
