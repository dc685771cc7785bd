/*
 * tools/client_bench.c - what one backend call costs a handler, for `make bench` (not
 * installed).
 *
 *   build/bin/client_bench URL [CALLS]
 *
 * URL is a plain http://HOST:PORT backend that answers POST /messages (bench/run.sh points
 * it at its nginx sink).  On one thread, one keep-alive connection each, after 200 calls
 * of warm-up, it times CALLS (default 20000, 100..1000000) sequential requests three ways:
 *   sdk:      adk_messages_create(), the echo agent's reply, its answer parsed;
 *   sdk_noout: the same with out NULL (the answer is not parsed);
 *   raw:      the request adk_messages_create sends (the same body and headers), written
 *             and its answer read with plain write()/read() on a socket;
 * and prints one line per way:
 *   RESULT client way=sdk calls=N cpu_us_per_call=X wall_us_per_call=Y
 * CPU time is the thread's (CLOCK_THREAD_CPUTIME_ID); the backend's CPU is not in it.
 * The difference between sdk and raw is what libagentex's client adds to a request (it
 * writes and reads HTTP/1.1 itself on the connection libcurl opened; see agentex_client(3)).
 * Exit 0, or 1 with a one-line reason on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agentex/agentex.h"

#define WARMUP 200

static const char *const reply_text = "You said: the quick brown fox jumps over the lazy dog";

static double now_us(clockid_t clk)
{
    struct timespec t;
    clock_gettime(clk, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int fail(const char *what, const char *why)
{
    fprintf(stderr, "client_bench: %s: %s\n", what, why);
    return 1;
}

static void report(const char *way, long calls, double cpu0, double cpu1, double w0, double w1)
{
    printf("RESULT client way=%s calls=%ld cpu_us_per_call=%.1f wall_us_per_call=%.1f\n", way,
           calls, (cpu1 - cpu0) / (double)calls, (w1 - w0) / (double)calls);
    fflush(stdout);
}

/* calls adk_messages_create, parsing the answer unless parse is false */
static int run_sdk(agentex_client_t *c, const adk_content_t *content, long calls, bool parse)
{
    for (long i = 0; i < calls; i++) {
        adk_message_t *m = NULL;
        agentex_err_t err = adk_messages_create(c, "bench-task", content, ADK_STREAMING_NONE,
                                                ADK_TIME_NONE, parse ? &m : NULL);
        adk_message_free(m);
        if (err != AGENTEX_OK)
            return fail("adk_messages_create", agentex_client_errmsg(c));
    }
    return 0;
}

/* Reads one HTTP answer with a Content-Length body from fd (buf is scratch). */
static int read_answer(int fd, char *buf, size_t cap)
{
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, cap - 1 - have);
        if (n <= 0)
            return fail("raw read", n == 0 ? "the backend closed the connection" : strerror(errno));
        have += (size_t)n;
        buf[have] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        const char *cl = strstr(buf, "Content-Length:");
        if (!cl || cl > end)
            cl = strstr(buf, "content-length:");
        if (!cl || cl > end)
            return fail("raw read", "an answer without Content-Length");
        size_t want = (size_t)(end + 4 - buf) + (size_t)strtoul(cl + 15, NULL, 10);
        if (want >= cap)
            return fail("raw read", "an answer larger than the buffer");
        if (have >= want)
            return have == want ? 0 : fail("raw read", "more than one answer");
    }
}

static int run_raw(const char *host, int port, const char *req, size_t len, long calls)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (fd < 0 || inet_pton(AF_INET, host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return fail("raw connect", strerror(e));
    }
    char buf[16384];
    for (long i = 0; i < calls; i++) {
        if (write(fd, req, len) != (ssize_t)len) {
            close(fd);
            return fail("raw write", strerror(errno));
        }
        if (read_answer(fd, buf, sizeof buf) != 0) {
            close(fd);
            return 1;
        }
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        return fail("usage", "client_bench http://HOST:PORT [CALLS]");
    char host[64];
    int port = 0;
    if (sscanf(argv[1], "http://%63[0-9.]:%d", host, &port) != 2 || port < 1 || port > 65535)
        return fail(argv[1], "not an http://IPv4:PORT URL");
    long calls = argc == 3 ? strtol(argv[2], NULL, 10) : 20000;
    if (calls < 100 || calls > 1000000)
        return fail(argv[2], "CALLS must be 100..1000000");

    agentex_client_t *c = NULL;
    adk_content_t *content = NULL;
    if (agentex_client_new(argv[1], &c) != AGENTEX_OK ||
        agentex_client_set_retries(c, 0, 0, 0) != AGENTEX_OK ||
        adk_content_text_new(ADK_AUTHOR_AGENT, reply_text, &content) != AGENTEX_OK)
        return fail("set-up", "out of memory");

    /* the raw request: the body and the headers adk_messages_create sends */
    cJSON *body = cJSON_CreateObject(), *cj = NULL;
    char *text = NULL, req[4096];
    int rc = 1, len = -1;
    if (body && cJSON_AddStringToObject(body, "task_id", "bench-task") &&
        adk_content_to_json(content, &cj) == AGENTEX_OK &&
        cJSON_AddItemToObject(body, "content", cj))
        text = cJSON_PrintUnformatted(body);
    else
        cJSON_Delete(cj);
    if (text)
        len = snprintf(req, sizeof req,
                       "POST /messages HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: libagentex/%s\r\n"
                       "Accept: application/json\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       host, port, AGENTEX_VERSION_STRING, strlen(text), text);
    if (len <= 0 || (size_t)len >= sizeof req) {
        fail("set-up", "cannot build the raw request");
        goto out;
    }

    struct {
        const char *way;
        int kind; /* 0 sdk, 1 sdk_noout, 2 raw */
    } ways[] = {{"sdk", 0}, {"sdk_noout", 1}, {"raw", 2}};
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        for (int pass = 0; pass < 2; pass++) { /* warm-up, then measured */
            long n = pass ? calls : WARMUP;
            double c0 = now_us(CLOCK_THREAD_CPUTIME_ID), w0 = now_us(CLOCK_MONOTONIC);
            int r = ways[i].kind == 2 ? run_raw(host, port, req, (size_t)len, n)
                                      : run_sdk(c, content, n, ways[i].kind == 0);
            double c1 = now_us(CLOCK_THREAD_CPUTIME_ID), w1 = now_us(CLOCK_MONOTONIC);
            if (r != 0)
                goto out;
            if (pass)
                report(ways[i].way, n, c0, c1, w0, w1);
        }
    }
    rc = 0;
out:
    cJSON_free(text);
    cJSON_Delete(body);
    adk_content_free(content);
    agentex_client_free(c);
    return rc;
}
