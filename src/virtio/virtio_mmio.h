/* virtio_mmio.h — the virtio-mmio transport (virtio 1.2 §4.2, register layout version 2). */
#ifndef TRUCE_VIRTIO_MMIO_H
#define TRUCE_VIRTIO_MMIO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/virtio.h"

/* Registers (§4.2.2): offsets into the device's 4 KiB window. All are 32 bits wide except the
 * device configuration from VMMIO_CONFIG (1, 2, 4 or 8 bytes). */
enum {
    VMMIO_MAGIC = 0x000, /* "virt" */
    VMMIO_VERSION = 0x004,
    VMMIO_DEVICE_ID = 0x008,
    VMMIO_VENDOR_ID = 0x00c,
    VMMIO_DEVICE_FEATURES = 0x010,
    VMMIO_DEVICE_FEATURES_SEL = 0x014,
    VMMIO_DRIVER_FEATURES = 0x020,
    VMMIO_DRIVER_FEATURES_SEL = 0x024,
    VMMIO_QUEUE_SEL = 0x030,
    VMMIO_QUEUE_NUM_MAX = 0x034,
    VMMIO_QUEUE_NUM = 0x038,
    VMMIO_QUEUE_READY = 0x044,
    VMMIO_QUEUE_NOTIFY = 0x050,
    VMMIO_INTERRUPT_STATUS = 0x060,
    VMMIO_INTERRUPT_ACK = 0x064,
    VMMIO_STATUS = 0x070,
    VMMIO_QUEUE_DESC_LOW = 0x080,
    VMMIO_QUEUE_DESC_HIGH = 0x084,
    VMMIO_QUEUE_DRIVER_LOW = 0x090,
    VMMIO_QUEUE_DRIVER_HIGH = 0x094,
    VMMIO_QUEUE_DEVICE_LOW = 0x0a0,
    VMMIO_QUEUE_DEVICE_HIGH = 0x0a4,
    VMMIO_SHM_SEL = 0x0ac,
    VMMIO_SHM_LEN_LOW = 0x0b0,
    VMMIO_SHM_LEN_HIGH = 0x0b4,
    VMMIO_SHM_BASE_LOW = 0x0b8,
    VMMIO_SHM_BASE_HIGH = 0x0bc,
    VMMIO_CONFIG_GENERATION = 0x0fc,
    VMMIO_CONFIG = 0x100,
};
#define VMMIO_MAGIC_VALUE 0x74726976 /* "virt", little-endian */
#define VMMIO_VERSION_2   2
#define VMMIO_VENDOR      0x1af4
#define VMMIO_INT_VRING   0x1 /* InterruptStatus: used buffer notification */
#define VMMIO_INT_CONFIG  0x2 /* configuration change */

/* Transport state of one device; the virtio state is in vdev. */
struct virtio_mmio {
    struct virtio_dev *vdev;
    unsigned index; /* N: window LAYOUT_VIRTIO_MMIO + N * 4 KiB, GSI VIRTIO_MMIO_GSI(N) */
    uint64_t base;
    uint32_t gsi;
    bool level; /* the interrupt line is raised (InterruptStatus != 0) */
    /* the line is set through this (irq_line by default; unit tests replace it) */
    int (*line)(struct vm *vm, uint32_t gsi, int level);
    bool ioeventfd[VIRTIO_MAX_QUEUES]; /* KVM ioeventfd with datamatch assigned for the queue */
    _Atomic uint64_t bad_accesses;     /* wrong width, unknown or read-only register: ignored */
    _Atomic uint64_t slow_kicks;       /* QueueNotify writes that came through a vCPU exit */
};

/* Add VDEV as a virtio-mmio device of VM (the next free window and GSI, in creation order), its
 * queue notifications through one eventfd per queue (KVM ioeventfd with datamatch on QueueNotify
 * when KVM is there), its interrupt a level on its GSI held while InterruptStatus is non-zero
 * (lowered, then raised again for each new interrupt, so an edge-programmed pin sees every
 * one). Adds the device_instance. On failure returns <0 with one line in ERR. */
int virtio_mmio_add(struct vm *vm, struct virtio_dev *vdev, char *err, size_t errlen);
/* Register accesses of the device's window (exposed for tests; the MMIO bus calls them). */
void vmmio_read(void *opaque, uint64_t off, uint8_t *data, unsigned size);
void vmmio_write(void *opaque, uint64_t off, const uint8_t *data, unsigned size);
/* tops->interrupt: set InterruptStatus and raise the line with a new edge (lock held). */
void vmmio_interrupt(struct virtio_dev *vdev, struct virtq *q);
/* Make the line follow InterruptStatus (after a reset or restore; lock held). */
void vmmio_irq_sync(struct virtio_mmio *m);
/* The virtio device of instance D when D is a virtio-mmio instance, else NULL. */
struct device_instance;
struct virtio_dev *virtio_mmio_vdev(const struct device_instance *d);
/* Append " virtio_mmio.device=4K@0xADDR:IRQ" for every virtio-mmio device of VM to CMDLINE
 * (LEN bytes, NUL-terminated). Returns 0, or -ENOSPC when it does not fit (CMDLINE unchanged). */
int virtio_mmio_cmdline(struct vm *vm, char *cmdline, size_t len);

#endif
