/* dev.h — contracts for devices: self-registering device classes, instances, the host console. */
#ifndef TRUCE_DEV_H
#define TRUCE_DEV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

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

/* ---- i8042 (dev/i8042.c) ---------------------------------------------------------------------
 * Queue the make and break scancodes of Ctrl+Alt+Del (set 1 when the controller translates, else
 * the keyboard's set) as a keyboard would send them. Any thread. Returns 0, -ENODEV (no i8042),
 * -EAGAIN (keyboard disabled by the guest) or -ENOSPC (output buffer full). */
int i8042_send_ctrl_alt_del(struct vm *vm);

/* ---- host console (dev/console.c) ------------------------------------------------------------
 * The host end of the guest console: output to stdout or a file, input from stdin in raw mode.
 * Ctrl-A x quits (TRUCE_EXIT_SIGNAL), Ctrl-A Ctrl-A sends one Ctrl-A. One device (the UART or
 * virtio-console) consumes input through rx; when it returns less than offered, the console
 * stops reading until the device calls console_rx_ready(). */
typedef size_t (*console_rx_fn)(void *opaque, const uint8_t *buf, size_t len);

/* Output never blocks the writer: the console's own file descriptions are non-blocking, bytes a
 * slow reader does not take wait in out_ring (flushed by the I/O thread on EPOLLOUT), and bytes
 * that do not fit are dropped and counted in out_dropped. */
#define CONSOLE_OUT_RING 16384

struct console {
    struct vm *vm;
    int in_fd;  /* -1: no input */
    int out_fd; /* -1: output discarded */
    bool raw;   /* terminal put in raw mode: restore on close */
    struct termios saved;
    bool escape; /* previous byte was Ctrl-A */
    uint8_t pending[256];
    size_t npending, pending_off;
    console_rx_fn rx;
    void *rx_opaque;
    bool rx_paused;
    /* input (I/O thread, except rx/rx_opaque under rx_lock) */
    pthread_mutex_t rx_lock; /* rx, rx_opaque; held while rx runs */
    bool in_watched;         /* in_fd is on the event loop */
    bool in_eof;             /* end of input seen: never watched again */
    bool in_sock;            /* in_fd is a socket: recv(MSG_DONTWAIT) */
    atomic_bool rx_kick;     /* a delivery is queued on the event loop */
    uint64_t in_dropped;     /* input bytes with no consumer */
    /* output (any thread, under out_lock) */
    pthread_mutex_t out_lock;
    uint8_t out_ring[CONSOLE_OUT_RING];
    size_t out_head, out_len;
    uint64_t out_dropped;
    bool out_waiting; /* EPOLLOUT watch requested or active */
    bool out_dead;    /* output failed for good (reader gone, hangup): discard */
    bool out_sock;    /* out_fd is a socket: send(MSG_DONTWAIT | MSG_NOSIGNAL) */
    bool closed;      /* console_close ran */
};

/* Open the console the config asks for (vm->cfg.console) and set vm->console; the console is
 * also a device instance, so vm_destroy frees it (and sets vm->console to NULL). A second call
 * returns 0 and changes nothing. Returns 0 or <0 with one line in ERR. */
int console_open(struct vm *vm, char *err, size_t errlen);
/* Open a console on duplicates of IN_FD (input, -1: none) and OUT_FD (output, -1: discard); the
 * caller keeps its descriptors. No terminal mode change. Same contract as console_open. */
int console_open_fds(struct vm *vm, int in_fd, int out_fd, char *err, size_t errlen);
/* Write guest output. Any thread; never blocks on a stuck reader (see CONSOLE_OUT_RING). */
void console_write(struct console *c, const uint8_t *buf, size_t len);
/* Make RX (NULL: nobody; input is then read, escapes handled, bytes dropped) the consumer of
 * input. RX runs on the I/O thread with the console's rx_lock held: a caller must not hold a lock
 * that RX takes. */
void console_set_rx(struct console *c, console_rx_fn rx, void *opaque);
/* The consumer has room again: deliver pending input and resume reading. Any thread, any lock. */
void console_rx_ready(struct console *c);
/* Stop reading, flush pending output (bounded wait) and restore the terminal. Idempotent. */
void console_close(struct console *c);
/* Restore the terminal state console_open changed (raw mode; O_NONBLOCK on a shared descriptor).
 * Async-signal-safe and idempotent; registered with atexit and on fatal signals whose handler was
 * the default. */
void console_restore_tty(void);

#endif
