/* shutdown.c — the teardown watchdog: a VM that was asked to stop always ends, stuck threads or
 * not.
 *
 * vm_destroy joins every thread a guest can keep busy (vCPUs waiting for a device lock, an I/O
 * thread inside a device loop). Those joins cannot be interrupted, so a watchdog thread gives the
 * teardown TRUCE_SHUTDOWN_GRACE_MS; when it runs out, it names the threads that never finished
 * and the step the teardown was in, prints the VM's own exit reason and status, and ends the
 * process with that status through proc_forced_exit (terminal restored, nothing else run). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/util.h"
#include "vm/vm.h"

/* Write the "who is stuck" line into BUF (vCPU and I/O threads that have not ended). */
static void stuck_threads(struct vm *vm, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (unsigned i = 0; vm->vcpus && i < vm->ncpus && off < len; i++)
        if (vm->vcpus[i].started && !atomic_load(&vm->vcpus[i].exited))
            off += (size_t)snprintf(buf + off, len - off, "%svCPU %u", off ? ", " : "", i);
    if (vm->io_thread_started && !atomic_load(&vm->io_thread_exited) && off < len)
        off += (size_t)snprintf(buf + off, len - off, "%sI/O thread", off ? ", " : "");
    if (!off)
        snprintf(buf, len, "none (the teardown itself)");
}

static void *watchdog(void *arg)
{
    struct vm *vm = arg;
    struct shutdown_watch *w = &vm->shutdown;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += w->grace_ms / 1000;
    dl.tv_nsec += (long)(w->grace_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    int rc = 0;
    while (!w->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->cond, &w->lock, &dl);
    bool done = w->done;
    pthread_mutex_unlock(&w->lock);
    if (done)
        return NULL;
    char who[160];
    stuck_threads(vm, who, sizeof(who));
    fprintf(stderr,
            "truce: shutdown did not complete within %u ms while %s; stuck: %s; exiting anyway\n"
            "truce: %s (exit status %d)\n",
            w->grace_ms, atomic_load(&w->step), who, vm->exit_reason, vm->exit_status);
    fflush(stderr);
    proc_forced_exit(vm->exit_status);
}

void shutdown_watch_start(struct vm *vm)
{
    struct shutdown_watch *w = &vm->shutdown;
    if (w->armed)
        return;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&w->lock, NULL);
    if (!w->grace_ms)
        w->grace_ms = TRUCE_SHUTDOWN_GRACE_MS;
    atomic_store(&w->step, "starting the teardown");
    w->done = false;
    w->armed = pthread_create(&w->thread, NULL, watchdog, vm) == 0;
    if (!w->armed)
        log_warn("shutdown: cannot start the watchdog thread; a stuck thread could hang exit");
}

void shutdown_watch_step(struct vm *vm, const char *step)
{
    atomic_store(&vm->shutdown.step, step);
}

void shutdown_watch_end(struct vm *vm)
{
    struct shutdown_watch *w = &vm->shutdown;
    if (!w->armed)
        return;
    pthread_mutex_lock(&w->lock);
    w->done = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    w->armed = false;
}
