/*
 * lib/types_json.c - parsing and printing JSON text without cJSON's global state.
 */
#include <string.h>

#include "internal.h"
#include "types_internal.h"

cJSON *agx_json_parse(const char *text, size_t len)
{
    if (!text || len == 0)
        return NULL;
    const char *end = NULL;
    /* require_null_terminated = 0: the text need not be NUL-terminated; cJSON reports
     * where the value ended and we check the rest ourselves. */
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j)
        return NULL;
    if (!end || end < text || (size_t)(end - text) > len)
        goto bad;
    for (const char *p = end; p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            goto bad;
    }
    return j;
bad:
    cJSON_Delete(j);
    return NULL;
}

char *agx_json_print(const cJSON *j)
{
    if (!j)
        return NULL;
    /* cJSON allocates with the application's hooks; hand back an agx_ allocation so
     * the caller frees it with agx_free (and failure injection reaches this path). */
    char *s = cJSON_PrintUnformatted(j);
    if (!s)
        return NULL;
    char *copy = agx_strdup(s);
    cJSON_free(s);
    return copy;
}
