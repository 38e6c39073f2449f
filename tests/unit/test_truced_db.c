/* test_truced_db.c — truced's SQLite store: rows, updates and their events, persistence, the
 * limits column added to an older database. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "manager/db.h"

static char dir[64];
static char path[128];

static int setup(void **st)
{
    snprintf(dir, sizeof(dir), "/tmp/truced-db-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
    struct db *db;
    char err[256];
    assert_int_equal(db_open(path, &db, err, sizeof(err)), 0);
    *st = db;
    return 0;
}

static int teardown(void **st)
{
    db_close(*st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void add(struct db *db, const char *name, int64_t mem)
{
    struct vm_row v = {.mem_mib = mem, .autostart = true};
    snprintf(v.name, sizeof(v.name), "%s", name);
    snprintf(v.state, sizeof(v.state), "defined");
    snprintf(v.desired, sizeof(v.desired), "stopped");
    v.config = "{\"boot-source\": {}}";
    assert_int_equal(db_create(db, &v), 0);
}

static int events(struct db *db, int64_t since)
{
    char *s = db_events_json(db, since, 1000);
    assert_non_null(s);
    int n = 0;
    for (char *p = s; (p = strstr(p, "\"id\"")); p++)
        n++;
    free(s);
    return n;
}

static void test_create_get_list(void **st)
{
    struct db *db = *st;
    add(db, "b", 64);
    add(db, "a", 32);
    struct vm_row v;
    assert_int_equal(db_get(db, "a", &v), 0);
    assert_string_equal(v.state, "defined");
    assert_string_equal(v.config, "{\"boot-source\": {}}");
    assert_int_equal(v.mem_mib, 32);
    assert_int_equal(v.exit_status, -1);
    assert_true(v.autostart);
    free(v.config);
    assert_int_equal(db_get(db, "zz", &v), -ENOENT);
    struct vm_row *rows;
    size_t n;
    assert_int_equal(db_list(db, &rows, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "a"); /* ordered by name */
    assert_string_equal(rows[1].name, "b");
    db_free_rows(rows, n);
}

static void test_duplicate_refused(void **st)
{
    struct db *db = *st;
    add(db, "a", 32);
    struct vm_row v = {.mem_mib = 1, .config = "{}"};
    snprintf(v.name, sizeof(v.name), "a");
    snprintf(v.state, sizeof(v.state), "defined");
    snprintf(v.desired, sizeof(v.desired), "stopped");
    assert_int_equal(db_create(db, &v), -EEXIST);
}

static void test_update_logs_state_changes_only(void **st)
{
    struct db *db = *st;
    add(db, "a", 32);
    assert_int_equal(events(db, 0), 1); /* created */
    struct vm_row v;
    assert_int_equal(db_get(db, "a", &v), 0);
    snprintf(v.state, sizeof(v.state), "running");
    v.pid = 4242;
    assert_int_equal(db_update(db, &v), 0);
    assert_int_equal(events(db, 0), 2);
    v.pid = 4243; /* same state: no event */
    assert_int_equal(db_update(db, &v), 0);
    assert_int_equal(events(db, 0), 2);
    assert_int_equal(events(db, 1), 1); /* since the first id */
    free(v.config);
    assert_int_equal(db_get(db, "a", &v), 0);
    assert_int_equal(v.pid, 4243);
    assert_string_equal(v.state, "running");
    free(v.config);
    assert_int_equal(db_set_autostart(db, "a", false), 0);
    assert_int_equal(db_get(db, "a", &v), 0);
    assert_false(v.autostart);
    free(v.config);
}

static void test_persists_and_deletes(void **st)
{
    struct db *db = *st;
    add(db, "keep", 128);
    add(db, "gone", 16);
    assert_int_equal(db_delete(db, "gone"), 0);
    db_close(db);
    char err[256];
    assert_int_equal(db_open(path, &db, err, sizeof(err)), 0); /* a restarted truced */
    *st = db;
    struct vm_row v;
    assert_int_equal(db_get(db, "keep", &v), 0);
    assert_int_equal(v.mem_mib, 128);
    free(v.config);
    assert_int_equal(db_get(db, "gone", &v), -ENOENT);
    assert_int_equal(events(db, 0), 3); /* two created, one deleted */
}

/* A database made before the limits column gains it on open; limits are kept per VM. */
static void test_limits_column_added(void **st)
{
    (void)st;
    char d[64] = "/tmp/truced-db-old-XXXXXX", p[128], err[256];
    assert_non_null(mkdtemp(d));
    snprintf(p, sizeof(p), "%s/old.db", d);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h,
                     "CREATE TABLE vms (name TEXT PRIMARY KEY, config TEXT NOT NULL, state TEXT "
                     "NOT NULL, desired TEXT NOT NULL, pid INTEGER NOT NULL DEFAULT 0, sock TEXT "
                     "NOT NULL DEFAULT '', autostart INTEGER NOT NULL DEFAULT 0, exit_status "
                     "INTEGER NOT NULL DEFAULT -1, reason TEXT NOT NULL DEFAULT '', mem_mib "
                     "INTEGER NOT NULL, changed INTEGER NOT NULL);"
                     "INSERT INTO vms(name, config, state, desired, mem_mib, changed) VALUES"
                     "('old', '{}', 'stopped', 'stopped', 64, 0);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    struct db *db;
    assert_int_equal(db_open(p, &db, err, sizeof(err)), 0);
    struct vm_row v;
    assert_int_equal(db_get(db, "old", &v), 0);
    assert_string_equal(v.limits, "{}");
    free(v.config);
    struct vm_row n = {.config = "{}", .mem_mib = 32};
    snprintf(n.name, sizeof(n.name), "new");
    snprintf(n.state, sizeof(n.state), "defined");
    snprintf(n.desired, sizeof(n.desired), "stopped");
    snprintf(n.limits, sizeof(n.limits), "{\"cpus\":0.5}");
    assert_int_equal(db_create(db, &n), 0);
    db_close(db);
    assert_int_equal(db_open(p, &db, err, sizeof(err)), 0); /* a second open: column there */
    assert_int_equal(db_get(db, "new", &v), 0);
    assert_string_equal(v.limits, "{\"cpus\":0.5}");
    free(v.config);
    db_close(db);
    unlink(p);
    rmdir(d);
}

static void test_open_bad_path(void **st)
{
    (void)st;
    struct db *db;
    char err[256] = "";
    assert_int_equal(db_open("/nonexistent-dir/x/t.db", &db, err, sizeof(err)), -EIO);
    assert_non_null(strstr(err, "/nonexistent-dir/x/t.db"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_get_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_logs_state_changes_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persists_and_deletes, setup, teardown),
        cmocka_unit_test(test_open_bad_path),
        cmocka_unit_test(test_limits_column_added),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
