/*
 * lib/internal.h - helpers shared by every source file of the library (not installed).
 *
 * Internal non-static functions use the agx_ prefix; the version script keeps them
 * local, so they are visible to the test runner (linked against the objects) but not
 * exported from libagentex.so.
 */
#ifndef AGX_INTERNAL_H
#define AGX_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agentex/common.h"

/* One-time library set-up (curl_global_init, lws logging, AGENTEX_LOG_LEVEL).
 * Every _new of a top-level handle calls it; cheap after the first call. */
void agx_global_init(void);

/* Allocation.  Every allocation in lib/ goes through these so that tests can make the
 * nth one fail (agx_alloc_fail_after).  They return NULL on failure. */
void *agx_malloc(size_t n);
void *agx_calloc(size_t n, size_t size);
void *agx_realloc(void *p, size_t n);
char *agx_strdup(const char *s);              /* NULL in -> NULL out */
char *agx_strndup(const char *s, size_t n);
void agx_free(void *p);
/* Testing hook: the nth allocation from now (1 = the next) fails, and every one after it
 * succeeds again; 0 turns failure injection off.  Not thread-safe; tests only. */
void agx_alloc_fail_after(long n);

/* Logging through the user's callback (see agentex_set_log_cb). */
bool agx_log_enabled(agentex_log_level_t level);
void agx_log(agentex_log_level_t level, const char *fmt, ...) AGENTEX_PRINTF(2, 3);
void agx_vlog(agentex_log_level_t level, const char *fmt, va_list ap);
#define AGX_DEBUG(...) agx_log(AGENTEX_LOG_DEBUG, __VA_ARGS__)
#define AGX_INFO(...) agx_log(AGENTEX_LOG_INFO, __VA_ARGS__)
#define AGX_WARN(...) agx_log(AGENTEX_LOG_WARN, __VA_ARGS__)
#define AGX_ERROR(...) agx_log(AGENTEX_LOG_ERROR, __VA_ARGS__)

/* A growable byte buffer, always NUL-terminated.  Functions return 0 or -1 (ENOMEM). */
typedef struct agx_buf {
    char *data;
    size_t len;
    size_t cap;
} agx_buf_t;
void agx_buf_init(agx_buf_t *b);
int agx_buf_append(agx_buf_t *b, const void *data, size_t n);
int agx_buf_puts(agx_buf_t *b, const char *s);
int agx_buf_printf(agx_buf_t *b, const char *fmt, ...) AGENTEX_PRINTF(2, 3);
void agx_buf_reset(agx_buf_t *b);
/* Hands the data to the caller (free with agx_free); the buffer is emptied. */
char *agx_buf_steal(agx_buf_t *b);
void agx_buf_free(agx_buf_t *b);

/* Percent-encodes s for a URL path segment or query value (RFC 3986 unreserved kept).
 * New string (agx_free) or NULL on ENOMEM. */
char *agx_url_escape(const char *s);

/* HTTP syntax (RFC 9110) shared by the server, the client and its response parser. */
/* Is ch a tchar, a character of a token (a header name, a method)? */
bool agx_http_tchar(unsigned char ch);
/* Does the comma-separated list v (n bytes) hold the token tok, case-insensitively?  With
 * last, only its last element counts (the final Transfer-Encoding). */
bool agx_http_list_has(const char *v, size_t n, const char *tok, bool last);

/* Monotonic clock in milliseconds. */
int64_t agx_now_ms(void);
/* Wall clock, microseconds since the epoch. */
int64_t agx_now_us(void);

/* Constant-time string comparison: true when equal. */
bool agx_str_equal_ct(const char *a, const char *b);

/* Names the calling thread (at most 15 characters kept), so `top -H`, gdb and
 * /proc/PID/task/TID/comm tell the library's threads apart.  Best effort. */
void agx_thread_name(const char *name);

#endif
