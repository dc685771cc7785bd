/*
 * content_json.c - message contents and resources as JSON, without a backend.
 *
 * Builds one content of each type (text with an attachment, data, tool request, tool
 * response, reasoning), prints the wire JSON the backend expects, parses it back and
 * checks that nothing changed.  Then reads an event as the backend delivers it
 * (protocol section 8.3) and prints its fields and timestamp.
 *
 * Build:  cc content_json.c $(pkg-config --cflags --libs agentex)
 * Run:    ./content_json          (reads no environment, needs no network)
 */
#include <agentex/agentex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints c's wire JSON, parses it back and compares.  0 on success. */
static int show(const char *label, const adk_content_t *c)
{
    cJSON *json = NULL, *again_json = NULL;
    adk_content_t *again = NULL;
    char *text = NULL, *again_text = NULL;
    int rc = 1;
    agentex_err_t err = adk_content_to_json(c, &json);
    if (err != AGENTEX_OK) {
        fprintf(stderr, "%s: to_json: %s\n", label, agentex_strerror(err));
        goto out;
    }
    text = cJSON_PrintUnformatted(json);
    if (!text)
        goto out;
    printf("%-14s %s\n", label, text);

    /* the wire form parses back to the same content */
    err = adk_content_from_json(json, &again);
    if (err == AGENTEX_OK)
        err = adk_content_to_json(again, &again_json);
    if (err != AGENTEX_OK) {
        fprintf(stderr, "%s: parse back: %s\n", label, agentex_strerror(err));
        goto out;
    }
    again_text = cJSON_PrintUnformatted(again_json);
    if (!again_text || strcmp(text, again_text) != 0) {
        fprintf(stderr, "%s: round trip changed the content\n", label);
        goto out;
    }
    rc = 0;
out:
    cJSON_free(again_text);
    cJSON_free(text);
    cJSON_Delete(again_json);
    cJSON_Delete(json);
    adk_content_free(again);
    return rc;
}

static int build_and_show(void)
{
    adk_content_t *c = NULL;
    cJSON *obj = NULL;
    agentex_err_t err;
    int rc = 1;

    /* text, markdown, with one attachment */
    err = adk_content_text_new(ADK_AUTHOR_AGENT, "Here is the **report**.", &c);
    if (err == AGENTEX_OK)
        err = adk_content_set_format(c, ADK_FORMAT_MARKDOWN);
    if (err == AGENTEX_OK)
        err = adk_content_add_attachment(c, "file_123", "report.pdf", 48213, "application/pdf");
    if (err != AGENTEX_OK || show("text", c) != 0)
        goto out;
    adk_content_free(c);
    c = NULL;

    /* data: any JSON object (copied) */
    obj = cJSON_Parse("{\"temperature_c\":21,\"sky\":\"clear\"}");
    if (!obj)
        goto out;
    err = adk_content_data_new(ADK_AUTHOR_AGENT, obj, &c);
    if (err != AGENTEX_OK || show("data", c) != 0)
        goto out;
    adk_content_free(c);
    c = NULL;

    /* a tool call and its result */
    cJSON_Delete(obj);
    obj = cJSON_Parse("{\"city\":\"Paris\"}");
    if (!obj)
        goto out;
    err = adk_content_tool_request_new(ADK_AUTHOR_AGENT, "call_1", "get_weather", obj, &c);
    if (err != AGENTEX_OK || show("tool_request", c) != 0)
        goto out;
    adk_content_free(c);
    c = NULL;

    cJSON_Delete(obj);
    obj = cJSON_Parse("{\"temp_c\":21}");
    if (!obj)
        goto out;
    err = adk_content_tool_response_new(ADK_AUTHOR_AGENT, "call_1", "get_weather", obj,
                                        0 /* is_error false */, &c);
    if (err != AGENTEX_OK || show("tool_response", c) != 0)
        goto out;
    adk_content_free(c);
    c = NULL;

    /* reasoning: summaries, no content list (null on the wire) */
    const char *summary[] = {"Looked up the forecast", "Converted to Celsius"};
    err = adk_content_reasoning_new(ADK_AUTHOR_AGENT, summary, 2, NULL, 0, &c);
    if (err != AGENTEX_OK || show("reasoning", c) != 0)
        goto out;
    rc = 0;
out:
    if (err != AGENTEX_OK)
        fprintf(stderr, "content: %s\n", agentex_strerror(err));
    cJSON_Delete(obj);
    adk_content_free(c);
    return rc;
}

/* An event/send event, as in protocol section 8.3. */
static const char event_text[] =
    "{\"id\":\"e5a1c9d4-7b2f-4f38-8e60-1a9d3c7b2e54\",\"sequence_id\":1042,"
    "\"task_id\":\"b3e0f7d2-8c41-4a6e-9f15-2d7a9c3e5b81\","
    "\"agent_id\":\"6f1c2a9e-3b7d-4e11-9a52-0c8d7e4b1f20\","
    "\"created_at\":\"2026-03-01T09:06:10.5+00:00\","
    "\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":\"What is the forecast?\"}}";

static int read_event(void)
{
    cJSON *json = cJSON_Parse(event_text);
    adk_event_t *ev = NULL;
    char when[32];
    int rc = 1;
    if (!json)
        return 1;
    agentex_err_t err = adk_event_from_json(json, &ev);
    cJSON_Delete(json); /* the event keeps copies */
    if (err != AGENTEX_OK) {
        fprintf(stderr, "event: %s\n", agentex_strerror(err));
        return 1;
    }
    const adk_content_t *c = adk_event_content(ev);
    printf("event %s #%lld of task %s\n", adk_event_id(ev), (long long)adk_event_sequence_id(ev),
           adk_event_task_id(ev));
    if (adk_event_created_at(ev) != ADK_TIME_NONE &&
        adk_time_format(adk_event_created_at(ev), when, sizeof when) == AGENTEX_OK)
        printf("  created %s\n", when);
    if (c && adk_content_type(c) == ADK_CONTENT_TEXT)
        printf("  %s says: %s\n", adk_content_author(c) == ADK_AUTHOR_USER ? "user" : "agent",
               adk_content_text(c));
    rc = 0;
    adk_event_free(ev);
    return rc;
}

int main(void)
{
    if (build_and_show() != 0 || read_event() != 0)
        return EXIT_FAILURE;
    return EXIT_SUCCESS;
}
