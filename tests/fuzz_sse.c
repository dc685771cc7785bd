/*
 * tests/fuzz_sse.c - libFuzzer target for the SSE parser (lib/sse.c).
 *
 *   make fuzz && build/fuzz/fuzz_sse -max_total_time=60
 *
 * The first input byte chooses the event size limit and how the rest is cut into
 * chunks, so splits inside CRLF, the BOM and fields are explored.  Checks that the
 * parser never crashes, never reads out of bounds, keeps memory bounded, and gives the
 * same events however the input is chunked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct acc {
    agx_buf_t out;
    size_t max_event;
} acc_t;

static int on_event(const agx_sse_event_t *ev, void *ud)
{
    acc_t *a = ud;
    if (ev->data_len > a->max_event || ev->data[ev->data_len] != '\0')
        abort();
    agx_buf_puts(&a->out, ev->type);
    agx_buf_append(&a->out, "\x01", 1);
    agx_buf_puts(&a->out, ev->id);
    agx_buf_append(&a->out, "\x01", 1);
    agx_buf_append(&a->out, ev->data, ev->data_len);
    agx_buf_append(&a->out, "\x02", 1);
    return 0;
}

static agentex_err_t run(const uint8_t *in, size_t n, size_t max_event, size_t step, acc_t *a)
{
    agx_sse_t p;
    a->max_event = max_event;
    agx_sse_init(&p, max_event, on_event, a);
    agentex_err_t err = AGENTEX_OK;
    for (size_t i = 0; i < n && err == AGENTEX_OK; i += step) {
        size_t len = n - i < step ? n - i : step;
        err = agx_sse_feed(&p, (const char *)in + i, len);
        if (p.line.len + p.data.len > max_event)
            abort();
    }
    agx_sse_free(&p);
    return err;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_event = 16 + (size_t)(data[0] & 0x0f) * 64;
    size_t step = 1 + (size_t)(data[0] >> 4);
    acc_t whole = {0}, chunked = {0};
    agentex_err_t e1 = run(data + 1, size - 1, max_event, size, &whole);
    agentex_err_t e2 = run(data + 1, size - 1, max_event, step, &chunked);
    // the same bytes give the same events and the same verdict, whatever the chunking
    if (e1 != e2)
        abort();
    if (e1 == AGENTEX_OK &&
        (whole.out.len != chunked.out.len ||
         (whole.out.len && memcmp(whole.out.data, chunked.out.data, whole.out.len) != 0)))
        abort();
    agx_buf_free(&whole.out);
    agx_buf_free(&chunked.out);
    return 0;
}
