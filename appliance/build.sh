#!/bin/bash
# build.sh — `make appliance`: the truce appliance from Debian packages only, cached under a hash
# of its inputs. Output directory (printed on stdout): truce-appliance.img (a raw disk: MBR, GRUB
# for BIOS in the gap after the MBR and for UEFI as \EFI\BOOT\BOOTX64.EFI on the one partition, a
# FAT ESP labelled TRUCEBOOT made with mtools, no loop mount), truce-appliance.iso (grub-mkrescue:
# BIOS and UEFI, CD and USB), vmlinuz, initrd.img (zstd cpio: busybox, truce, truced, trucectl,
# e2fsprogs' mke2fs, their libraries, the kernel modules they need, the web console when the tree
# has one) and sizes.txt. The data partition is made by the appliance itself on first boot (appliance/init).
set -euo pipefail
APP_DIR=$(cd "$(dirname "$0")" && pwd)
. "$APP_DIR/../tests/lab/lib.sh"

[ -d /usr/lib/grub/i386-pc ] || lab_die "apt-get install grub-pc-bin"
[ -d /usr/lib/grub/x86_64-efi ] || lab_die "apt-get install grub-efi-amd64-bin"
command -v mformat >/dev/null || lab_die "apt-get install mtools"
command -v xorriso >/dev/null || lab_die "apt-get install xorriso"
command -v zstd >/dev/null || lab_die "apt-get install zstd"
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
for b in truce truced trucectl; do
    [ -x "$REPO_DIR/build/$b" ] || lab_die "build/$b missing: make -j2"
done

# Modules: KVM (AMD and Intel), the disks and NICs of the clouds and hypervisors the cloud
# kernel supports (virtio, Hyper-V, VMware, ENA, gVNIC, Mellanox, Intel VF; NVMe is built in),
# FAT for the boot partition, tun and bridge for VMs with tap networking, the ACPI power button.
APP_MODS="irqbypass kvm kvm-amd kvm-intel virtio_pci virtio_blk virtio_net virtio_scsi sd_mod
hv_vmbus hv_storvsc hv_netvsc vmxnet3 vmw_pvscsi ena gve ixgbevf mlx4_en mlx5_core mana vfat
nls_cp437 nls_ascii tun bridge button evdev"
mods=()
for m in $APP_MODS; do # keep the ones this kernel has (names vary between versions)
    modinfo -b "$(cd "$KMOD/../../.." && pwd)" -k "$KVER" -n "$m" >/dev/null 2>&1 && mods+=("$m")
done
SLIRP=$(ldconfig -p | awk '/libslirp\.so\.0 / && !n++ { print $NF }') # no early exit: pipefail
WEB=
[ -d "$REPO_DIR/web" ] && WEB=$REPO_DIR/web
BB=$(command -v busybox)
# e2fsprogs' mke2fs: the data partition is ext4 with a journal (busybox makes only ext2, which a
# power cut leaves inconsistent: "Structure needs cleaning" on the next boot, seen in the test)
MKE2FS=$(command -v mke2fs || echo /sbin/mke2fs)
[ -x "$MKE2FS" ] || lab_die "apt-get install e2fsprogs"
tools=$(dpkg-query -W -f '${Package}=${Version} ' grub-pc-bin grub-efi-amd64-bin mtools xorriso \
    busybox-static zstd e2fsprogs 2>/dev/null || true)
libs=$(for b in truce truced trucectl; do ldd "$REPO_DIR/build/$b"; done; ldd "$MKE2FS"
    [ -z "$SLIRP" ] || ldd "$SLIRP")
key=$(lab_hash "$APP_DIR" "$LAB_DIR/lib.sh" "$REPO_DIR"/build/{truce,truced,trucectl} "$KIMG" "$BB" "$MKE2FS" \
    ${SLIRP:+"$SLIRP"} ${WEB:+"$WEB"} -- "$KVER" "${mods[@]}" "$tools" "$libs" "${WEB:+web}")
OUT=$LAB_CACHE/appliance/$key
if [ -f "$OUT/truce-appliance.img" ] && [ -f "$OUT/truce-appliance.iso" ]; then
    echo "$OUT"
    exit 0
fi
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
lab_log "building the appliance ($KVER, ${#mods[@]} modules${WEB:+, web console})"

# The root: busybox, /init, the three programs and their libraries, the modules.
R=$W/root
lab_busybox "$R"
lab_devnodes "$R"
mkdir -p "$R"/{proc,sys,tmp,run,data,media/boot,etc,root} "$R/usr/share/truce"
for b in truce truced trucectl; do lab_copy_elf "$R" "$REPO_DIR/build/$b" "/usr/bin/$b"; done
[ -z "$SLIRP" ] || lab_copy_elf "$R" "$SLIRP" # dlopen'ed by truce for --net user
lab_copy_elf "$R" "$MKE2FS" /sbin/mkfs.ext4
[ ! -f /etc/mke2fs.conf ] || cp /etc/mke2fs.conf "$R/etc/"
[ -z "$WEB" ] || cp -r "$WEB" "$R/usr/share/truce/web"
lab_copy_modules "$KMOD" "$R" "${mods[@]}" || lab_die "copying modules failed"
cp "$APP_DIR/init" "$R/init"
cp "$APP_DIR/udhcpc.script" "$R/etc/udhcpc.script"
mkdir -p "$R/etc/acpi/PWRF"
ln -s /init "$R/etc/acpi/PWRF/00000080" # busybox acpid runs it on the power button
chmod 755 "$R/init" "$R/etc/udhcpc.script"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "root:x:0:" >"$R/etc/group"
echo "truce appliance $(sed -n 's/^VERSION *:= *//p' "$REPO_DIR/Makefile") ($(git -C "$REPO_DIR" \
    describe --always --dirty 2>/dev/null || echo unknown)), kernel $KVER" >"$R/etc/truce-release"
(cd "$R" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc -R 0:0 --quiet) |
    zstd -q -19 -T2 >"$W/initrd.img"

# The boot partition: FAT, label TRUCEBOOT, holding GRUB's configuration, the kernel, the
# initramfs, the EFI loader and an empty images/ folder (files put there are copied to the data
# partition at boot: how guest kernels and disks reach a fresh appliance).
G=$W/grub
mkdir -p "$G"
cat >"$G/embed.cfg" <<'CFG'
search --no-floppy --label TRUCEBOOT --set=root
set prefix=($root)/boot/grub
configfile $prefix/grub.cfg
CFG
cat >"$G/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
set timeout=1
menuentry "truce appliance" {
    linux /boot/vmlinuz console=tty0 console=ttyS0,115200 quiet
    initrd /boot/initrd.img
}
menuentry "truce appliance (shell on the consoles)" {
    linux /boot/vmlinuz console=tty0 console=ttyS0,115200 truce.shell
    initrd /boot/initrd.img
}
CFG
GMODS=(part_msdos part_gpt fat iso9660 search search_label configfile normal linux echo serial
    terminal test sleep)
grub-mkimage -O i386-pc -p /boot/grub -c "$G/embed.cfg" -o "$G/core.img" biosdisk "${GMODS[@]}"
grub-mkimage -O x86_64-efi -p /boot/grub -c "$G/embed.cfg" -o "$G/BOOTX64.EFI" "${GMODS[@]}" \
    efi_gop efi_uga
cp "$KIMG" "$W/vmlinuz"
payload=$(du -k -c "$W/vmlinuz" "$W/initrd.img" "$G/BOOTX64.EFI" | tail -n 1 | cut -f1)
esp_mib=$(((payload / 1024) + 9)) # 8 MiB of room for images/ and a kernel update
truncate -s "${esp_mib}M" "$W/esp.img"
mformat -i "$W/esp.img" -v TRUCEBOOT ::
mmd -i "$W/esp.img" ::/EFI ::/EFI/BOOT ::/boot ::/boot/grub ::/images
mcopy -i "$W/esp.img" "$G/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$W/esp.img" "$G/grub.cfg" ::/boot/grub/grub.cfg
mcopy -i "$W/esp.img" "$W/vmlinuz" "$W/initrd.img" ::/boot/
# The disk: MBR with GRUB's boot.img, core.img in the sectors before the partition at 1 MiB.
truncate -s $((esp_mib + 1))M "$W/truce-appliance.img"
dd if="$W/esp.img" of="$W/truce-appliance.img" bs=1M seek=1 conv=notrunc status=none
python3 "$APP_DIR/mbr.py" "$W/truce-appliance.img" /usr/lib/grub/i386-pc/boot.img "$G/core.img" \
    "$esp_mib"

# The ISO: the same kernel, initramfs and menu through grub-mkrescue (BIOS + UEFI).
I=$W/iso
mkdir -p "$I/boot/grub"
cp "$W/vmlinuz" "$W/initrd.img" "$I/boot/"
cp "$G/grub.cfg" "$I/boot/grub/grub.cfg"
grub-mkrescue -o "$W/truce-appliance.iso" "$I" -- -volid TRUCE_APPLIANCE >/dev/null 2>&1 ||
    lab_die "grub-mkrescue failed"

{
    echo "kernel $KVER $(stat -c %s "$W/vmlinuz")"
    echo "initrd $(stat -c %s "$W/initrd.img")"
    echo "root $(du -s -b "$R" | cut -f1)"
    echo "disk $(stat -c %s "$W/truce-appliance.img")"
    echo "iso $(stat -c %s "$W/truce-appliance.iso")"
    echo "modules ${mods[*]}"
} >"$W/sizes.txt"
mkdir -p "$LAB_CACHE/appliance"
tmp=$(mktemp -d "$LAB_CACHE/appliance/.build.XXXXXX")
cp "$W"/{truce-appliance.img,truce-appliance.iso,vmlinuz,initrd.img,sizes.txt} "$tmp/"
chmod 755 "$tmp"
rm -rf "$OUT"
mv -T "$tmp" "$OUT"
lab_prune "$LAB_CACHE/appliance" 3
echo "$OUT"
