/*
 * lib/client.c - the Agentex backend REST client (agentex/client.h, client_internal.h).
 *
 * libcurl opens the connection (name resolution, TCP, TLS with its certificate checks, a
 * CONNECT tunnel through a configured proxy: CURLOPT_CONNECT_ONLY) and the client speaks
 * HTTP/1.1 on it itself: it writes each request in one piece with curl_easy_send, waits
 * with one poll() and frames the answer with lib/h1resp.c.  A whole curl_easy_perform per
 * request cost a handler about three times the CPU of the same exchange on a plain
 * socket (five system calls instead of three, and curl's per-transfer set-up); this way
 * costs little more than the socket (bench/run.sh, part "client").  One connection per
 * client, kept alive between calls; a client belongs to one thread at a time; nothing
 * here locks.
 */
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "agentex/client.h"
#include "adk_internal.h"
#include "agentex/version.h"
#include "client_internal.h"
#include "h1resp.h"
#include "internal.h"

#define AGX_ERRMSG_MAX 1024
/* A response body larger than this is refused (AGENTEX_EPROTO). */
#define AGX_MAX_RESPONSE (64u * 1024u * 1024u)
#define AGX_RETRY_AFTER_MAX_S 60
/* A kept connection idle for this long is checked before use (has the server closed it?). */
#define AGX_IDLE_CHECK_MS 250

typedef struct hdr {
    char *name;
    char *value;
    struct hdr *next;
} hdr_t;

struct agentex_client {
    /* configuration (copied by agentex_client_dup) */
    char *base_url;
    char *agent_key;
    char *sdk_key;
    hdr_t *headers; /* in insertion order */
    long connect_ms;
    long total_ms;
    int max_retries;
    long retry_base_ms;
    long retry_max_ms;
    int tls_verify;
    char *ca_bundle;

    /* connection and per-call state */
    CURL *curl;         /* a CONNECT_ONLY handle holding the open connection, or NULL */
    curl_socket_t fd;   /* its socket */
    int used;           /* the connection has carried a complete exchange */
    int64_t idle_since; /* agx_now_ms() at the end of the last exchange */
    agx_buf_t hdrs;     /* the header lines every request carries, rebuilt when dirty */
    int hdrs_dirty;
    agx_buf_t req;        /* the request being sent */
    agx_buf_t resp;       /* the answer's body */
    char retry_after[32]; /* "Retry-After" of the last response, "" if none */
    int should_retry;     /* x-should-retry: -1 absent, 0 false, 1 true */
    uint64_t rng;
    long http_status;
    char errmsg[AGX_ERRMSG_MAX];
};

/* ---- small helpers ------------------------------------------------------------------- */

static int valid_header_name(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!agx_http_tchar(*p))
            return 0;
    return 1;
}

/* A header value: no CR, LF or NUL (other control characters are refused too). */
static int valid_header_value(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

/* Replaces *slot with a copy of s (NULL clears); -1 on ENOMEM (slot untouched). */
static int set_str(char **slot, const char *s)
{
    char *copy = NULL;
    if (s) {
        copy = agx_strdup(s);
        if (!copy)
            return -1;
    }
    agx_free(*slot);
    *slot = copy;
    return 0;
}

static void headers_free(hdr_t *h)
{
    while (h) {
        hdr_t *next = h->next;
        agx_free(h->name);
        agx_free(h->value);
        agx_free(h);
        h = next;
    }
}

static uint64_t rng_next(agentex_client_t *c)
{
    /* xorshift64* */
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void set_errmsg(agentex_client_t *c, const char *fmt, ...) AGENTEX_PRINTF(2, 3);
static void set_errmsg(agentex_client_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
}

/* Validates and normalises a base URL: http(s)://host..., no user information, query or
 * fragment, trailing '/' dropped.  NULL on EINVAL (*err set) or ENOMEM. */
static char *normalise_base_url(const char *url, agentex_err_t *err)
{
    *err = AGENTEX_EINVAL;
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return NULL;
    const char *host = url + skip;
    if (*host == '\0' || *host == '/' || *host == ':' || *host == '@')
        return NULL;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#' || *p == '\\')
            return NULL;
    const char *slash = strchr(host, '/');
    if (memchr(host, '@', slash ? (size_t)(slash - host) : strlen(host)))
        return NULL; /* credentials in the URL: use agentex_client_set_header */
    size_t n = strlen(url);
    while (n > skip && url[n - 1] == '/')
        n--;
    char *out = agx_strndup(url, n);
    *err = out ? AGENTEX_OK : AGENTEX_ENOMEM;
    return out;
}

/* Closes the connection, if any (the next request opens a new one). */
static void conn_close(agentex_client_t *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
    c->fd = CURL_SOCKET_BAD;
    c->used = 0;
}

static agentex_client_t *client_alloc(void)
{
    agentex_client_t *c = agx_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->connect_ms = 5000;
    c->total_ms = 300000;
    c->max_retries = 2;
    c->retry_base_ms = 500;
    c->retry_max_ms = 8000;
    c->tls_verify = 1;
    c->hdrs_dirty = 1;
    c->should_retry = -1;
    c->fd = CURL_SOCKET_BAD;
    agx_buf_init(&c->hdrs);
    agx_buf_init(&c->req);
    agx_buf_init(&c->resp);
    c->rng = (uint64_t)agx_now_us() ^ ((uint64_t)(uintptr_t)c << 16) ^ 0x9E3779B97F4A7C15ULL;
    if (c->rng == 0)
        c->rng = 1;
    return c;
}

/* ---- lifecycle ----------------------------------------------------------------------- */

agentex_err_t agentex_client_new(const char *base_url, agentex_client_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    agx_global_init();
    agentex_err_t err;
    char *url = normalise_base_url(base_url ? base_url : AGENTEX_DEFAULT_BASE_URL, &err);
    if (!url)
        return err;
    agentex_client_t *c = client_alloc();
    if (!c) {
        agx_free(url);
        return AGENTEX_ENOMEM;
    }
    c->base_url = url;
    *out = c;
    return AGENTEX_OK;
}

void agentex_client_free(agentex_client_t *c)
{
    if (!c)
        return;
    conn_close(c);
    agx_buf_free(&c->hdrs);
    agx_buf_free(&c->req);
    agx_buf_free(&c->resp);
    agx_free(c->base_url);
    agx_free(c->agent_key);
    agx_free(c->sdk_key);
    agx_free(c->ca_bundle);
    headers_free(c->headers);
    agx_free(c);
}

agentex_err_t agentex_client_dup(const agentex_client_t *c, agentex_client_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agentex_err_t err = AGENTEX_ENOMEM;
    agentex_client_t *d = client_alloc();
    if (!d)
        return AGENTEX_ENOMEM;
    d->connect_ms = c->connect_ms;
    d->total_ms = c->total_ms;
    d->max_retries = c->max_retries;
    d->retry_base_ms = c->retry_base_ms;
    d->retry_max_ms = c->retry_max_ms;
    d->tls_verify = c->tls_verify;
    if (set_str(&d->base_url, c->base_url) != 0 || set_str(&d->agent_key, c->agent_key) != 0 ||
        set_str(&d->sdk_key, c->sdk_key) != 0 || set_str(&d->ca_bundle, c->ca_bundle) != 0)
        goto out;
    hdr_t **tail = &d->headers;
    for (const hdr_t *h = c->headers; h; h = h->next) {
        hdr_t *n = agx_calloc(1, sizeof(*n));
        if (!n)
            goto out;
        *tail = n;
        tail = &n->next;
        n->name = agx_strdup(h->name);
        n->value = agx_strdup(h->value);
        if (!n->name || !n->value)
            goto out;
    }
    *out = d;
    d = NULL;
    err = AGENTEX_OK;
out:
    agentex_client_free(d);
    return err;
}

/* ---- configuration ------------------------------------------------------------------- */

agentex_err_t agentex_client_set_agent_api_key(agentex_client_t *c, const char *key)
{
    if (!c)
        return AGENTEX_EINVAL;
    if (key && !valid_header_value(key))
        return AGENTEX_EINVAL;
    if (set_str(&c->agent_key, key) != 0)
        return AGENTEX_ENOMEM;
    c->hdrs_dirty = 1;
    return AGENTEX_OK;
}

agentex_err_t agentex_client_set_sdk_api_key(agentex_client_t *c, const char *key)
{
    if (!c)
        return AGENTEX_EINVAL;
    if (key && !valid_header_value(key))
        return AGENTEX_EINVAL;
    if (set_str(&c->sdk_key, key) != 0)
        return AGENTEX_ENOMEM;
    c->hdrs_dirty = 1;
    return AGENTEX_OK;
}

agentex_err_t agentex_client_set_header(agentex_client_t *c, const char *name, const char *value)
{
    if (!c || !valid_header_name(name))
        return AGENTEX_EINVAL;
    if (value && !valid_header_value(value))
        return AGENTEX_EINVAL;
    hdr_t **pp = &c->headers;
    for (; *pp; pp = &(*pp)->next)
        if (strcasecmp((*pp)->name, name) == 0)
            break;
    if (!value) {
        if (*pp) {
            hdr_t *victim = *pp;
            *pp = victim->next;
            victim->next = NULL;
            headers_free(victim);
            c->hdrs_dirty = 1;
        }
        return AGENTEX_OK;
    }
    if (*pp) {
        /* replace: keep the position, take the new spelling of the name */
        char *nn = agx_strdup(name);
        char *nv = agx_strdup(value);
        if (!nn || !nv) {
            agx_free(nn);
            agx_free(nv);
            return AGENTEX_ENOMEM;
        }
        agx_free((*pp)->name);
        agx_free((*pp)->value);
        (*pp)->name = nn;
        (*pp)->value = nv;
    } else {
        hdr_t *h = agx_calloc(1, sizeof(*h));
        if (!h)
            return AGENTEX_ENOMEM;
        h->name = agx_strdup(name);
        h->value = agx_strdup(value);
        if (!h->name || !h->value) {
            headers_free(h);
            return AGENTEX_ENOMEM;
        }
        *pp = h;
    }
    c->hdrs_dirty = 1;
    return AGENTEX_OK;
}

agentex_err_t agentex_client_set_timeouts(agentex_client_t *c, long connect_ms, long total_ms)
{
    if (!c || connect_ms < 0 || total_ms < 0)
        return AGENTEX_EINVAL;
    if (connect_ms > 0)
        c->connect_ms = connect_ms;
    if (total_ms > 0)
        c->total_ms = total_ms;
    return AGENTEX_OK;
}

agentex_err_t agentex_client_set_retries(agentex_client_t *c, int max_retries, long base_ms,
                                         long max_ms)
{
    if (!c || max_retries < 0 || base_ms < 0 || max_ms < 0)
        return AGENTEX_EINVAL;
    c->max_retries = max_retries;
    c->retry_base_ms = base_ms;
    c->retry_max_ms = max_ms;
    return AGENTEX_OK;
}

agentex_err_t agentex_client_set_tls(agentex_client_t *c, int verify, const char *ca_bundle)
{
    if (!c)
        return AGENTEX_EINVAL;
    if (ca_bundle && *ca_bundle == '\0')
        return AGENTEX_EINVAL;
    if (set_str(&c->ca_bundle, ca_bundle) != 0)
        return AGENTEX_ENOMEM;
    c->tls_verify = verify ? 1 : 0;
    conn_close(c); /* TLS settings belong to the connection: a new one at the next request */
    return AGENTEX_OK;
}

const char *agentex_client_base_url(const agentex_client_t *c) { return c ? c->base_url : ""; }

const char *agentex_client_errmsg(const agentex_client_t *c) { return c ? c->errmsg : ""; }

long agentex_client_http_status(const agentex_client_t *c) { return c ? c->http_status : 0; }

/* ---- from the environment ------------------------------------------------------------ */

/* Parses AGENTEX_CUSTOM_HEADERS: newline-separated "Name: value" lines; blank lines are
 * skipped, a line without ':' or with an invalid name is AGENTEX_EINVAL. */
static agentex_err_t apply_custom_headers(agentex_client_t *c, const char *text)
{
    agentex_err_t err = AGENTEX_OK;
    char *copy = agx_strdup(text);
    if (!copy)
        return AGENTEX_ENOMEM;
    char *line = copy;
    while (line && err == AGENTEX_OK) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s != '\0') {
            char *colon = strchr(s, ':');
            if (!colon) {
                AGX_WARN("AGENTEX_CUSTOM_HEADERS: a line has no ':'");
                err = AGENTEX_EINVAL;
                break;
            }
            char *name_end = colon;
            while (name_end > s && (name_end[-1] == ' ' || name_end[-1] == '\t'))
                name_end--;
            *name_end = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vl = strlen(v);
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                v[--vl] = '\0';
            err = agentex_client_set_header(c, s, v);
            if (err == AGENTEX_EINVAL)
                AGX_WARN("AGENTEX_CUSTOM_HEADERS: invalid header \"%s\"", s);
        }
        line = nl ? nl + 1 : NULL;
    }
    agx_free(copy);
    return err;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

agentex_err_t agentex_client_from_env(agentex_client_t **out)
{
    if (!out)
        return AGENTEX_EINVAL;
    *out = NULL;
    const char *base = getenv("AGENTEX_BASE_URL");
    if (base && *base == '\0')
        return AGENTEX_EINVAL;
    agentex_client_t *c = NULL;
    agentex_err_t err = agentex_client_new(base, &c);
    if (err != AGENTEX_OK)
        return err;
    const char *v;
    if ((v = env_nonempty("AGENT_API_KEY")) && (err = agentex_client_set_agent_api_key(c, v)))
        goto out;
    if ((v = env_nonempty("AGENTEX_SDK_API_KEY")) && (err = agentex_client_set_sdk_api_key(c, v)))
        goto out;
    if ((v = env_nonempty("AGENTEX_CUSTOM_HEADERS")) && (err = apply_custom_headers(c, v)))
        goto out;
    *out = c;
    c = NULL;
out:
    agentex_client_free(c);
    return err;
}

/* ---- errors -------------------------------------------------------------------------- */

void agx_client_clear_error(agentex_client_t *c)
{
    if (!c)
        return;
    c->errmsg[0] = '\0';
    c->http_status = 0;
}

agentex_err_t agx_client_fail(agentex_client_t *c, agentex_err_t err, const char *fmt, ...)
{
    if (!c)
        return err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    c->http_status = 0;
    return err;
}

agentex_err_t agx_client_fail_answer(agentex_client_t *c, agentex_err_t err, const char *fmt, ...)
{
    if (!c)
        return err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
    va_end(ap);
    return err;
}

/* ---- the connection ------------------------------------------------------------------ */

/* curl's verbose text (never headers or data: they carry the keys) into our log. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    (void)h;
    (void)ud;
    if (type != CURLINFO_TEXT)
        return 0;
    while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
        size--;
    int len = size > 512 ? 512 : (int)size;
    agx_log(AGENTEX_LOG_DEBUG, "curl: %.*s", len, data);
    return 0;
}

/* Opens a connection to the base URL within timeout_ms (libcurl: resolve, connect, TLS,
 * proxy tunnel).  On failure *why gets curl's explanation. */
static CURLcode conn_open(agentex_client_t *c, long timeout_ms, char *why, size_t cap)
{
    char err[CURL_ERROR_SIZE] = "";
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(why, cap, "%s", curl_easy_strerror(CURLE_OUT_OF_MEMORY));
        return CURLE_OUT_OF_MEMORY;
    }
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SETOPT(CURLOPT_ERRORBUFFER, err);
    SETOPT(CURLOPT_URL, c->base_url);
    SETOPT(CURLOPT_CONNECT_ONLY, 1L);
    SETOPT(CURLOPT_HTTPPROXYTUNNEL, 1L); /* with a proxy: CONNECT, then our requests */
    SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1); /* TLS ALPN: http/1.1 only */
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_TCP_NODELAY, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms < timeout_ms ? c->connect_ms : timeout_ms);
    SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
    SETOPT(CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
    if (c->ca_bundle) /* else curl's built-in default */
        SETOPT(CURLOPT_CAINFO, c->ca_bundle);
    if (agx_log_enabled(AGENTEX_LOG_DEBUG)) {
        SETOPT(CURLOPT_DEBUGFUNCTION, on_debug);
        SETOPT(CURLOPT_VERBOSE, 1L);
    }
#undef SETOPT
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        rc = curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd);
    if (rc == CURLE_OK && fd == CURL_SOCKET_BAD)
        rc = CURLE_COULDNT_CONNECT;
    if (rc != CURLE_OK) {
        snprintf(why, cap, "%s", err[0] ? err : curl_easy_strerror(rc));
        curl_easy_cleanup(h);
        return rc;
    }
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL); /* err goes out of scope */
    c->curl = h;
    c->fd = fd;
    c->used = 0;
    return CURLE_OK;
}

/* May the kept connection carry a request?  One that was idle for a while is looked at
 * first: the server may have closed it (its keep-alive timeout).  Readable then means
 * closed or garbage, except for TLS records that carry no data (TLS 1.3 session tickets),
 * which curl_easy_recv consumes and answers with CURLE_AGAIN. */
static int conn_usable(agentex_client_t *c)
{
    if (!c->curl)
        return 0;
    if (agx_now_ms() - c->idle_since < AGX_IDLE_CHECK_MS)
        return 1;
    for (int round = 0; round < 8; round++) { /* a server that keeps talking is not idle */
        struct pollfd pf = {.fd = c->fd, .events = POLLIN};
        int r = poll(&pf, 1, 0);
        if (r == 0)
            return 1;
        if (r < 0)
            return errno == EINTR ? 1 : 0;
        char b[512];
        size_t n = 0;
        CURLcode cc = curl_easy_recv(c->curl, b, sizeof(b), &n);
        if (cc != CURLE_AGAIN)
            return 0;
    }
    return 0;
}

/* Waits until fd is ready for events, or deadline (agx_now_ms) passes: 0, or -1 timed out. */
static int wait_fd(curl_socket_t fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - agx_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pf = {.fd = fd, .events = events};
        int r = poll(&pf, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 0; /* ready, or an error the next send/recv reports */
        if (r < 0 && errno != EINTR)
            return 0;
    }
}

/* How one exchange on the connection went. */
typedef enum xfer {
    XFER_DONE,       /* a complete answer (p->status and the body are there) */
    XFER_SEND_ERROR, /* the request could not be written */
    XFER_NO_ANSWER,  /* closed or reset before the first byte of an answer */
    XFER_BROKEN,     /* closed, reset or malformed in the middle of the answer */
    XFER_TIMEOUT
} xfer_t;

/* Writes c->req and reads the answer into p.  why gets the reason of a failure. */
static xfer_t exchange(agentex_client_t *c, agx_h1resp_t *p, int64_t deadline, char *why,
                       size_t cap)
{
    size_t off = 0;
    while (off < c->req.len) {
        size_t n = 0;
        CURLcode cc = curl_easy_send(c->curl, c->req.data + off, c->req.len - off, &n);
        if (cc == CURLE_AGAIN) {
            if (wait_fd(c->fd, POLLOUT, deadline) != 0)
                return XFER_TIMEOUT;
            continue;
        }
        if (cc != CURLE_OK) {
            snprintf(why, cap, "sending the request: %s", curl_easy_strerror(cc));
            return XFER_SEND_ERROR;
        }
        off += n;
    }
    char buf[16384];
    int wait = 1; /* an answer takes a round trip: wait before the first read */
    for (;;) {
        if (wait && wait_fd(c->fd, POLLIN, deadline) != 0)
            return XFER_TIMEOUT;
        size_t n = 0;
        CURLcode cc = curl_easy_recv(c->curl, buf, sizeof(buf), &n);
        if (cc == CURLE_AGAIN) {
            wait = 1;
            continue;
        }
        wait = 0; /* TLS may hold more than the socket shows: read until CURLE_AGAIN */
        int rc;
        if (cc != CURLE_OK || n == 0) {
            if (cc != CURLE_OK) {
                snprintf(why, cap, "receiving the answer: %s", curl_easy_strerror(cc));
                return p->received ? XFER_BROKEN : XFER_NO_ANSWER;
            }
            rc = agx_h1resp_eof(p);
            if (rc == AGX_H1_DONE)
                return XFER_DONE;
            if (p->received == 0) {
                snprintf(why, cap, "the server closed the connection without an answer");
                return XFER_NO_ANSWER;
            }
            snprintf(why, cap, "%s", p->why);
            return XFER_BROKEN;
        }
        size_t used = 0;
        rc = agx_h1resp_feed(p, buf, n, &used);
        if (rc == AGX_H1_DONE) {
            if (used < n)
                p->keep_alive = 0; /* bytes beyond the answer: do not trust the connection */
            return XFER_DONE;
        }
        if (rc == AGX_H1_ERROR) {
            snprintf(why, cap, "%s", p->why);
            return XFER_BROKEN;
        }
    }
}

static int append_header(agx_buf_t *b, const char *name, const char *value)
{
    return agx_buf_printf(b, *value ? "%s: %s\r\n" : "%s:%s\r\n", name, value);
}

/* The value of the custom header name (agentex_client_set_header), NULL if none. */
static const char *custom_value(const agentex_client_t *c, const char *name)
{
    for (const hdr_t *h = c->headers; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

static int has_custom(const agentex_client_t *c, const char *name)
{
    return custom_value(c, name) != NULL;
}

int agx_client_foreach_header(const agentex_client_t *c,
                              int (*fn)(const char *name, const char *value, void *ud), void *ud)
{
    int rc = 0;
    if (c->agent_key && !has_custom(c, "x-agent-api-key"))
        rc = fn("x-agent-api-key", c->agent_key, ud);
    if (!rc && c->sdk_key && !has_custom(c, "Authorization")) {
        agx_buf_t b;
        agx_buf_init(&b);
        rc = agx_buf_printf(&b, "Bearer %s", c->sdk_key);
        if (!rc)
            rc = fn("Authorization", b.data, ud);
        agx_buf_free(&b);
    }
    for (const hdr_t *h = c->headers; h && !rc; h = h->next)
        rc = fn(h->name, h->value, ud);
    return rc;
}

static int append_header_cb(const char *name, const char *value, void *ud)
{
    /* the client frames every request itself: a custom framing header would contradict it */
    if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Transfer-Encoding") == 0 ||
        strcasecmp(name, "Host") == 0)
        return 0;
    return append_header((agx_buf_t *)ud, name, value);
}

/* Builds the header lines every request carries (after the request line and Host):
 * custom headers override the built-in ones of the same name. */
static agentex_err_t build_headers(agentex_client_t *c)
{
    if (!c->hdrs_dirty)
        return AGENTEX_OK;
    agx_buf_t *b = &c->hdrs;
    agx_buf_reset(b);
    int rc = 0;
    if (!has_custom(c, "User-Agent"))
        rc |= append_header(b, "User-Agent", "libagentex/" AGENTEX_VERSION_STRING);
    if (!has_custom(c, "Accept"))
        rc |= append_header(b, "Accept", "application/json");
    if (!has_custom(c, "Content-Type"))
        rc |= append_header(b, "Content-Type", "application/json");
    if (!rc)
        rc = agx_client_foreach_header(c, append_header_cb, b);
    if (rc != 0)
        return AGENTEX_ENOMEM;
    c->hdrs_dirty = 0;
    return AGENTEX_OK;
}

/* Writes the whole request into c->req: the request line (the base URL's path, then path
 * and the escaped query pairs), Host, the client's header lines, Content-Length when
 * with_length, the body. */
static agentex_err_t build_request(agentex_client_t *c, const char *method, const char *path,
                                   const char *const *query, const char *body, int with_length)
{
    const char *authority = strstr(c->base_url, "://") + 3; /* normalise_base_url checked */
    const char *prefix = strchr(authority, '/');
    int alen = prefix ? (int)(prefix - authority) : (int)strlen(authority);
    const char *host = custom_value(c, "Host");
    agx_buf_t *b = &c->req;
    agx_buf_reset(b);
    /* appends, not printf: this runs once per request on a handler's path */
    if (agx_buf_puts(b, method) != 0 || agx_buf_append(b, " ", 1) != 0 ||
        agx_buf_puts(b, prefix ? prefix : "") != 0 || agx_buf_puts(b, path) != 0)
        return AGENTEX_ENOMEM;
    char sep = '?';
    for (size_t i = 0; query && query[i]; i += 2) {
        const char *value = query[i + 1];
        if (!value)
            continue;
        char *en = agx_url_escape(query[i]);
        char *ev = agx_url_escape(value);
        int rc = (en && ev) ? agx_buf_printf(b, "%c%s=%s", sep, en, ev) : -1;
        agx_free(en);
        agx_free(ev);
        if (rc != 0)
            return AGENTEX_ENOMEM;
        sep = '&';
    }
    size_t blen = body ? strlen(body) : 0;
    int rc = agx_buf_puts(b, " HTTP/1.1\r\nHost: ");
    if (rc == 0)
        rc = host ? agx_buf_puts(b, host) : agx_buf_append(b, authority, (size_t)alen);
    if (rc == 0)
        rc = agx_buf_append(b, "\r\n", 2);
    if (rc == 0)
        rc = agx_buf_append(b, c->hdrs.data ? c->hdrs.data : "", c->hdrs.len);
    if (rc == 0 && with_length) {
        char num[24];
        size_t i = sizeof(num);
        size_t v = blen;
        do
            num[--i] = (char)('0' + v % 10);
        while ((v /= 10) != 0);
        rc = agx_buf_puts(b, "Content-Length: ");
        if (rc == 0)
            rc = agx_buf_append(b, num + i, sizeof(num) - i);
        if (rc == 0)
            rc = agx_buf_append(b, "\r\n", 2);
    }
    if (rc == 0)
        rc = agx_buf_append(b, "\r\n", 2);
    if (rc == 0 && blen)
        rc = agx_buf_append(b, body, blen);
    return rc == 0 ? AGENTEX_OK : AGENTEX_ENOMEM;
}

/* Parses exactly len bytes of NUL-terminated text as one JSON value; NULL if invalid. */
static cJSON *parse_json(const char *text, size_t len)
{
    if (!text || len == 0 || strlen(text) != len)
        return NULL;
    const char *end = NULL;
    return cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
}

/* Appends the backend's explanation found in an error body: "message", "detail" (a
 * string, or FastAPI's list of {"loc":[...],"msg":...}), or a printable excerpt. */
static void describe_error_body(const agentex_client_t *c, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (!c->resp.data || c->resp.len == 0)
        return;
    cJSON *j = parse_json(c->resp.data, c->resp.len);
    int is_json = j != NULL;
    if (cJSON_IsObject(j)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "detail");
        if (cJSON_IsString(m) && m->valuestring[0]) {
            snprintf(dst, cap, "%s", m->valuestring);
        } else if (cJSON_IsString(d)) {
            snprintf(dst, cap, "%s", d->valuestring);
        } else if (cJSON_IsArray(d)) {
            size_t off = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, d)
            {
                const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "msg");
                const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "loc");
                if (!cJSON_IsString(msg) || off + 1 >= cap)
                    continue;
                int n = snprintf(dst + off, cap - off, "%s", off ? "; " : "");
                if (n > 0)
                    off += (size_t)n < cap - off ? (size_t)n : cap - off - 1;
                const cJSON *part;
                int first = 1;
                cJSON_ArrayForEach(part, loc)
                {
                    if (off + 1 >= cap)
                        break;
                    if (cJSON_IsString(part))
                        n = snprintf(dst + off, cap - off, "%s%s", first ? "" : ".",
                                     part->valuestring);
                    else if (cJSON_IsNumber(part))
                        n = snprintf(dst + off, cap - off, "%s%d", first ? "" : ".",
                                     part->valueint);
                    else
                        continue;
                    first = 0;
                    if (n > 0)
                        off += (size_t)n < cap - off ? (size_t)n : cap - off - 1;
                }
                if (off + 1 < cap) {
                    n = snprintf(dst + off, cap - off, "%s%s", first ? "" : ": ", msg->valuestring);
                    if (n > 0)
                        off += (size_t)n < cap - off ? (size_t)n : cap - off - 1;
                }
            }
        }
    }
    cJSON_Delete(j);
    if (dst[0] == '\0' && !is_json) {
        /* not JSON (a proxy's HTML page, plain text): a printable excerpt */
        size_t n = c->resp.len < 200 ? c->resp.len : 200;
        if (n >= cap)
            n = cap - 1;
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)c->resp.data[i];
            if (ch < 0x20 || ch == 0x7f) {
                if (o > 0 && dst[o - 1] != ' ')
                    dst[o++] = ' ';
            } else {
                dst[o++] = (char)ch;
            }
        }
        while (o > 0 && dst[o - 1] == ' ')
            o--;
        dst[o] = '\0';
    }
}

static int is_idempotent(const char *method) { return strcmp(method, "POST") != 0; }

/* The delay before retry number attempt (0-based), in ms. */
static long retry_delay_ms(agentex_client_t *c, int attempt)
{
    const char *ra = c->retry_after;
    if (ra[0]) {
        char *end = NULL;
        errno = 0;
        double s = strtod(ra, &end);
        if (end != ra && *end == '\0' && errno == 0 && s >= 0 && s <= AGX_RETRY_AFTER_MAX_S)
            return (long)(s * 1000.0);
        if (end == ra) {
            time_t t = curl_getdate(ra, NULL);
            if (t != (time_t)-1) {
                double d = difftime(t, time(NULL));
                if (d >= 0 && d <= AGX_RETRY_AFTER_MAX_S)
                    return (long)(d * 1000.0);
            }
        }
    }
    double b = (double)c->retry_base_ms;
    for (int i = 0; i < attempt && b < (double)c->retry_max_ms; i++)
        b *= 2;
    if (b > (double)c->retry_max_ms)
        b = (double)c->retry_max_ms;
    double r = (double)(rng_next(c) >> 11) / 9007199254740992.0; /* [0, 1) */
    return (long)(b * (1.0 - 0.25 * r));
}

static void sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* The outcome of one attempt. */
typedef struct attempt {
    agentex_err_t err;
    int retryable;
} attempt_t;

/* A failure to open the connection (nothing was sent: any method may be retried). */
static agentex_err_t map_connect_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return AGENTEX_ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return AGENTEX_ENOMEM;
    case CURLE_URL_MALFORMAT:
        return AGENTEX_EINVAL;
    default:
        return AGENTEX_ECONNECT;
    }
}

/* One attempt: opens the connection if needed, sends c->req, reads and judges the answer.
 * A kept connection that fails before the first byte of an answer was most likely closed
 * by the server while idle: the request is then sent once more on a new connection, as
 * libcurl does (for a POST too: the server closed without reading it). */
static attempt_t perform_once(agentex_client_t *c, const char *method, const char *path,
                              cJSON **out)
{
    attempt_t a = {AGENTEX_OK, 0};
    c->retry_after[0] = '\0';
    c->should_retry = -1;
    c->http_status = 0;
    int64_t start = agx_now_ms(), deadline = start + c->total_ms;
    char why[CURL_ERROR_SIZE + 64];
    agx_h1resp_t p;
    agx_h1resp_init(&p, &c->resp, AGX_MAX_RESPONSE);
    xfer_t x;
    for (int fresh_only = 0;; fresh_only = 1) {
        if (!conn_usable(c) || fresh_only) {
            conn_close(c);
            int64_t left = deadline - agx_now_ms(); /* curl reads 0 as "no limit" */
            CURLcode cc = conn_open(c, left > 0 ? (long)left : 1, why, sizeof(why));
            if (cc != CURLE_OK) {
                a.err = map_connect_error(cc);
                a.retryable = a.err == AGENTEX_ECONNECT || a.err == AGENTEX_ETIMEDOUT;
                set_errmsg(c, "%s %s: %s", method, path, why);
                agx_h1resp_free(&p);
                return a;
            }
        }
        int kept = c->used;
        x = exchange(c, &p, deadline, why, sizeof(why));
        if (kept && !fresh_only && (x == XFER_SEND_ERROR || x == XFER_NO_ANSWER)) {
            AGX_DEBUG("%s %s: the kept connection failed (%s): sending again on a new one", method,
                      path, why);
            agx_h1resp_free(&p);
            agx_h1resp_init(&p, &c->resp, AGX_MAX_RESPONSE);
            continue;
        }
        break;
    }
    c->http_status = p.status;
    if (x == XFER_DONE && p.keep_alive) {
        c->used = 1;
        c->idle_since = agx_now_ms();
    } else {
        conn_close(c); /* a failed or unframed exchange leaves the connection unusable */
    }

    if (x != XFER_DONE) {
        if (x == XFER_TIMEOUT) {
            a.err = AGENTEX_ETIMEDOUT;
            set_errmsg(c, "%s %s: timed out after %lld ms", method, path,
                       (long long)(agx_now_ms() - start));
        } else if (p.nomem) {
            a.err = AGENTEX_ENOMEM;
            set_errmsg(c, "%s %s: out of memory", method, path);
        } else if (p.too_big) {
            a.err = AGENTEX_EPROTO;
            set_errmsg(c, "%s %s: HTTP %ld: response larger than %u bytes", method, path,
                       c->http_status, AGX_MAX_RESPONSE);
        } else if (x == XFER_BROKEN && p.status) {
            a.err = AGENTEX_EPROTO;
            set_errmsg(c, "%s %s: HTTP %ld: %s", method, path, c->http_status, why);
        } else {
            /* no status: nothing usable came back (or garbage instead of HTTP) */
            a.err = x == XFER_BROKEN && p.received ? AGENTEX_EPROTO : AGENTEX_ECONNECT;
            set_errmsg(c, "%s %s: %s", method, path, why);
        }
        agx_h1resp_free(&p);
        /* a POST that may have reached the backend is never sent twice */
        if (is_idempotent(method))
            a.retryable = a.err == AGENTEX_ECONNECT || a.err == AGENTEX_ETIMEDOUT;
        return a;
    }
    snprintf(c->retry_after, sizeof(c->retry_after), "%s", p.retry_after);
    c->should_retry = p.should_retry;
    agx_h1resp_free(&p);
    long status = c->http_status;

    if (status >= 200 && status < 300) {
        if (out) {
            cJSON *j = parse_json(c->resp.data, c->resp.len);
            if (!j) {
                a.err = AGENTEX_EPROTO;
                set_errmsg(c, "%s %s: HTTP %ld: %s", method, path, status,
                           c->resp.len ? "response is not valid JSON" : "empty response body");
                return a;
            }
            *out = j;
        }
        c->errmsg[0] = '\0';
        return a;
    }

    if (status == 401 || status == 403)
        a.err = AGENTEX_EAUTH;
    else if (status == 404)
        a.err = AGENTEX_ENOTFOUND;
    else
        a.err = AGENTEX_EHTTP;
    char desc[512];
    describe_error_body(c, desc, sizeof(desc));
    if (desc[0])
        set_errmsg(c, "%s %s: HTTP %ld: %s", method, path, status, desc);
    else
        set_errmsg(c, "%s %s: HTTP %ld", method, path, status);
    if (is_idempotent(method)) {
        if (c->should_retry >= 0)
            a.retryable = c->should_retry;
        else
            a.retryable = status == 408 || status == 409 || status == 429 || status >= 500;
    }
    return a;
}

agentex_err_t agx_client_request(agentex_client_t *c, const char *method, const char *path,
                                 const char *const *query, const cJSON *body, cJSON **out)
{
    if (out)
        *out = NULL;
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!method || !path)
        return agx_client_fail(c, AGENTEX_EINVAL, "request: NULL method or path");
    int is_get = strcmp(method, "GET") == 0, is_post = strcmp(method, "POST") == 0;
    if (!is_get && !is_post && strcmp(method, "PUT") != 0 && strcmp(method, "DELETE") != 0)
        return agx_client_fail(c, AGENTEX_EINVAL, "request: unsupported method");
    if (path[0] != '/')
        return agx_client_fail(c, AGENTEX_EINVAL, "%s: path must start with '/'", method);
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '#')
            return agx_client_fail(c, AGENTEX_EINVAL, "%s: invalid character in path", method);
    if (is_get && body)
        return agx_client_fail(c, AGENTEX_EINVAL, "GET %s: a GET has no body", path);

    agentex_err_t err = AGENTEX_OK;
    char *text = NULL;
    if (body) {
        text = cJSON_PrintUnformatted(body);
        if (!text)
            return agx_client_fail(c, AGENTEX_ENOMEM, "%s %s: out of memory", method, path);
    }
    /* a POST or PUT always says how long its body is; a GET or DELETE when it has one */
    int with_length = text != NULL || is_post || strcmp(method, "PUT") == 0;
    if ((err = build_headers(c)) != AGENTEX_OK ||
        (err = build_request(c, method, path, query, text, with_length)) != AGENTEX_OK) {
        cJSON_free(text);
        return agx_client_fail(c, err, "%s %s: %s", method, path, agentex_strerror(err));
    }
    cJSON_free(text);

    for (int attempt = 0;; attempt++) {
        int64_t t0 = agx_now_ms();
        attempt_t a = perform_once(c, method, path, out);
        err = a.err;
        if (agx_log_enabled(AGENTEX_LOG_DEBUG))
            AGX_DEBUG("%s %s -> %ld (%s, %lld ms)", method, path, c->http_status,
                      agentex_err_name(err), (long long)(agx_now_ms() - t0));
        if (err == AGENTEX_OK || !a.retryable || attempt >= c->max_retries)
            break;
        long delay = retry_delay_ms(c, attempt);
        AGX_INFO("%s; retry %d of %d in %ld ms", c->errmsg, attempt + 1, c->max_retries, delay);
        sleep_ms(delay);
    }
    if (c->resp.cap > 64 * 1024)
        agx_buf_free(&c->resp); /* do not keep a large body around */
    if (c->req.cap > 64 * 1024)
        agx_buf_free(&c->req);
    return err;
}
