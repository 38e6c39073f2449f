/* fuzz_legacy.c — libFuzzer target: the legacy PC devices' register models (UART, i8042, CMOS/RTC,
 * ACPI PM, reset port, debug-exit, POST, pvpanic) as a guest drives them: the input is a sequence
 * of port accesses, each [range(1)][offset(1)][width and direction(1)][value(4)], aimed at the
 * port ranges the devices registered (a few bytes past each end too). A fresh VM per input. */
#include "devtest.h"

static const char *const classes[] = {"uart8250",   "i8042",      "cmos", "acpi-pm",
                                      "reset-port", "debug-exit", "post", "pvpanic"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vm vm;
    test_vm_init(&vm, 64 * MiB);
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        test_create(&vm, classes[i]);
    for (; size >= 7; data += 7, size -= 7) {
        const struct io_range *r = &vm.pio.r[data[0] % vm.pio.n];
        uint64_t port = r->base + data[1] % (r->len + 4);
        unsigned width = 1u << (data[2] % 3), write = data[2] & 0x80;
        uint8_t v[4];
        memcpy(v, data + 3, 4);
        io_bus_access(&vm.pio, port, v, width, write);
        if ((data[2] & 0x40) && !write)
            i8042_send_ctrl_alt_del(&vm); /* the host's key press */
        vm.state = VM_RUNNING; /* a stop request (reset, power off, panic) is an outcome */
    }
    devices_reset(&vm);
    test_vm_free(&vm, NULL);
    return 0;
}
