/*
 * lib/sse.c - incremental Server-Sent Events parser (see sse.h).
 */
#include <string.h>

#include "sse.h"

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

void agx_sse_init(agx_sse_t *p, size_t max_event, agx_sse_event_cb on_event, void *userdata)
{
    memset(p, 0, sizeof *p);
    p->on_event = on_event;
    p->userdata = userdata;
    p->max_event = max_event ? max_event : AGX_SSE_DEFAULT_MAX_EVENT;
    agx_buf_init(&p->line);
    agx_buf_init(&p->data);
    agx_buf_init(&p->type);
    agx_buf_init(&p->id);
    p->retry_ms = -1;
}

void agx_sse_reset(agx_sse_t *p)
{
    agx_buf_reset(&p->line);
    agx_buf_reset(&p->data);
    agx_buf_reset(&p->type);
    p->has_data = false;
    p->cr_pending = false;
    p->failed = false;
    p->bom_pos = 0;
    p->pos = 0;
}

long agx_sse_retry_ms(const agx_sse_t *p) { return p->retry_ms; }

void agx_sse_free(agx_sse_t *p)
{
    if (!p)
        return;
    agx_buf_free(&p->line);
    agx_buf_free(&p->data);
    agx_buf_free(&p->type);
    agx_buf_free(&p->id);
}

static agentex_err_t fail(agx_sse_t *p, agentex_err_t err)
{
    p->failed = true;
    agx_buf_reset(&p->line);
    agx_buf_reset(&p->data);
    agx_buf_reset(&p->type);
    p->has_data = false;
    if (err == AGENTEX_EPROTO)
        AGX_WARN("sse: event larger than %zu bytes, stream rejected", p->max_event);
    return err;
}

static agentex_err_t too_big(const agx_sse_t *p, size_t extra)
{
    return p->line.len + p->data.len + p->type.len + extra > p->max_event ? AGENTEX_EPROTO
                                                                           : AGENTEX_OK;
}

static agentex_err_t dispatch(agx_sse_t *p)
{
    if (!p->has_data) {
        agx_buf_reset(&p->type);
        return AGENTEX_OK;
    }
    // the data buffer holds every data line followed by LF: drop the last LF
    if (p->data.len > 0) {
        p->data.len--;
        p->data.data[p->data.len] = '\0';
    }
    agx_sse_event_t ev;
    ev.type = p->type.len ? p->type.data : "message";
    ev.data = p->data.data ? p->data.data : "";
    ev.data_len = p->data.len;
    ev.id = p->id.data ? p->id.data : "";
    int stop = p->on_event ? p->on_event(&ev, p->userdata) : 0;
    agx_buf_reset(&p->data);
    agx_buf_reset(&p->type);
    p->has_data = false;
    return stop ? AGENTEX_ECANCELED : AGENTEX_OK;
}

static agentex_err_t process_line(agx_sse_t *p, const char *line, size_t len)
{
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':') {
        if (p->on_comment)
            p->on_comment(line + 1, len - 1, p->userdata);
        return AGENTEX_OK;
    }
    const char *colon = memchr(line, ':', len);
    size_t flen = colon ? (size_t)(colon - line) : len;
    const char *val = colon ? colon + 1 : line + len;
    size_t vlen = colon ? len - flen - 1 : 0;
    if (vlen > 0 && val[0] == ' ') {
        val++;
        vlen--;
    }
    if (flen == 4 && memcmp(line, "data", 4) == 0) {
        if (too_big(p, vlen + 1) != AGENTEX_OK)
            return AGENTEX_EPROTO;
        if (agx_buf_append(&p->data, val, vlen) != 0 || agx_buf_append(&p->data, "\n", 1) != 0)
            return AGENTEX_ENOMEM;
        p->has_data = true;
    } else if (flen == 5 && memcmp(line, "event", 5) == 0) {
        agx_buf_reset(&p->type);
        if (agx_buf_append(&p->type, val, vlen) != 0)
            return AGENTEX_ENOMEM;
    } else if (flen == 2 && memcmp(line, "id", 2) == 0) {
        if (memchr(val, '\0', vlen) == NULL) {
            if (vlen > p->max_event)
                return AGENTEX_EPROTO;
            agx_buf_reset(&p->id);
            if (agx_buf_append(&p->id, val, vlen) != 0)
                return AGENTEX_ENOMEM;
        }
    } else if (flen == 5 && memcmp(line, "retry", 5) == 0) {
        long v = 0;
        bool ok = vlen > 0;
        for (size_t i = 0; i < vlen && ok; i++) {
            if (val[i] < '0' || val[i] > '9')
                ok = false;
            else if (v < 100000000L) // saturate: a day and more is "very long"
                v = v * 10 + (val[i] - '0');
        }
        if (ok)
            p->retry_ms = v;
    }
    // any other field is ignored, as the spec says
    return AGENTEX_OK;
}

agentex_err_t agx_sse_feed(agx_sse_t *p, const char *buf, size_t len)
{
    if (!p || (!buf && len))
        return AGENTEX_EINVAL;
    if (p->failed)
        return AGENTEX_EPROTO;
    size_t i = 0;
    // a UTF-8 BOM at the very start of the stream, possibly split across chunks
    while (p->bom_pos >= 0 && i < len) {
        if ((unsigned char)buf[i] == BOM[p->bom_pos]) {
            p->bom_pos++;
            i++;
            if (p->bom_pos == 3) {
                p->bom_pos = -1;
                break;
            }
        } else {
            // not a BOM after all: the bytes matched so far were real data
            int matched = p->bom_pos;
            p->bom_pos = -1;
            if (matched > 0 && agx_buf_append(&p->line, BOM, (size_t)matched) != 0)
                return fail(p, AGENTEX_ENOMEM);
        }
    }
    if (i == len)
        return AGENTEX_OK;
    while (i < len) {
        if (p->cr_pending) {
            p->cr_pending = false;
            if (buf[i] == '\n') {
                i++;
                continue;
            }
        }
        // find the next line end in this chunk
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j > i) {
            if (too_big(p, j - i) != AGENTEX_OK)
                return fail(p, AGENTEX_EPROTO);
            if (agx_buf_append(&p->line, buf + i, j - i) != 0)
                return fail(p, AGENTEX_ENOMEM);
        }
        p->pos += j - i;
        if (j == len)
            break;
        if (buf[j] == '\r')
            p->cr_pending = true;
        i = j + 1;
        p->pos++;
        agentex_err_t err = process_line(p, p->line.data ? p->line.data : "", p->line.len);
        agx_buf_reset(&p->line);
        if (err == AGENTEX_ECANCELED)
            return err;
        if (err != AGENTEX_OK)
            return fail(p, err);
    }
    return AGENTEX_OK;
}
