/*
 * lib/common.c - error strings, version, logging, allocation, buffers, small utilities.
 */
#include <curl/curl.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <time.h>

#include "agentex/common.h"
#include "agentex/version.h"
#include "internal.h"

/* ---- errors ---- */

#define AGX_ERRORS(X)                                                                          \
    X(AGENTEX_OK, "success")                                                                   \
    X(AGENTEX_EINVAL, "invalid argument")                                                      \
    X(AGENTEX_ENOMEM, "out of memory")                                                         \
    X(AGENTEX_ESTATE, "operation not allowed in the current state")                            \
    X(AGENTEX_ETIMEDOUT, "operation timed out")                                                \
    X(AGENTEX_ECANCELED, "operation canceled")                                                 \
    X(AGENTEX_ECONNECT, "could not connect to the backend")                                    \
    X(AGENTEX_EAUTH, "authentication refused (HTTP 401/403)")                                  \
    X(AGENTEX_ENOTFOUND, "not found (HTTP 404)")                                               \
    X(AGENTEX_EHTTP, "HTTP error status")                                                      \
    X(AGENTEX_EPROTO, "protocol error: malformed or unexpected response")                      \
    X(AGENTEX_EIO, "local I/O error")                                                          \
    X(AGENTEX_EINTERNAL, "internal error")                                                     \
    X(AGENTEX_ERPC, "the peer answered with a JSON-RPC error")

const char *agentex_strerror(agentex_err_t err)
{
    switch (err) {
#define X(code, text)                                                                          \
    case code:                                                                                 \
        return text;
        AGX_ERRORS(X)
#undef X
    default:
        return "unknown error";
    }
}

const char *agentex_err_name(agentex_err_t err)
{
    switch (err) {
#define X(code, text)                                                                          \
    case code:                                                                                 \
        return #code;
        AGX_ERRORS(X)
#undef X
    default:
        return "AGENTEX_UNKNOWN";
    }
}

unsigned agentex_version(void) { return AGENTEX_VERSION_NUM; }
const char *agentex_version_string(void) { return AGENTEX_VERSION_STRING; }

/* ---- allocation (with a failure-injection hook for the tests) ---- */

static _Atomic long alloc_fail_countdown; /* 0 = off */

void agx_alloc_fail_after(long n) { atomic_store(&alloc_fail_countdown, n); }

static bool alloc_should_fail(void)
{
    if (atomic_load_explicit(&alloc_fail_countdown, memory_order_relaxed) <= 0)
        return false;
    return atomic_fetch_sub(&alloc_fail_countdown, 1) == 1;
}

void *agx_malloc(size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *agx_calloc(size_t n, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *agx_realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

char *agx_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    n = strnlen(s, n); /* like strndup: never read past a shorter string */
    char *d = agx_malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *agx_strdup(const char *s) { return s ? agx_strndup(s, strlen(s)) : NULL; }

void agx_free(void *p) { free(p); }

void agentex_free(void *ptr) { free(ptr); }

/* ---- logging ---- */

static _Atomic int log_min_level = AGENTEX_LOG_OFF;
static agentex_log_cb log_cb;
static void *log_ud;
static pthread_once_t log_env_once = PTHREAD_ONCE_INIT;
static int log_env_level = -1;

static void read_log_env(void)
{
    const char *v = getenv("AGENTEX_LOG_LEVEL");
    agentex_log_level_t l;
    if (v && *v && agentex_log_level_parse(v, &l) == AGENTEX_OK)
        log_env_level = (int)l;
}

agentex_err_t agentex_log_level_parse(const char *name, agentex_log_level_t *out)
{
    static const struct {
        const char *name;
        agentex_log_level_t level;
    } names[] = {{"debug", AGENTEX_LOG_DEBUG}, {"info", AGENTEX_LOG_INFO},
                 {"warn", AGENTEX_LOG_WARN},   {"warning", AGENTEX_LOG_WARN},
                 {"error", AGENTEX_LOG_ERROR}, {"off", AGENTEX_LOG_OFF}};
    if (!name || !out)
        return AGENTEX_EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].level;
            return AGENTEX_OK;
        }
    }
    return AGENTEX_EINVAL;
}

void agentex_set_log_cb(agentex_log_level_t min_level, agentex_log_cb cb, void *userdata)
{
    pthread_once(&log_env_once, read_log_env);
    log_cb = cb;
    log_ud = userdata;
    int lvl = log_env_level >= 0 ? log_env_level : (int)min_level;
    if (!cb)
        lvl = AGENTEX_LOG_OFF;
    atomic_store(&log_min_level, lvl);
}

void agentex_log_stderr(agentex_log_level_t level, const char *msg, void *userdata)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    (void)userdata;
    fprintf(stderr, "agentex %s: %s\n", (unsigned)level < 5 ? names[level] : "?", msg);
}

bool agx_log_enabled(agentex_log_level_t level)
{
    return log_cb && (int)level >= atomic_load(&log_min_level) && level < AGENTEX_LOG_OFF;
}

void agx_vlog(agentex_log_level_t level, const char *fmt, va_list ap)
{
    if (!agx_log_enabled(level))
        return;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    log_cb(level, line, log_ud);
}

void agx_log(agentex_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    agx_vlog(level, fmt, ap);
    va_end(ap);
}

/* libwebsockets' own log lines go to our callback (errors and warnings only). */
static void lws_log_bridge(int level, const char *line)
{
    agentex_log_level_t l = (level & LLL_ERR) ? AGENTEX_LOG_ERROR : AGENTEX_LOG_DEBUG;
    if (level & LLL_WARN)
        l = AGENTEX_LOG_WARN;
    agx_log(l, "lws: %s", line);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
    pthread_once(&log_env_once, read_log_env);
    curl_global_init(CURL_GLOBAL_ALL);
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_bridge);
}

void agx_global_init(void) { pthread_once(&global_once, global_init_once); }

/* ---- buffers ---- */

void agx_buf_init(agx_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

static int buf_reserve(agx_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX - 1 - b->len)
        return -1; /* b->len + extra + 1 would wrap */
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > SIZE_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *d = agx_realloc(b->data, cap);
    if (!d)
        return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

int agx_buf_append(agx_buf_t *b, const void *data, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int agx_buf_puts(agx_buf_t *b, const char *s) { return agx_buf_append(b, s, strlen(s)); }

int agx_buf_printf(agx_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void agx_buf_reset(agx_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *agx_buf_steal(agx_buf_t *b)
{
    char *d = b->data;
    if (!d)
        d = agx_strdup("");
    agx_buf_init(b);
    return d;
}

void agx_buf_free(agx_buf_t *b)
{
    agx_free(b->data);
    agx_buf_init(b);
}

/* ---- misc ---- */

bool agx_http_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
        return true;
    return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

bool agx_http_list_has(const char *v, size_t n, const char *tok, bool last)
{
    size_t tl = strlen(tok);
    bool found = false;
    for (size_t i = 0; i <= n;) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        bool match = b - a == tl && strncasecmp(v + a, tok, tl) == 0;
        if (last)
            found = match;
        else if (match)
            return true;
        i = j + 1;
    }
    return found;
}

char *agx_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = agx_malloc(n * 3 + 1), *p = out;
    if (!out)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        /* RFC 3986 unreserved, ASCII only: isalnum() would follow the locale and keep
         * bytes >= 0x80 unescaped in single-byte locales such as ISO-8859-1 */
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    *p = '\0';
    return out;
}

int64_t agx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t agx_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool agx_str_equal_ct(const char *a, const char *b)
{
    if (!a || !b)
        return false;
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = (unsigned char)(la != lb);
    /* compare over the expected length; never read past either string */
    for (size_t i = 0; i < la; i++)
        diff |= (unsigned char)(a[i] ^ (i < lb ? b[i] : 0));
    return diff == 0;
}

void agx_thread_name(const char *name)
{
    (void)prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}
