/*
 * devserver/util.c - ids, clocks, JSON and HTTP helpers, content validation, jobs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "dev.h"

/* ---- ids and clocks ----------------------------------------------------------------- */

static void fill_random(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(buf + got, n - got, 0);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            /* fall back to a weak source; ids only need to be unique */
            for (; got < n; got++)
                buf[got] = (unsigned char)(random() & 0xff);
            return;
        }
        got += (size_t)k;
    }
}

static const char HEX[] = "0123456789abcdef";

void dev_hex_random(char *out, size_t nbytes)
{
    unsigned char buf[64];
    if (nbytes > sizeof buf)
        nbytes = sizeof buf;
    fill_random(buf, nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = HEX[buf[i] >> 4];
        out[2 * i + 1] = HEX[buf[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

void dev_uuid4(char out[37])
{
    unsigned char b[16];
    fill_random(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = HEX[b[i] >> 4];
        out[o++] = HEX[b[i] & 15];
    }
    out[o] = '\0';
}

/* Mongo-style ObjectId: 4-byte seconds, 5 random bytes (per process), 3-byte counter. */
void dev_object_id(char out[25])
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static unsigned char proc[5];
    static uint32_t counter;
    static bool init;
    pthread_mutex_lock(&mu);
    if (!init) {
        unsigned char c[3];
        fill_random(proc, sizeof proc);
        fill_random(c, sizeof c);
        counter = ((uint32_t)c[0] << 16) | ((uint32_t)c[1] << 8) | c[2];
        init = true;
    }
    uint32_t cnt = counter++ & 0xffffff;
    pthread_mutex_unlock(&mu);
    uint32_t secs = (uint32_t)(agx_now_us() / 1000000);
    unsigned char b[12] = {(unsigned char)(secs >> 24),
                           (unsigned char)(secs >> 16),
                           (unsigned char)(secs >> 8),
                           (unsigned char)secs,
                           proc[0],
                           proc[1],
                           proc[2],
                           proc[3],
                           proc[4],
                           (unsigned char)(cnt >> 16),
                           (unsigned char)(cnt >> 8),
                           (unsigned char)cnt};
    for (int i = 0; i < 12; i++) {
        out[2 * i] = HEX[b[i] >> 4];
        out[2 * i + 1] = HEX[b[i] & 15];
    }
    out[24] = '\0';
}

void dev_iso_time(int64_t us, char out[40])
{
    int64_t secs = us / 1000000;
    long frac = (long)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    long rem = (long)(secs % 86400);
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    /* civil from days (Howard Hinnant) */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t d = doy - (153 * mp + 2) / 5 + 1;
    int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2)
        y++;
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%04lld-%02lld-%02lldT%02ld:%02ld:%02ld.%06ldZ", (long long)y,
             (long long)m, (long long)d, rem / 3600, (rem / 60) % 60, rem % 60, frac);
    snprintf(out, 40, "%.39s", tmp);
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    *out = v;
    return 0;
}

int dev_parse_time(const char *s, int64_t *us)
{
    int Y, M, D, h, m, sec;
    const char *p = s;
    if (!s || digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
        digits(&p, 2, &D) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' || digits(&p, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -1;
    long frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 6) {
                frac = frac * 10 + (*p - '0');
            }
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 6; nd++)
            frac *= 10;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om = 0;
        p++;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && digits(&p, 2, &om))
            return -1;
        off = sign * (oh * 3600L + om * 60L);
    }
    if (*p)
        return -1;
    /* days from civil (Howard Hinnant) */
    int y = Y - (M <= 2);
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (M + (M > 2 ? -3 : 9)) + 2) / 5 + D - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = era * 146097 + doe - 719468;
    int64_t t = (int64_t)days * 86400 + h * 3600 + m * 60 + sec - off;
    *us = t * 1000000 + frac;
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------- */

cJSON *dev_parse(const char *text, size_t len)
{
    if (!text)
        return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!j)
        return NULL;
    while (end && end < text + len && (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if (end && end < text + len && *end != '\0') {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

char *dev_print(const cJSON *j) { return cJSON_PrintUnformatted(j); }

const char *dev_jstr(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool dev_jnull_or_absent(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return !v || cJSON_IsNull(v);
}

void dev_add_str(cJSON *obj, const char *key, const char *val)
{
    if (val)
        cJSON_AddStringToObject(obj, key, val);
    else
        cJSON_AddNullToObject(obj, key);
}

void dev_copy_key(cJSON *dst, const cJSON *src, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    cJSON_AddItemToObject(dst, key, v ? cJSON_Duplicate(v, true) : cJSON_CreateNull());
}

/* ---- HTTP responses ------------------------------------------------------------------ */

void dev_respond_json(agx_http_req_t *r, int status, cJSON *body)
{
    char *text = body ? dev_print(body) : NULL;
    if (!text) {
        static const char oom[] =
            "{\"message\":\"Internal Server Error\",\"code\":500,\"data\":null}";
        agx_http_respond(r, 500, NULL, NULL, oom, sizeof oom - 1);
    } else {
        agx_http_respond(r, status, NULL, NULL, text, strlen(text));
    }
    cJSON_free(text);
    cJSON_Delete(body);
}

void dev_url_join(char *out, size_t outlen, const char *base, const char *suffix)
{
    size_t ul = strlen(base);
    while (ul > 0 && base[ul - 1] == '/')
        ul--;
    snprintf(out, outlen, "%.*s%s", (int)ul, base, suffix);
}

cJSON *dev_error_body(int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddNumberToObject(o, "code", status);
    cJSON_AddNullToObject(o, "data");
    return o;
}

cJSON *dev_422_body(const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "status_code", 10422);
    cJSON_AddStringToObject(o, "message", msg);
    cJSON_AddNullToObject(o, "data");
    return o;
}

void dev_respond_error(agx_http_req_t *r, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dev_respond_json(r, status, dev_error_body(status, msg));
}

void dev_respond_422(agx_http_req_t *r, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    dev_respond_json(r, 422, dev_422_body(msg));
}

int dev_query_int(agx_http_req_t *r, const char *name, long def, long min, long max, long *out)
{
    const char *v = agx_http_req_query_param(r, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (!*v || errno || !end || *end || n < min || n > max)
        return -1;
    *out = n;
    return 0;
}

/* ---- content validation -------------------------------------------------------------- */

static int fail(char *errbuf, size_t errlen, const char *fmt, const char *a)
{
    snprintf(errbuf, errlen, fmt, a ? a : "");
    return -1;
}

static int check_enum(const cJSON *src, const char *key, const char *const *allowed,
                      const char *def, cJSON *dst, char *errbuf, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    if (!v || (cJSON_IsNull(v) && def)) {
        if (!def)
            return fail(errbuf, errlen, "content.%s: Field required", key);
        cJSON_AddStringToObject(dst, key, def);
        return 0;
    }
    if (!cJSON_IsString(v))
        return fail(errbuf, errlen, "content.%s: Input should be a valid string", key);
    for (size_t i = 0; allowed[i]; i++)
        if (strcmp(allowed[i], v->valuestring) == 0) {
            cJSON_AddStringToObject(dst, key, v->valuestring);
            return 0;
        }
    return fail(errbuf, errlen, "content.%s: Input should be one of the allowed values", key);
}

static int req_string(const cJSON *src, const char *key, cJSON *dst, char *errbuf, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    if (!v)
        return fail(errbuf, errlen, "content.%s: Field required", key);
    if (!cJSON_IsString(v))
        return fail(errbuf, errlen, "content.%s: Input should be a valid string", key);
    cJSON_AddStringToObject(dst, key, v->valuestring);
    return 0;
}

static int req_object(const cJSON *src, const char *key, cJSON *dst, char *errbuf, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    if (!v)
        return fail(errbuf, errlen, "content.%s: Field required", key);
    if (!cJSON_IsObject(v))
        return fail(errbuf, errlen, "content.%s: Input should be a valid dictionary", key);
    cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, true));
    return 0;
}

static int string_array(const cJSON *v, const char *key, bool nullable, cJSON *dst, char *errbuf,
                        size_t errlen)
{
    if (!v || cJSON_IsNull(v)) {
        if (!nullable)
            return fail(errbuf, errlen, "content.%s: Field required", key);
        cJSON_AddNullToObject(dst, key);
        return 0;
    }
    if (!cJSON_IsArray(v))
        return fail(errbuf, errlen, "content.%s: Input should be a valid list", key);
    const cJSON *e;
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e))
            return fail(errbuf, errlen, "content.%s: list items should be strings", key);
    }
    cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, true));
    return 0;
}

static const char *const AUTHORS[] = {"user", "agent", NULL};
static const char *const STYLES[] = {"static", "active", NULL};
static const char *const FORMATS[] = {"markdown", "plain", "code", NULL};

cJSON *dev_norm_content(const cJSON *c, char *errbuf, size_t errlen)
{
    if (!cJSON_IsObject(c)) {
        fail(errbuf, errlen, "content: Input should be a valid dictionary%s", NULL);
        return NULL;
    }
    const char *type = dev_jstr(c, "type");
    if (!type) {
        fail(errbuf, errlen, "content.type: Unable to extract tag using discriminator 'type'%s",
             NULL);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    int rc = 0;
    rc |= check_enum(c, "author", AUTHORS, NULL, o, errbuf, errlen);
    if (!rc)
        rc |= check_enum(c, "style", STYLES, "static", o, errbuf, errlen);
    if (rc)
        goto bad;
    if (strcmp(type, "text") == 0) {
        if (check_enum(c, "format", FORMATS, "plain", o, errbuf, errlen) ||
            req_string(c, "content", o, errbuf, errlen))
            goto bad;
        const cJSON *att = cJSON_GetObjectItemCaseSensitive(c, "attachments");
        if (!att || cJSON_IsNull(att)) {
            cJSON_AddNullToObject(o, "attachments");
        } else if (!cJSON_IsArray(att)) {
            fail(errbuf, errlen, "content.attachments: Input should be a valid list%s", NULL);
            goto bad;
        } else {
            const cJSON *a;
            cJSON_ArrayForEach(a, att)
            {
                if (!cJSON_IsObject(a) || !dev_jstr(a, "file_id") || !dev_jstr(a, "name") ||
                    !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(a, "size")) ||
                    !dev_jstr(a, "type")) {
                    fail(errbuf, errlen,
                         "content.attachments: each attachment needs file_id, name, size, type%s",
                         NULL);
                    goto bad;
                }
            }
            cJSON_AddItemToObject(o, "attachments", cJSON_Duplicate(att, true));
        }
    } else if (strcmp(type, "data") == 0) {
        if (req_object(c, "data", o, errbuf, errlen))
            goto bad;
    } else if (strcmp(type, "tool_request") == 0) {
        if (req_string(c, "tool_call_id", o, errbuf, errlen) ||
            req_string(c, "name", o, errbuf, errlen) ||
            req_object(c, "arguments", o, errbuf, errlen))
            goto bad;
    } else if (strcmp(type, "tool_response") == 0) {
        if (req_string(c, "tool_call_id", o, errbuf, errlen) ||
            req_string(c, "name", o, errbuf, errlen))
            goto bad;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "content");
        if (!v) {
            fail(errbuf, errlen, "content.content: Field required%s", NULL);
            goto bad;
        }
        cJSON_AddItemToObject(o, "content", cJSON_Duplicate(v, true));
        const cJSON *ie = cJSON_GetObjectItemCaseSensitive(c, "is_error");
        if (ie && !cJSON_IsNull(ie) && !cJSON_IsBool(ie)) {
            fail(errbuf, errlen, "content.is_error: Input should be a valid boolean%s", NULL);
            goto bad;
        }
        cJSON_AddItemToObject(o, "is_error", ie ? cJSON_Duplicate(ie, false) : cJSON_CreateNull());
    } else if (strcmp(type, "reasoning") == 0) {
        if (string_array(cJSON_GetObjectItemCaseSensitive(c, "summary"), "summary", false, o,
                         errbuf, errlen) ||
            string_array(cJSON_GetObjectItemCaseSensitive(c, "content"), "content", true, o, errbuf,
                         errlen))
            goto bad;
    } else {
        fail(errbuf, errlen,
             "content.type: Input tag '%s' found using 'type' does not match any of the expected "
             "tags: 'text', 'reasoning', 'data', 'tool_request', 'tool_response'",
             type);
        goto bad;
    }
    return o;
bad:
    cJSON_Delete(o);
    return NULL;
}

static bool valid_delta(const cJSON *d)
{
    if (!cJSON_IsObject(d))
        return false;
    const char *t = dev_jstr(d, "type");
    if (!t)
        return false;
    /* the text field of each delta type: a string, null or absent */
    static const struct {
        const char *type, *field, *index;
    } D[] = {{"text", "text_delta", NULL},
             {"data", "data_delta", NULL},
             {"tool_request", "arguments_delta", NULL},
             {"tool_response", "content_delta", NULL},
             {"reasoning_summary", "summary_delta", "summary_index"},
             {"reasoning_content", "content_delta", "content_index"}};
    for (size_t i = 0; i < sizeof D / sizeof D[0]; i++) {
        if (strcmp(t, D[i].type) != 0)
            continue;
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(d, D[i].field);
        if (f && !cJSON_IsNull(f) && !cJSON_IsString(f))
            return false;
        if (!strncmp(t, "tool_", 5))
            return dev_jstr(d, "tool_call_id") && dev_jstr(d, "name");
        if (D[i].index) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(d, D[i].index);
            return cJSON_IsNumber(x) && x->valuedouble >= -9.0e15 && x->valuedouble <= 9.0e15 &&
                   x->valuedouble == (double)(long long)x->valuedouble;
        }
        return true;
    }
    return false;
}

cJSON *dev_norm_update(const cJSON *u, char *errbuf, size_t errlen)
{
    if (!cJSON_IsObject(u)) {
        fail(errbuf, errlen, "update: not a JSON object%s", NULL);
        return NULL;
    }
    const char *type = dev_jstr(u, "type");
    if (!type || (strcmp(type, "start") && strcmp(type, "delta") && strcmp(type, "full") &&
                  strcmp(type, "done"))) {
        fail(errbuf, errlen, "update.type: must be start, delta, full or done (got '%s')",
             type ? type : "");
        return NULL;
    }
    const cJSON *idx = cJSON_GetObjectItemCaseSensitive(u, "index");
    if (idx && !cJSON_IsNull(idx) &&
        !(cJSON_IsNumber(idx) && idx->valuedouble >= -9.0e15 && idx->valuedouble <= 9.0e15 &&
          idx->valuedouble == (double)(long long)idx->valuedouble)) {
        fail(errbuf, errlen, "update.index: Input should be a valid integer%s", NULL);
        return NULL;
    }
    const cJSON *ptm = cJSON_GetObjectItemCaseSensitive(u, "parent_task_message");
    if (ptm && !cJSON_IsNull(ptm) && (!cJSON_IsObject(ptm) || !dev_jstr(ptm, "task_id"))) {
        fail(errbuf, errlen, "update.parent_task_message: needs a task_id%s", NULL);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddItemToObject(o, "index", idx ? cJSON_Duplicate(idx, false) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "parent_task_message",
                          ptm ? cJSON_Duplicate(ptm, true) : cJSON_CreateNull());
    if (!strcmp(type, "start") || !strcmp(type, "full")) {
        cJSON *c = dev_norm_content(cJSON_GetObjectItemCaseSensitive(u, "content"), errbuf, errlen);
        if (!c) {
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, "content", c);
    } else if (!strcmp(type, "delta")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(u, "delta");
        if (d && !cJSON_IsNull(d) && !valid_delta(d)) {
            fail(errbuf, errlen, "update.delta: invalid delta%s", NULL);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, "delta", d ? cJSON_Duplicate(d, true) : cJSON_CreateNull());
    }
    return o;
}

int dev_curl_abort_on_stop(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                           curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    dsrv_t *d = ud;
    return atomic_load(&d->stopping) ? 1 : 0;
}

/* ---- jobs ----------------------------------------------------------------------------- */

int dev_spawn(dsrv_t *d, agx_job_fn fn, void *arg)
{
    return agx_pool_submit(d->pool, NULL, fn, arg) == AGENTEX_OK ? 0 : -1;
}

void dev_wait_jobs(dsrv_t *d)
{
    if (d->pool)
        agx_pool_shutdown(d->pool);
}

/* ---- logging --------------------------------------------------------------------------- */

int dev_log_level = AGENTEX_LOG_INFO;

void dev_log(int level, const char *fmt, ...)
{
    if (level < dev_log_level)
        return;
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char ts[40], line[2048];
    dev_iso_time(agx_now_us(), ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s %s\n", ts, names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}
