/*
 * lib/acp_internal.h - pieces of the ACP server exposed to the tests.  Not installed.
 */
#ifndef AGX_ACP_INTERNAL_H
#define AGX_ACP_INTERNAL_H

#include "agentex/acp.h"

/* The POST /agents/register body of protocol 3.3 for this server's configuration,
 * registering acp_url ":" port.  A new tree in *out (cJSON_Delete). */
agentex_err_t agx_acp_registration_body(const acp_server_t *s, int port, cJSON **out);

/* true when name matches ^[a-z0-9-]+$. */
bool agx_acp_name_valid(const char *name);
/* The start-up version guard's test of info.version against the oldest supported backend
 * (0.1.0): -1 older, 0 not older, -2 not a SemVer. */
int agx_acp_version_older(const char *v);

/* The fast path of POST /api (lib/acp.c): true when body is an async request
 * (task/create, event/send, task/cancel, task/interrupt) that the full path would accept
 * (agx_rpc_parse and the params checks), found without building a tree.  false declines:
 * the request then takes the full path.  The spans point into body. */
typedef struct agx_acp_fast {
    int kind;       /* index into the method names: 0 task/create ... 3 task/interrupt */
    const char *id; /* the raw id text; NULL when absent or null (a notification) */
    size_t id_len;
    const char *task_id; /* params.task.id's bytes (no escapes), not NUL-terminated */
    size_t task_id_len;
} agx_acp_fast_t;

bool agx_acp_fast_scan(const char *body, size_t len, agx_acp_fast_t *out);

/* Requests take the fast path only while at least this many handlers are queued or
 * running (default AGX_ACP_EAGER_MAX; 0: always, for the tests).  ESTATE while running. */
#define AGX_ACP_EAGER_MAX 1024
agentex_err_t agx_acp_set_eager_max(acp_server_t *s, size_t n);

#endif
