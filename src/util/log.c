/* log.c — process-wide leveled logger; never blocks the caller on a full pipe. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

static struct {
    pthread_mutex_t lock;
    enum log_level level;
    bool show_level;
    bool show_origin;
    int fd; /* 2 = stderr */
    _Atomic uint64_t lost;
} logger = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .level = LOG_LVL_WARN,
    .show_level = true,
    .fd = 2,
};

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_configure(enum log_level lvl, bool show_level, bool show_origin)
{
    pthread_mutex_lock(&logger.lock);
    logger.level = lvl;
    logger.show_level = show_level;
    logger.show_origin = show_origin;
    pthread_mutex_unlock(&logger.lock);
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level lvl;
    } names[] = {{"error", LOG_LVL_ERROR}, {"warning", LOG_LVL_WARN}, {"warn", LOG_LVL_WARN},
                 {"info", LOG_LVL_INFO},   {"debug", LOG_LVL_DEBUG},  {"trace", LOG_LVL_DEBUG},
                 {"off", LOG_LVL_OFF}};
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (!strcasecmp(s, names[i].name)) {
            *out = names[i].lvl;
            return 0;
        }
    }
    return -EINVAL;
}

int line_sink_open(const char *path)
{
    /* O_NONBLOCK: a full FIFO must not block us. A FIFO is opened read-write (Firecracker does
     * the same) so that opening succeeds without a reader and writes never raise EPIPE: lines
     * that do not fit are lost and counted by the writer. */
    struct stat st;
    int fd;
    if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    else
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0640);
    return fd < 0 ? -errno : fd;
}

int log_set_path(const char *path)
{
    int fd = line_sink_open(path);
    if (fd < 0)
        return fd;
    pthread_mutex_lock(&logger.lock);
    if (logger.fd > 2)
        close(logger.fd);
    logger.fd = fd;
    pthread_mutex_unlock(&logger.lock);
    return 0;
}

uint64_t log_lost(void)
{
    return atomic_load(&logger.lost);
}

bool log_enabled(enum log_level lvl)
{
    return lvl <= logger.level;
}

void log_msg(enum log_level lvl, const char *file, int line, const char *fmt, ...)
{
    if (lvl > logger.level)
        return;
    char buf[1024];
    size_t n = 0;
    if (logger.fd != 2) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        n += snprintf(buf, sizeof(buf), "%lld.%09ld ", (long long)ts.tv_sec, ts.tv_nsec);
    }
    n += snprintf(buf + n, sizeof(buf) - n, "truce: ");
    if (logger.show_level)
        n += snprintf(buf + n, sizeof(buf) - n, "[%s] ", level_names[lvl]);
    if (logger.show_origin && n < sizeof(buf))
        n += snprintf(buf + n, sizeof(buf) - n, "[%s:%d] ", file, line);
    va_list ap;
    va_start(ap, fmt);
    if (n < sizeof(buf))
        n += vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    va_end(ap);
    if (n >= sizeof(buf) - 1)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';

    pthread_mutex_lock(&logger.lock);
    ssize_t w = write(logger.fd, buf, n);
    pthread_mutex_unlock(&logger.lock);
    if (w != (ssize_t)n)
        atomic_fetch_add(&logger.lost, 1);
}
