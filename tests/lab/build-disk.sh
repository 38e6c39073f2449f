#!/usr/bin/env bash
# build-disk.sh — a raw disk that boots through a BIOS: an MBR partition table, GRUB for i386-pc
# (boot.img in sector 0, core.img from grub-mkimage in the gap before the partition) and one
# ext2 partition (mke2fs -d) holding grub.cfg, the cloud kernel and the guest initramfs; GRUB
# boots them on ttyS0 with the lab's command line. No root, no loop devices.
# Usage: build-disk.sh GUEST-INITRD. Prints the image path (cached under $LAB_CACHE/disk/).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

initrd=${1:?usage: build-disk.sh GUEST-INITRD}
grubdir=/usr/lib/grub/i386-pc
command -v grub-mkimage >/dev/null && [ -f "$grubdir/boot.img" ] ||
    lab_die "grub-mkimage or $grubdir missing (apt-get install grub-pc-bin)"
command -v mke2fs >/dev/null || lab_die "mke2fs missing (apt-get install e2fsprogs)"
lab_cloud_kernel || lab_die "no Debian cloud kernel"

out=$LAB_CACHE/disk/$(lab_hash "$0" "$KIMG" "$initrd" "$grubdir/boot.img")/grub-bios.img
if [ -f "$out" ]; then
    echo "$out"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/boot/grub"
cp "$KIMG" "$work/root/boot/vmlinuz"
cp "$initrd" "$work/root/boot/initrd.cpio"
cat >"$work/root/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
echo TRUCE-GRUB loading the kernel
linux /boot/vmlinuz console=ttyS0 quiet lab.end=poweroff
initrd /boot/initrd.cpio
boot
CFG
kib=$(($(du -sk "$work/root" | cut -f1) + 4096))
mke2fs -q -t ext2 -d "$work/root" "$work/fs.img" "${kib}k" >&2
grub-mkimage -O i386-pc -o "$work/core.img" -p "(hd0,msdos1)/boot/grub" \
    biosdisk part_msdos ext2 normal linux echo serial terminal configfile
core_sectors=$((($(stat -c %s "$work/core.img") + 511) / 512))
[ "$core_sectors" -lt 2047 ] || lab_die "core.img does not fit before sector 2048"
disk=$work/disk.img
truncate -s $((1024 * 1024 + kib * 1024)) "$disk"
# the partition table: one active Linux partition from sector 2048 (CHS fields unused)
python3 - "$disk" $((kib * 2)) <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(446)
    f.write(struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff", 2048,
                        int(sys.argv[2])))
    f.seek(510)
    f.write(b"\x55\xaa")
PY
dd if="$grubdir/boot.img" of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
dd if="$work/fs.img" of="$disk" bs=512 seek=2048 conv=notrunc status=none
mkdir -p "$(dirname "$out")"
mv "$disk" "$out"
echo "$out"
