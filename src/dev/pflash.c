/* pflash.c — CFI parallel flash for OVMF's variable store: QEMU pflash_cfi01 semantics (1 byte
 * wide, 4 KiB sectors), contents in a read-only KVM slot while in read-array mode. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "bus/device.h"
#include "dev/pflash.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

#define CMD_READ_ARRAY   0xff
#define CMD_PROGRAM      0x10
#define CMD_PROGRAM_ALT  0x40
#define CMD_ERASE        0x20
#define CMD_CLEAR_STATUS 0x50
#define CMD_LOCK         0x60
#define CMD_READ_STATUS  0x70
#define CMD_READ_ID      0x90
#define CMD_CFI          0x98
#define CMD_WRITE_BUFFER 0xe8
#define CMD_CONFIRM      0xd0
#define STATUS_READY     0x80
#define STATUS_ERROR     0x30 /* erase and program error bits: a bad command sequence */
#define PFLASH_BUFFER    64   /* bytes per buffered program, as the CFI table says */

/* Guest-visible state (version 1); the contents are the vars file itself. */
struct pflash_regs {
    uint8_t cmd; /* 0: read-array, else the command in progress or whose status reads back */
    uint8_t wcycle;
    uint8_t status;
    uint8_t counter; /* buffered program: bytes still to come */
};

struct pflash {
    struct vm *vm;
    uint64_t gpa;
    size_t size;
    unsigned slot;
    uint8_t *map;
    pthread_mutex_t lock;
    struct pflash_regs regs;
    bool slot_on; /* the read-only slot is installed (read-array mode) */
    uint8_t cfi[0x40];
};

/* Install or remove the read-only slot so that it is present exactly in read-array mode (lock
 * held). Without KVM (unit tests) every read goes through the device. */
static void pflash_sync_slot(struct pflash *f)
{
    bool want = f->regs.cmd == 0 && f->regs.wcycle == 0;
    if (want == f->slot_on || !f->vm->kvm)
        return;
    struct kvm_userspace_memory_region r = {.slot = f->slot,
                                            .flags = KVM_MEM_READONLY,
                                            .guest_phys_addr = f->gpa,
                                            .memory_size = want ? f->size : 0,
                                            .userspace_addr = (uintptr_t)f->map};
    if (ioctl(f->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
        log_warn("pflash: cannot %s the flash slot: %s", want ? "map" : "unmap", strerror(errno));
        return;
    }
    f->slot_on = want;
}

/* CFI query table (byte offsets of a 1-byte-wide device). */
static void pflash_cfi_init(struct pflash *f)
{
    uint8_t *q = f->cfi;
    memcpy(q + 0x10, "QRY", 3);
    q[0x13] = 0x01; /* Intel/Sharp extended command set */
    q[0x15] = 0x31; /* extended table at 0x31 (absent) */
    q[0x1b] = 0x45; /* Vcc 4.5 - 5.5 V */
    q[0x1c] = 0x55;
    q[0x1f] = 0x07; /* typical times: 128 us program, 1 ms erase (2^n) */
    q[0x21] = 0x0a;
    unsigned log2 = 0;
    while ((1ULL << log2) < f->size)
        log2++;
    q[0x27] = (uint8_t)log2;
    q[0x28] = 0x02; /* x8/x16 interface */
    q[0x2a] = 0x06; /* 2^6 = PFLASH_BUFFER bytes per buffered program */
    q[0x2c] = 0x01; /* one erase region */
    size_t blocks = f->size / PFLASH_SECTOR - 1;
    q[0x2d] = (uint8_t)blocks;
    q[0x2e] = (uint8_t)(blocks >> 8);
    q[0x2f] = (uint8_t)(PFLASH_SECTOR >> 8);
    q[0x30] = (uint8_t)(PFLASH_SECTOR >> 16);
}

static uint8_t pflash_read_byte(struct pflash *f, uint64_t off)
{
    switch (f->regs.cmd) {
    case 0:
        return f->map[off];
    case CMD_READ_ID:
        return off == 0 ? 0x89 : off == 1 ? 0x18 : 0; /* Intel, 28F128J3-like */
    case CMD_CFI:
        return off < sizeof(f->cfi) ? f->cfi[off] : 0;
    default:
        return f->regs.status; /* program, erase, lock, read status: the status register */
    }
}

static void pflash_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    struct pflash *f = opaque;
    pthread_mutex_lock(&f->lock);
    for (unsigned i = 0; i < size; i++)
        data[i] = off + i < f->size ? pflash_read_byte(f, off + i) : 0xff;
    pthread_mutex_unlock(&f->lock);
}

/* Back to read-array mode after a bad command sequence. */
static void pflash_abort(struct pflash *f, uint8_t val)
{
    log_debug("pflash: command 0x%02x, cycle %u: unexpected 0x%02x", f->regs.cmd, f->regs.wcycle,
              val);
    f->regs.status |= STATUS_ERROR;
    f->regs.cmd = 0;
    f->regs.wcycle = 0;
}

static void pflash_program(struct pflash *f, uint64_t off, const uint8_t *data, unsigned size)
{
    for (unsigned i = 0; i < size && off + i < f->size; i++)
        f->map[off + i] = data[i];
    f->regs.status |= STATUS_READY;
}

/* A write in the first cycle: a new command. */
static void pflash_command(struct pflash *f, uint8_t val)
{
    f->regs.cmd = val;
    switch (val) {
    case 0x00:
    case CMD_READ_ARRAY:
        f->regs.cmd = 0;
        break;
    case CMD_PROGRAM:
    case CMD_PROGRAM_ALT:
    case CMD_ERASE:
    case CMD_LOCK:
        f->regs.wcycle = 1;
        break;
    case CMD_WRITE_BUFFER:
        f->regs.wcycle = 1;
        f->regs.status |= STATUS_READY;
        break;
    case CMD_CLEAR_STATUS:
        f->regs.status = 0;
        f->regs.cmd = 0;
        break;
    case CMD_READ_STATUS:
    case CMD_READ_ID:
    case CMD_CFI:
        break;
    default:
        log_debug("pflash: unknown command 0x%02x", val);
        f->regs.cmd = 0;
        break;
    }
}

/* A write in a later cycle of the command in progress. */
static void pflash_cycle(struct pflash *f, uint64_t off, const uint8_t *data, unsigned size)
{
    uint8_t val = data[0];
    struct pflash_regs *r = &f->regs;
    switch (r->cmd) {
    case CMD_PROGRAM:
    case CMD_PROGRAM_ALT:
        pflash_program(f, off, data, size);
        r->wcycle = 0;
        return;
    case CMD_ERASE:
        if (val != CMD_CONFIRM)
            return pflash_abort(f, val);
        memset(f->map + ALIGN_DOWN(off, PFLASH_SECTOR), 0xff, PFLASH_SECTOR);
        r->status |= STATUS_READY;
        r->wcycle = 0;
        return;
    case CMD_LOCK:
        if (val != CMD_CONFIRM && val != 0x01)
            return pflash_abort(f, val);
        r->status |= STATUS_READY;
        r->wcycle = 0;
        return;
    case CMD_WRITE_BUFFER:
        if (r->wcycle == 1) {
            if (val >= PFLASH_BUFFER)
                return pflash_abort(f, val);
            r->counter = (uint8_t)(val + 1);
            r->wcycle = 2;
        } else if (r->wcycle == 2) {
            pflash_program(f, off, data, MIN(size, (unsigned)r->counter));
            r->counter -= (uint8_t)MIN(size, (unsigned)r->counter);
            if (!r->counter)
                r->wcycle = 3;
        } else if (val == CMD_CONFIRM) {
            r->wcycle = 0;
            r->status |= STATUS_READY;
        } else {
            pflash_abort(f, val);
        }
        return;
    default:
        pflash_abort(f, val);
    }
}

static void pflash_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct pflash *f = opaque;
    if (off >= f->size)
        return;
    pthread_mutex_lock(&f->lock);
    if (f->regs.wcycle == 0)
        pflash_command(f, data[0]);
    else
        pflash_cycle(f, off, data, size);
    pflash_sync_slot(f);
    pthread_mutex_unlock(&f->lock);
}

static const struct io_ops pflash_io = {.read = pflash_read, .write = pflash_write};

static void pflash_regs_visit(struct state_visitor *v, struct pflash_regs *r)
{
    if (!state_begin(v, "pflash", 1))
        return;
    STATE_U8(v, r->cmd);
    STATE_U8(v, r->wcycle);
    STATE_U8(v, r->status);
    STATE_U8(v, r->counter);
    STATE_CHECK(v, r->wcycle <= 3 && r->counter <= PFLASH_BUFFER);
    state_end(v);
}

static int pflash_save(void *dev, struct state_visitor *v)
{
    struct pflash *f = dev;
    pthread_mutex_lock(&f->lock);
    struct pflash_regs r = f->regs;
    pthread_mutex_unlock(&f->lock);
    pflash_regs_visit(v, &r);
    return state_error(v);
}

static int pflash_restore(void *dev, struct state_visitor *v)
{
    struct pflash *f = dev;
    struct pflash_regs r = {0};
    pflash_regs_visit(v, &r);
    if (state_error(v))
        return state_error(v);
    pthread_mutex_lock(&f->lock);
    f->regs = r;
    pflash_sync_slot(f);
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static void pflash_reset(void *dev)
{
    struct pflash *f = dev;
    pthread_mutex_lock(&f->lock);
    f->regs = (struct pflash_regs){0};
    pflash_sync_slot(f);
    pthread_mutex_unlock(&f->lock);
}

static void pflash_destroy(void *dev)
{
    struct pflash *f = dev;
    munmap(f->map, f->size); /* a shared file mapping keeps what was written */
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static const struct device_ops pflash_ops = {
    .name = "pflash",
    .reset = pflash_reset,
    .save = pflash_save,
    .restore = pflash_restore,
    .destroy = pflash_destroy,
};

struct pflash *pflash_find(struct vm *vm)
{
    return device_find(vm, &pflash_ops);
}

const uint8_t *pflash_contents(const struct pflash *f)
{
    return f->map;
}

int pflash_create(struct vm *vm, uint64_t gpa, size_t size, unsigned slot, int fd, const void *init,
                  char *err, size_t errlen)
{
    if (!size || size % PFLASH_SECTOR || gpa % PFLASH_SECTOR) {
        snprintf(err, errlen, "flash of %zu bytes at 0x%llx: not whole %u-byte blocks", size,
                 (unsigned long long)gpa, PFLASH_SECTOR);
        return -EINVAL;
    }
    struct pflash *f = calloc(1, sizeof(*f));
    if (!f)
        return snprintf(err, errlen, "pflash: out of memory"), -ENOMEM;
    void *map = fd >= 0
                    ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                    : mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        int rc = -errno;
        free(f);
        snprintf(err, errlen, "cannot map the variable store: %s", strerror(-rc));
        return rc;
    }
    if (fd < 0)
        memcpy(map, init, size);
    *f = (struct pflash){.vm = vm, .gpa = gpa, .size = size, .slot = slot, .map = map};
    pthread_mutex_init(&f->lock, NULL);
    pflash_cfi_init(f);
    int rc = io_bus_register(&vm->mmio, gpa, size, &pflash_io, f, "pflash");
    if (rc) {
        snprintf(err, errlen, "cannot place the variable flash at 0x%llx: %s",
                 (unsigned long long)gpa, strerror(-rc));
        pflash_destroy(f);
        return rc;
    }
    pflash_sync_slot(f);
    if (vm->kvm && !f->slot_on) {
        io_bus_unregister(&vm->mmio, gpa);
        pflash_destroy(f);
        snprintf(err, errlen, "cannot map the variable flash at 0x%llx", (unsigned long long)gpa);
        return -EIO;
    }
    rc = device_add(vm, &pflash_ops, f);
    if (rc) {
        io_bus_unregister(&vm->mmio, gpa);
        pflash_destroy(f);
        snprintf(err, errlen, "pflash: out of memory");
    }
    return rc;
}
