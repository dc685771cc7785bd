/*
 * lib/sse.h - an incremental Server-Sent Events parser (WHATWG "event stream" rules).
 *
 * Feed it bytes as they arrive, split anywhere (inside a CRLF, inside a UTF-8 BOM);
 * it calls the event callback once per dispatched event.  Lines end with LF, CRLF or
 * CR; lines starting with ':' are comments; a field without a colon has an empty
 * value; one space after the colon is dropped; data lines are joined with "\n";
 * "event", "id" (ignored when it contains NUL) and "retry" (ASCII digits only) are
 * honoured; an empty line dispatches, and an event with no data line is not
 * dispatched.  A leading UTF-8 BOM is skipped.  An incomplete event at end of stream
 * is discarded (simply never dispatched).
 *
 * Memory is bounded: when the current line plus the pending data exceed max_event
 * bytes, agx_sse_feed returns AGENTEX_EPROTO and the parser stays failed until
 * agx_sse_reset.  Not thread-safe (one parser per stream).
 */
#ifndef AGX_SSE_H
#define AGX_SSE_H
#include <stdbool.h>
#include <stddef.h>

#include "agentex/common.h"
#include "internal.h"

#define AGX_SSE_DEFAULT_MAX_EVENT ((size_t)16 * 1024 * 1024)

typedef struct agx_sse_event {
    const char *type; /* "message" unless an event: field said otherwise; NUL-terminated */
    const char *data; /* the joined data lines, NUL-terminated (may contain NUL bytes) */
    size_t data_len;
    const char *id; /* the last event id ("" if none ever set) */
} agx_sse_event_t;

/* Returns 0 to continue, non-zero to stop: agx_sse_feed then returns AGENTEX_ECANCELED
 * at once and the rest of that chunk is dropped. */
typedef int (*agx_sse_event_cb)(const agx_sse_event_t *ev, void *userdata);
/* Optional: called for each comment line (text after ':', without the line end). */
typedef void (*agx_sse_comment_cb)(const char *text, size_t len, void *userdata);

typedef struct agx_sse {
    agx_sse_event_cb on_event;
    agx_sse_comment_cb on_comment;
    void *userdata;
    size_t max_event;
    agx_buf_t line;  /* the current (incomplete) line */
    agx_buf_t data;  /* data of the pending event */
    agx_buf_t type;  /* event type of the pending event ("" = message) */
    agx_buf_t id;    /* last event id */
    long retry_ms;   /* last valid retry: field, -1 if none */
    int bom_pos;     /* bytes of a leading BOM matched so far; -1 once past the start */
    bool cr_pending; /* the last byte seen was CR: an immediate LF belongs to it */
    bool has_data;   /* a data: field was seen for the pending event */
    bool failed;
    size_t pos;     /* bytes consumed since the last reset */
} agx_sse_t;

/* max_event 0 means AGX_SSE_DEFAULT_MAX_EVENT.  No allocation. */
void agx_sse_init(agx_sse_t *p, size_t max_event, agx_sse_event_cb on_event, void *userdata);
/* Parses len bytes.  AGENTEX_OK, AGENTEX_EPROTO (event too large; parser failed),
 * AGENTEX_ENOMEM (parser failed), AGENTEX_ECANCELED (a callback asked to stop). */
agentex_err_t agx_sse_feed(agx_sse_t *p, const char *buf, size_t len);
/* Ready for a new connection: drops the partial line and event, clears the failure and
 * the BOM state; keeps the last event id and retry (as the spec says). */
void agx_sse_reset(agx_sse_t *p);
/* The last valid retry value in milliseconds, -1 if none. */
long agx_sse_retry_ms(const agx_sse_t *p);
void agx_sse_free(agx_sse_t *p);

#endif
