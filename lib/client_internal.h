/*
 * lib/client_internal.h - the one request function every adk module uses.
 */
#ifndef AGX_CLIENT_INTERNAL_H
#define AGX_CLIENT_INTERNAL_H

#include <cjson/cJSON.h>

#include "agentex/client.h"

/*
 * Performs one request against the client's base URL.
 *   method: "GET", "POST", "PUT", "DELETE".
 *   path:   starts with '/'; ids inside it must already be escaped (agx_url_escape).
 *   query:  NULL, or a NULL-terminated list of name, value pairs:
 *           {"task_id", tid, "limit", "20", NULL}.  A pair whose value is NULL is
 *           skipped; values are escaped here.
 *   body:   NULL (no body), or JSON sent with Content-Type: application/json.
 *   out:    NULL (response body ignored), or receives the parsed JSON response
 *           (caller frees with cJSON_Delete).  A 2xx response that is not valid JSON
 *           (when out is non-NULL) is AGENTEX_EPROTO.
 * Maps the result as documented in agentex_errors(3): 401/403 EAUTH, 404 ENOTFOUND,
 * other non-2xx EHTTP, transport ECONNECT / ETIMEDOUT.  Sets errmsg and http_status.
 * Retries per the client's policy (GET/PUT/DELETE only, POST only before connecting).
 */
agentex_err_t agx_client_request(agentex_client_t *c, const char *method, const char *path,
                                 const char *const *query, const cJSON *body, cJSON **out);

/* Sets the client's errmsg (printf-style) without a request, e.g. for argument errors
 * found by an adk module; returns err.  Also resets http_status to 0. */
agentex_err_t agx_client_fail(agentex_client_t *c, agentex_err_t err, const char *fmt, ...)
    AGENTEX_PRINTF(3, 4);

/* Calls fn for each credential and extra header the client sends with every request:
 * x-agent-api-key, "Authorization: Bearer ...", then the agentex_client_set_header ones (a
 * custom header of the same name replaces a credential, as on the wire).  Stops at the
 * first non-zero return of fn and returns it; 0 when all were visited, -1 on ENOMEM. */
int agx_client_foreach_header(const agentex_client_t *c,
                              int (*fn)(const char *name, const char *value, void *ud), void *ud);

/* Clears errmsg and http_status (the start of every adk call). */
void agx_client_clear_error(agentex_client_t *c);

#endif
