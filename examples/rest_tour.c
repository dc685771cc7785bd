/*
 * rest_tour.c - a tour of every adk_* REST module, driven from the client side.
 *
 * Given a running backend (the real Agentex service or agentex-dev) and the name of a
 * registered agent, it creates a task through the backend's JSON-RPC (adk_rpc), sends
 * it an event, then calls each module once or more: adk_messages (create, get, list,
 * update, batch create, batch update), adk_events (list, get), adk_state (create, get,
 * update, delete), adk_tracker (get by task and agent, update, get), adk_tasks (get,
 * update, complete) and adk_agents (get).  It prints one line per call, checks every
 * return code (printing agentex_strerror() and agentex_client_errmsg() and exiting 1 on
 * the first failure) and frees everything, so it runs clean under ASan.
 *
 * Build:  cc rest_tour.c $(pkg-config --cflags --libs agentex) -o rest_tour
 * Run:    AGENTEX_BASE_URL=http://localhost:5003 [AGENT_API_KEY=...] ./rest_tour demo-agent
 *
 * Environment (read by agentex_client_from_env): AGENTEX_BASE_URL, AGENT_API_KEY,
 * AGENTEX_SDK_API_KEY, AGENTEX_CUSTOM_HEADERS.
 */
#include <stdio.h>
#include <stdlib.h>

#include <agentex/agentex.h>

/* Everything the tour creates, freed in one place. */
typedef struct tour {
    agentex_client_t *c;
    adk_agent_t *agent;
    adk_task_t *task;
    adk_event_t *event;
    adk_content_t *question, *draft, *answer, *tool_call, *tool_result, *done;
    adk_message_t *msg;
    adk_message_list_t *msgs;
    adk_event_list_t *events;
    adk_state_t *state;
    adk_tracker_t *tracker;
    cJSON *json;
} tour_t;

static void tour_free(tour_t *t)
{
    adk_agent_free(t->agent);
    adk_task_free(t->task);
    adk_event_free(t->event);
    adk_content_free(t->question);
    adk_content_free(t->draft);
    adk_content_free(t->answer);
    adk_content_free(t->tool_call);
    adk_content_free(t->tool_result);
    adk_content_free(t->done);
    adk_message_free(t->msg);
    adk_message_list_free(t->msgs);
    adk_event_list_free(t->events);
    adk_state_free(t->state);
    adk_tracker_free(t->tracker);
    cJSON_Delete(t->json);
    agentex_client_free(t->c);
}

/* printf("%s") of a field that may be absent. */
static const char *show(const char *s) { return s ? s : "(none)"; }

/* Reports a failed call; true when err is AGENTEX_OK. */
static int ok(const tour_t *t, agentex_err_t err, const char *what)
{
    if (err == AGENTEX_OK)
        return 1;
    fprintf(stderr, "rest_tour: %s: %s: %s\n", what, agentex_strerror(err),
            t->c ? agentex_client_errmsg(t->c) : "");
    return 0;
}

#define CHECK(call, what)                                                                          \
    do {                                                                                           \
        if (!ok(&t, (call), (what)))                                                               \
            goto fail;                                                                             \
    } while (0)

/* Replaces t->json with the parse of text (a constant of this program). */
static cJSON *json_of(tour_t *t, const char *text)
{
    cJSON_Delete(t->json);
    t->json = cJSON_Parse(text);
    return t->json;
}

int main(int argc, char **argv)
{
    tour_t t = {0};
    char task_id[128], agent_id[128], event_id[128], msg_id[128], state_id[128];

    if (argc != 2) {
        fprintf(stderr, "usage: %s AGENT_NAME   (backend from AGENTEX_BASE_URL)\n", argv[0]);
        return 2;
    }
    const char *agent_name = argv[1];
    CHECK(agentex_client_from_env(&t.c), "agentex_client_from_env");
    printf("backend         %s\n", agentex_client_base_url(t.c));

    /* ---- the agent, and a task created through the backend's JSON-RPC ---- */
    CHECK(adk_agents_get_by_name(t.c, agent_name, &t.agent), "adk_agents_get_by_name");
    snprintf(agent_id, sizeof agent_id, "%s", adk_agent_id(t.agent));
    printf("agents get_by_name  %s id=%s acp_type=%s\n", adk_agent_name(t.agent), agent_id,
           show(adk_agent_acp_type(t.agent)));

    if (!json_of(&t, "{\"topic\":\"weather\"}"))
        goto nomem;
    CHECK(adk_rpc_task_create(t.c, agent_name, NULL, t.json, NULL, &t.task), "adk_rpc_task_create");
    snprintf(task_id, sizeof task_id, "%s", adk_task_id(t.task));
    printf("rpc task/create     id=%s status=%s\n", task_id,
           show(adk_task_status_name(adk_task_status(t.task))));

    CHECK(adk_content_text_new(ADK_AUTHOR_USER, "What is the forecast?", &t.question),
          "adk_content_text_new");
    CHECK(adk_rpc_event_send(t.c, agent_name, task_id, t.question, &t.event), "adk_rpc_event_send");
    snprintf(event_id, sizeof event_id, "%s", adk_event_id(t.event));
    printf("rpc event/send      id=%s sequence_id=%lld\n", event_id,
           (long long)adk_event_sequence_id(t.event));

    /* ---- adk_messages ---- */
    CHECK(adk_content_text_new(ADK_AUTHOR_AGENT, "", &t.draft), "adk_content_text_new");
    CHECK(adk_content_set_format(t.draft, ADK_FORMAT_MARKDOWN), "adk_content_set_format");
    CHECK(adk_messages_create(t.c, task_id, t.draft, ADK_STREAMING_IN_PROGRESS, ADK_TIME_NONE,
                              &t.msg),
          "adk_messages_create");
    snprintf(msg_id, sizeof msg_id, "%s", adk_message_id(t.msg));
    printf("messages create     id=%s\n", msg_id);
    adk_message_free(t.msg);
    t.msg = NULL;

    CHECK(adk_messages_get(t.c, msg_id, &t.msg), "adk_messages_get");
    printf("messages get        id=%s streaming_status=%d\n", adk_message_id(t.msg),
           (int)adk_message_streaming_status(t.msg));
    adk_message_free(t.msg);
    t.msg = NULL;

    CHECK(adk_content_text_new(ADK_AUTHOR_AGENT, "Sunny, 21 C", &t.answer), "adk_content_text_new");
    CHECK(adk_content_set_format(t.answer, ADK_FORMAT_MARKDOWN), "adk_content_set_format");
    CHECK(adk_messages_update(t.c, task_id, msg_id, t.answer, ADK_STREAMING_DONE, &t.msg),
          "adk_messages_update");
    printf("messages update     text=\"%s\"\n", show(adk_content_text(adk_message_content(t.msg))));
    adk_message_free(t.msg);
    t.msg = NULL;

    if (!json_of(&t, "{\"city\":\"Paris\"}"))
        goto nomem;
    CHECK(adk_content_tool_request_new(ADK_AUTHOR_AGENT, "call_1", "get_weather", t.json,
                                       &t.tool_call),
          "adk_content_tool_request_new");
    if (!json_of(&t, "{\"temp_c\":21}"))
        goto nomem;
    CHECK(adk_content_tool_response_new(ADK_AUTHOR_AGENT, "call_1", "get_weather", t.json, 0,
                                        &t.tool_result),
          "adk_content_tool_response_new");
    const adk_content_t *batch[] = {t.tool_call, t.tool_result};
    CHECK(adk_messages_create_batch(t.c, task_id, batch, 2, ADK_TIME_NONE, &t.msgs),
          "adk_messages_create_batch");
    printf("messages create_batch  %zu messages\n", adk_message_list_count(t.msgs));
    adk_message_list_free(t.msgs);
    t.msgs = NULL;

    if (!json_of(&t, "{\"done\":true}"))
        goto nomem;
    CHECK(adk_content_data_new(ADK_AUTHOR_AGENT, t.json, &t.done), "adk_content_data_new");
    const char *ids[] = {msg_id};
    const adk_content_t *updates[] = {t.done};
    CHECK(adk_messages_update_batch(t.c, task_id, ids, updates, 1, &t.msgs),
          "adk_messages_update_batch");
    printf("messages update_batch  %zu updated\n", adk_message_list_count(t.msgs));
    adk_message_list_free(t.msgs);
    t.msgs = NULL;

    adk_list_opts_t newest = {.limit = 20};
    CHECK(adk_messages_list(t.c, task_id, &newest, &t.msgs), "adk_messages_list");
    printf("messages list       %zu messages (newest first)\n", adk_message_list_count(t.msgs));

    /* ---- adk_events ---- */
    CHECK(adk_events_list(t.c, task_id, agent_id, NULL, 100, &t.events), "adk_events_list");
    printf("events list         %zu events\n", adk_event_list_count(t.events));
    adk_event_free(t.event);
    t.event = NULL;
    CHECK(adk_events_get(t.c, event_id, &t.event), "adk_events_get");
    printf("events get          id=%s text=\"%s\"\n", adk_event_id(t.event),
           show(adk_content_text(adk_event_content(t.event))));

    /* ---- adk_state ---- */
    if (!json_of(&t, "{\"turns\":0}"))
        goto nomem;
    CHECK(adk_state_create(t.c, task_id, agent_id, t.json, &t.state), "adk_state_create");
    snprintf(state_id, sizeof state_id, "%s", adk_state_id(t.state));
    printf("state create        id=%s\n", state_id);
    adk_state_free(t.state);
    t.state = NULL;
    CHECK(adk_state_get(t.c, state_id, &t.state), "adk_state_get");
    printf("state get           turns=%d\n",
           cJSON_GetObjectItem(adk_state_value(t.state), "turns")->valueint);
    adk_state_free(t.state);
    t.state = NULL;
    if (!json_of(&t, "{\"turns\":1}"))
        goto nomem;
    CHECK(adk_state_update(t.c, state_id, task_id, agent_id, t.json, &t.state), "adk_state_update");
    printf("state update        turns=%d\n",
           cJSON_GetObjectItem(adk_state_value(t.state), "turns")->valueint);
    CHECK(adk_state_delete(t.c, state_id, NULL), "adk_state_delete");
    printf("state delete        id=%s\n", state_id);

    /* ---- adk_tracker: the cursor pattern of protocol 7.3 ---- */
    CHECK(adk_tracker_get_by_task_and_agent(t.c, task_id, agent_id, &t.tracker),
          "adk_tracker_get_by_task_and_agent");
    char tracker_id[128];
    snprintf(tracker_id, sizeof tracker_id, "%s", adk_tracker_id(t.tracker));
    printf("tracker get_by_task_and_agent  id=%s cursor=%s\n", tracker_id,
           show(adk_tracker_last_processed_event_id(t.tracker)));
    adk_tracker_free(t.tracker);
    t.tracker = NULL;
    CHECK(adk_tracker_update(t.c, tracker_id, event_id, "READY", "rest tour", false, NULL),
          "adk_tracker_update");
    printf("tracker update      cursor=%s\n", event_id);
    CHECK(adk_tracker_get(t.c, tracker_id, &t.tracker), "adk_tracker_get");
    printf("tracker get         status=%s\n", show(adk_tracker_status(t.tracker)));

    /* ---- adk_tasks and adk_agents ---- */
    adk_task_free(t.task);
    t.task = NULL;
    CHECK(adk_tasks_get(t.c, task_id, &t.task), "adk_tasks_get");
    printf("tasks get           status=%s\n", show(adk_task_status_name(adk_task_status(t.task))));
    adk_task_free(t.task);
    t.task = NULL;
    if (!json_of(&t, "{\"tour\":\"rest\"}"))
        goto nomem;
    CHECK(adk_tasks_update(t.c, task_id, t.json, NULL, &t.task), "adk_tasks_update");
    printf("tasks update        task_metadata set\n");
    adk_task_free(t.task);
    t.task = NULL;
    CHECK(adk_tasks_complete(t.c, task_id, "rest tour done", &t.task), "adk_tasks_complete");
    printf("tasks complete      status=%s reason=%s\n",
           show(adk_task_status_name(adk_task_status(t.task))),
           show(adk_task_status_reason(t.task)));

    adk_agent_free(t.agent);
    t.agent = NULL;
    CHECK(adk_agents_get(t.c, agent_id, &t.agent), "adk_agents_get");
    printf("agents get          name=%s status=%s\n", adk_agent_name(t.agent),
           show(adk_agent_status(t.agent)));

    tour_free(&t);
    return 0;
nomem:
    fprintf(stderr, "rest_tour: out of memory\n");
fail:
    tour_free(&t);
    return 1;
}
