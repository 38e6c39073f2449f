/* test_net_mq.c — multiqueue virtio-net on a real multiqueue tap (root, in a network namespace of
 * its own; skipped otherwise): the control queue's VQ_PAIRS_SET, transmit on the second pair, tap
 * queues detached while unused, a reset back to one pair, and the state round trip (pairs in use
 * saved, byte-equal; a version 2 state restores to one pair). */
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

static struct vfix *mq_new(const char *tap)
{
    struct vfix *f = calloc(1, sizeof(*f));
    vf_init(f);
    f->vm.cfg.cpus = 2;
    f->vm.cfg.nets[0] = (struct net_config){.id = "net0", .kind = NET_TAP, .queues = 2};
    snprintf(f->vm.cfg.nets[0].tap, sizeof(f->vm.cfg.nets[0].tap), "%s", tap);
    f->vm.cfg.nnets = 1;
    char err[256] = "";
    if (device_class_find("virtio-net")->create(&f->vm, err, sizeof(err)))
        fail_msg("virtio-net: %s", err);
    vf_probe(f, 1);
    vf_bringup(f, vf_features(f), 5);
    return f;
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

/* Send VQ_PAIRS_SET N on the control queue; returns the ack. */
static uint8_t pairs_set(struct vfix *f, uint16_t n)
{
    static unsigned slot;
    uint64_t cmd = VF_BUF + 0x100 * (slot % 64), ack = cmd + 0x80;
    uint8_t c[4] = {VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, (uint8_t)n,
                    (uint8_t)(n >> 8)},
            a = 0x5a;
    guest_mem_write(&f->vm.mem, cmd, c, 4);
    guest_mem_write(&f->vm.mem, ack, &a, 1);
    unsigned d = 2 * (slot % 32);
    slot++;
    vf_desc(f, CTRLQ, d, cmd, 4, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
    vf_desc(f, CTRLQ, d + 1, ack, 1, VRING_DESC_F_WRITE, 0);
    uint16_t want = (uint16_t)(vf_used_idx(f, CTRLQ) + 1);
    vf_offer(f, CTRLQ, (uint16_t)d);
    assert_true(vf_wait_used(f, CTRLQ, want));
    guest_mem_read(&f->vm.mem, ack, &a, 1);
    return a;
}

/* The queues the kernel steers TAP's traffic to: tun keeps the interface's real transmit queue
 * count at its attached queue files (sysfs of our namespace, mounted by main). */
static unsigned tap_tx_queues(const char *tap)
{
    char path[96];
    unsigned n = 0;
    for (unsigned i = 0; i < 8; i++) {
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
        cmocka_unit_test(pairs_follow_the_driver),
        cmocka_unit_test(pairs_saved_and_restored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
