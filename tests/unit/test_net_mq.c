/* test_net_mq.c — virtio-net's control queue on a real (multiqueue) tap (root, in a network
 * namespace of its own; skipped otherwise): VQ_PAIRS_SET, transmit on the second pair, tap
 * queues detached while unused, a reset back to one pair, the state round trip (pairs in use
 * saved, byte-equal); GUEST_ANNOUNCE: one request after a restore (config status and interrupt),
 * the driver's ANNOUNCE_ACK, the pending bit saved, a "net" section of version 1 and an older
 * snapshot's device without the feature. */
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmocka.h>

#include "statetest.h"
#include "virtio_fixture.h"
#include "virtio/net.h"

#define CTRLQ 4 /* rx0 tx0 rx1 tx1 ctrl */
#define F_MQ  (1ULL << VIRTIO_NET_F_MQ | 1ULL << VIRTIO_NET_F_CTRL_VQ)

static bool in_netns;

/* A device of PAIRS pairs on TAP (NO_ANNOUNCE: an older snapshot's model), brought up by a
 * driver taking every offered feature but DROP. */
static struct vfix *net_new(const char *tap, uint8_t pairs, bool no_announce, uint64_t drop)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.cfg.cpus = 2;
    f->vm.cfg.nets[0] = (struct net_config){
        .id = "net0", .kind = NET_TAP, .queues = pairs, .no_announce = no_announce};
    snprintf(f->vm.cfg.nets[0].tap, sizeof(f->vm.cfg.nets[0].tap), "%s", tap);
    f->vm.cfg.nnets = 1;
    char err[256] = "";
    if (device_class_find("virtio-net")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-net: %s", err);
    vf_probe(f, 1);
    uint64_t feat = vf_features(f) & ~drop;
    vf_bringup(f, feat, 2u * pairs + !!(feat & 1ULL << VIRTIO_NET_F_CTRL_VQ));
    return f;
}

static struct vfix *mq_new(const char *tap)
{
    return net_new(tap, 2, false, 0);
}

static struct virtio_net *net_of(struct vfix *f)
{
    return virtio_find(&f->vm, VIRTIO_ID_NET, NULL)->opaque;
}

static void done(struct vfix *f)
{
    vf_fini(f);
    free(f);
}

/* Send the LEN bytes of command C on control queue Q; returns the ack. */
static uint8_t ctrl_cmd(struct vfix *f, unsigned q, const uint8_t *c, uint32_t len)
{
    static unsigned slot;
    uint64_t cmd = VF_BUF + 0x100 * (slot % 64), ack = cmd + 0x80;
    uint8_t a = 0x5a;
    guest_mem_write(&f->vm.mem, cmd, c, len);
    guest_mem_write(&f->vm.mem, ack, &a, 1);
    unsigned d = 2 * (slot % 32);
    slot++;
    vf_desc(f, q, d, cmd, len, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
    vf_desc(f, q, d + 1, ack, 1, VRING_DESC_F_WRITE, 0);
    uint16_t want = (uint16_t)(vf_used_idx(f, q) + 1);
    vf_offer(f, q, (uint16_t)d);
    assert_true(vf_wait_used(f, q, want));
    guest_mem_read(&f->vm.mem, ack, &a, 1);
    return a;
}

/* Send VQ_PAIRS_SET N on the control queue; returns the ack. */
static uint8_t pairs_set(struct vfix *f, uint16_t n)
{
    uint8_t c[4] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, (uint8_t)n,
                    (uint8_t)(n >> 8)};
    return ctrl_cmd(f, CTRLQ, c, 4);
}

/* The queues the kernel steers TAP's traffic to: tun keeps the interface's real transmit queue
 * count at its attached queue files (sysfs of our namespace, mounted by main). */
static unsigned tap_tx_queues(const char *tap)
{
    char path[96];
    unsigned n = 0;
    for (unsigned i = 0; i < 2 * NET_MAX_PAIRS; i++) {
        snprintf(path, sizeof(path), "/sys/class/net/%s/queues/tx-%u", tap, i);
        n += access(path, F_OK) == 0;
    }
    return n;
}

static void pairs_follow_the_driver(void **state)
{
    if (!in_netns)
        skip();
    struct vfix *f = mq_new("mqt0");
    struct virtio_net *n = net_of(f);
    assert_true((vf_features(f) & F_MQ) == F_MQ);
    assert_int_equal(vf_rd(f, f->devcfg + 8, 2), 2); /* max_virtqueue_pairs */
    assert_int_equal(n->pairs, 1);
    assert_int_equal(tap_tx_queues("mqt0"), 1); /* the second tap queue waits detached */
    assert_int_equal(pairs_set(f, 3), VIRTIO_NET_ERR);
    assert_int_equal(pairs_set(f, 0), VIRTIO_NET_ERR);
    assert_int_equal(n->pairs, 1);
    assert_int_equal(pairs_set(f, 2), VIRTIO_NET_OK);
    assert_int_equal(n->pairs, 2);
    assert_int_equal(tap_tx_queues("mqt0"), 2);
    /* a frame on the second pair's transmit queue is sent */
    uint8_t frame[12 + 60] = {0};
    memset(frame + 12, 0xff, 6);
    frame[12 + 12] = 0x08, frame[12 + 13] = 0x06;
    guest_mem_write(&f->vm.mem, VF_BUF + 0x10000, frame, sizeof(frame));
    vf_desc(f, 3, 0, VF_BUF + 0x10000, sizeof(frame), 0, 0);
    vf_offer(f, 3, 0);
    assert_true(vf_wait_used(f, 3, 1));
    struct net_counters c;
    virtio_net_counters(n, &c);
    assert_int_equal(c.tx_packets, 1);
    /* a reset is back to one pair */
    vf_bringup(f, vf_features(f), 5);
    assert_int_equal(n->pairs, 1);
    assert_int_equal(tap_tx_queues("mqt0"), 1);
    done(f);
}

static void pairs_saved_and_restored(void **state)
{
    if (!in_netns)
        skip();
    struct vfix *a = mq_new("mqt1"), *b = mq_new("mqt2");
    assert_int_equal(pairs_set(a, 2), VIRTIO_NET_OK);
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    db->ops->pause(
        db->dev); /* as a restored VM's: its I/O thread would ask the guest to announce */
    memcpy(gpa_to_hva(&b->vm.mem, VF_RING(0), 0x50000), gpa_to_hva(&a->vm.mem, VF_RING(0), 0x50000),
           0x50000);
    size_t len;
    uint8_t *buf = st_roundtrip(da, db, &len);
    assert_int_equal(net_of(b)->pairs, 2);
    assert_int_equal(tap_tx_queues("mqt2"), 2);
    free(buf);
    da->ops->resume(da->dev);
    done(a);
    done(b);
}

/* The largest userspace device: NET_MAX_PAIRS pairs on as many vCPUs with both rate limiters
 * (their timers are watched fds of the device) is created, takes every pair, and sends on the
 * last one; one pair more than the vCPUs is refused naming the counts. */
static void most_pairs_with_limiters(void **state)
{
    if (!in_netns)
        skip();
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.cfg.cpus = NET_MAX_PAIRS;
    struct net_config *nc = &f->vm.cfg.nets[0];
    *nc = (struct net_config){.id = "net0", .kind = NET_TAP, .queues = NET_MAX_PAIRS};
    nc->rx_rate_limiter.ops = (struct tb_config){.size = 100000, .refill_time = 1000};
    nc->tx_rate_limiter.ops = (struct tb_config){.size = 100000, .refill_time = 1000};
    snprintf(nc->tap, sizeof(nc->tap), "mqmax0");
    f->vm.cfg.nnets = 1;
    char err[256] = "";
    if (device_class_find("virtio-net")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-net: %s", err);
    vf_probe(f, 1);
    const unsigned ctrlq = 2 * NET_MAX_PAIRS;
    vf_bringup(f, vf_features(f), ctrlq + 1);
    struct virtio_net *n = net_of(f);
    assert_int_equal(vf_rd(f, f->devcfg + 8, 2), NET_MAX_PAIRS);
    assert_int_equal(n->vdev.nwatch, 2); /* the limiters' timers; the tap queues are the loop's */
    uint8_t c[4] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, NET_MAX_PAIRS + 1, 0};
    assert_int_equal(ctrl_cmd(f, ctrlq, c, 4), VIRTIO_NET_ERR);
    c[2] = NET_MAX_PAIRS;
    assert_int_equal(ctrl_cmd(f, ctrlq, c, 4), VIRTIO_NET_OK);
    assert_int_equal(n->pairs, NET_MAX_PAIRS);
    assert_int_equal(tap_tx_queues("mqmax0"), NET_MAX_PAIRS);
    uint8_t frame[12 + 60] = {0};
    memset(frame + 12, 0xff, 6);
    frame[12 + 12] = 0x08, frame[12 + 13] = 0x06;
    guest_mem_write(&f->vm.mem, VF_BUF + 0x10000, frame, sizeof(frame));
    vf_desc(f, ctrlq - 1, 0, VF_BUF + 0x10000, sizeof(frame), 0, 0);
    vf_offer(f, ctrlq - 1, 0);
    assert_true(vf_wait_used(f, ctrlq - 1, 1));
    struct net_counters cnt;
    virtio_net_counters(n, &cnt);
    assert_int_equal(cnt.tx_packets, 1);
    done(f);

    struct vfix *g = calloc(1, sizeof(*g));
    vf_init(g);
    g->vm.cfg.cpus = NET_MAX_PAIRS - 1;
    g->vm.cfg.nets[0] = (struct net_config){.id = "net9", .kind = NET_TAP, .queues = NET_MAX_PAIRS};
    snprintf(g->vm.cfg.nets[0].tap, sizeof(g->vm.cfg.nets[0].tap), "mqmax1");
    g->vm.cfg.nnets = 1;
    assert_int_equal(device_class_find("virtio-net")->create(&g->vm, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "net9"));
    assert_non_null(strstr(err, "queues=8"));
    assert_non_null(strstr(err, "7 vCPUs"));
    done(g);
}

/* ---- GUEST_ANNOUNCE (one pair: rx0 tx0 ctrl) ---- */
#define ANN_CTRLQ 2
#define F_ANN     (1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE | 1ULL << VIRTIO_NET_F_CTRL_VQ)

static uint8_t announce_ack(struct vfix *f)
{
    const uint8_t c[2] = {VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK};
    return ctrl_cmd(f, ANN_CTRLQ, c, 2);
}

static uint16_t net_status(struct vfix *f)
{
    return (uint16_t)vf_rd(f, f->devcfg + 6, 2);
}

static unsigned num_queues(struct vfix *f)
{
    return (unsigned)vf_rd(f, COMMON_OFF(num_queues), 2);
}

/* Restore A's state into B as a restored VM is: A paused, A's rings copied into B's RAM
 * (byte-equal round trip); A runs again. B is paused first when PAUSED (a VM restored paused),
 * else it runs at once (restored with resume_vm: never resumed). */
static void restore_into(struct vfix *a, struct vfix *b, bool paused)
{
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    if (paused)
        db->ops->pause(db->dev);
    memcpy(gpa_to_hva(&b->vm.mem, VF_RING(0), 0x50000), gpa_to_hva(&a->vm.mem, VF_RING(0), 0x50000),
           0x50000);
    memcpy(b->avail_idx, a->avail_idx, sizeof(a->avail_idx)); /* the driver's side goes along */
    size_t len;
    if (paused) { /* byte-equal while nothing runs */
        free(st_roundtrip(da, db, &len));
    } else { /* the I/O thread may change B as soon as it is restored */
        uint8_t *buf = st_save(da, &len);
        char msg[256] = "";
        if (st_restore(db, buf, len, msg, sizeof(msg)))
            fail_msg("restore: %s", msg);
        free(buf);
    }
    da->ops->resume(da->dev);
}

/* Pause (unless PAUSED) and resume F's device; returns the interrupts sent meanwhile. */
static int cycle(struct vfix *f, bool paused)
{
    struct device_instance *d = st_last(&f->vm);
    if (!paused)
        d->ops->pause(d->dev);
    int before = atomic_load(&f->msis);
    d->ops->resume(d->dev);
    vf_quiesce(f);
    return atomic_load(&f->msis) - before;
}

/* A restore asks the driver once (status bit and a config interrupt at resume); a plain pause
 * and resume does not; a driver that never acks gets no second request; the pending bit is
 * saved; ANNOUNCE_ACK clears it (again: nothing changes); a reset clears it. */
static void announce_after_restore(void **state)
{
    if (!in_netns)
        skip();
    struct vfix *a = net_new("ant0", 1, false, 0), *b = net_new("ant1", 1, false, 0);
    struct virtio_net *na = net_of(a), *nb = net_of(b);
    assert_true((vf_features(a) & F_ANN) == F_ANN);
    assert_int_equal(num_queues(a), 3);
    assert_false(net_status(a) & VIRTIO_NET_S_ANNOUNCE);
    assert_int_equal(announce_ack(a), VIRTIO_NET_OK); /* nothing pending: nothing changes */
    assert_int_equal(na->announce_acks, 0);
    cycle(a, false);
    assert_int_equal(na->announces, 0); /* a pause is not a restore */
    restore_into(a, b, true);
    assert_true(nb->announce_owed);
    assert_false(net_status(b) & VIRTIO_NET_S_ANNOUNCE); /* not before the guest runs */
    assert_true(cycle(b, true) >= 1);                    /* the config interrupt */
    assert_int_equal(nb->announces, 1);
    assert_true(net_status(b) & VIRTIO_NET_S_ANNOUNCE);
    assert_true(net_status(b) & VIRTIO_NET_S_LINK_UP);
    cycle(b, false); /* no ack: the bit stays, no second request */
    assert_int_equal(nb->announces, 1);
    assert_true(net_status(b) & VIRTIO_NET_S_ANNOUNCE);
    /* the pending bit is saved; the restored copy asks again at its own resume */
    struct vfix *c = net_new("ant2", 1, false, 0);
    restore_into(b, c, true);
    assert_true(net_status(c) & VIRTIO_NET_S_ANNOUNCE);
    cycle(c, true);
    assert_int_equal(net_of(c)->announces, 1);
    /* restored running (resume_vm): the I/O thread asks at once */
    struct vfix *r = net_new("ant3", 1, false, 0);
    int before = atomic_load(&r->msis);
    restore_into(a, r, false);
    vf_quiesce(r);
    assert_int_equal(net_of(r)->announces, 1);
    assert_true(atomic_load(&r->msis) > before);
    assert_true(net_status(r) & VIRTIO_NET_S_ANNOUNCE);
    done(r);
    /* the driver's ack */
    assert_int_equal(announce_ack(b), VIRTIO_NET_OK);
    assert_false(net_status(b) & VIRTIO_NET_S_ANNOUNCE);
    assert_int_equal(nb->announce_acks, 1);
    assert_int_equal(announce_ack(b), VIRTIO_NET_OK);
    assert_int_equal(nb->announce_acks, 1);
    assert_int_equal(nb->ctrl_errors, 0);
    /* a reset forgets it */
    vf_bringup(c, vf_features(c), 3);
    assert_false(net_status(c) & VIRTIO_NET_S_ANNOUNCE);
    done(a);
    done(b);
    done(c);
}

/* Without GUEST_ANNOUNCE negotiated the ack is refused and a restore asks nothing; GUEST_ANNOUNCE
 * without the control queue is refused at FEATURES_OK. */
static void announce_needs_the_feature(void **state)
{
    if (!in_netns)
        skip();
    uint64_t drop = 1ULL << VIRTIO_NET_F_GUEST_ANNOUNCE;
    struct vfix *a = net_new("anf0", 1, false, drop), *b = net_new("anf1", 1, false, drop);
    assert_int_equal(announce_ack(a), VIRTIO_NET_ERR);
    assert_int_equal(net_of(a)->ctrl_errors, 1);
    restore_into(a, b, true);
    assert_false(net_of(b)->announce_owed);
    cycle(b, true);
    assert_int_equal(net_of(b)->announces, 0);
    assert_false(net_status(b) & VIRTIO_NET_S_ANNOUNCE);
    vf_set_status(a, 0);
    vf_set_status(a, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    vf_set_features(a, vf_features(a) & ~(1ULL << VIRTIO_NET_F_CTRL_VQ));
    vf_set_status(a, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
                         VIRTIO_CONFIG_S_FEATURES_OK);
    assert_false(vf_status(a) & VIRTIO_CONFIG_S_FEATURES_OK);
    done(a);
    done(b);
}

/* Older states: a snapshot's device from before GUEST_ANNOUNCE (machine section < 13) has neither
 * the feature nor, on one pair, a control queue; a "net" section of version 1 (no announce
 * field) still restores, with the bit clear. */
static void announce_older_states(void **state)
{
    if (!in_netns)
        skip();
    struct vfix *o = net_new("ano0", 1, true, 0), *m = net_new("ano1", 2, true, 0);
    assert_int_equal(vf_features(o) & F_ANN, 0);
    assert_int_equal(num_queues(o), 2);
    assert_int_equal(vf_features(m) & F_ANN, 1ULL << VIRTIO_NET_F_CTRL_VQ);
    assert_int_equal(num_queues(m), 5);
    done(o);
    done(m);
    struct vfix *a = net_new("ano2", 1, false, 0), *b = net_new("ano3", 1, false, 0);
    struct device_instance *da = st_last(&a->vm), *db = st_last(&b->vm);
    da->ops->pause(da->dev);
    db->ops->pause(db->dev);
    net_of(a)->announce = true; /* the version 1 layout cannot carry it */
    size_t len;
    uint8_t *buf = st_save(da, &len);
    /* the "net" section ends the buffer: name, version, length, pairs (u32), announce (bool) */
    size_t net = len - 17;
    assert_int_equal(buf[net], 3);
    assert_memory_equal(buf + net + 1, "net", 3);
    uint32_t one = 1, four = 4;
    memcpy(buf + net + 4, &one, 4);
    memcpy(buf + net + 8, &four, 4);
    /* every section enclosing it ends at the end of the buffer: one byte shorter */
    for (size_t at = 0; at < net; at++) {
        uint32_t plen;
        size_t lf = at + 1 + buf[at] + 4;
        if (buf[at] < 1 || buf[at] > STATE_NAME_MAX || lf + 4 > net)
            continue;
        memcpy(&plen, buf + lf, 4);
        if (lf + 4 + plen == len) {
            plen--;
            memcpy(buf + lf, &plen, 4);
        }
    }
    char msg[256] = "";
    net_of(b)->announce = true;
    if (st_restore(db, buf, len - 1, msg, sizeof(msg)))
        fail_msg("restore of a version 1 \"net\" section: %s", msg);
    assert_false(net_of(b)->announce);
    free(buf);
    done(a);
    done(b);
}

int main(void)
{
    /* a network namespace of our own, and a mount namespace whose /sys shows it */
    if (geteuid() == 0 && unshare(CLONE_NEWNET | CLONE_NEWNS) == 0 &&
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
        mount("sysfs", "/sys", "sysfs", 0, NULL) == 0) {
        in_netns = true;
        int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, "1", 1) != 1)
                fprintf(stderr, "test_net_mq: IPv6 stays on\n");
            close(fd);
        }
    } else {
        fprintf(stderr, "test_net_mq: not root or no network namespaces: tests skipped\n");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pairs_follow_the_driver), cmocka_unit_test(pairs_saved_and_restored),
        cmocka_unit_test(announce_after_restore),  cmocka_unit_test(announce_needs_the_feature),
        cmocka_unit_test(announce_older_states),   cmocka_unit_test(most_pairs_with_limiters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
