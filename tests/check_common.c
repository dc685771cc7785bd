/*
 * tests/check_common.c - lib/common.c: error strings, version, logging, allocation
 * hooks, buffers, URL escaping, constant-time comparison, clocks.
 */
#include <check.h>
#include <libwebsockets.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentex/common.h"
#include "agentex/version.h"
#include "internal.h"

Suite *common_suite(void);

/* ---- errors ---- */

START_TEST(test_err_names_and_strings)
{
    static const struct {
        agentex_err_t code;
        const char *name;
    } names[] = {
        {AGENTEX_OK, "AGENTEX_OK"},
        {AGENTEX_EINVAL, "AGENTEX_EINVAL"},
        {AGENTEX_ENOMEM, "AGENTEX_ENOMEM"},
        {AGENTEX_ESTATE, "AGENTEX_ESTATE"},
        {AGENTEX_ETIMEDOUT, "AGENTEX_ETIMEDOUT"},
        {AGENTEX_ECANCELED, "AGENTEX_ECANCELED"},
        {AGENTEX_ECONNECT, "AGENTEX_ECONNECT"},
        {AGENTEX_EAUTH, "AGENTEX_EAUTH"},
        {AGENTEX_ENOTFOUND, "AGENTEX_ENOTFOUND"},
        {AGENTEX_EHTTP, "AGENTEX_EHTTP"},
        {AGENTEX_EPROTO, "AGENTEX_EPROTO"},
        {AGENTEX_EIO, "AGENTEX_EIO"},
        {AGENTEX_EINTERNAL, "AGENTEX_EINTERNAL"},
        {AGENTEX_ERPC, "AGENTEX_ERPC"},
    };
    /* the table covers every code */
    ck_assert_int_eq(sizeof names / sizeof names[0], AGENTEX_ERR_LAST_);
    for (int i = 0; i < AGENTEX_ERR_LAST_; i++) {
        ck_assert_int_eq(names[i].code, i);
        const char *name = agentex_err_name((agentex_err_t)i);
        const char *text = agentex_strerror((agentex_err_t)i);
        ck_assert_ptr_nonnull(name);
        ck_assert_ptr_nonnull(text);
        ck_assert_str_eq(name, names[i].name);
        ck_assert_str_ne(text, "unknown error");
        ck_assert_uint_gt(strlen(text), 3);
        for (int j = 0; j < i; j++) {
            ck_assert_str_ne(agentex_err_name((agentex_err_t)j), name);
            ck_assert_str_ne(agentex_strerror((agentex_err_t)j), text);
        }
    }
    ck_assert_str_eq(agentex_strerror(AGENTEX_OK), "success");
    ck_assert_str_eq(agentex_strerror(AGENTEX_ENOMEM), "out of memory");
}
END_TEST

START_TEST(test_err_unknown_codes)
{
    static const int unknown[] = {AGENTEX_ERR_LAST_, AGENTEX_ERR_LAST_ + 1, 100, -1, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ck_assert_str_eq(agentex_strerror((agentex_err_t)unknown[i]), "unknown error");
        ck_assert_str_eq(agentex_err_name((agentex_err_t)unknown[i]), "AGENTEX_UNKNOWN");
    }
}
END_TEST

/* ---- version ---- */

START_TEST(test_version)
{
    ck_assert_uint_eq(agentex_version(), AGENTEX_VERSION_NUM);
    ck_assert_str_eq(agentex_version_string(), AGENTEX_VERSION_STRING);
    char buf[32];
    unsigned v = agentex_version();
    snprintf(buf, sizeof buf, "%u.%u.%u", (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
    ck_assert_str_eq(agentex_version_string(), buf);
    snprintf(buf, sizeof buf, "%d.%d.%d", AGENTEX_VERSION_MAJOR, AGENTEX_VERSION_MINOR,
             AGENTEX_VERSION_PATCH);
    ck_assert_str_eq(AGENTEX_VERSION_STRING, buf);
}
END_TEST

/* ---- log levels ---- */

START_TEST(test_log_level_parse)
{
    static const struct {
        const char *name;
        agentex_log_level_t level;
    } good[] = {
        {"debug", AGENTEX_LOG_DEBUG},  {"DEBUG", AGENTEX_LOG_DEBUG}, {"Info", AGENTEX_LOG_INFO},
        {"info", AGENTEX_LOG_INFO},    {"warn", AGENTEX_LOG_WARN},   {"WARN", AGENTEX_LOG_WARN},
        {"warning", AGENTEX_LOG_WARN}, {"error", AGENTEX_LOG_ERROR}, {"eRrOr", AGENTEX_LOG_ERROR},
        {"off", AGENTEX_LOG_OFF},      {"OFF", AGENTEX_LOG_OFF},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        agentex_log_level_t l = (agentex_log_level_t)99;
        ck_assert_int_eq(agentex_log_level_parse(good[i].name, &l), AGENTEX_OK);
        ck_assert_int_eq(l, good[i].level);
    }
    static const char *const bad[] = {"",  "verbose", "debugx", " debug", "debug ",
                                      "0", "3",       "err",    "none"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        agentex_log_level_t l = (agentex_log_level_t)99;
        ck_assert_int_eq(agentex_log_level_parse(bad[i], &l), AGENTEX_EINVAL);
        ck_assert_int_eq(l, 99);
    }
    agentex_log_level_t l;
    ck_assert_int_eq(agentex_log_level_parse(NULL, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_log_level_parse("debug", NULL), AGENTEX_EINVAL);
}
END_TEST

/* ---- log routing ---- */

#define MAX_LINES 16

typedef struct capture {
    int n;
    agentex_log_level_t level[MAX_LINES];
    char msg[MAX_LINES][1100];
    void *userdata[MAX_LINES];
} capture_t;

static void capture_cb(agentex_log_level_t level, const char *msg, void *userdata)
{
    capture_t *c = userdata;
    if (c->n >= MAX_LINES)
        return;
    c->level[c->n] = level;
    snprintf(c->msg[c->n], sizeof c->msg[0], "%s", msg);
    c->userdata[c->n] = userdata;
    c->n++;
}

START_TEST(test_log_default_is_silent)
{
    unsetenv("AGENTEX_LOG_LEVEL");
    for (int l = AGENTEX_LOG_DEBUG; l <= AGENTEX_LOG_OFF; l++)
        ck_assert(!agx_log_enabled((agentex_log_level_t)l));
    AGX_ERROR("nobody listens %d", 1); /* must not crash or print */
}
END_TEST

START_TEST(test_log_routing)
{
    static capture_t cap;
    unsetenv("AGENTEX_LOG_LEVEL");
    agentex_set_log_cb(AGENTEX_LOG_INFO, capture_cb, &cap);
    ck_assert(!agx_log_enabled(AGENTEX_LOG_DEBUG));
    ck_assert(agx_log_enabled(AGENTEX_LOG_INFO));
    ck_assert(agx_log_enabled(AGENTEX_LOG_WARN));
    ck_assert(agx_log_enabled(AGENTEX_LOG_ERROR));
    ck_assert(!agx_log_enabled(AGENTEX_LOG_OFF));

    AGX_DEBUG("hidden %d", 0);
    AGX_INFO("info %d", 1);
    AGX_WARN("warn %s\n", "two");   /* trailing newline dropped */
    AGX_ERROR("error three\r\n\n"); /* all of them */
    agx_log(AGENTEX_LOG_OFF, "off is not a message level");
    ck_assert_int_eq(cap.n, 3);
    ck_assert_int_eq(cap.level[0], AGENTEX_LOG_INFO);
    ck_assert_str_eq(cap.msg[0], "info 1");
    ck_assert_int_eq(cap.level[1], AGENTEX_LOG_WARN);
    ck_assert_str_eq(cap.msg[1], "warn two");
    ck_assert_int_eq(cap.level[2], AGENTEX_LOG_ERROR);
    ck_assert_str_eq(cap.msg[2], "error three");
    ck_assert_ptr_eq(cap.userdata[0], &cap);

    /* a long message is cut, not overflowed */
    char big[3000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    AGX_ERROR("%s", big);
    ck_assert_int_eq(cap.n, 4);
    ck_assert_uint_eq(strlen(cap.msg[3]), 1023);

    /* a new level replaces the old one */
    agentex_set_log_cb(AGENTEX_LOG_DEBUG, capture_cb, &cap);
    AGX_DEBUG("now visible");
    ck_assert_int_eq(cap.n, 5);
    ck_assert_str_eq(cap.msg[4], "now visible");
    agentex_set_log_cb(AGENTEX_LOG_OFF, capture_cb, &cap);
    AGX_ERROR("off");
    ck_assert_int_eq(cap.n, 5);

    /* NULL silences */
    agentex_set_log_cb(AGENTEX_LOG_DEBUG, NULL, &cap);
    ck_assert(!agx_log_enabled(AGENTEX_LOG_ERROR));
    AGX_ERROR("silenced");
    ck_assert_int_eq(cap.n, 5);
}
END_TEST

/* AGENTEX_LOG_LEVEL is read once per process, so these run in Check's forked children. */
static bool forked(void)
{
    const char *f = getenv("CK_FORK");
    return !(f && strcmp(f, "no") == 0);
}

START_TEST(test_log_env_overrides_level)
{
    static capture_t cap;
    if (!forked())
        return;
    setenv("AGENTEX_LOG_LEVEL", "error", 1);
    agentex_set_log_cb(AGENTEX_LOG_DEBUG, capture_cb, &cap);
    ck_assert(!agx_log_enabled(AGENTEX_LOG_WARN));
    AGX_WARN("below the env level");
    AGX_ERROR("at the env level");
    ck_assert_int_eq(cap.n, 1);
    ck_assert_str_eq(cap.msg[0], "at the env level");
    /* it keeps overriding later calls too */
    agentex_set_log_cb(AGENTEX_LOG_DEBUG, capture_cb, &cap);
    AGX_INFO("still below");
    ck_assert_int_eq(cap.n, 1);
    /* but a NULL callback still silences */
    agentex_set_log_cb(AGENTEX_LOG_DEBUG, NULL, NULL);
    ck_assert(!agx_log_enabled(AGENTEX_LOG_ERROR));
}
END_TEST

START_TEST(test_log_env_more_verbose)
{
    static capture_t cap;
    if (!forked())
        return;
    setenv("AGENTEX_LOG_LEVEL", "Debug", 1);
    agentex_set_log_cb(AGENTEX_LOG_ERROR, capture_cb, &cap);
    AGX_DEBUG("debug shown");
    ck_assert_int_eq(cap.n, 1);
    ck_assert_int_eq(cap.level[0], AGENTEX_LOG_DEBUG);
}
END_TEST

START_TEST(test_log_env_off)
{
    static capture_t cap;
    if (!forked())
        return;
    setenv("AGENTEX_LOG_LEVEL", "off", 1);
    agentex_set_log_cb(AGENTEX_LOG_DEBUG, capture_cb, &cap);
    AGX_ERROR("nothing");
    ck_assert_int_eq(cap.n, 0);
}
END_TEST

START_TEST(test_log_env_invalid_is_ignored)
{
    static capture_t cap;
    if (!forked())
        return;
    setenv("AGENTEX_LOG_LEVEL", "loud", 1);
    agentex_set_log_cb(AGENTEX_LOG_WARN, capture_cb, &cap);
    AGX_INFO("hidden");
    AGX_WARN("shown");
    ck_assert_int_eq(cap.n, 1);
    ck_assert_str_eq(cap.msg[0], "shown");
}
END_TEST

/* libwebsockets' error and warning lines reach the callback after agx_global_init. */
START_TEST(test_log_lws_bridge)
{
    static capture_t cap;
    unsetenv("AGENTEX_LOG_LEVEL");
    agx_global_init();
    agx_global_init(); /* idempotent */
    agentex_set_log_cb(AGENTEX_LOG_DEBUG, capture_cb, &cap);
    lwsl_err("lws failed %d\n", 7);
    lwsl_warn("lws warned\n");
    lwsl_notice("lws notice is not routed\n");
    ck_assert_int_eq(cap.n, 2);
    ck_assert_int_eq(cap.level[0], AGENTEX_LOG_ERROR);
    ck_assert_ptr_nonnull(strstr(cap.msg[0], "lws failed 7"));
    ck_assert_int_eq(strncmp(cap.msg[0], "lws: ", 5), 0);
    ck_assert_int_eq(cap.level[1], AGENTEX_LOG_WARN);
    ck_assert_ptr_nonnull(strstr(cap.msg[1], "lws warned"));
    ck_assert_int_eq(cap.msg[1][strlen(cap.msg[1]) - 1], 'd'); /* newline dropped */
}
END_TEST

START_TEST(test_log_stderr_sink)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    fflush(stderr);
    int saved = dup(2);
    ck_assert_int_eq(dup2(fds[1], 2), 2);
    agentex_log_stderr(AGENTEX_LOG_WARN, "disk almost full", NULL);
    agentex_log_stderr(AGENTEX_LOG_ERROR, "boom", NULL);
    agentex_log_stderr((agentex_log_level_t)42, "odd", NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fds[1]);
    char buf[256] = {0};
    size_t got = 0;
    ssize_t r;
    while ((r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    ck_assert_str_eq(buf, "agentex warn: disk almost full\nagentex error: boom\nagentex ?: odd\n");
}
END_TEST

/* ---- allocation hooks ---- */

START_TEST(test_alloc_fail_after)
{
    void *p = agx_malloc(0);
    ck_assert_ptr_nonnull(p);
    agx_free(p);

    agx_alloc_fail_after(1);
    ck_assert_ptr_null(agx_malloc(8));
    p = agx_malloc(8); /* only the first one failed */
    ck_assert_ptr_nonnull(p);
    agx_free(p);

    agx_alloc_fail_after(3);
    void *a = agx_malloc(1), *b = agx_calloc(2, 2);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(agx_strdup("third"));
    char *c = agx_strdup("fourth");
    ck_assert_str_eq(c, "fourth");
    agx_free(a);
    agx_free(b);
    agx_free(c);

    /* realloc failure keeps the old block */
    char *r = agx_strdup("keep");
    agx_alloc_fail_after(1);
    ck_assert_ptr_null(agx_realloc(r, 100));
    ck_assert_str_eq(r, "keep");
    r = agx_realloc(r, 100);
    ck_assert_str_eq(r, "keep");
    agx_free(r);

    /* 0 turns injection off */
    agx_alloc_fail_after(2);
    agx_alloc_fail_after(0);
    for (int i = 0; i < 4; i++) {
        p = agx_malloc(4);
        ck_assert_ptr_nonnull(p);
        agx_free(p);
    }
}
END_TEST

START_TEST(test_alloc_helpers)
{
    unsigned char *z = agx_calloc(16, 4);
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(z[i], 0);
    agx_free(z);
    ck_assert_ptr_null(agx_strdup(NULL));
    ck_assert_ptr_null(agx_strndup(NULL, 3));
    char *s = agx_strndup("abcdef", 3);
    ck_assert_str_eq(s, "abc");
    agx_free(s);
    /* n beyond the string: stops at its end (ASan checks the heap block's bounds) */
    char *small = malloc(3);
    memcpy(small, "ab", 3);
    s = agx_strndup(small, 10);
    ck_assert_str_eq(s, "ab");
    agx_free(s);
    free(small);
    /* a buffer without NUL: exactly n bytes are read */
    char *raw = malloc(4);
    memcpy(raw, "wxyz", 4);
    s = agx_strndup(raw, 4);
    ck_assert_str_eq(s, "wxyz");
    agx_free(s);
    free(raw);
    agentex_free(NULL);
    agentex_free(agx_strdup("freed by agentex_free"));
    agx_free(NULL);
}
END_TEST

/* ---- buffers ---- */

START_TEST(test_buf_basics)
{
    agx_buf_t b;
    agx_buf_init(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(agx_buf_append(&b, "abc", 3), 0);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_str_eq(b.data, "abc");
    ck_assert_int_eq(agx_buf_append(&b, "d\0e", 3), 0); /* binary-safe */
    ck_assert_uint_eq(b.len, 6);
    ck_assert_mem_eq(b.data, "abcd\0e", 7);
    ck_assert_int_eq(agx_buf_puts(&b, "fg"), 0);
    ck_assert_int_eq(agx_buf_printf(&b, "[%d|%s|%05.1f]", 42, "x", 2.5), 0);
    ck_assert_uint_eq(b.len, 6 + 14);
    ck_assert_str_eq(b.data + 6, "fg[42|x|002.5]");
    agx_buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    ck_assert_int_eq(agx_buf_printf(&b, "%s", ""), 0);
    ck_assert_str_eq(b.data, "");
    ck_assert_int_eq(agx_buf_puts(&b, "stolen"), 0);
    char *s = agx_buf_steal(&b);
    ck_assert_str_eq(s, "stolen");
    ck_assert_ptr_null(b.data);
    ck_assert_uint_eq(b.len, 0);
    agx_free(s);
    /* stealing an empty buffer gives an empty string, not NULL */
    s = agx_buf_steal(&b);
    ck_assert_str_eq(s, "");
    agx_free(s);
    /* appending nothing still gives a terminated string */
    ck_assert_int_eq(agx_buf_append(&b, NULL, 0), 0);
    ck_assert_str_eq(b.data, "");
    agx_buf_free(&b);
    ck_assert_ptr_null(b.data);
    agx_buf_free(&b); /* twice is fine */
}
END_TEST

START_TEST(test_buf_growth)
{
    agx_buf_t b;
    agx_buf_init(&b);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(agx_buf_append(&b, "x", 1), 0);
    ck_assert_uint_eq(b.len, 10000);
    ck_assert_uint_eq(strlen(b.data), 10000);
    ck_assert_uint_ge(b.cap, 10001);
    char *big = malloc(70000);
    memset(big, 'q', 69999);
    big[69999] = '\0';
    ck_assert_int_eq(agx_buf_printf(&b, "<%s>", big), 0);
    ck_assert_uint_eq(b.len, 10000 + 70001);
    ck_assert_int_eq(b.data[10000], '<');
    ck_assert_int_eq(b.data[b.len - 1], '>');
    ck_assert_int_eq(b.data[b.len], '\0');
    free(big);
    agx_buf_free(&b);
}
END_TEST

START_TEST(test_buf_failures)
{
    agx_buf_t b;
    agx_buf_init(&b);
    agx_alloc_fail_after(1);
    ck_assert_int_eq(agx_buf_puts(&b, "x"), -1);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(agx_buf_puts(&b, "abc"), 0);
    char *data = b.data;
    /* growing past the first block fails: the buffer keeps what it had */
    char chunk[600];
    memset(chunk, 'c', sizeof chunk);
    agx_alloc_fail_after(1);
    ck_assert_int_eq(agx_buf_append(&b, chunk, sizeof chunk), -1);
    ck_assert_ptr_eq(b.data, data);
    ck_assert_uint_eq(b.len, 3);
    ck_assert_str_eq(b.data, "abc");
    agx_alloc_fail_after(1);
    ck_assert_int_eq(agx_buf_printf(&b, "%600s", "p"), -1);
    ck_assert_str_eq(b.data, "abc");
    /* sizes that would wrap around fail cleanly instead of overflowing */
    ck_assert_int_eq(agx_buf_append(&b, "x", SIZE_MAX), -1);
    ck_assert_int_eq(agx_buf_append(&b, "x", SIZE_MAX - 3), -1);
    ck_assert_int_eq(agx_buf_append(&b, "x", SIZE_MAX - 4), -1);
    ck_assert_int_eq(agx_buf_append(&b, "x", SIZE_MAX / 2 + 1), -1);
    ck_assert_str_eq(b.data, "abc");
    ck_assert_uint_eq(b.len, 3);
    agx_alloc_fail_after(1);
    agx_buf_reset(&b);
    char *s = agx_buf_steal(&b); /* has data: no allocation needed */
    agx_alloc_fail_after(0);
    ck_assert_str_eq(s, "");
    agx_free(s);
    agx_alloc_fail_after(1);
    ck_assert_ptr_null(agx_buf_steal(&b)); /* empty: the "" copy fails */
    agx_buf_free(&b);
}
END_TEST

/* ---- URL escaping ---- */

START_TEST(test_url_escape)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"abcXYZ019", "abcXYZ019"},
        {"-_.~", "-_.~"},
        {"b3e0f7d2-8c41-4a6e-9f15-2d7a9c3e5b81", "b3e0f7d2-8c41-4a6e-9f15-2d7a9c3e5b81"},
        {"a b", "a%20b"},
        {"a/b?c=d&e#f", "a%2Fb%3Fc%3Dd%26e%23f"},
        {"100%", "100%25"},
        {"+:@!$'()*,;[]", "%2B%3A%40%21%24%27%28%29%2A%2C%3B%5B%5D"},
        {"\"<>\\^`{|}", "%22%3C%3E%5C%5E%60%7B%7C%7D"},
        {"\t\r\n\x7f", "%09%0D%0A%7F"},
        {"caf\xc3\xa9", "caf%C3%A9"},
        {"\xff\x80", "%FF%80"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = agx_url_escape(cases[i].in);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(e, cases[i].out);
        agx_free(e);
    }
    ck_assert_ptr_null(agx_url_escape(NULL));
    agx_alloc_fail_after(1);
    ck_assert_ptr_null(agx_url_escape("x"));
    agx_alloc_fail_after(0);
}
END_TEST

/* ---- constant-time comparison ---- */

START_TEST(test_str_equal_ct)
{
    static const struct {
        const char *a, *b;
        bool eq;
    } cases[] = {
        {"", "", true},
        {"key", "key", true},
        {"3b9e1f0a7c2d4e6f", "3b9e1f0a7c2d4e6f", true},
        {"key", "kez", false},
        {"key", "Key", false},
        {"key", "ke", false},
        {"ke", "key", false},
        {"", "a", false},
        {"a", "", false},
        {"abc\xff", "abc\xfe", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(agx_str_equal_ct(cases[i].a, cases[i].b) == cases[i].eq, "\"%s\" \"%s\"",
                      cases[i].a, cases[i].b);
    ck_assert(!agx_str_equal_ct(NULL, "a"));
    ck_assert(!agx_str_equal_ct("a", NULL));
    ck_assert(!agx_str_equal_ct(NULL, NULL));
}
END_TEST

/* ---- clocks ---- */

START_TEST(test_clocks)
{
    int64_t a = agx_now_ms();
    int64_t b = agx_now_ms();
    ck_assert_int_ge(b, a);
    ck_assert_int_ge(a, 0);
    int64_t us = agx_now_us();
    time_t now = time(NULL);
    /* the same wall clock, in microseconds */
    ck_assert_int_le(llabs((long long)(us / 1000000) - (long long)now), 2);
}
END_TEST

START_TEST(test_http_tokens_and_lists)
{
    ck_assert(agx_http_tchar('a') && agx_http_tchar('Z') && agx_http_tchar('7'));
    ck_assert(agx_http_tchar('-') && agx_http_tchar('~') && agx_http_tchar('!'));
    ck_assert(!agx_http_tchar(' ') && !agx_http_tchar(':') && !agx_http_tchar('"'));
    ck_assert(!agx_http_tchar('\0') && !agx_http_tchar(0x7f) && !agx_http_tchar(0xc3));
    static const char v[] = "Upgrade ,\tKEEP-alive,, close";
    ck_assert(agx_http_list_has(v, strlen(v), "keep-alive", false));
    ck_assert(agx_http_list_has(v, strlen(v), "upgrade", false));
    ck_assert(agx_http_list_has(v, strlen(v), "close", true));
    ck_assert(!agx_http_list_has(v, strlen(v), "upgrade", true));
    ck_assert(!agx_http_list_has(v, strlen(v), "keep", false));
    /* only the first n bytes count */
    ck_assert(!agx_http_list_has(v, 7, "keep-alive", false));
    ck_assert(agx_http_list_has(v, 7, "upgrade", true));
    ck_assert(!agx_http_list_has("", 0, "close", false));
    ck_assert(!agx_http_list_has("chunked, gzip", 13, "chunked", true));
}
END_TEST

Suite *common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc;

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_err_names_and_strings);
    tcase_add_test(tc, test_err_unknown_codes);
    tcase_add_test(tc, test_version);
    suite_add_tcase(s, tc);

    tc = tcase_create("log");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_log_level_parse);
    tcase_add_test(tc, test_log_default_is_silent);
    tcase_add_test(tc, test_log_routing);
    tcase_add_test(tc, test_log_env_overrides_level);
    tcase_add_test(tc, test_log_env_more_verbose);
    tcase_add_test(tc, test_log_env_off);
    tcase_add_test(tc, test_log_env_invalid_is_ignored);
    tcase_add_test(tc, test_log_lws_bridge);
    tcase_add_test(tc, test_log_stderr_sink);
    suite_add_tcase(s, tc);

    tc = tcase_create("alloc");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_alloc_fail_after);
    tcase_add_test(tc, test_alloc_helpers);
    suite_add_tcase(s, tc);

    tc = tcase_create("buf");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_buf_basics);
    tcase_add_test(tc, test_buf_growth);
    tcase_add_test(tc, test_buf_failures);
    suite_add_tcase(s, tc);

    tc = tcase_create("misc");
    tcase_set_timeout(tc, 5);
    tcase_add_test(tc, test_url_escape);
    tcase_add_test(tc, test_str_equal_ct);
    tcase_add_test(tc, test_http_tokens_and_lists);
    tcase_add_test(tc, test_clocks);
    suite_add_tcase(s, tc);
    return s;
}
