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

# Device-specific request handling.
c vsock-garbage vsock_garbage vsock 85 "$OK"
c net-rx-tiny net_rx_tiny net 85 "$OK"
c net-rx-tiny-mergeable net_rx_tiny "net all" 85 "$OK"
c net-tx-garbage net_tx_garbage net 85 "$OK"
# Multiqueue virtio-net (a tap with 2 pairs): more pairs than offered, control queue garbage.
c net-mq-ctrl net_mq_ctrl "" 85 "$OK" --net-mq=2
# GUEST_ANNOUNCE's ack on one pair's control queue: bad acks, floods, the feature not negotiated.
c net-announce-ctrl net_announce "" 85 "$OK"
# Multiqueue virtio-blk (2 queues): a read through each, one queue broken, a fresh driver.
c blk-mq blk_mq "" 85 "$OK" --disk-mq=2
c mmds-flood mmds_flood net 85 "$OK" --mmds version=V2
c blk-bad-requests blk_bad_req blk 85 "$OK"
c blk-bad-requests-direct blk_bad_req blk 85 "$OK" --disk-direct
# Rate limiters holding requests back (they wait in the ring, never fail, never spin): big
# entropy requests under a bandwidth limit, a reset while disk requests are held, shutdown with
# requests held by a limit of one per second.
c rng-big-limited rng_big rng 85 "$OK" --rng=bw=256K/100,ops=50/100
c vq-reset-mid-blk-limited vq_reset_mid blk 85 "$OK" --disk-rl=bw=1M/100,ops=100/100
c shutdown-s5-busy-limited shutdown "s5 busy" 0 'devices busy' --disk-rl=ops=1/1000 \
    --rng=ops=1/1000
c rng-big rng_big rng 85 "$OK"
c ahci-commands ahci_cmds "" 85 "$OK" --disk-ahci
c pmem-bad pmem_bad "" 85 "$OK" --pmem-img
c pmem-bad-ro pmem_bad ro 85 "$OK" --pmem-img-ro
c vmem-bad vmem_bad "" 85 "$OK" --memory-hotplug size=256M,requested=64M
c console-flood cons_flood cons 85 'virtio-console fresh ok' --console-virtio
c input-bad input_bad "" 85 'fresh virtio-input ok' --display std,input=virtio
c balloon-bogus balloon_bogus "" 85 'fresh virtio-balloon ok' \
    --balloon amount_mib=16,deflate_on_oom=on,stats_polling_interval_s=1,free_page_hinting=on,free_page_reporting=on

# PCI: BARs over RAM, over each other, over the ECAM window and the APICs; config space; MSI-X.
c pci-bar-over-ram pci_bar_ram blk 85 "$OK"
c pci-bar-overlap pci_bar_overlap "" 85 "$OK"
c pci-bar-over-ecam pci_bar_ecam net 85 "$OK"
c pci-config-fuzz pci_cfg_fuzz "" 85 "$OK"
c pci-cf8 pci_cf8 "" 85 "$OK"
c msix-table-blk msix_table blk 85 "$OK"
c msix-table-vsock msix_table vsock 85 "$OK"
c msix-config-rng msix_cfg rng 85 "$OK"

# Legacy devices, port and MMIO sweeps, string I/O.
c legacy-uart legacy_uart "" 85 "$OK"
c legacy-i8042 legacy_i8042 "" 85 "$OK"
c legacy-cmos legacy_cmos "" 85 "$OK"
c legacy-power-ports legacy_power "" 85 "$OK"
c string-io-flood strio_flood "" 85 "$OK"
c mmio-unmapped mmio_unmapped "" 85 "$OK"
c virtio-mmio-regs mmio_regs "" 85 "$OK" --transport mmio
c pio-sweep pio_sweep "" 85 "$OK"

# Every shutdown path, idle and with devices busy: the README's statuses.
c shutdown-s5 shutdown s5 0 'ending the VM'
c shutdown-s5-busy shutdown "s5 busy" 0 'devices busy'
c shutdown-i8042 shutdown i8042 6 'ending the VM'
c shutdown-i8042-pulse shutdown i8042-pulse 6 'ending the VM'
c shutdown-i8042-outport shutdown i8042-outport 6 'ending the VM'
c shutdown-cf9-busy shutdown "cf9 busy" 6 'devices busy'
c shutdown-triple shutdown triple 8 'ending the VM'
c shutdown-triple-busy shutdown "triple busy" 8 'devices busy'
c shutdown-hlt shutdown hlt 10 'ending the VM'
c shutdown-pvpanic-busy shutdown "pvpanic busy" 12 'devices busy'
c shutdown-debug-exit shutdown debug-exit 33 'ending the VM'
c shutdown-emulation shutdown emulation "14|85" 'ending the VM'
c shutdown-sigterm-busy shutdown "busy park" 16 'devices busy'

# Added after the first full run: negotiation, a BAR driven above RAM, a vsock sink overfilled.
c vio-features-blk vio_features blk 85 "$OK"
c vio-features-net vio_features net 85 "$OK"
c vio-features-vsock vio_features vsock 85 "$OK"
c pci-bar-high-blk pci_bar_high blk 85 "$OK"
c pci-bar-high-rng pci_bar_high rng 85 "$OK"
c vsock-flood-sink vsock_flood vsock 85 "$OK"

# Two vCPUs: the second hammers a reset, a BAR move, MSI-X enable/mask or a notify while the
# first keeps requests in flight.
c race-reset-blk race "blk reset" 85 "$OK" --cpus 2
c race-reset-vsock race "vsock reset" 85 "$OK" --cpus 2
c race-bar-blk race "blk bar" 85 "$OK" --cpus 2
c race-decode-rng race "rng decode" 85 "$OK" --cpus 2
c race-msix-rng race "rng msix" 85 "$OK" --cpus 2
c race-notify-rng race "rng notify" 85 "$OK" --cpus 2

# fw_cfg (selector, data, DMA) and receive queues that are only walked when host data arrives.
c legacy-fw-cfg legacy_fw_cfg "" 85 "$OK"
c vq-rx-bad-net vq_rx_bad net 85 "$OK"
c vq-rx-bad-vsock vq_rx_bad vsock 85 "$OK"
c net-flood-user net_flood net 85 "$OK"
c console-rx cons_rx cons 85 'virtio-console fresh ok' --console-virtio --input=65536
c blk-readonly blk_readonly blk 85 "$OK" --disk-ro
