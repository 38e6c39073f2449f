/* metrics_dev.c — per-device counters (virtio-blk, -net, -rng, vsock) for the metrics lines. */
#include <string.h>

#include "api/api_int.h"
#include "dev/dev.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/vsock_proto.h"

/* The virtio devices of VM with DEVICE_ID, in creation order; calls FN for each. */
static void each_virtio(struct vm *vm, uint16_t device_id,
                        void (*fn)(struct virtio_dev *vdev, unsigned index, void *arg), void *arg)
{
    unsigned index = 0;
    struct virtio_dev *vdev = NULL;
    while ((vdev = virtio_find(vm, device_id, vdev)))
        fn(vdev, index++, arg);
}

struct blk_walk {
    const struct vm_config *cfg;
    json_t *out;
};

static void blk_one(struct virtio_dev *vdev, unsigned index, void *arg)
{
    struct blk_walk *w = arg;
    struct virtio_blk *b = vdev->opaque;
    virtio_lock(vdev);
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "path", b->path, "read_count",
                  (json_int_t)b->nreads, "write_count", (json_int_t)b->nwrites, "flush_count",
                  (json_int_t)b->nflushes, "discard_count", (json_int_t)b->ndiscards, "read_bytes",
                  (json_int_t)b->bytes_read, "write_bytes", (json_int_t)b->bytes_written, "errors",
                  (json_int_t)b->nerrors);
    /* Firecracker's names for the drive's rate limiter */
    json_object_set_new(o, "rate_limiter_throttled_events", json_integer(b->rl.throttled));
    json_object_set_new(o, "rate_limiter_event_count", json_integer(b->rl.events));
    virtio_unlock(vdev);
    /* disks are created in configuration order, so the index names the drive */
    const char *id = index < w->cfg->ndisks ? w->cfg->disks[index].id : "?";
    json_object_set_new(w->out, id, o);
}

static json_t *net_metrics(struct vm *vm)
{
    json_t *out = json_object();
    for (unsigned i = 0; i < vm->cfg.nnets; i++) {
        struct virtio_net *n = virtio_net_find(vm, vm->cfg.nets[i].id);
        if (!n)
            continue;
        struct net_counters c;
        virtio_net_counters(n, &c);
        json_t *o =
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "rx_packets", (json_int_t)c.rx_packets,
                      "rx_bytes", (json_int_t)c.rx_bytes, "rx_dropped", (json_int_t)c.rx_dropped,
                      "tx_packets", (json_int_t)c.tx_packets, "tx_bytes", (json_int_t)c.tx_bytes,
                      "tx_dropped", (json_int_t)c.tx_dropped);
        /* Firecracker's names for the interface's rate limiters */
        json_object_set_new(o, "rx_rate_limiter_throttled", json_integer(c.rx_rl_throttled));
        json_object_set_new(o, "rx_event_rate_limiter_count", json_integer(c.rx_rl_events));
        json_object_set_new(o, "tx_rate_limiter_throttled", json_integer(c.tx_rl_throttled));
        json_object_set_new(o, "tx_rate_limiter_event_count", json_integer(c.tx_rl_events));
        json_object_set_new(out, vm->cfg.nets[i].id, o);
    }
    return out;
}

static json_t *vsock_metrics(struct vm *vm)
{
    struct vsock_stats s;
    if (virtio_vsock_stats(vm, &s) < 0)
        return NULL;
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "rx_packets",
                     (json_int_t)s.rx_packets, "rx_bytes", (json_int_t)s.rx_bytes, "tx_packets",
                     (json_int_t)s.tx_packets, "tx_bytes", (json_int_t)s.tx_bytes, "malformed",
                     (json_int_t)s.malformed, "conns_opened", (json_int_t)s.conns_opened,
                     "conns_refused", (json_int_t)s.conns_refused, "rst_sent",
                     (json_int_t)s.rst_sent);
}

/* Firecracker's "entropy" group, for the parts truce has. */
static json_t *entropy_metrics(struct vm *vm)
{
    struct rng_counters c;
    if (!vm->cfg.entropy)
        return NULL;
    virtio_rng_counters(vm, &c);
    return json_pack("{s:I, s:I, s:I}", "entropy_bytes", (json_int_t)c.bytes,
                     "entropy_rate_limiter_throttled", (json_int_t)c.throttled,
                     "rate_limiter_event_count", (json_int_t)c.events);
}

json_t *api_metrics_devices(struct vm *vm)
{
    struct blk_walk w = {&vm->cfg, json_object()};
    each_virtio(vm, VIRTIO_ID_BLOCK, blk_one, &w);
    json_t *j = json_pack("{s:o, s:o}", "block", w.out, "net", net_metrics(vm));
    json_t *vs = vsock_metrics(vm);
    if (vs)
        json_object_set_new(j, "vsock", vs);
    json_t *balloon = api_metrics_balloon(vm);
    if (balloon)
        json_object_set_new(j, "balloon", balloon);
    json_t *en = entropy_metrics(vm);
    if (en)
        json_object_set_new(j, "entropy", en);
    return j;
}
