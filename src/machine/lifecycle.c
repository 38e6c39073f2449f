/* lifecycle.c — VM lifecycle: start, monitor (signals, idle guests), pause, resume, destroy. */
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

#include "dev/dev.h"
#include "util/util.h"
#include "machine/machine.h"
#include "sandbox/sandbox.h"
#include "ui/ui.h"
#include "vm/vm.h"

#define IDLE_TICK_MS 100

static void *io_thread(void *arg)
{
    struct vm *vm = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    /* a sandbox failure has stopped the VM already */
    int rc = sandbox_enter(vm, SANDBOX_IO) < 0 ? 0 : evloop_run(vm->loop);
    if (rc)
        vm_request_stop(vm, TRUCE_EXIT_HOST, "I/O thread: %s", strerror(-rc));
    /* measuring reads every page of the stack: at debug level only (a fault per page) */
    if (log_enabled(LOG_LVL_DEBUG))
        log_debug("I/O thread: stack used %zu KiB of %u KiB", thread_stack_used() >> 10,
                  THREAD_STACK_IO >> 10);
    atomic_store(&vm->io_thread_exited, true);
    return NULL;
}

void vm_mark(struct vm *vm, enum vm_mark m)
{
    atomic_store(&vm->marks[m], now_ns());
}

void vm_marks_format(const struct vm *vm, char *buf, size_t size)
{
    static const char *const names[VM_NMARKS] = {
        [VM_MARK_READ] = "read",       [VM_MARK_KVM] = "kvm",         [VM_MARK_MMAP] = "mmap",
        [VM_MARK_SLOTS] = "memslots",  [VM_MARK_IRQCHIP] = "irqchip", [VM_MARK_CPUID] = "cpuid",
        [VM_MARK_DEVICES] = "devices", [VM_MARK_VCPUS] = "vcpus",     [VM_MARK_STATE] = "state",
        [VM_MARK_PREPARE] = "prepare", [VM_MARK_THREADS] = "threads", [VM_MARK_SECCOMP] = "seccomp",
        [VM_MARK_BOOT] = "boot",
    };
    uint64_t begin = atomic_load(&vm->marks[VM_MARK_BEGIN]), prev = begin;
    uint64_t run = atomic_load(&vm->stats.first_run_ns);
    size_t n = (size_t)snprintf(buf, size, "start-stats restore=%d", vm->restoring);
    /* the marks reached, in the order they were reached */
    bool done[VM_NMARKS] = {false};
    for (int left = VM_NMARKS; begin && left > 0 && n < size; left--) {
        int m = -1;
        for (int i = VM_MARK_READ; i < VM_NMARKS; i++)
            if (!done[i] && atomic_load(&vm->marks[i]) &&
                (m < 0 || atomic_load(&vm->marks[i]) < atomic_load(&vm->marks[m])))
                m = i;
        if (m < 0)
            break;
        done[m] = true;
        uint64_t t = atomic_load(&vm->marks[m]);
        n += (size_t)snprintf(buf + n, size - n, " %s=%llu", names[m],
                              (unsigned long long)(t > prev ? t - prev : 0) / 1000);
        prev = MAX(t, prev);
    }
    /* and where the timeline sits on CLOCK_MONOTONIC: from main() (the loader before it, the
     * front end after it) to the build's start */
    if (n < size && begin)
        snprintf(buf + n, size - n, " run=%llu total=%llu main_ns=%llu begin_ns=%llu",
                 (unsigned long long)(run > prev ? run - prev : 0) / 1000,
                 (unsigned long long)(run > begin ? run - begin : 0) / 1000,
                 (unsigned long long)process_start_ns(), (unsigned long long)begin);
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
    vm_mark(vm, VM_MARK_PREPARE);
    if (paused)
        devices_pause(vm); /* a paused VM's devices are paused too, until vm_resume */
    vm->vcpu_thread_start = sandbox_vcpu_enter;
    vm->loader_thread_start = sandbox_loader_enter;
    /* the boot files still to load first: the guest may touch them from its first instruction */
    char err[256];
    int rc = lazy_start(vm, err, sizeof(err));
    if (rc) {
        vm_request_stop(vm, TRUCE_EXIT_HOST, "%s", err);
        return rc;
    }
    /* the vCPUs next: their start (Landlock, seccomp) overlaps the other threads' creation; what
     * a guest asks of the I/O thread before it runs waits in its eventfds */
    for (unsigned i = 0; i < vm->ncpus; i++) {
        rc = vcpu_start(&vm->vcpus[i]);
        if (rc) {
            vm_request_stop(vm, TRUCE_EXIT_HOST, "cannot start vCPU %u thread", i);
            return rc;
        }
    }
    if ((rc = thread_create(&vm->io_thread, THREAD_STACK_IO, io_thread, vm))) {
        vm_request_stop(vm, TRUCE_EXIT_HOST, "cannot start the I/O thread");
        return rc;
    }
    vm->io_thread_started = true;
    if ((rc = ui_start(vm, sandbox_vnc_enter)) < 0) {
        vm_request_stop(vm, TRUCE_EXIT_HOST, "cannot start the VNC server thread");
        return rc;
    }
    vm_mark(vm, VM_MARK_THREADS);
    return 0;
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
    vm_kick_all(vm);
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
    sandbox_enter(vm, SANDBOX_MAIN); /* on failure the VM is stopping */
    unsigned idle_streak = 0;
    bool trimmed = false;
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
        if (n == 0 && !trimmed) {
            /* one tick after the start every thread runs under its filters: what building the
             * VM and the sandboxes touched (loaders, tables, filter compilers) is not kept */
            footprint_trim();
            trimmed = true;
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
    lazy_finish(vm); /* a paused guest's RAM is whole (snapshots, migration) */
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VM_RUNNING) {
        pthread_mutex_unlock(&vm->lock);
        return -EINVAL;
    }
    vm->state = VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    vm_kick_all(vm);
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
    if (atomic_load(&vm->marks[VM_MARK_BEGIN])) {
        char line[512];
        vm_marks_format(vm, line, sizeof(line));
        log_debug("%s", line);
    }
    pthread_mutex_lock(&vm->lock);
    bool live = vm->state == VM_RUNNING || vm->state == VM_PAUSED;
    pthread_mutex_unlock(&vm->lock);
    if (live)
        vm_request_stop(vm, TRUCE_EXIT_HOST, "VM destroyed");
    lazy_stop(vm); /* first: a vCPU waiting on a page it touched gets it (a zero page) */
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
    if (vm->landlock_fd > 0)
        close(vm->landlock_fd);
    vm->landlock_fd = 0;
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
