/* kvm_state.c — the KVM-held state of a VM and of each vCPU, read and written for snapshots.
 *
 * A vCPU's state is every register file KVM exposes (regs, sregs, XSAVE area, XCRs, debug
 * registers), its MSRs (KVM's save list, plus the MSR_PVM_* ones a PVM host answers), the LAPIC,
 * mp_state and pending events. The VM's state is kvmclock, the PIC pair, the IOAPIC and the PIT.
 * The structs are KVM's own ABI, stored as bytes inside versioned state sections; a restore
 * checks what it can (counts, enum values) and KVM checks the rest on the SET ioctls. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

static_assert(offsetof(struct vcpu_state, cpuid_entries) ==
                  offsetof(struct vcpu_state, cpuid) + sizeof(struct kvm_cpuid2),
              "the saved CPUID entries follow their kvm_cpuid2 header");

#define MSR_PVM_FIRST 0x4b564df0U /* MSR_PVM_LINEAR_ADDRESS_RANGE .. (pvm-spec.rst) */
#define MSR_PVM_LAST  0x4b564dffU

/* Add INDEX to L unless present or full. */
static void msr_list_add(struct vcpu_msr_list *l, uint32_t index)
{
    for (unsigned i = 0; i < l->n; i++)
        if (l->index[i] == index)
            return;
    if (l->n < VCPU_STATE_MAX_MSRS)
        l->index[l->n++] = index;
}

/* Add to OUT those of the N MSRs IDX the vCPU answers KVM_GET_MSRS for. KVM reads a list in
 * order and stops at the first MSR it refuses, answering how many it read: so one ioctl per
 * refused MSR (plus one), not one per MSR (a migration's source builds the list while its guest
 * is paused). Returns 0 or -ENOMEM. */
static int add_readable(int vcpu_fd, const uint32_t *idx, unsigned n, struct vcpu_msr_list *out)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[512];
    } *m = calloc(1, sizeof(*m));
    for (unsigned i = 0; m && i < n;) {
        unsigned k = MIN(n - i, 512u);
        m->hdr.nmsrs = k;
        for (unsigned j = 0; j < k; j++)
            m->e[j] = (struct kvm_msr_entry){.index = idx[i + j]};
        int r = ioctl(vcpu_fd, KVM_GET_MSRS, m);
        unsigned got = r < 0 ? 0 : MIN((unsigned)r, k);
        for (unsigned j = 0; j < got; j++)
            msr_list_add(out, idx[i + j]);
        i += got < k ? got + 1 : k; /* past the refused one */
    }
    int rc = m ? 0 : -ENOMEM;
    free(m);
    return rc;
}

int vcpu_msr_list_build(const struct kvm_host *kvm, int vcpu_fd, struct vcpu_msr_list *out)
{
    struct kvm_msr_list *kl = calloc(1, sizeof(*kl) + 512 * sizeof(uint32_t));
    if (!kl)
        return -ENOMEM;
    kl->nmsrs = 512;
    int rc = ioctl(kvm->fd, KVM_GET_MSR_INDEX_LIST, kl) < 0 ? -errno : 0;
    memset(out, 0, sizeof(*out));
    if (!rc)
        rc = add_readable(vcpu_fd, kl->indices, MIN(kl->nmsrs, 512u), out);
    free(kl);
    uint32_t pvm[MSR_PVM_LAST - MSR_PVM_FIRST + 1];
    for (uint32_t m = MSR_PVM_FIRST; m <= MSR_PVM_LAST; m++)
        pvm[m - MSR_PVM_FIRST] = m;
    if (!rc && kvm->pvm)
        rc = add_readable(vcpu_fd, pvm, ARRAY_SIZE(pvm), out);
    return rc;
}

/* Read the MSRS listed in L into S. Returns 0 or -errno. */
static int get_msrs(int fd, const struct vcpu_msr_list *l, struct vcpu_state *s)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[VCPU_STATE_MAX_MSRS];
    } m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = l->n;
    for (unsigned i = 0; i < l->n; i++)
        m.e[i].index = l->index[i];
    int n = ioctl(fd, KVM_GET_MSRS, &m);
    if (n < 0)
        return -errno;
    if ((unsigned)n != l->n)
        return -EIO; /* an MSR readable when the list was built is not any more */
    s->nmsrs = l->n;
    memcpy(s->msrs, m.e, l->n * sizeof(m.e[0]));
    return 0;
}

static int set_msrs(int fd, const struct vcpu_state *s)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[VCPU_STATE_MAX_MSRS];
    } m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = s->nmsrs;
    memcpy(m.e, s->msrs, s->nmsrs * sizeof(m.e[0]));
    int n = ioctl(fd, KVM_SET_MSRS, &m);
    if (n < 0)
        return -errno;
    return (unsigned)n == s->nmsrs ? 0 : -EINVAL;
}

int vcpu_state_get(struct vcpu *v, const struct vcpu_msr_list *msrs, struct vcpu_state *s,
                   const char **what)
{
    memset(s, 0, sizeof(*s));
    int fd = v->fd;
#define GET(req, field)                                                                            \
    do {                                                                                           \
        *what = #req;                                                                              \
        if (ioctl(fd, req, &s->field) < 0)                                                         \
            return -errno;                                                                         \
    } while (0)
    GET(KVM_GET_MP_STATE, mp);
    GET(KVM_GET_REGS, regs);
    GET(KVM_GET_SREGS, sregs);
    GET(KVM_GET_XSAVE, xsave);
    GET(KVM_GET_XCRS, xcrs);
    GET(KVM_GET_DEBUGREGS, dregs);
    GET(KVM_GET_LAPIC, lapic);
    GET(KVM_GET_VCPU_EVENTS, events);
#undef GET
    *what = "KVM_GET_CPUID2";
    int rc = vcpu_cpuid_get(fd, &s->cpuid, VCPU_STATE_MAX_CPUID);
    if (rc < 0)
        return rc;
    *what = "KVM_GET_MSRS";
    return get_msrs(fd, msrs, s);
}

int vcpu_state_set(struct vcpu *v, const struct vcpu_state *s, bool set_cpuid, const char **what)
{
    int fd = v->fd;
    /* Order matters: CPUID first (what XSAVE and the MSRs may hold depends on it); sregs (APIC
     * base, EFER) before the LAPIC; MSRs (TSC) before events. */
    *what = "KVM_SET_CPUID2";
    if (set_cpuid && ioctl(fd, KVM_SET_CPUID2, &s->cpuid) < 0)
        return -errno;
#define SET(req, field)                                                                            \
    do {                                                                                           \
        *what = #req;                                                                              \
        if (ioctl(fd, req, &s->field) < 0)                                                         \
            return -errno;                                                                         \
    } while (0)
    SET(KVM_SET_MP_STATE, mp);
    SET(KVM_SET_SREGS, sregs);
    SET(KVM_SET_REGS, regs);
    SET(KVM_SET_XSAVE, xsave);
    SET(KVM_SET_XCRS, xcrs);
    SET(KVM_SET_DEBUGREGS, dregs);
    SET(KVM_SET_LAPIC, lapic);
#undef SET
    *what = "KVM_SET_MSRS";
    int rc = set_msrs(fd, s);
    if (rc)
        return rc;
    *what = "KVM_SET_VCPU_EVENTS";
    return ioctl(fd, KVM_SET_VCPU_EVENTS, &s->events) < 0 ? -errno : 0;
}

void vcpu_state_visit(struct state_visitor *v, struct vcpu_state *s)
{
    if (!state_begin(v, "vcpu", VCPU_STATE_VERSION))
        return;
    STATE_U32(v, s->mp.mp_state);
    STATE_CHECK(v, s->mp.mp_state <= KVM_MP_STATE_SIPI_RECEIVED);
    state_bytes(v, &s->regs, sizeof(s->regs), "regs");
    state_bytes(v, &s->sregs, sizeof(s->sregs), "sregs");
    state_bytes(v, &s->xsave, sizeof(s->xsave), "xsave");
    state_bytes(v, &s->xcrs, sizeof(s->xcrs), "xcrs");
    STATE_CHECK(v, s->xcrs.nr_xcrs <= KVM_MAX_XCRS);
    state_bytes(v, &s->dregs, sizeof(s->dregs), "debugregs");
    state_bytes(v, &s->lapic, sizeof(s->lapic), "lapic");
    state_bytes(v, &s->events, sizeof(s->events), "events");
    STATE_U32_MAX(v, s->nmsrs, VCPU_STATE_MAX_MSRS);
    for (unsigned i = 0; i < s->nmsrs && !state_error(v); i++) {
        STATE_U32(v, s->msrs[i].index);
        state_u64(v, (uint64_t *)&s->msrs[i].data, "msr data");
    }
    STATE_U32_MAX(v, s->cpuid.nent, VCPU_STATE_MAX_CPUID);
    if (!state_error(v))
        state_bytes(v, s->cpuid_entries, s->cpuid.nent * sizeof(s->cpuid_entries[0]), "cpuid");
    state_end(v);
}

/* ---- the VM ---------------------------------------------------------------------------------- */

int vm_kvm_state_get(struct vm *vm, struct vm_kvm_state *s, const char **what)
{
    memset(s, 0, sizeof(*s));
    *what = "KVM_GET_CLOCK";
    if (ioctl(vm->fd, KVM_GET_CLOCK, &s->clock) < 0)
        return -errno;
    if (!(s->clock.flags & KVM_CLOCK_REALTIME)) { /* the host's clocksource is not the TSC */
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        s->clock.realtime = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
    }
    for (unsigned i = 0; i < ARRAY_SIZE(s->chip); i++) {
        s->chip[i].chip_id = i; /* KVM_IRQCHIP_PIC_MASTER, _SLAVE, _IOAPIC */
        *what = "KVM_GET_IRQCHIP";
        if (ioctl(vm->fd, KVM_GET_IRQCHIP, &s->chip[i]) < 0)
            return -errno;
    }
    *what = "KVM_GET_PIT2";
    return ioctl(vm->fd, KVM_GET_PIT2, &s->pit) < 0 ? -errno : 0;
}

int vm_kvm_state_set(struct vm *vm, const struct vm_kvm_state *s, bool realtime, const char **what)
{
    for (unsigned i = 0; i < ARRAY_SIZE(s->chip); i++) {
        *what = "KVM_SET_IRQCHIP";
        if (ioctl(vm->fd, KVM_SET_IRQCHIP, &s->chip[i]) < 0)
            return -errno;
    }
    *what = "KVM_SET_PIT2";
    if (ioctl(vm->fd, KVM_SET_PIT2, &s->pit) < 0)
        return -errno;
    /* Only the clock value: the guest's time continues from where it was saved, never back. */
    struct kvm_clock_data c = {.clock = s->clock.clock};
    if (realtime && s->clock.realtime) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        uint64_t now = (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
        if (now > s->clock.realtime)
            c.clock += now - s->clock.realtime;
    }
    *what = "KVM_SET_CLOCK";
    return ioctl(vm->fd, KVM_SET_CLOCK, &c) < 0 ? -errno : 0;
}

void vm_kvm_state_visit(struct state_visitor *v, struct vm_kvm_state *s)
{
    if (!state_begin(v, "kvm-vm", VM_KVM_STATE_VERSION))
        return;
    state_u64(v, (uint64_t *)&s->clock.clock, "clock");
    STATE_U32(v, s->clock.flags);
    for (unsigned i = 0; i < ARRAY_SIZE(s->chip); i++) {
        STATE_U32(v, s->chip[i].chip_id);
        STATE_CHECK(v, s->chip[i].chip_id == i);
        state_bytes(v, &s->chip[i].chip, sizeof(s->chip[i].chip), "irqchip");
    }
    state_bytes(v, &s->pit, sizeof(s->pit), "pit2");
    if (v->version >= 2) /* the host's wall clock when the clock was read (clock_realtime) */
        state_u64(v, (uint64_t *)&s->clock.realtime, "clock realtime");
    state_end(v);
}
