/* device.h — the device contract: self-registering device classes, instances and their ops
 * (reset, pause/resume, save/restore, stop, destroy), the registry every VM walks. */
#ifndef TRUCE_DEVICE_H
#define TRUCE_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

/* ---- device classes --------------------------------------------------------------------------
 * Each device file declares one class with DEVICE_CLASS(). vm_create() calls every class's
 * create() in ascending `order`; create() looks at vm->cfg, creates zero or more instances,
 * registers their I/O ranges and adds each with device_add(). No device is created elsewhere. */
enum device_order {
    DEV_ORDER_PLATFORM = 0, /* legacy ISA devices, console */
    DEV_ORDER_BUS = 10,     /* PCI host bridge */
    DEV_ORDER_PCI = 20,     /* devices on PCI */
    DEV_ORDER_LATE = 30,    /* firmware tables that describe everything above */
};

struct device_class {
    const char *name;
    int order;
    /* Return 0 (possibly creating nothing) or <0 with one line in ERR. */
    int (*create)(struct vm *vm, char *err, size_t errlen);
};

#define DEVICE_CLASS(cls)                                                                          \
    static const struct device_class *const __devcls_##cls                                         \
        __attribute__((used, section("truce_devices"), aligned(sizeof(void *)))) = &cls

/* Per-instance operations: the device contract.
 * A device keeps its guest-visible state (registers, queue configuration and ring indices,
 * negotiated features, interrupt state) in one versioned plain struct, apart from its runtime
 * part (locks, fds, threads, host pointers, counters), and describes that struct in one visit
 * function (util/state.h) used by both save and restore. A snapshot is the concatenation of the
 * sections of every instance in creation order (devices_save). */
struct state_visitor;
struct device_ops {
    const char *name;
    void (*reset)(void *dev);   /* guest or VMM reset; may be NULL */
    void (*stop)(void *dev);    /* before threads are joined: quiesce I/O; may be NULL */
    void (*destroy)(void *dev); /* after every thread stopped: free everything; may be NULL */
    /* The VM is pausing and its vCPUs are already out of KVM_RUN: stop everything that changes
     * guest-visible state on other threads (queue processing, host input, backend frames) and
     * finish in-flight I/O before returning; work that arrives meanwhile (a queue kick, host
     * input) stays pending. Called on the pausing thread with the I/O thread running and no
     * device lock held. May be NULL: nothing runs besides vCPU accesses. */
    void (*pause)(void *dev);
    /* Undo pause: pending work is processed now. Same thread rules. May be NULL. */
    void (*resume)(void *dev);
    /* Append the guest-visible state (its sections) to V. The device is paused (or the VM never
     * ran). Returns 0 or V's error. May be NULL: the device has no guest-visible state. */
    int (*save)(void *dev, struct state_visitor *v);
    /* Read what save wrote into this freshly created instance (same configuration, VM
     * paused or never started), check every value, then rebuild the runtime part (interrupt
     * lines, host pointers into guest RAM). All or nothing: on error the device is unchanged and
     * V holds the message. May be NULL exactly when save is. */
    int (*restore)(void *dev, struct state_visitor *v);
};

struct device_instance {
    const struct device_ops *ops;
    void *dev;
    struct device_instance *next;
};

/* Add an instance to VM (destroyed in reverse order by vm_destroy). Returns 0 or -ENOMEM. */
int device_add(struct vm *vm, const struct device_ops *ops, void *dev);
struct io_ops;
/* Register IO for DEV on the LEN I/O ports from PORT (called IONAME on the bus), then add DEV as
 * an instance with OPS; the ports are released when adding fails. Returns 0 or <0 with ERR
 * "<OPS->name>: cannot register port(s) ...". */
int device_add_pio(struct vm *vm, uint16_t port, unsigned len, const struct io_ops *io,
                   const char *ioname, const struct device_ops *ops, void *dev, char *err,
                   size_t errlen);
/* Create every registered class in order. Returns 0 or the first error (ERR filled). */
int devices_create(struct vm *vm, char *err, size_t errlen);
/* Stop (before threads are joined) and destroy (after) every instance, last created first. */
void devices_stop(struct vm *vm);
void devices_destroy(struct vm *vm);
/* Reset every instance, in creation order. */
void devices_reset(struct vm *vm);
/* Pause every instance (last created first) / resume them (first created first). */
void devices_pause(struct vm *vm);
void devices_resume(struct vm *vm);
/* Save every instance's state in creation order into V / restore it from V into a VM created
 * with the same configuration. Restore checks that V holds exactly the sections this VM's
 * devices expect; a failed restore leaves some devices restored: discard the VM. Return 0 or
 * V's error (message in v->msg). */
int devices_save(struct vm *vm, struct state_visitor *v);
int devices_restore(struct vm *vm, struct state_visitor *v);
/* The first instance of VM created with OPS, or NULL. */
void *device_find(struct vm *vm, const struct device_ops *ops);
/* The registered classes in creation order (by order, then name): fills OUT when MAX is large
 * enough and returns how many there are. */
size_t device_classes(const struct device_class **out, size_t max);
/* Sort N classes into creation order (used by device_classes; exposed for tests). */
void device_classes_sort(const struct device_class **v, size_t n);
/* The registered class called NAME, or NULL (tests create single devices through it). */
const struct device_class *device_class_find(const char *name);

#endif
