/*
 * tests/check_sse.c - the SSE parser (lib/sse.c): every framing the WHATWG rules allow,
 * fed whole, split at every byte position, and byte by byte; bounded memory.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sse.h"

/* Events are recorded as "[type|id|data]" with NUL bytes in data shown as "\0". */
typedef struct rec {
    agx_buf_t out;
    int stop_after; /* stop (return 1) after this many events; 0 = never */
    int n;
    agx_buf_t comments;
} rec_t;

static int on_event(const agx_sse_event_t *ev, void *ud)
{
    rec_t *r = ud;
    agx_buf_printf(&r->out, "[%s|%s|", ev->type, ev->id);
    for (size_t i = 0; i < ev->data_len; i++) {
        if (ev->data[i] == '\0')
            agx_buf_puts(&r->out, "\\0");
        else
            agx_buf_append(&r->out, &ev->data[i], 1);
    }
    ck_assert_int_eq(ev->data[ev->data_len], '\0');
    agx_buf_puts(&r->out, "]");
    r->n++;
    return r->stop_after && r->n >= r->stop_after;
}

static void on_comment(const char *text, size_t len, void *ud)
{
    rec_t *r = ud;
    agx_buf_puts(&r->comments, "<");
    agx_buf_append(&r->comments, text, len);
    agx_buf_puts(&r->comments, ">");
}

typedef struct sse_case {
    const char *name;
    const char *in;
    size_t in_len; /* 0 = strlen */
    const char *want;
} sse_case_t;

static const sse_case_t cases[] = {
    {"lf", "data: hello\n\n", 0, "[message||hello]"},
    {"crlf", "data: hello\r\n\r\n", 0, "[message||hello]"},
    {"cr", "data: hello\r\r", 0, "[message||hello]"},
    {"mixed line ends", "data: a\r\ndata: b\rdata: c\n\r\n", 0, "[message||a\nb\nc]"},
    {"no space after colon", "data:x\n\n", 0, "[message||x]"},
    {"only one space dropped", "data:  two\n\n", 0, "[message|| two]"},
    {"multi-line data", "data: a\ndata: b\ndata:\n\n", 0, "[message||a\nb\n]"},
    {"empty data", "data\n\n", 0, "[message||]"},
    {"field without colon is data with empty value", "data\ndata\n\n", 0, "[message||\n]"},
    {"comment ignored", ":ping\n\ndata: x\n\n", 0, "[message||x]"},
    {"event type", "event: add\ndata: 1\n\ndata: 2\n\n", 0, "[add||1][message||2]"},
    {"event type reset without data", "event: add\n\ndata: 2\n\n", 0, "[message||2]"},
    {"id persists", "id: 7\ndata: a\n\ndata: b\n\n", 0, "[message|7|a][message|7|b]"},
    {"id cleared by empty id", "id: 7\ndata: a\n\nid\ndata: b\n\n", 0, "[message|7|a][message||b]"},
    {"id with NUL ignored", "id: 1\ndata: a\n\nid: x\0y\ndata: b\n\n", 33,
     "[message|1|a][message|1|b]"},
    {"NUL in data kept", "data: a\0b\n\n", 11, "[message||a\\0b]"},
    {"retry is not an event", "retry: 1000\n\n", 0, ""},
    {"unknown field ignored", "foo: bar\ndata: x\n\n", 0, "[message||x]"},
    {"field name is case-sensitive", "Data: x\n\ndata: y\n\n", 0, "[message||y]"},
    {"incomplete event at end discarded", "data: a\n\ndata: b\n", 0, "[message||a]"},
    {"no final blank line", "data: a", 0, ""},
    {"bom skipped", "\xEF\xBB\xBF" "data: a\n\n", 0, "[message||a]"},
    {"bom only once", "\xEF\xBB\xBF\xEF\xBB\xBF" "data: a\n\ndata: b\n\n", 0, "[message||b]"},
    {"partial bom is data", "\xEF\xBB" "data: x\n\ndata: a\n\n", 0, "[message||a]"},
    {"colon in value kept", "data: {\"a\":1}\n\n", 0, "[message||{\"a\":1}]"},
    {"blank lines between events", "\n\n\r\ndata: a\n\n\n\n", 0, "[message||a]"},
    {"protocol 8.13 transcript",
     "data: {\"type\":\"connected\",\"taskId\":\"t\"}\n\n:ping\n\ndata: {\"type\":\"done\"}\n\n", 0,
     "[message||{\"type\":\"connected\",\"taskId\":\"t\"}][message||{\"type\":\"done\"}]"},
};

static void run_chunks(const char *in, size_t len, const size_t *cuts, size_t ncuts, rec_t *r)
{
    agx_sse_t p;
    agx_sse_init(&p, 0, on_event, r);
    p.on_comment = on_comment;
    size_t prev = 0;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : len;
        ck_assert_int_eq(agx_sse_feed(&p, in + prev, end - prev), AGENTEX_OK);
        prev = end;
    }
    agx_sse_free(&p);
}

static size_t case_len(const sse_case_t *c) { return c->in_len ? c->in_len : strlen(c->in); }

START_TEST(test_sse_table_whole_and_every_split)
{
    const sse_case_t *c = &cases[_i];
    size_t len = case_len(c);
    rec_t r = {0};
    run_chunks(c->in, len, NULL, 0, &r);
    ck_assert_msg(strcmp(r.out.data ? r.out.data : "", c->want) == 0, "%s: got %s want %s",
                  c->name, r.out.data ? r.out.data : "", c->want);
    agx_buf_free(&r.out);
    agx_buf_free(&r.comments);
    // two chunks, split at every position (including inside CRLF and the BOM)
    for (size_t cut = 0; cut <= len; cut++) {
        rec_t r2 = {0};
        run_chunks(c->in, len, &cut, 1, &r2);
        ck_assert_msg(strcmp(r2.out.data ? r2.out.data : "", c->want) == 0,
                      "%s split at %zu: got %s", c->name, cut, r2.out.data ? r2.out.data : "");
        agx_buf_free(&r2.out);
        agx_buf_free(&r2.comments);
    }
    // three chunks, every pair of positions
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = a; b <= len; b++) {
            size_t cuts[2] = {a, b};
            rec_t r3 = {0};
            run_chunks(c->in, len, cuts, 2, &r3);
            ck_assert_msg(strcmp(r3.out.data ? r3.out.data : "", c->want) == 0,
                          "%s split at %zu,%zu", c->name, a, b);
            agx_buf_free(&r3.out);
            agx_buf_free(&r3.comments);
        }
    }
}
END_TEST

START_TEST(test_sse_byte_by_byte)
{
    const sse_case_t *c = &cases[_i];
    size_t len = case_len(c);
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    for (size_t k = 0; k < len; k++)
        cuts[k] = k + 1;
    rec_t r = {0};
    run_chunks(c->in, len, cuts, len, &r);
    ck_assert_str_eq(r.out.data ? r.out.data : "", c->want);
    agx_buf_free(&r.out);
    agx_buf_free(&r.comments);
    free(cuts);
}
END_TEST

START_TEST(test_sse_comments_reported)
{
    rec_t r = {0};
    const char *in = ":ping\r\n: hi\n\n";
    run_chunks(in, strlen(in), NULL, 0, &r);
    ck_assert_str_eq(r.comments.data, "<ping>< hi>");
    ck_assert_ptr_null(r.out.data);
    agx_buf_free(&r.comments);
}
END_TEST

START_TEST(test_sse_retry_field)
{
    agx_sse_t p;
    agx_sse_init(&p, 0, NULL, NULL);
    ck_assert_int_eq(agx_sse_retry_ms(&p), -1);
    const char *in = "retry: 2500\n\nretry: 12x\n\nretry:\n\n";
    ck_assert_int_eq(agx_sse_feed(&p, in, strlen(in)), AGENTEX_OK);
    ck_assert_int_eq(agx_sse_retry_ms(&p), 2500);
    agx_sse_free(&p);
}
END_TEST

START_TEST(test_sse_event_too_large_is_rejected)
{
    rec_t r = {0};
    agx_sse_t p;
    agx_sse_init(&p, 64, on_event, &r);
    const char *ok = "data: small\n\n";
    ck_assert_int_eq(agx_sse_feed(&p, ok, strlen(ok)), AGENTEX_OK);
    // many data lines: each is small, the event is not
    agentex_err_t err = AGENTEX_OK;
    for (int i = 0; i < 20 && err == AGENTEX_OK; i++)
        err = agx_sse_feed(&p, "data: 0123456789\n", 17);
    ck_assert_int_eq(err, AGENTEX_EPROTO);
    // stays failed until reset
    ck_assert_int_eq(agx_sse_feed(&p, "\n", 1), AGENTEX_EPROTO);
    agx_sse_reset(&p);
    ck_assert_int_eq(agx_sse_feed(&p, ok, strlen(ok)), AGENTEX_OK);
    ck_assert_str_eq(r.out.data, "[message||small][message||small]");
    agx_sse_free(&p);
    agx_buf_free(&r.out);
}
END_TEST

START_TEST(test_sse_line_too_long_without_newline)
{
    agx_sse_t p;
    agx_sse_init(&p, 1000, NULL, NULL);
    char chunk[100];
    memset(chunk, 'a', sizeof chunk);
    agentex_err_t err = AGENTEX_OK;
    int n = 0;
    while (err == AGENTEX_OK && n < 100) {
        err = agx_sse_feed(&p, chunk, sizeof chunk);
        n++;
    }
    ck_assert_int_eq(err, AGENTEX_EPROTO);
    ck_assert_int_le(n, 11);
    ck_assert_uint_le(p.line.cap, 2048);
    agx_sse_free(&p);
}
END_TEST

START_TEST(test_sse_callback_stop)
{
    rec_t r = {0};
    r.stop_after = 1;
    agx_sse_t p;
    agx_sse_init(&p, 0, on_event, &r);
    const char *in = "data: a\n\ndata: b\n\n";
    ck_assert_int_eq(agx_sse_feed(&p, in, strlen(in)), AGENTEX_ECANCELED);
    ck_assert_str_eq(r.out.data, "[message||a]");
    agx_sse_free(&p);
    agx_buf_free(&r.out);
}
END_TEST

START_TEST(test_sse_reset_keeps_last_id)
{
    rec_t r = {0};
    agx_sse_t p;
    agx_sse_init(&p, 0, on_event, &r);
    const char *a = "id: 5\ndata: a\n\ndata: partial";
    ck_assert_int_eq(agx_sse_feed(&p, a, strlen(a)), AGENTEX_OK);
    agx_sse_reset(&p);
    const char *b = "\xEF\xBB\xBF" "data: b\n\n";
    ck_assert_int_eq(agx_sse_feed(&p, b, strlen(b)), AGENTEX_OK);
    ck_assert_str_eq(r.out.data, "[message|5|a][message|5|b]");
    agx_sse_free(&p);
    agx_buf_free(&r.out);
}
END_TEST

START_TEST(test_sse_enomem_fails_cleanly)
{
    const char *in = "event: e\nid: 1\ndata: hello\ndata: world\n\n";
    for (long n = 1; n < 20; n++) {
        rec_t r = {0};
        agx_sse_t p;
        agx_sse_init(&p, 0, on_event, &r);
        agx_alloc_fail_after(n);
        agentex_err_t err = agx_sse_feed(&p, in, strlen(in));
        agx_alloc_fail_after(0);
        ck_assert(err == AGENTEX_OK || err == AGENTEX_ENOMEM);
        if (err == AGENTEX_ENOMEM)
            ck_assert_int_eq(agx_sse_feed(&p, "\n", 1), AGENTEX_EPROTO);
        agx_sse_free(&p);
        agx_buf_free(&r.out);
    }
}
END_TEST

START_TEST(test_sse_bad_arguments)
{
    agx_sse_t p;
    agx_sse_init(&p, 0, NULL, NULL);
    ck_assert_int_eq(agx_sse_feed(NULL, "x", 1), AGENTEX_EINVAL);
    ck_assert_int_eq(agx_sse_feed(&p, NULL, 1), AGENTEX_EINVAL);
    ck_assert_int_eq(agx_sse_feed(&p, NULL, 0), AGENTEX_OK);
    agx_sse_free(&p);
    agx_sse_free(NULL);
}
END_TEST

Suite *sse_suite(void);
Suite *sse_suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_sse_table_whole_and_every_split, 0,
                        (int)(sizeof cases / sizeof cases[0]));
    tcase_add_loop_test(tc, test_sse_byte_by_byte, 0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, test_sse_comments_reported);
    tcase_add_test(tc, test_sse_retry_field);
    tcase_add_test(tc, test_sse_callback_stop);
    tcase_add_test(tc, test_sse_reset_keeps_last_id);
    tcase_add_test(tc, test_sse_bad_arguments);
    suite_add_tcase(s, tc);
    TCase *lim = tcase_create("limits");
    tcase_set_timeout(lim, 10);
    tcase_add_test(lim, test_sse_event_too_large_is_rejected);
    tcase_add_test(lim, test_sse_line_too_long_without_newline);
    tcase_add_test(lim, test_sse_enomem_fails_cleanly);
    suite_add_tcase(s, lim);
    return s;
}
