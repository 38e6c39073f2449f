/* migrate.c — moving a VM between truceds: the destination prepares a receiver (a bare truce API
 * server told PUT /migration/receive) and a row for the VM, the source's truce sends it (PUT
 * /migration), then the destination commits (running) and the source forgets it; a failure
 * aborts the destination and the VM runs on. The moved VM has its API, as any other. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "manager/hclient.h"
#include "manager/mgr.h"
#include "manager/routes.h"

#define PREPARE_MS 10000  /* the destination's receiver listening */
#define MOVE_MS    300000 /* PUT /migration: the whole transfer */
#define RECEIVE_S  300    /* PUT /migration/receive: the wait for the source */
/* ... and the answer: the wait, then the transfer (truce gives up after 120 s without progress) */
#define RECEIVE_ANSWER_MS ((RECEIVE_S + 150) * 1000)

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Is something listening on URL: the socket file of unix:PATH, or a LISTEN entry for the port
 * of tcp:HOST:PORT in /proc/net/tcp{,6}? (Connecting would take the receiver's one source.) */
static bool listening(const char *url)
{
    struct stat st;
    if (!strncmp(url, "unix:", 5))
        return stat(url + 5, &st) == 0 && S_ISSOCK(st.st_mode);
    const char *colon = strrchr(url, ':');
    unsigned port = colon ? (unsigned)atoi(colon + 1) : 0;
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "re");
        char line[512];
        while (f && fgets(line, sizeof(line), f)) {
            unsigned lport, state;
            if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &lport, &state) == 2 &&
                lport == port && state == 0x0A) {
                fclose(f);
                return true;
            }
        }
        if (f)
            fclose(f);
    }
    return false;
}

/* Wait up to MS for NAME's receiver to listen on URL, while its state stays STATE. */
static bool wait_listening(struct mgr *m, const char *name, const char *url, const char *state,
                           int ms)
{
    for (int t = 0; t <= ms; t += 50) {
        if (listening(url))
            return true;
        struct vm_row v;
        if (db_get(m->db, name, &v) < 0)
            return false;
        free(v.config);
        if (strcmp(v.state, state))
            return false;
        sleep_ms(50);
    }
    return false;
}

/* Wait up to MS for NAME's process to be reaped. */
static void wait_reaped(struct mgr *m, const char *name, int ms)
{
    for (int t = 0; t <= ms; t += 50) {
        struct vm_row v;
        if (db_get(m->db, name, &v) < 0)
            return;
        free(v.config);
        if (v.pid <= 0)
            return;
        sleep_ms(50);
    }
}

/* ---- destination ---------------------------------------------------------------------------- */

/* NAME, still the incoming VM of process PID, has arrived: running. False when the row moved on
 * (committed, aborted, deleted or another process). */
static bool mark_arrived(struct mgr *m, const char *name, pid_t pid, const char *reason)
{
    struct vm_row v;
    bool done = false;
    pthread_mutex_lock(&m->lock);
    if (!db_get(m->db, name, &v)) {
        if (v.pid == pid && !strcmp(v.state, "starting") &&
            !strncmp(v.reason, VM_INCOMING_ON, strlen(VM_INCOMING_ON))) {
            snprintf(v.state, sizeof(v.state), "running");
            snprintf(v.reason, sizeof(v.reason), "%s", reason);
            done = db_update(m->db, &v) == 0;
        }
        free(v.config);
    }
    pthread_mutex_unlock(&m->lock);
    return done;
}

struct receiver {
    struct mgr *m;
    pid_t pid;
    char name[VM_NAME_MAX + 1];
    char sock[PATH_MAX];
    char body[PATH_MAX + 64];
};

/* The receiver's PUT /migration/receive, answered once the VM arrived or the receive failed
 * (then its truce, a bare API server, is ended: the monitor records why from its log). */
static void *receive_run(void *arg)
{
    struct receiver *r = arg;
    struct hc_reply rep = {0};
    int rc =
        hc_request(r->sock, "PUT", "/migration/receive", r->body, NULL, RECEIVE_ANSWER_MS, &rep);
    if (rc == 0 && rep.status == 204)
        mark_arrived(r->m, r->name, r->pid, "migrated in");
    else if (kill(r->pid, 0) == 0)
        kill(r->pid, SIGTERM);
    free(rep.body);
    free(r);
    return NULL;
}

/* Tell NAME's receiver (process PID, API on SOCK) to take the VM from URL, in a thread. */
static int receive_start(struct mgr *m, const char *name, pid_t pid, const char *sock,
                         const char *url)
{
    struct receiver *r = calloc(1, sizeof(*r));
    json_t *b = json_pack("{s:s, s:i}", "listen_url", url, "timeout_s", RECEIVE_S);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    int rc = r && text ? 0 : -ENOMEM;
    if (!rc) {
        *r = (struct receiver){.m = m, .pid = pid};
        snprintf(r->name, sizeof(r->name), "%s", name);
        snprintf(r->sock, sizeof(r->sock), "%s", sock);
        snprintf(r->body, sizeof(r->body), "%s", text);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        rc = -pthread_create(&t, &at, receive_run, r);
        pthread_attr_destroy(&at);
    }
    if (rc)
        free(r);
    free(text);
    return rc;
}

int vm_incoming(struct mgr *m, json_t *body, struct answer *a)
{
    json_t *listen = json_object_get(body, "listen");
    if (!json_is_object(body))
        return fail(a, 400,
                    "body: must be a JSON object (name, config, limits, autostart, listen)");
    if (listen && (!json_is_string(listen) || (strncmp(json_string_value(listen), "unix:/", 6) &&
                                               strncmp(json_string_value(listen), "tcp:", 4))))
        return fail(a, 400, "listen: not unix:/PATH or tcp:HOST:PORT");
    char url[PATH_MAX + 16];
    snprintf(url, sizeof(url), "%s", listen ? json_string_value(listen) : "");
    json_t *b = json_deep_copy(body);
    json_object_del(b, "listen");
    int rc = route_create(m, b, a);
    json_decref(b);
    if (rc < 0)
        return -1;
    const char *name = json_string_value(json_object_get(body, "name"));
    json_decref(a->body);
    a->body = NULL;
    if (!url[0])
        snprintf(url, sizeof(url), "unix:%s/vms/%s/migrate.sock", m->state_dir, name);
    struct answer tmp = {0};
    if (mgr_busy_take(m, name) < 0) { /* just created: nobody else can hold it */
        return fail(a, 409, "VM '%s' is busy", name);
    }
    rc = vm_launch(m, name, false, url, a);
    struct vm_row row;
    if (rc == 0 && !db_get(m->db, name, &row)) {
        free(row.config);
        if (receive_start(m, name, row.pid, row.sock, url) < 0)
            rc = fail(a, 500, "the receiver of '%s': out of memory or threads", name);
    }
    if (rc == 0 && !wait_listening(m, name, url, "starting", PREPARE_MS))
        rc = fail(a, 502, "the receiver of '%s' did not listen on %s", name, url);
    if (rc < 0) {
        struct vm_row v;
        if (!db_get(m->db, name, &v)) {
            if (v.pid > 0)
                kill(v.pid, SIGKILL);
            free(v.config);
        }
        wait_reaped(m, name, 5000);
        vm_delete(m, name, &tmp);
        json_decref(tmp.body);
    }
    mgr_busy_drop(m, name);
    if (rc < 0)
        return -1;
    a->status = 201;
    a->body = json_pack("{s:s, s:s}", "name", name, "url", url);
    return 0;
}

/* Is V a VM coming in: a receiver (its URL in the reason), or one that came in by a receiver of
 * an older truced (`truce migrate-receive`, no API)? */
static bool incoming(const struct vm_row *v)
{
    if (!strcmp(v->state, "running") && !strcmp(v->reason, "migrated in"))
        return true; /* the receiver's answer came before the source's commit */
    return !strcmp(v->state, "starting") &&
           (!v->sock[0] || !strncmp(v->reason, VM_INCOMING_ON, strlen(VM_INCOMING_ON)));
}

int vm_incoming_end(struct mgr *m, const char *name, bool commit, struct answer *a)
{
    struct vm_row v;
    if (db_get(m->db, name, &v) < 0)
        return fail(a, 404, "no incoming VM named '%s'", name);
    free(v.config);
    if (!incoming(&v))
        return fail(a, 409, "VM '%s' is %s, not an incoming migration", name, v.state);
    if (mgr_busy_take(m, name) < 0)
        return fail(a, 409, "VM '%s' is busy with another operation", name);
    int rc = 0;
    if (commit) {
        /* The source's PUT /migration answered after the receiver took the VM: it is running
         * there unless its process has gone since (then the monitor has a reason). */
        if (v.pid <= 0 || kill(v.pid, 0) < 0) {
            char line[300];
            vm_last_log_line(m, name, line, sizeof(line));
            rc = fail(a, 409, "VM '%s' did not arrive: %s", name, line);
        } else if (!mark_arrived(m, name, v.pid, "migrated in") && !v.sock[0]) {
            vm_set_state(m, name, "running", "migrated in (truce migrate-receive, no API)");
        }
    } else {
        if (v.pid > 0)
            kill(v.pid, SIGKILL);
        vm_set_state(m, name, "stopping", "migration aborted by the source");
        wait_reaped(m, name, 5000);
        struct answer tmp = {0};
        vm_delete(m, name, &tmp);
        json_decref(tmp.body);
    }
    mgr_busy_drop(m, name);
    if (rc < 0)
        return -1;
    a->status = 200;
    a->body = json_pack("{s:s, s:s}", "name", name, "migration", commit ? "committed" : "aborted");
    return 0;
}

/* The URL a receiver of an older truced (`truce migrate-receive --listen URL`) listens on, read
 * from its command line into BUF; NULL when there is none. */
static const char *legacy_url(pid_t pid, char *buf, size_t len)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/cmdline", pid);
    FILE *f = fopen(p, "re");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    const char *url = NULL; /* the word after --listen (words are NUL-separated) */
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
        if (!strcmp(buf + i, "--listen") && i + 9 < n)
            url = buf + i + 9;
    return url;
}

/* Does the truce API on SOCK run a VM (running or paused), not just wait for one? */
static bool api_has_vm(const char *sock)
{
    char *body = NULL;
    bool has = truce_api(sock, "GET", "/", NULL, &body) == 200 && body &&
               (strstr(body, "\"Running\"") || strstr(body, "\"Paused\""));
    free(body);
    return has;
}

void vm_incoming_watch(struct mgr *m, const struct vm_row *v)
{
    char cmd[4096];
    if (strcmp(v->state, "starting") || v->pid <= 0)
        return;
    const char *url = NULL;
    if (!v->sock[0])
        url = legacy_url(v->pid, cmd, sizeof(cmd));
    else if (!strncmp(v->reason, VM_INCOMING_ON, strlen(VM_INCOMING_ON)))
        url = v->reason + strlen(VM_INCOMING_ON);
    if (!url || listening(url) || mgr_busy_take(m, v->name) < 0)
        return;
    /* Not listening any more, alive, and no operation holds it: the VM arrived, or (with an
     * API that has no VM) the receive failed and the bare truce is ended. */
    if (kill(v->pid, 0) == 0) {
        if (!v->sock[0])
            vm_set_state(m, v->name, "running", "migrated in (noticed by truced)");
        else if (api_has_vm(v->sock))
            mark_arrived(m, v->name, v->pid, "migrated in (noticed by truced)");
        else
            kill(v->pid, SIGTERM);
    }
    mgr_busy_drop(m, v->name);
}

/* ---- source -----------------------------------------------------------------------------------
 */

/* A request to the destination truced; its status, or -errno. *OUT: its JSON (may be NULL). */
static int dest(const char *to, const char *token, const char *method, const char *path,
                json_t *body, int timeout_ms, json_t **out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    struct hc_reply r = {0};
    int rc = hc_request(to, method, path, text, token, timeout_ms, &r);
    free(text);
    if (rc < 0)
        return rc;
    if (out)
        *out = json_loads(r.body, 0, NULL);
    free(r.body);
    return r.status;
}

static void set_desired(struct mgr *m, const char *name, const char *desired, const char *reason)
{
    struct vm_row v;
    pthread_mutex_lock(&m->lock);
    if (!db_get(m->db, name, &v)) {
        snprintf(v.desired, sizeof(v.desired), "%s", desired);
        snprintf(v.reason, sizeof(v.reason), "%s", reason);
        db_update(m->db, &v);
        free(v.config);
    }
    pthread_mutex_unlock(&m->lock);
}

int vm_migrate(struct mgr *m, const char *name, json_t *body, struct answer *a)
{
    const char *to = json_string_value(json_object_get(body, "to"));
    const char *token = json_string_value(json_object_get(body, "token"));
    json_t *dt = json_object_get(body, "max_downtime_ms"),
           *listen = json_object_get(body, "listen");
    if (!to || (to[0] != '/' && strncmp(to, "tcp:", 4)))
        return fail(a, 400, "to: missing, or not a truced address (/PATH or tcp:HOST:PORT)");
    struct vm_row v;
    if (db_get(m->db, name, &v) < 0)
        return fail(a, 404, "no VM named '%s'", name);
    char sock[sizeof(v.sock)];
    snprintf(sock, sizeof(sock), "%s", v.sock);
    json_t *cfg = json_loads(v.config, 0, NULL), *lim = json_loads(v.limits, 0, NULL);
    bool autostart = v.autostart, live = !strcmp(v.state, "running") || !strcmp(v.state, "paused");
    free(v.config);
    if (!live || !sock[0] || m->jail_uid >= 0) {
        json_decref(cfg);
        json_decref(lim);
        return fail(a, 409, "VM '%s' is %s: migration needs it running or paused%s", name, v.state,
                    !sock[0]           ? " with an API (not migrated in)"
                    : m->jail_uid >= 0 ? " and not under truce jail"
                                       : "");
    }
    /* 1. the destination prepares a receiver and a row */
    json_t *req = json_pack("{s:s, s:o, s:o, s:b}", "name", name, "config", cfg, "limits",
                            lim ? lim : json_object(), "autostart", autostart);
    if (listen)
        json_object_set(req, "listen", listen);
    json_t *got = NULL;
    int st = dest(to, token, "POST", "/v1/migrations", req, 30000, &got);
    json_decref(req);
    const char *url = json_string_value(json_object_get(got, "url"));
    if (st != 201 || !url) {
        const char *why = json_string_value(json_object_get(got, "error"));
        fail(a, st >= 400 && st < 500 ? st : 502, "destination %s: %s", to,
             st < 0 ? strerror(-st)
             : why  ? why
                    : "no receiver");
        json_decref(got);
        return -1;
    }
    /* 2. the source's truce sends the VM; its exit (status 20) is then a wanted stop */
    set_desired(m, name, "stopped", "migrating");
    json_t *mj = json_pack("{s:s}", "destination_url", url);
    if (dt)
        json_object_set(mj, "max_downtime_ms", dt);
    char *mbody = json_dumps(mj, JSON_COMPACT), path[VM_NAME_MAX + 40];
    json_decref(mj);
    struct hc_reply r = {0};
    int rc = hc_request(sock, "PUT", "/migration", mbody, NULL, MOVE_MS, &r);
    free(mbody);
    snprintf(path, sizeof(path), "/v1/migrations/%s/%s", name,
             rc == 0 && r.status == 204 ? "commit" : "abort");
    if (rc < 0 || r.status != 204) {
        set_desired(m, name, "running", "migration failed: the VM runs on here");
        dest(to, token, "POST", path, NULL, 30000, NULL);
        fail(a, 502, "truce PUT /migration: %s", rc < 0 ? strerror(-rc) : r.body);
        free(r.body);
        json_decref(got);
        return -1;
    }
    free(r.body);
    /* 3. the destination runs it: commit there, forget it here */
    json_t *cj = NULL;
    st = dest(to, token, "POST", path, NULL, 30000, &cj);
    wait_reaped(m, name, 10000);
    char line[300];
    vm_last_log_line(m, name, line, sizeof(line));
    struct answer tmp = {0};
    vm_delete(m, name, &tmp);
    json_decref(tmp.body);
    db_event(m->db, name, "migrated", to);
    a->status = 200;
    a->body = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "to", to, "destination",
                        st == 200 ? "running" : "did not confirm", "source", line);
    json_decref(cj);
    json_decref(got);
    return 0;
}
