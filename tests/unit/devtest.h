/* devtest.h — helpers for device unit tests: a hand-built struct vm (no /dev/kvm) and port I/O. */
#ifndef TRUCE_DEVTEST_H
#define TRUCE_DEVTEST_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dev/dev.h"
#include "util/util.h"
#include "vm/vm.h"

/* A VM with buses, lock and state but no KVM fd: irq_line() fails quietly, vm_request_stop()
 * records the status. RAM_BYTES sizes the (unmapped) memory layout the way memory.c lays it out:
 * below 3 GiB, the rest from 4 GiB. */
static inline void test_vm_init(struct vm *vm, uint64_t ram_bytes)
{
    memset(vm, 0, sizeof(*vm));
    vm->fd = -1;
    vm->stop_pipe[0] = vm->stop_pipe[1] = -1;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    io_bus_init(&vm->pio, "pio");
    io_bus_init(&vm->mmio, "mmio");
    vm->state = VM_RUNNING;
    vm->cfg.console = CONSOLE_NONE;
    uint64_t low = MIN(ram_bytes, LAYOUT_MMIO_HOLE);
    vm->mem.r[0] = (struct mem_region){.gpa = 0, .size = low};
    vm->mem.nr = 1;
    if (ram_bytes > low) {
        vm->mem.r[1] = (struct mem_region){.gpa = LAYOUT_4G, .size = ram_bytes - low};
        vm->mem.nr = 2;
    }
    vm->mem.ram_size = ram_bytes;
}

/* Create one registered device class by name in VM; the test fails if it does not exist or its
 * create() fails. */
static inline void test_create(struct vm *vm, const char *name)
{
    const struct device_class *c = device_class_find(name);
    assert_non_null(c);
    char err[256] = "";
    int rc = c->create(vm, err, sizeof(err));
    if (rc)
        fail_msg("create %s: %d %s", name, rc, err);
}

static inline uint8_t test_inb(struct vm *vm, uint16_t port)
{
    uint8_t v = 0;
    assert_int_equal(io_bus_access(&vm->pio, port, &v, 1, false), 0);
    return v;
}

static inline void test_outb(struct vm *vm, uint16_t port, uint8_t v)
{
    assert_int_equal(io_bus_access(&vm->pio, port, &v, 1, true), 0);
}

static inline bool test_stopped(struct vm *vm, int *status)
{
    pthread_mutex_lock(&vm->lock);
    bool s = vm->state == VM_STOPPING;
    if (status)
        *status = vm->exit_status;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

/* Poll COND_FN(ARG) until true; gives up (returns false) after about 10 s so a broken device
 * fails the test instead of hanging it. Not a timing assertion. */
static inline bool test_wait(bool (*cond_fn)(void *), void *arg)
{
    for (int i = 0; i < 10000; i++) {
        if (cond_fn(arg))
            return true;
        usleep(1000);
    }
    return cond_fn(arg);
}

/* An event loop on its own thread, as the VM's I/O thread. */
struct test_loop {
    pthread_t thread;
    struct evloop *loop;
};

static inline void *test_loop_main(void *arg)
{
    evloop_run(arg);
    return NULL;
}

static inline void test_loop_start(struct vm *vm, struct test_loop *t)
{
    t->loop = evloop_new();
    assert_non_null(t->loop);
    vm->loop = t->loop;
    assert_int_equal(pthread_create(&t->thread, NULL, test_loop_main, t->loop), 0);
}

static inline void test_barrier_cb(void *arg)
{
    atomic_store((atomic_bool *)arg, true);
}

/* Wait until T's loop has dispatched everything made ready before this call: an fd ready before
 * the first call is reported by the same epoll_wait as that call or an earlier one; the second
 * call runs in a later iteration, after that whole batch. */
static inline void test_loop_quiesce(struct test_loop *t)
{
    for (int i = 0; i < 2; i++) {
        atomic_bool done = false;
        assert_int_equal(evloop_call(t->loop, test_barrier_cb, &done), 0);
        while (!atomic_load(&done))
            usleep(100);
    }
}

/* Tear down VM the way vm_destroy does: stop devices, stop the I/O thread (LOOP, may be NULL),
 * destroy devices, free the loop and buses. */
static inline void test_vm_free(struct vm *vm, struct test_loop *loop)
{
    devices_stop(vm);
    if (loop) {
        evloop_stop(loop->loop);
        pthread_join(loop->thread, NULL);
    }
    devices_destroy(vm);
    if (loop)
        evloop_free(loop->loop);
    vm->loop = NULL;
    io_bus_free(&vm->pio);
    io_bus_free(&vm->mmio);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
}

#endif
