/*
 * tests/fuzz_acp_scan.c - libFuzzer target for the ACP server's scan-only ack path
 * (agx_acp_fast_scan in lib/acp.c), which reads untrusted request bodies on the service
 * thread without building a tree.
 *
 *   make fuzz && build/fuzz/fuzz_acp_scan -max_total_time=60
 *
 * The body is copied into a buffer of exactly its size (no NUL after it), so a read past
 * the end is caught.  Checks that the scanner never crashes, that the spans it returns lie
 * inside the body, and that whatever it accepts is a JSON object cJSON accepts too, with
 * the same method (the worker parses the body again with cJSON).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acp_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const methods[] = {"task/create", "event/send", "task/cancel",
                                      "task/interrupt"};

static int inside(const char *p, size_t n, const char *body, size_t len)
{
    return p >= body && n <= len && (size_t)(p - body) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = malloc(size ? size : 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    agx_acp_fast_t f;
    memset(&f, 0, sizeof f);
    if (agx_acp_fast_scan(body, size, &f)) {
        if (f.kind < 0 || f.kind > 3)
            abort();
        if (f.id && !inside(f.id, f.id_len, body, size))
            abort();
        if (!f.task_id || !inside(f.task_id, f.task_id_len, body, size))
            abort();
        cJSON *j = cJSON_ParseWithLength(body, size);
        if (!cJSON_IsObject(j))
            abort();
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "method");
        if (!cJSON_IsString(m) || strcmp(m->valuestring, methods[f.kind]) != 0)
            abort();
        cJSON_Delete(j);
    }
    free(body);
    return 0;
}
