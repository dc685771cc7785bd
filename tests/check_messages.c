/*
 * tests/check_messages.c - adk_messages against the fake backend (protocol 4.1, 8.8).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "support/adk_fixture.h"

#define MSG_CREATED FX_MESSAGE_JSON_STATUS("", "\"IN_PROGRESS\"")
#define MSG_DONE FX_MESSAGE_JSON_STATUS("Sunny, 21°C", "\"DONE\"")
#define T_MSG_CREATED 1772355971250000LL /* 2026-03-01T09:06:11.250000, no zone = UTC */

static adk_content_t *text_content(adk_author_t author, const char *text, adk_text_format_t fmt)
{
    adk_content_t *ct = NULL;
    ck_assert_int_eq(adk_content_text_new(author, text, &ct), AGENTEX_OK);
    ck_assert_int_eq(adk_content_set_format(ct, fmt), AGENTEX_OK);
    return ct;
}

static adk_content_t *data_content(const char *json)
{
    cJSON *d = cJSON_Parse(json);
    ck_assert_ptr_nonnull(d);
    adk_content_t *ct = NULL;
    ck_assert_int_eq(adk_content_data_new(ADK_AUTHOR_AGENT, d, &ct), AGENTEX_OK);
    cJSON_Delete(d);
    return ct;
}

/* ---- create ---- */

START_TEST(test_messages_create_sends_protocol_body_and_parses_answer)
{
    adk_content_t *ct = text_content(ADK_AUTHOR_AGENT, "", ADK_FORMAT_MARKDOWN);
    adk_message_t *m = NULL;
    fake_backend_push(fx_fb, 200, MSG_CREATED);
    ck_assert_int_eq(
        adk_messages_create(fx_c, FX_TASK, ct, ADK_STREAMING_IN_PROGRESS, ADK_TIME_NONE, &m),
        AGENTEX_OK);
    /* Protocol 8.8 byte for byte, plus "attachments":null, which the types module always
     * writes (the backend's own rendering of a text content, see 8.3). */
    adk_fx_expect(0, "POST", "/messages", "",
                  "{\"task_id\":\"" FX_TASK "\",\"content\":{\"type\":\"text\",\"author\":"
                  "\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":\"\","
                  "\"attachments\":null},\"streaming_status\":\"IN_PROGRESS\"}");
    adk_fx_expect_count(1);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(adk_message_id(m), FX_MESSAGE);
    ck_assert_str_eq(adk_message_task_id(m), FX_TASK);
    ck_assert_int_eq(adk_message_streaming_status(m), ADK_STREAMING_IN_PROGRESS);
    ck_assert_int_eq(adk_message_created_at(m), T_MSG_CREATED);
    ck_assert_int_eq(adk_content_type(adk_message_content(m)), ADK_CONTENT_TEXT);
    ck_assert_str_eq(adk_content_text(adk_message_content(m)), "");
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "");
    adk_message_free(m);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_messages_create_key_order_is_task_content_status_created)
{
    /* Byte-exact: the keys of POST /messages in the order of protocol 4.1. */
    adk_content_t *ct = text_content(ADK_AUTHOR_AGENT, "", ADK_FORMAT_MARKDOWN);
    cJSON *cj = NULL;
    ck_assert_int_eq(adk_content_to_json(ct, &cj), AGENTEX_OK);
    char *content_text = cJSON_PrintUnformatted(cj);
    char want[1024];
    snprintf(want, sizeof want,
             "{\"task_id\":\"" FX_TASK "\",\"content\":%s,\"streaming_status\":\"DONE\","
             "\"created_at\":\"2026-03-01T09:06:11.250000Z\"}",
             content_text);
    fake_backend_push(fx_fb, 200, MSG_DONE);
    ck_assert_int_eq(
        adk_messages_create(fx_c, FX_TASK, ct, ADK_STREAMING_DONE, T_MSG_CREATED, NULL),
        AGENTEX_OK);
    adk_fx_expect(0, "POST", "/messages", "", want);
    free(content_text);
    cJSON_Delete(cj);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_messages_create_omits_streaming_status_none)
{
    adk_content_t *ct = text_content(ADK_AUTHOR_USER, "hi", ADK_FORMAT_PLAIN);
    fake_backend_push(fx_fb, 200, MSG_DONE);
    adk_message_t *m = NULL;
    ck_assert_int_eq(adk_messages_create(fx_c, FX_TASK, ct, ADK_STREAMING_NONE, ADK_TIME_NONE, &m),
                     AGENTEX_OK);
    ck_assert_uint_ge(fake_backend_wait(fx_fb, 1, 2000), 1);
    const fake_request_t *r = fake_backend_request(fx_fb, 0);
    cJSON *b = cJSON_Parse(r->body);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(cJSON_GetObjectItem(b, "streaming_status"));
    ck_assert_ptr_null(cJSON_GetObjectItem(b, "created_at"));
    ck_assert_str_eq(cJSON_GetObjectItem(b, "task_id")->valuestring, FX_TASK);
    cJSON_Delete(b);
    ck_assert_int_eq(adk_message_streaming_status(m), ADK_STREAMING_DONE);
    adk_message_free(m);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_messages_create_out_null_ignores_answer_body)
{
    adk_content_t *ct = text_content(ADK_AUTHOR_AGENT, "x", ADK_FORMAT_PLAIN);
    fake_backend_push(fx_fb, 200, "not json at all");
    ck_assert_int_eq(
        adk_messages_create(fx_c, FX_TASK, ct, ADK_STREAMING_NONE, ADK_TIME_NONE, NULL),
        AGENTEX_OK);
    adk_fx_expect_count(1);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_messages_create_rejects_bad_arguments_without_request)
{
    adk_content_t *ct = text_content(ADK_AUTHOR_AGENT, "x", ADK_FORMAT_PLAIN);
    adk_message_t *m = (adk_message_t *)&m; /* poisoned: must come back NULL */
    ck_assert_int_eq(adk_messages_create(NULL, FX_TASK, ct, ADK_STREAMING_NONE, ADK_TIME_NONE, &m),
                     AGENTEX_EINVAL);
    ck_assert_ptr_null(m);
    m = (adk_message_t *)&m;
    ck_assert_int_eq(adk_messages_create(fx_c, NULL, ct, ADK_STREAMING_NONE, ADK_TIME_NONE, &m),
                     AGENTEX_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_messages_create: task_id is NULL or empty");
    ck_assert_int_eq(adk_messages_create(fx_c, "", ct, ADK_STREAMING_NONE, ADK_TIME_NONE, &m),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(
        adk_messages_create(fx_c, FX_TASK, NULL, ADK_STREAMING_NONE, ADK_TIME_NONE, &m),
        AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_messages_create: content is NULL");
    ck_assert_int_eq(
        adk_messages_create(fx_c, FX_TASK, ct, (adk_streaming_status_t)7, ADK_TIME_NONE, &m),
        AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_messages_create: streaming_status is not an adk_streaming_status_t");
    ck_assert_int_eq(agentex_client_http_status(fx_c), 0);
    adk_fx_expect_count(0);
    adk_content_free(ct);
}
END_TEST

/* ---- get ---- */

START_TEST(test_messages_get_escapes_id_and_parses)
{
    adk_message_t *m = NULL;
    fake_backend_push(fx_fb, 200, MSG_DONE);
    ck_assert_int_eq(adk_messages_get(fx_c, FX_MESSAGE, &m), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/messages/" FX_MESSAGE, "", NULL);
    ck_assert_str_eq(adk_content_text(adk_message_content(m)), "Sunny, 21°C");
    ck_assert_int_eq(adk_message_updated_at(m), T_MSG_CREATED);
    adk_message_free(m);

    fake_backend_push(fx_fb, 200, MSG_DONE);
    ck_assert_int_eq(adk_messages_get(fx_c, "a/b c?d#e%", &m), AGENTEX_OK);
    adk_fx_expect(1, "GET", "/messages/a%2Fb%20c%3Fd%23e%25", "", NULL);
    adk_message_free(m);
}
END_TEST

START_TEST(test_messages_get_404_is_enotfound_with_backend_message)
{
    adk_message_t *m = (adk_message_t *)&m;
    fake_backend_push(fx_fb, 404, FX_404_BODY);
    ck_assert_int_eq(adk_messages_get(fx_c, FX_MESSAGE, &m), AGENTEX_ENOTFOUND);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 404);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(fx_c), "Item with id 'x' does not exist."));
}
END_TEST

START_TEST(test_messages_get_wrong_shape_is_eproto)
{
    adk_message_t *m = (adk_message_t *)&m;
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_messages_get(fx_c, FX_MESSAGE, &m), AGENTEX_EPROTO);
    ck_assert_ptr_null(m);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_messages_get: the backend's answer is not a TaskMessage");
    fake_backend_push(fx_fb, 200, "{\"id\":5,\"task_id\":\"t\"}");
    ck_assert_int_eq(adk_messages_get(fx_c, FX_MESSAGE, &m), AGENTEX_EPROTO);
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_messages_get_rejects_null_args)
{
    adk_message_t *m = NULL;
    ck_assert_int_eq(adk_messages_get(fx_c, NULL, &m), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_messages_get: message_id is NULL or empty");
    ck_assert_int_eq(adk_messages_get(fx_c, "", &m), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_messages_get(fx_c, FX_MESSAGE, NULL), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_messages_get: out is NULL");
    ck_assert_int_eq(adk_messages_get(NULL, FX_MESSAGE, &m), AGENTEX_EINVAL);
    adk_fx_expect_count(0);
}
END_TEST

/* ---- list ---- */

START_TEST(test_messages_list_limit_query_of_protocol)
{
    adk_list_opts_t o = {0};
    o.limit = 20;
    adk_message_list_t *l = NULL;
    fake_backend_push(fx_fb, 200, "[" MSG_DONE "," MSG_CREATED "]");
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, &o, &l), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/messages", "task_id=" FX_TASK "&limit=20", NULL);
    ck_assert_uint_eq(adk_message_list_count(l), 2);
    ck_assert_int_eq(adk_message_streaming_status(adk_message_list_at(l, 0)), ADK_STREAMING_DONE);
    ck_assert_int_eq(adk_message_streaming_status(adk_message_list_at(l, 1)),
                     ADK_STREAMING_IN_PROGRESS);
    ck_assert_ptr_null(adk_message_list_at(l, 2));
    adk_message_list_free(l);
}
END_TEST

START_TEST(test_messages_list_all_paging_options_and_escaping)
{
    adk_list_opts_t o = {
        .limit = 5, .page_number = 3, .order_by = "created_at", .order_direction = "asc"};
    adk_message_list_t *l = NULL;
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_messages_list(fx_c, "t&1=2", &o, &l), AGENTEX_OK);
    adk_fx_expect(0, "GET", "/messages",
                  "task_id=t%261%3D2&limit=5&page_number=3&order_by=created_at&order_direction=asc",
                  NULL);
    ck_assert_uint_eq(adk_message_list_count(l), 0);
    adk_message_list_free(l);

    /* NULL opts and zeroed opts send only the task id */
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, NULL, &l), AGENTEX_OK);
    adk_fx_expect(1, "GET", "/messages", "task_id=" FX_TASK, NULL);
    adk_message_list_free(l);
    adk_list_opts_t z = {0};
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, &z, &l), AGENTEX_OK);
    adk_fx_expect(2, "GET", "/messages", "task_id=" FX_TASK, NULL);
    adk_message_list_free(l);
}
END_TEST

START_TEST(test_messages_list_bad_options_are_einval)
{
    adk_message_list_t *l = NULL;
    adk_list_opts_t o = {.limit = -1};
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, &o, &l), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_messages_list: opts->limit is negative");
    adk_list_opts_t p = {.page_number = -2};
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, &p, &l), AGENTEX_EINVAL);
    adk_list_opts_t d = {.order_direction = "up"};
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, &d, &l), AGENTEX_EINVAL);
    adk_list_opts_t b = {.order_by = ""};
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, &b, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_messages_list(fx_c, NULL, NULL, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_ptr_null(l);
    adk_fx_expect_count(0);
}
END_TEST

START_TEST(test_messages_list_422_is_ehttp_and_object_is_eproto)
{
    adk_message_list_t *l = NULL;
    fake_backend_push(fx_fb, 422, FX_422_BODY);
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, NULL, &l), AGENTEX_EHTTP);
    ck_assert_int_eq(agentex_client_http_status(fx_c), 422);
    ck_assert_ptr_nonnull(
        strstr(agentex_client_errmsg(fx_c), "query.limit: Input should be greater than"));
    ck_assert_ptr_null(l);
    fake_backend_push(fx_fb, 200, MSG_DONE);
    ck_assert_int_eq(adk_messages_list(fx_c, FX_TASK, NULL, &l), AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_messages_list: the backend's answer is not a list of TaskMessages");
    ck_assert_ptr_null(l);
}
END_TEST

/* ---- update ---- */

START_TEST(test_messages_update_sends_protocol_body)
{
    adk_content_t *ct = text_content(ADK_AUTHOR_AGENT, "Sunny, 21°C", ADK_FORMAT_MARKDOWN);
    adk_message_t *m = NULL;
    fake_backend_push(fx_fb, 200, MSG_DONE);
    ck_assert_int_eq(adk_messages_update(fx_c, FX_TASK, FX_MESSAGE, ct, ADK_STREAMING_DONE, &m),
                     AGENTEX_OK);
    adk_fx_expect(0, "PUT", "/messages/" FX_MESSAGE, "",
                  "{\"task_id\":\"" FX_TASK "\",\"content\":{\"type\":\"text\",\"author\":"
                  "\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":"
                  "\"Sunny, 21°C\",\"attachments\":null},\"streaming_status\":\"DONE\"}");
    ck_assert_int_eq(adk_message_streaming_status(m), ADK_STREAMING_DONE);
    adk_message_free(m);

    /* NONE omits streaming_status; out may be NULL */
    fake_backend_push(fx_fb, 200, MSG_DONE);
    ck_assert_int_eq(adk_messages_update(fx_c, FX_TASK, FX_MESSAGE, ct, ADK_STREAMING_NONE, NULL),
                     AGENTEX_OK);
    const fake_request_t *r = fake_backend_request(fx_fb, 1);
    ck_assert_ptr_null(strstr(r->body, "streaming_status"));
    adk_content_free(ct);
}
END_TEST

START_TEST(test_messages_update_rejects_bad_arguments)
{
    adk_content_t *ct = text_content(ADK_AUTHOR_AGENT, "x", ADK_FORMAT_PLAIN);
    adk_message_t *m = NULL;
    ck_assert_int_eq(adk_messages_update(fx_c, NULL, FX_MESSAGE, ct, ADK_STREAMING_NONE, &m),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_messages_update(fx_c, FX_TASK, "", ct, ADK_STREAMING_NONE, &m),
                     AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_messages_update: message_id is NULL or empty");
    ck_assert_int_eq(adk_messages_update(fx_c, FX_TASK, FX_MESSAGE, NULL, ADK_STREAMING_NONE, &m),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(
        adk_messages_update(fx_c, FX_TASK, FX_MESSAGE, ct, (adk_streaming_status_t)-1, &m),
        AGENTEX_EINVAL);
    adk_fx_expect_count(0);
    adk_content_free(ct);
}
END_TEST

/* ---- batch ---- */

START_TEST(test_messages_create_batch_sends_protocol_body)
{
    cJSON *args = cJSON_Parse("{\"city\":\"Paris\"}");
    cJSON *res = cJSON_Parse("{\"temp_c\":21}");
    adk_content_t *req = NULL, *resp = NULL;
    ck_assert_int_eq(
        adk_content_tool_request_new(ADK_AUTHOR_AGENT, "call_1", "get_weather", args, &req),
        AGENTEX_OK);
    ck_assert_int_eq(
        adk_content_tool_response_new(ADK_AUTHOR_AGENT, "call_1", "get_weather", res, 0, &resp),
        AGENTEX_OK);
    const adk_content_t *contents[] = {req, resp};
    adk_message_list_t *l = NULL;
    fake_backend_push(fx_fb, 200, "[" MSG_DONE "," MSG_DONE "]");
    ck_assert_int_eq(adk_messages_create_batch(fx_c, FX_TASK, contents, 2, ADK_TIME_NONE, &l),
                     AGENTEX_OK);
    ck_assert_uint_ge(fake_backend_wait(fx_fb, 1, 2000), 1);
    /* Protocol 8.8 leaves "style" out of the tool contents; it defaults to "static". */
    const fake_request_t *r = fake_backend_request(fx_fb, 0);
    cJSON *b = cJSON_Parse(r->body);
    ck_assert_ptr_nonnull(b);
    cJSON *arr = cJSON_GetObjectItem(b, "contents");
    for (int i = 0; i < cJSON_GetArraySize(arr); i++)
        cJSON_DeleteItemFromObject(cJSON_GetArrayItem(arr, i), "style");
    char *norm = cJSON_PrintUnformatted(b);
    cJSON *want = cJSON_Parse(
        "{\"task_id\":\"" FX_TASK "\",\"contents\":[{\"type\":\"tool_request\",\"author\":"
        "\"agent\",\"tool_call_id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":{\"city\":"
        "\"Paris\"}},{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"call_1\","
        "\"name\":\"get_weather\",\"content\":{\"temp_c\":21},\"is_error\":false}]}");
    ck_assert_msg(cJSON_Compare(b, want, 1), "body %s", norm);
    adk_fx_expect_json(0, "POST", "/messages/batch", "", r->body);
    ck_assert_uint_eq(adk_message_list_count(l), 2);
    free(norm);
    cJSON_Delete(want);
    cJSON_Delete(b);
    adk_message_list_free(l);

    /* created_at is sent after the contents */
    fake_backend_push(fx_fb, 200, "[]");
    ck_assert_int_eq(adk_messages_create_batch(fx_c, FX_TASK, contents, 1, T_MSG_CREATED, NULL),
                     AGENTEX_OK);
    r = fake_backend_request(fx_fb, 1);
    size_t n = strlen(r->body);
    const char *tail = ",\"created_at\":\"2026-03-01T09:06:11.250000Z\"}";
    ck_assert_uint_gt(n, strlen(tail));
    ck_assert_str_eq(r->body + n - strlen(tail), tail);

    adk_content_free(req);
    adk_content_free(resp);
    cJSON_Delete(args);
    cJSON_Delete(res);
}
END_TEST

START_TEST(test_messages_create_batch_rejects_empty_and_null_elements)
{
    adk_content_t *ct = text_content(ADK_AUTHOR_AGENT, "x", ADK_FORMAT_PLAIN);
    const adk_content_t *contents[] = {ct, NULL};
    adk_message_list_t *l = NULL;
    ck_assert_int_eq(adk_messages_create_batch(fx_c, FX_TASK, contents, 0, ADK_TIME_NONE, &l),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_messages_create_batch(fx_c, FX_TASK, NULL, 1, ADK_TIME_NONE, &l),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_messages_create_batch(fx_c, FX_TASK, contents, 2, ADK_TIME_NONE, &l),
                     AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c), "adk_messages_create_batch: contents[1] is NULL");
    ck_assert_int_eq(adk_messages_create_batch(fx_c, NULL, contents, 1, ADK_TIME_NONE, &l),
                     AGENTEX_EINVAL);
    ck_assert_ptr_null(l);
    adk_fx_expect_count(0);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_messages_update_batch_sends_protocol_body)
{
    adk_content_t *ct = data_content("{\"done\":true}");
    const adk_content_t *contents[] = {ct};
    const char *ids[] = {FX_MESSAGE};
    adk_message_list_t *l = NULL;
    fake_backend_push(fx_fb, 200, "[" MSG_DONE "]");
    ck_assert_int_eq(adk_messages_update_batch(fx_c, FX_TASK, ids, contents, 1, &l), AGENTEX_OK);
    ck_assert_uint_ge(fake_backend_wait(fx_fb, 1, 2000), 1);
    const fake_request_t *r = fake_backend_request(fx_fb, 0);
    cJSON *b = cJSON_Parse(r->body);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "updates"), FX_MESSAGE),
                               "style");
    cJSON *want =
        cJSON_Parse("{\"task_id\":\"" FX_TASK "\",\"updates\":{\"" FX_MESSAGE
                    "\":{\"type\":\"data\",\"author\":\"agent\",\"data\":{\"done\":true}}}}");
    ck_assert_msg(cJSON_Compare(b, want, 1), "body %s", r->body);
    adk_fx_expect_json(0, "PUT", "/messages/batch", "", r->body);
    ck_assert_uint_eq(adk_message_list_count(l), 1);
    cJSON_Delete(want);
    cJSON_Delete(b);
    adk_message_list_free(l);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_messages_update_batch_rejects_bad_ids)
{
    adk_content_t *ct = data_content("{\"a\":1}");
    const adk_content_t *contents[] = {ct, ct};
    const char *dup[] = {"m1", "m1"};
    const char *empty[] = {"m1", ""};
    adk_message_list_t *l = NULL;
    ck_assert_int_eq(adk_messages_update_batch(fx_c, FX_TASK, dup, contents, 2, &l),
                     AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(fx_c),
                     "adk_messages_update_batch: message_ids[1] repeats message_ids[0]");
    ck_assert_int_eq(adk_messages_update_batch(fx_c, FX_TASK, empty, contents, 2, &l),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_messages_update_batch(fx_c, FX_TASK, dup, NULL, 1, &l), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_messages_update_batch(fx_c, FX_TASK, dup, contents, 0, &l),
                     AGENTEX_EINVAL);
    adk_fx_expect_count(0);
    adk_content_free(ct);
}
END_TEST

/* ---- failure paths ---- */

static agentex_err_t call_create(void *ct, void **out)
{
    adk_message_t *m = NULL;
    agentex_err_t err =
        adk_messages_create(fx_c, FX_TASK, ct, ADK_STREAMING_DONE, T_MSG_CREATED, &m);
    *out = m;
    return err;
}

static agentex_err_t call_list(void *arg, void **out)
{
    adk_message_list_t *l = NULL;
    adk_list_opts_t o = {.limit = 3};
    (void)arg;
    agentex_err_t err = adk_messages_list(fx_c, FX_TASK, &o, &l);
    *out = l;
    return err;
}

START_TEST(test_messages_calls_survive_every_allocation_failure)
{
    adk_content_t *ct = text_content(ADK_AUTHOR_AGENT, "hello", ADK_FORMAT_PLAIN);
    fake_backend_route(fx_fb, "POST", "/messages", 200, MSG_DONE);
    fake_backend_route(fx_fb, "GET", "/messages", 200, "[" MSG_DONE "]");
    adk_message_t *m = adk_fx_alloc_walk(call_create, ct, AGENTEX_OK);
    ck_assert_ptr_nonnull(m);
    adk_message_free(m);
    adk_message_list_t *l = adk_fx_alloc_walk(call_list, NULL, AGENTEX_OK);
    ck_assert_uint_eq(adk_message_list_count(l), 1);
    adk_message_list_free(l);
    adk_content_free(ct);
}
END_TEST

START_TEST(test_messages_truncated_answer_is_an_error)
{
    adk_message_t *m = NULL;
    fake_backend_push_raw(fx_fb, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 500\r\n\r\n{\"id\":\"66a1");
    agentex_err_t err = adk_messages_get(fx_c, FX_MESSAGE, &m);
    ck_assert_int_ne(err, AGENTEX_OK);
    ck_assert_ptr_null(m);
    ck_assert_str_ne(agentex_client_errmsg(fx_c), "");
}
END_TEST

Suite *messages_suite(void);
Suite *messages_suite(void)
{
    const TTest *tests[] = {
        test_messages_create_sends_protocol_body_and_parses_answer,
        test_messages_create_key_order_is_task_content_status_created,
        test_messages_create_omits_streaming_status_none,
        test_messages_create_out_null_ignores_answer_body,
        test_messages_create_rejects_bad_arguments_without_request,
        test_messages_get_escapes_id_and_parses,
        test_messages_get_404_is_enotfound_with_backend_message,
        test_messages_get_wrong_shape_is_eproto,
        test_messages_get_rejects_null_args,
        test_messages_list_limit_query_of_protocol,
        test_messages_list_all_paging_options_and_escaping,
        test_messages_list_bad_options_are_einval,
        test_messages_list_422_is_ehttp_and_object_is_eproto,
        test_messages_update_sends_protocol_body,
        test_messages_update_rejects_bad_arguments,
        test_messages_create_batch_sends_protocol_body,
        test_messages_create_batch_rejects_empty_and_null_elements,
        test_messages_update_batch_sends_protocol_body,
        test_messages_update_batch_rejects_bad_ids,
        test_messages_calls_survive_every_allocation_failure,
        test_messages_truncated_answer_is_an_error,
    };
    return adk_fx_suite("messages", tests, sizeof tests / sizeof tests[0]);
}
