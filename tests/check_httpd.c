/*
 * tests/check_httpd.c - the embedded HTTP/1.1 + websocket server (lib/http_server.c).
 * libcurl is the well-behaved client; raw sockets send malformed and pipelined input.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_server.h"
#include "internal.h"

/* ---- fixture ---------------------------------------------------------------------- */

enum mode { M_ECHO, M_QUERY, M_DELAYED, M_STREAM, M_DISCONNECT, M_HOLD };

static agx_httpd_t *srv;
static int port;
static enum mode mode;
static _Atomic int close_cb_calls;
static _Atomic int write_failed;
static _Atomic int end_rc;
static _Atomic int requests_seen;
static _Atomic int held_done;
static agx_http_req_t *held;
static pthread_t worker;
static bool worker_started;

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void echo_respond(agx_http_req_t *r)
{
    agx_buf_t b;
    agx_buf_init(&b);
    const char *q = agx_http_req_query(r);
    agx_buf_printf(&b, "%s %s%s%s\n", agx_http_req_method(r), agx_http_req_path(r), *q ? "?" : "",
                   q);
    for (size_t i = 0; i < agx_http_req_header_count(r); i++) {
        const char *n, *v;
        agx_http_req_header_at(r, i, &n, &v);
        if (strcmp(n, "host") == 0 || strcmp(n, "user-agent") == 0 || strcmp(n, "accept") == 0)
            continue; /* curl's own, version dependent */
        agx_buf_printf(&b, "%s: %s\n", n, v);
    }
    size_t bl;
    const char *body = agx_http_req_body(r, &bl);
    agx_buf_puts(&b, "\n");
    agx_buf_append(&b, body, bl);
    ck_assert_int_eq(body[bl], '\0');
    agx_http_respond(r, 200, "text/plain", "X-Echo: 1\r\n", b.data, b.len);
    agx_buf_free(&b);
}

static void *delayed_main(void *arg)
{
    agx_http_req_t *r = arg;
    msleep(100);
    char body[64];
    int n = snprintf(body, sizeof body, "{\"late\":\"%s\"}", agx_http_req_path(r));
    agx_http_respond(r, 202, NULL, NULL, body, (size_t)n);
    return NULL;
}

static void *stream_main(void *arg)
{
    agx_http_req_t *r = arg;
    ck_assert_int_eq(agx_http_stream_begin(r, 200, "application/x-ndjson", NULL), 0);
    for (int i = 0; i < 3; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "{\"n\":%d}\n", i);
        msleep(30);
        ck_assert_int_eq(agx_http_stream_write(r, line, (size_t)n), 0);
    }
    agx_http_stream_end(r);
    return NULL;
}

static void on_close(agx_http_req_t *r, void *ud)
{
    ck_assert_ptr_eq(ud, &close_cb_calls);
    ck_assert(agx_http_req_closed(r));
    atomic_fetch_add(&close_cb_calls, 1);
}

static void *disconnect_main(void *arg)
{
    agx_http_req_t *r = arg;
    agx_http_req_set_close_cb(r, on_close, &close_cb_calls);
    ck_assert_int_eq(agx_http_stream_begin(r, 200, "text/event-stream", NULL), 0);
    for (int i = 0; i < 500; i++) { /* the client leaves after the first event */
        if (agx_http_stream_write(r, "data: tick\n\n", 12) < 0) {
            atomic_store(&write_failed, 1);
            break;
        }
        msleep(10);
    }
    atomic_store(&end_rc, agx_http_stream_end(r));
    return NULL;
}

static void on_request(agx_http_req_t *r, void *ud)
{
    ck_assert_ptr_eq(ud, &srv);
    atomic_fetch_add(&requests_seen, 1);
    switch (mode) {
    case M_ECHO:
        echo_respond(r);
        break;
    case M_QUERY: {
        const char *a = agx_http_req_query_param(r, "a");
        const char *b = agx_http_req_query_param(r, "b c");
        const char *m = agx_http_req_query_param(r, "missing");
        char body[256];
        int n = snprintf(body, sizeof body, "a=[%s] b c=[%s] missing=%s", a ? a : "(null)",
                         b ? b : "(null)", m ? m : "(null)");
        agx_http_respond(r, 200, "text/plain", NULL, body, (size_t)n);
        break;
    }
    case M_DELAYED:
    case M_STREAM:
    case M_DISCONNECT:
        ck_assert(!worker_started);
        worker_started = true;
        ck_assert_int_eq(pthread_create(&worker, NULL,
                                        mode == M_DELAYED  ? delayed_main
                                        : mode == M_STREAM ? stream_main
                                                           : disconnect_main,
                                        r),
                         0);
        break;
    case M_HOLD:
        held = r;
        break;
    }
}

/* Creates srv from cfg, sets port and starts the service thread. */
static void start_cfg(const agx_httpd_config_t *cfg)
{
    ck_assert_int_eq(agx_httpd_new(cfg, &srv), AGENTEX_OK);
    port = agx_httpd_port(srv);
    ck_assert_int_gt(port, 0);
    ck_assert_int_eq(agx_httpd_start(srv), AGENTEX_OK);
}

/* A server whose only setting is its request handler (userdata NULL). */
static void start_handler(void (*cb)(agx_http_req_t *, void *))
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = cb;
    start_cfg(&cfg);
}

static void start_server(long header_timeout_ms, size_t max_body)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = on_request;
    cfg.userdata = &srv;
    cfg.header_timeout_ms = header_timeout_ms;
    cfg.max_body = max_body;
    start_cfg(&cfg);
}

static void setup(void)
{
    mode = M_ECHO;
    srv = NULL;
    worker_started = false;
    held = NULL;
    atomic_store(&close_cb_calls, 0);
    atomic_store(&write_failed, 0);
    atomic_store(&end_rc, 99);
    atomic_store(&requests_seen, 0);
    atomic_store(&held_done, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void teardown(void)
{
    if (srv) {
        agx_httpd_stop(srv);
        agx_httpd_join(srv);
    }
    if (worker_started)
        pthread_join(worker, NULL);
    if (srv)
        agx_httpd_free(srv);
    srv = NULL;
    curl_global_cleanup();
}

/* ---- clients ------------------------------------------------------------------------ */

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    agx_buf_append(ud, p, sz * n);
    return sz * n;
}

/* One request with curl; returns the status, body in *out (caller frees). */
static long curl_req(CURL *c, const char *method, const char *path, const char *body,
                     struct curl_slist *hdrs, agx_buf_t *out, agx_buf_t *headers_out)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, headers_out ? collect : NULL);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, headers_out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK, "curl: %s", curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void raw_send(int fd, const void *data, size_t n)
{
    ck_assert_int_eq(send(fd, data, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads until the peer closes, want bytes arrived (0: no limit) or timeout_ms passed.
 * Returns true if the peer closed. */
static bool raw_read(int fd, agx_buf_t *out, size_t want, long timeout_ms)
{
    int64_t until = agx_now_ms() + timeout_ms;
    for (;;) {
        if (want && out->len >= want)
            return false;
        long left = (long)(until - agx_now_ms());
        if (left <= 0)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return true;
        agx_buf_append(out, buf, (size_t)n);
    }
}

/* Connects, sends n bytes of req, then raw_read()s into *out (initialised here; the caller
 * frees it).  With fd the caller gets the connection and closes it; with fd NULL it is
 * closed here.  Returns raw_read's result: true if the peer closed. */
static bool raw_roundtrip(int *fd, const void *req, size_t n, agx_buf_t *out, size_t want,
                          long timeout_ms)
{
    int c = raw_connect();
    raw_send(c, req, n);
    agx_buf_init(out);
    bool closed = raw_read(c, out, want, timeout_ms);
    if (fd)
        *fd = c;
    else
        close(c);
    return closed;
}

/* ---- HTTP tests ------------------------------------------------------------------- */

START_TEST(test_httpd_get_and_post_round_trip_exact_bytes)
{
    start_server(0, 0);
    CURL *c = curl_easy_init();
    agx_buf_t out, hdr;
    agx_buf_init(&out);
    agx_buf_init(&hdr);
    ck_assert_int_eq(curl_req(c, "GET", "/hello/w%20orld?x=1", NULL, NULL, &out, &hdr), 200);
    ck_assert_str_eq(out.data, "GET /hello/w orld?x=1\n\n");
    ck_assert_ptr_nonnull(strstr(hdr.data, "Content-Type: text/plain\r\n"));
    ck_assert_ptr_nonnull(strstr(hdr.data, "Content-Length: 23\r\n"));
    ck_assert_ptr_nonnull(strstr(hdr.data, "X-Echo: 1\r\n"));
    agx_buf_reset(&out);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    ck_assert_int_eq(curl_req(c, "POST", "/api", "{\"a\":[1,2]}", h, &out, NULL), 200);
    ck_assert_str_eq(out.data, "POST /api\ncontent-type: application/json\n"
                               "content-length: 11\n\n{\"a\":[1,2]}");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    agx_buf_free(&out);
    agx_buf_free(&hdr);
}
END_TEST

START_TEST(test_httpd_enumerates_custom_and_repeated_headers)
{
    start_server(0, 0);
    CURL *c = curl_easy_init();
    agx_buf_t out;
    agx_buf_init(&out);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "X-Agent-Api-Key: s3cret");
    h = curl_slist_append(h, "x-Custom-THING:   padded value  ");
    h = curl_slist_append(h, "X-Dup: one");
    h = curl_slist_append(h, "X-Dup: two");
    ck_assert_int_eq(curl_req(c, "GET", "/h", NULL, h, &out, NULL), 200);
    ck_assert_str_eq(out.data, "GET /h\nx-agent-api-key: s3cret\nx-custom-thing: padded value\n"
                               "x-dup: one\nx-dup: two\n\n");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    agx_buf_free(&out);
}
END_TEST

static _Atomic int lookups_ok;
static void lookup_request(agx_http_req_t *r, void *ud)
{
    (void)ud;
    bool ok = strcmp(agx_http_req_header(r, "X-DUP"), "one") == 0 &&
              strcmp(agx_http_req_header(r, "x-agent-api-key"), "k") == 0 &&
              agx_http_req_header(r, "x-absent") == NULL && agx_http_req_header(r, NULL) == NULL &&
              strcmp(agx_http_req_peer(r), "127.0.0.1") == 0;
    atomic_store(&lookups_ok, ok ? 1 : 2);
    agx_http_respond(r, 204, NULL, NULL, NULL, 0);
}

START_TEST(test_httpd_header_lookup_is_case_insensitive_first_value)
{
    start_handler(lookup_request);
    const char req[] = "GET / HTTP/1.1\r\nX-Dup: one\r\nx-dup: two\r\nX-Agent-Api-Key: k\r\n\r\n";
    agx_buf_t out;
    raw_roundtrip(NULL, req, sizeof req - 1, &out, 19, 3000);
    ck_assert_str_eq(out.data, "HTTP/1.1 204 No Content\r\n\r\n");
    ck_assert_int_eq(atomic_load(&lookups_ok), 1);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_decodes_query_params)
{
    mode = M_QUERY;
    start_server(0, 0);
    CURL *c = curl_easy_init();
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert_int_eq(curl_req(c, "GET", "/q?x&a=h%C3%A9llo+w%26rld&a=second&b+c=%3D&empty=", NULL,
                              NULL, &out, NULL),
                     200);
    ck_assert_str_eq(out.data, "a=[h\xc3\xa9llo w&rld] b c=[=] missing=(null)");
    curl_easy_cleanup(c);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_keep_alive_reuses_one_connection)
{
    start_server(0, 0);
    CURL *c = curl_easy_init();
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert_int_eq(curl_req(c, "GET", "/one", NULL, NULL, &out, NULL), 200);
    long p1 = 0, p2 = 0, nconn = -1;
    curl_easy_getinfo(c, CURLINFO_LOCAL_PORT, &p1);
    agx_buf_reset(&out);
    ck_assert_int_eq(curl_req(c, "POST", "/two", "b", NULL, &out, NULL), 200);
    curl_easy_getinfo(c, CURLINFO_LOCAL_PORT, &p2);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &nconn);
    ck_assert_int_eq(nconn, 0); /* the second request opened no new connection */
    ck_assert_int_eq(p1, p2);
    ck_assert_str_eq(out.data, "POST /two\ncontent-length: 1\ncontent-type: "
                               "application/x-www-form-urlencoded\n\nb");
    curl_easy_cleanup(c);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_pipelined_requests_answered_in_order)
{
    start_server(0, 0);
    const char reqs[] = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
                        "GET /b HTTP/1.1\r\n\r\n"
                        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "2\r\nxy\r\n1;ext=1\r\nz\r\n0\r\nTrailer: t\r\n\r\n"
                        "GET /d HTTP/1.1\r\nConnection: close\r\n\r\n";
    agx_buf_t out;
    ck_assert(raw_roundtrip(NULL, reqs, sizeof reqs - 1, &out, 0, 3000)); /* closed after /d */
    ck_assert_str_eq(out.data,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n"
                     "X-Echo: 1\r\n\r\nPOST /a\ncontent-length: 3\n\nabc"
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n"
                     "X-Echo: 1\r\n\r\nGET /b\n\n"
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 39\r\n"
                     "X-Echo: 1\r\n\r\nPOST /c\ntransfer-encoding: chunked\n\nxyz"
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 26\r\n"
                     "Connection: close\r\nX-Echo: 1\r\n\r\nGET /d\nconnection: close\n\n");
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_request_split_into_single_bytes)
{
    start_server(0, 0);
    int fd = raw_connect();
    const char req[] = "POST /slow HTTP/1.1\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    for (size_t i = 0; i < sizeof req - 1; i++) {
        raw_send(fd, req + i, 1);
        if (i % 16 == 0)
            msleep(1);
    }
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 3000));
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n\r\nPOST /slow\ncontent-length: 2\n"
                                           "connection: close\n\nok"));
    close(fd);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_head_and_http10)
{
    start_server(0, 0);
    const char req[] = "HEAD /x HTTP/1.0\r\n\r\n";
    agx_buf_t out;
    /* HTTP/1.0 without keep-alive: closed */
    ck_assert(raw_roundtrip(NULL, req, sizeof req - 1, &out, 0, 3000));
    ck_assert_str_eq(out.data, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9"
                               "\r\nConnection: close\r\nX-Echo: 1\r\n\r\n");
    int fd = raw_connect();
    const char req2[] = "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    raw_send(fd, req2, sizeof req2 - 1);
    agx_buf_reset(&out);
    ck_assert(!raw_read(fd, &out, 113, 3000)); /* kept open */
    ck_assert_str_eq(out.data, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 31"
                               "\r\nConnection: keep-alive\r\nX-Echo: 1\r\n\r\n"
                               "GET /k\nconnection: keep-alive\n\n");
    close(fd);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_expect_100_continue)
{
    start_server(0, 0);
    const char head[] = "POST /e HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
    int fd;
    agx_buf_t out;
    raw_roundtrip(&fd, head, sizeof head - 1, &out, 25, 3000);
    ck_assert_str_eq(out.data, "HTTP/1.1 100 Continue\r\n\r\n");
    raw_send(fd, "hello", 5);
    agx_buf_reset(&out);
    raw_read(fd, &out, 110, 3000);
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n\r\nPOST /e\ncontent-length: 5\n"
                                           "expect: 100-continue\n\nhello"));
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static _Atomic int second_rc;
static void answer_twice(agx_http_req_t *r, void *ud)
{
    (void)ud;
    agx_http_respond(r, 200, NULL, NULL, "1", 1);
    atomic_store(&second_rc, agx_http_respond(r, 200, NULL, NULL, "2", 1));
}

START_TEST(test_httpd_second_answer_is_refused)
{
    start_handler(answer_twice);
    const char req[] = "GET / HTTP/1.1\r\nConnection: close\r\n\r\n";
    agx_buf_t out;
    ck_assert(raw_roundtrip(NULL, req, sizeof req - 1, &out, 0, 3000));
    ck_assert_str_eq(out.data, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 1\r\nConnection: close\r\n\r\n1");
    ck_assert_int_eq(atomic_load(&second_rc), -1);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_responds_from_other_thread_after_delay)
{
    mode = M_DELAYED;
    start_server(0, 0);
    CURL *c = curl_easy_init();
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert_int_eq(curl_req(c, "GET", "/later", NULL, NULL, &out, NULL), 202);
    ck_assert_str_eq(out.data, "{\"late\":\"/later\"}");
    curl_easy_cleanup(c);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_streams_chunks_from_other_thread)
{
    mode = M_STREAM;
    start_server(0, 0);
    int fd = raw_connect();
    const char req[] = "POST /s HTTP/1.1\r\nContent-Length: 0\r\n\r\n";
    raw_send(fd, req, sizeof req - 1);
    agx_buf_t out;
    agx_buf_init(&out);
    const char want[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n"
                        "8\r\n{\"n\":0}\n\r\n8\r\n{\"n\":1}\n\r\n8\r\n{\"n\":2}\n\r\n0\r\n\r\n";
    raw_read(fd, &out, sizeof want - 1, 3000);
    ck_assert_str_eq(out.data, want);
    /* the connection is still usable */
    pthread_join(worker, NULL);
    worker_started = false;
    mode = M_ECHO;
    const char req2[] = "GET /after HTTP/1.1\r\n\r\n";
    raw_send(fd, req2, sizeof req2 - 1);
    agx_buf_reset(&out);
    raw_read(fd, &out, 88, 3000);
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n\r\nGET /after\n\n"));
    close(fd);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_streams_with_curl)
{
    mode = M_STREAM;
    start_server(0, 0);
    CURL *c = curl_easy_init();
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert_int_eq(curl_req(c, "POST", "/s", "", NULL, &out, NULL), 200);
    ck_assert_str_eq(out.data, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
    curl_easy_cleanup(c);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_body_too_large_gets_413)
{
    start_server(0, 64);
    CURL *c = curl_easy_init();
    agx_buf_t out;
    agx_buf_init(&out);
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(curl_req(c, "POST", "/big", big, NULL, &out, NULL), 413);
    ck_assert_str_eq(out.data, "{\"detail\":\"Request body too large\"}");
    ck_assert_int_eq(atomic_load(&requests_seen), 0);
    /* 64 bytes exactly is fine */
    agx_buf_reset(&out);
    big[64] = '\0';
    ck_assert_int_eq(curl_req(c, "POST", "/ok", big, NULL, &out, NULL), 200);
    curl_easy_cleanup(c);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_chunked_body_too_large_gets_413)
{
    start_server(0, 8);
    const char req[] = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                       "5\r\nworld\r\n0\r\n\r\n";
    agx_buf_t out;
    ck_assert(raw_roundtrip(NULL, req, sizeof req - 1, &out, 0, 3000));
    ck_assert_str_eq(out.data, "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json"
                               "\r\nContent-Length: 35\r\nConnection: close\r\n\r\n"
                               "{\"detail\":\"Request body too large\"}");
    ck_assert_int_eq(atomic_load(&requests_seen), 0);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_header_timeout_gets_408_and_close)
{
    start_server(150, 0);
    agx_buf_t out;
    ck_assert(raw_roundtrip(NULL, "GET /half-a-req", 15, &out, 0, 4000));
    ck_assert_str_eq(out.data, "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json"
                               "\r\nContent-Length: 28\r\nConnection: close\r\n\r\n"
                               "{\"detail\":\"Request timeout\"}");
    ck_assert_int_eq(atomic_load(&requests_seen), 0);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_idle_connection_closed)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = on_request;
    cfg.userdata = &srv;
    cfg.idle_timeout_ms = 100;
    start_cfg(&cfg);
    const char req[] = "GET /i HTTP/1.1\r\n\r\n";
    agx_buf_t out;
    /* answered, then closed when idle */
    ck_assert(raw_roundtrip(NULL, req, sizeof req - 1, &out, 0, 4000));
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n\r\nGET /i\n\n"));
    agx_buf_free(&out);
}
END_TEST

static const struct {
    const char *name;
    const char *input;
    const char *status_line;
} bad_inputs[] = {
    {"garbage", "\x01\x02garbage\xff\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"no version", "GET /\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"bad version", "GET / HTTP/9.9\r\n\r\n", "HTTP/1.1 505 Unknown\r\n"},
    {"no target", "GET  HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"space in name", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"no colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"folding", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"bad length", "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"two lengths", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     "HTTP/1.1 400 Bad Request\r\n"},
    {"te and cl", "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
     "HTTP/1.1 400 Bad Request\r\n"},
    {"gzip te", "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
     "HTTP/1.1 501 Not Implemented\r\n"},
    {"bad chunk", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     "HTTP/1.1 400 Bad Request\r\n"},
    {"bad escape", "GET /%zz HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"nul escape", "GET /a%00b HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"ctl in value", "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n"},
    {"long line", NULL, "HTTP/1.1 431 Request Header Fields Too Large\r\n"},
};

START_TEST(test_httpd_bad_requests_get_error_and_close)
{
    start_server(0, 0);
    const char *in = bad_inputs[_i].input;
    char *big = NULL;
    if (!in) {
        big = malloc(70000);
        memcpy(big, "GET /", 5);
        memset(big + 5, 'a', 70000 - 6);
        big[70000 - 1] = '\0';
        in = big;
    }
    agx_buf_t out;
    ck_assert_msg(raw_roundtrip(NULL, in, strlen(in), &out, 0, 3000), "%s: not closed",
                  bad_inputs[_i].name);
    ck_assert_msg(out.len > 0 && strncmp(out.data, bad_inputs[_i].status_line,
                                         strlen(bad_inputs[_i].status_line)) == 0,
                  "%s: got [%s]", bad_inputs[_i].name, out.data ? out.data : "");
    ck_assert_ptr_nonnull(strstr(out.data, "Connection: close\r\n"));
    ck_assert_int_eq(atomic_load(&requests_seen), 0);
    agx_buf_free(&out);
    free(big);
}
END_TEST

START_TEST(test_httpd_survives_random_garbage)
{
    start_server(200, 0);
    unsigned seed = 12345;
    for (int round = 0; round < 40; round++) {
        int fd = raw_connect();
        char junk[512];
        size_t n = 1 + (size_t)(rand_r(&seed) % (int)sizeof junk);
        for (size_t i = 0; i < n; i++)
            junk[i] = (char)(rand_r(&seed) % 256);
        if (round % 3 == 0)
            memcpy(junk, "POST / HTTP/1.1\r\n", n < 17 ? n : 17);
        raw_send(fd, junk, n);
        if (round % 2)
            shutdown(fd, SHUT_WR);
        agx_buf_t out;
        agx_buf_init(&out);
        raw_read(fd, &out, 0, round % 2 ? 2000 : 30);
        close(fd);
        agx_buf_free(&out);
    }
    /* still serving */
    CURL *c = curl_easy_init();
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert_int_eq(curl_req(c, "GET", "/alive", NULL, NULL, &out, NULL), 200);
    curl_easy_cleanup(c);
    agx_buf_free(&out);
}
END_TEST

static _Atomic int paused_logged;
static void log_cb(agentex_log_level_t level, const char *msg, void *ud)
{
    (void)level;
    (void)ud;
    if (strstr(msg, "pausing accepts"))
        atomic_store(&paused_logged, 1);
}

START_TEST(test_httpd_out_of_fds_pauses_accept_then_recovers)
{
    agentex_set_log_cb(AGENTEX_LOG_WARN, log_cb, NULL);
    start_server(200, 0); /* a short timeout gives a short tick */
    struct rlimit rl;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = 256;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    int fill[256], nfill = 0;
    for (;;) {
        int f = dup(0);
        if (f < 0)
            break;
        fill[nfill++] = f;
    }
    ck_assert_int_gt(nfill, 2);
    close(fill[--nfill]); /* room for the client socket only */
    int fd = raw_connect();
    const char req[] = "GET /fd HTTP/1.1\r\nConnection: close\r\n\r\n";
    raw_send(fd, req, sizeof req - 1);
    for (int i = 0; i < 300 && !atomic_load(&paused_logged); i++)
        msleep(10); /* the server's accept fails meanwhile */
    while (nfill)
        close(fill[--nfill]);
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 5000));
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n\r\nGET /fd\nconnection: close\n\n"));
    ck_assert_int_eq(atomic_load(&paused_logged), 1);
    agentex_set_log_cb(AGENTEX_LOG_OFF, NULL, NULL);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static void big_or_echo(agx_http_req_t *r, void *ud)
{
    (void)ud;
    if (strcmp(agx_http_req_path(r), "/big") == 0) {
        size_t n = 16u << 20;
        char *b = malloc(n);
        memset(b, 'b', n);
        agx_http_respond(r, 200, "text/plain", NULL, b, n);
        free(b);
        return;
    }
    echo_respond(r);
}

START_TEST(test_httpd_slow_reader_does_not_block_others)
{
    start_handler(big_or_echo);
    int slow = raw_connect();
    const char big[] = "GET /big HTTP/1.1\r\n\r\n";
    raw_send(slow, big, sizeof big - 1); /* and never read the 16 MiB */
    msleep(50);
    CURL *c = curl_easy_init();
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert_int_eq(curl_req(c, "GET", "/quick", NULL, NULL, &out, NULL), 200);
    ck_assert_str_eq(out.data, "GET /quick\n\n");
    curl_easy_cleanup(c);
    /* the slow reader gets all of it eventually */
    agx_buf_reset(&out);
    raw_read(slow, &out, (16u << 20) + 80, 8000);
    ck_assert_uint_gt(out.len, 16u << 20);
    ck_assert_ptr_nonnull(strstr(out.data, "Content-Length: 16777216\r\n"));
    close(slow);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_client_disconnect_mid_stream)
{
    mode = M_DISCONNECT;
    start_server(0, 0);
    const char req[] = "GET /events HTTP/1.1\r\n\r\n";
    agx_buf_t out;
    /* the head (80 bytes) and the first chunk */
    raw_roundtrip(NULL, req, sizeof req - 1, &out, 97, 3000);
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n\r\nc\r\ndata: tick\n\n\r\n"));
    pthread_join(worker, NULL);
    worker_started = false;
    ck_assert_int_eq(atomic_load(&write_failed), 1);
    ck_assert_int_eq(atomic_load(&end_rc), -1);
    ck_assert_int_eq(atomic_load(&close_cb_calls), 1);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_stop_with_request_in_flight)
{
    mode = M_HOLD;
    start_server(0, 0);
    int fd = raw_connect();
    const char req[] = "POST /held HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
    raw_send(fd, req, sizeof req - 1);
    for (int i = 0; i < 300 && atomic_load(&requests_seen) == 0; i++)
        msleep(10);
    ck_assert_int_eq(atomic_load(&requests_seen), 1);
    agx_httpd_stop(srv);
    agx_httpd_join(srv);
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 3000)); /* the connection was closed */
    ck_assert_uint_eq(out.len, 0);
    /* the request is still readable; answering it fails; freeing is fine either order */
    size_t bl;
    ck_assert_str_eq(agx_http_req_body(held, &bl), "body");
    ck_assert(agx_http_req_closed(held));
    agx_httpd_free(srv);
    srv = NULL;
    ck_assert_str_eq(agx_http_req_path(held), "/held");
    ck_assert_int_eq(agx_http_respond(held, 200, NULL, NULL, "{}", 2), -1);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static void stop_from_handler(agx_http_req_t *r, void *ud)
{
    (void)ud;
    agx_http_respond(r, 200, NULL, NULL, "{}", 2);
    agx_httpd_stop(srv);
}

START_TEST(test_httpd_run_on_caller_thread_until_stop)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = stop_from_handler;
    ck_assert_int_eq(agx_httpd_new(&cfg, &srv), AGENTEX_OK);
    port = agx_httpd_port(srv);
    int fd = raw_connect();
    const char req[] = "GET / HTTP/1.1\r\n\r\n";
    raw_send(fd, req, sizeof req - 1);
    ck_assert_int_eq(agx_httpd_run(srv), AGENTEX_OK); /* returns after the handler's stop */
    ck_assert_int_eq(agx_httpd_run(srv), AGENTEX_ESTATE);
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 3000));
    ck_assert_str_eq(out.data, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                               "Content-Length: 2\r\n\r\n{}");
    ck_assert_int_eq(agx_httpd_post(srv, (void (*)(void *))free, NULL), -1);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static void posted(void *arg) { atomic_fetch_add((_Atomic int *)arg, 1); }

START_TEST(test_httpd_post_runs_on_service_thread)
{
    start_server(0, 0);
    static _Atomic int n;
    atomic_store(&n, 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(agx_httpd_post(srv, posted, &n), 0);
    for (int i = 0; i < 300 && atomic_load(&n) < 10; i++)
        msleep(10);
    ck_assert_int_eq(atomic_load(&n), 10);
}
END_TEST

START_TEST(test_httpd_bind_failure_and_bad_args)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    agx_httpd_t *h = NULL;
    ck_assert_int_eq(agx_httpd_new(&cfg, &h), AGENTEX_EINVAL); /* no on_request */
    ck_assert_int_eq(agx_httpd_new(NULL, &h), AGENTEX_EINVAL);
    cfg.on_request = on_request;
    cfg.host = "203.0.113.1"; /* not a local address */
    ck_assert_int_eq(agx_httpd_new(&cfg, &h), AGENTEX_EIO);
    ck_assert_ptr_null(h);
    cfg.host = NULL;
    ck_assert_int_eq(agx_httpd_new(&cfg, &h), AGENTEX_OK);
    agx_httpd_t *h2 = NULL;
    cfg.port = agx_httpd_port(h);
    ck_assert_int_eq(agx_httpd_new(&cfg, &h2), AGENTEX_EIO); /* port taken */
    agx_httpd_free(h);                                       /* never ran */
    ck_assert_int_eq(agx_httpd_run(NULL), AGENTEX_EINVAL);
    agx_httpd_stop(NULL);
    agx_httpd_free(NULL);
}
END_TEST

START_TEST(test_httpd_new_enomem_leaks_nothing)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = on_request;
    agentex_err_t err = AGENTEX_ENOMEM;
    for (long n = 1; n < 50 && err != AGENTEX_OK; n++) {
        agx_httpd_t *h = NULL;
        agx_alloc_fail_after(n);
        err = agx_httpd_new(&cfg, &h);
        agx_alloc_fail_after(0);
        if (err == AGENTEX_OK)
            agx_httpd_free(h);
        else
            ck_assert_int_eq(err, AGENTEX_ENOMEM);
    }
    ck_assert_int_eq(err, AGENTEX_OK);
}
END_TEST

/* ---- websockets ------------------------------------------------------------------ */

static _Atomic int ws_closes;
static char ws_seen_query[64];

static bool ws_open(agx_ws_t *ws, const char *path, void *ud)
{
    (void)ud;
    if (strcmp(path, "/ws") != 0)
        return false;
    const char *t = agx_ws_query_param(ws, "task");
    snprintf(ws_seen_query, sizeof ws_seen_query, "%s|%s", t ? t : "",
             agx_ws_header(ws, "x-token") ? agx_ws_header(ws, "x-token") : "");
    agx_ws_set_userdata(ws, ws_seen_query);
    ck_assert_int_eq(agx_ws_send(ws, "hello", 5, false), 0);
    return true;
}

static void ws_message(agx_ws_t *ws, const char *data, size_t len, bool binary, void *ud)
{
    (void)ud;
    ck_assert_ptr_eq(agx_ws_userdata(ws), ws_seen_query);
    ck_assert_int_eq(data[len], '\0');
    if (len == 5 && memcmp(data, "close", 5) == 0) {
        agx_ws_close(ws);
        return;
    }
    agx_ws_send(ws, data, len, binary);
}

static void ws_closed(agx_ws_t *ws, void *ud)
{
    (void)ws;
    (void)ud;
    atomic_fetch_add(&ws_closes, 1);
}

static void start_ws_server(void)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = on_request;
    cfg.userdata = &srv;
    cfg.on_ws_open = ws_open;
    cfg.on_ws_message = ws_message;
    cfg.on_ws_close = ws_closed;
    atomic_store(&ws_closes, 0);
    start_cfg(&cfg);
}

/* A masked client frame. */
static size_t ws_frame(unsigned char *out, int fin_op, const char *data, size_t len)
{
    static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    size_t o = 0;
    out[o++] = (unsigned char)fin_op;
    if (len < 126) {
        out[o++] = (unsigned char)(0x80 | len);
    } else {
        out[o++] = 0x80 | 126;
        out[o++] = (unsigned char)(len >> 8);
        out[o++] = (unsigned char)len;
    }
    memcpy(out + o, mask, 4);
    o += 4;
    for (size_t i = 0; i < len; i++)
        out[o++] = (unsigned char)(data[i] ^ mask[i & 3]);
    return o;
}

static int ws_handshake(const char *target)
{
    int fd = raw_connect();
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "X-Token: tok\r\n\r\n",
                     target);
    raw_send(fd, req, (size_t)n);
    return fd;
}

START_TEST(test_httpd_websocket_echo)
{
    start_ws_server();
    int fd = ws_handshake("/ws?task=t%201");
    agx_buf_t out;
    agx_buf_init(&out);
    const char want101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    raw_read(fd, &out, sizeof want101 - 1 + 7, 3000);
    ck_assert_uint_eq(out.len, sizeof want101 - 1 + 7);
    ck_assert(memcmp(out.data, want101, sizeof want101 - 1) == 0);
    ck_assert(memcmp(out.data + sizeof want101 - 1, "\x81\x05hello", 7) == 0);
    ck_assert_str_eq(ws_seen_query, "t 1|tok");

    /* a text message in two fragments with a ping between, and a 300-byte binary one */
    unsigned char fr[1024];
    size_t n = ws_frame(fr, 0x01, "frag", 4);
    n += ws_frame(fr + n, 0x89, "p", 1);
    n += ws_frame(fr + n, 0x80, "mented", 6);
    char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (char)i;
    n += ws_frame(fr + n, 0x82, bin, sizeof bin);
    raw_send(fd, fr, n);
    agx_buf_reset(&out);
    raw_read(fd, &out, 3 + 12 + 4 + 300, 3000);
    ck_assert_uint_eq(out.len, 3 + 12 + 4 + 300);
    ck_assert(memcmp(out.data, "\x8a\x01p", 3) == 0);
    ck_assert(memcmp(out.data + 3,
                     "\x81\x0a"
                     "fragmented",
                     12) == 0);
    ck_assert(memcmp(out.data + 15, "\x82\x7e\x01\x2c", 4) == 0);
    ck_assert(memcmp(out.data + 19, bin, sizeof bin) == 0);

    /* server-initiated close */
    n = ws_frame(fr, 0x81, "close", 5);
    raw_send(fd, fr, n);
    agx_buf_reset(&out);
    raw_read(fd, &out, 4, 3000);
    ck_assert(memcmp(out.data, "\x88\x02\x03\xe8", 4) == 0);
    n = ws_frame(fr, 0x88, "\x03\xe8", 2);
    raw_send(fd, fr, n);
    ck_assert(raw_read(fd, &out, 0, 3000));
    close(fd);
    for (int i = 0; i < 300 && atomic_load(&ws_closes) == 0; i++)
        msleep(10);
    ck_assert_int_eq(atomic_load(&ws_closes), 1);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_websocket_refused_and_client_close)
{
    start_ws_server();
    int fd = ws_handshake("/nope");
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 3000));
    ck_assert(strncmp(out.data, "HTTP/1.1 403 Forbidden\r\n", 24) == 0);
    close(fd);

    fd = ws_handshake("/ws");
    agx_buf_reset(&out);
    raw_read(fd, &out, 129 + 7, 3000);
    unsigned char fr[64];
    size_t n = ws_frame(fr, 0x88, "\x03\xe9", 2); /* client closes with 1001 */
    raw_send(fd, fr, n);
    agx_buf_reset(&out);
    ck_assert(raw_read(fd, &out, 0, 3000));
    ck_assert_uint_eq(out.len, 4);
    ck_assert(memcmp(out.data, "\x88\x02\x03\xe9", 4) == 0);
    close(fd);
    for (int i = 0; i < 300 && atomic_load(&ws_closes) == 0; i++)
        msleep(10);
    ck_assert_int_eq(atomic_load(&ws_closes), 1);
    agx_buf_free(&out);
}
END_TEST

START_TEST(test_httpd_websocket_upgrade_without_handler_is_404)
{
    start_server(0, 0);
    int fd = ws_handshake("/ws");
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 3000));
    ck_assert(strncmp(out.data, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    ck_assert_int_eq(atomic_load(&requests_seen), 0);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static agx_ws_t *kept_ws;
static bool keep_open(agx_ws_t *ws, const char *path, void *ud)
{
    (void)path;
    (void)ud;
    agx_ws_ref(ws);
    kept_ws = ws;
    return true;
}

static void *ws_sender(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100; i++) {
        char m[16];
        int n = snprintf(m, sizeof m, "m%03d", i);
        ck_assert_int_eq(agx_ws_send(kept_ws, m, (size_t)n, false), 0);
    }
    return NULL;
}

START_TEST(test_httpd_websocket_send_from_other_thread_in_order)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = on_request;
    cfg.on_ws_open = keep_open;
    start_cfg(&cfg);
    int fd = ws_handshake("/any/path");
    agx_buf_t out;
    agx_buf_init(&out);
    raw_read(fd, &out, 129, 3000);
    ck_assert(strncmp(out.data, "HTTP/1.1 101 ", 13) == 0);
    for (int i = 0; i < 300 && !kept_ws; i++)
        msleep(10);
    pthread_t t;
    pthread_create(&t, NULL, ws_sender, NULL);
    pthread_join(t, NULL);
    agx_buf_reset(&out);
    raw_read(fd, &out, 600, 3000);
    ck_assert_uint_eq(out.len, 600);
    for (int i = 0; i < 100; i++) {
        char m[16];
        snprintf(m, sizeof m, "m%03d", i);
        ck_assert(memcmp(out.data + 6 * i, "\x81\x04", 2) == 0);
        ck_assert(memcmp(out.data + 6 * i + 2, m, 4) == 0);
    }
    close(fd);
    agx_httpd_stop(srv);
    agx_httpd_join(srv);
    ck_assert_int_eq(agx_ws_send(kept_ws, "x", 1, false), -1); /* closed, still referenced */
    agx_ws_unref(kept_ws);
    agx_buf_free(&out);
}
END_TEST

/* ---- review regressions --------------------------------------------------------------- */

/* Chunked trailers are header fields: an endless trailer section must be refused (431),
 * not buffered without bound until the request timeout. */
START_TEST(test_httpd_chunked_trailer_section_is_bounded)
{
    start_server(0, 0);
    int fd = raw_connect();
    const char req[] = "POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n";
    raw_send(fd, req, sizeof req - 1);
    char line[100];
    memset(line, 'v', sizeof line);
    memcpy(line, "X-T: ", 5);
    memcpy(line + sizeof line - 2, "\r\n", 2);
    for (int i = 0; i < 1000; i++) /* 100 KB of trailer lines */
        if (send(fd, line, sizeof line, MSG_NOSIGNAL) != (ssize_t)sizeof line)
            break;
    (void)!send(fd, "\r\n", 2, MSG_NOSIGNAL);
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 4000));
    ck_assert_str_eq(out.data,
                     "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: "
                     "application/json\r\nContent-Length: 37\r\nConnection: close\r\n\r\n"
                     "{\"detail\":\"Request header too large\"}");
    ck_assert_int_eq(atomic_load(&requests_seen), 0);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Chunk framing (sizes, extensions, CRLFs) is consumed as it arrives: a small body sent in
 * one-byte chunks with long extensions must not keep all the framing in memory. */
START_TEST(test_httpd_chunk_framing_is_not_buffered)
{
    start_server(0, 0);
    enum { NCHUNK = 48 * 1024 };
    char ext[1000];
    memset(ext, 'e', sizeof ext);
    char frame[1024];
    memcpy(frame, "1;x=", 4);
    memcpy(frame + 4, ext, sizeof ext);
    memcpy(frame + 4 + sizeof ext, "\r\nZ\r\n", 5);
    size_t fl = 4 + sizeof ext + 5;
    /* 48 Ki chunks of ~1 KB: 48 MB of framing around a 48 KiB body */
    int fd = raw_connect();
    const char head[] =
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    long rss0 = max_rss_kb();
    raw_send(fd, head, sizeof head - 1);
    char *batch = malloc(fl * 64);
    for (int i = 0; i < 64; i++)
        memcpy(batch + fl * (size_t)i, frame, fl);
    for (int i = 0; i < NCHUNK / 64; i++)
        raw_send(fd, batch, fl * 64);
    free(batch);
    raw_send(fd, "0\r\n\r\n", 5);
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 8000));
    ck_assert(strncmp(out.data, "HTTP/1.1 200 OK\r\n", 17) == 0);
    ck_assert_ptr_nonnull(strstr(out.data, "\r\n\r\nPOST /c\ntransfer-encoding: chunked\n"
                                           "connection: close\n\nZZZ"));
    ck_assert_uint_eq(out.len - (size_t)(strstr(out.data, "\n\nZ") + 2 - out.data), NCHUNK);
    long grown = max_rss_kb() - rss0;
    ck_assert_msg(grown < 24 * 1024, "peak memory grew by %ld KiB for a 48 KiB body", grown);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static void start_idle_server(long idle_ms)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = big_or_echo;
    cfg.idle_timeout_ms = idle_ms;
    start_cfg(&cfg);
}

/* A response that is still being written (the client reads steadily, just slower than
 * idle_timeout_ms per whole response) is not an idle connection: it must not be cut. */
START_TEST(test_httpd_idle_timeout_does_not_cut_a_response_being_read)
{
    start_idle_server(400);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rcv = 32 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const char big[] = "GET /big HTTP/1.1\r\n\r\n";
    raw_send(fd, big, sizeof big - 1);
    size_t got = 0, want = (16u << 20) + 71; /* head is 71 bytes */
    char *buf = malloc(65536);
    int64_t until = agx_now_ms() + 8000;
    while (got < want && agx_now_ms() < until) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 500) <= 0)
            continue;
        ssize_t n = recv(fd, buf, 65536, 0);
        if (n <= 0)
            break; /* closed by the server */
        got += (size_t)n;
        msleep(3);
    }
    free(buf);
    ck_assert_uint_eq(got, want);
    close(fd);
}
END_TEST

/* A peer that asked for Connection: close and then never reads must not hold its socket
 * forever: with no write progress for idle_timeout_ms the connection is dropped. */
START_TEST(test_httpd_non_reading_peer_is_dropped_after_idle_timeout)
{
    start_idle_server(150);
    int fd = raw_connect();
    const char big[] = "GET /big HTTP/1.1\r\nConnection: close\r\n\r\n";
    raw_send(fd, big, sizeof big - 1);
    msleep(1500); /* never reads meanwhile */
    agx_buf_t out;
    agx_buf_init(&out);
    ck_assert(raw_read(fd, &out, 0, 5000)); /* what the kernel holds, then the close */
    ck_assert_uint_lt(out.len, 16u << 20);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static _Atomic int late_send_rc = 99;
static bool ws_open_plain(agx_ws_t *ws, const char *path, void *ud)
{
    (void)ws;
    (void)path;
    (void)ud;
    return true;
}

static void ws_close_then_send(agx_ws_t *ws, const char *data, size_t len, bool binary, void *ud)
{
    (void)data;
    (void)len;
    (void)binary;
    (void)ud;
    agx_ws_close(ws);
    atomic_store(&late_send_rc, agx_ws_send(ws, "late", 4, false));
}

/* RFC 6455 5.5.1: no data frame after the close frame, also when the handler sends on
 * the service thread right after agx_ws_close. */
START_TEST(test_httpd_websocket_no_data_frame_after_close)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = on_request;
    cfg.on_ws_open = ws_open_plain;
    cfg.on_ws_message = ws_close_then_send;
    start_cfg(&cfg);
    int fd = ws_handshake("/ws");
    agx_buf_t out;
    agx_buf_init(&out);
    raw_read(fd, &out, 129, 3000);
    ck_assert_uint_eq(out.len, 129);
    ck_assert(strncmp(out.data, "HTTP/1.1 101 ", 13) == 0);
    unsigned char fr[64];
    size_t n = ws_frame(fr, 0x81, "bye", 3);
    raw_send(fd, fr, n);
    agx_buf_reset(&out);
    ck_assert(raw_read(fd, &out, 0, 3000)); /* the close frame, then the half-close */
    ck_assert_uint_eq(out.len, 4);
    ck_assert(memcmp(out.data, "\x88\x02\x03\xe8", 4) == 0);
    ck_assert_int_eq(atomic_load(&late_send_rc), -1);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

static _Atomic int nobody_write_rc = 99;
static void stream_no_body(agx_http_req_t *r, void *ud)
{
    (void)ud;
    if (strcmp(agx_http_req_path(r), "/nc") != 0) {
        echo_respond(r);
        return;
    }
    ck_assert_int_eq(agx_http_stream_begin(r, 204, NULL, NULL), 0);
    atomic_store(&nobody_write_rc, agx_http_stream_write(r, "x", 1));
    agx_http_stream_end(r);
}

/* A 204/304 has no body (RFC 7230 3.3.3): stream writes are dropped, or the bytes would be
 * read as the start of the next response on the keep-alive connection. */
START_TEST(test_httpd_stream_with_no_body_status_keeps_framing)
{
    start_handler(stream_no_body);
    const char reqs[] = "GET /nc HTTP/1.1\r\n\r\nGET /d HTTP/1.1\r\nConnection: close\r\n\r\n";
    agx_buf_t out;
    ck_assert(raw_roundtrip(NULL, reqs, sizeof reqs - 1, &out, 0, 3000));
    ck_assert_str_eq(out.data, "HTTP/1.1 204 No Content\r\n\r\n"
                               "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 26\r\n"
                               "Connection: close\r\nX-Echo: 1\r\n\r\nGET /d\nconnection: close\n\n");
    ck_assert_int_eq(atomic_load(&nobody_write_rc), 0);
    agx_buf_free(&out);
}
END_TEST

/* An HTTP/1.0 stream has no chunked framing: its end is the close, which must come when
 * the responder ends the stream, also when every chunk was already written. */
START_TEST(test_httpd_http10_stream_end_closes_the_connection)
{
    mode = M_STREAM;
    start_server(0, 0);
    const char req[] = "GET /s HTTP/1.0\r\n\r\n";
    agx_buf_t out;
    /* closed at the end of the stream */
    ck_assert(raw_roundtrip(NULL, req, sizeof req - 1, &out, 0, 5000));
    ck_assert_str_eq(out.data, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                               "Connection: close\r\n\r\n{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n");
    agx_buf_free(&out);
}
END_TEST

/* The same for a streamed answer to a HEAD request with Connection: close: the end
 * writes nothing, and still closes. */
START_TEST(test_httpd_head_stream_with_close_closes_the_connection)
{
    mode = M_STREAM;
    start_server(0, 0);
    const char req[] = "HEAD /s HTTP/1.1\r\nConnection: close\r\n\r\n";
    agx_buf_t out;
    ck_assert(raw_roundtrip(NULL, req, sizeof req - 1, &out, 0, 5000));
    ck_assert_str_eq(out.data, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                               "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    agx_buf_free(&out);
}
END_TEST

/* After the server's close frame the connection only waits for the peer's: a peer that
 * neither reads nor closes is dropped after idle_timeout_ms without write progress
 * (and what it keeps sending is discarded, not buffered). */
START_TEST(test_httpd_websocket_close_handshake_is_bounded)
{
    agx_httpd_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.on_request = on_request;
    cfg.on_ws_open = ws_open_plain;
    cfg.idle_timeout_ms = 150;
    start_cfg(&cfg);
    int fd = ws_handshake("/ws");
    agx_buf_t out;
    agx_buf_init(&out);
    raw_read(fd, &out, 129, 3000);
    ck_assert_uint_eq(out.len, 129);
    /* 8 MB of pings, never reading the pongs: they pile up unsent on the server */
    char pl[125];
    memset(pl, 'p', sizeof pl);
    unsigned char fr[256];
    size_t fl = ws_frame(fr, 0x89, pl, sizeof pl);
    enum { PER = 256 };
    unsigned char *batch = malloc(fl * PER);
    for (int i = 0; i < PER; i++)
        memcpy(batch + fl * (size_t)i, fr, fl);
    size_t npings = 0;
    for (int i = 0; i < 250; i++) {
        raw_send(fd, batch, fl * PER);
        npings += PER;
    }
    free(batch);
    const unsigned char unmasked[] = {0x81, 0x01, 'x'}; /* protocol error: close 1002 */
    raw_send(fd, unmasked, sizeof unmasked);
    msleep(1500);
    agx_buf_reset(&out);
    ck_assert(raw_read(fd, &out, 0, 8000));
    /* dropped before all the pongs and the close frame could be written */
    ck_assert_uint_lt(out.len, npings * 127 + 4);
    close(fd);
    agx_buf_free(&out);
}
END_TEST

/* RFC 6455 7.4: a close frame with a one-byte payload or a code that must not be sent
 * (1005, 1006, 1015, unassigned) is a protocol error, answered with 1002, never echoed. */
START_TEST(test_httpd_websocket_invalid_close_code_answered_1002)
{
    static const char *const payloads[] = {"\x03\xee", "\x03\xed", "\x03\xf7", "\x00\x64", "x"};
    static const size_t lens[] = {2, 2, 2, 2, 1};
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        if (!srv)
            start_ws_server();
        int fd = ws_handshake("/ws");
        agx_buf_t out;
        agx_buf_init(&out);
        raw_read(fd, &out, 129 + 7, 3000); /* 101 and the "hello" frame */
        ck_assert_uint_eq(out.len, 129 + 7);
        unsigned char fr[16];
        size_t n = ws_frame(fr, 0x88, payloads[k], lens[k]);
        raw_send(fd, fr, n);
        agx_buf_reset(&out);
        ck_assert(raw_read(fd, &out, 0, 3000));
        ck_assert_uint_eq(out.len, 4);
        ck_assert_msg(memcmp(out.data, "\x88\x02\x03\xea", 4) == 0, "payload %zu", k);
        close(fd);
        agx_buf_free(&out);
    }
}
END_TEST

/* RFC 6455 8.1: a text message that is not UTF-8 fails the connection (1007) and is not
 * delivered; valid multi-byte text is. */
START_TEST(test_httpd_websocket_text_must_be_utf8)
{
    static const char *const bad[] = {"a\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                      "\xe2\x82"};
    start_ws_server();
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int fd = ws_handshake("/ws");
        agx_buf_t out;
        agx_buf_init(&out);
        raw_read(fd, &out, 129 + 7, 3000);
        ck_assert_uint_eq(out.len, 129 + 7);
        unsigned char fr[64];
        /* valid first: echoed */
        size_t n = ws_frame(fr, 0x81, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
        raw_send(fd, fr, n);
        agx_buf_reset(&out);
        raw_read(fd, &out, 11, 3000);
        ck_assert_uint_eq(out.len, 11);
        ck_assert(memcmp(out.data, "\x81\x09\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 11) == 0);
        /* then the bad one, as one frame or (k odd) in two fragments */
        size_t bl = strlen(bad[k]);
        if (k % 2) {
            n = ws_frame(fr, 0x01, bad[k], 1);
            n += ws_frame(fr + n, 0x80, bad[k] + 1, bl - 1);
        } else {
            n = ws_frame(fr, 0x81, bad[k], bl);
        }
        raw_send(fd, fr, n);
        agx_buf_reset(&out);
        ck_assert(raw_read(fd, &out, 0, 3000));
        ck_assert_uint_eq(out.len, 4);
        ck_assert_msg(memcmp(out.data, "\x88\x02\x03\xef", 4) == 0, "case %zu", k);
        close(fd);
        agx_buf_free(&out);
    }
}
END_TEST

Suite *httpd_suite(void);
Suite *httpd_suite(void)
{
    Suite *s = suite_create("httpd");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_httpd_get_and_post_round_trip_exact_bytes);
    tcase_add_test(tc, test_httpd_enumerates_custom_and_repeated_headers);
    tcase_add_test(tc, test_httpd_header_lookup_is_case_insensitive_first_value);
    tcase_add_test(tc, test_httpd_decodes_query_params);
    tcase_add_test(tc, test_httpd_keep_alive_reuses_one_connection);
    tcase_add_test(tc, test_httpd_pipelined_requests_answered_in_order);
    tcase_add_test(tc, test_httpd_request_split_into_single_bytes);
    tcase_add_test(tc, test_httpd_head_and_http10);
    tcase_add_test(tc, test_httpd_expect_100_continue);
    tcase_add_test(tc, test_httpd_second_answer_is_refused);
    tcase_add_test(tc, test_httpd_responds_from_other_thread_after_delay);
    tcase_add_test(tc, test_httpd_streams_chunks_from_other_thread);
    tcase_add_test(tc, test_httpd_streams_with_curl);
    tcase_add_test(tc, test_httpd_body_too_large_gets_413);
    tcase_add_test(tc, test_httpd_chunked_body_too_large_gets_413);
    tcase_add_test(tc, test_httpd_header_timeout_gets_408_and_close);
    tcase_add_test(tc, test_httpd_idle_connection_closed);
    tcase_add_loop_test(tc, test_httpd_bad_requests_get_error_and_close, 0,
                        (int)(sizeof bad_inputs / sizeof bad_inputs[0]));
    tcase_add_test(tc, test_httpd_survives_random_garbage);
    tcase_add_test(tc, test_httpd_out_of_fds_pauses_accept_then_recovers);
    tcase_add_test(tc, test_httpd_slow_reader_does_not_block_others);
    tcase_add_test(tc, test_httpd_client_disconnect_mid_stream);
    tcase_add_test(tc, test_httpd_stop_with_request_in_flight);
    tcase_add_test(tc, test_httpd_run_on_caller_thread_until_stop);
    tcase_add_test(tc, test_httpd_post_runs_on_service_thread);
    tcase_add_test(tc, test_httpd_bind_failure_and_bad_args);
    tcase_add_test(tc, test_httpd_new_enomem_leaks_nothing);
    tcase_add_test(tc, test_httpd_chunked_trailer_section_is_bounded);
    tcase_add_test(tc, test_httpd_chunk_framing_is_not_buffered);
    tcase_add_test(tc, test_httpd_idle_timeout_does_not_cut_a_response_being_read);
    tcase_add_test(tc, test_httpd_non_reading_peer_is_dropped_after_idle_timeout);
    tcase_add_test(tc, test_httpd_stream_with_no_body_status_keeps_framing);
    tcase_add_test(tc, test_httpd_http10_stream_end_closes_the_connection);
    tcase_add_test(tc, test_httpd_head_stream_with_close_closes_the_connection);
    suite_add_tcase(s, tc);

    TCase *ws = tcase_create("websocket");
    tcase_add_checked_fixture(ws, setup, teardown);
    tcase_set_timeout(ws, 10);
    tcase_add_test(ws, test_httpd_websocket_echo);
    tcase_add_test(ws, test_httpd_websocket_refused_and_client_close);
    tcase_add_test(ws, test_httpd_websocket_upgrade_without_handler_is_404);
    tcase_add_test(ws, test_httpd_websocket_send_from_other_thread_in_order);
    tcase_add_test(ws, test_httpd_websocket_no_data_frame_after_close);
    tcase_add_test(ws, test_httpd_websocket_close_handshake_is_bounded);
    tcase_add_test(ws, test_httpd_websocket_invalid_close_code_answered_1002);
    tcase_add_test(ws, test_httpd_websocket_text_must_be_utf8);
    suite_add_tcase(s, ws);
    return s;
}
