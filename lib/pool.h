/*
 * lib/pool.h - a fixed pool of worker threads with per-key mailboxes.  Not installed.
 *
 * Jobs submitted with the same non-NULL key run one at a time, in submission order
 * (a per-task mailbox); jobs with different keys, or a NULL key, run in parallel on
 * the free workers.  A key's mailbox never occupies more than one worker, so one busy
 * task cannot starve the others while workers are free.
 */
#ifndef AGX_POOL_H
#define AGX_POOL_H

#include <stddef.h>

#include "agentex/common.h"

typedef struct agx_pool agx_pool_t;

/* Runs once on each worker thread at its start; the value it returns is passed to every
 * job on that worker as wctx, and to fini at the worker's end.  Both may be NULL. */
typedef void *(*agx_worker_init_fn)(void *userdata);
typedef void (*agx_worker_fini_fn)(void *wctx, void *userdata);
typedef void (*agx_job_fn)(void *wctx, void *arg);

agentex_err_t agx_pool_new(int nthreads, agx_worker_init_fn init, agx_worker_fini_fn fini,
                           void *userdata, agx_pool_t **out);
/* Any thread.  key is copied.  AGENTEX_ESTATE after agx_pool_shutdown began,
 * AGENTEX_ENOMEM.  On error the job will not run (the caller still owns arg). */
agentex_err_t agx_pool_submit(agx_pool_t *p, const char *key, agx_job_fn fn, void *arg);
/* Jobs queued or running. Any thread. */
size_t agx_pool_pending(agx_pool_t *p);
/* Refuses new jobs, runs every job already queued, joins the workers. */
void agx_pool_shutdown(agx_pool_t *p);
/* Shuts down if needed, then frees. */
void agx_pool_free(agx_pool_t *p);

#endif
