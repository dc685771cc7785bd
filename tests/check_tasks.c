/*
 * tests/check_tasks.c - adk_tasks and adk_agents against the fake backend (protocol 4.5,
 * 4.6, 8.11).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "support/adk_fixture.h"

#define T_TASK 1772355900123456LL
#define T_AGENT 1772355600412000LL

#define TASK_WITH_AGENTS                                                                           \
    "{\"id\":\"" FX_TASK "\",\"name\":\"weather-1\",\"status\":\"RUNNING\",\"status_reason\":"     \
    "\"Task created, forwarding to ACP server\",\"created_at\":\"2026-03-01T09:05:00.123456Z\","   \
    "\"updated_at\":\"2026-03-01T09:05:00.123456Z\",\"cleaned_at\":null,\"params\":{\"topic\":"    \
    "\"weather\"},\"task_metadata\":null,\"agents\":null}"

START_TEST(test_tasks_get_parses_task)
{
    adk_task_t *t = NULL;
    fake_backend_push(fx_fb, 200, TASK_WITH_AGENTS);
    ck_assert_int_eq(adk_tasks_get(fx_c, FX_TASK, &t), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/tasks/" FX_TASK, "", NULL);
    ck_assert_str_eq(adk_task_id(t), FX_TASK);
    ck_assert_str_eq(adk_task_name(t), "weather-1");
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_RUNNING);
    ck_assert_str_eq(adk_task_status_reason(t), "Task created, forwarding to ACP server");
    ck_assert_str_eq(cJSON_GetObjectItem(adk_task_params(t), "topic")->valuestring, "weather");
    ck_assert_int_eq(adk_task_created_at(t), T_TASK);
    adk_task_free(t);
}
END_TEST

START_TEST(test_tasks_get_by_name_escapes_and_404)
{
    adk_task_t *t = (adk_task_t *)&t;
    fake_backend_push(fx_fb, 200, TASK_WITH_AGENTS);
    ck_assert_int_eq(adk_tasks_get_by_name(fx_c, "weather 1/2", &t), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/tasks/name/weather%201%2F2", "", NULL);
    adk_task_free(t);

    t = (adk_task_t *)&t;
    fake_backend_push(fx_fb, 404, FX_404_BODY);
    ck_assert_int_eq(adk_tasks_get(fx_c, FX_TASK, &t), AGENTEX_ENOTFOUND);
    ck_assert_ptr_null(t);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "does not exist"));

    ck_assert_int_eq(adk_tasks_get(fx_c, "", &t), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_tasks_get: task_id is NULL or empty");
    ck_assert_int_eq(adk_tasks_get_by_name(fx_c, NULL, &t), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_tasks_get_by_name: name is NULL or empty");
    ck_assert_int_eq(adk_tasks_get(fx_c, FX_TASK, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tasks_get(NULL, FX_TASK, &t), AGENTEX_EINVAL);
    adk_fx_expect_count(2);

    fake_backend_push(fx_fb, 200, "{\"id\":\"" FX_TASK "\",\"status\":7}");
    ck_assert_int_eq(adk_tasks_get(fx_c, FX_TASK, &t), AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_tasks_get: the backend's answer is not a Task");
}
END_TEST

START_TEST(test_tasks_list_filters_and_summary_shape)
{
    adk_task_list_t *l = NULL;
    /* GET /tasks answers a summary without params */
    fake_backend_push(fx_fb, 200,
                      "[{\"id\":\"t1\",\"name\":null,\"status\":\"COMPLETED\",\"status_reason\":"
                      "\"answered\",\"created_at\":\"2026-03-01T09:05:00Z\",\"updated_at\":"
                      "\"2026-03-01T09:05:00Z\",\"task_metadata\":{\"owner\":\"u1\"}}]");
    adk_list_opts_t o = {.limit = 10, .order_by = "updated_at"};
    ck_assert_int_eq(adk_tasks_list(fx_c, FX_AGENT, "demo-agent", &o, &l), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/tasks",
                  "agent_id=" FX_AGENT "&agent_name=demo-agent&limit=10&order_by=updated_at", NULL);
    ck_assert_uint_eq(adk_task_list_count(l), 1);
    const adk_task_t *t = adk_task_list_at(l, 0);
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_COMPLETED);
    ck_assert_ptr_null(adk_task_name(t));
    adk_task_list_free(l);

    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_tasks_list(fx_c, NULL, NULL, NULL, &l), AGENTEX_OK);
    adk_fx_expect(1, "GET", "/tasks", "", NULL);
    ck_assert_uint_eq(adk_task_list_count(l), 0);
    adk_task_list_free(l);

    ck_assert_int_eq(adk_tasks_list(fx_c, "", NULL, NULL, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tasks_list(fx_c, NULL, "", NULL, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tasks_list(fx_c, NULL, NULL, NULL, NULL), AGENTEX_EINVAL);
    adk_fx_expect_count(2);
}
END_TEST

START_TEST(test_tasks_update_metadata_and_merge_params)
{
    cJSON *md = cJSON_Parse("{\"owner\":\"u1\"}");
    cJSON *mp = cJSON_Parse("{\"topic\":\"rain\"}");
    adk_task_t *t = NULL;
    fake_backend_push(fx_fb, 200, FX_TASK_JSON);
    ck_assert_int_eq(adk_tasks_update(fx_c, FX_TASK, md, NULL, &t), AGENTEX_OK);
    adk_fx_expect(0, "PUT", "/tasks/" FX_TASK, "", "{\"task_metadata\":{\"owner\":\"u1\"}}");
    ck_assert_ptr_nonnull(t);
    adk_task_free(t);

    fake_backend_push(fx_fb, 200, FX_TASK_JSON);
    ck_assert_int_eq(adk_tasks_update(fx_c, FX_TASK, NULL, mp, NULL), AGENTEX_OK);
    adk_fx_expect(1, "PUT", "/tasks/" FX_TASK, "", "{\"merge_params\":{\"topic\":\"rain\"}}");

    fake_backend_push(fx_fb, 200, FX_TASK_JSON);
    ck_assert_int_eq(adk_tasks_update(fx_c, FX_TASK, md, mp, NULL), AGENTEX_OK);
    adk_fx_expect(2, "PUT", "/tasks/" FX_TASK, "",
                  "{\"task_metadata\":{\"owner\":\"u1\"},\"merge_params\":{\"topic\":\"rain\"}}");

    cJSON *str = cJSON_CreateString("x");
    ck_assert_int_eq(adk_tasks_update(fx_c, FX_TASK, NULL, NULL, &t), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_tasks_update: task_metadata and merge_params are both NULL");
    ck_assert_int_eq(adk_tasks_update(fx_c, FX_TASK, str, NULL, &t), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tasks_update(fx_c, FX_TASK, NULL, str, &t), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_tasks_update(fx_c, NULL, md, NULL, &t), AGENTEX_EINVAL);
    adk_fx_expect_count(3);
    cJSON_Delete(str);
    cJSON_Delete(md);
    cJSON_Delete(mp);
}
END_TEST

START_TEST(test_tasks_transitions_post_reason)
{
    static const struct {
        agentex_err_t (*fn)(agentex_client_t *, const char *, const char *, adk_task_t **);
        const char *suffix;
        const char *status;
        adk_task_status_t st;
    } cases[] = {
        {adk_tasks_complete, "/complete", "COMPLETED", ADK_TASK_COMPLETED},
        {adk_tasks_fail, "/fail", "FAILED", ADK_TASK_FAILED},
        {adk_tasks_cancel, "/cancel", "CANCELED", ADK_TASK_CANCELED},
        {adk_tasks_terminate, "/terminate", "TERMINATED", ADK_TASK_TERMINATED},
        {adk_tasks_timeout, "/timeout", "TIMED_OUT", ADK_TASK_TIMED_OUT},
        {adk_tasks_interrupt, "/interrupt", "INTERRUPTED", ADK_TASK_INTERRUPTED},
    };
    size_t req = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char answer[1024], path[256];
        snprintf(answer, sizeof answer,
                 "{\"id\":\"" FX_TASK "\",\"name\":null,\"status\":\"%s\",\"status_reason\":"
                 "\"answered\",\"created_at\":\"2026-03-01T09:05:00.123456Z\",\"updated_at\":"
                 "\"2026-03-01T09:07:00.000000Z\",\"cleaned_at\":null,\"params\":null,"
                 "\"task_metadata\":null}",
                 cases[i].status);
        snprintf(path, sizeof path, "/tasks/" FX_TASK "%s", cases[i].suffix);
        adk_task_t *t = NULL;
        fake_backend_push(fx_fb, 200, answer);
        ck_assert_int_eq(cases[i].fn(fx_c, FX_TASK, "answered", &t), AGENTEX_OK);
        adk_fx_expect(req++, "POST", path, "", "{\"reason\":\"answered\"}");
        ck_assert_int_eq(adk_task_status(t), cases[i].st);
        ck_assert_str_eq(adk_task_status_reason(t), "answered");
        adk_task_free(t);

        /* reason NULL sends null; out NULL ignores the answer */
        fake_backend_push(fx_fb, 200, answer);
        ck_assert_int_eq(cases[i].fn(fx_c, FX_TASK, NULL, NULL), AGENTEX_OK);
        adk_fx_expect(req++, "POST", path, "", "{\"reason\":null}");

        ck_assert_int_eq(cases[i].fn(fx_c, "", NULL, NULL), AGENTEX_EINVAL);
        ck_assert_int_eq(cases[i].fn(NULL, FX_TASK, NULL, NULL), AGENTEX_EINVAL);
    }
    adk_fx_expect_count(req);
}
END_TEST

START_TEST(test_tasks_illegal_transition_is_ehttp)
{
    adk_task_t *t = (adk_task_t *)&t;
    fake_backend_push(fx_fb, 400,
                      "{\"message\":\"Task " FX_TASK " cannot be transitioned (current status: "
                      "TaskStatus.COMPLETED). Only running or interrupted tasks can have their "
                      "status updated.\",\"code\":400,\"data\":null}");
    ck_assert_int_eq(adk_tasks_fail(fx_c, FX_TASK, NULL, &t), AGENTEX_EHTTP);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 400);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "cannot be transitioned"));
}
END_TEST

START_TEST(test_tasks_delete)
{
    fake_backend_push(fx_fb, 200,
                      "{\"id\":\"" FX_TASK "\",\"message\":\"Task " FX_TASK
                      " deleted successfully\"}");
    ck_assert_int_eq(adk_tasks_delete(fx_c, FX_TASK), AGENTEX_OK);
    adk_fx_expect(0, "DELETE", "/tasks/" FX_TASK, "", NULL);
    fake_backend_push(fx_fb, 404, FX_404_BODY);
    ck_assert_int_eq(adk_tasks_delete(fx_c, FX_TASK), AGENTEX_ENOTFOUND);
    ck_assert_int_eq(adk_tasks_delete(fx_c, NULL), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_tasks_delete: task_id is NULL or empty");
    ck_assert_int_eq(adk_tasks_delete(NULL, FX_TASK), AGENTEX_EINVAL);
    adk_fx_expect_count(2);
}
END_TEST

START_TEST(test_agents_get_and_by_name)
{
    adk_agent_t *a = NULL;
    fake_backend_push(fx_fb, 200, FX_AGENT_JSON);
    ck_assert_int_eq(adk_agents_get(fx_c, FX_AGENT, &a), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/agents/" FX_AGENT, "", NULL);
    ck_assert_str_eq(adk_agent_id(a), FX_AGENT);
    ck_assert_str_eq(adk_agent_name(a), "demo-agent");
    ck_assert_str_eq(adk_agent_acp_type(a), "async");
    ck_assert_str_eq(adk_agent_status(a), "Ready");
    ck_assert_int_eq(adk_agent_created_at(a), T_AGENT);
    adk_agent_free(a);

    fake_backend_push(fx_fb, 200, FX_AGENT_JSON);
    ck_assert_int_eq(adk_agents_get_by_name(fx_c, "demo-agent", &a), AGENTEX_OK);
    adk_fx_expect(1, "GET", "/agents/name/demo-agent", "", NULL);
    adk_agent_free(a);

    a = (adk_agent_t *)&a;
    fake_backend_push(fx_fb, 404, FX_404_BODY);
    ck_assert_int_eq(adk_agents_get_by_name(fx_c, "no such/agent", &a), AGENTEX_ENOTFOUND);
    adk_fx_expect(2, "GET", "/agents/name/no%20such%2Fagent", "", NULL);
    ck_assert_ptr_null(a);

    ck_assert_int_eq(adk_agents_get(fx_c, NULL, &a), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_agents_get: agent_id is NULL or empty");
    ck_assert_int_eq(adk_agents_get_by_name(fx_c, "", &a), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_agents_get(fx_c, FX_AGENT, NULL), AGENTEX_EINVAL);
    adk_fx_expect_count(3);

    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_agents_get(fx_c, FX_AGENT, &a), AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_agents_get: the backend's answer is not an Agent");
}
END_TEST

START_TEST(test_agents_list_paging)
{
    adk_agent_list_t *l = NULL;
    fake_backend_push(fx_fb, 200, "[" FX_AGENT_JSON "]");
    ck_assert_int_eq(adk_agents_list(fx_c, NULL, &l), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/agents", "", NULL);
    ck_assert_uint_eq(adk_agent_list_count(l), 1);
    ck_assert_str_eq(adk_agent_name(adk_agent_list_at(l, 0)), "demo-agent");
    adk_agent_list_free(l);

    adk_list_opts_t o = {
        .limit = 1, .page_number = 2, .order_by = "name", .order_direction = "asc"};
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_agents_list(fx_c, &o, &l), AGENTEX_OK);
    adk_fx_expect(1, "GET", "/agents", "limit=1&page_number=2&order_by=name&order_direction=asc",
                  NULL);
    adk_agent_list_free(l);

    fake_backend_push(fx_fb, 422, FX_422_BODY);
    ck_assert_int_eq(adk_agents_list(fx_c, NULL, &l), AGENTEX_EHTTP);
    ck_assert_ptr_null(l);
    ck_assert_int_eq(adk_agents_list(fx_c, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_agents_list(NULL, NULL, &l), AGENTEX_EINVAL);
    adk_fx_expect_count(3);
}
END_TEST

static agentex_err_t call_complete(void *arg, void **out)
{
    adk_task_t *t = NULL;
    (void)arg;
    agentex_err_t err = adk_tasks_complete(fx_c, FX_TASK, "done", &t);
    *out = t;
    return err;
}

START_TEST(test_tasks_calls_survive_every_allocation_failure)
{
    fake_backend_route(fx_fb, "POST", "/tasks/", 200, FX_TASK_JSON);
    adk_task_t *t = adk_fx_alloc_walk(call_complete, NULL, AGENTEX_OK);
    ck_assert_ptr_nonnull(t);
    adk_task_free(t);
}
END_TEST

START_TEST(test_tasks_http_status_kept_after_unparsable_answer)
{
    /* agentex_client_http_status(3): the status of the last response, 0 only if none
     * arrived.  A 200 whose body is not a Task is EPROTO, but a response did arrive. */
    adk_task_t *t = (adk_task_t *)&t;
    fake_backend_push(fx_fb, 200, "{\"name\":\"no id\"}");
    ck_assert_int_eq(adk_tasks_get(fx_c, FX_TASK, &t), AGENTEX_EPROTO);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_tasks_get: the backend's answer is not a Task");
    ck_assert_int_eq(agentex_client_http_status(fx_c), 200);
    /* an argument error after it: no response, status 0 again */
    ck_assert_int_eq(adk_tasks_get(fx_c, "", &t), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 0);
    adk_fx_expect_count(1);
}
END_TEST

Suite *tasks_suite(void);
Suite *tasks_suite(void)
{
    const TTest *tests[] = {
        test_tasks_get_parses_task,
        test_tasks_get_by_name_escapes_and_404,
        test_tasks_list_filters_and_summary_shape,
        test_tasks_update_metadata_and_merge_params,
        test_tasks_transitions_post_reason,
        test_tasks_illegal_transition_is_ehttp,
        test_tasks_delete,
        test_agents_get_and_by_name,
        test_agents_list_paging,
        test_tasks_calls_survive_every_allocation_failure,
        test_tasks_http_status_kept_after_unparsable_answer,
    };
    return adk_fx_suite("tasks", tests, sizeof tests / sizeof tests[0]);
}
