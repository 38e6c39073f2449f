/* util.h — contracts for logging, the event loop and small helpers shared by every layer. */
#ifndef TRUCE_UTIL_H
#define TRUCE_UTIL_H

#include <assert.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <sys/types.h>

#define ARRAY_SIZE(a)    (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)        ((a) < (b) ? (a) : (b))
#define MAX(a, b)        ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a)   (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define KiB              (1024ULL)
#define MiB              (1024ULL * KiB)
#define GiB              (1024ULL * MiB)

/* One line from FMT into ERR (ERRLEN bytes); returns -EINVAL, for `return err_inval(...)` on the
 * error paths that report bad input (util/misc.c). */
int err_inval(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- logging (util/log.c) -------------------------------------------------------------------
 * Process-wide logger. Lines go to stderr by default, or to a file / named pipe opened
 * non-blocking: a full pipe drops the line and counts it in log_lost(), never blocks a vCPU. */
/* LOG_LVL_OFF prints nothing (Firecracker's "Off"). */
enum log_level { LOG_LVL_OFF = -1, LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_msg(enum log_level lvl, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set the minimum level printed and the decorations (Firecracker logger semantics). */
void log_configure(enum log_level lvl, bool show_level, bool show_origin);
/* Redirect to PATH (file appended, or FIFO). Returns 0 or -errno. */
int log_set_path(const char *path);
/* Open PATH for appending lines without ever blocking: a FIFO read-write (opening needs no reader,
 * writes never raise EPIPE), anything else write-only, created 0640. Returns the fd or -errno. */
int line_sink_open(const char *path);
/* Parse "Error"/"Warning"/"Info"/"Debug"/"Trace"/"Off" (case-insensitive). Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
uint64_t log_lost(void);
/* Would a line of level LVL be printed? (To skip working out what only a debug line shows.) */
bool log_enabled(enum log_level lvl);

#define log_err(...)   log_msg(LOG_LVL_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/* ---- event loop (util/evloop.c) -------------------------------------------------------------
 * An epoll loop run by one thread. Callbacks run on that thread. evloop_add/del may be called
 * from any thread; after evloop_del returns, the callback is not running and will not run. */
struct evloop;
typedef void (*evloop_cb)(void *opaque, uint32_t events);

struct evloop *evloop_new(void);
void evloop_free(struct evloop *l);
/* Watch FD for EVENTS (EPOLLIN/EPOLLOUT...). Returns 0 or -errno. */
int evloop_add(struct evloop *l, int fd, uint32_t events, evloop_cb cb, void *opaque);
int evloop_mod(struct evloop *l, int fd, uint32_t events);
int evloop_del(struct evloop *l, int fd);
/* Run until evloop_stop(); returns 0, or -errno on an epoll failure. */
int evloop_run(struct evloop *l);
void evloop_stop(struct evloop *l);
/* Run FN(OPAQUE) on the loop thread soon (used to hand work from vCPU threads). */
int evloop_call(struct evloop *l, void (*fn)(void *), void *opaque);

/* ---- footprint (util/footprint.c) ----------------------------------------------------------- */
/* Give back what start-up touched and a running VM does not need: free heap pages (malloc_trim)
 * and this process's mappings of code and read-only data of the program and every library (the
 * pages stay in the page cache; what runs later maps its own again), and the calling thread's
 * stack pages below its current frame. Call once the VM is built and its threads run. Returns
 * the bytes of read-only segments unmapped. */
size_t footprint_trim(void);
/* SIZE zeroed bytes on pages of their own (an anonymous mapping, no allocator header): a page is
 * backed only once written, and page_free(P, SIZE) gives every page back. For structures that are
 * large and mostly cold (rings used only while a reader stalls, per-request tables used from the
 * front): on the heap their untouched parts would share pages with live neighbours. NULL on
 * failure. page_free(NULL, ...) does nothing. */
void *page_zalloc(size_t size);
void page_free(void *p, size_t size);
/* Stack sizes of truce's own threads (glibc's default is 8 MiB each, all of it committed): a vCPU
 * thread runs the exit handlers, the I/O thread the event loop with libslirp, io_uring and the
 * device backends. Both log their deepest use at exit (debug level); tests/guests/stacks.sh drives
 * the deepest paths and checks they stay under half. */
#define THREAD_STACK_VCPU   (256u << 10)
#define THREAD_STACK_IO     (512u << 10)
#define THREAD_STACK_LOADER (64u << 10) /* vm/lazyload.c: pread, UFFDIO_COPY, a log line */
/* pthread_create with a stack of STACK bytes. Returns 0 or -errno. */
int thread_create(pthread_t *t, size_t stack, void *(*fn)(void *), void *arg);
/* How deep the calling thread's stack has gone: bytes from its top down to the lowest word ever
 * written, 0 when unknown. For threads made by thread_create. */
size_t thread_stack_used(void);

/* ---- helpers (util/misc.c) ------------------------------------------------------------------ */
/* pread LEN bytes at OFF into BUF, all of them (EINTR retried). Returns 0, -errno, or -EIO when
 * the file ends first. */
int pread_full(int fd, void *buf, size_t len, uint64_t off);
/* Parse "512M", "2G", "64K", "1048576" (bytes). Returns 0 or -EINVAL / -ERANGE. */
int parse_size(const char *s, uint64_t *out);
/* Parse an unsigned decimal integer within [min, max]. Returns 0 or -EINVAL / -ERANGE. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Read a whole file (at most MAX bytes) into a malloc'd buffer. Returns 0 or -errno / -EFBIG. */
int read_file(const char *path, size_t max, uint8_t **buf, size_t *len);
/* Whether descriptors A and B are open on the same file (device and inode); false when either
 * cannot be asked. */
bool fd_same_file(int a, int b);
/* snprintf into a fixed buffer; returns -ENAMETOOLONG when truncated. */
int str_copy(char *dst, size_t dstlen, const char *src);
/* dlsym NAME in the library SONAME opened as H into *SLOT (a function pointer's storage). Returns
 * true, or false with "SONAME has no NAME (WHY)" in ERR (ERRLEN bytes) when the library lacks it.
 */
bool dl_sym(void *h, const char *soname, const char *name, void *slot, const char *why, char *err,
            size_t errlen);
/* memset(DST, 0, N) and memcpy(DST, SRC, N) that leave alone every page-sized block already
 * holding what it would be given (zero, and zero copied onto zero): a large struct in fresh
 * memory (a big calloc) stays unbacked where it is zero, so what a VM keeps resident is what it
 * uses. DST and SRC must not overlap. */
void mem_zero(void *dst, size_t n);
void mem_copy(void *dst, const void *src, size_t n);
uint64_t now_ns(void);
/* now_ns() as main() began (process_mark_start, called first thing), 0 before: start-up
 * timelines (start-stats) say how long the loader and the front end took before the VM build. */
void process_mark_start(void);
uint64_t process_start_ns(void);
/* Fill SET with the signals that ask truce to stop (SIGINT, SIGTERM, SIGHUP) and block them in
 * the calling thread; whoever waits for the VM takes them through a signalfd on SET. */
void signals_block_termination(sigset_t *set);
/* Register FN to run when the process must end while other threads are stuck (the terminal
 * restore, ...): FN must be async-signal-safe-ish (no locks, no allocation). At most 4.
 * Returns 0 or -ENOSPC. */
int proc_at_forced_exit(void (*fn)(void));
/* Run those hooks and _exit(STATUS) at once: no atexit handlers, no joins. */
void proc_forced_exit(int status) __attribute__((noreturn));
/* Little-endian 16/32-bit fields at any alignment (PCI config space, boot headers). */
static inline uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)get_le16(p) | (uint32_t)get_le16(p + 2) << 16;
}
static inline void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, (uint16_t)v);
    put_le16(p + 2, (uint16_t)(v >> 16));
}
/* write()/read() retrying on EINTR and short counts; return 0 or -errno. */
int write_full(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len);

/* ---- scatter-gather lists (util/iov.c) ------------------------------------------------------ */
struct iovec;
/* Describe bytes [OFF, OFF + LEN) of the N segments SRC as at most MAX segments in DST, leaving
 * out empty ones. Returns the number of DST segments written. */
unsigned iov_slice(const struct iovec *src, unsigned n, size_t off, size_t len, struct iovec *dst,
                   unsigned max);
/* Copy LEN bytes starting at byte OFF of the N segments IOV into BUF, or from BUF into them.
 * Return the bytes copied (short when the segments end first). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);

#endif
