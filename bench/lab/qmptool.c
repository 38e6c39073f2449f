/* qmptool.c — bench helper (static, runs in the lab's L1): drives one QEMU over its QMP socket
 * and times what bench/snapshot.sh compares with truce's snapshot and migration API:
 *   qmptool SOCK save URI        stop the VM, migrate it to URI (exec:cat > FILE), wait until
 *                                query-migrate says completed; prints "save_ms=T qemu_total_ms=Q
 *                                ram_mib=R" (T: our clock from migrate sent to completed seen)
 *   qmptool SOCK load URI        on a QEMU started with -incoming defer: migrate-incoming URI,
 *                                wait until the state is in, cont, wait until running; prints
 *                                "load_ms=T" (migrate-incoming sent -> query-status running)
 *   qmptool SOCK migrate URI MS  live migration to URI (a QEMU started with -incoming URI) with
 *                                downtime-limit MS; prints "wall_ms=T total_ms=Q downtime_ms=D
 *                                setup_ms=S ram_mib=R syncs=N" (Q, D, S, R, N: QEMU's figures)
 *   qmptool SOCK quit
 * Every migration runs with max-bandwidth unlimited (QEMU's default caps it at 128 MiB/s; truce
 * has no cap). The socket is waited for up to 60 s. Prints one line and exits 1 on any error. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LEN 65536
#define WAIT_MS      (600 * 1000)

static int qfd = -1;
static char rbuf[LINE_MAX_LEN];
static size_t rlen;

static uint64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void die(const char *what, const char *detail)
{
    printf("qmptool: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* Connect to the QMP socket PATH, retrying while QEMU starts. */
static void qmp_connect(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path))
        die("socket path too long", path);
    strcpy(a.sun_path, path);
    for (int i = 0; i < 6000; i++) {
        qfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (qfd < 0)
            die("socket", strerror(errno));
        if (!connect(qfd, (struct sockaddr *)&a, sizeof(a)))
            return;
        close(qfd);
        sleep_ms(10);
    }
    die("cannot connect to QMP socket", path);
}

/* Read one line (CRLF or LF ended) into LINE; dies at EOF. */
static void read_line(char *line, size_t len)
{
    for (;;) {
        char *nl = memchr(rbuf, '\n', rlen);
        if (nl) {
            size_t n = (size_t)(nl - rbuf) + 1;
            size_t c = n < len ? n : len - 1;
            memcpy(line, rbuf, c);
            line[c] = 0;
            memmove(rbuf, rbuf + n, rlen - n);
            rlen -= n;
            return;
        }
        if (rlen == sizeof(rbuf))
            die("QMP line too long", NULL);
        ssize_t r = read(qfd, rbuf + rlen, sizeof(rbuf) - rlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("QMP connection closed", r < 0 ? strerror(errno) : NULL);
        rlen += (size_t)r;
    }
}

/* Send the command JSON; return its answer in LINE (events are skipped); dies on an error. */
static const char *cmd(const char *json, char *line, size_t len)
{
    size_t n = strlen(json);
    if (write(qfd, json, n) != (ssize_t)n || write(qfd, "\n", 1) != 1)
        die("QMP write", strerror(errno));
    for (;;) {
        read_line(line, len);
        if (strstr(line, "\"return\""))
            return line;
        if (strstr(line, "\"error\"")) {
            line[strcspn(line, "\r\n")] = 0;
            printf("qmptool: %s answered %s\n", json, line);
            exit(1);
        }
    }
}

/* The number after "KEY": in LINE, or -1. */
static long long num(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(line, k);
    return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

/* The string after "KEY": in LINE into OUT (empty when absent). */
static void str(const char *line, const char *key, char *out, size_t len)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = strstr(line, k);
    out[0] = 0;
    if (!p || !(p = strchr(p + strlen(k), '"')))
        return;
    size_t n = strcspn(p + 1, "\"");
    n = n < len ? n : len - 1;
    memcpy(out, p + 1, n);
    out[n] = 0;
}

static void greet(void)
{
    static char line[LINE_MAX_LEN];
    read_line(line, sizeof(line)); /* {"QMP": {...}} */
    if (!strstr(line, "\"QMP\""))
        die("no QMP greeting", line);
    cmd("{\"execute\": \"qmp_capabilities\"}", line, sizeof(line));
}

static void set_params(long long downtime_ms)
{
    static char json[256], line[LINE_MAX_LEN];
    char extra[64] = "";
    if (downtime_ms > 0)
        snprintf(extra, sizeof(extra), ", \"downtime-limit\": %lld", downtime_ms);
    snprintf(json, sizeof(json),
             "{\"execute\": \"migrate-set-parameters\", \"arguments\": {\"max-bandwidth\": "
             "1099511627776%s}}",
             extra);
    cmd(json, line, sizeof(line));
}

static void send_uri(const char *what, const char *uri)
{
    static char json[4200], line[LINE_MAX_LEN];
    if (strchr(uri, '"') || strchr(uri, '\\') || strlen(uri) > 4000)
        die("URI must not hold quotes or backslashes", uri);
    snprintf(json, sizeof(json), "{\"execute\": \"%s\", \"arguments\": {\"uri\": \"%s\"}}", what,
             uri);
    cmd(json, line, sizeof(line));
}

/* Poll query-migrate until completed; the final answer stays in LINE. */
static void wait_migrated(char *line, size_t len, uint64_t t0)
{
    char st[64];
    for (;;) {
        cmd("{\"execute\": \"query-migrate\"}", line, len);
        str(line, "status", st, sizeof(st));
        if (!strcmp(st, "completed"))
            return;
        if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
            line[strcspn(line, "\r\n")] = 0;
            die("migration failed", line);
        }
        if (now_us() - t0 > WAIT_MS * 1000ull)
            die("migration did not complete in time", st);
        sleep_ms(1);
    }
}

static void status(char *out, size_t len)
{
    static char line[LINE_MAX_LEN];
    cmd("{\"execute\": \"query-status\"}", line, sizeof(line));
    str(line, "status", out, len);
}

static int do_save(const char *uri)
{
    static char line[LINE_MAX_LEN];
    set_params(0);
    cmd("{\"execute\": \"stop\"}", line, sizeof(line));
    uint64_t t0 = now_us();
    send_uri("migrate", uri);
    wait_migrated(line, sizeof(line), t0);
    uint64_t t1 = now_us();
    long long tot = num(line, "total");
    printf("save_ms=%.3f qemu_total_ms=%lld ram_mib=%.1f\n", (double)(t1 - t0) / 1000.0,
           num(line, "total-time"), tot < 0 ? -1.0 : (double)num(line, "transferred") / 1048576.0);
    return 0;
}

static int do_load(const char *uri)
{
    static char line[LINE_MAX_LEN];
    char st[64];
    status(st, sizeof(st));
    if (strcmp(st, "inmigrate"))
        die("QEMU is not waiting for an incoming migration (-incoming defer)", st);
    uint64_t t0 = now_us();
    send_uri("migrate-incoming", uri);
    for (;;) {
        status(st, sizeof(st));
        if (!strcmp(st, "running"))
            break;
        if (!strcmp(st, "paused") || !strcmp(st, "postmigrate") || !strcmp(st, "prelaunch"))
            cmd("{\"execute\": \"cont\"}", line, sizeof(line));
        else if (strcmp(st, "inmigrate"))
            die("the incoming migration ended in state", st);
        if (now_us() - t0 > WAIT_MS * 1000ull)
            die("the VM did not run in time", st);
        sleep_ms(1);
    }
    printf("load_ms=%.3f\n", (double)(now_us() - t0) / 1000.0);
    return 0;
}

static int do_migrate(const char *uri, long long downtime_ms)
{
    static char line[LINE_MAX_LEN];
    set_params(downtime_ms);
    uint64_t t0 = now_us();
    send_uri("migrate", uri);
    wait_migrated(line, sizeof(line), t0);
    uint64_t t1 = now_us();
    printf("wall_ms=%.3f total_ms=%lld downtime_ms=%lld setup_ms=%lld ram_mib=%.1f syncs=%lld\n",
           (double)(t1 - t0) / 1000.0, num(line, "total-time"), num(line, "downtime"),
           num(line, "setup-time"), (double)num(line, "transferred") / 1048576.0,
           num(line, "dirty-sync-count"));
    return 0;
}

int main(int argc, char **argv)
{
    static char line[LINE_MAX_LEN];
    if (argc < 3)
        die("usage: qmptool SOCK save|load URI | migrate URI DOWNTIME_MS | quit", NULL);
    qmp_connect(argv[1]);
    greet();
    const char *op = argv[2];
    if (!strcmp(op, "save") && argc == 4)
        return do_save(argv[3]);
    if (!strcmp(op, "load") && argc == 4)
        return do_load(argv[3]);
    if (!strcmp(op, "migrate") && argc == 5) {
        char *end;
        long long ms = strtoll(argv[4], &end, 10);
        if (*end || ms <= 0)
            die("DOWNTIME_MS must be a positive number", argv[4]);
        return do_migrate(argv[3], ms);
    }
    if (!strcmp(op, "quit") && argc == 3) {
        cmd("{\"execute\": \"quit\"}", line, sizeof(line));
        return 0;
    }
    die("bad arguments (qmptool SOCK save|load URI | migrate URI DOWNTIME_MS | quit)", op);
    return 1;
}
