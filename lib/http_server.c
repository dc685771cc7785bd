/*
 * lib/http_server.c - the embedded HTTP/1.1 + websocket server (contract: http_server.h).
 *
 * Why our own HTTP/1.1 parser on lws raw sockets, not lws's http role:
 *   The ACP server must hand every inbound x-* header to the agent.  libwebsockets 4.1.6
 *   only stores the headers it knows (WSI_TOKEN_*); with LWS_WITH_CUSTOM_HEADERS it can
 *   look up a custom header *by name* (lws_hdr_custom_length/copy) but offers no way to
 *   list them (lws_hdr_custom_name_foreach only arrived in 4.3).  So lws's http role
 *   cannot implement agx_http_req_header_count/at.  We therefore use lws only as the event
 *   loop: the listening socket is ours (bound in agx_httpd_new, so the port is known at
 *   once) and is watched as a raw file descriptor; accepted sockets are adopted as RAW
 *   sockets, and this file parses HTTP/1.1 and websocket frames itself.  That is also
 *   faster: requests are parsed in place in one per-connection buffer (no per-request
 *   malloc, no header copies, the body is never copied again), and a response produced on
 *   the service thread is sent with one send() at the end of the read callback.
 *
 * Threading: every lws call happens on the service thread.  Other threads push items
 * (response bytes, posted functions) onto a locked FIFO and wake the loop with
 * lws_cancel_service(); the items run in LWS_CALLBACK_EVENT_WAIT_CANCELLED.  Sockets are
 * written with send() from the service thread only.
 *
 * HTTP handled here: request line (origin, absolute or "*" form), headers (names
 * lower-cased in place, every one kept, repeats included), Content-Length and chunked
 * request bodies (decoded in place), Expect: 100-continue, keep-alive (HTTP/1.1 default,
 * HTTP/1.0 on request), pipelining (answers in request order: one request per connection
 * is active at a time, later bytes wait in the buffer), HEAD.  Errors the server answers
 * itself, then closes: 400 bad syntax, 408 header_timeout_ms, 413 max_body
 * ({"detail":"Request body too large"}), 431 head (or chunked trailer section) over 64 KiB
 * or 128 headers, 501 unknown transfer-coding, 505 other HTTP versions.  After such an
 * answer the socket is half-closed and unread input drained for up to 1 s so the answer is
 * not lost to a reset.  End-of-file from the peer closes the connection, half-close
 * included (as uvicorn, nginx and Go's net/http): a responder still running sees its
 * writes fail and its close callback called.  Chunk framing is dropped as it is decoded
 * (memory holds the body, not the framing).  Output queued for a peer that does not read
 * is bounded (64 MiB, then the peer counts as gone).  idle_timeout_ms also bounds a
 * connection that is only writing its last answer (between requests, closing, or after
 * our websocket close frame): it counts from the last write progress, so slow readers are
 * served and stalled ones dropped.  Websockets (RFC 6455, server side): upgrade on any
 * path on_ws_open accepts, fragments reassembled up to max_body, ping answered, close
 * echoed.
 *
 * Memory: a connection (conn_t) embeds its one current request (requests on a connection
 * are handled one at a time; pipelined bytes wait in the buffer) and, after an upgrade,
 * is the websocket.  It is reference counted: one reference for the live socket, one for
 * an outstanding responder, one per queued item, plus agx_ws_ref ones.  The queue and
 * lock live in a separately counted `shared_t`, so a responder finishing after
 * agx_httpd_free still has a valid lock to look at.
 */
#define _GNU_SOURCE 1 /* accept4, GNU strerror_r */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_server.h"
#include "internal.h"

#define MAX_HEAD_BYTES (64 * 1024) /* request line + headers */
#define MAX_HEADERS 128
#define MAX_PEND_BYTES (256 * 1024)      /* pipelined input buffered while a request is active */
#define MAX_OUT_BYTES ((size_t)64 << 20) /* unsent output before a reader counts as gone */
#define LINGER_MS 1000
#define STOP_DRAIN_MS 2000
#define ACCEPT_BATCH 64

typedef struct shared shared_t;
typedef struct agx_http_req conn_t;

typedef struct hdr {
    const char *name;
    const char *value;
} hdr_t;

enum conn_state {
    ST_IDLE,   /* between requests */
    ST_HEAD,   /* part of a request head has arrived */
    ST_BODY,   /* head parsed, body arriving */
    ST_ACTIVE, /* on_request called, responder outstanding */
    ST_WS,     /* upgraded to websocket */
    ST_CLOSING /* answer queued, close once written; input discarded */
};

enum ck_state { CK_SIZE, CK_DATA, CK_DATA_END, CK_TRAILER, CK_DONE };

struct agx_http_req {
    shared_t *sh;
    agx_httpd_t *h; /* valid while wsi != NULL */
    struct lws *wsi;
    int fd;
    _Atomic int refs;
    _Atomic bool closed;
    _Atomic bool resp_live; /* a responder reference is outstanding */
    conn_t *prev, *next;    /* h->conns */
    conn_t *dirty_next;     /* h->dirty */
    bool dirty;
    enum conn_state state;
    int64_t deadline; /* ms, 0 = none */

    /* input: the current request is parsed in place in in[0..req_end) */
    char *in;
    size_t in_len, in_cap;
    agx_buf_t pend; /* input arriving while a request is active */
    bool rx_paused;
    size_t hdr_scan; /* where to resume looking for the end of the head */
    size_t body_start, req_end;
    size_t clen; /* declared Content-Length */
    bool chunked, expect_continue, sent_continue;
    enum ck_state ck;
    size_t ck_rd, ck_wr, ck_rem;
    char saved_byte; /* byte overwritten by the body's NUL terminator */
    size_t saved_pos;

    /* output */
    char *out;
    size_t out_len, out_off, out_cap;
    bool close_after; /* close once out is written */
    bool lingering;   /* half-closed, waiting (bounded) for the peer to close */
    bool in_process;  /* process_input is on the stack */
    bool method_checked;

    /* the current request */
    const char *method, *path, *query;
    hdr_t *hdrs;
    size_t nhdr, hdr_cap;
    hdr_t *params;
    size_t nparam, param_cap;
    char *qarena;
    size_t qarena_cap;
    const char *body;
    size_t body_len;
    int minor; /* HTTP/1.minor */
    bool keep_alive, is_head, upgrade_ws;
    const char *ws_key;
    bool stream_chunked;
    bool stream_nobody; /* HEAD, 1xx, 204, 304: stream writes are dropped */
    void (*close_cb)(agx_http_req_t *, void *); /* under sh->mu */
    void *close_ud;
    void *userdata;
    char peer[INET6_ADDRSTRLEN];

    /* websocket */
    bool ws_open; /* on_ws_open accepted; on_ws_close owed */
    bool ws_close_sent;
    agx_buf_t wsin;
    size_t ws_off;
    agx_buf_t msg;
    int msg_op; /* 0 = no fragmented message in progress */
    void *ws_userdata;
};

struct agx_ws {
    conn_t c;
};

typedef struct qitem {
    struct qitem *next;
    conn_t *c; /* holds one reference; NULL for posts */
    void (*fn)(void *);
    void *arg;
    unsigned flags;
    size_t len;
    char data[];
} qitem_t;

#define QI_END 1u   /* ends the responder (the item's reference is the responder's) */
#define QI_CLOSE 2u /* close the connection once written (websocket close) */

struct shared {
    pthread_mutex_t mu;
    qitem_t *head, *tail;
    struct lws_context *ctx; /* NULL once the loop has ended */
    bool stopped;            /* no more items accepted */
    _Atomic int refs;
    pthread_t svc;
    _Atomic bool svc_valid;
};

struct agx_httpd {
    agx_httpd_config_t cfg;
    char *host;
    shared_t *sh;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    struct lws *lwsi;
    int lfd;
    int port;
    _Atomic bool stop;
    bool stopping;
    bool accept_paused;
    bool ran;
    pthread_t thread;
    bool thread_started;
    conn_t *conns;
    conn_t *dirty;
    lws_sorted_usec_list_t sul;
    int64_t tick_ms;
    int marker;     /* opaque pointer for the listening wsi */
    int efd;        /* eventfd agx_httpd_stop writes to (lws watches a dup of it) */
    int efd_marker; /* opaque pointer for the eventfd's wsi */
};

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---------------------------------------------------------------------------------------
 * small helpers */

static void shared_unref(shared_t *sh)
{
    if (atomic_fetch_sub(&sh->refs, 1) != 1)
        return;
    qitem_t *it = sh->head;
    while (it) { /* cannot normally happen: the loop drains before stopping */
        qitem_t *n = it->next;
        agx_free(it);
        it = n;
    }
    pthread_mutex_destroy(&sh->mu);
    agx_free(sh);
}

static bool on_svc_thread(shared_t *sh)
{
    return atomic_load_explicit(&sh->svc_valid, memory_order_acquire) &&
           pthread_equal(pthread_self(), sh->svc);
}

static void conn_ref(conn_t *c) { atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed); }

static void conn_unref(conn_t *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    shared_t *sh = c->sh;
    agx_free(c->in);
    agx_buf_free(&c->pend);
    agx_free(c->out);
    agx_free(c->hdrs);
    agx_free(c->params);
    agx_free(c->qarena);
    agx_buf_free(&c->wsin);
    agx_buf_free(&c->msg);
    agx_free(c);
    shared_unref(sh);
}

static int reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    char *p = agx_realloc(*buf, n);
    if (!p)
        return -1;
    *buf = p;
    *cap = n;
    return 0;
}

/* Grows c->in.  The parsed head of the current request (method, path, query, header names
 * and values, ws_key, body) points into c->in: when the buffer moves, those pointers are
 * moved with it (a body larger than the first read arrives after the head was parsed). */
static int reserve_in(conn_t *c, size_t need)
{
    if (need <= c->in_cap)
        return 0;
    uintptr_t ob = (uintptr_t)c->in, oe = ob + c->in_cap;
    char *old_in = c->in;
    if (reserve(&c->in, &c->in_cap, need) < 0)
        return -1;
    if (c->in == old_in)
        return 0;
#define AGX_REBASE(ptr)                                                                            \
    do {                                                                                           \
        uintptr_t v_ = (uintptr_t)(ptr);                                                           \
        if (v_ >= ob && v_ < oe)                                                                   \
            (ptr) = c->in + (v_ - ob);                                                             \
    } while (0)
    AGX_REBASE(c->method);
    AGX_REBASE(c->path);
    AGX_REBASE(c->query);
    AGX_REBASE(c->ws_key);
    AGX_REBASE(c->body);
    for (size_t i = 0; i < c->nhdr; i++) {
        AGX_REBASE(c->hdrs[i].name);
        AGX_REBASE(c->hdrs[i].value);
    }
#undef AGX_REBASE
    return 0;
}

static int64_t now_ms(void) { return agx_now_ms(); }

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
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
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

static bool no_body_status(int status) { return status < 200 || status == 204 || status == 304; }

/* Appends n bytes at *p when dst is set; always counts. */
static void put(char *dst, size_t *pos, const char *s, size_t n)
{
    if (dst)
        memcpy(dst + *pos, s, n);
    *pos += n;
}

/* Formats a response head into dst (NULL: only measure).  clen < 0: chunked/streamed. */
static size_t fmt_head(char *dst, const conn_t *c, int status, const char *ctype, const char *extra,
                       long long clen, bool keep_alive)
{
    char num[32];
    size_t pos = 0;
    if (status < 100 || status > 999)
        status = 500;
    char sl[13] = "HTTP/1.1 000 ";
    sl[9] = (char)('0' + status / 100);
    sl[10] = (char)('0' + status / 10 % 10);
    sl[11] = (char)('0' + status % 10);
    put(dst, &pos, sl, 13);
    const char *rs = reason(status);
    put(dst, &pos, rs, strlen(rs));
    put(dst, &pos, "\r\n", 2);
    if (!no_body_status(status)) {
        put(dst, &pos, "Content-Type: ", 14);
        if (!ctype)
            ctype = "application/json";
        put(dst, &pos, ctype, strlen(ctype));
        put(dst, &pos, "\r\n", 2);
        if (clen >= 0) {
            put(dst, &pos, "Content-Length: ", 16);
            size_t k = sizeof num;
            unsigned long long v = (unsigned long long)clen;
            do
                num[--k] = (char)('0' + v % 10);
            while ((v /= 10) != 0);
            put(dst, &pos, num + k, sizeof num - k);
            put(dst, &pos, "\r\n", 2);
        } else if (c->minor >= 1) {
            put(dst, &pos, "Transfer-Encoding: chunked\r\n", 28);
        }
    }
    if (!keep_alive)
        put(dst, &pos, "Connection: close\r\n", 19);
    else if (c->minor == 0)
        put(dst, &pos, "Connection: keep-alive\r\n", 24);
    if (extra)
        put(dst, &pos, extra, strlen(extra));
    put(dst, &pos, "\r\n", 2);
    return pos;
}

/* ---------------------------------------------------------------------------------------
 * output (service thread) */

static void conn_kill(conn_t *c)
{
    if (c->wsi)
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

static void mark_dirty(conn_t *c)
{
    if (c->dirty || !c->wsi)
        return;
    c->dirty = true;
    c->dirty_next = c->h->dirty;
    c->h->dirty = c;
}

static int out_append(conn_t *c, const char *data, size_t n)
{
    if (c->lingering)
        return -1;
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
    } else if (c->out_off > 65536 && c->out_off > c->out_len / 2) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    if (c->out_len - c->out_off + n > MAX_OUT_BYTES) {
        AGX_WARN("httpd: peer %s reads too slowly (%zu bytes queued); closing", c->peer,
                 c->out_len - c->out_off);
        conn_kill(c);
        return -1;
    }
    if (reserve(&c->out, &c->out_cap, c->out_len + n) < 0) {
        AGX_ERROR("httpd: out of memory for a response; closing the connection");
        conn_kill(c);
        return -1;
    }
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    mark_dirty(c);
    return 0;
}

/* Writes what can be written now.  Called on the service thread only. */
static void conn_flush(conn_t *c)
{
    if (!c->wsi)
        return;
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            c->out_off += (size_t)n;
            /* the idle timer of a connection whose answer is being written counts from
             * the last progress: a slow reader is not cut, a stalled one still is */
            if ((c->state == ST_IDLE || c->state == ST_CLOSING ||
                 (c->state == ST_WS && c->close_after)) &&
                !c->lingering)
                c->deadline = now_ms() + c->h->cfg.idle_timeout_ms;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            lws_callback_on_writable(c->wsi);
            return;
        }
        conn_kill(c); /* peer gone */
        c->out_off = c->out_len = 0;
        return;
    }
    c->out_off = c->out_len = 0;
    if (c->close_after && !c->lingering) {
        /* Unread input would turn our close into a reset that can destroy the answer
         * in flight; then half-close and wait (bounded) for the peer to close. */
        bool unread = c->in_len > 0 || c->pend.len > 0 || c->state == ST_WS;
        if (!unread) {
            conn_kill(c);
        } else {
            shutdown(c->fd, SHUT_WR);
            c->lingering = true;
            c->deadline = now_ms() + LINGER_MS;
        }
    }
}

static void flush_dirty(agx_httpd_t *h)
{
    while (h->dirty) {
        conn_t *c = h->dirty;
        h->dirty = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        conn_flush(c);
    }
}

/* An error answer generated by the server itself; the connection closes after it. */
static void send_error(conn_t *c, int status, const char *detail)
{
    char body[160];
    int bl = snprintf(body, sizeof body, "{\"detail\":\"%s\"}", detail);
    if (bl < 0 || (size_t)bl >= sizeof body)
        bl = 2, memcpy(body, "{}", 3);
    c->minor = 1;
    char head[256];
    size_t hl = fmt_head(NULL, c, status, "application/json", NULL, bl, false);
    if (hl > sizeof head)
        return;
    fmt_head(head, c, status, "application/json", NULL, bl, false);
    out_append(c, head, hl);
    out_append(c, body, (size_t)bl);
    c->close_after = true;
    c->state = ST_CLOSING;
    c->deadline = now_ms() + c->h->cfg.idle_timeout_ms; /* no write progress: dropped */
}

/* ---------------------------------------------------------------------------------------
 * request parsing */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into dst (may alias s); plus_space for query strings.
 * Returns the decoded length, or -1 on a bad escape or an encoded NUL. */
static long pct_decode(char *dst, const char *s, size_t n, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            int a, b;
            if (i + 2 >= n)
                return -1;
            a = hexval((unsigned char)s[i + 1]);
            b = hexval((unsigned char)s[i + 2]);
            if (a < 0 || b < 0 || (a == 0 && b == 0))
                return -1;
            dst[o++] = (char)(a * 16 + b);
            i += 2;
        } else if (ch == '+' && plus_space) {
            dst[o++] = ' ';
        } else {
            dst[o++] = ch;
        }
    }
    return (long)o;
}

static int parse_query(conn_t *c, const char *q)
{
    c->nparam = 0;
    size_t ql = strlen(q);
    if (ql == 0)
        return 0;
    if (reserve(&c->qarena, &c->qarena_cap, ql * 2 + 2) < 0)
        return -1;
    char *a = c->qarena;
    size_t ap = 0;
    const char *p = q;
    while (*p) {
        const char *s = p;
        while (*p && *p != '&')
            p++;
        const char *e = p;
        if (*p == '&')
            p++;
        if (e == s)
            continue;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        const char *ke = eq ? eq : e;
        if (c->nparam == c->param_cap) {
            size_t nc = c->param_cap ? c->param_cap * 2 : 8;
            hdr_t *np = agx_realloc(c->params, nc * sizeof *np);
            if (!np)
                return -1;
            c->params = np;
            c->param_cap = nc;
        }
        long kl = pct_decode(a + ap, s, (size_t)(ke - s), true);
        if (kl < 0)
            return -2;
        hdr_t *pr = &c->params[c->nparam++];
        pr->name = a + ap;
        ap += (size_t)kl;
        a[ap++] = '\0';
        long vl = 0;
        if (eq) {
            vl = pct_decode(a + ap, eq + 1, (size_t)(e - eq - 1), true);
            if (vl < 0)
                return -2;
        }
        pr->value = a + ap;
        ap += (size_t)vl;
        a[ap++] = '\0';
    }
    return 0;
}

static int add_hdr(conn_t *c, const char *name, const char *value)
{
    if (c->nhdr == c->hdr_cap) {
        size_t nc = c->hdr_cap ? c->hdr_cap * 2 : 16;
        hdr_t *nh = agx_realloc(c->hdrs, nc * sizeof *nh);
        if (!nh)
            return -1;
        c->hdrs = nh;
        c->hdr_cap = nc;
    }
    c->hdrs[c->nhdr].name = name;
    c->hdrs[c->nhdr].value = value;
    c->nhdr++;
    return 0;
}

/* Parses the head in in[0..end) in place.  Returns 0, or an HTTP status for an error
 * (with *detail set), -1 on ENOMEM. */
static int parse_head(conn_t *c, size_t end, const char **detail)
{
    char *s = c->in;
    char *lim = s + end;
    *detail = "Bad request";
    /* request line */
    char *eol = memchr(s, '\n', end);
    char *le = eol;
    if (le > s && le[-1] == '\r')
        le--;
    char *p = s;
    while (p < le && agx_http_tchar((unsigned char)*p))
        p++;
    if (p == s || p >= le || *p != ' ' || p - s > 32)
        return 400;
    *p++ = '\0';
    c->method = s;
    char *target = p;
    while (p < le && *p != ' ') {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return 400;
        p++;
    }
    if (p >= le || p == target)
        return 400;
    char *target_end = p;
    *p++ = '\0';
    if (le - p != 8 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1')) {
        if (le - p == 8 && memcmp(p, "HTTP/", 5) == 0) {
            *detail = "HTTP version not supported";
            return 505;
        }
        return 400;
    }
    c->minor = p[7] - '0';
    *le = '\0';
    /* target: origin-form, absolute-form (path taken from it) or "*" */
    if (*target != '/') {
        if (strcmp(target, "*") == 0) {
            target = (char *)"*";
        } else {
            char *sch = strstr(target, "://");
            if (!sch)
                return 400;
            char *slash = strchr(sch + 3, '/');
            if (!slash) {
                /* "http://host" or "http://host?q": path "/" */
                char *qm = strchr(sch + 3, '?');
                if (qm) {
                    qm[-1] = '/'; /* the host's last character is not needed any more */
                    target = qm - 1;
                } else {
                    target = (char *)"/";
                }
            } else {
                target = slash;
            }
        }
    }
    char *qm = target[0] == '*' && target[1] == '\0' ? NULL : strchr(target, '?');
    if (qm) {
        *qm = '\0';
        c->query = qm + 1;
    } else {
        c->query = target_end; /* "" */
    }
    if (target[0] != '*' || target[1] != '\0') {
        long pl = pct_decode(target, target, strlen(target), false);
        if (pl < 0)
            return 400;
        target[pl] = '\0';
    }
    c->path = target;
    int qr = parse_query(c, c->query);
    if (qr == -1)
        return -1;
    if (qr < 0)
        return 400;

    /* header lines */
    bool have_clen = false, te = false, conn_close = false, conn_keep = false;
    bool conn_upgrade = false, upg_ws = false;
    const char *wsver = NULL;
    c->ws_key = NULL;
    p = eol + 1;
    while (p < lim) {
        char *nl = memchr(p, '\n', (size_t)(lim - p));
        if (!nl)
            return 400;
        char *e = nl;
        if (e > p && e[-1] == '\r')
            e--;
        if (e == p)
            break; /* the empty line */
        if (*p == ' ' || *p == '\t')
            return 400; /* obsolete line folding */
        char *colon = p;
        while (colon < e && agx_http_tchar((unsigned char)*colon)) {
            *colon = (char)((*colon >= 'A' && *colon <= 'Z') ? *colon + 32 : *colon);
            colon++;
        }
        if (colon == p || colon >= e || *colon != ':')
            return 400;
        size_t nlen = (size_t)(colon - p);
        *colon = '\0';
        char *v = colon + 1;
        while (v < e && (*v == ' ' || *v == '\t'))
            v++;
        char *ve = e;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (char *q = v; q < ve; q++)
            if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
                return 400;
        *ve = '\0';
        if (c->nhdr >= MAX_HEADERS) {
            *detail = "Too many request headers";
            return 431;
        }
        if (add_hdr(c, p, v) < 0)
            return -1;
        switch (nlen) {
        case 6:
            if (memcmp(p, "expect", 6) == 0 && strcasecmp(v, "100-continue") == 0)
                c->expect_continue = true;
            break;
        case 7:
            if (memcmp(p, "upgrade", 7) == 0 && agx_http_list_has(v, strlen(v), "websocket", false))
                upg_ws = true;
            break;
        case 10:
            if (memcmp(p, "connection", 10) == 0) {
                if (agx_http_list_has(v, strlen(v), "close", false))
                    conn_close = true;
                if (agx_http_list_has(v, strlen(v), "keep-alive", false))
                    conn_keep = true;
                if (agx_http_list_has(v, strlen(v), "upgrade", false))
                    conn_upgrade = true;
            }
            break;
        case 14:
            if (memcmp(p, "content-length", 14) == 0) {
                if (!*v)
                    return 400;
                size_t n = 0;
                for (const char *q = v; *q; q++) {
                    if (*q < '0' || *q > '9' || n > (SIZE_MAX - 9) / 10)
                        return 400;
                    n = n * 10 + (size_t)(*q - '0');
                }
                if (have_clen && n != c->clen)
                    return 400;
                have_clen = true;
                c->clen = n;
            }
            break;
        case 17:
            if (memcmp(p, "transfer-encoding", 17) == 0) {
                if (strcasecmp(v, "chunked") != 0) {
                    *detail = "Transfer-Encoding not supported";
                    return 501;
                }
                if (te)
                    return 400;
                te = true;
            } else if (memcmp(p, "sec-websocket-key", 17) == 0) {
                c->ws_key = v;
            }
            break;
        case 21:
            if (memcmp(p, "sec-websocket-version", 21) == 0)
                wsver = v;
            break;
        default:
            break;
        }
        p = nl + 1;
    }
    if (te && have_clen)
        return 400; /* request smuggling guard */
    if (te && c->minor == 0)
        return 400;
    c->chunked = te;
    if (!have_clen)
        c->clen = 0;
    c->keep_alive = c->minor >= 1 ? !conn_close : (conn_keep && !conn_close);
    c->is_head = strcmp(c->method, "HEAD") == 0;
    c->upgrade_ws = upg_ws && conn_upgrade && c->ws_key && strcmp(c->method, "GET") == 0;
    if (c->upgrade_ws && (!wsver || strcmp(wsver, "13") != 0)) {
        *detail = "Unsupported websocket version";
        return 426;
    }
    return 0;
}

static void reset_request(conn_t *c)
{
    c->hdr_scan = 0;
    c->method_checked = false;
    c->body_start = c->req_end = 0;
    c->clen = 0;
    c->chunked = c->expect_continue = c->sent_continue = false;
    c->ck = CK_SIZE;
    c->ck_rd = c->ck_wr = c->ck_rem = 0;
    c->method = c->path = c->query = NULL;
    c->nhdr = c->nparam = 0;
    c->body = NULL;
    c->body_len = 0;
    c->keep_alive = c->is_head = c->upgrade_ws = false;
    c->ws_key = NULL;
    c->stream_chunked = c->stream_nobody = false;
    c->close_cb = NULL;
    c->close_ud = NULL;
    c->userdata = NULL;
}

/* Finds the end of the head, resuming at hdr_scan.  Returns its length or 0. */
static size_t find_head_end(conn_t *c)
{
    size_t i = c->hdr_scan;
    while (i < c->in_len) {
        char *nl = memchr(c->in + i, '\n', c->in_len - i);
        if (!nl) {
            i = c->in_len;
            break;
        }
        size_t k = (size_t)(nl - c->in);
        if (k + 1 >= c->in_len) {
            i = k;
            break;
        }
        if (c->in[k + 1] == '\n')
            return k + 2;
        if (c->in[k + 1] == '\r') {
            if (k + 2 >= c->in_len) {
                i = k;
                break;
            }
            if (c->in[k + 2] == '\n')
                return k + 3;
        }
        i = k + 1;
    }
    c->hdr_scan = i;
    return 0;
}

/* Finds a line in in[from..in_len); returns the index after its '\n', or 0. */
static size_t line_end(conn_t *c, size_t from, size_t *content_end)
{
    char *nl = memchr(c->in + from, '\n', c->in_len - from);
    if (!nl)
        return 0;
    size_t k = (size_t)(nl - c->in);
    *content_end = (k > from && c->in[k - 1] == '\r') ? k - 1 : k;
    return k + 1;
}

/* Decodes the chunked body in place as far as it has arrived.
 * Returns 1 complete, 0 need more, 400/413/431 on errors. */
static int dechunk_step(conn_t *c, size_t max_body);

static int dechunk(conn_t *c, size_t max_body)
{
    int r = dechunk_step(c, max_body);
    if ((r == 0 || r == 1) && c->ck_rd > c->ck_wr) {
        /* drop the framing consumed so far (sizes, extensions, CRLFs, trailers): the
         * buffer then holds the decoded body and at most one partial framing line, not
         * all the framing a peer chose to send (in[in_len] stays the NUL) */
        memmove(c->in + c->ck_wr, c->in + c->ck_rd, c->in_len - c->ck_rd + 1);
        c->in_len -= c->ck_rd - c->ck_wr;
        c->ck_rd = c->ck_wr;
    }
    return r;
}

static int dechunk_step(conn_t *c, size_t max_body)
{
    for (;;) {
        size_t ce, nx;
        switch (c->ck) {
        case CK_SIZE:
            nx = line_end(c, c->ck_rd, &ce);
            if (!nx)
                return c->in_len - c->ck_rd > 1024 ? 400 : 0;
            {
                size_t n = 0, i = c->ck_rd;
                bool any = false;
                for (; i < ce; i++) {
                    int hv = hexval((unsigned char)c->in[i]);
                    if (hv < 0)
                        break;
                    if (n > (SIZE_MAX >> 5))
                        return 413;
                    n = n * 16 + (size_t)hv;
                    any = true;
                }
                if (!any || (i < ce && c->in[i] != ';' && c->in[i] != ' ' && c->in[i] != '\t'))
                    return 400;
                c->ck_rd = nx;
                if (n == 0) {
                    c->ck = CK_TRAILER;
                    c->ck_rem = 0; /* counts the trailer section's bytes */
                } else {
                    if (n > max_body || c->ck_wr - c->body_start > max_body - n)
                        return 413;
                    c->ck_rem = n;
                    c->ck = CK_DATA;
                }
            }
            break;
        case CK_DATA: {
            size_t avail = c->in_len - c->ck_rd;
            size_t n = avail < c->ck_rem ? avail : c->ck_rem;
            if (n == 0)
                return 0;
            if (c->ck_wr != c->ck_rd)
                memmove(c->in + c->ck_wr, c->in + c->ck_rd, n);
            c->ck_wr += n;
            c->ck_rd += n;
            c->ck_rem -= n;
            if (c->ck_rem)
                return 0;
            c->ck = CK_DATA_END;
            break;
        }
        case CK_DATA_END:
            nx = line_end(c, c->ck_rd, &ce);
            if (!nx)
                return c->in_len - c->ck_rd > 2 ? 400 : 0;
            if (ce != c->ck_rd)
                return 400;
            c->ck_rd = nx;
            c->ck = CK_SIZE;
            break;
        case CK_TRAILER: {
            size_t start = c->ck_rd;
            nx = line_end(c, start, &ce);
            if (!nx)
                return c->ck_rem + (c->in_len - start) > MAX_HEAD_BYTES ? 431 : 0;
            c->ck_rem += nx - start;
            if (c->ck_rem > MAX_HEAD_BYTES)
                return 431; /* trailers are header fields: the head's limit applies */
            c->ck_rd = nx;
            if (ce == start) { /* the empty line ends the trailers */
                c->ck = CK_DONE;
                return 1;
            }
            break;
        }
        case CK_DONE:
            return 1;
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * request dispatch */

static void process_input(conn_t *c);
static void ws_upgrade(conn_t *c);
static void ws_process(conn_t *c);

/* The responder has ended (service thread).  Prepares the connection for the next
 * request and parses what is already buffered. */
static void resp_done(conn_t *c)
{
    if (c->state != ST_ACTIVE)
        return;
    if (c->saved_pos < c->in_cap)
        c->in[c->saved_pos] = c->saved_byte;
    bool keep = c->keep_alive;
    size_t rest = c->in_len - c->req_end;
    if (rest && c->req_end)
        memmove(c->in, c->in + c->req_end, rest);
    c->in_len = rest;
    if (c->in_cap > 256 * 1024 && c->in_len + c->pend.len < 4096) {
        /* give back the room a large body needed */
        char *small = agx_malloc(4096);
        if (small) {
            memcpy(small, c->in, c->in_len);
            agx_free(c->in);
            c->in = small;
            c->in_cap = 4096;
        }
    }
    if (c->pend.len) {
        if (reserve(&c->in, &c->in_cap, c->in_len + c->pend.len + 1) < 0) {
            conn_kill(c);
            return;
        }
        memcpy(c->in + c->in_len, c->pend.data, c->pend.len);
        c->in_len += c->pend.len;
        agx_buf_reset(&c->pend);
    }
    c->in[c->in_len] = '\0';
    reset_request(c);
    if (c->rx_paused && c->wsi) {
        c->rx_paused = false;
        lws_rx_flow_control(c->wsi, 1);
    }
    if (!keep) {
        c->close_after = true;
        c->state = ST_CLOSING;
        c->deadline = now_ms() + c->h->cfg.idle_timeout_ms; /* no write progress: dropped */
        mark_dirty(c); /* the close is due even when the end wrote nothing (HTTP/1.0, HEAD) */
        return;
    }
    c->state = ST_IDLE;
    c->deadline = now_ms() + c->h->cfg.idle_timeout_ms;
}

static void dispatch(conn_t *c)
{
    agx_httpd_t *h = c->h;
    /* NUL-terminate the body without disturbing a pipelined request behind it */
    size_t bend = c->body_start + c->body_len;
    c->saved_pos = bend;
    c->saved_byte = c->in[bend];
    c->in[bend] = '\0';
    c->body = c->in + c->body_start;
    c->state = ST_ACTIVE;
    c->deadline = 0;
    if (c->upgrade_ws) {
        ws_upgrade(c);
        return;
    }
    conn_ref(c); /* the responder */
    atomic_store_explicit(&c->resp_live, true, memory_order_relaxed);
    h->cfg.on_request(c, h->cfg.userdata);
}

static void process_input_loop(conn_t *c);

static void process_input(conn_t *c)
{
    if (c->in_process)
        return; /* the outer loop picks up where this left off */
    c->in_process = true;
    process_input_loop(c);
    c->in_process = false;
}

static void process_input_loop(conn_t *c)
{
    agx_httpd_t *h = c->h;
    if (h->stopping)
        return; /* no new requests while the server drains */
    while (c->wsi && (c->state == ST_IDLE || c->state == ST_HEAD || c->state == ST_BODY)) {
        if (c->state == ST_IDLE) {
            size_t skip = 0; /* empty lines before a request line are ignored */
            while (skip < c->in_len && (c->in[skip] == '\r' || c->in[skip] == '\n'))
                skip++;
            if (skip) {
                memmove(c->in, c->in + skip, c->in_len - skip + 1);
                c->in_len -= skip;
            }
            if (c->in_len == 0)
                return;
            c->state = ST_HEAD;
            c->deadline = now_ms() + h->cfg.header_timeout_ms;
        }
        if (c->state == ST_HEAD) {
            size_t end = find_head_end(c);
            if (!end) {
                if (c->in_len > MAX_HEAD_BYTES)
                    send_error(c, 431, "Request header too large");
                else if (!c->method_checked && c->in_len >= 33) {
                    /* reject what cannot be a request line early (once per request):
                     * the method is a token of at most 32 characters, then a space */
                    c->method_checked = true;
                    size_t i = 0;
                    while (i < 33 && agx_http_tchar((unsigned char)c->in[i]))
                        i++;
                    if (i == 0 || c->in[i] != ' ')
                        send_error(c, 400, "Bad request");
                }
                return;
            }
            if (end > MAX_HEAD_BYTES) {
                send_error(c, 431, "Request header too large");
                return;
            }
            const char *detail;
            int st = parse_head(c, end, &detail);
            if (st == -1) {
                send_error(c, 500, "Out of memory");
                return;
            }
            if (st) {
                send_error(c, st, detail);
                return;
            }
            c->body_start = end;
            if (c->chunked) {
                c->ck = CK_SIZE;
                c->ck_rd = c->ck_wr = end;
            } else if (c->clen > h->cfg.max_body) {
                send_error(c, 413, "Request body too large");
                return;
            }
            c->state = ST_BODY;
        }
        /* ST_BODY */
        bool complete;
        if (c->chunked) {
            int r = dechunk(c, h->cfg.max_body);
            if (r == 413) {
                send_error(c, 413, "Request body too large");
                return;
            }
            if (r == 431) {
                send_error(c, 431, "Request header too large");
                return;
            }
            if (r >= 400) {
                send_error(c, 400, "Bad chunked body");
                return;
            }
            complete = r == 1;
            if (complete) {
                c->body_len = c->ck_wr - c->body_start;
                c->req_end = c->ck_rd;
            }
        } else {
            complete = c->in_len - c->body_start >= c->clen;
            if (complete) {
                c->body_len = c->clen;
                c->req_end = c->body_start + c->clen;
            }
        }
        if (!complete) {
            if (c->expect_continue && !c->sent_continue && c->minor >= 1) {
                c->sent_continue = true;
                out_append(c, "HTTP/1.1 100 Continue\r\n\r\n", 25);
            }
            if (!c->chunked && reserve_in(c, c->body_start + c->clen + 1) < 0) {
                send_error(c, 500, "Out of memory");
            }
            return;
        }
        dispatch(c);
    }
}

/* ---------------------------------------------------------------------------------------
 * websockets */

/* SHA-1 (FIPS 180-4), only for the handshake's Sec-WebSocket-Accept. */
static uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t st[5], const unsigned char *b)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | (uint32_t)b[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = st[0], bb = st[1], cc = st[2], d = st[3], e = st[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (bb & cc) | (~bb & d);
            k = 0x5A827999u;
        } else if (i < 40) {
            f = bb ^ cc ^ d;
            k = 0x6ED9EBA1u;
        } else if (i < 60) {
            f = (bb & cc) | (bb & d) | (cc & d);
            k = 0x8F1BBCDCu;
        } else {
            f = bb ^ cc ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t t = rol32(a, 5) + f + e + k + w[i];
        e = d;
        d = cc;
        cc = rol32(bb, 30);
        bb = a;
        a = t;
    }
    st[0] += a;
    st[1] += bb;
    st[2] += cc;
    st[3] += d;
    st[4] += e;
}

static void sha1(const unsigned char *data, size_t n, unsigned char out[20])
{
    uint32_t st[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        sha1_block(st, data + i);
    unsigned char tail[128];
    size_t r = n - i;
    memcpy(tail, data + i, r);
    tail[r] = 0x80;
    size_t tl = r + 1 + 8 <= 64 ? 64 : 128;
    memset(tail + r + 1, 0, tl - r - 1);
    uint64_t bits = (uint64_t)n * 8;
    for (int k = 0; k < 8; k++)
        tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
    sha1_block(st, tail);
    if (tl == 128)
        sha1_block(st, tail + 64);
    for (int k = 0; k < 5; k++) {
        out[4 * k] = (unsigned char)(st[k] >> 24);
        out[4 * k + 1] = (unsigned char)(st[k] >> 16);
        out[4 * k + 2] = (unsigned char)(st[k] >> 8);
        out[4 * k + 3] = (unsigned char)st[k];
    }
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

/* A frame header for len payload bytes; returns its size (<= 10). */
static size_t ws_frame_head(unsigned char *hd, int opcode, size_t len)
{
    hd[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        hd[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        hd[1] = 126;
        hd[2] = (unsigned char)(len >> 8);
        hd[3] = (unsigned char)len;
        return 4;
    }
    hd[1] = 127;
    for (int i = 0; i < 8; i++)
        hd[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

static void ws_send_direct(conn_t *c, int opcode, const char *data, size_t len)
{
    unsigned char hd[10];
    size_t hl = ws_frame_head(hd, opcode, len);
    if (out_append(c, (const char *)hd, hl) == 0 && len)
        out_append(c, data, len);
}

static void ws_close_direct(conn_t *c, unsigned code)
{
    if (c->ws_close_sent)
        return;
    c->ws_close_sent = true;
    char b[2] = {(char)(code >> 8), (char)code};
    ws_send_direct(c, 8, b, code ? 2 : 0);
    c->close_after = true;
    /* from now on only the peer's close is awaited: bounded like an idle connection */
    c->deadline = now_ms() + c->h->cfg.idle_timeout_ms;
}

static void ws_upgrade(conn_t *c)
{
    agx_httpd_t *h = c->h;
    if (!h->cfg.on_ws_open) {
        send_error(c, 404, "Not found");
        return;
    }
    char buf[128];
    size_t kl = strlen(c->ws_key);
    if (kl > 64) {
        send_error(c, 400, "Bad websocket key");
        return;
    }
    memcpy(buf, c->ws_key, kl);
    memcpy(buf + kl, ws_guid, sizeof ws_guid - 1);
    unsigned char dig[20];
    sha1((const unsigned char *)buf, kl + sizeof ws_guid - 1, dig);
    char acc[32];
    b64(dig, 20, acc);
    char head[256];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      acc);
    size_t mark = c->out_len;
    size_t mark_off = c->out_off;
    c->in[c->saved_pos] = c->saved_byte;
    c->saved_pos = (size_t)-1;
    /* input behind the upgrade request is websocket data */
    size_t rest = c->in_len - c->req_end;
    if (rest && agx_buf_append(&c->wsin, c->in + c->req_end, rest) < 0) {
        send_error(c, 500, "Out of memory");
        return;
    }
    c->in_len = c->req_end;
    c->in[c->in_len] = '\0';
    c->state = ST_WS;
    c->ws_open = true;
    out_append(c, head, (size_t)hl);
    if (!h->cfg.on_ws_open((agx_ws_t *)c, c->path, h->cfg.userdata)) {
        c->ws_open = false;
        if (mark_off <= mark) {
            c->out_len = mark;
            c->out_off = mark_off;
        }
        agx_buf_reset(&c->wsin);
        c->state = ST_ACTIVE; /* so that send_error's close logic applies */
        send_error(c, 403, "Forbidden");
        return;
    }
    ws_process(c);
}

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned char lo = 0x80, hi = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            k = 1;
        } else if (b >= 0xe0 && b <= 0xef) {
            k = 2;
            if (b == 0xe0)
                lo = 0xa0;
            else if (b == 0xed)
                hi = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            k = 3;
            if (b == 0xf0)
                lo = 0x90;
            else if (b == 0xf4)
                hi = 0x8f;
        } else {
            return false;
        }
        if (n - i - 1 < k)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t j = 2; j <= k; j++)
            if (s[i + j] < 0x80 || s[i + j] > 0xbf)
                return false;
        i += k + 1;
    }
    return true;
}

static void ws_deliver(conn_t *c, const char *data, size_t len, bool binary)
{
    if (!binary && !utf8_valid((const unsigned char *)data, len)) {
        ws_close_direct(c, 1007); /* RFC 6455 8.1: fail the connection */
        return;
    }
    agx_httpd_t *h = c->h;
    if (h->cfg.on_ws_message && c->ws_open && !c->ws_close_sent)
        h->cfg.on_ws_message((agx_ws_t *)c, data, len, binary, h->cfg.userdata);
}

static void ws_process(conn_t *c)
{
    size_t maxmsg = c->h->cfg.max_body;
    while (c->wsi && c->state == ST_WS && !c->ws_close_sent) {
        unsigned char *b = (unsigned char *)c->wsin.data + c->ws_off;
        size_t avail = c->wsin.len - c->ws_off;
        if (avail < 2)
            break;
        bool fin = b[0] & 0x80;
        int op = b[0] & 0x0f;
        if ((b[0] & 0x70) || !(b[1] & 0x80)) {
            ws_close_direct(c, 1002); /* reserved bits, or an unmasked client frame */
            break;
        }
        size_t hl = 2;
        uint64_t len = b[1] & 0x7f;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)b[2] << 8 | b[3];
            hl = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | b[2 + i];
            hl = 10;
        }
        if (op >= 8 && (!fin || len > 125)) {
            ws_close_direct(c, 1002);
            break;
        }
        if (len > maxmsg || (op < 8 && c->msg.len + len > maxmsg)) {
            ws_close_direct(c, 1009);
            break;
        }
        if (avail < hl + 4 + len)
            break;
        unsigned char *mask = b + hl;
        unsigned char *pl = mask + 4;
        for (size_t i = 0; i < len; i++)
            pl[i] ^= mask[i & 3];
        c->ws_off += hl + 4 + (size_t)len;
        switch (op) {
        case 0x8: { /* close: answer with the same code, then close */
            unsigned code = len >= 2 ? (unsigned)pl[0] << 8 | pl[1] : 1000;
            /* RFC 6455 5.5.1, 7.4: a lone byte, or a code an endpoint must not send
             * (below 1000, 1004-1006, 1015, unassigned 1016-2999, 5000 up) is an error */
            bool bad = len == 1 || code < 1000 || (code >= 1004 && code <= 1006) ||
                       (code >= 1015 && code < 3000) || code >= 5000;
            ws_close_direct(c, bad ? 1002 : code);
            break;
        }
        case 0x9:
            ws_send_direct(c, 0xA, (const char *)pl, (size_t)len);
            break;
        case 0xA:
            break;
        case 0x1:
        case 0x2:
            if (c->msg_op) {
                ws_close_direct(c, 1002);
                break;
            }
            if (fin) {
                /* NUL-terminate in place; restore the byte behind it afterwards */
                char *end = (char *)pl + len;
                char saved = *end; /* wsin always has a NUL after its data */
                *end = '\0';
                ws_deliver(c, (const char *)pl, (size_t)len, op == 2);
                *end = saved;
            } else {
                c->msg_op = op;
                agx_buf_reset(&c->msg);
                if (agx_buf_append(&c->msg, pl, (size_t)len) < 0)
                    ws_close_direct(c, 1011);
            }
            break;
        case 0x0:
            if (!c->msg_op) {
                ws_close_direct(c, 1002);
                break;
            }
            if (agx_buf_append(&c->msg, pl, (size_t)len) < 0) {
                ws_close_direct(c, 1011);
                break;
            }
            if (fin) {
                int mop = c->msg_op;
                c->msg_op = 0;
                ws_deliver(c, c->msg.data ? c->msg.data : "", c->msg.len, mop == 2);
                agx_buf_reset(&c->msg);
            }
            break;
        default:
            ws_close_direct(c, 1002);
            break;
        }
    }
    if (c->ws_off == c->wsin.len) {
        agx_buf_reset(&c->wsin);
        c->ws_off = 0;
    } else if (c->ws_off > 65536 && c->ws_off > c->wsin.len / 2) {
        memmove(c->wsin.data, c->wsin.data + c->ws_off, c->wsin.len - c->ws_off + 1);
        c->wsin.len -= c->ws_off;
        c->ws_off = 0;
    }
}

/* ---------------------------------------------------------------------------------------
 * the cross-thread queue */

static void run_item(agx_httpd_t *h, qitem_t *it)
{
    (void)h;
    if (!it->c) {
        it->fn(it->arg);
        return;
    }
    conn_t *c = it->c;
    if (c->wsi) {
        bool drop = c->state == ST_WS && c->ws_close_sent;
        if (it->len && !drop)
            out_append(c, it->data, it->len);
        if ((it->flags & QI_CLOSE) && c->state == ST_WS)
            ws_close_direct(c, 1000);
        if (it->flags & QI_END) {
            resp_done(c);
            process_input(c);
        }
    }
    conn_unref(c);
}

/* Runs the items queued so far.  One batch only: an item pushed meanwhile found the
 * queue empty and woke the loop again, so a function that re-posts itself cannot starve
 * the sockets. */
static void drain_queue(agx_httpd_t *h)
{
    shared_t *sh = h->sh;
    pthread_mutex_lock(&sh->mu);
    qitem_t *it = sh->head;
    sh->head = sh->tail = NULL;
    pthread_mutex_unlock(&sh->mu);
    while (it) {
        qitem_t *n = it->next;
        run_item(h, it);
        agx_free(it);
        it = n;
    }
    flush_dirty(h);
}

/* Pushes an item; on refusal frees it and returns -1 (the caller drops its reference). */
static int push_item(shared_t *sh, qitem_t *it)
{
    it->next = NULL;
    pthread_mutex_lock(&sh->mu);
    if (sh->stopped || !sh->ctx) {
        pthread_mutex_unlock(&sh->mu);
        agx_free(it);
        return -1;
    }
    bool was_empty = sh->head == NULL;
    if (sh->tail)
        sh->tail->next = it;
    else
        sh->head = it;
    sh->tail = it;
    if (was_empty)
        lws_cancel_service(sh->ctx);
    pthread_mutex_unlock(&sh->mu);
    return 0;
}

static qitem_t *item_new(conn_t *c, size_t len, unsigned flags)
{
    qitem_t *it = agx_malloc(sizeof *it + len + 1);
    if (!it)
        return NULL;
    it->next = NULL;
    it->c = c;
    it->fn = NULL;
    it->arg = NULL;
    it->flags = flags;
    it->len = len;
    return it;
}

int agx_httpd_post(agx_httpd_t *h, void (*fn)(void *arg), void *arg)
{
    if (!h || !fn)
        return -1;
    qitem_t *it = item_new(NULL, 0, 0);
    if (!it)
        return -1;
    it->fn = fn;
    it->arg = arg;
    return push_item(h->sh, it);
}

/* ---------------------------------------------------------------------------------------
 * connections */

static void conn_link(agx_httpd_t *h, conn_t *c)
{
    c->prev = NULL;
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
}

static void conn_unlink(agx_httpd_t *h, conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (h->conns == c)
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void conn_closed(conn_t *c)
{
    agx_httpd_t *h = c->h;
    shared_t *sh = c->sh;
    if (c->dirty) { /* unlink from the dirty list */
        conn_t **pp = &h->dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dirty_next;
        if (*pp)
            *pp = c->dirty_next;
        c->dirty = false;
    }
    conn_unlink(h, c);
    c->wsi = NULL;
    pthread_mutex_lock(&sh->mu);
    atomic_store(&c->closed, true);
    void (*cb)(agx_http_req_t *, void *) = c->state == ST_ACTIVE ? c->close_cb : NULL;
    void *ud = c->close_ud;
    c->close_cb = NULL;
    pthread_mutex_unlock(&sh->mu);
    if (cb)
        cb(c, ud);
    if (c->ws_open) {
        c->ws_open = false;
        if (h->cfg.on_ws_close)
            h->cfg.on_ws_close((agx_ws_t *)c, h->cfg.userdata);
    }
    conn_unref(c);
}

static void accept_all(agx_httpd_t *h)
{
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_storage sa;
        socklen_t sl = sizeof sa;
        int fd = accept4(h->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* the listener stays readable: stop watching it until the next tick,
                 * or the loop would spin */
                char eb[64];
                AGX_WARN("httpd: accept: %s; pausing accepts", strerror_r(errno, eb, sizeof eb));
                if (!h->accept_paused && h->lwsi) {
                    h->accept_paused = true;
                    lws_rx_flow_control(h->lwsi, 0);
                }
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                char eb[64];
                AGX_WARN("httpd: accept: %s", strerror_r(errno, eb, sizeof eb));
            }
            return;
        }
        if (h->stopping) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_t *c = agx_calloc(1, sizeof(struct agx_ws));
        if (!c) {
            close(fd);
            continue;
        }
        c->sh = h->sh;
        c->h = h;
        c->fd = fd;
        atomic_init(&c->refs, 1);
        atomic_init(&c->closed, false);
        agx_buf_init(&c->pend);
        agx_buf_init(&c->wsin);
        agx_buf_init(&c->msg);
        if (reserve(&c->in, &c->in_cap, 4096) < 0) {
            agx_free(c);
            close(fd);
            continue;
        }
        c->in[0] = '\0';
        if (sa.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, c->peer, sizeof c->peer);
        else if (sa.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, c->peer, sizeof c->peer);
        c->state = ST_IDLE;
        c->deadline = now_ms() + h->cfg.idle_timeout_ms;
        atomic_fetch_add(&h->sh->refs, 1);
        lws_adopt_desc_t ad;
        memset(&ad, 0, sizeof ad);
        ad.vh = h->vh;
        ad.type = LWS_ADOPT_SOCKET;
        ad.fd.sockfd = fd;
        ad.vh_prot_name = "agx-http";
        ad.opaque = c;
        struct lws *wsi = lws_adopt_descriptor_vhost_via_info(&ad);
        if (!wsi) { /* lws closed fd */
            agx_free(c->in);
            agx_free(c);
            shared_unref(h->sh);
            continue;
        }
        c->wsi = wsi;
        conn_link(h, c);
    }
}

static void on_rx(conn_t *c, const char *data, size_t len)
{
    if (!c->wsi || c->lingering)
        return;
    switch (c->state) {
    case ST_CLOSING:
        return; /* discarded */
    case ST_WS:
        if (c->ws_close_sent)
            return; /* only the peer's close is awaited; frames are not read any more */
        if (agx_buf_append(&c->wsin, data, len) < 0) {
            conn_kill(c);
            return;
        }
        ws_process(c);
        return;
    case ST_ACTIVE:
        if (agx_buf_append(&c->pend, data, len) < 0) {
            conn_kill(c);
            return;
        }
        if (c->pend.len > MAX_PEND_BYTES && !c->rx_paused) {
            c->rx_paused = true;
            lws_rx_flow_control(c->wsi, 0);
        }
        return;
    default:
        break;
    }
    if (reserve_in(c, c->in_len + len + 1) < 0) {
        send_error(c, 500, "Out of memory");
        return;
    }
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
    c->in[c->in_len] = '\0';
    process_input(c);
}

/* ---------------------------------------------------------------------------------------
 * timers */

static void sweep(lws_sorted_usec_list_t *sul)
{
    agx_httpd_t *h = lws_container_of(sul, agx_httpd_t, sul);
    int64_t now = now_ms();
    for (conn_t *c = h->conns; c; c = c->next) {
        if (!c->deadline || now < c->deadline)
            continue;
        c->deadline = 0;
        if (c->lingering) {
            conn_kill(c);
            continue;
        }
        switch (c->state) {
        case ST_HEAD:
        case ST_BODY:
            send_error(c, 408, "Request timeout");
            break;
        case ST_IDLE:
        case ST_CLOSING: /* the answer did not move for idle_timeout_ms */
            conn_kill(c);
            break;
        case ST_WS: /* our close frame did not move, or no answer to it */
            if (c->close_after)
                conn_kill(c);
            break;
        default:
            break;
        }
    }
    if (h->cfg.on_tick)
        h->cfg.on_tick(h->cfg.userdata);
    flush_dirty(h);
    if (h->accept_paused && h->lwsi && !h->stopping) {
        h->accept_paused = false;
        lws_rx_flow_control(h->lwsi, 1);
    }
    lws_sul_schedule(h->ctx, 0, &h->sul, sweep, h->tick_ms * LWS_US_PER_MS);
}

/* ---------------------------------------------------------------------------------------
 * the lws protocol callback */

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    (void)user;
    struct lws_context *ctx = lws_get_context(wsi);
    agx_httpd_t *h = lws_context_user(ctx);
    void *op = lws_get_opaque_user_data(wsi);
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (h)
            drain_queue(h);
        break;
    case LWS_CALLBACK_RAW_RX_FILE:
        if (op == &h->marker) {
            accept_all(h);
        } else if (op == &h->efd_marker) {
            eventfd_t v;
            (void)!eventfd_read(lws_get_socket_fd(wsi), &v);
        }
        break;
    case LWS_CALLBACK_RAW_CLOSE_FILE:
        if (op == &h->marker) {
            h->lwsi = NULL;
            h->lfd = -1;
        }
        break;
    case LWS_CALLBACK_RAW_RX:
        if (op && len) {
            on_rx(op, in, len);
            flush_dirty(h);
        }
        break;
    case LWS_CALLBACK_RAW_WRITEABLE:
        if (op)
            conn_flush(op);
        break;
    case LWS_CALLBACK_RAW_CLOSE:
        if (op) {
            lws_set_opaque_user_data(wsi, NULL);
            conn_closed(op);
        }
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protocols[] = {
    {"agx-http", cb_http, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---------------------------------------------------------------------------------------
 * server life */

static int bind_listener(const char *host, int port, int *out_port)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(host, ps, &hints, &res) != 0 || !res)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *out_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
    return fd;
}

agentex_err_t agx_httpd_new(const agx_httpd_config_t *cfg, agx_httpd_t **out)
{
    if (!cfg || !out || !cfg->on_request || cfg->port < 0 || cfg->port > 65535)
        return AGENTEX_EINVAL;
    *out = NULL;
    agx_global_init();
    agentex_err_t err = AGENTEX_ENOMEM;
    agx_httpd_t *h = agx_calloc(1, sizeof *h);
    if (!h)
        return AGENTEX_ENOMEM;
    h->lfd = -1;
    h->efd = -1;
    h->cfg = *cfg;
    h->host = agx_strdup(cfg->host ? cfg->host : "127.0.0.1");
    if (!h->host)
        goto fail;
    h->cfg.host = h->host;
    if (!h->cfg.max_body)
        h->cfg.max_body = 8u << 20;
    if (h->cfg.header_timeout_ms <= 0)
        h->cfg.header_timeout_ms = 10000;
    if (h->cfg.idle_timeout_ms <= 0)
        h->cfg.idle_timeout_ms = 30000;
    long tick = h->cfg.header_timeout_ms < h->cfg.idle_timeout_ms ? h->cfg.header_timeout_ms
                                                                  : h->cfg.idle_timeout_ms;
    tick /= 4;
    h->tick_ms = tick < 10 ? 10 : tick > 1000 ? 1000 : tick;
    atomic_init(&h->stop, false);

    h->sh = agx_calloc(1, sizeof *h->sh);
    if (!h->sh)
        goto fail;
    if (pthread_mutex_init(&h->sh->mu, NULL) != 0) {
        agx_free(h->sh);
        h->sh = NULL;
        goto fail;
    }
    atomic_init(&h->sh->refs, 1);
    atomic_init(&h->sh->svc_valid, false);

    h->lfd = bind_listener(h->host, cfg->port, &h->port);
    if (h->lfd < 0) {
        char eb[64];
        AGX_ERROR("httpd: cannot listen on %s:%d: %s", h->host, cfg->port,
                  strerror_r(errno, eb, sizeof eb));
        err = AGENTEX_EIO;
        goto fail;
    }

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.user = h;
    info.gid = (gid_t)-1;
    info.uid = (uid_t)-1;
    info.options = LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    info.fd_limit_per_thread = 0;
    h->ctx = lws_create_context(&info);
    if (!h->ctx) {
        AGX_ERROR("httpd: lws_create_context failed");
        err = AGENTEX_EINTERNAL;
        goto fail;
    }
    h->vh = lws_get_vhost_by_name(h->ctx, "default");
    if (!h->vh) {
        err = AGENTEX_EINTERNAL;
        goto fail;
    }
    lws_adopt_desc_t ad;
    memset(&ad, 0, sizeof ad);
    ad.vh = h->vh;
    ad.type = LWS_ADOPT_RAW_FILE_DESC;
    ad.fd.filefd = h->lfd;
    ad.vh_prot_name = "agx-http";
    ad.opaque = &h->marker;
    h->lwsi = lws_adopt_descriptor_vhost_via_info(&ad);
    if (!h->lwsi) {
        h->lfd = -1; /* closed by lws */
        err = AGENTEX_EINTERNAL;
        goto fail;
    }
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    int dfd = h->efd >= 0 ? fcntl(h->efd, F_DUPFD_CLOEXEC, 0) : -1;
    if (dfd < 0) {
        err = AGENTEX_EIO;
        goto fail;
    }
    ad.fd.filefd = dfd;
    ad.opaque = &h->efd_marker;
    if (!lws_adopt_descriptor_vhost_via_info(&ad)) {
        err = AGENTEX_EINTERNAL;
        goto fail;
    }
    h->sh->ctx = h->ctx;
    *out = h;
    return AGENTEX_OK;
fail:
    if (h->ctx)
        lws_context_destroy(h->ctx);
    else if (h->lfd >= 0)
        close(h->lfd);
    if (h->efd >= 0)
        close(h->efd);
    if (h->sh)
        shared_unref(h->sh);
    agx_free(h->host);
    agx_free(h);
    return err;
}

int agx_httpd_port(const agx_httpd_t *h) { return h ? h->port : -1; }

static bool any_output(agx_httpd_t *h)
{
    for (conn_t *c = h->conns; c; c = c->next)
        if (c->out_off < c->out_len)
            return true;
    return false;
}

agentex_err_t agx_httpd_run(agx_httpd_t *h)
{
    if (!h)
        return AGENTEX_EINVAL;
    if (h->ran || !h->ctx)
        return AGENTEX_ESTATE;
    h->ran = true;
    shared_t *sh = h->sh;
    pthread_mutex_lock(&sh->mu);
    sh->svc = pthread_self();
    pthread_mutex_unlock(&sh->mu);
    atomic_store_explicit(&sh->svc_valid, true, memory_order_release);
    lws_sul_schedule(h->ctx, 0, &h->sul, sweep, h->tick_ms * LWS_US_PER_MS);

    while (!atomic_load(&h->stop))
        if (lws_service(h->ctx, 0) < 0)
            break;

    /* stop: no new connections, no new items; write what is queued (bounded) */
    h->stopping = true;
    if (h->lwsi) /* closes the listening socket now (we are outside its callback) */
        lws_set_timeout(h->lwsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_SYNC);
    pthread_mutex_lock(&sh->mu);
    sh->stopped = true;
    pthread_mutex_unlock(&sh->mu);
    drain_queue(h);
    int64_t until = now_ms() + STOP_DRAIN_MS;
    while (any_output(h) && now_ms() < until)
        if (lws_service(h->ctx, 0) < 0)
            break;
    lws_sul_cancel(&h->sul);
    pthread_mutex_lock(&sh->mu);
    sh->ctx = NULL;
    pthread_mutex_unlock(&sh->mu);
    lws_context_destroy(h->ctx); /* closes every connection (RAW_CLOSE) */
    h->ctx = NULL;
    drain_queue(h); /* items pushed cannot exist now, but be thorough */
    atomic_store_explicit(&sh->svc_valid, false, memory_order_release);
    return AGENTEX_OK;
}

static void *svc_main(void *arg)
{
    agx_thread_name("agx-httpd");
    agx_httpd_run(arg);
    return NULL;
}

agentex_err_t agx_httpd_start(agx_httpd_t *h)
{
    if (!h)
        return AGENTEX_EINVAL;
    if (h->ran || h->thread_started || !h->ctx)
        return AGENTEX_ESTATE;
    if (pthread_create(&h->thread, NULL, svc_main, h) != 0)
        return AGENTEX_EINTERNAL;
    h->thread_started = true;
    return AGENTEX_OK;
}

void agx_httpd_join(agx_httpd_t *h)
{
    if (!h || !h->thread_started)
        return;
    pthread_join(h->thread, NULL);
    h->thread_started = false;
}

void agx_httpd_stop(agx_httpd_t *h)
{
    if (!h)
        return;
    atomic_store(&h->stop, true);
    /* write(2) on our own eventfd: async-signal-safe, and the fd lives until
     * agx_httpd_free, so this is safe at any time (even after the loop ended) */
    if (h->efd >= 0) {
        eventfd_t one = 1;
        (void)!eventfd_write(h->efd, one);
    }
}

void agx_httpd_free(agx_httpd_t *h)
{
    if (!h)
        return;
    if (h->thread_started) {
        agx_httpd_stop(h);
        agx_httpd_join(h);
    }
    if (h->ctx) { /* never ran */
        shared_t *sh = h->sh;
        pthread_mutex_lock(&sh->mu);
        sh->stopped = true;
        sh->ctx = NULL;
        pthread_mutex_unlock(&sh->mu);
        lws_context_destroy(h->ctx);
        h->ctx = NULL;
    }
    if (h->efd >= 0)
        close(h->efd);
    shared_unref(h->sh);
    agx_free(h->host);
    agx_free(h);
}

/* ---------------------------------------------------------------------------------------
 * request accessors */

const char *agx_http_req_method(const agx_http_req_t *r) { return r ? r->method : NULL; }
const char *agx_http_req_path(const agx_http_req_t *r) { return r ? r->path : NULL; }
const char *agx_http_req_query(const agx_http_req_t *r) { return r ? r->query : NULL; }

static const char *find_pair(const hdr_t *a, size_t n, const char *name, bool ci)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (ci ? strcasecmp(a[i].name, name) == 0 : strcmp(a[i].name, name) == 0)
            return a[i].value;
    return NULL;
}

const char *agx_http_req_query_param(const agx_http_req_t *r, const char *name)
{
    return r ? find_pair(r->params, r->nparam, name, false) : NULL;
}

const char *agx_http_req_header(const agx_http_req_t *r, const char *name)
{
    return r ? find_pair(r->hdrs, r->nhdr, name, true) : NULL;
}

size_t agx_http_req_header_count(const agx_http_req_t *r) { return r ? r->nhdr : 0; }

void agx_http_req_header_at(const agx_http_req_t *r, size_t i, const char **name,
                            const char **value)
{
    const char *n = NULL, *v = NULL;
    if (r && i < r->nhdr) {
        n = r->hdrs[i].name;
        v = r->hdrs[i].value;
    }
    if (name)
        *name = n;
    if (value)
        *value = v;
}

const char *agx_http_req_body(const agx_http_req_t *r, size_t *len)
{
    if (len)
        *len = r ? r->body_len : 0;
    return r ? r->body : NULL;
}

const char *agx_http_req_peer(const agx_http_req_t *r) { return r ? r->peer : NULL; }

bool agx_http_req_closed(const agx_http_req_t *r)
{
    return r ? atomic_load(&((agx_http_req_t *)r)->closed) : true;
}

void agx_http_req_set_close_cb(agx_http_req_t *r, void (*cb)(agx_http_req_t *, void *), void *ud)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->sh->mu);
    r->close_cb = cb;
    r->close_ud = ud;
    pthread_mutex_unlock(&r->sh->mu);
}

void agx_http_req_set_userdata(agx_http_req_t *r, void *ud)
{
    if (r)
        r->userdata = ud;
}

void *agx_http_req_userdata(const agx_http_req_t *r) { return r ? r->userdata : NULL; }

/* ---------------------------------------------------------------------------------------
 * responses */

/* Hands bytes to the connection: directly on the service thread, else through the queue.
 * flags QI_END ends the responder.  Returns 0 or -1 (peer gone / server stopped). */
static int emit(conn_t *c, const char *head, size_t hl, const char *body, size_t bl,
                const char *tail, size_t tl, unsigned flags)
{
    /* a second end of the same responder would drop a reference it does not own */
    if ((flags & QI_END) && !atomic_exchange(&c->resp_live, false)) {
        AGX_WARN("httpd: a request was answered twice; the second answer is ignored");
        return -1;
    }
    if (on_svc_thread(c->sh)) {
        int rc = -1;
        if (c->wsi && !atomic_load(&c->closed)) {
            rc = 0;
            if (c->state == ST_WS && c->ws_close_sent) {
                rc = -1; /* RFC 6455 5.5.1: nothing after our close frame */
            } else if ((hl && out_append(c, head, hl) < 0) ||
                       (bl && out_append(c, body, bl) < 0) || (tl && out_append(c, tail, tl) < 0)) {
                rc = -1;
            }
            if (flags & QI_CLOSE && c->state == ST_WS)
                ws_close_direct(c, 1000);
            if (flags & QI_END) {
                resp_done(c);
                process_input(c);
            }
        }
        if (flags & QI_END)
            conn_unref(c);
        return rc;
    }
    if (atomic_load(&c->closed)) {
        if (flags & QI_END)
            conn_unref(c);
        return -1;
    }
    qitem_t *it = item_new(c, hl + bl + tl, flags);
    if (!it) {
        if (flags & QI_END) {
            /* must still end the responder: retry with an empty end item */
            it = item_new(c, 0, flags);
            if (!it || push_item(c->sh, it) < 0)
                conn_unref(c);
        }
        return -1;
    }
    if (hl)
        memcpy(it->data, head, hl);
    if (bl)
        memcpy(it->data + hl, body, bl);
    if (tl)
        memcpy(it->data + hl + bl, tail, tl);
    if (!(flags & QI_END))
        conn_ref(c); /* the item's own reference */
    if (push_item(c->sh, it) < 0) {
        conn_unref(c);
        return -1;
    }
    return 0;
}

int agx_http_respond(agx_http_req_t *r, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len)
{
    if (!r)
        return -1;
    if (!body)
        len = 0;
    bool nobody = no_body_status(status);
    char stackhead[512];
    size_t hl = fmt_head(NULL, r, status, content_type, extra_headers, nobody ? -1 : (long long)len,
                         r->keep_alive);
    char *head = hl <= sizeof stackhead ? stackhead : agx_malloc(hl);
    if (!head) {
        emit(r, NULL, 0, NULL, 0, NULL, 0, QI_END);
        return -1;
    }
    fmt_head(head, r, status, content_type, extra_headers, nobody ? -1 : (long long)len,
             r->keep_alive);
    if (r->is_head || nobody)
        len = 0;
    int rc = emit(r, head, hl, body, len, NULL, 0, QI_END);
    if (head != stackhead)
        agx_free(head);
    return rc;
}

int agx_http_stream_begin(agx_http_req_t *r, int status, const char *content_type,
                          const char *extra_headers)
{
    if (!r)
        return -1;
    r->stream_nobody = r->is_head || no_body_status(status);
    r->stream_chunked = r->minor >= 1 && !r->stream_nobody;
    if (r->minor == 0)
        r->keep_alive = false; /* no chunked encoding: the end is the close */
    char stackhead[512];
    size_t hl = fmt_head(NULL, r, status, content_type, extra_headers, -1, r->keep_alive);
    char *head = hl <= sizeof stackhead ? stackhead : agx_malloc(hl);
    if (!head)
        return -1;
    fmt_head(head, r, status, content_type, extra_headers, -1, r->keep_alive);
    int rc = emit(r, head, hl, NULL, 0, NULL, 0, 0);
    if (head != stackhead)
        agx_free(head);
    return rc;
}

int agx_http_stream_write(agx_http_req_t *r, const char *data, size_t len)
{
    if (!r)
        return -1;
    if (!data || len == 0)
        return agx_http_req_closed(r) ? -1 : 0;
    if (r->stream_nobody) /* the response has no body (HEAD, 1xx, 204, 304) */
        return agx_http_req_closed(r) ? -1 : 0;
    if (!r->stream_chunked)
        return emit(r, NULL, 0, data, len, NULL, 0, 0);
    char hd[24];
    int hl = snprintf(hd, sizeof hd, "%zx\r\n", len);
    return emit(r, hd, (size_t)hl, data, len, "\r\n", 2, 0);
}

int agx_http_stream_end(agx_http_req_t *r)
{
    if (!r)
        return -1;
    if (r->stream_chunked)
        return emit(r, "0\r\n\r\n", 5, NULL, 0, NULL, 0, QI_END);
    return emit(r, NULL, 0, NULL, 0, NULL, 0, QI_END);
}

/* ---------------------------------------------------------------------------------------
 * websocket handles */

const char *agx_ws_path(const agx_ws_t *ws) { return ws ? ws->c.path : NULL; }

const char *agx_ws_query_param(const agx_ws_t *ws, const char *name)
{
    return ws ? agx_http_req_query_param(&ws->c, name) : NULL;
}

const char *agx_ws_header(const agx_ws_t *ws, const char *name)
{
    return ws ? agx_http_req_header(&ws->c, name) : NULL;
}

int agx_ws_send(agx_ws_t *ws, const char *data, size_t len, bool binary)
{
    if (!ws || (!data && len))
        return -1;
    conn_t *c = &ws->c;
    unsigned char hd[10];
    size_t hl = ws_frame_head(hd, binary ? 2 : 1, len);
    return emit(c, (const char *)hd, hl, data, len, NULL, 0, 0);
}

void agx_ws_close(agx_ws_t *ws)
{
    if (!ws)
        return;
    emit(&ws->c, NULL, 0, NULL, 0, NULL, 0, QI_CLOSE);
}

void agx_ws_ref(agx_ws_t *ws)
{
    if (ws)
        conn_ref(&ws->c);
}

void agx_ws_unref(agx_ws_t *ws)
{
    if (ws)
        conn_unref(&ws->c);
}

void agx_ws_set_userdata(agx_ws_t *ws, void *ud)
{
    if (ws)
        ws->c.ws_userdata = ud;
}

void *agx_ws_userdata(const agx_ws_t *ws) { return ws ? ws->c.ws_userdata : NULL; }
