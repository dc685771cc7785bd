/*
 * tests/support/adk_fixture.h - shared fixture of the adk_* suites (messages, events,
 * state, tracker, tasks, rpc): a fake backend plus a client pointed at it, and request
 * assertions.
 */
#ifndef ADK_FIXTURE_H
#define ADK_FIXTURE_H

#include <check.h>
#include <stddef.h>

#include "agentex/agentex.h"
#include "support/fake_backend.h"

#define ADK_FX_KEY "3b9e1f0a7c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f"

/* Protocol section 8 fixed values. */
#define FX_AGENT "6f1c2a9e-3b7d-4e11-9a52-0c8d7e4b1f20"
#define FX_TASK "b3e0f7d2-8c41-4a6e-9f15-2d7a9c3e5b81"
#define FX_EVENT "e5a1c9d4-7b2f-4f38-8e60-1a9d3c7b2e54"
#define FX_TRACKER "0d4b8e2f-6a13-4c97-b5e8-7f2a1d9c3e60"
#define FX_MESSAGE "66a1f0c2b9e4d83a17c5e902"
#define FX_STATE "66a1f0c2b9e4d83a17c5e9aa"

/* Protocol 8: AGENT and TASK as the real backend sends them. */
#define FX_AGENT_JSON                                                                              \
    "{\"id\":\"" FX_AGENT "\",\"docker_image\":null,\"name\":\"demo-agent\",\"description\":"      \
    "\"Demo agent\",\"acp_type\":\"async\",\"status\":\"Ready\",\"status_reason\":\"Agent "        \
    "registered successfully.\",\"acp_url\":\"http://host.docker.internal:8000\","                 \
    "\"created_at\":\"2026-03-01T09:00:00.412000Z\",\"updated_at\":\"2026-03-01T09:00:00."         \
    "412000Z\",\"registration_metadata\":null,\"registered_at\":\"2026-03-01T09:00:00."            \
    "412000Z\",\"agent_input_type\":null,\"production_deployment_id\":null}"
#define FX_TASK_JSON_STATUS(status, reason)                                                        \
    "{\"id\":\"" FX_TASK "\",\"name\":null,\"status\":\"" status "\",\"status_reason\":\"" reason  \
    "\",\"created_at\":\"2026-03-01T09:05:00.123456Z\",\"updated_at\":\"2026-03-01T09:"            \
    "05:00.123456Z\",\"cleaned_at\":null,\"params\":{\"topic\":\"weather\"},"                      \
    "\"task_metadata\":null}"
#define FX_TASK_JSON FX_TASK_JSON_STATUS("RUNNING", "Task created, forwarding to ACP server")
#define FX_EVENT_JSON                                                                              \
    "{\"id\":\"" FX_EVENT "\",\"sequence_id\":1042,\"task_id\":\"" FX_TASK "\",\"agent_id\":"      \
    "\"" FX_AGENT "\",\"created_at\":\"2026-03-01T09:06:10.500000Z\",\"content\":{\"type\":"       \
    "\"text\",\"author\":\"user\",\"style\":\"static\",\"format\":\"plain\",\"content\":"          \
    "\"What is the forecast?\",\"attachments\":null}}"
/* Mongo-backed: timestamps without zone. */
#define FX_MESSAGE_JSON_STATUS(text, status)                                                       \
    "{\"id\":\"" FX_MESSAGE "\",\"task_id\":\"" FX_TASK "\",\"content\":{\"type\":\"text\","       \
    "\"author\":\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":\"" text        \
    "\",\"attachments\":null},\"streaming_status\":" status ",\"created_at\":\"2026-03-01T09"      \
    ":06:11.250000\",\"updated_at\":\"2026-03-01T09:06:11.250000\"}"
#define FX_TRACKER_JSON_FULL(cursor, status, reason)                                               \
    "{\"id\":\"" FX_TRACKER "\",\"agent_id\":\"" FX_AGENT "\",\"task_id\":\"" FX_TASK "\","        \
    "\"status\":" status ",\"status_reason\":" reason ",\"last_processed_event_id\":" cursor       \
    ",\"created_at\":\"2026-03-01T09:05:00.123456Z\",\"updated_at\":\"2026-03-01T09:05:00."        \
    "123456Z\"}"
#define FX_TRACKER_JSON FX_TRACKER_JSON_FULL("null", "null", "null")
#define FX_STATE_JSON(turns)                                                                       \
    "{\"task_id\":\"" FX_TASK "\",\"agent_id\":\"" FX_AGENT "\",\"state\":{\"turns\":" turns       \
    "},\"id\":\"" FX_STATE "\",\"created_at\":\"2026-03-01T09:05:01.730000\",\"updated_at\":"      \
    "null}"

/* Protocol 4.0 error bodies. */
#define FX_404_BODY "{\"message\":\"Item with id 'x' does not exist.\",\"code\":404,\"data\":null}"
#define FX_422_BODY                                                                                \
    "{\"status_code\":10422,\"message\":\"query.limit: Input should be greater than or "           \
    "equal to 1\",\"data\":null}"

extern fake_backend_t *fx_fb;
extern agentex_client_t *fx_c;

/* Checked fixture: starts the fake backend and a client with x-agent-api-key ADK_FX_KEY,
 * no retries and short timeouts. */
void adk_fx_setup(void);
void adk_fx_teardown(void);

/* Asserts that exactly n requests were recorded. */
void adk_fx_expect_count(size_t n);
/* Asserts request i: method, raw path, raw query ("" for none), body (NULL = none, byte
 * exact otherwise) and the x-agent-api-key / content-type headers. */
void adk_fx_expect(size_t i, const char *method, const char *path, const char *query,
                   const char *body);
/* As adk_fx_expect, but the body is compared as JSON (key order ignored). */
void adk_fx_expect_json(size_t i, const char *method, const char *path, const char *query,
                        const char *body);

/* The suite of an adk module: one TCase named like the suite, with the checked fixture
 * above, a 10 s timeout and the n tests in order. */
Suite *adk_fx_suite(const char *name, const TTest *const *tests, size_t n);

/* One run of an allocation-failure walk: makes the call under test, leaving the object it
 * returned in *out (NULL when it returned none). */
typedef agentex_err_t (*adk_fx_call_t)(void *arg, void **out);

/* Runs call(arg) under agx_alloc_fail_after(1), (2), ... until it returns done: every
 * earlier run must return AGENTEX_ENOMEM and leave *out NULL, the call must have
 * allocated (it returns done only after n > 3) and the walk ends before n = 10000.
 * Returns the object of the final run, for the caller to check and free. */
void *adk_fx_alloc_walk(adk_fx_call_t call, void *arg, agentex_err_t done);

#endif
