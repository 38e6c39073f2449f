/* queue.c — the split virtqueue walker: the single guarded path from guest descriptors to iovecs.
 */
#include <errno.h>
#include <string.h>

#include "virtio/virtio.h"
#include "vm/vm.h"

/* Ring layout (virtio 1.2 §2.7): avail = flags, idx, ring[size], used_event;
 * used = flags, idx, ring[size] of {id, len}, avail_event. */
#define AVAIL_BYTES(n) (4 + 2 * (uint64_t)(n) + 2)
#define USED_BYTES(n)  (4 + 8 * (uint64_t)(n) + 2)
#define DESC_BYTES(n)  (16 * (uint64_t)(n))

/* Guest memory is written by the driver concurrently: every shared field is read exactly once
 * into a local through these (no re-reads after validation). */
static inline uint16_t load16(const void *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static inline uint16_t load16_acquire(const void *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static inline void store16(void *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

/* Copy descriptor I of TABLE (no alignment assumed: indirect tables come from the guest). */
static void desc_load(const uint8_t *table, unsigned i, struct vring_desc *d)
{
    uint8_t tmp[16];
    const volatile uint8_t *src = table + 16 * (size_t)i;
    for (unsigned k = 0; k < sizeof(tmp); k++)
        tmp[k] = src[k];
    memcpy(d, tmp, sizeof(tmp));
}

int virtq_activate(struct virtq *q, const struct guest_mem *mem, uint64_t features)
{
    uint16_t n = q->size;
    if (!n || n > q->max_size || (n & (n - 1)))
        return -EINVAL;
    if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
        return -EINVAL;
    void *desc = gpa_to_hva(mem, q->desc_gpa, DESC_BYTES(n));
    void *avail = gpa_to_hva(mem, q->avail_gpa, AVAIL_BYTES(n));
    void *used = gpa_to_hva(mem, q->used_gpa, USED_BYTES(n));
    if (!desc || !avail || !used)
        return -EFAULT;
    q->mem = mem;
    q->desc = desc;
    q->avail = avail;
    q->used = used;
    q->last_avail = 0;
    q->used_idx = 0;
    q->signalled_used = 0;
    q->signalled_valid = false;
    q->event_idx = (features >> VIRTIO_RING_F_EVENT_IDX) & 1;
    q->indirect = (features >> VIRTIO_RING_F_INDIRECT_DESC) & 1;
    q->broken = false;
    return 0;
}

void virtq_reset(struct virtq *q)
{
    q->size = q->max_size;
    q->enabled = false;
    q->msix_vector = 0xffff; /* VIRTIO_MSI_NO_VECTOR */
    q->desc_gpa = q->avail_gpa = q->used_gpa = 0;
    q->last_avail = q->used_idx = q->signalled_used = 0;
    q->signalled_valid = q->event_idx = q->indirect = q->broken = false;
    q->mem = NULL;
    q->desc = NULL;
    q->avail = NULL;
    q->used = NULL;
}

/* Mark Q broken and tell the driver (DEVICE_NEEDS_RESET). Returns ERR. */
static int virtq_fail(struct virtq *q, int err, const char *why)
{
    q->broken = true;
    if (q->vdev)
        virtio_set_needs_reset(q->vdev, why);
    return err;
}

/* Append one buffer to C. Returns 0 or a negative errno + reason in *WHY. */
static int chain_add(const struct virtq *q, struct virtq_chain *c, const struct vring_desc *d,
                     const char **why)
{
    if (!d->len)
        return 0; /* nothing to transfer: skipped */
    void *p = gpa_to_hva(q->mem, d->addr, d->len);
    if (!p) {
        *why = "descriptor buffer outside guest RAM";
        return -EFAULT;
    }
    if (c->nout + c->nin >= c->max_iov) {
        *why = "descriptor chain has more segments than the device accepts";
        return -E2BIG;
    }
    if (d->flags & VRING_DESC_F_WRITE) {
        if ((uint64_t)c->in_len + d->len > UINT32_MAX) {
            *why = "descriptor chain length overflows";
            return -EOVERFLOW;
        }
        c->in_len += d->len;
        c->nin++;
    } else {
        if (c->nin) {
            *why = "readable descriptor after a writable one";
            return -EINVAL;
        }
        if ((uint64_t)c->out_len + d->len > UINT32_MAX) {
            *why = "descriptor chain length overflows";
            return -EOVERFLOW;
        }
        c->out_len += d->len;
        c->nout++;
    }
    c->iov[c->nout + c->nin - 1] = (struct iovec){.iov_base = p, .iov_len = d->len};
    return 0;
}

/* Switch the walk to the indirect table D describes (once per chain: *IN_INDIRECT is set and a
 * second INDIRECT is refused, wherever its table lies). Returns 0 or -errno with *WHY. */
static int enter_indirect(const struct virtq *q, const struct vring_desc *d, const uint8_t **table,
                          unsigned *tsize, bool *in_indirect, const char **why)
{
    if (!q->indirect) {
        *why = "indirect descriptor without VIRTIO_RING_F_INDIRECT_DESC";
        return -EINVAL;
    }
    if (*in_indirect) {
        *why = "indirect table inside an indirect table";
        return -EINVAL;
    }
    if (d->flags & VRING_DESC_F_NEXT) {
        *why = "indirect descriptor with NEXT set";
        return -EINVAL;
    }
    if (!d->len || d->len % 16 || d->len / 16 > VIRTQ_MAX_INDIRECT) {
        *why = "indirect table length invalid";
        return -EINVAL;
    }
    const uint8_t *t = gpa_to_hva(q->mem, d->addr, d->len);
    if (!t) {
        *why = "indirect table outside guest RAM";
        return -EFAULT;
    }
    *table = t;
    *tsize = d->len / 16;
    *in_indirect = true;
    return 0;
}

/* Walk the chain starting at HEAD into C. One budget bounds the whole walk, whatever mix of
 * direct and indirect descriptors: the queue size, plus the size of the (single) indirect table
 * once entered; it is never reset. Returns 0 or -errno with *WHY. */
static int walk_chain(const struct virtq *q, uint16_t head, struct virtq_chain *c, const char **why)
{
    const uint8_t *table = (const uint8_t *)q->desc;
    unsigned tsize = q->size, seen = 0, budget = q->size, idx = head;
    bool in_indirect = false;
    for (;;) {
        struct vring_desc d;
        if (idx >= tsize) {
            *why = "descriptor index out of range";
            return -EINVAL;
        }
        if (++seen > budget) {
            *why = "descriptor chain loops or is longer than its table";
            return -ELOOP;
        }
        desc_load(table, idx, &d);
        if (d.flags & VRING_DESC_F_INDIRECT) {
            int rc = enter_indirect(q, &d, &table, &tsize, &in_indirect, why);
            if (rc < 0)
                return rc;
            budget += tsize;
            idx = 0;
            continue;
        }
        int rc = chain_add(q, c, &d, why);
        if (rc < 0)
            return rc;
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 0;
        idx = d.next;
    }
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
    if (q->broken || !q->avail)
        return -EIO;
    uint16_t avail_idx = load16_acquire(&q->avail->idx);
    uint16_t pending = (uint16_t)(avail_idx - q->last_avail);
    if (!pending)
        return 0;
    if (pending > q->size)
        return virtq_fail(q, -EINVAL, "available index moved by more than the queue size");
    uint16_t head = load16(&q->avail->ring[q->last_avail & (q->size - 1)]);
    c->head = head;
    c->nout = c->nin = 0;
    c->out_len = c->in_len = 0;
    const char *why = NULL;
    int rc = walk_chain(q, head, c, &why);
    if (rc < 0)
        return virtq_fail(q, rc, why);
    q->last_avail++;
    return 1;
}

/* The used ring was translated once, at activation: mark it written for dirty tracking. */
static void used_written(const struct virtq *q)
{
    if (q->mem->dirty)
        guest_mem_dirty(q->mem, q->used_gpa, USED_BYTES(q->size));
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
    if (!q->used)
        return;
    struct vring_used_elem *e = &q->used->ring[q->used_idx & (q->size - 1)];
    __atomic_store_n(&e->id, (uint32_t)head, __ATOMIC_RELAXED);
    __atomic_store_n(&e->len, written, __ATOMIC_RELAXED);
    q->used_idx++;
    /* the element must be visible before the index that publishes it */
    __atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
    used_written(q);
}

bool virtq_has_avail(struct virtq *q)
{
    if (q->broken || !q->avail)
        return false;
    return load16_acquire(&q->avail->idx) != q->last_avail;
}

void virtq_disable_notify(struct virtq *q)
{
    if (!q->used || q->event_idx)
        return; /* EVENT_IDX: avail_event stays behind, the driver will not notify again */
    store16(&q->used->flags, load16(&q->used->flags) | VRING_USED_F_NO_NOTIFY);
    used_written(q);
}

bool virtq_enable_notify(struct virtq *q)
{
    if (!q->used)
        return false;
    if (q->event_idx)
        store16((uint8_t *)q->used + 4 + 8 * (size_t)q->size, q->last_avail); /* avail_event */
    else
        store16(&q->used->flags, load16(&q->used->flags) & ~VRING_USED_F_NO_NOTIFY);
    used_written(q);
    /* our flag/avail_event store must be visible before we re-read avail->idx (the driver does
     * the mirror image: idx store, full barrier, flag load) */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return virtq_has_avail(q);
}

bool virtq_should_interrupt(struct virtq *q)
{
    if (!q->avail)
        return false;
    /* the used idx store must be visible before we read the driver's suppression state */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t old = q->signalled_used, now = q->used_idx;
    if (old == now)
        return false; /* nothing used since the last check (or since activation) */
    bool need;
    if (q->event_idx) {
        uint16_t ev = load16((uint8_t *)q->avail + 4 + 2 * (size_t)q->size); /* used_event */
        need = !q->signalled_valid || vring_need_event(ev, now, old);
    } else {
        need = !(load16(&q->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);
    }
    q->signalled_used = now;
    q->signalled_valid = true;
    return need;
}

size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len)
{
    return iov_to_buf(c->iov, c->nout, off, buf, len);
}

size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len)
{
    return iov_from_buf(c->iov + c->nout, c->nin, off, buf, len);
}
