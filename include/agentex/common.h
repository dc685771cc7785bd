/*
 * agentex/common.h - export macros, error codes, memory and logging.
 *
 * Every public function of libagentex that can fail returns agentex_err_t.
 * AGENTEX_OK is 0, every other code is positive.  Codes are append-only:
 * a code is never renumbered or removed.  See agentex_errors(3).
 */
#ifndef AGENTEX_COMMON_H
#define AGENTEX_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define AGENTEX_API __attribute__((visibility("default")))
#define AGENTEX_NODISCARD __attribute__((warn_unused_result))
#define AGENTEX_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define AGENTEX_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define AGENTEX_API
#define AGENTEX_NODISCARD
#define AGENTEX_PRINTF(fmt, args)
#define AGENTEX_DEPRECATED(msg)
#endif

/* Error codes.  Append-only: never renumber, never remove. */
typedef enum agentex_err {
    AGENTEX_OK = 0,
    AGENTEX_EINVAL = 1,     /* an argument is invalid (NULL handle, bad enum, bad JSON shape) */
    AGENTEX_ENOMEM = 2,     /* out of memory */
    AGENTEX_ESTATE = 3,     /* call not allowed in the object's current state */
    AGENTEX_ETIMEDOUT = 4,  /* the operation timed out */
    AGENTEX_ECANCELED = 5,  /* the operation was canceled (shutdown, task/cancel) */
    AGENTEX_ECONNECT = 6,   /* backend unreachable: DNS, connect, TLS, connection reset */
    AGENTEX_EAUTH = 7,      /* HTTP 401 or 403: the key was refused */
    AGENTEX_ENOTFOUND = 8,  /* HTTP 404: no such object */
    AGENTEX_EHTTP = 9,      /* any other non-2xx HTTP status */
    AGENTEX_EPROTO = 10,    /* malformed or unexpected JSON / JSON-RPC / HTTP */
    AGENTEX_EIO = 11,       /* local I/O failure: bind, socket, file */
    AGENTEX_EINTERNAL = 12, /* a bug in libagentex or a dependency */
    AGENTEX_ERPC = 13,      /* the peer answered with a JSON-RPC error object */
    AGENTEX_ERR_LAST_ = 14  /* not an error: one past the last code */
} agentex_err_t;

/* A static English sentence for err; "unknown error" for an unknown code.  Never NULL.
 * Thread-safe. */
AGENTEX_API const char *agentex_strerror(agentex_err_t err);

/* The identifier of err, e.g. "AGENTEX_EAUTH"; "AGENTEX_UNKNOWN" for an unknown code.
 * Never NULL.  Thread-safe. */
AGENTEX_API const char *agentex_err_name(agentex_err_t err);

/* Frees a string or buffer that libagentex allocated and handed to the caller.
 * NULL is a no-op. */
AGENTEX_API void agentex_free(void *ptr);

/* Log levels, from the most to the least verbose. */
typedef enum agentex_log_level {
    AGENTEX_LOG_DEBUG = 0,
    AGENTEX_LOG_INFO = 1,
    AGENTEX_LOG_WARN = 2,
    AGENTEX_LOG_ERROR = 3,
    AGENTEX_LOG_OFF = 4
} agentex_log_level_t;

/* A log sink.  msg is one line without a trailing newline, valid during the call.
 * It may be called from any of the library's threads, concurrently. */
typedef void (*agentex_log_cb)(agentex_log_level_t level, const char *msg, void *userdata);

/*
 * Routes the library's diagnostics (and those of libwebsockets and libcurl) to cb,
 * for messages at min_level or above.  cb NULL silences the library (the default:
 * libagentex never writes to stdout or stderr on its own).  The level named by the
 * environment variable AGENTEX_LOG_LEVEL (debug, info, warn, error, off), when set,
 * overrides min_level.  Call it before any other libagentex call, if at all.
 */
AGENTEX_API void agentex_set_log_cb(agentex_log_level_t min_level, agentex_log_cb cb,
                                    void *userdata);

/* A ready-made log sink: writes "agentex LEVEL: msg\n" to stderr.  userdata unused. */
AGENTEX_API void agentex_log_stderr(agentex_log_level_t level, const char *msg, void *userdata);

/* Parses "debug", "info", "warn", "error", "off" (any case).  AGENTEX_EINVAL otherwise. */
AGENTEX_API AGENTEX_NODISCARD agentex_err_t agentex_log_level_parse(const char *name,
                                                                    agentex_log_level_t *out);

/* The version this library was built as: AGENTEX_VERSION_NUM and AGENTEX_VERSION_STRING.
 * Thread-safe. */
AGENTEX_API unsigned agentex_version(void);
AGENTEX_API const char *agentex_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
