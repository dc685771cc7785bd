/*
 * lib/h1resp.h - an incremental HTTP/1.1 response parser (RFC 9112), no I/O.
 *
 * The client (lib/client.c) writes its request itself on a connection libcurl opened
 * (plain TCP or TLS, through a proxy tunnel when one is configured) and feeds what it
 * reads here, in pieces of any size.  The parser skips interim 1xx answers, frames the
 * body by Content-Length, chunked transfer coding or the end of the connection, stores
 * it in the caller's buffer (bounded), and keeps the few headers the client acts on.
 */
#ifndef AGX_H1RESP_H
#define AGX_H1RESP_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

enum {
    AGX_H1_MORE = 0,  /* the response is not complete: feed more (or call agx_h1resp_eof) */
    AGX_H1_DONE = 1,  /* the response is complete */
    AGX_H1_ERROR = -1 /* malformed, too large or out of memory: see why, too_big, nomem */
};

typedef struct agx_h1resp {
    /* the answer (status and headers valid from the end of the head on) */
    int status;           /* the final status, 200..599 (or 101) */
    int keep_alive;       /* once DONE: the connection may carry the next request */
    char retry_after[32]; /* Retry-After, trimmed; "" if absent */
    int should_retry;     /* x-should-retry: -1 absent, 0 false, 1 true */
    agx_buf_t *body;      /* where the body goes (the caller's) */
    size_t max_body;
    uint64_t received;    /* bytes fed so far */

    /* the failure, once AGX_H1_ERROR */
    int too_big; /* the body exceeded max_body */
    int nomem;
    char why[96]; /* a short description of a malformed answer */

    /* state */
    int state;
    int http10;
    int conn_close, conn_keep;
    int chunked, has_length, other_coding;
    uint64_t length; /* Content-Length, or bytes left in the current chunk / body */
    size_t head_bytes;
    agx_buf_t line; /* a line being assembled */
} agx_h1resp_t;

/* Prepares p to read one response into body (emptied here), refusing bodies over max. */
void agx_h1resp_init(agx_h1resp_t *p, agx_buf_t *body, size_t max_body);

/* Feeds n bytes.  Returns AGX_H1_DONE with *used the bytes that belonged to the response
 * (any more are not part of it), AGX_H1_MORE (all consumed) or AGX_H1_ERROR. */
int agx_h1resp_feed(agx_h1resp_t *p, const char *data, size_t n, size_t *used);

/* The peer closed the connection.  AGX_H1_DONE when the body was delimited by the close;
 * AGX_H1_ERROR otherwise (why says "no answer" when nothing at all arrived). */
int agx_h1resp_eof(agx_h1resp_t *p);

/* Frees the parser's own memory (not the body). */
void agx_h1resp_free(agx_h1resp_t *p);

#endif
