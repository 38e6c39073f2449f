/* fuzz_platform.h — the legacy PC platform for fuzz targets: a VM from the unit tests' devtest.h
 * with real guest RAM and every device class that is not on PCI (the UART, i8042, CMOS/RTC,
 * fw_cfg, ACPI PM, reset port, debug-exit, POST, pvpanic, the PCI host bridge and whatever joins
 * them), and a guest program of port accesses and RAM writes to run against it. */
#ifndef TRUCE_FUZZ_PLATFORM_H
#define TRUCE_FUZZ_PLATFORM_H

#include <stdlib.h>

#include "devtest.h"

#define FP_RAM    (64 * MiB)
#define FP_OP_LEN 7

/* Set by a target before fp_vm_new: the VM gets the std VGA display too (its ports, its MMIO BAR
 * on the PCI host bridge) and with it the i8042's AUX port and mouse. */
static bool fp_display;

/* Create VM with every non-PCI device class. RAM is mapped once and reused (zeroed per VM). */
static void fp_vm_new(struct vm *vm)
{
    static struct guest_mem mem;
    if (!mem.nr && guest_mem_init(&mem, FP_RAM, false) < 0)
        abort();
    memset(gpa_to_hva(&mem, 0, 1 * MiB), 0, 1 * MiB); /* what the programs below can write */
    test_vm_init(vm, FP_RAM);
    vm->mem = mem;
    vm->ncpus = vm->cfg.cpus = 1;
    vm->cfg.mem_bytes = FP_RAM;
    if (fp_display)
        vm->cfg.display = (struct display_config){.kind = DISPLAY_STD, .vram_mib = 4};
    const struct device_class *cls[64];
    size_t n = device_classes(cls, 64);
    for (size_t i = 0; i < n && i < 64; i++)
        if (cls[i]->order != DEV_ORDER_PCI)
            test_create(vm, cls[i]->name);
    if (fp_display)
        test_create(vm, "vga");
}

static void fp_vm_free(struct vm *vm)
{
    vm->mem = (struct guest_mem){0}; /* kept for the next VM */
    test_vm_free(vm, NULL);
}

/* One operation of FP_OP_LEN bytes: [range][offset][mode][value(4)]. Mode bits 0-1: width 1, 2
 * or 4 (3: 4); bit 7: write; bit 6 with a read: the host's Ctrl+Alt+Del; bit 5: no port access,
 * write the value into RAM at (range | offset << 8) * 4 instead (DMA descriptors, tables). The
 * access goes to the registered port range RANGE picks, a few ports past its end included. */
static void fp_op(struct vm *vm, const uint8_t *p)
{
    uint8_t v[4];
    memcpy(v, p + 3, 4);
    if (p[2] & 0x20) {
        guest_mem_write(&vm->mem, (p[0] | (uint64_t)p[1] << 8) * 4, v, 4);
        return;
    }
    const struct io_range *r = &vm->pio.r[p[0] % vm->pio.n];
    uint64_t port = r->base + p[1] % (r->len + 4);
    static const unsigned widths[4] = {1, 2, 4, 4};
    unsigned width = widths[p[2] & 3];
    bool write = p[2] & 0x80;
    io_bus_access(&vm->pio, port, v, width, write);
    if ((p[2] & 0x40) && !write)
        i8042_send_ctrl_alt_del(vm);
    vm->state = VM_RUNNING; /* a stop request (reset, power off, panic) is an outcome */
}

static void fp_run(struct vm *vm, const uint8_t *data, size_t size)
{
    for (; size >= FP_OP_LEN; data += FP_OP_LEN, size -= FP_OP_LEN)
        fp_op(vm, data);
}

#endif
