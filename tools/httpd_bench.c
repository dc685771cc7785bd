/*
 * tools/httpd_bench.c - a tiny server on lib/http_server.c for load tests (not installed).
 *
 *   build/bin/httpd_bench [port]     prints "PORT <n>", answers every request with an
 *                                    ~80-byte JSON ack from the service thread;
 *                                    SIGINT/SIGTERM stop it (agx_httpd_stop from the handler).
 *   wrk -t2 -c32 -d5s -s /work/shared/bench/event_send.lua http://127.0.0.1:<n>/api
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"

static agx_httpd_t *server;

static void on_signal(int sig)
{
    (void)sig;
    agx_httpd_stop(server);
}

static void on_request(agx_http_req_t *req, void *ud)
{
    (void)ud;
    static const char ack[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"status\":\"accepted\","
                              "\"detail\":\"event queued\"}}";
    agx_http_respond(req, 200, NULL, NULL, ack, sizeof ack - 1);
}

int main(int argc, char **argv)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.port = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 0;
    cfg.on_request = on_request;
    if (agx_httpd_new(&cfg, &server) != AGENTEX_OK) {
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
    agx_httpd_free(server);
    return 0;
}
