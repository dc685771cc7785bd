/*
 * devserver/health.c - GET {acp_url}/healthz of every registered agent, every
 * health_interval_ms (default 30 s, 5 s timeout).  Healthy iff HTTP 200, a JSON body
 * with status "healthy" and agent_id absent or equal.  After 5 consecutive failures the
 * agent becomes "Unhealthy" and is not probed again until it registers again.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev.h"

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    agx_buf_t *b = ud;
    return agx_buf_append(b, p, sz * n) ? 0 : sz * n;
}

static bool probe(dsrv_t *d, const char *id, const char *acp_url)
{
    size_t ul = strlen(acp_url);
    while (ul > 0 && acp_url[ul - 1] == '/')
        ul--;
    char url[2048];
    snprintf(url, sizeof url, "%.*s/healthz", (int)ul, acp_url);
    CURL *c = curl_easy_init();
    if (!c)
        return false;
    agx_buf_t b;
    agx_buf_init(&b);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, d->health_timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, dev_curl_abort_on_stop);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, d);
    bool ok = false;
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK &&
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200) {
        cJSON *j = dev_parse(b.data ? b.data : "", b.len);
        const char *st = dev_jstr(j, "status");
        const char *aid = dev_jstr(j, "agent_id");
        ok = st && !strcmp(st, "healthy") && (!aid || !*aid || !strcmp(aid, id));
        cJSON_Delete(j);
    }
    curl_easy_cleanup(c);
    agx_buf_free(&b);
    return ok;
}

static void check_all(dsrv_t *d)
{
    dev_lock(d);
    cJSON *agents = dev_list_json(d,
                                  "SELECT json FROM agents WHERE json_extract(json,'$.status') NOT "
                                  "IN ('Unhealthy','Deleted')",
                                  NULL);
    dev_unlock(d);
    cJSON *a;
    cJSON_ArrayForEach(a, agents)
    {
        if (atomic_load(&d->stopping))
            break;
        const char *id = dev_jstr(a, "id"), *url = dev_jstr(a, "acp_url");
        if (!id || !url)
            continue;
        bool ok = probe(d, id, url);
        dev_lock(d);
        if (ok) {
            (void)dev_exec(d, "UPDATE agents SET health_failures=0 WHERE id=?", "s", id);
        } else {
            (void)dev_exec(d, "UPDATE agents SET health_failures=health_failures+1 WHERE id=?", "s",
                           id);
            int64_t n = dev_get_int(d, "SELECT health_failures FROM agents WHERE id=?", 0, "s", id);
            cJSON *cur = dev_agent_get(d, id, NULL);
            const char *st = dev_jstr(cur, "status");
            if (n >= 5 && cur && st && strcmp(st, "Unhealthy") && strcmp(st, "Deleted")) {
                char ts[40];
                dev_iso_time(agx_now_us(), ts);
                cJSON_ReplaceItemInObjectCaseSensitive(cur, "status",
                                                       cJSON_CreateString("Unhealthy"));
                cJSON_ReplaceItemInObjectCaseSensitive(
                    cur, "status_reason",
                    cJSON_CreateString("Agent health check reported Unhealthy"));
                cJSON_ReplaceItemInObjectCaseSensitive(cur, "updated_at", cJSON_CreateString(ts));
                (void)dev_agent_put(d, cur);
                dev_log(AGENTEX_LOG_WARN, "agent %s is Unhealthy (%lld failed health checks)", id,
                        (long long)n);
            }
            cJSON_Delete(cur);
        }
        dev_unlock(d);
    }
    cJSON_Delete(agents);
}

static void *health_main(void *arg)
{
    dsrv_t *d = arg;
    pthread_mutex_lock(&d->waitmu);
    while (!atomic_load(&d->stopping)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ms = d->health_interval_ms;
        ts.tv_sec += ms / 1000;
        ts.tv_nsec += (ms % 1000) * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (!atomic_load(&d->stopping) &&
               pthread_cond_timedwait(&d->waitcv, &d->waitmu, &ts) == 0) {
        }
        if (atomic_load(&d->stopping))
            break;
        pthread_mutex_unlock(&d->waitmu);
        check_all(d);
        pthread_mutex_lock(&d->waitmu);
    }
    pthread_mutex_unlock(&d->waitmu);
    return NULL;
}

int dev_health_start(dsrv_t *d)
{
    if (d->health_interval_ms <= 0)
        return 0;
    if (pthread_create(&d->health_thread, NULL, health_main, d) != 0)
        return -1;
    d->health_started = true;
    return 0;
}

void dev_health_stop(dsrv_t *d)
{
    pthread_mutex_lock(&d->waitmu);
    atomic_store(&d->stopping, true);
    pthread_cond_broadcast(&d->waitcv);
    pthread_mutex_unlock(&d->waitmu);
    if (d->health_started)
        pthread_join(d->health_thread, NULL);
    d->health_started = false;
}
