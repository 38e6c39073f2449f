#!/usr/bin/env bash
# build-disk.sh — a raw disk that boots through a BIOS: an MBR partition table, GRUB for i386-pc
# (boot.img in sector 0, core.img from grub-mkimage in the gap before the partition) and one ext2
# partition (mke2fs -d, no root, no loop device) holding grub.cfg, the cloud kernel, the guest
# initramfs, truce's multiboot test kernel with two modules and memtest86+ (Debian's package,
# fetched with apt-get download and unpacked, never installed). GRUB talks on ttyS0.
# What GRUB boots is chosen by a second disk, (hd1): its first sector is a GRUB script that sets
# `sel` (linux, multiboot, memtest) and `args` (the kernel's extra arguments); without it GRUB
# boots the kernel. lab_grub_sel (l1/lib.sh) writes one.
# Usage: build-disk.sh GUEST-INITRD [MULTIBOOT-ELF]. Prints the directory holding grub-bios.img
# (cached under $LAB_CACHE/bios-disk/).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

initrd=${1:?usage: build-disk.sh GUEST-INITRD [MULTIBOOT-ELF]}
mb=${2:-}
grubdir=/usr/lib/grub/i386-pc
command -v grub-mkimage >/dev/null && [ -f "$grubdir/boot.img" ] ||
    lab_die "grub-mkimage or $grubdir missing (apt-get install grub-pc-bin)"
command -v mke2fs >/dev/null || lab_die "mke2fs missing (apt-get install e2fsprogs)"
lab_cloud_kernel || lab_die "no Debian cloud kernel"
# without memtest86+ (apt offline) the disk is still built: only seabios-memtest then fails
memtest=$(lab_memtest) ||
    { memtest= && lab_log "no memtest86+ (apt-get download memtest86+ failed): the BIOS disk goes without"; }

tools=$(dpkg-query -W -f '${Version} ' grub-pc-bin e2fsprogs 2>/dev/null || true)
out=$LAB_CACHE/bios-disk/$(lab_hash "$0" "$KIMG" "$initrd" ${mb:+"$mb"} ${memtest:+"$memtest"} -- "$tools")
if [ -f "$out/grub-bios.img" ]; then
    echo "$out"
    exit 0
fi
lab_log "building the BIOS GRUB disk"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/boot/grub"
cp "$KIMG" "$work/root/boot/vmlinuz"
cp "$initrd" "$work/root/boot/initrd.cpio"
[ -z "$memtest" ] || cp "$memtest" "$work/root/boot/memtest86+x64.bin"
if [ -n "$mb" ]; then
    cp "$mb" "$work/root/boot/multiboot.elf"
    printf 'first module\n' >"$work/root/boot/mod1.txt"
    printf 'second\001module' >"$work/root/boot/mod2.bin"
fi
cat >"$work/root/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set sel=linux
set args=
source (hd1)+1
echo "TRUCE-GRUB sel=$sel"
if [ "$sel" = multiboot ]; then
    multiboot /boot/multiboot.elf hello mb
    module /boot/mod1.txt arg1 arg2
    module /boot/mod2.bin x,y
elif [ "$sel" = memtest ]; then
    linux /boot/memtest86+x64.bin console=ttyS0,115200
else
    linux /boot/vmlinuz console=ttyS0 quiet $args
    echo TRUCE-GRUB-KERNEL-READ
    initrd /boot/initrd.cpio
fi
echo TRUCE-GRUB-BOOT
boot
CFG
kib=$(($(du -sk "$work/root" | cut -f1) * 105 / 100 + 2048))
mke2fs -q -t ext2 -b 4096 -d "$work/root" "$work/fs.img" "${kib}k" >&2
grub-mkimage -O i386-pc -o "$work/core.img" -p "(hd0,msdos1)/boot/grub" \
    biosdisk part_msdos ext2 normal linux multiboot echo serial terminal configfile test
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
mkdir -p "$out"
mv "$disk" "$out/grub-bios.img"
echo "$out"
