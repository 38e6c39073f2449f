/* nettool.c — lab helper for the network and vsock scenarios (static; runs in L1 and in guests):
 *   nettool echo ADDR                 echo server (one child per connection) until killed
 *   nettool connect ADDR              stdin -> socket, socket -> stdout; half-closes on stdin EOF
 *   nettool recv ADDR                 listen, take one connection, copy it to stdout, exit
 *   nettool parallel ADDR N BYTES     N connections at once to an echo server, each sends BYTES of
 *                                     seeded pseudo-random data and checks every echoed byte
 *   nettool dns NAME IPV4             answer DNS A queries for NAME on 127.0.0.1:53 until killed
 *   nettool sink ADDR                 server: read each connection to its end, then close it
 *   nettool source ADDR BYTES         server: write BYTES to each connection, then close it
 *   nettool recvrate ADDR             read a connection to its end; print MB/s
 *   nettool sendrate ADDR BYTES       write BYTES, wait for the peer to close; print MB/s
 *   nettool rtt ADDR N                N one-byte round trips through an echo server; print the
 *                                     median in microseconds
 *   nettool slowrecv ADDR CHUNK PAUSE_MS HOLD_AT HOLD_S
 *                                     read a connection to its end slowly (64 KiB receive buffer,
 *                                     PAUSE_MS after every CHUNK bytes; after HOLD_AT bytes no
 *                                     reading for HOLD_S s between "nettool: hold start"/"end"
 *                                     lines); print the byte count
 *   nettool holdopen ADDR HOLD_S      read a connection until the peer closes, then keep the
 *                                     socket half-open for HOLD_S s (same hold lines); close
 * ADDR: vsock:CID:PORT | unix:PATH | fc:PATH:PORT (Firecracker's host side: connect to PATH,
 * send "CONNECT PORT\n", expect "OK ...") | tcp:IPV4:PORT (tcp::PORT listens on every address).
 * Prints one line and exits 1 on failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "nettool: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

struct addr {
    int family;
    struct sockaddr_un un;
    struct sockaddr_vm vm;
    struct sockaddr_in in;
    unsigned fc_port; /* fc: the port for the CONNECT line */
    int fc;
};

static void parse_addr(const char *s, struct addr *a)
{
    memset(a, 0, sizeof(*a));
    char path[128];
    unsigned cid, port;
    if (sscanf(s, "vsock:%u:%u", &cid, &port) == 2) {
        a->family = AF_VSOCK;
        a->vm.svm_family = AF_VSOCK;
        a->vm.svm_cid = cid;
        a->vm.svm_port = port;
        return;
    }
    char host[64];
    if (sscanf(s, "tcp:%63[0-9.]:%u", host, &port) == 2 || sscanf(s, "tcp::%u", &port) == 1) {
        a->family = AF_INET;
        a->in.sin_family = AF_INET;
        a->in.sin_port = htons((uint16_t)port);
        if (s[4] != ':' && inet_pton(AF_INET, host, &a->in.sin_addr) != 1)
            die("bad address '%s'", s);
        return;
    }
    a->family = AF_UNIX;
    a->un.sun_family = AF_UNIX;
    if (!strncmp(s, "unix:", 5) && strlen(s + 5) < sizeof(a->un.sun_path)) {
        strcpy(a->un.sun_path, s + 5);
        return;
    }
    const char *colon = strrchr(s, ':');
    if (!strncmp(s, "fc:", 3) && colon && colon > s + 3 && (size_t)(colon - s - 3) < sizeof(path) &&
        sscanf(colon + 1, "%u", &port) == 1) {
        memcpy(a->un.sun_path, s + 3, (size_t)(colon - s - 3));
        a->fc = 1;
        a->fc_port = port;
        return;
    }
    die("bad address '%s' (vsock:CID:PORT, unix:PATH or fc:PATH:PORT)", s);
}

static const struct sockaddr *addr_sa(const struct addr *a, socklen_t *len)
{
    if (a->family == AF_VSOCK) {
        *len = sizeof(a->vm);
        return (const struct sockaddr *)&a->vm;
    }
    if (a->family == AF_INET) {
        *len = sizeof(a->in);
        return (const struct sockaddr *)&a->in;
    }
    *len = sizeof(a->un);
    return (const struct sockaddr *)&a->un;
}

static int addr_connect(const struct addr *a)
{
    int fd = socket(a->family, SOCK_STREAM, 0);
    socklen_t len;
    const struct sockaddr *sa = addr_sa(a, &len);
    if (fd < 0 || connect(fd, sa, len) < 0)
        return -1;
    if (a->fc) {
        char line[64], c;
        size_t n = 0;
        int l = snprintf(line, sizeof(line), "CONNECT %u\n", a->fc_port);
        if (write(fd, line, (size_t)l) != l)
            return -1;
        while (n < sizeof(line) - 1 && read(fd, &c, 1) == 1 && c != '\n')
            line[n++] = c;
        line[n] = 0;
        if (strncmp(line, "OK ", 3)) {
            close(fd);
            errno = ECONNREFUSED;
            return -1;
        }
    }
    return fd;
}

static int addr_listen(const struct addr *a)
{
    int fd = socket(a->family, SOCK_STREAM, 0), one = 1;
    if (a->family == AF_UNIX)
        unlink(a->un.sun_path);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    socklen_t len;
    const struct sockaddr *sa = addr_sa(a, &len);
    if (fd < 0 || bind(fd, sa, len) < 0 || listen(fd, 128) < 0)
        die("cannot listen: %s", strerror(errno));
    return fd;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void echo_conn(int fd)
{
    static uint8_t buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        if (write_all(fd, buf, (size_t)n) < 0)
            break;
    shutdown(fd, SHUT_WR);
    close(fd);
}

static uint64_t source_bytes;

static void sink_conn(int fd)
{
    static uint8_t buf[65536];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
}

static void source_conn(int fd)
{
    static uint8_t buf[65536];
    memset(buf, 0x5a, sizeof(buf));
    for (uint64_t left = source_bytes; left;) {
        size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        if (write_all(fd, buf, n) < 0)
            break;
        left -= n;
    }
    close(fd);
}

/* Serve A with FN(fd) in one child per connection, until killed. */
static int serve(const struct addr *a, void (*fn)(int), const char *what)
{
    int l = addr_listen(a);
    signal(SIGCHLD, SIG_IGN);
    printf("nettool: %s server ready\n", what);
    fflush(stdout);
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        if (fork() == 0) {
            close(l);
            fn(c);
            _exit(0);
        }
        close(c);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmd_recvrate(const struct addr *a)
{
    static uint8_t buf[65536];
    int fd = addr_connect(a);
    if (fd < 0)
        die("connect: %s", strerror(errno));
    uint64_t total = 0;
    double t0 = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (!total)
            t0 = now_s(); /* from the first byte: connection set-up is not throughput */
        total += (uint64_t)n;
    }
    double dt = now_s() - t0;
    printf("bytes=%llu seconds=%.3f mbps=%.1f\n", (unsigned long long)total, dt,
           dt > 0 ? (double)total * 8 / dt / 1e6 : 0);
    return n < 0;
}

static int cmd_sendrate(const struct addr *a, uint64_t bytes)
{
    static uint8_t buf[65536];
    memset(buf, 0xa5, sizeof(buf));
    int fd = addr_connect(a);
    if (fd < 0)
        die("connect: %s", strerror(errno));
    double t0 = now_s();
    for (uint64_t left = bytes; left;) {
        size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
        if (write_all(fd, buf, n) < 0)
            die("write: %s", strerror(errno));
        left -= n;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buf, sizeof(buf)) > 0) /* the sink closes once it has read everything */
        ;
    double dt = now_s() - t0;
    printf("bytes=%llu seconds=%.3f mbps=%.1f\n", (unsigned long long)bytes, dt,
           dt > 0 ? (double)bytes * 8 / dt / 1e6 : 0);
    return 0;
}

/* Stop using the connection for S seconds, between two lines a lab scenario can watch for. */
static void hold(unsigned s)
{
    printf("nettool: hold start\n");
    fflush(stdout);
    sleep(s);
    printf("nettool: hold end\n");
    fflush(stdout);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int cmd_slowrecv(const struct addr *a, uint64_t chunk, unsigned pause_ms, uint64_t hold_at,
                        unsigned hold_s)
{
    static uint8_t buf[65536];
    int fd = addr_connect(a), rcvbuf = 65536;
    if (fd < 0 || !chunk)
        die("connect: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)); /* the window closes soon */
    uint64_t total = 0, next_pause = chunk;
    int held = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        total += (uint64_t)n;
        if (!held && total >= hold_at) {
            held = 1;
            hold(hold_s);
        }
        if (total >= next_pause) {
            next_pause += chunk;
            sleep_ms(pause_ms);
        }
    }
    printf("bytes=%llu\n", (unsigned long long)total);
    return n < 0;
}

static int cmd_holdopen(const struct addr *a, unsigned hold_s)
{
    static uint8_t buf[65536];
    int fd = addr_connect(a);
    if (fd < 0)
        die("connect: %s", strerror(errno));
    uint64_t total = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        total += (uint64_t)n;
    if (n < 0)
        die("read: %s", strerror(errno));
    printf("nettool: peer closed after %llu bytes; keeping our side open\n",
           (unsigned long long)total);
    hold(hold_s);
    close(fd);
    return 0;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static int cmd_rtt(const struct addr *a, unsigned n)
{
    int fd = addr_connect(a), one = 1;
    if (fd < 0 || !n)
        die("connect: %s", strerror(errno));
    if (a->family == AF_INET)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    double *t = calloc(n, sizeof(*t));
    for (unsigned i = 0; i < n; i++) {
        uint8_t b = (uint8_t)i, r;
        double t0 = now_s();
        if (write(fd, &b, 1) != 1 || read(fd, &r, 1) != 1 || r != b)
            die("round trip failed: %s", strerror(errno));
        t[i] = (now_s() - t0) * 1e6;
    }
    qsort(t, n, sizeof(*t), cmp_double);
    printf("rtt_us=%.1f n=%u\n", t[n / 2], n);
    return 0;
}

/* Accept one connection on A and copy what it sends to stdout. */
static int cmd_recv(const struct addr *a)
{
    static uint8_t buf[65536];
    int l = addr_listen(a), c = accept(l, NULL, NULL);
    ssize_t n;
    if (c < 0)
        die("accept: %s", strerror(errno));
    while ((n = read(c, buf, sizeof(buf))) > 0)
        if (write_all(1, buf, (size_t)n) < 0)
            return 1;
    return n < 0;
}

/* Copy stdin to the socket and the socket to stdout until the peer closes. The socket is
 * non-blocking so a full send direction never stops the receive direction (an echo peer would
 * otherwise deadlock us). */
static int cmd_connect(const struct addr *a)
{
    static uint8_t in[65536], out[65536];
    size_t have = 0, off = 0;
    int fd = addr_connect(a), eof = 0;
    if (fd < 0)
        die("connect: %s", strerror(errno));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (;;) {
        struct pollfd p[2] = {{.fd = (!eof && !have) ? 0 : -1, .events = POLLIN},
                              {.fd = fd, .events = POLLIN | (have ? POLLOUT : 0)}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (p[0].revents) {
            ssize_t n = read(0, in, sizeof(in));
            if (n <= 0) {
                eof = 1;
                shutdown(fd, SHUT_WR);
            } else {
                have = (size_t)n;
                off = 0;
            }
        }
        if (have && (p[1].revents & (POLLOUT | POLLERR))) {
            ssize_t w = write(fd, in + off, have);
            if (w < 0 && errno != EAGAIN)
                die("write: %s", strerror(errno));
            if (w > 0) {
                off += (size_t)w;
                have -= (size_t)w;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = read(fd, out, sizeof(out));
            if (n < 0 && errno != EAGAIN)
                die("read: %s", strerror(errno));
            if (n == 0)
                return 0;
            if (n > 0 && write_all(1, out, (size_t)n) < 0)
                die("stdout: %s", strerror(errno));
        }
    }
}

/* Byte I of connection K's stream (xorshift of the position, seeded by K). */
static uint8_t stream_byte(unsigned k, uint64_t i)
{
    uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)k << 32);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (uint8_t)(x >> (8 * (i % 8)));
}

struct pconn {
    int fd;
    uint64_t sent, got;
};

static int cmd_parallel(const struct addr *a, unsigned n, uint64_t bytes)
{
    struct pconn *c = calloc(n, sizeof(*c));
    struct pollfd *p = calloc(n, sizeof(*p));
    static uint8_t buf[16384];
    for (unsigned k = 0; k < n; k++) {
        c[k].fd = addr_connect(a);
        if (c[k].fd < 0) {
            printf("nettool: connection %u of %u: %s\n", k + 1, n, strerror(errno));
            return 1;
        }
        fcntl(c[k].fd, F_SETFL, O_NONBLOCK);
    }
    unsigned done = 0;
    while (done < n) {
        for (unsigned k = 0; k < n; k++) {
            p[k].fd = c[k].got < bytes ? c[k].fd : -1;
            p[k].events = POLLIN | (c[k].sent < bytes ? POLLOUT : 0);
        }
        if (poll(p, n, 30000) <= 0) {
            printf("nettool: parallel: no progress for 30 s (%u of %u done)\n", done, n);
            return 1;
        }
        for (unsigned k = 0; k < n; k++) {
            if ((p[k].revents & POLLOUT) && c[k].sent < bytes) {
                size_t m =
                    (size_t)(bytes - c[k].sent < sizeof(buf) ? bytes - c[k].sent : sizeof(buf));
                for (size_t i = 0; i < m; i++)
                    buf[i] = stream_byte(k, c[k].sent + i);
                ssize_t w = write(c[k].fd, buf, m);
                if (w > 0 && (c[k].sent += (uint64_t)w) == bytes)
                    shutdown(c[k].fd, SHUT_WR);
            }
            if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = read(c[k].fd, buf, sizeof(buf));
                if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
                    printf("nettool: connection %u closed after %llu of %llu bytes\n", k + 1,
                           (unsigned long long)c[k].got, (unsigned long long)bytes);
                    return 1;
                }
                for (ssize_t i = 0; i < r; i++) {
                    if (buf[i] != stream_byte(k, c[k].got + (uint64_t)i)) {
                        printf("nettool: connection %u: byte %llu differs\n", k + 1,
                               (unsigned long long)(c[k].got + (uint64_t)i));
                        return 1;
                    }
                }
                if (r > 0 && (c[k].got += (uint64_t)r) == bytes)
                    done++;
            }
        }
    }
    printf("nettool: parallel: %u connections, %llu bytes each, all echoed intact\n", n,
           (unsigned long long)bytes);
    return 0;
}

/* Answer A queries for NAME with IP; everything else gets NXDOMAIN. */
static int cmd_dns(const char *name, const char *ip)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
    struct in_addr addr;
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (inet_pton(AF_INET, ip, &addr) != 1)
        die("bad address %s", ip);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind 127.0.0.1:53: %s", strerror(errno));
    printf("nettool: dns ready\n");
    fflush(stdout);
    for (;;) {
        uint8_t q[512], qname[256];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, q, sizeof(q) - 16, 0, (struct sockaddr *)&from, &fl);
        if (n < 17)
            continue;
        size_t o = 12, qn = 0; /* the question's name, as dotted text */
        while (o < (size_t)n && q[o] && q[o] < 64 && o + q[o] < (size_t)n && qn + q[o] < 250) {
            if (qn)
                qname[qn++] = '.';
            memcpy(qname + qn, q + o + 1, q[o]);
            qn += q[o];
            o += 1 + (size_t)q[o];
        }
        qname[qn] = 0;
        o += 5; /* root label, qtype, qclass */
        if (o > (size_t)n)
            continue;
        int hit = !strcasecmp((char *)qname, name) && q[o - 3] == 1;
        q[2] = 0x84 | (q[2] & 0x01); /* response, authoritative, RD copied */
        q[3] = hit ? 0x80 : 0x83;    /* RA; NXDOMAIN when no hit */
        q[6] = 0;
        q[7] = hit ? 1 : 0;
        memset(q + 8, 0, 4);
        size_t len = o;
        if (hit) {
            uint8_t ans[16] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4};
            memcpy(ans + 12, &addr, 4);
            memcpy(q + o, ans, 16);
            len += 16;
        }
        sendto(fd, q, len, 0, (struct sockaddr *)&from, fl);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct addr a;
    if (argc == 3 && !strcmp(argv[1], "echo")) {
        parse_addr(argv[2], &a);
        return serve(&a, echo_conn, "echo");
    }
    if (argc == 3 && !strcmp(argv[1], "sink")) {
        parse_addr(argv[2], &a);
        return serve(&a, sink_conn, "sink");
    }
    if (argc == 4 && !strcmp(argv[1], "source")) {
        parse_addr(argv[2], &a);
        source_bytes = strtoull(argv[3], NULL, 0);
        return serve(&a, source_conn, "source");
    }
    if (argc == 3 && !strcmp(argv[1], "recvrate")) {
        parse_addr(argv[2], &a);
        return cmd_recvrate(&a);
    }
    if (argc == 4 && !strcmp(argv[1], "sendrate")) {
        parse_addr(argv[2], &a);
        return cmd_sendrate(&a, strtoull(argv[3], NULL, 0));
    }
    if (argc == 4 && !strcmp(argv[1], "rtt")) {
        parse_addr(argv[2], &a);
        return cmd_rtt(&a, (unsigned)atoi(argv[3]));
    }
    if (argc == 3 && !strcmp(argv[1], "connect")) {
        parse_addr(argv[2], &a);
        return cmd_connect(&a);
    }
    if (argc == 3 && !strcmp(argv[1], "recv")) {
        parse_addr(argv[2], &a);
        return cmd_recv(&a);
    }
    if (argc == 5 && !strcmp(argv[1], "parallel")) {
        parse_addr(argv[2], &a);
        return cmd_parallel(&a, (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 0));
    }
    if (argc == 7 && !strcmp(argv[1], "slowrecv")) {
        parse_addr(argv[2], &a);
        return cmd_slowrecv(&a, strtoull(argv[3], NULL, 0), (unsigned)atoi(argv[4]),
                            strtoull(argv[5], NULL, 0), (unsigned)atoi(argv[6]));
    }
    if (argc == 4 && !strcmp(argv[1], "holdopen")) {
        parse_addr(argv[2], &a);
        return cmd_holdopen(&a, (unsigned)atoi(argv[3]));
    }
    if (argc == 4 && !strcmp(argv[1], "dns"))
        return cmd_dns(argv[2], argv[3]);
    fprintf(stderr,
            "usage: nettool echo|connect|recv|sink|recvrate ADDR | source|sendrate ADDR "
            "BYTES | parallel ADDR N BYTES | rtt ADDR N | dns NAME IP | slowrecv ADDR CHUNK "
            "PAUSE_MS HOLD_AT HOLD_S | holdopen ADDR HOLD_S\n");
    return 2;
}
