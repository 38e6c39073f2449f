/* dirty.c — dirty page tracking: KVM's dirty log (the vCPUs' writes) merged with the bitmap of
 * the VMM's own writes to guest RAM and the logs of the dirty sources (vhost-net's writes from
 * the host kernel), for Diff snapshots and pre-copy migration. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/util.h"
#include "vm/vm.h"

#define PAGE 4096u

int vm_mem_slots_set(struct vm *vm, uint32_t flags)
{
    for (unsigned i = 0; i < vm->mem.nr; i++) {
        struct kvm_userspace_memory_region r = {
            .slot = i,
            .flags = flags,
            .guest_phys_addr = vm->mem.r[i].gpa,
            .memory_size = vm->mem.r[i].size,
            .userspace_addr = (uintptr_t)vm->mem.r[i].hva,
        };
        if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
            return -errno;
    }
    return 0;
}

bool vm_dirty_tracking(const struct vm *vm)
{
    return vm->mem.dirty != NULL;
}

int vm_dirty_start(struct vm *vm)
{
    if (vm->mem.dirty)
        return 0;
    lazy_finish(vm); /* the loader's copies are not tracked: the boot files are in first */
    _Atomic uint64_t *bits = calloc(DIRTY_WORDS(&vm->mem), sizeof(*bits));
    if (!bits)
        return -ENOMEM;
    int rc = vm_mem_slots_set(vm, KVM_MEM_LOG_DIRTY_PAGES);
    if (rc) {
        vm_mem_slots_set(vm, 0);
        free(bits);
        return rc;
    }
    vm->mem.dirty = bits;
    for (struct dirty_source *s = vm->dirty_sources; s; s = s->next) {
        if ((rc = s->start(s->opaque)) == 0)
            continue;
        for (struct dirty_source *t = vm->dirty_sources; t != s; t = t->next)
            t->stop(t->opaque);
        vm->mem.dirty = NULL;
        vm_mem_slots_set(vm, 0);
        free(bits);
        return rc;
    }
    return 0;
}

void vm_dirty_stop(struct vm *vm)
{
    if (!vm->mem.dirty)
        return;
    for (struct dirty_source *s = vm->dirty_sources; s; s = s->next)
        s->stop(s->opaque);
    vm_mem_slots_set(vm, 0);
    _Atomic uint64_t *bits = vm->mem.dirty;
    vm->mem.dirty = NULL;
    free((void *)bits);
}

/* OR the NBITS bits of SRC into DST from bit FIRST on; the number of bits newly set. */
static long or_bits(uint64_t *dst, uint64_t first, const uint64_t *src, uint64_t nbits)
{
    long added = 0;
    if (first % 64 == 0) {
        for (uint64_t w = 0; w < (nbits + 63) / 64; w++) {
            uint64_t v = src[w], *d = &dst[first / 64 + w];
            if (nbits - w * 64 < 64)
                v &= (1ull << (nbits - w * 64)) - 1;
            added += __builtin_popcountll(v & ~*d);
            *d |= v;
        }
        return added;
    }
    for (uint64_t b = 0; b < nbits; b++) {
        if (!(src[b / 64] >> (b % 64) & 1))
            continue;
        uint64_t pg = first + b, m = 1ull << (pg % 64);
        added += !(dst[pg / 64] & m);
        dst[pg / 64] |= m;
    }
    return added;
}

/* KVM's log of slot I (region I of RAM) into OUT. */
static long harvest_slot(struct vm *vm, unsigned i, uint64_t *out)
{
    const struct mem_region *r = &vm->mem.r[i];
    uint64_t pages = r->size / PAGE;
    uint64_t *log = calloc((pages + 63) / 64, sizeof(*log));
    if (!log)
        return -ENOMEM;
    struct kvm_dirty_log d = {.slot = i, .dirty_bitmap = log};
    long n = ioctl(vm->fd, KVM_GET_DIRTY_LOG, &d) < 0 ? -errno : 0;
    if (!n)
        n = or_bits(out, (uint64_t)(r->hva - (uint8_t *)vm->mem.base) / PAGE, log, pages);
    free(log);
    return n;
}

long vm_dirty_harvest(struct vm *vm, uint64_t *out)
{
    _Atomic uint64_t *bits = vm->mem.dirty;
    if (!bits)
        return -EINVAL;
    long total = 0;
    for (unsigned i = 0; i < vm->mem.nr; i++) {
        long n = harvest_slot(vm, i, out);
        if (n < 0)
            return n;
        total += n;
    }
    for (uint64_t w = 0; w < DIRTY_WORDS(&vm->mem); w++) {
        uint64_t v = atomic_exchange_explicit(&bits[w], 0, memory_order_relaxed);
        total += __builtin_popcountll(v & ~out[w]);
        out[w] |= v;
    }
    for (struct dirty_source *s = vm->dirty_sources; s; s = s->next) {
        long n = s->harvest(s->opaque, out);
        if (n < 0)
            return n;
        total += n;
    }
    return total;
}

int vm_dirty_source_add(struct vm *vm, struct dirty_source *s)
{
    int rc = vm->mem.dirty ? s->start(s->opaque) : 0;
    if (rc)
        return rc;
    s->next = vm->dirty_sources;
    vm->dirty_sources = s;
    return 0;
}

void vm_dirty_source_del(struct vm *vm, struct dirty_source *s)
{
    for (struct dirty_source **p = &vm->dirty_sources; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            return;
        }
}

long dirty_merge_gpa_log(const struct guest_mem *m, _Atomic uint64_t *log, uint64_t log_pages,
                         uint64_t *out)
{
    long added = 0;
    for (unsigned i = 0; i < m->nr; i++) {
        const struct mem_region *r = &m->r[i];
        uint64_t g0 = r->gpa / PAGE, g1 = MIN(g0 + r->size / PAGE, log_pages);
        uint64_t o = (uint64_t)(r->hva - (uint8_t *)m->base) / PAGE;
        for (uint64_t w = g0 / 64; g0 < g1 && w <= (g1 - 1) / 64; w++) {
            uint64_t lo = MAX(g0, w * 64) - w * 64, hi = MIN(g1, w * 64 + 64) - w * 64;
            uint64_t mask = (hi == 64 ? ~0ull : (1ull << hi) - 1) & ~((1ull << lo) - 1);
            if (!(atomic_load_explicit(&log[w], memory_order_relaxed) & mask))
                continue;
            uint64_t v = atomic_fetch_and_explicit(&log[w], ~mask, memory_order_acquire) & mask;
            for (; v; v &= v - 1) {
                uint64_t pg = o + (w * 64 + (uint64_t)__builtin_ctzll(v) - g0);
                uint64_t bit = 1ull << (pg % 64);
                added += !(out[pg / 64] & bit);
                out[pg / 64] |= bit;
            }
        }
    }
    return added;
}

void vm_dirty_put_back(struct vm *vm, const uint64_t *bits)
{
    _Atomic uint64_t *dst = vm->mem.dirty;
    for (uint64_t w = 0; dst && w < DIRTY_WORDS(&vm->mem); w++)
        if (bits[w])
            atomic_fetch_or_explicit(&dst[w], bits[w], memory_order_relaxed);
}
