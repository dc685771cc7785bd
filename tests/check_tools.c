/*
 * tests/check_tools.c - the measuring tools `make bench` builds its claims on.
 *
 * tools/openloop.c: against the fake backend, every request it reports is one the server
 * received (fresh ids, the bench's headers, keep-alive connections); a stalled server is
 * charged the wait of the requests queued behind the stall (latency from the due time);
 * error answers, dropped connections and timeouts are counted, not hidden; bad arguments
 * get exit 2 and one line.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fake_backend.h"
#include "support/proc.h"

Suite *tools_suite(void);

static const char ack[] = "{\"jsonrpc\":\"2.0\",\"result\":{\"status\":\"processing\"},"
                          "\"error\":null,\"id\":1}";

static const char *openloop_bin(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/bin/openloop", tp_build_dir());
    return path;
}

/* the number after " key=" in openloop's RESULT line; aborts the test when it is missing */
static double field(const char *out, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *line = strstr(out, "RESULT openloop ");
    ck_assert_msg(line != NULL, "no RESULT line in: %s", out);
    const char *p = strstr(line, pat);
    ck_assert_msg(p != NULL, "no %s in: %s", key, out);
    return strtod(p + strlen(pat), NULL);
}

/* runs openloop with the given options against fb's /api; returns its exit status */
static int openloop(fake_backend_t *fb, const char *const *opts, char *out, size_t cap)
{
    char url[128];
    snprintf(url, sizeof url, "%s/api", fake_backend_url(fb));
    const char *args[24];
    int n = 0;
    args[n++] = openloop_bin();
    while (*opts && n < 22)
        args[n++] = *opts++;
    args[n++] = url;
    args[n] = NULL;
    return tp_run(args, out, cap);
}

START_TEST(openloop_sends_what_it_counts)
{
    fake_backend_t *fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    fake_backend_route(fb, "POST", "/api", 200, ack);
    char out[4096];
    const char *opts[] = {"-r", "200", "-d", "1", "-c", "4", "-H", "x-agent-api-key: k1", NULL};
    ck_assert_int_eq(openloop(fb, opts, out, sizeof out), 0);
    ck_assert_double_eq(field(out, "requests"), 200);
    ck_assert_double_eq(field(out, "answered"), 200);
    ck_assert_double_eq(field(out, "non2xx"), 0);
    ck_assert_double_eq(field(out, "errors"), 0);
    ck_assert_double_le(field(out, "p50_ms"), field(out, "p99_ms"));
    ck_assert_double_le(field(out, "p99_ms"), field(out, "max_ms"));

    /* the server received exactly those 200, each with its own id, on 4 kept connections */
    ck_assert_uint_eq(fake_backend_count(fb), 200);
    ck_assert_uint_eq(fake_backend_connections(fb), 4);
    char seen[201] = {0};
    for (size_t i = 0; i < 200; i++) {
        const fake_request_t *r = fake_backend_request(fb, i);
        ck_assert_str_eq(r->method, "POST");
        ck_assert_str_eq(r->path, "/api");
        ck_assert_str_eq(fake_request_header(r, "x-agent-api-key"), "k1");
        ck_assert_str_eq(fake_request_header(r, "content-type"), "application/json");
        cJSON *j = cJSON_Parse(r->body);
        ck_assert_ptr_nonnull(j);
        ck_assert_str_eq(cJSON_GetObjectItem(j, "jsonrpc")->valuestring, "2.0");
        ck_assert_str_eq(cJSON_GetObjectItem(j, "method")->valuestring, "event/send");
        int id = cJSON_GetObjectItem(j, "id")->valueint;
        ck_assert_int_ge(id, 1);
        ck_assert_int_le(id, 200);
        ck_assert_int_eq(seen[id], 0);
        seen[id] = 1;
        char evid[32];
        snprintf(evid, sizeof evid, "ev-%d", id);
        cJSON *ev = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "params"), "event");
        ck_assert_str_eq(cJSON_GetObjectItem(ev, "id")->valuestring, evid);
        cJSON_Delete(j);
    }
    fake_backend_stop(fb);
}
END_TEST

/* One connection, 100 requests in 1 s, the first answered after 400 ms: the ~40 requests due
 * meanwhile wait for the connection, and each is charged from its due time.  A tool timing
 * from the moment it sent would report them at a millisecond or so. */
START_TEST(openloop_charges_a_stall_to_the_requests_behind_it)
{
    fake_backend_t *fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    fake_backend_push_delayed(fb, 400, 200, ack);
    fake_backend_route(fb, "POST", "/api", 200, ack);
    char out[4096];
    const char *opts[] = {"-r", "100", "-d", "1", "-c", "1", NULL};
    ck_assert_int_eq(openloop(fb, opts, out, sizeof out), 0);
    ck_assert_double_eq(field(out, "answered"), 100);
    ck_assert_double_eq(field(out, "errors"), 0);
    ck_assert_double_ge(field(out, "max_ms"), 400);
    ck_assert_double_ge(field(out, "p90_ms"), 250);
    ck_assert_double_ge(field(out, "max_waiting"), 30);
    fake_backend_stop(fb);
}
END_TEST

START_TEST(openloop_counts_error_answers_and_dropped_connections)
{
    fake_backend_t *fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    for (int i = 0; i < 3; i++)
        fake_backend_push(fb, 503, "{\"detail\":\"busy\"}");
    fake_backend_push_close(fb);
    fake_backend_route(fb, "POST", "/api", 200, ack);
    char out[4096];
    const char *opts[] = {"-r", "50", "-d", "1", "-c", "2", NULL};
    ck_assert_int_eq(openloop(fb, opts, out, sizeof out), 0);
    ck_assert_double_eq(field(out, "requests"), 50);
    ck_assert_double_eq(field(out, "answered"), 49); /* a 503 is an answer */
    ck_assert_double_eq(field(out, "non2xx"), 3);
    ck_assert_double_eq(field(out, "errors"), 1);
    /* the dropped connection was replaced and the run went on */
    ck_assert_uint_eq(fake_backend_connections(fb), 3);
    ck_assert_uint_eq(fake_backend_count(fb), 50);
    fake_backend_stop(fb);
}
END_TEST

/* An answer later than -t is an error, its connection is replaced, and the run still ends. */
START_TEST(openloop_times_out_slow_answers)
{
    fake_backend_t *fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    fake_backend_push_delayed(fb, 1200, 200, ack);
    fake_backend_route(fb, "POST", "/api", 200, ack);
    char out[4096];
    const char *opts[] = {"-r", "20", "-d", "1", "-c", "1", "-t", "300", NULL};
    long t0 = tp_now_ms();
    ck_assert_int_eq(openloop(fb, opts, out, sizeof out), 0);
    ck_assert_int_lt(tp_now_ms() - t0, 5000);
    double errors = field(out, "errors"), answered = field(out, "answered");
    ck_assert_double_ge(errors, 1);
    ck_assert_double_ge(answered, 1);
    ck_assert_double_eq(answered + errors, 20);
    ck_assert_double_le(field(out, "max_ms"), 300); /* answers later than -t are errors */
    ck_assert_uint_ge(fake_backend_connections(fb), 2);
    fake_backend_stop(fb);
}
END_TEST

START_TEST(openloop_refuses_bad_arguments)
{
    static const struct {
        const char *args[6];
        const char *reason;
    } cases[] = {
        {{"-d", "1", "http://127.0.0.1:9/api"}, "openloop: -r RATE is required ("},
        {{"-r", "0", "http://127.0.0.1:9/api"}, "openloop: -r RATE (requests per second) must"},
        {{"-r", "5x", "http://127.0.0.1:9/api"}, "openloop: -r RATE (requests per second) must"},
        {{"-r", "10", "-d", "21", "http://127.0.0.1:9/api"}, "openloop: -d SECONDS must"},
        {{"-r", "10", "https://127.0.0.1:9/api"}, "openloop: the URL must start with http://"},
        {{"-r", "10", "http://127.0.0.1:99999/api"}, "openloop: the URL's port must"},
        {{"-r", "10", "-H", "no colon", "http://127.0.0.1:9/"}, "openloop: -H takes"},
        {{"-r", "10", "-m", "task/frob", "http://127.0.0.1:9/"}, "openloop: -m takes"},
        {{"-r", "10"}, "openloop: one URL is required"},
        {{"-r", "200000", "-d", "20", "http://127.0.0.1:9/"}, "openloop: RATE * SECONDS"},
    };
    char out[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[8] = {openloop_bin()};
        for (int k = 0; k < 6 && cases[i].args[k]; k++)
            args[k + 1] = cases[i].args[k];
        ck_assert_int_eq(tp_run(args, out, sizeof out), 2);
        ck_assert_msg(strncmp(out, cases[i].reason, strlen(cases[i].reason)) == 0, "case %zu: %s",
                      i, out);
        ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
    }

    /* nothing listening: exit 1 and why */
    char url[64], expect[128];
    int port = tp_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api", port);
    snprintf(expect, sizeof expect, "openloop: cannot connect to 127.0.0.1:%d: ", port);
    const char *closed[] = {openloop_bin(), "-r", "10", "-d", "1", url, NULL};
    ck_assert_int_eq(tp_run(closed, out, sizeof out), 1);
    ck_assert_msg(strncmp(out, expect, strlen(expect)) == 0, "%s", out);
    ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
}
END_TEST

Suite *tools_suite(void)
{
    Suite *s = suite_create("tools");
    TCase *tc = tcase_create("openloop");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, openloop_sends_what_it_counts);
    tcase_add_test(tc, openloop_charges_a_stall_to_the_requests_behind_it);
    tcase_add_test(tc, openloop_counts_error_answers_and_dropped_connections);
    tcase_add_test(tc, openloop_times_out_slow_answers);
    tcase_add_test(tc, openloop_refuses_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
