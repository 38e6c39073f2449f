/* irq.c — interrupt delivery into the in-kernel irqchip: the GSI routing, GSI lines and MSIs. */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include "platform/layout.h"
#include "vm/vm.h"

static struct kvm_irq_routing_entry route(uint32_t gsi, uint32_t chip, uint32_t pin)
{
    return (struct kvm_irq_routing_entry){
        .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP, .u.irqchip = {.irqchip = chip, .pin = pin}};
}

unsigned irq_routing_build(struct kvm_irq_routing_entry *e, unsigned max)
{
    unsigned n = 0;
    for (uint32_t gsi = 0; gsi < IOAPIC_PINS && n + 2 <= max; gsi++) {
        if (gsi == IOAPIC_PIN_PIT && gsi != GSI_PIT)
            continue; /* the PIT's pin belongs to GSI_PIT; PIC input 2 is the cascade */
        if (gsi < ISA_IRQS)
            e[n++] = route(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
        e[n++] = route(gsi, KVM_IRQCHIP_IOAPIC, gsi < ISA_IRQS ? layout_isa_irq_pin(gsi) : gsi);
    }
    return n;
}

int irq_routing_init(struct vm *vm)
{
    unsigned max = 2 * IOAPIC_PINS;
    struct kvm_irq_routing *r = calloc(1, sizeof(*r) + max * sizeof(r->entries[0]));
    if (!r)
        return -ENOMEM;
    r->nr = irq_routing_build(r->entries, max);
    int rc = ioctl(vm->fd, KVM_SET_GSI_ROUTING, r) < 0 ? -errno : 0;
    free(r);
    return rc;
}

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
