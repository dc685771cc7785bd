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

#endif
