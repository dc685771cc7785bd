/*
 * agentex/client.h - the Agentex backend REST client.
 *
 * An agentex_client_t holds the backend base URL, the keys, extra headers,
 * timeouts, the retry policy and TLS settings, plus one connection kept alive
 * between calls (opened by libcurl, HTTP/1.1 written and read by the client: see
 * agentex_client(3), "Connection").  Every adk_* call takes a client explicitly.
 *
 * Thread safety: a client belongs to one thread at a time; the library does no
 * locking on it.  Give each thread its own client with agentex_client_dup().
 * Inside an ACP handler use acp_ctx_client(ctx), which belongs to the worker.
 *
 * Retries: idempotent calls (GET, PUT, DELETE) are retried on connection errors,
 * timeouts, 408, 409, 429 and 5xx with capped exponential backoff and jitter, honouring
 * Retry-After (0-60 s).  POST is never retried after the request may have reached
 * the backend (it would create a second row); it is retried only when the
 * connection could not be made at all.
 */
#ifndef AGENTEX_CLIENT_H
#define AGENTEX_CLIENT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agentex_client agentex_client_t;

/* The default backend, as the Python SDK's: "http://localhost:5003". */
#define AGENTEX_DEFAULT_BASE_URL "http://localhost:5003"

/* A new client for base_url (scheme://host[:port][/prefix], trailing '/' dropped; no
 * user:password@).
 * base_url NULL means AGENTEX_DEFAULT_BASE_URL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_new(const char *base_url,
                                                               agentex_client_t **out);

/* A new client configured from the Python SDK's environment variables:
 * AGENTEX_BASE_URL (default above), AGENT_API_KEY (x-agent-api-key),
 * AGENTEX_SDK_API_KEY (Authorization: Bearer), AGENTEX_CUSTOM_HEADERS (newline-separated
 * "Name: value" lines).  An empty AGENTEX_BASE_URL is AGENTEX_EINVAL: there is no backend. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_from_env(agentex_client_t **out);

/* A new client with the same configuration and no connection state. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_dup(const agentex_client_t *c,
                                                               agentex_client_t **out);
AGENTEX_API void agentex_client_free(agentex_client_t *c);

/* The agent's key, sent as x-agent-api-key on every request.  NULL removes it. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_set_agent_api_key(agentex_client_t *c,
                                                                             const char *key);
/* An SDK key, sent as "Authorization: Bearer <key>".  NULL removes it. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_set_sdk_api_key(agentex_client_t *c,
                                                                           const char *key);
/* Adds (or, for the same name, replaces) a header sent with every request.
 * value NULL removes it.  Names with CR/LF or ':' are AGENTEX_EINVAL. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_set_header(agentex_client_t *c,
                                                                      const char *name,
                                                                      const char *value);
/* connect_ms: connection set-up limit (default 5000); total_ms: whole-request limit
 * (default 300000, as the Python SDK).  0 keeps the current value. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_set_timeouts(agentex_client_t *c,
                                                                        long connect_ms,
                                                                        long total_ms);
/* max_retries (default 2), first backoff base_ms (default 500), cap max_ms (default 8000). */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_set_retries(agentex_client_t *c,
                                                                       int max_retries,
                                                                       long base_ms, long max_ms);
/* TLS peer and host verification (on by default) and an optional CA bundle path. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_client_set_tls(agentex_client_t *c,
                                                                   int verify,
                                                                   const char *ca_bundle);

/* The base URL, borrowed until the client is freed. */
AGENTEX_API const char *agentex_client_base_url(const agentex_client_t *c);
/* The last failure's message ("" after a success): what failed on the connection, the
 * HTTP status, and the backend's "message"/"detail" field.  Borrowed until the next call on c. */
AGENTEX_API const char *agentex_client_errmsg(const agentex_client_t *c);
/* The HTTP status of the last response, 0 if none arrived. */
AGENTEX_API long agentex_client_http_status(const agentex_client_t *c);

#ifdef __cplusplus
}
#endif
#endif
