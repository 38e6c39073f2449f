#!/bin/bash
# build-ahci-images.sh — build (or find in the cache) the images of the AHCI scenarios, with
# Debian's xorriso, GRUB and e2fsprogs: data1.iso and data2.iso (a marker file and 1 MB of known
# lines each, for reading and media change from Linux), grub.iso (`grub-mkrescue` for BIOS: El
# Torito no-emulation boot, a grub.cfg that prints TRUCE-GRUB-CD on the serial port and reboots;
# grub-efi.iso the same for UEFI, when grub-efi-amd64-bin is installed; gfx.iso and gfx-efi.iso:
# GRUB's menu on its graphical terminal over a solid colour, for the display scenarios)
# and root.img (an 8 MiB ext4 root file system with the static busybox and /data, the lines
# 1-30000). Prints the directory holding them on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v xorriso >/dev/null || lab_die "apt-get install xorriso"
command -v mkfs.ext4 >/dev/null || lab_die "apt-get install e2fsprogs"
busybox=$(command -v busybox || echo /bin/busybox)
command -v grub-mkrescue >/dev/null && [ -d /usr/lib/grub/i386-pc ] ||
    lab_die "apt-get install grub-pc-bin grub-common"
tools=$(dpkg-query -W -f '${Version} ' xorriso grub-pc-bin grub-efi-amd64-bin mtools e2fsprogs \
    2>/dev/null || true)
key=$(lab_hash "$0" "$busybox" -- "$tools")
out=$LAB_CACHE/isos/$key
if [ -f "$out/root.img" ]; then
    echo "$out"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lab_log "building the AHCI scenarios' images"
for n in 1 2; do
    mkdir -p "$work/data$n/sub"
    echo "truce-ahci-cd-$n" >"$work/data$n/marker.txt"
    seq "$n" 150000 >"$work/data$n/sub/lines.txt"
    xorriso -as mkisofs -quiet -R -J -V "TRUCE_DATA$n" -o "$work/data$n.iso" "$work/data$n" 2>/dev/null ||
        lab_die "xorriso failed"
done
mkdir -p "$work/grub/boot/grub"
# the partition modules GRUB's rescue image asks for (it names them all)
parts=$(cd /usr/lib/grub/i386-pc && ls part_*.mod | sed 's/\.mod$//' | tr '\n' ' ')
cat >"$work/grub/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_output serial
echo TRUCE-GRUB-CD
reboot
CFG
grub-mkrescue -d /usr/lib/grub/i386-pc -o "$work/grub.iso" "$work/grub" \
    --install-modules="normal echo serial terminal reboot configfile iso9660 biosdisk $parts" \
    --fonts= --locales= --themes= >"$work/grub.log" 2>&1 || {
    cat "$work/grub.log" >&2
    lab_die "grub-mkrescue failed"
}
mkdir -p "$work/root/bin"
cp -L "$busybox" "$work/root/bin/busybox"
ln -s busybox "$work/root/bin/cat"
seq 1 30000 >"$work/root/data"
mkfs.ext4 -q -F -L ahciroot -d "$work/root" "$work/root.img" 8M >/dev/null ||
    lab_die "mkfs.ext4 failed"
# the same for UEFI when grub-efi-amd64-bin is installed: El Torito's EFI image (FAT, mtools)
if [ -d /usr/lib/grub/x86_64-efi ]; then
    grub-mkrescue -d /usr/lib/grub/x86_64-efi -o "$work/grub-efi.iso" "$work/grub" \
        --install-modules="normal echo serial terminal reboot configfile iso9660 $parts" \
        --fonts= --locales= --themes= >"$work/grub-efi.log" 2>&1 || {
        cat "$work/grub-efi.log" >&2
        lab_die "grub-mkrescue (x86_64-efi) failed"
    }
fi
# gfx.iso / gfx-efi.iso (the display scenarios): GRUB's menu on gfxterm at 800x600x32 over a
# solid background colour (#2050a0), also on the serial port, for 100 s
mkdir -p "$work/gfx/boot/grub"
cat >"$work/gfx/boot/grub/grub.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial
echo TRUCE-GFX-START
insmod all_video
insmod gfxterm
insmod gfxterm_background
loadfont $prefix/fonts/ascii.pf2
set gfxmode=800x600x32
terminal_output gfxterm serial
background_color "#2050a0"
set timeout=100
menuentry "TRUCE GFX MENU" {
    reboot
}
CFG
gfx_mods="normal echo serial terminal reboot configfile iso9660 all_video gfxterm gfxterm_background font"
grub-mkrescue -d /usr/lib/grub/i386-pc -o "$work/gfx.iso" "$work/gfx" \
    --install-modules="$gfx_mods biosdisk $parts" --fonts=ascii --locales= --themes= \
    >"$work/gfx.log" 2>&1 || {
    cat "$work/gfx.log" >&2
    lab_die "grub-mkrescue (gfx.iso) failed"
}
if [ -d /usr/lib/grub/x86_64-efi ]; then
    grub-mkrescue -d /usr/lib/grub/x86_64-efi -o "$work/gfx-efi.iso" "$work/gfx" \
        --install-modules="$gfx_mods $parts" --fonts=ascii --locales= --themes= \
        >"$work/gfx-efi.log" 2>&1 || {
        cat "$work/gfx-efi.log" >&2
        lab_die "grub-mkrescue (x86_64-efi, gfx-efi.iso) failed"
    }
fi
mkdir -p "$out"
[ -f "$work/grub-efi.iso" ] && cp "$work/grub-efi.iso" "$work/gfx-efi.iso" "$out/"
cp "$work/gfx.iso" "$out/"
cp "$work"/data1.iso "$work"/data2.iso "$work"/grub.iso "$work"/root.img "$out/"
lab_prune "$LAB_CACHE/isos" 3
echo "$out"
