/* debug_exit.c — QEMU isa-debug-exit compatible port: a write of V ends the VM with status
 * (V << 1) | 1, so test guests written for QEMU run unchanged. */
#include <errno.h>
#include <string.h>

#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define DEBUG_EXIT_LEN 4 /* outb, outw and outl at PORT_DEBUG_EXIT */

/* The process status for value V: odd, and its low 8 bits are what a shell sees. */
static int debug_exit_status(uint32_t v)
{
    return (int)((((uint64_t)v << 1) | 1) & 0x7fffffff);
}

static void debug_exit_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size)
{
    struct vm *vm = opaque;
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < sizeof(v); i++)
        v |= (uint32_t)data[i] << (8 * i);
    vm_request_stop(vm, debug_exit_status(v), "guest wrote 0x%x to the debug-exit port", v);
}

/* Reads return all-ones (the bus pre-fills them), as on QEMU. */
static const struct io_ops debug_exit_ops = {.write = debug_exit_write};

/* Register the port; the VM itself is the only state. Returns 0 or <0 with ERR. */
static int debug_exit_create(struct vm *vm, char *err, size_t errlen)
{
    int rc = io_bus_register(&vm->pio, PORT_DEBUG_EXIT, DEBUG_EXIT_LEN, &debug_exit_ops, vm,
                             "debug-exit");
    if (rc)
        snprintf(err, errlen, "debug-exit: cannot register port 0x%x: %s", PORT_DEBUG_EXIT,
                 strerror(-rc));
    return rc;
}

static const struct device_class debug_exit_class = {
    .name = "debug-exit",
    .order = DEV_ORDER_PLATFORM,
    .create = debug_exit_create,
};
DEVICE_CLASS(debug_exit_class);
