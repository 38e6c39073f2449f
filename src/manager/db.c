/* db.c — truced's SQLite store (one connection, serialised by SQLite's full mutex mode). */
#include <errno.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "manager/db.h"

struct db {
    sqlite3 *h;
};

/* synchronous=FULL: every commit is on disk when it returns, so a power cut (the appliance's
 * machine switched off) loses no definition; NORMAL would lose what the WAL had not yet
 * checkpointed (seen: every VM gone after a cut 30 s after their creation). */
static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS vms ("
    " name TEXT PRIMARY KEY, config TEXT NOT NULL, state TEXT NOT NULL, desired TEXT NOT NULL,"
    " pid INTEGER NOT NULL DEFAULT 0, sock TEXT NOT NULL DEFAULT '',"
    " autostart INTEGER NOT NULL DEFAULT 0, exit_status INTEGER NOT NULL DEFAULT -1,"
    " reason TEXT NOT NULL DEFAULT '', mem_mib INTEGER NOT NULL, changed INTEGER NOT NULL,"
    " limits TEXT NOT NULL DEFAULT '{}');"
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, t INTEGER NOT NULL, vm TEXT NOT NULL,"
    " state TEXT NOT NULL, detail TEXT NOT NULL);";

int db_open(const char *path, struct db **out, char *err, size_t errlen)
{
    struct db *db = calloc(1, sizeof(*db));
    if (!db)
        return -ENOMEM;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    char *msg = NULL;
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db->h, 5000) != SQLITE_OK ||
        sqlite3_exec(db->h, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, msg ? msg : sqlite3_errmsg(db->h));
        sqlite3_free(msg);
        sqlite3_close(db->h);
        free(db);
        return -EIO;
    }
    /* A database made before the limits column: add it (an error just means it is there). */
    sqlite3_exec(db->h, "ALTER TABLE vms ADD COLUMN limits TEXT NOT NULL DEFAULT '{}'", NULL, NULL,
                 NULL);
    *out = db;
    return 0;
}

void db_close(struct db *db)
{
    if (db) {
        sqlite3_close(db->h);
        free(db);
    }
}

static sqlite3_stmt *prep(struct db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK)
        fprintf(stderr, "truced: sqlite: %s: %s\n", sqlite3_errmsg(db->h), sql);
    return st;
}

/* Step ST once to completion and finalise it: 0, -EEXIST on a constraint, or -EIO. */
static int run(sqlite3_stmt *st)
{
    if (!st)
        return -EIO;
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc == SQLITE_CONSTRAINT ? -EEXIST : -EIO;
}

int db_event(struct db *db, const char *vm, const char *state, const char *detail)
{
    sqlite3_stmt *st = prep(db, "INSERT INTO events(t, vm, state, detail) VALUES(?,?,?,?)");
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, time(NULL));
    sqlite3_bind_text(st, 2, vm, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, detail ? detail : "", -1, SQLITE_TRANSIENT);
    int rc = run(st);
    /* the log keeps the last DB_EVENTS_KEPT changes */
    if (!rc && (st = prep(db, "DELETE FROM events WHERE id <= (SELECT MAX(id) FROM events) - ?"))) {
        sqlite3_bind_int(st, 1, DB_EVENTS_KEPT);
        rc = run(st);
    }
    return rc;
}

int db_create(struct db *db, const struct vm_row *v)
{
    sqlite3_stmt *st = prep(db, "INSERT INTO vms(name, config, state, desired, autostart, mem_mib,"
                                " changed, limits) VALUES(?,?,?,?,?,?,?,?)");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, v->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, v->config, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, v->state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, v->desired, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, v->autostart);
    sqlite3_bind_int64(st, 6, v->mem_mib);
    sqlite3_bind_int64(st, 7, time(NULL));
    sqlite3_bind_text(st, 8, v->limits[0] ? v->limits : "{}", -1, SQLITE_TRANSIENT);
    int rc = run(st);
    if (!rc)
        db_event(db, v->name, v->state, "created");
    return rc;
}

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(dst, n, "%s", s ? (const char *)s : "");
}

static int row_from(sqlite3_stmt *st, struct vm_row *v)
{
    memset(v, 0, sizeof(*v));
    copy_col(v->name, sizeof(v->name), st, 0);
    const unsigned char *c = sqlite3_column_text(st, 1);
    v->config = strdup(c ? (const char *)c : "{}");
    copy_col(v->state, sizeof(v->state), st, 2);
    copy_col(v->desired, sizeof(v->desired), st, 3);
    v->pid = sqlite3_column_int(st, 4);
    copy_col(v->sock, sizeof(v->sock), st, 5);
    v->autostart = sqlite3_column_int(st, 6);
    v->exit_status = sqlite3_column_int(st, 7);
    copy_col(v->reason, sizeof(v->reason), st, 8);
    v->mem_mib = sqlite3_column_int64(st, 9);
    v->changed = sqlite3_column_int64(st, 10);
    copy_col(v->limits, sizeof(v->limits), st, 11);
    return v->config ? 0 : -ENOMEM;
}

#define COLS                                                                                       \
    "name, config, state, desired, pid, sock, autostart, exit_status, reason, mem_mib, changed, "  \
    "limits"

int db_get(struct db *db, const char *name, struct vm_row *v)
{
    sqlite3_stmt *st = prep(db, "SELECT " COLS " FROM vms WHERE name = ?");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? row_from(st, v) : rc == SQLITE_DONE ? -ENOENT : -EIO;
    sqlite3_finalize(st);
    return rc;
}

int db_list(struct db *db, struct vm_row **out, size_t *n)
{
    sqlite3_stmt *st = prep(db, "SELECT " COLS " FROM vms ORDER BY name");
    if (!st)
        return -EIO;
    struct vm_row *rows = NULL;
    size_t cnt = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct vm_row *nr = realloc(rows, (cnt + 1) * sizeof(*rows));
        if (!nr || row_from(st, &nr[cnt]) < 0) {
            rows = nr ? nr : rows;
            db_free_rows(rows, cnt);
            sqlite3_finalize(st);
            return -ENOMEM;
        }
        rows = nr;
        cnt++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_free_rows(rows, cnt);
        return -EIO;
    }
    *out = rows;
    *n = cnt;
    return 0;
}

void db_free_rows(struct vm_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rows[i].config);
    free(rows);
}

int db_update(struct db *db, const struct vm_row *v)
{
    struct vm_row old;
    int rc = db_get(db, v->name, &old);
    if (rc < 0)
        return rc;
    bool changed = strcmp(old.state, v->state) != 0;
    free(old.config);
    sqlite3_stmt *st = prep(db, "UPDATE vms SET state=?, desired=?, pid=?, sock=?, exit_status=?,"
                                " reason=?, changed=CASE WHEN state=? THEN changed ELSE ? END"
                                " WHERE name=?");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, v->state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, v->desired, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, v->pid);
    sqlite3_bind_text(st, 4, v->sock, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 5, v->exit_status);
    sqlite3_bind_text(st, 6, v->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, v->state, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 8, time(NULL));
    sqlite3_bind_text(st, 9, v->name, -1, SQLITE_TRANSIENT);
    rc = run(st);
    if (!rc && changed)
        db_event(db, v->name, v->state, v->reason);
    return rc;
}

int db_set_autostart(struct db *db, const char *name, bool on)
{
    sqlite3_stmt *st = prep(db, "UPDATE vms SET autostart=? WHERE name=?");
    if (!st)
        return -EIO;
    sqlite3_bind_int(st, 1, on);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
    return run(st);
}

int db_delete(struct db *db, const char *name)
{
    sqlite3_stmt *st = prep(db, "DELETE FROM vms WHERE name=?");
    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    int rc = run(st);
    if (!rc)
        db_event(db, name, "deleted", "");
    return rc;
}

char *db_events_json(struct db *db, int64_t since, int max)
{
    sqlite3_stmt *st = prep(db, "SELECT id, t, vm, state, detail FROM events WHERE id > ?"
                                " ORDER BY id LIMIT ?");
    if (!st)
        return NULL;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int(st, 2, max);
    json_t *a = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(a, json_pack("{s:I, s:I, s:s, s:s, s:s}", "id",
                                           (json_int_t)sqlite3_column_int64(st, 0), "time",
                                           (json_int_t)sqlite3_column_int64(st, 1), "vm",
                                           (const char *)sqlite3_column_text(st, 2), "state",
                                           (const char *)sqlite3_column_text(st, 3), "detail",
                                           (const char *)sqlite3_column_text(st, 4)));
    sqlite3_finalize(st);
    char *s = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return s;
}
