/* virtio.h — the contract between virtio devices, the split virtqueue walker and the transport. */
#ifndef TRUCE_VIRTIO_H
#define TRUCE_VIRTIO_H

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/ratelimit.h"
#include "util/util.h"

struct vm;
struct guest_mem;
struct state_visitor;
struct virtio_dev;

/* ---- how a device is written ---------------------------------------------------------------
 * 1. Embed a `struct virtio_dev` in the device's own plain state struct.
 * 2. In the DEVICE_CLASS create(), for each config entry: allocate the state, open backends
 *    (no lazy opens), call virtio_dev_init(), adjust vdev fields (features, queue sizes,
 *    config_size), then virtio_pci_add(). The transport adds the device_instance itself
 *    (device_add), places the PCI function and its BAR, and sets up one ioeventfd per queue.
 * 3. Threads: the transport serialises everything under vdev->lock ("the device lock"):
 *    - config_read/config_write/features_ok/activate/reset run on vCPU threads, lock held;
 *    - queue_notify runs on the I/O thread (vm->loop), lock held, only while DRIVER_OK is set
 *      and the queue is enabled and not broken;
 *    - callbacks of fds watched with virtio_watch_fd() run on the I/O thread, lock held;
 *    - anything else (a device's own worker thread, the host console's rx callback) takes the
 *      lock with virtio_lock()/virtio_unlock() before touching queues.
 *    Never call evloop_del() (or virtio_unwatch_fd) with the lock held from a non-I/O thread:
 *    the I/O thread may be waiting for that lock. Watches live as long as the device.
 * 4. Processing a queue (I/O thread, lock held):
 *        do {
 *            virtq_disable_notify(q);
 *            while ((r = virtq_pop(q, &chain)) > 0) {
 *                ... read chain.iov[0 .. nout), write chain.iov[nout .. nout + nin) ...
 *                virtq_push(q, chain.head, bytes_written);
 *            }
 *        } while (r == 0 && virtq_enable_notify(q));
 *        virtio_interrupt(vdev, q);   // sends the interrupt only if the driver wants one
 *    A negative r means the driver broke the queue: DEVICE_NEEDS_RESET is already set and the
 *    queue is dead until reset; stop processing it.
 * 5. Completions that happen later (asynchronous disk I/O) call virtq_push() + virtio_interrupt()
 *    with the lock held. reset() must wait for or cancel every in-flight request before it
 *    returns: after reset the guest owns the memory again.
 */

/* ---- split virtqueue (virtio/queue.c) -------------------------------------------------------- */
#define VIRTQ_MAX_SIZE     1024 /* largest queue size a device may offer (spec maximum 32768) */
#define VIRTQ_MAX_INDIRECT 1024 /* entries in one indirect table (bounded like a queue) */
#define VIRTIO_MAX_QUEUES  32

/* One virtqueue. The first block is guest-visible configuration (common config), the second the
 * device-side ring state; both are plain values, saved by snapshots. The host pointers are
 * derived from the gpas when the device is activated and are never saved. */
struct virtq {
    /* configuration written by the driver through the transport */
    uint16_t size;        /* queue_size: power of 2, 1..max_size */
    uint16_t max_size;    /* set by the device before virtio_pci_add(); 0: queue absent */
    bool enabled;         /* queue_enable */
    uint16_t msix_vector; /* VIRTIO_MSI_NO_VECTOR when none */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    /* device-side state */
    uint16_t last_avail;     /* next avail ring index to consume */
    uint16_t used_idx;       /* next used ring index to publish */
    uint16_t signalled_used; /* used_idx at the last virtq_should_interrupt() */
    bool signalled_valid;    /* an interrupt check saw pushed chains since activation */
    bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
    bool indirect;           /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    bool broken;             /* the driver violated the ring protocol: no use until reset */
    unsigned index;
    struct virtio_dev *vdev;
    /* derived, valid while the device is live (checked through gpa_to_hva at activation) */
    const struct guest_mem *mem;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    /* transport: the queue's notify eventfd (ioeventfd), -1 when none */
    int kick_fd;
};

/* A popped descriptor chain, split into driver-readable ("out") then device-writable ("in")
 * segments. The device provides the iov array and its capacity. */
struct virtq_chain {
    uint16_t head;     /* pass to virtq_push() */
    uint16_t nout;     /* iov[0 .. nout): readable by the device */
    uint16_t nin;      /* iov[nout .. nout + nin): writable by the device */
    uint32_t out_len;  /* total bytes readable (sum fits in 32 bits, checked) */
    uint32_t in_len;   /* total bytes writable */
    struct iovec *iov; /* set by the caller */
    unsigned max_iov;  /* capacity of iov, set by the caller */
};

/* Resolve Q's rings (desc/avail/used) through gpa_to_hva for its configured size. Returns 0 or
 * -EFAULT (a ring outside RAM) / -EINVAL (bad size or misaligned address). Called by the
 * transport at DRIVER_OK; resets the ring state to zero. */
int virtq_activate(struct virtq *q, const struct guest_mem *mem, uint64_t features);
/* Forget the rings and the driver's configuration (device reset). Keeps max_size/index/vdev. */
void virtq_reset(struct virtq *q);

/* Pop the next available chain into C (C->iov and C->max_iov set by the caller).
 * Returns 1 when a chain was popped, 0 when the queue is empty, or a negative errno when the
 * driver broke the queue (-EFAULT address outside RAM, -ELOOP loop/chain too long, -EINVAL
 * malformed: bad index, readable after writable, nested indirect, -E2BIG more segments than
 * max_iov, -EOVERFLOW lengths); then the queue is marked broken and the device gets
 * DEVICE_NEEDS_RESET (virtio_set_needs_reset). Zero-length descriptors are skipped. */
int virtq_pop(struct virtq *q, struct virtq_chain *c);
/* Put chain HEAD back on the used ring with WRITTEN bytes written by the device. Publishes the
 * element before the index (release ordering). */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* True when Q has chains not yet popped. */
bool virtq_has_avail(struct virtq *q);
/* Ask the driver not to notify (VRING_USED_F_NO_NOTIFY, or avail_event left behind). */
void virtq_disable_notify(struct virtq *q);
/* Ask the driver to notify again. Returns true when chains arrived meanwhile (process them). */
bool virtq_enable_notify(struct virtq *q);
/* True when chains were pushed since the last call (or since activation) and the driver wants an
 * interrupt for them (VRING_AVAIL_F_NO_INTERRUPT or used_event); never true with nothing new,
 * so an empty pass over the queue (the DRIVER_OK kick, a spurious notify) sends nothing.
 * Records used_idx for the next call. */
bool virtq_should_interrupt(struct virtq *q);

/* Helpers to move bytes between a flat buffer and a chain's segments. OFF is a byte offset into
 * the readable (out) or writable (in) part. Return the number of bytes copied (short at end). */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len);

/* ---- devices -------------------------------------------------------------------------------- */
/* Every op gets the OPAQUE given to virtio_dev_init() and is called with the device lock held. */
struct virtio_dev_ops {
    /* Device-specific configuration (after the bounds check against vdev->config_size). DATA is
     * little-endian, SIZE 1, 2, 4 or 8. config_write may be NULL (writes ignored). vCPU thread. */
    void (*config_read)(void *opaque, uint32_t off, uint8_t *data, unsigned size);
    void (*config_write)(void *opaque, uint32_t off, const uint8_t *data, unsigned size);
    /* FEATURES_OK is being set with vdev->guest_features (already a subset of the offered ones
     * and containing VERSION_1). Return false to refuse the combination. May be NULL. */
    bool (*features_ok)(void *opaque, uint64_t features);
    /* DRIVER_OK: queues are resolved and the features final. Return 0, or <0 to refuse (the
     * transport sets DEVICE_NEEDS_RESET). May be NULL. vCPU thread. */
    int (*activate)(void *opaque);
    /* The driver notified Q (I/O thread). */
    void (*queue_notify)(void *opaque, struct virtq *q);
    /* Reset by the driver (status 0) or the VMM. Stop using every queue, wait for or cancel
     * in-flight I/O, return device-specific state to its power-on values. The transport resets
     * the queues and the common state after this returns. May be NULL. */
    void (*reset)(void *opaque);
    /* Guest-visible facts of the device outside the common state that a restore cannot change
     * but must find equal (a disk's capacity): one section, written when saving, read and
     * compared with this device when loading (state_fail names the difference). It changes
     * nothing, so a failed restore leaves the device as it was. May be NULL. Lock held. */
    void (*state_check)(void *opaque, struct state_visitor *v);
    /* Device-specific guest-visible state beyond the common one (virtio-balloon: its config
     * values, a held statistics buffer): one section after the queues. Saving visits the live
     * values; loading visits into the device's scratch copy and checks it, changing nothing
     * live; state_commit then makes that copy live (before activate). Both may be NULL. Lock
     * held. state_visit finds v->version set to the common section's version (loading: as
     * saved), so a device whose section is newer than a saved state can leave it out. */
    void (*state_visit)(void *opaque, struct state_visitor *v);
    void (*state_commit)(void *opaque);
    /* A restore made the device live again (after activate): tell the driver what the host
     * side lost (vsock: VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). May be NULL. Lock held. */
    void (*restored)(void *opaque);
    /* VM pause (the contract is in bus/device.h): the transport has already stopped the queue kicks
     * and set vdev->paused; pause finishes in-flight work (lock NOT held, I/O thread running),
     * resume follows it (the transport then re-kicks every enabled queue). May be NULL. */
    void (*pause)(void *opaque);
    void (*resume)(void *opaque);
    /* The transport's interrupt routing changed (MSI-X enable or mask, a table entry): a device
     * whose backend raises interrupts without truce (vhost) reads tops->msi_message again. vCPU
     * thread, lock held. May be NULL. */
    void (*irq_changed)(void *opaque);
    /* VM teardown. stop: quiesce (I/O thread still running, lock NOT held); destroy: close
     * backends and free the state (every thread joined, lock not held). May be NULL. */
    void (*stop)(void *opaque);
    void (*destroy)(void *opaque);
};

/* Transport hooks (filled by the transport; devices never call them directly). */
struct virtio_transport_ops {
    /* Deliver a queue interrupt (vector of Q) or a configuration-change interrupt (Q NULL). */
    void (*interrupt)(struct virtio_dev *vdev, struct virtq *q);
    /* Transport part of a device reset (e.g. lower INTx). May be NULL. */
    void (*reset)(struct virtio_dev *vdev);
    /* Q's interrupt as one MSI message the guest lets through now (MSI-X enabled, the vector
     * unmasked): true with ADDR/DATA, for a kernel backend to raise it itself (an irqfd); false
     * when the transport must handle it (INTx, masking, no vector). NULL: never (virtio-mmio). */
    bool (*msi_message)(struct virtio_dev *vdev, struct virtq *q, uint64_t *addr, uint32_t *data);
};

/* A device's rate limiter (virtio/rl.c): Firecracker's buckets, its timerfd watched on vm->loop. */
#define VIRTIO_MAX_RL 2
struct virtio_rl {
    struct ratelimiter rl;
    struct virtio_dev *vdev;
    /* Work may go on (the timer fired, or an update lifted the block): look at the queues again.
     * I/O thread, device lock held, VM not paused. */
    void (*resume)(void *opaque);
    void *opaque;
    uint64_t throttled; /* requests refused and left in their queue (metrics) */
    uint64_t events;    /* timer expirations handled (metrics) */
};

/* A backend fd watched on vm->loop for a device (virtio_watch_fd). Each is allocated on its own
 * (the event loop holds its address), the table of them grows as a device adds watches: a device
 * has as many as its configuration needs (vhost-net: 2 per queue pair, virtio-blk: 1 per queue,
 * plus 1 per rate limiter), no fixed cap. */
struct virtio_watch {
    struct virtio_dev *vdev;
    int fd;
    uint32_t events;
    evloop_cb cb;
    void *opaque;
};

/* The transport-independent state of one virtio device (plain values: snapshots save it). */
struct virtio_dev {
    /* identity, set by the device (virtio_dev_init + adjustments) before virtio_pci_add() */
    const char *name;       /* "virtio-blk": logs, range names */
    uint16_t device_id;     /* VIRTIO_ID_* */
    uint32_t pci_class;     /* PCI class code 0xCCSSPP */
    uint64_t host_features; /* offered; virtio_dev_init() sets VIRTIO_TRANSPORT_FEATURES */
    uint32_t config_size;   /* bytes of device-specific config */
    unsigned nqueues;       /* queues 0 .. nqueues-1, each with vq[i].max_size > 0 */
    struct virtq *vq;       /* nqueues entries: allocated by virtio_dev_init, freed by _fini */
    const struct virtio_dev_ops *ops;
    void *opaque;
    struct vm *vm;
    /* negotiated state (written by the driver through the transport) */
    uint8_t status; /* VIRTIO_CONFIG_S_* */
    uint64_t guest_features;
    uint32_t dfselect, gfselect;
    uint16_t queue_select;
    uint16_t msix_config; /* vector for config changes */
    uint8_t config_generation;
    uint8_t isr; /* bit 0 queue, bit 1 config (read-to-clear, INTx mode) */
    /* the device lock (see the thread rules above) */
    pthread_mutex_t lock;
    bool needs_reset_logged;     /* this reset cycle */
    unsigned needs_reset_logs;   /* lifetime count, bounds the log */
    struct virtio_watch **watch; /* nwatch entries in a table of watch_cap (virtio_watch_fd) */
    unsigned nwatch, watch_cap;
    bool watches_parked;     /* paused: the watches are off the event loop */
    bool kicks_watched;      /* the queues' kick eventfds are on the event loop */
    uint32_t kicks_external; /* queues (bit i: vq[i]) whose kick eventfd a backend in the host
                                kernel reads (vhost): never watched here. Set before
                                virtio_dev_add */
    bool paused;             /* VM paused: no queue processing, no backend events (lock held) */
    struct virtio_rl *rl[VIRTIO_MAX_RL]; /* the device's rate limiters (saved with its state) */
    unsigned nrl;
    /* transport */
    const struct virtio_transport_ops *tops;
    void *transport;
};

/* Features every device gets from the transport and queue.c. */
#define VIRTIO_TRANSPORT_FEATURES                                                                  \
    ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_EVENT_IDX) |                            \
     (1ULL << VIRTIO_RING_F_INDIRECT_DESC))

/* Initialise VDEV (zeroes it): NAME, DEVICE_ID, PCI_CLASS, NQUEUES queues of QUEUE_SIZE entries
 * (power of 2, <= VIRTQ_MAX_SIZE; the queue array is allocated for exactly NQUEUES, at most
 * VIRTIO_MAX_QUEUES), host_features = VIRTIO_TRANSPORT_FEATURES | FEATURES, CONFIG_SIZE bytes of
 * config, OPS/OPAQUE. Returns 0, -EINVAL (bad counts/sizes) or -ENOMEM. */
int virtio_dev_init(struct virtio_dev *vdev, struct vm *vm, const char *name, uint16_t device_id,
                    uint32_t pci_class, uint64_t features, unsigned nqueues, uint16_t queue_size,
                    uint32_t config_size, const struct virtio_dev_ops *ops, void *opaque);
/* Free what virtio_dev_init() set up (the lock, the queue array); idempotent, and harmless on a
 * VDEV whose init failed. The transport calls it just before ops->destroy (which must not touch
 * the queues); a device whose virtio_pci_add() failed calls it itself before freeing. */
void virtio_dev_fini(struct virtio_dev *vdev);

/* True when the driver negotiated feature bit BIT. */
static inline bool virtio_has_feature(const struct virtio_dev *vdev, unsigned bit)
{
    return (vdev->guest_features >> bit) & 1;
}

void virtio_lock(struct virtio_dev *vdev);
void virtio_unlock(struct virtio_dev *vdev);

/* Every loop a guest can drive is bounded per wake-up: a device handles at most
 * VIRTQ_BUDGET(q) chains of Q per call, then calls virtio_queue_defer(Q), which notifies Q
 * again through its kick eventfd, so queue_notify runs once more after the other ready fds. */
#define VIRTQ_BUDGET(q) ((unsigned)(q)->size)
void virtio_queue_defer(struct virtq *q);
/* The loop every request queue runs: with notifications off, pop chains of Q into C (iov and
 * max_iov set by the caller) and hand each to SERVE(OPAQUE, Q, C), which pushes it (or keeps it)
 * and returns false to stop at once; at most BUDGET chains, then virtio_queue_defer(Q); when
 * the ring is empty, notifications back on and look again. Ends with virtio_interrupt(Q) (which
 * interrupts only when the ring asks for it). Returns false when SERVE stopped it. Lock held. */
bool virtq_serve(struct virtq *q, unsigned budget, struct virtq_chain *c,
                 bool (*serve)(void *opaque, struct virtq *q, struct virtq_chain *c), void *opaque);
/* The queue queue_select names, or NULL when it names none. */
static inline struct virtq *virtio_selected_queue(struct virtio_dev *vdev)
{
    return vdev->queue_select < vdev->nqueues ? &vdev->vq[vdev->queue_select] : NULL;
}
/* The selected queue when the driver may configure it (between FEATURES_OK and DRIVER_OK,
 * not yet enabled); outside that window a write is a driver error (DEVICE_NEEDS_RESET, WHY),
 * except after a reset (status 0), where drivers tear down vectors: ignored. Returns the
 * queue or NULL. Lock held. Both transports' queue registers go through it. */
struct virtq *virtio_queue_for_config(struct virtio_dev *vdev, const char *why);
/* The transport-independent half of a VM pause / resume: the kicks off the loop (a notification
 * stays pending in its eventfd) and back, the paused flag, ops->pause/resume, parked watches, and
 * after resume one kick for every enabled queue of a live device. Lock not held. */
void virtio_dev_pause(struct virtio_dev *vdev);
void virtio_dev_resume(struct virtio_dev *vdev);
/* Send Q's used-buffer interrupt if the driver wants one (virtq_should_interrupt). Lock held. */
void virtio_interrupt(struct virtio_dev *vdev, struct virtq *q);
/* Send Q's used-buffer interrupt now, without looking at the ring's suppression (a backend that
 * applies it itself, vhost, asked for it); nothing unless DRIVER_OK. Lock held. */
void virtio_interrupt_now(struct virtio_dev *vdev, struct virtq *q);
/* Device-specific config changed: bump config_generation, send the config interrupt. Lock held. */
void virtio_config_changed(struct virtio_dev *vdev);
/* The driver broke a rule (WHY is logged once): set DEVICE_NEEDS_RESET and send the config
 * interrupt. The device stays in that state until the driver resets it. Lock held. */
void virtio_set_needs_reset(struct virtio_dev *vdev, const char *why);
/* Full device reset (ops->reset, then queues and common state). Lock held. */
void virtio_reset(struct virtio_dev *vdev);
/* Every queue's notify eventfd (kick_fd): open them and watch them on the I/O thread
 * (virtio_kick_cb); returns 0 or -errno. */
int virtio_kicks_open(struct virtio_dev *vdev);
/* Watch them (0 when they already are) or stop watching them (idempotent). */
int virtio_kicks_watch(struct virtio_dev *vdev);
void virtio_kicks_unwatch(struct virtio_dev *vdev);
/* Unwatch and close them (kick_fd -1 after); the transports' teardown. */
void virtio_kicks_close(struct virtio_dev *vdev);

/* ---- transport helpers (virtio/core.c), shared by the PCI and MMIO transports --------------
 * The driver wrote V to the device status: reset on 0, checks the order of the bits, offers the
 * features to ops->features_ok at FEATURES_OK, resolves the enabled queues and calls
 * ops->activate at DRIVER_OK (errors set DEVICE_NEEDS_RESET). Device lock held. */
void virtio_status_write(struct virtio_dev *vdev, uint8_t v);
/* evloop callback of queue Q's kick eventfd (OPAQUE is the struct virtq): runs queue_notify
 * with the lock held when the device is live, the queue enabled and the VM not paused. */
void virtio_kick_cb(void *opaque, uint32_t events);

/* Watch a backend FD on vm->loop for the device's lifetime; CB runs on the I/O thread with the
 * device lock held. Any number per device (the table grows). Call it before or after
 * virtio_pci_add(), not with the lock held. Returns 0 or -errno (-ENOMEM). */
int virtio_watch_fd(struct virtio_dev *vdev, int fd, uint32_t events, evloop_cb cb, void *opaque);
/* Stop every watch and free them (the transport calls it at stop, virtio_dev_fini too; lock not
 * held). */
void virtio_unwatch_all(struct virtio_dev *vdev);
/* Take every watch off the event loop (pause) and put them back (resume); after park returns no
 * watch callback runs. Lock not held. Resume returns 0 or the first -errno of evloop_add. */
void virtio_watches_park(struct virtio_dev *vdev);
int virtio_watches_unpark(struct virtio_dev *vdev);

/* ---- rate limiters (virtio/rl.c) --------------------------------------------------------------
 * Set up R for VDEV from C (a timerfd even when C limits nothing, so a live update can start
 * limiting; registered in vdev->rl so snapshots carry it), RESUME(OPAQUE) running when the
 * limiter lets work go on. Call before virtio_dev_add, lock not held. Returns 0 or -errno. */
int virtio_rl_add(struct virtio_dev *vdev, struct virtio_rl *r, const struct rl_config *c,
                  void (*resume)(void *opaque), void *opaque);
/* Close R's timer (ops->destroy). */
void virtio_rl_fini(struct virtio_rl *r);
/* Replace the buckets of R named by BW / OPS with C's, live, from any thread not holding the
 * device lock; a limiter that was holding requests back is lifted at once on the I/O thread (the
 * new buckets decide again). Returns 0 or -ENOMEM. */
int virtio_rl_update(struct virtio_rl *r, const struct rl_config *c, bool bw, bool ops);

/* ---- virtio-rng (virtio/rng.c), for the API and metrics -------------------------------------- */
struct rng_counters {
    uint64_t bytes;     /* entropy given */
    uint64_t throttled; /* requests its rate limiter held back */
    uint64_t events;    /* rate limiter timer expirations */
};
/* The entropy device's counters (all zero without one). Any thread not holding its lock. */
void virtio_rng_counters(struct vm *vm, struct rng_counters *out);
/* Replace its rate limiter's buckets named by BW / OPS, live. Returns 0, -ENOENT (no entropy
 * device) or -ENOMEM. */
int virtio_rng_set_rate_limiter(struct vm *vm, const struct rl_config *c, bool bw, bool ops);

/* ---- virtio-input (virtio/input.c): with --display ...,input=virtio, a keyboard and an absolute
 * tablet. The host side (the VNC server thread) calls these; each returns -ENODEV while the
 * device's driver is not up (the caller then uses PS/2). Events wait in a bounded queue (a report
 * that does not fit is dropped whole and counted) until the I/O thread moves them into the
 * driver's buffers. Any thread not holding the device lock. */
enum virtio_input_kind { VIRTIO_INPUT_KEYBOARD, VIRTIO_INPUT_TABLET };
#define VIRTIO_INPUT_ABS_MAX 32767 /* the tablet's axes run from 0 to this */
/* The key that types KEYSYM (X11, US layout as dev/ps2_keymap.c) pressed (DOWN) or released; a
 * character needing Shift while no Shift is held is wrapped in a Shift press and release.
 * Returns 0, -ENOENT (no key types KEYSYM), -ENODEV or -ENOSPC. */
int virtio_input_keysym(struct vm *vm, uint32_t keysym, bool down);
/* The pointer at pixel (X, Y) of a W x H screen, wheel DZ (clicks, positive towards the user),
 * BUTTONS (bit 0 left, 1 right, 2 middle): absolute axes scaled to 0..VIRTIO_INPUT_ABS_MAX and
 * the buttons that changed. Returns 0, -ENODEV or -ENOSPC. */
int virtio_input_pointer(struct vm *vm, unsigned x, unsigned y, unsigned w, unsigned h, int dz,
                         unsigned buttons);
struct input_counters {
    uint64_t delivered, dropped, pending, status_events;
};
void virtio_input_counters(struct vm *vm, enum virtio_input_kind kind, struct input_counters *out);

/* ---- state (virtio/state.c) ------------------------------------------------------------------
 * The guest-visible state of a device beyond its PCI function: the common state (status,
 * features, selectors, config vector and generation, ISR) and each queue's configuration and
 * ring indices. Host pointers, fds and watches are runtime, rebuilt on restore. */
/* Version 2 adds each rate limiter's buckets (Firecracker saves them too); version 3 the queue
 * count (checked before the queues, so a multiqueue mismatch is named) and virtio-net's own
 * section (its active queue pairs). */
#define VIRTIO_STATE_VERSION 3
struct virtq_state {
    uint16_t size, msix_vector;
    bool enabled;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t last_avail, used_idx, signalled_used;
    bool signalled_valid, broken;
};
struct virtio_state {
    uint8_t status, config_generation, isr;
    uint64_t host_features, guest_features; /* host_features: must match the device */
    uint32_t dfselect, gfselect;
    uint16_t queue_select, msix_config;
    struct virtq_state q[VIRTIO_MAX_QUEUES];
    unsigned nrl; /* limiters loaded (0 from a version 1 state: they start full) */
    struct rl_state rl[VIRTIO_MAX_RL];
};
/* Copy VDEV's state into S (lock held). */
void virtio_state_get(struct virtio_dev *vdev, struct virtio_state *s);
/* One section named vdev->name. Loading checks every value against VDEV (same device type,
 * offered features and queue sizes; features negotiated from the offered ones; vectors below
 * NVEC; rings of live queues inside guest RAM; ops->state_check) without changing VDEV. Lock
 * held. */
void virtio_state_visit(struct state_visitor *v, struct virtio_state *s, struct virtio_dev *vdev,
                        unsigned nvec);
/* Make S VDEV's state (lock held; S checked by virtio_state_visit): queues of a live device are
 * resolved again at their saved ring indices, and ops->activate rebuilds the device's runtime. */
void virtio_state_set(struct virtio_dev *vdev, const struct virtio_state *s);

/* ---- the PCI transport (virtio/pci.c) --------------------------------------------------------
 * Creates a PCI function (vendor 0x1af4, device 0x1040 + device_id, revision 1) on vm->pci with
 * one 64-bit memory BAR holding the common, ISR, notify and device config structures, the
 * MSI-X table (nqueues + 1 vectors) and PBA. Notifications through ioeventfd (one address per
 * queue) watched on vm->loop; interrupts through MSI-X (KVM_SIGNAL_MSI), or INTx + ISR when
 * MSI-X is disabled. Adds the device_instance (reset/stop/destroy) to the VM. On failure returns
 * <0 with one line in ERR; nothing stays registered and the caller frees its state. */
int virtio_pci_add(struct vm *vm, struct virtio_dev *vdev, char *err, size_t errlen);
/* Add VDEV on the transport the VM configuration names (vm->cfg.transport): virtio_pci_add() or
 * virtio_mmio_add() (virtio/mmio.c). Same contract. Devices call this one. */
int virtio_dev_add(struct vm *vm, struct virtio_dev *vdev, char *err, size_t errlen);
/* Iterate VM's virtio devices of type DEVICE_ID (VIRTIO_ID_*) in creation order: the first when
 * PREV is NULL, else the one after PREV. Returns NULL at the end. (API, metrics, snapshots.) */
struct virtio_dev *virtio_find(struct vm *vm, uint16_t device_id, struct virtio_dev *prev);

#endif
