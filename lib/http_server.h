/*
 * lib/http_server.h - the embedded HTTP/1.1 (+ websocket) server on libwebsockets,
 * shared by the ACP server (lib/acp.c) and the dev server (devserver/).  Not installed.
 *
 * Threading: libwebsockets is single-threaded.  One service thread (the one calling
 * agx_httpd_run, or the thread agx_httpd_start spawns) makes every lws call.  Other
 * threads hand work to it through a locked queue and lws_cancel_service(); the work runs
 * in LWS_CALLBACK_EVENT_WAIT_CANCELLED.  Every function below marked "any thread" may
 * be called from any thread, including from inside the callbacks.
 *
 * Request life: on_request is called on the service thread once the request line,
 * headers and the whole body have arrived.  It must not block.  The request then holds
 * one "responder" reference that the code must give back exactly once by calling
 * agx_http_respond() or, for a streamed reply, agx_http_stream_begin() ... then
 * agx_http_stream_end().  That may happen later on another thread.  If the peer goes away
 * first, writes are dropped (they return -1) and the responder still ends the request;
 * the memory is freed when both the connection and the responder are done.
 * Keep-alive: HTTP/1.1 connections are kept open between requests unless the client
 * says "Connection: close"; requests on one connection are answered in order.
 */
#ifndef AGX_HTTP_SERVER_H
#define AGX_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "agentex/common.h"

typedef struct agx_httpd agx_httpd_t;
typedef struct agx_http_req agx_http_req_t;
typedef struct agx_ws agx_ws_t;

typedef struct agx_httpd_config {
    const char *host;         /* bind address, default "127.0.0.1" */
    int port;                 /* 0 = a free port (see agx_httpd_port) */
    size_t max_body;          /* default 8 MiB; larger bodies get 413 and on_request is not called */
    long header_timeout_ms;   /* request must be complete within this, default 10000 (408 + close) */
    long idle_timeout_ms;     /* idle keep-alive connections closed after this, default 30000 */
    /* Service thread.  See "Request life" above. */
    void (*on_request)(agx_http_req_t *req, void *userdata);
    /* Websockets (optional; NULL refuses upgrades with 404).  on_ws_open is called on the
     * service thread for an upgrade request to path (query in agx_ws_query); return false
     * to refuse it.  on_ws_message gets each complete text/binary message.  on_ws_close
     * once when the connection ends; the agx_ws_t is invalid after it returns unless
     * referenced with agx_ws_ref. */
    bool (*on_ws_open)(agx_ws_t *ws, const char *path, void *userdata);
    void (*on_ws_message)(agx_ws_t *ws, const char *data, size_t len, bool binary, void *userdata);
    void (*on_ws_close)(agx_ws_t *ws, void *userdata);
    /* Optional: called on the service thread at every timeout sweep, that is every quarter
     * of the shorter timeout, between 10 ms and 1 s apart. */
    void (*on_tick)(void *userdata);
    void *userdata;
} agx_httpd_config_t;

/* Creates the server and binds the socket (so the port is known at once).
 * AGENTEX_EIO if the address cannot be bound.  cfg is copied. */
agentex_err_t agx_httpd_new(const agx_httpd_config_t *cfg, agx_httpd_t **out);
int agx_httpd_port(const agx_httpd_t *h);
/* Runs the service loop on the calling thread until agx_httpd_stop. */
agentex_err_t agx_httpd_run(agx_httpd_t *h);
/* Runs the service loop on a new thread; agx_httpd_join waits for it to end. */
agentex_err_t agx_httpd_start(agx_httpd_t *h);
void agx_httpd_join(agx_httpd_t *h);
/* Any thread, async-signal-safe: the loop stops accepting, finishes writing what is
 * queued (bounded: at most 2 s), closes connections and returns. */
void agx_httpd_stop(agx_httpd_t *h);
/* After the loop has returned.  Requests whose responder has not finished keep their
 * memory until it does (their writes return -1). */
void agx_httpd_free(agx_httpd_t *h);
/* Any thread: runs fn(arg) on the service thread soon. Returns -1 on ENOMEM or after stop. */
int agx_httpd_post(agx_httpd_t *h, void (*fn)(void *arg), void *arg);

/* Request accessors (valid until the responder is done). */
const char *agx_http_req_method(const agx_http_req_t *r);     /* "GET", "POST", ... */
const char *agx_http_req_path(const agx_http_req_t *r);       /* decoded path, no query */
const char *agx_http_req_query(const agx_http_req_t *r);      /* raw query after '?', or "" */
/* A decoded query parameter's first value, or NULL. */
const char *agx_http_req_query_param(const agx_http_req_t *r, const char *name);
/* Header by case-insensitive name, or NULL. */
const char *agx_http_req_header(const agx_http_req_t *r, const char *name);
/* All headers, names lower-cased, in arrival order. */
size_t agx_http_req_header_count(const agx_http_req_t *r);
void agx_http_req_header_at(const agx_http_req_t *r, size_t i, const char **name,
                            const char **value);
const char *agx_http_req_body(const agx_http_req_t *r, size_t *len); /* NUL-terminated */
const char *agx_http_req_peer(const agx_http_req_t *r);            /* "127.0.0.1" */
/* true once the peer has gone away.  Any thread. */
bool agx_http_req_closed(const agx_http_req_t *r);
/* Called once on the service thread when the peer goes away before the responder ended
 * (for long-lived streams).  Set it before the first stream write. */
void agx_http_req_set_close_cb(agx_http_req_t *r, void (*cb)(agx_http_req_t *, void *), void *ud);
void agx_http_req_set_userdata(agx_http_req_t *r, void *ud);
void *agx_http_req_userdata(const agx_http_req_t *r);

/* Any thread.  A whole response with Content-Length.  content_type NULL means
 * "application/json".  extra_headers: NULL or "Name: value\r\n" lines.  Ends the
 * responder.  Returns 0, or -1 if the peer is gone (the responder is ended all the same). */
int agx_http_respond(agx_http_req_t *r, int status, const char *content_type,
                     const char *extra_headers, const char *body, size_t len);
/* Any thread.  A chunked response: begin sends the head, each write one chunk (flushed
 * promptly, in order), end the final chunk and ends the responder.  -1 when the peer is
 * gone (end must still be called). */
int agx_http_stream_begin(agx_http_req_t *r, int status, const char *content_type,
                          const char *extra_headers);
int agx_http_stream_write(agx_http_req_t *r, const char *data, size_t len);
int agx_http_stream_end(agx_http_req_t *r);

/* Websocket connections.  Any thread. */
const char *agx_ws_path(const agx_ws_t *ws);
const char *agx_ws_query_param(const agx_ws_t *ws, const char *name);
const char *agx_ws_header(const agx_ws_t *ws, const char *name);
int agx_ws_send(agx_ws_t *ws, const char *data, size_t len, bool binary); /* -1 when closed */
void agx_ws_close(agx_ws_t *ws);
void agx_ws_ref(agx_ws_t *ws);
void agx_ws_unref(agx_ws_t *ws);
void agx_ws_set_userdata(agx_ws_t *ws, void *ud);
void *agx_ws_userdata(const agx_ws_t *ws);

#endif
