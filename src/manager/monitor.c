/* monitor.c — truced's watch over VM processes: reaping, exit reasons, re-adoption, cgroups. */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "manager/hclient.h"
#include "manager/mgr.h"

int mgr_busy_take(struct mgr *m, const char *name)
{
    int rc = -EBUSY, free_slot = -1;
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < MGR_MAX_BUSY; i++) {
        if (!strcmp(m->busy[i], name))
            goto out;
        if (!m->busy[i][0] && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0) {
        snprintf(m->busy[free_slot], VM_NAME_MAX, "%s", name);
        rc = 0;
    }
out:
    pthread_mutex_unlock(&m->lock);
    return rc;
}

void mgr_busy_drop(struct mgr *m, const char *name)
{
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < MGR_MAX_BUSY; i++)
        if (!strcmp(m->busy[i], name))
            m->busy[i][0] = 0;
    pthread_mutex_unlock(&m->lock);
}

static const char *crash_at; /* TRUCED_CRASH_AT (see mgr.h), NULL: no crash points */

void crash_init(void)
{
    const char *at = getenv("TRUCED_CRASH_AT");
    if (at) { /* truced's alone: the VMs' truce do not inherit it */
        crash_at = strdup(at);
        unsetenv("TRUCED_CRASH_AT");
    }
}

void crash_point(const char *step)
{
    if (crash_at && !strcmp(crash_at, step)) {
        fprintf(stderr, "truced: TRUCED_CRASH_AT=%s: killing myself (SIGKILL)\n", step);
        kill(getpid(), SIGKILL);
    }
}

/* truce's documented exit statuses (README "Exit status"). */
static const char *status_text(int s)
{
    switch (s) {
    case 0:
        return "the guest powered off";
    case 2:
        return "bad usage or input";
    case 4:
        return "host failure";
    case 6:
        return "the guest asked for a reset";
    case 8:
        return "triple fault";
    case 10:
        return "every vCPU halted with interrupts disabled";
    case 12:
        return "guest kernel panic (pvpanic)";
    case 14:
        return "the guest broke the exit policy";
    case 16:
        return "stopped from the host (signal)";
    case 18:
        return "a seccomp violation";
    case 20:
        return "migrated away";
    }
    return s & 1 ? "the guest wrote to the debug-exit port" : "unknown";
}

/* Record the end of the VM whose process PID ended with wait status WS (-1: unknown). */
static void record_exit(struct mgr *m, pid_t pid, int ws)
{
    struct vm_row *rows;
    size_t n;
    pthread_mutex_lock(&m->lock);
    if (db_list(m->db, &rows, &n) < 0) {
        pthread_mutex_unlock(&m->lock);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct vm_row *v = &rows[i];
        if (v->pid != pid)
            continue;
        int es = -1;
        if (ws == -1) { /* adopted, not our child: truce's own last words tell why */
            char line[200];
            vm_last_log_line(m, v->name, line, sizeof(line));
            snprintf(v->reason, sizeof(v->reason), "adopted process %d ended: %s", pid,
                     line[0] ? line : "no reason logged (exit status unknown)");
        } else if (WIFEXITED(ws)) {
            es = WEXITSTATUS(ws);
            snprintf(v->reason, sizeof(v->reason), "exit status %d: %s", es, status_text(es));
        } else {
            es = 128 + WTERMSIG(ws);
            snprintf(v->reason, sizeof(v->reason), "killed by signal %d (%s)", WTERMSIG(ws),
                     strsignal(WTERMSIG(ws)));
        }
        bool wanted = !strcmp(v->desired, "stopped") || es == 0;
        snprintf(v->state, sizeof(v->state), "%s", wanted ? "stopped" : "crashed");
        if (es == 0)
            snprintf(v->desired, sizeof(v->desired), "stopped");
        v->exit_status = es;
        v->pid = 0;
        db_update(m->db, v);
    }
    pthread_mutex_unlock(&m->lock);
    db_free_rows(rows, n);
}

/* Is PID alive and a truce serving SOCK (so not a reused pid)? */
static bool truce_alive(pid_t pid, const char *sock)
{
    char path[64], cmd[4096];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (!cmd[i])
            cmd[i] = ' ';
    cmd[n] = 0;
    char st[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if ((f = fopen(path, "re"))) {
        if (fgets(st, sizeof(st), f) && strstr(st, ") Z"))
            n = 0; /* a zombie: ended, waiting for its parent */
        fclose(f);
    }
    if (!sock[0]) /* no API: a migration receiver (`truce migrate-receive`) */
        return n && strstr(cmd, " migrate-receive --listen ");
    if (n && strstr(cmd, sock))
        return true;
    /* a jailed truce names its socket inside the chroot; the jail wrote its pid next to it */
    char pidfile[PATH_MAX + 64], exe[PATH_MAX];
    snprintf(exe, sizeof(exe), "%s", g_mgr->truce);
    snprintf(pidfile, sizeof(pidfile), "%s", sock);
    char *slash = strrchr(pidfile, '/');
    if (!n || !slash || !strstr(cmd, "--api-sock /api.sock"))
        return false;
    snprintf(slash + 1, sizeof(pidfile) - (slash + 1 - pidfile), "%s.pid", basename(exe));
    int filed = 0;
    if ((f = fopen(pidfile, "re"))) {
        if (fscanf(f, "%d", &filed) != 1)
            filed = 0;
        fclose(f);
    }
    return filed == pid;
}

void *vm_monitor(void *arg)
{
    struct mgr *m = arg;
    while (!m->stopping) {
        int ws;
        pid_t p;
        while ((p = waitpid(-1, &ws, WNOHANG)) > 0)
            record_exit(m, p, ws);
        struct vm_row *rows;
        size_t n;
        if (db_list(m->db, &rows, &n) == 0) {
            for (size_t i = 0; i < n; i++) {
                if (rows[i].pid > 0 && kill(rows[i].pid, 0) < 0 && errno == ESRCH)
                    record_exit(m, rows[i].pid, -1);
                else
                    vm_incoming_watch(m, &rows[i]);
            }
            db_free_rows(rows, n);
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Truce's state at SOCK ("Running", "Paused", "Not started"), "" when its API does not answer. */
static void api_state(const char *sock, char *out, size_t n)
{
    struct hc_reply r = {0};
    out[0] = 0;
    if (hc_request(sock, "GET", "/", NULL, NULL, 1000, &r) == 0 && r.status == 200) {
        json_t *j = json_loads(r.body, 0, NULL);
        const char *st = json_string_value(json_object_get(j, "state"));
        snprintf(out, n, "%s", st ? st : "");
        json_decref(j);
    }
    free(r.body);
}

static bool truce_resume(const char *sock)
{
    struct hc_reply r = {0};
    bool ok = hc_request(sock, "PATCH", "/vm", "{\"state\": \"Resumed\"}", NULL, 3000, &r) == 0 &&
              r.status == 204;
    free(r.body);
    return ok;
}

static void sleep_100ms(void)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
}

/* Re-adopt V's recorded process, or record why not. A truce whose API is not up yet, or which
 * boots its --config-file, gets 5 s to answer Running or Paused. One that answers with no VM
 * ("Not started": a restore cut short before PUT /snapshot/load) is killed and its VM stopped,
 * never a row "running" over a process that runs nothing. One that does not answer at all is
 * busy (a long snapshot, load or outgoing migration holds its API): it is adopted as it is,
 * never killed. */
static void adopt_one(struct vm_row *v)
{
    char st[32] = "";
    bool alive = truce_alive(v->pid, v->sock), api = false;
    if (alive && !v->sock[0]) { /* running, or still incoming */
        snprintf(v->reason, sizeof(v->reason), "re-adopted by truced (pid %d, no API)", v->pid);
        return;
    }
    if (alive && !strncmp(v->reason, VM_INCOMING_ON, strlen(VM_INCOMING_ON)))
        return; /* a receiver, "Not started" until the VM arrives: vm_incoming_watch's */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (t = t0; alive && t.tv_sec - t0.tv_sec < 5; clock_gettime(CLOCK_MONOTONIC, &t)) {
        api_state(v->sock, st, sizeof(st)); /* at most 1 s */
        if ((api = !strcmp(st, "Running") || !strcmp(st, "Paused")))
            break;
        sleep_100ms();
        alive = truce_alive(v->pid, v->sock);
    }
    /* Paused by an operation cut short (a pause not yet recorded: the row says running; or a
     * snapshot's): the VM goes on running as before that operation. */
    if (api && !strcmp(st, "Paused") &&
        (!strcmp(v->state, "running") || !strcmp(v->reason, VM_SNAPSHOT_PAUSE)) &&
        truce_resume(v->sock))
        snprintf(st, sizeof(st), "Running");
    if (api || (alive && !st[0])) {
        if (api)
            snprintf(v->state, sizeof(v->state), "%s",
                     !strcmp(st, "Paused") ? "paused" : "running");
        else if (strcmp(v->state, "paused"))
            snprintf(v->state, sizeof(v->state), "running");
        snprintf(v->reason, sizeof(v->reason), "re-adopted by truced (pid %d%s)", v->pid,
                 api ? "" : "; its API is busy");
        if (api)
            snprintf(v->desired, sizeof(v->desired), "running"); /* a stop cut short: it runs */
        return;
    }
    if (alive) {
        kill(v->pid, SIGKILL);
        snprintf(v->state, sizeof(v->state), "stopped");
        snprintf(v->reason, sizeof(v->reason),
                 "process %d killed: its truce was '%s' after truced's restart (an operation cut "
                 "short)",
                 v->pid, st);
        snprintf(v->desired, sizeof(v->desired), "stopped");
    } else {
        snprintf(v->state, sizeof(v->state), "%s",
                 !strcmp(v->desired, "stopped") ? "stopped" : "crashed");
        snprintf(v->reason, sizeof(v->reason), "process %d gone while truced was down", v->pid);
    }
    v->pid = 0;
}

void vm_adopt_all(struct mgr *m)
{
    struct vm_row *rows;
    size_t n;
    if (db_list(m->db, &rows, &n) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct vm_row *v = &rows[i];
        if (v->pid > 0) {
            adopt_one(v);
        } else if (!strcmp(v->state, "starting") || !strcmp(v->state, "stopping") ||
                   !strcmp(v->state, "running") || !strcmp(v->state, "paused")) {
            snprintf(v->state, sizeof(v->state), "stopped"); /* no process was ever recorded */
            snprintf(v->reason, sizeof(v->reason), "no process recorded (truced restarted)");
        } else {
            continue;
        }
        pthread_mutex_lock(&m->lock);
        db_update(m->db, v);
        pthread_mutex_unlock(&m->lock);
    }
    for (size_t i = 0; i < n; i++) {
        struct answer a = {0};
        if (!rows[i].autostart || rows[i].pid > 0 || mgr_busy_take(m, rows[i].name) < 0)
            continue;
        if (vm_start(m, rows[i].name, &a) < 0)
            fprintf(stderr, "truced: autostart %s: %s\n", rows[i].name,
                    json_string_value(json_object_get(a.body, "error")));
        mgr_busy_drop(m, rows[i].name);
        json_decref(a.body);
    }
    db_free_rows(rows, n);
}

static int write_str(const char *path, const char *s)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -errno;
    int rc = fputs(s, f) < 0 ? -EIO : 0;
    if (fclose(f) != 0 && !rc)
        rc = -errno;
    return rc;
}

void cg_setup(struct mgr *m, const char *parent_name)
{
    if (!parent_name[0]) {
        snprintf(m->cg_why, sizeof(m->cg_why), "--cgroup-parent is empty: no cgroups");
        return;
    }
    FILE *f = fopen("/proc/mounts", "re");
    char dev[256], dir[PATH_MAX], type[64], mnt[PATH_MAX] = "";
    if (f) {
        while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3)
            if (!strcmp(type, "cgroup2")) {
                snprintf(mnt, sizeof(mnt), "%s", dir);
                break;
            }
        fclose(f);
    }
    if (!mnt[0]) {
        snprintf(m->cg_why, sizeof(m->cg_why), "no cgroup2 mount");
        return;
    }
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", mnt, parent_name);
    if (mkdir(p, 0755) < 0 && errno != EEXIST) {
        snprintf(m->cg_why, sizeof(m->cg_why), "mkdir %.100s: %s", p, strerror(errno));
        return;
    }
    snprintf(m->cg_parent, sizeof(m->cg_parent), "%s", p);
    /* Controllers where the hierarchy offers them (a hybrid host may offer none). */
    char sub[PATH_MAX + 96];
    snprintf(sub, sizeof(sub), "%s/cgroup.subtree_control", mnt);
    write_str(sub, "+memory +cpu +io");
    snprintf(sub, sizeof(sub), "%s/cgroup.subtree_control", p);
    if (write_str(sub, "+memory +cpu +io") < 0)
        write_str(sub, "+cpu"), write_str(sub, "+memory"), write_str(sub, "+io");
}

/* KEY's value in FILE (a "key value" file like cpu.stat, or a one-number file when KEY is NULL). */
static int64_t read_num(const char *dir, const char *file, const char *key)
{
    char p[PATH_MAX + 64], k[64];
    long long val;
    snprintf(p, sizeof(p), "%s/%s", dir, file);
    FILE *f = fopen(p, "re");
    if (!f)
        return -1;
    int64_t out = -1;
    if (!key) {
        if (fscanf(f, "%lld", &val) == 1)
            out = val;
    } else {
        while (fscanf(f, "%63s %lld", k, &val) == 2)
            if (!strcmp(k, key)) {
                out = val;
                break;
            }
    }
    fclose(f);
    return out;
}

static void set_num(json_t *o, const char *k, int64_t v)
{
    json_object_set_new(o, k, v >= 0 ? json_integer(v) : json_null());
}

json_t *vm_metrics(struct mgr *m, const struct vm_row *v)
{
    json_t *o = json_object();
    char cg[sizeof(m->cg_parent) + VM_NAME_MAX + 2];
    snprintf(cg, sizeof(cg), "%s/%s", m->cg_parent, v->name);
    if (m->cg_parent[0] && v->pid > 0) {
        json_object_set_new(o, "cgroup", json_string(cg));
        set_num(o, "memory_current", read_num(cg, "memory.current", NULL));
        set_num(o, "memory_max_bytes", read_num(cg, "memory.max", NULL));
        set_num(o, "cpu_usage_usec", read_num(cg, "cpu.stat", "usage_usec"));
        set_num(o, "cpu_user_usec", read_num(cg, "cpu.stat", "user_usec"));
        set_num(o, "cpu_system_usec", read_num(cg, "cpu.stat", "system_usec"));
        /* cpu.max at work: periods in which the VM used up its quota and waited */
        set_num(o, "cpu_nr_throttled", read_num(cg, "cpu.stat", "nr_throttled"));
        set_num(o, "cpu_throttled_usec", read_num(cg, "cpu.stat", "throttled_usec"));
        set_num(o, "io_weight", read_num(cg, "io.weight", "default"));
        char p[sizeof(cg) + 16], line[64] = "";
        snprintf(p, sizeof(p), "%s/cpu.max", cg);
        FILE *f = fopen(p, "re");
        if (f && fgets(line, sizeof(line), f))
            line[strcspn(line, "\n")] = 0;
        json_object_set_new(o, "cpu_max", line[0] ? json_string(line) : json_null());
        if (f)
            fclose(f);
    } else {
        json_object_set_new(o, "cgroup", json_null());
        json_object_set_new(o, "cgroup_why",
                            json_string(m->cg_parent[0] ? "not running" : m->cg_why));
    }
    if (v->pid > 0) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/%d/status", v->pid);
        FILE *f = fopen(p, "re");
        char line[256];
        long long kb;
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, "VmRSS: %lld", &kb) == 1)
                set_num(o, "rss_bytes", kb * 1024);
        if (f)
            fclose(f);
        /* CPU time of the process (utime + stime), whether or not there is a cgroup */
        snprintf(p, sizeof(p), "/proc/%d/stat", v->pid);
        char st[1024] = "";
        f = fopen(p, "re");
        if (f && fgets(st, sizeof(st), f)) {
            unsigned long long ut, stm;
            const char *rp = strrchr(st, ')');
            if (rp && sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                             &stm) == 2)
                set_num(o, "proc_cpu_usec",
                        (long long)((ut + stm) * (1000000 / sysconf(_SC_CLK_TCK))));
        }
        if (f)
            fclose(f);
    }
    return o;
}

json_t *vm_json(struct mgr *m, const struct vm_row *v, bool with_config)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:b, s:I, s:s, s:I}", "name", v->name, "state",
                          v->state, "desired", v->desired, "pid", v->pid, "api_sock", v->sock,
                          "autostart", v->autostart, "mem_size_mib", (json_int_t)v->mem_mib,
                          "reason", v->reason, "changed", (json_int_t)v->changed);
    json_object_set_new(o, "exit_status",
                        v->exit_status >= 0 ? json_integer(v->exit_status) : json_null());
    json_object_set_new(o, "metrics", vm_metrics(m, v));
    json_object_set_new(o, "limits", limits_json(v));
    if (with_config)
        json_object_set_new(o, "config", json_loads(v->config, 0, NULL));
    return o;
}
