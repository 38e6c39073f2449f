/* density_spawn.c — bench/density.py's spawner: starts N copies of a VMM command at once with
 * posix_spawn (vfork-style), timestamps each spawn and each guest's first console byte (a FIFO per
 * VM read under epoll by a thread of its own, so detection does not wait for the spawning to end),
 * and reads each VM's CPU time (every thread of it) at its first byte, at the sample and at exit.
 *
 * Usage: density_spawn [-t TIMEOUT_S] [-s SETTLE_MS] N DIR -- CMD ARG...
 * "{i}" in CMD or an ARG is replaced by the VM's index (0..N-1). The VM's console must be written
 * to DIR/serial{i} (created here as a FIFO); its stderr goes to DIR/err{i}.txt, stdin and stdout
 * to /dev/null. Once every VM has printed (or died, or TIMEOUT_S passed) and SETTLE_MS more, it
 * prints "READY" and one "PID i pid" line per VM, then waits for a line on stdin (the caller
 * samples memory meanwhile), SIGTERMs every VM (SIGKILL 20 s later) and prints one line per VM:
 *   VM i pid spawn_us first_us cpu_first_us cpu_sample_us cpu_exit_us status
 * times in µs from just before the first spawn (first_us -1: never printed), CPU in µs of the
 * VM's process (cpu_exit_us: user+sys from wait4), status as from wait4; then "SPAWNER
 * spawned_all_us all_up_us self_cpu_us" (self: this program's CPU, both threads). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct vm {
    int fifo, pidfd;
    pid_t pid;
    clockid_t cpuclock;
    int64_t spawn_us, cpu_sample_us, cpu_exit_us;
    _Atomic int64_t first_us, cpu_first_us;
    atomic_bool done; /* printed, or died without printing */
    int status;
    bool reaped;
};

static struct vm *vms;
static int nvms, epfd;
static int64_t t0_ns;
static atomic_int ndone;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t since_t0_us(void)
{
    return (now_ns() - t0_ns) / 1000;
}

static int64_t cpu_us(clockid_t c)
{
    struct timespec ts;
    if (clock_gettime(c, &ts) < 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *what)
{
    fprintf(stderr, "density_spawn: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ARG with every "{i}" replaced by I (a new string). */
static char *subst(const char *arg, int i)
{
    char num[16];
    size_t nl = (size_t)snprintf(num, sizeof(num), "%d", i), n = 0;
    char *out = malloc(strlen(arg) / 3 * nl + strlen(arg) + 1);
    if (!out)
        die("malloc");
    for (const char *p = arg; *p;) {
        if (!strncmp(p, "{i}", 3)) {
            memcpy(out + n, num, nl);
            n += nl;
            p += 3;
        } else
            out[n++] = *p++;
    }
    out[n] = 0;
    return out;
}

enum { EV_FIFO = 1, EV_PID = 2, EV_STOP = 3 };

static void watch(int fd, uint32_t kind, uint32_t i)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)kind << 32 | i};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl");
}

static void mark_done(struct vm *v)
{
    if (!atomic_exchange(&v->done, true))
        atomic_fetch_add(&ndone, 1);
}

/* VM V's FIFO is readable: the first byte stamps the VM (time, then its CPU clock); the rest is
 * drained so a chatty guest never blocks on a full pipe; end of file (the VM closed its console)
 * takes the FIFO out of the set. */
static void on_fifo(struct vm *v)
{
    char buf[4096];
    ssize_t n = read(v->fifo, buf, sizeof(buf));
    if (n > 0 && atomic_load(&v->first_us) < 0) {
        atomic_store(&v->first_us, since_t0_us());
        atomic_store(&v->cpu_first_us, cpu_us(v->cpuclock));
        mark_done(v);
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        epoll_ctl(epfd, EPOLL_CTL_DEL, v->fifo, NULL);
}

/* The reader thread: FIFO data and VM exits (pidfds) until the stop pipe is written. */
static void *reader(void *arg)
{
    (void)arg;
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(epfd, evs, 64, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        for (int k = 0; k < n; k++) {
            uint32_t kind = (uint32_t)(evs[k].data.u64 >> 32), i = (uint32_t)evs[k].data.u64;
            if (kind == EV_STOP)
                return NULL;
            if (kind == EV_FIFO)
                on_fifo(&vms[i]);
            else { /* exited: printed or not, it is done */
                epoll_ctl(epfd, EPOLL_CTL_DEL, vms[i].pidfd, NULL);
                mark_done(&vms[i]);
            }
        }
    }
}

/* DIR/serialI as a FIFO opened for reading (non-blocking, so the VMM's open for writing
 * succeeds at once), and the attributes of VM I's process. */
static void prepare(int i, const char *dir, posix_spawn_file_actions_t *fa)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/serial%d", dir, i);
    unlink(path);
    if (mkfifo(path, 0600) < 0)
        die(path);
    vms[i].fifo = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (vms[i].fifo < 0)
        die(path);
    watch(vms[i].fifo, EV_FIFO, (uint32_t)i);
    atomic_store(&vms[i].first_us, -1);
    atomic_store(&vms[i].cpu_first_us, -1);
    snprintf(path, sizeof(path), "%s/err%d.txt", dir, i);
    posix_spawn_file_actions_init(fa);
    posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(fa, 2, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

static void spawn(int i, char **tmpl, int argc, posix_spawn_file_actions_t *fa,
                  posix_spawnattr_t *attr)
{
    char **argv = calloc((size_t)argc + 1, sizeof(char *));
    if (!argv)
        die("calloc");
    for (int k = 0; k < argc; k++)
        argv[k] = subst(tmpl[k], i);
    vms[i].spawn_us = since_t0_us();
    int rc = posix_spawnp(&vms[i].pid, argv[0], fa, attr, argv, environ);
    if (rc) {
        errno = rc;
        die(argv[0]);
    }
    if (clock_getcpuclockid(vms[i].pid, &vms[i].cpuclock))
        vms[i].cpuclock = CLOCK_MONOTONIC; /* cannot happen for a child we have not reaped */
    vms[i].pidfd = (int)syscall(SYS_pidfd_open, vms[i].pid, 0);
    if (vms[i].pidfd < 0)
        die("pidfd_open");
    watch(vms[i].pidfd, EV_PID, (uint32_t)i);
    for (int k = 0; k < argc; k++)
        free(argv[k]);
    free(argv);
}

/* SIGTERM every VM, SIGKILL what is left after 20 s; each one's status and CPU from wait4. */
static void stop_all(void)
{
    for (int i = 0; i < nvms; i++) {
        vms[i].cpu_sample_us = cpu_us(vms[i].cpuclock);
        kill(vms[i].pid, SIGTERM);
    }
    int64_t deadline = now_ns() + 20000000000LL;
    for (int left = nvms; left > 0;) {
        struct rusage ru;
        int st;
        pid_t p = wait4(-1, &st, now_ns() < deadline ? WNOHANG : 0, &ru);
        if (p == 0) {
            usleep(2000);
            continue;
        }
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0)
            die("wait4");
        for (int i = 0; i < nvms; i++)
            if (vms[i].pid == p) {
                vms[i].status = st;
                vms[i].reaped = true;
                vms[i].cpu_exit_us = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                                     ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
                left--;
            }
        if (now_ns() >= deadline)
            for (int i = 0; i < nvms; i++)
                if (!vms[i].reaped)
                    kill(vms[i].pid, SIGKILL);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: density_spawn [-t TIMEOUT_S] [-s SETTLE_MS] N DIR -- CMD ARG...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int timeout_s = 120, settle_ms = 1000, opt;
    while ((opt = getopt(argc, argv, "+t:s:")) != -1) {
        if (opt == 't')
            timeout_s = atoi(optarg);
        else if (opt == 's')
            settle_ms = atoi(optarg);
        else
            usage();
    }
    if (argc - optind < 4 || strcmp(argv[optind + 2], "--") || timeout_s <= 0 || settle_ms < 0)
        usage();
    nvms = atoi(argv[optind]);
    const char *dir = argv[optind + 1];
    char **cmd = argv + optind + 3;
    int cmdc = argc - optind - 3;
    if (nvms <= 0 || nvms > 100000) {
        fprintf(stderr, "density_spawn: N must be 1..100000, got '%s'\n", argv[optind]);
        return 2;
    }
    vms = calloc((size_t)nvms, sizeof(*vms));
    posix_spawn_file_actions_t *fa = calloc((size_t)nvms, sizeof(*fa));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    int stop[2];
    if (!vms || !fa || epfd < 0 || pipe2(stop, O_CLOEXEC) < 0)
        die("setup");
    watch(stop[0], EV_STOP, 0);
    for (int i = 0; i < nvms; i++)
        prepare(i, dir, &fa[i]);
    /* children start with no signal blocked and default dispositions, as from a shell */
    posix_spawnattr_t attr;
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pthread_t th;
    t0_ns = now_ns();
    if (pthread_create(&th, NULL, reader, NULL))
        die("pthread_create");
    for (int i = 0; i < nvms; i++)
        spawn(i, cmd, cmdc, &fa[i], &attr);
    int64_t spawned_us = since_t0_us();
    while (atomic_load(&ndone) < nvms && since_t0_us() < (int64_t)timeout_s * 1000000)
        usleep(1000);
    int64_t all_up_us = 0;
    for (int i = 0; i < nvms; i++)
        if (atomic_load(&vms[i].first_us) > all_up_us)
            all_up_us = atomic_load(&vms[i].first_us);
    usleep((useconds_t)settle_ms * 1000);
    printf("READY\n");
    for (int i = 0; i < nvms; i++)
        printf("PID %d %d\n", i, (int)vms[i].pid);
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        line[0] = 0; /* caller gone: stop anyway */
    stop_all();
    if (write(stop[1], "x", 1) != 1)
        die("write");
    pthread_join(th, NULL);
    for (int i = 0; i < nvms; i++)
        printf("VM %d %d %lld %lld %lld %lld %lld %d\n", i, (int)vms[i].pid,
               (long long)vms[i].spawn_us, (long long)atomic_load(&vms[i].first_us),
               (long long)atomic_load(&vms[i].cpu_first_us), (long long)vms[i].cpu_sample_us,
               (long long)vms[i].cpu_exit_us, vms[i].status);
    printf("SPAWNER %lld %lld %lld\n", (long long)spawned_us, (long long)all_up_us,
           (long long)cpu_us(CLOCK_PROCESS_CPUTIME_ID));
    return 0;
}
