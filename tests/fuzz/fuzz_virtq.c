/* fuzz_virtq.c — libFuzzer target: the virtqueue walker and the virtio-blk request parser on rings
 * whose every byte (descriptors, indirect tables, avail ring, request headers) comes from input. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_sandbox.h"
#include "virtio/blk.h"
#include "vm/vm.h"

#define RAM        (16 * MiB)
#define DESC       0x1000ULL
#define AVAIL      0x3000ULL
#define USED       0x4000ULL
#define ARENA      0x8000ULL /* buffers and indirect tables live here */
#define ARENA_SIZE 0x10000ULL

static struct vm vm;
static struct virtio_blk blk;

/* Take N bytes from the input (zeros once it runs out). */
static void take(const uint8_t **p, size_t *left, void *dst, size_t n)
{
    size_t k = n < *left ? n : *left;
    memcpy(dst, *p, k);
    memset((uint8_t *)dst + k, 0, n - k);
    *p += k;
    *left -= k;
}

/* Where a descriptor's address points: top-bit ones stay wild; bit 62 points into the queue's own
 * descriptor table (an indirect table aliasing the ring, a buffer overlapping descriptors); the
 * rest land in the arena, where chains, buffers and indirect tables are built from the input. */
static uint64_t place(uint64_t a)
{
    if (a >> 63)
        return a;
    if ((a >> 62) & 1)
        return DESC + (a & 0xfff);
    return ARENA + a % ARENA_SIZE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vm.mem.nr && guest_mem_init(&vm.mem, RAM, false) < 0)
        return 0;
    uint8_t *ram = gpa_to_hva(&vm.mem, 0, ARENA + ARENA_SIZE);
    memset(ram, 0, ARENA + ARENA_SIZE);
    uint8_t hdr[4];
    take(&data, &size, hdr, sizeof(hdr));
    uint16_t qsize = (uint16_t)(1u << (hdr[0] % 9)); /* 1..256 */
    uint64_t features = VIRTIO_TRANSPORT_FEATURES & ~((uint64_t)(hdr[1] & 3) << 28);
    struct vring_desc d;
    for (unsigned i = 0; i < qsize; i++) {
        take(&data, &size, &d, sizeof(d));
        d.addr = place(d.addr);
        memcpy(ram + DESC + 16 * i, &d, sizeof(d));
    }
    take(&data, &size, ram + AVAIL, 4 + 2 * (size_t)qsize + 2);
    take(&data, &size, ram + ARENA, size < ARENA_SIZE ? size : ARENA_SIZE);

    static const struct virtio_dev_ops ops = {0};
    virtio_dev_init(&blk.vdev, &vm, "fuzz", VIRTIO_ID_BLOCK, 0, 0, 1, 256, 0, &ops, NULL);
    blk.vdev.guest_features = features | 1ULL << VIRTIO_BLK_F_FLUSH | 1ULL << VIRTIO_BLK_F_DISCARD |
                              1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
    blk.capacity = hdr[2] * 8ULL;
    blk.readonly = hdr[3] & 1;
    struct virtq *q = &blk.vdev.vq[0];
    q->size = qsize;
    q->desc_gpa = DESC;
    q->avail_gpa = AVAIL;
    q->used_gpa = USED;
    if (virtq_activate(q, &vm.mem, features) == 0) {
        static struct blk_req r;
        for (int n = 0; n < 512; n++) {
            r.chain = (struct virtq_chain){.iov = r.iov, .max_iov = BLK_MAX_IOV};
            if (virtq_pop(q, &r.chain) <= 0)
                break;
            uint8_t st = blk_parse(&blk, &r);
            if (st != BLK_NO_STATUS && r.status)
                *r.status = st;
            virtq_push(q, r.chain.head, r.chain.in_len);
        }
        virtq_should_interrupt(q);
        virtq_enable_notify(q);
    }
    virtio_dev_fini(&blk.vdev);
    return 0;
}
