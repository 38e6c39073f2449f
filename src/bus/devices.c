/* devices.c — the device registry: classes from the truce_devices section, instances per VM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/device.h"
#include "util/state.h"
#include "util/util.h"
#include "vm/vm.h"

/* Bounds of the linker section DEVICE_CLASS() fills; weak so a link without devices works. */
extern const struct device_class *const __start_truce_devices[] __attribute__((weak));
extern const struct device_class *const __stop_truce_devices[] __attribute__((weak));

/* True when A must be created before B: by order, then by name so the sequence never depends on
 * link order. */
static bool class_before(const struct device_class *a, const struct device_class *b)
{
    if (a->order != b->order)
        return a->order < b->order;
    return strcmp(a->name, b->name) < 0;
}

void device_classes_sort(const struct device_class **v, size_t n)
{
    for (size_t i = 1; i < n; i++) { /* insertion sort: a few dozen classes at most */
        const struct device_class *c = v[i];
        size_t j = i;
        while (j > 0 && class_before(c, v[j - 1])) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = c;
    }
}

size_t device_classes(const struct device_class **out, size_t max)
{
    if (!__start_truce_devices || !__stop_truce_devices)
        return 0;
    size_t n = (size_t)(__stop_truce_devices - __start_truce_devices);
    if (!out || max < n)
        return n;
    for (size_t i = 0; i < n; i++)
        out[i] = __start_truce_devices[i];
    device_classes_sort(out, n);
    return n;
}

const struct device_class *device_class_find(const char *name)
{
    size_t n = device_classes(NULL, 0);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(__start_truce_devices[i]->name, name))
            return __start_truce_devices[i];
    return NULL;
}

int device_add(struct vm *vm, const struct device_ops *ops, void *dev)
{
    struct device_instance *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->ops = ops;
    d->dev = dev;
    struct device_instance **pp = &vm->devices;
    while (*pp)
        pp = &(*pp)->next;
    *pp = d;
    return 0;
}

int device_add_pio(struct vm *vm, uint16_t port, unsigned len, const struct io_ops *io,
                   const char *ioname, const struct device_ops *ops, void *dev, char *err,
                   size_t errlen)
{
    int rc = io_bus_register(&vm->pio, port, len, io, dev, ioname);
    if (!rc && (rc = device_add(vm, ops, dev)))
        io_bus_unregister(&vm->pio, port);
    if (rc && len == 1)
        snprintf(err, errlen, "%s: cannot register port 0x%x: %s", ops->name, port, strerror(-rc));
    else if (rc)
        snprintf(err, errlen, "%s: cannot register ports 0x%x-0x%x: %s", ops->name, port,
                 port + len - 1, strerror(-rc));
    return rc;
}

void *device_find(struct vm *vm, const struct device_ops *ops)
{
    for (struct device_instance *d = vm->devices; d; d = d->next)
        if (d->ops == ops)
            return d->dev;
    return NULL;
}

int devices_create(struct vm *vm, char *err, size_t errlen)
{
    size_t n = device_classes(NULL, 0);
    if (!n)
        return 0;
    const struct device_class **v = calloc(n, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "devices: out of memory");
        return -ENOMEM;
    }
    device_classes(v, n);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        err[0] = '\0';
        rc = v[i]->create(vm, err, errlen);
        if (rc && !err[0])
            snprintf(err, errlen, "%s: %s", v[i]->name, strerror(rc < 0 ? -rc : rc));
    }
    free(v);
    return rc;
}

/* FN on instance D and everything after it, last first. Recursion depth is the number of
 * devices (a few dozen); no allocation, so it works when memory is short. */
static void each_last_first(struct device_instance *d, void (*fn)(struct device_instance *d))
{
    if (!d)
        return;
    each_last_first(d->next, fn);
    fn(d);
}

static void stop_one(struct device_instance *d)
{
    if (d->ops->stop)
        d->ops->stop(d->dev);
}

void devices_stop(struct vm *vm)
{
    each_last_first(vm->devices, stop_one);
}

/* Destroy and free D (its successors are gone already). */
static void destroy_one(struct device_instance *d)
{
    if (d->ops->destroy)
        d->ops->destroy(d->dev);
    free(d);
}

void devices_destroy(struct vm *vm)
{
    struct device_instance *head = vm->devices;
    vm->devices = NULL;
    each_last_first(head, destroy_one);
}

void devices_reset(struct vm *vm)
{
    for (struct device_instance *d = vm->devices; d; d = d->next)
        if (d->ops->reset)
            d->ops->reset(d->dev);
}

static void pause_one(struct device_instance *d)
{
    if (d->ops->pause)
        d->ops->pause(d->dev);
}

void devices_pause(struct vm *vm)
{
    each_last_first(vm->devices, pause_one);
}

void devices_resume(struct vm *vm)
{
    for (struct device_instance *d = vm->devices; d; d = d->next)
        if (d->ops->resume)
            d->ops->resume(d->dev);
}

int devices_save(struct vm *vm, struct state_visitor *v)
{
    if (!state_begin(v, "devices", 1))
        return state_error(v);
    for (struct device_instance *d = vm->devices; d && !state_error(v); d = d->next)
        if (d->ops->save)
            d->ops->save(d->dev, v);
    state_end(v);
    return state_error(v);
}

int devices_restore(struct vm *vm, struct state_visitor *v)
{
    if (!state_begin(v, "devices", 1))
        return state_error(v);
    for (struct device_instance *d = vm->devices; d && !state_error(v); d = d->next)
        if (d->ops->restore)
            d->ops->restore(d->dev, v);
    state_end(v);
    return state_error(v);
}
