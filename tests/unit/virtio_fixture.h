/* virtio_fixture.h — a hand-built VM with a PCI bus and I/O thread, and a tiny virtio-pci driver.
 */
#ifndef TRUCE_TEST_VIRTIO_FIXTURE_H
#define TRUCE_TEST_VIRTIO_FIXTURE_H

#include <linux/virtio_pci.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "bus/pci.h"
#include "dev/dev.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define VF_RAM     (64 * MiB)
#define VF_RING(q) (0x100000ULL + 0x10000ULL * (q)) /* desc; avail +0x4000; used +0x8000 */
#define VF_BUF     0x800000ULL

struct vfix {
    struct vm vm; /* first: the irq hooks find the fixture from the vm pointer */
    pthread_t loop_thread;
    bool loop_running;
    unsigned slot;
    uint64_t bar;
    uint32_t common, isr, devcfg, notify, notify_mult;
    uint8_t msix_cap;
    atomic_int msis;
    atomic_uint last_msi_data;
    atomic_int line[32];
    uint16_t avail_idx[VIRTIO_MAX_QUEUES];
    uint16_t qsize[VIRTIO_MAX_QUEUES];
};

static int vf_msi(struct vm *vm, uint64_t addr, uint32_t data)
{
    struct vfix *f = (struct vfix *)vm;
    atomic_store(&f->last_msi_data, data);
    atomic_fetch_add(&f->msis, 1);
    return 0;
}

static int vf_line(struct vm *vm, uint32_t gsi, int level)
{
    struct vfix *f = (struct vfix *)vm;
    if (gsi < 32)
        atomic_store(&f->line[gsi], level);
    return 0;
}

static void *vf_loop(void *arg)
{
    evloop_run(arg);
    return NULL;
}

/* Build the VM: RAM, buses, PCI host bridge, I/O thread. */
static inline void vf_init(struct vfix *f)
{
    memset(f, 0, sizeof(*f));
    f->vm.fd = -1;
    f->vm.stop_pipe[0] = f->vm.stop_pipe[1] = -1;
    pthread_mutex_init(&f->vm.lock, NULL);
    pthread_cond_init(&f->vm.cond, NULL);
    assert_int_equal(guest_mem_init(&f->vm.mem, VF_RAM, false), 0);
    io_bus_init(&f->vm.pio, "pio");
    io_bus_init(&f->vm.mmio, "mmio");
    f->vm.loop = evloop_new();
    assert_non_null(f->vm.loop);
    assert_int_equal(pci_bus_create(&f->vm), 0);
    f->vm.pci->irq.msi = vf_msi;
    f->vm.pci->irq.line = vf_line;
    assert_int_equal(pthread_create(&f->loop_thread, NULL, vf_loop, f->vm.loop), 0);
    f->loop_running = true;
}

static inline void vf_fini(struct vfix *f)
{
    devices_stop(&f->vm);
    if (f->loop_running) {
        evloop_stop(f->vm.loop);
        pthread_join(f->loop_thread, NULL);
    }
    devices_destroy(&f->vm);
    pci_bus_destroy(&f->vm);
    evloop_free(f->vm.loop);
    io_bus_free(&f->vm.pio);
    io_bus_free(&f->vm.mmio);
    guest_mem_free(&f->vm.mem);
}

/* One evloop_call barrier: DONE is set (under LOCK) when the I/O thread runs it. */
struct vf_barrier {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void vf_barrier_cb(void *opaque)
{
    struct vf_barrier *b = opaque;
    pthread_mutex_lock(&b->lock);
    b->done = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

/* Run one barrier through the I/O thread and wait until it ran. */
static inline void vf_barrier(struct vfix *f)
{
    struct vf_barrier b = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    assert_int_equal(evloop_call(f->vm.loop, vf_barrier_cb, &b), 0);
    pthread_mutex_lock(&b.lock);
    while (!b.done)
        pthread_cond_wait(&b.cond, &b.lock);
    pthread_mutex_unlock(&b.lock);
    pthread_cond_destroy(&b.cond);
    pthread_mutex_destroy(&b.lock);
}

/* Wait until the I/O thread has handled every notification made before this call (and the
 * interrupts they send). An fd made ready before the first barrier is reported by the same
 * epoll_wait as that barrier or an earlier one; the second barrier runs in a later loop
 * iteration, after that whole batch was dispatched. */
static inline void vf_quiesce(struct vfix *f)
{
    vf_barrier(f);
    vf_barrier(f);
}

/* ---- config space through ECAM, BAR registers through the MMIO bus ---- */
static inline uint32_t vf_cfg_read(struct vfix *f, unsigned slot, unsigned off, unsigned size)
{
    uint8_t d[4] = {0};
    io_bus_access(&f->vm.mmio, LAYOUT_PCI_ECAM + ((uint64_t)slot << 15) + off, d, size, false);
    return d[0] | d[1] << 8 | d[2] << 16 | (uint32_t)d[3] << 24;
}

static inline void vf_cfg_write(struct vfix *f, unsigned slot, unsigned off, unsigned size,
                                uint32_t v)
{
    uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    io_bus_access(&f->vm.mmio, LAYOUT_PCI_ECAM + ((uint64_t)slot << 15) + off, d, size, true);
}

static inline uint64_t vf_rd(struct vfix *f, uint32_t off, unsigned size)
{
    uint64_t v = 0;
    io_bus_access(&f->vm.mmio, f->bar + off, (uint8_t *)&v, size, false);
    return v;
}

static inline void vf_wr(struct vfix *f, uint32_t off, unsigned size, uint64_t v)
{
    io_bus_access(&f->vm.mmio, f->bar + off, (uint8_t *)&v, size, true);
}

#define COMMON_OFF(field) (f->common + offsetof(struct virtio_pci_common_cfg, field))

/* Find the virtio function in SLOT: its BAR and the structures its capabilities describe. */
static inline void vf_probe(struct vfix *f, unsigned slot)
{
    f->slot = slot;
    assert_int_equal(vf_cfg_read(f, slot, 0, 2), 0x1af4);
    uint32_t lo = vf_cfg_read(f, slot, 0x10, 4), hi = vf_cfg_read(f, slot, 0x14, 4);
    f->bar = ((uint64_t)hi << 32) | (lo & ~0xfu);
    assert_true(vf_cfg_read(f, slot, 0x06, 2) & 0x10);
    for (unsigned p = vf_cfg_read(f, slot, 0x34, 1), n = 0; p && n < 48;
         p = vf_cfg_read(f, slot, p + 1, 1), n++) {
        uint8_t id = (uint8_t)vf_cfg_read(f, slot, p, 1);
        if (id == 0x11)
            f->msix_cap = (uint8_t)p;
        if (id != 0x09)
            continue;
        uint8_t type = (uint8_t)vf_cfg_read(f, slot, p + 3, 1);
        uint32_t off = vf_cfg_read(f, slot, p + 8, 4);
        if (type == VIRTIO_PCI_CAP_COMMON_CFG)
            f->common = off;
        else if (type == VIRTIO_PCI_CAP_ISR_CFG)
            f->isr = off;
        else if (type == VIRTIO_PCI_CAP_DEVICE_CFG)
            f->devcfg = off;
        else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
            f->notify = off;
            f->notify_mult = vf_cfg_read(f, slot, p + 16, 4);
        }
    }
    assert_true(f->isr && f->notify && f->msix_cap);
}

/* Enable MSI-X with vector V sending data 0x40 + V, unmasked. */
static inline void vf_msix_on(struct vfix *f, unsigned nvec)
{
    vf_cfg_write(f, f->slot, f->msix_cap + 2, 2, 0x8000);
    for (unsigned v = 0; v < nvec; v++) {
        vf_wr(f, 0x4000 + 16 * v, 4, 0xfee00000);
        vf_wr(f, 0x4000 + 16 * v + 4, 4, 0);
        vf_wr(f, 0x4000 + 16 * v + 8, 4, 0x40 + v);
        vf_wr(f, 0x4000 + 16 * v + 12, 4, 0);
    }
}

static inline uint64_t vf_features(struct vfix *f)
{
    vf_wr(f, COMMON_OFF(device_feature_select), 4, 0);
    uint64_t lo = vf_rd(f, COMMON_OFF(device_feature), 4);
    vf_wr(f, COMMON_OFF(device_feature_select), 4, 1);
    return lo | vf_rd(f, COMMON_OFF(device_feature), 4) << 32;
}

static inline void vf_set_features(struct vfix *f, uint64_t feat)
{
    vf_wr(f, COMMON_OFF(guest_feature_select), 4, 0);
    vf_wr(f, COMMON_OFF(guest_feature), 4, (uint32_t)feat);
    vf_wr(f, COMMON_OFF(guest_feature_select), 4, 1);
    vf_wr(f, COMMON_OFF(guest_feature), 4, feat >> 32);
}

static inline uint8_t vf_status(struct vfix *f)
{
    return (uint8_t)vf_rd(f, COMMON_OFF(device_status), 1);
}

static inline void vf_set_status(struct vfix *f, uint8_t s)
{
    vf_wr(f, COMMON_OFF(device_status), 1, s);
}

/* Configure queue Q with SIZE entries at VF_RING(Q), MSI-X vector VEC, and enable it. */
static inline void vf_queue(struct vfix *f, unsigned q, uint16_t size, uint16_t vec)
{
    vf_wr(f, COMMON_OFF(queue_select), 2, q);
    if (size)
        vf_wr(f, COMMON_OFF(queue_size), 2, size);
    f->qsize[q] = (uint16_t)vf_rd(f, COMMON_OFF(queue_size), 2);
    vf_wr(f, COMMON_OFF(queue_msix_vector), 2, vec);
    vf_wr(f, COMMON_OFF(queue_desc_lo), 4, VF_RING(q));
    vf_wr(f, COMMON_OFF(queue_desc_hi), 4, 0);
    vf_wr(f, COMMON_OFF(queue_avail_lo), 4, VF_RING(q) + 0x4000);
    vf_wr(f, COMMON_OFF(queue_avail_hi), 4, 0);
    vf_wr(f, COMMON_OFF(queue_used_lo), 4, VF_RING(q) + 0x8000);
    vf_wr(f, COMMON_OFF(queue_used_hi), 4, 0);
    vf_wr(f, COMMON_OFF(queue_enable), 2, 1);
    f->avail_idx[q] = 0;
    void *ring = gpa_to_hva(&f->vm.mem, VF_RING(q), 0xc000);
    memset(ring, 0, 0xc000);
}

/* Whole driver bring-up: reset, ACK, DRIVER, FEATURES, NQ queues, DRIVER_OK (MSI-X on). */
static inline void vf_bringup(struct vfix *f, uint64_t feat, unsigned nq)
{
    vf_set_status(f, 0);
    vf_msix_on(f, nq + 1);
    vf_set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE);
    vf_set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    vf_set_features(f, feat);
    vf_set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                         VIRTIO_CONFIG_S_FEATURES_OK);
    assert_true(vf_status(f) & VIRTIO_CONFIG_S_FEATURES_OK);
    vf_wr(f, COMMON_OFF(msix_config), 2, 0);
    for (unsigned q = 0; q < nq; q++)
        vf_queue(f, q, 0, (uint16_t)(q + 1));
    vf_set_status(f, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                         VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

static inline void vf_desc(struct vfix *f, unsigned q, unsigned i, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next)
{
    struct vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
    assert_int_equal(guest_mem_write(&f->vm.mem, VF_RING(q) + 16 * i, &d, sizeof(d)), 0);
}

/* Offer HEAD on queue Q and notify the device. */
/* Publish HEAD in queue Q's available ring without notifying the device (a batch: vf_notify once
 * after its last chain). */
static inline void vf_offer_quiet(struct vfix *f, unsigned q, uint16_t head)
{
    uint16_t slot = f->avail_idx[q] % f->qsize[q];
    guest_mem_write(&f->vm.mem, VF_RING(q) + 0x4000 + 4 + 2 * slot, &head, 2);
    f->avail_idx[q]++;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    guest_mem_write(&f->vm.mem, VF_RING(q) + 0x4000 + 2, &f->avail_idx[q], 2);
}

static inline void vf_notify(struct vfix *f, unsigned q)
{
    vf_wr(f, f->notify + q * f->notify_mult, 2, q);
}

static inline void vf_offer(struct vfix *f, unsigned q, uint16_t head)
{
    vf_offer_quiet(f, q, head);
    vf_notify(f, q);
}

static inline uint16_t vf_used_idx(struct vfix *f, unsigned q)
{
    uint16_t v;
    guest_mem_read(&f->vm.mem, VF_RING(q) + 0x8000 + 2, &v, 2);
    return v;
}

static inline struct vring_used_elem vf_used(struct vfix *f, unsigned q, uint16_t i)
{
    struct vring_used_elem e;
    guest_mem_read(&f->vm.mem, VF_RING(q) + 0x8000 + 4 + 8 * (i % f->qsize[q]), &e, sizeof(e));
    return e;
}

/* Wait (bounded, generous) until queue Q's used index reaches IDX. Returns true when it did. */
static inline bool vf_wait_used(struct vfix *f, unsigned q, uint16_t idx)
{
    for (int i = 0; i < 10000; i++) {
        if (__atomic_load_n((uint16_t *)gpa_to_hva(&f->vm.mem, VF_RING(q) + 0x8002, 2),
                            __ATOMIC_ACQUIRE) == idx)
            return true;
        usleep(1000);
    }
    return false;
}

#endif
