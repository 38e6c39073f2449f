/* test_virtio_mmio.c — the virtio-mmio transport: a Linux driver's probe, queues, interrupts,
 * reset, hostile register accesses, state round trip, command-line entries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "boot/acpi_tables.h"
#include "statetest.h"
#include "virtio/blk.h"
#include "virtio/virtio_mmio.h"
#include "virtio_fixture.h"

#define ACK    VIRTIO_CONFIG_S_ACKNOWLEDGE
#define DRV    VIRTIO_CONFIG_S_DRIVER
#define FOK    VIRTIO_CONFIG_S_FEATURES_OK
#define DOK    VIRTIO_CONFIG_S_DRIVER_OK
#define NRESET VIRTIO_CONFIG_S_NEEDS_RESET
#define BASE   LAYOUT_VIRTIO_MMIO
#define GSI    VIRTIO_MMIO_GSI_BASE

/* A VM on the MMIO transport with one virtio-rng (device 0: first window, GSI 5). */
static struct vfix *mk(void)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.cfg.transport = TRANSPORT_MMIO;
    f->vm.cfg.entropy = true;
    char err[256] = "";
    const struct device_class *cls = device_class_find("virtio-rng");
    assert_non_null(cls);
    assert_int_equal(cls->create(&f->vm, err, sizeof(err)), 0);
    struct virtio_dev *rng = virtio_find(&f->vm, VIRTIO_ID_RNG, NULL);
    assert_non_null(rng);
    ((struct virtio_mmio *)rng->transport)->line = vf_line;
    return f;
}

static int setup(void **state)
{
    *state = mk();
    return 0;
}

static int teardown(void **state)
{
    struct vfix *f = *state;
    vf_fini(f);
    free(f);
    return 0;
}

static struct virtio_mmio *mm(struct vfix *f)
{
    return virtio_find(&f->vm, VIRTIO_ID_RNG, NULL)->transport;
}

static uint32_t rd(struct vfix *f, uint64_t off)
{
    uint32_t v = 0;
    assert_int_equal(io_bus_access(&f->vm.mmio, BASE + off, (uint8_t *)&v, 4, false), 0);
    return v;
}

static void wr(struct vfix *f, uint64_t off, uint32_t v)
{
    assert_int_equal(io_bus_access(&f->vm.mmio, BASE + off, (uint8_t *)&v, 4, true), 0);
}

/* Queue 0 with SIZE entries at VF_RING(0), as Linux's vm_setup_vq does. */
static void setup_queue(struct vfix *f, uint32_t size)
{
    wr(f, VMMIO_QUEUE_SEL, 0);
    assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
    assert_int_equal(rd(f, VMMIO_QUEUE_NUM_MAX), 64);
    wr(f, VMMIO_QUEUE_NUM, size);
    wr(f, VMMIO_QUEUE_DESC_LOW, (uint32_t)VF_RING(0));
    wr(f, VMMIO_QUEUE_DESC_HIGH, 0);
    wr(f, VMMIO_QUEUE_DRIVER_LOW, (uint32_t)VF_RING(0) + 0x4000);
    wr(f, VMMIO_QUEUE_DRIVER_HIGH, 0);
    wr(f, VMMIO_QUEUE_DEVICE_LOW, (uint32_t)VF_RING(0) + 0x8000);
    wr(f, VMMIO_QUEUE_DEVICE_HIGH, 0);
    memset(gpa_to_hva(&f->vm.mem, VF_RING(0), 0xc000), 0, 0xc000);
    wr(f, VMMIO_QUEUE_READY, 1);
    f->qsize[0] = (uint16_t)size;
    f->avail_idx[0] = 0;
}

/* Linux's probe and virtio core bring-up: reset, ACK, DRIVER, features, FEATURES_OK, queue,
 * DRIVER_OK. */
static void bringup(struct vfix *f)
{
    wr(f, VMMIO_STATUS, 0);
    wr(f, VMMIO_STATUS, ACK);
    wr(f, VMMIO_STATUS, ACK | DRV);
    wr(f, VMMIO_DEVICE_FEATURES_SEL, 1);
    uint32_t hi = rd(f, VMMIO_DEVICE_FEATURES);
    assert_true(hi & (1u << (VIRTIO_F_VERSION_1 - 32)));
    wr(f, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VMMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
    wr(f, VMMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, VMMIO_DRIVER_FEATURES, 0);
    wr(f, VMMIO_STATUS, ACK | DRV | FOK);
    assert_int_equal(rd(f, VMMIO_STATUS), ACK | DRV | FOK);
    setup_queue(f, 16);
    wr(f, VMMIO_STATUS, ACK | DRV | FOK | DOK);
    assert_int_equal(rd(f, VMMIO_STATUS), ACK | DRV | FOK | DOK);
}

/* Offer HEAD on queue 0 and notify through QueueNotify (value: the queue index). */
static void offer(struct vfix *f, uint16_t head)
{
    uint16_t slot = f->avail_idx[0] % f->qsize[0];
    guest_mem_write(&f->vm.mem, VF_RING(0) + 0x4000 + 4 + 2 * slot, &head, 2);
    f->avail_idx[0]++;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    guest_mem_write(&f->vm.mem, VF_RING(0) + 0x4000 + 2, &f->avail_idx[0], 2);
    wr(f, VMMIO_QUEUE_NOTIFY, 0);
}

static void probe_registers(void **state)
{
    struct vfix *f = *state;
    assert_int_equal(rd(f, VMMIO_MAGIC), 0x74726976);
    assert_int_equal(rd(f, VMMIO_VERSION), 2);
    assert_int_equal(rd(f, VMMIO_DEVICE_ID), VIRTIO_ID_RNG);
    assert_int_equal(rd(f, VMMIO_VENDOR_ID), 0x1af4);
    wr(f, VMMIO_DEVICE_FEATURES_SEL, 0);
    uint32_t lo = rd(f, VMMIO_DEVICE_FEATURES);
    assert_true(lo & (1u << VIRTIO_RING_F_EVENT_IDX));
    assert_true(lo & (1u << VIRTIO_RING_F_INDIRECT_DESC));
    wr(f, VMMIO_DEVICE_FEATURES_SEL, 1);
    assert_int_equal(rd(f, VMMIO_DEVICE_FEATURES), 1u << (VIRTIO_F_VERSION_1 - 32));
    wr(f, VMMIO_DEVICE_FEATURES_SEL, 7);
    assert_int_equal(rd(f, VMMIO_DEVICE_FEATURES), 0);
    wr(f, VMMIO_QUEUE_SEL, 0);
    assert_int_equal(rd(f, VMMIO_QUEUE_NUM_MAX), 64);
    wr(f, VMMIO_QUEUE_SEL, 1); /* rng has one queue */
    assert_int_equal(rd(f, VMMIO_QUEUE_NUM_MAX), 0);
    assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), 0);
    assert_int_equal(rd(f, VMMIO_STATUS), 0);
    assert_int_equal(rd(f, VMMIO_CONFIG_GENERATION), 0);
    assert_int_equal(rd(f, VMMIO_SHM_LEN_LOW), 0xffffffff); /* no shared memory */
    assert_int_equal(mm(f)->bad_accesses, 0);
    assert_int_equal(mm(f)->gsi, GSI);
}

static void request_interrupt_ack(void **state)
{
    struct vfix *f = *state;
    bringup(f);
    vf_quiesce(f); /* the DRIVER_OK kick saw an empty queue: no interrupt */
    assert_int_equal(atomic_load(&f->line[GSI]), 0);
    vf_desc(f, 0, 0, VF_BUF, 32, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_true(vf_wait_used(f, 0, 1));
    assert_int_equal(vf_used(f, 0, 0).len, 32);
    vf_quiesce(f);
    assert_int_equal(atomic_load(&f->line[GSI]), 1);
    assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), VMMIO_INT_VRING);
    assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), VMMIO_INT_VRING); /* reading keeps it */
    wr(f, VMMIO_INTERRUPT_ACK, VMMIO_INT_VRING);
    assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), 0);
    assert_int_equal(atomic_load(&f->line[GSI]), 0);
    /* a second request raises the line again */
    vf_desc(f, 0, 1, VF_BUF, 8, VRING_DESC_F_WRITE, 0);
    offer(f, 1);
    assert_true(vf_wait_used(f, 0, 2));
    vf_quiesce(f);
    assert_int_equal(atomic_load(&f->line[GSI]), 1);
    assert_int_equal(mm(f)->slow_kicks, 2); /* no KVM here: the write handler kicked */
}

static void reset_clears_everything(void **state)
{
    struct vfix *f = *state;
    bringup(f);
    vf_desc(f, 0, 0, VF_BUF, 8, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_true(vf_wait_used(f, 0, 1));
    vf_quiesce(f);
    assert_int_equal(atomic_load(&f->line[GSI]), 1);
    wr(f, VMMIO_STATUS, 0);
    assert_int_equal(rd(f, VMMIO_STATUS), 0);
    assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS), 0);
    assert_int_equal(atomic_load(&f->line[GSI]), 0);
    wr(f, VMMIO_QUEUE_SEL, 0);
    assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
    /* Linux deletes its queues after the reset: QueueReady 0 reads back 0, no error */
    wr(f, VMMIO_QUEUE_READY, 0);
    assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
    bringup(f); /* and the device comes up again */
    vf_desc(f, 0, 0, VF_BUF, 8, VRING_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_true(vf_wait_used(f, 0, 1));
}

static void hostile_accesses(void **state)
{
    struct vfix *f = *state;
    struct virtio_mmio *m = mm(f);
    uint64_t v = 0;
    /* wrong widths and unaligned offsets: ignored, counted, read as 0 */
    assert_int_equal(io_bus_access(&f->vm.mmio, BASE + VMMIO_MAGIC, (uint8_t *)&v, 2, false), 0);
    assert_int_equal(v, 0);
    assert_int_equal(io_bus_access(&f->vm.mmio, BASE + VMMIO_MAGIC, (uint8_t *)&v, 8, false), 0);
    assert_int_equal(io_bus_access(&f->vm.mmio, BASE + 0x71, (uint8_t *)&v, 4, false), 0);
    v = 0xff;
    assert_int_equal(io_bus_access(&f->vm.mmio, BASE + VMMIO_STATUS, (uint8_t *)&v, 1, true), 0);
    assert_int_equal(rd(f, VMMIO_STATUS), 0);
    /* read-only and unknown registers */
    wr(f, VMMIO_MAGIC, 0);
    wr(f, VMMIO_QUEUE_NUM_MAX, 4);
    wr(f, 0x0f0, 1);
    assert_int_equal(rd(f, VMMIO_MAGIC), 0x74726976);
    /* config: rng has none */
    assert_int_equal(rd(f, VMMIO_CONFIG), 0);
    wr(f, VMMIO_CONFIG + 0x800, 1);
    /* a notification for a queue that does not exist */
    wr(f, VMMIO_QUEUE_NOTIFY, 5);
    wr(f, VMMIO_QUEUE_NOTIFY, 0xffffffff);
    assert_int_equal(m->bad_accesses, 11);
    assert_int_equal(rd(f, VMMIO_STATUS), 0);
    /* queue setup before FEATURES_OK: the device needs a reset */
    wr(f, VMMIO_STATUS, ACK);
    wr(f, VMMIO_QUEUE_NUM, 16);
    assert_true(rd(f, VMMIO_STATUS) & NRESET);
    /* a size that is not a power of 2, a queue past the last */
    wr(f, VMMIO_STATUS, 0);
    wr(f, VMMIO_STATUS, ACK | DRV);
    wr(f, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VMMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
    wr(f, VMMIO_STATUS, ACK | DRV | FOK);
    wr(f, VMMIO_QUEUE_NUM, 3);
    assert_true(rd(f, VMMIO_STATUS) & NRESET);
    wr(f, VMMIO_STATUS, 0);
    wr(f, VMMIO_STATUS, ACK | DRV);
    wr(f, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VMMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
    wr(f, VMMIO_STATUS, ACK | DRV | FOK);
    wr(f, VMMIO_QUEUE_SEL, 0x12345);
    assert_int_equal(rd(f, VMMIO_QUEUE_NUM_MAX), 0);
    assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
    wr(f, VMMIO_QUEUE_READY, 1);
    assert_true(rd(f, VMMIO_STATUS) & NRESET);
    /* QueueReady with the rings outside guest RAM */
    wr(f, VMMIO_STATUS, 0);
    wr(f, VMMIO_STATUS, ACK | DRV);
    wr(f, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VMMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
    wr(f, VMMIO_STATUS, ACK | DRV | FOK);
    wr(f, VMMIO_QUEUE_SEL, 0);
    wr(f, VMMIO_QUEUE_DESC_LOW, 0);
    wr(f, VMMIO_QUEUE_DESC_HIGH, 0x100); /* 1 TiB: beyond the 64 MiB of RAM */
    wr(f, VMMIO_QUEUE_READY, 1);
    assert_true(rd(f, VMMIO_STATUS) & NRESET);
    assert_int_equal(rd(f, VMMIO_QUEUE_READY), 0);
    /* features written after FEATURES_OK; status bits cleared without a reset */
    wr(f, VMMIO_STATUS, 0);
    bringup(f);
    wr(f, VMMIO_DRIVER_FEATURES, 0);
    assert_true(rd(f, VMMIO_STATUS) & NRESET);
    wr(f, VMMIO_STATUS, 0);
    bringup(f);
    wr(f, VMMIO_QUEUE_READY, 0); /* on a live queue */
    assert_true(rd(f, VMMIO_STATUS) & NRESET);
    wr(f, VMMIO_QUEUE_SEL, 0);
    assert_int_equal(rd(f, VMMIO_QUEUE_READY), 1);
    /* DEVICE_NEEDS_RESET is a config-change interrupt on a live device */
    assert_int_equal(rd(f, VMMIO_INTERRUPT_STATUS) & VMMIO_INT_CONFIG, VMMIO_INT_CONFIG);
    wr(f, VMMIO_STATUS, 0);
    assert_int_equal(rd(f, VMMIO_STATUS), 0);
    assert_int_equal(atomic_load(&f->line[GSI]), 0);
}

/* A live device with a pending interrupt saves, restores into a fresh VM, saves the same bytes;
 * the restored device serves the next request and its line is up as the status says. */
static void state_roundtrip(void **state)
{
    struct vfix *a = *state;
    bringup(a);
    vf_desc(a, 0, 0, VF_BUF, 8, VRING_DESC_F_WRITE, 0);
    offer(a, 0);
    assert_true(vf_wait_used(a, 0, 1));
    vf_quiesce(a);
    struct vfix *b = mk();
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    assert_string_equal(da->ops->name, "virtio-mmio");
    devices_pause(&a->vm);
    devices_pause(&b->vm);
    memcpy(gpa_to_hva(&b->vm.mem, 0, VF_RAM), gpa_to_hva(&a->vm.mem, 0, VF_RAM), VF_RAM);
    size_t len;
    uint8_t *buf = st_roundtrip(da, db, &len);
    st_reject_header(db, buf, len);
    devices_resume(&b->vm);
    assert_int_equal(atomic_load(&b->line[GSI]), 1);
    wr(b, VMMIO_QUEUE_SEL, 0);
    assert_int_equal(rd(b, VMMIO_QUEUE_READY), 1);
    assert_int_equal(rd(b, VMMIO_STATUS), ACK | DRV | FOK | DOK);
    assert_int_equal(rd(b, VMMIO_INTERRUPT_STATUS), VMMIO_INT_VRING);
    b->qsize[0] = 16;
    b->avail_idx[0] = 1;
    vf_desc(b, 0, 1, VF_BUF, 8, VRING_DESC_F_WRITE, 0);
    offer(b, 1);
    assert_true(vf_wait_used(b, 0, 2));
    free(buf);
    vf_fini(b);
    free(b);
    devices_resume(&a->vm);
}

/* Two devices: consecutive windows and GSIs, both on the command line after the user's part. */
static void placement_and_cmdline(void **state)
{
    struct vfix *f = *state;
    char err[256] = "";
    f->vm.cfg.vsock = (struct vsock_config){.enabled = true, .guest_cid = 3};
    snprintf(f->vm.cfg.vsock.uds_path, sizeof(f->vm.cfg.vsock.uds_path), "/tmp/truce-mmio-%d",
             (int)getpid());
    const struct device_class *cls = device_class_find("virtio-vsock");
    assert_non_null(cls);
    assert_int_equal(cls->create(&f->vm, err, sizeof(err)), 0);
    uint32_t id = 0;
    io_bus_access(&f->vm.mmio, BASE + 0x1000 + VMMIO_DEVICE_ID, (uint8_t *)&id, 4, false);
    assert_int_equal(id, VIRTIO_ID_VSOCK);
    char cmd[160] = "console=ttyS0";
    assert_int_equal(virtio_mmio_cmdline(&f->vm, cmd, sizeof(cmd)), 0);
    assert_string_equal(cmd, "console=ttyS0 virtio_mmio.device=4K@0xc0001000:5 "
                             "virtio_mmio.device=4K@0xc0002000:6"); /* as Firecracker 1.13+ */
    char small[40] = "console=ttyS0";
    assert_int_equal(virtio_mmio_cmdline(&f->vm, small, sizeof(small)), -ENOSPC);
    assert_string_equal(small, "console=ttyS0");
    unlink(f->vm.cfg.vsock.uds_path);
}

/* Count the occurrences of NEEDLE (N bytes) in HAY (LEN bytes). */
static unsigned count(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
    unsigned c = 0;
    for (size_t i = 0; i + n <= len; i++)
        c += !memcmp(hay + i, needle, n);
    return c;
}

/* The DSDT describes each device as Linux's virtio_mmio ACPI match wants it: _HID LNRO0005, its
 * window (Memory32Fixed) and its GSI (level, active-high Interrupt). */
static void dsdt_devices(void **state)
{
    struct vfix *f = *state;
    static uint8_t buf[64 * 1024];
    int len = dsdt_build(&f->vm, buf, sizeof(buf));
    assert_true(len > 0);
    assert_int_equal(count(buf, (size_t)len, "LNRO0005", 8), 1);
    const uint8_t mem[] = {0x86, 9, 0, 1, 0x00, 0x10, 0x00, 0xc0, 0x00, 0x10, 0, 0};
    const uint8_t irq[] = {0x89, 6, 0, 0x01, 1, GSI, 0, 0, 0};
    assert_int_equal(count(buf, (size_t)len, mem, sizeof(mem)), 1);
    assert_int_equal(count(buf, (size_t)len, irq, sizeof(irq)), 1);
    /* a VM on PCI has none */
    struct vfix *p = calloc(1, sizeof(*p));
    vf_init(p);
    len = dsdt_build(&p->vm, buf, sizeof(buf));
    assert_true(len > 0);
    assert_int_equal(count(buf, (size_t)len, "LNRO0005", 8), 0);
    vf_fini(p);
    free(p);
}

static void gsi_numbering(void **state)
{
    (void)state;
    assert_int_equal(VIRTIO_MMIO_GSI(0), 5);
    assert_int_equal(VIRTIO_MMIO_GSI(10), 15);
    assert_int_equal(VIRTIO_MMIO_GSI(11), 20); /* 16-19 are the PCI INTx pins */
    assert_int_equal(VIRTIO_MMIO_GSI(VIRTIO_MMIO_MAX - 1), 23);
    assert_int_equal(LAYOUT_VIRTIO_MMIO, 0xc0001000); /* Firecracker: after its boot timer's page */
    assert_true(LAYOUT_BOOT_TIMER + LAYOUT_BOOT_TIMER_SIZE <= LAYOUT_VIRTIO_MMIO);
    assert_true(LAYOUT_VIRTIO_MMIO + LAYOUT_VIRTIO_MMIO_SIZE <= LAYOUT_PCI_MMIO32);
    assert_true(LAYOUT_PCI_MMIO32 + LAYOUT_PCI_MMIO32_SIZE <= LAYOUT_PCI_ECAM);
}

/* virtio-blk with queues=2 on the MMIO transport: both queues are configured through QueueSel,
 * each is notified by its index through QueueNotify, and requests on each complete on its own
 * ring (one interrupt line for both). */
static void multiqueue_blk(void **state)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.cfg.transport = TRANSPORT_MMIO;
    f->vm.cfg.cpus = 2;
    char path[] = "/tmp/truce-mmio-mq-XXXXXX", err[256] = "";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char sector[512];
    memset(sector, 0x3c, sizeof(sector));
    assert_int_equal(pwrite(fd, sector, sizeof(sector), 512 * 7), 512);
    assert_int_equal(ftruncate(fd, 64 * 1024), 0);
    close(fd);
    struct disk_config *dc = &f->vm.cfg.disks[f->vm.cfg.ndisks++];
    *dc = (struct disk_config){.id = "d0", .queues = 2};
    snprintf(dc->path, sizeof(dc->path), "%s", path);
    assert_int_equal(device_class_find("virtio-blk")->create(&f->vm, err, sizeof(err)), 0);
    struct virtio_dev *vd = virtio_find(&f->vm, VIRTIO_ID_BLOCK, NULL);
    ((struct virtio_mmio *)vd->transport)->line = vf_line;
    wr(f, VMMIO_STATUS, 0);
    wr(f, VMMIO_STATUS, ACK | DRV);
    wr(f, VMMIO_DEVICE_FEATURES_SEL, 0);
    assert_true(rd(f, VMMIO_DEVICE_FEATURES) & 1u << 12);   /* VIRTIO_BLK_F_MQ */
    assert_int_equal(rd(f, VMMIO_CONFIG + 34) & 0xffff, 2); /* num_queues */
    wr(f, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(f, VMMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
    wr(f, VMMIO_DRIVER_FEATURES_SEL, 0);
    wr(f, VMMIO_DRIVER_FEATURES, 1u << 12);
    wr(f, VMMIO_STATUS, ACK | DRV | FOK);
    for (uint32_t q = 0; q < 2; q++) {
        wr(f, VMMIO_QUEUE_SEL, q);
        wr(f, VMMIO_QUEUE_NUM, 16);
        wr(f, VMMIO_QUEUE_DESC_LOW, (uint32_t)VF_RING(q));
        wr(f, VMMIO_QUEUE_DRIVER_LOW, (uint32_t)VF_RING(q) + 0x4000);
        wr(f, VMMIO_QUEUE_DEVICE_LOW, (uint32_t)VF_RING(q) + 0x8000);
        memset(gpa_to_hva(&f->vm.mem, VF_RING(q), 0xc000), 0, 0xc000);
        wr(f, VMMIO_QUEUE_READY, 1);
        f->qsize[q] = 16;
    }
    wr(f, VMMIO_QUEUE_SEL, 2);
    assert_int_equal(rd(f, VMMIO_QUEUE_NUM_MAX), 0); /* no third queue */
    wr(f, VMMIO_STATUS, ACK | DRV | FOK | DOK);
    assert_int_equal(rd(f, VMMIO_STATUS), ACK | DRV | FOK | DOK);
    for (int round = 0; round < 2; round++)
        for (unsigned q = 2; q-- > 0;) { /* queue 1 first */
            uint64_t hdr = VF_BUF + 0x10000 * q, data = hdr + 0x1000, st = hdr + 0x100;
            struct virtio_blk_outhdr h = {.type = VIRTIO_BLK_T_IN, .sector = 7};
            guest_mem_write(&f->vm.mem, hdr, &h, sizeof(h));
            memset(gpa_to_hva(&f->vm.mem, data, 512), 0, 512);
            vf_desc(f, q, 0, hdr, sizeof(h), VRING_DESC_F_NEXT, 1);
            vf_desc(f, q, 1, data, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
            vf_desc(f, q, 2, st, 1, VRING_DESC_F_WRITE, 0);
            uint16_t slot = f->avail_idx[q] % f->qsize[q], head = 0;
            guest_mem_write(&f->vm.mem, VF_RING(q) + 0x4000 + 4 + 2 * slot, &head, 2);
            f->avail_idx[q]++;
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            guest_mem_write(&f->vm.mem, VF_RING(q) + 0x4000 + 2, &f->avail_idx[q], 2);
            wr(f, VMMIO_QUEUE_NOTIFY, q);
            assert_true(vf_wait_used(f, q, f->avail_idx[q]));
            uint8_t status = 0xff;
            guest_mem_read(&f->vm.mem, st, &status, 1);
            assert_int_equal(status, VIRTIO_BLK_S_OK);
            assert_int_equal(*(uint8_t *)gpa_to_hva(&f->vm.mem, data + 511, 1), 0x3c);
        }
    assert_true(rd(f, VMMIO_INTERRUPT_STATUS) & 1); /* the used-buffer interrupt */
    vf_fini(f);
    free(f);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(probe_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(request_interrupt_ack, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_clears_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_accesses, setup, teardown),
        cmocka_unit_test_setup_teardown(state_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(placement_and_cmdline, setup, teardown),
        cmocka_unit_test_setup_teardown(dsdt_devices, setup, teardown),
        cmocka_unit_test(gsi_numbering),
        cmocka_unit_test(multiqueue_blk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
