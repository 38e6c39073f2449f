/* db.h — truced's state in SQLite: VM definitions, desired/actual state, process, events. */
#ifndef TRUCE_MANAGER_DB_H
#define TRUCE_MANAGER_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_NAME_MAX    64
#define DB_EVENTS_KEPT 10000 /* older events are dropped */

struct db;

/* One VM's row. STATE is one of defined, starting, running, paused, stopping, stopped,
 * crashed; DESIRED is running or stopped. PID is 0 when no truce process is known. */
struct vm_row {
    char name[VM_NAME_MAX];
    char *config; /* the --config-file JSON, malloc'ed */
    char state[16];
    char desired[16];
    int pid;
    char sock[256];
    bool autostart;
    int exit_status; /* -1: none recorded; else truce's exit status, or 128 + signal */
    char reason[256];
    int64_t mem_mib;  /* machine-config.mem_size_mib, for admission */
    int64_t changed;  /* unix time of the last state change */
    char limits[256]; /* cgroup limits as JSON: {"cpus", "memory_max_mib", "io_weight"}, "{}" */
};

/* Open (creating the schema of) the database at PATH. Returns 0 or -errno with *ERR set. */
int db_open(const char *path, struct db **out, char *err, size_t errlen);
void db_close(struct db *db);

/* Insert a new VM. -EEXIST when NAME is taken. */
int db_create(struct db *db, const struct vm_row *v);
/* Fill V (V->config malloc'ed) for NAME. -ENOENT when there is none. */
int db_get(struct db *db, const char *name, struct vm_row *v);
/* Every VM, ordered by name: *OUT malloc'ed array of *N rows (free with db_free_rows). */
int db_list(struct db *db, struct vm_row **out, size_t *n);
void db_free_rows(struct vm_row *rows, size_t n);
/* Store state, desired, pid, sock, exit_status, reason of V (not config/name) and log an event
 * when the state changed. */
int db_update(struct db *db, const struct vm_row *v);
int db_set_autostart(struct db *db, const char *name, bool on);
int db_delete(struct db *db, const char *name);

/* Events: (id, unix time, vm, state, detail) rows with id > SINCE, at most MAX, as a JSON array
 * string (malloc'ed). */
char *db_events_json(struct db *db, int64_t since, int max);
int db_event(struct db *db, const char *vm, const char *state, const char *detail);

#endif
