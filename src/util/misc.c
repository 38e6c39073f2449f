/* misc.c — small helpers: size/number parsing, whole-file reads, full reads and writes. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9') /* strtoull would skip white space and take a sign */
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

int parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s || *s < '0' || *s > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        return -EINVAL;
    }
    if (*end) {
        end++;
        if ((*end == 'i' || *end == 'I') && (end[1] == 'B' || end[1] == 'b'))
            end += 2;
        else if (*end == 'B' || *end == 'b')
            end++;
        if (*end)
            return -EINVAL;
    }
    if (shift && v > (~0ULL >> shift))
        return -ERANGE;
    *out = v << shift;
    return 0;
}

int pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO; /* the file ends first (it shrank while it was read) */
        p += n, off += (uint64_t)n, len -= (size_t)n;
    }
    return 0;
}

int read_file(const char *path, size_t max, uint8_t **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    uint8_t *p = NULL;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        goto out;
    }
    if ((uint64_t)st.st_size > max) {
        rc = -EFBIG;
        goto out;
    }
    p = malloc(st.st_size ? st.st_size : 1);
    if (!p) {
        rc = -ENOMEM;
        goto out;
    }
    rc = read_full(fd, p, st.st_size);
    if (rc < 0) {
        free(p);
        p = NULL;
        goto out;
    }
    *buf = p;
    *len = st.st_size;
out:
    close(fd);
    return rc;
}

int str_copy(char *dst, size_t dstlen, const char *src)
{
    size_t n = strlen(src);
    if (n >= dstlen)
        return -ENAMETOOLONG;
    memcpy(dst, src, n + 1);
    return 0;
}

bool dl_sym(void *h, const char *soname, const char *name, void *slot, const char *why, char *err,
            size_t errlen)
{
    void *p = dlsym(h, name);
    if (!p)
        snprintf(err, errlen, "%s has no %s (%s)", soname, name, why);
    memcpy(slot, &p, sizeof(p));
    return p != NULL;
}

#define MEM_BLOCK 4096 /* the page size: the unit the kernel backs memory in */

/* Is P[0..N) all zero? (Reading a never-touched page maps the shared zero page: no cost.) */
static bool mem_is_zero(const unsigned char *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Bytes from P to the end of its MEM_BLOCK, at most N. */
static size_t mem_block_len(const void *p, size_t n)
{
    size_t len = MEM_BLOCK - ((uintptr_t)p & (MEM_BLOCK - 1));
    return len < n ? len : n;
}

void mem_zero(void *dst, size_t n)
{
    unsigned char *d = dst;
    while (n) {
        size_t len = mem_block_len(d, n);
        if (!mem_is_zero(d, len))
            memset(d, 0, len);
        d += len;
        n -= len;
    }
}

void mem_copy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n) {
        size_t len = mem_block_len(d, n);
        if (!mem_is_zero(s, len) || !mem_is_zero(d, len))
            memcpy(d, s, len);
        d += len;
        s += len;
        n -= len;
    }
}

bool fd_same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint64_t process_start;

void process_mark_start(void)
{
    process_start = now_ns();
}

uint64_t process_start_ns(void)
{
    return process_start;
}

void signals_block_termination(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

int write_full(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= n;
    }
    return 0;
}

int read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO; /* file shrank under us */
        p += n;
        len -= n;
    }
    return 0;
}

/* Hooks run by proc_forced_exit (the terminal, ...): process-wide, registered once each. */
static void (*forced_exit_hooks[4])(void);
static _Atomic unsigned nforced_exit_hooks;

int proc_at_forced_exit(void (*fn)(void))
{
    unsigned i = atomic_fetch_add(&nforced_exit_hooks, 1);
    if (i >= ARRAY_SIZE(forced_exit_hooks))
        return -ENOSPC;
    forced_exit_hooks[i] = fn;
    return 0;
}

void proc_forced_exit(int status)
{
    unsigned n = MIN(atomic_load(&nforced_exit_hooks), (unsigned)ARRAY_SIZE(forced_exit_hooks));
    for (unsigned i = 0; i < n; i++)
        if (forced_exit_hooks[i])
            forced_exit_hooks[i]();
    _exit(status);
}

int err_inval(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}
