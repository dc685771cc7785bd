/*
 * tests/check_client.c - the backend REST client (lib/client.c) and the fake backend
 * fixture every other suite relies on (tests/support/fake_backend.c).
 */
#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentex/client.h"
#include "agentex/version.h"
#include "client_internal.h"
#include "internal.h"
#include "support/fake_backend.h"

/* ---- fake backend self-test (plain libcurl, no libagentex) ---------------------------- */

typedef struct sink {
    char data[4096];
    size_t len;
} sink_t;

static size_t sink_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t n = size * nmemb;
    size_t room = sizeof(s->data) - 1 - s->len;
    size_t take = n < room ? n : room;
    memcpy(s->data + s->len, ptr, take);
    s->len += take;
    s->data[s->len] = '\0';
    return n;
}

/* One request on handle h (reused for keep-alive); returns the curl code. */
static CURLcode raw_request(CURL *h, const char *url, const char *method, const char *body,
                            struct curl_slist *headers, long *status, sink_t *out)
{
    memset(out, 0, sizeof(*out));
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return rc;
}

static fake_backend_t *fb;

static void fb_setup(void)
{
    fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
}

static void fb_teardown(void)
{
    fake_backend_stop(fb);
    fb = NULL;
}

START_TEST(test_fake_backend_records_request_and_answers_fifo)
{
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "%s/tasks/abc?limit=2&x=a%%20b", fake_backend_url(fb));
    struct curl_slist *hd = curl_slist_append(NULL, "X-Agent-Api-Key: k1");
    hd = curl_slist_append(hd, "Content-Type: application/json");
    fake_backend_push(fb, 201, "{\"id\":\"abc\"}");
    fake_backend_push_full(fb, 200, "text/plain", "X-Extra: yes\r\n", "hello");
    sink_t s;
    long st;
    ck_assert_int_eq(raw_request(h, url, "POST", "{\"a\":1}", hd, &st, &s), CURLE_OK);
    ck_assert_int_eq(st, 201);
    ck_assert_str_eq(s.data, "{\"id\":\"abc\"}");
    ck_assert_int_eq(raw_request(h, url, "GET", NULL, NULL, &st, &s), CURLE_OK);
    ck_assert_int_eq(st, 200);
    ck_assert_str_eq(s.data, "hello");
    /* FIFO empty and no route: the default 404 */
    ck_assert_int_eq(raw_request(h, url, "DELETE", NULL, NULL, &st, &s), CURLE_OK);
    ck_assert_int_eq(st, 404);
    ck_assert_ptr_nonnull(strstr(s.data, "no response scripted"));

    ck_assert_uint_eq(fake_backend_count(fb), 3);
    const fake_request_t *r = fake_backend_request(fb, 0);
    ck_assert_str_eq(r->method, "POST");
    ck_assert_str_eq(r->path, "/tasks/abc");
    ck_assert_str_eq(r->query, "limit=2&x=a%20b");
    ck_assert_str_eq(r->body, "{\"a\":1}");
    ck_assert_uint_eq(r->body_len, 7);
    ck_assert_str_eq(fake_request_header(r, "x-agent-api-key"), "k1");
    ck_assert_str_eq(fake_request_header(r, "Content-Type"), "application/json");
    r = fake_backend_request(fb, 1);
    ck_assert_str_eq(r->method, "GET");
    ck_assert_str_eq(r->body, "");
    ck_assert_uint_eq(r->body_len, 0);
    ck_assert_ptr_null(fake_request_header(r, "x-agent-api-key"));
    ck_assert_str_eq(fake_backend_request(fb, 2)->method, "DELETE");
    ck_assert_ptr_null(fake_backend_request(fb, 3));
    /* keep-alive: one connection for all three */
    ck_assert_uint_eq(fake_backend_connections(fb), 1);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
}
END_TEST

START_TEST(test_fake_backend_routes_and_reset)
{
    CURL *h = curl_easy_init();
    char url[256];
    fake_backend_route(fb, "GET", "/agents", 200, "[]");
    fake_backend_route(fb, NULL, "/tasks/", 200, "{\"any\":true}");
    sink_t s;
    long st;
    snprintf(url, sizeof(url), "%s/agents/name/x", fake_backend_url(fb));
    ck_assert_int_eq(raw_request(h, url, "GET", NULL, NULL, &st, &s), CURLE_OK);
    ck_assert_int_eq(st, 200);
    ck_assert_str_eq(s.data, "[]");
    ck_assert_int_eq(raw_request(h, url, "PUT", "{}", NULL, &st, &s), CURLE_OK);
    ck_assert_int_eq(st, 404);
    snprintf(url, sizeof(url), "%s/tasks/1", fake_backend_url(fb));
    ck_assert_int_eq(raw_request(h, url, "PUT", "{}", NULL, &st, &s), CURLE_OK);
    ck_assert_str_eq(s.data, "{\"any\":true}");
    /* the FIFO wins over routes */
    fake_backend_push(fb, 500, "{\"message\":\"boom\"}");
    ck_assert_int_eq(raw_request(h, url, "GET", NULL, NULL, &st, &s), CURLE_OK);
    ck_assert_int_eq(st, 500);
    const fake_request_t *old = fake_backend_request(fb, 0);
    ck_assert_uint_eq(fake_backend_count(fb), 4);
    fake_backend_push(fb, 201, "{}");
    fake_backend_reset(fb);
    ck_assert_uint_eq(fake_backend_count(fb), 0);
    ck_assert_str_eq(old->path, "/agents/name/x"); /* still valid after reset */
    ck_assert_int_eq(raw_request(h, url, "GET", NULL, NULL, &st, &s), CURLE_OK);
    ck_assert_int_eq(st, 200); /* the pushed 201 was forgotten; the route answers */
    ck_assert_uint_eq(fake_backend_count(fb), 1);
    curl_easy_cleanup(h);
}
END_TEST

static size_t chunk_read(char *buf, size_t size, size_t nitems, void *ud)
{
    const char **p = ud;
    size_t room = size * nitems;
    size_t n = strlen(*p);
    if (n > 5)
        n = 5; /* several chunks */
    if (n > room)
        n = room;
    memcpy(buf, *p, n);
    *p += n;
    return n;
}

START_TEST(test_fake_backend_reads_chunked_and_large_bodies)
{
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "%s/events", fake_backend_url(fb));
    const char *src = "{\"chunked\":\"body of several pieces\"}";
    const char *cursor = src;
    struct curl_slist *hd = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    sink_t s;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, chunk_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &cursor);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
    memset(&s, 0, sizeof(s));
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(curl_easy_perform(h), CURLE_OK);
    const fake_request_t *r = fake_backend_request(fb, 0);
    ck_assert_str_eq(fake_request_header(r, "transfer-encoding"), "chunked");
    ck_assert_str_eq(r->body, src);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);

    /* a large body (curl sends Expect: 100-continue for it) */
    size_t big = 200000;
    char *body = malloc(big + 1);
    memset(body, 'x', big);
    body[big] = '\0';
    h = curl_easy_init();
    long st;
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(raw_request(h, url, "POST", body, NULL, &st, &s), CURLE_OK);
    ck_assert_int_eq(st, 200);
    r = fake_backend_request(fb, 1);
    ck_assert_uint_eq(r->body_len, big);
    ck_assert_int_eq(memcmp(r->body, body, big), 0);
    free(body);
    curl_easy_cleanup(h);
}
END_TEST

START_TEST(test_fake_backend_raw_close_and_delay)
{
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "%s/x", fake_backend_url(fb));
    sink_t s;
    long st;
    fake_backend_push_raw(fb, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"trunc");
    ck_assert_int_eq(raw_request(h, url, "GET", NULL, NULL, &st, &s), CURLE_PARTIAL_FILE);
    fake_backend_push_close(fb);
    ck_assert_int_eq(raw_request(h, url, "GET", NULL, NULL, &st, &s), CURLE_GOT_NOTHING);
    /* a delayed answer longer than the client's patience */
    fake_backend_push_delayed(fb, 3000, 200, "{}");
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 200L);
    curl_easy_setopt(h, CURLOPT_URL, url);
    ck_assert_int_eq(curl_easy_perform(h), CURLE_OPERATION_TIMEDOUT);
    /* a short delay is waited for */
    fake_backend_push_delayed(fb, 50, 200, "{\"late\":1}");
    ck_assert_int_eq(raw_request(h, url, "GET", NULL, NULL, &st, &s), CURLE_OK);
    ck_assert_str_eq(s.data, "{\"late\":1}");
    ck_assert_uint_eq(fake_backend_wait(fb, 4, 1000), 4);
    ck_assert_uint_lt(fake_backend_wait(fb, 5, 50), 5);
    curl_easy_cleanup(h);
    /* stop (in teardown) must not hang on the still-sleeping 3 s answer */
}
END_TEST

START_TEST(test_fake_backend_stop_with_idle_connections)
{
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "%s/x", fake_backend_url(fb));
    sink_t s;
    long st;
    fake_backend_route(fb, "GET", "/", 200, "{}");
    ck_assert_int_eq(raw_request(h, url, "GET", NULL, NULL, &st, &s), CURLE_OK);
    fake_backend_stop(fb); /* the connection is still open on curl's side */
    fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    curl_easy_cleanup(h);
}
END_TEST

static TCase *fake_backend_tcase(void)
{
    TCase *tc = tcase_create("fake_backend");
    tcase_add_checked_fixture(tc, fb_setup, fb_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_fake_backend_records_request_and_answers_fifo);
    tcase_add_test(tc, test_fake_backend_routes_and_reset);
    tcase_add_test(tc, test_fake_backend_reads_chunked_and_large_bodies);
    tcase_add_test(tc, test_fake_backend_raw_close_and_delay);
    tcase_add_test(tc, test_fake_backend_stop_with_idle_connections);
    return tc;
}

/* ---- the client against the fake backend ---------------------------------------------- */

static agentex_client_t *cl;

static void cl_setup(void)
{
    fb_setup();
    ck_assert_int_eq(agentex_client_new(fake_backend_url(fb), &cl), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_retries(cl, 2, 1, 5), AGENTEX_OK);
}

static void cl_teardown(void)
{
    agentex_client_free(cl);
    cl = NULL;
    fb_teardown();
}

/* One request; body_json parsed here (NULL = no body). */
static agentex_err_t req(const char *method, const char *path, const char *const *query,
                         const char *body_json, cJSON **out)
{
    cJSON *body = NULL;
    if (body_json) {
        body = cJSON_Parse(body_json);
        ck_assert_ptr_nonnull(body);
    }
    agentex_err_t err = agx_client_request(cl, method, path, query, body, out);
    cJSON_Delete(body);
    return err;
}

static const fake_request_t *last_request(void)
{
    size_t n = fake_backend_count(fb);
    ck_assert_uint_gt(n, 0);
    return fake_backend_request(fb, n - 1);
}

/* A TCP port bound but not listening: connecting to it is refused. */
static int refused_port(int *fd_out)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *fd_out = fd;
    return ntohs(sa.sin_port);
}

/* -- configuration -- */

START_TEST(test_client_new_validates_and_normalises_base_url)
{
    static const struct {
        const char *in;
        agentex_err_t err;
        const char *base;
    } cases[] = {
        {"http://h:1", AGENTEX_OK, "http://h:1"},
        {"http://h:1/", AGENTEX_OK, "http://h:1"},
        {"HTTPS://api.example.com/prefix//", AGENTEX_OK, "HTTPS://api.example.com/prefix"},
        {"http://[::1]:5003", AGENTEX_OK, "http://[::1]:5003"},
        {"ftp://h", AGENTEX_EINVAL, NULL},
        {"localhost:5003", AGENTEX_EINVAL, NULL},
        {"", AGENTEX_EINVAL, NULL},
        {"http://", AGENTEX_EINVAL, NULL},
        {"http:///path", AGENTEX_EINVAL, NULL},
        {"http://a b", AGENTEX_EINVAL, NULL},
        {"http://h/x?y=1", AGENTEX_EINVAL, NULL},
        {"http://h/#frag", AGENTEX_EINVAL, NULL},
        {"http://h\r\nX: y", AGENTEX_EINVAL, NULL},
        {"http://user:pw@h:1", AGENTEX_EINVAL, NULL},
        {"http://h:1/a@b", AGENTEX_OK, "http://h:1/a@b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        agentex_client_t *c = (agentex_client_t *)1;
        ck_assert_int_eq(agentex_client_new(cases[i].in, &c), cases[i].err);
        if (cases[i].err == AGENTEX_OK) {
            ck_assert_str_eq(agentex_client_base_url(c), cases[i].base);
            agentex_client_free(c);
        } else {
            ck_assert_ptr_null(c);
        }
    }
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(NULL, &c), AGENTEX_OK);
    ck_assert_str_eq(agentex_client_base_url(c), "http://localhost:5003");
    ck_assert_str_eq(agentex_client_errmsg(c), "");
    ck_assert_int_eq(agentex_client_http_status(c), 0);
    agentex_client_free(c);
}
END_TEST

START_TEST(test_client_null_and_invalid_arguments_are_einval)
{
    agentex_client_t *c = NULL, *d = (agentex_client_t *)1;
    ck_assert_int_eq(agentex_client_new("http://h", NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_from_env(NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_dup(NULL, &d), AGENTEX_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(agentex_client_set_agent_api_key(NULL, "k"), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_sdk_api_key(NULL, "k"), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_header(NULL, "X-A", "1"), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_timeouts(NULL, 1, 1), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_retries(NULL, 1, 1, 1), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_tls(NULL, 1, NULL), AGENTEX_EINVAL);
    ck_assert_str_eq(agentex_client_errmsg(NULL), "");
    ck_assert_str_eq(agentex_client_base_url(NULL), "");
    ck_assert_int_eq(agentex_client_http_status(NULL), 0);
    agentex_client_free(NULL);

    ck_assert_int_eq(agentex_client_new("http://h", &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_dup(c, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_timeouts(c, -1, 0), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_timeouts(c, 0, -5), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_retries(c, -1, 1, 1), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_retries(c, 1, -1, 1), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_retries(c, 1, 1, -1), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_tls(c, 1, ""), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_agent_api_key(c, "bad\r\nkey"), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_sdk_api_key(c, "bad\nkey"), AGENTEX_EINVAL);
    static const char *const bad_names[] = {"", "Bad Name", "a:b", "x\r\n", "tab\t", "é"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
        ck_assert_int_eq(agentex_client_set_header(c, bad_names[i], "v"), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_header(c, NULL, "v"), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_header(c, "X-A", "v\r\nX-Injected: 1"), AGENTEX_EINVAL);
    ck_assert_int_eq(agentex_client_set_header(c, "X-A", "v\n"), AGENTEX_EINVAL);

    /* agx_client_request argument checks: EINVAL with a message, no request sent */
    cJSON *out = (cJSON *)1;
    ck_assert_int_eq(agx_client_request(NULL, "GET", "/x", NULL, NULL, &out), AGENTEX_EINVAL);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(agx_client_request(c, NULL, "/x", NULL, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_str_ne(agentex_client_errmsg(c), "");
    ck_assert_int_eq(agx_client_request(c, "GET", NULL, NULL, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(agx_client_request(c, "PATCH", "/x", NULL, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(agx_client_request(c, "GET", "x", NULL, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(agx_client_request(c, "GET", "/a b", NULL, NULL, NULL), AGENTEX_EINVAL);
    cJSON *body = cJSON_CreateObject();
    ck_assert_int_eq(agx_client_request(c, "GET", "/x", NULL, body, NULL), AGENTEX_EINVAL);
    cJSON_Delete(body);
    ck_assert_int_eq(agentex_client_http_status(c), 0);

    /* agx_client_fail / agx_client_clear_error */
    ck_assert_int_eq(agx_client_fail(c, AGENTEX_EPROTO, "bad %s %d", "thing", 7), AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(c), "bad thing 7");
    agx_client_clear_error(c);
    ck_assert_str_eq(agentex_client_errmsg(c), "");
    ck_assert_int_eq(agx_client_fail(NULL, AGENTEX_EINVAL, "x"), AGENTEX_EINVAL);
    agx_client_clear_error(NULL);
    agentex_client_free(c);
}
END_TEST

START_TEST(test_client_from_env_reads_python_sdk_variables)
{
    setenv("AGENTEX_BASE_URL", fake_backend_url(fb), 1);
    setenv("AGENT_API_KEY", "agent-key-1", 1);
    setenv("AGENTEX_SDK_API_KEY", "sdk-key-2", 1);
    setenv("AGENTEX_CUSTOM_HEADERS", "X-One: 1\n  X-Two :two words \r\n\nx-three:\n", 1);
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_from_env(&c), AGENTEX_OK);
    ck_assert_str_eq(agentex_client_base_url(c), fake_backend_url(fb));
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(agx_client_request(c, "GET", "/agents", NULL, NULL, NULL), AGENTEX_OK);
    const fake_request_t *r = last_request();
    ck_assert_str_eq(fake_request_header(r, "x-agent-api-key"), "agent-key-1");
    ck_assert_str_eq(fake_request_header(r, "authorization"), "Bearer sdk-key-2");
    ck_assert_str_eq(fake_request_header(r, "x-one"), "1");
    ck_assert_str_eq(fake_request_header(r, "x-two"), "two words");
    ck_assert_str_eq(fake_request_header(r, "x-three"), "");
    agentex_client_free(c);

    /* empty keys are no keys */
    setenv("AGENT_API_KEY", "", 1);
    unsetenv("AGENTEX_SDK_API_KEY");
    unsetenv("AGENTEX_CUSTOM_HEADERS");
    ck_assert_int_eq(agentex_client_from_env(&c), AGENTEX_OK);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(agx_client_request(c, "GET", "/agents", NULL, NULL, NULL), AGENTEX_OK);
    r = last_request();
    ck_assert_ptr_null(fake_request_header(r, "x-agent-api-key"));
    ck_assert_ptr_null(fake_request_header(r, "authorization"));
    agentex_client_free(c);

    /* a custom header line without ':' */
    setenv("AGENTEX_CUSTOM_HEADERS", "X-Ok: 1\nnot a header", 1);
    c = (agentex_client_t *)1;
    ck_assert_int_eq(agentex_client_from_env(&c), AGENTEX_EINVAL);
    ck_assert_ptr_null(c);
    setenv("AGENTEX_CUSTOM_HEADERS", "Bad Name: 1", 1);
    ck_assert_int_eq(agentex_client_from_env(&c), AGENTEX_EINVAL);
    unsetenv("AGENTEX_CUSTOM_HEADERS");

    /* unset base URL: the default; empty: no backend */
    unsetenv("AGENTEX_BASE_URL");
    ck_assert_int_eq(agentex_client_from_env(&c), AGENTEX_OK);
    ck_assert_str_eq(agentex_client_base_url(c), AGENTEX_DEFAULT_BASE_URL);
    agentex_client_free(c);
    setenv("AGENTEX_BASE_URL", "", 1);
    c = (agentex_client_t *)1;
    ck_assert_int_eq(agentex_client_from_env(&c), AGENTEX_EINVAL);
    ck_assert_ptr_null(c);
    setenv("AGENTEX_BASE_URL", "not a url", 1);
    ck_assert_int_eq(agentex_client_from_env(&c), AGENTEX_EINVAL);
}
END_TEST

START_TEST(test_client_dup_copies_configuration_not_connection)
{
    ck_assert_int_eq(agentex_client_set_agent_api_key(cl, "ak"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_sdk_api_key(cl, "sk"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-A", "1"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-B", "2"), AGENTEX_OK);
    fake_backend_route(fb, "GET", "/", 200, "{}");
    ck_assert_int_eq(req("GET", "/a", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_connections(fb), 1);

    agentex_client_t *d = NULL;
    ck_assert_int_eq(agentex_client_dup(cl, &d), AGENTEX_OK);
    ck_assert_str_eq(agentex_client_base_url(d), fake_backend_url(fb));
    /* later changes to the original do not reach the copy */
    ck_assert_int_eq(agentex_client_set_header(cl, "X-A", "changed"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_agent_api_key(cl, NULL), AGENTEX_OK);
    ck_assert_int_eq(agx_client_request(d, "GET", "/b", NULL, NULL, NULL), AGENTEX_OK);
    const fake_request_t *r = last_request();
    ck_assert_str_eq(r->path, "/b");
    ck_assert_str_eq(fake_request_header(r, "x-agent-api-key"), "ak");
    ck_assert_str_eq(fake_request_header(r, "authorization"), "Bearer sk");
    ck_assert_str_eq(fake_request_header(r, "x-a"), "1");
    ck_assert_str_eq(fake_request_header(r, "x-b"), "2");
    /* its own connection */
    ck_assert_uint_eq(fake_backend_connections(fb), 2);
    agentex_client_free(d);

    ck_assert_int_eq(req("GET", "/c", NULL, NULL, NULL), AGENTEX_OK);
    r = last_request();
    ck_assert_ptr_null(fake_request_header(r, "x-agent-api-key"));
    ck_assert_str_eq(fake_request_header(r, "x-a"), "changed");
}
END_TEST

static TCase *config_tcase(void)
{
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, cl_setup, cl_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_client_new_validates_and_normalises_base_url);
    tcase_add_test(tc, test_client_null_and_invalid_arguments_are_einval);
    tcase_add_test(tc, test_client_from_env_reads_python_sdk_variables);
    tcase_add_test(tc, test_client_dup_copies_configuration_not_connection);
    return tc;
}

/* -- bytes on the wire -- */

START_TEST(test_client_get_sends_path_query_and_headers)
{
    ck_assert_int_eq(agentex_client_set_agent_api_key(cl, "agent-secret"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_sdk_api_key(cl, "sdk-secret"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-Custom", "v1"), AGENTEX_OK);
    fake_backend_push(fb, 200, "{\"id\":\"t1\",\"n\":[1,2]}");
    const char *const q[] = {"task_id", "a b&c=d/\xc3\xa9", "skipped", NULL, "limit", "20", NULL};
    cJSON *out = NULL;
    ck_assert_int_eq(req("GET", "/tasks/t%201", q, NULL, &out), AGENTEX_OK);
    ck_assert_ptr_nonnull(out);
    ck_assert_str_eq(cJSON_GetObjectItem(out, "id")->valuestring, "t1");
    cJSON_Delete(out);
    ck_assert_str_eq(agentex_client_errmsg(cl), "");
    ck_assert_int_eq(agentex_client_http_status(cl), 200);

    ck_assert_uint_eq(fake_backend_count(fb), 1);
    const fake_request_t *r = fake_backend_request(fb, 0);
    ck_assert_str_eq(r->method, "GET");
    ck_assert_str_eq(r->path, "/tasks/t%201");
    ck_assert_str_eq(r->query, "task_id=a%20b%26c%3Dd%2F%C3%A9&limit=20");
    ck_assert_str_eq(r->body, "");
    ck_assert_str_eq(fake_request_header(r, "x-agent-api-key"), "agent-secret");
    ck_assert_str_eq(fake_request_header(r, "authorization"), "Bearer sdk-secret");
    ck_assert_str_eq(fake_request_header(r, "x-custom"), "v1");
    ck_assert_str_eq(fake_request_header(r, "accept"), "application/json");
    ck_assert_str_eq(fake_request_header(r, "content-type"), "application/json");
    ck_assert_str_eq(fake_request_header(r, "user-agent"), "libagentex/" AGENTEX_VERSION_STRING);
    ck_assert_ptr_null(fake_request_header(r, "expect"));

    /* no query at all, and a query whose only pair is skipped */
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/tasks", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_str_eq(last_request()->query, "");
    const char *const q2[] = {"cursor", NULL, NULL};
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/tasks", q2, NULL, NULL), AGENTEX_OK);
    ck_assert_str_eq(last_request()->query, "");
}
END_TEST

START_TEST(test_client_sends_json_bodies_for_post_put_delete)
{
    fake_backend_push(fb, 201, "{\"id\":\"m1\"}");
    cJSON *out = NULL;
    ck_assert_int_eq(req("POST", "/messages", NULL,
                         "{\"task_id\": \"t1\", \"content\": {\"type\": \"text\", \"n\": null}}",
                         &out),
                     AGENTEX_OK);
    cJSON_Delete(out);
    ck_assert_int_eq(agentex_client_http_status(cl), 201);
    const fake_request_t *r = last_request();
    ck_assert_str_eq(r->method, "POST");
    ck_assert_str_eq(r->path, "/messages");
    ck_assert_str_eq(r->body, "{\"task_id\":\"t1\",\"content\":{\"type\":\"text\",\"n\":null}}");
    ck_assert_str_eq(fake_request_header(r, "content-type"), "application/json");
    ck_assert_str_eq(fake_request_header(r, "content-length"), "51");

    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("PUT", "/states/s1", NULL, "{\"state\":{\"k\":1}}", NULL), AGENTEX_OK);
    r = last_request();
    ck_assert_str_eq(r->method, "PUT");
    ck_assert_str_eq(r->body, "{\"state\":{\"k\":1}}");

    fake_backend_push(fb, 200, "{\"id\":\"s1\"}");
    ck_assert_int_eq(req("DELETE", "/states/s1", NULL, NULL, NULL), AGENTEX_OK);
    r = last_request();
    ck_assert_str_eq(r->method, "DELETE");
    ck_assert_str_eq(r->body, "");

    /* a POST without a body sends an empty one; then a GET is a GET again */
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("POST", "/tasks/t1/cancel", NULL, NULL, NULL), AGENTEX_OK);
    r = last_request();
    ck_assert_str_eq(r->method, "POST");
    ck_assert_str_eq(fake_request_header(r, "content-length"), "0");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/tasks/t1", NULL, NULL, NULL), AGENTEX_OK);
    r = last_request();
    ck_assert_str_eq(r->method, "GET");
    ck_assert_ptr_null(fake_request_header(r, "content-length"));

    /* a large body arrives whole, without Expect: 100-continue */
    cJSON *big = cJSON_CreateObject();
    char *s = malloc(300001);
    memset(s, 'y', 300000);
    s[300000] = '\0';
    cJSON_AddStringToObject(big, "s", s);
    free(s);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(agx_client_request(cl, "POST", "/big", NULL, big, NULL), AGENTEX_OK);
    cJSON_Delete(big);
    r = last_request();
    ck_assert_uint_eq(r->body_len, 300008);
    ck_assert_ptr_null(fake_request_header(r, "expect"));
    ck_assert_uint_eq(fake_backend_count(fb), 6);
}
END_TEST

START_TEST(test_client_set_header_replaces_removes_and_overrides)
{
    ck_assert_int_eq(agentex_client_set_header(cl, "X-A", "1"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "x-a", "2"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-Empty", ""), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "Accept", "application/x-ndjson"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-Gone", "g"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-GONE", NULL), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-Never", NULL), AGENTEX_OK);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_OK);
    const fake_request_t *r = last_request();
    size_t n_xa = 0, n_accept = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        n_xa += strcmp(r->header_names[i], "x-a") == 0;
        n_accept += strcmp(r->header_names[i], "accept") == 0;
    }
    ck_assert_uint_eq(n_xa, 1);
    ck_assert_uint_eq(n_accept, 1);
    ck_assert_str_eq(fake_request_header(r, "x-a"), "2");
    ck_assert_str_eq(fake_request_header(r, "x-empty"), "");
    ck_assert_str_eq(fake_request_header(r, "accept"), "application/x-ndjson");
    ck_assert_ptr_null(fake_request_header(r, "x-gone"));
    ck_assert_ptr_null(fake_request_header(r, "x-agent-api-key"));

    /* changes apply to the next request on the same connection */
    ck_assert_int_eq(agentex_client_set_agent_api_key(cl, "k2"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-A", NULL), AGENTEX_OK);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_OK);
    r = last_request();
    ck_assert_str_eq(fake_request_header(r, "x-agent-api-key"), "k2");
    ck_assert_ptr_null(fake_request_header(r, "x-a"));
    ck_assert_uint_eq(fake_backend_connections(fb), 1);
}
END_TEST

START_TEST(test_client_reuses_one_connection)
{
    fake_backend_route(fb, NULL, "/", 200, "{\"ok\":true}");
    for (int i = 0; i < 5; i++) {
        cJSON *out = NULL;
        ck_assert_int_eq(req(i % 2 ? "POST" : "GET", "/r", NULL, i % 2 ? "{}" : NULL, &out),
                         AGENTEX_OK);
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(out, "ok")));
        cJSON_Delete(out);
    }
    /* errors keep the connection too */
    fake_backend_push(fb, 404, "{\"message\":\"nope\",\"code\":404,\"data\":null}");
    ck_assert_int_eq(req("GET", "/r", NULL, NULL, NULL), AGENTEX_ENOTFOUND);
    ck_assert_int_eq(req("GET", "/r", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 7);
    ck_assert_uint_eq(fake_backend_connections(fb), 1);
}
END_TEST

START_TEST(test_client_response_without_out_is_not_parsed)
{
    fake_backend_push_full(fb, 200, "text/plain", NULL, "not json");
    ck_assert_int_eq(req("DELETE", "/x", NULL, NULL, NULL), AGENTEX_OK);
    fake_backend_push(fb, 204, "");
    ck_assert_int_eq(req("DELETE", "/x", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_http_status(cl), 204);
    /* JSON null and a bare string are valid JSON */
    cJSON *out = NULL;
    fake_backend_push(fb, 200, "null");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, &out), AGENTEX_OK);
    ck_assert(cJSON_IsNull(out));
    cJSON_Delete(out);
    fake_backend_push(fb, 200, " \"s\"\r\n");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, &out), AGENTEX_OK);
    ck_assert_str_eq(out->valuestring, "s");
    cJSON_Delete(out);
}
END_TEST

START_TEST(test_client_reads_every_answer_framing)
{
    cJSON *out = NULL;
    /* chunked, after an interim 100 Continue */
    fake_backend_push_raw(fb, "HTTP/1.1 100 Continue\r\n\r\n"
                              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "5\r\n{\"id\"\r\n6;x=y\r\n:\"t1\"}\r\n0\r\n\r\n");
    ck_assert_int_eq(req("GET", "/a", NULL, NULL, &out), AGENTEX_OK);
    ck_assert_str_eq(cJSON_GetObjectItem(out, "id")->valuestring, "t1");
    cJSON_Delete(out);
    /* HTTP/1.0, the body ends with the connection */
    fake_backend_push_raw(fb, "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
                              "{\"until\":\"close\"}");
    ck_assert_int_eq(req("GET", "/b", NULL, NULL, &out), AGENTEX_OK);
    ck_assert_str_eq(cJSON_GetObjectItem(out, "until")->valuestring, "close");
    cJSON_Delete(out);
    /* an error status framed by chunks keeps its explanation */
    fake_backend_push_raw(fb, "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "14\r\n{\"detail\":\"no task\"}\r\n0\r\n\r\n");
    ck_assert_int_eq(req("GET", "/c", NULL, NULL, NULL), AGENTEX_ENOTFOUND);
    ck_assert_str_eq(agentex_client_errmsg(cl), "GET /c: HTTP 404: no task");
    /* "Connection: close" is obeyed: the next request opens a new connection (the raw
     * answer above closed its connection: /d opens one, /e another) */
    size_t conns = fake_backend_connections(fb);
    fake_backend_push_full(fb, 200, NULL, "Connection: close\r\n", "{}");
    ck_assert_int_eq(req("GET", "/d", NULL, NULL, NULL), AGENTEX_OK);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/e", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_connections(fb), conns + 2);
    ck_assert_uint_eq(fake_backend_count(fb), 5);
}
END_TEST

START_TEST(test_client_request_line_host_and_framing_headers)
{
    /* a base URL with a path: every request path goes below it */
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1", fake_backend_url(fb));
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(url, &c), AGENTEX_OK);
    /* custom framing headers cannot contradict the body the client sends */
    ck_assert_int_eq(agentex_client_set_header(c, "Content-Length", "999"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(c, "Transfer-Encoding", "chunked"), AGENTEX_OK);
    fake_backend_push(fb, 200, "{}");
    cJSON *body = cJSON_Parse("{\"k\":\"v\"}");
    ck_assert_int_eq(agx_client_request(c, "POST", "/tasks", NULL, body, NULL), AGENTEX_OK);
    cJSON_Delete(body);
    const fake_request_t *r = last_request();
    ck_assert_str_eq(r->path, "/api/v1/tasks");
    ck_assert_str_eq(r->body, "{\"k\":\"v\"}");
    ck_assert_str_eq(fake_request_header(r, "content-length"), "9");
    ck_assert_ptr_null(fake_request_header(r, "transfer-encoding"));
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", fake_backend_port(fb));
    ck_assert_str_eq(fake_request_header(r, "host"), host);
    /* a custom Host replaces the URL's */
    ck_assert_int_eq(agentex_client_set_header(c, "Host", "backend.internal"), AGENTEX_OK);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(agx_client_request(c, "GET", "/x", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_str_eq(fake_request_header(last_request(), "host"), "backend.internal");
    agentex_client_free(c);
}
END_TEST

START_TEST(test_client_sends_and_reads_large_bodies)
{
    /* 3 MiB each way: the request leaves in several writes, the answer arrives in many reads */
    size_t n = 3u << 20;
    char *big = malloc(n + 1);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    cJSON *body = cJSON_CreateObject();
    ck_assert_ptr_nonnull(cJSON_AddStringToObject(body, "state", big));
    char *answer = malloc(n + 32);
    ck_assert_ptr_nonnull(answer);
    snprintf(answer, n + 32, "{\"echo\":\"%s\"}", big);
    fake_backend_push(fb, 200, answer);
    cJSON *out = NULL;
    ck_assert_int_eq(agx_client_request(cl, "PUT", "/states/s1", NULL, body, &out), AGENTEX_OK);
    const fake_request_t *r = last_request();
    ck_assert_uint_eq(r->body_len, n + strlen("{\"state\":\"\"}"));
    ck_assert_str_eq(cJSON_GetObjectItem(out, "echo")->valuestring, big);
    cJSON_Delete(out);
    cJSON_Delete(body);
    free(answer);
    free(big);
    /* the connection is still good for the next call */
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_connections(fb), 1);
}
END_TEST

/* The server closes a kept connection while the client holds it (its keep-alive timeout):
 * the next call goes through on a new connection and reaches the backend once. */
START_TEST(test_client_survives_a_kept_connection_closed_by_the_server)
{
    ck_assert_int_eq(agentex_client_set_retries(cl, 0, 1, 1), AGENTEX_OK);
    static const long pauses_ms[] = {0, 400}; /* sent at once; looked at after an idle time */
    for (size_t i = 0; i < 2; i++) {
        fake_backend_reset(fb);
        /* a complete answer that says nothing of closing; then the server hangs up */
        fake_backend_push_raw(fb, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        ck_assert_int_eq(req("GET", "/first", NULL, NULL, NULL), AGENTEX_OK);
        if (pauses_ms[i])
            usleep((useconds_t)pauses_ms[i] * 1000);
        else
            usleep(50 * 1000); /* the close has reached the client, who has not looked */
        fake_backend_push(fb, 201, "{\"id\":\"m1\"}");
        cJSON *out = NULL;
        ck_assert_int_eq(req("POST", "/messages", NULL, "{}", &out), AGENTEX_OK);
        ck_assert_str_eq(cJSON_GetObjectItem(out, "id")->valuestring, "m1");
        cJSON_Delete(out);
        ck_assert_uint_eq(fake_backend_count(fb), 2);
        ck_assert_str_eq(last_request()->path, "/messages");
    }
}
END_TEST

static TCase *wire_tcase(void)
{
    TCase *tc = tcase_create("wire");
    tcase_add_checked_fixture(tc, cl_setup, cl_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_client_get_sends_path_query_and_headers);
    tcase_add_test(tc, test_client_sends_json_bodies_for_post_put_delete);
    tcase_add_test(tc, test_client_set_header_replaces_removes_and_overrides);
    tcase_add_test(tc, test_client_reuses_one_connection);
    tcase_add_test(tc, test_client_response_without_out_is_not_parsed);
    tcase_add_test(tc, test_client_reads_every_answer_framing);
    tcase_add_test(tc, test_client_request_line_host_and_framing_headers);
    tcase_add_test(tc, test_client_sends_and_reads_large_bodies);
    tcase_add_test(tc, test_client_survives_a_kept_connection_closed_by_the_server);
    return tc;
}

/* -- error mapping -- */

START_TEST(test_client_maps_http_statuses_and_messages)
{
    static const struct {
        const char *method;
        int status;
        const char *body;
        agentex_err_t err;
        const char *errmsg;
    } cases[] = {
        {"GET", 401, "{\"detail\":\"Agent Unauthorized\"}", AGENTEX_EAUTH,
         "GET /tasks/x: HTTP 401: Agent Unauthorized"},
        {"POST", 403, "{\"message\":\"Forbidden for agent\",\"code\":403,\"data\":null}",
         AGENTEX_EAUTH, "POST /tasks/x: HTTP 403: Forbidden for agent"},
        {"GET", 404, "{\"message\":\"Task x not found\",\"code\":404,\"data\":null}",
         AGENTEX_ENOTFOUND, "GET /tasks/x: HTTP 404: Task x not found"},
        {"DELETE", 404, "{\"detail\":\"Not Found\"}", AGENTEX_ENOTFOUND,
         "DELETE /tasks/x: HTTP 404: Not Found"},
        {"POST", 400, "{\"message\":\"Illegal transition\",\"code\":400,\"data\":null}",
         AGENTEX_EHTTP, "POST /tasks/x: HTTP 400: Illegal transition"},
        {"POST", 422,
         "{\"status_code\":10422,\"message\":\"body.name: field required\",\"data\":null}",
         AGENTEX_EHTTP, "POST /tasks/x: HTTP 422: body.name: field required"},
        {"PUT", 422,
         "{\"detail\":[{\"loc\":[\"body\",\"items\",0],\"msg\":\"field required\",\"type\":\"x\"},"
         "{\"loc\":[\"query\",\"limit\"],\"msg\":\"too big\"}]}",
         AGENTEX_EHTTP,
         "PUT /tasks/x: HTTP 422: body.items.0: field required; query.limit: too big"},
        {"POST", 409, "{}", AGENTEX_EHTTP, "POST /tasks/x: HTTP 409"},
        {"POST", 500, "", AGENTEX_EHTTP, "POST /tasks/x: HTTP 500"},
        {"POST", 502, "<html>\n<b>Bad Gateway</b>\n</html>", AGENTEX_EHTTP,
         "POST /tasks/x: HTTP 502: <html> <b>Bad Gateway</b> </html>"},
        {"GET", 302, "", AGENTEX_EHTTP, "GET /tasks/x: HTTP 302"},
    };
    ck_assert_int_eq(agentex_client_set_retries(cl, 0, 1, 1), AGENTEX_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake_backend_push(fb, cases[i].status, cases[i].body);
        cJSON *out = (cJSON *)1;
        ck_assert_int_eq(agx_client_request(cl, cases[i].method, "/tasks/x", NULL, NULL, &out),
                         cases[i].err);
        ck_assert_ptr_null(out);
        ck_assert_str_eq(agentex_client_errmsg(cl), cases[i].errmsg);
        ck_assert_int_eq(agentex_client_http_status(cl), cases[i].status);
        ck_assert_uint_eq(fake_backend_count(fb), i + 1);
    }
    /* a success clears the message */
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/tasks/x", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_str_eq(agentex_client_errmsg(cl), "");
    ck_assert_int_eq(agentex_client_http_status(cl), 200);
}
END_TEST

START_TEST(test_client_long_error_message_is_truncated)
{
    char body[6000];
    int n = snprintf(body, sizeof(body), "{\"message\":\"");
    memset(body + n, 'm', 5000);
    snprintf(body + n + 5000, sizeof(body) - (size_t)n - 5000, "\",\"code\":500}");
    fake_backend_push(fb, 400, body);
    ck_assert_int_eq(req("POST", "/x", NULL, NULL, NULL), AGENTEX_EHTTP);
    const char *m = agentex_client_errmsg(cl);
    ck_assert_uint_lt(strlen(m), 1024);
    ck_assert_int_eq(strncmp(m, "POST /x: HTTP 400: mmmm", 23), 0);
}
END_TEST

START_TEST(test_client_bad_success_bodies_are_eproto)
{
    ck_assert_int_eq(agentex_client_set_retries(cl, 0, 1, 1), AGENTEX_OK);
    cJSON *out = (cJSON *)1;
    fake_backend_push_full(fb, 200, "text/html", NULL, "<html>hi</html>");
    ck_assert_int_eq(req("GET", "/t", NULL, NULL, &out), AGENTEX_EPROTO);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(agentex_client_errmsg(cl), "GET /t: HTTP 200: response is not valid JSON");
    ck_assert_int_eq(agentex_client_http_status(cl), 200);

    fake_backend_push(fb, 200, "{\"a\":");
    ck_assert_int_eq(req("GET", "/t", NULL, NULL, &out), AGENTEX_EPROTO);
    fake_backend_push(fb, 200, "{\"a\":1} trailing");
    ck_assert_int_eq(req("GET", "/t", NULL, NULL, &out), AGENTEX_EPROTO);
    fake_backend_push(fb, 201, "");
    ck_assert_int_eq(req("POST", "/t", NULL, "{}", &out), AGENTEX_EPROTO);
    ck_assert_str_eq(agentex_client_errmsg(cl), "POST /t: HTTP 201: empty response body");

    /* a truncated body: Content-Length promises more than arrives */
    fake_backend_push_raw(fb, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: 100\r\n\r\n{\"id\":\"trunc");
    ck_assert_int_eq(req("GET", "/t", NULL, NULL, &out), AGENTEX_EPROTO);
    ck_assert_ptr_null(out);
    ck_assert_ptr_nonnull(
        strstr(agentex_client_errmsg(cl), "GET /t: HTTP 200: response truncated"));

    /* garbage instead of HTTP */
    fake_backend_push_raw(fb, "this is not http\r\n\r\n");
    ck_assert_int_eq(req("GET", "/t", NULL, NULL, &out), AGENTEX_EPROTO);
    ck_assert_ptr_null(out);
    ck_assert_str_ne(agentex_client_errmsg(cl), "");
}
END_TEST

START_TEST(test_client_connection_refused_is_econnect)
{
    int fd;
    int port = refused_port(&fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(url, &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_retries(c, 2, 1, 2), AGENTEX_OK);
    ck_assert_int_eq(agx_client_request(c, "GET", "/tasks", NULL, NULL, NULL), AGENTEX_ECONNECT);
    ck_assert_int_eq(agentex_client_http_status(c), 0);
    const char *m = agentex_client_errmsg(c);
    ck_assert_int_eq(strncmp(m, "GET /tasks: ", 12), 0);
    ck_assert_uint_gt(strlen(m), 12); /* curl's explanation follows */
    ck_assert_int_eq(agx_client_request(c, "POST", "/tasks", NULL, NULL, NULL), AGENTEX_ECONNECT);
    agentex_client_free(c);
    close(fd);
}
END_TEST

START_TEST(test_client_tls_to_plain_http_server_is_econnect)
{
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", fake_backend_port(fb));
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(url, &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_retries(c, 0, 1, 1), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_tls(c, 0, NULL), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_timeouts(c, 2000, 3000), AGENTEX_OK);
    fake_backend_route(fb, NULL, "/", 200, "{}");
    ck_assert_int_eq(agx_client_request(c, "GET", "/x", NULL, NULL, NULL), AGENTEX_ECONNECT);
    ck_assert_int_eq(agentex_client_set_tls(c, 1, "/nonexistent/ca.pem"), AGENTEX_OK);
    ck_assert_int_eq(agx_client_request(c, "GET", "/x", NULL, NULL, NULL), AGENTEX_ECONNECT);
    agentex_client_free(c);
}
END_TEST

START_TEST(test_client_timeout_is_etimedout)
{
    ck_assert_int_eq(agentex_client_set_retries(cl, 0, 1, 1), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_timeouts(cl, 0, 200), AGENTEX_OK);
    fake_backend_push_delayed(fb, 3000, 200, "{}");
    ck_assert_int_eq(req("GET", "/slow", NULL, NULL, NULL), AGENTEX_ETIMEDOUT);
    ck_assert_int_eq(agentex_client_http_status(cl), 0);
    ck_assert_int_eq(strncmp(agentex_client_errmsg(cl), "GET /slow: ", 11), 0);
    ck_assert_ptr_nonnull(strstr(agentex_client_errmsg(cl), "imed out"));
    /* the client recovers on a new connection */
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/fast", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 2);
}
END_TEST

/* -- TLS, against openssl s_server -- */

/* Runs a shell command line; its exit status. */
static int sh(const char *cmd) { return system(cmd); }

/* A free TCP port on 127.0.0.1 (closed again: the server binds it next). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    socklen_t sl = sizeof(sa);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static int port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A TLS server offering HTTP/2 first (ALPN h2,http/1.1), serving the files of a temporary
 * folder as HTTP/1.0 answers whose body ends with the connection (s_server -WWW), with a
 * self-signed certificate for 127.0.0.1.  The client must negotiate http/1.1, verify the
 * certificate against the CA bundle it is given, and read the answer. */
START_TEST(test_client_https_verifies_and_speaks_http11)
{
    char dir[] = "/tmp/agx-tls-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout key.pem -out cert.pem -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 && mkdir -p tasks",
             dir);
    ck_assert_msg(sh(cmd) == 0, "openssl could not make a certificate (is openssl installed?)");
    char path[128];
    snprintf(path, sizeof(path), "%s/tasks/t1", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"id\":\"t1\"}", f);
    fclose(f);
    int port = free_port();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (chdir(dir) != 0)
            _exit(127);
        char accept[32];
        snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execlp("openssl", "openssl", "s_server", "-accept", accept, "-cert", "cert.pem", "-key",
               "key.pem", "-alpn", "h2,http/1.1", "-WWW", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !port_accepts(port); i++)
        usleep(50 * 1000);
    ck_assert_msg(port_accepts(port), "openssl s_server did not start");

    char url[64], ca[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
    snprintf(ca, sizeof(ca), "%s/cert.pem", dir);
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(url, &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_retries(c, 0, 1, 1), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_timeouts(c, 3000, 5000), AGENTEX_OK);
    /* the default CA bundle does not know the self-signed certificate */
    ck_assert_int_eq(agx_client_request(c, "GET", "/tasks/t1", NULL, NULL, NULL), AGENTEX_ECONNECT);
    ck_assert_int_eq(agentex_client_http_status(c), 0);
    /* with it as the CA bundle: verified, and read to the end of the connection */
    ck_assert_int_eq(agentex_client_set_tls(c, 1, ca), AGENTEX_OK);
    for (int i = 0; i < 2; i++) {
        cJSON *out = NULL;
        agentex_err_t err = agx_client_request(c, "GET", "/tasks/t1", NULL, NULL, &out);
        ck_assert_msg(err == AGENTEX_OK, "%s", agentex_client_errmsg(c));
        ck_assert_int_eq(agentex_client_http_status(c), 200);
        ck_assert_str_eq(cJSON_GetObjectItem(out, "id")->valuestring, "t1");
        cJSON_Delete(out);
    }
    agentex_client_free(c);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    ck_assert_int_eq(sh(cmd), 0);
}
END_TEST

static TCase *errors_tcase(void)
{
    TCase *tc = tcase_create("errors");
    tcase_add_checked_fixture(tc, cl_setup, cl_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_client_maps_http_statuses_and_messages);
    tcase_add_test(tc, test_client_long_error_message_is_truncated);
    tcase_add_test(tc, test_client_bad_success_bodies_are_eproto);
    tcase_add_test(tc, test_client_connection_refused_is_econnect);
    tcase_add_test(tc, test_client_tls_to_plain_http_server_is_econnect);
    tcase_add_test(tc, test_client_timeout_is_etimedout);
    tcase_add_test(tc, test_client_https_verifies_and_speaks_http11);
    return tc;
}

/* -- retries -- */

START_TEST(test_client_get_retries_500_then_succeeds)
{
    fake_backend_push(fb, 500, "{\"message\":\"boom\",\"code\":500,\"data\":null}");
    fake_backend_push(fb, 200, "{\"id\":\"t1\"}");
    cJSON *out = NULL;
    ck_assert_int_eq(req("GET", "/tasks/t1", NULL, NULL, &out), AGENTEX_OK);
    ck_assert_str_eq(cJSON_GetObjectItem(out, "id")->valuestring, "t1");
    cJSON_Delete(out);
    ck_assert_uint_eq(fake_backend_count(fb), 2);
    ck_assert_str_eq(fake_backend_request(fb, 1)->path, "/tasks/t1");
    ck_assert_str_eq(agentex_client_errmsg(cl), "");
    ck_assert_int_eq(agentex_client_http_status(cl), 200);
}
END_TEST

START_TEST(test_client_retries_408_429_and_5xx_on_put_and_delete)
{
    fake_backend_push(fb, 408, "{}");
    fake_backend_push(fb, 429, "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("PUT", "/states/s", NULL, "{\"v\":1}", NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 3);
    ck_assert_str_eq(fake_backend_request(fb, 2)->body, "{\"v\":1}");
    fake_backend_push(fb, 503, "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("DELETE", "/states/s", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 5);
    /* 409 (a lock timeout) is retried too, as by the Python SDK (protocol 4.0) */
    fake_backend_push(fb, 409, "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("PUT", "/states/s", NULL, "{}", NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 7);
    /* other 4xx are final */
    static const int final_statuses[] = {400, 404, 410, 422};
    for (size_t i = 0; i < sizeof final_statuses / sizeof final_statuses[0]; i++) {
        fake_backend_reset(fb);
        fake_backend_push(fb, final_statuses[i], "{}");
        fake_backend_push(fb, 200, "{}");
        ck_assert_int_ne(req("PUT", "/states/s", NULL, "{}", NULL), AGENTEX_OK);
        ck_assert_uint_eq(fake_backend_count(fb), 1);
    }
}
END_TEST

START_TEST(test_client_gives_up_after_max_retries)
{
    for (int i = 0; i < 4; i++)
        fake_backend_push(fb, 502, "{\"message\":\"upstream down\"}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_EHTTP);
    ck_assert_uint_eq(fake_backend_count(fb), 3); /* 1 + max_retries (2) */
    ck_assert_str_eq(agentex_client_errmsg(cl), "GET /x: HTTP 502: upstream down");
    ck_assert_int_eq(agentex_client_http_status(cl), 502);
    fake_backend_reset(fb);
    ck_assert_int_eq(agentex_client_set_retries(cl, 0, 1, 1), AGENTEX_OK);
    fake_backend_push(fb, 500, "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_EHTTP);
    ck_assert_uint_eq(fake_backend_count(fb), 1);
}
END_TEST

START_TEST(test_client_honours_retry_after_and_x_should_retry)
{
    /* a backoff far longer than the test's timeout: only Retry-After: 0 lets it pass */
    ck_assert_int_eq(agentex_client_set_retries(cl, 1, 60000, 60000), AGENTEX_OK);
    fake_backend_push_full(fb, 503, NULL, "Retry-After: 0\r\n", "{\"message\":\"busy\"}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 2);
    fake_backend_push_full(fb, 429, NULL, "retry-after: 0.05\r\n", "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 4);

    /* an HTTP date one second ahead */
    char hdr[128];
    time_t t = time(NULL) + 1;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(hdr, sizeof(hdr), "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    fake_backend_push_full(fb, 503, NULL, hdr, "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("PUT", "/x", NULL, "{}", NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 6);
    fake_backend_reset(fb);

    /* an out-of-range Retry-After falls back to the (small) backoff */
    ck_assert_int_eq(agentex_client_set_retries(cl, 1, 1, 1), AGENTEX_OK);
    fake_backend_push_full(fb, 503, NULL, "Retry-After: 3600\r\n", "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 2);

    /* x-should-retry: false wins over a retryable status */
    fake_backend_push_full(fb, 503, NULL, "x-should-retry: false\r\n", "{\"message\":\"no\"}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_EHTTP);
    ck_assert_uint_eq(fake_backend_count(fb), 3);
    fake_backend_reset(fb);
    /* x-should-retry: true makes a 400 retryable (GET) */
    fake_backend_push_full(fb, 400, NULL, "X-Should-Retry: true\r\n", "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/x", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 2);
    /* ... but never a POST */
    fake_backend_push_full(fb, 503, NULL, "x-should-retry: true\r\n", "{}");
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("POST", "/x", NULL, "{}", NULL), AGENTEX_EHTTP);
    ck_assert_uint_eq(fake_backend_count(fb), 3);
}
END_TEST

START_TEST(test_client_post_is_not_retried_after_a_response)
{
    static const int statuses[] = {422, 500, 503, 429, 408, 409};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        fake_backend_reset(fb);
        fake_backend_push(fb, statuses[i], "{\"status_code\":10422,\"message\":\"bad\"}");
        fake_backend_push(fb, 201, "{}");
        ck_assert_int_eq(req("POST", "/messages", NULL, "{\"a\":1}", NULL), AGENTEX_EHTTP);
        ck_assert_int_eq(agentex_client_http_status(cl), statuses[i]);
        ck_assert_uint_eq(fake_backend_count(fb), 1);
    }
}
END_TEST

START_TEST(test_client_post_is_not_retried_after_a_timeout)
{
    ck_assert_int_eq(agentex_client_set_timeouts(cl, 0, 200), AGENTEX_OK);
    fake_backend_push_delayed(fb, 3000, 201, "{}");
    fake_backend_push(fb, 201, "{}");
    ck_assert_int_eq(req("POST", "/messages", NULL, "{}", NULL), AGENTEX_ETIMEDOUT);
    ck_assert_uint_eq(fake_backend_count(fb), 1);
    /* whereas a GET is retried after a timeout */
    fake_backend_reset(fb);
    fake_backend_push_delayed(fb, 3000, 200, "{}");
    fake_backend_push(fb, 200, "{\"second\":true}");
    cJSON *out = NULL;
    ck_assert_int_eq(req("GET", "/messages", NULL, NULL, &out), AGENTEX_OK);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(out, "second")));
    cJSON_Delete(out);
    ck_assert_uint_eq(fake_backend_count(fb), 2);
}
END_TEST

START_TEST(test_client_connection_dropped_without_answer)
{
    /* first request on a fresh connection: the server hangs up */
    fake_backend_push_close(fb);
    fake_backend_push(fb, 201, "{}");
    ck_assert_int_eq(req("POST", "/messages", NULL, "{}", NULL), AGENTEX_ECONNECT);
    ck_assert_uint_eq(fake_backend_count(fb), 1);
    ck_assert_int_eq(agentex_client_http_status(cl), 0);
    fake_backend_reset(fb);
    fake_backend_push_close(fb);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(req("GET", "/messages", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 2);
}
END_TEST

/* Log lines collected by a test (each test runs in its own process). */
static char log_text[65536];
static size_t log_len;
static int log_retries;

static void collect_log(agentex_log_level_t level, const char *msg, void *ud)
{
    (void)level;
    (void)ud;
    if (strstr(msg, "; retry "))
        log_retries++;
    size_t n = strlen(msg);
    if (log_len + n + 2 < sizeof(log_text)) {
        memcpy(log_text + log_len, msg, n);
        log_len += n;
        log_text[log_len++] = '\n';
        log_text[log_len] = '\0';
    }
}

START_TEST(test_client_post_retried_when_connect_fails)
{
    /* nobody listens: POST is retried (the request cannot have arrived), then ECONNECT */
    agentex_set_log_cb(AGENTEX_LOG_INFO, collect_log, NULL);
    int fd;
    int port = refused_port(&fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(url, &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_retries(c, 2, 1, 1), AGENTEX_OK);
    ck_assert_int_eq(agx_client_request(c, "POST", "/x", NULL, NULL, NULL), AGENTEX_ECONNECT);
    ck_assert_int_eq(log_retries, 2);
    agentex_client_free(c);
    close(fd);
    /* whereas a POST answered with 503 is not */
    log_retries = 0;
    fake_backend_push(fb, 503, "{}");
    ck_assert_int_eq(req("POST", "/x", NULL, NULL, NULL), AGENTEX_EHTTP);
    ck_assert_int_eq(log_retries, 0);
    agentex_set_log_cb(AGENTEX_LOG_OFF, NULL, NULL);
}
END_TEST

START_TEST(test_client_debug_log_never_shows_keys)
{
    agentex_set_log_cb(AGENTEX_LOG_DEBUG, collect_log, NULL);
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(fake_backend_url(fb), &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_agent_api_key(c, "agent-secret-123"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_sdk_api_key(c, "sdk-secret-456"), AGENTEX_OK);
    fake_backend_push(fb, 200, "{}");
    ck_assert_int_eq(agx_client_request(c, "GET", "/tasks", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_str_eq(fake_request_header(last_request(), "x-agent-api-key"), "agent-secret-123");
    agentex_client_free(c);
    agentex_set_log_cb(AGENTEX_LOG_OFF, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(log_text, "GET /tasks -> 200"));
    ck_assert_ptr_null(strstr(log_text, "secret"));
}
END_TEST

static TCase *retry_tcase(void)
{
    TCase *tc = tcase_create("retry");
    tcase_add_checked_fixture(tc, cl_setup, cl_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_client_get_retries_500_then_succeeds);
    tcase_add_test(tc, test_client_retries_408_429_and_5xx_on_put_and_delete);
    tcase_add_test(tc, test_client_gives_up_after_max_retries);
    tcase_add_test(tc, test_client_honours_retry_after_and_x_should_retry);
    tcase_add_test(tc, test_client_post_is_not_retried_after_a_response);
    tcase_add_test(tc, test_client_post_is_not_retried_after_a_timeout);
    tcase_add_test(tc, test_client_connection_dropped_without_answer);
    tcase_add_test(tc, test_client_post_retried_when_connect_fails);
    tcase_add_test(tc, test_client_debug_log_never_shows_keys);
    return tc;
}

/* -- allocation failures -- */

START_TEST(test_client_new_and_dup_fail_cleanly_without_memory)
{
    long n;
    for (n = 1; n < 100; n++) {
        agentex_client_t *c = (agentex_client_t *)1;
        agx_alloc_fail_after(n);
        agentex_err_t err = agentex_client_new("http://h:1/", &c);
        agx_alloc_fail_after(0);
        if (err == AGENTEX_OK) {
            agentex_client_free(c);
            break;
        }
        ck_assert_int_eq(err, AGENTEX_ENOMEM);
        ck_assert_ptr_null(c);
    }
    ck_assert_int_gt(n, 1);
    ck_assert_int_lt(n, 100);

    ck_assert_int_eq(agentex_client_set_agent_api_key(cl, "ak"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_sdk_api_key(cl, "sk"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_tls(cl, 1, "/etc/ssl/certs/ca-certificates.crt"),
                     AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-A", "1"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-B", "2"), AGENTEX_OK);
    for (n = 1; n < 100; n++) {
        agentex_client_t *d = (agentex_client_t *)1;
        agx_alloc_fail_after(n);
        agentex_err_t err = agentex_client_dup(cl, &d);
        agx_alloc_fail_after(0);
        if (err == AGENTEX_OK) {
            agentex_client_free(d);
            break;
        }
        ck_assert_int_eq(err, AGENTEX_ENOMEM);
        ck_assert_ptr_null(d);
    }
    ck_assert_int_gt(n, 8);
    ck_assert_int_lt(n, 100);
}
END_TEST

START_TEST(test_client_setters_and_env_fail_cleanly_without_memory)
{
    long n;
    for (n = 1; n < 100; n++) {
        agx_alloc_fail_after(n);
        agentex_err_t e1 = agentex_client_set_header(cl, "X-New", "v");
        agx_alloc_fail_after(0);
        if (e1 == AGENTEX_OK)
            break;
        ck_assert_int_eq(e1, AGENTEX_ENOMEM);
    }
    ck_assert_int_gt(n, 1);
    for (n = 1; n < 100; n++) {
        agx_alloc_fail_after(n);
        agentex_err_t e1 = agentex_client_set_header(cl, "x-new", "replaced");
        agx_alloc_fail_after(0);
        if (e1 == AGENTEX_OK)
            break;
        ck_assert_int_eq(e1, AGENTEX_ENOMEM);
    }
    ck_assert_int_gt(n, 1);
    agx_alloc_fail_after(1);
    ck_assert_int_eq(agentex_client_set_agent_api_key(cl, "k"), AGENTEX_ENOMEM);
    agx_alloc_fail_after(1);
    ck_assert_int_eq(agentex_client_set_sdk_api_key(cl, "k"), AGENTEX_ENOMEM);
    agx_alloc_fail_after(1);
    ck_assert_int_eq(agentex_client_set_tls(cl, 1, "/x"), AGENTEX_ENOMEM);
    agx_alloc_fail_after(0);

    setenv("AGENTEX_BASE_URL", fake_backend_url(fb), 1);
    setenv("AGENT_API_KEY", "a", 1);
    setenv("AGENTEX_SDK_API_KEY", "s", 1);
    setenv("AGENTEX_CUSTOM_HEADERS", "X-1: 1\nX-2: 2", 1);
    for (n = 1; n < 200; n++) {
        agentex_client_t *c = (agentex_client_t *)1;
        agx_alloc_fail_after(n);
        agentex_err_t err = agentex_client_from_env(&c);
        agx_alloc_fail_after(0);
        if (err == AGENTEX_OK) {
            agentex_client_free(c);
            break;
        }
        ck_assert_int_eq(err, AGENTEX_ENOMEM);
        ck_assert_ptr_null(c);
    }
    ck_assert_int_gt(n, 10);
    ck_assert_int_lt(n, 200);
}
END_TEST

START_TEST(test_client_request_fails_cleanly_without_memory)
{
    ck_assert_int_eq(agentex_client_set_agent_api_key(cl, "ak"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(cl, "X-A", "1"), AGENTEX_OK);
    fake_backend_route(fb, NULL, "/", 200, "{\"ok\":true}");
    const char *const q[] = {"a", "1 2", "b", "x", NULL};
    cJSON *body = cJSON_Parse("{\"k\":\"v\"}");
    long n;
    for (n = 1; n < 200; n++) {
        cJSON *out = (cJSON *)1;
        agx_alloc_fail_after(n);
        agentex_err_t err = agx_client_request(cl, "PUT", "/x", q, body, &out);
        agx_alloc_fail_after(0);
        if (err == AGENTEX_OK) {
            ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(out, "ok")));
            cJSON_Delete(out);
            break;
        }
        ck_assert_int_eq(err, AGENTEX_ENOMEM);
        ck_assert_ptr_null(out);
        ck_assert_str_ne(agentex_client_errmsg(cl), "");
    }
    ck_assert_int_gt(n, 3);
    ck_assert_int_lt(n, 200);
    cJSON_Delete(body);
    /* the client still works */
    ck_assert_int_eq(req("GET", "/y", NULL, NULL, NULL), AGENTEX_OK);
    ck_assert_str_eq(last_request()->query, "");
}
END_TEST

static TCase *nomem_tcase(void)
{
    TCase *tc = tcase_create("nomem");
    tcase_add_checked_fixture(tc, cl_setup, cl_teardown);
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_client_new_and_dup_fail_cleanly_without_memory);
    tcase_add_test(tc, test_client_setters_and_env_fail_cleanly_without_memory);
    tcase_add_test(tc, test_client_request_fails_cleanly_without_memory);
    return tc;
}

Suite *client_suite(void);
Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    suite_add_tcase(s, fake_backend_tcase());
    suite_add_tcase(s, config_tcase());
    suite_add_tcase(s, wire_tcase());
    suite_add_tcase(s, errors_tcase());
    suite_add_tcase(s, retry_tcase());
    suite_add_tcase(s, nomem_tcase());
    return s;
}
