/* mobtool.c — lab helper for the snapshot and migration scenarios (static; runs in L1 and guests):
 *   mobtool serve PORT LOG    L1: take ONE TCP connection on PORT, then close the listener (a
 *                             reconnect is refused); echo every line; for each line "N GMS"
 *                             append "tcp N GMS LMS" to LOG (LMS: L1's CLOCK_REALTIME in ms).
 *                             Lines must count 1, 2, 3...: anything else, or the connection
 *                             ending, appends "end REASON" and exits 1
 *   mobtool talk IPV4:PORT MS guest: one connection, never another: every MS ms send "N GMS"
 *                             (GMS: the guest's CLOCK_REALTIME in ms), read the echo back and
 *                             print "tcp N GMS"; any error prints "tcp: FAIL why" and exits 1
 *   mobtool ticks             guest: sleep to every 1 ms deadline of CLOCK_MONOTONIC, for ever;
 *                             deadlines passed while not running are missed ticks. Every second
 *                             print "ticks T missed M maxgap G" (T: seconds since start; M, G:
 *                             ticks missed and the longest gap in ms, in that second)
 *   mobtool dirty MIB RATE    guest: MIB MiB of memory rewritten at RATE MiB/s, one page every
 *                             1/(256*RATE) s, each page stamped with its pass; before a page is
 *                             rewritten it must still hold the previous pass (a page a snapshot
 *                             or a migration lost fails it). Prints "dirty pass P" after each
 *                             pass, or "dirty: FAIL ..." and exits 1
 *   mobtool now               print CLOCK_REALTIME in ms
 * Prints one line and exits 1 on a usage or set-up error. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define MIX  0x9e3779b97f4a7c15ull

static int die(const char *what)
{
    printf("mobtool: %s: %s\n", what, errno ? strerror(errno) : "bad argument");
    return 1;
}

static uint64_t now_ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Read one line (without its newline) into BUF from FD, byte by byte (both sides exchange one
 * short line at a time). Returns its length, 0 at EOF, -1 on error or an overlong line. */
static int read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 && n == 0 ? 0 : -1;
        if (c == '\n')
            break;
        if (n + 1 >= len)
            return -1;
        buf[n++] = c;
    }
    buf[n] = 0;
    return (int)n;
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

static int serve(int port, const char *path)
{
    FILE *log = fopen(path, "a");
    if (!log)
        return die(path);
    setvbuf(log, NULL, _IOLBF, 0);
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1))
        return die("listen");
    int c = accept(l, NULL, NULL);
    if (c < 0)
        return die("accept");
    close(l); /* one connection only: a guest that reconnects is refused */
    fprintf(log, "accepted\n");
    char line[128], out[160];
    for (unsigned long want = 1;; want++) {
        int n = read_line(c, line, sizeof(line));
        if (n <= 0) {
            fprintf(log, "end %s after %lu lines\n", n ? "read error" : "EOF", want - 1);
            return 1;
        }
        unsigned long got;
        unsigned long long gms;
        if (sscanf(line, "%lu %llu", &got, &gms) != 2 || got != want) {
            fprintf(log, "end line '%s', want number %lu\n", line, want);
            return 1;
        }
        snprintf(out, sizeof(out), "%s\n", line);
        if (write_all(c, out, strlen(out))) {
            fprintf(log, "end write error after %lu lines\n", want);
            return 1;
        }
        fprintf(log, "tcp %lu %llu %llu\n", got, gms,
                (unsigned long long)(now_ns(CLOCK_REALTIME) / 1000000u));
    }
}

static int talk(const char *addr, int ms)
{
    char host[32];
    unsigned port;
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (sscanf(addr, "%31[0-9.]:%u", host, &port) != 2 ||
        inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return die("talk: IPV4:PORT");
    a.sin_port = htons((uint16_t)port);
    int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a))) {
        printf("tcp: FAIL connect %s: %s\n", addr, strerror(errno));
        return 1;
    }
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[128], back[128];
    for (unsigned long n = 1;; n++) {
        unsigned long long gms = now_ns(CLOCK_REALTIME) / 1000000u;
        int len = snprintf(line, sizeof(line), "%lu %llu\n", n, gms);
        if (write_all(s, line, (size_t)len)) {
            printf("tcp: FAIL send %lu: %s\n", n, strerror(errno));
            return 1;
        }
        int r = read_line(s, back, sizeof(back));
        line[len - 1] = 0;
        if (r <= 0 || strcmp(back, line)) {
            printf("tcp: FAIL echo of '%s': %s\n", line,
                   r < 0 ? strerror(errno)
                   : r   ? back
                         : "EOF");
            return 1;
        }
        printf("tcp %s\n", line);
        usleep((useconds_t)ms * 1000u);
    }
}

static _Noreturn void ticks(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const uint64_t tick = 1000000u, start = now_ns(CLOCK_MONOTONIC);
    uint64_t deadline = start, report = start + 1000000000u, missed = 0, maxgap = 0;
    uint64_t last = start;
    for (;;) {
        deadline += tick;
        struct timespec t = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
            ;
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        if (now - last > maxgap)
            maxgap = now - last;
        last = now;
        if (now >= deadline + tick) { /* whole deadlines passed: missed, skip to the next one */
            missed += (now - deadline) / tick;
            deadline += (now - deadline) / tick * tick;
        }
        if (now >= report) {
            printf("ticks %llu missed %llu maxgap %llu\n",
                   (unsigned long long)((now - start) / 1000000000u), (unsigned long long)missed,
                   (unsigned long long)(maxgap / 1000000u));
            missed = maxgap = 0;
            report += 1000000000u * ((now - report) / 1000000000u + 1);
        }
    }
}

static int dirty(long mib, long rate)
{
    if (mib <= 0 || rate <= 0 || mib > 4096 || rate > 4096)
        return die("dirty: MIB and RATE in 1..4096");
    setvbuf(stdout, NULL, _IOLBF, 0);
    size_t pages = (size_t)mib * 256u;
    uint64_t *m =
        mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return die("mmap");
    const uint64_t step = 1000000000u / (256u * (uint64_t)rate); /* ns per page */
    uint64_t next = now_ns(CLOCK_MONOTONIC);
    for (uint64_t pass = 1;; pass++) {
        for (size_t p = 0; p < pages; p++) {
            uint64_t *w = m + p * (PAGE / 8);
            if (w[0] != pass - 1 || w[PAGE / 8 - 1] != (pass - 1) * MIX) {
                printf("dirty: FAIL page %zu held %llu, want pass %llu\n", p,
                       (unsigned long long)w[0], (unsigned long long)(pass - 1));
                return 1;
            }
            w[0] = pass;
            w[PAGE / 8 - 1] = pass * MIX; /* both ends of the page: 0 before pass 1 */
            next += step;
            uint64_t now = now_ns(CLOCK_MONOTONIC);
            if (next > now) {
                struct timespec t = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
                while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR)
                    ;
            } else if (now - next > 1000000000u) {
                next = now; /* fell a second behind (paused): go on at the rate, no burst */
            }
        }
        printf("dirty pass %llu\n", (unsigned long long)pass);
    }
}

int main(int argc, char **argv)
{
    errno = 0;
    if (argc == 4 && !strcmp(argv[1], "serve"))
        return serve(atoi(argv[2]), argv[3]);
    if (argc == 4 && !strcmp(argv[1], "talk"))
        return talk(argv[2], atoi(argv[3]));
    if (argc == 2 && !strcmp(argv[1], "now"))
        return printf("%llu\n", (unsigned long long)(now_ns(CLOCK_REALTIME) / 1000000u)) < 0;
    if (argc == 2 && !strcmp(argv[1], "ticks"))
        ticks();
    if (argc == 4 && !strcmp(argv[1], "dirty"))
        return dirty(atol(argv[2]), atol(argv[3]));
    fprintf(stderr,
            "usage: mobtool serve PORT LOG | talk IPV4:PORT MS | ticks | dirty MIB RATE | now\n");
    return 1;
}
