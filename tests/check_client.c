/*
 * tests/check_client.c - the backend REST client (lib/client.c) and the fake backend
 * fixture every other suite relies on (tests/support/fake_backend.c).
 */
#include <check.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

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

Suite *client_suite(void);
Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    suite_add_tcase(s, fake_backend_tcase());
    return s;
}
