/*
 * lib/stream_internal.h - pieces shared by lib/streaming.c (publishing) and
 * lib/stream_sub.c (subscribing): the delta accumulator (protocol 5.6).
 */
#ifndef AGX_STREAM_INTERNAL_H
#define AGX_STREAM_INTERNAL_H
#include <cjson/cJSON.h>

#include "agentex/streaming.h"
#include "internal.h"

/* Delta types (TaskMessageDelta.type). */
typedef enum agx_delta_type {
    AGX_DELTA_TEXT = 0,
    AGX_DELTA_DATA,
    AGX_DELTA_TOOL_REQUEST,
    AGX_DELTA_TOOL_RESPONSE,
    AGX_DELTA_REASONING_SUMMARY,
    AGX_DELTA_REASONING_CONTENT
} agx_delta_type_t;

#define AGX_ACCUM_MAX_INDEX 4096

typedef struct agx_accum {
    int kind; /* adk_content_type_t of the accumulated content, -1 before any delta */
    agx_buf_t text; /* text / data / tool arguments / tool response content */
    char *call_id;
    char *name;
    agx_buf_t *summary;
    size_t n_summary;
    agx_buf_t *rcontent;
    size_t n_rcontent;
} agx_accum_t;

void agx_accum_init(agx_accum_t *a);
void agx_accum_free(agx_accum_t *a);
/* Adds one delta.  EINVAL: a delta of another content type than the earlier ones, an index
 * out of range (0..AGX_ACCUM_MAX_INDEX-1), missing ids; ENOMEM. */
agentex_err_t agx_accum_add(agx_accum_t *a, agx_delta_type_t t, const char *call_id,
                            const char *name, int index, const char *text, size_t len);
/* The same from a wire delta object {"type":..., ...}; EPROTO for a malformed one. */
agentex_err_t agx_accum_add_json(agx_accum_t *a, const cJSON *delta);
/* The accumulated content (authored "agent"; for text, style and format come from
 * initial when it is text).  Without any delta: a copy of initial (EINVAL if NULL). */
agentex_err_t agx_accum_content(const agx_accum_t *a, const adk_content_t *initial,
                                adk_content_t **out);
/* The wire name of a delta type ("text", ..., "reasoning_content"); parse the reverse. */
const char *agx_delta_type_name(agx_delta_type_t t);
int agx_delta_type_parse(const char *s); /* -1 if unknown */

#endif
