/*
 * lib/client.c - the Agentex backend REST client (agentex/client.h, client_internal.h).
 *
 * One libcurl easy handle per client, created at the first request and reused, so the
 * connection to the backend is kept alive between calls.  A client belongs to one
 * thread at a time; nothing here locks.
 */
#include <curl/curl.h>
#include <errno.h>
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
#include "internal.h"

#define AGX_ERRMSG_MAX 1024
/* A response body larger than this is refused (AGENTEX_EPROTO). */
#define AGX_MAX_RESPONSE (64u * 1024u * 1024u)
#define AGX_RETRY_AFTER_MAX_S 60

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
    CURL *curl;
    struct curl_slist *slist; /* the request headers, rebuilt when dirty */
    int slist_dirty;
    agx_buf_t resp;
    int resp_overflow; /* the body exceeded AGX_MAX_RESPONSE or could not be stored */
    int resp_nomem;
    char retry_after[32]; /* "Retry-After" of the last response, "" if none */
    int should_retry;     /* x-should-retry: -1 absent, 0 false, 1 true */
    uint64_t rng;
    long http_status;
    char curl_err[CURL_ERROR_SIZE];
    char errmsg[AGX_ERRMSG_MAX];
};

/* ---- small helpers ------------------------------------------------------------------- */

static int is_token_char(unsigned char ch)
{
    /* RFC 9110 tchar */
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
        return 1;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int valid_header_name(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!is_token_char(*p))
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

/* Validates and normalises a base URL: http(s)://host..., no query or fragment,
 * trailing '/' dropped.  NULL on EINVAL (*err set) or ENOMEM. */
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
    size_t n = strlen(url);
    while (n > skip && url[n - 1] == '/')
        n--;
    char *out = agx_strndup(url, n);
    *err = out ? AGENTEX_OK : AGENTEX_ENOMEM;
    return out;
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
    c->slist_dirty = 1;
    c->should_retry = -1;
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
    if (c->curl)
        curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->slist);
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
    c->slist_dirty = 1;
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
    c->slist_dirty = 1;
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
            c->slist_dirty = 1;
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
    c->slist_dirty = 1;
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
    if (c->curl) {
        /* TLS settings belong to the handle: start afresh at the next request */
        curl_easy_cleanup(c->curl);
        c->curl = NULL;
    }
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

/* ---- curl plumbing ------------------------------------------------------------------- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    agentex_client_t *c = ud;
    size_t n = size * nmemb;
    if (c->resp.len + n > AGX_MAX_RESPONSE) {
        c->resp_overflow = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (agx_buf_append(&c->resp, ptr, n) != 0) {
        c->resp_nomem = 1;
        return 0;
    }
    return n;
}

/* Copies a header value (trimmed) into dst. */
static void copy_header_value(char *dst, size_t cap, const char *v, size_t n)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static size_t on_header(char *ptr, size_t size, size_t nitems, void *ud)
{
    agentex_client_t *c = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        /* a new response (after 100 Continue, for instance): forget the previous one's */
        c->retry_after[0] = '\0';
        c->should_retry = -1;
        return n;
    }
    static const char ra[] = "retry-after:";
    static const char sr[] = "x-should-retry:";
    if (n > sizeof(ra) - 1 && strncasecmp(ptr, ra, sizeof(ra) - 1) == 0) {
        copy_header_value(c->retry_after, sizeof(c->retry_after), ptr + sizeof(ra) - 1,
                          n - (sizeof(ra) - 1));
    } else if (n > sizeof(sr) - 1 && strncasecmp(ptr, sr, sizeof(sr) - 1) == 0) {
        char v[16];
        copy_header_value(v, sizeof(v), ptr + sizeof(sr) - 1, n - (sizeof(sr) - 1));
        if (strcasecmp(v, "true") == 0)
            c->should_retry = 1;
        else if (strcasecmp(v, "false") == 0)
            c->should_retry = 0;
    }
    return n;
}

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

static int append_header(struct curl_slist **l, const char *name, const char *value)
{
    agx_buf_t b;
    agx_buf_init(&b);
    int rc = *value ? agx_buf_printf(&b, "%s: %s", name, value)
                    : agx_buf_printf(&b, "%s;", name); /* curl's syntax for an empty value */
    if (rc == 0) {
        struct curl_slist *n = curl_slist_append(*l, b.data);
        if (n)
            *l = n;
        else
            rc = -1;
    }
    agx_buf_free(&b);
    return rc;
}

static int has_custom(const agentex_client_t *c, const char *name)
{
    for (const hdr_t *h = c->headers; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return 1;
    return 0;
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
    return append_header((struct curl_slist **)ud, name, value);
}

/* Builds the header list; custom headers override the built-in ones of the same name. */
static agentex_err_t build_headers(agentex_client_t *c)
{
    if (!c->slist_dirty && c->slist)
        return AGENTEX_OK;
    struct curl_slist *l = NULL;
    int rc = 0;
    if (!has_custom(c, "Accept"))
        rc |= append_header(&l, "Accept", "application/json");
    if (!has_custom(c, "Content-Type"))
        rc |= append_header(&l, "Content-Type", "application/json");
    if (!rc && !has_custom(c, "Expect")) {
        /* "Expect:" with nothing after the colon tells curl not to send 100-continue */
        struct curl_slist *n = curl_slist_append(l, "Expect:");
        if (n)
            l = n;
        else
            rc = -1;
    }
    if (!rc)
        rc = agx_client_foreach_header(c, append_header_cb, &l);
    if (rc != 0) {
        curl_slist_free_all(l);
        return AGENTEX_ENOMEM;
    }
    curl_slist_free_all(c->slist);
    c->slist = l;
    c->slist_dirty = 0;
    return AGENTEX_OK;
}

/* Creates the easy handle and sets the options that never change. */
static agentex_err_t ensure_curl(agentex_client_t *c)
{
    if (c->curl)
        return AGENTEX_OK;
    CURL *h = curl_easy_init();
    if (!h)
        return AGENTEX_ENOMEM;
    CURLcode rc = CURLE_OK;
#define SETOPT(opt, val)                                                                           \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(h, opt, val);                                                    \
    } while (0)
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_USERAGENT, "libagentex/" AGENTEX_VERSION_STRING);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, c);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, c);
    SETOPT(CURLOPT_ERRORBUFFER, c->curl_err);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_TCP_NODELAY, 1L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
    if (c->ca_bundle) /* else curl's built-in default */
        SETOPT(CURLOPT_CAINFO, c->ca_bundle);
    if (rc == CURLE_OK && agx_log_enabled(AGENTEX_LOG_DEBUG)) {
        SETOPT(CURLOPT_DEBUGFUNCTION, on_debug);
        SETOPT(CURLOPT_VERBOSE, 1L);
    }
#undef SETOPT
    if (rc != CURLE_OK) {
        AGX_ERROR("curl_easy_setopt: %s", curl_easy_strerror(rc));
        curl_easy_cleanup(h);
        return rc == CURLE_OUT_OF_MEMORY ? AGENTEX_ENOMEM : AGENTEX_EINTERNAL;
    }
    c->curl = h;
    return AGENTEX_OK;
}

/* base_url + path + "?" + escaped query pairs. */
static agentex_err_t build_url(const agentex_client_t *c, const char *path,
                               const char *const *query, agx_buf_t *url)
{
    if (agx_buf_puts(url, c->base_url) != 0 || agx_buf_puts(url, path) != 0)
        return AGENTEX_ENOMEM;
    char sep = '?';
    for (size_t i = 0; query && query[i]; i += 2) {
        const char *value = query[i + 1];
        if (!value)
            continue;
        char *en = agx_url_escape(query[i]);
        char *ev = agx_url_escape(value);
        int rc = (en && ev) ? agx_buf_printf(url, "%c%s=%s", sep, en, ev) : -1;
        agx_free(en);
        agx_free(ev);
        if (rc != 0)
            return AGENTEX_ENOMEM;
        sep = '&';
    }
    return AGENTEX_OK;
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

static agentex_err_t map_curl_error(CURLcode cc)
{
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return AGENTEX_ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return AGENTEX_ENOMEM;
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_UNSUPPORTED_PROTOCOL: /* also: an HTTP/0.9 (garbage) answer */
        return AGENTEX_EPROTO;
    case CURLE_URL_MALFORMAT:
        return AGENTEX_EINVAL;
    default:
        return AGENTEX_ECONNECT;
    }
}

/* Did the request certainly not reach the backend? (POST may be retried then.) */
static int never_sent(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY;
}

static attempt_t perform_once(agentex_client_t *c, const char *method, const char *path,
                              cJSON **out)
{
    attempt_t a = {AGENTEX_OK, 0};
    agx_buf_reset(&c->resp);
    c->resp_overflow = c->resp_nomem = 0;
    c->retry_after[0] = '\0';
    c->should_retry = -1;
    c->curl_err[0] = '\0';
    c->http_status = 0;

    CURLcode cc = curl_easy_perform(c->curl);
    long status = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    c->http_status = status;

    if (cc != CURLE_OK) {
        if (cc == CURLE_WRITE_ERROR && c->resp_nomem) {
            a.err = AGENTEX_ENOMEM;
            set_errmsg(c, "%s %s: out of memory", method, path);
        } else if (cc == CURLE_WRITE_ERROR && c->resp_overflow) {
            a.err = AGENTEX_EPROTO;
            set_errmsg(c, "%s %s: HTTP %ld: response larger than %u bytes", method, path, status,
                       AGX_MAX_RESPONSE);
        } else {
            a.err = map_curl_error(cc);
            const char *why = c->curl_err[0] ? c->curl_err : curl_easy_strerror(cc);
            if (cc == CURLE_PARTIAL_FILE)
                set_errmsg(c, "%s %s: HTTP %ld: response truncated: %s", method, path, status, why);
            else
                set_errmsg(c, "%s %s: %s", method, path, why);
            if (is_idempotent(method))
                a.retryable = a.err == AGENTEX_ECONNECT || a.err == AGENTEX_ETIMEDOUT;
            else
                a.retryable = never_sent(cc);
        }
        return a;
    }

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
    char why[512];
    describe_error_body(c, why, sizeof(why));
    if (why[0])
        set_errmsg(c, "%s %s: HTTP %ld: %s", method, path, status, why);
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
    agx_buf_t url;
    agx_buf_init(&url);

    if ((err = ensure_curl(c)) != AGENTEX_OK || (err = build_headers(c)) != AGENTEX_OK ||
        (err = build_url(c, path, query, &url)) != AGENTEX_OK) {
        agx_client_fail(c, err, "%s %s: %s", method, path, agentex_strerror(err));
        goto out;
    }
    if (body) {
        text = cJSON_PrintUnformatted(body);
        if (!text) {
            err = agx_client_fail(c, AGENTEX_ENOMEM, "%s %s: out of memory", method, path);
            goto out;
        }
    }

    CURL *h = c->curl;
    CURLcode rc = curl_easy_setopt(h, CURLOPT_URL, url.data);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->slist);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->total_ms);
    if (rc == CURLE_OK) {
        if (text || is_post) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(text ? strlen(text) : 0));
            rc = curl_easy_setopt(h, CURLOPT_POSTFIELDS, text ? text : "");
        } else {
            rc = curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        }
    }
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, (is_get || is_post) ? NULL : method);
    if (rc != CURLE_OK) {
        err = agx_client_fail(c, rc == CURLE_OUT_OF_MEMORY ? AGENTEX_ENOMEM : AGENTEX_EINTERNAL,
                              "%s %s: %s", method, path, curl_easy_strerror(rc));
        goto out;
    }

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

out:
    if (c->curl) {
        /* drop the pointer to text before freeing it */
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
    }
    cJSON_free(text);
    agx_buf_free(&url);
    if (c->resp.cap > 64 * 1024)
        agx_buf_free(&c->resp); /* do not keep a large body around */
    return err;
}
