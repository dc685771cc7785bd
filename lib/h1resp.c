/*
 * lib/h1resp.c - the incremental HTTP/1.1 response parser (h1resp.h).
 *
 * Lines (status line, header fields, chunk sizes, trailers) are assembled in p->line,
 * bounded; body bytes go straight to the caller's buffer.  A bare LF ends a line as
 * well as CRLF (RFC 9112 2.2 allows a recipient to accept it).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "h1resp.h"

#define LINE_MAX_BYTES (16u * 1024u) /* one status line or header field */
#define HEAD_MAX_BYTES (64u * 1024u) /* the whole head, interim answers included */
#define CHUNK_LINE_MAX 1024u         /* a chunk-size line with its extensions */

enum {
    ST_STATUS,
    ST_HEADER,
    ST_BODY_LEN,   /* Content-Length bytes left in p->length */
    ST_BODY_CLOSE, /* until the connection closes */
    ST_CHUNK_SIZE,
    ST_CHUNK_DATA, /* p->length bytes of the chunk left */
    ST_CHUNK_END,  /* the CRLF after a chunk's data */
    ST_TRAILER,
    ST_DONE
};

static int fail(agx_h1resp_t *p, const char *why)
{
    snprintf(p->why, sizeof(p->why), "%s", why);
    return AGX_H1_ERROR;
}

static void reset_head(agx_h1resp_t *p)
{
    p->status = 0;
    p->http10 = p->conn_close = p->conn_keep = 0;
    p->chunked = p->has_length = p->other_coding = 0;
    p->length = 0;
    p->retry_after[0] = '\0';
    p->should_retry = -1;
}

void agx_h1resp_init(agx_h1resp_t *p, agx_buf_t *body, size_t max_body)
{
    memset(p, 0, sizeof(*p));
    agx_buf_init(&p->line);
    p->body = body;
    p->max_body = max_body;
    agx_buf_reset(body);
    reset_head(p);
    p->state = ST_STATUS;
}

void agx_h1resp_free(agx_h1resp_t *p) { agx_buf_free(&p->line); }

/* Appends n body bytes, within max_body. */
static int put_body(agx_h1resp_t *p, const char *data, size_t n)
{
    if (n > p->max_body - p->body->len) {
        p->too_big = 1;
        return fail(p, "response body too large");
    }
    if (agx_buf_append(p->body, data, n) != 0) {
        p->nomem = 1;
        return fail(p, "out of memory");
    }
    return AGX_H1_MORE;
}

/* "HTTP/1.x SSS[ reason]" */
static int parse_status(agx_h1resp_t *p, const char *s, size_t n)
{
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
        return fail(p, "not an HTTP/1.x status line");
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9')
            return fail(p, "malformed status code");
        st = st * 10 + (s[i] - '0');
    }
    if (st < 100 || st > 599 || (n > 12 && s[12] != ' '))
        return fail(p, "malformed status code");
    reset_head(p);
    p->status = st;
    p->http10 = s[7] == '0';
    p->state = ST_HEADER;
    return AGX_H1_MORE;
}

static void copy_bounded(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int parse_field(agx_h1resp_t *p, const char *s, size_t n)
{
    if (s[0] == ' ' || s[0] == '\t')
        return AGX_H1_MORE; /* obsolete line folding: a continuation we have no use for */
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s)
        return fail(p, "malformed header field");
    size_t nl = (size_t)(colon - s);
    for (size_t i = 0; i < nl; i++)
        if (!agx_http_tchar((unsigned char)s[i]))
            return fail(p, "malformed header field name");
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
#define NAME_IS(lit) (nl == sizeof(lit) - 1 && strncasecmp(s, lit, nl) == 0)
    if (NAME_IS("content-length")) {
        if (vl == 0)
            return fail(p, "malformed Content-Length");
        uint64_t len = 0;
        for (size_t i = 0; i < vl; i++) {
            if (v[i] < '0' || v[i] > '9' || len > (UINT64_MAX - 9) / 10)
                return fail(p, "malformed Content-Length");
            len = len * 10 + (uint64_t)(v[i] - '0');
        }
        if (p->has_length && p->length != len)
            return fail(p, "conflicting Content-Length fields");
        p->has_length = 1;
        p->length = len;
    } else if (NAME_IS("transfer-encoding")) {
        p->chunked = agx_http_list_has(v, vl, "chunked", true);
        p->other_coding = !p->chunked;
    } else if (NAME_IS("connection")) {
        if (agx_http_list_has(v, vl, "close", false))
            p->conn_close = 1;
        if (agx_http_list_has(v, vl, "keep-alive", false))
            p->conn_keep = 1;
    } else if (NAME_IS("retry-after")) {
        copy_bounded(p->retry_after, sizeof(p->retry_after), v, vl);
    } else if (NAME_IS("x-should-retry")) {
        if (vl == 4 && strncasecmp(v, "true", 4) == 0)
            p->should_retry = 1;
        else if (vl == 5 && strncasecmp(v, "false", 5) == 0)
            p->should_retry = 0;
    }
#undef NAME_IS
    return AGX_H1_MORE;
}

/* The blank line after the header fields: decides how the body is framed. */
static int end_of_head(agx_h1resp_t *p)
{
    if (p->status < 200) {
        if (p->status == 101)
            return fail(p, "unexpected 101 Switching Protocols");
        p->state = ST_STATUS; /* an interim answer: the real one follows */
        return AGX_H1_MORE;
    }
    p->keep_alive = p->http10 ? (p->conn_keep && !p->conn_close) : !p->conn_close;
    if (p->status == 204 || p->status == 304) {
        p->state = ST_DONE;
        return AGX_H1_DONE;
    }
    if (p->chunked) {
        if (p->has_length)
            p->keep_alive = 0; /* RFC 9112 6.3: both framings, close after */
        p->state = ST_CHUNK_SIZE;
        return AGX_H1_MORE;
    }
    if (p->other_coding || !p->has_length) {
        p->keep_alive = 0;
        p->state = ST_BODY_CLOSE;
        return AGX_H1_MORE;
    }
    if (p->length > p->max_body) {
        p->too_big = 1;
        return fail(p, "response body too large");
    }
    if (p->length == 0) {
        p->state = ST_DONE;
        return AGX_H1_DONE;
    }
    p->state = ST_BODY_LEN;
    return AGX_H1_MORE;
}

static int parse_chunk_size(agx_h1resp_t *p, const char *s, size_t n)
{
    uint64_t size = 0;
    size_t i = 0;
    for (; i < n; i++) {
        int d;
        char ch = s[i];
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            d = ch - 'A' + 10;
        else
            break;
        if (size > (UINT64_MAX >> 4))
            return fail(p, "chunk size too large");
        size = size << 4 | (uint64_t)d;
    }
    if (i == 0)
        return fail(p, "malformed chunk size");
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && s[i] != ';')
        return fail(p, "malformed chunk size");
    if (size == 0) {
        p->state = ST_TRAILER;
        return AGX_H1_MORE;
    }
    if (size > p->max_body - p->body->len) {
        p->too_big = 1;
        return fail(p, "response body too large");
    }
    p->length = size;
    p->state = ST_CHUNK_DATA;
    return AGX_H1_MORE;
}

/* A complete line (without its line ending) in the current state. */
static int on_line(agx_h1resp_t *p, const char *s, size_t n)
{
    switch (p->state) {
    case ST_STATUS:
        return parse_status(p, s, n);
    case ST_HEADER:
        return n == 0 ? end_of_head(p) : parse_field(p, s, n);
    case ST_CHUNK_SIZE:
        return parse_chunk_size(p, s, n);
    case ST_CHUNK_END:
        if (n != 0)
            return fail(p, "chunk data longer than its size");
        p->state = ST_CHUNK_SIZE;
        return AGX_H1_MORE;
    case ST_TRAILER:
        if (n != 0)
            return AGX_H1_MORE; /* trailer fields: none is used */
        p->state = ST_DONE;
        return AGX_H1_DONE;
    default:
        return fail(p, "internal: a line in a body state");
    }
}

/* Takes bytes up to the end of a line; *took gets how many were consumed. */
static int take_line(agx_h1resp_t *p, const char *data, size_t n, size_t *took)
{
    int in_head = p->state == ST_STATUS || p->state == ST_HEADER;
    size_t limit = in_head ? LINE_MAX_BYTES : CHUNK_LINE_MAX;
    const char *nl = memchr(data, '\n', n);
    size_t seg = nl ? (size_t)(nl - data) + 1 : n;
    *took = seg;
    if (in_head) {
        p->head_bytes += seg;
        if (p->head_bytes > HEAD_MAX_BYTES)
            return fail(p, "response head too large");
    }
    const char *s;
    size_t len;
    if (nl && p->line.len == 0) {
        s = data; /* the whole line is here: no copy */
        len = seg - 1;
    } else {
        if (p->line.len + seg > limit + 2)
            return fail(p, in_head ? "response header line too long" : "chunk line too long");
        if (agx_buf_append(&p->line, data, seg) != 0) {
            p->nomem = 1;
            return fail(p, "out of memory");
        }
        if (!nl)
            return AGX_H1_MORE;
        s = p->line.data;
        len = p->line.len - 1;
    }
    if (len > 0 && s[len - 1] == '\r')
        len--;
    if (len > limit)
        return fail(p, in_head ? "response header line too long" : "chunk line too long");
    int rc = on_line(p, s, len);
    agx_buf_reset(&p->line);
    return rc;
}

int agx_h1resp_feed(agx_h1resp_t *p, const char *data, size_t n, size_t *used)
{
    size_t off = 0;
    int rc = AGX_H1_MORE;
    if (p->state == ST_DONE) {
        *used = 0;
        return AGX_H1_DONE;
    }
    while (off < n && rc == AGX_H1_MORE) {
        size_t k;
        switch (p->state) {
        case ST_BODY_LEN:
        case ST_CHUNK_DATA:
            k = n - off;
            if (k > p->length)
                k = (size_t)p->length;
            rc = put_body(p, data + off, k);
            p->length -= k;
            if (rc == AGX_H1_MORE && p->length == 0) {
                if (p->state == ST_CHUNK_DATA) {
                    p->state = ST_CHUNK_END;
                } else {
                    p->state = ST_DONE;
                    rc = AGX_H1_DONE;
                }
            }
            break;
        case ST_BODY_CLOSE:
            k = n - off;
            rc = put_body(p, data + off, k);
            break;
        default:
            rc = take_line(p, data + off, n - off, &k);
            break;
        }
        off += k;
    }
    p->received += off;
    *used = off;
    return rc;
}

int agx_h1resp_eof(agx_h1resp_t *p)
{
    if (p->state == ST_DONE)
        return AGX_H1_DONE;
    if (p->state == ST_BODY_CLOSE) {
        p->state = ST_DONE;
        return AGX_H1_DONE;
    }
    if (p->received == 0)
        return fail(p, "no answer");
    return fail(p, p->state == ST_STATUS || p->state == ST_HEADER ? "response head truncated"
                                                                  : "response truncated");
}
