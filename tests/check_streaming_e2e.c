/*
 * tests/check_streaming_e2e.c - streaming end to end through agentex-dev:
 *
 *   adk_streaming_msg_t --(adk_streamer_t: Redis XADD task:{id})--> redis-server
 *       --(agentex-dev --redis-url: XREAD relay)--> SSE --> adk_stream_t
 *
 * and the same through the websocket transport (/stream/publish) for comparison.  Each
 * test starts its own redis-server on a free port (--save '' --appendonly no) and its own
 * agentex-dev ($AGX_BUILD_DIR/bin/agentex-dev --port 0 --redis-url ...), and stops both
 * in teardown (agentex-dev must exit 0: under ASan that also means no leak).  Skipped,
 * with a message, when redis-server is not installed.
 */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentex/agentex.h"
#include "support/fake_backend.h"
#include "support/proc.h"

Suite *streaming_e2e_suite(void);

/* ======================================================================================
 * processes: redis-server and agentex-dev
 * ==================================================================================== */

static pid_t g_redis = -1, g_dev = -1;
static int g_rport;
static char g_redis_url[64];
static char g_base[128];
static bool g_skip;

/* Starts redis-server on g_rport (chosen on the first start, kept for restarts). */
static void redis_start(void) { g_redis = tp_redis_start(g_rport); }

static void redis_stop(void)
{
    if (g_redis > 0) {
        tp_stop(g_redis);
        g_redis = -1;
    }
}

static void dev_start(void)
{
    const char *args[] = {"--redis-url", g_redis_url, "--ping-interval-ms", "500", NULL};
    g_dev = tp_dev_start(args, g_base, sizeof g_base);
}

static int dev_stop(void)
{
    if (g_dev <= 0)
        return 0;
    int rc = tp_stop(g_dev);
    g_dev = -1;
    return rc;
}

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_skip = tp_redis_server_path() == NULL;
    if (g_skip) {
        fprintf(stderr, "SKIP: redis-server is not installed; streaming_e2e tests skipped\n");
        return;
    }
    g_rport = tp_free_port();
    snprintf(g_redis_url, sizeof g_redis_url, "redis://127.0.0.1:%d", g_rport);
    redis_start();
    dev_start();
}

static void teardown(void)
{
    int rc = dev_stop();
    redis_stop();
    curl_global_cleanup();
    ck_assert_msg(rc == 0, "agentex-dev exit status %d (leak or crash?)", rc);
}

/* ======================================================================================
 * REST helpers
 * ==================================================================================== */

/* POST {base}{path} with a JSON body; returns the parsed 200 response. */
static cJSON *post(const char *path, const char *json)
{
    tp_resp_t r = tp_request(g_base, "POST", path, json, NULL, 5000);
    ck_assert_msg(r.status == 200, "POST %s: %ld %s", path, r.status, r.body);
    cJSON *j = r.json;
    r.json = NULL;
    tp_resp_free(&r);
    ck_assert_ptr_nonnull(j);
    return j;
}

/* A task of a sync agent (stored, never forwarded): its id in out. */
static void make_task(const char *name, char *out, size_t outlen)
{
    cJSON *j = post("/agents/register", "{\"name\":\"e2e-agent\",\"description\":\"d\",\"acp_url\":"
                                        "\"http://127.0.0.1:9\",\"acp_type\":\"sync\"}");
    cJSON_Delete(j);
    char body[256];
    snprintf(
        body, sizeof body,
        "{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"params\":{\"name\":\"%s\"},\"id\":1}",
        name);
    j = post("/agents/name/e2e-agent/rpc", body);
    const cJSON *id =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "result"), "id");
    ck_assert_msg(cJSON_IsString(id), "task/create failed");
    snprintf(out, outlen, "%s", id->valuestring);
    cJSON_Delete(j);
}

static void complete_task(const char *task_id)
{
    char path[160];
    snprintf(path, sizeof path, "/tasks/%s/complete", task_id);
    cJSON_Delete(post(path, "{\"reason\":\"answered\"}"));
}

/* ======================================================================================
 * a subscriber: adk_stream_t on agentex-dev's SSE, in its own thread
 * ==================================================================================== */

#define MAXF 1024

typedef struct sub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    adk_stream_t *s;
    pthread_t th;
    int connected;
    char *frames[MAXF]; /* start/delta/full/done frames as received (compact JSON) */
    int nframes;
    char *errors[MAXF];
    int nerrors;
    char *final_text; /* on_message: accumulated text of the last message ended */
    agentex_err_t rc;
    bool ended;
} sub_t;

static void on_connected(adk_stream_t *s, const char *task_id, void *ud)
{
    (void)s;
    (void)task_id;
    sub_t *x = ud;
    pthread_mutex_lock(&x->mu);
    x->connected++;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void on_update(adk_stream_t *s, const adk_stream_update_t *u, void *ud)
{
    (void)s;
    sub_t *x = ud;
    pthread_mutex_lock(&x->mu);
    if (x->nframes < MAXF)
        x->frames[x->nframes++] = cJSON_PrintUnformatted(adk_stream_update_json(u));
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void on_message(adk_stream_t *s, const adk_stream_update_t *u, void *ud)
{
    (void)s;
    sub_t *x = ud;
    const char *t = adk_content_text(adk_stream_update_content(u));
    pthread_mutex_lock(&x->mu);
    free(x->final_text);
    x->final_text = t ? strdup(t) : NULL;
    pthread_mutex_unlock(&x->mu);
}

static void on_error(adk_stream_t *s, agentex_err_t err, const char *msg, void *ud)
{
    (void)s;
    (void)err;
    sub_t *x = ud;
    pthread_mutex_lock(&x->mu);
    if (x->nerrors < MAXF)
        x->errors[x->nerrors++] = strdup(msg ? msg : "");
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void *sub_main(void *arg)
{
    sub_t *x = arg;
    agentex_err_t rc = adk_stream_run(x->s, 15000);
    pthread_mutex_lock(&x->mu);
    x->rc = rc;
    x->ended = true;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static void sub_start(sub_t *x, const char *task_id)
{
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    ck_assert_int_eq(adk_stream_new(g_base, task_id, &x->s), AGENTEX_OK);
    adk_stream_on_connected(x->s, on_connected, x);
    adk_stream_on_update(x->s, on_update, x);
    adk_stream_on_message(x->s, on_message, x);
    adk_stream_on_error(x->s, on_error, x);
    ck_assert_int_eq(pthread_create(&x->th, NULL, sub_main, x), 0);
}

/* Waits (at most ms) until pred holds; returns it. */
static bool sub_wait(sub_t *x, bool (*pred)(sub_t *, int), int arg, long ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&x->mu);
    bool ok;
    while (!(ok = pred(x, arg)))
        if (pthread_cond_timedwait(&x->cv, &x->mu, &ts) == ETIMEDOUT) {
            ok = pred(x, arg);
            break;
        }
    pthread_mutex_unlock(&x->mu);
    return ok;
}

static bool p_connected(sub_t *x, int n) { return x->connected >= n; }
static bool p_frames(sub_t *x, int n) { return x->nframes >= n; }
static bool p_errors(sub_t *x, int n) { return x->nerrors >= n; }
static bool p_ended(sub_t *x, int n)
{
    (void)n;
    return x->ended;
}

static void sub_join(sub_t *x)
{
    if (!sub_wait(x, p_ended, 0, 12000))
        adk_stream_stop(x->s);
    pthread_join(x->th, NULL);
}

static void sub_free(sub_t *x)
{
    adk_stream_free(x->s);
    for (int i = 0; i < x->nframes; i++)
        cJSON_free(x->frames[i]);
    for (int i = 0; i < x->nerrors; i++)
        free(x->errors[i]);
    free(x->final_text);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
}

/* ======================================================================================
 * the publisher: one streamed message
 * ==================================================================================== */

static const char *const DELTAS[] = {"Sunny, ", "21",
                                     "\xc2\xb0"
                                     "C ",
                                     "with \"light\" wind"};
#define NDELTAS 4
#define FULL_TEXT                                                                                  \
    "Sunny, 21\xc2\xb0"                                                                            \
    "C with \"light\" wind"

/* Opens a streamed message, sends DELTAS, closes it; the message id in msg_id. */
static void publish_message(adk_streamer_t *st, const char *task_id, char *msg_id, size_t len)
{
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(g_base, &c), AGENTEX_OK);
    adk_content_t *initial = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_AGENT, "", &initial), AGENTEX_OK);
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(c, st, task_id, initial, &m), AGENTEX_OK);
    snprintf(msg_id, len, "%s", adk_message_id(adk_streaming_message(m)));
    for (int i = 0; i < NDELTAS; i++)
        ck_assert_int_eq(adk_streaming_text(m, DELTAS[i]), AGENTEX_OK);
    adk_message_t *done = NULL;
    ck_assert_int_eq(adk_streaming_close(m, &done), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_publish_error(m), AGENTEX_OK);
    ck_assert_str_eq(adk_content_text(adk_message_content(done)), FULL_TEXT);
    adk_message_free(done);
    adk_streaming_msg_free(m);
    adk_content_free(initial);
    agentex_client_free(c);
}

/* The frames of one message that came through the streamer (start/delta/done: agentex-dev's
 * own `full` frames on REST writes are left out), parsed, in order. */
static int streamed_frames(sub_t *x, const char *msg_id, cJSON **out, int max)
{
    int n = 0;
    pthread_mutex_lock(&x->mu);
    for (int i = 0; i < x->nframes && n < max; i++) {
        cJSON *j = cJSON_Parse(x->frames[i]);
        ck_assert_ptr_nonnull(j);
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "type"));
        const cJSON *ptm = cJSON_GetObjectItemCaseSensitive(j, "parent_task_message");
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ptm, "id"));
        ck_assert_msg(id && strcmp(id, msg_id) == 0, "frame of another message: %s", x->frames[i]);
        if (strcmp(type, "full") == 0) {
            cJSON_Delete(j);
            continue;
        }
        out[n++] = j;
    }
    pthread_mutex_unlock(&x->mu);
    return n;
}

static const char *ftype(const cJSON *f)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "type"));
}

static const char *ftext(const cJSON *f)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(f, "delta");
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "text_delta"));
}

/* The `data` fields of every entry of task:{id}, parsed, in order. */
static int redis_entries(const char *task_id, cJSON **out, int max)
{
    redisContext *c = redisConnect("127.0.0.1", g_rport);
    ck_assert(c && !c->err);
    redisReply *r = redisCommand(c, "XRANGE task:%s - +", task_id);
    ck_assert(r && r->type == REDIS_REPLY_ARRAY);
    int n = 0;
    for (size_t i = 0; i < r->elements && n < max; i++) {
        const redisReply *fv = r->element[i]->element[1];
        ck_assert_int_eq((int)fv->elements, 2);
        ck_assert_str_eq(fv->element[0]->str, "data");
        out[n] = cJSON_Parse(fv->element[1]->str);
        ck_assert_ptr_nonnull(out[n]);
        n++;
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

/* Asserts start, one delta per DELTAS (texts in order), done. */
static void assert_per_token_shape(cJSON **f, int n)
{
    ck_assert_int_eq(n, NDELTAS + 2);
    ck_assert_str_eq(ftype(f[0]), "start");
    for (int i = 0; i < NDELTAS; i++) {
        ck_assert_str_eq(ftype(f[1 + i]), "delta");
        ck_assert_str_eq(ftext(f[1 + i]), DELTAS[i]);
    }
    ck_assert_str_eq(ftype(f[n - 1]), "done");
}

static void free_all(cJSON **f, int n)
{
    for (int i = 0; i < n; i++)
        cJSON_Delete(f[i]);
}

/* Runs one streamed message from a subscriber's point of view: subscribe, wait for
 * connected, publish, wait for the frames, complete the task, wait for the end. */
static void run_one(adk_streamer_t *st, const char *task_name, sub_t *x, char *task_id,
                    char *msg_id)
{
    make_task(task_name, task_id, 64);
    sub_start(x, task_id);
    ck_assert_msg(sub_wait(x, p_connected, 1, 8000), "no connected frame");
    publish_message(st, task_id, msg_id, 64);
    /* full (POST) + start + deltas + done + full (PUT) at least */
    ck_assert_msg(sub_wait(x, p_frames, 4, 8000), "frames missing: %d", x->nframes);
    /* the done frame has come when the accumulated message was reported */
    for (int i = 0; i < 400; i++) {
        pthread_mutex_lock(&x->mu);
        bool have = x->final_text != NULL && x->nframes >= 5;
        int nf = x->nframes;
        bool done_seen = false;
        for (int k = 0; k < nf; k++)
            done_seen = done_seen || strstr(x->frames[k], "\"type\":\"done\"") != NULL;
        pthread_mutex_unlock(&x->mu);
        if (have && done_seen)
            break;
        tp_sleep_ms(20);
    }
    tp_sleep_ms(100); /* a late duplicate would show up here */
    complete_task(task_id);
    sub_join(x);
    if (getenv("AGX_E2E_DEBUG"))
        for (int i = 0; i < x->nframes; i++)
            fprintf(stderr, "frame %d: %.150s\n", i, x->frames[i]);
    ck_assert_int_eq(x->rc, AGENTEX_OK);
    ck_assert_int_eq(adk_stream_task_status(x->s), ADK_TASK_COMPLETED);
}

/* A TaskMessageUpdate as an agent XADDs it: type "delta" (text) or "done", with a whole
 * parent message (the subscriber drops frames whose parent is not a valid TaskMessage). */
static void upd_json(char *out, size_t n, const char *task_id, const char *type, const char *text)
{
    char delta[128] = "";
    if (text)
        snprintf(delta, sizeof delta, ",\"delta\":{\"type\":\"text\",\"text_delta\":\"%s\"}", text);
    snprintf(out, n,
             "{\"type\":\"%s\",\"index\":null,\"parent_task_message\":{\"id\":"
             "\"66a1f0c2b9e4d83a17c5e902\",\"task_id\":\"%s\",\"content\":{\"type\":\"text\","
             "\"author\":\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":"
             "\"\",\"attachments\":null},\"streaming_status\":\"IN_PROGRESS\",\"created_at\":"
             "\"2026-03-01T09:06:11.250000Z\",\"updated_at\":\"2026-03-01T09:06:11.250000Z\"}%s}",
             type, task_id, delta);
}

/* ======================================================================================
 * tests
 * ==================================================================================== */

/* per_token over Redis: the SSE frames are exactly the XADDed entries, in order */
START_TEST(redis_per_token_exact)
{
    if (g_skip)
        return;
    adk_streamer_t *st = NULL;
    ck_assert_int_eq(adk_streamer_new_redis(g_redis_url, &st), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_mode(st, ADK_STREAM_MODE_PER_TOKEN), AGENTEX_OK);
    sub_t x;
    char task_id[64], msg_id[64];
    run_one(st, "e2e-per-token", &x, task_id, msg_id);

    cJSON *f[MAXF], *e[MAXF];
    int nf = streamed_frames(&x, msg_id, f, MAXF);
    int ne = redis_entries(task_id, e, MAXF);
    assert_per_token_shape(e, ne);
    ck_assert_int_eq(nf, ne);
    for (int i = 0; i < nf; i++) {
        char *a = cJSON_PrintUnformatted(f[i]), *b = cJSON_PrintUnformatted(e[i]);
        ck_assert_msg(cJSON_Compare(f[i], e[i], true), "frame %d differs:\n SSE   %s\n Redis %s", i,
                      a, b);
        cJSON_free(a);
        cJSON_free(b);
    }
    ck_assert_int_eq(x.nerrors, 0);
    free_all(f, nf);
    free_all(e, ne);
    sub_free(&x);
    adk_streamer_free(st);
}
END_TEST

/* coalesced over Redis: merged deltas, still frame for frame what was XADDed */
START_TEST(redis_coalesced_exact)
{
    if (g_skip)
        return;
    adk_streamer_t *st = NULL;
    ck_assert_int_eq(adk_streamer_new_redis(g_redis_url, &st), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_mode(st, ADK_STREAM_MODE_COALESCED), AGENTEX_OK);
    sub_t x;
    char task_id[64], msg_id[64];
    run_one(st, "e2e-coalesced", &x, task_id, msg_id);

    cJSON *f[MAXF], *e[MAXF];
    int nf = streamed_frames(&x, msg_id, f, MAXF);
    int ne = redis_entries(task_id, e, MAXF);
    ck_assert_int_ge(ne, 3);
    ck_assert_int_le(ne, NDELTAS + 2);
    ck_assert_int_eq(nf, ne);
    char text[256] = "";
    for (int i = 0; i < nf; i++) {
        ck_assert(cJSON_Compare(f[i], e[i], true));
        if (i > 0 && i < nf - 1) {
            ck_assert_str_eq(ftype(f[i]), "delta");
            size_t l = strlen(text);
            snprintf(text + l, sizeof text - l, "%s", ftext(f[i]));
        }
    }
    ck_assert_str_eq(ftype(f[0]), "start");
    ck_assert_str_eq(ftype(f[nf - 1]), "done");
    ck_assert_str_eq(text, FULL_TEXT);
    free_all(f, nf);
    free_all(e, ne);
    sub_free(&x);
    adk_streamer_free(st);
}
END_TEST

/* the websocket transport through the same agentex-dev gives the same frames as Redis */
START_TEST(websocket_matches_redis)
{
    if (g_skip)
        return;
    char ws_url[160];
    snprintf(ws_url, sizeof ws_url, "ws://%s/stream/publish", g_base + strlen("http://"));
    adk_streamer_t *ws = NULL, *rd = NULL;
    ck_assert_int_eq(adk_streamer_new_ws(ws_url, &ws), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_mode(ws, ADK_STREAM_MODE_PER_TOKEN), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_new_redis(g_redis_url, &rd), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_mode(rd, ADK_STREAM_MODE_PER_TOKEN), AGENTEX_OK);
    sub_t xw, xr;
    char tw[64], mw[64], tr[64], mr[64];
    run_one(ws, "e2e-ws", &xw, tw, mw);
    run_one(rd, "e2e-redis", &xr, tr, mr);

    cJSON *fw[MAXF], *fr[MAXF], *e[MAXF];
    int nw = streamed_frames(&xw, mw, fw, MAXF);
    int nr = streamed_frames(&xr, mr, fr, MAXF);
    ck_assert_int_eq(redis_entries(tw, e, MAXF), 0); /* nothing went through Redis */
    assert_per_token_shape(fw, nw);
    assert_per_token_shape(fr, nr);
    for (int i = 0; i < nw; i++) {
        /* equal once the parent message (other id, task, times) is set aside */
        cJSON_ReplaceItemInObjectCaseSensitive(fw[i], "parent_task_message", cJSON_CreateNull());
        cJSON_ReplaceItemInObjectCaseSensitive(fr[i], "parent_task_message", cJSON_CreateNull());
        ck_assert(cJSON_Compare(fw[i], fr[i], true));
    }
    free_all(fw, nw);
    free_all(fr, nr);
    sub_free(&xw);
    sub_free(&xr);
    adk_streamer_free(ws);
    adk_streamer_free(rd);
}
END_TEST

/* a task already terminal: connected, its whole buffered Redis stream, then the end; an
 * entry that fails validation is dropped */
START_TEST(redis_terminal_task_replays_buffer)
{
    if (g_skip)
        return;
    char task_id[64];
    make_task("e2e-replay", task_id, sizeof task_id);
    redisContext *c = redisConnect("127.0.0.1", g_rport);
    ck_assert(c && !c->err);
    char ok1[1024], ok2[1024];
    upd_json(ok1, sizeof ok1, task_id, "delta", "one");
    upd_json(ok2, sizeof ok2, task_id, "done", NULL);
    const char *bad[] = {"not json", "{\"type\":\"heartbeat\"}", "[1,2]"};
    redisReply *r = redisCommand(c, "XADD task:%s * data %s", task_id, ok1);
    freeReplyObject(r);
    for (int i = 0; i < 3; i++) {
        r = redisCommand(c, "XADD task:%s * data %s", task_id, bad[i]);
        freeReplyObject(r);
    }
    r = redisCommand(c, "XADD task:%s * other x", task_id);
    freeReplyObject(r);
    r = redisCommand(c, "XADD task:%s * data %s", task_id, ok2);
    freeReplyObject(r);
    redisFree(c);
    complete_task(task_id);

    sub_t x;
    sub_start(&x, task_id);
    /* the stream ends after the replay without a task_updated: no reconnect */
    ck_assert_int_eq(adk_stream_set_reconnect(x.s, 0, 100, 100), AGENTEX_OK);
    sub_join(&x);
    ck_assert_int_eq(x.connected, 1);
    ck_assert_int_eq(x.nframes, 2);
    cJSON *a = cJSON_Parse(x.frames[0]), *b = cJSON_Parse(ok1);
    ck_assert(cJSON_Compare(a, b, true));
    cJSON_Delete(a);
    cJSON_Delete(b);
    a = cJSON_Parse(x.frames[1]);
    b = cJSON_Parse(ok2);
    ck_assert(cJSON_Compare(a, b, true));
    cJSON_Delete(a);
    cJSON_Delete(b);
    /* the stream ended on its own, not by our timeout */
    ck_assert_int_ne(x.rc, AGENTEX_ETIMEDOUT);
    ck_assert_int_ne(x.rc, AGENTEX_ECANCELED);
    sub_free(&x);
}
END_TEST

/* entries written before the subscription are not replayed for a running task; entries
 * written after `connected` all arrive */
START_TEST(redis_snapshot_before_connected)
{
    if (g_skip)
        return;
    char task_id[64];
    make_task("e2e-snapshot", task_id, sizeof task_id);
    redisContext *c = redisConnect("127.0.0.1", g_rport);
    ck_assert(c && !c->err);
    char old[1024];
    upd_json(old, sizeof old, task_id, "delta", "old");
    freeReplyObject(redisCommand(c, "XADD task:%s * data %s", task_id, old));
    sub_t x;
    sub_start(&x, task_id);
    ck_assert(sub_wait(&x, p_connected, 1, 8000));
    for (int i = 0; i < 12; i++) { /* more than one XREAD COUNT 10 batch */
        char e[1024], t[16];
        snprintf(t, sizeof t, "n%d", i);
        upd_json(e, sizeof e, task_id, "delta", t);
        freeReplyObject(redisCommand(c, "XADD task:%s * data %s", task_id, e));
    }
    redisFree(c);
    ck_assert_msg(sub_wait(&x, p_frames, 12, 8000), "got %d frames", x.nframes);
    tp_sleep_ms(100);
    complete_task(task_id);
    sub_join(&x);
    ck_assert_int_eq(x.nframes, 12);
    for (int i = 0; i < 12; i++) {
        cJSON *j = cJSON_Parse(x.frames[i]);
        char want[16];
        snprintf(want, sizeof want, "n%d", i);
        ck_assert_str_eq(ftext(j), want);
        cJSON_Delete(j);
    }
    sub_free(&x);
}
END_TEST

/* Redis restarts under a live subscription: an error frame, then the relay reconnects and
 * later entries arrive */
START_TEST(redis_restart_relay_reconnects)
{
    if (g_skip)
        return;
    char task_id[64];
    make_task("e2e-restart", task_id, sizeof task_id);
    sub_t x;
    sub_start(&x, task_id);
    ck_assert(sub_wait(&x, p_connected, 1, 8000));
    redis_stop();
    ck_assert_msg(sub_wait(&x, p_errors, 1, 8000), "no error frame after Redis went away");
    pthread_mutex_lock(&x.mu);
    ck_assert_msg(strstr(x.errors[0], "Redis stream read failed") != NULL, "%s", x.errors[0]);
    pthread_mutex_unlock(&x.mu);
    redis_start();
    adk_streamer_t *st = NULL;
    ck_assert_int_eq(adk_streamer_new_redis(g_redis_url, &st), AGENTEX_OK);
    char text[1024];
    upd_json(text, sizeof text, task_id, "delta", "back");
    cJSON *u = cJSON_Parse(text);
    ck_assert_int_eq(adk_streamer_publish(st, u), AGENTEX_OK);
    ck_assert_msg(sub_wait(&x, p_frames, 1, 9000), "nothing relayed after the restart");
    complete_task(task_id);
    sub_join(&x);
    cJSON *j = cJSON_Parse(x.frames[0]);
    ck_assert(cJSON_Compare(j, u, true));
    cJSON_Delete(j);
    cJSON_Delete(u);
    ck_assert_int_eq(x.nframes, 1);
    adk_streamer_free(st);
    sub_free(&x);
}
END_TEST

/* ---- a raw websocket subscriber (/tasks/{id}/stream/ws) ---- */

static int ws_open(const char *path, char *status_line, size_t sl)
{
    return tp_raw_get(tp_url_port(g_base), path, true, 5, status_line, sl);
}

/* with --redis-url the websocket stream gets the Redis entries too; a websocket that goes
 * away before its subscription is set up leaks nothing (teardown: exit status 0) */
START_TEST(redis_websocket_subscriber)
{
    if (g_skip)
        return;
    char task_id[64], path[160], status[256];
    make_task("e2e-ws-sub", task_id, sizeof task_id);
    snprintf(path, sizeof path, "/tasks/%s/stream/ws", task_id);
    for (int i = 0; i < 5; i++) { /* gone at once */
        int fd = ws_open(path, status, sizeof status);
        ck_assert_str_eq(status, "HTTP/1.1 101 Switching Protocols");
        close(fd);
    }
    int fd = ws_open(path, status, sizeof status);
    ck_assert_str_eq(status, "HTTP/1.1 101 Switching Protocols");
    int op = 0;
    char *f = tp_ws_recv(fd, &op);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(op, 1);
    char want[256];
    snprintf(want, sizeof want, "{\"type\":\"connected\",\"taskId\":\"%s\"}", task_id);
    ck_assert_str_eq(f, want);
    free(f);
    char e[1024];
    upd_json(e, sizeof e, task_id, "delta", "over ws");
    redisContext *c = redisConnect("127.0.0.1", g_rport);
    ck_assert(c && !c->err);
    freeReplyObject(redisCommand(c, "XADD task:%s * data %s", task_id, e));
    redisFree(c);
    f = tp_ws_recv(fd, &op);
    ck_assert_ptr_nonnull(f);
    cJSON *a = cJSON_Parse(f), *b = cJSON_Parse(e);
    ck_assert_msg(cJSON_Compare(a, b, true), "%s", f);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(f);
    complete_task(task_id);
    f = tp_ws_recv(fd, &op);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(op, 1);
    ck_assert_ptr_nonnull(strstr(f, "\"type\":\"task_updated\""));
    free(f);
    f = tp_ws_recv(fd, &op); /* the server closes after the terminal task_updated */
    ck_assert_int_eq(op, 8);
    free(f);
    close(fd);
}
END_TEST

/* agentex-dev's thread count (Threads: in /proc/PID/status) */
static int dev_threads(void)
{
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/status", (int)g_dev);
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static bool threads_become(int want, long ms)
{
    for (long t = 0; t <= ms; t += 20) {
        if (dev_threads() == want)
            return true;
        tp_sleep_ms(20);
    }
    return false;
}

/* one relay thread per task with subscribers, shared by them, gone with the last one */
START_TEST(relay_threads_follow_subscribers)
{
    if (g_skip)
        return;
    char t1[64], t2[64];
    make_task("e2e-threads-1", t1, sizeof t1);
    make_task("e2e-threads-2", t2, sizeof t2);
    int base = dev_threads();
    ck_assert_int_gt(base, 0);
    sub_t a, b, c;
    sub_start(&a, t1);
    sub_start(&b, t1);
    ck_assert(sub_wait(&a, p_connected, 1, 8000));
    ck_assert(sub_wait(&b, p_connected, 1, 8000));
    ck_assert_msg(threads_become(base + 1, 3000), "threads %d, base %d", dev_threads(), base);
    sub_start(&c, t2);
    ck_assert(sub_wait(&c, p_connected, 1, 8000));
    ck_assert_msg(threads_become(base + 2, 3000), "threads %d, base %d", dev_threads(), base);
    adk_stream_stop(a.s);
    sub_join(&a);
    tp_sleep_ms(300);
    ck_assert_int_eq(dev_threads(), base + 2); /* b still reads t1 */
    adk_stream_stop(b.s);
    sub_join(&b);
    ck_assert_msg(threads_become(base + 1, 4000), "threads %d, base %d", dev_threads(), base);
    complete_task(t2); /* c ends with the task */
    sub_join(&c);
    ck_assert_int_eq(c.rc, AGENTEX_OK);
    ck_assert_msg(threads_become(base, 4000), "threads %d, base %d", dev_threads(), base);
    sub_free(&a);
    sub_free(&b);
    sub_free(&c);
}
END_TEST

/* a message larger than one read of the HTTP server (the final PUT carries ~40 KB: its
 * body arrives after the head was parsed), coalesced: every delta reaches Redis and the
 * subscriber, and the stored content is whole */
START_TEST(redis_large_message)
{
    if (g_skip)
        return;
    char task_id[64];
    make_task("e2e-large", task_id, sizeof task_id);
    adk_streamer_t *st = NULL;
    ck_assert_int_eq(adk_streamer_new_redis(g_redis_url, &st), AGENTEX_OK);
    sub_t x;
    sub_start(&x, task_id);
    ck_assert(sub_wait(&x, p_connected, 1, 8000));
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(g_base, &c), AGENTEX_OK);
    adk_content_t *initial = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_AGENT, "", &initial), AGENTEX_OK);
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(c, st, task_id, initial, &m), AGENTEX_OK);
    char msg_id[64];
    snprintf(msg_id, sizeof msg_id, "%s", adk_message_id(adk_streaming_message(m)));
    enum { N = 400, B = 100 };
    char *want = malloc(N * B + 1);
    for (int i = 0; i < N; i++) {
        char d[B + 1];
        memset(d, 'a' + i % 26, B);
        d[B] = '\0';
        memcpy(want + i * B, d, B);
        ck_assert_int_eq(adk_streaming_text(m, d), AGENTEX_OK);
    }
    want[N * B] = '\0';
    adk_message_t *done = NULL;
    ck_assert_int_eq(adk_streaming_close(m, &done), AGENTEX_OK);
    ck_assert_str_eq(adk_content_text(adk_message_content(done)), want);
    ck_assert_msg(sub_wait(&x, p_frames, 3, 8000), "frames missing");
    tp_sleep_ms(300);
    complete_task(task_id);
    sub_join(&x);
    cJSON *f[MAXF], *e[MAXF];
    int nf = streamed_frames(&x, msg_id, f, MAXF);
    int ne = redis_entries(task_id, e, MAXF);
    ck_assert_int_eq(nf, ne);
    size_t got = 0;
    for (int i = 0; i < nf; i++) {
        ck_assert(cJSON_Compare(f[i], e[i], true));
        if (!strcmp(ftype(f[i]), "delta")) {
            const char *t = ftext(f[i]);
            ck_assert_int_eq(strncmp(want + got, t, strlen(t)), 0);
            got += strlen(t);
        }
    }
    ck_assert_uint_eq(got, N * B);
    free_all(f, nf);
    free_all(e, ne);
    free(want);
    adk_message_free(done);
    adk_streaming_msg_free(m);
    adk_content_free(initial);
    agentex_client_free(c);
    sub_free(&x);
    adk_streamer_free(st);
}
END_TEST

/* bad --redis-url values: a one-line reason and exit status 2 */
START_TEST(redis_url_rejected)
{
    if (g_skip)
        return;
    const char *bad[] = {"http://127.0.0.1:6379", "redis://",          "redis://h:0",
                         "redis://h:x",           "redis://h:6379/db", "redis://user@h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {"--redis-url", bad[i], NULL};
        int efd;
        char line[512];
        pid_t pid = tp_dev_spawn(args, line, sizeof line, &efd);
        ck_assert_str_eq(line, "");
        char err[512];
        ssize_t n = read(efd, err, sizeof err - 1);
        close(efd);
        err[n > 0 ? n : 0] = '\0';
        int st = 0;
        waitpid(pid, &st, 0);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: status %d", bad[i], st);
        ck_assert_msg(strncmp(err, "agentex-dev: --redis-url: ", 26) == 0 && strstr(err, bad[i]),
                      "%s: stderr '%s'", bad[i], err);
    }
}
END_TEST

/* ======================================================================================
 * the agentex CLI: bad usage is found before any call (exit 2, one line on stderr)
 * ==================================================================================== */

typedef struct cli_out {
    int status;
    char err[1024];
    char out[1024];
} cli_out_t;

/* Runs $AGX_BUILD_DIR/bin/agentex --url http://127.0.0.1:9 args... (nothing listens). */
static void cli(cli_out_t *r, const char *const *args)
{
    char bin[600];
    snprintf(bin, sizeof bin, "%s/bin/agentex", tp_build_dir());
    const char *argv[16] = {bin};
    int n = 1;
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int o[2], e[2];
    ck_assert_int_eq(pipe(o), 0);
    ck_assert_int_eq(pipe(e), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        dup2(o[1], 1);
        dup2(e[1], 2);
        close(o[0]);
        close(e[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(o[1]);
    close(e[1]);
    memset(r, 0, sizeof *r);
    ssize_t k;
    size_t lo = 0, le = 0;
    for (;;) {
        k = read(e[0], r->err + le, sizeof r->err - 1 - le);
        if (k <= 0)
            break;
        le += (size_t)k;
    }
    for (;;) {
        k = read(o[0], r->out + lo, sizeof r->out - 1 - lo);
        if (k <= 0)
            break;
        lo += (size_t)k;
    }
    close(o[0]);
    close(e[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define CLI(r, ...)                                                                        \
    do {                                                                                   \
        const char *args_[] = {__VA_ARGS__, NULL};                                         \
        cli((r), args_);                                                                   \
    } while (0)

static void assert_usage(const cli_out_t *r, const char *line)
{
    ck_assert_msg(r->status == 2, "status %d, stderr '%s'", r->status, r->err);
    ck_assert_str_eq(r->err, line);
    ck_assert_str_eq(r->out, "");
}

START_TEST(cli_bad_usage)
{
    cli_out_t r;
    // --params must be exactly one JSON object: trailing text is not ignored
    CLI(&r, "--url", "http://127.0.0.1:9", "--agent", "a", "task", "create", "--params",
        "{\"a\":1} trailing");
    assert_usage(&r, "agentex: task create: --params must be a JSON object (agentex --help)\n");
    CLI(&r, "--url", "http://127.0.0.1:9", "--agent", "a", "task", "create", "--params", "{");
    assert_usage(&r, "agentex: task create: --params must be a JSON object (agentex --help)\n");
    // an option without its value says so
    CLI(&r, "messages", "t", "--url");
    assert_usage(&r, "agentex: messages: expected TASK_ID (agentex --help)\n");
    CLI(&r, "--url");
    assert_usage(&r, "agentex: --url needs a value (agentex --help)\n");
    CLI(&r, "--url", "http://127.0.0.1:9", "--agent");
    assert_usage(&r, "agentex: --agent needs a value (agentex --help)\n");
    CLI(&r, "--url", "http://127.0.0.1:9", "--agent", "a", "task", "create", "--name");
    assert_usage(&r, "agentex: task create: --name needs a value (agentex --help)\n");
    CLI(&r, "--url", "http://127.0.0.1:9", "--agent", "a", "task", "create", "--params");
    assert_usage(&r, "agentex: task create: --params needs a value (agentex --help)\n");
    CLI(&r, "--bogus");
    assert_usage(&r, "agentex: unknown option '--bogus' (agentex --help)\n");
    CLI(&r, "frobnicate");
    assert_usage(&r, "agentex: unknown command 'frobnicate' (agentex --help)\n");
    CLI(&r, "--url", "http://127.0.0.1:9");
    assert_usage(&r, "agentex: no command (agentex --help)\n");
}
END_TEST

/* watch: when the stream drops and comes back, messages completed meanwhile (the backend
 * does not replay them) are listed and printed, once. */
#define W_TASK_ID "t-watch"
#define W_TASK(st)                                                                         \
    "{\"id\":\"" W_TASK_ID "\",\"name\":null,\"status\":\"" st "\",\"status_reason\":null," \
    "\"created_at\":\"2026-03-01T09:05:00Z\",\"updated_at\":\"2026-03-01T09:05:00Z\"}"
#define W_MSG(id, text)                                                                    \
    "{\"id\":\"" id "\",\"task_id\":\"" W_TASK_ID "\",\"content\":{\"type\":\"text\","     \
    "\"author\":\"agent\",\"style\":\"static\",\"format\":\"plain\",\"content\":\"" text    \
    "\",\"attachments\":null},\"streaming_status\":\"DONE\",\"created_at\":"               \
    "\"2026-03-01T09:06:00Z\",\"updated_at\":\"2026-03-01T09:06:00Z\"}"
#define W_SSE                                                                              \
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"      \
    "data: {\"type\":\"connected\",\"taskId\":\"" W_TASK_ID "\"}\n\n"
START_TEST(cli_watch_lists_messages_missed_while_reconnecting)
{
    fake_backend_t *fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    fake_backend_push(fb, 200, W_TASK("RUNNING"));   // GET /tasks/t-watch
    fake_backend_push_raw(fb, W_SSE);                // the stream: connected, then dropped
    fake_backend_push(fb, 200, "[" W_MSG("m1", "before") "]"); // the history
    fake_backend_push_raw(fb, W_SSE "data: {\"type\":\"task_updated\",\"task\":" W_TASK("COMPLETED") "}\n\n");
    fake_backend_push(fb, 200, "[" W_MSG("m1", "before") "," W_MSG("m2", "meanwhile") "]");
    cli_out_t r;
    CLI(&r, "--url", fake_backend_url(fb), "watch", W_TASK_ID, "--timeout", "8");
    ck_assert_msg(r.status == 0, "status %d, stderr '%s'", r.status, r.err);
    ck_assert_str_eq(r.out, "agent: before\nagent: meanwhile\n-- task COMPLETED\n");
    fake_backend_stop(fb);
}
END_TEST

/* say: the reply may complete while the stream is reconnecting; it is found by listing
 * the messages after the reconnect (only messages newer than the send are replies). */
#define W_AGENT                                                                            \
    "{\"id\":\"ag1\",\"name\":\"a\",\"description\":\"d\",\"acp_type\":\"async\","           \
    "\"status\":\"Ready\",\"acp_url\":\"http://127.0.0.1:9\",\"created_at\":"              \
    "\"2026-03-01T09:00:00Z\",\"updated_at\":\"2026-03-01T09:00:00Z\"}"
#define W_EVENT_RESULT                                                                     \
    "{\"jsonrpc\":\"2.0\",\"result\":{\"id\":\"e1\",\"sequence_id\":7,\"task_id\":\""      \
    W_TASK_ID "\",\"agent_id\":\"ag1\",\"created_at\":\"2026-03-01T09:06:10Z\","           \
    "\"content\":{\"type\":\"text\",\"author\":\"user\",\"content\":\"hi\"}},"             \
    "\"error\":null,\"id\":1}"
START_TEST(cli_say_finds_reply_completed_while_reconnecting)
{
    fake_backend_t *fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    fake_backend_push(fb, 200, W_TASK("RUNNING"));                  // GET /tasks/t-watch
    fake_backend_push(fb, 200, W_AGENT);                            // GET /agents/name/a
    fake_backend_push_raw(fb, W_SSE);                               // connected, dropped
    fake_backend_push(fb, 200, "[" W_MSG("m1", "old") "]");         // before the send
    fake_backend_push(fb, 200, W_EVENT_RESULT);                     // event/send
    fake_backend_push_raw(fb, W_SSE);                               // reconnected
    fake_backend_push(fb, 200, "[" W_MSG("m1", "old") "," W_MSG("m2", "reply") "]");
    cli_out_t r;
    CLI(&r, "--url", fake_backend_url(fb), "--agent", "a", "say", W_TASK_ID, "hi", "--timeout",
        "8");
    ck_assert_msg(r.status == 0, "status %d, stderr '%s'", r.status, r.err);
    ck_assert_str_eq(r.out, "user: hi\nagent: reply\n");
    fake_backend_stop(fb);
}
END_TEST

/* chat: when the stream fails for good (here 404), the error line is printed and the
 * exit status is 1, not 0. */
START_TEST(cli_chat_stream_failure_exits_1)
{
    fake_backend_t *fb = fake_backend_start();
    ck_assert_ptr_nonnull(fb);
    fake_backend_push(fb, 200, W_TASK("RUNNING")); // GET /tasks/name/n
    fake_backend_push(fb, 404, "{\"detail\":\"no such stream\"}"); // the stream
    cli_out_t r;
    CLI(&r, "--url", fake_backend_url(fb), "--agent", "a", "chat", "n");
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strncmp(r.err, "agentex: chat: stream: not found", 32) == 0 &&
                      strchr(r.err, '\n') == r.err + strlen(r.err) - 1,
                  "stderr '%s'", r.err);
    ck_assert_str_eq(fake_backend_request(fb, 1)->path, "/tasks/" W_TASK_ID "/stream");
    fake_backend_stop(fb);
}
END_TEST

Suite *streaming_e2e_suite(void)
{
    Suite *s = suite_create("streaming_e2e");
    TCase *tc = tcase_create("redis_devserver");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, redis_per_token_exact);
    tcase_add_test(tc, redis_coalesced_exact);
    tcase_add_test(tc, websocket_matches_redis);
    tcase_add_test(tc, redis_terminal_task_replays_buffer);
    tcase_add_test(tc, redis_snapshot_before_connected);
    tcase_add_test(tc, redis_restart_relay_reconnects);
    tcase_add_test(tc, redis_large_message);
    tcase_add_test(tc, redis_websocket_subscriber);
    tcase_add_test(tc, relay_threads_follow_subscribers);
    tcase_add_test(tc, redis_url_rejected);
    suite_add_tcase(s, tc);
    TCase *tcli = tcase_create("cli");
    tcase_set_timeout(tcli, 10);
    tcase_add_test(tcli, cli_bad_usage);
    tcase_add_test(tcli, cli_watch_lists_messages_missed_while_reconnecting);
    tcase_add_test(tcli, cli_say_finds_reply_completed_while_reconnecting);
    tcase_add_test(tcli, cli_chat_stream_failure_exits_1);
    suite_add_tcase(s, tcli);
    return s;
}
