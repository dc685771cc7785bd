/*
 * tests/check_state.c - adk_state against the fake backend (protocol 4.3, 8.10).
 */
#include <check.h>
#include <string.h>

#include "internal.h"
#include "support/adk_fixture.h"

#define T_STATE 1772355901730000LL /* 2026-03-01T09:05:01.730000, no zone = UTC */

static cJSON *turns(int n)
{
    cJSON *s = cJSON_CreateObject();
    ck_assert_ptr_nonnull(cJSON_AddNumberToObject(s, "turns", n));
    return s;
}

START_TEST(test_state_create_sends_protocol_body_and_parses)
{
    cJSON *st = turns(0);
    adk_state_t *s = NULL;
    fake_backend_push(fx_fb, 200, FX_STATE_JSON("0"));
    ck_assert_int_eq(adk_state_create(fx_c, FX_TASK, FX_AGENT, st, &s), AGENTEX_OK);
    adk_fx_expect(0, "POST", "/states", "",
                  "{\"task_id\":\"" FX_TASK "\",\"agent_id\":\"" FX_AGENT
                  "\",\"state\":{\"turns\":0}}");
    ck_assert_str_eq(adk_state_id(s), FX_STATE);
    ck_assert_str_eq(adk_state_task_id(s), FX_TASK);
    ck_assert_str_eq(adk_state_agent_id(s), FX_AGENT);
    ck_assert_int_eq(adk_state_created_at(s), T_STATE);
    ck_assert_int_eq(adk_state_updated_at(s), ADK_TIME_NONE);
    const cJSON *v = adk_state_value(s);
    ck_assert(cJSON_IsObject(v));
    ck_assert_int_eq(cJSON_GetObjectItem(v, "turns")->valueint, 0);
    adk_state_free(s);
    cJSON_Delete(st);
}
END_TEST

START_TEST(test_state_create_copies_state_and_allows_null_out)
{
    cJSON *st = turns(3);
    fake_backend_push(fx_fb, 200, "garbage");
    ck_assert_int_eq(adk_state_create(fx_c, FX_TASK, FX_AGENT, st, NULL), AGENTEX_OK);
    /* the caller's tree is untouched */
    ck_assert_int_eq(cJSON_GetObjectItem(st, "turns")->valueint, 3);
    ck_assert_int_eq(cJSON_GetArraySize(st), 1);
    adk_fx_expect(0, "POST", "/states", "",
                  "{\"task_id\":\"" FX_TASK "\",\"agent_id\":\"" FX_AGENT
                  "\",\"state\":{\"turns\":3}}");
    cJSON_Delete(st);
}
END_TEST

START_TEST(test_state_create_rejects_bad_arguments)
{
    cJSON *st = turns(0);
    cJSON *arr = cJSON_CreateArray();
    adk_state_t *s = NULL;
    ck_assert_int_eq(adk_state_create(fx_c, NULL, FX_AGENT, st, &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_state_create(fx_c, FX_TASK, "", st, &s), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_state_create: agent_id is NULL or empty");
    ck_assert_int_eq(adk_state_create(fx_c, FX_TASK, FX_AGENT, NULL, &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_state_create(fx_c, FX_TASK, FX_AGENT, arr, &s), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_state_create: state is not a JSON object");
    ck_assert_int_eq(adk_state_create(NULL, FX_TASK, FX_AGENT, st, &s), AGENTEX_EINVAL);
    ck_assert_ptr_null(s);
    adk_fx_expect_count(0);
    cJSON_Delete(arr);
    cJSON_Delete(st);
}
END_TEST

START_TEST(test_state_get_and_404)
{
    adk_state_t *s = NULL;
    fake_backend_push(fx_fb, 200, FX_STATE_JSON("1"));
    ck_assert_int_eq(adk_state_get(fx_c, FX_STATE, &s), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/states/" FX_STATE, "", NULL);
    ck_assert_int_eq(cJSON_GetObjectItem(adk_state_value(s), "turns")->valueint, 1);
    adk_state_free(s);

    s = (adk_state_t *)&s;
    fake_backend_push(fx_fb, 404, FX_404_BODY);
    ck_assert_int_eq(adk_state_get(fx_c, "x y", &s), AGENTEX_ENOTFOUND);
    adk_fx_expect(1, "GET", "/states/x%20y", "", NULL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 404);

    ck_assert_int_eq(adk_state_get(fx_c, NULL, &s), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_state_get: state_id is NULL or empty");
    ck_assert_int_eq(adk_state_get(fx_c, FX_STATE, NULL), AGENTEX_EINVAL);
    adk_fx_expect_count(2);
}
END_TEST

START_TEST(test_state_get_by_task_and_agent_takes_first)
{
    adk_state_t *s = NULL;
    fake_backend_push(fx_fb, 200, "[" FX_STATE_JSON("7") "," FX_STATE_JSON("8") "]");
    ck_assert_int_eq(adk_state_get_by_task_and_agent(fx_c, FX_TASK, FX_AGENT, &s), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/states", "task_id=" FX_TASK "&agent_id=" FX_AGENT, NULL);
    ck_assert_int_eq(cJSON_GetObjectItem(adk_state_value(s), "turns")->valueint, 7);
    adk_state_free(s);
}
END_TEST

START_TEST(test_state_get_by_task_and_agent_empty_is_enotfound)
{
    adk_state_t *s = (adk_state_t *)&s;
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_state_get_by_task_and_agent(fx_c, "t", "a", &s), AGENTEX_ENOTFOUND);
    ck_assert_ptr_null(s);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_state_get_by_task_and_agent: no state for task t and agent a");

    fake_backend_push(fx_fb, 200, "{\"id\":\"x\"}");
    ck_assert_int_eq(adk_state_get_by_task_and_agent(fx_c, "t", "a", &s), AGENTEX_EPROTO);
    fake_backend_push(fx_fb, 200, "[{\"id\":3}]");
    ck_assert_int_eq(adk_state_get_by_task_and_agent(fx_c, "t", "a", &s), AGENTEX_EPROTO);
    ck_assert_ptr_null(s);

    ck_assert_int_eq(adk_state_get_by_task_and_agent(fx_c, NULL, "a", &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_state_get_by_task_and_agent(fx_c, "t", NULL, &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_state_get_by_task_and_agent(fx_c, "t", "a", NULL), AGENTEX_EINVAL);
    adk_fx_expect_count(3);
}
END_TEST

START_TEST(test_state_update_sends_state_first)
{
    cJSON *st = turns(1);
    adk_state_t *s = NULL;
    fake_backend_push(fx_fb, 200, FX_STATE_JSON("1"));
    ck_assert_int_eq(adk_state_update(fx_c, FX_STATE, FX_TASK, FX_AGENT, st, &s), AGENTEX_OK);
    adk_fx_expect(0, "PUT", "/states/" FX_STATE, "",
                  "{\"state\":{\"turns\":1},\"task_id\":\"" FX_TASK "\",\"agent_id\":\"" FX_AGENT
                  "\"}");
    ck_assert_int_eq(cJSON_GetObjectItem(adk_state_value(s), "turns")->valueint, 1);
    adk_state_free(s);

    ck_assert_int_eq(adk_state_update(fx_c, NULL, FX_TASK, FX_AGENT, st, &s), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_state_update: state_id is NULL or empty");
    ck_assert_int_eq(adk_state_update(fx_c, FX_STATE, "", FX_AGENT, st, &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_state_update(fx_c, FX_STATE, FX_TASK, NULL, st, &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_state_update(fx_c, FX_STATE, FX_TASK, FX_AGENT, NULL, &s), AGENTEX_EINVAL);
    adk_fx_expect_count(1);
    cJSON_Delete(st);
}
END_TEST

START_TEST(test_state_delete_returns_old_state)
{
    adk_state_t *s = NULL;
    fake_backend_push(fx_fb, 200, FX_STATE_JSON("1"));
    ck_assert_int_eq(adk_state_delete(fx_c, FX_STATE, &s), AGENTEX_OK);
    adk_fx_expect(0, "DELETE", "/states/" FX_STATE, "", NULL);
    ck_assert_str_eq(adk_state_id(s), FX_STATE);
    adk_state_free(s);

    fake_backend_push(fx_fb, 200, FX_STATE_JSON("1"));
    ck_assert_int_eq(adk_state_delete(fx_c, FX_STATE, NULL), AGENTEX_OK);
    adk_fx_expect(1, "DELETE", "/states/" FX_STATE, "", NULL);

    fake_backend_push(fx_fb, 404, FX_404_BODY);
    ck_assert_int_eq(adk_state_delete(fx_c, FX_STATE, NULL), AGENTEX_ENOTFOUND);
    ck_assert_int_eq(adk_state_delete(fx_c, "", NULL), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_state_delete: state_id is NULL or empty");
    adk_fx_expect_count(3);
}
END_TEST

START_TEST(test_state_500_is_ehttp)
{
    adk_state_t *s = NULL;
    fake_backend_push(fx_fb, 500,
                      "{\"message\":\"Internal Server Error. Class: X Exception: y\",\"code\":500,"
                      "\"data\":null}");
    ck_assert_int_eq(adk_state_get(fx_c, FX_STATE, &s), AGENTEX_EHTTP);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 500);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "Internal Server Error"));
    ck_assert_ptr_null(s);
}
END_TEST

static agentex_err_t call_update(void *st, void **out)
{
    adk_state_t *s = NULL;
    agentex_err_t err = adk_state_update(fx_c, FX_STATE, FX_TASK, FX_AGENT, st, &s);
    *out = s;
    return err;
}

START_TEST(test_state_calls_survive_every_allocation_failure)
{
    cJSON *st = turns(2);
    fake_backend_route(fx_fb, "PUT", "/states/", 200, FX_STATE_JSON("2"));
    adk_state_t *s = adk_fx_alloc_walk(call_update, st, AGENTEX_OK);
    ck_assert_ptr_nonnull(s);
    adk_state_free(s);
    cJSON_Delete(st);
}
END_TEST

Suite *state_suite(void);
Suite *state_suite(void)
{
    const TTest *tests[] = {
        test_state_create_sends_protocol_body_and_parses,
        test_state_create_copies_state_and_allows_null_out,
        test_state_create_rejects_bad_arguments,
        test_state_get_and_404,
        test_state_get_by_task_and_agent_takes_first,
        test_state_get_by_task_and_agent_empty_is_enotfound,
        test_state_update_sends_state_first,
        test_state_delete_returns_old_state,
        test_state_500_is_ehttp,
        test_state_calls_survive_every_allocation_failure,
    };
    return adk_fx_suite("state", tests, sizeof tests / sizeof tests[0]);
}
