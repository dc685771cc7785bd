/*
 * lib/pool.c - fixed worker threads with per-key mailboxes (contract: lib/pool.h).
 *
 * One lock guards everything.  The run queue holds "units": a NULL-key job, or a
 * mailbox (all queued jobs of one key).  A mailbox is on the run queue only while it
 * has jobs and no worker is running one of them, so a key never occupies two workers and
 * its jobs run in submission order.  After running one job of a mailbox the worker puts
 * the mailbox back at the tail of the run queue (if it still has jobs), which keeps a
 * busy key from starving the others.  Mailboxes live in a small open hash table keyed
 * by the key string and are freed when they empty.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "pool.h"

#define POOL_SPARE_MAX 256 /* finished jobs kept for reuse */

typedef struct job {
    struct job *next;
    agx_job_fn fn;
    void *arg;
} job_t;

typedef struct mbox {
    struct mbox *hnext; /* hash chain */
    struct mbox *rnext; /* run queue */
    job_t *head, *tail;
    bool queued;  /* on the run queue */
    bool running; /* a worker runs one of its jobs */
    uint64_t hash;
    char key[];
} mbox_t;

/* A run-queue unit: either a mailbox or a lone job (NULL key). */
typedef struct unit {
    struct unit *next;
    mbox_t *mb;
    job_t *job;
} unit_t;

struct agx_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t *threads;
    int nthreads;
    int started;
    agx_worker_init_fn init;
    agx_worker_fini_fn fini;
    void *userdata;
    unit_t *rhead, *rtail;
    mbox_t **buckets;
    size_t nbuckets;
    size_t nmbox;
    size_t pending; /* queued + running */
    int idle;       /* workers waiting on cv: a submit signals only when one is */
    job_t *spare;   /* finished mailbox jobs kept for reuse (no malloc/free per job, and no
                     * worker freeing the submitting thread's chunks) */
    size_t nspare;
    bool shutting_down;
    bool joined;      /* a shutdown call took on the joining */
    bool join_done;   /* ... and finished it */
};

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static mbox_t **mbox_slot(agx_pool_t *p, const char *key, uint64_t h)
{
    mbox_t **pp = &p->buckets[h & (p->nbuckets - 1)];
    while (*pp && !((*pp)->hash == h && strcmp((*pp)->key, key) == 0))
        pp = &(*pp)->hnext;
    return pp;
}

static void grow_table(agx_pool_t *p)
{
    size_t nb = p->nbuckets * 2;
    mbox_t **b = agx_calloc(nb, sizeof *b);
    if (!b)
        return; /* keep the longer chains */
    for (size_t i = 0; i < p->nbuckets; i++) {
        mbox_t *m = p->buckets[i];
        while (m) {
            mbox_t *n = m->hnext;
            m->hnext = b[m->hash & (nb - 1)];
            b[m->hash & (nb - 1)] = m;
            m = n;
        }
    }
    agx_free(p->buckets);
    p->buckets = b;
    p->nbuckets = nb;
}

static void runq_push(agx_pool_t *p, unit_t *u)
{
    u->next = NULL;
    if (p->rtail)
        p->rtail->next = u;
    else
        p->rhead = u;
    p->rtail = u;
}

/* A mailbox and the run-queue unit that queues it share one allocation. */
typedef struct mbox_alloc {
    unit_t unit;
    mbox_t mb;
} mbox_alloc_t;

static unit_t *mbox_unit(mbox_t *m)
{
    return &((mbox_alloc_t *)((char *)m - offsetof(mbox_alloc_t, mb)))->unit;
}

static void *worker_main(void *arg)
{
    agx_pool_t *p = arg;
    agx_thread_name("agx-worker");
    void *wctx = p->init ? p->init(p->userdata) : NULL;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->rhead && !p->shutting_down) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        unit_t *u = p->rhead;
        if (!u) /* shutting down and nothing left */
            break;
        p->rhead = u->next;
        if (!p->rhead)
            p->rtail = NULL;
        if (u->job) { /* a lone job; the unit is the job's allocation */
            job_t *j = u->job;
            pthread_mutex_unlock(&p->mu);
            j->fn(wctx, j->arg);
            agx_free(u);
            pthread_mutex_lock(&p->mu);
            p->pending--;
            if (p->shutting_down && p->pending == 0)
                pthread_cond_broadcast(&p->cv);
            continue;
        }
        mbox_t *m = u->mb;
        m->queued = false;
        m->running = true;
        job_t *j = m->head;
        m->head = j->next;
        if (!m->head)
            m->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(wctx, j->arg);
        pthread_mutex_lock(&p->mu);
        if (p->nspare < POOL_SPARE_MAX) {
            j->next = p->spare;
            p->spare = j;
            p->nspare++;
        } else {
            agx_free(j);
        }
        p->pending--;
        m->running = false;
        if (m->head) {
            /* back at the tail; no wake-up: this worker takes the next unit itself,
             * so the number of runnable units per awake worker is unchanged */
            m->queued = true;
            runq_push(p, mbox_unit(m));
        } else {
            mbox_t **slot = mbox_slot(p, m->key, m->hash);
            if (*slot == m)
                *slot = m->hnext;
            p->nmbox--;
            agx_free(mbox_unit(m));
        }
    }
    pthread_mutex_unlock(&p->mu);
    if (p->fini)
        p->fini(wctx, p->userdata);
    return NULL;
}

agentex_err_t agx_pool_new(int nthreads, agx_worker_init_fn init, agx_worker_fini_fn fini,
                           void *userdata, agx_pool_t **out)
{
    if (!out || nthreads <= 0 || nthreads > 1024)
        return AGENTEX_EINVAL;
    *out = NULL;
    agx_pool_t *p = agx_calloc(1, sizeof *p);
    if (!p)
        return AGENTEX_ENOMEM;
    p->nbuckets = 64;
    p->buckets = agx_calloc(p->nbuckets, sizeof *p->buckets);
    p->threads = agx_calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->buckets || !p->threads) {
        agx_free(p->buckets);
        agx_free(p->threads);
        agx_free(p);
        return AGENTEX_ENOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->init = init;
    p->fini = fini;
    p->userdata = userdata;
    p->nthreads = nthreads;
    for (int i = 0; i < nthreads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            AGX_ERROR("pool: cannot create worker thread %d", i);
            agx_pool_free(p);
            return AGENTEX_EINTERNAL;
        }
        p->started++;
    }
    *out = p;
    return AGENTEX_OK;
}

agentex_err_t agx_pool_submit(agx_pool_t *p, const char *key, agx_job_fn fn, void *arg)
{
    if (!p || !fn)
        return AGENTEX_EINVAL;
    agentex_err_t err = AGENTEX_OK;
    if (!key) {
        /* a lone job: unit and job in one allocation */
        struct {
            unit_t u;
            job_t j;
        } *a = agx_malloc(sizeof *a);
        if (!a)
            return AGENTEX_ENOMEM;
        a->j.fn = fn;
        a->j.arg = arg;
        a->j.next = NULL;
        a->u.mb = NULL;
        a->u.job = &a->j;
        pthread_mutex_lock(&p->mu);
        if (p->shutting_down) {
            pthread_mutex_unlock(&p->mu);
            agx_free(a);
            return AGENTEX_ESTATE;
        }
        runq_push(p, &a->u);
        p->pending++;
        if (p->idle > 0)
            pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return AGENTEX_OK;
    }
    uint64_t h = hash_key(key);
    size_t kl = strlen(key);
    mbox_alloc_t *fresh = NULL;
    job_t *j = NULL;
    pthread_mutex_lock(&p->mu);
    if (p->shutting_down) {
        err = AGENTEX_ESTATE;
        goto out_unlock;
    }
    if (p->spare) {
        j = p->spare;
        p->spare = j->next;
        p->nspare--;
    } else if (!(j = agx_malloc(sizeof *j))) {
        err = AGENTEX_ENOMEM;
        goto out_unlock;
    }
    j->fn = fn;
    j->arg = arg;
    j->next = NULL;
    mbox_t **slot = mbox_slot(p, key, h);
    mbox_t *m = *slot;
    if (!m) {
        fresh = agx_malloc(sizeof *fresh + kl + 1);
        if (!fresh) {
            err = AGENTEX_ENOMEM;
            goto out_unlock;
        }
        m = &fresh->mb;
        memset(m, 0, sizeof *m);
        m->hash = h;
        memcpy(m->key, key, kl + 1);
        fresh->unit.mb = m;
        fresh->unit.job = NULL;
        *slot = m;
        p->nmbox++;
        if (p->nmbox > p->nbuckets * 2)
            grow_table(p);
    }
    if (m->tail)
        m->tail->next = j;
    else
        m->head = j;
    m->tail = j;
    p->pending++;
    if (!m->queued && !m->running) {
        m->queued = true;
        runq_push(p, mbox_unit(m));
        if (p->idle > 0)
            pthread_cond_signal(&p->cv);
    }
    j = NULL;
out_unlock:
    pthread_mutex_unlock(&p->mu);
    agx_free(j);
    return err;
}

size_t agx_pool_pending(agx_pool_t *p)
{
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    size_t n = p->pending;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void agx_pool_shutdown(agx_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->shutting_down = true;
    bool join = !p->joined;
    p->joined = true;
    pthread_cond_broadcast(&p->cv);
    if (!join) {
        /* another thread is joining: return only once every job has run, as promised
         * (except on a worker, which that thread is waiting for) */
        bool worker = false;
        for (int i = 0; i < p->started; i++)
            if (pthread_equal(pthread_self(), p->threads[i]))
                worker = true;
        while (!worker && !p->join_done)
            pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_lock(&p->mu);
    p->join_done = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void agx_pool_free(agx_pool_t *p)
{
    if (!p)
        return;
    agx_pool_shutdown(p);
    /* workers drained everything; free what a failed start may have left */
    unit_t *u = p->rhead;
    while (u) {
        unit_t *n = u->next;
        if (u->mb) {
            job_t *j = u->mb->head;
            while (j) {
                job_t *jn = j->next;
                agx_free(j);
                j = jn;
            }
        }
        agx_free(u);
        u = n;
    }
    while (p->spare) {
        job_t *j = p->spare;
        p->spare = j->next;
        agx_free(j);
    }
    agx_free(p->buckets);
    agx_free(p->threads);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    agx_free(p);
}
