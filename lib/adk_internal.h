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

/* "fn: out of memory" with AGENTEX_ENOMEM. */
agentex_err_t agx_adk_enomem(agentex_client_t *c, const char *fn);

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
