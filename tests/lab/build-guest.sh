#!/bin/bash
# build-guest.sh — build (or find in the cache) the lab's L2 guest initramfs: busybox, the guest
# /init and checks, the cloud kernel's virtio modules, and the tools listed in guest/tools.list.
# Prints the initramfs path (uncompressed newc cpio) on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
# The guest's modules: virtio transport and devices, vsock, pvpanic (binds ACPI QEMU0001),
# virtio-pmem with the nvdimm pmem block driver, virtio-mem, virtio-balloon (their dependencies
# come along), SCSI disks and CD-ROMs on libata, ISO 9660 (the AHCI scenarios bring libahci.ko and ahci.ko,
# which the cloud kernel does not build: tests/lab/build-ahci-mods.sh), virtio-input with evdev,
# the ACPI button driver (the power button of firmware machines).
MODS="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio
virtio_blk failover net_failover virtio_net virtio_console virtio-rng vsock
vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport pvpanic pvpanic-mmio
virtio_pmem nd_pmem virtio_mem virtio_balloon
scsi_common scsi_mod libata sd_mod cdrom sr_mod isofs efivarfs evdev virtio_input button"
TOOLS=$(sed "/^#/d" "$LAB_DIR/guest/tools.list" 2>/dev/null | while read -r t; do
    [ -n "$t" ] && command -v "$t" || true
done)
busybox=$(command -v busybox || echo /bin/busybox)
key=$(lab_hash "$LAB_DIR/guest" "$0" "$LAB_DIR/lib.sh" "$busybox" $TOOLS -- "$KVER" $MODS)
out=$LAB_CACHE/guest/$key
if [ -f "$out/initrd.cpio" ]; then
    echo "$out/initrd.cpio"
    exit 0
fi
lab_log "building the guest initramfs ($KVER)"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
lab_busybox "$root"
lab_devnodes "$root"
mkdir -p "$root"/{proc,sys,tmp,lab,etc,checks}
cp "$LAB_DIR/guest/init" "$root/init"
cp "$LAB_DIR/guest/inittab" "$root/etc/inittab"
cp "$LAB_DIR"/guest/checks/* "$root/checks/"
chmod 755 "$root/init" "$root"/checks/*
lab_copy_modules "$KMOD" "$root" $MODS || lab_die "cannot resolve the guest modules in $KMOD"
for t in $TOOLS; do lab_copy_elf "$root" "$t"; done
mkdir -p "$out"
lab_cpio "$root" "$out/initrd.cpio"
lab_prune "$LAB_CACHE/guest"
echo "$out/initrd.cpio"
