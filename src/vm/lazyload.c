/* lazyload.c — a file into guest RAM behind the guest's back (the initrd: boot/boot.c): a loader
 * thread fills it while the guest already runs, and a page the guest (or a device) touches first
 * is filled at once through a userfaultfd.
 *
 * lazy_copy registers the untouched runs of the page-aligned middle of a file's range with a
 * userfaultfd for missing pages and queues them in pieces; the unaligned first and last pages,
 * ranges under 1 MiB, pages already backed, and every range when the host has no userfaultfd for
 * this process are read at once (as if lazy loading did not exist). lazy_start starts the
 * loader: between pieces it reads the userfaultfd's fault messages and serves the pieces they
 * name first; once every piece is in, it unregisters the ranges (the pages are ordinary guest RAM
 * from then on), closes the files and ends. A file that shrinks or fails while it loads stops the
 * VM with its name. Kernels are not loaded this way: UFFDIO_COPY fills 4 KiB pages, and a kernel
 * runs from its pages for the VM's life (README, "The initrd loads while the guest starts"). */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/util.h"
#include "vm/vm.h"

#define LAZY_PAGE        4096u
#define LAZY_PIECE       (256u * KiB) /* one pread + one UFFDIO_COPY; a fault waits for at most one */
#define LAZY_MIN         (1u * MiB)   /* smaller ranges are read at once */
#define LAZY_RUN_MIN     (64u * KiB) /* and smaller untouched runs within a range */
#define LAZY_FAULT_BATCH 16

struct lazy_piece {
    uint8_t *dst;
    uint64_t off;
    uint32_t len;
    uint16_t file;
    bool done;
};

struct lazy_file {
    int fd;
    char what[LAZY_WHAT_LEN];
};

/* The mode the environment asks for (TRUCE_BOOT_LOAD: eager, lazy, demand; unset: auto). */
static enum lazy_mode lazy_env_mode(void)
{
    const char *s = getenv("TRUCE_BOOT_LOAD");
    if (!s)
        return LAZY_AUTO;
    if (!strcmp(s, "lazy"))
        return LAZY_BACKGROUND;
    if (!strcmp(s, "demand"))
        return LAZY_DEMAND;
    if (strcmp(s, "eager"))
        log_warn("TRUCE_BOOT_LOAD=%s: not eager, lazy or demand; loading eagerly", s);
    return LAZY_EAGER;
}

/* The userfaultfd, made at the first range worth loading lazily. False: load everything now. */
static bool lazy_ready(struct vm *vm)
{
    struct lazy_load *l = &vm->lazy;
    if (l->decided)
        return l->uffd >= 0;
    l->decided = true;
    l->uffd = -1;
    l->mode = lazy_env_mode();
    /* auto: not where RAM gets transparent huge pages (host policy always, or madvise and --thp):
     * UFFDIO_COPY fills 4 KiB pages, and the guest then unpacks its initrd more slowly than the
     * copy saved (README) */
    if (l->mode == LAZY_AUTO)
        l->mode = guest_mem_thp_backed(&vm->mem) ? LAZY_EAGER : LAZY_BACKGROUND;
    if (l->mode == LAZY_EAGER || vm->mem.hugepages || vm->mem.shared || vm->mem.uffd)
        return false;
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    struct uffdio_api api = {.api = UFFD_API};
    if (fd < 0 || ioctl(fd, UFFDIO_API, &api) < 0) {
        log_debug("lazy load: no userfaultfd (%s): the initrd is read before the guest starts",
                  strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    if (!(l->bounce = page_zalloc(LAZY_PIECE))) {
        close(fd);
        return false;
    }
    l->uffd = fd;
    return true;
}

/* Whether each page of [P, P+LEN) (page-aligned) is backed: a malloc'd vector, one byte per page
 * (bit 0), or NULL. A neighbour's write may have backed some already (a transparent huge page
 * covers 2 MiB around the page written). */
static unsigned char *backed_pages(uint8_t *p, size_t len)
{
    unsigned char *vec = malloc(len / LAZY_PAGE);
    if (vec && mincore(p, len, vec) < 0) {
        free(vec);
        vec = NULL;
    }
    return vec;
}

/* True when [P, P+LEN) meets a range already queued. */
static bool overlaps_queued(const struct lazy_load *l, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < l->npieces; i++)
        if (p < l->pieces[i].dst + l->pieces[i].len && l->pieces[i].dst < p + len)
            return true;
    return false;
}

/* Queue [DST, DST+LEN) (page-aligned) from FD at OFF, registered with the userfaultfd. */
static int lazy_queue(struct lazy_load *l, uint8_t *dst, int fd, uint64_t off, size_t len,
                      const char *what)
{
    struct uffdio_register reg = {
        .range = {.start = (uintptr_t)dst, .len = len},
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    size_t n = (len + LAZY_PIECE - 1) / LAZY_PIECE;
    struct lazy_file *files = realloc(l->files, (l->nfiles + 1) * sizeof(*files));
    if (!files)
        return -ENOMEM;
    l->files = files;
    struct lazy_piece *pieces = realloc(l->pieces, (l->npieces + n) * sizeof(*pieces));
    if (!pieces)
        return -ENOMEM;
    l->pieces = pieces;
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0)
        return -errno;
    if (ioctl(l->uffd, UFFDIO_REGISTER, &reg) < 0) {
        int e = -errno;
        close(dup);
        return e;
    }
    files[l->nfiles] = (struct lazy_file){.fd = dup};
    snprintf(files[l->nfiles].what, sizeof(files[l->nfiles].what), "%s", what);
    for (size_t i = 0; i < n; i++) {
        uint32_t plen = (uint32_t)MIN(LAZY_PIECE, len - i * LAZY_PIECE);
        pieces[l->npieces + i] = (struct lazy_piece){dst + i * LAZY_PIECE, off + i * LAZY_PIECE,
                                                     plen, (uint16_t)l->nfiles, false};
    }
    l->nfiles++;
    l->npieces += n;
    l->bytes += len;
    return 0;
}

/* Queue the untouched runs of [A, B) (page-aligned; from FD at OFF) of LAZY_RUN_MIN or more;
 * then read the rest, and the partial pages [P, A) and [B, P+LEN), at once. In that order: a
 * queued run is a mapping of its own once registered, so no huge page a later write brings in
 * can cover it. Returns 0 or -errno. */
static int lazy_split(struct lazy_load *l, uint8_t *p, size_t len, uint8_t *a, uint8_t *b, int fd,
                      uint64_t off, const char *what)
{
    size_t n = (size_t)(b - a) / LAZY_PAGE;
    unsigned char *backed = backed_pages(a, (size_t)(b - a));
    if (!backed)
        return pread_full(fd, p, len, off);
    for (size_t i = 0, j; i < n; i = j) {
        for (j = i; j < n && !(backed[j] & 1); j++)
            ;
        if (j == i) {
            j++;
            continue;
        }
        if ((j - i) * LAZY_PAGE < LAZY_RUN_MIN ||
            lazy_queue(l, a + i * LAZY_PAGE, fd, off + (uint64_t)(a - p) + i * LAZY_PAGE,
                       (j - i) * LAZY_PAGE, what) < 0)
            memset(backed + i, 1, j - i); /* read at once below */
        else
            memset(backed + i, 2, j - i); /* queued */
    }
    int rc = pread_full(fd, p, (size_t)(a - p), off);
    for (size_t i = 0, j; !rc && i < n; i = j) {
        for (j = i; j < n && backed[j] == backed[i]; j++)
            ;
        if (backed[i] != 2)
            rc = pread_full(fd, a + i * LAZY_PAGE, (j - i) * LAZY_PAGE,
                            off + (uint64_t)(a - p) + i * LAZY_PAGE);
    }
    if (!rc)
        rc = pread_full(fd, b, (size_t)(p + len - b), off + (uint64_t)(b - p));
    free(backed);
    return rc;
}

int lazy_copy(struct vm *vm, void *dst, int fd, uint64_t off, size_t len, const char *what)
{
    uint8_t *p = dst;
    uint8_t *a = (uint8_t *)ALIGN_UP((uintptr_t)p, LAZY_PAGE);
    uint8_t *b = (uint8_t *)ALIGN_DOWN((uintptr_t)(p + len), LAZY_PAGE);
    struct lazy_load *l = &vm->lazy;
    if (len < LAZY_MIN || b <= a || (size_t)(b - a) < LAZY_MIN || l->started ||
        l->nfiles >= UINT16_MAX || !lazy_ready(vm))
        return pread_full(fd, p, len, off);
    /* a range over queued pages (a kernel whose segments overlap) is read now, after them, and
     * so is everything once something was (lazy_flush) */
    int rc = lazy_before_write(vm, p, len);
    if (rc < 0 || l->loaded)
        return rc < 0 ? rc : pread_full(fd, p, len, off);
    return lazy_split(l, p, len, a, b, fd, off, what);
}

/* Fill piece P: read it into the bounce buffer, copy it in (pages already there are kept).
 * Returns 0 or -errno. */
static int piece_load(struct lazy_load *l, struct lazy_piece *p)
{
    int rc = pread_full(l->files[p->file].fd, l->bounce, p->len, p->off);
    for (uint32_t at = 0; !rc && at < p->len;) {
        struct uffdio_copy c = {.dst = (uintptr_t)(p->dst + at),
                                .src = (uintptr_t)(l->bounce + at),
                                .len = p->len - at};
        if (ioctl(l->uffd, UFFDIO_COPY, &c) == 0) {
            at = p->len;
        } else if (errno == EEXIST || errno == EAGAIN) {
            at += c.copy > 0 ? (uint32_t)c.copy : 0;
            if (errno == EEXIST && c.copy <= 0)
                at += LAZY_PAGE; /* backed already: truce wrote there, kept as it is */
        } else {
            rc = -errno;
        }
    }
    p->done = true;
    l->loaded++;
    return rc;
}

/* The piece holding ADDR that is not loaded yet, or NULL. */
static struct lazy_piece *piece_at(struct lazy_load *l, uint64_t addr)
{
    for (size_t i = 0; i < l->npieces; i++) {
        struct lazy_piece *p = &l->pieces[i];
        if (!p->done && addr >= (uintptr_t)p->dst && addr - (uintptr_t)p->dst < p->len)
            return p;
    }
    return NULL;
}

/* Serve the faults waiting on the userfaultfd. Returns 0 or -errno (with *BAD the piece). */
static int serve_faults(struct lazy_load *l, struct lazy_piece **bad)
{
    struct uffd_msg msg[LAZY_FAULT_BATCH];
    for (;;) {
        ssize_t n = read(l->uffd, msg, sizeof(msg));
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        for (size_t i = 0; i < (size_t)n / sizeof(msg[0]); i++) {
            struct lazy_piece *p = msg[i].event == UFFD_EVENT_PAGEFAULT
                                       ? piece_at(l, msg[i].arg.pagefault.address)
                                       : NULL;
            if (!p)
                continue;
            l->faults++;
            int rc = piece_load(l, p);
            if (rc < 0) {
                *bad = p;
                return rc;
            }
        }
    }
}

/* Unregister every queued range, close the userfaultfd and the files. */
static void lazy_release(struct lazy_load *l)
{
    if (!l->decided)
        return;
    for (size_t i = 0; l->uffd >= 0 && i < l->npieces; i++) {
        struct uffdio_range r = {(uintptr_t)l->pieces[i].dst, l->pieces[i].len};
        ioctl(l->uffd, UFFDIO_UNREGISTER, &r);
    }
    if (l->uffd >= 0)
        close(l->uffd); /* a thread still waiting on a page is woken: it gets a zero page */
    l->uffd = -1;
    for (size_t i = 0; i < l->nfiles; i++)
        close(l->files[i].fd);
    l->nfiles = 0;
}

/* The loader's work: faults first, then the next piece in order (LAZY_DEMAND: only faults until
 * asked to finish). Ends when every piece is in, or on stop. */
static void lazy_run(struct vm *vm)
{
    struct lazy_load *l = &vm->lazy;
    struct lazy_piece *bad = NULL;
    size_t next = 0;
    int rc = 0;
    uint64_t t0 = now_ns();
    while (!rc && !atomic_load(&l->stop) && l->loaded < l->npieces) {
        if ((rc = serve_faults(l, &bad)) < 0)
            break;
        while (next < l->npieces && l->pieces[next].done)
            next++;
        if (next == l->npieces)
            break;
        if (l->mode == LAZY_DEMAND && !atomic_load(&l->finish)) {
            /* tests: a piece only when something touches it (or the VM pauses) */
            poll(&(struct pollfd){.fd = l->uffd, .events = POLLIN}, 1, 10);
            continue;
        }
        if ((rc = piece_load(l, &l->pieces[next])) < 0)
            bad = &l->pieces[next];
    }
    if (rc < 0 && bad)
        vm_request_stop(vm, TRUCE_EXIT_HOST, "%s: reading it into guest RAM at offset %llu: %s",
                        l->files[bad->file].what, (unsigned long long)bad->off,
                        rc == -EIO ? "the file shrank while it was loaded" : strerror(-rc));
    log_debug("lazy load: %zu of %zu pieces (%llu KiB) in %llu ms, %zu for faults", l->loaded,
              l->npieces, (unsigned long long)(l->bytes / KiB),
              (unsigned long long)((now_ns() - t0) / 1000000), l->faults);
    lazy_release(l);
    page_free(l->bounce, LAZY_PIECE); /* not kept for the VM's life */
    l->bounce = NULL;
}

static void *lazy_thread(void *arg)
{
    struct vm *vm = arg;
    if (!vm->loader_thread_start || vm->loader_thread_start(vm) == 0)
        lazy_run(vm);
    else
        lazy_release(&vm->lazy); /* not sandboxed: the VM is stopping; free the waiting faults */
    return NULL;
}

int lazy_before_write(struct vm *vm, const void *dst, size_t len)
{
    struct lazy_load *l = &vm->lazy;
    const uint8_t *p = dst;
    uint8_t *lo = (uint8_t *)ALIGN_DOWN((uintptr_t)p, LAZY_PAGE);
    uint8_t *hi = (uint8_t *)ALIGN_UP((uintptr_t)(p + len), LAZY_PAGE);
    return !l->started && len && overlaps_queued(l, lo, (size_t)(hi - lo)) ? lazy_flush(vm) : 0;
}

int lazy_flush(struct vm *vm)
{
    struct lazy_load *l = &vm->lazy;
    int rc = 0;
    for (size_t i = 0; !rc && i < l->npieces; i++)
        if (!l->pieces[i].done)
            rc = piece_load(l, &l->pieces[i]);
    return rc;
}

int lazy_start(struct vm *vm, char *err, size_t errlen)
{
    struct lazy_load *l = &vm->lazy;
    if (!l->npieces) {
        lazy_release(l);
        return 0;
    }
    if (thread_create(&l->thread, THREAD_STACK_LOADER, lazy_thread, vm) == 0) {
        l->started = true;
        return 0;
    }
    /* no thread: everything now, from this one */
    int rc = lazy_flush(vm);
    if (rc < 0)
        snprintf(err, errlen, "boot files: reading them into guest RAM: %s", strerror(-rc));
    lazy_release(l);
    return rc;
}

void lazy_finish(struct vm *vm)
{
    struct lazy_load *l = &vm->lazy;
    pthread_mutex_lock(&l->join_lock); /* a pause (API thread) may meet the teardown (main) */
    if (l->started) {
        atomic_store(&l->finish, true);
        pthread_join(l->thread, NULL);
        l->started = false;
    }
    pthread_mutex_unlock(&l->join_lock);
}

void lazy_stop(struct vm *vm)
{
    struct lazy_load *l = &vm->lazy;
    atomic_store(&l->stop, true);
    lazy_finish(vm);
    lazy_release(l);
    free(l->pieces);
    free(l->files);
    page_free(l->bounce, LAZY_PIECE);
    l->pieces = NULL;
    l->files = NULL;
    l->bounce = NULL;
    l->npieces = l->loaded = 0;
}
