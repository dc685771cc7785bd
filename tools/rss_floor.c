/*
 * tools/rss_floor.c - the memory floor of an agent process, for `make bench` (not installed).
 *
 *   build/bin/rss_floor PORT [URL]
 *
 * Does, without any libagentex code, what the dependencies cost every agent before it
 * handles a request: the same shared libraries as build/examples/echo_agent (the Makefile
 * links every tool like the examples), curl_global_init(), one keep-alive POST to URL as
 * registration does (when URL is given), and a libwebsockets context listening on
 * 127.0.0.1:PORT with raw sockets, as the ACP server does.  Then it prints "ready" and
 * idles in lws_service() until SIGINT/SIGTERM.  bench/run.sh reads its VmRSS next to the
 * echo agent's idle VmRSS: the difference is what libagentex itself adds.
 *
 * The Makefile also builds it with -DRSS_FLOOR_LWS_ONLY as build/bin/rss_floor_lws, linked
 * with libwebsockets alone (no libcurl, cJSON or libagentex, no POST): the memory of the
 * ACP server's one mandated dependency by itself.
 */
#ifndef RSS_FLOOR_LWS_ONLY
#include <curl/curl.h>
#endif
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int on_raw(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    (void)wsi;
    (void)reason;
    (void)user;
    (void)in;
    (void)len;
    return 0;
}

#ifndef RSS_FLOOR_LWS_ONLY
static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}
#endif

int main(int argc, char **argv)
{
    char *end = NULL;
    long port = argc >= 2 ? strtol(argv[1], &end, 10) : -1;
    if (argc < 2 || argc > 3 || !end || *end || port < 1 || port > 65535) {
        fprintf(stderr, "usage: rss_floor PORT [URL]\n");
        return 2;
    }
#ifndef RSS_FLOOR_LWS_ONLY
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "rss_floor: curl_global_init failed\n");
        return 1;
    }
    CURL *curl = curl_easy_init();
    if (!curl) {
        fprintf(stderr, "rss_floor: curl_easy_init failed\n");
        return 1;
    }
    if (argc == 3) {
        curl_easy_setopt(curl, CURLOPT_URL, argv[2]);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{}");
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
        CURLcode rc = curl_easy_perform(curl);
        if (rc != CURLE_OK) {
            fprintf(stderr, "rss_floor: POST %s: %s\n", argv[2], curl_easy_strerror(rc));
            return 1;
        }
    }
#else
    if (argc == 3) {
        fprintf(stderr, "rss_floor_lws: takes no URL (it has no HTTP client)\n");
        return 2;
    }
#endif

    static const struct lws_protocols protocols[] = {
        {"raw", on_raw, 0, 0, 0, NULL, 0},
        {NULL, NULL, 0, 0, 0, NULL, 0},
    };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = (int)port;
    info.iface = "127.0.0.1";
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
    info.listen_accept_role = "raw-skt";
    info.listen_accept_protocol = "raw";
    lws_set_log_level(LLL_ERR, NULL);
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx) {
        fprintf(stderr, "rss_floor: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("ready\n");
    fflush(stdout);
    while (!stop)
        lws_service(ctx, 200);
    lws_context_destroy(ctx);
#ifndef RSS_FLOOR_LWS_ONLY
    curl_easy_cleanup(curl);
    curl_global_cleanup();
#endif
    return 0;
}
