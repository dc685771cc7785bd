/*
 * tests/check_events.c - adk_events against the fake backend (protocol 4.2, 8.9).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "support/adk_fixture.h"

#define T_EVENT 1772355970500000LL /* 2026-03-01T09:06:10.500000Z */

START_TEST(test_events_get_parses_event)
{
    adk_event_t *e = NULL;
    fake_backend_push(fx_fb, 200, FX_EVENT_JSON);
    ck_assert_int_eq(adk_events_get(fx_c, FX_EVENT, &e), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/events/" FX_EVENT, "", NULL);
    ck_assert_str_eq(adk_event_id(e), FX_EVENT);
    ck_assert_int_eq(adk_event_sequence_id(e), 1042);
    ck_assert_str_eq(adk_event_task_id(e), FX_TASK);
    ck_assert_str_eq(adk_event_agent_id(e), FX_AGENT);
    ck_assert_int_eq(adk_event_created_at(e), T_EVENT);
    ck_assert_str_eq(adk_content_text(adk_event_content(e)), "What is the forecast?");
    ck_assert_int_eq(adk_content_author(adk_event_content(e)), ADK_AUTHOR_USER);
    adk_event_free(e);
}
END_TEST

START_TEST(test_events_get_escapes_odd_id_and_maps_404)
{
    adk_event_t *e = (adk_event_t *)&e;
    fake_backend_push(fx_fb, 404, FX_404_BODY);
    ck_assert_int_eq(adk_events_get(fx_c, "../tasks ?x", &e), AGENTEX_ENOTFOUND);
    adk_fx_expect(0, "GET", "/events/..%2Ftasks%20%3Fx", "", NULL);
    ck_assert_ptr_null(e);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "does not exist"));
}
END_TEST

START_TEST(test_events_get_rejects_null_args_and_bad_shape)
{
    adk_event_t *e = NULL;
    ck_assert_int_eq(adk_events_get(fx_c, NULL, &e), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_events_get: event_id is NULL or empty");
    ck_assert_int_eq(adk_events_get(fx_c, "", &e), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_events_get(fx_c, FX_EVENT, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_events_get(NULL, FX_EVENT, &e), AGENTEX_EINVAL);
    adk_fx_expect_count(0);
    fake_backend_push(fx_fb, 200, "{\"id\":\"" FX_EVENT "\",\"sequence_id\":\"x\"}");
    ck_assert_int_eq(adk_events_get(fx_c, FX_EVENT, &e), AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_events_get: the backend's answer is not an Event");
    ck_assert_ptr_null(e);
}
END_TEST

START_TEST(test_events_list_cursor_walk_of_protocol)
{
    adk_event_list_t *l = NULL;
    fake_backend_push(fx_fb, 200, "[" FX_EVENT_JSON "]");
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, NULL, 100, &l), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/events", "task_id=" FX_TASK "&agent_id=" FX_AGENT "&limit=100", NULL);
    ck_assert_uint_eq(adk_event_list_count(l), 1);
    const adk_event_t *e = adk_event_list_at(l, 0);
    ck_assert_str_eq(adk_event_id(e), FX_EVENT);
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%s", adk_event_id(e));
    adk_event_list_free(l);

    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, cursor, 0, &l), AGENTEX_OK);
    adk_fx_expect(1, "GET", "/events",
                  "task_id=" FX_TASK "&agent_id=" FX_AGENT "&last_processed_event_id=" FX_EVENT,
                  NULL);
    ck_assert_uint_eq(adk_event_list_count(l), 0);
    ck_assert_ptr_null(adk_event_list_at(l, 0));
    adk_event_list_free(l);
}
END_TEST

START_TEST(test_events_list_keeps_backend_order_and_large_sequence_ids)
{
    adk_event_list_t *l = NULL;
    fake_backend_push(fx_fb, 200,
                      "[{\"id\":\"a\",\"sequence_id\":4294967297,\"task_id\":\"t\","
                      "\"agent_id\":\"g\",\"created_at\":null,\"content\":null,\"extra\":1},"
                      "{\"id\":\"b\",\"sequence_id\":4294967299,\"task_id\":\"t\","
                      "\"agent_id\":\"g\",\"created_at\":\"2026-03-01T09:06:10Z\"}]");
    ck_assert_int_eq(adk_events_list(fx_c, "t", "g", NULL, 1000, &l), AGENTEX_OK);
    ck_assert_uint_eq(adk_event_list_count(l), 2);
    ck_assert_str_eq(adk_event_id(adk_event_list_at(l, 0)), "a");
    ck_assert_int_eq(adk_event_sequence_id(adk_event_list_at(l, 0)), 4294967297LL);
    ck_assert_int_eq(adk_event_sequence_id(adk_event_list_at(l, 1)), 4294967299LL);
    ck_assert_ptr_null(adk_event_content(adk_event_list_at(l, 0)));
    ck_assert_int_eq(adk_event_created_at(adk_event_list_at(l, 0)), ADK_TIME_NONE);
    adk_event_list_free(l);
}
END_TEST

START_TEST(test_events_list_escapes_query_values)
{
    adk_event_list_t *l = NULL;
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_events_list(fx_c, "t 1", "a&b", "c=d", 1, &l), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/events",
                  "task_id=t%201&agent_id=a%26b&last_processed_event_id=c%3Dd&limit=1", NULL);
    adk_event_list_free(l);
}
END_TEST

START_TEST(test_events_list_rejects_bad_arguments)
{
    adk_event_list_t *l = NULL;
    ck_assert_int_eq(adk_events_list(fx_c, NULL, FX_AGENT, NULL, 0, &l), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_events_list: task_id is NULL or empty");
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, "", NULL, 0, &l), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_events_list: agent_id is NULL or empty");
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, "", 0, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, NULL, 1001, &l), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_events_list: limit 1001 is outside 1-1000 (0 leaves it out)");
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, NULL, -1, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, NULL, 0, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_events_list(NULL, FX_TASK, FX_AGENT, NULL, 0, &l), AGENTEX_EINVAL);
    ck_assert_ptr_null(l);
    adk_fx_expect_count(0);
}
END_TEST

START_TEST(test_events_list_errors_map)
{
    adk_event_list_t *l = NULL;
    fake_backend_push(fx_fb, 422, FX_422_BODY);
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, NULL, 0, &l), AGENTEX_EHTTP);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 422);
    fake_backend_push(fx_fb, 401, "{\"detail\":\"Agent Unauthorized\"}");
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, NULL, 0, &l), AGENTEX_EAUTH);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "Agent Unauthorized"));
    fake_backend_push(fx_fb, 200, "[{\"id\":\"a\"}]");
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, NULL, 0, &l), AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_events_list: the backend's answer is not a list of Events");
    ck_assert_ptr_null(l);
}
END_TEST

START_TEST(test_events_slow_backend_is_etimedout)
{
    adk_event_list_t *l = (adk_event_list_t *)&l;
    ck_assert_int_eq(agentex_client_set_timeouts(fx_c, 500, 300), AGENTEX_OK);
    fake_backend_push_delayed(fx_fb, 1500, 200, "[]");
    ck_assert_int_eq(adk_events_list(fx_c, FX_TASK, FX_AGENT, NULL, 0, &l), AGENTEX_ETIMEDOUT);
    ck_assert_ptr_null(l);
    ck_assert_str_ne(agentex_client_errmsg(fx_c), "");
}
END_TEST

static agentex_err_t call_list(void *arg, void **out)
{
    adk_event_list_t *l = NULL;
    (void)arg;
    agentex_err_t err = adk_events_list(fx_c, FX_TASK, FX_AGENT, FX_EVENT, 10, &l);
    *out = l;
    return err;
}

START_TEST(test_events_calls_survive_every_allocation_failure)
{
    fake_backend_route(fx_fb, "GET", "/events", 200, "[" FX_EVENT_JSON "]");
    adk_event_list_t *l = adk_fx_alloc_walk(call_list, NULL, AGENTEX_OK);
    ck_assert_uint_eq(adk_event_list_count(l), 1);
    adk_event_list_free(l);
}
END_TEST

Suite *events_suite(void);
Suite *events_suite(void)
{
    const TTest *tests[] = {
        test_events_get_parses_event,
        test_events_get_escapes_odd_id_and_maps_404,
        test_events_get_rejects_null_args_and_bad_shape,
        test_events_list_cursor_walk_of_protocol,
        test_events_list_keeps_backend_order_and_large_sequence_ids,
        test_events_list_escapes_query_values,
        test_events_list_rejects_bad_arguments,
        test_events_list_errors_map,
        test_events_slow_backend_is_etimedout,
        test_events_calls_survive_every_allocation_failure,
    };
    return adk_fx_suite("events", tests, sizeof tests / sizeof tests[0]);
}
