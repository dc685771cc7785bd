/*
 * tests/fuzz_h1resp.c - libFuzzer target for the HTTP/1.1 response parser (lib/h1resp.c).
 *
 *   make fuzz && build/fuzz/fuzz_h1resp -max_total_time=60
 *
 * The first input byte chooses the body limit and the piece size the rest is fed in.
 * Checks that the parser never crashes or reads out of bounds, keeps the body within
 * its limit, consumes no more than it is given, and reaches the same verdict, status,
 * body and connection decision however the input is cut.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1resp.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct result {
    int rc, status, keep_alive;
    size_t used;
    agx_buf_t body;
} result_t;

static void run(const uint8_t *in, size_t n, size_t max_body, size_t step, result_t *r)
{
    agx_h1resp_t p;
    agx_buf_init(&r->body);
    agx_h1resp_init(&p, &r->body, max_body);
    int rc = AGX_H1_MORE;
    size_t off = 0;
    while (off < n && rc == AGX_H1_MORE) {
        size_t len = n - off < step ? n - off : step, used = 0;
        rc = agx_h1resp_feed(&p, (const char *)in + off, len, &used);
        if (used > len || (rc == AGX_H1_MORE && used != len) || r->body.len > max_body)
            abort();
        off += used;
    }
    if (rc == AGX_H1_MORE)
        rc = agx_h1resp_eof(&p);
    r->rc = rc;
    r->status = p.status;
    r->keep_alive = p.keep_alive;
    r->used = off;
    agx_h1resp_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_body = 1 + (size_t)(data[0] & 0x0f) * 32;
    size_t step = 1 + (size_t)(data[0] >> 4);
    result_t whole, cut;
    run(data + 1, size - 1, max_body, size, &whole);
    run(data + 1, size - 1, max_body, step, &cut);
    if (whole.rc != cut.rc)
        abort();
    if (whole.rc == AGX_H1_DONE &&
        (whole.status != cut.status || whole.keep_alive != cut.keep_alive ||
         whole.used != cut.used || whole.body.len != cut.body.len ||
         (whole.body.len && memcmp(whole.body.data, cut.body.data, whole.body.len) != 0)))
        abort();
    agx_buf_free(&whole.body);
    agx_buf_free(&cut.body);
    return 0;
}
