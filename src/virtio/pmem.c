/* pmem.c — virtio-pmem: a host file mapped into guest physical memory above RAM; flush = fdatasync.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_pmem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/dev.h"
#include "util/state.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define PMEM_QUEUE_SIZE 64
#define PMEM_MAX_IOV    8
#define PMEM_ALIGN      (2 * MiB) /* Linux maps the region with memremap_pages: 2 MiB sections */
#define PMEM_RESP_OK    0
#define PMEM_RESP_EIO   1

_Static_assert(sizeof(struct virtio_pmem_config) == 16, "virtio-pmem config layout");
_Static_assert(sizeof(struct virtio_pmem_req) == 4, "virtio-pmem request layout");
_Static_assert(sizeof(struct virtio_pmem_resp) == 4, "virtio-pmem response layout");

struct virtio_pmem {
    struct virtio_dev vdev;
    char id[CFG_ID_LEN];
    char path[PATH_MAX];
    int fd;
    bool readonly;
    uint8_t *map;       /* map_size bytes: the file, then anonymous zero pages up to PMEM_ALIGN */
    uint64_t map_size;  /* the guest-visible region */
    uint64_t file_size; /* bytes of it that are the file */
    uint64_t gpa;
    struct virtio_pmem_config config; /* little-endian, as the driver reads it */
    uint64_t flushes, bad_requests;   /* counters */
};

static void pmem_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_pmem *p = opaque;
    memcpy(data, (uint8_t *)&p->config + off, size);
}

/* The answer to the request in C: a flush makes the file durable (nothing to do when read-only:
 * the file cannot have changed); anything else is refused. */
static uint32_t pmem_handle(struct virtio_pmem *p, const struct virtq_chain *c)
{
    struct virtio_pmem_req req;
    if (virtq_chain_read(c, 0, &req, sizeof(req)) != sizeof(req) ||
        le32toh(req.type) != VIRTIO_PMEM_REQ_TYPE_FLUSH) {
        p->bad_requests++;
        return PMEM_RESP_EIO;
    }
    p->flushes++;
    if (p->readonly)
        return PMEM_RESP_OK;
    while (fdatasync(p->fd) < 0) {
        if (errno != EINTR) {
            log_warn("pmem %s: flush: %s", p->id, strerror(errno));
            return PMEM_RESP_EIO;
        }
    }
    return PMEM_RESP_OK;
}

/* One flush request: the answer is its status (a chain with no room for the answer gets none). */
static bool pmem_serve(void *opaque, struct virtq *q, struct virtq_chain *c)
{
    struct virtio_pmem_resp resp = {.ret = htole32(pmem_handle(opaque, c))};
    size_t n = virtq_chain_write(c, 0, &resp, sizeof(resp));
    virtq_push(q, c->head, n == sizeof(resp) ? (uint32_t)n : 0);
    return true;
}

static void pmem_queue_notify(void *opaque, struct virtq *q)
{
    struct iovec iov[PMEM_MAX_IOV];
    struct virtq_chain c = {.iov = iov, .max_iov = PMEM_MAX_IOV};
    virtq_serve(q, VIRTQ_BUDGET(q), &c, pmem_serve, opaque);
}

/* The region a snapshot was taken with must be the one this device maps: same place, same size,
 * same access (the file itself is re-mapped by creating the device, never saved). */
static void pmem_state_check(void *opaque, struct state_visitor *v)
{
    struct virtio_pmem *p = opaque;
    uint64_t gpa = p->gpa, size = p->map_size;
    bool ro = p->readonly;
    if (!state_begin(v, "pmem", 1))
        return;
    STATE_U64(v, gpa);
    STATE_U64(v, size);
    STATE_BOOL(v, ro);
    if (v->loading && !state_error(v) && (gpa != p->gpa || size != p->map_size))
        state_fail(v, -EINVAL,
                   "pmem %s: %s maps %llu KiB at 0x%llx, the saved device had %llu KiB at 0x%llx",
                   p->id, p->path, (unsigned long long)(p->map_size / KiB),
                   (unsigned long long)p->gpa, (unsigned long long)(size / KiB),
                   (unsigned long long)gpa);
    else if (v->loading && !state_error(v) && ro != p->readonly)
        state_fail(v, -EINVAL, "pmem %s: read_only is %s, the saved device had %s", p->id,
                   p->readonly ? "on" : "off", ro ? "on" : "off");
    state_end(v);
}

static void pmem_destroy(void *opaque)
{
    struct virtio_pmem *p = opaque;
    if (p->map)
        munmap(p->map, p->map_size);
    if (p->fd >= 0) {
        flock(p->fd, LOCK_UN);
        close(p->fd);
    }
    free(p);
}

static const struct virtio_dev_ops pmem_ops = {
    .config_read = pmem_config_read,
    .queue_notify = pmem_queue_notify,
    .state_check = pmem_state_check,
    .destroy = pmem_destroy,
};

/* Open and lock C's file (shared when read-only, exclusive otherwise), map it followed by zero
 * pages up to the next PMEM_ALIGN boundary. Returns 0 or -errno with ERR. */
static int pmem_map(struct virtio_pmem *p, char *err, size_t errlen)
{
    struct stat st;
    p->fd = open(p->path, (p->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (p->fd < 0 || fstat(p->fd, &st) < 0) {
        int rc = -errno;
        snprintf(err, errlen, "pmem %s: %s: %s", p->id, p->path, strerror(errno));
        return rc;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
        snprintf(err, errlen, "pmem %s: %s: not a regular file of at least one byte", p->id,
                 p->path);
        return -EINVAL;
    }
    if (flock(p->fd, (p->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        int rc = -errno;
        snprintf(err, errlen, "pmem %s: %s: in use by another process (%s)", p->id, p->path,
                 strerror(errno));
        return rc;
    }
    int prot = PROT_READ | (p->readonly ? 0 : PROT_WRITE);
    p->file_size = (uint64_t)st.st_size;
    p->map_size = ALIGN_UP(p->file_size, PMEM_ALIGN);
    void *base = mmap(NULL, p->map_size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int rc = -errno;
        snprintf(err, errlen, "pmem %s: cannot reserve %llu KiB: %s", p->id,
                 (unsigned long long)(p->map_size / KiB), strerror(errno));
        return rc;
    }
    p->map = base;
    if (mmap(base, ALIGN_UP(p->file_size, 4 * KiB), prot, MAP_SHARED | MAP_FIXED, p->fd, 0) ==
        MAP_FAILED) {
        int rc = -errno;
        snprintf(err, errlen, "pmem %s: cannot map %s: %s", p->id, p->path, strerror(errno));
        return rc;
    }
    madvise(base, p->map_size, MADV_DONTFORK);
    return 0;
}

/* root_device: the guest's root is /dev/pmemINDEX, read-write or read-only as the device. */
static int pmem_root_arg(struct vm *vm, unsigned index, bool readonly, char *err, size_t errlen)
{
    char *cmd = vm->cfg.cmdline;
    size_t n = strnlen(cmd, sizeof(vm->cfg.cmdline));
    int w = snprintf(cmd + n, sizeof(vm->cfg.cmdline) - n, "%sroot=/dev/pmem%u %s", n ? " " : "",
                     index, readonly ? "ro" : "rw");
    if (w < 0 || (size_t)w >= sizeof(vm->cfg.cmdline) - n) {
        cmd[n] = 0;
        snprintf(err, errlen, "--cmdline: no room for the pmem root= argument");
        return -EINVAL;
    }
    return 0;
}

static int pmem_create_one(struct vm *vm, unsigned index, char *err, size_t errlen)
{
    const struct pmem_config *c = &vm->cfg.pmem[index];
    struct virtio_pmem *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "virtio-pmem: out of memory");
        return -ENOMEM;
    }
    p->fd = -1;
    p->readonly = c->readonly;
    memcpy(p->id, c->id, sizeof(p->id));
    memcpy(p->path, c->path, sizeof(p->path));
    int rc = pmem_map(p, err, errlen);
    if (!rc && (rc = vm_add_device_memory(vm, p->map_size, p->map, p->readonly, &p->gpa)) < 0)
        snprintf(err, errlen, "pmem %s: no room for %llu MiB of device memory: %s", p->id,
                 (unsigned long long)(p->map_size / MiB), strerror(-rc));
    if (!rc && c->is_root && !vm->restoring &&
        (rc = pmem_root_arg(vm, index, p->readonly, err, errlen)))
        vm_drop_device_memory(vm);
    if (rc) {
        pmem_destroy(p);
        return rc;
    }
    p->config.start = htole64(p->gpa);
    p->config.size = htole64(p->map_size);
    rc = virtio_dev_init(&p->vdev, vm, "virtio-pmem", VIRTIO_ID_PMEM, 0x058000, 0, 1,
                         PMEM_QUEUE_SIZE, sizeof(p->config), &pmem_ops, p);
    if (rc < 0)
        snprintf(err, errlen, "virtio-pmem: bad device parameters");
    else
        rc = virtio_dev_add(vm, &p->vdev, err, errlen);
    if (rc < 0) {
        virtio_dev_fini(&p->vdev);
        vm_drop_device_memory(vm);
        pmem_destroy(p);
    }
    return rc;
}

static int pmem_class_create(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->cfg.npmem && i < CFG_MAX_PMEM; i++) {
        int rc = pmem_create_one(vm, i, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct device_class virtio_pmem_class = {
    .name = "virtio-pmem",
    .order = DEV_ORDER_PCI,
    .create = pmem_class_create,
};
DEVICE_CLASS(virtio_pmem_class);
