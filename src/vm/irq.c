/* irq.c — interrupt delivery into the in-kernel irqchip: the GSI routing, GSI lines and MSIs. */
#include <errno.h>
#include <pthread.h>
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

/* KVM's own default routing (what a PCI machine runs with until it installs MSI routes): GSI N to
 * IOAPIC pin N, and GSIs 0-15 to the PIC input of the same number as well. */
static unsigned routing_default(struct kvm_irq_routing_entry *e)
{
    unsigned n = 0;
    for (uint32_t gsi = 0; gsi < IOAPIC_PINS; gsi++) {
        if (gsi < ISA_IRQS)
            e[n++] = route(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
        e[n++] = route(gsi, KVM_IRQCHIP_IOAPIC, gsi);
    }
    return n;
}

/* Install the legacy routing and every MSI route in use. msi_lock held. */
static int routing_install(struct vm *vm)
{
    unsigned max = 2 * IOAPIC_PINS + IRQ_MSI_ROUTES;
    struct kvm_irq_routing *r = calloc(1, sizeof(*r) + max * sizeof(r->entries[0]));
    if (!r)
        return -ENOMEM;
    r->nr = vm->cfg.transport == TRANSPORT_MMIO ? irq_routing_build(r->entries, 2 * IOAPIC_PINS)
                                                : routing_default(r->entries);
    for (unsigned i = 0; i < IRQ_MSI_ROUTES; i++) {
        if (!vm->msi_route[i].addr)
            continue;
        struct kvm_irq_routing_entry *e = &r->entries[r->nr++];
        e->gsi = IOAPIC_PINS + i;
        e->type = KVM_IRQ_ROUTING_MSI;
        e->u.msi.address_lo = (uint32_t)vm->msi_route[i].addr;
        e->u.msi.address_hi = (uint32_t)(vm->msi_route[i].addr >> 32);
        e->u.msi.data = vm->msi_route[i].data;
    }
    int rc = ioctl(vm->fd, KVM_SET_GSI_ROUTING, r) < 0 ? -errno : 0;
    free(r);
    return rc;
}

int irq_msi_route_set(struct vm *vm, int gsi, uint64_t addr, uint32_t data)
{
    if (vm->fd < 0)
        return -EBADF;
    if (!addr || (gsi >= 0 && (gsi < IOAPIC_PINS || gsi >= IOAPIC_PINS + IRQ_MSI_ROUTES)))
        return -EINVAL;
    pthread_mutex_lock(&vm->msi_lock);
    int i = gsi - IOAPIC_PINS;
    for (unsigned j = 0; gsi < 0 && j < IRQ_MSI_ROUTES; j++)
        if (!vm->msi_route[j].addr) {
            i = (int)j;
            gsi = IOAPIC_PINS + (int)j;
        }
    int rc = gsi < 0 ? -ENOSPC : 0;
    if (rc == 0) {
        typeof(vm->msi_route[0]) old = vm->msi_route[i];
        vm->msi_route[i].addr = addr;
        vm->msi_route[i].data = data;
        rc = routing_install(vm);
        if (rc < 0)
            vm->msi_route[i] = old;
    }
    pthread_mutex_unlock(&vm->msi_lock);
    return rc < 0 ? rc : gsi;
}

int irq_irqfd(struct vm *vm, int fd, uint32_t gsi, bool assign)
{
    struct kvm_irqfd f = {
        .fd = (uint32_t)fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN};
    if (vm->fd < 0)
        return -EBADF;
    return ioctl(vm->fd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}
