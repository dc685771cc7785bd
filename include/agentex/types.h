/*
 * agentex/types.h - the Agentex resources as opaque objects.
 *
 * Fixed resources (agent, task, event, message, state, tracker) are opaque objects
 * with accessors; the wire field names live only inside the library.  Free-form
 * JSON (task params, metadata, state, data content) is exposed as cJSON, borrowed
 * from the object that owns it.
 *
 * Memory: every accessor returns a pointer borrowed from its object, valid until
 * that object is freed.  _from_json copies what it needs from its argument;
 * _to_json returns a new cJSON tree the caller frees with cJSON_Delete.
 * Timestamps are microseconds since the Unix epoch (UTC); a missing or null
 * timestamp is ADK_TIME_NONE.  A timestamp without a zone is taken as UTC.
 *
 * Parsing is lenient where the backend is (unknown keys ignored, nulls for optional
 * fields, timestamps with or without zone or fraction) and strict where it must be:
 * a missing required field or a wrong JSON type gives AGENTEX_EPROTO.
 */
#ifndef AGENTEX_TYPES_H
#define AGENTEX_TYPES_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ADK_TIME_NONE INT64_MIN

/* ---- message content (the TaskMessageContent union) ---- */

typedef enum adk_content_type {
    ADK_CONTENT_TEXT = 0,
    ADK_CONTENT_DATA = 1,
    ADK_CONTENT_TOOL_REQUEST = 2,
    ADK_CONTENT_TOOL_RESPONSE = 3,
    ADK_CONTENT_REASONING = 4
} adk_content_type_t;

typedef enum adk_author { ADK_AUTHOR_USER = 0, ADK_AUTHOR_AGENT = 1 } adk_author_t;
typedef enum adk_style { ADK_STYLE_STATIC = 0, ADK_STYLE_ACTIVE = 1 } adk_style_t;
typedef enum adk_text_format {
    ADK_FORMAT_PLAIN = 0,
    ADK_FORMAT_MARKDOWN = 1,
    ADK_FORMAT_CODE = 2
} adk_text_format_t;

typedef struct adk_content adk_content_t;

/* Constructors: each returns a new object in *out (free with adk_content_free).
 * Strings and JSON are copied. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_text_new(adk_author_t author,
                                                                 const char *text,
                                                                 adk_content_t **out);
/* data must be a JSON object. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_data_new(adk_author_t author,
                                                                 const cJSON *data,
                                                                 adk_content_t **out);
/* arguments must be a JSON object. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_tool_request_new(
    adk_author_t author, const char *tool_call_id, const char *name, const cJSON *arguments,
    adk_content_t **out);
/* content is any JSON value; is_error: 0 false, 1 true, -1 absent (null). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_tool_response_new(
    adk_author_t author, const char *tool_call_id, const char *name, const cJSON *content,
    int is_error, adk_content_t **out);
/* summary: n_summary strings (n_summary may be 0); content: n_content strings, or NULL
 * for an absent (null) content list. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_reasoning_new(
    adk_author_t author, const char *const *summary, size_t n_summary,
    const char *const *content, size_t n_content, adk_content_t **out);

AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_set_style(adk_content_t *c,
                                                                  adk_style_t style);
/* Text content only (AGENTEX_EINVAL otherwise). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_set_format(adk_content_t *c,
                                                                   adk_text_format_t format);
/* Text content only: appends an attachment {file_id, name, size, type}. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_add_attachment(
    adk_content_t *c, const char *file_id, const char *name, int64_t size, const char *mime_type);

AGENTEX_API adk_content_type_t adk_content_type(const adk_content_t *c);
AGENTEX_API adk_author_t adk_content_author(const adk_content_t *c);
AGENTEX_API adk_style_t adk_content_style(const adk_content_t *c);
AGENTEX_API adk_text_format_t adk_content_format(const adk_content_t *c);
/* Text content: the text.  NULL for other types. */
AGENTEX_API const char *adk_content_text(const adk_content_t *c);
/* Data content: the object.  NULL for other types. */
AGENTEX_API const cJSON *adk_content_data(const adk_content_t *c);
/* Tool request / response: the call id and tool name.  NULL for other types. */
AGENTEX_API const char *adk_content_tool_call_id(const adk_content_t *c);
AGENTEX_API const char *adk_content_tool_name(const adk_content_t *c);
/* Tool request: the arguments object.  NULL for other types. */
AGENTEX_API const cJSON *adk_content_tool_arguments(const adk_content_t *c);
/* Tool response: the content (any JSON) and is_error (0, 1, or -1 when absent). */
AGENTEX_API const cJSON *adk_content_tool_result(const adk_content_t *c);
AGENTEX_API int adk_content_tool_is_error(const adk_content_t *c);
/* Reasoning: the summary and content lists (count 0 when absent or another type). */
AGENTEX_API size_t adk_content_reasoning_summary_count(const adk_content_t *c);
AGENTEX_API const char *adk_content_reasoning_summary_at(const adk_content_t *c, size_t i);
AGENTEX_API size_t adk_content_reasoning_content_count(const adk_content_t *c);
AGENTEX_API const char *adk_content_reasoning_content_at(const adk_content_t *c, size_t i);
/* Text content attachments. */
AGENTEX_API size_t adk_content_attachment_count(const adk_content_t *c);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_attachment_at(
    const adk_content_t *c, size_t i, const char **file_id, const char **name, int64_t *size,
    const char **mime_type);

AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_from_json(const cJSON *json,
                                                                  adk_content_t **out);
/* The wire form, with every key the backend sends (nulls included). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_to_json(const adk_content_t *c,
                                                                cJSON **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_content_dup(const adk_content_t *c,
                                                            adk_content_t **out);
AGENTEX_API void adk_content_free(adk_content_t *c);

/* ---- agent ---- */

typedef struct adk_agent adk_agent_t;
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_agent_from_json(const cJSON *json,
                                                                adk_agent_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_agent_to_json(const adk_agent_t *a, cJSON **out);
AGENTEX_API void adk_agent_free(adk_agent_t *a);
AGENTEX_API const char *adk_agent_id(const adk_agent_t *a);
AGENTEX_API const char *adk_agent_name(const adk_agent_t *a);
AGENTEX_API const char *adk_agent_description(const adk_agent_t *a);
/* "sync", "async" or "agentic". */
AGENTEX_API const char *adk_agent_acp_type(const adk_agent_t *a);
/* "Ready", "Failed", "Unknown", "Deleted", "Unhealthy", "BuildOnly"; NULL if absent. */
AGENTEX_API const char *adk_agent_status(const adk_agent_t *a);
AGENTEX_API const char *adk_agent_status_reason(const adk_agent_t *a);
/* Only in params.agent of an ACP call; NULL otherwise. */
AGENTEX_API const char *adk_agent_acp_url(const adk_agent_t *a);
/* Only in a registration response; NULL otherwise. */
AGENTEX_API const char *adk_agent_api_key(const adk_agent_t *a);
AGENTEX_API const cJSON *adk_agent_registration_metadata(const adk_agent_t *a);
AGENTEX_API int64_t adk_agent_created_at(const adk_agent_t *a);
AGENTEX_API int64_t adk_agent_updated_at(const adk_agent_t *a);
AGENTEX_API int64_t adk_agent_registered_at(const adk_agent_t *a);

/* ---- task ---- */

typedef enum adk_task_status {
    ADK_TASK_STATUS_NONE = 0, /* absent or null */
    ADK_TASK_RUNNING,
    ADK_TASK_INTERRUPTED,
    ADK_TASK_COMPLETED,
    ADK_TASK_FAILED,
    ADK_TASK_CANCELED,
    ADK_TASK_TERMINATED,
    ADK_TASK_TIMED_OUT,
    ADK_TASK_DELETED,
    ADK_TASK_STATUS_UNKNOWN /* a status this version does not know */
} adk_task_status_t;

/* "RUNNING", ...; NULL for NONE and UNKNOWN. */
AGENTEX_API const char *adk_task_status_name(adk_task_status_t s);
/* true for COMPLETED, FAILED, CANCELED, TERMINATED, TIMED_OUT, DELETED. */
AGENTEX_API bool adk_task_status_is_terminal(adk_task_status_t s);

typedef struct adk_task adk_task_t;
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_task_from_json(const cJSON *json,
                                                               adk_task_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_task_to_json(const adk_task_t *t, cJSON **out);
AGENTEX_API void adk_task_free(adk_task_t *t);
AGENTEX_API const char *adk_task_id(const adk_task_t *t);
AGENTEX_API const char *adk_task_name(const adk_task_t *t);
AGENTEX_API adk_task_status_t adk_task_status(const adk_task_t *t);
/* The status text exactly as received (also for UNKNOWN); NULL if absent. */
AGENTEX_API const char *adk_task_status_text(const adk_task_t *t);
AGENTEX_API const char *adk_task_status_reason(const adk_task_t *t);
AGENTEX_API const cJSON *adk_task_params(const adk_task_t *t);
AGENTEX_API const cJSON *adk_task_metadata(const adk_task_t *t);
AGENTEX_API int64_t adk_task_created_at(const adk_task_t *t);
AGENTEX_API int64_t adk_task_updated_at(const adk_task_t *t);

/* ---- event ---- */

typedef struct adk_event adk_event_t;
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_event_from_json(const cJSON *json,
                                                                adk_event_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_event_to_json(const adk_event_t *e, cJSON **out);
AGENTEX_API void adk_event_free(adk_event_t *e);
AGENTEX_API const char *adk_event_id(const adk_event_t *e);
AGENTEX_API int64_t adk_event_sequence_id(const adk_event_t *e);
AGENTEX_API const char *adk_event_task_id(const adk_event_t *e);
AGENTEX_API const char *adk_event_agent_id(const adk_event_t *e);
AGENTEX_API int64_t adk_event_created_at(const adk_event_t *e);
/* NULL when the event has no content. */
AGENTEX_API const adk_content_t *adk_event_content(const adk_event_t *e);

/* ---- message (TaskMessage) ---- */

typedef enum adk_streaming_status {
    ADK_STREAMING_NONE = 0, /* null */
    ADK_STREAMING_IN_PROGRESS = 1,
    ADK_STREAMING_DONE = 2
} adk_streaming_status_t;

typedef struct adk_message adk_message_t;
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_message_from_json(const cJSON *json,
                                                                  adk_message_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_message_to_json(const adk_message_t *m,
                                                                cJSON **out);
AGENTEX_API void adk_message_free(adk_message_t *m);
AGENTEX_API const char *adk_message_id(const adk_message_t *m);
AGENTEX_API const char *adk_message_task_id(const adk_message_t *m);
AGENTEX_API const adk_content_t *adk_message_content(const adk_message_t *m);
AGENTEX_API adk_streaming_status_t adk_message_streaming_status(const adk_message_t *m);
AGENTEX_API int64_t adk_message_created_at(const adk_message_t *m);
AGENTEX_API int64_t adk_message_updated_at(const adk_message_t *m);

/* ---- state ---- */

typedef struct adk_state adk_state_t;
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_state_from_json(const cJSON *json,
                                                                adk_state_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_state_to_json(const adk_state_t *s, cJSON **out);
AGENTEX_API void adk_state_free(adk_state_t *s);
AGENTEX_API const char *adk_state_id(const adk_state_t *s);
AGENTEX_API const char *adk_state_task_id(const adk_state_t *s);
AGENTEX_API const char *adk_state_agent_id(const adk_state_t *s);
/* The state object. */
AGENTEX_API const cJSON *adk_state_value(const adk_state_t *s);
AGENTEX_API int64_t adk_state_created_at(const adk_state_t *s);
AGENTEX_API int64_t adk_state_updated_at(const adk_state_t *s);

/* ---- agent task tracker ---- */

typedef struct adk_tracker adk_tracker_t;
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tracker_from_json(const cJSON *json,
                                                                  adk_tracker_t **out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_tracker_to_json(const adk_tracker_t *t,
                                                                cJSON **out);
AGENTEX_API void adk_tracker_free(adk_tracker_t *t);
AGENTEX_API const char *adk_tracker_id(const adk_tracker_t *t);
AGENTEX_API const char *adk_tracker_task_id(const adk_tracker_t *t);
AGENTEX_API const char *adk_tracker_agent_id(const adk_tracker_t *t);
AGENTEX_API const char *adk_tracker_status(const adk_tracker_t *t);
AGENTEX_API const char *adk_tracker_status_reason(const adk_tracker_t *t);
/* NULL while the cursor is unset. */
AGENTEX_API const char *adk_tracker_last_processed_event_id(const adk_tracker_t *t);
AGENTEX_API int64_t adk_tracker_created_at(const adk_tracker_t *t);
AGENTEX_API int64_t adk_tracker_updated_at(const adk_tracker_t *t);

/* ---- lists: each owns its elements; _at returns a borrowed element or NULL ---- */

typedef struct adk_agent_list adk_agent_list_t;
typedef struct adk_task_list adk_task_list_t;
typedef struct adk_event_list adk_event_list_t;
typedef struct adk_message_list adk_message_list_t;
typedef struct adk_state_list adk_state_list_t;
typedef struct adk_tracker_list adk_tracker_list_t;

AGENTEX_API size_t adk_agent_list_count(const adk_agent_list_t *l);
AGENTEX_API const adk_agent_t *adk_agent_list_at(const adk_agent_list_t *l, size_t i);
AGENTEX_API void adk_agent_list_free(adk_agent_list_t *l);
AGENTEX_API size_t adk_task_list_count(const adk_task_list_t *l);
AGENTEX_API const adk_task_t *adk_task_list_at(const adk_task_list_t *l, size_t i);
AGENTEX_API void adk_task_list_free(adk_task_list_t *l);
AGENTEX_API size_t adk_event_list_count(const adk_event_list_t *l);
AGENTEX_API const adk_event_t *adk_event_list_at(const adk_event_list_t *l, size_t i);
AGENTEX_API void adk_event_list_free(adk_event_list_t *l);
AGENTEX_API size_t adk_message_list_count(const adk_message_list_t *l);
AGENTEX_API const adk_message_t *adk_message_list_at(const adk_message_list_t *l, size_t i);
AGENTEX_API void adk_message_list_free(adk_message_list_t *l);
AGENTEX_API size_t adk_state_list_count(const adk_state_list_t *l);
AGENTEX_API const adk_state_t *adk_state_list_at(const adk_state_list_t *l, size_t i);
AGENTEX_API void adk_state_list_free(adk_state_list_t *l);
AGENTEX_API size_t adk_tracker_list_count(const adk_tracker_list_t *l);
AGENTEX_API const adk_tracker_t *adk_tracker_list_at(const adk_tracker_list_t *l, size_t i);
AGENTEX_API void adk_tracker_list_free(adk_tracker_list_t *l);

/* Paging options of the list calls (adk_messages_list, adk_tracker_list, ...): zero-initialise, then set what you need.
 * limit 0 / page_number 0 / NULL strings leave the backend's defaults
 * (limit 50, page 1, order_by created_at, direction desc = newest first). */
typedef struct adk_list_opts {
    int limit;
    int page_number;
    const char *order_by;
    const char *order_direction; /* "asc" or "desc" */
} adk_list_opts_t;

/* Timestamps: parse an ISO-8601 text (lenient as above) to microseconds since the epoch,
 * and format one as "YYYY-MM-DDTHH:MM:SS.ffffffZ" into buf (at least 32 bytes). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_time_parse(const char *text, int64_t *out);
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_time_format(int64_t usec, char *buf,
                                                            size_t len);

#ifdef __cplusplus
}
#endif
#endif
