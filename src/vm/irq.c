/* irq.c — interrupt delivery into the in-kernel irqchip: GSI lines and MSIs. */
#include <errno.h>
#include <sys/ioctl.h>

#include "vm/vm.h"

int irq_line(struct vm *vm, uint32_t gsi, int level)
{
    struct kvm_irq_level l = {.irq = gsi, .level = level ? 1 : 0};
    if (vm->fd < 0)
        return -EBADF;
    return ioctl(vm->fd, KVM_IRQ_LINE, &l) < 0 ? -errno : 0;
}

int irq_pulse(struct vm *vm, uint32_t gsi)
{
    int rc = irq_line(vm, gsi, 1);
    return rc ? rc : irq_line(vm, gsi, 0);
}

int irq_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
    struct kvm_msi msi = {
        .address_lo = (uint32_t)addr,
        .address_hi = (uint32_t)(addr >> 32),
        .data = data,
    };
    if (vm->fd < 0)
        return -EBADF;
    /* Returns >0 when delivered, 0 when the guest blocked it: both are fine. */
    return ioctl(vm->fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}
