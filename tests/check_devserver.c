/*
 * tests/check_devserver.c - agentex-dev, driven as a black box: each test spawns the real
 * binary ($AGX_BUILD_DIR/bin/agentex-dev --port 0), reads its listening line, talks to it
 * with libcurl, and stops it with SIGTERM in teardown, asserting a clean exit (status 0:
 * under ASan this also means no leak).  The fake backend (tests/support) plays the agent.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentex/acp.h"
#include "agentex/client.h"
#include "agentex/events.h"
#include "agentex/messages.h"
#include "agentex/tracker.h"
#include "agentex/types.h"
#include "support/fake_backend.h"
#include "support/proc.h"

/* ---- the server process ----------------------------------------------------------------- */

static pid_t g_pid = -1;
static char g_base[256];
static char g_db[256];

/* Spawns agentex-dev with extra arguments (NULL-terminated); fills g_base. */
static void start_dev(const char *const *extra)
{
    g_pid = tp_dev_start(extra, g_base, sizeof g_base);
}

/* SIGTERM and wait; returns the exit status (or 128+signal). */
static int stop_dev(void)
{
    if (g_pid <= 0)
        return 0;
    int rc = tp_stop(g_pid);
    g_pid = -1;
    return rc;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_dev(NULL);
}

static void teardown(void)
{
    int rc = stop_dev();
    curl_global_cleanup();
    ck_assert_msg(rc == 0, "agentex-dev exit status %d (leak or crash?)", rc);
}

/* ---- HTTP ------------------------------------------------------------------------------- */

/* One request; extra_header may be NULL. */
static tp_resp_t req_h(const char *method, const char *path, const char *body,
                       const char *extra_header)
{
    return tp_request(g_base, method, path, body, extra_header, 8000);
}

static tp_resp_t req(const char *method, const char *path, const char *body)
{
    return req_h(method, path, body, NULL);
}

static const char *js(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jnull(const cJSON *o, const char *key)
{
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "%s is not a number", key);
    return v->valuedouble;
}

static bool is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

static bool is_uuid4(const char *s)
{
    if (!s || strlen(s) != 36 || s[8] != '-' || s[13] != '-' || s[14] != '4' || s[18] != '-' ||
        s[23] != '-')
        return false;
    return true;
}

/* Expects a {"message":msg,"code":status,"data":null} error. */
static void expect_error(tp_resp_t *r, long status, const char *msg)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_ptr_nonnull(r->json);
    if (msg)
        ck_assert_str_eq(js(r->json, "message"), msg);
    ck_assert_int_eq((int)jnum(r->json, "code"), (int)status);
    ck_assert(jnull(r->json, "data"));
    ck_assert_int_eq(cJSON_GetArraySize(r->json), 3);
}

static void expect_422(tp_resp_t *r, const char *fragment)
{
    ck_assert_int_eq(r->status, 422);
    ck_assert_ptr_nonnull(r->json);
    ck_assert_int_eq((int)jnum(r->json, "status_code"), 10422);
    ck_assert(jnull(r->json, "data"));
    ck_assert_ptr_nonnull(js(r->json, "message"));
    if (fragment)
        ck_assert_msg(strstr(js(r->json, "message"), fragment), "'%s' lacks '%s'",
                      js(r->json, "message"), fragment);
}

/* Registers an agent; returns the response JSON (caller frees). */
static cJSON *register_agent(const char *name, const char *url, const char *type)
{
    char body[1024];
    snprintf(
        body, sizeof body,
        "{\"name\":\"%s\",\"description\":\"Demo agent\",\"acp_url\":\"%s\",\"acp_type\":\"%s\","
        "\"principal_context\":null,\"registration_metadata\":null}",
        name, url, type);
    tp_resp_t r = req("POST", "/agents/register", body);
    ck_assert_msg(r.status == 200, "register: %ld %s", r.status, r.body);
    cJSON *j = r.json;
    r.json = NULL;
    tp_resp_free(&r);
    return j;
}

/* JSON-RPC call; returns the parsed response envelope. */
static cJSON *rpc(const char *agent_name, const char *method, const char *params, const char *hdr)
{
    char path[256];
    snprintf(path, sizeof path, "/agents/name/%s/rpc", agent_name);
    size_t n = strlen(params) + 256;
    char *body = malloc(n);
    snprintf(body, n, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":%s,\"id\":7}", method,
             params);
    tp_resp_t r = req_h("POST", path, body, hdr);
    free(body);
    ck_assert_msg(r.status == 200, "rpc %s: %ld %s", method, r.status, r.body);
    cJSON *j = r.json;
    r.json = NULL;
    tp_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(js(j, "jsonrpc"), "2.0");
    ck_assert_int_eq((int)jnum(j, "id"), 7);
    return j;
}

static const cJSON *rpc_result(const cJSON *env)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(env, "error");
    ck_assert_msg(cJSON_IsNull(e), "rpc error: %s",
                  js(e, "message") ? js(e, "message") : "(non-null error)");
    return cJSON_GetObjectItemCaseSensitive(env, "result");
}

static const char *rpc_error(const cJSON *env, int *code)
{
    ck_assert(jnull(env, "result"));
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(env, "error");
    ck_assert(cJSON_IsObject(e));
    *code = (int)jnum(e, "code");
    ck_assert(jnull(e, "data"));
    return js(e, "message");
}

/* Creates a task through RPC on a sync agent (no forward); returns its id (static). */
static const char *sync_task(const char *agent, const char *name)
{
    static char id[64];
    char params[256];
    snprintf(params, sizeof params, "{\"name\":\"%s\",\"params\":{\"topic\":\"weather\"}}", name);
    cJSON *env = rpc(agent, "task/create", params, NULL);
    const cJSON *t = rpc_result(env);
    snprintf(id, sizeof id, "%s", js(t, "id"));
    cJSON_Delete(env);
    return id;
}

static char *ack(const char *method_name, const char *task_id)
{
    char *s = malloc(512);
    snprintf(s, 512,
             "{\"jsonrpc\":\"2.0\",\"result\":{\"status\":\"processing\"},\"error\":null,"
             "\"id\":\"AgentRPCMethod.%s-%s\"}",
             method_name, task_id);
    return s;
}

/* ---- command line ------------------------------------------------------------------------- */

START_TEST(cli_arguments)
{
    char out[4096];
    const char *help[] = {tp_dev_binary(), "--help", NULL};
    ck_assert_int_eq(tp_run(help, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: agentex-dev"));
    const char *ver[] = {tp_dev_binary(), "--version", NULL};
    ck_assert_int_eq(tp_run(ver, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "agentex-dev 0.1.0"));
    const char *badport[] = {tp_dev_binary(), "--port", "70000", NULL};
    ck_assert_int_ne(tp_run(badport, out, sizeof out), 0);
    ck_assert_str_eq(out, "agentex-dev: --port: invalid value '70000'\n");
    const char *unknown[] = {tp_dev_binary(), "--frobnicate", "1", NULL};
    ck_assert_int_ne(tp_run(unknown, out, sizeof out), 0);
    ck_assert_str_eq(out, "agentex-dev: unknown argument '--frobnicate' (see --help)\n");
    const char *level[] = {tp_dev_binary(), "--log-level", "loud", NULL};
    ck_assert_int_ne(tp_run(level, out, sizeof out), 0);
    ck_assert_ptr_nonnull(strstr(out, "--log-level"));
}
END_TEST

/* ---- agents ------------------------------------------------------------------------------- */

START_TEST(agents_register_idempotent)
{
    cJSON *a = register_agent("demo-agent", "http://127.0.0.1:9", "async");
    const char *id = js(a, "id");
    ck_assert(is_uuid4(id));
    ck_assert_str_eq(js(a, "name"), "demo-agent");
    ck_assert_str_eq(js(a, "description"), "Demo agent");
    ck_assert_str_eq(js(a, "status"), "Ready");
    ck_assert_str_eq(js(a, "acp_type"), "async");
    ck_assert_str_eq(js(a, "status_reason"), "Agent registered successfully.");
    ck_assert(is_hex(js(a, "agent_api_key"), 64));
    ck_assert(jnull(a, "registration_metadata"));
    ck_assert(jnull(a, "agent_input_type"));
    ck_assert(jnull(a, "production_deployment_id"));
    ck_assert_ptr_null(cJSON_GetObjectItem(a, "acp_url"));
    ck_assert_ptr_nonnull(strstr(js(a, "created_at"), "Z"));
    ck_assert_int_eq(cJSON_GetArraySize(a), 13);

    cJSON *b = register_agent("demo-agent", "http://127.0.0.1:10", "async");
    ck_assert_str_eq(js(b, "id"), id);
    ck_assert_str_eq(js(b, "agent_api_key"), js(a, "agent_api_key"));

    /* agent_id honoured; unknown agent_id is 404 */
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"renamed\",\"description\":\"x\",\"acp_url\":\"http://h\",\"acp_type\":"
             "\"sync\",\"agent_id\":\"%s\"}",
             id);
    tp_resp_t r = req("POST", "/agents/register", body);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "id"), id);
    ck_assert_str_eq(js(r.json, "name"), "renamed");
    ck_assert_str_eq(js(r.json, "acp_type"), "sync");
    ck_assert_str_eq(js(r.json, "agent_api_key"), js(a, "agent_api_key"));
    tp_resp_free(&r);
    r = req("POST", "/agents/register",
            "{\"name\":\"x\",\"description\":\"x\",\"acp_url\":\"http://h\",\"acp_type\":\"sync\","
            "\"agent_id\":\"nope\"}");
    expect_error(&r, 404, "Item with id 'nope' does not exist.");
    tp_resp_free(&r);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

START_TEST(agents_register_validation)
{
    tp_resp_t r = req("POST", "/agents/register",
                      "{\"name\":\"Demo_Agent\",\"description\":\"d\",\"acp_url\":\"http://h\","
                      "\"acp_type\":\"async\"}");
    expect_422(&r, "String should match pattern '^[a-z0-9-]+$'");
    tp_resp_free(&r);
    r = req("POST", "/agents/register",
            "{\"name\":\"ok\",\"acp_url\":\"http://h\",\"acp_type\":\"async\"}");
    expect_422(&r, "body.description: Field required");
    tp_resp_free(&r);
    r = req(
        "POST", "/agents/register",
        "{\"name\":\"ok\",\"description\":\"d\",\"acp_url\":\"http://h\",\"acp_type\":\"weird\"}");
    expect_422(&r, "acp_type");
    tp_resp_free(&r);
    r = req("POST", "/agents/register", "{not json");
    expect_422(&r, "JSON decode error");
    tp_resp_free(&r);
    r = req("POST", "/agents/register", "[1,2]");
    expect_422(&r, NULL);
    tp_resp_free(&r);
}
END_TEST

START_TEST(agents_get_list_delete)
{
    cJSON *a = register_agent("alpha", "http://127.0.0.1:9", "async");
    cJSON *b = register_agent("beta", "http://127.0.0.1:9", "sync");
    char path[256];
    snprintf(path, sizeof path, "/agents/%s", js(a, "id"));
    tp_resp_t r = req("GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "name"), "alpha");
    ck_assert_ptr_null(cJSON_GetObjectItem(r.json, "agent_api_key"));
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 12);
    tp_resp_free(&r);
    r = req("GET", "/agents/name/beta", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "id"), js(b, "id"));
    tp_resp_free(&r);
    r = req("GET", "/agents/name/gamma", NULL);
    expect_error(&r, 404, "Item with name 'gamma' does not exist.");
    tp_resp_free(&r);
    r = req("GET", "/agents", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 2);
    ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 0), "name"), "beta"); /* newest first */
    tp_resp_free(&r);
    r = req("GET", "/agents?limit=1&page_number=2", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 0), "name"), "alpha");
    tp_resp_free(&r);
    r = req("GET", "/agents?limit=0", NULL);
    expect_422(&r, "limit");
    tp_resp_free(&r);
    r = req("GET", "/agents?page_number=abc", NULL);
    expect_422(&r, "page_number");
    tp_resp_free(&r);
    r = req("DELETE", "/agents/name/beta", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "id"), js(b, "id"));
    ck_assert_str_eq(js(r.json, "message"), "Agent 'beta' deleted successfully");
    tp_resp_free(&r);
    r = req("DELETE", "/agents/name/beta", NULL);
    expect_error(&r, 404, "Agent beta not found");
    tp_resp_free(&r);
    r = req("GET", "/agents/name/beta", NULL);
    ck_assert_str_eq(js(r.json, "status"), "Deleted");
    tp_resp_free(&r);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* ---- tasks ------------------------------------------------------------------------------- */

START_TEST(tasks_crud_and_transitions)
{
    cJSON *a = register_agent("syncy", "http://127.0.0.1:9", "sync");
    char tid[64], path[256], body[256];
    snprintf(tid, sizeof tid, "%s", sync_task("syncy", "job-1"));
    ck_assert(is_uuid4(tid));
    snprintf(path, sizeof path, "/tasks/%s", tid);
    tp_resp_t r = req("GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "status"), "RUNNING");
    ck_assert_str_eq(js(r.json, "status_reason"), "Task created, forwarding to ACP server");
    ck_assert_str_eq(js(r.json, "name"), "job-1");
    ck_assert(jnull(r.json, "agents"));
    ck_assert(jnull(r.json, "cleaned_at"));
    ck_assert(jnull(r.json, "task_metadata"));
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "params"), "topic"), "weather");
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/tasks/%s?relationships=agents", tid);
    r = req("GET", path, NULL);
    ck_assert_str_eq(js(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "agents"), 0), "name"),
                     "syncy");
    tp_resp_free(&r);
    r = req("GET", "/tasks/name/job-1", NULL);
    ck_assert_str_eq(js(r.json, "id"), tid);
    tp_resp_free(&r);
    /* get-or-create by name returns the same task */
    ck_assert_str_eq(sync_task("syncy", "job-1"), tid);
    r = req("GET", "/tasks?agent_name=syncy", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    ck_assert_ptr_null(cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 0), "params"));
    tp_resp_free(&r);

    snprintf(path, sizeof path, "/tasks/%s", tid);
    r = req("PUT", path, "{\"task_metadata\":{\"owner\":\"u1\"},\"merge_params\":{\"x\":2}}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "task_metadata"), "owner"), "u1");
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "params"), "topic"), "weather");
    ck_assert_int_eq((int)jnum(cJSON_GetObjectItem(r.json, "params"), "x"), 2);
    tp_resp_free(&r);
    r = req("PUT", path, "{\"task_metadata\":{\"owner\":\"u2\"}}");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "task_metadata")), 1);
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "task_metadata"), "owner"), "u2");
    tp_resp_free(&r);
    r = req("PUT", path, "{\"task_metadata\":5}");
    expect_422(&r, "task_metadata");
    tp_resp_free(&r);

    snprintf(path, sizeof path, "/tasks/%s/interrupt", tid);
    r = req("POST", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "status"), "INTERRUPTED");
    ck_assert_str_eq(js(r.json, "status_reason"), "Task interrupted");
    tp_resp_free(&r);
    r = req("POST", path, NULL);
    ck_assert_int_eq(r.status, 400);
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/tasks/%s/complete", tid);
    r = req("POST", path, "{\"reason\":\"answered\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "status"), "COMPLETED");
    ck_assert_str_eq(js(r.json, "status_reason"), "answered");
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/tasks/%s/fail", tid);
    r = req("POST", path, "{}");
    snprintf(body, sizeof body,
             "Task %s cannot be transitioned (current status: TaskStatus.COMPLETED). Only running "
             "or interrupted tasks can have their status updated.",
             tid);
    expect_error(&r, 400, body);
    tp_resp_free(&r);

    /* default reasons */
    static const char *const actions[][3] = {{"fail", "FAILED", "Task failed"},
                                             {"cancel", "CANCELED", "Task canceled"},
                                             {"terminate", "TERMINATED", "Task terminated"},
                                             {"timeout", "TIMED_OUT", "Task timed_out"},
                                             {"complete", "COMPLETED", "Task completed"}};
    for (size_t i = 0; i < 5; i++) {
        char name[32], p2[256];
        snprintf(name, sizeof name, "t-%zu", i);
        snprintf(p2, sizeof p2, "/tasks/%s/%s", sync_task("syncy", name), actions[i][0]);
        r = req("POST", p2, "null");
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(js(r.json, "status"), actions[i][1]);
        ck_assert_str_eq(js(r.json, "status_reason"), actions[i][2]);
        tp_resp_free(&r);
    }

    snprintf(path, sizeof path, "/tasks/%s", tid);
    r = req("DELETE", path, NULL);
    ck_assert_int_eq(r.status, 200);
    snprintf(body, sizeof body, "Task %s deleted successfully", tid);
    ck_assert_str_eq(js(r.json, "message"), body);
    ck_assert_str_eq(js(r.json, "id"), tid);
    tp_resp_free(&r);
    r = req("GET", path, NULL);
    snprintf(body, sizeof body, "Task %s not found", tid);
    expect_error(&r, 404, body);
    tp_resp_free(&r);
    r = req("DELETE", path, NULL);
    ck_assert_int_eq(r.status, 404);
    tp_resp_free(&r);
    r = req("GET", "/tasks?agent_name=syncy", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 5); /* the deleted one is gone */
    tp_resp_free(&r);
    r = req("GET", "/tasks?status=COMPLETED", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    tp_resp_free(&r);
    r = req("GET", "/tasks?status=BOGUS", NULL);
    expect_422(&r, "status");
    tp_resp_free(&r);
    r = req("GET", "/tasks/00000000-0000-4000-8000-000000000000", NULL);
    expect_error(&r, 404, "Item with id '00000000-0000-4000-8000-000000000000' does not exist.");
    tp_resp_free(&r);
    cJSON_Delete(a);
}
END_TEST

/* ---- messages ----------------------------------------------------------------------------- */

START_TEST(messages_rest)
{
    const char *T = "b3e0f7d2-8c41-4a6e-9f15-2d7a9c3e5b81";
    char body[1024], path[1024];
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"style\":"
             "\"static\",\"format\":\"markdown\",\"content\":\"\"},\"streaming_status\":\"IN_"
             "PROGRESS\"}",
             T);
    tp_resp_t r = req("POST", "/messages", body);
    ck_assert_int_eq(r.status, 200);
    char mid[32];
    snprintf(mid, sizeof mid, "%s", js(r.json, "id"));
    ck_assert(is_hex(mid, 24));
    ck_assert_str_eq(js(r.json, "task_id"), T);
    ck_assert_str_eq(js(r.json, "streaming_status"), "IN_PROGRESS");
    char *content = cJSON_PrintUnformatted(cJSON_GetObjectItem(r.json, "content"));
    ck_assert_str_eq(content,
                     "{\"type\":\"text\",\"author\":\"agent\",\"style\":\"static\",\"format\":"
                     "\"markdown\",\"content\":\"\",\"attachments\":null}");
    free(content);
    tp_resp_free(&r);

    snprintf(path, sizeof path, "/messages/%s", mid);
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":"
             "\"Sunny\"},\"streaming_status\":\"DONE\"}",
             T);
    r = req("PUT", path, body);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "streaming_status"), "DONE");
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "content"), "content"), "Sunny");
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "content"), "format"), "plain");
    tp_resp_free(&r);
    r = req("GET", path, NULL);
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "content"), "content"), "Sunny");
    tp_resp_free(&r);
    r = req("GET", "/messages/000000000000000000000000", NULL);
    expect_error(&r, 404, "Item with id '000000000000000000000000' does not exist.");
    tp_resp_free(&r);

    snprintf(
        body, sizeof body,
        "{\"task_id\":\"%s\",\"created_at\":\"2026-03-01T09:06:11.250000Z\",\"contents\":["
        "{\"type\":\"tool_request\",\"author\":\"agent\",\"tool_call_id\":\"call_1\",\"name\":"
        "\"get_weather\",\"arguments\":{\"city\":\"Paris\"}},"
        "{\"type\":\"tool_response\",\"author\":\"agent\",\"tool_call_id\":\"call_1\",\"name\":"
        "\"get_weather\",\"content\":{\"temp_c\":21},\"is_error\":false}]}",
        T);
    r = req("POST", "/messages/batch", body);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 2);
    ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 0), "created_at"),
                     "2026-03-01T09:06:11.250000Z");
    ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 1), "created_at"),
                     "2026-03-01T09:06:11.251000Z");
    ck_assert(jnull(cJSON_GetArrayItem(r.json, 0), "streaming_status"));
    char m2[32];
    snprintf(m2, sizeof m2, "%s", js(cJSON_GetArrayItem(r.json, 0), "id"));
    tp_resp_free(&r);

    /* list: newest first by created_at (the batch is backdated) */
    snprintf(path, sizeof path, "/messages?task_id=%s", T);
    r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 3);
    ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 0), "id"), mid);
    ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 2), "id"), m2);
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/messages?task_id=%s&order_direction=asc&limit=1", T);
    r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 0), "id"), m2);
    tp_resp_free(&r);
    r = req("GET", "/messages", NULL);
    expect_422(&r, "task_id");
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/messages?task_id=%s&limit=x", T);
    r = req("GET", path, NULL);
    expect_422(&r, "limit");
    tp_resp_free(&r);

    /* batch update skips ids of other tasks */
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"updates\":{\"%s\":{\"type\":\"data\",\"author\":\"agent\","
             "\"data\":{\"done\":true}},\"ffffffffffffffffffffffff\":{\"type\":\"data\",\"author\":"
             "\"agent\",\"data\":{}}}}",
             T, m2);
    r = req("PUT", "/messages/batch", body);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    ck_assert_str_eq(js(cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 0), "content"), "type"),
                     "data");
    tp_resp_free(&r);

    /* paginated */
    snprintf(path, sizeof path, "/messages/paginated?task_id=%s&limit=2", T);
    r = req("GET", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "has_more")));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "data")), 2);
    char cursor[400];
    snprintf(cursor, sizeof cursor, "%s", js(r.json, "next_cursor"));
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/messages/paginated?task_id=%s&limit=2&cursor=%s", T, cursor);
    r = req("GET", path, NULL);
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "has_more")));
    ck_assert(jnull(r.json, "next_cursor"));
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "data")), 1);
    ck_assert_str_eq(js(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "data"), 0), "id"), m2);
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/messages/paginated?task_id=%s&direction=sideways", T);
    r = req("GET", path, NULL);
    expect_422(&r, "direction");
    tp_resp_free(&r);

    /* content validation */
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"robot\",\"content\":"
             "\"x\"}}",
             T);
    r = req("POST", "/messages", body);
    expect_422(&r, "author");
    tp_resp_free(&r);
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"video\",\"author\":\"agent\"}}", T);
    r = req("POST", "/messages", body);
    expect_422(&r, "video");
    tp_resp_free(&r);
    r = req("POST", "/messages",
            "{\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":\"x\"}}");
    expect_422(&r, "body.task_id: Field required");
    tp_resp_free(&r);
}
END_TEST

/* ---- states -------------------------------------------------------------------------------- */

START_TEST(states_crud)
{
    tp_resp_t r =
        req("POST", "/states", "{\"task_id\":\"t1\",\"agent_id\":\"a1\",\"state\":{\"turns\":0}}");
    ck_assert_int_eq(r.status, 200);
    char id[32], path[128];
    snprintf(id, sizeof id, "%s", js(r.json, "id"));
    ck_assert(is_hex(id, 24));
    ck_assert(jnull(r.json, "updated_at"));
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 6);
    tp_resp_free(&r);
    r = req("POST", "/states", "{\"task_id\":\"t2\",\"agent_id\":\"a1\",\"state\":{}}");
    tp_resp_free(&r);
    r = req("GET", "/states?task_id=t1&agent_id=a1", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    tp_resp_free(&r);
    r = req("GET", "/states?agent_id=a1", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 2);
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/states/%s", id);
    r = req("PUT", path, "{\"state\":{\"turns\":1},\"task_id\":\"t1\",\"agent_id\":\"a1\"}");
    ck_assert_int_eq((int)jnum(cJSON_GetObjectItem(r.json, "state"), "turns"), 1);
    ck_assert_ptr_nonnull(js(r.json, "updated_at"));
    tp_resp_free(&r);
    r = req("PUT", path, "{\"state\":[]}");
    expect_422(&r, "state");
    tp_resp_free(&r);
    r = req("DELETE", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "id"), id);
    ck_assert_int_eq((int)jnum(cJSON_GetObjectItem(r.json, "state"), "turns"), 1);
    tp_resp_free(&r);
    r = req("GET", path, NULL);
    ck_assert_int_eq(r.status, 404);
    tp_resp_free(&r);
    r = req("POST", "/states", "{\"task_id\":\"t1\",\"state\":{}}");
    expect_422(&r, "agent_id");
    tp_resp_free(&r);
}
END_TEST

/* ---- RPC with a fake agent ----------------------------------------------------------------------
 */

typedef struct agentfix {
    fake_backend_t *fb;
    char task_id[64];
    char agent_id[64];
    char key[80];
} agentfix_t;

/* An async agent on the fake backend with one RUNNING task named "job". */
static void async_agent_with_task(agentfix_t *f)
{
    f->fb = fake_backend_start();
    ck_assert_ptr_nonnull(f->fb);
    cJSON *a = register_agent("demo-agent", fake_backend_url(f->fb), "async");
    snprintf(f->agent_id, sizeof f->agent_id, "%s", js(a, "id"));
    snprintf(f->key, sizeof f->key, "%s", js(a, "agent_api_key"));
    cJSON_Delete(a);
    /* first task/create: the fake answers with a wrong id -> FAILED */
    fake_backend_push(f->fb, 200,
                      "{\"jsonrpc\":\"2.0\",\"result\":{},\"error\":null,\"id\":\"other\"}");
    cJSON *env = rpc("demo-agent", "task/create",
                     "{\"name\":\"job\",\"params\":{\"topic\":\"weather\"}}", NULL);
    int code;
    const char *msg = rpc_error(env, &code);
    ck_assert_int_eq(code, -32603);
    ck_assert_ptr_nonnull(strstr(msg, "does not match request ID"));
    cJSON_Delete(env);
    tp_resp_t r = req("GET", "/tasks/name/job", NULL);
    ck_assert_str_eq(js(r.json, "status"), "FAILED");
    ck_assert_ptr_nonnull(strstr(js(r.json, "status_reason"), "does not match request ID"));
    snprintf(f->task_id, sizeof f->task_id, "%s", js(r.json, "id"));
    tp_resp_free(&r);
    /* second task/create by name: re-forwarded, acked, FAILED -> RUNNING */
    char *ackb = ack("TASK_CREATE", f->task_id);
    fake_backend_push(f->fb, 200, ackb);
    free(ackb);
    env = rpc("demo-agent", "task/create", "{\"name\":\"job\"}", NULL);
    const cJSON *t = rpc_result(env);
    ck_assert_str_eq(js(t, "id"), f->task_id);
    ck_assert_str_eq(js(t, "status"), "RUNNING");
    ck_assert_str_eq(js(t, "status_reason"), "Task forwarded to ACP server");
    cJSON_Delete(env);
    ck_assert_int_eq((int)fake_backend_wait(f->fb, 2, 2000), 2);
}

START_TEST(rpc_task_create_forward_exact)
{
    agentfix_t f;
    async_agent_with_task(&f);
    const fake_request_t *q = fake_backend_request(f.fb, 1);
    ck_assert_str_eq(q->method, "POST");
    ck_assert_str_eq(q->path, "/api");
    ck_assert_str_eq(fake_request_header(q, "x-agent-api-key"), f.key);
    ck_assert(is_hex(fake_request_header(q, "x-request-id"), 32));
    ck_assert_str_eq(fake_request_header(q, "content-type"), "application/json");
    cJSON *b = cJSON_Parse(q->body);
    ck_assert_str_eq(js(b, "jsonrpc"), "2.0");
    ck_assert_str_eq(js(b, "method"), "task/create");
    char want[128];
    snprintf(want, sizeof want, "AgentRPCMethod.TASK_CREATE-%s", f.task_id);
    ck_assert_str_eq(js(b, "id"), want);
    const cJSON *p = cJSON_GetObjectItem(b, "params");
    ck_assert_int_eq(cJSON_GetArraySize(p), 3);
    const cJSON *agent = cJSON_GetObjectItem(p, "agent");
    ck_assert_str_eq(js(agent, "id"), f.agent_id);
    ck_assert_str_eq(js(agent, "acp_url"), fake_backend_url(f.fb));
    ck_assert(jnull(agent, "docker_image"));
    ck_assert_int_eq(cJSON_GetArraySize(agent), 14);
    const cJSON *task = cJSON_GetObjectItem(p, "task");
    ck_assert_str_eq(js(task, "id"), f.task_id);
    ck_assert_str_eq(js(task, "name"), "job");
    ck_assert_str_eq(js(cJSON_GetObjectItem(task, "params"), "topic"), "weather");
    ck_assert(jnull(p, "params"));
    cJSON_Delete(b);
    /* the first forward carried the client's params */
    b = cJSON_Parse(fake_backend_request(f.fb, 0)->body);
    ck_assert_str_eq(js(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "params"), "params"), "topic"),
                     "weather");
    cJSON_Delete(b);
    fake_backend_stop(f.fb);
}
END_TEST

START_TEST(rpc_event_send_persist_before_deliver)
{
    agentfix_t f;
    async_agent_with_task(&f);
    char params[512], path[256];
    /* delivered: headers forwarded (x-* kept, blocked ones dropped) */
    char *ackb = ack("EVENT_SEND", f.task_id);
    fake_backend_push(f.fb, 200, ackb);
    snprintf(params, sizeof params,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":"
             "\"What is the forecast?\"}}",
             f.task_id);
    cJSON *env = rpc("demo-agent", "event/send", params, "x-user-tag: blue");
    const cJSON *ev = rpc_result(env);
    ck_assert(is_uuid4(js(ev, "id")));
    double seq1 = jnum(ev, "sequence_id");
    ck_assert_str_eq(js(ev, "task_id"), f.task_id);
    ck_assert_str_eq(js(ev, "agent_id"), f.agent_id);
    ck_assert_str_eq(js(cJSON_GetObjectItem(ev, "content"), "format"), "plain");
    char ev1[64];
    snprintf(ev1, sizeof ev1, "%s", js(ev, "id"));
    cJSON_Delete(env);
    const fake_request_t *q = fake_backend_request(f.fb, 2);
    ck_assert_str_eq(fake_request_header(q, "x-user-tag"), "blue");
    cJSON *b = cJSON_Parse(q->body);
    char want[128];
    snprintf(want, sizeof want, "AgentRPCMethod.EVENT_SEND-%s", f.task_id);
    ck_assert_str_eq(js(b, "id"), want);
    const cJSON *p = cJSON_GetObjectItem(b, "params");
    ck_assert_int_eq(cJSON_GetArraySize(p), 4);
    ck_assert(jnull(p, "request"));
    ck_assert_str_eq(js(cJSON_GetObjectItem(p, "event"), "id"), ev1);
    cJSON_Delete(b);

    /* agent down: the event is kept, the client gets -32603 */
    fake_backend_push_close(f.fb);
    env = rpc("demo-agent", "event/send", params, NULL);
    int code;
    rpc_error(env, &code);
    ck_assert_int_eq(code, -32603);
    cJSON_Delete(env);
    fake_backend_push(f.fb, 500, "{}");
    env = rpc("demo-agent", "event/send", params, NULL);
    rpc_error(env, &code);
    ck_assert_int_eq(code, -32603);
    cJSON_Delete(env);
    snprintf(path, sizeof path, "/events?task_id=%s&agent_id=%s", f.task_id, f.agent_id);
    tp_resp_t r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 3);
    ck_assert(jnum(cJSON_GetArrayItem(r.json, 0), "sequence_id") == seq1);
    ck_assert(jnum(cJSON_GetArrayItem(r.json, 1), "sequence_id") > seq1);
    ck_assert(jnum(cJSON_GetArrayItem(r.json, 2), "sequence_id") >
              jnum(cJSON_GetArrayItem(r.json, 1), "sequence_id"));
    char ev2[64], ev3[64];
    snprintf(ev2, sizeof ev2, "%s", js(cJSON_GetArrayItem(r.json, 1), "id"));
    snprintf(ev3, sizeof ev3, "%s", js(cJSON_GetArrayItem(r.json, 2), "id"));
    tp_resp_free(&r);

    /* the event cursor */
    snprintf(path, sizeof path, "/events?task_id=%s&agent_id=%s&last_processed_event_id=%s",
             f.task_id, f.agent_id, ev2);
    r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 0), "id"), ev3);
    tp_resp_free(&r);
    snprintf(path, sizeof path,
             "/events?task_id=%s&agent_id=%s&last_processed_event_id=unknown&limit=2", f.task_id,
             f.agent_id);
    r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 2);
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/events?task_id=%s&agent_id=%s&limit=1001", f.task_id, f.agent_id);
    r = req("GET", path, NULL);
    expect_422(&r, "limit");
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/events?task_id=%s&agent_id=%s&limit=0", f.task_id, f.agent_id);
    r = req("GET", path, NULL);
    expect_422(&r, "limit");
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/events?task_id=%s", f.task_id);
    r = req("GET", path, NULL);
    expect_422(&r, "agent_id");
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/events/%s", ev1);
    r = req("GET", path, NULL);
    ck_assert_str_eq(js(r.json, "id"), ev1);
    tp_resp_free(&r);

    /* tracker cursor rules */
    snprintf(path, sizeof path, "/tracker?task_id=%s&agent_id=%s", f.task_id, f.agent_id);
    r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    const cJSON *tr = cJSON_GetArrayItem(r.json, 0);
    char trk[64];
    snprintf(trk, sizeof trk, "%s", js(tr, "id"));
    ck_assert_str_ne(trk, f.task_id);
    ck_assert(jnull(tr, "last_processed_event_id"));
    tp_resp_free(&r);
    char body[512];
    snprintf(path, sizeof path, "/tracker/%s", trk);
    snprintf(
        body, sizeof body,
        "{\"last_processed_event_id\":\"%s\",\"status\":\"READY\",\"status_reason\":\"processed\"}",
        ev3);
    r = req("PUT", path, body);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "last_processed_event_id"), ev3);
    ck_assert_str_eq(js(r.json, "status"), "READY");
    tp_resp_free(&r);
    snprintf(body, sizeof body,
             "{\"last_processed_event_id\":\"%s\",\"status\":null,\"status_reason\":null}", ev1);
    r = req("PUT", path, body);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(
        strstr(js(r.json, "message"), "Cannot move cursor backwards: new sequence ID "));
    tp_resp_free(&r);
    r = req("PUT", path,
            "{\"last_processed_event_id\":\"00000000-0000-4000-8000-000000000000\",\"status\":null,"
            "\"status_reason\":null}");
    expect_error(&r, 400, "Event with ID 00000000-0000-4000-8000-000000000000 not found");
    tp_resp_free(&r);
    snprintf(body, sizeof body, "{\"last_processed_event_id\":\"%s\"}", ev3); /* equal: allowed */
    r = req("PUT", path, body);
    ck_assert_int_eq(r.status, 200);
    ck_assert(jnull(r.json, "status")); /* always overwritten */
    ck_assert(jnull(r.json, "status_reason"));
    tp_resp_free(&r);
    r = req("PUT", path,
            "{\"last_processed_event_id\":null,\"status\":\"X\",\"status_reason\":null}");
    ck_assert_str_eq(js(r.json, "last_processed_event_id"), ev3);
    ck_assert_str_eq(js(r.json, "status"), "X");
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/tracker/%s", f.task_id);
    r = req("PUT", path,
            "{\"last_processed_event_id\":null,\"status\":null,\"status_reason\":null}");
    expect_error(&r, 400, "No record found for given key");
    tp_resp_free(&r);
    free(ackb);
    fake_backend_stop(f.fb);
}
END_TEST

START_TEST(rpc_cancel_interrupt_and_rules)
{
    agentfix_t f;
    async_agent_with_task(&f);
    char params[256];
    snprintf(params, sizeof params, "{\"task_id\":\"%s\"}", f.task_id);
    /* interrupt: courier only */
    char *ackb = ack("TASK_INTERRUPT", f.task_id);
    fake_backend_push(f.fb, 200, ackb);
    free(ackb);
    cJSON *env = rpc("demo-agent", "task/interrupt", params, "x-agent-api-key: spoofed");
    ck_assert_str_eq(js(rpc_result(env), "status"), "RUNNING");
    cJSON_Delete(env);
    /* the client's credential headers are never forwarded; the agent's key is */
    ck_assert_str_eq(fake_request_header(fake_backend_request(f.fb, 2), "x-agent-api-key"), f.key);
    ck_assert_str_ne(fake_request_header(fake_backend_request(f.fb, 2), "x-request-id"),
                     fake_request_header(fake_backend_request(f.fb, 1), "x-request-id"));
    /* cancel, agent error: status unchanged */
    snprintf(params, sizeof params, "{\"task_name\":\"job\"}");
    char err[512];
    snprintf(err, sizeof err,
             "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":-32601,\"message\":"
             "\"Unauthorized\","
             "\"data\":null},\"id\":\"AgentRPCMethod.TASK_CANCEL-%s\"}",
             f.task_id);
    fake_backend_push(f.fb, 200, err);
    env = rpc("demo-agent", "task/cancel", params, NULL);
    int code;
    const char *msg = rpc_error(env, &code);
    ck_assert_int_eq(code, -32603);
    ck_assert_ptr_nonnull(strstr(msg, "RPC error: "));
    ck_assert_ptr_nonnull(strstr(msg, "Unauthorized"));
    cJSON_Delete(env);
    /* cancel acked: CANCELED "Task canceled by user" */
    ackb = ack("TASK_CANCEL", f.task_id);
    fake_backend_push(f.fb, 200, ackb);
    free(ackb);
    env = rpc("demo-agent", "task/cancel", params, NULL);
    const cJSON *t = rpc_result(env);
    ck_assert_str_eq(js(t, "status"), "CANCELED");
    ck_assert_str_eq(js(t, "status_reason"), "Task canceled by user");
    cJSON_Delete(env);
    const fake_request_t *q = fake_backend_request(f.fb, 4);
    cJSON *b = cJSON_Parse(q->body);
    ck_assert_str_eq(js(b, "method"), "task/cancel");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(b, "params")), 2);
    cJSON_Delete(b);
    /* message/send is not for async agents */
    env = rpc("demo-agent", "message/send",
              "{\"task_id\":\"x\",\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":"
              "\"hi\"}}",
              NULL);
    msg = rpc_error(env, &code);
    ck_assert_int_eq(code, -32603);
    ck_assert_str_eq(msg,
                     "Unsupported method: AgentRPCMethod.MESSAGE_SEND for ACP type: ACPType.ASYNC");
    cJSON_Delete(env);
    /* unknown task id / name */
    env = rpc("demo-agent", "event/send", "{\"task_id\":\"nope\"}", NULL);
    msg = rpc_error(env, &code);
    ck_assert_str_eq(msg, "Item with id 'nope' does not exist.");
    cJSON_Delete(env);
    /* bad envelopes are HTTP 422 */
    tp_resp_t r = req("POST", "/agents/name/demo-agent/rpc",
                      "{\"jsonrpc\":\"2.0\",\"method\":\"task/approve\",\"params\":{},\"id\":1}");
    expect_422(&r, "method");
    tp_resp_free(&r);
    r = req("POST", "/agents/name/demo-agent/rpc",
            "{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"id\":1}");
    expect_422(&r, "params");
    tp_resp_free(&r);
    r = req("POST", "/agents/name/demo-agent/rpc", "not json");
    expect_422(&r, "JSON");
    tp_resp_free(&r);
    env = rpc("demo-agent", "task/create", "{\"params\":\"not an object\"}", NULL);
    msg = rpc_error(env, &code);
    ck_assert_int_eq(code, -32602);
    ck_assert_str_eq(msg, "Invalid parameters: params.params: Input should be a valid dictionary");
    cJSON_Delete(env);
    /* unknown agent */
    env = rpc("ghost", "task/create", "{}", NULL);
    msg = rpc_error(env, &code);
    ck_assert_str_eq(msg, "Item with name 'ghost' does not exist.");
    cJSON_Delete(env);
    fake_backend_stop(f.fb);
}
END_TEST

START_TEST(rpc_message_send_sync_agent)
{
    fake_backend_t *fb = fake_backend_start();
    cJSON *a = register_agent("echo", fake_backend_url(fb), "sync");
    cJSON_Delete(a);
    char tid[64];
    snprintf(tid, sizeof tid, "%s", sync_task("echo", "chat"));
    ck_assert_int_eq((int)fake_backend_count(fb),
                     0); /* task/create is not forwarded to sync agents */
    char id[128], nd[4096];
    snprintf(id, sizeof id, "AgentRPCMethod.MESSAGE_SEND-%s", tid);
    snprintf(nd, sizeof nd,
             "{\"jsonrpc\":\"2.0\",\"result\":{\"content\":{\"author\":\"agent\",\"content\":\"\","
             "\"format\":\"markdown\",\"type\":\"text\"},\"index\":0,\"parent_task_message\":null,"
             "\"type\":\"start\"},\"error\":null,\"id\":\"%s\"}\n"
             "{\"jsonrpc\":\"2.0\",\"result\":{\"delta\":{\"text_delta\":\"Hel\",\"type\":\"text\"}"
             ",\"index\":0,\"parent_task_message\":null,\"type\":\"delta\"},\"error\":null,\"id\":"
             "\"%s\"}\n"
             "{\"jsonrpc\":\"2.0\",\"result\":{\"delta\":{\"text_delta\":\"lo\",\"type\":\"text\"},"
             "\"index\":0,\"parent_task_message\":null,\"type\":\"delta\"},\"error\":null,\"id\":"
             "\"%s\"}\n"
             "{\"jsonrpc\":\"2.0\",\"result\":{\"index\":0,\"parent_task_message\":null,\"type\":"
             "\"done\"},\"error\":null,\"id\":\"%s\"}\n",
             id, id, id, id);
    fake_backend_push_full(fb, 200, "application/x-ndjson", NULL, nd);
    char params[512];
    snprintf(params, sizeof params,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":"
             "\"hi\"},\"stream\":false}",
             tid);
    cJSON *env = rpc("echo", "message/send", params, NULL);
    const cJSON *res = rpc_result(env);
    ck_assert(cJSON_IsArray(res));
    ck_assert_int_eq(cJSON_GetArraySize(res), 1);
    ck_assert_str_eq(js(cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0), "content"), "content"),
                     "Hello");
    ck_assert_str_eq(js(cJSON_GetArrayItem(res, 0), "streaming_status"), "DONE");
    cJSON_Delete(env);
    const fake_request_t *q = fake_backend_request(fb, 0);
    cJSON *b = cJSON_Parse(q->body);
    ck_assert_str_eq(js(b, "id"), id);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "params"), "stream")));
    ck_assert_str_eq(
        js(cJSON_GetObjectItem(cJSON_GetObjectItem(b, "params"), "content"), "content"), "hi");
    cJSON_Delete(b);
    ck_assert_str_eq(fake_request_header(q, "accept"), "text/event-stream");
    /* stored: user message + agent message */
    char path[256];
    snprintf(path, sizeof path, "/messages?task_id=%s&order_direction=asc", tid);
    tp_resp_t r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 2);
    ck_assert_str_eq(js(cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 0), "content"), "author"),
                     "user");
    ck_assert_str_eq(js(cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 1), "content"), "content"),
                     "Hello");
    tp_resp_free(&r);

    /* streaming client: NDJSON relayed with parent_task_message filled in */
    fake_backend_push_full(fb, 200, "application/x-ndjson", NULL, nd);
    snprintf(params, sizeof params,
             "{\"jsonrpc\":\"2.0\",\"method\":\"message/"
             "send\",\"params\":{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":"
             "\"user\",\"content\":\"again\"},\"stream\":true},\"id\":\"s1\"}",
             tid);
    r = req("POST", "/agents/name/echo/rpc", params);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.ctype, "application/x-ndjson");
    int lines = 0;
    char *copy = strdup(r.body);
    for (char *line = copy, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        cJSON *l = cJSON_Parse(line);
        ck_assert_ptr_nonnull(l);
        ck_assert_str_eq(js(l, "id"), "s1");
        ck_assert(jnull(l, "error"));
        const cJSON *u = cJSON_GetObjectItem(l, "result");
        const cJSON *ptm = cJSON_GetObjectItem(u, "parent_task_message");
        ck_assert_msg(cJSON_IsObject(ptm), "line %d without parent: %s", lines, line);
        ck_assert_str_eq(js(ptm, "task_id"), tid);
        if (lines == 3) {
            ck_assert_str_eq(js(u, "type"), "done");
            ck_assert_str_eq(js(cJSON_GetObjectItem(ptm, "content"), "content"), "Hello");
            ck_assert_str_eq(js(ptm, "streaming_status"), "DONE");
        }
        cJSON_Delete(l);
        lines++;
    }
    free(copy);
    ck_assert_int_eq(lines, 4);
    tp_resp_free(&r);

    /* stream failure: last line is the error, the task FAILED */
    fake_backend_push_full(
        fb, 200, "application/x-ndjson", NULL,
        "{\"jsonrpc\":\"2.0\",\"result\":null,\"error\":{\"code\":-32603,\"message\":\"model "
        "unavailable\",\"data\":null},\"id\":\"AgentRPCMethod.MESSAGE_SEND-x\"}\n");
    r = req("POST", "/agents/name/echo/rpc", params);
    ck_assert_ptr_nonnull(strstr(r.body, "\"error\":{\"code\":-32603"));
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/tasks/%s", tid);
    r = req("GET", path, NULL);
    ck_assert_str_eq(js(r.json, "status"), "FAILED");
    tp_resp_free(&r);
    /* sync agents do not take event/send */
    env = rpc("echo", "event/send", "{\"task_id\":\"x\"}", NULL);
    int code;
    ck_assert_str_eq(rpc_error(env, &code),
                     "Unsupported method: AgentRPCMethod.EVENT_SEND for ACP type: ACPType.SYNC");
    cJSON_Delete(env);
    fake_backend_stop(fb);
}
END_TEST

/* Streaming message/send whose agent sends start then done with no delta in between (a
 * message announced with its whole content): the done persists it with DONE (2.9: done/full
 * -> update with streaming_status DONE), on the store and in the relayed done line. */
START_TEST(rpc_message_send_start_done_without_deltas)
{
    fake_backend_t *fb = fake_backend_start();
    cJSON *a = register_agent("echo2", fake_backend_url(fb), "sync");
    cJSON_Delete(a);
    char tid[64];
    snprintf(tid, sizeof tid, "%s", sync_task("echo2", "chat2"));
    char id[128], nd[2048];
    snprintf(id, sizeof id, "AgentRPCMethod.MESSAGE_SEND-%s", tid);
    snprintf(nd, sizeof nd,
             "{\"jsonrpc\":\"2.0\",\"result\":{\"content\":{\"author\":\"agent\",\"content\":"
             "\"All done\",\"format\":\"plain\",\"type\":\"text\"},\"index\":0,"
             "\"parent_task_message\":null,\"type\":\"start\"},\"error\":null,\"id\":\"%s\"}\n"
             "{\"jsonrpc\":\"2.0\",\"result\":{\"index\":0,\"parent_task_message\":null,\"type\":"
             "\"done\"},\"error\":null,\"id\":\"%s\"}\n",
             id, id);
    fake_backend_push_full(fb, 200, "application/x-ndjson", NULL, nd);
    char body[512];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"method\":\"message/send\",\"params\":{\"task_id\":\"%s\","
             "\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":\"hi\"},"
             "\"stream\":true},\"id\":\"s2\"}",
             tid);
    tp_resp_t r = req("POST", "/agents/name/echo2/rpc", body);
    ck_assert_int_eq(r.status, 200);
    char *nl = strchr(r.body, '\n');
    ck_assert_ptr_nonnull(nl);
    cJSON *l = cJSON_Parse(nl + 1); /* the second line: done */
    ck_assert_ptr_nonnull(l);
    const cJSON *u = cJSON_GetObjectItem(l, "result");
    ck_assert_str_eq(js(u, "type"), "done");
    const cJSON *ptm = cJSON_GetObjectItem(u, "parent_task_message");
    ck_assert_str_eq(js(ptm, "streaming_status"), "DONE");
    ck_assert_str_eq(js(cJSON_GetObjectItem(ptm, "content"), "content"), "All done");
    cJSON_Delete(l);
    tp_resp_free(&r);
    char path[256];
    snprintf(path, sizeof path, "/messages?task_id=%s&order_direction=asc", tid);
    r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 2);
    const cJSON *m = cJSON_GetArrayItem(r.json, 1);
    ck_assert_str_eq(js(cJSON_GetObjectItem(m, "content"), "content"), "All done");
    ck_assert_str_eq(js(m, "streaming_status"), "DONE");
    tp_resp_free(&r);
    fake_backend_stop(fb);
}
END_TEST

/* An agent update whose index is not an integer (pydantic int: 1.5 is rejected) fails the
 * call like any invalid update; message/send's task_params update bumps updated_at like
 * task/create's. */
START_TEST(rpc_message_send_fractional_index_and_params_update)
{
    fake_backend_t *fb = fake_backend_start();
    cJSON *a = register_agent("echo3", fake_backend_url(fb), "sync");
    cJSON_Delete(a);
    char tid[64], path[256];
    snprintf(tid, sizeof tid, "%s", sync_task("echo3", "chat3"));
    snprintf(path, sizeof path, "/tasks/%s", tid);
    tp_resp_t r = req("GET", path, NULL);
    char before[64];
    snprintf(before, sizeof before, "%s", js(r.json, "updated_at"));
    tp_resp_free(&r);
    char id[128], nd[1024];
    snprintf(id, sizeof id, "AgentRPCMethod.MESSAGE_SEND-%s", tid);
    snprintf(nd, sizeof nd,
             "{\"jsonrpc\":\"2.0\",\"result\":{\"content\":{\"author\":\"agent\",\"content\":"
             "\"x\",\"type\":\"text\"},\"index\":0.5,\"parent_task_message\":null,\"type\":"
             "\"full\"},\"error\":null,\"id\":\"%s\"}\n",
             id);
    fake_backend_push_full(fb, 200, "application/x-ndjson", NULL, nd);
    char params[512];
    snprintf(params, sizeof params,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":"
             "\"hi\"},\"stream\":false,\"task_params\":{\"topic\":\"rain\"}}",
             tid);
    cJSON *env = rpc("echo3", "message/send", params, NULL);
    int code;
    const char *msg = rpc_error(env, &code);
    ck_assert_int_eq(code, -32603);
    ck_assert_msg(strstr(msg, "index"), "%s", msg);
    cJSON_Delete(env);
    r = req("GET", path, NULL);
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "params"), "topic"), "rain");
    ck_assert_str_ne(js(r.json, "updated_at"), before);
    tp_resp_free(&r);
    /* a delta whose text is not a string (TextDelta.text_delta: str | None) is invalid too */
    snprintf(nd, sizeof nd,
             "{\"jsonrpc\":\"2.0\",\"result\":{\"delta\":{\"text_delta\":5,\"type\":\"text\"},"
             "\"index\":0,\"parent_task_message\":null,\"type\":\"delta\"},\"error\":null,"
             "\"id\":\"%s\"}\n",
             id);
    fake_backend_push_full(fb, 200, "application/x-ndjson", NULL, nd);
    env = rpc("echo3", "message/send", params, NULL);
    msg = rpc_error(env, &code);
    ck_assert_int_eq(code, -32603);
    ck_assert_msg(strstr(msg, "delta"), "%s", msg);
    cJSON_Delete(env);
    fake_backend_stop(fb);
}
END_TEST

/* ---- SSE --------------------------------------------------------------------------------------
 */

typedef struct sse {
    pthread_t th;
    pthread_mutex_t mu;
    tp_buf_t buf;
    char url[512];
    bool finished;
    CURLcode rc;
    char ctype[128];
} sse_t;

static void *sse_main(void *arg)
{
    sse_t *s = arg;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 8000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tp_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s->buf);
    CURLcode rc = curl_easy_perform(c);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    pthread_mutex_lock(&s->mu);
    snprintf(s->ctype, sizeof s->ctype, "%s", ct ? ct : "");
    pthread_mutex_unlock(&s->mu);
    curl_easy_cleanup(c);
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    s->finished = true;
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void sse_open(sse_t *s, const char *path)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->buf.mu = &s->mu;
    snprintf(s->url, sizeof s->url, "%s%s", g_base, path);
    pthread_create(&s->th, NULL, sse_main, s);
}

/* Waits until the stream text contains needle (true) or timeout. */
static bool sse_wait(sse_t *s, const char *needle, long ms)
{
    for (long t = 0; t < ms; t += 10) {
        pthread_mutex_lock(&s->mu);
        bool found = s->buf.data && strstr(s->buf.data, needle);
        pthread_mutex_unlock(&s->mu);
        if (found)
            return true;
        usleep(10000);
    }
    return false;
}

static bool sse_finished(sse_t *s, long ms)
{
    for (long t = 0; t < ms; t += 10) {
        pthread_mutex_lock(&s->mu);
        bool f = s->finished;
        pthread_mutex_unlock(&s->mu);
        if (f)
            return true;
        usleep(10000);
    }
    return false;
}

static void sse_close(sse_t *s)
{
    pthread_join(s->th, NULL);
    free(s->buf.data);
    pthread_mutex_destroy(&s->mu);
}

START_TEST(sse_stream_frames)
{
    cJSON *a = register_agent("syncy", "http://127.0.0.1:9", "sync");
    cJSON_Delete(a);
    char tid[64], path[256], expect[512], body[512];
    snprintf(tid, sizeof tid, "%s", sync_task("syncy", "streamed"));
    sse_t s;
    sse_open(&s, "/tasks/name/streamed/stream");
    snprintf(expect, sizeof expect, "data: {\"type\":\"connected\",\"taskId\":\"%s\"}\n\n", tid);
    ck_assert(sse_wait(&s, expect, 3000));
    pthread_mutex_lock(&s.mu);
    ck_assert_msg(strncmp(s.buf.data, expect, strlen(expect)) == 0, "first frame: %s", s.buf.data);
    pthread_mutex_unlock(&s.mu);
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":"
             "\"hello sse\"}}",
             tid);
    tp_resp_t r = req("POST", "/messages", body);
    ck_assert(sse_wait(
        &s, "data: {\"type\":\"full\",\"index\":null,\"parent_task_message\":{\"id\":\"", 3000));
    ck_assert(sse_wait(&s, "\"content\":\"hello sse\"", 3000));
    tp_resp_free(&r);

    /* a streamed message: its IN_PROGRESS create gets no `full` (the agent publishes start and
     * deltas itself), its final PUT ... DONE does */
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":"
             "\"streamed-start-marker\"},\"streaming_status\":\"IN_PROGRESS\"}",
             tid);
    r = req("POST", "/messages", body);
    ck_assert_int_eq(r.status, 200);
    char mpath[128];
    snprintf(mpath, sizeof mpath, "/messages/%s", js(r.json, "id"));
    tp_resp_free(&r);
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":"
             "\"streamed-done-marker\"},\"streaming_status\":\"DONE\"}",
             tid);
    r = req("PUT", mpath, body);
    ck_assert_int_eq(r.status, 200);
    tp_resp_free(&r);
    ck_assert(sse_wait(&s, "\"content\":\"streamed-done-marker\"", 3000));
    pthread_mutex_lock(&s.mu);
    ck_assert_ptr_null(strstr(s.buf.data, "streamed-start-marker"));
    pthread_mutex_unlock(&s.mu);
    snprintf(path, sizeof path, "/tasks/%s", tid);
    r = req("PUT", path, "{\"task_metadata\":{\"k\":1}}");
    tp_resp_free(&r);
    ck_assert(sse_wait(&s, "data: {\"type\":\"task_updated\",\"task\":{", 3000));
    ck_assert(!sse_finished(&s, 100)); /* non-terminal: still open */
    snprintf(path, sizeof path, "/tasks/%s/complete", tid);
    r = req("POST", path, NULL);
    tp_resp_free(&r);
    ck_assert(sse_wait(&s, "\"status\":\"COMPLETED\"", 3000));
    ck_assert(sse_finished(&s, 3000));
    ck_assert_int_eq(s.rc, CURLE_OK);
    ck_assert_str_eq(s.ctype, "text/event-stream");
    pthread_mutex_lock(&s.mu);
    size_t len = s.buf.len;
    ck_assert(len > 2 && strcmp(s.buf.data + len - 2, "\n\n") == 0);
    ck_assert_ptr_null(strstr(s.buf.data, "event:"));
    pthread_mutex_unlock(&s.mu);
    sse_close(&s);

    /* already terminal: connected, then the stream ends */
    snprintf(path, sizeof path, "/tasks/%s/stream", tid);
    sse_open(&s, path);
    ck_assert(sse_finished(&s, 3000));
    pthread_mutex_lock(&s.mu);
    ck_assert_str_eq(s.buf.data, expect);
    pthread_mutex_unlock(&s.mu);
    sse_close(&s);

    r = req("GET", "/tasks/nope/stream", NULL);
    expect_error(&r, 404, "Item with id 'nope' does not exist.");
    tp_resp_free(&r);
}
END_TEST

START_TEST(sse_keepalive_ping)
{
    ck_assert_int_eq(stop_dev(), 0);
    const char *args[] = {"--ping-interval-ms", "200", NULL};
    start_dev(args);
    cJSON *a = register_agent("syncy", "http://127.0.0.1:9", "sync");
    cJSON_Delete(a);
    char tid[64], path[256];
    snprintf(tid, sizeof tid, "%s", sync_task("syncy", "quiet"));
    snprintf(path, sizeof path, "/tasks/%s/stream", tid);
    sse_t s;
    sse_open(&s, path);
    ck_assert(sse_wait(&s, "}\n\n:ping\n\n", 3000));
    snprintf(path, sizeof path, "/tasks/%s", tid);
    tp_resp_t r = req("DELETE", path, NULL);
    tp_resp_free(&r);
    ck_assert(sse_wait(&s, "\"status\":\"DELETED\"", 3000));
    ck_assert(sse_finished(&s, 3000));
    sse_close(&s);
}
END_TEST

/* ---- websockets (a minimal client) ---------------------------------------------------------- */

static int raw_connect(const char *path, bool upgrade, char *status_line, size_t sl)
{
    return tp_raw_get(tp_url_port(g_base), path, upgrade, 3, status_line, sl);
}

static int ws_connect(const char *path, char *status_line, size_t sl)
{
    return raw_connect(path, true, status_line, sl);
}

static void ws_send_text(int fd, const char *text)
{
    size_t len = strlen(text);
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = 0x81;
    if (len < 126) {
        hdr[h++] = (unsigned char)(0x80 | len);
    } else {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(len >> 8);
        hdr[h++] = (unsigned char)len;
    }
    const unsigned char mask[4] = {1, 2, 3, 4};
    memcpy(hdr + h, mask, 4);
    h += 4;
    unsigned char *frame = malloc(h + len);
    memcpy(frame, hdr, h);
    for (size_t i = 0; i < len; i++)
        frame[h + i] = (unsigned char)text[i] ^ mask[i % 4];
    ck_assert_int_eq(write(fd, frame, h + len), (ssize_t)(h + len));
    free(frame);
}

START_TEST(websocket_stream_and_publish)
{
    cJSON *a = register_agent("syncy", "http://127.0.0.1:9", "sync");
    cJSON_Delete(a);
    char tid[64], path[256], status[256], expect[256];
    snprintf(tid, sizeof tid, "%s", sync_task("syncy", "wsjob"));
    snprintf(path, sizeof path, "/tasks/%s/stream/ws", tid);
    int sub = ws_connect(path, status, sizeof status);
    ck_assert_ptr_nonnull(strstr(status, " 101"));
    int op = 0;
    char *m = tp_ws_recv(sub, &op);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(op, 1);
    snprintf(expect, sizeof expect, "{\"type\":\"connected\",\"taskId\":\"%s\"}", tid);
    ck_assert_str_eq(m, expect);
    free(m);
    sse_t s;
    sse_open(&s, "/tasks/name/wsjob/stream");
    snprintf(expect, sizeof expect, "\"taskId\":\"%s\"", tid);
    ck_assert(sse_wait(&s, expect, 3000));

    int pubfd = ws_connect("/stream/publish", status, sizeof status);
    ck_assert_ptr_nonnull(strstr(status, " 101"));
    ws_send_text(pubfd, "this is not json");
    ws_send_text(pubfd, "{\"type\":\"start\",\"content\":{\"type\":\"text\",\"author\":\"agent\","
                        "\"content\":\"\"}}");
    char upd[1024];
    snprintf(
        upd, sizeof upd,
        "{\"type\":\"delta\",\"index\":null,\"delta\":{\"type\":\"text\",\"text_delta\":\"Sunny\"},"
        "\"parent_task_message\":{\"id\":\"66a1f0c2b9e4d83a17c5e902\",\"task_id\":\"%s\","
        "\"content\":"
        "{\"type\":\"text\",\"author\":\"agent\",\"content\":\"\"}}}",
        tid);
    ws_send_text(pubfd, upd);
    m = tp_ws_recv(sub, &op);
    ck_assert_ptr_nonnull(m);
    cJSON *j = cJSON_Parse(m);
    ck_assert_str_eq(js(j, "type"), "delta");
    ck_assert(jnull(j, "index"));
    ck_assert_str_eq(js(cJSON_GetObjectItem(j, "delta"), "text_delta"), "Sunny");
    ck_assert_str_eq(js(cJSON_GetObjectItem(j, "parent_task_message"), "task_id"), tid);
    cJSON_Delete(j);
    free(m);
    ck_assert(
        sse_wait(&s, "data: {\"type\":\"delta\",\"index\":null,\"parent_task_message\":{", 3000));
    ck_assert(sse_wait(&s, "\"text_delta\":\"Sunny\"", 3000));

    snprintf(path, sizeof path, "/tasks/%s/fail", tid);
    tp_resp_t r = req("POST", path, "{\"reason\":\"boom\"}");
    tp_resp_free(&r);
    m = tp_ws_recv(sub, &op);
    ck_assert_ptr_nonnull(m);
    j = cJSON_Parse(m);
    ck_assert_str_eq(js(j, "type"), "task_updated");
    ck_assert_str_eq(js(cJSON_GetObjectItem(j, "task"), "status"), "FAILED");
    cJSON_Delete(j);
    free(m);
    m = tp_ws_recv(sub, &op);
    ck_assert_int_eq(op, 8); /* close */
    free(m);
    ck_assert(sse_finished(&s, 3000));
    sse_close(&s);
    close(sub);
    close(pubfd);
    /* unknown task: refused */
    int bad = ws_connect("/tasks/nope/stream/ws", status, sizeof status);
    ck_assert_ptr_null(strstr(status, " 101"));
    close(bad);
}
END_TEST

typedef struct bgrpc {
    pthread_t th;
    const char *method; /* NULL: event/send */
    char params[512];
    tp_resp_t r;
} bgrpc_t;

static void *bgrpc_main(void *arg)
{
    bgrpc_t *b = arg;
    char url[1024];
    snprintf(url, sizeof url, "%s/agents/name/demo-agent/rpc", g_base);
    CURL *c = curl_easy_init();
    tp_buf_t out = {0};
    char body[1024];
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":%s,\"id\":1}",
             b->method ? b->method : "event/send", b->params);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 8000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tp_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    (void)curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &b->r.status);
    curl_easy_cleanup(c);
    b->r.body = out.data;
    return NULL;
}

START_TEST(shutdown_with_streams_and_rpc_in_flight)
{
    agentfix_t f;
    async_agent_with_task(&f);
    char path[256];
    snprintf(path, sizeof path, "/tasks/%s/stream", f.task_id);
    sse_t s;
    sse_open(&s, path);
    ck_assert(sse_wait(&s, "\"type\":\"connected\"", 3000));
    char *ackb = ack("EVENT_SEND", f.task_id);
    fake_backend_push_delayed(f.fb, 60000, 200, ackb); /* an agent that hangs */
    free(ackb);
    bgrpc_t b;
    memset(&b, 0, sizeof b);
    snprintf(b.params, sizeof b.params, "{\"task_id\":\"%s\"}", f.task_id);
    pthread_create(&b.th, NULL, bgrpc_main, &b);
    ck_assert_int_ge((int)fake_backend_wait(f.fb, 3, 3000), 3); /* the event is being delivered */
    /* clean exit (not SIGKILLed after 10 s), no leak, with a stream and a hung RPC open */
    ck_assert_int_eq(stop_dev(), 0);
    ck_assert(sse_finished(&s, 3000));
    sse_close(&s);
    pthread_join(b.th, NULL);
    free(b.r.body);
    fake_backend_stop(f.fb);
}
END_TEST

/* A FAILED task re-forwarded by task/create (name) goes back to RUNNING once the agent acks;
 * a write made to the task while the forward was in flight (here its metadata) is kept, not
 * overwritten by the snapshot taken before the forward. */
START_TEST(rpc_task_create_refailed_keeps_concurrent_write)
{
    agentfix_t f;
    async_agent_with_task(&f);
    char path[256];
    snprintf(path, sizeof path, "/tasks/%s/fail", f.task_id);
    tp_resp_t r = req("POST", path, NULL);
    ck_assert_int_eq(r.status, 200);
    tp_resp_free(&r);
    char *ackb = ack("TASK_CREATE", f.task_id);
    fake_backend_push_delayed(f.fb, 1500, 200, ackb);
    free(ackb);
    bgrpc_t b;
    memset(&b, 0, sizeof b);
    b.method = "task/create";
    snprintf(b.params, sizeof b.params, "{\"name\":\"job\"}");
    pthread_create(&b.th, NULL, bgrpc_main, &b);
    ck_assert_int_ge((int)fake_backend_wait(f.fb, 3, 3000), 3); /* the forward is in flight */
    snprintf(path, sizeof path, "/tasks/%s", f.task_id);
    r = req("PUT", path, "{\"task_metadata\":{\"owner\":\"u9\"}}");
    ck_assert_int_eq(r.status, 200);
    tp_resp_free(&r);
    pthread_join(b.th, NULL);
    ck_assert_int_eq(b.r.status, 200);
    cJSON *env = cJSON_Parse(b.r.body);
    ck_assert_ptr_nonnull(env);
    const cJSON *t = rpc_result(env);
    ck_assert_str_eq(js(t, "status"), "RUNNING");
    ck_assert_str_eq(js(cJSON_GetObjectItem(t, "task_metadata"), "owner"), "u9");
    cJSON_Delete(env);
    free(b.r.body);
    r = req("GET", path, NULL);
    ck_assert_str_eq(js(r.json, "status"), "RUNNING");
    ck_assert_str_eq(js(r.json, "status_reason"), "Task forwarded to ACP server");
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "task_metadata"), "owner"), "u9");
    tp_resp_free(&r);
    fake_backend_stop(f.fb);
}
END_TEST

/* Protocol 5.2: an INTERRUPTED task resumes (RUNNING, "Task resumed on next turn") on a new
 * turn, task/create by name, but not on event/send (9.5); 2.11: the forward carries the
 * client's x-* and W3C trace headers, never its credentials, hop-by-hop headers or its own
 * x-request-id. */
START_TEST(rpc_resume_on_next_turn_and_header_filter)
{
    agentfix_t f;
    async_agent_with_task(&f);
    char path[256], params[512];
    snprintf(path, sizeof path, "/tasks/%s/interrupt", f.task_id);
    tp_resp_t r = req("POST", path, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "status"), "INTERRUPTED");
    tp_resp_free(&r);
    /* event/send: forwarded, the task stays INTERRUPTED */
    char *ackb = ack("EVENT_SEND", f.task_id);
    fake_backend_push(f.fb, 200, ackb);
    free(ackb);
    snprintf(params, sizeof params, "{\"task_id\":\"%s\"}", f.task_id);
    char url[512];
    snprintf(url, sizeof url, "%s/agents/name/demo-agent/rpc", g_base);
    char body[600];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"method\":\"event/send\",\"params\":%s,\"id\":1}", params);
    CURL *cu = curl_easy_init();
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "X-User-Tag: blue");
    h = curl_slist_append(h,
                          "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    h = curl_slist_append(h, "baggage: k=v");
    h = curl_slist_append(h, "Authorization: Bearer secret");
    h = curl_slist_append(h, "Cookie: _identityJwt=abc");
    h = curl_slist_append(h, "x-api-key: k1");
    h = curl_slist_append(h, "x-agent-api-key: spoofed");
    h = curl_slist_append(h, "x-selected-account-id: acct");
    h = curl_slist_append(h, "x-request-id: client-chosen");
    h = curl_slist_append(h, "user-agent: my-client/1");
    tp_buf_t out = {0};
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, 8000L);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, tp_buf_write);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &out);
    ck_assert_int_eq(curl_easy_perform(cu), CURLE_OK);
    curl_easy_cleanup(cu);
    curl_slist_free_all(h);
    cJSON *env = cJSON_Parse(out.data);
    free(out.data);
    ck_assert_ptr_nonnull(env);
    rpc_result(env);
    cJSON_Delete(env);
    const fake_request_t *q = fake_backend_request(f.fb, 2);
    ck_assert_str_eq(fake_request_header(q, "x-user-tag"), "blue");
    ck_assert_str_eq(fake_request_header(q, "traceparent"),
                     "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    ck_assert_str_eq(fake_request_header(q, "baggage"), "k=v");
    ck_assert_ptr_null(fake_request_header(q, "authorization"));
    ck_assert_ptr_null(fake_request_header(q, "cookie"));
    ck_assert_ptr_null(fake_request_header(q, "x-api-key"));
    ck_assert_ptr_null(fake_request_header(q, "x-selected-account-id"));
    ck_assert_str_eq(fake_request_header(q, "x-agent-api-key"), f.key);
    ck_assert(is_hex(fake_request_header(q, "x-request-id"), 32));
    ck_assert_str_ne(fake_request_header(q, "user-agent"), "my-client/1");
    snprintf(path, sizeof path, "/tasks/%s", f.task_id);
    r = req("GET", path, NULL);
    ck_assert_str_eq(js(r.json, "status"), "INTERRUPTED");
    tp_resp_free(&r);
    /* task/create by name: a new turn, RUNNING again before the forward */
    ackb = ack("TASK_CREATE", f.task_id);
    fake_backend_push(f.fb, 200, ackb);
    free(ackb);
    env = rpc("demo-agent", "task/create", "{\"name\":\"job\"}", NULL);
    const cJSON *t = rpc_result(env);
    ck_assert_str_eq(js(t, "status"), "RUNNING");
    ck_assert_str_eq(js(t, "status_reason"), "Task resumed on next turn");
    cJSON_Delete(env);
    cJSON *fwd = cJSON_Parse(fake_backend_request(f.fb, 3)->body);
    const cJSON *ft = cJSON_GetObjectItem(cJSON_GetObjectItem(fwd, "params"), "task");
    ck_assert_str_eq(js(ft, "status"), "RUNNING");
    cJSON_Delete(fwd);
    /* a terminal task is not resumed by a new turn */
    snprintf(path, sizeof path, "/tasks/%s/complete", f.task_id);
    r = req("POST", path, NULL);
    ck_assert_int_eq(r.status, 200);
    tp_resp_free(&r);
    ackb = ack("TASK_CREATE", f.task_id);
    fake_backend_push(f.fb, 200, ackb);
    free(ackb);
    env = rpc("demo-agent", "task/create", "{\"name\":\"job\"}", NULL);
    ck_assert_str_eq(js(rpc_result(env), "status"), "COMPLETED");
    cJSON_Delete(env);
    fake_backend_stop(f.fb);
}
END_TEST

START_TEST(rpc_agent_down_by_id)
{
    /* a port nothing listens on: bind, read the port, close */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));
    cJSON *a = register_agent("down-agent", url, "async");
    char path[256];
    snprintf(path, sizeof path, "/agents/%s/rpc", js(a, "id"));
    tp_resp_t r =
        req("POST", path,
            "{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"params\":{\"name\":\"doomed\"},"
            "\"id\":\"abc\"}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "id"), "abc");
    ck_assert(jnull(r.json, "result"));
    const cJSON *e = cJSON_GetObjectItem(r.json, "error");
    ck_assert_int_eq((int)jnum(e, "code"), -32603);
    char reason[512];
    snprintf(reason, sizeof reason, "%s", js(e, "message"));
    ck_assert_uint_gt(strlen(reason), 0);
    tp_resp_free(&r);
    r = req("GET", "/tasks/name/doomed", NULL);
    ck_assert_str_eq(js(r.json, "status"), "FAILED");
    ck_assert_str_eq(js(r.json, "status_reason"), reason);
    tp_resp_free(&r);
    /* the tracker row exists although delivery failed */
    r = req("GET", "/tracker", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/agents/%s/rpc", "00000000-0000-4000-8000-000000000000");
    r = req("POST", path,
            "{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"params\":{},\"id\":2}");
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "error"), "message"),
                     "Item with id '00000000-0000-4000-8000-000000000000' does not exist.");
    tp_resp_free(&r);
    cJSON_Delete(a);
}
END_TEST

/* ---- the SDK's adk calls against agentex-dev ----------------------------------------------------
 */

START_TEST(sdk_adk_calls_roundtrip)
{
    agentfix_t f;
    async_agent_with_task(&f);
    char *ackb = ack("EVENT_SEND", f.task_id);
    fake_backend_push(f.fb, 200, ackb);
    free(ackb);
    char params[256];
    snprintf(params, sizeof params,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":"
             "\"q\"}}",
             f.task_id);
    cJSON *env = rpc("demo-agent", "event/send", params, NULL);
    rpc_result(env);
    cJSON_Delete(env);

    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(g_base, &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_agent_api_key(c, f.key), AGENTEX_OK);
    adk_content_t *txt = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_AGENT, "from the sdk", &txt), AGENTEX_OK);
    adk_message_t *m = NULL;
    ck_assert_int_eq(
        adk_messages_create(c, f.task_id, txt, ADK_STREAMING_IN_PROGRESS, ADK_TIME_NONE, &m),
        AGENTEX_OK);
    ck_assert_uint_eq(strlen(adk_message_id(m)), 24);
    adk_message_t *m2 = NULL;
    ck_assert_int_eq(
        adk_messages_update(c, f.task_id, adk_message_id(m), txt, ADK_STREAMING_DONE, &m2),
        AGENTEX_OK);
    ck_assert_str_eq(adk_content_text(adk_message_content(m2)), "from the sdk");
    adk_message_list_t *ml = NULL;
    ck_assert_int_eq(adk_messages_list(c, f.task_id, NULL, &ml), AGENTEX_OK);
    ck_assert_uint_eq(adk_message_list_count(ml), 1);
    adk_message_list_free(ml);
    adk_message_free(m2);
    adk_message_free(m);
    adk_content_free(txt);

    adk_event_list_t *el = NULL;
    ck_assert_int_eq(adk_events_list(c, f.task_id, f.agent_id, NULL, 100, &el), AGENTEX_OK);
    ck_assert_uint_eq(adk_event_list_count(el), 1);
    char evid[64];
    snprintf(evid, sizeof evid, "%s", adk_event_id(adk_event_list_at(el, 0)));
    adk_event_list_free(el);
    adk_tracker_t *t = NULL;
    ck_assert_int_eq(adk_tracker_get_by_task_and_agent(c, f.task_id, f.agent_id, &t), AGENTEX_OK);
    adk_tracker_t *t2 = NULL;
    ck_assert_int_eq(adk_tracker_update(c, adk_tracker_id(t), evid, "READY", NULL, false, &t2),
                     AGENTEX_OK);
    ck_assert_str_eq(adk_tracker_last_processed_event_id(t2), evid);
    ck_assert_int_eq(adk_events_list(c, f.task_id, f.agent_id, evid, 0, &el), AGENTEX_OK);
    ck_assert_uint_eq(adk_event_list_count(el), 0);
    adk_event_list_free(el);
    adk_tracker_free(t2);
    adk_tracker_free(t);
    agentex_client_free(c);
    fake_backend_stop(f.fb);
}
END_TEST

START_TEST(stream_clients_that_leave)
{
    cJSON *a = register_agent("syncy", "http://127.0.0.1:9", "sync");
    cJSON_Delete(a);
    char tid[64], path[256], status[256], body[512];
    snprintf(tid, sizeof tid, "%s", sync_task("syncy", "leavers"));
    /* an SSE client and a websocket client that hang up after "connected" */
    snprintf(path, sizeof path, "/tasks/%s/stream", tid);
    int sse = raw_connect(path, false, status, sizeof status);
    ck_assert_ptr_nonnull(strstr(status, " 200"));
    char tmp[256];
    ck_assert_int_gt((int)read(sse, tmp, sizeof tmp), 0);
    close(sse);
    snprintf(path, sizeof path, "/tasks/%s/stream/ws", tid);
    int ws = ws_connect(path, status, sizeof status);
    ck_assert_ptr_nonnull(strstr(status, " 101"));
    int op;
    free(tp_ws_recv(ws, &op));
    close(ws);
    usleep(100000);
    /* publishing to the departed subscribers is harmless; the server keeps serving */
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body,
                 "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"agent\","
                 "\"content\":\"m%d\"}}",
                 tid, i);
        tp_resp_t r = req("POST", "/messages", body);
        ck_assert_int_eq(r.status, 200);
        tp_resp_free(&r);
    }
    snprintf(path, sizeof path, "/tasks/%s/complete", tid);
    tp_resp_t r = req("POST", path, NULL);
    ck_assert_int_eq(r.status, 200);
    tp_resp_free(&r);
}
END_TEST

/* ---- end to end: a libagentex agent (acp_server_t) behind agentex-dev --------------------------
 */

static agentex_err_t e2e_post(acp_ctx_t *ctx, const adk_task_t *task, const char *text)
{
    adk_content_t *content = NULL;
    agentex_err_t err = adk_content_text_new(ADK_AUTHOR_AGENT, text, &content);
    if (err == AGENTEX_OK)
        err = adk_messages_create(acp_ctx_client(ctx), adk_task_id(task), content,
                                  ADK_STREAMING_NONE, ADK_TIME_NONE, NULL);
    adk_content_free(content);
    return err;
}

static agentex_err_t e2e_on_create(acp_ctx_t *ctx, const adk_task_t *task, const cJSON *params,
                                   void *ud)
{
    (void)params;
    (void)ud;
    return e2e_post(ctx, task, "welcome");
}

static agentex_err_t e2e_on_event(acp_ctx_t *ctx, const adk_task_t *task, const adk_event_t *ev,
                                  void *ud)
{
    (void)ud;
    char reply[256];
    const adk_content_t *c = adk_event_content(ev);
    snprintf(reply, sizeof reply, "You said: %s",
             c && adk_content_text(c) ? adk_content_text(c) : "?");
    return e2e_post(ctx, task, reply);
}

static agentex_err_t e2e_on_cancel(acp_ctx_t *ctx, const adk_task_t *task, void *ud)
{
    (void)ctx;
    (void)task;
    (void)ud;
    return AGENTEX_OK;
}

START_TEST(e2e_libagentex_agent)
{
    acp_server_t *srv = NULL;
    ck_assert_int_eq(acp_server_new(&srv), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_agent(srv, "e2e-echo", NULL, "async"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_backend(srv, g_base), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_acp_url(srv, "http://127.0.0.1"), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_listen(srv, "127.0.0.1", 0), AGENTEX_OK);
    ck_assert_int_eq(acp_server_set_register_retries(srv, 1, 100), AGENTEX_OK);
    ck_assert_int_eq(acp_server_on_task_create(srv, e2e_on_create, NULL), AGENTEX_OK);
    ck_assert_int_eq(acp_server_on_event_send(srv, e2e_on_event, NULL), AGENTEX_OK);
    ck_assert_int_eq(acp_server_on_task_cancel(srv, e2e_on_cancel, NULL), AGENTEX_OK);
    ck_assert_int_eq(acp_server_start(srv), AGENTEX_OK);
    ck_assert(is_uuid4(acp_server_agent_id(srv)));

    tp_resp_t r = req("GET", "/agents/name/e2e-echo", NULL);
    ck_assert_str_eq(js(r.json, "id"), acp_server_agent_id(srv));
    ck_assert_str_eq(js(r.json, "status"), "Ready");
    tp_resp_free(&r);

    cJSON *env = rpc("e2e-echo", "task/create", "{\"name\":\"e2e\"}", NULL);
    char tid[64];
    snprintf(tid, sizeof tid, "%s", js(rpc_result(env), "id"));
    cJSON_Delete(env);
    char path[256];
    snprintf(path, sizeof path, "/messages?task_id=%s", tid);
    bool welcomed = false;
    for (int i = 0; i < 300 && !welcomed; i++) {
        r = req("GET", path, NULL);
        welcomed = cJSON_GetArraySize(r.json) == 1;
        tp_resp_free(&r);
        if (!welcomed)
            usleep(10000);
    }
    ck_assert(welcomed);

    snprintf(path, sizeof path, "/tasks/%s/stream", tid);
    sse_t s;
    sse_open(&s, path);
    ck_assert(sse_wait(&s, "\"type\":\"connected\"", 3000));
    char params[256];
    snprintf(params, sizeof params,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":"
             "\"hello\"}}",
             tid);
    env = rpc("e2e-echo", "event/send", params, NULL);
    rpc_result(env);
    cJSON_Delete(env);
    ck_assert(sse_wait(&s, "\"content\":\"You said: hello\"", 3000));

    snprintf(params, sizeof params, "{\"task_id\":\"%s\"}", tid);
    env = rpc("e2e-echo", "task/cancel", params, NULL);
    ck_assert_str_eq(js(rpc_result(env), "status"), "CANCELED");
    cJSON_Delete(env);
    ck_assert(sse_wait(&s, "\"status\":\"CANCELED\"", 3000));
    ck_assert(sse_finished(&s, 3000));
    sse_close(&s);

    acp_server_stop(srv);
    ck_assert_int_eq(acp_server_wait(srv), AGENTEX_OK);
    ck_assert_int_eq(acp_server_free(srv), AGENTEX_OK);
}
END_TEST

/* ---- persistence and errors ---------------------------------------------------------------------
 */

START_TEST(restart_with_db_keeps_data)
{
    ck_assert_int_eq(stop_dev(), 0);
    snprintf(g_db, sizeof g_db, "/tmp/agentex-dev-test-%d.db", (int)getpid());
    unlink(g_db);
    const char *args[] = {"--db", g_db, NULL};
    start_dev(args);
    cJSON *a = register_agent("keeper", "http://127.0.0.1:9", "sync");
    char tid[64], body[512], path[256];
    snprintf(tid, sizeof tid, "%s", sync_task("keeper", "durable"));
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":"
             "\"kept\"}}",
             tid);
    tp_resp_t r = req("POST", "/messages", body);
    tp_resp_free(&r);
    ck_assert_int_eq(stop_dev(), 0);
    start_dev(args);
    r = req("GET", "/agents/name/keeper", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(js(r.json, "id"), js(a, "id"));
    tp_resp_free(&r);
    cJSON *b = register_agent("keeper", "http://127.0.0.1:9", "sync");
    ck_assert_str_eq(js(b, "agent_api_key"), js(a, "agent_api_key"));
    cJSON_Delete(b);
    r = req("GET", "/tasks/name/durable", NULL);
    ck_assert_str_eq(js(r.json, "id"), tid);
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/messages?task_id=%s", tid);
    r = req("GET", path, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    ck_assert_str_eq(js(cJSON_GetObjectItem(cJSON_GetArrayItem(r.json, 0), "content"), "content"),
                     "kept");
    tp_resp_free(&r);
    cJSON_Delete(a);
    unlink(g_db);
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", g_db);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", g_db);
    unlink(wal);
}
END_TEST

/* GET /tasks?task_metadata=: the real backend filters with Postgres JSONB containment
 * (task_metadata @> filter), which is recursive: nested objects match on a subset of their
 * keys and arrays on a subset of their elements; a scalar never matches an array below the
 * top level. */
static int tasks_matching(const char *filter_json)
{
    CURL *cu = curl_easy_init();
    char *enc = curl_easy_escape(cu, filter_json, 0);
    char path[1024];
    snprintf(path, sizeof path, "/tasks?task_metadata=%s", enc);
    curl_free(enc);
    curl_easy_cleanup(cu);
    tp_resp_t r = req("GET", path, NULL);
    ck_assert_msg(r.status == 200, "%s: %ld %s", filter_json, r.status, r.body);
    ck_assert(cJSON_IsArray(r.json));
    int n = cJSON_GetArraySize(r.json);
    if (n == 1)
        ck_assert_str_eq(js(cJSON_GetArrayItem(r.json, 0), "name"), "meta-a");
    tp_resp_free(&r);
    return n;
}

START_TEST(tasks_metadata_containment)
{
    cJSON *a = register_agent("meta", "http://127.0.0.1:9", "sync");
    cJSON_Delete(a);
    cJSON *env = rpc("meta", "task/create",
                     "{\"name\":\"meta-a\",\"task_metadata\":{\"team\":{\"id\":\"a\",\"tier\":2},"
                     "\"tags\":[\"x\",\"y\"],\"n\":1}}",
                     NULL);
    rpc_result(env);
    cJSON_Delete(env);
    env = rpc("meta", "task/create",
              "{\"name\":\"meta-b\",\"task_metadata\":{\"team\":{\"id\":\"b\"},\"tags\":[\"z\"]}}",
              NULL);
    rpc_result(env);
    cJSON_Delete(env);
    ck_assert_int_eq(tasks_matching("{\"n\":1}"), 1);
    ck_assert_int_eq(tasks_matching("{\"team\":{\"id\":\"a\",\"tier\":2}}"), 1);
    ck_assert_int_eq(tasks_matching("{\"team\":{\"id\":\"a\"}}"), 1);
    ck_assert_int_eq(tasks_matching("{\"tags\":[\"y\"]}"), 1);
    ck_assert_int_eq(tasks_matching("{\"tags\":[\"y\",\"x\",\"y\"]}"), 1);
    ck_assert_int_eq(tasks_matching("{\"tags\":[]}"), 2);
    ck_assert_int_eq(tasks_matching("{\"team\":{}}"), 2);
    ck_assert_int_eq(tasks_matching("{\"team\":{\"id\":\"a\",\"tier\":3}}"), 0);
    ck_assert_int_eq(tasks_matching("{\"tags\":\"x\"}"), 0);
    ck_assert_int_eq(tasks_matching("{\"tags\":[\"x\",\"z\"]}"), 0);
    ck_assert_int_eq(tasks_matching("{\"n\":\"1\"}"), 0);
    ck_assert_int_eq(tasks_matching("{\"missing\":null}"), 0);
}
END_TEST

/* /tasks, /messages and /messages/paginated declare limit and page_number without a minimum
 * (openapi.yaml): the real backend treats limit=0 as its default (50), answers a page_number
 * below 1 on /tasks with 400 "Page number must be greater than 0", and /messages/paginated
 * with limit=0 returns no data but says whether there is more.  (/agents, /states, /tracker
 * declare minimum 1: 422 there.) */
START_TEST(paging_limit_zero_like_the_backend)
{
    cJSON *a = register_agent("pager", "http://127.0.0.1:9", "sync");
    cJSON_Delete(a);
    char tid[64], path[256];
    snprintf(tid, sizeof tid, "%s", sync_task("pager", "paged"));
    snprintf(path, sizeof path, "/messages/batch");
    char body[512];
    snprintf(body, sizeof body,
             "{\"task_id\":\"%s\",\"contents\":[{\"type\":\"text\",\"author\":\"user\","
             "\"content\":\"a\"},{\"type\":\"text\",\"author\":\"agent\",\"content\":\"b\"}]}",
             tid);
    tp_resp_t r = req("POST", path, body);
    ck_assert_int_eq(r.status, 200);
    tp_resp_free(&r);
    r = req("GET", "/tasks?limit=0", NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 1);
    tp_resp_free(&r);
    r = req("GET", "/tasks?page_number=0", NULL);
    expect_error(&r, 400, "Page number must be greater than 0");
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/messages?task_id=%s&limit=0", tid);
    r = req("GET", path, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_int_eq(cJSON_GetArraySize(r.json), 2);
    tp_resp_free(&r);
    snprintf(path, sizeof path, "/messages/paginated?task_id=%s&limit=0", tid);
    r = req("GET", path, NULL);
    ck_assert_msg(r.status == 200, "%ld %s", r.status, r.body);
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "data")), 0);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "has_more")));
    ck_assert(jnull(r.json, "next_cursor"));
    tp_resp_free(&r);
    r = req("GET", "/states?limit=0", NULL);
    expect_422(&r, "limit");
    tp_resp_free(&r);
    r = req("GET", "/tasks?limit=-1", NULL);
    ck_assert_int_ne(r.status, 200);
    tp_resp_free(&r);
}
END_TEST

START_TEST(routes_and_bad_input)
{
    tp_resp_t r = req("GET", "/no/such/route", NULL);
    expect_error(&r, 404, "Not Found");
    ck_assert_str_eq(r.ctype, "application/json");
    tp_resp_free(&r);
    r = req("PATCH", "/messages", "{}");
    expect_error(&r, 405, "Method Not Allowed");
    tp_resp_free(&r);
    r = req("POST", "/messages", "{\"task_id\":");
    expect_422(&r, "JSON decode error");
    tp_resp_free(&r);
    r = req("PUT", "/tracker/x", "[]");
    expect_422(&r, NULL);
    tp_resp_free(&r);
    r = req("GET", "/tracker/nope", NULL);
    expect_error(&r, 404, "Item with id 'nope' does not exist.");
    tp_resp_free(&r);
    r = req("GET", "/healthz", NULL);
    ck_assert_str_eq(js(r.json, "status"), "healthy");
    tp_resp_free(&r);
    r = req("GET", "/openapi.json", NULL);
    ck_assert_str_eq(js(cJSON_GetObjectItem(r.json, "info"), "version"), "0.1.0");
    tp_resp_free(&r);
}
END_TEST

START_TEST(health_probe_marks_unhealthy)
{
    ck_assert_int_eq(stop_dev(), 0);
    const char *args[] = {"--health-interval-ms", "50", "--health-timeout-ms", "500", NULL};
    start_dev(args);
    fake_backend_t *fb = fake_backend_start();
    cJSON *a = register_agent("probed", fake_backend_url(fb), "async");
    char ok[256];
    snprintf(ok, sizeof ok, "{\"status\":\"healthy\",\"agent_id\":\"%s\"}", js(a, "id"));
    fake_backend_push(fb, 200, ok);
    for (int i = 0; i < 5; i++)
        fake_backend_push(fb, 503, "{}");
    ck_assert_int_ge((int)fake_backend_wait(fb, 6, 5000), 6);
    const fake_request_t *q = fake_backend_request(fb, 0);
    ck_assert_str_eq(q->method, "GET");
    ck_assert_str_eq(q->path, "/healthz");
    bool unhealthy = false;
    for (int i = 0; i < 300 && !unhealthy; i++) {
        tp_resp_t r = req("GET", "/agents/name/probed", NULL);
        unhealthy = js(r.json, "status") && !strcmp(js(r.json, "status"), "Unhealthy");
        tp_resp_free(&r);
        if (!unhealthy)
            usleep(10000);
    }
    ck_assert(unhealthy);
    /* re-registration makes it Ready again */
    cJSON *b = register_agent("probed", fake_backend_url(fb), "async");
    ck_assert_str_eq(js(b, "status"), "Ready");
    cJSON_Delete(b);
    cJSON_Delete(a);
    fake_backend_stop(fb);
}
END_TEST

Suite *devserver_suite(void);
Suite *devserver_suite(void)
{
    Suite *s = suite_create("devserver");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, cli_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("rest");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, agents_register_idempotent);
    tcase_add_test(tc, agents_register_validation);
    tcase_add_test(tc, agents_get_list_delete);
    tcase_add_test(tc, tasks_crud_and_transitions);
    tcase_add_test(tc, messages_rest);
    tcase_add_test(tc, states_crud);
    tcase_add_test(tc, routes_and_bad_input);
    tcase_add_test(tc, tasks_metadata_containment);
    tcase_add_test(tc, paging_limit_zero_like_the_backend);
    suite_add_tcase(s, tc);

    tc = tcase_create("rpc");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, rpc_task_create_forward_exact);
    tcase_add_test(tc, rpc_event_send_persist_before_deliver);
    tcase_add_test(tc, rpc_cancel_interrupt_and_rules);
    tcase_add_test(tc, rpc_message_send_sync_agent);
    tcase_add_test(tc, rpc_message_send_start_done_without_deltas);
    tcase_add_test(tc, rpc_message_send_fractional_index_and_params_update);
    tcase_add_test(tc, sdk_adk_calls_roundtrip);
    tcase_add_test(tc, rpc_agent_down_by_id);
    tcase_add_test(tc, rpc_task_create_refailed_keeps_concurrent_write);
    tcase_add_test(tc, rpc_resume_on_next_turn_and_header_filter);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, sse_stream_frames);
    tcase_add_test(tc, sse_keepalive_ping);
    tcase_add_test(tc, websocket_stream_and_publish);
    tcase_add_test(tc, stream_clients_that_leave);
    tcase_add_test(tc, e2e_libagentex_agent);
    suite_add_tcase(s, tc);

    tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 10);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, restart_with_db_keeps_data);
    tcase_add_test(tc, health_probe_marks_unhealthy);
    tcase_add_test(tc, shutdown_with_streams_and_rpc_in_flight);
    suite_add_tcase(s, tc);
    return s;
}
