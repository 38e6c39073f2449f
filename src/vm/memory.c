/* memory.c — guest RAM: one anonymous mapping split around the MMIO hole; the checked gpa->hva. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/util.h"
#include "vm/vm.h"

/* Split the mapping at P around the MMIO hole into M's regions. */
static void mem_layout(struct guest_mem *m, uint8_t *p, uint64_t ram_size)
{
    uint64_t low = MIN(ram_size, LAYOUT_MMIO_HOLE);
    m->r[0] = (struct mem_region){.gpa = 0, .size = low, .hva = p};
    m->nr = 1;
    if (ram_size > low) {
        m->r[1] = (struct mem_region){.gpa = LAYOUT_4G, .size = ram_size - low, .hva = p + low};
        m->nr = 2;
    }
}

/* mmap SIZE bytes with FLAGS (from FD at offset 0, or anonymous when FD < 0) at an address that
 * is a multiple of 2 MiB: guest-physical 0 is 2 MiB aligned, so only when the host address is too
 * can KVM map guest RAM with 2 MiB pages (a memory slot whose gfn and host address disagree
 * modulo 2 MiB gets 4 KiB mappings only: one nested page fault per 4 KiB the guest touches). A
 * PROT_NONE reservation 2 MiB larger is made first, the mapping placed inside it, the slack
 * returned. Returns the mapping or MAP_FAILED with errno. */
static void *mem_map_aligned(uint64_t size, int flags, int fd)
{
    const uint64_t align = 2 * MiB;
    uint8_t *r =
        mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED)
        return MAP_FAILED;
    uint8_t *p = (uint8_t *)ALIGN_UP((uintptr_t)r, align);
    if (mmap(p, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0) == MAP_FAILED) {
        int e = errno;
        munmap(r, size + align);
        errno = e;
        return MAP_FAILED;
    }
    if (p > r)
        munmap(r, (size_t)(p - r));
    if (r + size + align > p + size)
        munmap(p + size, (size_t)(r + size + align - (p + size)));
    return p;
}

/* Map RAM_SIZE bytes with FLAGS (from FD, or anonymous when FD < 0) and lay M out on them. */
static int mem_map(struct guest_mem *m, uint64_t ram_size, int flags, int fd, bool hugepages)
{
    memset(m, 0, sizeof(*m));
    if (ram_size < CFG_MIN_MEM || ram_size > CFG_MAX_MEM || ram_size % (4 * KiB))
        return -EINVAL;
    if (hugepages && ram_size % (2 * MiB))
        return -EINVAL;
    void *p = mem_map_aligned(ram_size, flags, fd);
    if (p == MAP_FAILED)
        return -errno;
    madvise(p, ram_size, MADV_DONTFORK);
    m->base = p;
    m->map_size = ram_size;
    m->ram_size = ram_size;
    m->hugepages = hugepages;
    mem_layout(m, p, ram_size);
    return 0;
}

int guest_mem_init(struct guest_mem *m, uint64_t ram_size, bool hugepages)
{
    /* Normal pages: MAP_NORESERVE, the guest only costs what it touches. Huge pages are
     * reserved up front instead, so a short pool fails here, not as a SIGBUS mid-run. */
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | (hugepages ? MAP_HUGETLB : MAP_NORESERVE);
    return mem_map(m, ram_size, flags, -1, hugepages);
}

int guest_mem_init_file(struct guest_mem *m, uint64_t ram_size, int fd)
{
    /* Private: the guest's writes stay in this process; pages load from the file on first
     * touch, so restoring a large guest costs only what it then uses. */
    return mem_map(m, ram_size, MAP_PRIVATE | MAP_NORESERVE, fd, false);
}

static enum thp_host thp_read_policy(void)
{
    char buf[64] = "";
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return THP_HOST_UNKNOWN;
    if (read(fd, buf, sizeof(buf) - 1) < 0)
        buf[0] = 0;
    close(fd);
    return strstr(buf, "[always]")    ? THP_HOST_ALWAYS
           : strstr(buf, "[madvise]") ? THP_HOST_MADVISE
           : strstr(buf, "[never]")   ? THP_HOST_NEVER
                                      : THP_HOST_UNKNOWN;
}

enum thp_host thp_host_policy(void)
{
    /* read once: the command line's default, the advice and the initrd's loading all ask */
    static _Atomic int policy = -1;
    int p = atomic_load(&policy);
    if (p < 0)
        atomic_store(&policy, p = (int)thp_read_policy());
    return (enum thp_host)p;
}

int guest_mem_thp(struct guest_mem *m)
{
    if (!m->base || m->hugepages)
        return -EINVAL;
    if (madvise(m->base, m->map_size, MADV_HUGEPAGE) < 0)
        return -errno;
    m->thp = true;
    return 0;
}

bool guest_mem_thp_backed(const struct guest_mem *m)
{
    if (m->hugepages || m->shared)
        return false;
    enum thp_host h = thp_host_policy();
    return h == THP_HOST_ALWAYS || (m->thp && h != THP_HOST_NEVER);
}

void guest_mem_free(struct guest_mem *m)
{
    if (m->base)
        munmap(m->base, m->map_size);
    free((void *)m->dirty);
    if (m->uffd) {
        close(m->uffd_fd);
        close(m->uffd_sock);
    }
    memset(m, 0, sizeof(*m));
}

void *gpa_to_hva(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    if (len == 0)
        len = 1;
    for (unsigned i = 0; i < m->nr; i++) {
        const struct mem_region *r = &m->r[i];
        /* gpa - r->gpa cannot underflow once gpa >= r->gpa; compare lengths, never sums. */
        if (gpa < r->gpa || gpa - r->gpa >= r->size)
            continue;
        uint64_t off = gpa - r->gpa;
        if (len > r->size - off)
            return NULL;
        if (m->dirty)
            guest_mem_dirty(m, gpa, len);
        return r->hva + off;
    }
    for (unsigned i = 0; i < m->ndev; i++) {
        const struct mem_dev_region *r = &m->dev[i];
        if (gpa < r->gpa || gpa - r->gpa >= r->size)
            continue;
        uint64_t off = gpa - r->gpa;
        if (r->readonly || len > r->size - off)
            return NULL;
        return r->hva + off;
    }
    return NULL;
}

_Static_assert(KVM_SLOT_DEVMEM > KVM_SLOT_VGA && KVM_SLOT_DEVMEM > MEM_MAX_REGIONS,
               "device memory slots above every other KVM slot");

int vm_add_device_memory(struct vm *vm, uint64_t size, void *hva, bool readonly, uint64_t *gpa)
{
    struct guest_mem *m = &vm->mem;
    if (!size || size % (4 * KiB) || (uintptr_t)hva % (4 * KiB))
        return -EINVAL;
    uint64_t at = m->dev_next ? m->dev_next : layout_devmem_base(guest_mem_end(m));
    uint64_t max = guest_mem_max_gpa(m);
    if (m->ndev >= MEM_MAX_DEV_REGIONS || at >= max || size > max - at)
        return -ENOSPC;
    struct kvm_userspace_memory_region r = {
        .slot = KVM_SLOT_DEVMEM + m->ndev,
        .flags = readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = at,
        .memory_size = size,
        .userspace_addr = (uintptr_t)hva,
    };
    if (vm->fd >= 0 && ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        return -errno;
    m->dev[m->ndev++] =
        (struct mem_dev_region){.gpa = at, .size = size, .hva = hva, .readonly = readonly};
    m->dev_next = ALIGN_UP(at + size, LAYOUT_DEVMEM_ALIGN);
    *gpa = at;
    return 0;
}

void guest_mem_dirty(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    _Atomic uint64_t *bits = m->dirty;
    if (!bits || !len)
        return;
    for (unsigned i = 0; i < m->nr; i++) {
        const struct mem_region *r = &m->r[i];
        if (gpa < r->gpa || gpa - r->gpa >= r->size)
            continue;
        uint64_t off = (uint64_t)(r->hva - (uint8_t *)m->base) + (gpa - r->gpa);
        uint64_t last = off + MIN(len, r->size - (gpa - r->gpa)) - 1;
        for (uint64_t pg = off / 4096; pg <= last / 4096; pg++)
            atomic_fetch_or_explicit(&bits[pg / 64], 1ull << (pg % 64), memory_order_relaxed);
        return;
    }
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
    void *p = gpa_to_hva(m, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(p, src, len);
    return 0;
}

int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
    void *p = gpa_to_hva(m, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(dst, p, len);
    return 0;
}

uint64_t guest_mem_max_gpa(const struct guest_mem *m)
{
    return m->max_gpa && m->max_gpa < LAYOUT_MAX_GPA ? m->max_gpa : LAYOUT_MAX_GPA;
}

uint64_t guest_mem_end(const struct guest_mem *m)
{
    if (!m->nr)
        return 0;
    const struct mem_region *r = &m->r[m->nr - 1];
    return r->gpa + r->size;
}

void vm_drop_device_memory(struct vm *vm)
{
    struct guest_mem *m = &vm->mem;
    if (!m->ndev)
        return;
    struct mem_dev_region *r = &m->dev[--m->ndev];
    struct kvm_userspace_memory_region k = {.slot = KVM_SLOT_DEVMEM + m->ndev,
                                            .guest_phys_addr = r->gpa};
    if (vm->fd >= 0)
        ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &k); /* size 0: the slot goes */
    m->dev_next = r->gpa;
    memset(r, 0, sizeof(*r));
}

int64_t guest_mem_discard(const struct guest_mem *m, void *hva, uint64_t len)
{
    uint8_t *base = m->base, *p = hva;
    if (!base || p < base || len > m->map_size || (uint64_t)(p - base) > m->map_size - len)
        return -EFAULT;
    uint64_t page = m->hugepages ? 2 * MiB : 4 * KiB;
    uint64_t off = (uint64_t)(p - base);
    uint64_t start = ALIGN_UP(off, page), end = ALIGN_DOWN(off + len, page);
    if (end <= start)
        return 0;
    if (madvise(base + start, end - start, m->shared ? MADV_REMOVE : MADV_DONTNEED) < 0)
        return -errno;
    return (int64_t)(end - start);
}
