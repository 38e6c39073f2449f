/* lifecycle.c — VM lifecycle: create, start, monitor (signals, idle guests), pause, stop, destroy. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "boot/boot.h"
#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

#define CPUID_MAX_ENTRIES 256
#define IDLE_TICK_MS      100

static int vm_set_memory(struct vm *vm)
{
    for (unsigned i = 0; i < vm->mem.nr; i++) {
        struct kvm_userspace_memory_region r = {
            .slot = i,
            .guest_phys_addr = vm->mem.r[i].gpa,
            .memory_size = vm->mem.r[i].size,
            .userspace_addr = (uintptr_t)vm->mem.r[i].hva,
        };
        if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
            return -errno;
    }
    return 0;
}

static int vm_fetch_cpuid(struct vm *vm)
{
    vm->cpuid = calloc(1, sizeof(*vm->cpuid) + CPUID_MAX_ENTRIES * sizeof(vm->cpuid->entries[0]));
    if (!vm->cpuid)
        return -ENOMEM;
    vm->cpuid->nent = CPUID_MAX_ENTRIES;
    return ioctl(vm->kvm->fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) < 0 ? -errno : 0;
}

/* KVM VM fd, TSS/identity map, in-kernel PIC+IOAPIC+LAPIC and PIT. */
static int vm_create_kvm(struct vm *vm, char *err, size_t errlen)
{
    uint64_t idmap = LAYOUT_IDENTITY_MAP;
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    const char *what = "KVM_CREATE_VM";
    vm->fd = ioctl(vm->kvm->fd, KVM_CREATE_VM, 0);
    if (vm->fd < 0)
        goto fail;
    what = "KVM_SET_TSS_ADDR";
    if (ioctl(vm->fd, KVM_SET_TSS_ADDR, LAYOUT_TSS_ADDR) < 0)
        goto fail;
    what = "KVM_SET_IDENTITY_MAP_ADDR";
    if (ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        goto fail;
    what = "KVM_CREATE_IRQCHIP";
    if (ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0)
        goto fail;
    what = "KVM_CREATE_PIT2";
    if (ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0)
        goto fail;
    return 0;
fail:;
    int e = errno;
    snprintf(err, errlen, "kvm: %s: %s", what, strerror(e));
    return -e;
}

static int vm_create_memory(struct vm *vm, int mem_fd, char *err, size_t errlen)
{
    int rc = mem_fd >= 0 ? guest_mem_init_file(&vm->mem, vm->cfg.mem_bytes, mem_fd)
                         : guest_mem_init(&vm->mem, vm->cfg.mem_bytes, vm->cfg.hugepages);
    if (rc) {
        if (vm->cfg.hugepages && rc == -ENOMEM)
            snprintf(err, errlen,
                     "--hugepages: not enough free 2 MiB huge pages for %llu MiB "
                     "(see /proc/sys/vm/nr_hugepages)",
                     (unsigned long long)(vm->cfg.mem_bytes >> 20));
        else
            snprintf(err, errlen, "--memory: cannot map %llu bytes of guest RAM: %s",
                     (unsigned long long)vm->cfg.mem_bytes, strerror(-rc));
        return rc;
    }
    rc = vm_set_memory(vm);
    if (rc)
        snprintf(err, errlen, "kvm: KVM_SET_USER_MEMORY_REGION: %s", strerror(-rc));
    return rc;
}

/* vm_create, and vm_create_restore when MEM_FD >= 0. */
static int vm_build(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, int mem_fd,
                    char *err, size_t errlen)
{
    memset(vm, 0, sizeof(*vm));
    vm->kvm = kvm;
    vm->fd = -1;
    vm->cfg = *cfg;
    vm->ncpus = cfg->cpus;
    vm->stop_pipe[0] = vm->stop_pipe[1] = -1;
    vm->restoring = mem_fd >= 0;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    io_bus_init(&vm->pio, "pio");
    io_bus_init(&vm->mmio, "mmio");
    vm->state = VM_CREATED;

    int rc;
    if (pipe2(vm->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0 || !(vm->loop = evloop_new())) {
        snprintf(err, errlen, "host: cannot create the event loop: %s", strerror(errno));
        return -ENOMEM;
    }
    if ((rc = vm_create_kvm(vm, err, errlen)) || (rc = vm_create_memory(vm, mem_fd, err, errlen)))
        return rc;
    if ((rc = vm_fetch_cpuid(vm))) {
        snprintf(err, errlen, "kvm: KVM_GET_SUPPORTED_CPUID: %s", strerror(-rc));
        return rc;
    }
    if ((rc = console_open(vm, err, errlen)) || (rc = devices_create(vm, err, errlen)) ||
        (!vm->restoring && (rc = boot_load(vm, err, errlen))))
        return rc;
    vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
    if (!vm->vcpus)
        return -ENOMEM;
    for (unsigned i = 0; i < vm->ncpus; i++)
        vm->vcpus[i].fd = -1;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        rc = vcpu_create(vm, &vm->vcpus[i], i);
        if (rc) {
            snprintf(err, errlen, "kvm: creating vCPU %u: %s", i, strerror(-rc));
            return rc;
        }
    }
    return 0;
}

int vm_create(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, char *err,
              size_t errlen)
{
    return vm_build(vm, kvm, cfg, -1, err, errlen);
}

int vm_create_restore(struct vm *vm, struct kvm_host *kvm, const struct vm_config *cfg, int mem_fd,
                      char *err, size_t errlen)
{
    if (mem_fd < 0)
        return snprintf(err, errlen, "snapshot: no memory file"), -EINVAL;
    return vm_build(vm, kvm, cfg, mem_fd, err, errlen);
}

static void *io_thread(void *arg)
{
    struct vm *vm = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    int rc = evloop_run(vm->loop);
    if (rc)
        vm_request_stop(vm, TRUCE_EXIT_HOST, "I/O thread: %s", strerror(-rc));
    atomic_store(&vm->io_thread_exited, true);
    return NULL;
}

int vm_start(struct vm *vm)
{
    return vm_start_in(vm, false);
}

int vm_start_in(struct vm *vm, bool paused)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_CREATED) {
        pthread_mutex_unlock(&vm->lock);
        return -EINVAL;
    }
    vm->state = paused ? VM_PAUSED : VM_RUNNING;
    pthread_mutex_unlock(&vm->lock);
    int rc = pthread_create(&vm->io_thread, NULL, io_thread, vm);
    if (rc)
        return -rc;
    vm->io_thread_started = true;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        rc = vcpu_start(&vm->vcpus[i]);
        if (rc) {
            vm_request_stop(vm, TRUCE_EXIT_HOST, "cannot start vCPU %u thread", i);
            return rc;
        }
    }
    return 0;
}

bool vm_stopping(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool s = vm->state == VM_STOPPING;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

static void kick_all(struct vm *vm)
{
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
        vcpu_kick(&vm->vcpus[i]);
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state == VM_STOPPING) {
        pthread_mutex_unlock(&vm->lock);
        return;
    }
    vm->state = VM_STOPPING;
    vm->exit_status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
    va_end(ap);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    if (vm->stop_pipe[1] >= 0 && write(vm->stop_pipe[1], "x", 1) < 0) {
        /* the pipe already holds a byte */
    }
    kick_all(vm);
}

/* One idle round: collect the previous answers, ask again. Returns true when every vCPU said it
 * can never run again (halted with IF=0, or an AP never started) and at least one halted. */
static bool idle_round(struct vm *vm)
{
    bool all_idle = true, any_halted = false;
    for (unsigned i = 0; i < vm->ncpus; i++) {
        int idle = atomic_load(&vm->vcpus[i].idle);
        all_idle &= idle != VCPU_ACTIVE;
        any_halted |= idle == VCPU_HALTED_NOIRQ;
        atomic_store(&vm->vcpus[i].idle, VCPU_ACTIVE);
        atomic_store(&vm->vcpus[i].check_idle, true);
    }
    kick_all(vm);
    return all_idle && any_halted;
}

static int open_signalfd(void)
{
    sigset_t set;
    signals_block_termination(&set);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int vm_wait(struct vm *vm)
{
    int sfd = open_signalfd();
    unsigned idle_streak = 0;
    while (!vm_stopping(vm)) {
        struct pollfd p[2] = {{.fd = vm->stop_pipe[0], .events = POLLIN},
                              {.fd = sfd, .events = POLLIN}};
        int n = poll(p, sfd >= 0 ? 2 : 1, IDLE_TICK_MS);
        if (n > 0 && sfd >= 0 && (p[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si))
                vm_request_stop(vm, TRUCE_EXIT_SIGNAL, "stopped by signal %s",
                                strsignal(si.ssi_signo));
        }
        if (n == 0) {
            pthread_mutex_lock(&vm->lock);
            bool running = vm->state == VM_RUNNING;
            pthread_mutex_unlock(&vm->lock);
            idle_streak = running && idle_round(vm) ? idle_streak + 1 : 0;
            if (idle_streak >= 2)
                vm_request_stop(vm, TRUCE_EXIT_HALTED,
                                "every vCPU is halted with interrupts disabled");
        }
    }
    if (sfd >= 0)
        close(sfd);
    return vm->exit_status;
}

int vm_pause(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_RUNNING) {
        pthread_mutex_unlock(&vm->lock);
        return -EINVAL;
    }
    vm->state = VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    kick_all(vm);
    pthread_mutex_lock(&vm->lock);
    while (vm->state == VM_PAUSED && vm->paused_vcpus < vm->ncpus)
        pthread_cond_wait(&vm->cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
    /* Freeze guest time: kvmclock resumes from this value. */
    if (ioctl(vm->fd, KVM_GET_CLOCK, &vm->paused_clock) < 0)
        log_warn("KVM_GET_CLOCK: %s", strerror(errno));
    for (unsigned i = 0; i < vm->ncpus; i++)
        ioctl(vm->vcpus[i].fd, KVM_KVMCLOCK_CTRL, 0); /* fails when the guest has no kvmclock */
    devices_pause(vm); /* no queue processing, disk I/O completed, frames held (dev/dev.h) */
    return 0;
}

int vm_resume(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_PAUSED) {
        pthread_mutex_unlock(&vm->lock);
        return -EINVAL;
    }
    pthread_mutex_unlock(&vm->lock);
    devices_resume(vm); /* devices first: the vCPUs find them running */
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_PAUSED) { /* stopped meanwhile */
        pthread_mutex_unlock(&vm->lock);
        return -EINVAL;
    }
    struct kvm_clock_data c = {.clock = vm->paused_clock.clock};
    if (c.clock && ioctl(vm->fd, KVM_SET_CLOCK, &c) < 0)
        log_warn("KVM_SET_CLOCK: %s", strerror(errno));
    vm->state = VM_RUNNING;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

void vm_destroy(struct vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    bool live = vm->state == VM_RUNNING || vm->state == VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    if (live)
        vm_request_stop(vm, TRUCE_EXIT_HOST, "VM destroyed");
    shutdown_watch_start(vm);
    shutdown_watch_step(vm, "joining the vCPU threads");
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
        vcpu_join(&vm->vcpus[i]);
    shutdown_watch_step(vm, "stopping the devices");
    devices_stop(vm);
    if (vm->io_thread_started) {
        shutdown_watch_step(vm, "joining the I/O thread");
        evloop_stop(vm->loop);
        pthread_join(vm->io_thread, NULL);
        vm->io_thread_started = false;
    }
    shutdown_watch_step(vm, "destroying the devices");
    devices_destroy(vm);
    shutdown_watch_end(vm);
    if (vm->console)
        console_close(vm->console);
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus; i++)
        vcpu_destroy(&vm->vcpus[i]);
    free(vm->vcpus);
    vm->vcpus = NULL;
    free(vm->cpuid);
    vm->cpuid = NULL;
    if (vm->fd >= 0)
        close(vm->fd);
    vm->fd = -1;
    guest_mem_free(&vm->mem);
    io_bus_free(&vm->pio);
    io_bus_free(&vm->mmio);
    if (vm->loop)
        evloop_free(vm->loop);
    vm->loop = NULL;
    for (int i = 0; i < 2; i++)
        if (vm->stop_pipe[i] >= 0)
            close(vm->stop_pipe[i]);
    vm->stop_pipe[0] = vm->stop_pipe[1] = -1;
}
