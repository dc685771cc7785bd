/*
 * tests/check_types.c - the typed Agentex resources (lib/types*.c): the protocol
 * section 8 vectors, every content type, timestamps, strictness (missing fields, wrong
 * types), round trips, lists, NULL arguments and allocation failures.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentex/types.h"
#include "internal.h"
#include "types_internal.h"

Suite *types_suite(void);

/* ---- the protocol section 8 vectors ---- */

#define AGENT_ID "6f1c2a9e-3b7d-4e11-9a52-0c8d7e4b1f20"
#define TASK_ID "b3e0f7d2-8c41-4a6e-9f15-2d7a9c3e5b81"
#define EVENT_ID "e5a1c9d4-7b2f-4f38-8e60-1a9d3c7b2e54"
#define TRACKER_ID "0d4b8e2f-6a13-4c97-b5e8-7f2a1d9c3e60"
#define MESSAGE_ID "66a1f0c2b9e4d83a17c5e902"
#define API_KEY "3b9e1f0a7c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f"

#define AGENT_JSON                                                                                 \
    "{\"id\":\"" AGENT_ID "\",\"docker_image\":null,\"name\":\"demo-agent\",\"description\":"      \
    "\"Demo agent\",\"acp_type\":\"async\",\"status\":\"Ready\",\"status_reason\":\"Agent "        \
    "registered successfully.\",\"acp_url\":\"http://host.docker.internal:8000\","                 \
    "\"created_at\":\"2026-03-01T09:00:00.412000Z\",\"updated_at\":\"2026-03-01T09:00:00."         \
    "412000Z\",\"registration_metadata\":null,\"registered_at\":\"2026-03-01T09:00:00."            \
    "412000Z\",\"agent_input_type\":null,\"production_deployment_id\":null}"

#define REGISTER_JSON                                                                              \
    "{\"id\":\"" AGENT_ID "\",\"name\":\"demo-agent\",\"description\":\"Demo agent\","             \
    "\"status\":\"Ready\",\"acp_type\":\"async\",\"status_reason\":\"Agent registered "            \
    "successfully.\",\"created_at\":\"2026-03-01T09:00:00.412000Z\",\"updated_at\":\"2026-03-"     \
    "01T09:00:00.412000Z\",\"registration_metadata\":null,\"registered_at\":\"2026-03-01T09:"      \
    "00:00.412000Z\",\"agent_input_type\":null,\"production_deployment_id\":null,"                 \
    "\"agent_api_key\":\"" API_KEY "\"}"

/* The registration answer printed back: the table (entity) order, agent_api_key last. */
#define REGISTER_OUT                                                                               \
    "{\"id\":\"" AGENT_ID "\",\"name\":\"demo-agent\",\"description\":\"Demo agent\","             \
    "\"acp_type\":\"async\",\"status\":\"Ready\",\"status_reason\":\"Agent registered "            \
    "successfully.\",\"created_at\":\"2026-03-01T09:00:00.412000Z\",\"updated_at\":\"2026-03-"     \
    "01T09:00:00.412000Z\",\"registration_metadata\":null,\"registered_at\":\"2026-03-01T09:"      \
    "00:00.412000Z\",\"agent_input_type\":null,\"production_deployment_id\":null,"                 \
    "\"agent_api_key\":\"" API_KEY "\"}"

#define TASK_JSON                                                                                  \
    "{\"id\":\"" TASK_ID "\",\"name\":null,\"status\":\"RUNNING\",\"status_reason\":\"Task "       \
    "created, forwarding to ACP server\",\"created_at\":\"2026-03-01T09:05:00.123456Z\","          \
    "\"updated_at\":\"2026-03-01T09:05:00.123456Z\",\"cleaned_at\":null,\"params\":{\"topic\":"    \
    "\"weather\"},\"task_metadata\":null}"

#define TEXT_USER_JSON                                                                             \
    "{\"type\":\"text\",\"author\":\"user\",\"style\":\"static\",\"format\":\"plain\","            \
    "\"content\":\"What is the forecast?\",\"attachments\":null}"

#define EVENT_JSON                                                                                 \
    "{\"id\":\"" EVENT_ID "\",\"sequence_id\":1042,\"task_id\":\"" TASK_ID "\",\"agent_id\":"      \
    "\"" AGENT_ID "\",\"created_at\":\"2026-03-01T09:06:10.500000Z\",\"content\":" TEXT_USER_JSON  \
    "}"

#define MESSAGE_JSON                                                                               \
    "{\"id\":\"" MESSAGE_ID "\",\"task_id\":\"" TASK_ID "\",\"content\":{\"type\":\"text\","       \
    "\"author\":\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":\"\","          \
    "\"attachments\":null},\"streaming_status\":\"IN_PROGRESS\",\"created_at\":\"2026-03-01T"      \
    "09:06:11.250000\",\"updated_at\":\"2026-03-01T09:06:11.250000\"}"

#define MESSAGE_OUT                                                                                \
    "{\"id\":\"" MESSAGE_ID "\",\"task_id\":\"" TASK_ID "\",\"content\":{\"type\":\"text\","       \
    "\"author\":\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":\"\","          \
    "\"attachments\":null},\"streaming_status\":\"IN_PROGRESS\",\"created_at\":\"2026-03-01T"      \
    "09:06:11.250000Z\",\"updated_at\":\"2026-03-01T09:06:11.250000Z\"}"

#define STATE_JSON                                                                                 \
    "{\"task_id\":\"" TASK_ID "\",\"agent_id\":\"" AGENT_ID "\",\"state\":{\"turns\":0},"          \
    "\"id\":\"66a1f0c2b9e4d83a17c5e9aa\",\"created_at\":\"2026-03-01T09:05:01.730000\","           \
    "\"updated_at\":null}"

#define STATE_OUT                                                                                  \
    "{\"task_id\":\"" TASK_ID "\",\"agent_id\":\"" AGENT_ID "\",\"state\":{\"turns\":0},"          \
    "\"id\":\"66a1f0c2b9e4d83a17c5e9aa\",\"created_at\":\"2026-03-01T09:05:01.730000Z\","          \
    "\"updated_at\":null}"

#define TRACKER_JSON                                                                               \
    "{\"id\":\"" TRACKER_ID "\",\"agent_id\":\"" AGENT_ID "\",\"task_id\":\"" TASK_ID "\","        \
    "\"status\":null,\"status_reason\":null,\"last_processed_event_id\":null,\"created_at\":"      \
    "\"2026-03-01T09:05:00.123456Z\",\"updated_at\":\"2026-03-01T09:05:00.123456Z\"}"

#define TRACKER2_JSON                                                                              \
    "{\"id\":\"" TRACKER_ID "\",\"agent_id\":\"" AGENT_ID "\",\"task_id\":\"" TASK_ID "\","        \
    "\"status\":\"READY\",\"status_reason\":\"processed 1 event\",\"last_processed_event_id\":"    \
    "\"" EVENT_ID "\",\"created_at\":\"2026-03-01T09:05:00.123456Z\",\"updated_at\":\"2026-03-"    \
    "01T09:06:12Z\"}"

#define TRACKER2_OUT                                                                               \
    "{\"id\":\"" TRACKER_ID "\",\"agent_id\":\"" AGENT_ID "\",\"task_id\":\"" TASK_ID "\","        \
    "\"status\":\"READY\",\"status_reason\":\"processed 1 event\",\"last_processed_event_id\":"    \
    "\"" EVENT_ID "\",\"created_at\":\"2026-03-01T09:05:00.123456Z\",\"updated_at\":\"2026-03-"    \
    "01T09:06:12.000000Z\"}"

/* 2026-03-01T09:00:00.412000Z and friends, in microseconds (checked with Python). */
#define T_AGENT INT64_C(1772355600412000)
#define T_TASK INT64_C(1772355900123456)
#define T_EVENT INT64_C(1772355970500000)
#define T_MESSAGE INT64_C(1772355971250000)
#define T_STATE INT64_C(1772355901730000)

/* ---- generic dispatch over the resource kinds ---- */

typedef enum kind { K_AGENT, K_TASK, K_EVENT, K_MESSAGE, K_STATE, K_TRACKER, K_CONTENT } kind_t;

static agentex_err_t kind_from_json(kind_t k, const cJSON *j, void **out)
{
    switch (k) {
    case K_AGENT:
        return adk_agent_from_json(j, (adk_agent_t **)out);
    case K_TASK:
        return adk_task_from_json(j, (adk_task_t **)out);
    case K_EVENT:
        return adk_event_from_json(j, (adk_event_t **)out);
    case K_MESSAGE:
        return adk_message_from_json(j, (adk_message_t **)out);
    case K_STATE:
        return adk_state_from_json(j, (adk_state_t **)out);
    case K_TRACKER:
        return adk_tracker_from_json(j, (adk_tracker_t **)out);
    case K_CONTENT:
        return adk_content_from_json(j, (adk_content_t **)out);
    }
    return AGENTEX_EINTERNAL;
}

static agentex_err_t kind_to_json(kind_t k, const void *x, cJSON **out)
{
    switch (k) {
    case K_AGENT:
        return adk_agent_to_json(x, out);
    case K_TASK:
        return adk_task_to_json(x, out);
    case K_EVENT:
        return adk_event_to_json(x, out);
    case K_MESSAGE:
        return adk_message_to_json(x, out);
    case K_STATE:
        return adk_state_to_json(x, out);
    case K_TRACKER:
        return adk_tracker_to_json(x, out);
    case K_CONTENT:
        return adk_content_to_json(x, out);
    }
    return AGENTEX_EINTERNAL;
}

static void kind_free(kind_t k, void *x)
{
    switch (k) {
    case K_AGENT:
        adk_agent_free(x);
        break;
    case K_TASK:
        adk_task_free(x);
        break;
    case K_EVENT:
        adk_event_free(x);
        break;
    case K_MESSAGE:
        adk_message_free(x);
        break;
    case K_STATE:
        adk_state_free(x);
        break;
    case K_TRACKER:
        adk_tracker_free(x);
        break;
    case K_CONTENT:
        adk_content_free(x);
        break;
    }
}

static cJSON *parse(const char *text)
{
    cJSON *j = agx_json_parse(text, strlen(text));
    ck_assert_msg(j != NULL, "test vector is not JSON: %s", text);
    return j;
}

/* Parses text as kind k; returns the error, *out the object (or NULL). */
static agentex_err_t from_text(kind_t k, const char *text, void **out)
{
    cJSON *j = parse(text);
    *out = (void *)1; /* must be reset by the call */
    agentex_err_t rc = kind_from_json(k, j, out);
    cJSON_Delete(j);
    if (rc != AGENTEX_OK)
        ck_assert_ptr_null(*out);
    return rc;
}

/* The compact wire text of x (caller frees with agx_free). */
static char *wire(kind_t k, const void *x)
{
    cJSON *j = NULL;
    ck_assert_int_eq(kind_to_json(k, x, &j), AGENTEX_OK);
    ck_assert_ptr_nonnull(j);
    char *s = agx_json_print(j);
    ck_assert_ptr_nonnull(s);
    cJSON_Delete(j);
    return s;
}

static void assert_wire(kind_t k, const void *x, const char *expected)
{
    char *s = wire(k, x);
    ck_assert_str_eq(s, expected);
    agx_free(s);
}

/* ---- round trips: from_json -> to_json gives the expected text ---- */

static const struct round_trip {
    const char *name;
    kind_t kind;
    const char *in;
    const char *out; /* NULL: same as in */
} round_trips[] = {
    {"agent (ACP entity)", K_AGENT, AGENT_JSON, NULL},
    {"agent (registration answer)", K_AGENT, REGISTER_JSON, REGISTER_OUT},
    {"agent (REST, minimal)", K_AGENT, "{\"id\":\"a\",\"name\":\"n\"}",
     "{\"id\":\"a\",\"name\":\"n\",\"description\":null,\"acp_type\":null,\"status\":null,"
     "\"status_reason\":null,\"created_at\":null,\"updated_at\":null,\"registration_metadata\":"
     "null,\"registered_at\":null,\"agent_input_type\":null,\"production_deployment_id\":null}"},
    {"agent with metadata", K_AGENT,
     "{\"id\":\"a\",\"name\":\"n\",\"registration_metadata\":{\"deployment_id\":\"d1\","
     "\"agent_card\":{\"v\":[1,2]}},\"agent_input_type\":\"json\",\"production_deployment_id\":"
     "\"p9\"}",
     "{\"id\":\"a\",\"name\":\"n\",\"description\":null,\"acp_type\":null,\"status\":null,"
     "\"status_reason\":null,\"created_at\":null,\"updated_at\":null,\"registration_metadata\":"
     "{\"deployment_id\":\"d1\",\"agent_card\":{\"v\":[1,2]}},\"registered_at\":null,"
     "\"agent_input_type\":\"json\",\"production_deployment_id\":\"p9\"}"},
    {"task", K_TASK, TASK_JSON, NULL},
    {"task response with agents (dropped)", K_TASK,
     "{\"id\":\"t\",\"agents\":null,\"status\":\"COMPLETED\",\"status_reason\":\"answered\","
     "\"task_metadata\":{\"owner\":\"u1\"},\"cleaned_at\":\"2026-03-02T00:00:00+00:00\"}",
     "{\"id\":\"t\",\"name\":null,\"status\":\"COMPLETED\",\"status_reason\":\"answered\","
     "\"created_at\":null,\"updated_at\":null,\"cleaned_at\":\"2026-03-02T00:00:00.000000Z\","
     "\"params\":null,\"task_metadata\":{\"owner\":\"u1\"}}"},
    {"task with unknown status keeps its text", K_TASK, "{\"id\":\"t\",\"status\":\"PAUSED\"}",
     "{\"id\":\"t\",\"name\":null,\"status\":\"PAUSED\",\"status_reason\":null,\"created_at\":"
     "null,\"updated_at\":null,\"cleaned_at\":null,\"params\":null,\"task_metadata\":null}"},
    {"event", K_EVENT, EVENT_JSON, NULL},
    {"event without content", K_EVENT,
     "{\"id\":\"e\",\"sequence_id\":0,\"task_id\":\"t\",\"agent_id\":\"a\"}",
     "{\"id\":\"e\",\"sequence_id\":0,\"task_id\":\"t\",\"agent_id\":\"a\",\"created_at\":null,"
     "\"content\":null}"},
    {"event with a large sequence id", K_EVENT,
     "{\"id\":\"e\",\"sequence_id\":123456789012345,\"task_id\":\"t\",\"agent_id\":\"a\","
     "\"created_at\":null,\"content\":null}",
     NULL},
    {"message (text, no zone)", K_MESSAGE, MESSAGE_JSON, MESSAGE_OUT},
    {"message (tool request from a batch)", K_MESSAGE,
     "{\"id\":\"m1\",\"task_id\":\"t\",\"content\":{\"type\":\"tool_request\",\"author\":"
     "\"agent\",\"tool_call_id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":{\"city\":"
     "\"Paris\"}},\"streaming_status\":\"DONE\",\"created_at\":\"2026-03-01T09:06:11.251Z\"}",
     "{\"id\":\"m1\",\"task_id\":\"t\",\"content\":{\"type\":\"tool_request\",\"author\":"
     "\"agent\",\"style\":\"static\",\"tool_call_id\":\"call_1\",\"name\":\"get_weather\","
     "\"arguments\":{\"city\":\"Paris\"}},\"streaming_status\":\"DONE\",\"created_at\":"
     "\"2026-03-01T09:06:11.251000Z\",\"updated_at\":null}"},
    {"message (data, minimal)", K_MESSAGE,
     "{\"task_id\":\"t\",\"content\":{\"type\":\"data\",\"author\":\"agent\",\"data\":{"
     "\"done\":true}}}",
     "{\"id\":null,\"task_id\":\"t\",\"content\":{\"type\":\"data\",\"author\":\"agent\","
     "\"style\":\"static\",\"data\":{\"done\":true}},\"streaming_status\":null,\"created_at\":"
     "null,\"updated_at\":null}"},
    {"state", K_STATE, STATE_JSON, STATE_OUT},
    {"tracker (fresh)", K_TRACKER, TRACKER_JSON, NULL},
    {"tracker (cursor set)", K_TRACKER, TRACKER2_JSON, TRACKER2_OUT},
    {"content text (8.3)", K_CONTENT, TEXT_USER_JSON, NULL},
    {"content text with attachments", K_CONTENT,
     "{\"type\":\"text\",\"author\":\"user\",\"style\":\"active\",\"format\":\"code\","
     "\"content\":\"see file\",\"attachments\":[{\"file_id\":\"f1\",\"name\":\"a.txt\","
     "\"size\":12,\"type\":\"text/plain\"},{\"file_id\":\"f2\",\"name\":\"b.png\",\"size\":"
     "2048,\"type\":\"image/png\"}]}",
     NULL},
    {"content text with empty attachments", K_CONTENT,
     "{\"type\":\"text\",\"author\":\"agent\",\"style\":\"static\",\"format\":\"markdown\","
     "\"content\":\"x\",\"attachments\":[]}",
     NULL},
    {"content text minimal gets the defaults", K_CONTENT,
     "{\"type\":\"text\",\"author\":\"user\",\"content\":\"hi\"}",
     "{\"type\":\"text\",\"author\":\"user\",\"style\":\"static\",\"format\":\"plain\","
     "\"content\":\"hi\",\"attachments\":null}"},
    {"content text with nulls and unknown keys", K_CONTENT,
     "{\"extra\":{\"a\":1},\"type\":\"text\",\"author\":\"user\",\"style\":null,\"format\":"
     "null,\"content\":\"hi\",\"attachments\":null,\"more\":[1]}",
     "{\"type\":\"text\",\"author\":\"user\",\"style\":\"static\",\"format\":\"plain\","
     "\"content\":\"hi\",\"attachments\":null}"},
    {"content text with escapes and UTF-8", K_CONTENT,
     "{\"type\":\"text\",\"author\":\"agent\",\"style\":\"static\",\"format\":\"markdown\","
     "\"content\":\"Sunny, 21\xc2\xb0"
     "C \\\"quoted\\\"\\n\\ttab\\\\\",\"attachments\":null}",
     NULL},
    {"content data", K_CONTENT,
     "{\"type\":\"data\",\"author\":\"agent\",\"style\":\"static\",\"data\":{\"done\":true,"
     "\"n\":[1,2.5,\"x\",null,{}]}}",
     NULL},
    {"content tool_request (8.8)", K_CONTENT,
     "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"call_1\",\"name\":"
     "\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}",
     "{\"type\":\"tool_request\",\"author\":\"agent\",\"style\":\"static\",\"tool_call_id\":"
     "\"call_1\",\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}"},
    {"content tool_response (8.8)", K_CONTENT,
     "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"call_1\",\"name\":"
     "\"get_weather\",\"content\":{\"temp_c\":21},\"is_error\":false}",
     "{\"type\":\"tool_response\",\"author\":\"agent\",\"style\":\"static\",\"tool_call_id\":"
     "\"call_1\",\"name\":\"get_weather\",\"content\":{\"temp_c\":21},\"is_error\":false}"},
    {"content tool_response, string result, is_error absent", K_CONTENT,
     "{\"type\":\"tool_response\",\"author\":\"agent\",\"style\":\"active\",\"tool_call_id\":"
     "\"c\",\"name\":\"t\",\"content\":\"ok\"}",
     "{\"type\":\"tool_response\",\"author\":\"agent\",\"style\":\"active\",\"tool_call_id\":"
     "\"c\",\"name\":\"t\",\"content\":\"ok\",\"is_error\":null}"},
    {"content tool_response, null result, error", K_CONTENT,
     "{\"type\":\"tool_response\",\"author\":\"agent\",\"style\":\"static\",\"tool_call_id\":"
     "\"c\",\"name\":\"t\",\"content\":null,\"is_error\":true}",
     NULL},
    {"content tool_response, array result", K_CONTENT,
     "{\"type\":\"tool_response\",\"author\":\"user\",\"style\":\"static\",\"tool_call_id\":"
     "\"c\",\"name\":\"t\",\"content\":[1,\"two\",false],\"is_error\":null}",
     NULL},
    {"content reasoning", K_CONTENT,
     "{\"type\":\"reasoning\",\"author\":\"agent\",\"style\":\"static\",\"summary\":[\"a\","
     "\"b\"],\"content\":null}",
     NULL},
    {"content reasoning with content, empty summary", K_CONTENT,
     "{\"type\":\"reasoning\",\"author\":\"agent\",\"style\":\"active\",\"summary\":[],"
     "\"content\":[\"x\",\"y\",\"z\"]}",
     NULL},
    {"content reasoning minimal", K_CONTENT,
     "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[\"s\"]}",
     "{\"type\":\"reasoning\",\"author\":\"agent\",\"style\":\"static\",\"summary\":[\"s\"],"
     "\"content\":null}"},
};

START_TEST(test_round_trip)
{
    const struct round_trip *rt = &round_trips[_i];
    void *x = NULL;
    ck_assert_msg(from_text(rt->kind, rt->in, &x) == AGENTEX_OK, "%s: does not parse", rt->name);
    assert_wire(rt->kind, x, rt->out ? rt->out : rt->in);

    /* and the printed form parses again to the same text */
    char *s = wire(rt->kind, x);
    void *y = NULL;
    ck_assert_int_eq(from_text(rt->kind, s, &y), AGENTEX_OK);
    assert_wire(rt->kind, y, s);
    agx_free(s);
    kind_free(rt->kind, y);
    kind_free(rt->kind, x);
}
END_TEST

/* ---- accessors on the vectors ---- */

START_TEST(test_agent_vector_accessors)
{
    adk_agent_t *a = NULL;
    ck_assert_int_eq(from_text(K_AGENT, AGENT_JSON, (void **)&a), AGENTEX_OK);
    ck_assert_str_eq(adk_agent_id(a), AGENT_ID);
    ck_assert_str_eq(adk_agent_name(a), "demo-agent");
    ck_assert_str_eq(adk_agent_description(a), "Demo agent");
    ck_assert_str_eq(adk_agent_acp_type(a), "async");
    ck_assert_str_eq(adk_agent_status(a), "Ready");
    ck_assert_str_eq(adk_agent_status_reason(a), "Agent registered successfully.");
    ck_assert_str_eq(adk_agent_acp_url(a), "http://host.docker.internal:8000");
    ck_assert_ptr_null(adk_agent_api_key(a));
    ck_assert_ptr_null(adk_agent_registration_metadata(a));
    ck_assert_int_eq(adk_agent_created_at(a), T_AGENT);
    ck_assert_int_eq(adk_agent_updated_at(a), T_AGENT);
    ck_assert_int_eq(adk_agent_registered_at(a), T_AGENT);
    adk_agent_free(a);

    ck_assert_int_eq(from_text(K_AGENT, REGISTER_JSON, (void **)&a), AGENTEX_OK);
    ck_assert_str_eq(adk_agent_api_key(a), API_KEY);
    ck_assert_ptr_null(adk_agent_acp_url(a));
    adk_agent_free(a);

    ck_assert_int_eq(from_text(K_AGENT,
                               "{\"id\":\"a\",\"name\":\"n\",\"registration_metadata\":{\"k\":1}}",
                               (void **)&a),
                     AGENTEX_OK);
    const cJSON *md = adk_agent_registration_metadata(a);
    ck_assert(cJSON_IsObject(md));
    ck_assert_ptr_null(md->string);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(md, "k")->valueint, 1);
    ck_assert_ptr_null(adk_agent_description(a));
    ck_assert_ptr_null(adk_agent_status(a));
    ck_assert(adk_agent_created_at(a) == ADK_TIME_NONE);
    ck_assert(adk_agent_registered_at(a) == ADK_TIME_NONE);
    adk_agent_free(a);
}
END_TEST

START_TEST(test_task_vector_accessors)
{
    adk_task_t *t = NULL;
    ck_assert_int_eq(from_text(K_TASK, TASK_JSON, (void **)&t), AGENTEX_OK);
    ck_assert_str_eq(adk_task_id(t), TASK_ID);
    ck_assert_ptr_null(adk_task_name(t));
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_RUNNING);
    ck_assert_str_eq(adk_task_status_text(t), "RUNNING");
    ck_assert_str_eq(adk_task_status_reason(t), "Task created, forwarding to ACP server");
    ck_assert_int_eq(adk_task_created_at(t), T_TASK);
    ck_assert_int_eq(adk_task_updated_at(t), T_TASK);
    const cJSON *p = adk_task_params(t);
    ck_assert(cJSON_IsObject(p));
    ck_assert_ptr_null(p->string); /* a root value, not the member "params" */
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(p, "topic")->valuestring, "weather");
    ck_assert_ptr_null(adk_task_metadata(t));
    adk_task_free(t);
}
END_TEST

START_TEST(test_event_vector_accessors)
{
    adk_event_t *e = NULL;
    ck_assert_int_eq(from_text(K_EVENT, EVENT_JSON, (void **)&e), AGENTEX_OK);
    ck_assert_str_eq(adk_event_id(e), EVENT_ID);
    ck_assert_int_eq(adk_event_sequence_id(e), 1042);
    ck_assert_str_eq(adk_event_task_id(e), TASK_ID);
    ck_assert_str_eq(adk_event_agent_id(e), AGENT_ID);
    ck_assert_int_eq(adk_event_created_at(e), T_EVENT);
    const adk_content_t *c = adk_event_content(e);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(adk_content_type(c), ADK_CONTENT_TEXT);
    ck_assert_int_eq(adk_content_author(c), ADK_AUTHOR_USER);
    ck_assert_int_eq(adk_content_style(c), ADK_STYLE_STATIC);
    ck_assert_int_eq(adk_content_format(c), ADK_FORMAT_PLAIN);
    ck_assert_str_eq(adk_content_text(c), "What is the forecast?");
    ck_assert_uint_eq(adk_content_attachment_count(c), 0);
    adk_event_free(e);

    ck_assert_int_eq(
        from_text(K_EVENT,
                  "{\"id\":\"e\",\"sequence_id\":7,\"task_id\":\"t\",\"agent_id\":\"a\","
                  "\"content\":null}",
                  (void **)&e),
        AGENTEX_OK);
    ck_assert_ptr_null(adk_event_content(e));
    ck_assert(adk_event_created_at(e) == ADK_TIME_NONE);
    adk_event_free(e);
}
END_TEST

START_TEST(test_message_vector_accessors)
{
    adk_message_t *m = NULL;
    ck_assert_int_eq(from_text(K_MESSAGE, MESSAGE_JSON, (void **)&m), AGENTEX_OK);
    ck_assert_str_eq(adk_message_id(m), MESSAGE_ID);
    ck_assert_str_eq(adk_message_task_id(m), TASK_ID);
    ck_assert_int_eq(adk_message_streaming_status(m), ADK_STREAMING_IN_PROGRESS);
    ck_assert_int_eq(adk_message_created_at(m), T_MESSAGE);
    ck_assert_int_eq(adk_message_updated_at(m), T_MESSAGE);
    const adk_content_t *c = adk_message_content(m);
    ck_assert_int_eq(adk_content_author(c), ADK_AUTHOR_AGENT);
    ck_assert_int_eq(adk_content_format(c), ADK_FORMAT_MARKDOWN);
    ck_assert_str_eq(adk_content_text(c), "");
    adk_message_free(m);

    ck_assert_int_eq(from_text(K_MESSAGE,
                               "{\"task_id\":\"t\",\"streaming_status\":\"DONE\",\"content\":"
                               "{\"type\":\"text\",\"author\":\"agent\",\"content\":\"x\"}}",
                               (void **)&m),
                     AGENTEX_OK);
    ck_assert_ptr_null(adk_message_id(m));
    ck_assert_int_eq(adk_message_streaming_status(m), ADK_STREAMING_DONE);
    ck_assert(adk_message_created_at(m) == ADK_TIME_NONE);
    adk_message_free(m);

    ck_assert_int_eq(from_text(K_MESSAGE,
                               "{\"task_id\":\"t\",\"streaming_status\":null,\"content\":"
                               "{\"type\":\"text\",\"author\":\"agent\",\"content\":\"x\"}}",
                               (void **)&m),
                     AGENTEX_OK);
    ck_assert_int_eq(adk_message_streaming_status(m), ADK_STREAMING_NONE);
    adk_message_free(m);
}
END_TEST

START_TEST(test_state_vector_accessors)
{
    adk_state_t *s = NULL;
    ck_assert_int_eq(from_text(K_STATE, STATE_JSON, (void **)&s), AGENTEX_OK);
    ck_assert_str_eq(adk_state_id(s), "66a1f0c2b9e4d83a17c5e9aa");
    ck_assert_str_eq(adk_state_task_id(s), TASK_ID);
    ck_assert_str_eq(adk_state_agent_id(s), AGENT_ID);
    const cJSON *v = adk_state_value(s);
    ck_assert(cJSON_IsObject(v));
    ck_assert_ptr_null(v->string);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(v, "turns")->valueint, 0);
    ck_assert_int_eq(adk_state_created_at(s), T_STATE);
    ck_assert(adk_state_updated_at(s) == ADK_TIME_NONE);
    adk_state_free(s);
}
END_TEST

START_TEST(test_tracker_vector_accessors)
{
    adk_tracker_t *t = NULL;
    ck_assert_int_eq(from_text(K_TRACKER, TRACKER_JSON, (void **)&t), AGENTEX_OK);
    ck_assert_str_eq(adk_tracker_id(t), TRACKER_ID);
    ck_assert_str_eq(adk_tracker_task_id(t), TASK_ID);
    ck_assert_str_eq(adk_tracker_agent_id(t), AGENT_ID);
    ck_assert_ptr_null(adk_tracker_status(t));
    ck_assert_ptr_null(adk_tracker_status_reason(t));
    ck_assert_ptr_null(adk_tracker_last_processed_event_id(t));
    ck_assert_int_eq(adk_tracker_created_at(t), T_TASK);
    ck_assert_int_eq(adk_tracker_updated_at(t), T_TASK);
    adk_tracker_free(t);

    ck_assert_int_eq(from_text(K_TRACKER, TRACKER2_JSON, (void **)&t), AGENTEX_OK);
    ck_assert_str_eq(adk_tracker_status(t), "READY");
    ck_assert_str_eq(adk_tracker_status_reason(t), "processed 1 event");
    ck_assert_str_eq(adk_tracker_last_processed_event_id(t), EVENT_ID);
    ck_assert_int_eq(adk_tracker_updated_at(t), INT64_C(1772355972000000));
    adk_tracker_free(t);
}
END_TEST

/* ---- content accessors ---- */

static adk_content_t *content_of(const char *text)
{
    adk_content_t *c = NULL;
    ck_assert_int_eq(from_text(K_CONTENT, text, (void **)&c), AGENTEX_OK);
    return c;
}

/* The accessors of other content types answer NULL / 0 / -1. */
static void assert_not_text(const adk_content_t *c)
{
    ck_assert_ptr_null(adk_content_text(c));
    ck_assert_uint_eq(adk_content_attachment_count(c), 0);
}
static void assert_not_data(const adk_content_t *c) { ck_assert_ptr_null(adk_content_data(c)); }
static void assert_not_tool(const adk_content_t *c)
{
    ck_assert_ptr_null(adk_content_tool_call_id(c));
    ck_assert_ptr_null(adk_content_tool_name(c));
    ck_assert_ptr_null(adk_content_tool_arguments(c));
    ck_assert_ptr_null(adk_content_tool_result(c));
    ck_assert_int_eq(adk_content_tool_is_error(c), -1);
}
static void assert_not_reasoning(const adk_content_t *c)
{
    ck_assert_uint_eq(adk_content_reasoning_summary_count(c), 0);
    ck_assert_uint_eq(adk_content_reasoning_content_count(c), 0);
    ck_assert_ptr_null(adk_content_reasoning_summary_at(c, 0));
    ck_assert_ptr_null(adk_content_reasoning_content_at(c, 0));
}

START_TEST(test_content_text_attachments)
{
    adk_content_t *c = content_of(
        "{\"type\":\"text\",\"author\":\"user\",\"style\":\"active\",\"format\":\"code\","
        "\"content\":\"see file\",\"attachments\":[{\"file_id\":\"f1\",\"name\":\"a.txt\","
        "\"size\":12,\"type\":\"text/plain\"},{\"file_id\":\"f2\",\"name\":\"b.png\",\"size\":"
        "4294967296,\"type\":\"image/png\",\"extra\":true}]}");
    ck_assert_int_eq(adk_content_type(c), ADK_CONTENT_TEXT);
    ck_assert_int_eq(adk_content_style(c), ADK_STYLE_ACTIVE);
    ck_assert_int_eq(adk_content_format(c), ADK_FORMAT_CODE);
    ck_assert_str_eq(adk_content_text(c), "see file");
    ck_assert_uint_eq(adk_content_attachment_count(c), 2);
    const char *fid = NULL, *name = NULL, *mime = NULL;
    int64_t size = -1;
    ck_assert_int_eq(adk_content_attachment_at(c, 0, &fid, &name, &size, &mime), AGENTEX_OK);
    ck_assert_str_eq(fid, "f1");
    ck_assert_str_eq(name, "a.txt");
    ck_assert_int_eq(size, 12);
    ck_assert_str_eq(mime, "text/plain");
    ck_assert_int_eq(adk_content_attachment_at(c, 1, &fid, NULL, &size, NULL), AGENTEX_OK);
    ck_assert_str_eq(fid, "f2");
    ck_assert_int_eq(size, INT64_C(4294967296));
    ck_assert_int_eq(adk_content_attachment_at(c, 2, &fid, &name, &size, &mime), AGENTEX_EINVAL);
    assert_not_data(c);
    assert_not_tool(c);
    assert_not_reasoning(c);
    adk_content_free(c);
}
END_TEST

START_TEST(test_content_data_accessors)
{
    adk_content_t *c = content_of(
        "{\"type\":\"data\",\"author\":\"agent\",\"style\":\"active\",\"data\":{\"done\":true}}");
    ck_assert_int_eq(adk_content_type(c), ADK_CONTENT_DATA);
    ck_assert_int_eq(adk_content_author(c), ADK_AUTHOR_AGENT);
    ck_assert_int_eq(adk_content_style(c), ADK_STYLE_ACTIVE);
    const cJSON *d = adk_content_data(c);
    ck_assert_ptr_null(d->string);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "done")));
    assert_not_text(c);
    assert_not_tool(c);
    assert_not_reasoning(c);
    ck_assert_int_eq(adk_content_attachment_at(c, 0, NULL, NULL, NULL, NULL), AGENTEX_EINVAL);
    adk_content_free(c);
}
END_TEST

START_TEST(test_content_tool_accessors)
{
    adk_content_t *c = content_of(
        "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"call_1\",\"name\":"
        "\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}");
    ck_assert_int_eq(adk_content_type(c), ADK_CONTENT_TOOL_REQUEST);
    ck_assert_str_eq(adk_content_tool_call_id(c), "call_1");
    ck_assert_str_eq(adk_content_tool_name(c), "get_weather");
    ck_assert_str_eq(
        cJSON_GetObjectItemCaseSensitive(adk_content_tool_arguments(c), "city")->valuestring,
        "Paris");
    ck_assert_ptr_null(adk_content_tool_arguments(c)->string);
    ck_assert_ptr_null(adk_content_tool_result(c));
    ck_assert_int_eq(adk_content_tool_is_error(c), -1);
    assert_not_text(c);
    assert_not_data(c);
    assert_not_reasoning(c);
    adk_content_free(c);

    static const struct {
        const char *is_error;
        int expect;
    } cases[] = {{"", -1},
                 {",\"is_error\":null", -1},
                 {",\"is_error\":true", 1},
                 {",\"is_error\":false", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[256];
        snprintf(buf, sizeof buf,
                 "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"call_1\","
                 "\"name\":\"get_weather\",\"content\":{\"temp_c\":21}%s}",
                 cases[i].is_error);
        c = content_of(buf);
        ck_assert_int_eq(adk_content_type(c), ADK_CONTENT_TOOL_RESPONSE);
        ck_assert_str_eq(adk_content_tool_call_id(c), "call_1");
        ck_assert_str_eq(adk_content_tool_name(c), "get_weather");
        ck_assert_ptr_null(adk_content_tool_arguments(c));
        ck_assert_int_eq(
            cJSON_GetObjectItemCaseSensitive(adk_content_tool_result(c), "temp_c")->valueint, 21);
        ck_assert_int_eq(adk_content_tool_is_error(c), cases[i].expect);
        adk_content_free(c);
    }

    c = content_of("{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"c\","
                   "\"name\":\"t\",\"content\":null}");
    ck_assert(cJSON_IsNull(adk_content_tool_result(c)));
    ck_assert_ptr_null(adk_content_tool_result(c)->string);
    adk_content_free(c);
}
END_TEST

START_TEST(test_content_reasoning_lists)
{
    adk_content_t *c = content_of("{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":["
                                  "\"first\",\"second\"],\"content\":[\"a\",\"b\",\"c\"]}");
    ck_assert_int_eq(adk_content_type(c), ADK_CONTENT_REASONING);
    ck_assert_uint_eq(adk_content_reasoning_summary_count(c), 2);
    ck_assert_str_eq(adk_content_reasoning_summary_at(c, 0), "first");
    ck_assert_str_eq(adk_content_reasoning_summary_at(c, 1), "second");
    ck_assert_ptr_null(adk_content_reasoning_summary_at(c, 2));
    ck_assert_uint_eq(adk_content_reasoning_content_count(c), 3);
    ck_assert_str_eq(adk_content_reasoning_content_at(c, 2), "c");
    ck_assert_ptr_null(adk_content_reasoning_content_at(c, 3));
    assert_not_text(c);
    assert_not_data(c);
    assert_not_tool(c);
    adk_content_free(c);

    c = content_of("{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[]}");
    ck_assert_uint_eq(adk_content_reasoning_summary_count(c), 0);
    ck_assert_uint_eq(adk_content_reasoning_content_count(c), 0);
    ck_assert_ptr_null(adk_content_reasoning_summary_at(c, 0));
    adk_content_free(c);
}
END_TEST

/* ---- invalid content: EPROTO ---- */

static const char *const bad_contents[] = {
    "[]",
    "\"text\"",
    "null",
    "{}",
    "{\"author\":\"user\",\"content\":\"x\"}",                    /* no type */
    "{\"type\":null,\"author\":\"user\",\"content\":\"x\"}",      /* null type */
    "{\"type\":\"video\",\"author\":\"user\",\"content\":\"x\"}", /* unknown type */
    "{\"type\":\"TEXT\",\"author\":\"user\",\"content\":\"x\"}",  /* case matters */
    "{\"type\":1,\"author\":\"user\",\"content\":\"x\"}",
    "{\"type\":\"text\",\"content\":\"x\"}",                       /* no author */
    "{\"type\":\"text\",\"author\":\"system\",\"content\":\"x\"}", /* not in the enum */
    "{\"type\":\"text\",\"author\":[],\"content\":\"x\"}",
    "{\"type\":\"text\",\"author\":\"user\",\"style\":\"bold\",\"content\":\"x\"}",
    "{\"type\":\"text\",\"author\":\"user\",\"style\":1,\"content\":\"x\"}",
    "{\"type\":\"text\",\"author\":\"user\",\"format\":\"html\",\"content\":\"x\"}",
    "{\"type\":\"text\",\"author\":\"user\",\"format\":true,\"content\":\"x\"}",
    "{\"type\":\"text\",\"author\":\"user\"}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":null}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":42}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":[\"x\"]}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":{}}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":\"f\"}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":[1]}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":[{\"name\":\"a\","
    "\"size\":1,\"type\":\"t\"}]}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":[{\"file_id\":"
    "\"f\",\"size\":1,\"type\":\"t\"}]}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":[{\"file_id\":"
    "\"f\",\"name\":\"a\",\"type\":\"t\"}]}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":[{\"file_id\":"
    "\"f\",\"name\":\"a\",\"size\":1}]}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":[{\"file_id\":"
    "\"f\",\"name\":\"a\",\"size\":1.5,\"type\":\"t\"}]}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":[{\"file_id\":"
    "\"f\",\"name\":\"a\",\"size\":\"1\",\"type\":\"t\"}]}",
    "{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\",\"attachments\":[{\"file_id\":"
    "\"f\",\"name\":\"a\",\"size\":1,\"type\":\"t\"},{\"file_id\":2,\"name\":\"a\",\"size\":1,"
    "\"type\":\"t\"}]}",
    "{\"type\":\"data\",\"author\":\"agent\"}",
    "{\"type\":\"data\",\"author\":\"agent\",\"data\":null}",
    "{\"type\":\"data\",\"author\":\"agent\",\"data\":[1]}",
    "{\"type\":\"data\",\"author\":\"agent\",\"data\":\"{}\"}",
    "{\"type\":\"tool_request\",\"author\":\"agent\",\"name\":\"n\",\"arguments\":{}}",
    "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"arguments\":{}}",
    "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\"}",
    "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
    "\"arguments\":null}",
    "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
    "\"arguments\":\"{\\\"city\\\":1}\"}",
    "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":1,\"name\":\"n\","
    "\"arguments\":{}}",
    "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\"}",
    "{\"type\":\"tool_response\",\"author\":\"agent\",\"name\":\"n\",\"content\":1}",
    "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"content\":1}",
    "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
    "\"content\":1,\"is_error\":\"yes\"}",
    "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
    "\"content\":1,\"is_error\":0}",
    "{\"type\":\"reasoning\",\"author\":\"agent\"}",
    "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":null}",
    "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":\"s\"}",
    "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[\"a\",1]}",
    "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[null]}",
    "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[],\"content\":\"c\"}",
    "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[],\"content\":[\"c\",{}]}",
};

START_TEST(test_content_invalid_is_eproto)
{
    for (size_t i = 0; i < sizeof bad_contents / sizeof bad_contents[0]; i++) {
        void *c = NULL;
        agentex_err_t rc = from_text(K_CONTENT, bad_contents[i], &c);
        ck_assert_msg(rc == AGENTEX_EPROTO, "%s gave %s", bad_contents[i], agentex_err_name(rc));
    }
}
END_TEST

/* A bad content inside an event or a message makes the whole object EPROTO. */
START_TEST(test_nested_content_invalid_is_eproto)
{
    void *x = NULL;
    ck_assert_int_eq(from_text(K_EVENT,
                               "{\"id\":\"e\",\"sequence_id\":1,\"task_id\":\"t\",\"agent_id\":"
                               "\"a\",\"content\":{\"type\":\"text\",\"author\":\"bot\","
                               "\"content\":\"x\"}}",
                               &x),
                     AGENTEX_EPROTO);
    ck_assert_int_eq(from_text(K_MESSAGE,
                               "{\"task_id\":\"t\",\"content\":{\"type\":\"data\",\"author\":"
                               "\"agent\",\"data\":[]}}",
                               &x),
                     AGENTEX_EPROTO);
    ck_assert_int_eq(from_text(K_MESSAGE,
                               "{\"task_id\":\"t\",\"content\":{\"type\":\"text\",\"author\":"
                               "\"agent\",\"content\":\"x\"},\"streaming_status\":\"PAUSED\"}",
                               &x),
                     AGENTEX_EPROTO);
    ck_assert_int_eq(from_text(K_MESSAGE,
                               "{\"task_id\":\"t\",\"content\":{\"type\":\"text\",\"author\":"
                               "\"agent\",\"content\":\"x\"},\"streaming_status\":1}",
                               &x),
                     AGENTEX_EPROTO);
}
END_TEST

/* ---- strictness of the fixed resources: one row per (object, key) ---- */

#define EVENT_MIN "{\"id\":\"e\",\"sequence_id\":5,\"task_id\":\"t\",\"agent_id\":\"a\"}"
#define MESSAGE_MIN                                                                                \
    "{\"task_id\":\"t\",\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\"}}"

enum { A_ARRAY = 1, A_BOOL = 2, A_NUMBER = 4, A_STRING = 8, A_NULL = 16, A_ANY = 31 };

static const struct field_case {
    kind_t kind;
    const char *base; /* parses; has every key below */
    const char *key;
    bool required;
    unsigned accepts; /* wrong-looking values that are right for this key: A_* */
} field_cases[] = {
    {K_AGENT, AGENT_JSON, "id", true, A_STRING},
    {K_AGENT, AGENT_JSON, "name", true, A_STRING},
    {K_AGENT, AGENT_JSON, "docker_image", false, A_STRING},
    {K_AGENT, AGENT_JSON, "description", false, A_STRING},
    {K_AGENT, AGENT_JSON, "acp_type", false, A_STRING},
    {K_AGENT, AGENT_JSON, "status", false, A_STRING},
    {K_AGENT, AGENT_JSON, "status_reason", false, A_STRING},
    {K_AGENT, AGENT_JSON, "acp_url", false, A_STRING},
    {K_AGENT, AGENT_JSON, "created_at", false, 0},
    {K_AGENT, AGENT_JSON, "updated_at", false, 0},
    {K_AGENT, AGENT_JSON, "registration_metadata", false, 0},
    {K_AGENT, AGENT_JSON, "registered_at", false, 0},
    {K_AGENT, AGENT_JSON, "agent_input_type", false, A_STRING},
    {K_AGENT, AGENT_JSON, "production_deployment_id", false, A_STRING},
    {K_AGENT, REGISTER_JSON, "agent_api_key", false, A_STRING},
    {K_TASK, TASK_JSON, "id", true, A_STRING},
    {K_TASK, TASK_JSON, "name", false, A_STRING},
    {K_TASK, TASK_JSON, "status", false, A_STRING},
    {K_TASK, TASK_JSON, "status_reason", false, A_STRING},
    {K_TASK, TASK_JSON, "created_at", false, 0},
    {K_TASK, TASK_JSON, "updated_at", false, 0},
    {K_TASK, TASK_JSON, "cleaned_at", false, 0},
    {K_TASK, TASK_JSON, "params", false, 0},
    {K_TASK, TASK_JSON, "task_metadata", false, 0},
    {K_EVENT, EVENT_JSON, "id", true, A_STRING},
    {K_EVENT, EVENT_JSON, "sequence_id", true, A_NUMBER},
    {K_EVENT, EVENT_JSON, "task_id", true, A_STRING},
    {K_EVENT, EVENT_JSON, "agent_id", true, A_STRING},
    {K_EVENT, EVENT_JSON, "created_at", false, 0},
    {K_EVENT, EVENT_JSON, "content", false, 0},
    {K_MESSAGE, MESSAGE_JSON, "id", false, A_STRING},
    {K_MESSAGE, MESSAGE_JSON, "task_id", true, A_STRING},
    {K_MESSAGE, MESSAGE_JSON, "content", true, 0},
    {K_MESSAGE, MESSAGE_JSON, "streaming_status", false, 0},
    {K_MESSAGE, MESSAGE_JSON, "created_at", false, 0},
    {K_MESSAGE, MESSAGE_JSON, "updated_at", false, 0},
    {K_STATE, STATE_JSON, "id", true, A_STRING},
    {K_STATE, STATE_JSON, "task_id", true, A_STRING},
    {K_STATE, STATE_JSON, "agent_id", true, A_STRING},
    {K_STATE, STATE_JSON, "state", true, 0},
    {K_STATE, STATE_JSON, "created_at", false, 0},
    {K_STATE, STATE_JSON, "updated_at", false, 0},
    {K_TRACKER, TRACKER2_JSON, "id", true, A_STRING},
    {K_TRACKER, TRACKER2_JSON, "task_id", true, A_STRING},
    {K_TRACKER, TRACKER2_JSON, "agent_id", true, A_STRING},
    {K_TRACKER, TRACKER2_JSON, "status", false, A_STRING},
    {K_TRACKER, TRACKER2_JSON, "status_reason", false, A_STRING},
    {K_TRACKER, TRACKER2_JSON, "last_processed_event_id", false, A_STRING},
    {K_TRACKER, TRACKER2_JSON, "created_at", false, 0},
    {K_TRACKER, TRACKER2_JSON, "updated_at", false, 0},
    {K_CONTENT, TEXT_USER_JSON, "type", true, 0},
    {K_CONTENT, TEXT_USER_JSON, "author", true, 0},
    {K_CONTENT, TEXT_USER_JSON, "style", false, 0},
    {K_CONTENT, TEXT_USER_JSON, "format", false, 0},
    {K_CONTENT, TEXT_USER_JSON, "content", true, A_STRING},
    {K_CONTENT, TEXT_USER_JSON, "attachments", false, A_ARRAY},
    {K_CONTENT, "{\"type\":\"data\",\"author\":\"agent\",\"style\":\"static\",\"data\":{}}", "data",
     true, 0},
    {K_CONTENT,
     "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
     "\"arguments\":{}}",
     "tool_call_id", true, A_STRING},
    {K_CONTENT,
     "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
     "\"arguments\":{}}",
     "name", true, A_STRING},
    {K_CONTENT,
     "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
     "\"arguments\":{}}",
     "arguments", true, 0},
    {K_CONTENT,
     "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
     "\"content\":{},\"is_error\":true}",
     "content", true, A_ANY},
    {K_CONTENT,
     "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"c\",\"name\":\"n\","
     "\"content\":{},\"is_error\":true}",
     "is_error", false, A_BOOL},
    {K_CONTENT,
     "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[\"s\"],\"content\":[\"c\"]}",
     "summary", true, A_ARRAY},
    {K_CONTENT,
     "{\"type\":\"reasoning\",\"author\":\"agent\",\"summary\":[\"s\"],\"content\":[\"c\"]}",
     "content", false, A_ARRAY},
};

/* Parses base with key replaced by value (NULL: removed). */
static agentex_err_t parse_mutated(const struct field_case *fc, cJSON *value)
{
    cJSON *j = parse(fc->base);
    ck_assert_msg(cJSON_GetObjectItemCaseSensitive(j, fc->key) != NULL, "%s not in base", fc->key);
    if (value)
        ck_assert(cJSON_ReplaceItemInObjectCaseSensitive(j, fc->key, value));
    else
        cJSON_DeleteItemFromObjectCaseSensitive(j, fc->key);
    void *x = (void *)1;
    agentex_err_t rc = kind_from_json(fc->kind, j, &x);
    if (rc == AGENTEX_OK) {
        ck_assert_ptr_nonnull(x);
        /* whatever parsed must also print */
        char *s = wire(fc->kind, x);
        agx_free(s);
        kind_free(fc->kind, x);
    } else {
        ck_assert_ptr_null(x);
    }
    cJSON_Delete(j);
    return rc;
}

START_TEST(test_field_strictness)
{
    const struct field_case *fc = &field_cases[_i];
    agentex_err_t want_missing = fc->required ? AGENTEX_EPROTO : AGENTEX_OK;
    agentex_err_t want_null = fc->required && !(fc->accepts & A_NULL) ? AGENTEX_EPROTO : AGENTEX_OK;
    agentex_err_t rc;
#define WANT(a) ((fc->accepts & (a)) ? AGENTEX_OK : AGENTEX_EPROTO)

    ck_assert_msg(parse_mutated(fc, NULL) == want_missing, "%s without it", fc->key);
    ck_assert_msg(parse_mutated(fc, cJSON_CreateNull()) == want_null, "%s null", fc->key);
    rc = parse_mutated(fc, cJSON_CreateArray());
    ck_assert_msg(rc == WANT(A_ARRAY), "%s: [] gave %s", fc->key, agentex_err_name(rc));
    rc = parse_mutated(fc, cJSON_CreateTrue());
    ck_assert_msg(rc == WANT(A_BOOL), "%s: true gave %s", fc->key, agentex_err_name(rc));
    rc = parse_mutated(fc, cJSON_CreateNumber(7));
    ck_assert_msg(rc == WANT(A_NUMBER), "%s: 7 gave %s", fc->key, agentex_err_name(rc));
    rc = parse_mutated(fc, cJSON_CreateString("x"));
    ck_assert_msg(rc == WANT(A_STRING), "%s: \"x\" gave %s", fc->key, agentex_err_name(rc));
    /* an array holding a number is wrong for every list */
    cJSON *bad = cJSON_CreateArray();
    cJSON_AddItemToArray(bad, cJSON_CreateNumber(1));
    rc = parse_mutated(fc, bad);
    ck_assert_msg(rc == ((fc->accepts & A_NULL) ? AGENTEX_OK : AGENTEX_EPROTO), "%s: [1] gave %s",
                  fc->key, agentex_err_name(rc));
#undef WANT
}
END_TEST

/* Every vector with every byte replaced, and cut at every length: whatever still is
 * JSON parses as OK or EPROTO (never anything else, never a crash), and what parses
 * prints. */
START_TEST(test_mangled_vectors)
{
    const struct round_trip *rt = &round_trips[_i];
    static const char subst[] = {'"', '1', '[', '}', 'n', ' '};
    size_t len = strlen(rt->in);
    char *buf = malloc(len + 1);
    for (size_t pos = 0; pos <= len; pos++) {
        for (size_t k = 0; k <= sizeof subst; k++) {
            size_t n = len;
            memcpy(buf, rt->in, len + 1);
            if (k == sizeof subst)
                n = pos; /* cut */
            else if (pos < len)
                buf[pos] = subst[k];
            else
                continue;
            cJSON *j = agx_json_parse(buf, n);
            if (!j)
                continue;
            for (kind_t kind = K_AGENT; kind <= K_CONTENT; kind++) {
                void *x = NULL;
                agentex_err_t rc = kind_from_json(kind, j, &x);
                ck_assert_msg(rc == AGENTEX_OK || rc == AGENTEX_EPROTO, "%.*s gave %s", (int)n, buf,
                              agentex_err_name(rc));
                if (rc == AGENTEX_OK) {
                    cJSON *out = NULL;
                    ck_assert_int_eq(kind_to_json(kind, x, &out), AGENTEX_OK);
                    cJSON_Delete(out);
                    kind_free(kind, x);
                }
            }
            cJSON_Delete(j);
        }
    }
    free(buf);
}
END_TEST

START_TEST(test_not_an_object_is_eproto)
{
    static const char *const texts[] = {"[]", "[{\"id\":\"x\"}]", "\"x\"", "1", "null", "true"};
    for (kind_t k = K_AGENT; k <= K_CONTENT; k++) {
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
            void *x = NULL;
            ck_assert_int_eq(from_text(k, texts[i], &x), AGENTEX_EPROTO);
        }
    }
}
END_TEST

START_TEST(test_unknown_keys_ignored)
{
    void *x = NULL;
    ck_assert_int_eq(
        from_text(K_TASK, "{\"id\":\"t\",\"future\":{\"a\":[1,2]},\"also\":null,\"Id\":5}", &x),
        AGENTEX_OK);
    ck_assert_str_eq(adk_task_id(x), "t");
    adk_task_free(x);
    ck_assert_int_eq(from_text(K_STATE,
                               "{\"id\":\"s\",\"task_id\":\"t\",\"agent_id\":\"a\",\"state\":{},"
                               "\"version\":3}",
                               &x),
                     AGENTEX_OK);
    adk_state_free(x);
}
END_TEST

/* Members are found whatever their order; a key given twice counts once, its first time
 * (as cJSON_GetObjectItemCaseSensitive answers), and keys printed only when present
 * stay so after a reordered parse. */
START_TEST(test_member_order_and_repeats)
{
    void *x = NULL;
    ck_assert_int_eq(from_text(K_AGENT,
                               "{\"agent_api_key\":\"k\",\"x\":1,\"name\":\"first\","
                               "\"updated_at\":\"2025-01-02T00:00:00Z\",\"id\":\"a\","
                               "\"name\":\"second\",\"docker_image\":\"img\",\"id\":\"b\","
                               "\"created_at\":\"2025-01-01T00:00:00Z\"}",
                               &x),
                     AGENTEX_OK);
    ck_assert_str_eq(adk_agent_id(x), "a");
    ck_assert_str_eq(adk_agent_name(x), "first");
    ck_assert_str_eq(adk_agent_api_key(x), "k");
    ck_assert(adk_agent_created_at(x) < adk_agent_updated_at(x));
    ck_assert_ptr_null(adk_agent_acp_url(x));
    cJSON *j = NULL;
    ck_assert_int_eq(adk_agent_to_json(x, &j), AGENTEX_OK);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "docker_image")->valuestring, "img");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(j, "name")->valuestring, "first");
    ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(j, "agent_api_key"));
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "acp_url"));
    cJSON_Delete(j);
    adk_agent_free(x);
    /* a required key that only an unknown key resembles is still missing */
    ck_assert_int_eq(from_text(K_AGENT, "{\"name\":\"n\",\"ID\":\"a\",\"id_\":\"b\"}", &x),
                     AGENTEX_EPROTO);
}
END_TEST

/* A bad timestamp inside an object is a protocol error. */
START_TEST(test_bad_timestamp_in_object_is_eproto)
{
    static const char *const bad[] = {"\"yesterday\"", "\"2026-02-30T00:00:00Z\"", "1772355600",
                                      "\"2026-03-01T09:00:00+25:00\"", "\"\""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char buf[128];
        void *x = NULL;
        snprintf(buf, sizeof buf, "{\"id\":\"t\",\"created_at\":%s}", bad[i]);
        ck_assert_msg(from_text(K_TASK, buf, &x) == AGENTEX_EPROTO, "%s", buf);
        snprintf(buf, sizeof buf,
                 "{\"id\":\"t\",\"task_id\":\"t\",\"agent_id\":\"a\",\"updated_at\":%s}", bad[i]);
        ck_assert_msg(from_text(K_TRACKER, buf, &x) == AGENTEX_EPROTO, "%s", buf);
    }
}
END_TEST

static const struct seq_case {
    const char *value;
    agentex_err_t rc;
    int64_t expect;
} seq_cases[] = {
    {"0", AGENTEX_OK, 0},
    {"1042", AGENTEX_OK, 1042},
    {"2147483648", AGENTEX_OK, INT64_C(2147483648)},
    {"9007199254740992", AGENTEX_OK, INT64_C(9007199254740992)},
    {"1042.0", AGENTEX_OK, 1042},
    {"1e3", AGENTEX_OK, 1000},
    {"-1", AGENTEX_EPROTO, 0},
    {"1.5", AGENTEX_EPROTO, 0},
    {"\"1042\"", AGENTEX_EPROTO, 0},
    {"1e19", AGENTEX_EPROTO, 0},
    {"9223372036854775808", AGENTEX_EPROTO, 0},
    {"-9223372036854775808", AGENTEX_EPROTO, 0},
    {"1e400", AGENTEX_EPROTO, 0},
    {"null", AGENTEX_EPROTO, 0},
    {"false", AGENTEX_EPROTO, 0},
    {"{}", AGENTEX_EPROTO, 0},
};

START_TEST(test_sequence_id)
{
    for (size_t i = 0; i < sizeof seq_cases / sizeof seq_cases[0]; i++) {
        const struct seq_case *sc = &seq_cases[i];
        char buf[160];
        snprintf(buf, sizeof buf,
                 "{\"id\":\"e\",\"sequence_id\":%s,\"task_id\":\"t\",\"agent_id\":\"a\"}",
                 sc->value);
        adk_event_t *e = NULL;
        agentex_err_t rc = from_text(K_EVENT, buf, (void **)&e);
        ck_assert_msg(rc == sc->rc, "%s gave %s", sc->value, agentex_err_name(rc));
        if (rc == AGENTEX_OK) {
            ck_assert_int_eq(adk_event_sequence_id(e), sc->expect);
            adk_event_free(e);
        }
    }
}
END_TEST

/* ---- task statuses ---- */

START_TEST(test_task_status)
{
    static const struct {
        const char *text; /* NULL: null */
        adk_task_status_t status;
        bool terminal;
    } cases[] = {
        {"RUNNING", ADK_TASK_RUNNING, false},          {"INTERRUPTED", ADK_TASK_INTERRUPTED, false},
        {"COMPLETED", ADK_TASK_COMPLETED, true},       {"FAILED", ADK_TASK_FAILED, true},
        {"CANCELED", ADK_TASK_CANCELED, true},         {"TERMINATED", ADK_TASK_TERMINATED, true},
        {"TIMED_OUT", ADK_TASK_TIMED_OUT, true},       {"DELETED", ADK_TASK_DELETED, true},
        {"CANCELLED", ADK_TASK_STATUS_UNKNOWN, false}, {"running", ADK_TASK_STATUS_UNKNOWN, false},
        {"", ADK_TASK_STATUS_UNKNOWN, false},          {NULL, ADK_TASK_STATUS_NONE, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[128];
        adk_task_t *t = NULL;
        if (cases[i].text)
            snprintf(buf, sizeof buf, "{\"id\":\"t\",\"status\":\"%s\"}", cases[i].text);
        else
            snprintf(buf, sizeof buf, "{\"id\":\"t\",\"status\":null}");
        ck_assert_int_eq(from_text(K_TASK, buf, (void **)&t), AGENTEX_OK);
        ck_assert_int_eq(adk_task_status(t), cases[i].status);
        ck_assert_pstr_eq(adk_task_status_text(t), cases[i].text);
        ck_assert_int_eq(adk_task_status_is_terminal(adk_task_status(t)), cases[i].terminal);
        if (cases[i].status != ADK_TASK_STATUS_UNKNOWN && cases[i].text)
            ck_assert_str_eq(adk_task_status_name(cases[i].status), cases[i].text);
        adk_task_free(t);
    }
    ck_assert_ptr_null(adk_task_status_name(ADK_TASK_STATUS_NONE));
    ck_assert_ptr_null(adk_task_status_name(ADK_TASK_STATUS_UNKNOWN));
    ck_assert_ptr_null(adk_task_status_name((adk_task_status_t)99));
    ck_assert(!adk_task_status_is_terminal(ADK_TASK_STATUS_NONE));
    ck_assert(!adk_task_status_is_terminal((adk_task_status_t)99));

    adk_task_t *t = NULL;
    ck_assert_int_eq(from_text(K_TASK, "{\"id\":\"t\"}", (void **)&t), AGENTEX_OK);
    ck_assert_int_eq(adk_task_status(t), ADK_TASK_STATUS_NONE);
    ck_assert_ptr_null(adk_task_status_text(t));
    adk_task_free(t);
}
END_TEST

/* ---- timestamps ---- */

static const struct time_case {
    const char *text;
    int64_t usec;
} good_times[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1970-01-01T00:00:00.000001Z", 1},
    {"1969-12-31T23:59:59.999999Z", -1},
    {"2026-03-01T09:00:00.412000Z", T_AGENT},
    {"2026-03-01T09:00:00.412Z", T_AGENT},
    {"2026-03-01T09:00:00.4120Z", T_AGENT},
    {"2026-03-01T09:00:00.412000+00:00", T_AGENT},
    {"2026-03-01T09:00:00.412000-00:00", T_AGENT},
    {"2026-03-01T09:00:00.412000", T_AGENT},
    {"2026-03-01 09:00:00.412000", T_AGENT},
    {"2026-03-01 09:00:00.412+00:00", T_AGENT},
    {"2026-03-01t09:00:00.412z", T_AGENT},
    {"2026-03-01T04:00:00.412-05:00", T_AGENT},
    {"2026-03-01T03:30:00.412-05:30", T_AGENT},
    {"2026-03-01T14:30:00.412+05:30", T_AGENT},
    {"2026-03-01T14:30:00.412+0530", T_AGENT},
    {"2026-03-01T11:00:00.412+02", T_AGENT},
    {"2026-03-01T09:00:00.412999Z", T_AGENT + 999},
    {"2026-03-01T09:00:00.412999999Z", T_AGENT + 999},
    {"2026-03-01T09:00:00.4129999Z", T_AGENT + 999},
    {"2026-03-01T09:00:00.4Z", T_AGENT - 12000},
    {"2026-03-01T09:00:00,4Z", T_AGENT - 12000},
    {"2026-03-01T09:00:00Z", T_AGENT - 412000},
    {"2026-03-01T09:00:00", T_AGENT - 412000},
    {"2026-03-01T09:00Z", T_AGENT - 412000},
    {"2026-03-01T09:00", T_AGENT - 412000},
    {"2026-03-01", T_AGENT - 412000 - INT64_C(9) * 3600 * 1000000},
    {"2026-03-01T00:30:00+01:00", INT64_C(1772321400000000)}, /* 2026-02-28T23:30Z */
    {"2026-02-28T23:30:00Z", INT64_C(1772321400000000)},
    {"2024-02-29T12:00:00Z", INT64_C(1709208000000000)},
    {"2000-02-29T00:00:00Z", INT64_C(951782400000000)},
    {"1900-01-01T00:00:00Z", INT64_C(-2208988800000000)},
    {"1600-03-01T00:00:00Z", INT64_C(-11670912000000000)},
    {"0001-01-01T00:00:00Z", INT64_C(-62135596800000000)},
    {"9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999)},
    {"2026-03-01T09:06:11.250000", T_MESSAGE},
    {"2026-03-01T09:05:01.730000", T_STATE},
};

START_TEST(test_time_parse_good)
{
    for (size_t i = 0; i < sizeof good_times / sizeof good_times[0]; i++) {
        const struct time_case *tc = &good_times[i];
        int64_t v = 42;
        agentex_err_t rc = adk_time_parse(tc->text, &v);
        ck_assert_msg(rc == AGENTEX_OK, "%s gave %s", tc->text, agentex_err_name(rc));
        ck_assert_msg(v == tc->usec, "%s: %lld, want %lld", tc->text, (long long)v,
                      (long long)tc->usec);
    }
}
END_TEST

static const char *const bad_times[] = {
    "",
    "2026",
    "2026-03",
    "2026-3-01T09:00:00Z",
    "26-03-01T09:00:00Z",
    "2026-03-1T09:00:00Z",
    "2026-00-01T09:00:00Z",
    "2026-13-01T09:00:00Z",
    "2026-03-00T09:00:00Z",
    "2026-03-32T09:00:00Z",
    "2026-04-31T09:00:00Z",
    "2026-02-29T09:00:00Z", /* not a leap year */
    "1900-02-29T09:00:00Z", /* not a leap year */
    "2026-03-01T",
    "2026-03-01T9:00:00Z",
    "2026-03-01T09Z",
    "2026-03-01T09:0Z",
    "2026-03-01T24:00:00Z",
    "2026-03-01T09:60:00Z",
    "2026-03-01T09:00:60Z",
    "2026-03-01T09:00:00.Z",
    "2026-03-01T09:00:00.1234567890Z", /* 10 fraction digits */
    "2026-03-01T09:00:00.12a",
    "2026-03-01T09:00:00+24:00",
    "2026-03-01T09:00:00+05:60",
    "2026-03-01T09:00:00+5",
    "2026-03-01T09:00:00+05:3",
    "2026-03-01T09:00:00+053",
    "2026-03-01T09:00:00+",
    "2026-03-01T09:00:00ZZ",
    "2026-03-01T09:00:00Z ",
    " 2026-03-01T09:00:00Z",
    "2026-03-01T09:00:00 UTC",
    "2026-03-01X09:00:00",
    "2026-03-01  09:00:00",
    "2026/03/01 09:00:00",
    "-2026-03-01T09:00:00Z",
    "+2026-03-01T09:00:00Z",
    "not a date",
    "1772355600",
};

START_TEST(test_time_parse_bad)
{
    for (size_t i = 0; i < sizeof bad_times / sizeof bad_times[0]; i++) {
        int64_t v = 42;
        agentex_err_t rc = adk_time_parse(bad_times[i], &v);
        ck_assert_msg(rc == AGENTEX_EINVAL, "\"%s\" gave %s", bad_times[i], agentex_err_name(rc));
        ck_assert_int_eq(v, 42);
    }
}
END_TEST

START_TEST(test_time_format)
{
    static const struct {
        int64_t usec;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {1, "1970-01-01T00:00:00.000001Z"},
        {-1, "1969-12-31T23:59:59.999999Z"},
        {-1000000, "1969-12-31T23:59:59.000000Z"},
        {-1000001, "1969-12-31T23:59:58.999999Z"},
        {T_AGENT, "2026-03-01T09:00:00.412000Z"},
        {T_TASK, "2026-03-01T09:05:00.123456Z"},
        {INT64_C(1709208000000000), "2024-02-29T12:00:00.000000Z"},
        {INT64_C(951782400000000), "2000-02-29T00:00:00.000000Z"},
        {INT64_C(-2208988800000000), "1900-01-01T00:00:00.000000Z"},
        {INT64_C(-62135596800000000), "0001-01-01T00:00:00.000000Z"},
        {INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        memset(buf, 'x', sizeof buf);
        ck_assert_int_eq(adk_time_format(cases[i].usec, buf, sizeof buf), AGENTEX_OK);
        ck_assert_str_eq(buf, cases[i].text);
    }
    char buf[64];
    ck_assert_int_eq(adk_time_format(0, buf, 28), AGENTEX_OK); /* exactly enough */
    ck_assert_str_eq(buf, "1970-01-01T00:00:00.000000Z");
    ck_assert_int_eq(adk_time_format(0, buf, 27), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_time_format(0, NULL, 32), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_time_format(ADK_TIME_NONE, buf, sizeof buf), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_time_format(INT64_MAX, buf, sizeof buf), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_time_format(INT64_MIN + 1, buf, sizeof buf), AGENTEX_EINVAL);
    /* one microsecond past 9999-12-31T23:59:59.999999Z, one before 0000-01-01 */
    ck_assert_int_eq(adk_time_format(INT64_C(253402300800000000), buf, sizeof buf), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_time_format(INT64_C(-62167219200000001), buf, sizeof buf), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_time_format(INT64_C(-62167219200000000), buf, sizeof buf), AGENTEX_OK);
    ck_assert_str_eq(buf, "0000-01-01T00:00:00.000000Z");
}
END_TEST

/* Every day from 1600-01-01 to 2400-12-31 against a naive day counter, both ways. */
START_TEST(test_time_every_day)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t days = 0;
    /* days from 1600-01-01 to 1970-01-01, counted year by year */
    for (int y = 1600; y < 1970; y++)
        days -= ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0) ? 366 : 365;
    for (int y = 1600; y <= 2400; y++) {
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for (int m = 1; m <= 12; m++) {
            int n = dim[m - 1] + (m == 2 && leap);
            for (int d = 1; d <= n; d++, days++) {
                char text[64], buf[32];
                int64_t v;
                int64_t want =
                    days * INT64_C(86400000000) + INT64_C(45296789012); /* 12:34:56.789012 */
                snprintf(text, sizeof text, "%04d-%02d-%02dT12:34:56.789012Z", y, m, d);
                ck_assert_int_eq(adk_time_parse(text, &v), AGENTEX_OK);
                if (v != want)
                    ck_abort_msg("%s: %lld, want %lld", text, (long long)v, (long long)want);
                ck_assert_int_eq(adk_time_format(v, buf, sizeof buf), AGENTEX_OK);
                if (strcmp(buf, text) != 0)
                    ck_abort_msg("%lld formats as %s, want %s", (long long)v, buf, text);
            }
            /* the day after the last one of the month does not exist */
            char bad[64];
            int64_t v;
            snprintf(bad, sizeof bad, "%04d-%02d-%02dT00:00:00Z", y, m, n + 1);
            ck_assert_int_eq(adk_time_parse(bad, &v), AGENTEX_EINVAL);
        }
    }
}
END_TEST

START_TEST(test_time_null_args)
{
    int64_t v;
    ck_assert_int_eq(adk_time_parse(NULL, &v), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_time_parse("2026-03-01T09:00:00Z", NULL), AGENTEX_EINVAL);
}
END_TEST

/* ---- constructors, setters, dup ---- */

START_TEST(test_content_constructors_wire)
{
    adk_content_t *c = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_AGENT,
                                          "Sunny, 21\xc2\xb0"
                                          "C",
                                          &c),
                     AGENTEX_OK);
    assert_wire(K_CONTENT, c,
                "{\"type\":\"text\",\"author\":\"agent\",\"style\":\"static\",\"format\":"
                "\"plain\",\"content\":\"Sunny, 21\xc2\xb0"
                "C\",\"attachments\":null}");
    ck_assert_int_eq(adk_content_set_format(c, ADK_FORMAT_MARKDOWN), AGENTEX_OK);
    ck_assert_int_eq(adk_content_set_style(c, ADK_STYLE_ACTIVE), AGENTEX_OK);
    ck_assert_int_eq(adk_content_add_attachment(c, "f1", "a.txt", 12, "text/plain"), AGENTEX_OK);
    ck_assert_int_eq(adk_content_add_attachment(c, "f2", "b.bin", 0, "application/octet-stream"),
                     AGENTEX_OK);
    assert_wire(K_CONTENT, c,
                "{\"type\":\"text\",\"author\":\"agent\",\"style\":\"active\",\"format\":"
                "\"markdown\",\"content\":\"Sunny, 21\xc2\xb0"
                "C\",\"attachments\":[{\"file_id\":\"f1\",\"name\":\"a.txt\",\"size\":12,"
                "\"type\":\"text/plain\"},{\"file_id\":\"f2\",\"name\":\"b.bin\",\"size\":0,"
                "\"type\":\"application/octet-stream\"}]}");
    ck_assert_int_eq(adk_content_format(c), ADK_FORMAT_MARKDOWN);
    ck_assert_int_eq(adk_content_style(c), ADK_STYLE_ACTIVE);
    adk_content_free(c);

    cJSON *data = parse("{\"done\":true,\"n\":[1,2]}");
    ck_assert_int_eq(adk_content_data_new(ADK_AUTHOR_AGENT, data, &c), AGENTEX_OK);
    cJSON_Delete(data); /* copied */
    assert_wire(K_CONTENT, c,
                "{\"type\":\"data\",\"author\":\"agent\",\"style\":\"static\",\"data\":{\"done\":"
                "true,\"n\":[1,2]}}");
    adk_content_free(c);

    cJSON *args = parse("{\"city\":\"Paris\"}");
    ck_assert_int_eq(
        adk_content_tool_request_new(ADK_AUTHOR_AGENT, "call_1", "get_weather", args, &c),
        AGENTEX_OK);
    cJSON_Delete(args);
    assert_wire(K_CONTENT, c,
                "{\"type\":\"tool_request\",\"author\":\"agent\",\"style\":\"static\","
                "\"tool_call_id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":{\"city\":"
                "\"Paris\"}}");
    adk_content_free(c);

    static const struct {
        int is_error;
        const char *text;
    } tr[] = {{0, "false"}, {1, "true"}, {-1, "null"}};
    for (size_t i = 0; i < 3; i++) {
        char want[256];
        cJSON *res = parse("{\"temp_c\":21}");
        ck_assert_int_eq(adk_content_tool_response_new(ADK_AUTHOR_AGENT, "call_1", "get_weather",
                                                       res, tr[i].is_error, &c),
                         AGENTEX_OK);
        cJSON_Delete(res);
        snprintf(want, sizeof want,
                 "{\"type\":\"tool_response\",\"author\":\"agent\",\"style\":\"static\","
                 "\"tool_call_id\":\"call_1\",\"name\":\"get_weather\",\"content\":{\"temp_c\":"
                 "21},\"is_error\":%s}",
                 tr[i].text);
        assert_wire(K_CONTENT, c, want);
        ck_assert_int_eq(adk_content_tool_is_error(c), tr[i].is_error);
        adk_content_free(c);
    }
    cJSON *str = cJSON_CreateString("plain text result");
    ck_assert_int_eq(adk_content_tool_response_new(ADK_AUTHOR_USER, "c", "t", str, -1, &c),
                     AGENTEX_OK);
    cJSON_Delete(str);
    ck_assert_str_eq(adk_content_tool_result(c)->valuestring, "plain text result");
    adk_content_free(c);

    const char *summary[] = {"thinking", "more"};
    const char *content[] = {"step 1"};
    ck_assert_int_eq(adk_content_reasoning_new(ADK_AUTHOR_AGENT, summary, 2, content, 1, &c),
                     AGENTEX_OK);
    assert_wire(K_CONTENT, c,
                "{\"type\":\"reasoning\",\"author\":\"agent\",\"style\":\"static\",\"summary\":"
                "[\"thinking\",\"more\"],\"content\":[\"step 1\"]}");
    adk_content_free(c);
    ck_assert_int_eq(adk_content_reasoning_new(ADK_AUTHOR_AGENT, NULL, 0, NULL, 0, &c), AGENTEX_OK);
    assert_wire(K_CONTENT, c,
                "{\"type\":\"reasoning\",\"author\":\"agent\",\"style\":\"static\",\"summary\":"
                "[],\"content\":null}");
    adk_content_free(c);
    ck_assert_int_eq(adk_content_reasoning_new(ADK_AUTHOR_AGENT, summary, 1, content, 0, &c),
                     AGENTEX_OK);
    assert_wire(K_CONTENT, c,
                "{\"type\":\"reasoning\",\"author\":\"agent\",\"style\":\"static\",\"summary\":"
                "[\"thinking\"],\"content\":[]}");
    adk_content_free(c);
}
END_TEST

START_TEST(test_content_constructor_errors)
{
    adk_content_t *c = (adk_content_t *)1;
    cJSON *obj = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    const char *one[] = {"x"}, *with_null[] = {"x", NULL};

    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, NULL, &c), AGENTEX_EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(adk_content_text_new((adk_author_t)2, "x", &c), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_text_new((adk_author_t)-1, "x", &c), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, "x", NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_data_new(ADK_AUTHOR_USER, NULL, &c), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_data_new(ADK_AUTHOR_USER, arr, &c), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_data_new(ADK_AUTHOR_USER, obj, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_request_new(ADK_AUTHOR_AGENT, NULL, "n", obj, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_request_new(ADK_AUTHOR_AGENT, "c", NULL, obj, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_request_new(ADK_AUTHOR_AGENT, "c", "n", NULL, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_request_new(ADK_AUTHOR_AGENT, "c", "n", arr, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_request_new(ADK_AUTHOR_AGENT, "c", "n", obj, NULL),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_response_new(ADK_AUTHOR_AGENT, NULL, "n", obj, 0, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_response_new(ADK_AUTHOR_AGENT, "c", NULL, obj, 0, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_response_new(ADK_AUTHOR_AGENT, "c", "n", NULL, 0, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_response_new(ADK_AUTHOR_AGENT, "c", "n", obj, 2, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_tool_response_new(ADK_AUTHOR_AGENT, "c", "n", obj, -2, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_reasoning_new(ADK_AUTHOR_AGENT, NULL, 1, NULL, 0, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_reasoning_new(ADK_AUTHOR_AGENT, with_null, 2, NULL, 0, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_reasoning_new(ADK_AUTHOR_AGENT, one, 1, NULL, 1, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_reasoning_new(ADK_AUTHOR_AGENT, one, 1, with_null, 2, &c),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_reasoning_new(ADK_AUTHOR_AGENT, one, 1, NULL, 0, NULL),
                     AGENTEX_EINVAL);
    ck_assert_ptr_null(c);

    /* setters */
    ck_assert_int_eq(adk_content_data_new(ADK_AUTHOR_USER, obj, &c), AGENTEX_OK);
    ck_assert_int_eq(adk_content_set_format(c, ADK_FORMAT_CODE), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_add_attachment(c, "f", "n", 1, "t"), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_set_style(c, (adk_style_t)2), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_set_style(c, ADK_STYLE_ACTIVE), AGENTEX_OK);
    ck_assert_int_eq(adk_content_style(c), ADK_STYLE_ACTIVE);
    adk_content_free(c);
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, "x", &c), AGENTEX_OK);
    ck_assert_int_eq(adk_content_set_format(c, (adk_text_format_t)3), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_set_format(c, (adk_text_format_t)-1), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_add_attachment(c, NULL, "n", 1, "t"), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_add_attachment(c, "f", NULL, 1, "t"), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_add_attachment(c, "f", "n", 1, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_add_attachment(c, "f", "n", -1, "t"), AGENTEX_EINVAL);
    ck_assert_uint_eq(adk_content_attachment_count(c), 0);
    ck_assert_int_eq(adk_content_format(c), ADK_FORMAT_PLAIN);
    adk_content_free(c);
    ck_assert_int_eq(adk_content_set_style(NULL, ADK_STYLE_ACTIVE), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_set_format(NULL, ADK_FORMAT_CODE), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_content_add_attachment(NULL, "f", "n", 1, "t"), AGENTEX_EINVAL);
    cJSON_Delete(obj);
    cJSON_Delete(arr);
}
END_TEST

START_TEST(test_content_dup)
{
    for (size_t i = 0; i < sizeof round_trips / sizeof round_trips[0]; i++) {
        if (round_trips[i].kind != K_CONTENT)
            continue;
        adk_content_t *c = content_of(round_trips[i].in), *d = NULL;
        ck_assert_int_eq(adk_content_dup(c, &d), AGENTEX_OK);
        char *a = wire(K_CONTENT, c);
        adk_content_free(c); /* the copy is independent */
        assert_wire(K_CONTENT, d, a);
        agx_free(a);
        adk_content_free(d);
    }
    adk_content_t *d = (adk_content_t *)1;
    ck_assert_int_eq(adk_content_dup(NULL, &d), AGENTEX_EINVAL);
    ck_assert_ptr_null(d);
}
END_TEST

/* ---- NULL arguments ---- */

START_TEST(test_null_arguments)
{
    cJSON *obj = parse(TASK_JSON);
    for (kind_t k = K_AGENT; k <= K_CONTENT; k++) {
        void *x = (void *)1;
        cJSON *j = (cJSON *)1;
        ck_assert_int_eq(kind_from_json(k, NULL, &x), AGENTEX_EINVAL);
        ck_assert_ptr_null(x);
        ck_assert_int_eq(kind_from_json(k, obj, NULL), AGENTEX_EINVAL);
        ck_assert_int_eq(kind_to_json(k, NULL, &j), AGENTEX_EINVAL);
        ck_assert_ptr_null(j);
        kind_free(k, NULL);
    }
    void *x = NULL;
    ck_assert_int_eq(from_text(K_TASK, TASK_JSON, &x), AGENTEX_OK);
    ck_assert_int_eq(adk_task_to_json(x, NULL), AGENTEX_EINVAL);
    adk_task_free(x);
    cJSON_Delete(obj);

    /* accessors on NULL */
    ck_assert_ptr_null(adk_agent_id(NULL));
    ck_assert_ptr_null(adk_agent_name(NULL));
    ck_assert_ptr_null(adk_agent_description(NULL));
    ck_assert_ptr_null(adk_agent_acp_type(NULL));
    ck_assert_ptr_null(adk_agent_status(NULL));
    ck_assert_ptr_null(adk_agent_status_reason(NULL));
    ck_assert_ptr_null(adk_agent_acp_url(NULL));
    ck_assert_ptr_null(adk_agent_api_key(NULL));
    ck_assert_ptr_null(adk_agent_registration_metadata(NULL));
    ck_assert(adk_agent_created_at(NULL) == ADK_TIME_NONE);
    ck_assert(adk_agent_updated_at(NULL) == ADK_TIME_NONE);
    ck_assert(adk_agent_registered_at(NULL) == ADK_TIME_NONE);
    ck_assert_ptr_null(adk_task_id(NULL));
    ck_assert_ptr_null(adk_task_name(NULL));
    ck_assert_int_eq(adk_task_status(NULL), ADK_TASK_STATUS_NONE);
    ck_assert_ptr_null(adk_task_status_text(NULL));
    ck_assert_ptr_null(adk_task_status_reason(NULL));
    ck_assert_ptr_null(adk_task_params(NULL));
    ck_assert_ptr_null(adk_task_metadata(NULL));
    ck_assert(adk_task_created_at(NULL) == ADK_TIME_NONE);
    ck_assert(adk_task_updated_at(NULL) == ADK_TIME_NONE);
    ck_assert_ptr_null(adk_event_id(NULL));
    ck_assert_int_eq(adk_event_sequence_id(NULL), -1);
    ck_assert_ptr_null(adk_event_task_id(NULL));
    ck_assert_ptr_null(adk_event_agent_id(NULL));
    ck_assert(adk_event_created_at(NULL) == ADK_TIME_NONE);
    ck_assert_ptr_null(adk_event_content(NULL));
    ck_assert_ptr_null(adk_message_id(NULL));
    ck_assert_ptr_null(adk_message_task_id(NULL));
    ck_assert_ptr_null(adk_message_content(NULL));
    ck_assert_int_eq(adk_message_streaming_status(NULL), ADK_STREAMING_NONE);
    ck_assert(adk_message_created_at(NULL) == ADK_TIME_NONE);
    ck_assert(adk_message_updated_at(NULL) == ADK_TIME_NONE);
    ck_assert_ptr_null(adk_state_id(NULL));
    ck_assert_ptr_null(adk_state_task_id(NULL));
    ck_assert_ptr_null(adk_state_agent_id(NULL));
    ck_assert_ptr_null(adk_state_value(NULL));
    ck_assert(adk_state_created_at(NULL) == ADK_TIME_NONE);
    ck_assert(adk_state_updated_at(NULL) == ADK_TIME_NONE);
    ck_assert_ptr_null(adk_tracker_id(NULL));
    ck_assert_ptr_null(adk_tracker_task_id(NULL));
    ck_assert_ptr_null(adk_tracker_agent_id(NULL));
    ck_assert_ptr_null(adk_tracker_status(NULL));
    ck_assert_ptr_null(adk_tracker_status_reason(NULL));
    ck_assert_ptr_null(adk_tracker_last_processed_event_id(NULL));
    ck_assert(adk_tracker_created_at(NULL) == ADK_TIME_NONE);
    ck_assert(adk_tracker_updated_at(NULL) == ADK_TIME_NONE);
    ck_assert_int_eq(adk_content_type(NULL), ADK_CONTENT_TEXT);
    ck_assert_int_eq(adk_content_author(NULL), ADK_AUTHOR_USER);
    ck_assert_int_eq(adk_content_style(NULL), ADK_STYLE_STATIC);
    ck_assert_int_eq(adk_content_format(NULL), ADK_FORMAT_PLAIN);
    assert_not_text(NULL);
    assert_not_data(NULL);
    assert_not_tool(NULL);
    assert_not_reasoning(NULL);
    ck_assert_int_eq(adk_content_attachment_at(NULL, 0, NULL, NULL, NULL, NULL), AGENTEX_EINVAL);

    /* lists */
    ck_assert_uint_eq(adk_agent_list_count(NULL), 0);
    ck_assert_ptr_null(adk_agent_list_at(NULL, 0));
    adk_agent_list_free(NULL);
    ck_assert_uint_eq(adk_task_list_count(NULL), 0);
    ck_assert_ptr_null(adk_task_list_at(NULL, 0));
    adk_task_list_free(NULL);
    ck_assert_uint_eq(adk_event_list_count(NULL), 0);
    ck_assert_ptr_null(adk_event_list_at(NULL, 0));
    adk_event_list_free(NULL);
    ck_assert_uint_eq(adk_message_list_count(NULL), 0);
    ck_assert_ptr_null(adk_message_list_at(NULL, 0));
    adk_message_list_free(NULL);
    ck_assert_uint_eq(adk_state_list_count(NULL), 0);
    ck_assert_ptr_null(adk_state_list_at(NULL, 0));
    adk_state_list_free(NULL);
    ck_assert_uint_eq(adk_tracker_list_count(NULL), 0);
    ck_assert_ptr_null(adk_tracker_list_at(NULL, 0));
    adk_tracker_list_free(NULL);
}
END_TEST

/* ---- lists ---- */

#define LIST_CHECKS(T, first, second, bad)                                                         \
    do {                                                                                           \
        adk_##T##_list_t *l = NULL;                                                                \
        cJSON *arr = parse("[" first "," second "]");                                              \
        ck_assert_int_eq(agx_##T##_list_from_json(arr, &l), AGENTEX_OK);                           \
        cJSON_Delete(arr);                                                                         \
        ck_assert_uint_eq(adk_##T##_list_count(l), 2);                                             \
        ck_assert_ptr_nonnull(adk_##T##_list_at(l, 0));                                            \
        ck_assert_ptr_nonnull(adk_##T##_list_at(l, 1));                                            \
        ck_assert_ptr_null(adk_##T##_list_at(l, 2));                                               \
        ck_assert_ptr_null(adk_##T##_list_at(l, (size_t)-1));                                      \
        list_check_##T(l);                                                                         \
        adk_##T##_list_free(l);                                                                    \
        l = NULL;                                                                                  \
        arr = parse("[]");                                                                         \
        ck_assert_int_eq(agx_##T##_list_from_json(arr, &l), AGENTEX_OK);                           \
        cJSON_Delete(arr);                                                                         \
        ck_assert_uint_eq(adk_##T##_list_count(l), 0);                                             \
        ck_assert_ptr_null(adk_##T##_list_at(l, 0));                                               \
        adk_##T##_list_free(l);                                                                    \
        /* errors leave *out untouched */                                                          \
        static const char *const not_lists[] = {                                                   \
            "{}",  "null", "\"[]\"", "3", "[" first "," bad "]", "[" bad "]", "[" first ",null]",  \
            "[[]]"};                                                                               \
        for (size_t i = 0; i < sizeof not_lists / sizeof not_lists[0]; i++) {                      \
            adk_##T##_list_t *sentinel = (adk_##T##_list_t *)&not_lists;                           \
            l = sentinel;                                                                          \
            arr = parse(not_lists[i]);                                                             \
            ck_assert_msg(agx_##T##_list_from_json(arr, &l) == AGENTEX_EPROTO, "%s",               \
                          not_lists[i]);                                                           \
            ck_assert_ptr_eq(l, sentinel);                                                         \
            cJSON_Delete(arr);                                                                     \
        }                                                                                          \
        l = (adk_##T##_list_t *)&not_lists;                                                        \
        ck_assert_int_eq(agx_##T##_list_from_json(NULL, &l), AGENTEX_EPROTO);                      \
        ck_assert_ptr_eq(l, (adk_##T##_list_t *)&not_lists);                                       \
        arr = parse("[]");                                                                         \
        ck_assert_int_eq(agx_##T##_list_from_json(arr, NULL), AGENTEX_EINVAL);                     \
        cJSON_Delete(arr);                                                                         \
    } while (0)

static void list_check_agent(const adk_agent_list_t *l)
{
    ck_assert_str_eq(adk_agent_id(adk_agent_list_at(l, 0)), AGENT_ID);
    ck_assert_str_eq(adk_agent_name(adk_agent_list_at(l, 1)), "other");
}
static void list_check_task(const adk_task_list_t *l)
{
    ck_assert_str_eq(adk_task_id(adk_task_list_at(l, 0)), TASK_ID);
    ck_assert_str_eq(adk_task_id(adk_task_list_at(l, 1)), "t2");
}
static void list_check_event(const adk_event_list_t *l)
{
    ck_assert_int_eq(adk_event_sequence_id(adk_event_list_at(l, 0)), 1042);
    ck_assert_int_eq(adk_event_sequence_id(adk_event_list_at(l, 1)), 5);
}
static void list_check_message(const adk_message_list_t *l)
{
    ck_assert_str_eq(adk_message_id(adk_message_list_at(l, 0)), MESSAGE_ID);
    ck_assert_ptr_null(adk_message_id(adk_message_list_at(l, 1)));
}
static void list_check_state(const adk_state_list_t *l)
{
    ck_assert_str_eq(adk_state_id(adk_state_list_at(l, 0)), "66a1f0c2b9e4d83a17c5e9aa");
    ck_assert_str_eq(adk_state_id(adk_state_list_at(l, 1)), "s2");
}
static void list_check_tracker(const adk_tracker_list_t *l)
{
    ck_assert_ptr_null(adk_tracker_status(adk_tracker_list_at(l, 0)));
    ck_assert_str_eq(adk_tracker_status(adk_tracker_list_at(l, 1)), "READY");
}

START_TEST(test_lists)
{
    LIST_CHECKS(agent, AGENT_JSON, "{\"id\":\"a2\",\"name\":\"other\"}", "{\"id\":\"a3\"}");
    LIST_CHECKS(task, TASK_JSON, "{\"id\":\"t2\"}", "{\"name\":\"t3\"}");
    LIST_CHECKS(event, EVENT_JSON, EVENT_MIN,
                "{\"id\":\"e\",\"sequence_id\":-5,\"task_id\":\"t\",\"agent_id\":\"a\"}");
    LIST_CHECKS(message, MESSAGE_JSON, MESSAGE_MIN, "{\"task_id\":\"t\"}");
    LIST_CHECKS(state, STATE_JSON,
                "{\"id\":\"s2\",\"task_id\":\"t\",\"agent_id\":\"a\",\"state\":{}}",
                "{\"id\":\"s3\",\"task_id\":\"t\",\"agent_id\":\"a\",\"state\":[]}");
    LIST_CHECKS(tracker, TRACKER_JSON, TRACKER2_JSON, "{\"id\":\"k\",\"task_id\":\"t\"}");
}
END_TEST

/* ---- agx_json_parse / agx_json_print ---- */

START_TEST(test_json_parse)
{
    static const struct {
        const char *text;
        bool ok;
    } cases[] = {
        {"{}", true},
        {" {\"a\":[1,2,{\"b\":null}]} \r\n\t", true},
        {"[]", true},
        {"\"s\"", true},
        {"12.5", true},
        {"null", true},
        {"{} x", false},
        {"{}{}", false},
        {"{\"a\":1,}", false},
        {"{\"a\"}", false},
        {"{", false},
        {"not json", false},
        {"", false},
        {"   ", false},
        {"\"unterminated", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = agx_json_parse(cases[i].text, strlen(cases[i].text));
        ck_assert_msg((j != NULL) == cases[i].ok, "\"%s\"", cases[i].text);
        cJSON_Delete(j);
    }
    ck_assert_ptr_null(agx_json_parse(NULL, 3));
    ck_assert_ptr_null(agx_json_parse("{}", 0));

    /* the length bounds the text: a prefix parses, garbage after it is never read */
    cJSON *j = agx_json_parse("{\"a\":1}garbage", 7);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(j, "a")->valueint, 1);
    cJSON_Delete(j);
    ck_assert_ptr_null(agx_json_parse("{\"a\":1}", 6));
    /* an embedded NUL is garbage, not the end */
    ck_assert_ptr_null(agx_json_parse("{}\0{}", 5));

    /* not NUL-terminated: exactly len bytes on the heap (ASan checks every read) */
    static const char *const exact[] = {"{\"k\":\"v\"}", "[1,2,3]", "123", "\"abc\"", "true",
                                        "{\"k\":",       "[1,",     "-",   "\"ab",    "tru"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
        size_t n = strlen(exact[i]);
        char *buf = malloc(n);
        memcpy(buf, exact[i], n);
        j = agx_json_parse(buf, n);
        ck_assert_msg((j != NULL) == (i < 5), "%s", exact[i]);
        cJSON_Delete(j);
        free(buf);
    }
}
END_TEST

START_TEST(test_json_print)
{
    cJSON *j = parse(" { \"a\" : [ 1, 2.5, \"x\\n\" ], \"b\" : null, \"c\" : { } } ");
    char *s = agx_json_print(j);
    ck_assert_str_eq(s, "{\"a\":[1,2.5,\"x\\n\"],\"b\":null,\"c\":{}}");
    agx_free(s);
    ck_assert_ptr_null(agx_json_print(NULL));
    agx_alloc_fail_after(1);
    ck_assert_ptr_null(agx_json_print(j));
    agx_alloc_fail_after(0);
    cJSON_Delete(j);
}
END_TEST

/* ---- allocation failures ---- */

/* Runs call with the nth agx allocation failing, n = 1, 2, ... until it succeeds; every
 * failing run must give AGENTEX_ENOMEM (and leak nothing: ASan checks at exit).  Asserts
 * that at least one allocation was made. */
#define ENOMEM_LOOP(call, on_success)                                                              \
    do {                                                                                           \
        long n_;                                                                                   \
        for (n_ = 1;; n_++) {                                                                      \
            agx_alloc_fail_after(n_);                                                              \
            agentex_err_t rc_ = (call);                                                            \
            agx_alloc_fail_after(0);                                                               \
            if (rc_ == AGENTEX_OK) {                                                               \
                on_success;                                                                        \
                break;                                                                             \
            }                                                                                      \
            ck_assert_msg(rc_ == AGENTEX_ENOMEM, "%s with allocation %ld failing gave %s", #call,  \
                          n_, agentex_err_name(rc_));                                              \
            ck_assert_int_lt(n_, 10000);                                                           \
        }                                                                                          \
        ck_assert_msg(n_ > 1, "%s made no allocation", #call);                                     \
    } while (0)

START_TEST(test_enomem_from_json)
{
    const struct round_trip *rt = &round_trips[_i];
    cJSON *j = parse(rt->in);
    void *x = NULL;
    ENOMEM_LOOP(kind_from_json(rt->kind, j, &x), kind_free(rt->kind, x));
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_enomem_lists)
{
    cJSON *arr;
#define LIST_ENOMEM(T, text)                                                                       \
    do {                                                                                           \
        adk_##T##_list_t *l = NULL;                                                                \
        arr = parse(text);                                                                         \
        ENOMEM_LOOP(agx_##T##_list_from_json(arr, &l), adk_##T##_list_free(l));                    \
        cJSON_Delete(arr);                                                                         \
    } while (0)
    LIST_ENOMEM(agent, "[" AGENT_JSON "," REGISTER_JSON "]");
    LIST_ENOMEM(task, "[" TASK_JSON "," TASK_JSON "," TASK_JSON "]");
    LIST_ENOMEM(event, "[" EVENT_JSON "," EVENT_MIN "]");
    LIST_ENOMEM(message, "[" MESSAGE_JSON "," MESSAGE_MIN "]");
    LIST_ENOMEM(state, "[" STATE_JSON "," STATE_JSON "]");
    LIST_ENOMEM(tracker, "[" TRACKER_JSON "," TRACKER2_JSON "]");
    LIST_ENOMEM(task, "[]");
#undef LIST_ENOMEM
}
END_TEST

START_TEST(test_enomem_content)
{
    adk_content_t *c = NULL;
    cJSON *obj = parse("{\"k\":[1,2,3]}");
    const char *summary[] = {"a", "b", "c"}, *content[] = {"d", "e"};

    ENOMEM_LOOP(adk_content_text_new(ADK_AUTHOR_USER, "hello", &c), adk_content_free(c));
    ENOMEM_LOOP(adk_content_data_new(ADK_AUTHOR_USER, obj, &c), adk_content_free(c));
    ENOMEM_LOOP(adk_content_tool_request_new(ADK_AUTHOR_AGENT, "c", "n", obj, &c),
                adk_content_free(c));
    ENOMEM_LOOP(adk_content_tool_response_new(ADK_AUTHOR_AGENT, "c", "n", obj, 1, &c),
                adk_content_free(c));
    ENOMEM_LOOP(adk_content_reasoning_new(ADK_AUTHOR_AGENT, summary, 3, content, 2, &c),
                adk_content_free(c));

    /* a failed add_attachment leaves the content as it was */
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_USER, "hello", &c), AGENTEX_OK);
    ck_assert_int_eq(adk_content_add_attachment(c, "f0", "n0", 1, "t0"), AGENTEX_OK);
    char *before = wire(K_CONTENT, c);
    for (long n = 1;; n++) {
        agx_alloc_fail_after(n);
        agentex_err_t rc = adk_content_add_attachment(c, "f1", "n1", 2, "t1");
        agx_alloc_fail_after(0);
        if (rc == AGENTEX_OK) {
            ck_assert_int_gt(n, 1);
            break;
        }
        ck_assert_int_eq(rc, AGENTEX_ENOMEM);
        ck_assert_uint_eq(adk_content_attachment_count(c), 1);
        assert_wire(K_CONTENT, c, before);
    }
    ck_assert_uint_eq(adk_content_attachment_count(c), 2);
    agx_free(before);

    /* dup of every content vector */
    adk_content_t *d = NULL;
    ENOMEM_LOOP(adk_content_dup(c, &d), adk_content_free(d));
    adk_content_free(c);
    for (size_t i = 0; i < sizeof round_trips / sizeof round_trips[0]; i++) {
        if (round_trips[i].kind != K_CONTENT)
            continue;
        c = content_of(round_trips[i].in);
        ENOMEM_LOOP(adk_content_dup(c, &d), adk_content_free(d));
        adk_content_free(c);
    }
    cJSON_Delete(obj);
}
END_TEST

Suite *types_suite(void)
{
    Suite *s = suite_create("types");
    TCase *tc;
    size_t n_rt = sizeof round_trips / sizeof round_trips[0];

    tc = tcase_create("vectors");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_round_trip, 0, (int)n_rt);
    tcase_add_test(tc, test_agent_vector_accessors);
    tcase_add_test(tc, test_task_vector_accessors);
    tcase_add_test(tc, test_event_vector_accessors);
    tcase_add_test(tc, test_message_vector_accessors);
    tcase_add_test(tc, test_state_vector_accessors);
    tcase_add_test(tc, test_tracker_vector_accessors);
    suite_add_tcase(s, tc);

    tc = tcase_create("content");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_content_text_attachments);
    tcase_add_test(tc, test_content_data_accessors);
    tcase_add_test(tc, test_content_tool_accessors);
    tcase_add_test(tc, test_content_reasoning_lists);
    tcase_add_test(tc, test_content_invalid_is_eproto);
    tcase_add_test(tc, test_nested_content_invalid_is_eproto);
    tcase_add_test(tc, test_content_constructors_wire);
    tcase_add_test(tc, test_content_constructor_errors);
    tcase_add_test(tc, test_content_dup);
    suite_add_tcase(s, tc);

    tc = tcase_create("strict");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_field_strictness, 0,
                        (int)(sizeof field_cases / sizeof field_cases[0]));
    tcase_add_loop_test(tc, test_mangled_vectors, 0, (int)n_rt);
    tcase_add_test(tc, test_not_an_object_is_eproto);
    tcase_add_test(tc, test_unknown_keys_ignored);
    tcase_add_test(tc, test_member_order_and_repeats);
    tcase_add_test(tc, test_bad_timestamp_in_object_is_eproto);
    tcase_add_test(tc, test_sequence_id);
    tcase_add_test(tc, test_task_status);
    tcase_add_test(tc, test_null_arguments);
    tcase_add_test(tc, test_lists);
    suite_add_tcase(s, tc);

    tc = tcase_create("time");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_time_parse_good);
    tcase_add_test(tc, test_time_parse_bad);
    tcase_add_test(tc, test_time_format);
    tcase_add_test(tc, test_time_every_day);
    tcase_add_test(tc, test_time_null_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("json");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_json_parse);
    tcase_add_test(tc, test_json_print);
    suite_add_tcase(s, tc);

    tc = tcase_create("enomem");
    tcase_set_timeout(tc, 10);
    tcase_add_loop_test(tc, test_enomem_from_json, 0, (int)n_rt);
    tcase_add_test(tc, test_enomem_lists);
    tcase_add_test(tc, test_enomem_content);
    suite_add_tcase(s, tc);
    return s;
}
