/* test_virtio_pci.c — the modern virtio-pci transport: capabilities, status machine, queues, irqs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "virtio_fixture.h"

#define ACK    VIRTIO_CONFIG_S_ACKNOWLEDGE
#define DRV    VIRTIO_CONFIG_S_DRIVER
#define FOK    VIRTIO_CONFIG_S_FEATURES_OK
#define DOK    VIRTIO_CONFIG_S_DRIVER_OK
#define NRESET VIRTIO_CONFIG_S_NEEDS_RESET
#define V1     (1ULL << VIRTIO_F_VERSION_1)

/* A VM with one virtio-rng (the simplest real device) in slot 1. */
static int setup(void **state)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.cfg.entropy = true;
    char err[256] = "";
    const struct device_class *cls = device_class_find("virtio-rng");
    assert_non_null(cls);
    assert_int_equal(cls->create(&f->vm, err, sizeof(err)), 0);
    vf_probe(f, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct vfix *f = *state;
    vf_fini(f);
    free(f);
    return 0;
}

static void identity_and_layout(void **state)
{
    struct vfix *f = *state;
    struct virtio_dev *rng = virtio_find(&f->vm, VIRTIO_ID_RNG, NULL);
    assert_non_null(rng);
    assert_string_equal(rng->name, "virtio-rng");
    assert_null(virtio_find(&f->vm, VIRTIO_ID_RNG, rng));
    assert_null(virtio_find(&f->vm, VIRTIO_ID_BLOCK, NULL));
    assert_int_equal(vf_cfg_read(f, 1, 2, 2), 0x1040 + VIRTIO_ID_RNG);
    assert_int_equal(vf_cfg_read(f, 1, 8, 1), 1);    /* revision 1: modern */
    assert_int_equal(vf_cfg_read(f, 1, 0x3d, 1), 1); /* INTA */
    assert_int_equal(vf_cfg_read(f, 1, 0x3c, 1), PCI_INTX_GSI(1, 0));
    assert_true(f->bar >= LAYOUT_PCI_MMIO32 && f->bar < LAYOUT_PCI_ECAM);
    assert_int_equal(f->notify_mult, 4);
    assert_int_equal(vf_rd(f, COMMON_OFF(num_queues), 2), 1);
    assert_int_equal(vf_rd(f, COMMON_OFF(queue_size), 2), 64);
    /* MSI-X: 2 vectors (1 queue + config), table and PBA in BAR 0 */
    assert_int_equal(vf_cfg_read(f, 1, f->msix_cap + 2, 2) & 0x7ff, 1);
    assert_int_equal(vf_cfg_read(f, 1, f->msix_cap + 4, 4), 0x4000);
    assert_int_equal(vf_cfg_read(f, 1, f->msix_cap + 8, 4), 0x5000);
    uint64_t feat = vf_features(f);
    assert_true(feat & V1);
    assert_true(feat & (1ULL << VIRTIO_RING_F_EVENT_IDX));
    assert_true(feat & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
}

static void request_served_with_msix(void **state)
{
    struct vfix *f = *state;
    vf_bringup(f, V1 | (1ULL << VIRTIO_RING_F_EVENT_IDX), 1);
    assert_int_equal(vf_status(f), ACK | DRV | FOK | DOK);
    vf_desc(f, 0, 0, VF_BUF, 64, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, 1));
    assert_int_equal(vf_used(f, 0, 0).len, 64);
    vf_quiesce(f); /* every interrupt the request causes has been sent */
    assert_int_equal(atomic_load(&f->msis), 1);
    assert_int_equal(atomic_load(&f->last_msi_data), 0x41); /* queue 0 -> vector 1 */
}

/* An interrupt only for new used buffers: not for the DRIVER_OK look at the rings, not for a
 * notification that brings nothing; with and without EVENT_IDX. */
static void no_interrupt_without_used_buffers(void **state)
{
    struct vfix *f = *state;
    const uint64_t feats[] = {V1 | (1ULL << VIRTIO_RING_F_EVENT_IDX), V1};
    for (unsigned k = 0; k < ARRAY_SIZE(feats); k++) {
        atomic_store(&f->msis, 0);
        vf_bringup(f, feats[k], 1);
        vf_quiesce(f); /* the DRIVER_OK kick has been handled: empty queue */
        assert_int_equal(atomic_load(&f->msis), 0);
        vf_desc(f, 0, 0, VF_BUF, 8, VRING_DESC_F_WRITE, 0);
        vf_offer(f, 0, 0);
        assert_true(vf_wait_used(f, 0, 1));
        vf_quiesce(f);
        assert_int_equal(atomic_load(&f->msis), 1);
        vf_wr(f, f->notify, 2, 0); /* a kick with nothing new */
        vf_quiesce(f);
        assert_int_equal(atomic_load(&f->msis), 1);
        assert_int_equal(vf_used_idx(f, 0), 1);
    }
}

static void intx_and_isr_without_msix(void **state)
{
    struct vfix *f = *state;
    vf_bringup(f, V1, 1);
    vf_cfg_write(f, 1, f->msix_cap + 2, 2, 0); /* MSI-X off: INTx + ISR */
    vf_desc(f, 0, 0, VF_BUF, 16, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, 1));
    unsigned gsi = PCI_INTX_GSI(1, 0);
    vf_quiesce(f);
    assert_int_equal(atomic_load(&f->line[gsi]), 1);
    assert_int_equal(vf_rd(f, f->isr, 1), 1); /* queue interrupt, read clears */
    assert_int_equal(atomic_load(&f->line[gsi]), 0);
    assert_int_equal(vf_rd(f, f->isr, 1), 0);
    assert_int_equal(atomic_load(&f->msis), 0);
}

static void masked_vector_is_pending_then_delivered(void **state)
{
    struct vfix *f = *state;
    vf_bringup(f, V1, 1);
    vf_wr(f, 0x4000 + 16 * 1 + 12, 4, 1); /* mask vector 1 */
    vf_desc(f, 0, 0, VF_BUF, 16, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, 1));
    vf_quiesce(f);
    assert_int_equal(vf_rd(f, 0x5000, 4), 2); /* PBA bit 1 */
    assert_int_equal(atomic_load(&f->msis), 0);
    vf_wr(f, 0x4000 + 16 * 1 + 12, 4, 0); /* unmask: delivered now */
    assert_int_equal(atomic_load(&f->msis), 1);
    assert_int_equal(vf_rd(f, 0x5000, 4), 0);
}

static void features_must_be_subset_with_version_1(void **state)
{
    struct vfix *f = *state;
    vf_set_status(f, ACK | DRV);
    vf_set_features(f, 0); /* no VERSION_1 */
    vf_set_status(f, ACK | DRV | FOK);
    assert_int_equal(vf_status(f), ACK | DRV);
    vf_set_features(f, V1 | (1ULL << 50)); /* not offered */
    vf_set_status(f, ACK | DRV | FOK);
    assert_int_equal(vf_status(f), ACK | DRV);
    vf_set_features(f, V1);
    vf_set_status(f, ACK | DRV | FOK);
    assert_int_equal(vf_status(f), ACK | DRV | FOK);
    /* changing features after FEATURES_OK is a violation */
    vf_set_features(f, V1 | (1ULL << VIRTIO_RING_F_EVENT_IDX));
    assert_true(vf_status(f) & NRESET);
}

static void queue_config_outside_window_needs_reset(void **state)
{
    struct vfix *f = *state;
    vf_set_status(f, ACK | DRV);
    vf_wr(f, COMMON_OFF(queue_select), 2, 0);
    vf_wr(f, COMMON_OFF(queue_desc_lo), 4, 0x1000);
    assert_true(vf_status(f) & NRESET);
    assert_int_equal(vf_rd(f, COMMON_OFF(queue_desc_lo), 4), 0);
    /* reset clears it; the bring-up then succeeds */
    vf_bringup(f, V1, 1);
    assert_int_equal(vf_status(f), ACK | DRV | FOK | DOK);
    vf_wr(f, COMMON_OFF(queue_size), 2, 16); /* after DRIVER_OK */
    assert_true(vf_status(f) & NRESET);
    assert_int_equal(vf_rd(f, COMMON_OFF(queue_size), 2), 64);
}

static void status_order_enforced(void **state)
{
    struct vfix *f = *state;
    vf_set_status(f, ACK | DRV | FOK | DOK); /* everything at once, without negotiation */
    assert_true(vf_status(f) & NRESET);
    assert_false(vf_status(f) & DOK);
    vf_set_status(f, 0);
    assert_int_equal(vf_status(f), 0);
    vf_set_status(f, ACK | DRV);
    vf_set_status(f, ACK); /* clearing a bit without reset */
    assert_true(vf_status(f) & NRESET);
}

static void bad_queue_size_and_rings(void **state)
{
    struct vfix *f = *state;
    vf_set_status(f, ACK | DRV);
    vf_set_features(f, V1);
    vf_set_status(f, ACK | DRV | FOK);
    vf_wr(f, COMMON_OFF(queue_select), 2, 0);
    vf_wr(f, COMMON_OFF(queue_size), 2, 48);
    assert_true(vf_status(f) & NRESET);
    vf_set_status(f, 0);
    /* rings outside RAM: DRIVER_OK is taken but the device needs a reset, and says so */
    vf_set_status(f, ACK | DRV);
    vf_set_features(f, V1);
    vf_set_status(f, ACK | DRV | FOK);
    vf_msix_on(f, 2);
    vf_wr(f, COMMON_OFF(msix_config), 2, 0);
    vf_wr(f, COMMON_OFF(queue_select), 2, 0);
    vf_wr(f, COMMON_OFF(queue_desc_lo), 4, 0);
    vf_wr(f, COMMON_OFF(queue_desc_hi), 4, 0x10); /* 64 GiB: not RAM */
    vf_wr(f, COMMON_OFF(queue_enable), 2, 1);
    vf_set_status(f, ACK | DRV | FOK | DOK);
    assert_true(vf_status(f) & NRESET);
    assert_int_equal(atomic_load(&f->msis), 1); /* config change interrupt */
    assert_int_equal(atomic_load(&f->last_msi_data), 0x40);
}

static void hostile_ring_needs_reset_then_recovers(void **state)
{
    struct vfix *f = *state;
    vf_bringup(f, V1, 1);
    vf_desc(f, 0, 0, VF_BUF, 16, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0); /* self loop */
    vf_offer(f, 0, 0);
    vf_quiesce(f);
    assert_true(vf_status(f) & NRESET);
    /* the driver resets and starts again (rmmod/insmod): the device works */
    vf_bringup(f, V1, 1);
    assert_int_equal(vf_status(f), ACK | DRV | FOK | DOK);
    vf_desc(f, 0, 0, VF_BUF, 32, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, 1));
    assert_int_equal(vf_used(f, 0, 0).len, 32);
}

static void reset_clears_device_state(void **state)
{
    struct vfix *f = *state;
    vf_bringup(f, V1, 1);
    vf_set_status(f, 0);
    assert_int_equal(vf_status(f), 0);
    vf_wr(f, COMMON_OFF(queue_select), 2, 0);
    assert_int_equal(vf_rd(f, COMMON_OFF(queue_enable), 2), 0);
    assert_int_equal(vf_rd(f, COMMON_OFF(queue_desc_lo), 4), 0);
    assert_int_equal(vf_rd(f, COMMON_OFF(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
    vf_set_status(f, ACK | DRV);
    vf_wr(f, COMMON_OFF(guest_feature_select), 4, 0);
    assert_int_equal(vf_rd(f, COMMON_OFF(guest_feature), 4), 0);
    /* vector teardown after reset is tolerated (Linux does it on remove) */
    vf_set_status(f, 0);
    vf_wr(f, COMMON_OFF(queue_msix_vector), 2, VIRTIO_MSI_NO_VECTOR);
    vf_wr(f, COMMON_OFF(msix_config), 2, VIRTIO_MSI_NO_VECTOR);
    assert_int_equal(vf_status(f), 0);
}

static void out_of_range_vectors_read_back_none(void **state)
{
    struct vfix *f = *state;
    vf_set_status(f, ACK | DRV);
    vf_set_features(f, V1);
    vf_set_status(f, ACK | DRV | FOK);
    vf_wr(f, COMMON_OFF(msix_config), 2, 7);
    assert_int_equal(vf_rd(f, COMMON_OFF(msix_config), 2), VIRTIO_MSI_NO_VECTOR);
    vf_wr(f, COMMON_OFF(queue_select), 2, 0);
    vf_wr(f, COMMON_OFF(queue_msix_vector), 2, 2);
    assert_int_equal(vf_rd(f, COMMON_OFF(queue_msix_vector), 2), VIRTIO_MSI_NO_VECTOR);
    vf_wr(f, COMMON_OFF(queue_select), 2, 5); /* no such queue */
    assert_int_equal(vf_rd(f, COMMON_OFF(queue_size), 2), 0);
    assert_false(vf_status(f) & NRESET);
}

static void notify_before_driver_ok_is_served_after(void **state)
{
    struct vfix *f = *state;
    vf_set_status(f, 0);
    vf_msix_on(f, 2);
    vf_set_status(f, ACK | DRV);
    vf_set_features(f, V1);
    vf_set_status(f, ACK | DRV | FOK);
    vf_queue(f, 0, 0, 1);
    vf_desc(f, 0, 0, VF_BUF, 8, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0); /* before DRIVER_OK: the I/O thread sees the kick and ignores it */
    vf_quiesce(f);
    assert_int_equal(vf_used_idx(f, 0), 0);
    vf_set_status(f, ACK | DRV | FOK | DOK);
    assert_true(vf_wait_used(f, 0, 1));
}

static void bar_moves_with_the_guest(void **state)
{
    struct vfix *f = *state;
    uint64_t old = f->bar, nbar = LAYOUT_PCI_MMIO32 + 0x100000;
    vf_cfg_write(f, 1, 4, 2, 0); /* decoding off */
    assert_int_equal(vf_rd(f, COMMON_OFF(num_queues), 2), 0xffff);
    vf_cfg_write(f, 1, 0x10, 4, (uint32_t)nbar | 4);
    vf_cfg_write(f, 1, 0x14, 4, 0);
    vf_cfg_write(f, 1, 4, 2, 2); /* decoding on */
    vf_probe(f, 1);
    assert_int_equal(f->bar, nbar);
    assert_int_equal(vf_rd(f, COMMON_OFF(num_queues), 2), 1);
    uint64_t v = 0;
    assert_int_equal(io_bus_access(&f->vm.mmio, old, (uint8_t *)&v, 2, false), -ENOENT);
    vf_bringup(f, V1, 1);
    vf_desc(f, 0, 0, VF_BUF, 8, VRING_DESC_F_WRITE, 0);
    vf_offer(f, 0, 0);
    assert_true(vf_wait_used(f, 0, 1));
}

/* VIRTIO_PCI_CAP_PCI_CFG (iPXE needs it): BAR bytes through config space — reads and writes of
 * device_status and the queue size; out-of-range or odd lengths read zero and write nothing. */
static void pci_cfg_access_window(void **state)
{
    struct vfix *f = *state;
    unsigned cap = 0;
    for (unsigned p = vf_cfg_read(f, 1, 0x34, 1); p && !cap; p = vf_cfg_read(f, 1, p + 1, 1))
        if (vf_cfg_read(f, 1, p, 1) == 0x09 &&
            vf_cfg_read(f, 1, p + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
            cap = p;
    assert_true(cap != 0);
    assert_int_equal(vf_cfg_read(f, 1, cap + 2, 1), sizeof(struct virtio_pci_cfg_cap));
    unsigned data = cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
    vf_set_status(f, ACK | DRV);
    vf_cfg_write(f, 1, cap + 4, 1, 0);                         /* BAR 0 */
    vf_cfg_write(f, 1, cap + 8, 4, COMMON_OFF(device_status)); /* offset */
    vf_cfg_write(f, 1, cap + 12, 4, 1);                        /* length */
    assert_int_equal(vf_cfg_read(f, 1, data, 1), ACK | DRV);
    vf_cfg_write(f, 1, data, 1, 0); /* reset through the window */
    assert_int_equal(vf_status(f), 0);
    vf_cfg_write(f, 1, cap + 8, 4, COMMON_OFF(queue_size));
    vf_cfg_write(f, 1, cap + 12, 4, 2);
    assert_int_equal(vf_cfg_read(f, 1, data, 2), 64);
    assert_int_equal(vf_cfg_read(f, 1, data, 4), 64);
    vf_cfg_write(f, 1, cap + 12, 4, 3); /* not 1, 2 or 4 */
    assert_int_equal(vf_cfg_read(f, 1, data, 4), 0);
    vf_cfg_write(f, 1, cap + 12, 4, 4);
    vf_cfg_write(f, 1, cap + 8, 4, 0x10000); /* past the BAR */
    assert_int_equal(vf_cfg_read(f, 1, data, 4), 0);
    vf_cfg_write(f, 1, cap + 4, 1, 3); /* another BAR */
    vf_cfg_write(f, 1, cap + 8, 4, COMMON_OFF(queue_size));
    assert_int_equal(vf_cfg_read(f, 1, data, 4), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(identity_and_layout),
        T(request_served_with_msix),
        T(no_interrupt_without_used_buffers),
        T(intx_and_isr_without_msix),
        T(masked_vector_is_pending_then_delivered),
        T(features_must_be_subset_with_version_1),
        T(queue_config_outside_window_needs_reset),
        T(status_order_enforced),
        T(bad_queue_size_and_rings),
        T(hostile_ring_needs_reset_then_recovers),
        T(reset_clears_device_state),
        T(out_of_range_vectors_read_back_none),
        T(notify_before_driver_ok_is_served_after),
        T(bar_moves_with_the_guest),
        T(pci_cfg_access_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
