/*
 * lib/adk_internal.h - small helpers shared by the adk_* REST modules and adk_rpc
 * (lib/messages.c, events.c, state.c, tracker.c, tasks.c, rpc.c); implemented in
 * lib/adk_common.c.
 */
#ifndef AGX_ADK_INTERNAL_H
#define AGX_ADK_INTERNAL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "agentex/client.h"
#include "agentex/types.h"

/* true when s is a usable id / name: non-NULL and non-empty. */
static inline bool agx_adk_str_ok(const char *s) { return s && *s; }

/* Argument errors: "fn: what" with AGENTEX_EINVAL (no request is made).  c may be NULL
 * (then only the code is returned). */
agentex_err_t agx_adk_einval(agentex_client_t *c, const char *fn, const char *what);

/* Builds "<prefix><escaped id><suffix>" (suffix may be NULL) into *out (agx_free).
 * AGENTEX_ENOMEM with a message on failure. */
agentex_err_t agx_adk_path(agentex_client_t *c, const char *fn, const char *prefix, const char *id,
                           const char *suffix, char **out);

/* The paging query values of an adk_list_opts_t (NULL members are omitted by
 * agx_client_request).  Do not copy a filled struct: the pointers point into it. */
typedef struct agx_adk_page {
    const char *limit;
    const char *page_number;
    const char *order_by;
    const char *order_direction;
    char limit_buf[24];
    char page_buf[24];
} agx_adk_page_t;

/* Fills pg from opts (NULL = backend defaults).  Negative numbers, an empty order_by or
 * an order_direction other than "asc"/"desc" are AGENTEX_EINVAL. */
agentex_err_t agx_adk_page(agentex_client_t *c, const char *fn, const adk_list_opts_t *opts,
                           agx_adk_page_t *pg);

/* Maps the result of a _from_json call on a backend answer: ENOMEM stays ENOMEM, any other
 * failure becomes AGENTEX_EPROTO ("fn: the backend's answer is not <what>").  OK stays OK. */
agentex_err_t agx_adk_parsed(agentex_client_t *c, const char *fn, agentex_err_t err,
                             const char *what);

/* As agx_client_fail, for a failure found in a response that did arrive (an answer that
 * does not parse, a JSON-RPC error, an empty lookup): http_status keeps that response's
 * status (agentex_client_http_status(3) is 0 only when no response arrived).
 * Implemented in lib/client.c. */
agentex_err_t agx_client_fail_answer(agentex_client_t *c, agentex_err_t err, const char *fmt, ...)
    AGENTEX_PRINTF(3, 4);

/* "fn: out of memory" with AGENTEX_ENOMEM. */
agentex_err_t agx_adk_enomem(agentex_client_t *c, const char *fn);

/* Maps a failure while building a request body: ENOMEM stays ENOMEM ("fn: out of
 * memory"), anything else is AGENTEX_EINVAL "fn: <what>". */
agentex_err_t agx_adk_body_fail(agentex_client_t *c, const char *fn, agentex_err_t err,
                                const char *what);

/* What a backend answer is parsed into: a wrapper of the resource's _from_json (or of
 * its agx_*_list_from_json) and the <what> of agx_adk_parsed's message.  In every
 * function below that takes a kind, out is the caller's own T ** (adk_task_t ** for
 * agx_adk_task, ...) passed as void *; it is written only on success, with the new
 * object, so callers set *out = NULL first. */
typedef struct agx_adk_kind {
    agentex_err_t (*from_json)(const cJSON *json, void *out);
    const char *what;
} agx_adk_kind_t;

extern const agx_adk_kind_t agx_adk_agent, agx_adk_agent_list, agx_adk_task, agx_adk_task_list,
    agx_adk_event, agx_adk_event_list, agx_adk_message, agx_adk_message_list, agx_adk_state,
    agx_adk_tracker, agx_adk_tracker_list;

/* Parses json as kind into *out; errors as agx_adk_parsed. */
agentex_err_t agx_adk_result(agentex_client_t *c, const char *fn, const agx_adk_kind_t *kind,
                             const cJSON *json, void *out);

/* One request: method path?query with body (query and body may be NULL).  out NULL: the
 * answer is not read (kind may be NULL); otherwise the answer is parsed as kind into *out. */
agentex_err_t agx_adk_request(agentex_client_t *c, const char *fn, const char *method,
                              const char *path, const char *const *query, const cJSON *body,
                              const agx_adk_kind_t *kind, void *out);

/* agx_adk_request on the path "<prefix><escaped id><suffix>" (suffix may be NULL), with no
 * query. */
agentex_err_t agx_adk_request_at(agentex_client_t *c, const char *fn, const char *method,
                                 const char *prefix, const char *id, const char *suffix,
                                 const cJSON *body, const agx_adk_kind_t *kind, void *out);

/* The whole of a call on one resource named by id, without a body: c NULL is EINVAL, the
 * client's error is cleared, id NULL or empty is EINVAL "fn: <id_name> is NULL or empty",
 * for "GET" out NULL is EINVAL "fn: out is NULL"; then method <prefix><escaped id>, the
 * answer parsed as kind when out is non-NULL. */
agentex_err_t agx_adk_by_id(agentex_client_t *c, const char *fn, const char *method,
                            const char *prefix, const char *id, const char *id_name,
                            const agx_adk_kind_t *kind, void *out);

/* A query filter of a list call.  required: NULL or empty is EINVAL ("fn: <name> is NULL
 * or empty"); otherwise NULL leaves the filter out and empty is EINVAL ("fn: <name> is
 * empty (use NULL for no filter)"). */
typedef struct agx_adk_filter {
    const char *name;
    const char *value;
    bool required;
} agx_adk_filter_t;

#define AGX_ADK_MAX_FILTERS 2

/* The whole of a paged list call: starts as agx_adk_by_id, checks the filters in order,
 * then out ("fn: out is NULL"), then opts (agx_adk_page); then GET path?<filters>&limit&
 * page_number&order_by&order_direction answered by kind.  At most AGX_ADK_MAX_FILTERS
 * filters (filters may be NULL when n_filters is 0). */
agentex_err_t agx_adk_list(agentex_client_t *c, const char *fn, const char *path,
                           const agx_adk_filter_t *filters, size_t n_filters,
                           const adk_list_opts_t *opts, const agx_adk_kind_t *kind, void *out);

/* The whole of a lookup by task and agent: starts as agx_adk_by_id, task_id then agent_id
 * NULL or empty and out NULL are EINVAL; then GET path?task_id=&agent_id= answered by a
 * list whose first element, parsed as kind, is the result.  An answer that is not an array
 * is EPROTO ("fn: the backend's answer is not <list_what>"), an empty one ENOTFOUND
 * ("fn: no <noun> for task <task_id> and agent <agent_id>"). */
agentex_err_t agx_adk_find(agentex_client_t *c, const char *fn, const char *path,
                           const char *task_id, const char *agent_id, const agx_adk_kind_t *kind,
                           const char *list_what, const char *noun, void *out);

/* Adds key: string (value NULL adds null).  false on ENOMEM. */
bool agx_adk_add_str(cJSON *obj, const char *key, const char *value);
/* Adds key: a deep copy of value.  false on ENOMEM. */
bool agx_adk_add_copy(cJSON *obj, const char *key, const cJSON *value);
/* Adds key: the wire JSON of content.  Returns the error of adk_content_to_json (or
 * ENOMEM). */
agentex_err_t agx_adk_add_content(cJSON *obj, const char *key, const adk_content_t *content);
/* Adds key: an ISO-8601 UTC timestamp.  Returns EINVAL if usec cannot be formatted. */
agentex_err_t agx_adk_add_time(cJSON *obj, const char *key, int64_t usec);

#endif
