/*
 * tests/check_tracker.c - adk_tracker against the fake backend (protocol 4.4, 7.3, 8.9).
 */
#include <check.h>
#include <string.h>

#include "internal.h"
#include "support/adk_fixture.h"

#define TRK_READY FX_TRACKER_JSON_FULL("\"" FX_EVENT "\"", "\"READY\"", "\"processed 1 event\"")
#define T_TRK 1772355900123456LL

START_TEST(test_tracker_get_by_task_and_agent_protocol_vector)
{
    adk_tracker_t *t = NULL;
    fake_backend_push(fx_fb, 200, "[" FX_TRACKER_JSON "]");
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(fx_c, FX_TASK, FX_AGENT, &t), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/tracker", "task_id=" FX_TASK "&agent_id=" FX_AGENT, NULL);
    ck_assert_str_eq(adk_tracker_id(t), FX_TRACKER);
    ck_assert_str_eq(adk_tracker_task_id(t), FX_TASK);
    ck_assert_str_eq(adk_tracker_agent_id(t), FX_AGENT);
    ck_assert_ptr_null(adk_tracker_status(t));
    ck_assert_ptr_null(adk_tracker_status_reason(t));
    ck_assert_ptr_null(adk_tracker_last_processed_event_id(t));
    ck_assert_int_eq(adk_tracker_created_at(t), T_TRK);
    adk_tracker_free(t);
}
END_TEST

START_TEST(test_tracker_get_by_task_and_agent_empty_is_enotfound)
{
    adk_tracker_t *t = (adk_tracker_t *)&t;
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(fx_c, "t", "a", &t), AGENTEX_ENOTFOUND);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_tracker_get_by_task_and_agent: no tracker for task t and agent a");
    fake_backend_push(fx_fb, 200, "null");
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(fx_c, "t", "a", &t), AGENTEX_EPROTO);
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(fx_c, "", "a", &t), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(fx_c, "t", NULL, &t), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(fx_c, "t", "a", NULL), AGENTEX_EINVAL);
    ck_assert_ptr_null(t);
    adk_fx_expect_count(2);
}
END_TEST

START_TEST(test_tracker_get_by_id)
{
    adk_tracker_t *t = NULL;
    fake_backend_push(fx_fb, 200, TRK_READY);
    ck_assert_int_eq(adk_tracker_get(fx_c, FX_TRACKER, &t), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/tracker/" FX_TRACKER, "", NULL);
    ck_assert_str_eq(adk_tracker_status(t), "READY");
    ck_assert_str_eq(adk_tracker_status_reason(t), "processed 1 event");
    ck_assert_str_eq(adk_tracker_last_processed_event_id(t), FX_EVENT);
    adk_tracker_free(t);
    ck_assert_int_eq(adk_tracker_get(fx_c, NULL, &t), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_tracker_get: tracker_id is NULL or empty");
    ck_assert_int_eq(adk_tracker_get(fx_c, FX_TRACKER, NULL), AGENTEX_EINVAL);
    adk_fx_expect_count(1);
}
END_TEST

START_TEST(test_tracker_list_filters_and_paging)
{
    adk_tracker_list_t *l = NULL;
    fake_backend_push(fx_fb, 200, "[" FX_TRACKER_JSON "," TRK_READY "]");
    ck_assert_int_eq(adk_tracker_list(fx_c, NULL, NULL, NULL, &l), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/tracker", "", NULL);
    ck_assert_uint_eq(adk_tracker_list_count(l), 2);
    ck_assert_str_eq(adk_tracker_status(adk_tracker_list_at(l, 1)), "READY");
    adk_tracker_list_free(l);

    adk_list_opts_t o = {.limit = 2, .page_number = 1, .order_direction = "desc"};
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_tracker_list(fx_c, NULL, FX_AGENT, &o, &l), AGENTEX_OK);
    adk_fx_expect(1, "GET", "/tracker",
                  "agent_id=" FX_AGENT "&limit=2&page_number=1&order_direction=desc", NULL);
    ck_assert_uint_eq(adk_tracker_list_count(l), 0);
    adk_tracker_list_free(l);

    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_tracker_list(fx_c, FX_TASK, FX_AGENT, NULL, &l), AGENTEX_OK);
    adk_fx_expect(2, "GET", "/tracker", "task_id=" FX_TASK "&agent_id=" FX_AGENT, NULL);
    adk_tracker_list_free(l);

    ck_assert_int_eq(adk_tracker_list(fx_c, "", NULL, NULL, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tracker_list(fx_c, NULL, NULL, NULL, NULL), AGENTEX_EINVAL);
    adk_list_opts_t bad = {.order_direction = "ASC"};
    ck_assert_int_eq(adk_tracker_list(fx_c, NULL, NULL, &bad, &l), AGENTEX_EINVAL);
    adk_fx_expect_count(3);
}
END_TEST

START_TEST(test_tracker_update_sends_all_three_keys)
{
    adk_tracker_t *t = NULL;
    fake_backend_push(fx_fb, 200, TRK_READY);
    ck_assert_int_eq(
        adk_tracker_update(fx_c, FX_TRACKER, FX_EVENT, "READY", "processed 1 event", false, &t),
        AGENTEX_OK);
    adk_fx_expect(0, "PUT", "/tracker/" FX_TRACKER, "",
                  "{\"last_processed_event_id\":\"" FX_EVENT
                  "\",\"status\":\"READY\",\"status_reason\":\"processed 1 event\"}");
    ck_assert_str_eq(adk_tracker_last_processed_event_id(t), FX_EVENT);
    adk_tracker_free(t);

    /* cursor NULL and status NULL without keep: explicit nulls, no extra GET */
    fake_backend_push(fx_fb, 200, FX_TRACKER_JSON);
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TRACKER, NULL, NULL, NULL, false, NULL),
                     AGENTEX_OK);
    adk_fx_expect(1, "PUT", "/tracker/" FX_TRACKER, "",
                  "{\"last_processed_event_id\":null,\"status\":null,\"status_reason\":null}");
    adk_fx_expect_count(2);
}
END_TEST

START_TEST(test_tracker_update_keep_status_resends_current_status)
{
    adk_tracker_t *t = NULL;
    fake_backend_push(fx_fb, 200, FX_TRACKER_JSON_FULL("null", "\"PROCESSING\"", "\"batch 3\""));
    fake_backend_push(fx_fb, 200, TRK_READY);
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TRACKER, FX_EVENT, NULL, NULL, true, &t),
                     AGENTEX_OK);
    adk_fx_expect(0, "GET", "/tracker/" FX_TRACKER, "", NULL);
    adk_fx_expect(1, "PUT", "/tracker/" FX_TRACKER, "",
                  "{\"last_processed_event_id\":\"" FX_EVENT
                  "\",\"status\":\"PROCESSING\",\"status_reason\":\"batch 3\"}");
    adk_fx_expect_count(2);
    adk_tracker_free(t);

    /* keep_status with an explicit reason keeps the status but sends the new reason */
    fake_backend_push(fx_fb, 200, FX_TRACKER_JSON_FULL("null", "\"PROCESSING\"", "\"batch 3\""));
    fake_backend_push(fx_fb, 200, TRK_READY);
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TRACKER, FX_EVENT, NULL, "new", true, NULL),
                     AGENTEX_OK);
    adk_fx_expect(3, "PUT", "/tracker/" FX_TRACKER, "",
                  "{\"last_processed_event_id\":\"" FX_EVENT
                  "\",\"status\":\"PROCESSING\",\"status_reason\":\"new\"}");

    /* keep_status with a status given: no GET */
    fake_backend_push(fx_fb, 200, TRK_READY);
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TRACKER, NULL, "DONE", NULL, true, NULL),
                     AGENTEX_OK);
    adk_fx_expect(4, "PUT", "/tracker/" FX_TRACKER, "",
                  "{\"last_processed_event_id\":null,\"status\":\"DONE\",\"status_reason\":null}");
    adk_fx_expect_count(5);
}
END_TEST

START_TEST(test_tracker_update_keep_status_get_failure_sends_nothing)
{
    fake_backend_push(fx_fb, 400,
                      "{\"message\":\"No record found for given key\",\"code\":400,\"data\":null}");
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TASK, FX_EVENT, NULL, NULL, true, NULL),
                     AGENTEX_EHTTP);
    adk_fx_expect(0, "GET", "/tracker/" FX_TASK, "", NULL);
    adk_fx_expect_count(1);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "No record found for given key"));

    /* a GET answer that is not a tracker: EPROTO, and still no PUT */
    fake_backend_push(fx_fb, 200, "{\"id\":\"" FX_TRACKER "\",\"status\":5}");
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TRACKER, FX_EVENT, NULL, NULL, true, NULL),
                     AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_tracker_update: the backend's answer is not an AgentTaskTracker");
    adk_fx_expect(1, "GET", "/tracker/" FX_TRACKER, "", NULL);
    adk_fx_expect_count(2);
}
END_TEST

START_TEST(test_tracker_update_cursor_errors_are_ehttp_with_message)
{
    adk_tracker_t *t = (adk_tracker_t *)&t;
    fake_backend_push(fx_fb, 400,
                      "{\"message\":\"Event with ID 00000000-0000-4000-8000-000000000000 not "
                      "found\",\"code\":400,\"data\":null}");
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TRACKER, "00000000-0000-4000-8000-000000000000",
                                        NULL, NULL, false, &t),
                     AGENTEX_EHTTP);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 400);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c),
                                 "Event with ID 00000000-0000-4000-8000-000000000000 not found"));

    fake_backend_push(fx_fb, 400,
                      "{\"message\":\"Cannot move cursor backwards: new sequence ID 1001 < "
                      "current sequence ID 1042\",\"code\":400,\"data\":null}");
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TRACKER, "older", "READY", NULL, false, &t),
                     AGENTEX_EHTTP);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "Cannot move cursor backwards"));
}
END_TEST

START_TEST(test_tracker_update_rejects_bad_arguments)
{
    ck_assert_int_eq(adk_tracker_update(fx_c, NULL, FX_EVENT, NULL, NULL, false, NULL),
                     AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_tracker_update: tracker_id is NULL or empty");
    ck_assert_int_eq(adk_tracker_update(fx_c, FX_TRACKER, "", NULL, NULL, false, NULL),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tracker_update(NULL, FX_TRACKER, NULL, NULL, NULL, false, NULL),
                     AGENTEX_EINVAL);
    adk_fx_expect_count(0);
}
END_TEST

static agentex_err_t call_update_keep(void *arg, void **out)
{
    adk_tracker_t *t = NULL;
    (void)arg;
    agentex_err_t err = adk_tracker_update(fx_c, FX_TRACKER, FX_EVENT, NULL, NULL, true, &t);
    *out = t;
    return err;
}

START_TEST(test_tracker_update_survives_every_allocation_failure)
{
    fake_backend_route(fx_fb, "GET", "/tracker/", 200,
                       FX_TRACKER_JSON_FULL("null", "\"PROCESSING\"", "\"x\""));
    fake_backend_route(fx_fb, "PUT", "/tracker/", 200, TRK_READY);
    adk_tracker_t *t = adk_fx_alloc_walk(call_update_keep, NULL, AGENTEX_OK);
    ck_assert_ptr_nonnull(t);
    adk_tracker_free(t);
}
END_TEST

START_TEST(test_tracker_empty_lookup_keeps_http_status)
{
    /* "no tracker" comes from a 200 answer, not from a 404: http_status says so */
    adk_tracker_t *t = (adk_tracker_t *)&t;
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(fx_c, "t", "a", &t), AGENTEX_ENOTFOUND);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 200);
    fake_backend_push(fx_fb, 200, "{}");
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(fx_c, "t", "a", &t), AGENTEX_EPROTO);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 200);
    adk_fx_expect_count(2);
}
END_TEST

Suite *tracker_suite(void);
Suite *tracker_suite(void)
{
    const TTest *tests[] = {
        test_tracker_get_by_task_and_agent_protocol_vector,
        test_tracker_get_by_task_and_agent_empty_is_enotfound,
        test_tracker_get_by_id,
        test_tracker_list_filters_and_paging,
        test_tracker_update_sends_all_three_keys,
        test_tracker_update_keep_status_resends_current_status,
        test_tracker_update_keep_status_get_failure_sends_nothing,
        test_tracker_update_cursor_errors_are_ehttp_with_message,
        test_tracker_update_rejects_bad_arguments,
        test_tracker_update_survives_every_allocation_failure,
        test_tracker_empty_lookup_keeps_http_status,
    };
    return adk_fx_suite("tracker", tests, sizeof tests / sizeof tests[0]);
}
