/* boot_timer.c — Firecracker's boot-timer device (--boot-timer): a guest that writes the byte 123
 * at LAYOUT_BOOT_TIMER gets its boot time logged (wall and VMM CPU time since the VM was built). */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define BOOT_TIMER_MAGIC      123 /* the value Firecracker's guests write when booted */
#define BOOT_TIMER_MAX_REPORT 8   /* a guest writing in a loop cannot flood the log */

struct boot_timer {
    uint64_t start_us, start_cpu_us; /* when the VM was built (InstanceStart) */
    atomic_uint reports;             /* magic writes seen */
};

static uint64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Only a one-byte write of the magic value at offset 0 counts, as on Firecracker. */
static void boot_timer_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct boot_timer *t = opaque;
    if (size != 1 || off != 0 || data[0] != BOOT_TIMER_MAGIC)
        return;
    if (atomic_fetch_add(&t->reports, 1) >= BOOT_TIMER_MAX_REPORT)
        return;
    uint64_t us = clock_us(CLOCK_MONOTONIC) - t->start_us;
    uint64_t cpu = clock_us(CLOCK_PROCESS_CPUTIME_ID) - t->start_cpu_us;
    log_info("Guest-boot-time = %6llu us %llu ms, %6llu CPU us %llu CPU ms", (unsigned long long)us,
             (unsigned long long)(us / 1000), (unsigned long long)cpu,
             (unsigned long long)(cpu / 1000));
}

/* Reads return all-ones (the bus pre-fills them). */
static const struct io_ops boot_timer_io = {.write = boot_timer_write};

static void boot_timer_destroy(void *dev)
{
    free(dev);
}

/* No guest-visible state: a restored VM times from its restore, as on Firecracker. */
static const struct device_ops boot_timer_ops = {.name = "boot-timer",
                                                 .destroy = boot_timer_destroy};

/* Map the page when the configuration asks for it. Returns 0 or <0 with ERR. */
static int boot_timer_create(struct vm *vm, char *err, size_t errlen)
{
    if (!vm->cfg.boot_timer)
        return 0;
    struct boot_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return snprintf(err, errlen, "boot-timer: out of memory"), -ENOMEM;
    t->start_us = clock_us(CLOCK_MONOTONIC);
    t->start_cpu_us = clock_us(CLOCK_PROCESS_CPUTIME_ID);
    int rc = io_bus_register(&vm->mmio, LAYOUT_BOOT_TIMER, LAYOUT_BOOT_TIMER_SIZE, &boot_timer_io,
                             t, "boot-timer");
    if (rc) {
        free(t);
        return snprintf(err, errlen, "boot-timer: cannot map 0x%llx: %s",
                        (unsigned long long)LAYOUT_BOOT_TIMER, strerror(-rc)),
               rc;
    }
    rc = device_add(vm, &boot_timer_ops, t);
    if (rc) {
        io_bus_unregister(&vm->mmio, LAYOUT_BOOT_TIMER);
        free(t);
        snprintf(err, errlen, "boot-timer: out of memory");
    }
    return rc;
}

static const struct device_class boot_timer_class = {
    .name = "boot-timer",
    .order = DEV_ORDER_PLATFORM,
    .create = boot_timer_create,
};
DEVICE_CLASS(boot_timer_class);
