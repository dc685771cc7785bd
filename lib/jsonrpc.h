/*
 * lib/jsonrpc.h - JSON-RPC 2.0 envelope parsing and reply serialising for the ACP
 * server (lib/acp.c).  Pure functions, no I/O.  Not installed.
 */
#ifndef AGX_JSONRPC_H
#define AGX_JSONRPC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "agentex/common.h"
#include "internal.h"

/* JSON-RPC 2.0 error codes (the standard ones; see acp_server(3) for where the Python
 * SDK differs). */
#define AGX_RPC_PARSE_ERROR (-32700)
#define AGX_RPC_INVALID_REQUEST (-32600)
#define AGX_RPC_METHOD_NOT_FOUND (-32601)
#define AGX_RPC_INVALID_PARAMS (-32602)
#define AGX_RPC_INTERNAL_ERROR (-32603)

typedef struct agx_rpc_req {
    cJSON *root;        /* the parsed body (owned) */
    const char *method; /* borrowed from root */
    cJSON *params;      /* borrowed from root; NULL when absent */
    char *id_json;      /* the id's JSON text exactly as received, "null" when absent (owned) */
    bool notification;  /* id absent or null */
} agx_rpc_req_t;

/*
 * Parses and validates a request envelope: a JSON object with "jsonrpc" absent or
 * "2.0", "method" a string, "id" a string, number, null or absent.  "params" is not
 * checked here (method-specific).  Returns 0 and fills req, or a JSON-RPC error code
 * (-32700, -32600) with *errmsg a new string (agx_free) and req->id_json set to the id
 * if it could be read, else "null".  AGENTEX_ENOMEM is reported as 1 with *errmsg NULL.
 * req must be released with agx_rpc_req_clear in every case.
 */
int agx_rpc_parse(const char *body, size_t len, agx_rpc_req_t *req, char **errmsg);
void agx_rpc_req_clear(agx_rpc_req_t *req);

/* The raw JSON text of the value of the top-level key "id" of the JSON object in
 * text (first occurrence), as a new string; NULL if there is none, on ENOMEM, or when a
 * key before it holds an escape (it might decode to "id").  text must already be valid
 * JSON.  agx_rpc_parse echoes this text only when it is valid JSON as it stands (cJSON
 * also accepts 01, 1. and raw control characters in strings), else cJSON's rendering. */
char *agx_rpc_raw_id(const char *text, size_t len);

/* Appends s as a JSON string literal (quotes included).  0 or -1 (ENOMEM). */
int agx_json_escape(agx_buf_t *b, const char *s);

/* Serialisers: each returns a new NUL-terminated string (agx_free), NULL on ENOMEM.
 * id_json is the raw id text ("null" for notifications). */
/* {"jsonrpc":"2.0","result":{"status":"processing"},"error":null,"id":ID} */
char *agx_rpc_ack(const char *id_json);
/* {"jsonrpc":"2.0","result":null,"error":null,"id":null} */
char *agx_rpc_null_result(void);
/* {"jsonrpc":"2.0","result":null,"error":{"code":C,"message":M,"data":null},"id":ID} */
char *agx_rpc_error(const char *id_json, int code, const char *message);
/* One NDJSON line (with the trailing '\n') carrying a TaskMessageUpdate:
 * type "start"/"full" (payload = content), "delta" (payload = delta), "done" (no payload).
 * {"jsonrpc":"2.0","result":{["content"|"delta":P,]"index":I,"parent_task_message":null,
 *  "type":T},"error":null,"id":ID}\n */
char *agx_rpc_update_line(const char *id_json, const char *type, int index, const cJSON *payload);

/* Protocol 2.11: true when an inbound header is copied into params.request.headers
 * (names starting with "x-", except the hop-by-hop / credential names and the prefixes
 * "x-forwarded-" and "sec-").  Case-insensitive. */
bool agx_acp_header_forwarded(const char *name);

/* Standard base64 (RFC 4648, padding required) decode into a new buffer (agx_free),
 * NUL-terminated, length in *outlen.  NULL on bad input or ENOMEM. */
unsigned char *agx_base64_decode(const char *in, size_t *outlen);

#endif
