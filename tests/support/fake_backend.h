/*
 * tests/support/fake_backend.h - an in-process fake Agentex backend for the tests.
 *
 * A plain-socket HTTP/1.1 server on 127.0.0.1 (a free port) running on its own thread.
 * It records every request (method, path, query, headers, body) and answers from:
 *   1. a FIFO of scripted responses (fake_backend_push*), consumed in order; else
 *   2. the first route whose method and path prefix (or path and query text) match
 *      (fake_backend_route); else
 *   3. 404 {"message":"fake backend: no response scripted","code":404,"data":null}.
 * Keep-alive is supported (as the real backend); Content-Length and chunked bodies are read.
 * Thread-safe: tests may call every function while requests are served.
 * Start it inside the test or in a checked fixture (tcase_add_checked_fixture), which
 * runs in the test's forked process: its threads do not survive a fork.
 * It allocates with libc malloc, so agx_alloc_fail_after never makes it fail.
 */
#ifndef FAKE_BACKEND_H
#define FAKE_BACKEND_H

#include <stddef.h>

typedef struct fake_backend fake_backend_t;

typedef struct fake_request {
    char *method;
    char *path;  /* raw path, no query */
    char *query; /* raw query after '?', "" if none */
    char *body;  /* NUL-terminated, "" if none */
    size_t body_len;
    size_t n_headers;
    char **header_names; /* lower-cased */
    char **header_values;
} fake_request_t;

/* NULL if it could not bind. */
fake_backend_t *fake_backend_start(void);
/* Stops the thread, closes every connection, frees everything. */
void fake_backend_stop(fake_backend_t *fb);
/* "http://127.0.0.1:PORT" */
const char *fake_backend_url(const fake_backend_t *fb);
int fake_backend_port(const fake_backend_t *fb);

/* Scripted responses (FIFO).  content_type NULL = application/json. */
void fake_backend_push(fake_backend_t *fb, int status, const char *body);
void fake_backend_push_full(fake_backend_t *fb, int status, const char *content_type,
                            const char *extra_headers /* "Name: v\r\n"... or NULL */,
                            const char *body);
/* Waits delay_ms before answering (for timeouts). */
void fake_backend_push_delayed(fake_backend_t *fb, long delay_ms, int status, const char *body);
/* Sends raw bytes and then closes the connection (truncated / garbage responses). */
void fake_backend_push_raw(fake_backend_t *fb, const char *raw);
/* Closes the connection without answering. */
void fake_backend_push_close(fake_backend_t *fb);
/* A persistent answer for method + path prefix, used when the FIFO is empty.  A prefix
 * "PATH?TEXT" matches the path PATH exactly when its query contains TEXT. */
void fake_backend_route(fake_backend_t *fb, const char *method, const char *path_prefix, int status,
                        const char *body);

/* Recorded requests. */
size_t fake_backend_count(fake_backend_t *fb);
/* Waits until at least n requests were recorded; returns the count reached (< n on timeout). */
size_t fake_backend_wait(fake_backend_t *fb, size_t n, long timeout_ms);
/* The i-th request (0-based); the pointer stays valid until fake_backend_stop. */
const fake_request_t *fake_backend_request(fake_backend_t *fb, size_t i);
const char *fake_request_header(const fake_request_t *r, const char *name);
/* Forgets recorded requests and scripted responses.  Pointers to forgotten requests
 * stay valid until fake_backend_stop. */
void fake_backend_reset(fake_backend_t *fb);
/* The number of TCP connections accepted so far (to test keep-alive reuse). */
size_t fake_backend_connections(fake_backend_t *fb);

#endif
