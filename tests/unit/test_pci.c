/* test_pci.c — PCI host bridge: mechanism #1, ECAM, BAR sizing/moves, capabilities, MSI-X, INTx. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio_fixture.h"

struct tdev {
    struct pci_dev pci;
    int reads, writes;
    uint64_t moved_old, moved_new;
    int moves, msix_changes;
    struct pci_msix_entry msix[4];
};

static void t_read(void *o, uint64_t off, uint8_t *d, unsigned size)
{
    struct tdev *t = o;
    t->reads++;
    memset(d, 0xab, size);
}

static void t_write(void *o, uint64_t off, const uint8_t *d, unsigned size)
{
    ((struct tdev *)o)->writes++;
}

static const struct io_ops t_ops = {.read = t_read, .write = t_write};

static void t_moved(void *o, unsigned bar, uint64_t old, uint64_t new_gpa)
{
    struct tdev *t = o;
    t->moves++;
    t->moved_old = old;
    t->moved_new = new_gpa;
}

static void t_msix(void *o)
{
    ((struct tdev *)o)->msix_changes++;
}

static const struct pci_dev_ops t_pci_ops = {.bar_moved = t_moved, .msix_changed = t_msix};

struct fix {
    struct vfix f;
    struct tdev t;
};

static int setup(void **state)
{
    struct fix *x = calloc(1, sizeof(*x));
    vf_init(&x->f);
    struct pci_dev *d = &x->t.pci;
    pci_dev_init(d, "test", 0x1234, 0x5678, 0x020000, 3, 0x1af4, 0x9, &t_pci_ops, &x->t);
    assert_int_equal(pci_bar_init(d, 0, 0x8000, true, false), 0);
    assert_int_equal(pci_bar_add_region(d, 0, 0, 0x1000, &t_ops, &x->t, "t"), 0);
    assert_int_equal(pci_msix_init(d, 4, 0, 0x4000, 0x5000, x->t.msix), 0);
    assert_int_equal(pci_bar_init(d, 2, 0x1000, false, false), 0);
    assert_int_equal(pci_bar_add_region(d, 2, 0, 0x1000, &t_ops, &x->t, "t2"), 0);
    assert_int_equal(pci_dev_add(&x->f.vm, d), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fix *x = *state;
    pci_dev_remove(&x->t.pci);
    vf_fini(&x->f);
    pthread_mutex_destroy(&x->t.pci.irq_lock);
    free(x);
    return 0;
}

static uint32_t pio_cfg(struct vfix *f, uint32_t addr, unsigned off, unsigned size)
{
    uint8_t a[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16),
                    (uint8_t)(addr >> 24)};
    io_bus_access(&f->vm.pio, PORT_PCI_CONFIG, a, 4, true);
    uint8_t d[4] = {0};
    io_bus_access(&f->vm.pio, PORT_PCI_CONFIG + 4 + off, d, size, false);
    return d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

static void mechanism1_and_ecam_agree(void **state)
{
    struct fix *x = *state;
    struct vfix *f = &x->f;
    assert_int_equal(pio_cfg(f, 0x80000000, 0, 4), 0x00081b36); /* host bridge */
    assert_int_equal(pio_cfg(f, 0x80000000 | 1 << 11, 0, 4), 0x56781234);
    assert_int_equal(pio_cfg(f, 0x80000000 | 1 << 11, 2, 2), 0x5678);
    assert_int_equal(pio_cfg(f, 0x80000000 | 1 << 11, 3, 1), 0x56);
    assert_int_equal(pio_cfg(f, 0x80000000 | 1 << 11 | 8, 0, 4), 0x02000003);
    assert_int_equal(vf_cfg_read(f, 1, 8, 4), 0x02000003);
    assert_int_equal(vf_cfg_read(f, 0, 0x0a, 2), 0x0600); /* host bridge class */
    /* absent slot, function 1, bus 1, enable bit clear: all ones */
    assert_int_equal(pio_cfg(f, 0x80000000 | 7 << 11, 0, 4), 0xffffffff);
    assert_int_equal(pio_cfg(f, 0x80000000 | 1 << 11 | 1 << 8, 0, 4), 0xffffffff);
    assert_int_equal(pio_cfg(f, 0x80010000, 0, 4), 0xffffffff);
    assert_int_equal(pio_cfg(f, 1 << 11, 0, 4), 0xffffffff);
    assert_int_equal(vf_cfg_read(f, 9, 0, 4), 0xffffffff);
    uint8_t d[4];
    io_bus_access(&f->vm.mmio, LAYOUT_PCI_ECAM + (1 << 20), d, 4, false); /* bus 1 */
    assert_int_equal(d[0] & d[1] & d[2] & d[3], 0xff);
    /* extended config space exists and reads zero */
    assert_int_equal(vf_cfg_read(f, 1, 0x100, 4), 0);
    /* misaligned access: ignored / all ones */
    assert_int_equal(vf_cfg_read(f, 1, 1, 2), 0xffff);
}

static void bar_sizing(void **state)
{
    struct fix *x = *state;
    struct vfix *f = &x->f;
    uint32_t lo = vf_cfg_read(f, 1, 0x10, 4), hi = vf_cfg_read(f, 1, 0x14, 4);
    assert_int_equal(lo & 0xf, 0x4); /* 64-bit memory */
    uint64_t addr = (uint64_t)hi << 32 | (lo & ~0xfu);
    assert_int_equal(addr % 0x8000, 0);
    assert_true(addr >= LAYOUT_PCI_MMIO32 && addr + 0x8000 <= LAYOUT_PCI_ECAM);
    vf_cfg_write(f, 1, 4, 2, 0); /* decode off while sizing, like Linux */
    vf_cfg_write(f, 1, 0x10, 4, 0xffffffff);
    vf_cfg_write(f, 1, 0x14, 4, 0xffffffff);
    assert_int_equal(vf_cfg_read(f, 1, 0x10, 4), 0xffff8004);
    assert_int_equal(vf_cfg_read(f, 1, 0x14, 4), 0xffffffff);
    vf_cfg_write(f, 1, 0x18, 4, 0xffffffff); /* BAR2: 32-bit, 4 KiB */
    assert_int_equal(vf_cfg_read(f, 1, 0x18, 4), 0xfffff000);
    vf_cfg_write(f, 1, 0x1c, 4, 0xffffffff); /* unimplemented BAR3 */
    assert_int_equal(vf_cfg_read(f, 1, 0x1c, 4), 0);
    vf_cfg_write(f, 1, 0x30, 4, 0xffffffff); /* no expansion ROM */
    assert_int_equal(vf_cfg_read(f, 1, 0x30, 4), 0);
    /* identity registers are read-only */
    vf_cfg_write(f, 1, 0, 4, 0);
    assert_int_equal(vf_cfg_read(f, 1, 0, 4), 0x56781234);
}

static void bar_move_remaps_regions(void **state)
{
    struct fix *x = *state;
    struct vfix *f = &x->f;
    uint64_t old = x->t.pci.bar[0].mapped, to = 0x200000000ULL; /* above RAM, 64-bit */
    assert_true(old != 0);
    uint8_t d[4];
    assert_int_equal(io_bus_access(&f->vm.mmio, old, d, 4, false), 0);
    assert_int_equal(x->t.reads, 1);
    vf_cfg_write(f, 1, 4, 2, 0);
    assert_int_equal(x->t.moves, 2); /* both BARs unmapped */
    assert_int_equal(io_bus_access(&f->vm.mmio, old, d, 4, false), -ENOENT);
    vf_cfg_write(f, 1, 0x10, 4, (uint32_t)to | 4);
    vf_cfg_write(f, 1, 0x14, 4, (uint32_t)(to >> 32));
    vf_cfg_write(f, 1, 4, 2, 2);
    assert_int_equal(x->t.pci.bar[0].mapped, to);
    assert_int_equal(x->t.moved_new != 0, 1);
    assert_int_equal(io_bus_access(&f->vm.mmio, to, d, 4, false), 0);
    assert_int_equal(x->t.reads, 2);
    /* moving while decoding: sub-dword write of the high half moves it again */
    vf_cfg_write(f, 1, 0x14, 1, 3);
    assert_int_equal(x->t.pci.bar[0].mapped, 0x300000000ULL);
    /* a BAR pointed at RAM, or past the 43-bit limit, is not decoded */
    vf_cfg_write(f, 1, 0x14, 4, 0);
    vf_cfg_write(f, 1, 0x10, 4, 0x100000 | 4);
    assert_int_equal(x->t.pci.bar[0].mapped, 0);
    vf_cfg_write(f, 1, 0x10, 4, 4);
    vf_cfg_write(f, 1, 0x14, 4, 0x800);
    assert_int_equal(x->t.pci.bar[0].mapped, 0);
    /* overlapping another BAR: left unmapped, no crash */
    vf_cfg_write(f, 1, 0x14, 4, 0);
    vf_cfg_write(f, 1, 0x10, 4, (uint32_t)x->t.pci.bar[2].addr | 4);
    assert_int_equal(x->t.pci.bar[0].mapped, 0);
}

static void capability_list(void **state)
{
    struct fix *x = *state;
    struct vfix *f = &x->f;
    assert_true(vf_cfg_read(f, 1, 6, 2) & 0x10);
    unsigned p = vf_cfg_read(f, 1, 0x34, 1);
    assert_int_equal(p, 0x40);
    assert_int_equal(vf_cfg_read(f, 1, p, 1), 0x11);
    assert_int_equal(vf_cfg_read(f, 1, p + 1, 1), 0);
    assert_int_equal(vf_cfg_read(f, 1, p + 2, 2), 3); /* 4 vectors */
    /* only Enable and Function Mask are writable in Message Control */
    vf_cfg_write(f, 1, p + 2, 2, 0xffff);
    assert_int_equal(vf_cfg_read(f, 1, p + 2, 2), 0xc003);
    assert_int_equal(x->t.msix_changes, 1);
}

static void msix_delivery_and_masking(void **state)
{
    struct fix *x = *state;
    struct vfix *f = &x->f;
    struct pci_dev *d = &x->t.pci;
    uint64_t bar = d->bar[0].mapped;
    assert_int_equal(pci_msix_notify(d, 0), -EINVAL); /* MSI-X disabled */
    vf_cfg_write(f, 1, 0x42, 2, 0xc000);              /* enable + function mask */
    uint32_t v = 0xfee00000;
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 2, (uint8_t *)&v, 4, true);
    v = 0x55;
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 2 + 8, (uint8_t *)&v, 4, true);
    v = 0;
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 2 + 12, (uint8_t *)&v, 4, true);
    assert_int_equal(pci_msix_notify(d, 2), 0);
    assert_int_equal(atomic_load(&f->msis), 0); /* function masked: pending */
    uint64_t pba = 0;
    io_bus_access(&f->vm.mmio, bar + 0x5000, (uint8_t *)&pba, 8, false);
    assert_int_equal(pba, 4);
    vf_cfg_write(f, 1, 0x42, 2, 0x8000); /* unmask function: delivered */
    assert_int_equal(atomic_load(&f->msis), 1);
    assert_int_equal(atomic_load(&f->last_msi_data), 0x55);
    assert_int_equal(pci_msix_notify(d, 2), 0);
    assert_int_equal(atomic_load(&f->msis), 2);
    assert_int_equal(pci_msix_notify(d, 1), 0); /* vector 1 masked since reset */
    assert_int_equal(atomic_load(&f->msis), 2);
    assert_int_equal(pci_msix_notify(d, 9), -EINVAL); /* out of range */
    /* table reads: 32-bit; out-of-table offsets stay unanswered */
    uint32_t r = 0;
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 2 + 8, (uint8_t *)&r, 4, false);
    assert_int_equal(r, 0x55);
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 1 + 12, (uint8_t *)&r, 4, false);
    assert_int_equal(r, 1);
}

/* What a kernel backend may raise itself (vhost-net's irqfd): a vector's message only while MSI-X
 * is enabled and neither the function nor the vector is masked nor pending; every table write is
 * told to the owner (msix_changed), so it can follow a vector the guest moves or masks. */
static void msix_message_follows_table(void **state)
{
    struct fix *x = *state;
    struct vfix *f = &x->f;
    struct pci_dev *d = &x->t.pci;
    uint64_t bar = d->bar[0].mapped, addr = 0;
    uint32_t data = 0, v;
    assert_false(pci_msix_message(d, 3, &addr, &data)); /* MSI-X disabled */
    vf_cfg_write(f, 1, 0x42, 2, 0xc000);                /* enable + function mask */
    int changes = x->t.msix_changes;
    v = 0xfee01000;
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 3, (uint8_t *)&v, 4, true);
    v = 0x41;
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 3 + 8, (uint8_t *)&v, 4, true);
    assert_int_equal(x->t.msix_changes, changes + 2);
    assert_false(pci_msix_message(d, 3, &addr, &data)); /* function masked, vector masked */
    vf_cfg_write(f, 1, 0x42, 2, 0x8000);
    assert_false(pci_msix_message(d, 3, &addr, &data)); /* vector still masked */
    assert_int_equal(pci_msix_notify(d, 3), 0);         /* pending while masked */
    v = 0;
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 3 + 12, (uint8_t *)&v, 4, true);
    assert_int_equal(x->t.msix_changes, changes + 4);       /* the function unmask, then this */
    assert_int_equal(atomic_load(&f->last_msi_data), 0x41); /* the pending one went at unmask */
    assert_true(pci_msix_message(d, 3, &addr, &data));
    assert_int_equal(addr, 0xfee01000);
    assert_int_equal(data, 0x41);
    v = 0x42; /* the guest moves the vector: the next look sees the new message */
    io_bus_access(&f->vm.mmio, bar + 0x4000 + 16 * 3 + 8, (uint8_t *)&v, 4, true);
    assert_true(pci_msix_message(d, 3, &addr, &data));
    assert_int_equal(data, 0x42);
    assert_false(pci_msix_message(d, 9, &addr, &data)); /* out of range */
}

static void intx_follows_disable_bit(void **state)
{
    struct fix *x = *state;
    struct vfix *f = &x->f;
    unsigned gsi = PCI_INTX_GSI(1, 0);
    pci_intx_set(&x->t.pci, true);
    assert_int_equal(atomic_load(&f->line[gsi]), 1);
    assert_true(vf_cfg_read(f, 1, 6, 2) & 0x8); /* interrupt status */
    vf_cfg_write(f, 1, 4, 2, 0x0402);           /* INTx disable */
    assert_int_equal(atomic_load(&f->line[gsi]), 0);
    vf_cfg_write(f, 1, 4, 2, 0x0002);
    assert_int_equal(atomic_load(&f->line[gsi]), 1);
    pci_intx_set(&x->t.pci, false);
    assert_int_equal(atomic_load(&f->line[gsi]), 0);
}

static void mmio64_window(void **state)
{
    struct fix *x = *state;
    uint64_t base, size;
    pci_mmio64_window(&x->f.vm, &base, &size);
    assert_int_equal(base, LAYOUT_4G); /* 64 MiB of RAM: the window starts at 4 GiB */
    assert_true(size > 0 && base + size <= LAYOUT_MAX_GPA);
    assert_int_equal(base % (1ULL << 30), 0);
    /* a guest CPU with 36 physical address bits: the window ends at 64 GiB; with 32, none */
    x->f.vm.mem.max_gpa = 1ULL << 36;
    pci_mmio64_window(&x->f.vm, &base, &size);
    assert_int_equal(base, LAYOUT_4G);
    assert_int_equal(base + size, 1ULL << 36);
    x->f.vm.mem.max_gpa = 1ULL << 32;
    pci_mmio64_window(&x->f.vm, &base, &size);
    assert_int_equal(size, 0);
    x->f.vm.mem.max_gpa = 0;
}

static void large_bars_go_above_4g(void **state)
{
    struct fix *x = *state;
    enum { N = 6 }; /* the last one 32-bit only */
    struct pci_dev *big = calloc(N, sizeof(*big));
    for (int i = 0; i < N; i++) {
        pci_dev_init(&big[i], "big", 0x1234, 2, 0xff0000, 0, 0, 0, NULL, NULL);
        assert_int_equal(pci_bar_init(&big[i], 0, 128 * MiB, i < N - 1, false), 0);
        assert_int_equal(pci_bar_add_region(&big[i], 0, 0, 4096, &t_ops, &x->t, "big"), 0);
    }
    /* the 32-bit window (0xc0100000-0xdfffffff) already holds the test device: three 128 MiB
     * BARs fit, on 128 MiB boundaries */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pci_dev_add(&x->f.vm, &big[i]), 0);
        assert_int_equal(big[i].bar[0].addr, 0xc8000000ULL + i * 128 * MiB);
    }
    assert_int_equal(pci_dev_add(&x->f.vm, &big[3]), 0);
    assert_int_equal(big[3].bar[0].addr, LAYOUT_4G); /* 64-bit window, above RAM */
    assert_int_equal(pci_dev_add(&x->f.vm, &big[4]), 0);
    assert_int_equal(big[4].bar[0].addr, LAYOUT_4G + 128 * MiB);
    assert_int_equal(vf_cfg_read(&x->f, big[4].slot, 0x14, 4), 1); /* high dword */
    assert_int_equal(pci_dev_add(&x->f.vm, &big[5]), -ENOSPC);     /* 32-bit only: no room */
    uint8_t d[4];
    assert_int_equal(io_bus_access(&x->f.vm.mmio, LAYOUT_4G + 16, d, 4, false), 0);
    for (int i = 0; i < N; i++) {
        pci_dev_remove(&big[i]);
        pthread_mutex_destroy(&big[i].irq_lock);
    }
    free(big);
}

static void slots_run_out_cleanly(void **state)
{
    struct fix *x = *state;
    struct pci_dev *many = calloc(40, sizeof(*many));
    int added = 0;
    for (int i = 0; i < 40; i++) {
        pci_dev_init(&many[i], "many", 0x1234, 1, 0xff0000, 0, 0, 0, NULL, NULL);
        assert_int_equal(pci_bar_init(&many[i], 0, 0x1000, false, false), 0);
        if (pci_dev_add(&x->f.vm, &many[i]) == 0)
            added++;
        else
            break;
    }
    assert_int_equal(added, PCI_SLOTS - 2); /* slot 0 host bridge, slot 1 the test device */
    for (int i = 0; i < 40; i++) {
        pci_dev_remove(&many[i]);
        pthread_mutex_destroy(&many[i].irq_lock);
    }
    free(many);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(mechanism1_and_ecam_agree), T(bar_sizing),
        T(bar_move_remaps_regions),   T(capability_list),
        T(msix_delivery_and_masking), T(msix_message_follows_table),
        T(intx_follows_disable_bit),  T(mmio64_window),
        T(large_bars_go_above_4g),    T(slots_run_out_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
