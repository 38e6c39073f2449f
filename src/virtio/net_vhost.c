/* net_vhost.c — virtio-net's data path in the host kernel: a vhost-net instance per queue pair.
 *
 * With `--net tap=NAME,vhost=on` truce keeps the virtio-net device (PCI or MMIO registers,
 * features, config space, the control queue, snapshots) and hands the receive and transmit rings
 * to /dev/vhost-net, which moves frames between them and the tap inside the kernel. The rings'
 * notifications are the transport's KVM ioeventfds (vdev.kicks_external: truce never reads them).
 * Interrupts: while a ring's MSI-X vector is enabled and unmasked, vhost signals an irqfd whose
 * GSI routes that vector's message (vm/irq.c), so KVM raises it and truce never wakes; otherwise
 * (INTx, virtio-mmio, a masked vector) vhost signals truce's call eventfd, which the I/O thread
 * turns into the queue's interrupt through the transport (INTx + ISR, the MMIO line, the PBA).
 * A guest write to the MSI-X table or its control switches between the two (irq_changed).
 *
 * Life cycle (device lock held): the vhost fd is opened and owned at creation (before any sandbox);
 * the rings are started when the device is live (DRIVER_OK, not paused) and stopped on pause, reset
 * and teardown. Stopping detaches the tap (VHOST_NET_SET_BACKEND -1) and reads each ring's next
 * avail index back (VHOST_GET_VRING_BASE) into the queue, whose used index is the ring's own, so
 * the common virtio state is what a snapshot saves and a start resumes from.
 *
 * Dirty tracking (Diff snapshots, live migration): vhost-net writes guest memory from the host
 * kernel, where neither KVM's log nor truce's own bitmap sees it. While tracking is on, every pair
 * gets VHOST_F_LOG_ALL (receive buffers logged) and VHOST_VRING_F_LOG on each ring (the used ring
 * logged at its guest address), all into one bitmap of 4 KiB guest physical pages given with
 * VHOST_SET_LOG_BASE (bit p%64 of word p/64 for page p; vhost sets bits with atomic ops, the
 * harvest clears them the same way), which vm_dirty_harvest merges through a dirty_source.
 *
 * What truce no longer sees: frames. Rate limiters and MMDS (which work on frames) are refused
 * with vhost=on, the interface's frame counters stay at zero and a link set down through the API
 * is only reported to the guest. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/util.h"
#include "virtio/net.h"
#include "vm/vm.h"

#define BIT(n)           (1ULL << (n))
#define VHOST_NET_DEVICE "/dev/vhost-net"

/* One vhost-net instance: pair P's two rings. */
struct net_vhost {
    int fd;
    int call_fd[2];       /* [NET_RXQ], [NET_TXQ]: vhost signals used buffers here (truce) */
    int irq_fd[2];        /* the same as KVM irqfds of GSI gsi[i] */
    unsigned irqfd_on;    /* bit i: irq_fd[i] is assigned to gsi[i] (KVM_IRQFD) */
    int gsi[2];           /* the MSI route of irq_fd[i] (-1: none yet) */
    uint64_t msi_addr[2]; /* the message gsi[i] routes */
    uint32_t msi_data[2];
    unsigned direct;   /* bit i: ring i signals irq_fd[i]; else call_fd[i] */
    uint64_t features; /* VHOST_GET_FEATURES */
    bool running;      /* rings started, the tap attached */
    unsigned started;  /* bit i: ring i was given to vhost at the last start */
    uint64_t calls;    /* interrupts forwarded (debug log at teardown) */
    bool irqfd_failed; /* logged once */
};

/* ---- pure helpers (unit-tested) ------------------------------------------------------------ */

uint64_t net_vhost_offer(uint64_t offered, uint64_t vhost_features)
{
    return offered & ~(NET_VHOST_RING_FEATURES & ~vhost_features);
}

uint64_t net_vhost_ack(uint64_t guest_features, uint64_t vhost_features)
{
    return guest_features & vhost_features & NET_VHOST_RING_FEATURES;
}

unsigned net_vhost_hdr_len(uint64_t guest_features)
{
    return guest_features & (BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_F_VERSION_1))
               ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
               : sizeof(struct virtio_net_hdr);
}

static int vhost_log_attach(struct virtio_net *n, char *err, size_t errlen);

/* ---- set-up -------------------------------------------------------------------------------- */

int net_vhost_open(struct net_pair *p, const char *id, char *err, size_t errlen)
{
    struct net_vhost *vh = calloc(1, sizeof(*vh));
    if (!vh) {
        snprintf(err, errlen, "--net %s: out of memory", id);
        return -ENOMEM;
    }
    vh->call_fd[0] = vh->call_fd[1] = vh->irq_fd[0] = vh->irq_fd[1] = -1;
    vh->gsi[0] = vh->gsi[1] = -1;
    p->vh = vh;
    vh->fd = open(VHOST_NET_DEVICE, O_RDWR | O_CLOEXEC);
    if (vh->fd < 0) {
        int e = errno;
        snprintf(err, errlen, "--net %s: vhost=on: cannot open %s: %s%s", id, VHOST_NET_DEVICE,
                 strerror(e),
                 e == ENOENT   ? " (modprobe vhost_net, or drop vhost=on)"
                 : e == EACCES ? " (give this user read-write access to it, or drop vhost=on)"
                               : "");
        return -EINVAL; /* a configuration this host cannot serve: exit status 2 */
    }
    if (ioctl(vh->fd, VHOST_SET_OWNER, NULL) < 0 ||
        ioctl(vh->fd, VHOST_GET_FEATURES, &vh->features) < 0) {
        int e = errno;
        snprintf(err, errlen, "--net %s: vhost=on: %s: VHOST_SET_OWNER/GET_FEATURES: %s", id,
                 VHOST_NET_DEVICE, strerror(e));
        return -e;
    }
    if (!(vh->features & BIT(VIRTIO_F_VERSION_1))) {
        snprintf(err, errlen,
                 "--net %s: vhost=on: this kernel's vhost-net lacks VIRTIO_F_VERSION_1", id);
        return -EINVAL;
    }
    for (unsigned i = 0; i < 2; i++) { /* now: a vCPU thread's seccomp list has no eventfd2 */
        vh->call_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        vh->irq_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (vh->call_fd[i] < 0 || vh->irq_fd[i] < 0) {
            int e = errno;
            snprintf(err, errlen, "--net %s: eventfd: %s", id, strerror(e));
            return -e;
        }
    }
    return 0;
}

/* I/O thread, device lock held (virtio_watch_fd): vhost used buffers of queue Q (OPAQUE) and
 * asks for its interrupt. */
static void vhost_call(void *opaque, uint32_t events)
{
    struct virtq *q = opaque;
    struct virtio_net *n = q->vdev->opaque;
    struct net_vhost *vh = n->pair[q->index / 2].vh;
    eventfd_t v;
    (void)events;
    if (eventfd_read(vh->call_fd[q->index % 2], &v) < 0)
        return;
    vh->calls++;
    if (!q->vdev->paused)
        virtio_interrupt_now(q->vdev, q);
}

int net_vhost_attach(struct virtio_net *n, char *err, size_t errlen)
{
    uint64_t offered = n->vdev.host_features;
    for (unsigned k = 0; k < n->max_pairs; k++) /* the same kernel: the same features */
        offered = net_vhost_offer(offered, n->pair[k].vh->features);
    if (offered != n->vdev.host_features)
        log_info("%s: vhost-net lacks feature bits %#llx: not offered", n->id,
                 (unsigned long long)(n->vdev.host_features & ~offered));
    n->vdev.host_features = offered;
    for (unsigned k = 0; k < n->max_pairs; k++) {
        struct net_pair *p = &n->pair[k];
        n->vdev.kicks_external |= 1u << (2 * k + NET_RXQ) | 1u << (2 * k + NET_TXQ);
        for (unsigned i = 0; i < 2; i++) {
            int rc = virtio_watch_fd(&n->vdev, p->vh->call_fd[i], EPOLLIN, vhost_call,
                                     i == NET_RXQ ? p->rxq : p->txq);
            if (rc < 0) {
                snprintf(err, errlen, "--net %s: cannot watch the vhost call eventfd: %s", n->id,
                         strerror(-rc));
                return rc;
            }
        }
    }
    return vhost_log_attach(n, err, errlen);
}

void net_vhost_close(struct net_pair *p)
{
    struct net_vhost *vh = p->vh;
    if (!vh)
        return;
    if (vh->calls)
        log_debug("%s: vhost-net: %llu interrupts forwarded", p->n->id,
                  (unsigned long long)vh->calls);
    if (vh->fd >= 0)
        close(vh->fd); /* stops the rings if still running */
    for (unsigned i = 0; i < 2; i++) {
        if (vh->call_fd[i] >= 0)
            close(vh->call_fd[i]);
        if (vh->irq_fd[i] >= 0) /* KVM drops an irqfd whose eventfd is closed */
            close(vh->irq_fd[i]);
    }
    free(vh);
    p->vh = NULL;
}

/* ---- start and stop (device lock held) ------------------------------------------------------ */

/* The guest's memory as vhost sees it: every RAM region and writable device-memory region
 * (virtio-mem, pmem), guest physical address -> truce's mapping. Returns the table or NULL. */
static struct vhost_memory *vhost_mem_table(const struct guest_mem *m)
{
    struct vhost_memory *t = calloc(1, sizeof(*t) + (m->nr + m->ndev) * sizeof(t->regions[0]));
    if (!t)
        return NULL;
    for (unsigned i = 0; i < m->nr; i++)
        t->regions[t->nregions++] = (struct vhost_memory_region){
            .guest_phys_addr = m->r[i].gpa,
            .memory_size = m->r[i].size,
            .userspace_addr = (uintptr_t)m->r[i].hva,
        };
    for (unsigned i = 0; i < m->ndev; i++)
        if (!m->dev[i].readonly && m->dev[i].size)
            t->regions[t->nregions++] = (struct vhost_memory_region){
                .guest_phys_addr = m->dev[i].gpa,
                .memory_size = m->dev[i].size,
                .userspace_addr = (uintptr_t)m->dev[i].hva,
            };
    return t;
}

/* Ring IDX's addresses for VHOST_SET_VRING_ADDR: queue Q's rings, and with LOG its used ring
 * logged at its guest address (VHOST_VRING_F_LOG). */
static struct vhost_vring_addr vring_addr(unsigned idx, const struct virtq *q, bool log)
{
    return (struct vhost_vring_addr){
        .index = idx,
        .flags = log ? 1u << VHOST_VRING_F_LOG : 0,
        .desc_user_addr = (uintptr_t)q->desc,
        .avail_user_addr = (uintptr_t)q->avail,
        .used_user_addr = (uintptr_t)q->used,
        .log_guest_addr = q->used_gpa,
    };
}

/* Hand queue Q (vhost ring IDX of VH) to vhost: size, next avail index, ring addresses, kick and
 * call eventfds. Returns 0 or -errno (WHAT names the ioctl). */
static int vhost_ring_set(struct net_vhost *vh, unsigned idx, const struct virtq *q, bool log,
                          const char **what)
{
    struct vhost_vring_state num = {.index = idx, .num = q->size};
    struct vhost_vring_state base = {.index = idx, .num = q->last_avail};
    struct vhost_vring_addr addr = vring_addr(idx, q, log);
    struct vhost_vring_file kick = {.index = idx, .fd = q->kick_fd};
    struct vhost_vring_file call = {.index = idx, .fd = vh->call_fd[idx]};
    if ((*what = "VHOST_SET_VRING_NUM", ioctl(vh->fd, VHOST_SET_VRING_NUM, &num) < 0) ||
        (*what = "VHOST_SET_VRING_BASE", ioctl(vh->fd, VHOST_SET_VRING_BASE, &base) < 0) ||
        (*what = "VHOST_SET_VRING_ADDR", ioctl(vh->fd, VHOST_SET_VRING_ADDR, &addr) < 0) ||
        (*what = "VHOST_SET_VRING_KICK", ioctl(vh->fd, VHOST_SET_VRING_KICK, &kick) < 0) ||
        (*what = "VHOST_SET_VRING_CALL", ioctl(vh->fd, VHOST_SET_VRING_CALL, &call) < 0))
        return -errno;
    return 0;
}

/* An irqfd raising ADDR/DATA for ring I of VH: the eventfd, the KVM irqfd, the route (made once,
 * the route's message changed when the guest moved the vector). Returns 0 or -errno. */
static int vhost_irqfd(struct vm *vm, struct net_vhost *vh, unsigned i, uint64_t addr,
                       uint32_t data)
{
    if (vh->gsi[i] < 0 || vh->msi_addr[i] != addr || vh->msi_data[i] != data) {
        int gsi = irq_msi_route_set(vm, vh->gsi[i], addr, data);
        if (gsi < 0)
            return gsi;
        vh->gsi[i] = gsi;
        vh->msi_addr[i] = addr;
        vh->msi_data[i] = data;
    }
    if (vh->irqfd_on >> i & 1)
        return 0;
    int rc = irq_irqfd(vm, vh->irq_fd[i], (uint32_t)vh->gsi[i], true);
    if (rc == 0)
        vh->irqfd_on |= 1u << i;
    return rc;
}

/* Point ring I (queue Q) of pair P at the irqfd of its MSI-X vector when the guest lets that
 * through now, else at truce's call eventfd; vhost is told when that changed. */
static void vhost_ring_irq(struct net_pair *p, unsigned i, struct virtq *q)
{
    struct net_vhost *vh = p->vh;
    struct virtio_dev *vdev = q->vdev;
    uint64_t addr;
    uint32_t data;
    bool direct =
        vdev->tops && vdev->tops->msi_message && vdev->tops->msi_message(vdev, q, &addr, &data);
    if (direct) {
        int rc = vhost_irqfd(vdev->vm, vh, i, addr, data);
        if (rc < 0) {
            if (!vh->irqfd_failed)
                log_warn("%s: vhost-net: no irqfd for queue %u (%s): truce forwards its "
                         "interrupts",
                         p->n->id, q->index, strerror(-rc));
            vh->irqfd_failed = true;
            direct = false;
        }
    }
    if (direct == (bool)(vh->direct >> i & 1))
        return;
    struct vhost_vring_file call = {.index = i, .fd = direct ? vh->irq_fd[i] : vh->call_fd[i]};
    if (ioctl(vh->fd, VHOST_SET_VRING_CALL, &call) < 0) {
        log_warn("%s: vhost-net: VHOST_SET_VRING_CALL: %s", p->n->id, strerror(errno));
        return;
    }
    vh->direct = direct ? vh->direct | 1u << i : vh->direct & ~(1u << i);
    log_debug("%s: vhost-net queue %u interrupts %s (gsi %d, address %#llx, data %#x)", p->n->id,
              q->index, direct ? "through an irqfd" : "through truce", vh->gsi[i],
              (unsigned long long)vh->msi_addr[i], vh->msi_data[i]);
    if (!direct) /* what vhost signalled on the irqfd meanwhile: one more, never less */
        eventfd_write(vh->call_fd[i], 1);
}

void net_vhost_irq_update(struct virtio_net *n)
{
    for (unsigned k = 0; k < n->max_pairs; k++) {
        struct net_pair *p = &n->pair[k];
        if (!p->vh || !p->vh->running)
            continue;
        for (unsigned i = 0; i < 2; i++)
            if (p->vh->started >> i & 1)
                vhost_ring_irq(p, i, i == NET_RXQ ? p->rxq : p->txq);
    }
}

/* Start pair P's rings: features, memory table, the enabled rings, then the tap behind them. */
static int vhost_pair_start(struct virtio_net *n, struct net_pair *p)
{
    struct net_vhost *vh = p->vh;
    const char *what = "VHOST_SET_FEATURES";
    uint64_t f = net_vhost_ack(n->vdev.guest_features, vh->features);
    uint64_t log = (uintptr_t)n->vh_log;
    int rc = 0, tap = tap_backend_fd(p->be);
    if (tap < 0)
        return -EBADF;
    if (log) { /* dirty tracking is on: log from the first write */
        f |= BIT(VHOST_F_LOG_ALL);
        what = "VHOST_SET_LOG_BASE";
        if (ioctl(vh->fd, VHOST_SET_LOG_BASE, &log) < 0)
            goto fail;
        what = "VHOST_SET_FEATURES";
    }
    if (ioctl(vh->fd, VHOST_SET_FEATURES, &f) < 0)
        goto fail;
    what = "VHOST_SET_MEM_TABLE";
    struct vhost_memory *t = vhost_mem_table(&n->vdev.vm->mem);
    if (!t) {
        errno = ENOMEM;
        goto fail;
    }
    rc = ioctl(vh->fd, VHOST_SET_MEM_TABLE, t);
    free(t);
    if (rc < 0)
        goto fail;
    vh->started = 0;
    struct virtq *qs[2] = {[NET_RXQ] = p->rxq, [NET_TXQ] = p->txq};
    for (unsigned i = 0; i < 2; i++) {
        if (!qs[i]->enabled || !qs[i]->avail)
            continue; /* a ring the driver did not set up stays with nobody */
        if ((rc = vhost_ring_set(vh, i, qs[i], log != 0, &what)) < 0) {
            errno = -rc;
            goto fail;
        }
        vh->started |= 1u << i;
        vh->direct &= ~(1u << i); /* vhost_ring_set gave it the call eventfd */
        vhost_ring_irq(p, i, qs[i]);
    }
    what = "VHOST_NET_SET_BACKEND";
    for (unsigned i = 0; i < 2; i++) {
        struct vhost_vring_file b = {.index = i, .fd = tap};
        if ((vh->started >> i & 1) && ioctl(vh->fd, VHOST_NET_SET_BACKEND, &b) < 0)
            goto fail;
    }
    vh->running = true;
    log_debug("%s: vhost-net rings %#x started at avail %u/%u, features %#llx, irqfd rings %#x%s",
              n->id, vh->started, p->rxq->last_avail, p->txq->last_avail, (unsigned long long)f,
              vh->direct, log ? ", writes logged" : "");
    return 0;
fail:
    rc = -errno;
    log_err("%s: vhost-net: %s: %s", n->id, what, strerror(errno));
    for (unsigned i = 0; i < 2; i++) { /* whatever was attached goes again */
        struct vhost_vring_file b = {.index = i, .fd = -1};
        if (vh->started >> i & 1)
            ioctl(vh->fd, VHOST_NET_SET_BACKEND, &b);
    }
    vh->started = 0;
    return rc;
}

int net_vhost_start(struct virtio_net *n)
{
    for (unsigned i = 0; i < n->pairs; i++) {
        struct net_pair *p = &n->pair[i];
        if (!p->vh || p->vh->running)
            continue;
        int rc = vhost_pair_start(n, p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Deassign ring I's irqfd (KVM_IRQFD with DEASSIGN: KVM has let go of it when this returns), so
 * a stopped ring leaves no irqfd behind for the VM's teardown or the next start (which assigns it
 * again where the vector allows). The MSI route stays for that start. */
static void vhost_irqfd_off(struct net_pair *p, unsigned i)
{
    struct net_vhost *vh = p->vh;
    if (!(vh->irqfd_on >> i & 1))
        return;
    int rc = irq_irqfd(p->n->vdev.vm, vh->irq_fd[i], (uint32_t)vh->gsi[i], false);
    if (rc < 0 && rc != -EBADF) /* EBADF: the VM is gone, and its irqfds with it */
        log_warn("%s: vhost-net: KVM_IRQFD deassign: %s", p->n->id, strerror(-rc));
    vh->irqfd_on &= ~(1u << i);
}

/* Stop pair P's rings: the tap detached, each ring's next avail index read back into its queue
 * (with the used index vhost published), as if truce had served them, and the irqfds
 * deassigned (as QEMU does when it stops vhost). */
static void vhost_pair_stop(struct net_pair *p)
{
    struct net_vhost *vh = p->vh;
    struct virtq *qs[2] = {[NET_RXQ] = p->rxq, [NET_TXQ] = p->txq};
    for (unsigned i = 0; i < 2; i++) {
        struct vhost_vring_file b = {.index = i, .fd = -1};
        if ((vh->started >> i & 1) && ioctl(vh->fd, VHOST_NET_SET_BACKEND, &b) < 0)
            log_warn("%s: vhost-net: VHOST_NET_SET_BACKEND (stop): %s", p->n->id, strerror(errno));
    }
    for (unsigned i = 0; i < 2; i++) {
        struct vhost_vring_state s = {.index = i};
        struct virtq *q = qs[i];
        if (!(vh->started >> i & 1))
            continue;
        if (ioctl(vh->fd, VHOST_GET_VRING_BASE, &s) < 0) {
            log_warn("%s: vhost-net: VHOST_GET_VRING_BASE: %s", p->n->id, strerror(errno));
            continue;
        }
        q->last_avail = (uint16_t)s.num;
        if (q->used) {
            q->used_idx = le16toh(__atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE));
            q->signalled_used = q->used_idx;
        }
    }
    for (unsigned i = 0; i < 2; i++) /* the rings no longer run: nothing signals them now */
        vhost_irqfd_off(p, i);
    vh->direct = 0;
    vh->started = 0;
    vh->running = false;
}

void net_vhost_stop(struct virtio_net *n)
{
    net_vhost_stop_from(n, 0);
}

void net_vhost_stop_from(struct virtio_net *n, unsigned first)
{
    for (unsigned i = first; i < n->max_pairs; i++)
        if (n->pair[i].vh && n->pair[i].vh->running)
            vhost_pair_stop(&n->pair[i]);
}

bool net_vhost_running(const struct virtio_net *n)
{
    return n->pair && n->pair[0].vh && n->pair[0].vh->running;
}

/* ---- dirty tracking: vhost-net's log --------------------------------------------------------- */

uint64_t net_vhost_log_pages(const struct guest_mem *m)
{
    uint64_t end = 0;
    for (unsigned i = 0; i < m->nr; i++)
        end = MAX(end, m->r[i].gpa + m->r[i].size);
    for (unsigned i = 0; i < m->ndev; i++)
        if (!m->dev[i].readonly && m->dev[i].size)
            end = MAX(end, m->dev[i].gpa + m->dev[i].size);
    return (end / 4096 + 63) / 64 * 64;
}

/* Point pair P's running vhost at LOG (NULL: logging off): the log base, VHOST_F_LOG_ALL and each
 * started ring's VHOST_VRING_F_LOG, in the order vhost checks them (the base first when turning
 * on, last when turning off). Device lock held. Returns 0 or -errno (logged). */
static int vhost_pair_log(struct virtio_net *n, struct net_pair *p, _Atomic uint64_t *log)
{
    struct net_vhost *vh = p->vh;
    struct virtq *qs[2] = {[NET_RXQ] = p->rxq, [NET_TXQ] = p->txq};
    uint64_t base = (uintptr_t)log, f = net_vhost_ack(n->vdev.guest_features, vh->features);
    const char *what = "VHOST_SET_LOG_BASE";
    if (log && ioctl(vh->fd, VHOST_SET_LOG_BASE, &base) < 0)
        goto fail;
    f |= log ? BIT(VHOST_F_LOG_ALL) : 0;
    what = "VHOST_SET_FEATURES";
    if (ioctl(vh->fd, VHOST_SET_FEATURES, &f) < 0)
        goto fail;
    what = "VHOST_SET_VRING_ADDR";
    for (unsigned i = 0; i < 2; i++) {
        struct vhost_vring_addr a = vring_addr(i, qs[i], log != NULL);
        if ((vh->started >> i & 1) && ioctl(vh->fd, VHOST_SET_VRING_ADDR, &a) < 0)
            goto fail;
    }
    what = "VHOST_SET_LOG_BASE";
    if (!log && ioctl(vh->fd, VHOST_SET_LOG_BASE, &base) < 0)
        goto fail;
    return 0;
fail:;
    int rc = -errno;
    log_err("%s: vhost-net: dirty log %s: %s: %s", n->id, log ? "on" : "off", what, strerror(-rc));
    return rc;
}

/* Logging off on every running pair. Device lock held. */
static void vhost_log_off(struct virtio_net *n)
{
    for (unsigned i = 0; i < n->max_pairs; i++)
        if (n->pair[i].vh && n->pair[i].vh->running)
            vhost_pair_log(n, &n->pair[i], NULL);
}

/* dirty_source.start: a zeroed log covering vhost's memory table, handed to the running pairs
 * (the others get it when they start). */
static int vhost_log_start(void *opaque)
{
    struct virtio_net *n = opaque;
    if (!(n->pair[0].vh->features & BIT(VHOST_F_LOG_ALL))) {
        log_err("%s: this kernel's vhost-net cannot log its writes (no VHOST_F_LOG_ALL)", n->id);
        return -EOPNOTSUPP;
    }
    uint64_t pages = net_vhost_log_pages(&n->vh_vm->mem);
    _Atomic uint64_t *log = calloc(pages / 64 ? pages / 64 : 1, sizeof(*log));
    if (!log)
        return -ENOMEM;
    int rc = 0;
    virtio_lock(&n->vdev);
    for (unsigned i = 0; i < n->max_pairs && !rc; i++)
        if (n->pair[i].vh && n->pair[i].vh->running)
            rc = vhost_pair_log(n, &n->pair[i], log);
    if (rc) {
        vhost_log_off(n);
        free((void *)log);
    } else {
        n->vh_log = log;
        n->vh_log_pages = pages;
    }
    virtio_unlock(&n->vdev);
    if (!rc)
        log_info("%s: vhost-net logs its writes for dirty tracking (%llu KiB bitmap, %llu pages)",
                 n->id, (unsigned long long)(pages / 8 >> 10), (unsigned long long)pages);
    return rc;
}

/* dirty_source.stop: logging off, the log freed (vhost no longer writes it: SET_FEATURES waits
 * for each ring's worker). */
static void vhost_log_stop(void *opaque)
{
    struct virtio_net *n = opaque;
    virtio_lock(&n->vdev);
    vhost_log_off(n);
    _Atomic uint64_t *log = n->vh_log;
    n->vh_log = NULL;
    virtio_unlock(&n->vdev);
    free((void *)log);
    log_info("%s: vhost-net no longer logs its writes", n->id);
}

static long vhost_log_harvest(void *opaque, uint64_t *out)
{
    struct virtio_net *n = opaque;
    return n->vh_log ? dirty_merge_gpa_log(&n->vh_vm->mem, n->vh_log, n->vh_log_pages, out) : 0;
}

/* Register N's log with the VM's dirty tracking (started now when tracking is on). */
static int vhost_log_attach(struct virtio_net *n, char *err, size_t errlen)
{
    n->vh_dirty = (struct dirty_source){
        .start = vhost_log_start,
        .stop = vhost_log_stop,
        .harvest = vhost_log_harvest,
        .opaque = n,
    };
    n->vh_vm = n->vdev.vm;
    int rc = vm_dirty_source_add(n->vh_vm, &n->vh_dirty);
    if (rc) {
        n->vh_vm = NULL;
        snprintf(err, errlen, "--net %s: vhost=on: dirty page tracking is on: %s", n->id,
                 strerror(-rc));
    }
    return rc;
}

void net_vhost_detach(struct virtio_net *n)
{
    if (!n->vh_vm)
        return;
    vm_dirty_source_del(n->vh_vm, &n->vh_dirty);
    n->vh_vm = NULL;
    free((void *)n->vh_log); /* the rings are stopped (or never ran): nobody writes it */
    n->vh_log = NULL;
}
