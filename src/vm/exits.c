/* exits.c — decode KVM_RUN exits into struct vm_exit and dispatch them through a table. */
#include <stdio.h>
#include <string.h>

#include "util/util.h"
#include "vm/vm.h"

typedef int (*exit_fn)(struct vm *vm, struct vcpu *v, struct vm_exit *e);

int exit_decode(struct kvm_run *run, struct vm_exit *e)
{
    memset(e, 0, sizeof(*e));
    e->reason = run->exit_reason;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        e->io.port = run->io.port;
        e->io.size = run->io.size;
        e->io.in = run->io.direction == KVM_EXIT_IO_IN;
        e->io.count = run->io.count;
        e->io.data = (uint8_t *)run + run->io.data_offset;
        break;
    case KVM_EXIT_MMIO:
        e->mmio.gpa = run->mmio.phys_addr;
        e->mmio.len = run->mmio.len;
        e->mmio.write = run->mmio.is_write;
        e->mmio.data = run->mmio.data;
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        e->system.type = run->system_event.type;
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        e->internal.suberror = run->internal.suberror;
        break;
    case KVM_EXIT_FAIL_ENTRY:
        e->fail.hw_reason = run->fail_entry.hardware_entry_failure_reason;
        break;
    default:
        break;
    }
    return 0;
}

static unsigned vcpu_id(const struct vcpu *v)
{
    return v ? v->id : 0;
}

/* Unmapped ports and MMIO: reads see all-ones, writes are dropped; both are counted, and the
 * first few are logged so a misbehaving guest cannot flood the log. */
static void note_unmapped(struct vm *vm, _Atomic uint64_t *ctr, const char *bus, uint64_t addr,
                          bool write)
{
    uint64_t n = atomic_fetch_add(ctr, 1);
    if (n < 8)
        log_debug("unmapped %s %s at 0x%llx", bus, write ? "write" : "read",
                  (unsigned long long)addr);
}

static int handle_io(struct vm *vm, struct vcpu *v, struct vm_exit *e)
{
    if (e->io.size != 1 && e->io.size != 2 && e->io.size != 4)
        return EXIT_RESUME;
    uint8_t *p = e->io.data;
    for (uint32_t i = 0; i < e->io.count; i++, p += e->io.size) {
        if (io_bus_access(&vm->pio, e->io.port, p, e->io.size, !e->io.in) < 0)
            note_unmapped(vm, &vm->stats.pio_unmapped, "port", e->io.port, !e->io.in);
        if (vm_stopping(vm))
            return EXIT_STOP;
    }
    return EXIT_RESUME;
}

static int handle_mmio(struct vm *vm, struct vcpu *v, struct vm_exit *e)
{
    unsigned len = e->mmio.len;
    if (len != 1 && len != 2 && len != 4 && len != 8) {
        /* Odd sizes come from unusual instructions; treat as unmapped. */
        if (!e->mmio.write)
            memset(e->mmio.data, 0xff, MIN(len, 8u));
        note_unmapped(vm, &vm->stats.mmio_unmapped, "mmio", e->mmio.gpa, e->mmio.write);
        return EXIT_RESUME;
    }
    if (io_bus_access(&vm->mmio, e->mmio.gpa, e->mmio.data, len, e->mmio.write) < 0)
        note_unmapped(vm, &vm->stats.mmio_unmapped, "mmio", e->mmio.gpa, e->mmio.write);
    return vm_stopping(vm) ? EXIT_STOP : EXIT_RESUME;
}

static int handle_shutdown(struct vm *vm, struct vcpu *v, struct vm_exit *e)
{
    if (v)
        vcpu_log_state(v, "triple fault");
    vm_request_stop(vm, TRUCE_EXIT_TRIPLE, "triple fault on vCPU %u", vcpu_id(v));
    return EXIT_STOP;
}

static int handle_system_event(struct vm *vm, struct vcpu *v, struct vm_exit *e)
{
    switch (e->system.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        vm_request_stop(vm, TRUCE_EXIT_POWEROFF, "guest powered off (system event)");
        break;
    case KVM_SYSTEM_EVENT_RESET:
        vm_request_stop(vm, TRUCE_EXIT_REBOOT, "guest reset (system event)");
        break;
    case KVM_SYSTEM_EVENT_CRASH:
        vm_request_stop(vm, TRUCE_EXIT_PANIC, "guest crash (system event)");
        break;
    default:
        vm_request_stop(vm, TRUCE_EXIT_GUEST, "unknown system event %u on vCPU %u", e->system.type,
                        vcpu_id(v));
        break;
    }
    return EXIT_STOP;
}

static int handle_internal(struct vm *vm, struct vcpu *v, struct vm_exit *e)
{
    const char *what = e->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                           ? "instruction emulation failed"
                           : "KVM internal error";
    if (v)
        vcpu_log_state(v, what);
    vm_request_stop(vm, TRUCE_EXIT_GUEST, "vCPU %u: %s (suberror %u)", vcpu_id(v), what,
                    e->internal.suberror);
    return EXIT_STOP;
}

static int handle_fail_entry(struct vm *vm, struct vcpu *v, struct vm_exit *e)
{
    if (v)
        vcpu_log_state(v, "VM entry failed");
    vm_request_stop(vm, TRUCE_EXIT_HOST, "vCPU %u: VM entry failed (hardware reason 0x%llx)",
                    vcpu_id(v), (unsigned long long)e->fail.hw_reason);
    return EXIT_STOP;
}

/* KVM_EXIT_HLT only happens without an in-kernel LAPIC; stay conservative and re-enter. */
static int handle_resume(struct vm *vm, struct vcpu *v, struct vm_exit *e)
{
    return EXIT_RESUME;
}

static const exit_fn exit_table[] = {
    [KVM_EXIT_IO] = handle_io,
    [KVM_EXIT_MMIO] = handle_mmio,
    [KVM_EXIT_SHUTDOWN] = handle_shutdown,
    [KVM_EXIT_SYSTEM_EVENT] = handle_system_event,
    [KVM_EXIT_INTERNAL_ERROR] = handle_internal,
    [KVM_EXIT_FAIL_ENTRY] = handle_fail_entry,
    [KVM_EXIT_HLT] = handle_resume,
    [KVM_EXIT_IRQ_WINDOW_OPEN] = handle_resume,
    [KVM_EXIT_INTR] = handle_resume,
};

int exit_dispatch(struct vm *vm, struct vcpu *v, struct vm_exit *e)
{
    unsigned r = MIN(e->reason, 63u);
    atomic_fetch_add(&vm->stats.by_reason[r], 1);
    exit_fn fn = e->reason < ARRAY_SIZE(exit_table) ? exit_table[e->reason] : NULL;
    if (!fn) {
        atomic_fetch_add(&vm->stats.unknown, 1);
        vm_request_stop(vm, TRUCE_EXIT_GUEST, "vCPU %u: unhandled exit reason %u", vcpu_id(v),
                        e->reason);
        return EXIT_STOP;
    }
    uint64_t t0 = now_ns();
    int rc = fn(vm, v, e);
    atomic_fetch_add(&vm->stats.ns_by_reason[r], now_ns() - t0);
    return rc;
}

/* The KVM_EXIT_* reasons by name, for exit_stats_print. */
static const char *const exit_kind[] = {
    [KVM_EXIT_IO] = "io",
    [KVM_EXIT_MMIO] = "mmio",
    [KVM_EXIT_HLT] = "hlt",
    [KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
    [KVM_EXIT_SHUTDOWN] = "shutdown",
    [KVM_EXIT_FAIL_ENTRY] = "fail_entry",
    [KVM_EXIT_INTR] = "intr",
    [KVM_EXIT_INTERNAL_ERROR] = "internal_error",
    [KVM_EXIT_SYSTEM_EVENT] = "system_event",
};

void exit_stats_format(const struct vm *vm, char *buf, size_t size)
{
    size_t at = 0;
    int n = snprintf(buf, size, "exit-stats first_run_ns=%llu now_ns=%llu",
                     (unsigned long long)atomic_load(&vm->stats.first_run_ns),
                     (unsigned long long)now_ns());
    for (unsigned i = 0; n >= 0 && (at += (size_t)n) < size && i < 64; i++) {
        uint64_t count = atomic_load(&vm->stats.by_reason[i]);
        unsigned long long us = atomic_load(&vm->stats.ns_by_reason[i]) / 1000;
        const char *kind = i < ARRAY_SIZE(exit_kind) ? exit_kind[i] : NULL;
        n = !count ? 0
            : kind ? snprintf(buf + at, size - at, " %s=%llu/%llu", kind, (unsigned long long)count,
                              us)
                   : snprintf(buf + at, size - at, " reason_%u=%llu/%llu", i,
                              (unsigned long long)count, us);
    }
}
