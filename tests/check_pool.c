/*
 * tests/check_pool.c - the worker pool with per-key mailboxes (lib/pool.c).
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "pool.h"

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- ordering: 1000 jobs over 50 keys ------------------------------------------------ */

#define NKEYS 50
#define NJOBS 1000

static pthread_mutex_t order_mu = PTHREAD_MUTEX_INITIALIZER;
static int last_seq[NKEYS];
static int order_errors;
static _Atomic int running_per_key[NKEYS];
static _Atomic int overlap_errors;
static _Atomic int done;

typedef struct {
    int key;
    int seq;
} ojob_t;

static ojob_t ojobs[NJOBS];

static void order_job(void *wctx, void *arg)
{
    (void)wctx;
    ojob_t *j = arg;
    if (atomic_fetch_add(&running_per_key[j->key], 1) != 0)
        atomic_fetch_add(&overlap_errors, 1);
    if (j->seq % 7 == 0)
        sched_yield();
    pthread_mutex_lock(&order_mu);
    if (last_seq[j->key] != j->seq - 1)
        order_errors++;
    last_seq[j->key] = j->seq;
    pthread_mutex_unlock(&order_mu);
    atomic_fetch_sub(&running_per_key[j->key], 1);
    atomic_fetch_add(&done, 1);
}

START_TEST(test_pool_same_key_jobs_run_in_order_one_at_a_time)
{
    agx_pool_t *p = NULL;
    ck_assert_int_eq(agx_pool_new(4, NULL, NULL, NULL, &p), AGENTEX_OK);
    int seq[NKEYS] = {0};
    for (int i = 0; i < NKEYS; i++)
        last_seq[i] = 0;
    for (int i = 0; i < NJOBS; i++) {
        int k = (i * 7 + i / 3) % NKEYS;
        ojobs[i].key = k;
        ojobs[i].seq = ++seq[k];
        char key[32];
        snprintf(key, sizeof key, "task-%d", k);
        ck_assert_int_eq(agx_pool_submit(p, key, order_job, &ojobs[i]), AGENTEX_OK);
    }
    agx_pool_shutdown(p);
    ck_assert_int_eq(atomic_load(&done), NJOBS);
    ck_assert_int_eq(order_errors, 0);
    ck_assert_int_eq(atomic_load(&overlap_errors), 0);
    for (int i = 0; i < NKEYS; i++)
        ck_assert_int_eq(last_seq[i], seq[i]);
    ck_assert_uint_eq(agx_pool_pending(p), 0);
    agx_pool_free(p);
}
END_TEST

/* ---- parallelism across keys; a busy key takes one worker only ---------------------- */

static _Atomic int concurrent, max_concurrent;
static _Atomic int release;

static void blocking_job(void *wctx, void *arg)
{
    (void)wctx;
    (void)arg;
    int now = atomic_fetch_add(&concurrent, 1) + 1;
    int m = atomic_load(&max_concurrent);
    while (now > m && !atomic_compare_exchange_weak(&max_concurrent, &m, now))
        ;
    while (!atomic_load(&release))
        msleep(1);
    atomic_fetch_sub(&concurrent, 1);
}

START_TEST(test_pool_different_keys_run_in_parallel)
{
    agx_pool_t *p = NULL;
    ck_assert_int_eq(agx_pool_new(3, NULL, NULL, NULL, &p), AGENTEX_OK);
    /* 5 jobs on key A can take one worker only; B and NULL get the others */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(agx_pool_submit(p, "A", blocking_job, NULL), AGENTEX_OK);
    ck_assert_int_eq(agx_pool_submit(p, "B", blocking_job, NULL), AGENTEX_OK);
    ck_assert_int_eq(agx_pool_submit(p, NULL, blocking_job, NULL), AGENTEX_OK);
    for (int i = 0; i < 500 && atomic_load(&concurrent) < 3; i++)
        msleep(2);
    ck_assert_int_eq(atomic_load(&concurrent), 3);
    ck_assert_uint_eq(agx_pool_pending(p), 7);
    msleep(20);
    ck_assert_int_eq(atomic_load(&max_concurrent), 3); /* A never took a second worker */
    atomic_store(&release, 1);
    agx_pool_free(p);
    ck_assert_int_eq(atomic_load(&concurrent), 0);
}
END_TEST

/* ---- drain on shutdown; ESTATE after; init/fini per worker --------------------------- */

static _Atomic int inits, finis, ran;

static void *w_init(void *ud)
{
    ck_assert_ptr_eq(ud, &inits);
    return (void *)(intptr_t)(atomic_fetch_add(&inits, 1) + 100);
}

static void w_fini(void *wctx, void *ud)
{
    ck_assert_ptr_eq(ud, &inits);
    ck_assert_int_ge((intptr_t)wctx, 100);
    atomic_fetch_add(&finis, 1);
}

static void slow_job(void *wctx, void *arg)
{
    ck_assert_int_ge((intptr_t)wctx, 100);
    ck_assert_int_lt((intptr_t)wctx, 102);
    (void)arg;
    msleep(2);
    atomic_fetch_add(&ran, 1);
}

START_TEST(test_pool_shutdown_drains_queue_then_refuses)
{
    agx_pool_t *p = NULL;
    ck_assert_int_eq(agx_pool_new(2, w_init, w_fini, &inits, &p), AGENTEX_OK);
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(agx_pool_submit(p, i % 2 ? "k" : NULL, slow_job, NULL), AGENTEX_OK);
    agx_pool_shutdown(p);
    ck_assert_int_eq(atomic_load(&ran), 60);
    ck_assert_int_eq(atomic_load(&inits), 2);
    ck_assert_int_eq(atomic_load(&finis), 2);
    ck_assert_int_eq(agx_pool_submit(p, "k", slow_job, NULL), AGENTEX_ESTATE);
    ck_assert_int_eq(agx_pool_submit(p, NULL, slow_job, NULL), AGENTEX_ESTATE);
    agx_pool_shutdown(p); /* twice is fine */
    agx_pool_free(p);
    ck_assert_int_eq(atomic_load(&ran), 60);
}
END_TEST

static agx_pool_t *self_pool;
static _Atomic int chain;

static void chained_job(void *wctx, void *arg)
{
    (void)wctx;
    (void)arg;
    if (atomic_fetch_add(&chain, 1) < 9)
        ck_assert_int_eq(agx_pool_submit(self_pool, "c", chained_job, NULL), AGENTEX_OK);
}

START_TEST(test_pool_job_may_submit_more_jobs)
{
    ck_assert_int_eq(agx_pool_new(2, NULL, NULL, NULL, &self_pool), AGENTEX_OK);
    ck_assert_int_eq(agx_pool_submit(self_pool, "c", chained_job, NULL), AGENTEX_OK);
    for (int i = 0; i < 500 && atomic_load(&chain) < 10; i++)
        msleep(2);
    agx_pool_free(self_pool);
    ck_assert_int_eq(atomic_load(&chain), 10);
}
END_TEST

/* Two threads shut the pool down at once: both may only return once every queued job
 * has run ("runs every job already queued, joins the workers"). */
static _Atomic int gate_open;
static _Atomic int gated_done;

static void gated_job(void *wctx, void *arg)
{
    (void)wctx;
    (void)arg;
    while (!atomic_load(&gate_open))
        msleep(1);
    atomic_fetch_add(&gated_done, 1);
}

static void *shutdown_main(void *arg)
{
    agx_pool_shutdown(arg);
    return NULL;
}

static void *open_gate_later(void *arg)
{
    (void)arg;
    msleep(200);
    atomic_store(&gate_open, 1);
    return NULL;
}

START_TEST(test_pool_concurrent_shutdown_waits_for_the_jobs)
{
    agx_pool_t *p = NULL;
    ck_assert_int_eq(agx_pool_new(2, NULL, NULL, NULL, &p), AGENTEX_OK);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(agx_pool_submit(p, i % 2 ? "g" : NULL, gated_job, NULL), AGENTEX_OK);
    pthread_t first, opener;
    ck_assert_int_eq(pthread_create(&first, NULL, shutdown_main, p), 0);
    int queued = 4;
    while (agx_pool_submit(p, NULL, gated_job, NULL) == AGENTEX_OK) { /* until it has begun */
        queued++;
        msleep(1);
    }
    ck_assert_int_eq(pthread_create(&opener, NULL, open_gate_later, NULL), 0);
    agx_pool_shutdown(p); /* the second caller */
    int ran_jobs = atomic_load(&gated_done);
    ck_assert_int_eq(ran_jobs, queued);
    ck_assert_uint_eq(agx_pool_pending(p), 0);
    pthread_join(first, NULL);
    pthread_join(opener, NULL);
    agx_pool_free(p);
}
END_TEST

START_TEST(test_pool_bad_arguments_and_enomem)
{
    agx_pool_t *p = NULL;
    ck_assert_int_eq(agx_pool_new(0, NULL, NULL, NULL, &p), AGENTEX_EINVAL);
    ck_assert_int_eq(agx_pool_new(1, NULL, NULL, NULL, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(agx_pool_submit(NULL, "k", slow_job, NULL), AGENTEX_EINVAL);
    for (long n = 1; n <= 3; n++) {
        agx_alloc_fail_after(n);
        ck_assert_int_eq(agx_pool_new(2, NULL, NULL, NULL, &p), AGENTEX_ENOMEM);
        agx_alloc_fail_after(0);
    }
    ck_assert_int_eq(agx_pool_new(1, NULL, NULL, NULL, &p), AGENTEX_OK);
    ck_assert_int_eq(agx_pool_submit(p, "k", NULL, NULL), AGENTEX_EINVAL);
    agx_alloc_fail_after(1);
    ck_assert_int_eq(agx_pool_submit(p, "k", slow_job, NULL), AGENTEX_ENOMEM);
    agx_alloc_fail_after(2); /* the job allocates, the mailbox fails */
    ck_assert_int_eq(agx_pool_submit(p, "new-key", slow_job, NULL), AGENTEX_ENOMEM);
    agx_alloc_fail_after(1);
    ck_assert_int_eq(agx_pool_submit(p, NULL, slow_job, NULL), AGENTEX_ENOMEM);
    agx_alloc_fail_after(0);
    ck_assert_uint_eq(agx_pool_pending(p), 0);
    agx_pool_free(p);
    ck_assert_int_eq(atomic_load(&ran), 0);
    ck_assert_uint_eq(agx_pool_pending(NULL), 0);
    agx_pool_free(NULL);
}
END_TEST

Suite *pool_suite(void);
Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_pool_same_key_jobs_run_in_order_one_at_a_time);
    tcase_add_test(tc, test_pool_different_keys_run_in_parallel);
    tcase_add_test(tc, test_pool_shutdown_drains_queue_then_refuses);
    tcase_add_test(tc, test_pool_job_may_submit_more_jobs);
    tcase_add_test(tc, test_pool_bad_arguments_and_enomem);
    tcase_add_test(tc, test_pool_concurrent_shutdown_waits_for_the_jobs);
    suite_add_tcase(s, tc);
    return s;
}
