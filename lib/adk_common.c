/*
 * lib/adk_common.c - helpers shared by the adk_* REST modules (see adk_internal.h).
 */
#include <stdio.h>
#include <string.h>

#include "adk_internal.h"
#include "client_internal.h"
#include "internal.h"

agentex_err_t agx_adk_einval(agentex_client_t *c, const char *fn, const char *what)
{
    if (!c)
        return AGENTEX_EINVAL;
    return agx_client_fail(c, AGENTEX_EINVAL, "%s: %s", fn, what);
}

agentex_err_t agx_adk_enomem(agentex_client_t *c, const char *fn)
{
    return agx_client_fail(c, AGENTEX_ENOMEM, "%s: out of memory", fn);
}

agentex_err_t agx_adk_path(agentex_client_t *c, const char *fn, const char *prefix, const char *id,
                           const char *suffix, char **out)
{
    *out = NULL;
    char *esc = agx_url_escape(id);
    if (!esc)
        return agx_adk_enomem(c, fn);
    agx_buf_t b;
    agx_buf_init(&b);
    int rc = agx_buf_puts(&b, prefix);
    if (rc == 0)
        rc = agx_buf_puts(&b, esc);
    if (rc == 0 && suffix)
        rc = agx_buf_puts(&b, suffix);
    agx_free(esc);
    if (rc != 0) {
        agx_buf_free(&b);
        return agx_adk_enomem(c, fn);
    }
    *out = agx_buf_steal(&b);
    if (!*out)
        return agx_adk_enomem(c, fn);
    return AGENTEX_OK;
}

agentex_err_t agx_adk_page(agentex_client_t *c, const char *fn, const adk_list_opts_t *opts,
                           agx_adk_page_t *pg)
{
    memset(pg, 0, sizeof *pg);
    if (!opts)
        return AGENTEX_OK;
    if (opts->limit < 0)
        return agx_adk_einval(c, fn, "opts->limit is negative");
    if (opts->page_number < 0)
        return agx_adk_einval(c, fn, "opts->page_number is negative");
    if (opts->order_by && !*opts->order_by)
        return agx_adk_einval(c, fn, "opts->order_by is empty");
    if (opts->order_direction && strcmp(opts->order_direction, "asc") != 0 &&
        strcmp(opts->order_direction, "desc") != 0)
        return agx_adk_einval(c, fn, "opts->order_direction is neither \"asc\" nor \"desc\"");
    if (opts->limit > 0) {
        snprintf(pg->limit_buf, sizeof pg->limit_buf, "%d", opts->limit);
        pg->limit = pg->limit_buf;
    }
    if (opts->page_number > 0) {
        snprintf(pg->page_buf, sizeof pg->page_buf, "%d", opts->page_number);
        pg->page_number = pg->page_buf;
    }
    pg->order_by = opts->order_by;
    pg->order_direction = opts->order_direction;
    return AGENTEX_OK;
}

agentex_err_t agx_adk_parsed(agentex_client_t *c, const char *fn, agentex_err_t err,
                             const char *what)
{
    if (err == AGENTEX_OK)
        return AGENTEX_OK;
    if (err == AGENTEX_ENOMEM)
        return agx_adk_enomem(c, fn);
    return agx_client_fail(c, AGENTEX_EPROTO, "%s: the backend's answer is not %s", fn, what);
}

bool agx_adk_add_str(cJSON *obj, const char *key, const char *value)
{
    if (!value)
        return cJSON_AddNullToObject(obj, key) != NULL;
    return cJSON_AddStringToObject(obj, key, value) != NULL;
}

bool agx_adk_add_copy(cJSON *obj, const char *key, const cJSON *value)
{
    cJSON *dup = cJSON_Duplicate(value, 1);
    if (!dup)
        return false;
    if (!cJSON_AddItemToObject(obj, key, dup)) {
        cJSON_Delete(dup);
        return false;
    }
    return true;
}

agentex_err_t agx_adk_add_content(cJSON *obj, const char *key, const adk_content_t *content)
{
    cJSON *j = NULL;
    agentex_err_t err = adk_content_to_json(content, &j);
    if (err != AGENTEX_OK)
        return err;
    if (!cJSON_AddItemToObject(obj, key, j)) {
        cJSON_Delete(j);
        return AGENTEX_ENOMEM;
    }
    return AGENTEX_OK;
}

agentex_err_t agx_adk_add_time(cJSON *obj, const char *key, int64_t usec)
{
    char buf[40];
    agentex_err_t err = adk_time_format(usec, buf, sizeof buf);
    if (err != AGENTEX_OK)
        return err;
    return cJSON_AddStringToObject(obj, key, buf) ? AGENTEX_OK : AGENTEX_ENOMEM;
}
