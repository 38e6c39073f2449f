/* pvpanic.c — QEMU pvpanic ISA device (ACPI QEMU0001): a guest panic stops the VM. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define PVPANIC_PANICKED     0x01
#define PVPANIC_CRASH_LOADED 0x02

struct pvpanic {
    struct vm *vm;
    atomic_bool crash_logged; /* CRASH_LOADED is logged once: the guest cannot flood the log */
};

/* Reading the port tells the guest which events it may report. */
static void pvpanic_read(void *opaque, uint64_t off, uint8_t *data, unsigned size)
{
    data[0] = PVPANIC_PANICKED | PVPANIC_CRASH_LOADED;
}

static void pvpanic_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct pvpanic *p = opaque;
    if (data[0] & PVPANIC_PANICKED)
        vm_request_stop(p->vm, TRUCE_EXIT_PANIC, "guest panic (pvpanic)");
    else if ((data[0] & PVPANIC_CRASH_LOADED) && !atomic_exchange(&p->crash_logged, true))
        log_warn("pvpanic: guest panicked and is running its crash kernel");
}

static const struct io_ops pvpanic_io_ops = {.read = pvpanic_read, .write = pvpanic_write};

static void pvpanic_destroy(void *dev)
{
    free(dev);
}

static const struct device_ops pvpanic_dev_ops = {.name = "pvpanic", .destroy = pvpanic_destroy};

/* Register PORT_PVPANIC. Returns 0 or <0 with ERR. */
static int pvpanic_create(struct vm *vm, char *err, size_t errlen)
{
    struct pvpanic *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "pvpanic: out of memory");
        return -ENOMEM;
    }
    p->vm = vm;
    int rc = device_add_pio(vm, PORT_PVPANIC, 1, &pvpanic_io_ops, "pvpanic", &pvpanic_dev_ops, p,
                            err, errlen);
    if (rc)
        free(p);
    return rc;
}

static const struct device_class pvpanic_class = {
    .name = "pvpanic",
    .order = DEV_ORDER_PLATFORM,
    .create = pvpanic_create,
};
DEVICE_CLASS(pvpanic_class);
