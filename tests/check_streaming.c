/*
 * tests/check_streaming.c - adk_streaming: publishing (Redis payloads byte for byte,
 * MAXLEN/EXPIRE, coalescing, the streamed-message lifecycle against the fake backend)
 * and subscribing (a scripted SSE stream: frames, accumulator, reconnect, terminal end).
 *
 * The Redis tests start their own redis-server on a free port (--save '' --appendonly
 * no) and stop it; they are skipped, with a message, when redis-server is not installed.
 */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentex/agentex.h"
#include "internal.h"
#include "stream_internal.h"
#include "support/fake_backend.h"
#include "support/proc.h"

Suite *streaming_suite(void);

#define TASK "b3e0f7d2-8c41-4a6e-9f15-2d7a9c3e5b81"
#define MSGID "66a1f0c2b9e4d83a17c5e902"
/* protocol 8.8: the message the backend answers POST /messages with */
#define M_POSTED                                                                                   \
    "{\"id\":\"" MSGID "\",\"task_id\":\"" TASK "\",\"content\":{\"type\":\"text\",\"author\":"    \
    "\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":\"\",\"attachments\":"     \
    "null},\"streaming_status\":\"IN_PROGRESS\",\"created_at\":\"2026-03-01T09:06:11.250000\","    \
    "\"updated_at\":\"2026-03-01T09:06:11.250000\"}"
/* the same as libagentex serialises it (timestamps normalised to UTC "Z") */
#define M_JSON                                                                                     \
    "{\"id\":\"" MSGID "\",\"task_id\":\"" TASK "\",\"content\":{\"type\":\"text\",\"author\":"    \
    "\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":\"\",\"attachments\":"     \
    "null},\"streaming_status\":\"IN_PROGRESS\",\"created_at\":\"2026-03-01T09:06:11.250000Z\","   \
    "\"updated_at\":\"2026-03-01T09:06:11.250000Z\"}"
#define C_EMPTY_MD                                                                                 \
    "{\"type\":\"text\",\"author\":\"agent\",\"style\":\"static\",\"format\":\"markdown\","        \
    "\"content\":\"\",\"attachments\":null}"
#define TAIL ",\"index\":null,\"parent_task_message\":" M_JSON
#define M_DONE                                                                                     \
    "{\"id\":\"" MSGID "\",\"task_id\":\"" TASK "\",\"content\":{\"type\":\"text\",\"author\":"    \
    "\"agent\",\"style\":\"static\",\"format\":\"markdown\",\"content\":\"Sunny, 21°C\","         \
    "\"attachments\":null},\"streaming_status\":\"DONE\",\"created_at\":"                          \
    "\"2026-03-01T09:06:11.250000\",\"updated_at\":\"2026-03-01T09:06:12.000000\"}"

/* ======================================================================================
 * redis-server fixture
 * ==================================================================================== */

static pid_t redis_pid;
static int redis_port;

/* false (test skipped) when redis-server is not installed */
static bool redis_up(void)
{
    if (!tp_redis_server_path()) {
        fprintf(stderr, "SKIP: redis-server is not installed; Redis streaming tests skipped\n");
        return false;
    }
    redis_port = tp_free_port();
    redis_pid = tp_redis_start(redis_port);
    return true;
}

static void redis_down(void)
{
    if (redis_pid > 0) {
        tp_stop(redis_pid);
        redis_pid = 0;
    }
}

static redisContext *rconn(void)
{
    redisContext *c = redisConnect("127.0.0.1", redis_port);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->err, 0);
    return c;
}

static long long rint_cmd(const char *cmd, const char *key)
{
    redisContext *c = rconn();
    redisReply *r = redisCommand(c, "%s %s", cmd, key);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* The "data" values of every entry of key, in order (caller frees with free_strs). */
static char **xrange(const char *key, size_t *n)
{
    redisContext *c = rconn();
    redisReply *r = redisCommand(c, "XRANGE %s - +", key);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    char **out = calloc(r->elements + 1, sizeof *out);
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = r->element[i];
        ck_assert_int_eq(e->elements, 2);
        redisReply *f = e->element[1];
        ck_assert_int_eq(f->elements, 2); // exactly one field
        ck_assert_str_eq(f->element[0]->str, "data");
        out[i] = strndup(f->element[1]->str, f->element[1]->len);
    }
    *n = r->elements;
    freeReplyObject(r);
    redisFree(c);
    return out;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static adk_streamer_t *redis_streamer(adk_stream_mode_t mode)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", redis_port);
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_redis(url, &s), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_mode(s, mode), AGENTEX_OK);
    return s;
}

static adk_message_t *message_from(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    adk_message_t *m = NULL;
    ck_assert_int_eq(adk_message_from_json(j, &m), AGENTEX_OK);
    cJSON_Delete(j);
    return m;
}

/* ======================================================================================
 * publishing: transport
 * ==================================================================================== */

START_TEST(test_streamer_publish_full_writes_protocol_entry)
{
    if (!redis_up())
        return;
    adk_streamer_t *s = redis_streamer(ADK_STREAM_MODE_COALESCED);
    adk_message_t *m = message_from(M_POSTED);
    ck_assert_int_eq(adk_streamer_publish_full(s, m), AGENTEX_OK);
    ck_assert_str_eq(adk_streamer_errmsg(s), "");
    size_t n = 0;
    char **e = xrange("task:" TASK, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(e[0], "{\"content\":" C_EMPTY_MD TAIL ",\"type\":\"full\"}");
    free_strs(e, n);
    long long ttl = rint_cmd("TTL", "task:" TASK);
    ck_assert_int_gt(ttl, 3500);
    ck_assert_int_le(ttl, 3600);
    adk_message_free(m);
    adk_streamer_free(s);
    redis_down();
}
END_TEST

/* A connection the server closed while idle (restart, CLIENT KILL, the server's timeout)
 * is noticed before the next publish and remade: that publish is not lost. */
START_TEST(test_streamer_redis_reconnects_after_server_closed_idle_connection)
{
    if (!redis_up())
        return;
    adk_streamer_t *s = redis_streamer(ADK_STREAM_MODE_COALESCED);
    adk_message_t *m = message_from(M_POSTED);
    ck_assert_int_eq(adk_streamer_publish_full(s, m), AGENTEX_OK);
    redisContext *c = rconn();
    redisReply *r = redisCommand(c, "CLIENT KILL TYPE normal SKIPME yes");
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    ck_assert_int_eq(r->integer, 1); // the streamer's connection
    freeReplyObject(r);
    redisFree(c);
    usleep(50000); // let the FIN arrive
    ck_assert_int_eq(adk_streamer_publish_full(s, m), AGENTEX_OK);
    ck_assert_str_eq(adk_streamer_errmsg(s), "");
    ck_assert_int_eq(rint_cmd("XLEN", "task:" TASK), 2);
    adk_message_free(m);
    adk_streamer_free(s);
    redis_down();
}
END_TEST

START_TEST(test_streamer_ttl_zero_skips_expire_and_maxlen_trims)
{
    if (!redis_up())
        return;
    adk_streamer_t *s = redis_streamer(ADK_STREAM_MODE_COALESCED);
    ck_assert_int_eq(adk_streamer_set_ttl_seconds(s, 0), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_maxlen(s, 10), AGENTEX_OK);
    cJSON *u = cJSON_Parse("{\"type\":\"done\",\"index\":null,\"parent_task_message\":"
                           "{\"id\":\"m1\",\"task_id\":\"t-trim\"}}");
    for (int i = 0; i < 400; i++)
        ck_assert_int_eq(adk_streamer_publish(s, u), AGENTEX_OK);
    ck_assert_int_eq(rint_cmd("TTL", "task:t-trim"), -1);
    long long len = rint_cmd("XLEN", "task:t-trim");
    ck_assert_int_ge(len, 10);
    ck_assert_int_lt(len, 400); // MAXLEN ~ trims whole nodes
    // maxlen 0: no MAXLEN at all
    ck_assert_int_eq(adk_streamer_set_maxlen(s, 0), AGENTEX_OK);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(u, "parent_task_message"), "task_id",
                              cJSON_CreateString("t-all"));
    for (int i = 0; i < 150; i++)
        ck_assert_int_eq(adk_streamer_publish(s, u), AGENTEX_OK);
    ck_assert_int_eq(rint_cmd("XLEN", "task:t-all"), 150);
    size_t n = 0;
    char **e = xrange("task:t-all", &n);
    ck_assert_str_eq(e[0], "{\"type\":\"done\",\"index\":null,\"parent_task_message\":"
                           "{\"id\":\"m1\",\"task_id\":\"t-all\"}}");
    free_strs(e, n);
    cJSON_Delete(u);
    adk_streamer_free(s);
    redis_down();
}
END_TEST

START_TEST(test_streamer_publish_needs_task_id)
{
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_redis("redis://127.0.0.1:1", &s), AGENTEX_OK);
    cJSON *u = cJSON_Parse("{\"type\":\"done\",\"parent_task_message\":{\"id\":\"x\"}}");
    ck_assert_int_eq(adk_streamer_publish(s, u), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_publish(s, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_publish(NULL, u), AGENTEX_EINVAL);
    cJSON_Delete(u);
    // nothing listens on port 1: a clear error, no crash
    u = cJSON_Parse("{\"type\":\"done\",\"parent_task_message\":{\"task_id\":\"t\"}}");
    ck_assert_int_eq(adk_streamer_publish(s, u), AGENTEX_ECONNECT);
    ck_assert_ptr_nonnull(strstr(adk_streamer_errmsg(s), "127.0.0.1:1"));
    cJSON_Delete(u);
    adk_streamer_free(s);
}
END_TEST

START_TEST(test_streamer_urls_and_setters)
{
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_redis("http://x", &s), AGENTEX_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(adk_streamer_new_redis("redis://", &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_new_redis("redis://h:99999", &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_new_redis("redis://h:12x", &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_new_redis("redis://h/x", &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_new_redis(NULL, &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_new_redis("redis://u:p@h:7000/3", &s), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_mode(s), ADK_STREAM_MODE_COALESCED);
    ck_assert_int_eq(adk_streamer_set_mode(s, (adk_stream_mode_t)7), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_set_maxlen(s, -1), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_set_ttl_seconds(s, -1), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_set_coalescing(s, 0, 1), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_set_coalescing(s, 1, 0), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_set_timeout_ms(s, 0), AGENTEX_EINVAL);
    adk_streamer_free(s);
    ck_assert_int_eq(adk_streamer_new_ws("ws://127.0.0.1:8080/stream/publish", &s), AGENTEX_OK);
    adk_streamer_free(s);
    ck_assert_int_eq(adk_streamer_new_ws("wss://h/x", &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streamer_new_ws("ws://u@h/x", &s), AGENTEX_EINVAL);
    adk_streamer_free(NULL);
    for (long n = 1; n < 6; n++) {
        agx_alloc_fail_after(n);
        agentex_err_t err = adk_streamer_new_redis("redis://u:p@h:7000/3", &s);
        agx_alloc_fail_after(0);
        ck_assert(err == AGENTEX_OK || err == AGENTEX_ENOMEM);
        if (err == AGENTEX_ENOMEM)
            ck_assert_ptr_null(s);
        adk_streamer_free(s);
    }
}
END_TEST

START_TEST(test_streamer_from_env)
{
    adk_streamer_t *s = NULL;
    unsetenv("REDIS_URL");
    unsetenv("AGENTEX_STREAM_WS_URL");
    setenv("AGENTEX_BASE_URL", "http://127.0.0.1:5003/", 1);
    setenv("AGENTEX_STREAMING_MODE", "per_token", 1);
    ck_assert_int_eq(adk_streamer_from_env(&s), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_mode(s), ADK_STREAM_MODE_PER_TOKEN);
    adk_streamer_free(s);
    setenv("AGENTEX_STREAMING_MODE", "sometimes", 1);
    ck_assert_int_eq(adk_streamer_from_env(&s), AGENTEX_EINVAL);
    unsetenv("AGENTEX_STREAMING_MODE");
    setenv("REDIS_URL", "redis://127.0.0.1:6390", 1);
    setenv("REDIS_STREAM_MAXLEN", "-5", 1);
    ck_assert_int_eq(adk_streamer_from_env(&s), AGENTEX_EINVAL);
    setenv("REDIS_STREAM_MAXLEN", "500", 1);
    ck_assert_int_eq(adk_streamer_from_env(&s), AGENTEX_OK);
    adk_streamer_free(s);
    setenv("REDIS_URL", "nonsense", 1);
    ck_assert_int_eq(adk_streamer_from_env(&s), AGENTEX_EINVAL);

    /* an https backend is a real deployment: Redis at localhost:6379, as the Python SDK */
    unsetenv("REDIS_URL");
    unsetenv("REDIS_STREAM_MAXLEN");
    setenv("AGENTEX_BASE_URL", "https://agentex.example.test", 1);
    ck_assert_int_eq(adk_streamer_from_env(&s), AGENTEX_OK);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(adk_streamer_set_timeout_ms(s, 500), AGENTEX_OK);
    cJSON *u = cJSON_Parse("{\"type\":\"full\",\"index\":null,\"parent_task_message\":"
                           "{\"id\":\"m\",\"task_id\":\"t\",\"content\":{\"type\":\"text\","
                           "\"author\":\"agent\",\"content\":\"x\"}},\"content\":{\"type\":"
                           "\"text\",\"author\":\"agent\",\"content\":\"x\"}}");
    ck_assert_ptr_nonnull(u);
    if (adk_streamer_publish(s, u) != AGENTEX_OK) /* unless a Redis happens to listen there */
        ck_assert_msg(strstr(adk_streamer_errmsg(s), "6379") != NULL, "errmsg: %s",
                      adk_streamer_errmsg(s));
    cJSON_Delete(u);
    adk_streamer_free(s);
}
END_TEST

/* ---- websocket transport against a minimal in-test websocket server ---- */

#include <pthread.h>

typedef struct wsrv {
    int lfd;
    int port;
    pthread_t th;
    agx_buf_t head;   /* the upgrade request */
    agx_buf_t frames; /* payloads, each followed by '\n' */
    int bad;          /* a frame that was not FIN+text+masked */
} wsrv_t;

static bool read_n(int fd, unsigned char *b, size_t n)
{
    while (n) {
        ssize_t r = recv(fd, b, n, 0);
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
    }
    return true;
}

static void *wsrv_main(void *arg)
{
    wsrv_t *w = arg;
    int fd = accept(w->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char c;
    while (recv(fd, &c, 1, 0) == 1) {
        agx_buf_append(&w->head, &c, 1);
        if (w->head.len >= 4 && memcmp(w->head.data + w->head.len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    const char *resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
    send(fd, resp, strlen(resp), MSG_NOSIGNAL);
    unsigned char h[2];
    while (read_n(fd, h, 2)) {
        if (h[0] != 0x81 || !(h[1] & 0x80))
            w->bad++;
        uint64_t len = h[1] & 0x7f;
        unsigned char ext[8];
        if (len == 126) {
            if (!read_n(fd, ext, 2))
                break;
            len = (uint64_t)ext[0] << 8 | ext[1];
        } else if (len == 127) {
            if (!read_n(fd, ext, 8))
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | ext[i];
        }
        unsigned char mk[4];
        if (!read_n(fd, mk, 4))
            break;
        unsigned char *pl = malloc(len + 1);
        if (!read_n(fd, pl, len)) {
            free(pl);
            break;
        }
        for (uint64_t i = 0; i < len; i++)
            pl[i] ^= mk[i & 3];
        agx_buf_append(&w->frames, pl, len);
        agx_buf_append(&w->frames, "\n", 1);
        free(pl);
    }
    close(fd);
    return NULL;
}

static void wsrv_start(wsrv_t *w)
{
    memset(w, 0, sizeof *w);
    w->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(w->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(w->lfd, 4), 0);
    ck_assert_int_eq(getsockname(w->lfd, (struct sockaddr *)&a, &len), 0);
    w->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&w->th, NULL, wsrv_main, w), 0);
}

START_TEST(test_streamer_ws_sends_one_text_frame_per_update)
{
    wsrv_t w;
    wsrv_start(&w);
    char url[80];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/stream/publish", w.port);
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_ws(url, &s), AGENTEX_OK);
    adk_message_t *m = message_from(M_POSTED);
    ck_assert_int_eq(adk_streamer_publish_full(s, m), AGENTEX_OK);
    // a 16-bit and a 64-bit payload length
    size_t sizes[2] = {300, 70000};
    agx_buf_t want;
    agx_buf_init(&want);
    agx_buf_puts(&want, "{\"content\":" C_EMPTY_MD TAIL ",\"type\":\"full\"}\n");
    for (int k = 0; k < 2; k++) {
        char *big = malloc(sizes[k] + 1);
        memset(big, 'z', sizes[k]);
        big[sizes[k]] = '\0';
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "type", "delta");
        cJSON *pm = cJSON_AddObjectToObject(u, "parent_task_message");
        cJSON_AddStringToObject(pm, "task_id", TASK);
        cJSON_AddStringToObject(u, "pad", big);
        ck_assert_int_eq(adk_streamer_publish(s, u), AGENTEX_OK);
        char *t = cJSON_PrintUnformatted(u);
        agx_buf_puts(&want, t);
        agx_buf_puts(&want, "\n");
        free(t);
        free(big);
        cJSON_Delete(u);
    }
    adk_streamer_free(s); // closes the connection: the server thread ends
    pthread_join(w.th, NULL);
    close(w.lfd);
    ck_assert_int_eq(w.bad, 0);
    ck_assert_ptr_nonnull(strstr(w.head.data, "GET /stream/publish HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(w.head.data, "Upgrade: websocket\r\n"));
    ck_assert_ptr_nonnull(strstr(w.head.data, "Sec-WebSocket-Version: 13\r\n"));
    ck_assert_uint_eq(w.frames.len, want.len);
    ck_assert_int_eq(memcmp(w.frames.data, want.data, want.len), 0);
    agx_buf_free(&want);
    agx_buf_free(&w.head);
    agx_buf_free(&w.frames);
    adk_message_free(m);
}
END_TEST

/* A server that talks back: after the first text frame it sends what `script` says
 * (raw bytes, in one write) and records what comes next on that connection; a second
 * connection (if any) is recorded apart. */
typedef struct wsrv2 {
    int lfd, port;
    pthread_t th;
    const unsigned char *script;
    size_t script_len;
    agx_buf_t conn1; /* "<opcode>:<payload>\n" after the script, on the first connection */
    agx_buf_t conn2; /* the same on a second connection */
} wsrv2_t;

/* One client frame as "<opcode>:<payload>\n"; false at end of stream. */
static bool ws_read_frame(int fd, agx_buf_t *out)
{
    unsigned char h[2], ext[8], mk[4] = {0, 0, 0, 0};
    if (!read_n(fd, h, 2))
        return false;
    uint64_t len = h[1] & 0x7f;
    if (len == 126) {
        if (!read_n(fd, ext, 2))
            return false;
        len = (uint64_t)ext[0] << 8 | ext[1];
    } else if (len == 127) {
        if (!read_n(fd, ext, 8))
            return false;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | ext[i];
    }
    if ((h[1] & 0x80) && !read_n(fd, mk, 4))
        return false;
    unsigned char *pl = malloc(len + 1);
    if (len && !read_n(fd, pl, len)) {
        free(pl);
        return false;
    }
    for (uint64_t i = 0; i < len; i++)
        pl[i] ^= mk[i & 3];
    agx_buf_printf(out, "%d:", h[0] & 0x0f);
    agx_buf_append(out, pl, len);
    agx_buf_append(out, "\n", 1);
    free(pl);
    return true;
}

static int wsrv2_accept(wsrv2_t *w)
{
    struct timeval tv = {3, 0};
    setsockopt(w->lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int fd = accept(w->lfd, NULL, NULL);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    size_t n = 0;
    char last[4] = {0};
    while (recv(fd, &c, 1, 0) == 1) {
        memmove(last, last + 1, 3);
        last[3] = c;
        if (++n >= 4 && memcmp(last, "\r\n\r\n", 4) == 0)
            break;
    }
    const char *resp = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n";
    send(fd, resp, strlen(resp), MSG_NOSIGNAL);
    return fd;
}

static void *wsrv2_main(void *arg)
{
    wsrv2_t *w = arg;
    int fd = wsrv2_accept(w);
    if (fd < 0)
        return NULL;
    agx_buf_t first;
    agx_buf_init(&first);
    if (ws_read_frame(fd, &first)) {
        send(fd, w->script, w->script_len, MSG_NOSIGNAL);
        // keep the connection open (a server waiting for the close reply); record
        while (ws_read_frame(fd, &w->conn1))
            ;
    }
    agx_buf_free(&first);
    int fd2 = wsrv2_accept(w);
    if (fd2 >= 0) {
        while (ws_read_frame(fd2, &w->conn2))
            ;
        close(fd2);
    }
    close(fd);
    return NULL;
}

static adk_streamer_t *wsrv2_start(wsrv2_t *w, const unsigned char *script, size_t len)
{
    memset(w, 0, sizeof *w);
    w->script = script;
    w->script_len = len;
    w->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    ck_assert_int_eq(bind(w->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(w->lfd, 4), 0);
    ck_assert_int_eq(getsockname(w->lfd, (struct sockaddr *)&a, &alen), 0);
    w->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&w->th, NULL, wsrv2_main, w), 0);
    char url[80];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/stream/publish", w->port);
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_ws(url, &s), AGENTEX_OK);
    return s;
}

static cJSON *tiny_update(const char *type)
{
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "type", type);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(u, "parent_task_message"), "task_id", "t");
    return u;
}

/* RFC 6455 5.5.2: a ping is answered with a pong carrying its payload. */
START_TEST(test_streamer_ws_answers_ping)
{
    static const unsigned char ping[] = {0x89, 2, 'h', 'i'};
    wsrv2_t w;
    adk_streamer_t *s = wsrv2_start(&w, ping, sizeof ping);
    cJSON *u1 = tiny_update("start"), *u2 = tiny_update("done");
    ck_assert_int_eq(adk_streamer_publish(s, u1), AGENTEX_OK);
    usleep(100000); // the ping arrives
    ck_assert_int_eq(adk_streamer_publish(s, u2), AGENTEX_OK);
    adk_streamer_free(s);
    pthread_join(w.th, NULL);
    close(w.lfd);
    ck_assert_str_eq(w.conn1.data ? w.conn1.data : "",
                     "10:hi\n1:{\"type\":\"done\",\"parent_task_message\":{\"task_id\":\"t\"}}\n");
    ck_assert_ptr_null(w.conn2.data);
    cJSON_Delete(u1);
    cJSON_Delete(u2);
    agx_buf_free(&w.conn1);
    agx_buf_free(&w.conn2);
}
END_TEST

/* A close frame behind another frame still means the server is going away: the next
 * update goes over a new connection, not into one the server no longer reads. */
START_TEST(test_streamer_ws_close_behind_ping_reconnects)
{
    static const unsigned char ping_close[] = {0x89, 0, 0x88, 2, 0x03, 0xe9};
    wsrv2_t w;
    adk_streamer_t *s = wsrv2_start(&w, ping_close, sizeof ping_close);
    cJSON *u1 = tiny_update("start"), *u2 = tiny_update("done");
    ck_assert_int_eq(adk_streamer_publish(s, u1), AGENTEX_OK);
    usleep(100000);
    ck_assert_int_eq(adk_streamer_publish(s, u2), AGENTEX_OK);
    adk_streamer_free(s);
    pthread_join(w.th, NULL);
    close(w.lfd);
    const char *c1 = w.conn1.data ? w.conn1.data : "";
    ck_assert_msg(strstr(c1, "1:{") == NULL, "update sent into the closing connection: %s", c1);
    ck_assert_str_eq(w.conn2.data ? w.conn2.data : "",
                     "1:{\"type\":\"done\",\"parent_task_message\":{\"task_id\":\"t\"}}\n");
    cJSON_Delete(u1);
    cJSON_Delete(u2);
    agx_buf_free(&w.conn1);
    agx_buf_free(&w.conn2);
}
END_TEST

START_TEST(test_streamer_ws_refused_upgrade)
{
    fake_backend_t *fb = fake_backend_start();
    char url[80];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/stream/publish", fake_backend_port(fb));
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_ws(url, &s), AGENTEX_OK);
    adk_message_t *m = message_from(M_POSTED);
    ck_assert_int_eq(adk_streamer_publish_full(s, m), AGENTEX_EPROTO);
    ck_assert_ptr_nonnull(strstr(adk_streamer_errmsg(s), "upgrade refused: HTTP/1.1 404"));
    adk_message_free(m);
    adk_streamer_free(s);
    fake_backend_stop(fb);
}
END_TEST

/* ======================================================================================
 * publishing: one streamed message (fake backend for REST, Redis for the stream)
 * ==================================================================================== */

typedef struct pubfix {
    fake_backend_t *fb;
    agentex_client_t *c;
    adk_streamer_t *s;   /* redis_pub_setup only */
    adk_content_t *init; /* redis_pub_setup only */
} pubfix_t;

static void pub_setup(pubfix_t *f)
{
    f->fb = fake_backend_start();
    ck_assert_ptr_nonnull(f->fb);
    ck_assert_int_eq(agentex_client_new(fake_backend_url(f->fb), &f->c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_agent_api_key(f->c, "k1"), AGENTEX_OK);
}

static void pub_teardown(pubfix_t *f)
{
    agentex_client_free(f->c);
    fake_backend_stop(f->fb);
}

static adk_content_t *md_text(const char *t)
{
    adk_content_t *c = NULL;
    ck_assert_int_eq(adk_content_text_new(ADK_AUTHOR_AGENT, t, &c), AGENTEX_OK);
    ck_assert_int_eq(adk_content_set_format(c, ADK_FORMAT_MARKDOWN), AGENTEX_OK);
    return c;
}

/* The Redis publishing tests: pub_setup, the backend's answers to POST and PUT /messages
 * queued, a streamer on the test's redis-server in mode, an empty markdown initial content. */
static void redis_pub_setup(pubfix_t *f, adk_stream_mode_t mode)
{
    pub_setup(f);
    fake_backend_push(f->fb, 200, M_POSTED);
    fake_backend_push(f->fb, 200, M_DONE);
    f->s = redis_streamer(mode);
    f->init = md_text("");
}

static void redis_pub_teardown(pubfix_t *f)
{
    adk_content_free(f->init);
    adk_streamer_free(f->s);
    pub_teardown(f);
    redis_down();
}

#define DELTA(d) "{\"delta\":" d TAIL ",\"type\":\"delta\"}"
#define TEXT_DELTA(t) DELTA("{\"text_delta\":\"" t "\",\"type\":\"text\"}")
#define START "{\"content\":" C_EMPTY_MD TAIL ",\"type\":\"start\"}"
#define DONE "{\"index\":null,\"parent_task_message\":" M_JSON ",\"type\":\"done\"}"

static void assert_entries(const char *const *want, size_t nwant)
{
    size_t n = 0;
    char **e = xrange("task:" TASK, &n);
    for (size_t i = 0; i < n && i < nwant; i++)
        ck_assert_msg(strcmp(e[i], want[i]) == 0, "entry %zu:\n got %s\nwant %s", i, e[i], want[i]);
    ck_assert_uint_eq(n, nwant);
    free_strs(e, n);
}

START_TEST(test_streaming_lifecycle_per_token)
{
    if (!redis_up())
        return;
    pubfix_t f;
    redis_pub_setup(&f, ADK_STREAM_MODE_PER_TOKEN);
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(f.c, f.s, TASK, f.init, &m), AGENTEX_OK);
    ck_assert_str_eq(adk_message_id(adk_streaming_message(m)), MSGID);
    ck_assert_int_eq(adk_streaming_text(m, "Sunny, "), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "21°C"), AGENTEX_OK);
    adk_message_t *final = NULL;
    ck_assert_int_eq(adk_streaming_close(m, &final), AGENTEX_OK);
    ck_assert_str_eq(adk_content_text(adk_message_content(final)), "Sunny, 21°C");
    ck_assert_int_eq(adk_streaming_publish_error(m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "late"), AGENTEX_ESTATE);
    ck_assert_int_eq(adk_streaming_close(m, NULL), AGENTEX_ESTATE);
    // REST: exactly POST then PUT (protocol 6.3 steps 1 and 4, vectors 8.8)
    ck_assert_uint_eq(fake_backend_count(f.fb), 2);
    const fake_request_t *r = fake_backend_request(f.fb, 0);
    ck_assert_str_eq(r->method, "POST");
    ck_assert_str_eq(r->path, "/messages");
    cJSON *body = cJSON_Parse(r->body);
    ck_assert_str_eq(cJSON_GetObjectItem(body, "task_id")->valuestring, TASK);
    ck_assert_str_eq(cJSON_GetObjectItem(body, "streaming_status")->valuestring, "IN_PROGRESS");
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(body, "content"), "format")->valuestring,
        "markdown");
    cJSON_Delete(body);
    r = fake_backend_request(f.fb, 1);
    ck_assert_str_eq(r->method, "PUT");
    ck_assert_str_eq(r->path, "/messages/" MSGID);
    body = cJSON_Parse(r->body);
    ck_assert_str_eq(cJSON_GetObjectItem(body, "task_id")->valuestring, TASK);
    ck_assert_str_eq(cJSON_GetObjectItem(body, "streaming_status")->valuestring, "DONE");
    cJSON *content = cJSON_GetObjectItem(body, "content");
    ck_assert_str_eq(cJSON_GetObjectItem(content, "content")->valuestring, "Sunny, 21°C");
    ck_assert_str_eq(cJSON_GetObjectItem(content, "format")->valuestring, "markdown");
    ck_assert_str_eq(cJSON_GetObjectItem(content, "author")->valuestring, "agent");
    cJSON_Delete(body);
    // Redis: start, one delta per token, done (protocol 8.12)
    const char *want[] = {START, TEXT_DELTA("Sunny, "), TEXT_DELTA("21°C"), DONE};
    assert_entries(want, 4);
    adk_message_free(final);
    adk_streaming_msg_free(m);
    redis_pub_teardown(&f);
}
END_TEST

START_TEST(test_streaming_coalesced_merges_per_channel)
{
    if (!redis_up())
        return;
    pubfix_t f;
    redis_pub_setup(&f, ADK_STREAM_MODE_COALESCED);
    // the timer never fires during the test: only the first delta, size and close flush
    ck_assert_int_eq(adk_streamer_set_coalescing(f.s, 600000, 128), AGENTEX_OK);
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(f.c, f.s, TASK, f.init, &m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_reasoning_summary(m, 0, "a"), AGENTEX_OK); // at once
    ck_assert_int_eq(adk_streaming_reasoning_summary(m, 0, "b"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_reasoning_summary(m, 0, "c"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_reasoning_summary(m, 1, "d"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_reasoning_content(m, 0, "e"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_reasoning_content(m, 0, "f"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_reasoning_summary(m, 1, "g"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "x"), AGENTEX_EINVAL); // one content type
    ck_assert_int_eq(rint_cmd("XLEN", "task:" TASK), 2);          // start + "a"
    adk_content_t *acc = NULL;
    ck_assert_int_eq(adk_streaming_content(m, &acc), AGENTEX_OK);
    ck_assert_int_eq(adk_content_type(acc), ADK_CONTENT_REASONING);
    ck_assert_uint_eq(adk_content_reasoning_summary_count(acc), 2);
    ck_assert_str_eq(adk_content_reasoning_summary_at(acc, 0), "abc");
    ck_assert_str_eq(adk_content_reasoning_summary_at(acc, 1), "dg");
    ck_assert_str_eq(adk_content_reasoning_content_at(acc, 0), "ef");
    adk_content_free(acc);
    ck_assert_int_eq(adk_streaming_close(m, NULL), AGENTEX_OK);
#define RS(t, i)                                                                                   \
    DELTA("{\"summary_delta\":\"" t "\",\"summary_index\":" i ",\"type\":\"reasoning_summary\"}")
#define RC(t, i)                                                                                   \
    DELTA("{\"content_delta\":\"" t "\",\"content_index\":" i ",\"type\":\"reasoning_content\"}")
    const char *want[] = {START,         RS("a", "0"), RS("bc", "0"), RS("d", "1"),
                          RC("ef", "0"), RS("g", "1"), DONE};
    assert_entries(want, 7);
    const fake_request_t *r = fake_backend_request(f.fb, 1);
    ck_assert_str_eq(r->method, "PUT");
    cJSON *body = cJSON_Parse(r->body);
    cJSON *content = cJSON_GetObjectItem(body, "content");
    ck_assert_str_eq(cJSON_GetObjectItem(content, "type")->valuestring, "reasoning");
    char *summary = cJSON_PrintUnformatted(cJSON_GetObjectItem(content, "summary"));
    ck_assert_str_eq(summary, "[\"abc\",\"dg\"]");
    free(summary);
    char *rcontent = cJSON_PrintUnformatted(cJSON_GetObjectItem(content, "content"));
    ck_assert_str_eq(rcontent, "[\"ef\"]");
    free(rcontent);
    cJSON_Delete(body);
    adk_streaming_msg_free(m);
    redis_pub_teardown(&f);
}
END_TEST

START_TEST(test_streaming_coalesced_flushes_by_size)
{
    if (!redis_up())
        return;
    pubfix_t f;
    redis_pub_setup(&f, ADK_STREAM_MODE_COALESCED);
    ck_assert_int_eq(adk_streamer_set_coalescing(f.s, 600000, 10), AGENTEX_OK);
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(f.c, f.s, TASK, f.init, &m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "x"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "12345"), AGENTEX_OK);
    ck_assert_int_eq(rint_cmd("XLEN", "task:" TASK), 2);
    ck_assert_int_eq(adk_streaming_text(m, "67890"), AGENTEX_OK); // 10 buffered: flush
    ck_assert_int_eq(rint_cmd("XLEN", "task:" TASK), 3);
    ck_assert_int_eq(adk_streaming_text(m, "ab"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_flush(m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "c"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_close(m, NULL), AGENTEX_OK);
    const char *want[] = {
        START, TEXT_DELTA("x"), TEXT_DELTA("1234567890"), TEXT_DELTA("ab"), TEXT_DELTA("c"), DONE};
    assert_entries(want, 6);
    cJSON *body = cJSON_Parse(fake_backend_request(f.fb, 1)->body);
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(body, "content"), "content")->valuestring,
        "x1234567890abc");
    cJSON_Delete(body);
    adk_streaming_msg_free(m);
    redis_pub_teardown(&f);
}
END_TEST

/* max_chars counts characters (protocol 6.4, the Python SDK's len()), not UTF-8 bytes. */
START_TEST(test_streaming_coalesced_size_counts_characters)
{
    if (!redis_up())
        return;
    pubfix_t f;
    redis_pub_setup(&f, ADK_STREAM_MODE_COALESCED);
    ck_assert_int_eq(adk_streamer_set_coalescing(f.s, 600000, 4), AGENTEX_OK);
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(f.c, f.s, TASK, f.init, &m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "x"), AGENTEX_OK);     // at once
    ck_assert_int_eq(adk_streaming_text(m, "°C"), AGENTEX_OK);    // 2 characters, 3 bytes
    ck_assert_int_eq(rint_cmd("XLEN", "task:" TASK), 2);
    ck_assert_int_eq(adk_streaming_text(m, "é"), AGENTEX_OK);     // 3 characters, 5 bytes
    ck_assert_int_eq(rint_cmd("XLEN", "task:" TASK), 2);
    ck_assert_int_eq(adk_streaming_text(m, "!"), AGENTEX_OK);     // 4 characters: flush
    ck_assert_int_eq(rint_cmd("XLEN", "task:" TASK), 3);
    ck_assert_int_eq(adk_streaming_close(m, NULL), AGENTEX_OK);
    const char *want[] = {START, TEXT_DELTA("x"), TEXT_DELTA("°Cé!"), DONE};
    assert_entries(want, 4);
    adk_streaming_msg_free(m);
    redis_pub_teardown(&f);
}
END_TEST

START_TEST(test_streaming_coalesced_timer_flushes)
{
    if (!redis_up())
        return;
    pubfix_t f;
    redis_pub_setup(&f, ADK_STREAM_MODE_COALESCED);
    ck_assert_int_eq(adk_streamer_set_coalescing(f.s, 20, 100000), AGENTEX_OK);
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(f.c, f.s, TASK, f.init, &m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_tool_request(m, "call_1", "get_weather", "{\"ci"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_tool_request(m, "call_1", "get_weather", "ty\":"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_tool_request(m, "call_1", "get_weather", "\"Paris\"}"),
                     AGENTEX_OK);
    // the buffered deltas go out without another call (no timing asserted: just "soon")
    long long len = 0;
    for (int i = 0; i < 300 && len < 3; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        len = rint_cmd("XLEN", "task:" TASK);
    }
    ck_assert_int_eq(len, 3);
    ck_assert_int_eq(adk_streaming_close(m, NULL), AGENTEX_OK);
#define TR(t)                                                                                      \
    DELTA("{\"arguments_delta\":\"" t "\",\"name\":\"get_weather\",\"tool_call_id\":\"call_1\","   \
          "\"type\":\"tool_request\"}")
    const char *want[] = {START, TR("{\\\"ci"), TR("ty\\\":\\\"Paris\\\"}"), DONE};
    assert_entries(want, 4);
    cJSON *body = cJSON_Parse(fake_backend_request(f.fb, 1)->body);
    char *args = cJSON_PrintUnformatted(
        cJSON_GetObjectItem(cJSON_GetObjectItem(body, "content"), "arguments"));
    ck_assert_str_eq(args, "{\"city\":\"Paris\"}");
    free(args);
    cJSON_Delete(body);
    adk_streaming_msg_free(m);
    redis_pub_teardown(&f);
}
END_TEST

START_TEST(test_streaming_mode_off_and_close_full)
{
    if (!redis_up())
        return;
    pubfix_t f;
    redis_pub_setup(&f, ADK_STREAM_MODE_OFF);
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(f.c, f.s, TASK, f.init, &m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "draft"), AGENTEX_OK);
    adk_content_t *full = md_text("Sunny, 21°C");
    ck_assert_int_eq(adk_streaming_close_full(m, full, NULL), AGENTEX_OK);
    const char *want[] = {
        START, "{\"content\":{\"type\":\"text\",\"author\":\"agent\",\"style\":\"static\","
               "\"format\":\"markdown\",\"content\":\"Sunny, 21°C\",\"attachments\":null}" TAIL
               ",\"type\":\"full\"}"};
    assert_entries(want, 2);
    cJSON *body = cJSON_Parse(fake_backend_request(f.fb, 1)->body);
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(body, "content"), "content")->valuestring,
        "Sunny, 21°C");
    cJSON_Delete(body);
    adk_content_free(full);
    adk_streaming_msg_free(m);
    redis_pub_teardown(&f);
}
END_TEST

START_TEST(test_streaming_publish_failure_keeps_message)
{
    pubfix_t f;
    pub_setup(&f);
    fake_backend_push(f.fb, 200, M_POSTED);
    fake_backend_push(f.fb, 200, M_DONE);
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_redis("redis://127.0.0.1:1", &s), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_mode(s, ADK_STREAM_MODE_PER_TOKEN), AGENTEX_OK);
    adk_content_t *init = md_text("");
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(f.c, s, TASK, init, &m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_publish_error(m), AGENTEX_ECONNECT);
    ck_assert_int_eq(adk_streaming_text(m, "Sunny, 21°C"), AGENTEX_OK);
    adk_message_t *final = NULL;
    ck_assert_int_eq(adk_streaming_close(m, &final), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(f.fb), 2);
    cJSON *body = cJSON_Parse(fake_backend_request(f.fb, 1)->body);
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(body, "content"), "content")->valuestring,
        "Sunny, 21°C");
    cJSON_Delete(body);
    adk_message_free(final);
    adk_content_free(init);
    adk_streaming_msg_free(m);
    adk_streamer_free(s);
    pub_teardown(&f);
}
END_TEST

START_TEST(test_streaming_open_post_failure)
{
    pubfix_t f;
    pub_setup(&f);
    fake_backend_push(f.fb, 500, "{\"message\":\"boom\",\"code\":500,\"data\":null}");
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_redis("redis://127.0.0.1:1", &s), AGENTEX_OK);
    adk_content_t *init = md_text("");
    adk_streaming_msg_t *m = (adk_streaming_msg_t *)&f;
    ck_assert_int_eq(adk_streaming_open(f.c, s, TASK, init, &m), AGENTEX_EHTTP);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(adk_streaming_open(NULL, s, TASK, init, &m), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streaming_open(f.c, s, NULL, init, &m), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streaming_text(NULL, "x"), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_streaming_close(NULL, NULL), AGENTEX_EINVAL);
    adk_streaming_msg_free(NULL);
    adk_content_free(init);
    adk_streamer_free(s);
    pub_teardown(&f);
}
END_TEST

/* ======================================================================================
 * accumulator
 * ==================================================================================== */

START_TEST(test_accum_rules)
{
    agx_accum_t a;
    agx_accum_init(&a);
    adk_content_t *c = NULL;
    ck_assert_int_eq(agx_accum_content(&a, NULL, &c), AGENTEX_EINVAL);
    cJSON *d = cJSON_Parse("{\"type\":\"data\",\"data_delta\":\"{\\\"a\\\":\"}");
    ck_assert_int_eq(agx_accum_add_json(&a, d), AGENTEX_OK);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"type\":\"data\",\"data_delta\":\"[1]}\"}");
    ck_assert_int_eq(agx_accum_add_json(&a, d), AGENTEX_OK);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"type\":\"text\",\"text_delta\":\"x\"}");
    ck_assert_int_eq(agx_accum_add_json(&a, d), AGENTEX_EPROTO); // another content type
    cJSON_Delete(d);
    d = cJSON_Parse("{\"type\":\"reasoning_summary\",\"summary_index\":-1}");
    ck_assert_int_eq(agx_accum_add_json(&a, d), AGENTEX_EPROTO);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"type\":\"nope\"}");
    ck_assert_int_eq(agx_accum_add_json(&a, d), AGENTEX_EPROTO);
    cJSON_Delete(d);
    ck_assert_int_eq(agx_accum_content(&a, NULL, &c), AGENTEX_OK);
    ck_assert_int_eq(adk_content_type(c), ADK_CONTENT_DATA);
    char *t = cJSON_PrintUnformatted(adk_content_data(c));
    ck_assert_str_eq(t, "{\"a\":[1]}");
    free(t);
    adk_content_free(c);
    agx_accum_free(&a);
    // tool response: concatenated string
    ck_assert_int_eq(agx_accum_add(&a, AGX_DELTA_TOOL_RESPONSE, "c1", "f", 0, "2", 1), AGENTEX_OK);
    ck_assert_int_eq(agx_accum_add(&a, AGX_DELTA_TOOL_RESPONSE, "c1", "f", 0, "1", 1), AGENTEX_OK);
    ck_assert_int_eq(agx_accum_add(&a, AGX_DELTA_TOOL_RESPONSE, NULL, "f", 0, "1", 1),
                     AGENTEX_EINVAL);
    ck_assert_int_eq(agx_accum_content(&a, NULL, &c), AGENTEX_OK);
    ck_assert_str_eq(cJSON_GetStringValue(adk_content_tool_result(c)), "21");
    ck_assert_str_eq(adk_content_tool_call_id(c), "c1");
    adk_content_free(c);
    agx_accum_free(&a);
}
END_TEST

/* ---- allocation failures: every allocation of a call, one at a time ---- */

START_TEST(test_streaming_enomem_never_leaks)
{
    pubfix_t f;
    pub_setup(&f);
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_new_redis("redis://127.0.0.1:1", &s), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_coalescing(s, 600000, 8), AGENTEX_OK);
    adk_content_t *init = md_text("");
    int ok_runs = 0;
    for (long n = 1; n < 400 && ok_runs < 3; n++) {
        fake_backend_reset(f.fb);
        fake_backend_push(f.fb, 200, M_POSTED);
        fake_backend_push(f.fb, 200, M_DONE);
        adk_streaming_msg_t *m = NULL;
        agx_alloc_fail_after(n);
        agentex_err_t err = adk_streaming_open(f.c, s, TASK, init, &m);
        bool all_ok = err == AGENTEX_OK;
        for (int i = 0; i < 6 && err == AGENTEX_OK; i++) {
            agentex_err_t e = adk_streaming_text(m, "word ");
            ck_assert(e == AGENTEX_OK || e == AGENTEX_ENOMEM);
            all_ok = all_ok && e == AGENTEX_OK;
        }
        if (err == AGENTEX_OK) {
            agentex_err_t e = adk_streaming_close(m, NULL);
            ck_assert_msg(e == AGENTEX_OK || e == AGENTEX_ENOMEM || e == AGENTEX_ECONNECT,
                          "close at %ld: %s", n, agentex_err_name(e));
            all_ok = all_ok && e == AGENTEX_OK;
        } else {
            ck_assert_msg(err == AGENTEX_ENOMEM || err == AGENTEX_ECONNECT, "open at %ld: %s", n,
                          agentex_err_name(err));
            ck_assert_ptr_null(m);
        }
        agx_alloc_fail_after(0);
        adk_streaming_msg_free(m);
        if (all_ok)
            ok_runs++;
    }
    ck_assert_int_ge(ok_runs, 1); // the loop got past the last allocation
    adk_content_free(init);
    adk_streamer_free(s);
    pub_teardown(&f);
}
END_TEST

START_TEST(test_accum_and_stream_new_enomem)
{
    for (long n = 1; n < 40; n++) {
        agx_accum_t a;
        agx_accum_init(&a);
        agx_alloc_fail_after(n);
        agentex_err_t e1 = agx_accum_add(&a, AGX_DELTA_REASONING_SUMMARY, NULL, NULL, 3, "ab", 2);
        agentex_err_t e2 = agx_accum_add(&a, AGX_DELTA_REASONING_CONTENT, NULL, NULL, 1, "c", 1);
        adk_content_t *c = NULL;
        agentex_err_t e3 = agx_accum_content(&a, NULL, &c);
        agx_alloc_fail_after(0);
        ck_assert(e1 == AGENTEX_OK || e1 == AGENTEX_ENOMEM);
        ck_assert(e2 == AGENTEX_OK || e2 == AGENTEX_ENOMEM);
        ck_assert(e3 == AGENTEX_OK || e3 == AGENTEX_ENOMEM);
        if (e3 != AGENTEX_OK)
            ck_assert_ptr_null(c);
        adk_content_free(c);
        agx_accum_free(&a);
        adk_stream_t *st = NULL;
        agx_alloc_fail_after(n);
        agentex_err_t e4 = adk_stream_new("http://127.0.0.1:1", "t 1", &st);
        agx_alloc_fail_after(0);
        ck_assert(e4 == AGENTEX_OK || e4 == AGENTEX_ENOMEM);
        if (e4 != AGENTEX_OK)
            ck_assert_ptr_null(st);
        adk_stream_free(st);
    }
}
END_TEST

/* ======================================================================================
 * subscribing (the fake backend replays raw SSE responses)
 * ==================================================================================== */

#define SSE_HEAD                                                                                   \
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"            \
    "Connection: close\r\n\r\n"
#define F_CONNECTED "data: {\"type\":\"connected\",\"taskId\":\"" TASK "\"}\n\n"
#define F_START                                                                                    \
    "data: {\"type\":\"start\",\"index\":null,\"parent_task_message\":" M_POSTED                   \
    ",\"content\":" C_EMPTY_MD "}\n\n"
#define F_DELTA(t)                                                                                 \
    "data: {\"type\":\"delta\",\"index\":null,\"parent_task_message\":" M_POSTED                   \
    ",\"delta\":{\"type\":\"text\",\"text_delta\":\"" t "\"}}\n\n"
#define F_DONE "data: {\"type\":\"done\",\"index\":null,\"parent_task_message\":" M_POSTED "}\n\n"
#define F_TASK(st)                                                                                 \
    "data: {\"type\":\"task_updated\",\"task\":{\"id\":\"" TASK "\",\"name\":null,"                \
    "\"status\":\"" st "\",\"status_reason\":\"answered\",\"created_at\":"                         \
    "\"2026-03-01T09:05:00.123456Z\",\"updated_at\":\"2026-03-01T09:05:00.123456Z\","              \
    "\"cleaned_at\":null,\"params\":null,\"task_metadata\":null}}\n\n"

typedef struct seen {
    agx_buf_t log;
} seen_t;

static void cb_connected(adk_stream_t *s, const char *task_id, void *ud)
{
    (void)s;
    agx_buf_printf(&((seen_t *)ud)->log, "connected(%s);", task_id);
}

static const char *KIND[] = {"start", "delta", "full", "done"};

static void cb_update(adk_stream_t *s, const adk_stream_update_t *u, void *ud)
{
    (void)s;
    const adk_content_t *c = adk_stream_update_content(u);
    const char *td = adk_stream_update_text_delta(u);
    agx_buf_printf(&((seen_t *)ud)->log, "%s(%s,%s,%s);", KIND[adk_stream_update_kind(u)],
                   adk_stream_update_message_id(u), td ? td : "-",
                   c && adk_content_text(c) ? adk_content_text(c) : "-");
}

static void cb_message(adk_stream_t *s, const adk_stream_update_t *u, void *ud)
{
    (void)s;
    agx_buf_printf(&((seen_t *)ud)->log, "message(%s);",
                   adk_content_text(adk_stream_update_content(u)));
}

static void cb_task(adk_stream_t *s, const adk_task_t *t, void *ud)
{
    (void)s;
    agx_buf_printf(&((seen_t *)ud)->log, "task(%s);", adk_task_status_text(t));
}

static void cb_error(adk_stream_t *s, agentex_err_t err, const char *msg, void *ud)
{
    (void)s;
    (void)msg;
    agx_buf_printf(&((seen_t *)ud)->log, "error(%s);", agentex_err_name(err));
}

static adk_stream_t *sub_new(fake_backend_t *fb, seen_t *seen)
{
    adk_stream_t *s = NULL;
    ck_assert_int_eq(adk_stream_new(fake_backend_url(fb), TASK, &s), AGENTEX_OK);
    adk_stream_on_connected(s, cb_connected, seen);
    adk_stream_on_update(s, cb_update, seen);
    adk_stream_on_message(s, cb_message, seen);
    adk_stream_on_task_updated(s, cb_task, seen);
    adk_stream_on_error(s, cb_error, seen);
    ck_assert_int_eq(adk_stream_set_reconnect(s, 3, 5, 20), AGENTEX_OK);
    return s;
}

/* Frees what a subscriber test made: the callbacks' log, the stream, the fake backend. */
static void sub_free(fake_backend_t *fb, adk_stream_t *s, seen_t *seen)
{
    agx_buf_free(&seen->log);
    adk_stream_free(s);
    fake_backend_stop(fb);
}

START_TEST(test_stream_frames_accumulate_and_end_on_terminal)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_raw(fb, SSE_HEAD F_CONNECTED F_START F_DELTA("Sunny, ") ":ping\n\n" F_DELTA(
                                  "21°C") F_DONE F_TASK("COMPLETED") F_DELTA("never seen"));
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_set_header(s, "x-agent-api-key", "k1"), AGENTEX_OK);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_OK);
    ck_assert_str_eq(seen.log.data,
                     "connected(" TASK ");start(" MSGID ",-,);delta(" MSGID ",Sunny, ,Sunny, );"
                     "delta(" MSGID ",21°C,Sunny, 21°C);done(" MSGID ",-,Sunny, 21°C);"
                     "message(Sunny, 21°C);task(COMPLETED);");
    ck_assert_int_eq(adk_stream_task_status(s), ADK_TASK_COMPLETED);
    ck_assert_uint_eq(fake_backend_count(fb), 1);
    const fake_request_t *r = fake_backend_request(fb, 0);
    ck_assert_str_eq(r->method, "GET");
    ck_assert_str_eq(r->path, "/tasks/" TASK "/stream");
    ck_assert_str_eq(fake_request_header(r, "accept"), "text/event-stream");
    ck_assert_str_eq(fake_request_header(r, "x-agent-api-key"), "k1");
    sub_free(fb, s, &seen);
}
END_TEST

START_TEST(test_stream_set_client_sends_its_credentials)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_raw(fb, SSE_HEAD F_CONNECTED F_TASK("COMPLETED"));
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(fake_backend_url(fb), &c), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_agent_api_key(c, "agent-key"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_sdk_api_key(c, "sdk-key"), AGENTEX_OK);
    ck_assert_int_eq(agentex_client_set_header(c, "x-team", "blue"), AGENTEX_OK);
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_set_client(NULL, c), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_stream_set_client(s, NULL), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_stream_set_client(s, c), AGENTEX_OK);
    agentex_client_free(c); /* copied: the stream does not need the client any more */
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_OK);
    ck_assert_uint_eq(fake_backend_count(fb), 1);
    const fake_request_t *r = fake_backend_request(fb, 0);
    ck_assert_str_eq(r->path, "/tasks/" TASK "/stream");
    ck_assert_str_eq(fake_request_header(r, "x-agent-api-key"), "agent-key");
    ck_assert_str_eq(fake_request_header(r, "authorization"), "Bearer sdk-key");
    ck_assert_str_eq(fake_request_header(r, "x-team"), "blue");
    ck_assert_str_eq(fake_request_header(r, "accept"), "text/event-stream");
    sub_free(fb, s, &seen);
}
END_TEST

START_TEST(test_stream_reconnects_after_drop)
{
    fake_backend_t *fb = fake_backend_start();
    // first connection drops mid-message (CRLF framing), second one finishes it
    fake_backend_push_raw(fb, SSE_HEAD "data: {\"type\":\"connected\",\"taskId\":\"" TASK
                                       "\"}\r\n\r\n" F_START F_DELTA("Sunny, "));
    fake_backend_push_close(fb);
    fake_backend_push_raw(fb, SSE_HEAD F_CONNECTED F_DELTA("21°C") F_DONE F_TASK("FAILED"));
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_OK);
    ck_assert_str_eq(seen.log.data,
                     "connected(" TASK ");start(" MSGID ",-,);delta(" MSGID ",Sunny, ,Sunny, );"
                     "error(AGENTEX_ECONNECT);error(AGENTEX_ECONNECT);"
                     "connected(" TASK ");delta(" MSGID ",21°C,Sunny, 21°C);"
                     "done(" MSGID ",-,Sunny, 21°C);message(Sunny, 21°C);task(FAILED);");
    ck_assert_uint_eq(fake_backend_count(fb), 3);
    ck_assert_int_eq(adk_stream_task_status(s), ADK_TASK_FAILED);
    sub_free(fb, s, &seen);
}
END_TEST

static void cb_error_msg(adk_stream_t *s, agentex_err_t err, const char *msg, void *ud)
{
    (void)s;
    agx_buf_printf(&((seen_t *)ud)->log, "%s:%s;", agentex_err_name(err), msg);
}

/* The error reported for a dropped silent connection says why it was dropped. */
START_TEST(test_stream_idle_drop_says_why)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_delayed(fb, 3000, 200, ""); // says nothing for 3 s
    fake_backend_push_raw(fb, SSE_HEAD F_CONNECTED F_TASK("TIMED_OUT"));
    seen_t seen = {0};
    adk_stream_t *s = NULL;
    ck_assert_int_eq(adk_stream_new(fake_backend_url(fb), TASK, &s), AGENTEX_OK);
    ck_assert_int_eq(adk_stream_set_reconnect(s, 3, 5, 20), AGENTEX_OK);
    ck_assert_int_eq(adk_stream_set_idle_timeout_ms(s, 200), AGENTEX_OK);
    adk_stream_on_error(s, cb_error_msg, &seen);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_OK);
    char want[300];
    snprintf(want, sizeof want,
             "AGENTEX_ECONNECT:GET %s/tasks/" TASK "/stream: nothing received for 200 ms;",
             fake_backend_url(fb));
    ck_assert_str_eq(seen.log.data, want);
    sub_free(fb, s, &seen);
}
END_TEST

START_TEST(test_stream_gives_up_after_attempts)
{
    fake_backend_t *fb = fake_backend_start();
    for (int i = 0; i < 4; i++)
        fake_backend_push_close(fb);
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_ECONNECT);
    ck_assert_uint_eq(fake_backend_count(fb), 4); // the first try and 3 reconnects
    ck_assert_str_ne(adk_stream_errmsg(s), "");
    sub_free(fb, s, &seen);
}
END_TEST

START_TEST(test_stream_silent_connection_is_reopened)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_delayed(fb, 3000, 200, ""); // says nothing for 3 s
    fake_backend_push_raw(fb, SSE_HEAD F_CONNECTED F_TASK("TIMED_OUT"));
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_set_idle_timeout_ms(s, 200), AGENTEX_OK);
    ck_assert_int_eq(adk_stream_set_idle_timeout_ms(s, 0), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_OK);
    ck_assert_str_eq(seen.log.data, "error(AGENTEX_ECONNECT);connected(" TASK ");task(TIMED_OUT);");
    ck_assert_uint_eq(fake_backend_count(fb), 2);
    sub_free(fb, s, &seen);
}
END_TEST

START_TEST(test_stream_http_errors_are_final)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push(fb, 404, "{\"message\":\"no task\",\"code\":404,\"data\":null}");
    fake_backend_push(fb, 401, "{\"detail\":\"Unauthorized\"}");
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(adk_stream_errmsg(s), "404"));
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_EAUTH);
    ck_assert_uint_eq(fake_backend_count(fb), 2);
    sub_free(fb, s, &seen);
}
END_TEST

START_TEST(test_stream_error_before_connected_is_final)
{
    /* the real backend's answer for an unknown task: HTTP 200, an error frame, a close */
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_raw(fb, SSE_HEAD "data: {\"type\":\"error\",\"message\":\"Task " TASK
                                       " not found\"}\n\n");
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_set_reconnect(s, -1, 5, 20), AGENTEX_OK);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_EPROTO);
    ck_assert_ptr_nonnull(strstr(adk_stream_errmsg(s), "refused the stream: Task " TASK " not found"));
    ck_assert_uint_eq(fake_backend_count(fb), 1); /* not retried */
    ck_assert_str_eq(seen.log.data, "error(AGENTEX_EPROTO);"); /* reported once */
    sub_free(fb, s, &seen);
}
END_TEST

START_TEST(test_stream_timeout_and_error_frame)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_raw(fb, SSE_HEAD F_CONNECTED
                          "data: {\"type\":\"error\",\"message\":\"redis down\"}\n\n"
                          "data: not json\n\n");
    // then every reconnect waits long: the run's timeout ends it
    for (int i = 0; i < 8; i++)
        fake_backend_push_delayed(fb, 3000, 200, "");
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_set_reconnect(s, -1, 5, 20), AGENTEX_OK);
    ck_assert_int_eq(adk_stream_run(s, 300), AGENTEX_ETIMEDOUT);
    ck_assert_ptr_nonnull(strstr(seen.log.data, "connected(" TASK ");error(AGENTEX_EPROTO);"
                                                "error(AGENTEX_EPROTO);"));
    sub_free(fb, s, &seen);
}
END_TEST

/* Frames of two messages interleave; a "full" ends one mid-stream; a delta of a message
 * whose start came before the subscription: each accumulates on its own (by parent id). */
#define M2 "{\"id\":\"m2\",\"task_id\":\"" TASK "\",\"content\":" C_EMPTY_MD ",\"streaming_status\":\"IN_PROGRESS\"}"
#define M3 "{\"id\":\"m3\",\"task_id\":\"" TASK "\",\"content\":" C_EMPTY_MD ",\"streaming_status\":\"IN_PROGRESS\"}"
#define F_DELTA_OF(m, t)                                                                           \
    "data: {\"type\":\"delta\",\"index\":null,\"parent_task_message\":" m                          \
    ",\"delta\":{\"type\":\"text\",\"text_delta\":\"" t "\"}}\n\n"
START_TEST(test_stream_interleaved_messages_and_full_mid_stream)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_raw(
        fb, SSE_HEAD F_CONNECTED F_DELTA_OF(M3, "late ") F_START F_DELTA("a")
        "data: {\"type\":\"start\",\"index\":null,\"parent_task_message\":" M2
        ",\"content\":" C_EMPTY_MD "}\n\n" F_DELTA_OF(M2, "x") F_DELTA("b") F_DELTA_OF(M3, "joiner")
        "data: {\"type\":\"full\",\"index\":null,\"parent_task_message\":" M_POSTED
        ",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":\"whole\"}}\n\n"
        F_DELTA_OF(M2, "y") "data: {\"type\":\"done\",\"index\":null,\"parent_task_message\":" M2
        "}\n\n" "data: {\"type\":\"done\",\"index\":null,\"parent_task_message\":" M3 "}\n\n"
        F_TASK("COMPLETED"));
    seen_t seen = {0};
    adk_stream_t *s = sub_new(fb, &seen);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_OK);
    ck_assert_str_eq(seen.log.data,
                     "connected(" TASK ");delta(m3,late ,late );start(" MSGID ",-,);"
                     "delta(" MSGID ",a,a);start(m2,-,);delta(m2,x,x);delta(" MSGID ",b,ab);"
                     "delta(m3,joiner,late joiner);full(" MSGID ",-,whole);message(whole);"
                     "delta(m2,y,xy);done(m2,-,xy);message(xy);done(m3,-,late joiner);"
                     "message(late joiner);task(COMPLETED);");
    sub_free(fb, s, &seen);
}
END_TEST

START_TEST(test_stream_full_frame_and_by_name)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_raw(
        fb, SSE_HEAD F_CONNECTED
        "data: {\"type\":\"full\",\"index\":null,\"parent_task_message\":" M_POSTED
        ",\"content\":{\"type\":\"text\",\"author\":\"agent\",\"content\":\"hi\"}}"
        "\n\n" F_TASK("CANCELED"));
    seen_t seen = {0};
    adk_stream_t *s = NULL;
    ck_assert_int_eq(adk_stream_new_by_name(fake_backend_url(fb), "my task", &s), AGENTEX_OK);
    adk_stream_on_update(s, cb_update, &seen);
    adk_stream_on_message(s, cb_message, &seen);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_OK);
    ck_assert_str_eq(seen.log.data, "full(" MSGID ",-,hi);message(hi);");
    ck_assert_str_eq(fake_backend_request(fb, 0)->path, "/tasks/name/my%20task/stream");
    sub_free(fb, s, &seen);
}
END_TEST

static void cb_stop_on_connect(adk_stream_t *s, const char *task_id, void *ud)
{
    (void)task_id;
    (void)ud;
    adk_stream_stop(s);
}

START_TEST(test_stream_stop_and_bad_args)
{
    fake_backend_t *fb = fake_backend_start();
    fake_backend_push_raw(fb, SSE_HEAD F_CONNECTED F_START);
    adk_stream_t *s = NULL;
    ck_assert_int_eq(adk_stream_new("ftp://x", TASK, &s), AGENTEX_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(adk_stream_new(fake_backend_url(fb), "", &s), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_stream_new(fake_backend_url(fb), TASK, &s), AGENTEX_OK);
    ck_assert_int_eq(adk_stream_set_header(s, "bad:name", "v"), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_stream_set_header(s, "x", "a\r\nb"), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_stream_set_reconnect(s, -2, 1, 1), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_stream_run(s, -1), AGENTEX_EINVAL);
    ck_assert_int_eq(adk_stream_run(NULL, 0), AGENTEX_EINVAL);
    adk_stream_on_connected(s, cb_stop_on_connect, NULL);
    ck_assert_int_eq(adk_stream_run(s, 5000), AGENTEX_ECANCELED);
    adk_stream_free(s);
    adk_stream_free(NULL);
    fake_backend_stop(fb);
}
END_TEST

/* ======================================================================================
 * end to end through agentex-dev: websocket publish in, SSE out
 * ==================================================================================== */

#include "client_internal.h"

typedef struct devproc {
    pid_t pid;
    char base[256];
} devproc_t;

static bool dev_start(devproc_t *d)
{
    const char *path = tp_dev_binary();
    if (access(path, X_OK) != 0) {
        fprintf(stderr, "SKIP: %s not built; agentex-dev streaming tests skipped\n", path);
        return false;
    }
    d->pid = tp_dev_start(NULL, d->base, sizeof d->base);
    return true;
}

static void dev_stop(devproc_t *d) { tp_stop(d->pid); }

typedef struct subthread {
    adk_stream_t *s;
    seen_t seen;
    pthread_mutex_t mu;
    agentex_err_t result;
    pthread_t th;
} subthread_t;

static void *sub_main(void *arg)
{
    subthread_t *t = arg;
    t->result = adk_stream_run(t->s, 8000);
    return NULL;
}

static void lcb_connected(adk_stream_t *s, const char *task_id, void *ud)
{
    subthread_t *t = ud;
    pthread_mutex_lock(&t->mu);
    cb_connected(s, task_id, &t->seen);
    pthread_mutex_unlock(&t->mu);
}

static void lcb_update(adk_stream_t *s, const adk_stream_update_t *u, void *ud)
{
    subthread_t *t = ud;
    pthread_mutex_lock(&t->mu);
    cb_update(s, u, &t->seen);
    pthread_mutex_unlock(&t->mu);
}

static void lcb_task(adk_stream_t *s, const adk_task_t *task, void *ud)
{
    subthread_t *t = ud;
    pthread_mutex_lock(&t->mu);
    cb_task(s, task, &t->seen);
    pthread_mutex_unlock(&t->mu);
}

static bool seen_has(subthread_t *t, const char *needle)
{
    pthread_mutex_lock(&t->mu);
    bool has = t->seen.log.data && strstr(t->seen.log.data, needle);
    pthread_mutex_unlock(&t->mu);
    return has;
}

START_TEST(test_devserver_ws_publish_reaches_sse_subscriber)
{
    devproc_t d;
    if (!dev_start(&d))
        return;
    agentex_client_t *c = NULL;
    ck_assert_int_eq(agentex_client_new(d.base, &c), AGENTEX_OK);
    // a sync agent: task/create makes the task without calling the agent
    cJSON *body = cJSON_Parse("{\"name\":\"s-agent\",\"description\":\"d\",\"acp_url\":"
                              "\"http://127.0.0.1:1\",\"acp_type\":\"sync\"}");
    cJSON *out = NULL;
    ck_assert_int_eq(agx_client_request(c, "POST", "/agents/register", NULL, body, &out),
                     AGENTEX_OK);
    cJSON_Delete(body);
    cJSON_Delete(out);
    body = cJSON_Parse("{\"jsonrpc\":\"2.0\",\"method\":\"task/create\",\"params\":"
                       "{\"name\":\"stream-task\"},\"id\":1}");
    ck_assert_int_eq(agx_client_request(c, "POST", "/agents/name/s-agent/rpc", NULL, body, &out),
                     AGENTEX_OK);
    cJSON_Delete(body);
    char task_id[64];
    const char *tid =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(out, "result"), "id"));
    ck_assert_ptr_nonnull(tid);
    snprintf(task_id, sizeof task_id, "%s", tid);
    cJSON_Delete(out);

    subthread_t t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.mu, NULL);
    ck_assert_int_eq(adk_stream_new(d.base, task_id, &t.s), AGENTEX_OK);
    adk_stream_on_connected(t.s, lcb_connected, &t);
    adk_stream_on_update(t.s, lcb_update, &t);
    adk_stream_on_task_updated(t.s, lcb_task, &t);
    ck_assert_int_eq(pthread_create(&t.th, NULL, sub_main, &t), 0);
    for (int i = 0; i < 500 && !seen_has(&t, "connected("); i++)
        usleep(10000);
    ck_assert(seen_has(&t, "connected("));

    // the transport agentex_streamer_from_env derives from AGENTEX_BASE_URL
    unsetenv("REDIS_URL");
    unsetenv("AGENTEX_STREAM_WS_URL");
    unsetenv("AGENTEX_STREAMING_MODE");
    setenv("AGENTEX_BASE_URL", d.base, 1);
    adk_streamer_t *s = NULL;
    ck_assert_int_eq(adk_streamer_from_env(&s), AGENTEX_OK);
    ck_assert_int_eq(adk_streamer_set_mode(s, ADK_STREAM_MODE_PER_TOKEN), AGENTEX_OK);
    adk_content_t *init = md_text("");
    adk_streaming_msg_t *m = NULL;
    ck_assert_int_eq(adk_streaming_open(c, s, task_id, init, &m), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "Sunny, "), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_text(m, "21C"), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_close(m, NULL), AGENTEX_OK);
    ck_assert_int_eq(adk_streaming_publish_error(m), AGENTEX_OK);
    char id[64];
    snprintf(id, sizeof id, "%s", adk_message_id(adk_streaming_message(m)));
    // start, the two deltas and done arrive in this order.  agentex-dev also publishes a
    // "full" frame for each POST/PUT /messages, which may interleave (it comes over another
    // connection), so only the order of our own frames is checked.
    char want[4][160];
    snprintf(want[0], sizeof want[0], "start(%s,-,", id);
    snprintf(want[1], sizeof want[1], "delta(%s,Sunny, ,", id);
    snprintf(want[2], sizeof want[2], "delta(%s,21C,", id);
    snprintf(want[3], sizeof want[3], "done(%s,", id);
    for (int i = 0; i < 500 && !seen_has(&t, want[3]); i++)
        usleep(10000);
    pthread_mutex_lock(&t.mu);
    const char *at = t.seen.log.data ? t.seen.log.data : "";
    for (int k = 0; k < 4; k++) {
        const char *hit = strstr(at, want[k]);
        ck_assert_msg(hit != NULL, "missing %s in order; subscriber saw: %s", want[k],
                      t.seen.log.data);
        at = hit + strlen(want[k]);
    }
    pthread_mutex_unlock(&t.mu);

    char path[256];
    snprintf(path, sizeof path, "/tasks/%s/complete", task_id);
    body = cJSON_Parse("{\"reason\":\"answered\"}");
    ck_assert_int_eq(agx_client_request(c, "POST", path, NULL, body, NULL), AGENTEX_OK);
    cJSON_Delete(body);
    pthread_join(t.th, NULL);
    ck_assert_int_eq(t.result, AGENTEX_OK);
    ck_assert(seen_has(&t, "task(COMPLETED);"));

    adk_content_free(init);
    adk_streaming_msg_free(m);
    adk_streamer_free(s);
    adk_stream_free(t.s);
    agx_buf_free(&t.seen.log);
    pthread_mutex_destroy(&t.mu);
    agentex_client_free(c);
    dev_stop(&d);
}
END_TEST

Suite *streaming_suite(void)
{
    Suite *s = suite_create("streaming");
    TCase *tr = tcase_create("transport");
    tcase_set_timeout(tr, 10);
    tcase_add_test(tr, test_streamer_publish_full_writes_protocol_entry);
    tcase_add_test(tr, test_streamer_ttl_zero_skips_expire_and_maxlen_trims);
    tcase_add_test(tr, test_streamer_redis_reconnects_after_server_closed_idle_connection);
    tcase_add_test(tr, test_streamer_publish_needs_task_id);
    tcase_add_test(tr, test_streamer_urls_and_setters);
    tcase_add_test(tr, test_streamer_from_env);
    tcase_add_test(tr, test_streamer_ws_sends_one_text_frame_per_update);
    tcase_add_test(tr, test_streamer_ws_refused_upgrade);
    tcase_add_test(tr, test_streamer_ws_answers_ping);
    tcase_add_test(tr, test_streamer_ws_close_behind_ping_reconnects);
    suite_add_tcase(s, tr);
    TCase *msg = tcase_create("message");
    tcase_set_timeout(msg, 10);
    tcase_add_test(msg, test_streaming_lifecycle_per_token);
    tcase_add_test(msg, test_streaming_coalesced_merges_per_channel);
    tcase_add_test(msg, test_streaming_coalesced_flushes_by_size);
    tcase_add_test(msg, test_streaming_coalesced_size_counts_characters);
    tcase_add_test(msg, test_streaming_coalesced_timer_flushes);
    tcase_add_test(msg, test_streaming_mode_off_and_close_full);
    tcase_add_test(msg, test_streaming_publish_failure_keeps_message);
    tcase_add_test(msg, test_streaming_open_post_failure);
    tcase_add_test(msg, test_accum_rules);
    tcase_add_test(msg, test_streaming_enomem_never_leaks);
    tcase_add_test(msg, test_accum_and_stream_new_enomem);
    suite_add_tcase(s, msg);
    TCase *sub = tcase_create("subscribe");
    tcase_set_timeout(sub, 10);
    tcase_add_test(sub, test_stream_frames_accumulate_and_end_on_terminal);
    tcase_add_test(sub, test_stream_set_client_sends_its_credentials);
    tcase_add_test(sub, test_stream_reconnects_after_drop);
    tcase_add_test(sub, test_stream_gives_up_after_attempts);
    tcase_add_test(sub, test_stream_http_errors_are_final);
    tcase_add_test(sub, test_stream_silent_connection_is_reopened);
    tcase_add_test(sub, test_stream_idle_drop_says_why);
    tcase_add_test(sub, test_stream_timeout_and_error_frame);
    tcase_add_test(sub, test_stream_error_before_connected_is_final);
    tcase_add_test(sub, test_stream_full_frame_and_by_name);
    tcase_add_test(sub, test_stream_interleaved_messages_and_full_mid_stream);
    tcase_add_test(sub, test_stream_stop_and_bad_args);
    suite_add_tcase(s, sub);
    TCase *dev = tcase_create("devserver");
    tcase_set_timeout(dev, 10);
    tcase_add_test(dev, test_devserver_ws_publish_reaches_sse_subscriber);
    suite_add_tcase(s, dev);
    return s;
}
