/*
 * tools/stream_bench.c - streamed-message publishing throughput (driver of
 * bench/run_streaming.sh).
 *
 *   stream_bench --base-url URL --redis-url URL [--mode off|per_token|coalesced]
 *                [--deltas N] [--delta-bytes B]
 *
 * For each mode: creates a task on the backend at --base-url (agentex-dev), opens a
 * streamed message on it (adk_streaming_open over an adk_streamer_t on the Redis
 * transport), submits N text deltas of B bytes each, closes it (adk_streaming_close:
 * drains the coalescing buffer, XADDs "done", PUTs the final content), then verifies in
 * Redis that nothing was lost: XLEN equals the entries read, the entries are start,
 * deltas, done, and the concatenated delta texts equal the N deltas submitted (off: no
 * delta entry; the PUT content is checked in every mode).
 *
 * deltas/s = N / (time from the first adk_streaming_text call to the return of
 * adk_streaming_close), so every delta has reached Redis inside the measured time.
 * entries/s = XADDed entries of the message (start + delta entries + done) / same time.
 *
 * Prints one line per mode:
 *   mode=per_token deltas=N seconds=S deltas_per_s=D entries=E entries_per_s=X
 *   entry_bytes=AVG verified=ok
 * Exit status 0 when every mode verified, 1 otherwise, 2 on bad arguments.
 */
#include <curl/curl.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agentex/agentex.h"

static const char *g_base, *g_redis_url;
static char g_rhost[256] = "127.0.0.1";
static int g_rport = 6379;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct body {
    char *p;
    size_t n;
} body_t;

static size_t body_write(char *p, size_t sz, size_t n, void *ud)
{
    body_t *b = ud;
    char *np = realloc(b->p, b->n + sz * n + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, p, sz * n);
    b->p = np;
    b->n += sz * n;
    b->p[b->n] = '\0';
    return sz * n;
}

static cJSON *post(const char *path, const char *json)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    body_t b = {NULL, 0};
    struct curl_slist *hd = curl_slist_append(NULL, "content-type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    cJSON *j = NULL;
    if (rc == CURLE_OK && status == 200 && b.p)
        j = cJSON_Parse(b.p);
    else
        fprintf(stderr, "stream_bench: POST %s: %s %ld %s\n", path, curl_easy_strerror(rc), status,
                b.p ? b.p : "");
    free(b.p);
    return j;
}

/* A task of a sync agent (stored only): its id in out; -1 on failure. */
static int make_task(const char *name, char *out, size_t len)
{
    cJSON *j =
        post("/agents/register", "{\"name\":\"stream-bench\",\"description\":\"bench\","
                                 "\"acp_url\":\"http://127.0.0.1:9\",\"acp_type\":\"sync\"}");
    if (!j)
        return -1;
    cJSON_Delete(j);
    char body[256];
    snprintf(
        body, sizeof body,
        "{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"params\":{\"name\":\"%s\"},\"id\":1}",
        name);
    j = post("/agents/name/stream-bench/rpc", body);
    const char *id = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "result"), "id"));
    int rc = id ? 0 : -1;
    if (id)
        snprintf(out, len, "%s", id);
    cJSON_Delete(j);
    return rc;
}

static void delta_text(char *buf, size_t bytes, long i)
{
    /* "<i>:" then filler up to bytes, e.g. "17:xxxx" */
    int k = snprintf(buf, bytes + 1, "%ld:", i);
    for (size_t p = (size_t)k; p < bytes; p++)
        buf[p] = (char)('a' + (i + (long)p) % 26);
    buf[bytes > (size_t)k ? bytes : (size_t)k] = '\0';
}

/* Checks task:{id} in Redis; returns 0 when complete and in order. */
static int verify(const char *task_id, adk_stream_mode_t mode, long n, size_t bytes, long *entries,
                  double *avg_bytes)
{
    redisContext *c = redisConnect(g_rhost, g_rport);
    if (!c || c->err) {
        fprintf(stderr, "stream_bench: verify: cannot connect to Redis\n");
        if (c)
            redisFree(c);
        return -1;
    }
    int rc = -1;
    long xlen = -1, seen = 0, ndeltas = 0, next = 0;
    size_t total_bytes = 0, off = 0, tlen = 0;
    bool saw_start = false, saw_done = false, bad = false;
    char cursor[64] = "-";
    char *exp = malloc(bytes + 32);
    char *text = NULL; /* pending concatenated delta text not yet matched */
    redisReply *r = redisCommand(c, "XLEN task:%s", task_id);
    if (r && r->type == REDIS_REPLY_INTEGER)
        xlen = r->integer;
    if (r)
        freeReplyObject(r);
    for (;;) {
        r = redisCommand(c, "XRANGE task:%s %s + COUNT 1000", task_id, cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            bad = true;
            break;
        }
        size_t first = strcmp(cursor, "-") == 0 ? 0 : 1; /* the cursor entry is re-read */
        for (size_t i = first; i < r->elements && !bad; i++) {
            redisReply *e = r->element[i];
            snprintf(cursor, sizeof cursor, "%s", e->element[0]->str);
            redisReply *fv = e->element[1];
            if (fv->elements != 2 || strcmp(fv->element[0]->str, "data") != 0) {
                bad = true;
                break;
            }
            seen++;
            total_bytes += fv->element[1]->len;
            cJSON *j = cJSON_Parse(fv->element[1]->str);
            const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "type"));
            if (!type) {
                bad = true;
            } else if (!strcmp(type, "start")) {
                bad = saw_start || seen != 1;
                saw_start = true;
            } else if (!strcmp(type, "done")) {
                bad = !saw_start || saw_done;
                saw_done = true;
            } else if (!strcmp(type, "delta")) {
                ndeltas++;
                const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(j, "delta"), "text_delta"));
                bad = !t || saw_done || !saw_start;
                /* match the concatenation against the expected deltas, in order */
                size_t tl = t ? strlen(t) : 0;
                if (text && off) {
                    memmove(text, text + off, tlen - off);
                    tlen -= off;
                    off = 0;
                }
                char *nt = bad ? NULL : realloc(text, tlen + tl + 1);
                if (!nt) {
                    bad = true;
                } else {
                    memcpy(nt + tlen, t, tl);
                    tlen += tl;
                    nt[tlen] = '\0';
                    text = nt;
                    while (!bad && next < n) {
                        delta_text(exp, bytes, next);
                        size_t el = strlen(exp);
                        if (tlen - off < el)
                            break;
                        if (memcmp(text + off, exp, el) != 0)
                            bad = true;
                        off += el;
                        next++;
                    }
                }
            } else {
                bad = true;
            }
            cJSON_Delete(j);
        }
        size_t got = r->elements;
        freeReplyObject(r);
        if (bad || got <= first)
            break;
    }
    bool text_ok = mode == ADK_STREAM_MODE_OFF ? ndeltas == 0 : (next == n && off == tlen);
    if (mode == ADK_STREAM_MODE_PER_TOKEN && ndeltas != n)
        text_ok = false;
    if (!bad && saw_start && saw_done && text_ok && xlen == seen)
        rc = 0;
    else
        fprintf(stderr,
                "stream_bench: verify %s: entries %ld (XLEN %ld), delta entries %ld, deltas "
                "matched %ld of %ld, start %d, done %d, order %s\n",
                task_id, seen, xlen, ndeltas, next, n, saw_start, saw_done, bad ? "BAD" : "ok");
    *entries = seen;
    *avg_bytes = seen ? (double)total_bytes / (double)seen : 0;
    free(text);
    free(exp);
    redisFree(c);
    return rc;
}

static const char *mode_name(adk_stream_mode_t m)
{
    return m == ADK_STREAM_MODE_OFF         ? "off"
           : m == ADK_STREAM_MODE_PER_TOKEN ? "per_token"
                                            : "coalesced";
}

static int run_mode(adk_stream_mode_t mode, long n, size_t bytes)
{
    char name[96], task_id[64];
    snprintf(name, sizeof name, "bench-%s-%ld-%ld", mode_name(mode), (long)getpid(),
             (long)(now_s() * 1000) % 1000000);
    if (make_task(name, task_id, sizeof task_id))
        return -1;
    int rc = -1;
    agentex_client_t *c = NULL;
    adk_streamer_t *st = NULL;
    adk_content_t *initial = NULL;
    adk_streaming_msg_t *m = NULL;
    adk_message_t *done = NULL;
    char *expect = NULL;
    char *dt = malloc(bytes + 32);
    if (!dt || agentex_client_new(g_base, &c) != AGENTEX_OK ||
        adk_streamer_new_redis(g_redis_url, &st) != AGENTEX_OK ||
        adk_streamer_set_mode(st, mode) != AGENTEX_OK ||
        /* MAXLEN ~ kept in the command (same cost) but above N: nothing is trimmed */
        adk_streamer_set_maxlen(st, n + 1000) != AGENTEX_OK ||
        adk_content_text_new(ADK_AUTHOR_AGENT, "", &initial) != AGENTEX_OK)
        goto out;
    if (adk_streaming_open(c, st, task_id, initial, &m) != AGENTEX_OK) {
        fprintf(stderr, "stream_bench: open: %s\n", adk_streamer_errmsg(st));
        goto out;
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        delta_text(dt, bytes, i);
        if (adk_streaming_text(m, dt) != AGENTEX_OK) {
            fprintf(stderr, "stream_bench: delta %ld failed: %s\n", i, adk_streamer_errmsg(st));
            goto out;
        }
    }
    agentex_err_t err = adk_streaming_close(m, &done);
    if (err != AGENTEX_OK) {
        fprintf(stderr, "stream_bench: close failed: %s\n", agentex_strerror(err));
        goto out;
    }
    double secs = now_s() - t0;
    if (adk_streaming_publish_error(m) != AGENTEX_OK) {
        fprintf(stderr, "stream_bench: a publish failed: %s\n", adk_streamer_errmsg(st));
        goto out;
    }
    /* the stored content is the whole text */
    size_t exp_len = 0;
    expect = malloc((size_t)n * (bytes + 24) + 1);
    if (!expect)
        goto out;
    for (long i = 0; i < n; i++) {
        delta_text(dt, bytes, i);
        size_t l = strlen(dt);
        memcpy(expect + exp_len, dt, l);
        exp_len += l;
    }
    expect[exp_len] = '\0';
    const char *stored = adk_content_text(adk_message_content(done));
    if (!stored || strcmp(stored, expect) != 0) {
        fprintf(stderr, "stream_bench: %s: the stored content differs\n", mode_name(mode));
        goto out;
    }
    long entries = 0;
    double avg = 0;
    if (verify(task_id, mode, n, bytes, &entries, &avg) != 0)
        goto out;
    printf("mode=%s deltas=%ld seconds=%.4f deltas_per_s=%.0f entries=%ld entries_per_s=%.0f "
           "entry_bytes=%.0f verified=ok\n",
           mode_name(mode), n, secs, (double)n / secs, entries, (double)entries / secs, avg);
    fflush(stdout);
    rc = 0;
out:
    free(expect);
    free(dt);
    adk_message_free(done);
    adk_streaming_msg_free(m);
    adk_content_free(initial);
    adk_streamer_free(st);
    agentex_client_free(c);
    return rc;
}

static void usage(FILE *f)
{
    fputs(
        "usage: stream_bench --base-url URL --redis-url redis://HOST:PORT\n"
        "                    [--mode off|per_token|coalesced|all] [--deltas N] [--delta-bytes B]\n",
        f);
}

int main(int argc, char **argv)
{
    const char *mode = "all";
    long n = 20000, bytes = 6;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        char *end = NULL;
        errno = 0;
        if (!strcmp(a, "--base-url"))
            g_base = v;
        else if (!strcmp(a, "--redis-url"))
            g_redis_url = v;
        else if (!strcmp(a, "--mode"))
            mode = v;
        else if (!strcmp(a, "--deltas") && (n = strtol(v, &end, 10), !*end && !errno && n > 0))
            ;
        else if (!strcmp(a, "--delta-bytes") &&
                 (bytes = strtol(v, &end, 10), !*end && !errno && bytes > 0 && bytes <= 4096))
            ;
        else {
            fprintf(stderr, "stream_bench: bad argument %s %s\n", a, v);
            return 2;
        }
    }
    if (!g_base || !g_redis_url || strncmp(g_redis_url, "redis://", 8) != 0) {
        usage(stderr);
        return 2;
    }
    /* host and port of the Redis URL (no userinfo in the bench) */
    const char *hp = g_redis_url + 8;
    size_t hl = strcspn(hp, ":/");
    if (hl == 0 || hl >= sizeof g_rhost) {
        usage(stderr);
        return 2;
    }
    memcpy(g_rhost, hp, hl);
    g_rhost[hl] = '\0';
    if (hp[hl] == ':')
        g_rport = (int)strtol(hp + hl + 1, NULL, 10);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int status = 0;
    static const adk_stream_mode_t all[] = {ADK_STREAM_MODE_OFF, ADK_STREAM_MODE_PER_TOKEN,
                                            ADK_STREAM_MODE_COALESCED};
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(mode, "all") || !strcmp(mode, mode_name(all[i])))
            if (run_mode(all[i], n, (size_t)bytes) != 0) {
                printf("mode=%s verified=FAILED\n", mode_name(all[i]));
                status = 1;
            }
    curl_global_cleanup();
    return status;
}
