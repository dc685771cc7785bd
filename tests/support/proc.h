/*
 * tests/support/proc.h - shared fixture of the suites that run real processes
 * (agentex-dev, example agents, redis-server): free ports, spawning agentex-dev and
 * reading its listening line, starting redis-server, stopping a child (SIGTERM, wait,
 * SIGKILL), and a minimal raw-socket / websocket client.  Setup helpers assert with Check
 * (ck_assert*) only where a failure means the fixture could not be set up; the tests'
 * own assertions stay in the test bodies.
 */
#ifndef TEST_PROC_H
#define TEST_PROC_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* ---- time ---- */
long tp_now_ms(void);      /* CLOCK_MONOTONIC, milliseconds */
void tp_sleep_ms(long ms); /* nanosleep, restarted on EINTR */

/* ---- processes ---- */

/* $AGX_BUILD_DIR, or "build/asan" when unset or empty. */
const char *tp_build_dir(void);
/* $AGX_BUILD_DIR/bin/agentex-dev (static buffer). */
const char *tp_dev_binary(void);

/* A port on 127.0.0.1 that was free a moment ago (bind port 0, getsockname, close). */
int tp_free_port(void);

/* Reads one line (without its '\n', NUL-terminated, at most cap-1 bytes) from fd, waiting
 * at most timeout_ms in all.  0: a line (or cap-1 bytes), -1: EOF or read error before
 * the newline, -2: timed out.  line holds what was read in every case. */
int tp_read_line(int fd, char *line, size_t cap, long timeout_ms);

/* SIGTERM, wait up to 10 s, then SIGKILL.  Returns the exit status (128+signal when killed
 * by a signal), -1 when pid <= 0 or it cannot be waited for. */
int tp_stop(pid_t pid);

/* Runs args[0] (args NULL-terminated) with stdout and stderr both into out (NUL-terminated,
 * at most outlen-1 bytes kept), waits for it and returns its exit status (128 when a signal
 * ended it, 127 when it could not be executed). */
int tp_run(const char *const *args, char *out, size_t outlen);
/* Spawns agentex-dev --port 0 --log-level warn (debug when $AGX_DEV_LOG is set) followed by
 * extra (NULL-terminated, may be NULL) with stdout on a pipe, and reads its first stdout
 * line into line ("" when it exited without printing one; waits at most 10 s).  errfd:
 * non-NULL receives the read end of its stderr; NULL sends stderr to /dev/null (to the
 * test's stderr when $AGX_DEV_LOG is set).  Returns its pid. */
pid_t tp_dev_spawn(const char *const *extra, char *line, size_t cap, int *errfd);

/* tp_dev_spawn, then asserts the "agentex-dev listening on http://127.0.0.1:PORT" line and
 * copies the URL into base.  Returns its pid. */
pid_t tp_dev_start(const char *const *extra, char *base, size_t cap);

/* redis-server's path, NULL when it is not installed. */
const char *tp_redis_server_path(void);
/* true when redis-server on 127.0.0.1:port answers PING. */
bool tp_redis_ping(int port);
/* Starts redis-server (--save '' --appendonly no, output to /dev/null) on 127.0.0.1:port
 * and waits (up to 5 s) until it answers PING; aborts the test otherwise. */
pid_t tp_redis_start(int port);

/* ---- raw sockets and websockets ---- */

/* The port of a base URL "http://127.0.0.1:PORT". */
int tp_url_port(const char *base);
/* Connects to 127.0.0.1:port (receive timeout rcv_timeout_s), sends "GET path HTTP/1.1"
 * with a websocket upgrade when upgrade, reads the response head and copies its status
 * line into status_line.  Returns the socket. */
int tp_raw_get(int port, const char *path, bool upgrade, int rcv_timeout_s, char *status_line,
               size_t sl);
/* Reads exactly n bytes; false on EOF, error or timeout. */
bool tp_read_full(int fd, void *buf, size_t n);
/* Next websocket frame from the server (unmasked): its payload (malloc, NUL-terminated)
 * and opcode; NULL on EOF/timeout. */
char *tp_ws_recv(int fd, int *opcode);

/* ---- libcurl ---- */

/* A growing NUL-terminated response buffer; mu (optional) guards it against a reader in
 * another thread. */
typedef struct tp_buf {
    char *data;
    size_t len;
    pthread_mutex_t *mu;
} tp_buf_t;

/* CURLOPT_WRITEFUNCTION appending to a tp_buf_t (0, an error for curl, on ENOMEM). */
size_t tp_buf_write(char *p, size_t sz, size_t n, void *ud);

/* A response: status, body (never NULL), body parsed as JSON (NULL when it is not JSON),
 * Content-Type ("" when none). */
typedef struct tp_resp {
    long status;
    char *body;
    cJSON *json;
    char ctype[128];
} tp_resp_t;

/* One request method {base}{path} with Content-Type: application/json, the body when not
 * NULL and extra_header ("Name: value") when not NULL; asserts that a response came. */
tp_resp_t tp_request(const char *base, const char *method, const char *path, const char *body,
                     const char *extra_header, long timeout_ms);
void tp_resp_free(tp_resp_t *r);

#endif
