/*
 * tests/check_acp.c - suite "acp": the ACP server (lib/acp.c, lib/jsonrpc.c).
 *
 * Unit tests of the pure pieces (envelope parsing, reply bytes, header filter,
 * registration body), then the server over real HTTP: requests are sent with libcurl
 * from the test process, the agent registers with the in-process fake backend.
 */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "acp_internal.h"
#include "agentex/agentex.h"
#include "support/fake_backend.h"
#include "internal.h"
#include "jsonrpc.h"
#include "types_internal.h"

/* ---- vectors (protocol section 8) ---- */

#define AGENT_ID "6f1c2a9e-3b7d-4e11-9a52-0c8d7e4b1f20"
#define TASK_ID "b3e0f7d2-8c41-4a6e-9f15-2d7a9c3e5b81"
#define KEY "3b9e1f0a7c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f"
#define AGENT_JSON                                                                                 \
    "{\"id\":\"" AGENT_ID "\",\"docker_image\":null,\"name\":\"demo-agent\",\"description\":"      \
    "\"Demo agent\",\"acp_type\":\"async\",\"status\":\"Ready\",\"status_reason\":\"Agent "        \
    "registered successfully.\",\"acp_url\":\"http://host.docker.internal:8000\",\"created_"       \
    "at\":\"2026-03-01T09:00:00.412000Z\",\"updated_at\":\"2026-03-01T09:00:00.412000Z\","         \
    "\"registration_metadata\":null,\"registered_at\":\"2026-03-01T09:00:00.412000Z\","            \
    "\"agent_input_type\":null,\"production_deployment_id\":null}"
#define TASK_JSON_FOR(tid)                                                                         \
    "{\"id\":\"" tid "\",\"name\":null,\"status\":\"RUNNING\",\"status_reason\":\"Task "           \
    "created, forwarding to ACP server\",\"created_at\":\"2026-03-01T09:05:00.123456Z\","          \
    "\"updated_at\":\"2026-03-01T09:05:00.123456Z\",\"cleaned_at\":null,\"params\":{"              \
    "\"topic\":\"weather\"},\"task_metadata\":null}"
#define TASK_JSON TASK_JSON_FOR(TASK_ID)
#define REGISTER_RESPONSE                                                                          \
    "{\"id\":\"" AGENT_ID "\",\"name\":\"demo-agent\",\"description\":\"Demo agent\","             \
    "\"status\":\"Ready\",\"acp_type\":\"async\",\"status_reason\":\"Agent registered "            \
    "successfully.\",\"created_at\":\"2026-03-01T09:00:00.412000Z\",\"updated_at\":"               \
    "\"2026-03-01T09:00:00.412000Z\",\"registration_metadata\":null,\"registered_at\":"            \
    "\"2026-03-01T09:00:00.412000Z\",\"agent_input_type\":null,\"production_deployment_id\":"      \
    "null,\"agent_api_key\":\"" KEY "\"}"

#define ID_CREATE "\"AgentRPCMethod.TASK_CREATE-" TASK_ID "\""
#define ID_EVENT "\"AgentRPCMethod.EVENT_SEND-" TASK_ID "\""
#define ID_CANCEL "\"AgentRPCMethod.TASK_CANCEL-" TASK_ID "\""
#define ID_INTERRUPT "\"AgentRPCMethod.TASK_INTERRUPT-" TASK_ID "\""
#define ID_MESSAGE "\"AgentRPCMethod.MESSAGE_SEND-" TASK_ID "\""

#define ACK(id)                                                                                    \
    "{\"jsonrpc\":\"2.0\",\"result\":{\"status\":\"processing\"},\"error\":null,\"id\":" id "}"
#define ERR(code, msg, id)                                                                         \
    "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":" #code ",\"message\":\"" msg        \
    "\",\"data\":null},\"id\":" id "}"

static const char *const unset_env[] = {"AGENT_NAME",
                                        "AGENT_DESCRIPTION",
                                        "ACP_URL",
                                        "ACP_PORT",
                                        "ACP_HOST",
                                        "ACP_MAX_PENDING",
                                        "ACP_WORKER_NICE",
                                        "ACP_AUTO_CURSOR",
                                        "ACP_TYPE",
                                        "AGENTEX_BASE_URL",
                                        "AGENT_ID",
                                        "AGENT_API_KEY",
                                        "AGENT_INPUT_TYPE",
                                        "AUTH_PRINCIPAL_B64",
                                        "AGENTEX_DEPLOYMENT_ID",
                                        "AGENTEX_SDK_API_KEY",
                                        "AGENTEX_CUSTOM_HEADERS",
                                        "AGENTEX_SKIP_VERSION_CHECK",
                                        NULL};

static void clear_env(void)
{
    for (int i = 0; unset_env[i]; i++)
        unsetenv(unset_env[i]);
}

/* An event/send request for task_id carrying the event ev_id with the sequence_id seq
 * (the number's text, so that values above 2^53 can be written) and the text content
 * text (JSON-escaped). */
static char *event_body_full(const char *id_json, const char *task_id, const char *ev_id,
                             const char *seq, const char *text)
{
    agx_buf_t b;
    agx_buf_init(&b);
    ck_assert_int_eq(
        agx_buf_printf(
            &b,
            "{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":{\"agent\":" AGENT_JSON
            ",\"task\":{\"id\":\"%s\",\"status\":\"RUNNING\"},\"event\":{\"id\":\"%s\","
            "\"sequence_id\":%s,\"task_id\":\"%s\",\"agent_id\":\"" AGENT_ID "\",\"created_at\":"
            "\"2026-03-01T09:06:10.500000Z\",\"content\":{\"type\":\"text\","
            "\"author\":\"user\",\"style\":\"static\",\"format\":\"plain\","
            "\"content\":",
            task_id, ev_id, seq, task_id),
        0);
    ck_assert_int_eq(agx_json_escape(&b, text), 0);
    ck_assert_int_eq(
        agx_buf_printf(&b, ",\"attachments\":null}},\"request\":null},\"id\":%s}", id_json), 0);
    return agx_buf_steal(&b);
}

static char *event_body(const char *id_json, const char *task_id, const char *text)
{
    return event_body_full(id_json, task_id, "e5a1c9d4-7b2f-4f38-8e60-1a9d3c7b2e54", "1042", text);
}

static char *simple_body(const char *method, const char *id_json, const char *task_id)
{
    agx_buf_t b;
    agx_buf_init(&b);
    ck_assert_int_eq(
        agx_buf_printf(&b,
                       "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":{\"agent\":" AGENT_JSON
                       ",\"task\":{\"id\":\"%s\",\"status\":\"RUNNING\","
                       "\"params\":{\"topic\":\"weather\"}},\"params\":{\"topic\":"
                       "\"weather\"}}%s%s}",
                       method, task_id, id_json ? ",\"id\":" : "", id_json ? id_json : ""),
        0);
    return agx_buf_steal(&b);
}

Suite *acp_suite(void);

/* case-insensitive substring search (strcasestr is a GNU extension) */
static const char *ci_contains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; hay && *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* =============================== unit tests =============================== */

START_TEST(test_rpc_parse_table)
{
    static const struct {
        const char *body;
        int code;
        const char *id;
        const char *method;
    } cases[] = {
        {"not json", AGX_RPC_PARSE_ERROR, "null", NULL},
        {"", AGX_RPC_PARSE_ERROR, "null", NULL},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"x\"} trailing", AGX_RPC_PARSE_ERROR, "null", NULL},
        {"[1,2]", AGX_RPC_INVALID_REQUEST, "null", NULL},
        {"\"str\"", AGX_RPC_INVALID_REQUEST, "null", NULL},
        {"{\"jsonrpc\":\"2.0\",\"params\":{},\"id\":3}", AGX_RPC_INVALID_REQUEST, "3", NULL},
        {"{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":\"a\"}", AGX_RPC_INVALID_REQUEST, "\"a\"", NULL},
        {"{\"jsonrpc\":\"1.0\",\"method\":\"m\",\"id\":4}", AGX_RPC_INVALID_REQUEST, "4", NULL},
        {"{\"method\":\"m\",\"id\":true}", AGX_RPC_INVALID_REQUEST, "null", NULL},
        {"{\"method\":\"m\",\"id\":{\"a\":1}}", AGX_RPC_INVALID_REQUEST, "null", NULL},
        {"{\"method\":\"m\",\"id\":\"x\"}", 0, "\"x\"", "m"},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":{},\"id\":"
         "\"AgentRPCMethod.EVENT_SEND-t1\"}",
         0, "\"AgentRPCMethod.EVENT_SEND-t1\"", "event/send"},
        /* verbatim: big integers, escapes and spacing kept as received */
        {"{\"method\":\"m\",\"id\":12345678901234567890}", 0, "12345678901234567890", "m"},
        {"{\"params\":{\"id\":1,\"s\":\"}\"} , \"id\" : \"a\\u0062\\\"c\" ,\"method\":\"m\"}", 0,
         "\"a\\u0062\\\"c\"", "m"},
        {"{\"method\":\"m\",\"id\":null}", 0, "null", "m"},
        {"{\"method\":\"m\"}", 0, "null", "m"},
        /* cJSON also takes numbers JSON forbids and raw control characters in strings:
         * echoed verbatim they would make the reply invalid JSON, so the value is
         * echoed as cJSON renders it */
        {"{\"method\":\"m\",\"id\":01}", 0, "1", "m"},
        {"{\"method\":\"m\",\"id\":-01}", 0, "-1", "m"},
        {"{\"method\":\"m\",\"id\":1.}", 0, "1", "m"},
        {"{\"method\":\"m\",\"id\":1.e3}", 0, "1000", "m"},
        {"{\"method\":\"m\",\"id\":\"a\tb\"}", 0, "\"a\\tb\"", "m"},
        {"{\"method\":\"m\",\"id\":-0.5e+2}", 0, "-0.5e+2", "m"},
        /* the id is the first member whose decoded key is "id", as cJSON reads it */
        {"{\"\\u0069d\":5,\"id\":6,\"method\":\"m\"}", 0, "5", "m"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        agx_rpc_req_t r;
        char *msg = NULL;
        int rc = agx_rpc_parse(cases[i].body, strlen(cases[i].body), &r, &msg);
        ck_assert_msg(rc == cases[i].code, "case %zu: code %d, expected %d", i, rc, cases[i].code);
        ck_assert_str_eq(r.id_json, cases[i].id);
        if (cases[i].method) {
            ck_assert_ptr_null(msg);
            ck_assert_str_eq(r.method, cases[i].method);
            ck_assert_int_eq(r.notification, strcmp(cases[i].id, "null") == 0);
        } else {
            ck_assert_ptr_nonnull(msg);
        }
        agx_free(msg);
        agx_rpc_req_clear(&r);
    }
}
END_TEST

START_TEST(test_rpc_reply_bytes)
{
    char *s = agx_rpc_ack(ID_EVENT);
    ck_assert_str_eq(s, ACK(ID_EVENT));
    agx_free(s);
    s = agx_rpc_ack("7");
    ck_assert_str_eq(s, ACK("7"));
    agx_free(s);
    s = agx_rpc_null_result();
    ck_assert_str_eq(s, "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":null,\"id\":null}");
    agx_free(s);
    s = agx_rpc_error("7", -32601, "Method task/approve not found");
    ck_assert_str_eq(s, ERR(-32601, "Method task/approve not found", "7"));
    agx_free(s);
    s = agx_rpc_error("null", -32603, "a \"quoted\"\nline\x01");
    ck_assert_str_eq(s, ERR(-32603, "a \\\"quoted\\\"\\nline\\u0001", "null"));
    agx_free(s);

    cJSON *delta = cJSON_Parse("{\"text_delta\":\"Hel\",\"type\":\"text\"}");
    s = agx_rpc_update_line(ID_MESSAGE, "delta", 0, delta);
    ck_assert_str_eq(s, "{\"jsonrpc\":\"2.0\",\"result\":{\"delta\":{\"text_delta\":\"Hel\","
                        "\"type\":\"text\"},\"index\":0,\"parent_task_message\":null,\"type\":"
                        "\"delta\"},\"error\":null,\"id\":" ID_MESSAGE "}\n");
    agx_free(s);
    cJSON_Delete(delta);
    s = agx_rpc_update_line(ID_MESSAGE, "done", 2, NULL);
    ck_assert_str_eq(s, "{\"jsonrpc\":\"2.0\",\"result\":{\"index\":2,\"parent_task_message\":"
                        "null,\"type\":\"done\"},\"error\":null,\"id\":" ID_MESSAGE "}\n");
    agx_free(s);
    cJSON *content = cJSON_Parse("{\"type\":\"text\",\"content\":\"x\"}");
    s = agx_rpc_update_line("1", "full", 1, content);
    ck_assert_str_eq(s, "{\"jsonrpc\":\"2.0\",\"result\":{\"content\":{\"type\":\"text\","
                        "\"content\":\"x\"},\"index\":1,\"parent_task_message\":null,\"type\":"
                        "\"full\"},\"error\":null,\"id\":1}\n");
    agx_free(s);
    cJSON_Delete(content);
}
END_TEST

START_TEST(test_header_filter_table)
{
    static const struct {
        const char *name;
        bool kept;
    } cases[] = {
        {"x-request-id", true},
        {"x-user-tag", true},
        {"X-User-Tag", true},
        {"x-stainless-lang", true},
        {"x-acting-user-api-key", true},
        {"x-agent-api-key", false},
        {"X-Agent-Api-Key", false},
        {"x-forwarded-for", false},
        {"x-forwarded-proto", false},
        {"traceparent", false},
        {"authorization", false},
        {"cookie", false},
        {"content-type", false},
        {"host", false},
        {"sec-fetch-mode", false},
        {"accept", false},
        {"x-", true},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(agx_acp_header_forwarded(cases[i].name) == cases[i].kept, "%s",
                      cases[i].name);
    ck_assert(!agx_acp_header_forwarded(NULL));
}
END_TEST

START_TEST(test_base64_decode)
{
    size_t n = 0;
    unsigned char *d = agx_base64_decode("eyJzdWIiOiJ1MSJ9", &n);
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq((char *)d, "{\"sub\":\"u1\"}");
    ck_assert_uint_eq(n, 12);
    agx_free(d);
    d = agx_base64_decode("YWI=", &n);
    ck_assert_str_eq((char *)d, "ab");
    agx_free(d);
    d = agx_base64_decode("YQ==", &n);
    ck_assert_str_eq((char *)d, "a");
    agx_free(d);
    ck_assert_ptr_null(agx_base64_decode("YQ=", &n));
    ck_assert_ptr_null(agx_base64_decode("Y=Q=", &n));
    ck_assert_ptr_null(agx_base64_decode("!!!!", &n));
}
END_TEST

static char *reg_body(acp_server_t *s, int port)
{
    cJSON *b = NULL;
    ck_assert_int_eq(agx_acp_registration_body(s, port, &b), AGENTEX_OK);
    char *txt = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    return txt;
}

START_TEST(test_registration_body_exact)
{
    clear_env();
    acp_server_t *s = NULL;
    ck_assert_int_eq(acp_server_new(&s), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_agent(s, "demo-agent", "Demo agent", "async"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_acp_url(s, "http://host.docker.internal/"), AGENTEX_OK);
    char *t = reg_body(s, 8000);
    /* protocol 8.7 */
    ck_assert_str_eq(t, "{\"name\":\"demo-agent\",\"description\":\"Demo agent\",\"acp_url\":"
                        "\"http://host.docker.internal:8000\",\"acp_type\":\"async\","
                        "\"principal_context\":null,\"registration_metadata\":null}");
    cJSON_free(t);
    ck_assert_int_eq(acp_server_free(s), AGENTEX_OK);

    /* every optional field, from the environment */
    setenv("AGENT_NAME", "env-agent", 1);
    setenv("ACP_URL", "http://10.0.0.5", 1);
    setenv("ACP_PORT", "9001", 1);
    setenv("ACP_TYPE", "sync", 1);
    setenv("AGENT_ID", "id-1", 1);
    setenv("AGENT_INPUT_TYPE", "json", 1);
    setenv("AUTH_PRINCIPAL_B64", "eyJzdWIiOiJ1MSJ9", 1);
    setenv("AGENTEX_DEPLOYMENT_ID", "dep-9", 1);
    ck_assert_int_eq(acp_server_new(&s), AGENTEX_OK);
    ck_assert_int_eq(acp_server_port(s), 9001);
    t = reg_body(s, acp_server_port(s));
    ck_assert_str_eq(t, "{\"name\":\"env-agent\",\"description\":\"Generic description for "
                        "agent: env-agent\",\"acp_url\":\"http://10.0.0.5:9001\",\"acp_type\":"
                        "\"sync\",\"principal_context\":{\"sub\":\"u1\"},"
                        "\"registration_metadata\":{\"deployment_id\":\"dep-9\"},"
                        "\"agent_input_type\":\"json\",\"agent_id\":\"id-1\"}");
    cJSON_free(t);
    ck_assert_int_eq(acp_server_free(s), AGENTEX_OK);

    /* an undecodable principal is null, as in the Python SDK */
    setenv("AUTH_PRINCIPAL_B64", "%%%", 1);
    ck_assert_int_eq(acp_server_new(&s), AGENTEX_OK);
    cJSON *b = NULL;
    ck_assert_int_eq(agx_acp_registration_body(s, 1, &b), AGENTEX_OK);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(b, "principal_context")));
    cJSON_Delete(b);
    ck_assert_int_eq(acp_server_free(s), AGENTEX_OK);
    clear_env();
}
END_TEST

START_TEST(test_setters_validate)
{
    clear_env();
    acp_server_t *s = NULL;
    ck_assert_int_eq(acp_server_new(NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_new(&s), AGENTEX_OK);
    ck_assert_int_eq(acp_server_port(s), 8000);
    ck_assert_int_eq(acp_server_set_agent(s, "Demo_Agent", NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_agent(s, "", NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_agent(s, NULL, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_agent(s, "ok-1", NULL, "batch"), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_agent(s, "ok-1", NULL, "agentic"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_workers(s, 0), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_workers(s, 257), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_workers(s, 256), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_listen(s, NULL, 70000), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_delivery(s, (acp_delivery_t)7), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_auto_cursor(NULL, true), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_max_body(s, 0), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_timeouts(s, 0, 5), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_register_retries(s, 0, 5), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_acp_url(s, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_on_task_create(NULL, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_backend(NULL, "x"), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_wait(s), AGENTEX_ESTATE); /* never started */
    ck_assert_ptr_null(acp_server_agent_id(s));
    ck_assert_str_eq(acp_server_errmsg(s), "");
    ck_assert_int_eq(acp_reply_done(NULL, 0), AGENTEX_EINVAL);
    ck_assert(!acp_task_cancelled(NULL));
    ck_assert_ptr_null(acp_ctx_client(NULL));
    acp_server_stop(NULL);
    ck_assert_int_eq(acp_server_free(s), AGENTEX_OK);
    ck_assert_int_eq(acp_server_free(NULL), AGENTEX_OK);
}
END_TEST

START_TEST(test_new_and_body_enomem)
{
    clear_env();
    setenv("AGENT_NAME", "a", 1);
    setenv("AUTH_PRINCIPAL_B64", "eyJzdWIiOiJ1MSJ9", 1);
    setenv("AGENTEX_DEPLOYMENT_ID", "dep", 1);
    int failures = 0;
    for (long n = 1; n < 200; n++) {
        acp_server_t *s = NULL;
        agx_alloc_fail_after(n);
        agentex_err_t err = acp_server_new(&s);
        if (err == AGENTEX_OK) {
            cJSON *b = NULL;
            agx_alloc_fail_after(n);
            err = agx_acp_registration_body(s, 1, &b);
            agx_alloc_fail_after(0);
            if (err == AGENTEX_OK)
                cJSON_Delete(b);
            else
                ck_assert_int_eq(err, AGENTEX_ENOMEM);
            ck_assert_int_eq(acp_server_free(s), AGENTEX_OK);
            if (err == AGENTEX_OK)
                break;
            failures++;
        } else {
            agx_alloc_fail_after(0);
            ck_assert_int_eq(err, AGENTEX_ENOMEM);
            ck_assert_ptr_null(s);
            failures++;
        }
    }
    agx_alloc_fail_after(0);
    ck_assert_int_gt(failures, 5);
    clear_env();
}
END_TEST

/* The fast path takes the common async requests and declines everything else; whatever
 * it takes, the full path (agx_rpc_parse) reads the same way: same method and id. */
#define FA "{\"id\":\"a1\",\"name\":\"n\"}"
#define FT "{\"id\":\"t1\"}"
#define FEV(content)                                                                               \
    "{\"id\":\"e\",\"sequence_id\":1,\"task_id\":\"t1\",\"agent_id\":\"a1\",\"content\":" content  \
    "}"
#define FTEXT "{\"type\":\"text\",\"author\":\"user\",\"content\":\"hi\"}"
#define FREQ(method, params, id)                                                                   \
    "{\"jsonrpc\":\"2.0\",\"method\":\"" method "\",\"params\":" params ",\"id\":" id "}"

START_TEST(test_fast_scan_table)
{
    static const struct {
        const char *body;
        bool fast;
        const char *task_id;
    } cases[] = {
        {FREQ("event/send", "{\"agent\":" FA ",\"task\":" FT ",\"event\":" FEV(FTEXT) "}", "7"),
         true, "t1"},
        {FREQ("event/send", "{\"agent\":" FA ",\"task\":" FT ",\"event\":" FEV("null") "}",
              "\"x\""),
         true, "t1"},
        {FREQ("task/create", "{\"agent\":" FA ",\"task\":" FT ",\"params\":null}", "null"), true,
         "t1"},
        {FREQ("task/create", "{\"agent\":" FA ",\"task\":" FT ",\"params\":{\"a\":[1,2,{}]}}",
              "-2.5e+3"),
         true, "t1"},
        {"{\"method\":\"task/cancel\",\"params\":{\"agent\":" FA ",\"task\":" FT "}}", true, "t1"},
        {FREQ("task/interrupt", "{\"task\":{\"id\":\"t\\u00e9\"},\"agent\":" FA "}", "1"), false,
         NULL}, /* an escaped task id: declined */
        {" \t" FREQ("task/interrupt", "{\"task\":" FT ",\"agent\":" FA "}", "1") "\r\n ", true,
         "t1"},
        /* the first of repeated keys counts, as in cJSON */
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":" FT ",\"task\":5}", "1"), true, "t1"},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":5,\"task\":" FT "}", "1"), false, NULL},
        /* declined: errors, other shapes, what only the full path knows how to read */
        {FREQ("message/send", "{\"agent\":" FA ",\"task\":" FT ",\"content\":" FTEXT "}", "1"),
         false, NULL},
        {FREQ("task/approve", "{\"agent\":" FA ",\"task\":" FT "}", "1"), false, NULL},
        {FREQ("task/create", "{\"agent\":" FA ",\"task\":" FT ",\"params\":5}", "1"), false, NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":" FT "}", "true"), false, NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":" FT "}", "01"), false, NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":" FT "}", "1."), false, NULL},
        {"{\"jsonrpc\":\"1.0\",\"method\":\"task/cancel\",\"params\":{\"agent\":" FA ",\"task\":" FT
         "},\"id\":1}",
         false, NULL},
        {"{\"\\u0069d\":1,\"method\":\"task/cancel\",\"params\":{\"agent\":" FA ",\"task\":" FT
         "}}",
         false, NULL},
        {FREQ("task/cancel", "{\"agent\":{\"id\":\"a\",\"n\\u0061me\":\"n\"},\"task\":" FT "}",
              "1"),
         false, NULL},
        {FREQ("task/cancel", "{\"agent\":{\"id\":\"a\"},\"task\":" FT "}", "1"), false, NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":{\"id\":\"\"}}", "1"), false, NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":{\"id\":\"t\",\"created_at\":\"x\"}}",
              "1"),
         false, NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":{\"id\":\"t\",\"params\":[]}}", "1"),
         false, NULL},
        {FREQ("event/send",
              "{\"agent\":" FA ",\"task\":" FT
              ",\"event\":" FEV("{\"type\":\"data\",\"author\":\"user\",\"data\":{}}") "}",
              "1"),
         false, NULL},
        {FREQ("event/send",
              "{\"agent\":" FA ",\"task\":" FT
              ",\"event\":" FEV("{\"type\":\"text\",\"author\":\"user\",\"content\":\"x\","
                                "\"attachments\":[]}") "}",
              "1"),
         false, NULL},
        {FREQ("event/send",
              "{\"agent\":" FA ",\"task\":" FT ",\"event\":{\"id\":\"e\",\"sequence_id\":-1,"
              "\"task_id\":\"t\",\"agent_id\":\"a\"}}",
              "1"),
         false, NULL},
        {FREQ("event/send",
              "{\"agent\":" FA ",\"task\":" FT ",\"event\":{\"id\":\"e\",\"sequence_id\":1.5,"
              "\"task_id\":\"t\",\"agent_id\":\"a\"}}",
              "1"),
         false, NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":" FT "}", "1") "x", false, NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":{\"id\":\"t\\ud800\"}}", "1"), false,
         NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":" FT ",\"x\":\"\\u0000\"}", "1"), false,
         NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":" FT ",\"x\":\"a\tb\"}", "1"), false,
         NULL},
        {FREQ("task/cancel", "{\"agent\":" FA ",\"task\":" FT ",\"x\":\"\\ud83d\\ude00\"}", "1"),
         true, "t1"},
        {"", false, NULL},
        {"[]", false, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *b = cases[i].body;
        agx_acp_fast_t f;
        bool fast = agx_acp_fast_scan(b, strlen(b), &f);
        ck_assert_msg(fast == cases[i].fast, "case %zu: fast %d", i, fast);
        if (!fast)
            continue;
        ck_assert_uint_eq(f.task_id_len, strlen(cases[i].task_id));
        ck_assert(memcmp(f.task_id, cases[i].task_id, f.task_id_len) == 0);
        agx_rpc_req_t r;
        char *msg = NULL;
        ck_assert_int_eq(agx_rpc_parse(b, strlen(b), &r, &msg), 0);
        ck_assert_int_ge(f.kind, 0);
        ck_assert_int_lt(f.kind, 4);
        static const char *const names[] = {"task/create", "event/send", "task/cancel",
                                            "task/interrupt"};
        ck_assert_str_eq(r.method, names[f.kind]);
        if (f.id) {
            ck_assert_uint_eq(f.id_len, strlen(r.id_json));
            ck_assert(memcmp(f.id, r.id_json, f.id_len) == 0);
        } else {
            ck_assert(r.notification);
        }
        agx_rpc_req_clear(&r);
    }
    /* nesting deeper than the scanner goes: declined, the full path reads it */
    agx_buf_t d;
    agx_buf_init(&d);
    ck_assert_int_eq(agx_buf_puts(&d, "{\"method\":\"task/cancel\",\"params\":{\"agent\":" FA
                                      ",\"task\":{\"id\":\"t\",\"params\":{\"x\":"),
                     0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(agx_buf_puts(&d, "["), 0);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(agx_buf_puts(&d, "]"), 0);
    ck_assert_int_eq(agx_buf_puts(&d, "}}}}"), 0);
    agx_acp_fast_t f;
    ck_assert(!agx_acp_fast_scan(d.data, d.len, &f));
    agx_buf_free(&d);
}
END_TEST

START_TEST(test_rpc_enomem)
{
    const char *body = "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"abc\"}";
    for (long n = 1; n < 20; n++) {
        agx_rpc_req_t r;
        char *msg = NULL;
        agx_alloc_fail_after(n);
        int rc = agx_rpc_parse(body, strlen(body), &r, &msg);
        char *e = agx_rpc_error("1", -32600, "x");
        agx_alloc_fail_after(0);
        ck_assert(rc == 0 || rc == 1);
        agx_free(e);
        agx_free(msg);
        agx_rpc_req_clear(&r);
    }
}
END_TEST

/* ============================ server over HTTP ============================ */

/* What the handlers saw. */
#define MAX_REC 4096
typedef struct rec {
    char method[32];
    char task[64];
    char text[128];
    char request[512]; /* params.request printed */
    char tag[64];      /* acp_ctx_header(x-user-tag) */
    char key[64];      /* acp_ctx_header(x-agent-api-key) */
    char agent_id[64];
    char event_id[64]; /* the event handler's event */
    bool agent_key;    /* params.agent carries an agent_api_key */
    bool has_agent;    /* acp_ctx_agent gave an object */
    bool cancelled;
    int seq;
    int nice; /* the handler thread's nice value */
} rec_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    rec_t r[MAX_REC];
    int order_errors;
    int last_seq[64];
    atomic_int running; /* handlers running now */
    atomic_int max_running;
    atomic_bool release;  /* lets a blocked handler go */
    atomic_bool release2; /* the same, for "block-until-released-2" */
    long sleep_ms;
} R = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void rec_add(const rec_t *r)
{
    pthread_mutex_lock(&R.mu);
    if (R.n < MAX_REC)
        R.r[R.n++] = *r;
    pthread_cond_broadcast(&R.cv);
    pthread_mutex_unlock(&R.mu);
}

static int rec_wait(int n, long timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&R.mu);
    while (R.n < n && pthread_cond_timedwait(&R.cv, &R.mu, &ts) == 0)
        ;
    int got = R.n;
    pthread_mutex_unlock(&R.mu);
    return got;
}

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void fill_rec(acp_ctx_t *ctx, const adk_task_t *task, rec_t *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", acp_ctx_method(ctx));
    snprintf(r->task, sizeof r->task, "%s", adk_task_id(task));
    const cJSON *req = cJSON_GetObjectItem(acp_ctx_params(ctx), "request");
    char *p = cJSON_PrintUnformatted(req);
    snprintf(r->request, sizeof r->request, "%s", p ? p : "");
    cJSON_free(p);
    const char *h = acp_ctx_header(ctx, "x-user-tag");
    snprintf(r->tag, sizeof r->tag, "%s", h ? h : "");
    h = acp_ctx_header(ctx, "x-agent-api-key");
    snprintf(r->key, sizeof r->key, "%s", h ? h : "");
    h = acp_ctx_agent_id(ctx);
    snprintf(r->agent_id, sizeof r->agent_id, "%s", h ? h : "");
    r->agent_key = cJSON_GetObjectItem(cJSON_GetObjectItem(acp_ctx_params(ctx), "agent"),
                                       "agent_api_key") != NULL;
    r->has_agent = acp_ctx_agent(ctx) != NULL;
    r->cancelled = acp_task_cancelled(ctx);
    r->nice = getpriority(PRIO_PROCESS, 0); /* Linux: the calling thread's */
}

static void track_running(bool enter)
{
    if (enter) {
        int now = atomic_fetch_add(&R.running, 1) + 1;
        int max = atomic_load(&R.max_running);
        while (now > max && !atomic_compare_exchange_weak(&R.max_running, &max, now))
            ;
    } else {
        atomic_fetch_sub(&R.running, 1);
    }
}

static agentex_err_t on_create(acp_ctx_t *ctx, const adk_task_t *task, const cJSON *params,
                               void *ud)
{
    (void)ud;
    rec_t r;
    fill_rec(ctx, task, &r);
    const cJSON *topic = cJSON_GetObjectItem(params, "topic");
    snprintf(r.text, sizeof r.text, "%s", cJSON_IsString(topic) ? topic->valuestring : "");
    rec_add(&r);
    return AGENTEX_OK;
}

static agentex_err_t on_event(acp_ctx_t *ctx, const adk_task_t *task, const adk_event_t *ev,
                              void *ud)
{
    (void)ud;
    track_running(true);
    rec_t r;
    fill_rec(ctx, task, &r);
    const adk_content_t *c = adk_event_content(ev);
    const char *text = c ? adk_content_text(c) : NULL;
    snprintf(r.text, sizeof r.text, "%s", text ? text : "");
    snprintf(r.event_id, sizeof r.event_id, "%s", adk_event_id(ev));
    /* "<task index>:<seq>" texts check per-task order */
    int ti = -1, seq = -1;
    if (text && sscanf(text, "%d:%d", &ti, &seq) == 2 && ti >= 0 && ti < 64) {
        r.seq = seq;
        pthread_mutex_lock(&R.mu);
        if (seq != R.last_seq[ti] + 1)
            R.order_errors++;
        R.last_seq[ti] = seq;
        pthread_mutex_unlock(&R.mu);
    }
    if (text && strcmp(text, "block-until-cancel") == 0) {
        for (int i = 0; i < 500 && !acp_task_cancelled(ctx); i++)
            msleep(10);
        r.cancelled = acp_task_cancelled(ctx);
    }
    if (text && strcmp(text, "block-until-released") == 0) {
        for (int i = 0; i < 500 && !atomic_load(&R.release); i++)
            msleep(10);
    }
    if (text && strcmp(text, "block-until-released-2") == 0) {
        for (int i = 0; i < 500 && !atomic_load(&R.release2); i++)
            msleep(10);
    }
    if (text && strcmp(text, "release") == 0)
        atomic_store(&R.release, true);
    if (R.sleep_ms)
        msleep(R.sleep_ms);
    track_running(false);
    rec_add(&r);
    if (text && strcmp(text, "fail-event") == 0) {
        acp_ctx_set_error(ctx, "refused %s", "fail-event");
        return AGENTEX_EINTERNAL;
    }
    return AGENTEX_OK;
}

static agentex_err_t on_cancel(acp_ctx_t *ctx, const adk_task_t *task, void *ud)
{
    (void)ud;
    rec_t r;
    fill_rec(ctx, task, &r);
    rec_add(&r);
    return AGENTEX_OK;
}

static agentex_err_t on_interrupt(acp_ctx_t *ctx, const adk_task_t *task, void *ud)
{
    (void)ud;
    rec_t r;
    fill_rec(ctx, task, &r);
    rec_add(&r);
    return AGENTEX_ERPC; /* a failing handler: only logged */
}

static agentex_err_t on_message(acp_ctx_t *ctx, const adk_task_t *task,
                                const adk_content_t *content, void *ud)
{
    (void)ud;
    rec_t r;
    fill_rec(ctx, task, &r);
    const char *text = adk_content_text(content);
    snprintf(r.text, sizeof r.text, "%s", text ? text : "");
    rec_add(&r);
    if (text && strcmp(text, "fail") == 0) {
        adk_content_t *c = NULL;
        ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_AGENT, "", &c), AGENTEX_OK);
        agentex_err_t err = acp_reply_start(ctx, 0, c);
        adk_content_free(c);
        if (err)
            return err;
        acp_ctx_set_error(ctx, "model %s", "unavailable");
        return AGENTEX_EINTERNAL;
    }
    if (text && strcmp(text, "bad") == 0)
        return AGENTEX_EINVAL;
    if (text && strcmp(text, "slow") == 0) {
        /* writes until the backend goes away; records the error seen */
        agentex_err_t err = AGENTEX_OK;
        for (int i = 0; i < 400 && err == AGENTEX_OK; i++) {
            err = acp_reply_delta_text(ctx, 0, "tick ");
            msleep(10);
        }
        rec_t r2 = r;
        r2.seq = (int)err;
        snprintf(r2.text, sizeof r2.text, "slow-done");
        rec_add(&r2);
        return err;
    }
    adk_content_t *c = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_AGENT, "", &c);
    if (!err)
        err = adk_content_set_format(c, ADK_FORMAT_MARKDOWN);
    if (!err)
        err = acp_reply_start(ctx, 0, c);
    adk_content_free(c);
    if (!err)
        err = acp_reply_delta_text(ctx, 0, "Hel");
    if (!err)
        err = acp_reply_delta_text(ctx, 0, "lo");
    if (!err)
        err = acp_reply_done(ctx, 0);
    return err;
}

/* ---- fixture ---- */

static fake_backend_t *fb;
static acp_server_t *srv;
static CURL *curl;
static char base[64];

typedef struct resp {
    long status;
    agx_buf_t body;
    agx_buf_t head;
} resp_t;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    agx_buf_append(ud, p, sz * n);
    return sz * n;
}

typedef struct fixed {
    char data[4096];
    size_t len;
} fixed_t;

static size_t on_fixed(char *p, size_t sz, size_t n, void *ud)
{
    fixed_t *f = ud;
    size_t k = sz * n;
    if (k > sizeof f->data - 1 - f->len)
        k = sizeof f->data - 1 - f->len;
    memcpy(f->data + f->len, p, k);
    f->len += k;
    f->data[f->len] = '\0';
    return sz * n;
}

/* POST (body non-NULL) or GET to path; headers NULL-terminated.  Returns the status. */
static long http(const char *method, const char *path, const char *body, size_t len,
                 const char *const *headers, resp_t *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, path);
    agx_buf_init(&out->body);
    agx_buf_init(&out->head);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    for (int i = 0; headers && headers[i]; i++)
        h = curl_slist_append(h, headers[i]);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &out->head);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 8000L);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(h);
    ck_assert_msg(rc == CURLE_OK, "curl: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (!out->body.data)
        agx_buf_puts(&out->body, "");
    return out->status;
}

static void resp_free(resp_t *r)
{
    agx_buf_free(&r->body);
    agx_buf_free(&r->head);
}

/* POSTs a JSON-RPC body with the right key; checks HTTP 200 and the exact reply. */
static void rpc_expect(const char *body, const char *const *headers, const char *expected)
{
    resp_t r;
    ck_assert_int_eq(http("POST", "/api", body, strlen(body), headers, &r), 200);
    ck_assert_str_eq(r.body.data, expected);
    resp_free(&r);
}

static const char *const good_key[] = {"x-agent-api-key: " KEY, "x-request-id: 5f0c3d2b", NULL};

static void server_config(acp_server_t *s, bool registering)
{
    ck_assert_int_eq(acp_server_set_agent(s, "demo-agent", "Demo agent", "async"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_backend(s, registering ? fake_backend_url(fb) : ""),
                     AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_acp_url(s, "http://127.0.0.1"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_listen(s, "127.0.0.1", 0), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_register_retries(s, 1, 0), AGENTEX_OK);
    ck_assert_int_eq(acp_server_on_task_create(s, on_create, NULL), AGENTEX_OK);
    ck_assert_int_eq(acp_server_on_event_send(s, on_event, NULL), AGENTEX_OK);
    ck_assert_int_eq(acp_server_on_task_cancel(s, on_cancel, NULL), AGENTEX_OK);
    ck_assert_int_eq(acp_server_on_message_send(s, on_message, NULL), AGENTEX_OK);
}

static void start_server(acp_server_t *s)
{
    agentex_err_t err = acp_server_start(s);
    ck_assert_msg(err == AGENTEX_OK, "start: %s: %s", agentex_err_name(err), acp_server_errmsg(s));
    snprintf(base, sizeof base, "http://127.0.0.1:%d", acp_server_port(s));
}

static void setup(void)
{
    clear_env();
    setenv("AGENTEX_SKIP_VERSION_CHECK", "1", 1); /* except in the version guard's tests */
    memset(R.r, 0, sizeof R.r);
    R.n = 0;
    R.order_errors = 0;
    memset(R.last_seq, 0, sizeof R.last_seq);
    atomic_store(&R.running, 0);
    atomic_store(&R.max_running, 0);
    atomic_store(&R.release, false);
    atomic_store(&R.release2, false);
    R.sleep_ms = 0;
    fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    fake_backend_route(fb, "POST", "/agents/register", 200, REGISTER_RESPONSE);
    curl = curl_easy_init();
    ck_assert_ptr_nonnull(curl);
    ck_assert_int_eq(acp_server_new(&srv), AGENTEX_OK);
    server_config(srv, true);
}

static void teardown(void)
{
    if (srv) {
        acp_server_stop(srv);
        ck_assert_int_eq(acp_server_free(srv), AGENTEX_OK);
        srv = NULL;
    }
    curl_easy_cleanup(curl);
    fake_backend_stop(fb);
}

/* Loop tests run twice: _i 0 with the default path choice (the full path while few
 * handlers are outstanding), _i 1 with every request the fast path takes (see
 * agx_acp_fast_scan) going that way. */
static void use_path(int i)
{
    ck_assert_int_eq(agx_acp_set_eager_max(srv, i ? 0 : AGX_ACP_EAGER_MAX), AGENTEX_OK);
}

/* ---- health, routes, registration ---- */

START_TEST(test_healthz_and_404)
{
    start_server(srv);
    resp_t r;
    ck_assert_int_eq(http("GET", "/healthz", NULL, 0, NULL, &r), 200);
    ck_assert_str_eq(r.body.data, "{\"status\":\"healthy\",\"agent_id\":\"" AGENT_ID "\"}");
    ck_assert_ptr_nonnull(ci_contains(r.head.data, "content-type: application/json"));
    resp_free(&r);
    ck_assert_int_eq(http("GET", "/nope", NULL, 0, NULL, &r), 404);
    ck_assert_str_eq(r.body.data, "{\"detail\":\"Not Found\"}");
    resp_free(&r);
    ck_assert_int_eq(http("GET", "/api", NULL, 0, NULL, &r), 404);
    ck_assert_str_eq(r.body.data, "{\"detail\":\"Not Found\"}");
    resp_free(&r);
    ck_assert_int_eq(http("POST", "/healthz", "{}", 2, NULL, &r), 404);
    resp_free(&r);
}
END_TEST

START_TEST(test_healthz_without_registration)
{
    ck_assert_int_eq(acp_server_set_backend(srv, NULL), AGENTEX_OK);
    start_server(srv);
    ck_assert_uint_eq(fake_backend_count(fb), 0); /* nothing contacted */
    ck_assert_ptr_null(acp_server_agent_id(srv));
    resp_t r;
    ck_assert_int_eq(http("GET", "/healthz", NULL, 0, NULL, &r), 200);
    ck_assert_str_eq(r.body.data, "{\"status\":\"healthy\"}");
    resp_free(&r);
    /* no key known: no check */
    char *b = simple_body("task/create", ID_CREATE, TASK_ID);
    rpc_expect(b, NULL, ACK(ID_CREATE));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    ck_assert_str_eq(R.r[0].agent_id, AGENT_ID); /* params.agent.id */
}
END_TEST

START_TEST(test_registration_request_and_identity)
{
    start_server(srv);
    ck_assert_uint_ge(fake_backend_count(fb), 1);
    const fake_request_t *q = fake_backend_request(fb, 0);
    ck_assert_str_eq(q->method, "POST");
    ck_assert_str_eq(q->path, "/agents/register");
    char expected[512];
    snprintf(expected, sizeof expected,
             "{\"name\":\"demo-agent\",\"description\":\"Demo agent\",\"acp_url\":"
             "\"http://127.0.0.1:%d\",\"acp_type\":\"async\",\"principal_context\":null,"
             "\"registration_metadata\":null}",
             acp_server_port(srv));
    cJSON *got = cJSON_Parse(q->body), *want = cJSON_Parse(expected);
    ck_assert_msg(cJSON_Compare(got, want, true), "body %s", q->body);
    char *canon = cJSON_PrintUnformatted(got);
    ck_assert_str_eq(canon, expected); /* same key order as the Python SDK */
    cJSON_free(canon);
    cJSON_Delete(got);
    cJSON_Delete(want);
    ck_assert_ptr_null(fake_request_header(q, "x-agent-api-key"));
    ck_assert_str_eq(acp_server_agent_id(srv), AGENT_ID);
    ck_assert_str_eq(acp_server_api_key(srv), KEY);
    /* the registered id is what handlers see, and the key is now required */
    char *b = simple_body("task/create", ID_CREATE, TASK_ID);
    rpc_expect(b, NULL, ERR(-32601, "Unauthorized", ID_CREATE));
    rpc_expect(b, good_key, ACK(ID_CREATE));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    ck_assert_str_eq(R.r[0].agent_id, AGENT_ID);
}
END_TEST

static agentex_err_t on_create_posts(acp_ctx_t *ctx, const adk_task_t *task, const cJSON *params,
                                     void *ud)
{
    (void)params;
    (void)ud;
    adk_content_t *c = NULL;
    adk_message_t *m = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_AGENT, "Welcome!", &c);
    if (!err)
        err = adk_messages_create(acp_ctx_client(ctx), adk_task_id(task), c, ADK_STREAMING_NONE,
                                  ADK_TIME_NONE, &m);
    adk_content_free(c);
    adk_message_free(m);
    rec_t r;
    fill_rec(ctx, task, &r);
    r.seq = (int)err;
    rec_add(&r);
    return err;
}

START_TEST(test_worker_client_uses_agent_key)
{
    fake_backend_route(fb, "POST", "/messages", 200,
                       "{\"id\":\"m1\",\"task_id\":\"" TASK_ID "\",\"content\":{\"type\":"
                       "\"text\",\"author\":\"agent\",\"content\":\"Welcome!\"},"
                       "\"streaming_status\":null}");
    /* a fresh server that reads the client settings from the environment */
    ck_assert_int_eq(acp_server_free(srv), AGENTEX_OK);
    setenv("AGENTEX_CUSTOM_HEADERS", "X-Team: blue\nX-Env:  dev ", 1);
    setenv("AGENTEX_SDK_API_KEY", "sdk-123", 1);
    ck_assert_int_eq(acp_server_new(&srv), AGENTEX_OK);
    server_config(srv, true);
    ck_assert_int_eq(acp_server_on_task_create(srv, on_create_posts, NULL), AGENTEX_OK);
    start_server(srv);
    char *b = simple_body("task/create", ID_CREATE, TASK_ID);
    rpc_expect(b, good_key, ACK(ID_CREATE));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    ck_assert_int_eq(R.r[0].seq, AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 2);
    const fake_request_t *q = fake_backend_request(fb, 1);
    ck_assert_str_eq(q->path, "/messages");
    ck_assert_str_eq(fake_request_header(q, "x-agent-api-key"), KEY);
    ck_assert_str_eq(fake_request_header(q, "x-team"), "blue");
    ck_assert_str_eq(fake_request_header(q, "x-env"), "dev");
    ck_assert_str_eq(fake_request_header(q, "authorization"), "Bearer sdk-123");
    ck_assert_ptr_nonnull(strstr(q->body, "Welcome!"));
}
END_TEST

START_TEST(test_registration_failure)
{
    for (int i = 0; i < 2; i++)
        fake_backend_push(fb, 422,
                          "{\"status_code\":10422,\"message\":\"bad name\",\"data\":null}");
    ck_assert_int_eq(acp_server_set_register_retries(srv, 2, 10), AGENTEX_OK);
    agentex_err_t err = acp_server_start(srv);
    ck_assert_int_eq(err, AGENTEX_EHTTP);
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(srv), "registration"));
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(srv), "2 attempts"));
    ck_assert_uint_eq(fake_backend_count(fb), 2);
    ck_assert_ptr_null(acp_server_agent_id(srv));
    /* nothing listens any more; the server can be configured again */
    ck_assert_int_eq(acp_server_set_workers(srv, 2), AGENTEX_OK);

    /* unreachable backend: the client's connect error */
    ck_assert_int_eq(acp_server_set_backend(srv, "http://127.0.0.1:1"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_register_retries(srv, 1, 0), AGENTEX_OK);
    ck_assert_int_eq(acp_server_start(srv), AGENTEX_ECONNECT);
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(srv), "127.0.0.1:1"));

    /* no agent name */
    acp_server_t *s2 = NULL;
    ck_assert_int_eq(acp_server_new(&s2), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_backend(s2, fake_backend_url(fb)), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_listen(s2, "127.0.0.1", 0), AGENTEX_OK);
    ck_assert_int_eq(acp_server_start(s2), AGENTEX_EINVAL);
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(s2), "AGENT_NAME"));
    ck_assert_int_eq(acp_server_free(s2), AGENTEX_OK);
}
END_TEST

static void *stop_later_main(void *arg)
{
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    acp_server_stop(arg);
    return NULL;
}

/* acp_server_stop while acp_server_start is still registering: the start ends with
 * AGENTEX_OK (documented), and acp_server_wait then collects that result like after any
 * other start, instead of calling the server never started. */
START_TEST(test_stop_during_registration_then_wait)
{
    ck_assert_int_eq(acp_server_set_backend(srv, "http://127.0.0.1:1"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_register_retries(srv, 100, 100), AGENTEX_OK);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, stop_later_main, srv), 0);
    ck_assert_int_eq(acp_server_start(srv), AGENTEX_OK);
    pthread_join(th, NULL);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_ESTATE); /* collected once */
    /* idle again: configurable and startable */
    ck_assert_int_eq(acp_server_set_backend(srv, ""), AGENTEX_OK);
    start_server(srv);
    resp_t r;
    ck_assert_int_eq(http("GET", "/healthz", NULL, 0, NULL, &r), 200);
    resp_free(&r);
    acp_server_stop(srv);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);
}
END_TEST

/* ---- methods, acks, ids ---- */

static struct {
    pthread_mutex_t mu;
    char text[8192];
} LOG = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void capture_log(agentex_log_level_t level, const char *msg, void *ud)
{
    (void)ud;
    if (level < AGENTEX_LOG_ERROR)
        return;
    pthread_mutex_lock(&LOG.mu);
    size_t n = strlen(LOG.text);
    snprintf(LOG.text + n, sizeof LOG.text - n, "%s\n", msg);
    pthread_mutex_unlock(&LOG.mu);
}

START_TEST(test_every_method_acks)
{
    use_path(_i);
    agentex_set_log_cb(AGENTEX_LOG_ERROR, capture_log, NULL);
    ck_assert_int_eq(acp_server_on_task_interrupt(srv, on_interrupt, NULL), AGENTEX_OK);
    start_server(srv);
    const char *const hdrs[] = {"x-agent-api-key: " KEY,      "x-request-id: 5f0c3d2b8a7e4c1d",
                                "x-user-tag: blue",           "X-Forwarded-For: 10.1.1.1",
                                "traceparent: 00-abc-def-01", NULL};
    char *b = simple_body("task/create", ID_CREATE, TASK_ID);
    rpc_expect(b, hdrs, ACK(ID_CREATE));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    b = event_body(ID_EVENT, TASK_ID, "What is the forecast?");
    rpc_expect(b, hdrs, ACK(ID_EVENT));
    free(b);
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    b = simple_body("task/interrupt", ID_INTERRUPT, TASK_ID);
    rpc_expect(b, hdrs, ACK(ID_INTERRUPT));
    free(b);
    ck_assert_int_eq(rec_wait(3, 5000), 3);
    b = simple_body("task/cancel", ID_CANCEL, TASK_ID);
    rpc_expect(b, hdrs, ACK(ID_CANCEL));
    free(b);
    ck_assert_int_eq(rec_wait(4, 5000), 4);

    const char *methods[] = {"task/create", "event/send", "task/interrupt", "task/cancel"};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(R.r[i].method, methods[i]);
        ck_assert_str_eq(R.r[i].task, TASK_ID);
        /* protocol 2.11: x-* minus the key and x-forwarded-*, traceparent dropped */
        ck_assert_str_eq(R.r[i].request, "{\"headers\":{\"x-request-id\":\"5f0c3d2b8a7e4c1d\","
                                         "\"x-user-tag\":\"blue\"}}");
        ck_assert_str_eq(R.r[i].tag, "blue");
        ck_assert_str_eq(R.r[i].key, "");
    }
    ck_assert_str_eq(R.r[0].text, "weather");
    ck_assert_str_eq(R.r[1].text, "What is the forecast?");
    ck_assert(!R.r[2].cancelled);
    ck_assert(R.r[3].cancelled);
    /* the failing interrupt handler was logged with its task id */
    pthread_mutex_lock(&LOG.mu);
    ck_assert_msg(strstr(LOG.text, "task " TASK_ID ": task/interrupt handler failed"), "log: %s",
                  LOG.text);
    pthread_mutex_unlock(&LOG.mu);
    agentex_set_log_cb(AGENTEX_LOG_OFF, NULL, NULL);
}
END_TEST

START_TEST(test_ids_echoed_verbatim)
{
    use_path(_i);
    start_server(srv);
    static const char *const ids[] = {
        "7",  "0", "-3", "12345678901234567890", "\"x\"", "\"AgentRPCMethod.EVENT_SEND-t\\u0031\"",
        "1.5"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *b = event_body(ids[i], TASK_ID, "hi");
        char expect[256];
        snprintf(expect, sizeof expect,
                 "{\"jsonrpc\":\"2.0\",\"result\":{\"status\":\"processing\"},\"error\":null,"
                 "\"id\":%s}",
                 ids[i]);
        rpc_expect(b, good_key, expect);
        free(b);
    }
    ck_assert_int_eq(rec_wait(7, 5000), 7);
}
END_TEST

START_TEST(test_notifications_run)
{
    use_path(_i);
    start_server(srv);
    char *b = simple_body("task/create", NULL, TASK_ID);
    rpc_expect(b, good_key, "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":null,\"id\":null}");
    free(b);
    b = event_body("null", TASK_ID, "note");
    rpc_expect(b, good_key, "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":null,\"id\":null}");
    free(b);
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    ck_assert_str_eq(R.r[0].method, "task/create");
    ck_assert_str_eq(R.r[1].text, "note");
}
END_TEST

START_TEST(test_auth_check)
{
    start_server(srv);
    char *b = event_body("7", TASK_ID, "secret");
    const char *const wrong[] = {"x-agent-api-key: " KEY "0", NULL};
    const char *const wrong2[] = {"x-agent-api-key: nope", NULL};
    const char *const empty[] = {"x-agent-api-key;", NULL};
    rpc_expect(b, wrong, ERR(-32601, "Unauthorized", "7"));
    rpc_expect(b, wrong2, ERR(-32601, "Unauthorized", "7"));
    rpc_expect(b, empty, ERR(-32601, "Unauthorized", "7"));
    rpc_expect(b, NULL, ERR(-32601, "Unauthorized", "7"));
    /* unknown method with a bad key: still Unauthorized (checked before the lookup) */
    const char *u = "{\"jsonrpc\":\"2.0\",\"method\":\"task/approve\",\"params\":{},\"id\":7}";
    rpc_expect(u, NULL, ERR(-32601, "Unauthorized", "7"));
    /* /healthz is never checked */
    resp_t r;
    ck_assert_int_eq(http("GET", "/healthz", NULL, 0, NULL, &r), 200);
    resp_free(&r);
    rpc_expect(b, good_key, ACK("7"));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    msleep(100);
    ck_assert_int_eq(rec_wait(2, 10), 1); /* only the authorised call ran */
}
END_TEST

START_TEST(test_configured_key_without_registration)
{
    ck_assert_int_eq(acp_server_set_backend(srv, ""), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_api_key(srv, "local-key"), AGENTEX_OK);
    start_server(srv);
    ck_assert_str_eq(acp_server_api_key(srv), "local-key");
    char *b = event_body("3", TASK_ID, "k");
    rpc_expect(b, good_key, ERR(-32601, "Unauthorized", "3"));
    const char *const hk[] = {"X-Agent-Api-Key: local-key", NULL};
    rpc_expect(b, hk, ACK("3"));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
}
END_TEST

START_TEST(test_auth_check_off)
{
    ck_assert_int_eq(acp_server_set_auth_check(srv, false), AGENTEX_OK);
    start_server(srv);
    char *b = event_body("7", TASK_ID, "open");
    rpc_expect(b, NULL, ACK("7"));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
}
END_TEST

START_TEST(test_bad_input)
{
    ck_assert_int_eq(acp_server_set_max_body(srv, 4096), AGENTEX_OK);
    start_server(srv);
    resp_t r;
    ck_assert_int_eq(http("POST", "/api", "not json", 8, good_key, &r), 200);
    ck_assert_ptr_nonnull(strstr(r.body.data, "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":"
                                              "{\"code\":-32700,\"message\":\"Parse error"));
    ck_assert_ptr_nonnull(strstr(r.body.data, "\"data\":null},\"id\":null}"));
    resp_free(&r);
    rpc_expect("[1,2]", good_key,
               ERR(-32600, "Invalid Request: the body must be a JSON object", "null"));
    rpc_expect("{\"jsonrpc\":\"2.0\",\"params\":{},\"id\":3}", good_key,
               ERR(-32600, "Invalid Request: method must be a string", "3"));
    rpc_expect("{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":[1],\"id\":4}", good_key,
               ERR(-32602, "Invalid params: params must be an object", "4"));
    rpc_expect("{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"id\":4}", good_key,
               ERR(-32602, "Invalid params: params must be an object", "4"));
    rpc_expect("{\"jsonrpc\":\"2.0\",\"method\":\"task/approve\",\"params\":{},\"id\":7}", good_key,
               ERR(-32601, "Method task/approve not found", "7"));
    /* a known method without a handler */
    char *b = simple_body("task/interrupt", ID_INTERRUPT, TASK_ID);
    rpc_expect(b, good_key, ERR(-32601, "Method task/interrupt not found", ID_INTERRUPT));
    free(b);
    /* protocol 8.6: event/send with only a task */
    rpc_expect("{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":{\"task\":{\"id\":"
               "\"x\"}},\"id\":8}",
               good_key, ERR(-32602, "Invalid params: params.agent must be an object", "8"));
    rpc_expect("{\"jsonrpc\":\"2.0\",\"method\":\"task/cancel\",\"params\":{\"agent\":" AGENT_JSON
               ",\"task\":{\"name\":\"x\"}},\"id\":9}",
               good_key,
               ERR(-32602, "Invalid params: params.task.id must be a non-empty string", "9"));
    rpc_expect("{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":{\"agent\":" AGENT_JSON
               ",\"task\":{\"id\":\"t\"}},\"id\":10}",
               good_key, ERR(-32602, "Invalid params: params.event must be an object", "10"));
    rpc_expect("{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"params\":{\"agent\":" AGENT_JSON
               ",\"task\":{\"id\":\"t\"},\"params\":5},\"id\":11}",
               good_key,
               ERR(-32602, "Invalid params: params.params must be an object or null", "11"));
    /* too big: 413 before any parsing */
    size_t big = 8192;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, "{\"a\":1}", 7);
    huge[big] = '\0';
    ck_assert_int_eq(http("POST", "/api", huge, big, good_key, &r), 413);
    resp_free(&r);
    free(huge);
    /* and the server still works afterwards */
    b = simple_body("task/create", "1", TASK_ID);
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    msleep(50);
    ck_assert_int_eq(rec_wait(2, 10), 1); /* no handler ran for the bad ones */
}
END_TEST

/* ---- ordering, concurrency, cancellation, shutdown ---- */

START_TEST(test_1000_events_50_tasks_in_order)
{
    ck_assert_int_eq(acp_server_set_workers(srv, 8), AGENTEX_OK);
    start_server(srv);
    int seq[50] = {0};
    for (int i = 0; i < 1000; i++) {
        int t = (i * 7) % 50;
        char tid[64], text[32], id[96];
        snprintf(tid, sizeof tid, "task-%02d", t);
        snprintf(text, sizeof text, "%d:%d", t, ++seq[t]);
        snprintf(id, sizeof id, "\"AgentRPCMethod.EVENT_SEND-%s\"", tid);
        char *b = event_body(id, tid, text);
        char expect[256];
        snprintf(expect, sizeof expect, ACK("%s"), id);
        rpc_expect(b, good_key, expect);
        free(b);
    }
    ck_assert_int_eq(rec_wait(1000, 9000), 1000);
    pthread_mutex_lock(&R.mu);
    ck_assert_int_eq(R.order_errors, 0);
    for (int t = 0; t < 50; t++)
        ck_assert_int_eq(R.last_seq[t], 20);
    pthread_mutex_unlock(&R.mu);
}
END_TEST

START_TEST(test_per_task_serial_concurrent_parallel)
{
    /* default: two events of one task never overlap */
    R.sleep_ms = 30;
    start_server(srv);
    for (int i = 0; i < 6; i++) {
        char *b = event_body("1", TASK_ID, "x");
        rpc_expect(b, good_key, ACK("1"));
        free(b);
    }
    ck_assert_int_eq(rec_wait(6, 5000), 6);
    ck_assert_int_eq(atomic_load(&R.max_running), 1);
}
END_TEST

START_TEST(test_concurrent_mode)
{
    ck_assert_int_eq(acp_server_set_delivery(srv, ACP_DELIVERY_CONCURRENT), AGENTEX_OK);
    start_server(srv);
    /* the first handler waits for the second one of the same task: only possible when
     * they run at the same time */
    char *b = event_body("1", TASK_ID, "block-until-released");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    b = event_body("2", TASK_ID, "release");
    rpc_expect(b, good_key, ACK("2"));
    free(b);
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    ck_assert_str_eq(R.r[0].text, "release");
    ck_assert_str_eq(R.r[1].text, "block-until-released");
    ck_assert_int_eq(atomic_load(&R.max_running), 2);
}
END_TEST

START_TEST(test_cancellation)
{
    use_path(_i);
    start_server(srv);
    /* a running handler, one queued behind it, then task/cancel */
    char *b = event_body(ID_EVENT, TASK_ID, "block-until-cancel");
    rpc_expect(b, good_key, ACK(ID_EVENT));
    free(b);
    b = event_body(ID_EVENT, TASK_ID, "queued");
    rpc_expect(b, good_key, ACK(ID_EVENT));
    free(b);
    /* another task is not affected */
    b = event_body(ID_EVENT, "other-task", "elsewhere");
    rpc_expect(b, good_key, ACK(ID_EVENT));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    ck_assert_str_eq(R.r[0].text, "elsewhere");
    ck_assert(!R.r[0].cancelled);
    b = simple_body("task/cancel", ID_CANCEL, TASK_ID);
    rpc_expect(b, good_key, ACK(ID_CANCEL));
    free(b);
    ck_assert_int_eq(rec_wait(4, 8000), 4);
    ck_assert_str_eq(R.r[1].text, "block-until-cancel");
    ck_assert(R.r[1].cancelled); /* seen by the running handler */
    ck_assert_str_eq(R.r[2].text, "queued");
    ck_assert(R.r[2].cancelled);                    /* and by the queued one */
    ck_assert_str_eq(R.r[3].method, "task/cancel"); /* the cancel handler runs last */
    ck_assert(R.r[3].cancelled);
}
END_TEST

START_TEST(test_graceful_shutdown_runs_acknowledged)
{
    R.sleep_ms = 20;
    start_server(srv);
    for (int i = 0; i < 30; i++) {
        char tid[32];
        snprintf(tid, sizeof tid, "t%d", i % 3);
        char *b = event_body("1", tid, "work");
        rpc_expect(b, good_key, ACK("1"));
        free(b);
    }
    ck_assert_int_lt(rec_wait(0, 0), 30); /* work is still in flight */
    acp_server_stop(srv);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);
    ck_assert_int_eq(rec_wait(30, 0), 30); /* every acknowledged handler ran */
    ck_assert_int_eq(acp_server_port(srv), 0);
    /* and it can serve again */
    start_server(srv);
    char *b = event_body("1", "t", "again");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    ck_assert_int_eq(rec_wait(31, 5000), 31);
}
END_TEST

START_TEST(test_requests_refused_while_draining)
{
    start_server(srv);
    char *b = event_body("1", "slow-task", "block-until-released");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    for (int i = 0; i < 200 && atomic_load(&R.running) == 0; i++)
        msleep(10);
    acp_server_stop(srv);
    /* until the service thread sees the stop, requests are still acknowledged (and
     * will run); then they are refused without an ack */
    int acked = 0;
    bool refused = false;
    b = event_body("2", "late-task", "late");
    for (int i = 0; i < 200 && !refused; i++) {
        resp_t r;
        ck_assert_int_eq(http("POST", "/api", b, strlen(b), good_key, &r), 200);
        if (strcmp(r.body.data, ACK("2")) == 0)
            acked++;
        else {
            ck_assert_str_eq(r.body.data, ERR(-32603, "Server is shutting down", "2"));
            refused = true;
        }
        resp_free(&r);
    }
    free(b);
    ck_assert(refused);
    atomic_store(&R.release, true);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);
    ck_assert_int_eq(rec_wait(0, 0), 1 + acked); /* every acknowledged one ran */
}
END_TEST

/* ---- backpressure (acp_server_set_max_pending) ---- */

typedef struct poster {
    char url[128];
    char *body;
    fixed_t reply;
    atomic_bool done;
    pthread_t th;
} poster_t;

static void *poster_main(void *arg)
{
    poster_t *p = arg;
    CURL *c = curl_easy_init();
    if (c) {
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        h = curl_slist_append(h, "x-agent-api-key: " KEY);
        curl_easy_setopt(c, CURLOPT_URL, p->url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, p->body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_fixed);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &p->reply);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 8000L);
        (void)curl_easy_perform(c);
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
    }
    atomic_store(&p->done, true);
    return NULL;
}

static void poster_start(poster_t *p, const char *id, const char *task, const char *text)
{
    memset(p, 0, sizeof *p);
    snprintf(p->url, sizeof p->url, "%s/api", base);
    p->body = event_body(id, task, text);
    atomic_init(&p->done, false);
    ck_assert_int_eq(pthread_create(&p->th, NULL, poster_main, p), 0);
}

static void poster_join(poster_t *p)
{
    pthread_join(p->th, NULL);
    free(p->body);
}

START_TEST(test_max_pending_holds_acks)
{
    use_path(_i);
    ck_assert_int_eq(acp_server_set_max_pending(srv, 0), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_max_pending(NULL, 2), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_max_pending(srv, 2), AGENTEX_OK);
    start_server(srv);
    ck_assert_int_eq(acp_server_set_max_pending(srv, 8), AGENTEX_ESTATE);
    /* a blocked handler and one queued behind it in the task's mailbox: the limit */
    char *b = event_body("1", TASK_ID, "block-until-released");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    for (int i = 0; i < 200 && atomic_load(&R.running) == 0; i++)
        msleep(10);
    b = event_body("2", TASK_ID, "0:1");
    rpc_expect(b, good_key, ACK("2"));
    free(b);
    /* more requests, on other connections and for other tasks too, are held */
    poster_t p3, p4;
    poster_start(&p3, "3", TASK_ID, "0:2");
    msleep(50);
    poster_start(&p4, "4", "other-task", "1:1");
    msleep(400);
    ck_assert(!atomic_load(&p3.done));
    ck_assert(!atomic_load(&p4.done));
    ck_assert_int_eq(rec_wait(0, 0), 0);
    /* the health check is not held */
    resp_t r;
    ck_assert_int_eq(http("GET", "/healthz", NULL, 0, NULL, &r), 200);
    resp_free(&r);
    atomic_store(&R.release, true);
    poster_join(&p3);
    poster_join(&p4);
    ck_assert_str_eq(p3.reply.data, ACK("3"));
    ck_assert_str_eq(p4.reply.data, ACK("4"));
    /* every acknowledged handler runs, the task's in arrival order */
    ck_assert_int_eq(rec_wait(4, 5000), 4);
    ck_assert_int_eq(R.order_errors, 0);
    ck_assert_int_eq(R.last_seq[0], 2);
    ck_assert_int_eq(R.last_seq[1], 1);
}
END_TEST

/* Held requests are admitted in batches (see acp_server(3), Backpressure); a slot freed
 * while the handlers that hold the others do not finish still admits a held request,
 * within one sweep of the server (1 s here), not when the batch is complete. */
START_TEST(test_max_pending_slot_freed_admits_held)
{
    ck_assert_int_eq(acp_server_set_max_pending(srv, 32), AGENTEX_OK);
    start_server(srv);
    /* 31 handlers for one task, the first blocked (the others wait in its mailbox) ... */
    char id[16], *b = event_body("1", TASK_ID, "block-until-released");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    for (int i = 2; i <= 31; i++) {
        snprintf(id, sizeof id, "%d", i);
        b = event_body(id, TASK_ID, "x");
        char ack[128];
        snprintf(ack, sizeof ack, ACK("%d"), i);
        rpc_expect(b, good_key, ack);
        free(b);
    }
    /* ... and one for another task, blocked too: the limit */
    b = event_body("32", "other-task", "block-until-released-2");
    rpc_expect(b, good_key, ACK("32"));
    free(b);
    for (int i = 0; i < 200 && atomic_load(&R.running) < 2; i++)
        msleep(10);
    ck_assert_int_eq(atomic_load(&R.running), 2);
    poster_t p1, p2;
    poster_start(&p1, "33", "third-task", "x");
    poster_start(&p2, "34", "fourth-task", "x");
    msleep(300);
    ck_assert(!atomic_load(&p1.done));
    ck_assert(!atomic_load(&p2.done));
    /* one slot frees (two held would make a batch); the first task stays blocked */
    atomic_store(&R.release2, true);
    for (int i = 0; i < 300 && !(atomic_load(&p1.done) && atomic_load(&p2.done)); i++)
        msleep(10);
    ck_assert_msg(atomic_load(&p1.done) && atomic_load(&p2.done),
                  "held requests not admitted within 3 s of a slot freeing");
    ck_assert_int_eq(atomic_load(&R.running), 1);
    atomic_store(&R.release, true);
    poster_join(&p1);
    poster_join(&p2);
    ck_assert_str_eq(p1.reply.data, ACK("33"));
    ck_assert_str_eq(p2.reply.data, ACK("34"));
    ck_assert_int_eq(rec_wait(34, 5000), 34);
}
END_TEST

/* true when a TCP connection to addr:port succeeds */
static bool can_connect(const char *addr, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    ck_assert_int_eq(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* Handlers run below the service thread's priority by ACP_DEFAULT_WORKER_NICE, by what
 * acp_server_set_worker_nice says, or by ACP_WORKER_NICE; a bad value is refused. */
START_TEST(test_worker_nice)
{
    int nice0 = getpriority(PRIO_PROCESS, 0); /* the pool inherits this thread's */
    int add = ACP_DEFAULT_WORKER_NICE;
    ck_assert_int_eq(acp_server_set_worker_nice(srv, -1), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_worker_nice(srv, 20), AGENTEX_EINVAL);
    ck_assert_int_eq(acp_server_set_worker_nice(NULL, 1), AGENTEX_EINVAL);
    if (_i == 1) {
        ck_assert_int_eq(acp_server_set_worker_nice(srv, 0), AGENTEX_OK);
        add = 0;
    } else if (_i >= 2) { /* from the environment: a good value, then a bad one */
        ck_assert_int_eq(acp_server_free(srv), AGENTEX_OK);
        setenv("ACP_WORKER_NICE", _i == 2 ? "3" : "20", 1);
        ck_assert_int_eq(acp_server_new(&srv), AGENTEX_OK);
        server_config(srv, true);
        add = _i == 2 ? 3 : ACP_DEFAULT_WORKER_NICE;
    }
    start_server(srv);
    ck_assert_int_eq(acp_server_set_worker_nice(srv, 1), AGENTEX_ESTATE);
    char *b = event_body("1", TASK_ID, "x");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    int want = nice0 + add > 19 ? 19 : nice0 + add;
    ck_assert_int_eq(R.r[0].nice, want);
    ck_assert_int_eq(getpriority(PRIO_PROCESS, 0), nice0); /* the caller's is untouched */
}
END_TEST

START_TEST(test_listen_host_from_env)
{
    /* default: every interface, so another loopback address reaches it too */
    server_config(srv, false);
    ck_assert_int_eq(acp_server_set_listen(srv, "0.0.0.0", 0), AGENTEX_OK);
    start_server(srv);
    ck_assert(can_connect("127.0.0.2", acp_server_port(srv)));
    acp_server_stop(srv);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);
    ck_assert_int_eq(acp_server_free(srv), AGENTEX_OK);

    /* ACP_HOST=127.0.0.1: that address only; acp_server_set_listen would override it */
    setenv("ACP_HOST", "127.0.0.1", 1);
    setenv("ACP_PORT", "0", 1);
    ck_assert_int_eq(acp_server_new(&srv), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_agent(srv, "demo-agent", NULL, "async"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_backend(srv, ""), AGENTEX_OK);
    start_server(srv);
    ck_assert(can_connect("127.0.0.1", acp_server_port(srv)));
    ck_assert(!can_connect("127.0.0.2", acp_server_port(srv)));
}
END_TEST

START_TEST(test_max_pending_held_refused_on_stop)
{
    /* the limit from the environment (1); a bad value is ignored with a warning */
    ck_assert_int_eq(acp_server_free(srv), AGENTEX_OK);
    setenv("ACP_MAX_PENDING", "-3", 1);
    ck_assert_int_eq(acp_server_new(&srv), AGENTEX_OK);
    ck_assert_int_eq(acp_server_free(srv), AGENTEX_OK);
    setenv("ACP_MAX_PENDING", "1", 1);
    ck_assert_int_eq(acp_server_new(&srv), AGENTEX_OK);
    unsetenv("ACP_MAX_PENDING");
    server_config(srv, true);
    start_server(srv);
    char *b = event_body("1", TASK_ID, "block-until-released");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    poster_t p2;
    poster_start(&p2, "2", "other-task", "held");
    msleep(300);
    ck_assert(!atomic_load(&p2.done));
    /* stopping: the held request was never acknowledged, so it is refused, not run */
    acp_server_stop(srv);
    poster_join(&p2);
    ck_assert_str_eq(p2.reply.data, ERR(-32603, "Server is shutting down", "2"));
    atomic_store(&R.release, true);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);
    ck_assert_int_eq(rec_wait(0, 0), 1);
}
END_TEST

static void *run_main(void *arg)
{
    static agentex_err_t rc;
    rc = acp_server_run(arg);
    return &rc;
}

START_TEST(test_run_stops_on_sigterm)
{
    ck_assert_int_eq(acp_server_set_listen(srv, "127.0.0.1", 0), AGENTEX_OK);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, run_main, srv), 0);
    /* the port is published as soon as it is bound; /healthz answers once serving */
    for (int i = 0; i < 500 && acp_server_port(srv) == 0; i++)
        msleep(10);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", acp_server_port(srv));
    resp_t r;
    ck_assert_int_eq(http("GET", "/healthz", NULL, 0, NULL, &r), 200);
    ck_assert_str_eq(r.body.data, "{\"status\":\"healthy\",\"agent_id\":\"" AGENT_ID "\"}");
    resp_free(&r);
    char *b = event_body("1", TASK_ID, "before signal");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    kill(getpid(), SIGTERM);
    void *res = NULL;
    pthread_join(th, &res);
    ck_assert_int_eq(*(agentex_err_t *)res, AGENTEX_OK);
    ck_assert_int_eq(rec_wait(1, 0), 1);
}
END_TEST

static agentex_err_t on_event_free(acp_ctx_t *ctx, const adk_task_t *task, const adk_event_t *ev,
                                   void *ud)
{
    (void)ev;
    rec_t r;
    fill_rec(ctx, task, &r);
    r.seq = (int)acp_server_free(ud);
    r.cancelled = acp_reply_done(ctx, 0) == AGENTEX_ESTATE;
    rec_add(&r);
    return AGENTEX_OK;
}

START_TEST(test_free_inside_handler_refused)
{
    ck_assert_int_eq(acp_server_on_event_send(srv, on_event_free, srv), AGENTEX_OK);
    start_server(srv);
    ck_assert_int_eq(acp_server_set_workers(srv, 3), AGENTEX_ESTATE); /* running */
    char *b = event_body("1", TASK_ID, "x");
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    ck_assert_int_eq(R.r[0].seq, AGENTEX_ESTATE);
    ck_assert(R.r[0].cancelled); /* acp_reply_* outside message/send: ESTATE */
    ck_assert_int_eq(acp_server_start(srv), AGENTEX_ESTATE); /* already running */
}
END_TEST

/* ---- message/send ---- */

static char *message_body(const char *id_json, const char *text)
{
    agx_buf_t b;
    agx_buf_init(&b);
    agx_buf_printf(
        &b,
        "{\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{\"agent\":" AGENT_JSON
        ",\"task\":" TASK_JSON ",\"content\":{\"type\":\"text\","
        "\"author\":\"user\",\"style\":\"static\",\"format\":\"plain\",\"content\":"
        "\"%s\",\"attachments\":null},\"stream\":true}%s%s}",
        text, id_json ? ",\"id\":" : "", id_json ? id_json : "");
    return agx_buf_steal(&b);
}

START_TEST(test_message_send_ndjson)
{
    start_server(srv);
    char *b = message_body(ID_MESSAGE, "hi");
    const char *const hdrs[] = {"x-agent-api-key: " KEY, "Accept: text/event-stream", NULL};
    resp_t r;
    ck_assert_int_eq(http("POST", "/api", b, strlen(b), hdrs, &r), 200);
    free(b);
    ck_assert_ptr_nonnull(ci_contains(r.head.data, "content-type: application/x-ndjson"));
    ck_assert_ptr_nonnull(ci_contains(r.head.data, "cache-control: no-cache"));
    ck_assert_ptr_nonnull(ci_contains(r.head.data, "x-accel-buffering: no"));
    /* four lines (protocol 8.5) */
    char *lines[8] = {0};
    int n = 0;
    for (char *save = NULL, *l = strtok_r(r.body.data, "\n", &save); l && n < 8;
         l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(r.body.data[r.body.len - 1], '\0'); /* strtok replaced the last \n */
    cJSON *first = cJSON_Parse(lines[0]);
    cJSON *want = cJSON_Parse(
        "{\"jsonrpc\":\"2.0\",\"result\":{\"content\":{\"author\":\"agent\",\"content\":\"\","
        "\"attachments\":null,\"format\":\"markdown\",\"style\":\"static\",\"type\":\"text\"},"
        "\"index\":0,\"parent_task_message\":null,\"type\":\"start\"},\"error\":null,"
        "\"id\":" ID_MESSAGE "}");
    ck_assert_msg(cJSON_Compare(first, want, true), "line 1: %s", lines[0]);
    cJSON_Delete(first);
    cJSON_Delete(want);
    ck_assert_str_eq(lines[1], "{\"jsonrpc\":\"2.0\",\"result\":{\"delta\":{\"text_delta\":"
                               "\"Hel\",\"type\":\"text\"},\"index\":0,\"parent_task_message\":"
                               "null,\"type\":\"delta\"},\"error\":null,\"id\":" ID_MESSAGE "}");
    ck_assert_str_eq(lines[2], "{\"jsonrpc\":\"2.0\",\"result\":{\"delta\":{\"text_delta\":"
                               "\"lo\",\"type\":\"text\"},\"index\":0,\"parent_task_message\":"
                               "null,\"type\":\"delta\"},\"error\":null,\"id\":" ID_MESSAGE "}");
    ck_assert_str_eq(lines[3], "{\"jsonrpc\":\"2.0\",\"result\":{\"index\":0,"
                               "\"parent_task_message\":null,\"type\":\"done\"},\"error\":null,"
                               "\"id\":" ID_MESSAGE "}");
    resp_free(&r);
    ck_assert_int_eq(rec_wait(1, 1000), 1);
    ck_assert_str_eq(R.r[0].method, "message/send");
    ck_assert_str_eq(R.r[0].text, "hi");
}
END_TEST

START_TEST(test_message_send_errors)
{
    start_server(srv);
    /* handler failure after one line: a final error line with the ctx message */
    char *b = message_body(ID_MESSAGE, "fail");
    resp_t r;
    ck_assert_int_eq(http("POST", "/api", b, strlen(b), good_key, &r), 200);
    free(b);
    char *nl = strchr(r.body.data, '\n');
    ck_assert_ptr_nonnull(nl);
    ck_assert_str_eq(nl + 1, ERR(-32603, "model unavailable", ID_MESSAGE) "\n");
    resp_free(&r);
    /* AGENTEX_EINVAL: -32602 with agentex_strerror's text */
    b = message_body("5", "bad");
    ck_assert_int_eq(http("POST", "/api", b, strlen(b), good_key, &r), 200);
    free(b);
    ck_assert_str_eq(r.body.data, ERR(-32602, "invalid argument", "5") "\n");
    resp_free(&r);
    /* notification form: the handler runs to completion, the body is null */
    b = message_body(NULL, "hi");
    ck_assert_int_eq(http("POST", "/api", b, strlen(b), good_key, &r), 200);
    free(b);
    ck_assert_str_eq(r.body.data, "null");
    resp_free(&r);
    ck_assert_int_eq(rec_wait(3, 1000), 3);
    /* without a handler: -32601 like the others */
    ck_assert_int_eq(acp_server_on_message_send(srv, NULL, NULL), AGENTEX_OK);
    b = message_body("6", "hi");
    rpc_expect(b, good_key, ERR(-32601, "Method message/send not found", "6"));
    free(b);
}
END_TEST

/* ---- the example programs, run as child processes against the fake backend ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t example_pid;

/* Starts build/<variant>/examples/<name> registered with the fake backend; waits until
 * /healthz shows the agent id. */
static void example_start(const char *name, const char *type)
{
    const char *dir = getenv("AGX_BUILD_DIR");
    char path[512], port[16];
    snprintf(path, sizeof path, "%s/examples/%s", dir ? dir : "build/asan", name);
    ck_assert_msg(access(path, X_OK) == 0, "%s not built", path);
    int p = free_port();
    snprintf(port, sizeof port, "%d", p);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", p);
    example_pid = fork();
    ck_assert_int_ge(example_pid, 0);
    if (example_pid == 0) {
        setenv("AGENT_NAME", "demo-agent", 1);
        setenv("ACP_URL", "http://127.0.0.1", 1);
        setenv("ACP_PORT", port, 1);
        setenv("ACP_HOST", "127.0.0.1", 1);
        setenv("ACP_TYPE", type, 1);
        setenv("AGENTEX_BASE_URL", fake_backend_url(fb), 1);
        setenv("AGENTEX_LOG_LEVEL", "error", 1);
        execl(path, name, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300; i++) {
        msleep(20);
        curl_easy_reset(curl);
        char url[128];
        snprintf(url, sizeof url, "%s/healthz", base);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 500L);
        if (curl_easy_perform(curl) == CURLE_OK)
            return;
    }
    ck_abort_msg("%s did not come up", name);
}

/* SIGTERM; the example must drain and exit 0. */
static void example_stop(void)
{
    ck_assert_int_eq(kill(example_pid, SIGTERM), 0);
    int status = 0;
    ck_assert_int_eq(waitpid(example_pid, &status, 0), example_pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status %d", status);
}

/* The first recorded request to method+path at or after index from; NULL if none. */
static const fake_request_t *find_req(const char *method, const char *path, size_t from, size_t *at)
{
    for (size_t i = from; i < fake_backend_count(fb); i++) {
        const fake_request_t *q = fake_backend_request(fb, i);
        if (strcmp(q->method, method) == 0 && strcmp(q->path, path) == 0) {
            if (at)
                *at = i;
            return q;
        }
    }
    return NULL;
}

static const fake_request_t *wait_req(const char *method, const char *path, size_t from)
{
    for (int i = 0; i < 250; i++) {
        const fake_request_t *q = find_req(method, path, from, NULL);
        if (q)
            return q;
        msleep(20);
    }
    return NULL;
}

/* ---- the backend version guard ---- */

START_TEST(test_version_older_table)
{
    static const struct {
        const char *v;
        int want;
    } T[] = {
        {"0.1.0", 0},
        {"0.1.1", 0},
        {"0.2.0+build.7", 0},
        {"1.0.0-rc.1", 0},
        {"10.0.0", 0},
        {"0.0.9", -1},
        {"0.1.0-rc.1", -1},
        {"0.0.0", -1},
        {"0.01.0", -2},
        {"v0.1.0", -2},
        {"0.1", -2},
        {"", -2},
        {"0.1.0-", -2},
        {"0.1.0x", -2},
        {"0.1.0.0", -2},
        {"latest", -2},
        {"99999999999999999999.0.0", -2},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        ck_assert_msg(agx_acp_version_older(T[i].v) == T[i].want, "'%s': %d, want %d", T[i].v,
                      agx_acp_version_older(T[i].v), T[i].want);
}
END_TEST

/* An older backend stops the start before registration, with a message naming the
 * versions; AGENTEX_SKIP_VERSION_CHECK skips the check; an answer that is not SemVer
 * (or no answer) only warns. */
START_TEST(test_version_guard)
{
    unsetenv("AGENTEX_SKIP_VERSION_CHECK");
    fake_backend_push(fb, 200,
                      "{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"x\",\"version\":\"0.0.9\"}}");
    agentex_err_t err = acp_server_start(srv);
    ck_assert_int_eq(err, AGENTEX_EPROTO);
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(srv), fake_backend_url(fb)));
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(srv), "is version 0.0.9, older than 0.1.0"));
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(srv), "AGENTEX_SKIP_VERSION_CHECK=1"));
    ck_assert_uint_eq(fake_backend_count(fb), 1);
    const fake_request_t *q = fake_backend_request(fb, 0);
    ck_assert_str_eq(q->method, "GET");
    ck_assert_str_eq(q->path, "/openapi.json");

    /* not SemVer: a warning, then registration */
    fake_backend_push(fb, 200, "{\"info\":{\"version\":\"nightly\"}}");
    start_server(srv);
    ck_assert_str_eq(fake_backend_request(fb, 1)->path, "/openapi.json");
    ck_assert_str_eq(fake_backend_request(fb, 2)->path, "/agents/register");
    acp_server_stop(srv);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);

    /* a new enough backend: registration follows */
    fake_backend_push(fb, 200, "{\"info\":{\"version\":\"0.1.0\"}}");
    start_server(srv);
    ck_assert_str_eq(fake_backend_request(fb, 4)->path, "/agents/register");
    acp_server_stop(srv);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);

    /* skipped: straight to registration */
    setenv("AGENTEX_SKIP_VERSION_CHECK", "on", 1);
    size_t n = fake_backend_count(fb);
    start_server(srv);
    ck_assert_str_eq(fake_backend_request(fb, n)->path, "/agents/register");
}
END_TEST

/* ---- auto-cursor ---- */

#define EVJ(id, seq, text)                                                                         \
    "{\"id\":\"" id "\",\"sequence_id\":" #seq ",\"task_id\":\"" TASK_ID                           \
    "\",\"agent_id\":\"" AGENT_ID                                                                  \
    "\",\"created_at\":\"2026-03-01T09:06:10.500000Z\",\"content\":{\"type\":\"text\","            \
    "\"author\":\"user\",\"style\":\"static\",\"format\":\"plain\",\"content\":\"" text "\","      \
    "\"attachments\":null}}"
#define TRACKER_AT(cursor)                                                                         \
    "{\"id\":\"trk-1\",\"agent_id\":\"" AGENT_ID "\",\"task_id\":\"" TASK_ID "\",\"status\":"      \
    "\"BUSY\",\"status_reason\":\"kept\",\"last_processed_event_id\":" cursor ",\"created_at\":"   \
    "\"2026-03-01T09:05:00.123456Z\",\"updated_at\":\"2026-03-01T09:05:00.123456Z\"}"

/* Sends the event/send request the backend sends for the event EVJ(ev_id, seq, text)
 * and checks the acknowledgement. */
static void send_event_at(const char *ev_id, const char *seq, const char *text)
{
    char *b = event_body_full(ID_EVENT, TASK_ID, ev_id, seq, text);
    rpc_expect(b, good_key, ACK(ID_EVENT));
    free(b);
}

/* The requests to method+path recorded from index from on. */
static size_t count_req(const char *method, const char *path, size_t from)
{
    size_t n = 0, at = from;
    while (find_req(method, path, at, &at)) {
        n++;
        at++;
    }
    return n;
}

/* Routes of a backend whose tracker has no cursor yet and whose task has two events;
 * auto-cursor on, started; returns once the start-up catch-up listed the tasks. */
static void auto_cursor_start_with(const char *running_json, const char *interrupted_json,
                                   const char *events_json)
{
    fake_backend_route(fb, "GET", "/tasks?status=INTERRUPTED", 200, interrupted_json);
    fake_backend_route(fb, "GET", "/tasks", 200, running_json);
    fake_backend_route(fb, "GET", "/tracker/", 200, TRACKER_AT("null"));
    fake_backend_route(fb, "GET", "/tracker", 200, "[" TRACKER_AT("null") "]");
    fake_backend_route(fb, "GET", "/events", 200, events_json);
    fake_backend_route(fb, "PUT", "/tracker/", 200, TRACKER_AT("\"ev-2\""));
    ck_assert_int_eq(acp_server_set_auto_cursor(srv, true), AGENTEX_OK);
    start_server(srv);
    /* the start-up catch-up lists the tasks that can still get events, one status a call */
    const fake_request_t *q = wait_req("GET", "/tasks", 0);
    ck_assert_ptr_nonnull(q);
    ck_assert_str_eq(q->query, "agent_id=" AGENT_ID "&status=RUNNING&limit=100&page_number=1"
                               "&order_by=created_at&order_direction=asc");
    size_t at = 0;
    ck_assert_ptr_nonnull(find_req("GET", "/tasks", 0, &at));
    q = wait_req("GET", "/tasks", at + 1);
    ck_assert_ptr_nonnull(q);
    ck_assert_str_eq(q->query, "agent_id=" AGENT_ID "&status=INTERRUPTED&limit=100&page_number=1"
                               "&order_by=created_at&order_direction=asc");
}

static void auto_cursor_start(const char *tasks_json)
{
    auto_cursor_start_with(tasks_json, "[]",
                           "[" EVJ("ev-1", 10, "first") "," EVJ("ev-2", 11, "second") "]");
}

/* The n-th PUT /tracker/trk-1 from index from on moved the cursor to ev_id and sent the
 * status read just before it back (the backend overwrites it on every PUT). */
static void assert_cursor_put(size_t from, int n, const char *ev_id)
{
    size_t at = from;
    const fake_request_t *q = NULL;
    for (int i = 0; i <= n; i++) {
        q = find_req("PUT", "/tracker/trk-1", at, &at);
        ck_assert_msg(q != NULL, "PUT %d of the cursor missing", i);
        at++;
    }
    char want[160];
    snprintf(want, sizeof want,
             "{\"last_processed_event_id\":\"%s\",\"status\":\"BUSY\",\"status_reason\":\"kept\"}",
             ev_id);
    ck_assert_str_eq(q->body, want);
}

/* The backend delivers ev-2 before ev-1 (concurrent event/send calls): the handler still
 * gets ev-1 then ev-2, the cursor follows, and ev-1 arriving later is skipped. */
START_TEST(test_auto_cursor_order_and_dedupe)
{
    auto_cursor_start("[]");
    size_t base_n = fake_backend_count(fb);
    send_event_at("ev-2", "11", "second");
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    ck_assert_str_eq(R.r[0].event_id, "ev-1");
    ck_assert_str_eq(R.r[0].text, "first");
    ck_assert_str_eq(R.r[0].request, "null"); /* listed, not requested: no headers */
    ck_assert_str_eq(R.r[0].tag, "");
    ck_assert_str_eq(R.r[1].event_id, "ev-2");
    ck_assert_ptr_nonnull(strstr(R.r[1].request, "5f0c3d2b")); /* its own request's headers */
    ck_assert_ptr_nonnull(wait_req("PUT", "/tracker/trk-1", base_n));
    for (int i = 0; i < 250 && count_req("PUT", "/tracker/trk-1", base_n) < 2; i++)
        msleep(20);
    ck_assert_uint_eq(count_req("PUT", "/tracker/trk-1", base_n), 2);
    assert_cursor_put(base_n, 0, "ev-1");
    assert_cursor_put(base_n, 1, "ev-2");
    const fake_request_t *q = find_req("GET", "/events", base_n, NULL);
    ck_assert_str_eq(q->query, "task_id=" TASK_ID "&agent_id=" AGENT_ID "&limit=100");
    ck_assert_uint_eq(count_req("GET", "/tracker", base_n), 1); /* read once per run */

    /* ev-1's own delivery comes late: the tracker is past it, the list is empty */
    msleep(200); /* the task's jobs are done: its next job reads the tracker again */
    size_t mid = fake_backend_count(fb);
    fake_backend_push(fb, 200, "[" TRACKER_AT("\"ev-2\"") "]");
    fake_backend_push(fb, 200, "[]");
    send_event_at("ev-1", "10", "first");
    ck_assert_uint_ge(fake_backend_wait(fb, mid + 2, 5000), mid + 2);
    q = find_req("GET", "/events", mid, NULL);
    ck_assert_ptr_nonnull(q);
    ck_assert_str_eq(q->query, "task_id=" TASK_ID "&agent_id=" AGENT_ID
                               "&last_processed_event_id=ev-2&limit=100");
    msleep(200);
    ck_assert_int_eq(rec_wait(3, 10), 2); /* not handled again */
    ck_assert_uint_eq(count_req("PUT", "/tracker/trk-1", mid), 0);
}
END_TEST

/* A burst: ev-2 and then ev-1 queued while the first job runs.  The first job handles
 * both from the list; the second finds its event behind the cursor it knows and asks
 * the backend nothing. */
START_TEST(test_auto_cursor_burst_skips_handled)
{
    auto_cursor_start("[]");
    size_t base_n = fake_backend_count(fb);
    R.sleep_ms = 100;
    send_event_at("ev-2", "11", "second");
    send_event_at("ev-1", "10", "first");
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    msleep(400);
    ck_assert_int_eq(rec_wait(3, 10), 2);
    ck_assert_str_eq(R.r[0].event_id, "ev-1");
    ck_assert_str_eq(R.r[1].event_id, "ev-2");
    ck_assert_uint_eq(count_req("GET", "/tracker", base_n), 1);
    ck_assert_uint_eq(count_req("GET", "/events", base_n), 1);
    ck_assert_uint_eq(count_req("PUT", "/tracker/trk-1", base_n), 2);
}
END_TEST

/* When the tracker cannot be read, the request's own event still reaches the handler
 * (the option never delivers less than the plain mode); nothing else is delivered and
 * the cursor does not move. */
START_TEST(test_auto_cursor_tracker_unreadable_delivers_own)
{
    auto_cursor_start("[]");
    size_t base_n = fake_backend_count(fb);
    fake_backend_push(fb, 404, "{\"message\":\"no tracker\",\"code\":404,\"data\":null}");
    send_event_at("ev-2", "11", "second");
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    ck_assert_str_eq(R.r[0].event_id, "ev-2");
    ck_assert_ptr_nonnull(strstr(R.r[0].request, "5f0c3d2b")); /* with its own params */
    msleep(300);
    ck_assert_int_eq(rec_wait(2, 10), 1);
    ck_assert_uint_eq(count_req("GET", "/events", base_n), 0);
    ck_assert_uint_eq(count_req("PUT", "/tracker/trk-1", base_n), 0);

    /* an event list that is not a list: the same */
    msleep(100);
    size_t mid = fake_backend_count(fb);
    fake_backend_push(fb, 200, "[" TRACKER_AT("null") "]");
    fake_backend_push(fb, 200, "{\"events\":[]}");
    send_event_at("ev-3", "12", "third");
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    ck_assert_str_eq(R.r[1].event_id, "ev-3");
    msleep(300);
    ck_assert_int_eq(rec_wait(3, 10), 2);
    ck_assert_uint_eq(count_req("GET", "/events", mid), 1);
    ck_assert_uint_eq(count_req("PUT", "/tracker/trk-1", mid), 0);
}
END_TEST

/* sequence_id values above 2^53 arrive rounded (cJSON reads doubles): 2^53 + 1 reads as
 * 2^53.  The later event must not be taken for the one the cursor is at. */
START_TEST(test_auto_cursor_sequence_above_2_53)
{
    auto_cursor_start("[]");
    fake_backend_push(fb, 200, "[" TRACKER_AT("null") "]");
    fake_backend_push(
        fb, 200,
        "[" EVJ("ev-a", 9007199254740992, "alpha") "," EVJ("ev-x", 9007199254740993, "omega") "]");
    send_event_at("ev-x", "9007199254740993", "omega");
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    ck_assert_str_eq(R.r[0].event_id, "ev-a");
    ck_assert_str_eq(R.r[1].event_id, "ev-x");
}
END_TEST

#define EVN(n, text) EVJ("ev-" #n, n, text)
#define EIGHT_EVENTS                                                                               \
    "[" EVN(1, "a") "," EVN(2, "b") "," EVN(3, "c") "," EVN(4, "d") "," EVN(5, "e") "," EVN(       \
        6, "f") "," EVN(7, "g") "," EVN(8, "h") "]"

/* Stopping during a start-up catch-up: it ends between two events, and the cursor was
 * moved past exactly the events handled (the rest wait in the backend). */
START_TEST(test_auto_cursor_stop_mid_catch_up)
{
    R.sleep_ms = 60;
    auto_cursor_start_with("[" TASK_JSON "]", "[]", EIGHT_EVENTS);
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    acp_server_stop(srv);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);
    int n = rec_wait(8, 10);
    ck_assert_int_lt(n, 8);
    ck_assert_uint_eq(count_req("PUT", "/tracker/trk-1", 0), (size_t)n);
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "ev-%d", i + 1);
        ck_assert_str_eq(R.r[i].event_id, id);
    }
}
END_TEST

/* A failing handler keeps the cursor before its event, and the later event waits. */
START_TEST(test_auto_cursor_handler_failure_keeps_cursor)
{
    auto_cursor_start("[]");
    size_t base_n = fake_backend_count(fb);
    fake_backend_push(fb, 200, "[" TRACKER_AT("null") "]");
    fake_backend_push(fb, 200, "[" EVJ("ev-1", 10, "fail-event") "," EVJ("ev-2", 11, "second") "]");
    send_event_at("ev-2", "11", "second");
    ck_assert_int_eq(rec_wait(1, 5000), 1);
    ck_assert_str_eq(R.r[0].event_id, "ev-1");
    msleep(300);
    ck_assert_int_eq(rec_wait(2, 10), 1); /* ev-2 was not handled */
    ck_assert_uint_eq(count_req("PUT", "/tracker/trk-1", base_n), 0);
    ck_assert_uint_eq(count_req("GET", "/tracker/trk-1", base_n), 0);
}
END_TEST

/* At start-up every RUNNING task catches up without a request: the handler gets the
 * agent of the registration (without its key) and the task of the list. */
START_TEST(test_auto_cursor_start_up_catch_up)
{
    auto_cursor_start("[" TASK_JSON "]");
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_str_eq(R.r[i].event_id, i ? "ev-2" : "ev-1");
        ck_assert_str_eq(R.r[i].task, TASK_ID);
        ck_assert_str_eq(R.r[i].request, "null");
        ck_assert_str_eq(R.r[i].agent_id, AGENT_ID);
        ck_assert(!R.r[i].agent_key);
        ck_assert(R.r[i].has_agent);
        ck_assert_str_eq(R.r[i].method, "event/send");
    }
    for (int i = 0; i < 250 && count_req("PUT", "/tracker/trk-1", 0) < 2; i++)
        msleep(20);
    assert_cursor_put(0, 1, "ev-2");
}
END_TEST

/* An interrupted task catches up at start-up too (events reach it without resuming it). */
START_TEST(test_auto_cursor_start_up_interrupted_task)
{
    auto_cursor_start_with("[]", "[" TASK_JSON "]",
                           "[" EVJ("ev-1", 10, "first") "," EVJ("ev-2", 11, "second") "]");
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    ck_assert_str_eq(R.r[0].event_id, "ev-1");
    ck_assert_str_eq(R.r[1].event_id, "ev-2");
    ck_assert_str_eq(R.r[1].task, TASK_ID);
}
END_TEST

/* The option needs registration and per-task delivery; ACP_AUTO_CURSOR sets it. */
START_TEST(test_auto_cursor_requirements)
{
    acp_server_t *s = NULL;
    ck_assert_int_eq(acp_server_new(&s), AGENTEX_OK);
    server_config(s, false);
    ck_assert_int_eq(acp_server_set_auto_cursor(s, true), AGENTEX_OK);
    ck_assert_int_eq(acp_server_start(s), AGENTEX_EINVAL);
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(s), "auto-cursor needs a backend"));
    ck_assert_int_eq(acp_server_set_backend(s, fake_backend_url(fb)), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_delivery(s, ACP_DELIVERY_CONCURRENT), AGENTEX_OK);
    ck_assert_int_eq(acp_server_start(s), AGENTEX_EINVAL);
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(s), "auto-cursor needs per-task delivery"));
    ck_assert_uint_eq(fake_backend_count(fb), 0); /* refused before anything was contacted */
    ck_assert_int_eq(acp_server_free(s), AGENTEX_OK);

    setenv("ACP_AUTO_CURSOR", "1", 1);
    ck_assert_int_eq(acp_server_new(&s), AGENTEX_OK);
    server_config(s, false);
    ck_assert_int_eq(acp_server_start(s), AGENTEX_EINVAL);
    ck_assert_ptr_nonnull(strstr(acp_server_errmsg(s), "auto-cursor"));
    ck_assert_int_eq(acp_server_free(s), AGENTEX_OK);

    setenv("ACP_AUTO_CURSOR", "yes", 1); /* not 0 or 1: ignored with a warning, stays off */
    ck_assert_int_eq(acp_server_new(&s), AGENTEX_OK);
    server_config(s, false);
    ck_assert_int_eq(acp_server_start(s), AGENTEX_OK);
    acp_server_stop(s);
    ck_assert_int_eq(acp_server_wait(s), AGENTEX_OK);
    ck_assert_int_eq(acp_server_free(s), AGENTEX_OK);
    unsetenv("ACP_AUTO_CURSOR");
}
END_TEST

#define MSG_REPLY                                                                                  \
    "{\"id\":\"m1\",\"task_id\":\"" TASK_ID "\",\"content\":{\"type\":\"text\",\"author\":"        \
    "\"agent\",\"content\":\"x\"},\"streaming_status\":null}"

START_TEST(test_example_echo_agent)
{
    fake_backend_route(fb, "POST", "/messages", 200, MSG_REPLY);
    example_start("echo_agent", "async");
    char *b = simple_body("task/create", ID_CREATE, TASK_ID);
    rpc_expect(b, good_key, ACK(ID_CREATE));
    free(b);
    const fake_request_t *q = wait_req("POST", "/messages", 0);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_nonnull(strstr(q->body, "Welcome!"));
    ck_assert_str_eq(fake_request_header(q, "x-agent-api-key"), KEY);
    size_t at = 0;
    ck_assert_ptr_nonnull(find_req("POST", "/messages", 0, &at));
    b = event_body(ID_EVENT, TASK_ID, "hello there");
    rpc_expect(b, good_key, ACK(ID_EVENT));
    free(b);
    q = wait_req("POST", "/messages", at + 1);
    ck_assert_ptr_nonnull(q);
    cJSON *j = cJSON_Parse(q->body);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "content"), "content")->valuestring,
                     "You said: hello there");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "task_id")->valuestring, TASK_ID);
    cJSON_Delete(j);
    b = simple_body("task/cancel", ID_CANCEL, TASK_ID);
    rpc_expect(b, good_key, ACK(ID_CANCEL));
    free(b);
    example_stop();
}
END_TEST

START_TEST(test_example_state_agent)
{
    fake_backend_route(fb, "GET", "/states", 200, "[]");
    fake_backend_route(fb, "POST", "/states", 200,
                       "{\"id\":\"s1\",\"task_id\":\"" TASK_ID "\",\"agent_id\":\"" AGENT_ID
                       "\",\"state\":{\"turns\":0},\"created_at\":null,\"updated_at\":null}");
    fake_backend_route(fb, "PUT", "/states/s1", 200,
                       "{\"id\":\"s1\",\"task_id\":\"" TASK_ID "\",\"agent_id\":\"" AGENT_ID
                       "\",\"state\":{\"turns\":1},\"created_at\":null,\"updated_at\":null}");
    fake_backend_route(fb, "POST", "/messages", 200, MSG_REPLY);
    example_start("state_agent", "async");
    char *b = event_body(ID_EVENT, TASK_ID, "hi");
    rpc_expect(b, good_key, ACK(ID_EVENT));
    free(b);
    const fake_request_t *q = wait_req("POST", "/messages", 0);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_nonnull(strstr(q->body, "\"Turn 1\""));
    q = find_req("PUT", "/states/s1", 0, NULL);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_nonnull(strstr(q->body, "\"turns\":1"));
    q = find_req("GET", "/states", 0, NULL);
    ck_assert_ptr_nonnull(strstr(q->query, "agent_id=" AGENT_ID));
    example_stop();
}
END_TEST

#define EV(id, seq, text)                                                                          \
    "{\"id\":\"" id "\",\"sequence_id\":" #seq ",\"task_id\":\"" TASK_ID                           \
    "\",\"agent_id\":\"" AGENT_ID                                                                  \
    "\",\"created_at\":null,\"content\":{\"type\":\"text\",\"author\":\"user\","                   \
    "\"content\":\"" text "\"}}"
#define TRACKER(cursor)                                                                            \
    "{\"id\":\"0d4b8e2f\",\"agent_id\":\"" AGENT_ID "\",\"task_id\":\"" TASK_ID "\",\"status\":"   \
    "null,\"status_reason\":null,\"last_processed_event_id\":" cursor ",\"created_at\":null}"

START_TEST(test_example_batch_agent)
{
    example_start("batch_agent", "async");
    size_t base_n = fake_backend_count(fb); /* registration */
    /* the handler's calls, in order (protocol 7.3) */
    fake_backend_push(fb, 200, "[" TRACKER("\"e0\"") "]");
    fake_backend_push(fb, 200, "[" EV("e1", 11, "one") "," EV("e2", 12, "two") "]");
    fake_backend_push(fb, 200, MSG_REPLY);
    fake_backend_push(fb, 200, TRACKER("\"e2\""));
    fake_backend_push(fb, 200, "[]");
    char *b = event_body(ID_EVENT, TASK_ID, "two");
    rpc_expect(b, good_key, ACK(ID_EVENT));
    free(b);
    ck_assert_uint_ge(fake_backend_wait(fb, base_n + 5, 5000), base_n + 5);
    const fake_request_t *q = fake_backend_request(fb, base_n);
    ck_assert_str_eq(q->path, "/tracker");
    q = fake_backend_request(fb, base_n + 1);
    ck_assert_str_eq(q->path, "/events");
    ck_assert_ptr_nonnull(strstr(q->query, "last_processed_event_id=e0"));
    q = fake_backend_request(fb, base_n + 2);
    ck_assert_str_eq(q->path, "/messages");
    ck_assert_ptr_nonnull(strstr(q->body, "Processed 2 events: one | two"));
    q = fake_backend_request(fb, base_n + 3);
    ck_assert_str_eq(q->method, "PUT");
    ck_assert_str_eq(q->path, "/tracker/0d4b8e2f");
    cJSON *j = cJSON_Parse(q->body);
    ck_assert_str_eq(cJSON_GetObjectItem(j, "last_processed_event_id")->valuestring, "e2");
    ck_assert_str_eq(cJSON_GetObjectItem(j, "status")->valuestring, "READY");
    cJSON_Delete(j);
    q = fake_backend_request(fb, base_n + 4);
    ck_assert_str_eq(q->path, "/events");
    ck_assert_ptr_nonnull(strstr(q->query, "last_processed_event_id=e2"));
    example_stop();
}
END_TEST

START_TEST(test_example_sync_agent)
{
    example_start("sync_agent", "sync");
    const fake_request_t *reg = find_req("POST", "/agents/register", 0, NULL);
    ck_assert_ptr_nonnull(strstr(reg->body, "\"acp_type\":\"sync\""));
    char *b = message_body(ID_MESSAGE, "hi there");
    resp_t r;
    ck_assert_int_eq(http("POST", "/api", b, strlen(b), good_key, &r), 200);
    free(b);
    const char *want[] = {"\"type\":\"start\"", "\"text_delta\":\"You said:\"",
                          "\"text_delta\":\" hi\"", "\"text_delta\":\" there\"",
                          "\"type\":\"done\""};
    const char *p = r.body.data;
    for (int i = 0; i < 5; i++) {
        const char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
        ck_assert_msg(strstr(line, want[i]), "line %d: %s", i, line);
        p = nl + 1;
    }
    ck_assert_str_eq(p, "");
    resp_free(&r);
    example_stop();
}
END_TEST

START_TEST(test_message_send_peer_gone)
{
    start_server(srv);
    char *b = message_body(ID_MESSAGE, "slow");
    char url[128];
    snprintf(url, sizeof url, "%s/api", base);
    struct curl_slist *h = curl_slist_append(NULL, "x-agent-api-key: " KEY);
    agx_buf_t body;
    agx_buf_init(&body);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 300L); /* hang up mid-stream */
    ck_assert_int_eq(curl_easy_perform(curl), CURLE_OPERATION_TIMEDOUT);
    curl_easy_cleanup(curl); /* closes the connection */
    curl = curl_easy_init();
    curl_slist_free_all(h);
    free(b);
    ck_assert_ptr_nonnull(strstr(body.data, "tick "));
    agx_buf_free(&body);
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    ck_assert_str_eq(R.r[1].text, "slow-done");
    ck_assert_int_eq(R.r[1].seq, AGENTEX_ECONNECT);
}
END_TEST

/* A caller that shuts down only its sending side after the request counts as gone (as
 * with uvicorn, nginx, Go): the server closes, the handler's replies fail with
 * AGENTEX_ECONNECT and it can stop early. */
START_TEST(test_message_send_half_close_is_gone)
{
    start_server(srv);
    char *b = message_body(ID_MESSAGE, "slow");
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "x-agent-api-key: " KEY "\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(b), b);
    free(b);
    ck_assert(n > 0 && (size_t)n < sizeof req);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)acp_server_port(srv))};
    ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr), 1);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
    /* the server closes: end-of-file within the handler's 4 s of writing */
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    ssize_t got, total = 0;
    while ((got = recv(fd, buf, sizeof buf, 0)) > 0)
        total += got;
    ck_assert_int_eq(got, 0);
    close(fd);
    ck_assert_int_gt(total, 0); /* at least the response head */
    ck_assert_int_eq(rec_wait(2, 5000), 2);
    ck_assert_str_eq(R.r[1].text, "slow-done");
    ck_assert_int_eq(R.r[1].seq, AGENTEX_ECONNECT);
}
END_TEST

/* Allocation failures anywhere in the library while requests are served: answers are
 * an ack, an error, or a dropped connection - never a crash or a leak (ASan checks the
 * leaks when the test process exits); afterwards the server works normally. */
START_TEST(test_requests_under_enomem)
{
    use_path(_i);
    start_server(srv);
    char *b = event_body("1", TASK_ID, "x");
    char url[128];
    snprintf(url, sizeof url, "%s/api", base);
    struct curl_slist *h = curl_slist_append(NULL, "x-agent-api-key: " KEY);
    for (long n = 1; n <= 40; n++) {
        /* the test's own buffers must not use agx_* allocations here */
        fixed_t body = {{0}, 0};
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_fixed);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 3000L);
        agx_alloc_fail_after(n);
        CURLcode rc = curl_easy_perform(curl);
        agx_alloc_fail_after(0);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status == 200)
            ck_assert_msg(strcmp(body.data, ACK("1")) == 0 ||
                              strstr(body.data, "\"code\":-32603") != NULL,
                          "n=%ld: %s", n, body.data);
    }
    curl_slist_free_all(h);
    rpc_expect(b, good_key, ACK("1"));
    free(b);
    resp_t r;
    ck_assert_int_eq(http("GET", "/healthz", NULL, 0, NULL, &r), 200);
    resp_free(&r);
}
END_TEST

Suite *acp_suite(void)
{
    Suite *s = suite_create("acp");
    TCase *tc = tcase_create("unit");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_rpc_parse_table);
    tcase_add_test(tc, test_rpc_reply_bytes);
    tcase_add_test(tc, test_header_filter_table);
    tcase_add_test(tc, test_base64_decode);
    tcase_add_test(tc, test_registration_body_exact);
    tcase_add_test(tc, test_setters_validate);
    tcase_add_test(tc, test_new_and_body_enomem);
    tcase_add_test(tc, test_rpc_enomem);
    tcase_add_test(tc, test_fast_scan_table);
    tcase_add_test(tc, test_version_older_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("server");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_healthz_and_404);
    tcase_add_test(tc, test_healthz_without_registration);
    tcase_add_test(tc, test_registration_request_and_identity);
    tcase_add_test(tc, test_worker_client_uses_agent_key);
    tcase_add_test(tc, test_registration_failure);
    tcase_add_test(tc, test_stop_during_registration_then_wait);
    tcase_add_loop_test(tc, test_every_method_acks, 0, 2);
    tcase_add_loop_test(tc, test_ids_echoed_verbatim, 0, 2);
    tcase_add_loop_test(tc, test_notifications_run, 0, 2);
    tcase_add_test(tc, test_auth_check);
    tcase_add_test(tc, test_auth_check_off);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_per_task_serial_concurrent_parallel);
    tcase_add_test(tc, test_concurrent_mode);
    tcase_add_loop_test(tc, test_cancellation, 0, 2);
    tcase_add_test(tc, test_graceful_shutdown_runs_acknowledged);
    tcase_add_test(tc, test_requests_refused_while_draining);
    tcase_add_loop_test(tc, test_max_pending_holds_acks, 0, 2);
    tcase_add_test(tc, test_max_pending_held_refused_on_stop);
    tcase_add_test(tc, test_max_pending_slot_freed_admits_held);
    tcase_add_test(tc, test_listen_host_from_env);
    tcase_add_loop_test(tc, test_worker_nice, 0, 4);
    tcase_add_test(tc, test_configured_key_without_registration);
    tcase_add_test(tc, test_run_stops_on_sigterm);
    tcase_add_test(tc, test_free_inside_handler_refused);
    tcase_add_test(tc, test_message_send_ndjson);
    tcase_add_test(tc, test_message_send_errors);
    tcase_add_test(tc, test_message_send_peer_gone);
    tcase_add_test(tc, test_message_send_half_close_is_gone);
    tcase_add_loop_test(tc, test_requests_under_enomem, 0, 2);
    tcase_add_test(tc, test_version_guard);
    tcase_add_test(tc, test_auto_cursor_order_and_dedupe);
    tcase_add_test(tc, test_auto_cursor_burst_skips_handled);
    tcase_add_test(tc, test_auto_cursor_handler_failure_keeps_cursor);
    tcase_add_test(tc, test_auto_cursor_tracker_unreadable_delivers_own);
    tcase_add_test(tc, test_auto_cursor_sequence_above_2_53);
    tcase_add_test(tc, test_auto_cursor_stop_mid_catch_up);
    tcase_add_test(tc, test_auto_cursor_start_up_interrupted_task);
    tcase_add_test(tc, test_auto_cursor_start_up_catch_up);
    tcase_add_test(tc, test_auto_cursor_requirements);
    suite_add_tcase(s, tc);

    tc = tcase_create("examples");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_example_echo_agent);
    tcase_add_test(tc, test_example_state_agent);
    tcase_add_test(tc, test_example_batch_agent);
    tcase_add_test(tc, test_example_sync_agent);
    suite_add_tcase(s, tc);

    tc = tcase_create("load");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_1000_events_50_tasks_in_order);
    suite_add_tcase(s, tc);
    return s;
}
