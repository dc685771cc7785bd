/*
 * tests/check_h1resp.c - the HTTP/1.1 response parser (lib/h1resp.c): every framing the
 * client may meet, fed whole, split at every byte position and byte by byte; interim
 * answers; the headers the client acts on; bounded memory; malformed answers.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "h1resp.h"
#include "internal.h"

/* What parsing one answer gave. */
typedef struct outcome {
    int rc;      /* AGX_H1_DONE or AGX_H1_ERROR (AGX_H1_MORE: eof was not reached) */
    size_t used; /* bytes of the input that belonged to the answer */
    int status, keep_alive, should_retry, too_big;
    char retry_after[32];
    char why[96];
    char body[4096];
    size_t body_len;
} outcome_t;

/* Feeds text in pieces of step bytes (0: whole), then the end of the connection if eof
 * and the answer is still open. */
static outcome_t parse(const char *text, size_t step, int eof, size_t max_body)
{
    outcome_t o;
    memset(&o, 0, sizeof(o));
    agx_buf_t body;
    agx_buf_init(&body);
    agx_h1resp_t p;
    agx_h1resp_init(&p, &body, max_body);
    size_t len = strlen(text), off = 0;
    int rc = AGX_H1_MORE;
    while (off < len && rc == AGX_H1_MORE) {
        size_t n = step && len - off > step ? step : len - off;
        size_t used = 0;
        rc = agx_h1resp_feed(&p, text + off, n, &used);
        ck_assert_uint_le(used, n);
        if (rc == AGX_H1_MORE)
            ck_assert_uint_eq(used, n);
        off += used;
    }
    if (rc == AGX_H1_MORE && eof)
        rc = agx_h1resp_eof(&p);
    o.rc = rc;
    o.used = off;
    o.status = p.status;
    o.keep_alive = p.keep_alive;
    o.should_retry = p.should_retry;
    o.too_big = p.too_big;
    strcpy(o.retry_after, p.retry_after);
    strcpy(o.why, p.why);
    ck_assert_uint_lt(body.len, sizeof(o.body));
    if (body.len)
        memcpy(o.body, body.data, body.len);
    o.body_len = body.len;
    agx_h1resp_free(&p);
    agx_buf_free(&body);
    return o;
}

/* The same answer whole, split at every position (two pieces) and byte by byte. */
static outcome_t parse_all_ways(const char *text, int eof)
{
    outcome_t whole = parse(text, 0, eof, 1 << 20);
    outcome_t one = parse(text, 1, eof, 1 << 20);
    ck_assert_int_eq(one.rc, whole.rc);
    ck_assert_uint_eq(one.used, whole.used);
    ck_assert_uint_eq(one.body_len, whole.body_len);
    ck_assert(memcmp(one.body, whole.body, whole.body_len) == 0);
    size_t len = strlen(text);
    for (size_t cut = 1; cut < len; cut++) {
        /* two pieces: feed the first cut bytes, then the rest */
        agx_buf_t body;
        agx_buf_init(&body);
        agx_h1resp_t p;
        agx_h1resp_init(&p, &body, 1 << 20);
        size_t used = 0, off = 0;
        int rc = agx_h1resp_feed(&p, text, cut, &used);
        off = used;
        if (rc == AGX_H1_MORE) {
            rc = agx_h1resp_feed(&p, text + cut, len - cut, &used);
            off += used;
        }
        if (rc == AGX_H1_MORE && eof)
            rc = agx_h1resp_eof(&p);
        ck_assert_int_eq(rc, whole.rc);
        ck_assert_uint_eq(off, whole.used);
        ck_assert_int_eq(p.status, whole.status);
        ck_assert_int_eq(p.keep_alive, whole.keep_alive);
        ck_assert_uint_eq(body.len, whole.body_len);
        ck_assert(body.len == 0 || memcmp(body.data, whole.body, body.len) == 0);
        agx_h1resp_free(&p);
        agx_buf_free(&body);
    }
    return whole;
}

START_TEST(test_h1resp_content_length_keep_alive)
{
    outcome_t o = parse_all_ways("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 11\r\n\r\n{\"id\":\"m1\"}",
                                 0);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.status, 201);
    ck_assert_int_eq(o.keep_alive, 1);
    ck_assert_uint_eq(o.body_len, 11);
    ck_assert(memcmp(o.body, "{\"id\":\"m1\"}", 11) == 0);
    ck_assert_int_eq(o.should_retry, -1);
    ck_assert_str_eq(o.retry_after, "");

    /* a status line without a reason, bare LF line endings, lower-case names */
    o = parse_all_ways("HTTP/1.1 200\ncontent-length: 2\n\nok", 0);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.status, 200);
    ck_assert_uint_eq(o.body_len, 2);

    /* Content-Length: 0 and 204 / 304 end with the head, whatever follows */
    o = parse_all_ways("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_uint_eq(o.body_len, 0);
    o = parse("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.1", 0, 0, 100);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.status, 204);
    ck_assert_uint_eq(o.used, strlen("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"));

    /* bytes beyond the answer are not consumed */
    o = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}EXTRA", 0, 0, 100);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_uint_eq(o.used, strlen("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"));

    /* the same length twice is one length */
    o = parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 0, 0, 100);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
}
END_TEST

START_TEST(test_h1resp_chunked_with_extensions_and_trailers)
{
    outcome_t o = parse_all_ways("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "4;name=value\r\n{\"a\"\r\n"
                                 "A \r\n:[1,2,3,4]\r\n"
                                 "1\n}\n"
                                 "0\r\nX-Trailer: t\r\n\r\n",
                                 0);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.keep_alive, 1);
    ck_assert_uint_eq(o.body_len, 15);
    ck_assert(memcmp(o.body, "{\"a\":[1,2,3,4]}", 15) == 0);

    /* chunked wins over Content-Length, and the connection is not kept */
    o = parse_all_ways("HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked"
                       "\r\n\r\n2\r\nok\r\n0\r\n\r\n",
                       0);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.keep_alive, 0);
    ck_assert_uint_eq(o.body_len, 2);
}
END_TEST

START_TEST(test_h1resp_body_until_close)
{
    /* HTTP/1.0 without a length: the body ends with the connection */
    outcome_t o = parse_all_ways("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", 1);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.keep_alive, 0);
    ck_assert_uint_eq(o.body_len, 9);
    /* without the end of the connection it is not complete */
    o = parse("HTTP/1.1 200 OK\r\n\r\npartial", 0, 0, 100);
    ck_assert_int_eq(o.rc, AGX_H1_MORE);
    /* a coding other than chunked last: until close too */
    o = parse_all_ways("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz", 1);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.keep_alive, 0);
}
END_TEST

START_TEST(test_h1resp_connection_header_decides_keep_alive)
{
    outcome_t o = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 0, 0,
                        100);
    ck_assert_int_eq(o.keep_alive, 0);
    o = parse("HTTP/1.1 200 OK\r\nConnection: Upgrade, CLOSE\r\nContent-Length: 0\r\n\r\n", 0, 0,
              100);
    ck_assert_int_eq(o.keep_alive, 0);
    o = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 0, 100);
    ck_assert_int_eq(o.keep_alive, 0);
    o = parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 0, 0, 100);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.keep_alive, 1);
}
END_TEST

START_TEST(test_h1resp_interim_answers_are_skipped)
{
    outcome_t o = parse_all_ways("HTTP/1.1 100 Continue\r\nRetry-After: 9\r\n\r\n"
                                 "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                                 "HTTP/1.1 503 Service Unavailable\r\nRetry-After:  2 \r\n"
                                 "X-Should-Retry: TRUE\r\nContent-Length: 2\r\n\r\n{}",
                                 0);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    ck_assert_int_eq(o.status, 503);
    ck_assert_str_eq(o.retry_after, "2");
    ck_assert_int_eq(o.should_retry, 1);
    /* an interim answer's headers do not leak into the final one */
    o = parse("HTTP/1.1 100 Continue\r\nx-should-retry: false\r\n\r\n"
              "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
              0, 0, 100);
    ck_assert_int_eq(o.status, 500);
    ck_assert_int_eq(o.should_retry, -1);
    o = parse("HTTP/1.1 500 Oops\r\nx-should-retry: false\r\nContent-Length: 0\r\n\r\n", 0, 0, 100);
    ck_assert_int_eq(o.should_retry, 0);
    /* 101 is not an answer this client asked for */
    o = parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 0, 0, 100);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_ptr_nonnull(strstr(o.why, "101"));
}
END_TEST

START_TEST(test_h1resp_bodies_over_the_limit_are_refused)
{
    outcome_t o = parse("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 0, 0, 10);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_int_eq(o.too_big, 1);
    o = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 0, 0, 10);
    ck_assert_int_eq(o.rc, AGX_H1_DONE);
    o = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n5\r\n", 0, 0,
              10);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_int_eq(o.too_big, 1);
    o = parse("HTTP/1.1 200 OK\r\n\r\n0123456789X", 1, 1, 10);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_int_eq(o.too_big, 1);
    ck_assert_uint_eq(o.body_len, 10);
}
END_TEST

START_TEST(test_h1resp_malformed_answers_are_errors)
{
    static const char *const bad[] = {
        "this is not http\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 x\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        outcome_t o = parse(bad[i], 0, 1, 1 << 20);
        ck_assert_msg(o.rc == AGX_H1_ERROR, "accepted: %s", bad[i]);
        ck_assert_msg(o.why[0] != '\0', "no reason for: %s", bad[i]);
        o = parse(bad[i], 1, 1, 1 << 20);
        ck_assert_msg(o.rc == AGX_H1_ERROR, "accepted byte by byte: %s", bad[i]);
    }
}
END_TEST

START_TEST(test_h1resp_head_is_bounded)
{
    /* one header line of 20 KiB, and a head of many small lines over 64 KiB */
    agx_buf_t t;
    agx_buf_init(&t);
    ck_assert_int_eq(agx_buf_puts(&t, "HTTP/1.1 200 OK\r\nX-Big: "), 0);
    for (int i = 0; i < 20 * 1024; i++)
        ck_assert_int_eq(agx_buf_append(&t, "a", 1), 0);
    ck_assert_int_eq(agx_buf_puts(&t, "\r\n\r\n"), 0);
    outcome_t o = parse(t.data, 1000, 1, 100);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_ptr_nonnull(strstr(o.why, "too long"));
    agx_buf_reset(&t);
    ck_assert_int_eq(agx_buf_puts(&t, "HTTP/1.1 200 OK\r\n"), 0);
    for (int i = 0; i < 5000; i++)
        ck_assert_int_eq(agx_buf_puts(&t, "X-Header: value\r\n"), 0);
    o = parse(t.data, 0, 1, 100);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_ptr_nonnull(strstr(o.why, "too large"));
    agx_buf_free(&t);
}
END_TEST

START_TEST(test_h1resp_end_of_connection)
{
    outcome_t o = parse("", 0, 1, 100);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_str_eq(o.why, "no answer");
    o = parse("HTTP/1.1 200 OK\r\nContent-Le", 0, 1, 100);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_str_eq(o.why, "response head truncated");
    o = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"a\"", 0, 1, 100);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_str_eq(o.why, "response truncated");
    ck_assert_int_eq(o.status, 200);
    o = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 0, 1, 100);
    ck_assert_int_eq(o.rc, AGX_H1_ERROR);
    ck_assert_str_eq(o.why, "response truncated");
}
END_TEST

Suite *h1resp_suite(void);
Suite *h1resp_suite(void)
{
    Suite *s = suite_create("h1resp");
    TCase *tc = tcase_create("parser");
    tcase_add_test(tc, test_h1resp_content_length_keep_alive);
    tcase_add_test(tc, test_h1resp_chunked_with_extensions_and_trailers);
    tcase_add_test(tc, test_h1resp_body_until_close);
    tcase_add_test(tc, test_h1resp_connection_header_decides_keep_alive);
    tcase_add_test(tc, test_h1resp_interim_answers_are_skipped);
    tcase_add_test(tc, test_h1resp_bodies_over_the_limit_are_refused);
    tcase_add_test(tc, test_h1resp_malformed_answers_are_errors);
    tcase_add_test(tc, test_h1resp_head_is_bounded);
    tcase_add_test(tc, test_h1resp_end_of_connection);
    suite_add_tcase(s, tc);
    return s;
}
