/* cpuid.c — per-vCPU CPUID: the host's supported leaves with APIC ids and topology normalised. */
#include <string.h>

#include "util/util.h"
#include "vm/vm.h"

#define CPUID_HYPERVISOR_BIT (1u << 31) /* leaf 1 ECX */
#define CPUID_HTT_BIT        (1u << 28) /* leaf 1 EDX */
#define KVM_SIGNATURE_LEAF   0x40000000u
#define AMD_CACHE_LEAF       0x8000001du

/* Smallest shift such that (1 << shift) >= n. */
static unsigned order_base_2(unsigned n)
{
    unsigned s = 0;
    while ((1u << s) < n)
        s++;
    return s;
}

/* One socket, NCPUS cores, one thread per core: APIC id == vCPU index. */
static void fix_leaf1(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
    e->ebx = (e->ebx & 0x0000ffffu) | (id << 24) | ((ncpus > 255 ? 255 : ncpus) << 16);
    e->ecx |= CPUID_HYPERVISOR_BIT;
    if (ncpus > 1)
        e->edx |= CPUID_HTT_BIT;
    else
        e->edx &= ~CPUID_HTT_BIT;
}

static void fix_leaf4(struct kvm_cpuid_entry2 *e, unsigned ncpus)
{
    unsigned level = (e->eax >> 5) & 7;
    unsigned sharing = level >= 3 ? ncpus - 1 : 0; /* L3 shared by the package */
    e->eax &= 0x3fffu;                             /* keep type, level, flags */
    e->eax |= ((ncpus - 1) & 0x3f) << 26;
    e->eax |= (sharing & 0xfff) << 14;
}

/* Extended topology (0xB and 0x1F): SMT level with one thread, core level with NCPUS. */
static void fix_leaf_topology(struct kvm_cpuid_entry2 *e, unsigned id, unsigned ncpus)
{
    unsigned sub = e->index;
    e->edx = id;
    if (sub == 0) {
        e->eax = 0;
        e->ebx = 1;
        e->ecx = (1u << 8) | sub;
    } else if (sub == 1) {
        e->eax = order_base_2(ncpus);
        e->ebx = ncpus;
        e->ecx = (2u << 8) | sub;
    } else {
        e->eax = 0;
        e->ebx = 0;
        e->ecx = sub;
    }
}

static void fix_leaf_amd_topology(struct kvm_cpuid_entry2 *e, unsigned id)
{
    e->eax = id;        /* extended APIC id */
    e->ebx = id & 0xff; /* core id; threads per core - 1 = 0 */
    e->ecx = 0;         /* node 0, one node per package */
    e->edx = 0;
}

static void fix_leaf_amd_size(struct kvm_cpuid_entry2 *e, unsigned ncpus)
{
    e->ecx = (e->ecx & ~0xf0ffu) | ((ncpus - 1) & 0xff) | (order_base_2(ncpus) << 12);
}

/* AMD's cache topology 0x8000001D (KVM passes the host's, whose NumSharingCache counts the host's
 * threads): one thread per core here, so L1 and L2 are not shared; L3 is shared by every vCPU, as
 * leaf 4 says on Intel. */
static void fix_leaf_amd_cache(struct kvm_cpuid_entry2 *e, unsigned ncpus)
{
    unsigned level = (e->eax >> 5) & 7;
    unsigned sharing = level >= 3 ? ncpus - 1 : 0;
    e->eax = (e->eax & ~(0xfffu << 14)) | ((sharing & 0xfff) << 14);
}

static void set_kvm_signature(struct kvm_cpuid_entry2 *e)
{
    static const char sig[12] = "KVMKVMKVM\0\0\0";
    if (e->eax < KVM_SIGNATURE_LEAF + 1)
        e->eax = KVM_SIGNATURE_LEAF + 1;
    memcpy(&e->ebx, sig, 4);
    memcpy(&e->ecx, sig + 4, 4);
    memcpy(&e->edx, sig + 8, 4);
}

void cpuid_normalise(const struct kvm_cpuid2 *sup, struct kvm_cpuid2 *out, unsigned id,
                     unsigned ncpus)
{
    bool have_sig = false;
    out->nent = 0;
    for (unsigned i = 0; i < sup->nent; i++) {
        struct kvm_cpuid_entry2 *e = &out->entries[out->nent++];
        *e = sup->entries[i];
        switch (e->function) {
        case 0x1:
            fix_leaf1(e, id, ncpus);
            break;
        case 0x4:
            fix_leaf4(e, ncpus);
            break;
        case 0xb:
        case 0x1f:
            fix_leaf_topology(e, id, ncpus);
            break;
        case KVM_SIGNATURE_LEAF:
            set_kvm_signature(e);
            have_sig = true;
            break;
        case 0x80000008:
            fix_leaf_amd_size(e, ncpus);
            break;
        case AMD_CACHE_LEAF:
            fix_leaf_amd_cache(e, ncpus);
            break;
        case 0x8000001e:
            fix_leaf_amd_topology(e, id);
            break;
        default:
            break;
        }
    }
    if (!have_sig) {
        struct kvm_cpuid_entry2 *e = &out->entries[out->nent++];
        memset(e, 0, sizeof(*e));
        e->function = KVM_SIGNATURE_LEAF;
        set_kvm_signature(e);
    }
}
