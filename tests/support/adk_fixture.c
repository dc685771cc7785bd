/*
 * tests/support/adk_fixture.c - see adk_fixture.h.
 */
#include "support/adk_fixture.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <string.h>

#include "internal.h"

fake_backend_t *fx_fb;
agentex_client_t *fx_c;

void adk_fx_setup(void)
{
    fx_fb = fake_backend_start();
    ck_assert_ptr_nonnull(fx_fb);
    ck_assert_int_eq(agentex_client_new(fake_backend_url(fx_fb), &fx_c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_agent_api_key(fx_c, ADK_FX_KEY), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_retries(fx_c, 0, 1, 1), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_timeouts(fx_c, 2000, 4000), AGENTEX_OK);
}

void adk_fx_teardown(void)
{
    agentex_client_free(fx_c);
    fx_c = NULL;
    fake_backend_stop(fx_fb);
    fx_fb = NULL;
}

void adk_fx_expect_count(size_t n) { ck_assert_uint_eq(fake_backend_count(fx_fb), n); }

static const fake_request_t *expect_head(size_t i, const char *method, const char *path,
                                         const char *query, const char *body)
{
    ck_assert_uint_ge(fake_backend_wait(fx_fb, i + 1, 2000), i + 1);
    const fake_request_t *r = fake_backend_request(fx_fb, i);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r->method, method);
    ck_assert_str_eq(r->path, path);
    ck_assert_str_eq(r->query, query);
    const char *key = fake_request_header(r, "x-agent-api-key");
    ck_assert_ptr_nonnull(key);
    ck_assert_str_eq(key, ADK_FX_KEY);
    if (body) {
        const char *ct = fake_request_header(r, "content-type");
        ck_assert_ptr_nonnull(ct);
        ck_assert_str_eq(ct, "application/json");
    } else {
        ck_assert_uint_eq(r->body_len, 0);
    }
    return r;
}

void adk_fx_expect(size_t i, const char *method, const char *path, const char *query,
                   const char *body)
{
    const fake_request_t *r = expect_head(i, method, path, query, body);
    if (body)
        ck_assert_str_eq(r->body, body);
}

void adk_fx_expect_json(size_t i, const char *method, const char *path, const char *query,
                        const char *body)
{
    const fake_request_t *r = expect_head(i, method, path, query, body);
    if (!body)
        return;
    cJSON *got = cJSON_ParseWithLength(r->body, r->body_len);
    cJSON *want = cJSON_Parse(body);
    ck_assert_ptr_nonnull(want);
    ck_assert_msg(got && cJSON_Compare(got, want, 1), "body %s\n  expected (as JSON) %s", r->body,
                  body);
    cJSON_Delete(got);
    cJSON_Delete(want);
}

Suite *adk_fx_suite(const char *name, const TTest *const *tests, size_t n)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, adk_fx_setup, adk_fx_teardown);
    tcase_set_timeout(tc, 10);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return s;
}

void *adk_fx_alloc_walk(adk_fx_call_t call, void *arg, agentex_err_t done)
{
    for (long n = 1;; n++) {
        void *obj = NULL;
        agx_alloc_fail_after(n);
        agentex_err_t err = call(arg, &obj);
        agx_alloc_fail_after(0);
        if (err == done) {
            ck_assert_int_gt(n, 3); /* the call did allocate, and failed cleanly before */
            return obj;
        }
        ck_assert_int_eq(err, AGENTEX_ENOMEM);
        ck_assert_ptr_null(obj);
        ck_assert_int_lt(n, 10000);
    }
}
