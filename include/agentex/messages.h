/*
 * agentex/messages.h - adk_messages: the user-facing conversation of a task.
 * Protocol reference section 4.1.  Every call blocks on one HTTP request.
 * Errors: see agentex_client_errmsg() for the detail of a failure.
 */
#ifndef AGENTEX_MESSAGES_H
#define AGENTEX_MESSAGES_H

#include "client.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* POST /messages {"task_id","content"[,"streaming_status"][,"created_at"]}.
 * streaming_status ADK_STREAMING_NONE omits the key; created_at ADK_TIME_NONE omits it.
 * out may be NULL when the caller does not need the created message. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_messages_create(
    agentex_client_t *c, const char *task_id, const adk_content_t *content,
    adk_streaming_status_t streaming_status, int64_t created_at, adk_message_t **out);

/* GET /messages/{id} */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_messages_get(agentex_client_t *c,
                                                             const char *message_id,
                                                             adk_message_t **out);


/* GET /messages?task_id=..[&limit][&page_number][&order_by][&order_direction] */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_messages_list(agentex_client_t *c,
                                                              const char *task_id,
                                                              const adk_list_opts_t *opts,
                                                              adk_message_list_t **out);

/* PUT /messages/{id} {"task_id","content"[,"streaming_status"]}: replaces the content.
 * ADK_STREAMING_NONE omits streaming_status (left unchanged).  out may be NULL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_messages_update(
    agentex_client_t *c, const char *task_id, const char *message_id, const adk_content_t *content,
    adk_streaming_status_t streaming_status, adk_message_t **out);

/* POST /messages/batch {"task_id","contents":[...][,"created_at"]}: n >= 1; message i gets
 * created_at + i ms.  out may be NULL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_messages_create_batch(
    agentex_client_t *c, const char *task_id, const adk_content_t *const *contents, size_t n,
    int64_t created_at, adk_message_list_t **out);

/* PUT /messages/batch {"task_id","updates":{"<message_id>":content,...}}: n >= 1 distinct ids;
 * ids of other tasks are skipped by the backend.  out (may be NULL) gets the updated ones. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t adk_messages_update_batch(
    agentex_client_t *c, const char *task_id, const char *const *message_ids,
    const adk_content_t *const *contents, size_t n, adk_message_list_t **out);

#ifdef __cplusplus
}
#endif
#endif
