/*
 * tests/support/proc.c - see proc.h.
 */
#include "support/proc.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- time ---- */

long tp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void tp_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- processes ---- */

const char *tp_build_dir(void)
{
    const char *dir = getenv("AGX_BUILD_DIR");
    return dir && *dir ? dir : "build/asan";
}

const char *tp_dev_binary(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/bin/agentex-dev", tp_build_dir());
    return path;
}

int tp_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

int tp_read_line(int fd, char *line, size_t cap, long timeout_ms)
{
    size_t len = 0;
    int rc = 0;
    long end = tp_now_ms() + timeout_ms;
    while (len < cap - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long left = end - tp_now_ms();
        if (left <= 0) {
            rc = -2;
            break;
        }
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            rc = -2;
            break;
        }
        if (r < 0 || read(fd, line + len, 1) != 1) {
            rc = -1;
            break;
        }
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    return rc;
}

int tp_stop(pid_t pid)
{
    if (pid <= 0)
        return -1;
    int status = 0;
    kill(pid, SIGTERM);
    long end = tp_now_ms() + 10000;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return -1;
        if (tp_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        tp_sleep_ms(10);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tp_run(const char *const *args, char *out, size_t outlen)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    ck_assert_int_ge(pid, 0);
    close(fds[1]);
    size_t len = 0;
    ssize_t k;
    char sink[4096];
    /* read to the end, keeping what fits: a child must never block on a full pipe */
    while ((k = read(fds[0], len + 1 < outlen ? out + len : sink,
                     len + 1 < outlen ? outlen - 1 - len : sizeof sink)) != 0) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        if (len + 1 < outlen)
            len += (size_t)k;
    }
    out[len] = '\0';
    close(fds[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

pid_t tp_dev_spawn(const char *const *extra, char *line, size_t cap, int *errfd)
{
    int fds[2], efds[2] = {-1, -1};
    ck_assert_int_eq(pipe(fds), 0);
    if (errfd)
        ck_assert_int_eq(pipe(efds), 0);
    const char *argv[32];
    int n = 0;
    argv[n++] = tp_dev_binary();
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--log-level";
    argv[n++] = getenv("AGX_DEV_LOG") ? "debug" : "warn";
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        if (errfd) {
            dup2(efds[1], 2);
            close(efds[0]);
            close(efds[1]);
        } else if (!getenv("AGX_DEV_LOG")) {
            int nul = open("/dev/null", O_WRONLY);
            if (nul >= 0)
                dup2(nul, 2);
        }
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    tp_read_line(fds[0], line, cap, 10000);
    close(fds[0]);
    if (errfd) {
        close(efds[1]);
        *errfd = efds[0];
    }
    return pid;
}

pid_t tp_dev_start(const char *const *extra, char *base, size_t cap)
{
    char line[512];
    pid_t pid = tp_dev_spawn(extra, line, sizeof line, NULL);
    const char *prefix = "agentex-dev listening on ";
    ck_assert_msg(strncmp(line, prefix, strlen(prefix)) == 0, "listening line: '%s'", line);
    snprintf(base, cap, "%s", line + strlen(prefix));
    ck_assert_msg(strncmp(base, "http://127.0.0.1:", 17) == 0, "%s", base);
    return pid;
}

const char *tp_redis_server_path(void)
{
    static const char *const paths[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
                                        "/usr/sbin/redis-server"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

bool tp_redis_ping(int port)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    bool ok = false;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

pid_t tp_redis_start(int port)
{
    const char *path = tp_redis_server_path();
    ck_assert_ptr_nonnull(path);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 1);
        dup2(nul, 2);
        execl(path, "redis-server", "--port", port_s, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
        if (tp_redis_ping(port))
            return pid;
        tp_sleep_ms(20);
    }
    ck_abort_msg("redis-server did not start on port %d", port);
    return pid;
}

/* ---- raw sockets and websockets ---- */

int tp_url_port(const char *base) { return (int)strtol(strrchr(base, ':') + 1, NULL, 10); }

int tp_raw_get(int port, const char *path, bool upgrade, int rcv_timeout_s, char *status_line,
               size_t sl)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = rcv_timeout_s};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req_text[1024];
    int n =
        snprintf(req_text, sizeof req_text, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", path,
                 upgrade ? "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                           "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                         : "");
    ck_assert_int_eq(write(fd, req_text, (size_t)n), n);
    char head[2048];
    size_t len = 0;
    while (len < sizeof head - 1 && read(fd, head + len, 1) == 1) {
        len++;
        if (len >= 4 && !memcmp(head + len - 4, "\r\n\r\n", 4))
            break;
    }
    head[len] = '\0';
    char *eol = strstr(head, "\r\n");
    if (eol)
        *eol = '\0';
    snprintf(status_line, sl, "%s", head);
    return fd;
}

bool tp_read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k <= 0)
            return false;
        got += (size_t)k;
    }
    return true;
}

char *tp_ws_recv(int fd, int *opcode)
{
    unsigned char h[2];
    if (!tp_read_full(fd, h, 2))
        return NULL;
    *opcode = h[0] & 0x0f;
    uint64_t len = h[1] & 0x7f;
    if (len >= 126) {
        unsigned char e[8];
        int k = len == 126 ? 2 : 8;
        if (!tp_read_full(fd, e, (size_t)k))
            return NULL;
        len = 0;
        for (int i = 0; i < k; i++)
            len = (len << 8) | e[i];
    }
    char *p = malloc(len + 1);
    if (!tp_read_full(fd, p, (size_t)len)) {
        free(p);
        return NULL;
    }
    p[len] = '\0';
    return p;
}

/* ---- libcurl ---- */

size_t tp_buf_write(char *p, size_t sz, size_t n, void *ud)
{
    tp_buf_t *b = ud;
    size_t len = sz * n;
    if (b->mu)
        pthread_mutex_lock(b->mu);
    char *nd = realloc(b->data, b->len + len + 1);
    if (nd) {
        memcpy(nd + b->len, p, len);
        b->len += len;
        nd[b->len] = '\0';
        b->data = nd;
    }
    if (b->mu)
        pthread_mutex_unlock(b->mu);
    return nd ? len : 0;
}

tp_resp_t tp_request(const char *base, const char *method, const char *path, const char *body,
                     const char *extra_header, long timeout_ms)
{
    tp_resp_t r = {0};
    char url[1024];
    snprintf(url, sizeof url, "%s%s", base, path);
    CURL *c = curl_easy_init();
    tp_buf_t b = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (extra_header)
        h = curl_slist_append(h, extra_header);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tp_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode cc = curl_easy_perform(c);
    ck_assert_msg(cc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(r.ctype, sizeof r.ctype, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    r.body = b.data ? b.data : strdup("");
    r.json = cJSON_Parse(r.body);
    return r;
}

void tp_resp_free(tp_resp_t *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}
