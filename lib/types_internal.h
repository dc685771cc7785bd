/*
 * lib/types_internal.h - building lists from JSON arrays (for the adk modules).
 */
#ifndef AGX_TYPES_INTERNAL_H
#define AGX_TYPES_INTERNAL_H

#include "agentex/types.h"

/* Each takes a JSON array of objects; AGENTEX_EPROTO if it is not an array or an element
 * does not parse, AGENTEX_ENOMEM.  On error *out is untouched. */
agentex_err_t agx_agent_list_from_json(const cJSON *arr, adk_agent_list_t **out);
agentex_err_t agx_task_list_from_json(const cJSON *arr, adk_task_list_t **out);
agentex_err_t agx_event_list_from_json(const cJSON *arr, adk_event_list_t **out);
agentex_err_t agx_message_list_from_json(const cJSON *arr, adk_message_list_t **out);
agentex_err_t agx_state_list_from_json(const cJSON *arr, adk_state_list_t **out);
agentex_err_t agx_tracker_list_from_json(const cJSON *arr, adk_tracker_list_t **out);

/* Parses text of len bytes as JSON without cJSON's global error pointer.
 * NULL on bad JSON or trailing garbage (whitespace allowed). */
cJSON *agx_json_parse(const char *text, size_t len);
/* Compact JSON text of j (agx_free), NULL on ENOMEM. */
char *agx_json_print(const cJSON *j);

#endif
