/*
 * lib/adk_common.c - helpers shared by the adk_* REST modules (see adk_internal.h).
 */
#include <stdio.h>
#include <string.h>

#include "adk_internal.h"
#include "client_internal.h"
#include "internal.h"
#include "types_internal.h"

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
        return agx_client_fail_answer(c, AGENTEX_ENOMEM, "%s: out of memory", fn);
    return agx_client_fail_answer(c, AGENTEX_EPROTO, "%s: the backend's answer is not %s", fn,
                                  what);
}

agentex_err_t agx_adk_body_fail(agentex_client_t *c, const char *fn, agentex_err_t err,
                                const char *what)
{
    if (err == AGENTEX_ENOMEM)
        return agx_adk_enomem(c, fn);
    return agx_adk_einval(c, fn, what);
}

/* agx_adk_<name>: kind_<name>_from_json calls from_json with out, the caller's T **. */
#define ADK_KIND(name, T, from_json, what)                                                         \
    static agentex_err_t kind_##name##_from_json(const cJSON *json, void *out)                     \
    {                                                                                              \
        T *x = NULL;                                                                               \
        agentex_err_t err = from_json(json, &x);                                                   \
        if (err == AGENTEX_OK)                                                                     \
            *(T **)out = x;                                                                        \
        return err;                                                                                \
    }                                                                                              \
    const agx_adk_kind_t agx_adk_##name = {kind_##name##_from_json, what};

ADK_KIND(agent, adk_agent_t, adk_agent_from_json, "an Agent")
ADK_KIND(agent_list, adk_agent_list_t, agx_agent_list_from_json, "a list of Agents")
ADK_KIND(task, adk_task_t, adk_task_from_json, "a Task")
ADK_KIND(task_list, adk_task_list_t, agx_task_list_from_json, "a list of Tasks")
ADK_KIND(event, adk_event_t, adk_event_from_json, "an Event")
ADK_KIND(event_list, adk_event_list_t, agx_event_list_from_json, "a list of Events")
ADK_KIND(message, adk_message_t, adk_message_from_json, "a TaskMessage")
ADK_KIND(message_list, adk_message_list_t, agx_message_list_from_json, "a list of TaskMessages")
ADK_KIND(state, adk_state_t, adk_state_from_json, "a State")
ADK_KIND(tracker, adk_tracker_t, adk_tracker_from_json, "an AgentTaskTracker")
ADK_KIND(tracker_list, adk_tracker_list_t, agx_tracker_list_from_json,
         "a list of AgentTaskTrackers")

agentex_err_t agx_adk_result(agentex_client_t *c, const char *fn, const agx_adk_kind_t *kind,
                             const cJSON *json, void *out)
{
    return agx_adk_parsed(c, fn, kind->from_json(json, out), kind->what);
}

agentex_err_t agx_adk_request(agentex_client_t *c, const char *fn, const char *method,
                              const char *path, const char *const *query, const cJSON *body,
                              const agx_adk_kind_t *kind, void *out)
{
    cJSON *resp = NULL;
    agentex_err_t err = agx_client_request(c, method, path, query, body, out ? &resp : NULL);
    if (err == AGENTEX_OK && out)
        err = agx_adk_result(c, fn, kind, resp, out);
    cJSON_Delete(resp);
    return err;
}

agentex_err_t agx_adk_request_at(agentex_client_t *c, const char *fn, const char *method,
                                 const char *prefix, const char *id, const char *suffix,
                                 const cJSON *body, const agx_adk_kind_t *kind, void *out)
{
    char *path = NULL;
    agentex_err_t err = agx_adk_path(c, fn, prefix, id, suffix, &path);
    if (err == AGENTEX_OK)
        err = agx_adk_request(c, fn, method, path, NULL, body, kind, out);
    agx_free(path);
    return err;
}

agentex_err_t agx_adk_by_id(agentex_client_t *c, const char *fn, const char *method,
                            const char *prefix, const char *id, const char *id_name,
                            const agx_adk_kind_t *kind, void *out)
{
    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(id))
        return agx_client_fail(c, AGENTEX_EINVAL, "%s: %s is NULL or empty", fn, id_name);
    if (!out && strcmp(method, "GET") == 0)
        return agx_adk_einval(c, fn, "out is NULL");
    return agx_adk_request_at(c, fn, method, prefix, id, NULL, NULL, kind, out);
}

agentex_err_t agx_adk_list(agentex_client_t *c, const char *fn, const char *path,
                           const agx_adk_filter_t *filters, size_t n_filters,
                           const adk_list_opts_t *opts, const agx_adk_kind_t *kind, void *out)
{
    const char *query[2 * AGX_ADK_MAX_FILTERS + 9];
    size_t q = 0;
    agx_adk_page_t pg;

    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (n_filters > AGX_ADK_MAX_FILTERS)
        return agx_client_fail(c, AGENTEX_EINTERNAL, "%s: too many filters", fn);
    for (size_t i = 0; i < n_filters; i++) {
        const agx_adk_filter_t *f = &filters[i];
        if (f->required && !agx_adk_str_ok(f->value))
            return agx_client_fail(c, AGENTEX_EINVAL, "%s: %s is NULL or empty", fn, f->name);
        if (!f->required && f->value && !*f->value)
            return agx_client_fail(c, AGENTEX_EINVAL, "%s: %s is empty (use NULL for no filter)",
                                   fn, f->name);
        query[q++] = f->name;
        query[q++] = f->value;
    }
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    agentex_err_t err = agx_adk_page(c, fn, opts, &pg);
    if (err != AGENTEX_OK)
        return err;
    query[q++] = "limit";
    query[q++] = pg.limit;
    query[q++] = "page_number";
    query[q++] = pg.page_number;
    query[q++] = "order_by";
    query[q++] = pg.order_by;
    query[q++] = "order_direction";
    query[q++] = pg.order_direction;
    query[q] = NULL;
    return agx_adk_request(c, fn, "GET", path, query, NULL, kind, out);
}

agentex_err_t agx_adk_find(agentex_client_t *c, const char *fn, const char *path,
                           const char *task_id, const char *agent_id, const agx_adk_kind_t *kind,
                           const char *list_what, const char *noun, void *out)
{
    cJSON *resp = NULL;
    agentex_err_t err;

    if (!c)
        return AGENTEX_EINVAL;
    agx_client_clear_error(c);
    if (!agx_adk_str_ok(task_id))
        return agx_adk_einval(c, fn, "task_id is NULL or empty");
    if (!agx_adk_str_ok(agent_id))
        return agx_adk_einval(c, fn, "agent_id is NULL or empty");
    if (!out)
        return agx_adk_einval(c, fn, "out is NULL");
    const char *query[] = {"task_id", task_id, "agent_id", agent_id, NULL};
    err = agx_client_request(c, "GET", path, query, NULL, &resp);
    if (err != AGENTEX_OK)
        goto out;
    if (!cJSON_IsArray(resp)) {
        err = agx_adk_parsed(c, fn, AGENTEX_EPROTO, list_what);
        goto out;
    }
    if (cJSON_GetArraySize(resp) == 0) {
        err = agx_client_fail_answer(c, AGENTEX_ENOTFOUND, "%s: no %s for task %s and agent %s", fn,
                                     noun, task_id, agent_id);
        goto out;
    }
    err = agx_adk_result(c, fn, kind, cJSON_GetArrayItem(resp, 0), out);
out:
    cJSON_Delete(resp);
    return err;
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
