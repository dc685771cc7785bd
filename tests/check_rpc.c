/*
 * tests/check_rpc.c - adk_rpc (client JSON-RPC through the backend) against the fake
 * backend (protocol 4.7, 8.14).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support/adk_fixture.h"

/* The id the library put into request i. */
static long request_id(size_t i)
{
    ck_assert_uint_ge(fake_backend_wait(fx_fb, i + 1, 2000), i + 1);
    const fake_request_t *r = fake_backend_request(fx_fb, i);
    cJSON *b = cJSON_Parse(r->body);
    ck_assert_ptr_nonnull(b);
    cJSON *id = cJSON_GetObjectItem(b, "id");
    ck_assert(cJSON_IsNumber(id));
    long v = (long)id->valuedouble;
    cJSON_Delete(b);
    return v;
}

/* A fake backend that answers the next RPC with the id the request will carry is not
 * possible with a FIFO (the id is chosen by the library), so each test first learns the
 * counter with one call answered by an error, then scripts answers for id+1, id+2... */
static long learn_next_id(void)
{
    size_t before = fake_backend_count(fx_fb);
    fake_backend_push(fx_fb, 500, "{\"message\":\"x\",\"code\":500,\"data\":null}");
    cJSON *res = NULL;
    ck_assert_int_eq(adk_rpc_call(fx_c, "demo-agent", "task/create", NULL, &res), AGENTEX_EHTTP);
    return request_id(before) + 1;
}

static void push_result(long id, const char *result_json)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "{\"jsonrpc\":\"2.0\",\"result\":%s,\"error\":null,\"id\":%ld}",
             result_json, id);
    fake_backend_push(fx_fb, 200, buf);
}

START_TEST(test_rpc_event_send_protocol_vector)
{
    long id = learn_next_id();
    adk_content_t *ct = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, "What is the forecast?", &ct),
                     AGENTEX_OK);
    push_result(id, FX_EVENT_JSON);
    adk_event_t *e = NULL;
    ck_assert_int_eq(adk_rpc_event_send(fx_c, "demo-agent", FX_TASK, ct, &e), AGENTEX_OK);

    cJSON *cj = NULL;
    ck_assert_int_eq(adk_content_to_json(ct, &cj), AGENTEX_OK);
    char *ctext = cJSON_PrintUnformatted(cj);
    char want[2048];
    snprintf(want, sizeof want,
             "{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":{\"task_id\":\"" FX_TASK
             "\",\"content\":%s},\"id\":%ld}",
             ctext, id);
    adk_fx_expect(1, "POST", "/agents/name/demo-agent/rpc", "", want);
    /* and the content is the protocol's (key order and defaults aside) */
    cJSON *want_c = cJSON_Parse("{\"type\":\"text\",\"author\":\"user\",\"content\":"
                                "\"What is the forecast?\"}");
    cJSON_DeleteItemFromObject(cj, "style");
    cJSON_DeleteItemFromObject(cj, "format");
    cJSON_DeleteItemFromObject(cj, "attachments");
    ck_assert_msg(cJSON_Compare(cj, want_c, 1), "content %s", ctext);

    ck_assert_str_eq(adk_event_id(e), FX_EVENT);
    ck_assert_int_eq(adk_event_sequence_id(e), 1042);
    adk_event_free(e);
    cJSON_Delete(want_c);
    free(ctext);
    cJSON_Delete(cj);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_rpc_ids_increase)
{
    long id = learn_next_id();
    push_result(id, "null");
    push_result(id + 1, "null");
    cJSON *res = NULL;
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", NULL, &res), AGENTEX_OK);
    ck_assert(cJSON_IsNull(res));
    cJSON_Delete(res);
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", NULL, NULL), AGENTEX_OK);
    ck_assert_int_eq(request_id(1), id);
    ck_assert_int_eq(request_id(2), id + 1);
}
END_TEST

START_TEST(test_rpc_call_generic_body_and_by_id)
{
    long id = learn_next_id();
    cJSON *params = cJSON_Parse("{\"task_name\":\"t 1\"}");
    push_result(id, "{\"k\":[1,2]}");
    cJSON *res = NULL;
    ck_assert_int_eq(adk_rpc_call(fx_c, "demo agent/x", "task/cancel", params, &res), AGENTEX_OK);
    char want[512];
    snprintf(want, sizeof want,
             "{\"jsonrpc\":\"2.0\",\"method\":\"task/cancel\",\"params\":{\"task_name\":\"t 1\"},"
             "\"id\":%ld}",
             id);
    adk_fx_expect(1, "POST", "/agents/name/demo%20agent%2Fx/rpc", "", want);
    char *txt = cJSON_PrintUnformatted(res);
    ck_assert_str_eq(txt, "{\"k\":[1,2]}");
    free(txt);
    cJSON_Delete(res);

    push_result(id + 1, "{}");
    ck_assert_int_eq(adk_rpc_call_by_id(fx_c, FX_AGENT, "event/send", NULL, &res), AGENTEX_OK);
    snprintf(want, sizeof want,
             "{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":{},\"id\":%ld}", id + 1);
    adk_fx_expect(2, "POST", "/agents/" FX_AGENT "/rpc", "", want);
    cJSON_Delete(res);
    cJSON_Delete(params);
}
END_TEST

START_TEST(test_rpc_error_object_is_erpc_with_code_and_message)
{
    long id = learn_next_id();
    char buf[512];
    snprintf(buf, sizeof buf,
             "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":-32603,\"message\":"
             "\"All connection attempts failed\",\"data\":null},\"id\":%ld}",
             id);
    fake_backend_push(fx_fb, 200, buf);
    adk_event_t *e = (adk_event_t *)&e;
    ck_assert_int_eq(adk_rpc_event_send(fx_c, "demo-agent", FX_TASK, NULL, &e), AGENTEX_ERPC);
    ck_assert_ptr_null(e);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "-32603: All connection attempts failed");
    /* content NULL leaves the key out */
    snprintf(buf, sizeof buf,
             "{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":{\"task_id\":\"" FX_TASK
             "\"},\"id\":%ld}",
             id);
    adk_fx_expect(1, "POST", "/agents/name/demo-agent/rpc", "", buf);

    /* an error answer to an unreadable request carries id null */
    fake_backend_push(fx_fb, 200,
                      "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":-32700,"
                      "\"message\":\"Parse error\"},\"id\":null}");
    cJSON *res = NULL;
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", NULL, &res), AGENTEX_ERPC);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "-32700: Parse error");
    ck_assert_ptr_null(res);
}
END_TEST

START_TEST(test_rpc_bad_envelopes_are_eproto)
{
    static const char *const answers[] = {
        "{\"jsonrpc\":\"1.0\",\"result\":{},\"error\":null,\"id\":%ld}",
        "{\"result\":{},\"error\":null,\"id\":%ld}",
        "{\"jsonrpc\":\"2.0\",\"result\":{},\"error\":null,\"id\":%ld9}",
        "{\"jsonrpc\":\"2.0\",\"result\":{},\"error\":null,\"id\":\"%ld\"}",
        "{\"jsonrpc\":\"2.0\",\"error\":null,\"id\":%ld}",
        "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":\"boom\",\"id\":%ld}",
        "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":-1},\"id\":%ld7}",
        "[1,%ld]",
    };
    static const char *const msgs[] = {
        "adk_rpc_call: the answer's \"jsonrpc\" is not \"2.0\"",
        "adk_rpc_call: the answer's \"jsonrpc\" is not \"2.0\"",
        NULL,
        NULL,
        "adk_rpc_call: the answer has no \"result\"",
        "adk_rpc_call: malformed JSON-RPC error object",
        NULL,
        "adk_rpc_call: the answer is not a JSON-RPC object",
    };
    long id = learn_next_id();
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, answers[i], id + (long)i);
        fake_backend_push(fx_fb, 200, buf);
        cJSON *res = (cJSON *)&res;
        ck_assert_msg(adk_rpc_call(fx_c, "a", "m", NULL, &res) == AGENTEX_EPROTO, "answer %s", buf);
        ck_assert_ptr_null(res);
        if (msgs[i])
            ck_assert_str_eq(agentex_client_errmsg(fx_c), msgs[i]);
        else
            ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "does not match"));
    }
}
END_TEST

START_TEST(test_rpc_http_errors_map)
{
    cJSON *res = NULL;
    fake_backend_push(fx_fb, 422, FX_422_BODY);
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", NULL, &res), AGENTEX_EHTTP);
    fake_backend_push(fx_fb, 401, "{\"detail\":\"Unauthorized\"}");
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", NULL, &res), AGENTEX_EAUTH);
    fake_backend_push(fx_fb, 404, FX_404_BODY);
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", NULL, &res), AGENTEX_ENOTFOUND);
    ck_assert_ptr_null(res);
}
END_TEST

START_TEST(test_rpc_task_create_params)
{
    long id = learn_next_id();
    cJSON *params = cJSON_Parse("{\"topic\":\"weather\"}");
    cJSON *md = cJSON_Parse("{\"owner\":\"u1\"}");
    adk_task_t *t = NULL;
    push_result(id, FX_TASK_JSON);
    ck_assert_int_eq(adk_rpc_task_create(fx_c, "demo-agent", "weather-1", params, md, &t),
                     AGENTEX_OK);
    char want[512];
    snprintf(want, sizeof want,
             "{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"params\":{\"name\":\"weather-1\","
             "\"params\":{\"topic\":\"weather\"},\"task_metadata\":{\"owner\":\"u1\"}},"
             "\"id\":%ld}",
             id);
    adk_fx_expect(1, "POST", "/agents/name/demo-agent/rpc", "", want);
    ck_assert_str_eq(adk_task_id(t), FX_TASK);
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_RUNNING);
    adk_task_free(t);

    push_result(id + 1, FX_TASK_JSON);
    ck_assert_int_eq(adk_rpc_task_create(fx_c, "demo-agent", NULL, NULL, NULL, &t), AGENTEX_OK);
    snprintf(want, sizeof want,
             "{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"params\":{},\"id\":%ld}", id + 1);
    adk_fx_expect(2, "POST", "/agents/name/demo-agent/rpc", "", want);
    adk_task_free(t);

    /* a null or wrong result is not a Task */
    push_result(id + 2, "null");
    ck_assert_int_eq(adk_rpc_task_create(fx_c, "demo-agent", NULL, NULL, NULL, &t), AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_rpc_task_create: the backend's answer is not a Task");
    ck_assert_ptr_null(t);

    cJSON *arr = cJSON_CreateArray();
    ck_assert_int_eq(adk_rpc_task_create(fx_c, "demo-agent", "", NULL, NULL, &t), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_rpc_task_create(fx_c, "demo-agent", NULL, arr, NULL, &t), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_rpc_task_create(fx_c, "demo-agent", NULL, NULL, arr, &t), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_rpc_task_create(fx_c, NULL, NULL, NULL, NULL, &t), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_rpc_task_create: agent_name is NULL or empty");
    ck_assert_int_eq(adk_rpc_task_create(NULL, "demo-agent", NULL, NULL, NULL, &t), AGENTEX_EINVAL);
    adk_fx_expect_count(4);
    cJSON_Delete(arr);
    cJSON_Delete(md);
    cJSON_Delete(params);
}
END_TEST

START_TEST(test_rpc_task_cancel_and_interrupt)
{
    long id = learn_next_id();
    adk_task_t *t = NULL;
    push_result(id, FX_TASK_JSON_STATUS("CANCELED", "Task canceled by user"));
    ck_assert_int_eq(adk_rpc_task_cancel(fx_c, "demo-agent", FX_TASK, &t), AGENTEX_OK);
    char want[512];
    snprintf(want, sizeof want,
             "{\"jsonrpc\":\"2.0\",\"method\":\"task/cancel\",\"params\":{\"task_id\":\"" FX_TASK
             "\"},\"id\":%ld}",
             id);
    adk_fx_expect(1, "POST", "/agents/name/demo-agent/rpc", "", want);
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_CANCELED);
    adk_task_free(t);

    push_result(id + 1, FX_TASK_JSON);
    ck_assert_int_eq(adk_rpc_task_interrupt(fx_c, "demo-agent", FX_TASK, NULL), AGENTEX_OK);
    snprintf(want, sizeof want,
             "{\"jsonrpc\":\"2.0\",\"method\":\"task/interrupt\",\"params\":{\"task_id\":\"" FX_TASK
             "\"},\"id\":%ld}",
             id + 1);
    adk_fx_expect(2, "POST", "/agents/name/demo-agent/rpc", "", want);

    ck_assert_int_eq(adk_rpc_task_cancel(fx_c, "demo-agent", "", &t), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_rpc_task_cancel: task_id is NULL or empty");
    ck_assert_int_eq(adk_rpc_task_interrupt(fx_c, "", FX_TASK, &t), AGENTEX_EINVAL);
    adk_fx_expect_count(3);
}
END_TEST

START_TEST(test_rpc_message_send_returns_message_list)
{
    long id = learn_next_id();
    adk_content_t *ct = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, "hi", &ct), AGENTEX_OK);
    push_result(id, "[" FX_MESSAGE_JSON_STATUS("Hello", "null") "]");
    adk_message_list_t *l = NULL;
    ck_assert_int_eq(adk_rpc_message_send(fx_c, "sync-agent", FX_TASK, ct, &l), AGENTEX_OK);
    ck_assert_uint_ge(fake_backend_wait(fx_fb, 2, 2000), 2);
    const fake_request_t *r = fake_backend_request(fx_fb, 1);
    ck_assert_str_eq(r->path, "/agents/name/sync-agent/rpc");
    cJSON *b = cJSON_Parse(r->body);
    ck_assert_str_eq(cJSON_GetObjectItem(b, "method")->valuestring, "message/send");
    cJSON *p = cJSON_GetObjectItem(b, "params");
    ck_assert_str_eq(cJSON_GetObjectItem(p, "task_id")->valuestring, FX_TASK);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(p, "stream")));
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "content"), "content")->valuestring,
                     "hi");
    cJSON_Delete(b);
    ck_assert_uint_eq(adk_message_list_count(l), 1);
    ck_assert_str_eq(adk_content_text(adk_message_content(adk_message_list_at(l, 0))), "Hello");
    ck_assert_int_eq(adk_message_streaming_status(adk_message_list_at(l, 0)), ADK_STREAMING_NONE);
    adk_message_list_free(l);

    ck_assert_int_eq(adk_rpc_message_send(fx_c, "sync-agent", FX_TASK, NULL, &l), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_rpc_message_send: content is NULL");
    ck_assert_int_eq(adk_rpc_message_send(fx_c, "sync-agent", NULL, ct, &l), AGENTEX_EINVAL);
    adk_fx_expect_count(2);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_rpc_call_rejects_bad_arguments)
{
    cJSON *res = NULL;
    cJSON *num = cJSON_CreateNumber(3);
    ck_assert_int_eq(adk_rpc_call(NULL, "a", "m", NULL, &res), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_rpc_call(fx_c, NULL, "m", NULL, &res), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_rpc_call: agent_name is NULL or empty");
    ck_assert_int_eq(adk_rpc_call_by_id(fx_c, "", "m", NULL, &res), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_rpc_call_by_id: agent_id is NULL or empty");
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "", NULL, &res), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_rpc_call: method is NULL or empty");
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", num, &res), AGENTEX_EINVAL);
    ck_assert_ptr_null(res);
    adk_fx_expect_count(0);
    cJSON_Delete(num);
}
END_TEST

static agentex_err_t call_event_send(void *ct, void **out)
{
    adk_event_t *e = NULL;
    agentex_err_t err = adk_rpc_event_send(fx_c, "demo-agent", FX_TASK, ct, &e);
    *out = e;
    return err;
}

START_TEST(test_rpc_survives_every_allocation_failure)
{
    /* The id changes with every call, so answer with a route that no id can match and
     * check only ENOMEM-or-EPROTO plus no leak; then a final call without injection. */
    fake_backend_route(fx_fb, "POST", "/agents/", 200,
                       "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":-32603,"
                       "\"message\":\"down\"},\"id\":null}");
    adk_content_t *ct = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, "x", &ct), AGENTEX_OK);
    ck_assert_ptr_null(adk_fx_alloc_walk(call_event_send, ct, AGENTEX_ERPC));
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "-32603: down");
    adk_content_free(ct);
}
END_TEST

START_TEST(test_rpc_error_answer_keeps_http_status)
{
    /* JSON-RPC errors come in an HTTP 200 answer: agentex_client_http_status says 200 */
    fake_backend_push(fx_fb, 200,
                      "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":-32603,"
                      "\"message\":\"All connection attempts failed\",\"data\":null},\"id\":null}");
    cJSON *res = (cJSON *)&res;
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", NULL, &res), AGENTEX_ERPC);
    ck_assert_ptr_null(res);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "-32603: All connection attempts failed");
    ck_assert_int_eq(agentex_client_http_status(fx_c), 200);
    fake_backend_push(fx_fb, 200, "{\"jsonrpc\":\"1.0\",\"result\":{},\"id\":1}");
    ck_assert_int_eq(adk_rpc_call(fx_c, "a", "m", NULL, &res), AGENTEX_EPROTO);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 200);
    adk_fx_expect_count(2);
}
END_TEST

Suite *rpc_suite(void);
Suite *rpc_suite(void)
{
    const TTest *tests[] = {
        test_rpc_event_send_protocol_vector,
        test_rpc_ids_increase,
        test_rpc_call_generic_body_and_by_id,
        test_rpc_error_object_is_erpc_with_code_and_message,
        test_rpc_bad_envelopes_are_eproto,
        test_rpc_http_errors_map,
        test_rpc_task_create_params,
        test_rpc_task_cancel_and_interrupt,
        test_rpc_message_send_returns_message_list,
        test_rpc_call_rejects_bad_arguments,
        test_rpc_survives_every_allocation_failure,
        test_rpc_error_answer_keeps_http_status,
    };
    return adk_fx_suite("rpc", tests, sizeof tests / sizeof tests[0]);
}
