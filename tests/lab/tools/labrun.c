/* labrun.c — runs one VMM inside the lab's L1: captures its output, enforces a hard timeout,
 * times process start -> marker -> exit, and samples memory (peak RSS, guest RAM mapping). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KILL_GRACE_MS 3000

struct opts {
    double timeout_s;
    const char *marker; /* time to the first occurrence of this string */
    const char *hold;   /* sample memory when this string appears */
    const char *out;    /* all VMM output goes here */
    const char *result; /* key=value result line goes here (default stderr) */
    int echo;           /* also copy the output to our stdout */
    int interactive;    /* keep our stdin as the VMM's stdin */
    char **argv;
};

struct mem_sample {
    long hwm_kb, rss_kb;       /* VmHWM, VmRSS */
    long guest_kb, guest_size; /* Rss and Size of the largest mapping (guest RAM) */
    long guest_huge_kb;        /* its AnonHugePages: RAM on transparent huge pages */
};

struct run_state {
    char mtail[256], htail[256]; /* last bytes seen, for markers split across reads */
    double t_marker, t_hold, t_kill;
    int timed_out, outfd, kills; /* kills: SIGKILLs sent */
    struct mem_sample mem;
};

/* Milliseconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Read "KEY: N kB" from /proc/PID/status into *VAL. Returns 0 or -1. */
static int status_field(pid_t pid, const char *key, long *val)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int rc = -1;
    while (fgets(line, sizeof(line), f)) {
        if (!strncmp(line, key, klen) && line[klen] == ':') {
            *val = strtol(line + klen + 1, NULL, 10);
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Sample PID's memory: VmHWM, VmRSS and the Rss of its largest mapping, which for a VMM is the
 * guest RAM mapping (every page of it that is resident was touched by the guest or the loader). */
static void sample_memory(pid_t pid, struct mem_sample *s)
{
    char path[64], line[512];
    long size = -1, rss = -1, best_size = -1, best_rss = -1, best_huge = -1;
    status_field(pid, "VmHWM", &s->hwm_kb);
    status_field(pid, "VmRSS", &s->rss_kb);
    snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        long v;
        if (sscanf(line, "Size: %ld kB", &v) == 1)
            size = v;
        else if (sscanf(line, "Rss: %ld kB", &v) == 1)
            rss = v;
        else if (sscanf(line, "AnonHugePages: %ld kB", &v) == 1 && size > best_size) {
            best_size = size;
            best_rss = rss;
            best_huge = v;
        }
    }
    fclose(f);
    s->guest_kb = best_rss;
    s->guest_size = best_size;
    s->guest_huge_kb = best_huge;
}

/* Whether NEEDLE (at most 255 bytes) occurs in the stream, of which BUF holds the next N bytes;
 * TAIL (256 bytes, NUL-terminated) keeps the last bytes seen so a match may span two reads. */
static int seen(char *tail, const char *buf, size_t n, const char *needle)
{
    char win[512];
    if (!needle)
        return 0;
    size_t nl = strlen(needle), keep = strlen(tail), take = n < nl - 1 ? n : nl - 1;
    memcpy(win, tail, keep);
    memcpy(win + keep, buf, take);
    if (memmem(win, keep + take, needle, nl) || memmem(buf, n, needle, nl))
        return 1;
    if (n >= nl - 1) {
        memcpy(tail, buf + n - (nl - 1), nl - 1);
        tail[nl - 1] = 0;
    } else {
        size_t total = keep + n, from = total > nl - 1 ? total - (nl - 1) : 0;
        memcpy(win + keep, buf, n);
        memmove(tail, win + from, total - from);
        tail[total - from] = 0;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: labrun [-t SECONDS] [-m MARKER] [-H HOLD-MARKER] [-o OUTFILE] "
                    "[-r RESULTFILE] [-e] [-i] -- COMMAND [ARG...]\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    int c;
    o->timeout_s = 60;
    while ((c = getopt(argc, argv, "+t:m:H:o:r:ei")) != -1) {
        switch (c) {
        case 't':
            o->timeout_s = atof(optarg);
            break;
        case 'm':
            o->marker = optarg;
            break;
        case 'H':
            o->hold = optarg;
            break;
        case 'o':
            o->out = optarg;
            break;
        case 'r':
            o->result = optarg;
            break;
        case 'e':
            o->echo = 1;
            break;
        case 'i':
            o->interactive = 1;
            break;
        default:
            usage();
        }
    }
    if (optind >= argc || o->timeout_s <= 0 ||
        (o->marker && (!*o->marker || strlen(o->marker) > 255)) ||
        (o->hold && (!*o->hold || strlen(o->hold) > 255)))
        usage();
    o->argv = argv + optind;
}

/* Fork and exec the command with stdout and stderr on a pipe. Returns the pid, *FD the read end. */
static pid_t spawn(struct opts *o, int *fd)
{
    int p[2];
    if (pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        if (!o->interactive) {
            setpgid(0, 0); /* the timeout ends the whole process group */
            int nul = open("/dev/null", O_RDONLY);
            dup2(nul, 0);
        }
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execvp(o->argv[0], o->argv);
        fprintf(stderr, "labrun: cannot run %s: %s\n", o->argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    *fd = p[0];
    return pid;
}

/* Record markers, sample memory at the hold marker, copy BUF[0..N) to the output file. */
static void handle_output(const struct opts *o, struct run_state *st, pid_t pid, const char *buf,
                          size_t n)
{
    if (st->t_marker < 0 && seen(st->mtail, buf, n, o->marker))
        st->t_marker = now_ms();
    if (st->t_hold < 0 && seen(st->htail, buf, n, o->hold)) {
        st->t_hold = now_ms();
        sample_memory(pid, &st->mem);
    }
    if (st->outfd >= 0 && write(st->outfd, buf, n) < 0)
        perror("labrun: output");
    if (o->echo && write(1, buf, n) < 0)
        perror("labrun: echo");
}

/* Print /proc/PID/task/TID/FILE on stdout, each line prefixed "LABRUN-STUCK TID FILE: ". */
static void dump_task_file(pid_t pid, const char *tid, const char *file)
{
    char path[128], line[512];
    snprintf(path, sizeof(path), "/proc/%d/task/%s/%s", (int)pid, tid, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f))
        printf("LABRUN-STUCK %s %s: %s%s", tid, file, line, strchr(line, '\n') ? "" : "\n");
    fclose(f);
}

/* A VMM that outlived a SIGKILL is held in the kernel: print each of its threads' name, state,
 * wait channel and kernel stack once, for the L1 log (the lab's unexplained stalls). */
static void dump_stuck(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    struct dirent *e;
    printf("LABRUN-STUCK pid %d survived SIGKILL: its threads in the kernel\n", (int)pid);
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        dump_task_file(pid, e->d_name, "comm");
        dump_task_file(pid, e->d_name, "wchan");
        dump_task_file(pid, e->d_name, "stat");
        dump_task_file(pid, e->d_name, "stack");
    }
    if (d)
        closedir(d);
    fflush(stdout);
}

/* Send SIGTERM at the deadline and SIGKILL every grace period after that; the second SIGKILL
 * dumps what holds the VMM (dump_stuck). */
static void enforce_deadline(struct run_state *st, pid_t pid, pid_t target, double deadline)
{
    double t = now_ms();
    if (t >= deadline && st->t_kill < 0) {
        st->timed_out = 1;
        kill(target, SIGTERM);
        st->t_kill = t;
    } else if (st->t_kill >= 0 && t >= st->t_kill + KILL_GRACE_MS) {
        if (++st->kills == 2)
            dump_stuck(pid);
        kill(target, SIGKILL);
        st->t_kill = t;
    }
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    struct run_state st = {
        .mem = {-1, -1, -1, -1, -1}, .t_marker = -1, .t_hold = -1, .t_kill = -1, .outfd = -1};
    struct rusage ru = {0};
    char buf[65536];
    int fd, status = 0, reaped = 0, eof = 0;

    parse(argc, argv, &o);
    if (o.out && (st.outfd = open(o.out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
        perror(o.out);
        return 2;
    }
    struct timespec mono0, wall0; /* the start on both clocks, for VMMs' own time stamps */
    clock_gettime(CLOCK_MONOTONIC, &mono0);
    clock_gettime(CLOCK_REALTIME, &wall0);
    double t0 = now_ms(), t_exit;
    pid_t pid = spawn(&o, &fd);
    if (pid < 0) {
        perror("labrun: spawn");
        return 2;
    }
    double deadline = t0 + o.timeout_s * 1e3;
    pid_t target = o.interactive ? pid : -pid;
    while (!reaped) {
        enforce_deadline(&st, pid, target, deadline);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (eof || poll(&pfd, 1, 20) <= 0) {
            /* nothing to read: the VMM may have exited (a child of it may still hold the pipe) */
            if (wait4(pid, &status, WNOHANG, &ru) == pid)
                reaped = 1;
            else if (eof)
                usleep(2000);
            continue;
        }
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            eof = 1;
        else
            handle_output(&o, &st, pid, buf, n);
    }
    t_exit = now_ms();
    /* what the VMM wrote just before exiting */
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        if (eof || poll(&pfd, 1, 0) <= 0 || (n = read(fd, buf, sizeof(buf))) <= 0)
            break;
        handle_output(&o, &st, pid, buf, n);
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

    FILE *res = o.result ? fopen(o.result, "w") : stderr;
    if (!res)
        res = stderr;
    fprintf(res,
            "status=%d timed_out=%d marker_ms=%.1f exit_ms=%.1f maxrss_kb=%ld hold_hwm_kb=%ld "
            "hold_rss_kb=%ld guest_rss_kb=%ld guest_map_kb=%ld guest_huge_kb=%ld "
            "start_mono_ns=%lld start_wall_us=%lld\n",
            code, st.timed_out, st.t_marker < 0 ? -1 : st.t_marker - t0, t_exit - t0, ru.ru_maxrss,
            st.mem.hwm_kb, st.mem.rss_kb, st.mem.guest_kb, st.mem.guest_size, st.mem.guest_huge_kb,
            (long long)mono0.tv_sec * 1000000000LL + mono0.tv_nsec,
            (long long)wall0.tv_sec * 1000000LL + wall0.tv_nsec / 1000);
    if (res != stderr)
        fclose(res);
    return code;
}
