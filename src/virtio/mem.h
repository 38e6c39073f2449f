/* mem.h — virtio-mem (memory hotplug) for the API: the requested size and the device's state. */
#ifndef TRUCE_VIRTIO_MEM_H
#define TRUCE_VIRTIO_MEM_H

#include <stddef.h>
#include <stdint.h>

struct vm;

struct virtio_mem_status {
    uint64_t gpa;                     /* start of the region */
    uint64_t region_size;             /* the most that can be plugged */
    uint64_t block_size;              /* plug granularity */
    uint64_t slot_size;               /* Firecracker's slot size (reported as configured) */
    uint64_t plugged_size;            /* what the guest has plugged */
    uint64_t requested_size;          /* what the guest is asked to plug */
    uint64_t plugs, unplugs, refused; /* requests acknowledged / refused (NACK or ERROR) */
};

/* The state of VM's virtio-mem device into S. Returns 0, or -ENODEV when the VM has none.
 * Any thread (takes the device lock). */
int virtio_mem_status(struct vm *vm, struct virtio_mem_status *s);
/* Ask the guest to plug BYTES in all (a multiple of the block size, at most the region): the
 * driver is told by a configuration-change interrupt and plugs or unplugs blocks to get there.
 * Returns 0, -ENODEV (no device) or -EINVAL with one line in ERR. Any thread. */
int virtio_mem_request(struct vm *vm, uint64_t bytes, char *err, size_t errlen);

#endif
