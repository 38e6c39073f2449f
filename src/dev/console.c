/* console.c — the host end of the guest console: stdio in raw mode, a file, or nothing. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define CTRL_A           0x01
#define CONSOLE_READ_MAX 128 /* escapes expand at most one byte: fits in pending[256] */
#define FLUSH_BUDGET_NS  (500 * 1000 * 1000ULL)

/* ---- terminal restore (process-wide: the process has one terminal) --------------------------
 * The values a fatal signal handler or atexit needs, kept where they can read them without
 * locks. Only the console that changed the terminal fills them. */
static struct termios term_saved;
static atomic_int term_fd = -1; /* tty to restore with term_saved */
static atomic_int nb_fd = -1;   /* descriptor we set O_NONBLOCK on (shared with others) */
static int nb_flags;            /* its original flags */
static pthread_mutex_t term_lock = PTHREAD_MUTEX_INITIALIZER; /* claiming the slots above */
static pthread_once_t term_once = PTHREAD_ONCE_INIT;

/* Put the saved terminal mode back (async-signal-safe, once). */
static void restore_term(void)
{
    int fd = atomic_exchange(&term_fd, -1);
    if (fd >= 0)
        tcsetattr(fd, TCSANOW, &term_saved);
}

/* Clear the O_NONBLOCK we set on a shared description (async-signal-safe, once). */
static void restore_nonblock(void)
{
    int fd = atomic_exchange(&nb_fd, -1);
    if (fd >= 0)
        fcntl(fd, F_SETFL, nb_flags);
}

void console_restore_tty(void)
{
    restore_term();
    restore_nonblock();
}

static void fatal_signal(int sig)
{
    console_restore_tty();
    raise(sig); /* SA_RESETHAND put the default action back */
}

/* atexit, and a restoring handler for fatal signals nobody else handles. */
static void term_install(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    atexit(console_restore_tty);
    proc_at_forced_exit(console_restore_tty); /* the shutdown watchdog's _exit */
    for (size_t i = 0; i < ARRAY_SIZE(sigs); i++) {
        struct sigaction old;
        if (sigaction(sigs[i], NULL, &old) || old.sa_handler != SIG_DFL ||
            (old.sa_flags & SA_SIGINFO))
            continue;
        struct sigaction sa = {.sa_handler = fatal_signal, .sa_flags = SA_RESETHAND | SA_NODEFER};
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* Put the terminal on TTY into raw mode (output post-processing kept, so host log lines stay
 * readable). Only one console per process owns the terminal. Returns true when C owns it. */
static bool term_make_raw(struct console *c, int tty)
{
    if (!isatty(tty) || tcgetattr(tty, &c->saved))
        return false;
    pthread_once(&term_once, term_install);
    pthread_mutex_lock(&term_lock);
    bool ok = atomic_load(&term_fd) < 0;
    if (ok) {
        term_saved = c->saved;
        struct termios t = c->saved;
        t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
        t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
        t.c_cflag = (t.c_cflag & ~(CSIZE | PARENB)) | CS8;
        t.c_cc[VMIN] = 1;
        t.c_cc[VTIME] = 0;
        ok = tcsetattr(tty, TCSANOW, &t) == 0;
        if (ok)
            atomic_store(&term_fd, tty);
    }
    pthread_mutex_unlock(&term_lock);
    return ok;
}

/* ---- descriptors ----------------------------------------------------------------------------- */

/* A descriptor of our own for FD with O_NONBLOCK: a terminal or pipe is reopened through /proc
 * (a new open file description, so the shell's stays blocking); a socket is dup'd and used with
 * MSG_DONTWAIT; a regular file is dup'd (writes to it do not stall). As a last resort, O_NONBLOCK
 * is set on the shared description (output only) and restored on exit. Returns the new fd, or
 * -errno (-EBADF: FD is not open). */
static int own_fd(int fd, int acc, bool *sock)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    *sock = S_ISSOCK(st.st_mode);
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
        char path[40];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int nfd = open(path, acc | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (nfd >= 0)
            return nfd;
    }
    int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (nfd < 0)
        return -errno;
    if (acc == O_WRONLY && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
        int fl = fcntl(nfd, F_GETFL);
        pthread_mutex_lock(&term_lock);
        if (fl >= 0 && !(fl & O_NONBLOCK) && atomic_load(&nb_fd) < 0) {
            pthread_once(&term_once, term_install);
            nb_flags = fl;
            if (fcntl(nfd, F_SETFL, fl | O_NONBLOCK) == 0)
                atomic_store(&nb_fd, nfd);
        }
        pthread_mutex_unlock(&term_lock);
    }
    return nfd;
}

/* ---- output ---------------------------------------------------------------------------------- */

static ssize_t out_raw(struct console *c, const uint8_t *buf, size_t len)
{
    if (c->out_sock)
        return send(c->out_fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return write(c->out_fd, buf, len);
}

/* Write as much of BUF as the reader takes now. Returns bytes written; marks the output dead on a
 * permanent error. Caller holds out_lock. */
static size_t out_try(struct console *c, const uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len && !c->out_dead) {
        ssize_t r = out_raw(c, buf + done, len - done);
        if (r > 0) {
            done += (size_t)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && errno == EAGAIN) {
            break;
        } else {
            c->out_dead = true;
            log_warn("console: output failed (%s); discarding guest output",
                     r < 0 ? strerror(errno) : "nothing written");
        }
    }
    return done;
}

/* Flush the ring. Caller holds out_lock. */
static void out_flush(struct console *c)
{
    while (c->out_len && !c->out_dead) {
        size_t chunk = MIN(c->out_len, CONSOLE_OUT_RING - c->out_head);
        size_t n = out_try(c, c->out_ring + c->out_head, chunk);
        c->out_head = (c->out_head + n) % CONSOLE_OUT_RING;
        c->out_len -= n;
        if (n < chunk)
            break;
    }
    if (c->out_dead) {
        c->out_dropped += c->out_len;
        c->out_len = 0;
    }
}

static void out_arm(void *opaque);

/* EPOLLOUT on out_fd (I/O thread): flush; stop watching once empty. */
static void out_ready(void *opaque, uint32_t events)
{
    struct console *c = opaque;
    pthread_mutex_lock(&c->out_lock);
    out_flush(c);
    if (c->out_len && (events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLOUT)) {
        c->out_dead = true;
        out_flush(c);
    }
    bool done = !c->out_len;
    if (done)
        c->out_waiting = false;
    pthread_mutex_unlock(&c->out_lock);
    if (done)
        evloop_del(c->vm->loop, c->out_fd);
}

/* Start watching out_fd for room (I/O thread). */
static void out_arm(void *opaque)
{
    struct console *c = opaque;
    int rc = __atomic_load_n(&c->closed, __ATOMIC_SEQ_CST)
                 ? -ESHUTDOWN
                 : evloop_add(c->vm->loop, c->out_fd, EPOLLOUT, out_ready, c);
    if (rc && rc != -EEXIST) {
        pthread_mutex_lock(&c->out_lock); /* not pollable: flush what we can, keep the rest */
        c->out_waiting = false;
        out_flush(c);
        pthread_mutex_unlock(&c->out_lock);
    }
}

void console_write(struct console *c, const uint8_t *buf, size_t len)
{
    if (!c || c->out_fd < 0 || !len)
        return;
    pthread_mutex_lock(&c->out_lock);
    out_flush(c);
    size_t done = c->out_len ? 0 : out_try(c, buf, len);
    size_t room = CONSOLE_OUT_RING - c->out_len;
    size_t keep = c->out_dead ? 0 : MIN(len - done, room);
    for (size_t i = 0; i < keep; i++)
        c->out_ring[(c->out_head + c->out_len + i) % CONSOLE_OUT_RING] = buf[done + i];
    c->out_len += keep;
    c->out_dropped += len - done - keep;
    bool arm = c->out_len && !c->out_waiting && c->vm->loop &&
               !__atomic_load_n(&c->closed, __ATOMIC_SEQ_CST);
    if (arm)
        c->out_waiting = true;
    pthread_mutex_unlock(&c->out_lock);
    if (arm && evloop_call(c->vm->loop, out_arm, c)) {
        pthread_mutex_lock(&c->out_lock);
        c->out_waiting = false;
        pthread_mutex_unlock(&c->out_lock);
    }
}

/* Last flush before closing: wait for the reader at most FLUSH_BUDGET_NS in total. */
static void out_drain(struct console *c)
{
    uint64_t deadline = now_ns() + FLUSH_BUDGET_NS;
    pthread_mutex_lock(&c->out_lock);
    out_flush(c);
    while (c->out_len && !c->out_dead) {
        uint64_t now = now_ns();
        if (now >= deadline)
            break;
        struct pollfd p = {.fd = c->out_fd, .events = POLLOUT};
        pthread_mutex_unlock(&c->out_lock);
        int n = poll(&p, 1, (int)((deadline - now) / 1000000) + 1);
        pthread_mutex_lock(&c->out_lock);
        if (n < 0 && errno != EINTR)
            break;
        out_flush(c);
    }
    c->out_dropped += c->out_len;
    c->out_len = 0;
    pthread_mutex_unlock(&c->out_lock);
}

/* ---- input ----------------------------------------------------------------------------------- */

static void in_ready(void *opaque, uint32_t events);

static bool is_closed(struct console *c)
{
    return __atomic_load_n(&c->closed, __ATOMIC_SEQ_CST);
}

/* Start or stop watching in_fd (I/O thread, or any thread before the loop runs). */
static void in_watch(struct console *c, bool on)
{
    if (on == c->in_watched || c->in_fd < 0 || !c->vm->loop || (on && (c->in_eof || is_closed(c))))
        return;
    int rc = on ? evloop_add(c->vm->loop, c->in_fd, EPOLLIN, in_ready, c)
                : evloop_del(c->vm->loop, c->in_fd);
    if (on && rc) {
        log_debug("console: input cannot be watched (%s); no input", strerror(-rc));
        c->in_eof = true;
        return;
    }
    c->in_watched = on;
}

/* Escape handling: append what reaches the guest for byte B to pending. Ctrl-A x stops the VM,
 * Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A + anything else sends both. */
static void in_byte(struct console *c, uint8_t b)
{
    if (!c->escape && b == CTRL_A) {
        c->escape = true;
        return;
    }
    if (c->escape) {
        c->escape = false;
        if (b == 'x') {
            vm_request_stop(c->vm, TRUCE_EXIT_SIGNAL, "console: Ctrl-A x");
            return;
        }
        if (b != CTRL_A)
            c->pending[c->npending++] = CTRL_A;
    }
    c->pending[c->npending++] = b;
}

/* Hand pending input to the consumer (I/O thread). Returns true when all of it went. */
static bool in_deliver(struct console *c)
{
    pthread_mutex_lock(&c->rx_lock);
    while (c->pending_off < c->npending) {
        size_t left = c->npending - c->pending_off;
        if (!c->rx) {
            c->in_dropped += left;
            c->pending_off = c->npending;
            break;
        }
        size_t n = c->rx(c->rx_opaque, c->pending + c->pending_off, left);
        if (!n)
            break;
        c->pending_off += MIN(n, left);
    }
    pthread_mutex_unlock(&c->rx_lock);
    if (c->pending_off < c->npending)
        return false;
    c->npending = c->pending_off = 0;
    return true;
}

/* EPOLLIN on in_fd (I/O thread): read, handle escapes, deliver; pause while the consumer is
 * full; stop watching for good at end of input. */
static void in_ready(void *opaque, uint32_t events)
{
    struct console *c = opaque;
    uint8_t buf[CONSOLE_READ_MAX];
    ssize_t r = c->in_sock ? recv(c->in_fd, buf, sizeof(buf), MSG_DONTWAIT)
                           : read(c->in_fd, buf, sizeof(buf));
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        log_debug("console: end of input (%s)", r ? strerror(errno) : "EOF");
        c->in_eof = true;
        in_watch(c, false);
        return;
    }
    for (ssize_t i = 0; i < r; i++)
        in_byte(c, buf[i]);
    if (!in_deliver(c)) {
        __atomic_store_n(&c->rx_paused, true, __ATOMIC_SEQ_CST);
        in_watch(c, false);
    }
}

/* Queued by console_rx_ready (I/O thread): deliver what waits, resume reading when done. */
static void in_kick(void *opaque)
{
    struct console *c = opaque;
    atomic_store(&c->rx_kick, false);
    if (is_closed(c) || !__atomic_load_n(&c->rx_paused, __ATOMIC_SEQ_CST) || !in_deliver(c))
        return;
    __atomic_store_n(&c->rx_paused, false, __ATOMIC_SEQ_CST);
    in_watch(c, true);
}

void console_rx_ready(struct console *c)
{
    if (!c || !c->vm->loop || atomic_exchange(&c->rx_kick, true))
        return;
    if (evloop_call(c->vm->loop, in_kick, c))
        atomic_store(&c->rx_kick, false);
}

void console_set_rx(struct console *c, console_rx_fn rx, void *opaque)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->rx_lock);
    c->rx = rx;
    c->rx_opaque = opaque;
    pthread_mutex_unlock(&c->rx_lock);
    if (rx)
        console_rx_ready(c);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

void console_close(struct console *c)
{
    if (!c || is_closed(c))
        return;
    __atomic_store_n(&c->closed, true, __ATOMIC_SEQ_CST);
    /* After evloop_del returns, the callbacks are not running and will not run again (a kick
     * still queued sees `closed` and does nothing). -ENOENT when not watched. */
    if (c->vm->loop && c->in_fd >= 0)
        evloop_del(c->vm->loop, c->in_fd);
    if (c->vm->loop && c->out_fd >= 0)
        evloop_del(c->vm->loop, c->out_fd);
    if (c->out_fd >= 0)
        out_drain(c);
    if (c->raw) {
        restore_term();
        c->raw = false;
    }
    if (c->out_dropped)
        log_warn("console: %llu bytes of guest output dropped (reader too slow or gone)",
                 (unsigned long long)c->out_dropped);
}

static void console_dev_stop(void *dev)
{
    console_close(dev);
}

static void console_dev_destroy(void *dev)
{
    struct console *c = dev;
    console_close(c);
    if (c->out_fd >= 0 && atomic_load(&nb_fd) == c->out_fd)
        restore_nonblock(); /* through our descriptor: before closing it */
    if (c->in_fd >= 0)
        close(c->in_fd);
    if (c->out_fd >= 0)
        close(c->out_fd);
    if (c->vm->console == c)
        c->vm->console = NULL;
    pthread_mutex_destroy(&c->rx_lock);
    pthread_mutex_destroy(&c->out_lock);
    page_free(c, sizeof(*c));
}

static const struct device_ops console_dev_ops = {
    .name = "console",
    .stop = console_dev_stop,
    .destroy = console_dev_destroy,
};

/* Allocate a console on descriptors we own (IN/OUT, -1 for none) and attach it to VM. On failure
 * the descriptors are closed. Returns 0 or <0 with ERR. */
static int console_attach(struct vm *vm, int in, bool in_sock, int out, bool out_sock, char *err,
                          size_t errlen)
{
    struct console *c = page_zalloc(sizeof(*c));
    if (!c || device_add(vm, &console_dev_ops, c)) {
        page_free(c, sizeof(*c));
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        snprintf(err, errlen, "console: out of memory");
        return -ENOMEM;
    }
    c->vm = vm;
    c->in_fd = in;
    c->in_sock = in_sock;
    c->out_fd = out;
    c->out_sock = out_sock;
    pthread_mutex_init(&c->rx_lock, NULL);
    pthread_mutex_init(&c->out_lock, NULL);
    vm->console = c;
    in_watch(c, true);
    return 0;
}

/* A write to a pipe whose reader left must fail with EPIPE, not kill the VMM. */
static void ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL &&
        !(old.sa_flags & SA_SIGINFO))
        signal(SIGPIPE, SIG_IGN);
}

int console_open_fds(struct vm *vm, int in_fd, int out_fd, char *err, size_t errlen)
{
    if (vm->console)
        return 0;
    ignore_sigpipe();
    bool in_sock = false, out_sock = false;
    int in = -1, out = -1;
    /* A closed stdin/stdout (-EBADF) means no input/output. */
    if (in_fd >= 0 && (in = own_fd(in_fd, O_RDONLY, &in_sock)) < 0 && in != -EBADF) {
        snprintf(err, errlen, "console: input descriptor %d: %s", in_fd, strerror(-in));
        return in;
    }
    if (out_fd >= 0 && (out = own_fd(out_fd, O_WRONLY, &out_sock)) < 0 && out != -EBADF) {
        snprintf(err, errlen, "console: output descriptor %d: %s", out_fd, strerror(-out));
        if (in >= 0)
            close(in);
        return out;
    }
    return console_attach(vm, MAX(in, -1), in_sock, MAX(out, -1), out_sock, err, errlen);
}

int console_open(struct vm *vm, char *err, size_t errlen)
{
    if (vm->console)
        return 0;
    ignore_sigpipe();
    switch (vm->cfg.console) {
    case CONSOLE_NONE:
        return console_open_fds(vm, -1, -1, err, errlen);
    case CONSOLE_FILE: {
        int fd = open(vm->cfg.console_path,
                      O_WRONLY | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0) {
            int e = errno;
            snprintf(err, errlen, "--console: file:%s: %s", vm->cfg.console_path, strerror(e));
            return -e;
        }
        struct stat st;
        bool sock = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
        return console_attach(vm, -1, false, fd, sock, err, errlen);
    }
    case CONSOLE_STDIO:
    case CONSOLE_VIRTIO:
    default: {
        int rc = console_open_fds(vm, STDIN_FILENO, STDOUT_FILENO, err, errlen);
        if (rc)
            return rc;
        /* Only a terminal we also read from goes raw (stdin redirected: leave the tty alone). */
        vm->console->raw = term_make_raw(vm->console, STDIN_FILENO);
        return 0;
    }
    }
}
