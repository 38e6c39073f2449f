/* vcpu.c — vCPU creation and the per-vCPU thread running the KVM_RUN loop. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/util.h"
#include "vm/vm.h"

#define SIG_KICK         SIGUSR1
#define APIC_LVT0        0x350
#define APIC_LVT1        0x360
#define APIC_MODE_NMI    (4u << 8)
#define APIC_MODE_EXTINT (7u << 8)

/* The kick handler runs in the vCPU thread it targets: make the next or current KVM_RUN return. */
static __thread struct kvm_run *tls_run;

static void kick_handler(int sig)
{
    if (tls_run)
        tls_run->immediate_exit = 1;
}

static int install_kick_handler(void)
{
    struct sigaction sa = {.sa_handler = kick_handler};
    sigemptyset(&sa.sa_mask);
    /* Idempotent: every VM installs the same process-wide handler. */
    return sigaction(SIG_KICK, &sa, NULL) < 0 ? -errno : 0;
}

/* LINT0 as ExtINT (the PIC reaches the BSP before the IOAPIC is set up), LINT1 as NMI. */
static int setup_lapic(struct vcpu *v)
{
    struct kvm_lapic_state la;
    if (ioctl(v->fd, KVM_GET_LAPIC, &la) < 0)
        return -errno;
    uint32_t *lvt0 = (uint32_t *)&la.regs[APIC_LVT0];
    uint32_t *lvt1 = (uint32_t *)&la.regs[APIC_LVT1];
    *lvt0 = (*lvt0 & ~0x700u) | APIC_MODE_EXTINT;
    *lvt1 = (*lvt1 & ~0x700u) | APIC_MODE_NMI;
    return ioctl(v->fd, KVM_SET_LAPIC, &la) < 0 ? -errno : 0;
}

static int setup_cpuid(struct vcpu *v)
{
    struct vm *vm = v->vm;
    size_t n = vm->cpuid->nent + 8;
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
    if (!c)
        return -ENOMEM;
    cpuid_normalise(vm->cpuid, c, v->id, vm->ncpus);
    char err[8];
    int rc = cpu_template_apply_cpuid(&vm->cfg.cpu_template, c, err, sizeof(err));
    if (!rc) /* (the builder checked the template first: no error is expected here) */
        rc = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
    free(c);
    return rc;
}

int vcpu_cpuid_get(int vcpu_fd, struct kvm_cpuid2 *c, unsigned max)
{
    memset(c->entries, 0, max * sizeof(c->entries[0]));
    c->nent = max;
    if (ioctl(vcpu_fd, KVM_GET_CPUID2, c) < 0)
        return -errno;
    /* Some kernels (6.1) leave nent as passed; a real entry is never all zero. */
    static const struct kvm_cpuid_entry2 zero;
    while (c->nent && !memcmp(&c->entries[c->nent - 1], &zero, sizeof(zero)))
        c->nent--;
    return 0;
}

int vcpu_set_regs(struct vcpu *v, void (*fill)(const struct vm *vm, unsigned id,
                                               struct kvm_regs *regs, struct kvm_sregs *sregs))
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
        return -errno;
    fill(v->vm, v->id, &regs, &sregs);
    if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
        return -errno;
    return 0;
}

void vcpu_log_state(struct vcpu *v, const char *why)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 || ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
        log_err("vCPU %u, %s: registers unreadable: %s", v->id, why, strerror(errno));
        return;
    }
    if (r.rip == 0xfff0 && s.cs.selector == 0xf000) { /* AMD: KVM INITs the vCPU at a shutdown */
        log_err("vCPU %u, %s: its registers are the reset state (KVM re-initialised the vCPU, as "
                "it does on AMD): where the guest was is not known",
                v->id, why);
        return;
    }
    log_err("vCPU %u, %s: rip=0x%llx rsp=0x%llx rflags=0x%llx cs=0x%x ss=0x%x cr0=0x%llx "
            "cr2=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx idt=0x%llx/0x%x gdt=0x%llx/0x%x",
            v->id, why, (unsigned long long)r.rip, (unsigned long long)r.rsp,
            (unsigned long long)r.rflags, s.cs.selector, s.ss.selector, (unsigned long long)s.cr0,
            (unsigned long long)s.cr2, (unsigned long long)s.cr3, (unsigned long long)s.cr4,
            (unsigned long long)s.efer, (unsigned long long)s.idt.base, s.idt.limit,
            (unsigned long long)s.gdt.base, s.gdt.limit);
}

int vcpu_create(struct vm *vm, struct vcpu *v, unsigned id)
{
    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->id = id;
    v->run = MAP_FAILED;
    v->fd = ioctl(vm->fd, KVM_CREATE_VCPU, id);
    if (v->fd < 0)
        return -errno;
    v->run = mmap(NULL, vm->kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED)
        return -errno;
    int rc = setup_cpuid(v);
    if (!rc && !vm->restoring) /* a restore sets the saved LAPIC (vcpu_state_set) */
        rc = setup_lapic(v);
    return rc;
}

/* Answer the monitor's question: is this vCPU able to run again on its own? */
static void report_idle(struct vcpu *v)
{
    struct kvm_mp_state mp;
    struct kvm_regs regs;
    int idle = VCPU_ACTIVE;
    if (ioctl(v->fd, KVM_GET_MP_STATE, &mp) == 0) {
        if (mp.mp_state == KVM_MP_STATE_HALTED && ioctl(v->fd, KVM_GET_REGS, &regs) == 0 &&
            !(regs.rflags & (1u << 9)))
            idle = VCPU_HALTED_NOIRQ;
        else if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED ||
                 mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
            idle = VCPU_PARKED;
    }
    atomic_store(&v->idle, idle);
}

/* Finish the I/O or MMIO access of the last exit inside KVM without running the guest on: until
 * KVM_RUN is entered again, RIP still points at the instruction and an IN's value is not in its
 * register, so a snapshot taken now would make the restored guest repeat the access (a second
 * read of the UART's IIR loses its transmit interrupt; a second OUT writes a byte twice). A
 * string instruction may need more exits to finish: each is served, at most
 * VCPU_COMPLETE_EXITS. Returns true when one of them stops the VM. */
#define VCPU_COMPLETE_EXITS 64

static bool vcpu_complete_exit(struct vcpu *v)
{
    for (unsigned i = 0; i < VCPU_COMPLETE_EXITS; i++) {
        v->run->immediate_exit = 1;
        int rc = ioctl(v->fd, KVM_RUN, 0) < 0 ? errno : 0;
        v->run->immediate_exit = 0;
        if (rc == EINTR || rc == EAGAIN)
            return false; /* complete: nothing of the guest ran */
        if (rc) {
            log_warn("vCPU %u: completing the last exit before a pause: %s", v->id, strerror(rc));
            return false;
        }
        struct vm_exit e;
        exit_decode(v->run, &e);
        if (exit_dispatch(v->vm, v, &e) == EXIT_STOP)
            return true;
    }
    log_warn("vCPU %u: still in a string I/O after %u exits: paused inside it", v->id,
             VCPU_COMPLETE_EXITS);
    return false;
}

/* Between two KVM_RUNs: honour stop, pause and idle-check requests. Returns true to exit. */
static bool vcpu_service(struct vcpu *v)
{
    struct vm *vm = v->vm;
    if (atomic_exchange(&v->check_idle, false))
        report_idle(v);
    bool completed = false;
    pthread_mutex_lock(&vm->lock);
    while (vm->state == VM_PAUSED) {
        if (!completed) {
            /* before counting as paused, so that the state a snapshot reads is consistent; the
             * state is read again after it (a pause that came meanwhile is seen either way) */
            pthread_mutex_unlock(&vm->lock);
            if (vcpu_complete_exit(v))
                return true;
            completed = true;
            pthread_mutex_lock(&vm->lock);
            continue;
        }
        vm->paused_vcpus++;
        pthread_cond_broadcast(&vm->cond);
        while (vm->state == VM_PAUSED)
            pthread_cond_wait(&vm->cond, &vm->lock);
        vm->paused_vcpus--;
    }
    bool stop = vm->state == VM_STOPPING;
    pthread_mutex_unlock(&vm->lock);
    return stop;
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    struct vm *vm = v->vm;
    sigset_t set;
    sigfillset(&set);
    sigdelset(&set, SIG_KICK);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    tls_run = v->run;
    bool run = !vm->vcpu_thread_start || vm->vcpu_thread_start(vm) == 0; /* else stopping */

    while (run) {
        if (vcpu_service(v))
            break;
        uint64_t none = 0;
        if (!atomic_load_explicit(&vm->stats.first_run_ns, memory_order_relaxed))
            atomic_compare_exchange_strong(&vm->stats.first_run_ns, &none, now_ns());
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            vm_request_stop(vm, TRUCE_EXIT_HOST, "vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
            break;
        }
        struct vm_exit e;
        exit_decode(v->run, &e);
        if (exit_dispatch(vm, v, &e) == EXIT_STOP)
            break;
    }
    tls_run = NULL;
    if (log_enabled(LOG_LVL_DEBUG)) /* reads every page of the stack: debug level only */
        log_debug("vCPU %u: stack used %zu KiB of %u KiB", v->id, thread_stack_used() >> 10,
                  THREAD_STACK_VCPU >> 10);
    atomic_store(&v->exited, true);
    return NULL;
}

int vcpu_start(struct vcpu *v)
{
    int rc = install_kick_handler();
    if (rc)
        return rc;
    rc = thread_create(&v->thread, THREAD_STACK_VCPU, vcpu_thread, v);
    if (rc)
        return rc;
    v->started = true;
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (v->started)
        pthread_kill(v->thread, SIG_KICK);
}

void vcpu_join(struct vcpu *v)
{
    if (v->started)
        pthread_join(v->thread, NULL);
    v->started = false;
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->run != MAP_FAILED && v->run)
        munmap(v->run, v->vm->kvm->run_size);
    v->run = NULL;
    if (v->fd >= 0)
        close(v->fd);
    v->fd = -1;
}
