/*
 * tests/support/fake_backend.c - the in-process fake Agentex backend (see fake_backend.h).
 *
 * One accept thread plus one thread per connection.  A self-pipe wakes every thread on
 * stop: it is written once and never drained, so every poll() on it returns at once.
 * The fixture uses libc malloc (not agx_malloc) so that the library's allocation-failure
 * injection never hits it; it aborts on out-of-memory, which only a broken test reaches.
 */
#include "fake_backend.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FB_MAX_HEAD (64 * 1024)
#define FB_MAX_BODY (64 * 1024 * 1024)

typedef enum { RESP_NORMAL, RESP_RAW, RESP_CLOSE } resp_kind_t;

typedef struct resp {
    resp_kind_t kind;
    int status;
    long delay_ms;
    char *content_type;
    char *extra_headers;
    char *body; /* for RESP_RAW: the raw bytes */
    struct resp *next;
} resp_t;

typedef struct route {
    char *method;
    char *prefix;
    resp_t resp;
    struct route *next;
} route_t;

/* A prefix without '?' matches the start of the path; "PATH?TEXT" matches the path PATH
 * exactly when its query contains TEXT. */
static bool route_matches(const route_t *rt, const fake_request_t *r)
{
    const char *q = strchr(rt->prefix, '?');
    if (!q)
        return strncmp(r->path, rt->prefix, strlen(rt->prefix)) == 0;
    size_t n = (size_t)(q - rt->prefix);
    return strlen(r->path) == n && strncmp(r->path, rt->prefix, n) == 0 &&
           strstr(r->query ? r->query : "", q + 1) != NULL;
}

typedef struct conn {
    fake_backend_t *fb;
    pthread_t thread;
    int fd;
    bool done;
    struct conn *next;
} conn_t;

struct fake_backend {
    int listen_fd;
    int port;
    char url[64];
    int wake[2];
    pthread_t accept_thread;

    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stopping;
    fake_request_t **reqs;
    size_t n_reqs, cap_reqs;
    fake_request_t **retired; /* forgotten by reset, freed at stop */
    size_t n_retired, cap_retired;
    resp_t *fifo_head, *fifo_tail;
    route_t *routes, *routes_tail;
    conn_t *conns;
    size_t n_accepted;
};

/* ---- small helpers ------------------------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort();
    return q;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *xstrdup(const char *s) { return s ? xstrndup(s, strlen(s)) : NULL; }

static void request_free(fake_request_t *r)
{
    if (!r)
        return;
    free(r->method);
    free(r->path);
    free(r->query);
    free(r->body);
    for (size_t i = 0; i < r->n_headers; i++) {
        free(r->header_names[i]);
        free(r->header_values[i]);
    }
    free(r->header_names);
    free(r->header_values);
    free(r);
}

static void resp_free_fields(resp_t *r)
{
    free(r->content_type);
    free(r->extra_headers);
    free(r->body);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

/* ---- socket I/O (every wait also watches the stop pipe) ------------------------------ */

/* Waits for fd to be ready for events; 1 ready, 0 stop requested / timeout, -1 error. */
static int wait_fd(fake_backend_t *fb, int fd, short events, int timeout_ms)
{
    struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = fb->wake[0], .events = POLLIN}};
    for (;;) {
        int n = poll(p, 2, timeout_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            return 0;
        if (p[1].revents)
            return 0;
        return 1;
    }
}

static bool send_all(fake_backend_t *fb, int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (wait_fd(fb, fd, POLLOUT, -1) != 1)
                return false;
            continue;
        }
        return false;
    }
    return true;
}

/* Sleeps delay_ms unless stop is requested; false if stopped. */
static bool sleep_or_stop(fake_backend_t *fb, long delay_ms)
{
    struct pollfd p = {.fd = fb->wake[0], .events = POLLIN};
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long el =
            (long)((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
        if (el >= delay_ms)
            return true;
        int n = poll(&p, 1, (int)(delay_ms - el));
        if (n > 0)
            return false;
    }
}

/* A connection's read buffer. */
typedef struct rbuf {
    char *data;
    size_t len, cap, pos; /* pos: start of unconsumed bytes */
} rbuf_t;

/* Reads more bytes into b; false on EOF, error or stop. */
static bool rbuf_fill(fake_backend_t *fb, int fd, rbuf_t *b)
{
    if (b->pos > 0 && b->pos == b->len) {
        b->pos = b->len = 0;
    } else if (b->pos > 0) {
        memmove(b->data, b->data + b->pos, b->len - b->pos);
        b->len -= b->pos;
        b->pos = 0;
    }
    if (b->cap - b->len < 4096) {
        b->cap = b->cap ? b->cap * 2 : 8192;
        b->data = xrealloc(b->data, b->cap + 1);
    }
    for (;;) {
        if (wait_fd(fb, fd, POLLIN, -1) != 1)
            return false;
        ssize_t n = recv(fd, b->data + b->len, b->cap - b->len, MSG_DONTWAIT);
        if (n > 0) {
            b->len += (size_t)n;
            b->data[b->len] = '\0';
            return true;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            continue;
        return false;
    }
}

/* Reads one CRLF-terminated line (without CRLF) into a new string; NULL on EOF. */
static char *read_line(fake_backend_t *fb, int fd, rbuf_t *b)
{
    for (;;) {
        char *start = b->data ? b->data + b->pos : NULL;
        size_t avail = b->len - b->pos;
        if (start) {
            char *nl = memchr(start, '\n', avail);
            if (nl) {
                size_t n = (size_t)(nl - start);
                b->pos += n + 1;
                if (n > 0 && start[n - 1] == '\r')
                    n--;
                return xstrndup(start, n);
            }
        }
        if (avail > FB_MAX_HEAD)
            return NULL;
        if (!rbuf_fill(fb, fd, b))
            return NULL;
    }
}

/* Reads exactly n bytes and appends them to *body. */
static bool read_exact(fake_backend_t *fb, int fd, rbuf_t *b, char **body, size_t *body_len,
                       size_t n)
{
    if (*body_len + n > FB_MAX_BODY)
        return false;
    *body = xrealloc(*body, *body_len + n + 1);
    while (n > 0) {
        size_t avail = b->len - b->pos;
        if (avail == 0) {
            if (!rbuf_fill(fb, fd, b))
                return false;
            continue;
        }
        size_t take = avail < n ? avail : n;
        memcpy(*body + *body_len, b->data + b->pos, take);
        *body_len += take;
        b->pos += take;
        n -= take;
    }
    (*body)[*body_len] = '\0';
    return true;
}

static void add_header(fake_request_t *r, const char *line)
{
    const char *colon = strchr(line, ':');
    if (!colon)
        return;
    size_t nlen = (size_t)(colon - line);
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vlen = strlen(v);
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    r->header_names = xrealloc(r->header_names, (r->n_headers + 1) * sizeof(char *));
    r->header_values = xrealloc(r->header_values, (r->n_headers + 1) * sizeof(char *));
    char *name = xstrndup(line, nlen);
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    r->header_names[r->n_headers] = name;
    r->header_values[r->n_headers] = xstrndup(v, vlen);
    r->n_headers++;
}

/* true if the comma-separated header value v contains token (any case) */
static bool has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = v; *p; p++)
        if (strncasecmp(p, token, tl) == 0)
            return true;
    return false;
}

/* Reads one request; NULL on EOF, error, stop or a malformed request. */
static fake_request_t *read_request(fake_backend_t *fb, int fd, rbuf_t *b)
{
    char *line = NULL;
    fake_request_t *r = NULL;
    /* skip empty lines between requests (RFC 9112 2.2) */
    do {
        free(line);
        line = read_line(fb, fd, b);
        if (!line)
            return NULL;
    } while (line[0] == '\0');

    r = xmalloc(sizeof(*r));
    memset(r, 0, sizeof(*r));
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2)
        goto fail;
    r->method = xstrndup(line, (size_t)(sp1 - line));
    char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    char *q = memchr(target, '?', tlen);
    if (q) {
        r->path = xstrndup(target, (size_t)(q - target));
        r->query = xstrndup(q + 1, tlen - (size_t)(q - target) - 1);
    } else {
        r->path = xstrndup(target, tlen);
        r->query = xstrdup("");
    }
    free(line);
    line = NULL;

    size_t head_bytes = 0;
    for (;;) {
        line = read_line(fb, fd, b);
        if (!line)
            goto fail;
        if (line[0] == '\0')
            break;
        head_bytes += strlen(line);
        if (head_bytes > FB_MAX_HEAD)
            goto fail;
        add_header(r, line);
        free(line);
        line = NULL;
    }
    free(line);
    line = NULL;

    const char *expect = fake_request_header(r, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!send_all(fb, fd, cont, sizeof(cont) - 1))
            goto fail;
    }

    r->body = xstrdup("");
    r->body_len = 0;
    const char *te = fake_request_header(r, "transfer-encoding");
    const char *cl = fake_request_header(r, "content-length");
    if (te && has_token(te, "chunked")) {
        for (;;) {
            line = read_line(fb, fd, b);
            if (!line)
                goto fail;
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(line, &end, 16);
            if (end == line || errno != 0 || n > FB_MAX_BODY)
                goto fail;
            free(line);
            line = NULL;
            if (n == 0) {
                /* trailers until the empty line */
                for (;;) {
                    line = read_line(fb, fd, b);
                    if (!line)
                        goto fail;
                    bool empty = line[0] == '\0';
                    free(line);
                    line = NULL;
                    if (empty)
                        break;
                }
                break;
            }
            if (!read_exact(fb, fd, b, &r->body, &r->body_len, (size_t)n))
                goto fail;
            line = read_line(fb, fd, b); /* the CRLF after the chunk */
            if (!line || line[0] != '\0')
                goto fail;
            free(line);
            line = NULL;
        }
    } else if (cl) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end == cl || *end != '\0' || errno != 0 || n > FB_MAX_BODY)
            goto fail;
        if (!read_exact(fb, fd, b, &r->body, &r->body_len, (size_t)n))
            goto fail;
    }
    return r;
fail:
    free(line);
    request_free(r);
    return NULL;
}

/* ---- answering ----------------------------------------------------------------------- */

static void resp_copy(resp_t *dst, const resp_t *src)
{
    *dst = *src;
    dst->content_type = xstrdup(src->content_type);
    dst->extra_headers = xstrdup(src->extra_headers);
    dst->body = xstrdup(src->body);
    dst->next = NULL;
}

/* Records r and picks its answer (copied into *out). */
static void record_and_choose(fake_backend_t *fb, fake_request_t *r, resp_t *out)
{
    pthread_mutex_lock(&fb->mu);
    if (fb->n_reqs == fb->cap_reqs) {
        fb->cap_reqs = fb->cap_reqs ? fb->cap_reqs * 2 : 16;
        fb->reqs = xrealloc(fb->reqs, fb->cap_reqs * sizeof(*fb->reqs));
    }
    fb->reqs[fb->n_reqs++] = r;

    if (fb->fifo_head) {
        resp_t *h = fb->fifo_head;
        fb->fifo_head = h->next;
        if (!fb->fifo_head)
            fb->fifo_tail = NULL;
        *out = *h;
        out->next = NULL;
        free(h);
    } else {
        const route_t *rt = fb->routes;
        for (; rt; rt = rt->next) {
            if ((!rt->method || strcmp(rt->method, r->method) == 0) && route_matches(rt, r))
                break;
        }
        if (rt) {
            resp_copy(out, &rt->resp);
        } else {
            memset(out, 0, sizeof(*out));
            out->kind = RESP_NORMAL;
            out->status = 404;
            out->body = xstrdup(
                "{\"message\":\"fake backend: no response scripted\",\"code\":404,\"data\":null}");
        }
    }
    pthread_cond_broadcast(&fb->cond);
    pthread_mutex_unlock(&fb->mu);
}

/* Sends the answer; false if the connection must be closed. */
static bool send_response(fake_backend_t *fb, int fd, const fake_request_t *req, const resp_t *rs)
{
    if (rs->delay_ms > 0 && !sleep_or_stop(fb, rs->delay_ms))
        return false;
    if (rs->kind == RESP_CLOSE)
        return false;
    if (rs->kind == RESP_RAW) {
        send_all(fb, fd, rs->body ? rs->body : "", rs->body ? strlen(rs->body) : 0);
        return false;
    }
    const char *body = rs->body ? rs->body : "";
    size_t blen = strlen(body);
    bool no_body = strcmp(req->method, "HEAD") == 0 || rs->status == 204 || rs->status == 304;
    const char *conn_hdr = fake_request_header(req, "connection");
    bool close_after = conn_hdr && strcasecmp(conn_hdr, "close") == 0;
    size_t hcap = 512 + (rs->extra_headers ? strlen(rs->extra_headers) : 0) +
                  (rs->content_type ? strlen(rs->content_type) : 0);
    char *head = xmalloc(hcap);
    char clen[64] = "";
    if (!no_body)
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", blen);
    int n = snprintf(head, hcap, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%s%s%s\r\n", rs->status,
                     reason_phrase(rs->status),
                     rs->content_type ? rs->content_type : "application/json",
                     rs->extra_headers ? rs->extra_headers : "", clen,
                     close_after ? "Connection: close\r\n" : "");
    bool ok = n > 0 && (size_t)n < hcap && send_all(fb, fd, head, (size_t)n);
    free(head);
    if (ok && !no_body && blen > 0)
        ok = send_all(fb, fd, body, blen);
    return ok && !close_after;
}

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    fake_backend_t *fb = c->fb;
    rbuf_t b = {0};
    for (;;) {
        fake_request_t *r = read_request(fb, c->fd, &b);
        if (!r)
            break;
        resp_t rs;
        record_and_choose(fb, r, &rs);
        bool keep = send_response(fb, c->fd, r, &rs);
        resp_free_fields(&rs);
        if (!keep)
            break;
    }
    free(b.data);
    pthread_mutex_lock(&fb->mu);
    shutdown(c->fd, SHUT_RDWR);
    close(c->fd);
    c->fd = -1;
    c->done = true;
    pthread_mutex_unlock(&fb->mu);
    return NULL;
}

/* Joins and frees finished connections (called by the accept thread). */
static void reap_conns(fake_backend_t *fb, bool all)
{
    for (;;) {
        conn_t *victim = NULL;
        pthread_mutex_lock(&fb->mu);
        for (conn_t **pp = &fb->conns; *pp; pp = &(*pp)->next) {
            if (all || (*pp)->done) {
                victim = *pp;
                *pp = victim->next;
                break;
            }
        }
        pthread_mutex_unlock(&fb->mu);
        if (!victim)
            return;
        pthread_join(victim->thread, NULL);
        free(victim);
    }
}

static void *accept_main(void *arg)
{
    fake_backend_t *fb = arg;
    for (;;) {
        if (wait_fd(fb, fb->listen_fd, POLLIN, -1) != 1)
            break;
        int fd = accept(fb->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                continue;
            break;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        reap_conns(fb, false);
        conn_t *c = xmalloc(sizeof(*c));
        memset(c, 0, sizeof(*c));
        c->fb = fb;
        c->fd = fd;
        pthread_mutex_lock(&fb->mu);
        fb->n_accepted++;
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            pthread_mutex_unlock(&fb->mu);
            close(fd);
            free(c);
            continue;
        }
        c->next = fb->conns;
        fb->conns = c;
        pthread_mutex_unlock(&fb->mu);
    }
    return NULL;
}

/* ---- public API ---------------------------------------------------------------------- */

fake_backend_t *fake_backend_start(void)
{
    fake_backend_t *fb = xmalloc(sizeof(*fb));
    memset(fb, 0, sizeof(*fb));
    fb->listen_fd = -1;
    fb->wake[0] = fb->wake[1] = -1;
    if (pipe(fb->wake) != 0)
        goto fail;
    fb->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fb->listen_fd < 0)
        goto fail;
    int one = 1;
    setsockopt(fb->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fb->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto fail;
    if (listen(fb->listen_fd, 128) != 0)
        goto fail;
    socklen_t sl = sizeof(sa);
    if (getsockname(fb->listen_fd, (struct sockaddr *)&sa, &sl) != 0)
        goto fail;
    fb->port = ntohs(sa.sin_port);
    snprintf(fb->url, sizeof(fb->url), "http://127.0.0.1:%d", fb->port);
    pthread_mutex_init(&fb->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fb->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&fb->accept_thread, NULL, accept_main, fb) != 0) {
        pthread_mutex_destroy(&fb->mu);
        pthread_cond_destroy(&fb->cond);
        goto fail;
    }
    return fb;
fail:
    if (fb->listen_fd >= 0)
        close(fb->listen_fd);
    if (fb->wake[0] >= 0) {
        close(fb->wake[0]);
        close(fb->wake[1]);
    }
    free(fb);
    return NULL;
}

static void clear_fifo_locked(fake_backend_t *fb)
{
    resp_t *r = fb->fifo_head;
    while (r) {
        resp_t *next = r->next;
        resp_free_fields(r);
        free(r);
        r = next;
    }
    fb->fifo_head = fb->fifo_tail = NULL;
}

void fake_backend_stop(fake_backend_t *fb)
{
    if (!fb)
        return;
    pthread_mutex_lock(&fb->mu);
    fb->stopping = true;
    pthread_cond_broadcast(&fb->cond);
    pthread_mutex_unlock(&fb->mu);
    ssize_t w;
    do {
        w = write(fb->wake[1], "x", 1);
    } while (w < 0 && errno == EINTR);
    pthread_join(fb->accept_thread, NULL);
    reap_conns(fb, true);
    close(fb->listen_fd);
    close(fb->wake[0]);
    close(fb->wake[1]);

    for (size_t i = 0; i < fb->n_reqs; i++)
        request_free(fb->reqs[i]);
    free(fb->reqs);
    for (size_t i = 0; i < fb->n_retired; i++)
        request_free(fb->retired[i]);
    free(fb->retired);
    clear_fifo_locked(fb);
    route_t *rt = fb->routes;
    while (rt) {
        route_t *next = rt->next;
        free(rt->method);
        free(rt->prefix);
        resp_free_fields(&rt->resp);
        free(rt);
        rt = next;
    }
    pthread_mutex_destroy(&fb->mu);
    pthread_cond_destroy(&fb->cond);
    free(fb);
}

const char *fake_backend_url(const fake_backend_t *fb) { return fb->url; }

int fake_backend_port(const fake_backend_t *fb) { return fb->port; }

static void push(fake_backend_t *fb, resp_t *r)
{
    pthread_mutex_lock(&fb->mu);
    r->next = NULL;
    if (fb->fifo_tail)
        fb->fifo_tail->next = r;
    else
        fb->fifo_head = r;
    fb->fifo_tail = r;
    pthread_mutex_unlock(&fb->mu);
}

static resp_t *resp_new(resp_kind_t kind, int status, long delay_ms, const char *ctype,
                        const char *extra, const char *body)
{
    resp_t *r = xmalloc(sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->status = status;
    r->delay_ms = delay_ms;
    r->content_type = xstrdup(ctype);
    r->extra_headers = xstrdup(extra);
    r->body = xstrdup(body);
    return r;
}

void fake_backend_push(fake_backend_t *fb, int status, const char *body)
{
    push(fb, resp_new(RESP_NORMAL, status, 0, NULL, NULL, body));
}

void fake_backend_push_full(fake_backend_t *fb, int status, const char *content_type,
                            const char *extra_headers, const char *body)
{
    push(fb, resp_new(RESP_NORMAL, status, 0, content_type, extra_headers, body));
}

void fake_backend_push_delayed(fake_backend_t *fb, long delay_ms, int status, const char *body)
{
    push(fb, resp_new(RESP_NORMAL, status, delay_ms, NULL, NULL, body));
}

void fake_backend_push_raw(fake_backend_t *fb, const char *raw)
{
    push(fb, resp_new(RESP_RAW, 0, 0, NULL, NULL, raw));
}

void fake_backend_push_close(fake_backend_t *fb)
{
    push(fb, resp_new(RESP_CLOSE, 0, 0, NULL, NULL, NULL));
}

void fake_backend_route(fake_backend_t *fb, const char *method, const char *path_prefix, int status,
                        const char *body)
{
    route_t *rt = xmalloc(sizeof(*rt));
    memset(rt, 0, sizeof(*rt));
    rt->method = xstrdup(method);
    rt->prefix = xstrdup(path_prefix ? path_prefix : "");
    rt->resp.kind = RESP_NORMAL;
    rt->resp.status = status;
    rt->resp.body = xstrdup(body);
    pthread_mutex_lock(&fb->mu);
    if (fb->routes_tail)
        fb->routes_tail->next = rt;
    else
        fb->routes = rt;
    fb->routes_tail = rt;
    pthread_mutex_unlock(&fb->mu);
}

size_t fake_backend_count(fake_backend_t *fb)
{
    pthread_mutex_lock(&fb->mu);
    size_t n = fb->n_reqs;
    pthread_mutex_unlock(&fb->mu);
    return n;
}

size_t fake_backend_wait(fake_backend_t *fb, size_t n, long timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&fb->mu);
    while (fb->n_reqs < n && !fb->stopping) {
        if (pthread_cond_timedwait(&fb->cond, &fb->mu, &deadline) == ETIMEDOUT)
            break;
    }
    size_t got = fb->n_reqs;
    pthread_mutex_unlock(&fb->mu);
    return got;
}

const fake_request_t *fake_backend_request(fake_backend_t *fb, size_t i)
{
    pthread_mutex_lock(&fb->mu);
    const fake_request_t *r = i < fb->n_reqs ? fb->reqs[i] : NULL;
    pthread_mutex_unlock(&fb->mu);
    return r;
}

const char *fake_request_header(const fake_request_t *r, const char *name)
{
    if (!r || !name)
        return NULL;
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->header_names[i], name) == 0)
            return r->header_values[i];
    return NULL;
}

void fake_backend_reset(fake_backend_t *fb)
{
    pthread_mutex_lock(&fb->mu);
    if (fb->n_retired + fb->n_reqs > fb->cap_retired) {
        fb->cap_retired = fb->n_retired + fb->n_reqs + 16;
        fb->retired = xrealloc(fb->retired, fb->cap_retired * sizeof(*fb->retired));
    }
    for (size_t i = 0; i < fb->n_reqs; i++)
        fb->retired[fb->n_retired++] = fb->reqs[i];
    fb->n_reqs = 0;
    clear_fifo_locked(fb);
    pthread_mutex_unlock(&fb->mu);
}

size_t fake_backend_connections(fake_backend_t *fb)
{
    pthread_mutex_lock(&fb->mu);
    size_t n = fb->n_accepted;
    pthread_mutex_unlock(&fb->mu);
    return n;
}
