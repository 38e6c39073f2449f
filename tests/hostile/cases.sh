# cases.sh — the hostile suite's case table, sourced by run.sh once per build (see run.sh for c).
# shellcheck shell=bash

# No attack: the driver and the fixtures work (every later verdict depends on them).
c baseline baseline "blk rng net vsock" 85 "$OK"
c baseline-console baseline cons 85 'virtio-console fresh ok' --console-virtio
c baseline-park baseline "blk park" 16 "$OK"

# Issue 9, defect 1: a self-referencing indirect table, on every device's walked queue.
for t in blk rng net vsock; do
    c vq-indirect-self-$t vq_indirect_self $t 85 "$OK"
done
c vq-indirect-self-cons vq_indirect_self cons 85 'virtio-console fresh ok' --console-virtio
c vq-indirect-zero-blk vq_indirect_zero blk 85 "$OK"
c vq-indirect-zero-write-rng vq_indirect_zero "rng write" 85 "$OK"
c vq-indirect-self-park vq_indirect_self "blk park" 16 "$OK"

# Issue 9, defect 2: vsock receive buffers of exactly the header size while the host sends.
c vsock-rx-44 vsock_rx44 vsock 85 "$OK"
c vsock-rx-44-park vsock_rx44 "vsock park" 16 "$OK"
c vsock-rx-tiny vsock_rx44 "vsock tiny" 85 "$OK"

# Virtqueues: the shared walker through each device, and the transport's queue configuration.
for t in blk rng net vsock; do
    c vq-indirect-nested-$t vq_indirect_nested $t 85 "$OK"
    c vq-loop-$t vq_loop $t 85 "$OK"
    c vq-bad-addr-$t vq_bad_addr $t 85 "$OK"
done
c vq-indirect-bad-blk vq_indirect_bad blk 85 "$OK"
c vq-indirect-bad-net vq_indirect_bad net 85 "$OK"
c vq-indirect-loop-rng vq_indirect_loop rng 85 "$OK"
c vq-indirect-loop-vsock vq_indirect_loop vsock 85 "$OK"
c vq-long-chain-blk vq_long_chain blk 85 "$OK"
c vq-long-chain-net vq_long_chain net 85 "$OK"
c vq-long-chain-cons vq_long_chain cons 85 'virtio-console fresh ok' --console-virtio
c vq-avail-jump-blk vq_avail_jump blk 85 "$OK"
c vq-avail-jump-vsock vq_avail_jump vsock 85 "$OK"
c vq-size-blk vq_size blk 85 "$OK"
c vq-size-net vq_size net 85 "$OK"
c vq-ring-late-blk vq_ring_late blk 85 "$OK"
c vq-ring-late-rng vq_ring_late rng 85 "$OK"
c vq-notify-early-net vq_notify_early net 85 "$OK"
c vq-notify-early-cons vq_notify_early cons 85 'virtio-console fresh ok' --console-virtio
c vq-reset-mid-blk vq_reset_mid blk 85 "$OK"
c vq-reset-mid-rng vq_reset_mid rng 85 "$OK"
c vq-ring-outside-blk vq_ring_outside blk 85 "$OK"
c vq-ring-outside-vsock vq_ring_outside vsock 85 "$OK"
