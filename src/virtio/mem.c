/* mem.c — virtio-mem: a hotplug memory region above RAM that the guest plugs and unplugs in
 * blocks; unplugged blocks go back to the host (MADV_DONTNEED). */
#include <errno.h>
#include <linux/virtio_mem.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dev/dev.h"
#include "util/state.h"
#include "virtio/mem.h"
#include "virtio/virtio.h"
#include "vm/vm.h"

#define MEM_QUEUE_SIZE 64
#define MEM_MAX_IOV    8

_Static_assert(sizeof(struct virtio_mem_req) == 24, "virtio-mem request layout");
_Static_assert(sizeof(struct virtio_mem_resp) == 10, "virtio-mem response layout");
_Static_assert(sizeof(struct virtio_mem_config) == 56, "virtio-mem config layout");

struct virtio_mem {
    struct virtio_dev vdev;
    uint8_t *map; /* region_size bytes, anonymous, MAP_NORESERVE */
    uint64_t gpa, region_size, block_size, slot_size;
    uint64_t nblocks;
    uint64_t *plugged; /* bitmap of nblocks bits */
    uint64_t plugged_size, requested_size;
    uint64_t staged_requested; /* loaded by state_visit, made current by state_commit */
    uint64_t plugs, unplugs, refused;
};

static bool block_plugged(const struct virtio_mem *m, uint64_t b)
{
    return m->plugged[b / 64] >> (b % 64) & 1;
}

static void block_set(struct virtio_mem *m, uint64_t b, bool on)
{
    if (on)
        m->plugged[b / 64] |= 1ULL << (b % 64);
    else
        m->plugged[b / 64] &= ~(1ULL << (b % 64));
}

static void mem_config_read(void *opaque, uint32_t off, uint8_t *data, unsigned size)
{
    struct virtio_mem *m = opaque;
    struct virtio_mem_config c = {
        .block_size = htole64(m->block_size),
        .addr = htole64(m->gpa),
        .region_size = htole64(m->region_size),
        .usable_region_size = htole64(m->region_size),
        .plugged_size = htole64(m->plugged_size),
        .requested_size = htole64(m->requested_size),
    };
    memcpy(data, (uint8_t *)&c + off, size);
}

/* The first block of [ADDR, ADDR + NB blocks) in *FIRST when the range is NB >= 1 whole blocks
 * inside the region; false otherwise (nothing the guest sends is trusted). */
static bool mem_range(const struct virtio_mem *m, uint64_t addr, uint16_t nb, uint64_t *first)
{
    if (!nb || addr < m->gpa || addr % m->block_size)
        return false;
    uint64_t b = (addr - m->gpa) / m->block_size;
    if (b >= m->nblocks || nb > m->nblocks - b)
        return false;
    *first = b;
    return true;
}

/* How many blocks of [FIRST, FIRST + NB) are plugged. */
static uint64_t count_plugged(const struct virtio_mem *m, uint64_t first, uint64_t nb)
{
    uint64_t n = 0;
    for (uint64_t b = first; b < first + nb; b++)
        n += block_plugged(m, b);
    return n;
}

/* Give NB blocks from FIRST back to the host: their contents are gone, the guest reads zeros. */
static void mem_discard(struct virtio_mem *m, uint64_t first, uint64_t nb)
{
    madvise(m->map + first * m->block_size, nb * m->block_size, MADV_DONTNEED);
}

static uint16_t mem_plug(struct virtio_mem *m, uint64_t addr, uint16_t nb, bool plug)
{
    uint64_t first;
    if (!mem_range(m, addr, nb, &first))
        return VIRTIO_MEM_RESP_ERROR;
    uint64_t size = (uint64_t)nb * m->block_size;
    if (count_plugged(m, first, nb) != (plug ? 0 : nb))
        return VIRTIO_MEM_RESP_ERROR; /* plugging plugged or unplugging unplugged memory */
    if (plug && size > m->requested_size - MIN(m->requested_size, m->plugged_size))
        return VIRTIO_MEM_RESP_NACK; /* more than asked for */
    if (!plug)
        mem_discard(m, first, nb);
    for (uint64_t b = first; b < first + nb; b++)
        block_set(m, b, plug);
    m->plugged_size = plug ? m->plugged_size + size : m->plugged_size - size;
    plug ? m->plugs++ : m->unplugs++;
    return VIRTIO_MEM_RESP_ACK;
}

static void mem_unplug_all(struct virtio_mem *m)
{
    mem_discard(m, 0, m->nblocks);
    memset(m->plugged, 0, (m->nblocks + 63) / 64 * 8);
    m->plugged_size = 0;
    m->unplugs++;
}

/* Answer the request in C into R. */
static void mem_handle(struct virtio_mem *m, const struct virtq_chain *c, struct virtio_mem_resp *r)
{
    struct virtio_mem_req q;
    r->type = htole16(VIRTIO_MEM_RESP_ERROR);
    if (virtq_chain_read(c, 0, &q, sizeof(q)) != sizeof(q))
        goto refused;
    uint64_t addr = le64toh(q.u.plug.addr), first;
    uint16_t nb = le16toh(q.u.plug.nb_blocks);
    switch (le16toh(q.type)) {
    case VIRTIO_MEM_REQ_PLUG:
    case VIRTIO_MEM_REQ_UNPLUG:
        r->type = htole16(mem_plug(m, addr, nb, le16toh(q.type) == VIRTIO_MEM_REQ_PLUG));
        break;
    case VIRTIO_MEM_REQ_UNPLUG_ALL:
        mem_unplug_all(m);
        r->type = htole16(VIRTIO_MEM_RESP_ACK);
        break;
    case VIRTIO_MEM_REQ_STATE:
        if (!mem_range(m, addr, nb, &first))
            break;
        uint64_t n = count_plugged(m, first, nb);
        r->type = htole16(VIRTIO_MEM_RESP_ACK);
        r->u.state.state = htole16(n == nb  ? VIRTIO_MEM_STATE_PLUGGED
                                   : n == 0 ? VIRTIO_MEM_STATE_UNPLUGGED
                                            : VIRTIO_MEM_STATE_MIXED);
        break;
    }
refused:
    if (le16toh(r->type) != VIRTIO_MEM_RESP_ACK)
        m->refused++;
}

/* One request: answered when the chain has room for the answer, else refused unanswered. */
static bool mem_serve(void *opaque, struct virtq *q, struct virtq_chain *c)
{
    struct virtio_mem *m = opaque;
    struct virtio_mem_resp r = {0};
    if (c->in_len < sizeof(r)) { /* no room for the answer: nothing is done */
        m->refused++;
        virtq_push(q, c->head, 0);
        return true;
    }
    mem_handle(m, c, &r);
    virtq_push(q, c->head, (uint32_t)virtq_chain_write(c, 0, &r, sizeof(r)));
    return true;
}

static void mem_queue_notify(void *opaque, struct virtq *q)
{
    struct iovec iov[MEM_MAX_IOV];
    struct virtq_chain c = {.iov = iov, .max_iov = MEM_MAX_IOV};
    virtq_serve(q, VIRTQ_BUDGET(q), &c, mem_serve, opaque);
}

/* The region must be the one the snapshot had; the requested size is restored (staged). The
 * contents of plugged blocks are not part of a snapshot's memory file, so a device with plugged
 * memory cannot be saved yet. */
static void mem_state_visit(void *opaque, struct state_visitor *v)
{
    struct virtio_mem *m = opaque;
    uint64_t gpa = m->gpa, region = m->region_size, block = m->block_size;
    uint64_t plugged = m->plugged_size, requested = m->requested_size;
    if (!v->loading && plugged) {
        state_fail(v, -ENOTSUP,
                   "virtio-mem: %llu MiB of hotplugged memory is plugged; snapshots of plugged "
                   "memory are not supported yet (PATCH /hotplug/memory to 0 first)",
                   (unsigned long long)(plugged / MiB));
        return;
    }
    if (!state_begin(v, "virtio-mem", 1))
        return;
    STATE_U64(v, gpa);
    STATE_U64(v, region);
    STATE_U64(v, block);
    STATE_U64(v, plugged);
    STATE_U64(v, requested);
    if (v->loading && !state_error(v)) {
        if (gpa != m->gpa || region != m->region_size || block != m->block_size)
            state_fail(v, -EINVAL,
                       "virtio-mem: the region is %llu MiB at 0x%llx in %llu KiB blocks, the "
                       "saved device had %llu MiB at 0x%llx in %llu KiB blocks",
                       (unsigned long long)(m->region_size / MiB), (unsigned long long)m->gpa,
                       (unsigned long long)(m->block_size / KiB),
                       (unsigned long long)(region / MiB), (unsigned long long)gpa,
                       (unsigned long long)(block / KiB));
        else {
            STATE_CHECK(v, plugged == 0);
            STATE_CHECK(v, requested <= region && requested % block == 0);
        }
        if (!state_error(v))
            m->staged_requested = requested;
    }
    state_end(v);
}

static void mem_state_commit(void *opaque)
{
    struct virtio_mem *m = opaque;
    m->requested_size = m->staged_requested;
}

static void mem_destroy(void *opaque)
{
    struct virtio_mem *m = opaque;
    if (m->map)
        munmap(m->map, m->region_size);
    free(m->plugged);
    free(m);
}

static const struct virtio_dev_ops mem_ops = {
    .config_read = mem_config_read,
    .queue_notify = mem_queue_notify,
    .state_visit = mem_state_visit,
    .state_commit = mem_state_commit,
    .destroy = mem_destroy,
};

int virtio_mem_status(struct vm *vm, struct virtio_mem_status *s)
{
    struct virtio_dev *vdev = virtio_find(vm, VIRTIO_ID_MEM, NULL);
    if (!vdev)
        return -ENODEV;
    struct virtio_mem *m = vdev->opaque;
    virtio_lock(vdev);
    *s = (struct virtio_mem_status){
        .gpa = m->gpa,
        .region_size = m->region_size,
        .block_size = m->block_size,
        .slot_size = m->slot_size,
        .plugged_size = m->plugged_size,
        .requested_size = m->requested_size,
        .plugs = m->plugs,
        .unplugs = m->unplugs,
        .refused = m->refused,
    };
    virtio_unlock(vdev);
    return 0;
}

int virtio_mem_request(struct vm *vm, uint64_t bytes, char *err, size_t errlen)
{
    struct virtio_dev *vdev = virtio_find(vm, VIRTIO_ID_MEM, NULL);
    if (!vdev) {
        snprintf(err, errlen, "no hotplug memory is configured");
        return -ENODEV;
    }
    struct virtio_mem *m = vdev->opaque;
    if (bytes > m->region_size || bytes % m->block_size) {
        snprintf(err, errlen,
                 "requested size %llu MiB: must be a multiple of the block size (%llu MiB) and at "
                 "most the total size (%llu MiB)",
                 (unsigned long long)(bytes / MiB), (unsigned long long)(m->block_size / MiB),
                 (unsigned long long)(m->region_size / MiB));
        return -EINVAL;
    }
    virtio_lock(vdev);
    if (m->requested_size != bytes) {
        m->requested_size = bytes;
        if (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)
            virtio_config_changed(vdev);
    }
    virtio_unlock(vdev);
    return 0;
}

static int mem_class_create(struct vm *vm, char *err, size_t errlen)
{
    const struct memhp_config *c = &vm->cfg.memhp;
    if (!c->total_bytes)
        return 0;
    if (config_check_memhp(c, err, errlen))
        return -EINVAL;
    struct virtio_mem *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "virtio-mem: out of memory");
        return -ENOMEM;
    }
    m->region_size = c->total_bytes;
    m->block_size = c->block_bytes;
    m->slot_size = c->slot_bytes;
    m->requested_size = c->requested_bytes;
    m->nblocks = m->region_size / m->block_size;
    m->plugged = calloc((m->nblocks + 63) / 64, 8);
    void *p = mmap(NULL, m->region_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    int rc = 0;
    if (!m->plugged || p == MAP_FAILED) {
        rc = p == MAP_FAILED ? -errno : -ENOMEM;
        snprintf(err, errlen, "virtio-mem: cannot map %llu MiB: %s",
                 (unsigned long long)(m->region_size / MiB), strerror(-rc));
    } else {
        m->map = p;
        madvise(p, m->region_size, MADV_DONTFORK);
        if ((rc = vm_add_device_memory(vm, m->region_size, p, false, &m->gpa)) < 0)
            snprintf(err, errlen, "virtio-mem: no room for %llu MiB of device memory: %s",
                     (unsigned long long)(m->region_size / MiB), strerror(-rc));
    }
    if (rc) {
        mem_destroy(m);
        return rc;
    }
    uint64_t features = 1ULL << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE;
    rc = virtio_dev_init(&m->vdev, vm, "virtio-mem", VIRTIO_ID_MEM, 0x058000, features, 1,
                         MEM_QUEUE_SIZE, sizeof(struct virtio_mem_config), &mem_ops, m);
    if (rc < 0)
        snprintf(err, errlen, "virtio-mem: bad device parameters");
    else
        rc = virtio_dev_add(vm, &m->vdev, err, errlen);
    if (rc < 0) {
        virtio_dev_fini(&m->vdev);
        vm_drop_device_memory(vm);
        mem_destroy(m);
    }
    return rc;
}

static const struct device_class virtio_mem_class = {
    .name = "virtio-mem",
    .order = DEV_ORDER_PCI,
    .create = mem_class_create,
};
DEVICE_CLASS(virtio_mem_class);
