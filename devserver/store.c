/*
 * devserver/store.c - SQLite storage.  Each object is kept as its API JSON plus the
 * columns needed to look it up, filter and order.  One connection, one mutex.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS agents(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " api_key TEXT, health_failures INTEGER DEFAULT 0, created_us INTEGER NOT NULL, json TEXT NOT "
    "NULL);"
    "CREATE TABLE IF NOT EXISTS tasks(id TEXT PRIMARY KEY, name TEXT UNIQUE, agent_id TEXT,"
    " status TEXT, created_us INTEGER NOT NULL, json TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS tasks_agent ON tasks(agent_id);"
    "CREATE TABLE IF NOT EXISTS trackers(id TEXT PRIMARY KEY, task_id TEXT, agent_id TEXT,"
    " created_us INTEGER NOT NULL, json TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS trackers_task ON trackers(task_id, agent_id);"
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT UNIQUE NOT NULL, task_id TEXT, agent_id TEXT, json TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS events_task ON events(task_id, agent_id, seq);"
    "CREATE TABLE IF NOT EXISTS messages(id TEXT PRIMARY KEY, task_id TEXT,"
    " created_us INTEGER NOT NULL, json TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS messages_task ON messages(task_id, created_us, id);"
    "CREATE TABLE IF NOT EXISTS states(id TEXT PRIMARY KEY, task_id TEXT, agent_id TEXT,"
    " created_us INTEGER NOT NULL, json TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS states_task ON states(task_id, agent_id);";

int dev_store_open(dsrv_t *d, const char *path)
{
    const char *p = path ? path : ":memory:";
    if (sqlite3_open_v2(p, &d->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        fprintf(stderr, "agentex-dev: cannot open database %s: %s\n", p,
                d->db ? sqlite3_errmsg(d->db) : "out of memory");
        sqlite3_close(d->db);
        d->db = NULL;
        return -1;
    }
    sqlite3_busy_timeout(d->db, 5000);
    char *err = NULL;
    if (path && sqlite3_exec(d->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL,
                             &err) != SQLITE_OK) {
        fprintf(stderr, "agentex-dev: %s: %s\n", p, err ? err : "pragma failed");
        sqlite3_free(err);
        sqlite3_close(d->db);
        d->db = NULL;
        return -1;
    }
    if (sqlite3_exec(d->db, SCHEMA, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "agentex-dev: %s: %s\n", p, err ? err : "schema failed");
        sqlite3_free(err);
        sqlite3_close(d->db);
        d->db = NULL;
        return -1;
    }
    return 0;
}

void dev_store_close(dsrv_t *d)
{
    if (d->db)
        sqlite3_close(d->db);
    d->db = NULL;
}

void dev_lock(dsrv_t *d) { pthread_mutex_lock(&d->dbmu); }
void dev_unlock(dsrv_t *d) { pthread_mutex_unlock(&d->dbmu); }

static sqlite3_stmt *prepare(dsrv_t *d, const char *sql, const char *fmt, va_list ap)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(d->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "agentex-dev: sql error: %s (%s)\n", sqlite3_errmsg(d->db), sql);
        return NULL;
    }
    for (int i = 0; fmt && fmt[i]; i++) {
        if (fmt[i] == 's') {
            const char *s = va_arg(ap, const char *);
            if (s)
                sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        }
    }
    return st;
}

int dev_exec(dsrv_t *d, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = prepare(d, sql, fmt, ap);
    va_end(ap);
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        fprintf(stderr, "agentex-dev: sql error: %s\n", sqlite3_errmsg(d->db));
    sqlite3_finalize(st);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : -1;
}

cJSON *dev_get_json(dsrv_t *d, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = prepare(d, sql, fmt, ap);
    va_end(ap);
    if (!st)
        return NULL;
    cJSON *out = NULL;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (t)
            out = dev_parse(t, (size_t)sqlite3_column_bytes(st, 0));
    }
    sqlite3_finalize(st);
    return out;
}

cJSON *dev_list_json(dsrv_t *d, const char *sql, const char *fmt, ...)
{
    cJSON *arr = cJSON_CreateArray();
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = prepare(d, sql, fmt, ap);
    va_end(ap);
    if (!st)
        return arr;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        cJSON *j = t ? dev_parse(t, (size_t)sqlite3_column_bytes(st, 0)) : NULL;
        if (j)
            cJSON_AddItemToArray(arr, j);
    }
    sqlite3_finalize(st);
    return arr;
}

int64_t dev_get_int(dsrv_t *d, const char *sql, int64_t def, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sqlite3_stmt *st = prepare(d, sql, fmt, ap);
    va_end(ap);
    if (!st)
        return def;
    int64_t v = def;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

int64_t dev_last_rowid(dsrv_t *d) { return sqlite3_last_insert_rowid(d->db); }
int dev_begin(dsrv_t *d) { return dev_exec(d, "BEGIN IMMEDIATE", NULL); }
int dev_commit(dsrv_t *d) { return dev_exec(d, "COMMIT", NULL); }
void dev_rollback(dsrv_t *d) { (void)dev_exec(d, "ROLLBACK", NULL); }

/* ---- agents ------------------------------------------------------------------------ */

cJSON *dev_agent_get(dsrv_t *d, const char *id, const char *name)
{
    if (id)
        return dev_get_json(d, "SELECT json FROM agents WHERE id=?", "s", id);
    return dev_get_json(d, "SELECT json FROM agents WHERE name=?", "s", name);
}

int dev_agent_put(dsrv_t *d, const cJSON *agent)
{
    char *text = dev_print(agent);
    if (!text)
        return -1;
    int64_t created = 0;
    (void)dev_parse_time(dev_jstr(agent, "created_at"), &created);
    int rc = dev_exec(d,
                      "INSERT INTO agents(id,name,created_us,json) VALUES(?,?,?,?) "
                      "ON CONFLICT(id) DO UPDATE SET name=excluded.name, json=excluded.json",
                      "ssis", dev_jstr(agent, "id"), dev_jstr(agent, "name"), created, text);
    cJSON_free(text);
    return rc;
}

static const char *const AGENT_PUBLIC_KEYS[] = {"id",
                                                "name",
                                                "description",
                                                "status",
                                                "acp_type",
                                                "status_reason",
                                                "created_at",
                                                "updated_at",
                                                "registration_metadata",
                                                "registered_at",
                                                "agent_input_type",
                                                "production_deployment_id",
                                                NULL};

cJSON *dev_agent_public(const cJSON *agent)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; AGENT_PUBLIC_KEYS[i]; i++)
        dev_copy_key(o, agent, AGENT_PUBLIC_KEYS[i]);
    return o;
}

/* ---- tasks --------------------------------------------------------------------------- */

cJSON *dev_task_get(dsrv_t *d, const char *id, const char *name)
{
    if (id)
        return dev_get_json(d, "SELECT json FROM tasks WHERE id=?", "s", id);
    return dev_get_json(d, "SELECT json FROM tasks WHERE name=?", "s", name);
}

int dev_task_put(dsrv_t *d, const cJSON *task)
{
    char *text = dev_print(task);
    if (!text)
        return -1;
    int rc = dev_exec(d, "UPDATE tasks SET status=?, json=? WHERE id=?", "sss",
                      dev_jstr(task, "status"), text, dev_jstr(task, "id"));
    cJSON_free(text);
    return rc;
}

const char *dev_task_agent_id(dsrv_t *d, const char *task_id, char *buf, size_t len)
{
    sqlite3_stmt *st = NULL;
    const char *out = NULL;
    if (sqlite3_prepare_v2(d->db, "SELECT agent_id FROM tasks WHERE id=?", -1, &st, NULL) !=
        SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, task_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
        out = buf;
    }
    sqlite3_finalize(st);
    return out;
}

cJSON *dev_task_create(dsrv_t *d, const char *agent_id, const char *name, const cJSON *params,
                       const cJSON *metadata)
{
    char id[37], tid[37], ts[40];
    dev_uuid4(id);
    dev_uuid4(tid);
    int64_t now = agx_now_us();
    dev_iso_time(now, ts);
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "id", id);
    dev_add_str(t, "name", name);
    cJSON_AddStringToObject(t, "status", "RUNNING");
    cJSON_AddStringToObject(t, "status_reason", "Task created, forwarding to ACP server");
    cJSON_AddStringToObject(t, "created_at", ts);
    cJSON_AddStringToObject(t, "updated_at", ts);
    cJSON_AddNullToObject(t, "cleaned_at");
    cJSON_AddItemToObject(
        t, "params", cJSON_IsObject(params) ? cJSON_Duplicate(params, true) : cJSON_CreateNull());
    cJSON_AddItemToObject(t, "task_metadata",
                          cJSON_IsObject(metadata) ? cJSON_Duplicate(metadata, true)
                                                   : cJSON_CreateNull());
    cJSON *tr = cJSON_CreateObject();
    cJSON_AddStringToObject(tr, "id", tid);
    cJSON_AddStringToObject(tr, "agent_id", agent_id);
    cJSON_AddStringToObject(tr, "task_id", id);
    cJSON_AddNullToObject(tr, "status");
    cJSON_AddNullToObject(tr, "status_reason");
    cJSON_AddNullToObject(tr, "last_processed_event_id");
    cJSON_AddStringToObject(tr, "created_at", ts);
    cJSON_AddStringToObject(tr, "updated_at", ts);
    char *ttext = dev_print(t), *trtext = dev_print(tr);
    cJSON_Delete(tr);
    int rc = -1;
    if (ttext && trtext && dev_begin(d) == 0) {
        if (dev_exec(d,
                     "INSERT INTO tasks(id,name,agent_id,status,created_us,json) "
                     "VALUES(?,?,?,?,?,?)",
                     "ssssis", id, name, agent_id, "RUNNING", now, ttext) == 0 &&
            dev_exec(d,
                     "INSERT INTO trackers(id,task_id,agent_id,created_us,json) VALUES(?,?,?,?,?)",
                     "sssis", tid, id, agent_id, now, trtext) == 0 &&
            dev_commit(d) == 0)
            rc = 0;
        else
            dev_rollback(d);
    }
    cJSON_free(ttext);
    cJSON_free(trtext);
    if (rc) {
        cJSON_Delete(t);
        return NULL;
    }
    return t;
}

int dev_task_set_status(dsrv_t *d, cJSON *task, const char *status, const char *reason)
{
    char ts[40];
    dev_iso_time(agx_now_us(), ts);
    cJSON_ReplaceItemInObjectCaseSensitive(task, "status", cJSON_CreateString(status));
    cJSON_ReplaceItemInObjectCaseSensitive(
        task, "status_reason", reason ? cJSON_CreateString(reason) : cJSON_CreateNull());
    cJSON_ReplaceItemInObjectCaseSensitive(task, "updated_at", cJSON_CreateString(ts));
    return dev_task_put(d, task);
}

bool dev_status_terminal(const char *status)
{
    return status && strcmp(status, "RUNNING") != 0 && strcmp(status, "INTERRUPTED") != 0;
}

/* ---- messages ------------------------------------------------------------------------ */

cJSON *dev_message_create(dsrv_t *d, const char *task_id, const cJSON *content,
                          const char *streaming_status, int64_t created_us)
{
    char id[25], ts[40];
    dev_object_id(id);
    dev_iso_time(created_us, ts);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "task_id", task_id);
    cJSON_AddItemToObject(m, "content", cJSON_Duplicate(content, true));
    dev_add_str(m, "streaming_status", streaming_status);
    cJSON_AddStringToObject(m, "created_at", ts);
    cJSON_AddStringToObject(m, "updated_at", ts);
    char *text = dev_print(m);
    int rc = text ? dev_exec(d, "INSERT INTO messages(id,task_id,created_us,json) VALUES(?,?,?,?)",
                             "ssis", id, task_id, created_us, text)
                  : -1;
    cJSON_free(text);
    if (rc) {
        cJSON_Delete(m);
        return NULL;
    }
    return m;
}

cJSON *dev_message_get(dsrv_t *d, const char *id)
{
    return dev_get_json(d, "SELECT json FROM messages WHERE id=?", "s", id);
}

int dev_message_put(dsrv_t *d, const cJSON *msg)
{
    char *text = dev_print(msg);
    if (!text)
        return -1;
    int rc = dev_exec(d, "UPDATE messages SET json=? WHERE id=?", "ss", text, dev_jstr(msg, "id"));
    cJSON_free(text);
    return rc;
}

/* ---- events --------------------------------------------------------------------------- */

cJSON *dev_event_create(dsrv_t *d, const char *task_id, const char *agent_id, const cJSON *content)
{
    char id[37], ts[40];
    dev_uuid4(id);
    dev_iso_time(agx_now_us(), ts);
    if (dev_begin(d))
        return NULL;
    if (dev_exec(d, "INSERT INTO events(id,task_id,agent_id,json) VALUES(?,?,?,'{}')", "sss", id,
                 task_id, agent_id)) {
        dev_rollback(d);
        return NULL;
    }
    int64_t seq = dev_last_rowid(d);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", id);
    cJSON_AddNumberToObject(e, "sequence_id", (double)seq);
    cJSON_AddStringToObject(e, "task_id", task_id);
    cJSON_AddStringToObject(e, "agent_id", agent_id);
    cJSON_AddStringToObject(e, "created_at", ts);
    cJSON_AddItemToObject(e, "content",
                          content ? cJSON_Duplicate(content, true) : cJSON_CreateNull());
    char *text = dev_print(e);
    if (!text || dev_exec(d, "UPDATE events SET json=? WHERE seq=?", "si", text, seq) ||
        dev_commit(d)) {
        cJSON_free(text);
        dev_rollback(d);
        cJSON_Delete(e);
        return NULL;
    }
    cJSON_free(text);
    return e;
}
