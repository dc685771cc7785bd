/*
 * tools/openloop.c - latency at a fixed request rate, for `make bench` (not installed).
 *
 *   build/bin/openloop -r RATE [-c CONNS] [-d SECONDS] [-m METHOD] [-t TIMEOUT_MS]
 *                      [-H 'Name: value']... http://HOST:PORT/PATH
 *
 * wrk keeps CONNS requests in flight and so measures latency at saturation, where it is
 * queueing: CONNS / throughput by Little's law.  openloop is an open-loop load instead:
 * request i is due at start + i / RATE whatever the server did with the ones before, it
 * goes out on the first idle connection of CONNS (default 32) keep-alive ones, and its
 * latency runs from its due time to the end of its answer.  A request that waits for a
 * connection because the server is slow is charged that wait, so a stalled server cannot
 * hide its stall (no "coordinated omission").
 *
 * The requests are JSON-RPC 2.0 POSTs like shared/bench/event_send.lua's: METHOD
 * event/send (default), task/create or task/cancel, about 900 bytes, a fresh id each; -H
 * adds a header (the bench passes x-agent-api-key).  SECONDS defaults to 5 (at most 20),
 * RATE * SECONDS is at most 2,000,000, and an answer not complete within TIMEOUT_MS
 * (default 5000) of its request's due time counts as an error, and its connection is
 * replaced.
 *
 * Prints one line, then exits 0:
 *   RESULT openloop rate=R conns=C seconds=S requests=N answered=A non2xx=X errors=E
 *          achieved_rps=.. p50_ms=.. p90_ms=.. p99_ms=.. p999_ms=.. max_ms=.. max_waiting=W
 * (percentiles of the answered requests; max_waiting: the most requests that were due and
 * waited for an idle connection at once).  Exit 1 with a one-line reason when it cannot
 * connect, 2 with a one-line reason on bad arguments.  Answers are framed by lib/h1resp.c (any
 * HTTP/1.1 framing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "h1resp.h"
#include "internal.h"

#define MAX_CONNS 1024
#define MAX_REQUESTS 2000000L
#define MAX_HEADERS 16
#define MAX_BODY (1u << 20)

typedef struct conn {
    int fd;
    int busy;          /* a request is out (or being written) on it */
    int64_t due_ns;    /* the current request's due time */
    agx_buf_t req;     /* the current request's bytes */
    size_t sent;       /* how many of them are written */
    agx_h1resp_t resp; /* its answer */
    agx_buf_t body;
} conn_t;

static struct {
    const char *host_header; /* HOST[:PORT] as in the URL */
    const char *path;
    const char *method;
    const char *headers[MAX_HEADERS];
    int nheaders;
    struct addrinfo *addr;
    long timeout_ms;
} cfg;

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void usage(const char *why)
{
    fprintf(stderr,
            "openloop: %s (usage: openloop -r RATE [-c CONNS] [-d SECONDS] [-m METHOD] "
            "[-t TIMEOUT_MS] [-H 'Name: value']... http://HOST:PORT/PATH)\n",
            why);
    exit(2);
}

static long num_arg(const char *s, long lo, long hi, const char *what)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        char why[128];
        snprintf(why, sizeof why, "%s must be a number from %ld to %ld, not '%s'", what, lo, hi, s);
        usage(why);
    }
    return v;
}

/* http://HOST[:PORT][/PATH]: fills cfg.host_header, cfg.path and cfg.addr (static copies) */
static void parse_url(const char *url)
{
    static char hostport[300], host[256], path[1024];
    const char *p = url, *port = "80";
    if (strncmp(p, "http://", 7) != 0)
        usage("the URL must start with http:// (plain HTTP only)");
    p += 7;
    size_t hl = strcspn(p, "/?#");
    if (hl == 0 || hl >= sizeof hostport)
        usage("the URL has no host, or a host that is too long");
    memcpy(hostport, p, hl);
    hostport[hl] = '\0';
    snprintf(path, sizeof path, "%s", p[hl] == '/' ? p + hl : "/");
    char *colon = NULL;
    if (hostport[0] == '[') { /* [v6]:port */
        char *close = strchr(hostport, ']');
        if (!close)
            usage("the URL's IPv6 host lacks its ']'");
        snprintf(host, sizeof host, "%.*s", (int)(close - hostport - 1), hostport + 1);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(hostport, ':');
        snprintf(host, sizeof host, "%.*s", (int)(colon ? colon - hostport : (long)hl), hostport);
    }
    if (colon)
        port = colon + 1;
    num_arg(port, 1, 65535, "the URL's port");
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = getaddrinfo(host, port, &hints, &cfg.addr);
    if (rc != 0) {
        fprintf(stderr, "openloop: %s: %s\n", host, gai_strerror(rc));
        exit(1);
    }
    cfg.host_header = hostport;
    cfg.path = path;
}

/* a fresh connection on c (closing the old one); exits 1 when it cannot connect */
static void conn_open(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->busy = 0;
    int err = 0;
    for (struct addrinfo *a = cfg.addr; a && c->fd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            err = errno;
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->fd = fd;
    }
    if (c->fd < 0) {
        fprintf(stderr, "openloop: cannot connect to %s: %s\n", cfg.host_header, strerror(err));
        exit(1);
    }
}

/* the request numbered id, as event_send.lua writes it */
static int format_request(agx_buf_t *out, long id)
{
    static const char agent[] =
        "{\"id\":\"agent-0001\",\"name\":\"echo-agent\",\"description\":\"bench echo agent\","
        "\"acp_type\":\"async\",\"status\":\"Ready\",\"created_at\":\"2025-01-01T00:00:00Z\","
        "\"updated_at\":\"2025-01-01T00:00:00Z\"}";
    static const char task[] =
        "{\"id\":\"task-0001\",\"name\":\"bench-task\",\"status\":\"RUNNING\","
        "\"created_at\":\"2025-01-01T00:00:00Z\",\"updated_at\":\"2025-01-01T00:00:00Z\","
        "\"params\":{}}";
    char params[2048];
    if (strcmp(cfg.method, "event/send") == 0)
        snprintf(params, sizeof params,
                 "{\"agent\":%s,\"task\":%s,\"event\":{\"id\":\"ev-%ld\",\"sequence_id\":%ld,"
                 "\"task_id\":\"task-0001\",\"agent_id\":\"agent-0001\","
                 "\"created_at\":\"2025-01-01T00:00:00Z\",\"content\":{\"type\":\"text\","
                 "\"author\":\"user\",\"style\":\"static\",\"format\":\"plain\","
                 "\"content\":\"hello agent, this is event %ld\"}}}",
                 agent, task, id, id, id);
    else if (strcmp(cfg.method, "task/create") == 0)
        snprintf(params, sizeof params, "{\"agent\":%s,\"task\":%s,\"params\":{\"n\":%ld}}", agent,
                 task, id);
    else
        snprintf(params, sizeof params, "{\"agent\":%s,\"task\":%s}", agent, task);
    char body[2300];
    int blen = snprintf(body, sizeof body,
                        "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"%s\",\"params\":%s}", id,
                        cfg.method, params);
    agx_buf_reset(out);
    int bad = agx_buf_printf(out,
                             "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                             "Accept: application/json\r\nContent-Length: %d\r\n",
                             cfg.path, cfg.host_header, blen);
    for (int i = 0; i < cfg.nheaders; i++)
        bad |= agx_buf_printf(out, "%s\r\n", cfg.headers[i]);
    bad |= agx_buf_printf(out, "\r\n%s", body);
    return bad;
}

/* writes what the kernel takes of c's request; 0, or -1 when the connection failed */
static int conn_write(conn_t *c)
{
    while (c->sent < c->req.len) {
        ssize_t n =
            send(c->fd, c->req.data + c->sent, c->req.len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            c->sent += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, long n, double p)
{
    if (n == 0)
        return 0;
    long i = (long)(p / 100.0 * (double)n + 0.999999) - 1; /* nearest rank */
    if (i < 0)
        i = 0;
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1e6;
}

int main(int argc, char **argv)
{
    long rate = 0, conns = 32, seconds = 5;
    cfg.method = "event/send";
    cfg.timeout_ms = 5000;
    int opt;
    while ((opt = getopt(argc, argv, "r:c:d:m:t:H:")) != -1) {
        switch (opt) {
        case 'r':
            rate = num_arg(optarg, 1, 1000000, "-r RATE (requests per second)");
            break;
        case 'c':
            conns = num_arg(optarg, 1, MAX_CONNS, "-c CONNS");
            break;
        case 'd':
            seconds = num_arg(optarg, 1, 20, "-d SECONDS");
            break;
        case 't':
            cfg.timeout_ms = num_arg(optarg, 1, 600000, "-t TIMEOUT_MS");
            break;
        case 'm':
            if (strcmp(optarg, "event/send") && strcmp(optarg, "task/create") &&
                strcmp(optarg, "task/cancel"))
                usage("-m takes event/send, task/create or task/cancel");
            cfg.method = optarg;
            break;
        case 'H':
            if (cfg.nheaders == MAX_HEADERS)
                usage("too many -H headers (at most 16)");
            if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n"))
                usage("-H takes 'Name: value' on one line");
            cfg.headers[cfg.nheaders++] = optarg;
            break;
        default:
            usage("unknown option");
        }
    }
    if (rate == 0)
        usage("-r RATE is required");
    if (optind != argc - 1)
        usage("one URL is required");
    long total = rate * seconds;
    if (total > MAX_REQUESTS)
        usage("RATE * SECONDS must be at most 2000000");
    parse_url(argv[optind]);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake at the due time, not up to 50 us later */

    conn_t *cs = calloc((size_t)conns, sizeof *cs);
    struct pollfd *pfd = calloc((size_t)conns, sizeof *pfd);
    int64_t *lat = malloc((size_t)total * sizeof *lat);
    char *rbuf = malloc(65536);
    if (!cs || !pfd || !lat || !rbuf) {
        fprintf(stderr, "openloop: out of memory\n");
        return 1;
    }
    for (long k = 0; k < conns; k++) {
        cs[k].fd = -1;
        agx_buf_init(&cs[k].req);
        agx_buf_init(&cs[k].body);
        conn_open(&cs[k]);
    }

    long next = 0, answered = 0, non2xx = 0, errors = 0, out = 0, max_waiting = 0;
    const int64_t t0 = now_ns() + 1000000; /* the first request is due in 1 ms */
    const int64_t timeout_ns = (int64_t)cfg.timeout_ms * 1000000;
#define DUE(i) (t0 + (int64_t)((double)(i)*1e9 / (double)rate))
    int64_t t_last = t0;
    while (next < total || out > 0) {
        int64_t now = now_ns();
        /* every request now due goes out on an idle connection, oldest first */
        while (next < total && DUE(next) <= now) {
            conn_t *c = NULL;
            for (long k = 0; k < conns && !c; k++)
                if (!cs[k].busy)
                    c = &cs[k];
            if (!c)
                break;
            if (format_request(&c->req, next + 1)) {
                fprintf(stderr, "openloop: out of memory\n");
                return 1;
            }
            c->busy = 1;
            c->sent = 0;
            c->due_ns = DUE(next);
            agx_h1resp_init(&c->resp, &c->body, MAX_BODY);
            next++;
            out++;
            if (conn_write(c) != 0) { /* the server closed it: one error, a new connection */
                errors++;
                out--;
                agx_h1resp_free(&c->resp);
                conn_open(c);
            }
        }
        long due = now < t0 ? 0 : (long)((double)(now - t0) * (double)rate / 1e9) + 1;
        long waiting = (due < total ? due : total) - next; /* due, still without a connection */
        if (waiting > max_waiting)
            max_waiting = waiting;

        /* wait for answers, writability, the next due time or the first request timeout */
        int64_t wake = now + 100000000;
        if (next < total && out < conns && DUE(next) < wake)
            wake = DUE(next);
        for (long k = 0; k < conns; k++) {
            pfd[k].fd = cs[k].busy ? cs[k].fd : -1;
            pfd[k].events = (short)(POLLIN | (cs[k].sent < cs[k].req.len ? POLLOUT : 0));
            pfd[k].revents = 0;
            if (cs[k].busy && cs[k].due_ns + timeout_ns < wake)
                wake = cs[k].due_ns + timeout_ns;
        }
        int64_t d = wake > now ? wake - now : 0;
        struct timespec ts = {.tv_sec = d / 1000000000, .tv_nsec = d % 1000000000};
        if (ppoll(pfd, (nfds_t)conns, &ts, NULL) < 0 && errno != EINTR) {
            fprintf(stderr, "openloop: poll: %s\n", strerror(errno));
            return 1;
        }
        now = now_ns();
        for (long k = 0; k < conns; k++) {
            conn_t *c = &cs[k];
            if (!c->busy)
                continue;
            int failed = 0, done = 0;
            if (pfd[k].revents & POLLOUT)
                failed = conn_write(c) != 0;
            if (!failed && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = recv(c->fd, rbuf, 65536, MSG_DONTWAIT);
                size_t used = 0;
                int r = AGX_H1_MORE;
                if (n > 0)
                    r = agx_h1resp_feed(&c->resp, rbuf, (size_t)n, &used);
                else if (n == 0)
                    r = agx_h1resp_eof(&c->resp);
                else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    r = AGX_H1_ERROR;
                done = r == AGX_H1_DONE;
                failed = r == AGX_H1_ERROR;
            }
            if (now - c->due_ns > timeout_ns) { /* an answer later than the timeout is none */
                done = 0;
                failed = 1;
            }
            if (!done && !failed)
                continue;
            out--;
            if (done) {
                lat[answered++] = now - c->due_ns;
                if (c->resp.status < 200 || c->resp.status > 299)
                    non2xx++;
                if (now > t_last)
                    t_last = now;
            } else {
                errors++;
            }
            int keep = done && c->resp.keep_alive;
            agx_h1resp_free(&c->resp);
            c->busy = 0;
            agx_buf_reset(&c->req);
            c->sent = 0;
            if (!keep)
                conn_open(c);
        }
    }
#undef DUE

    qsort(lat, (size_t)answered, sizeof *lat, cmp_i64);
    double span = (double)(t_last - t0) / 1e9;
    printf("RESULT openloop rate=%ld conns=%ld seconds=%ld requests=%ld answered=%ld non2xx=%ld "
           "errors=%ld achieved_rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
           "max_ms=%.3f max_waiting=%ld\n",
           rate, conns, seconds, total, answered, non2xx, errors,
           span > 0 ? (double)answered / span : 0.0, pct_ms(lat, answered, 50),
           pct_ms(lat, answered, 90), pct_ms(lat, answered, 99), pct_ms(lat, answered, 99.9),
           answered ? (double)lat[answered - 1] / 1e6 : 0.0, max_waiting);
    for (long k = 0; k < conns; k++) {
        if (cs[k].fd >= 0)
            close(cs[k].fd);
        agx_buf_free(&cs[k].req);
        agx_buf_free(&cs[k].body);
    }
    freeaddrinfo(cfg.addr);
    free(cs);
    free(pfd);
    free(lat);
    free(rbuf);
    return 0;
}
