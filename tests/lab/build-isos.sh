#!/bin/bash
# build-isos.sh — build (or find in the cache) the ISO 9660 images of the AHCI scenarios, with
# Debian's xorriso and GRUB: data.iso and data2.iso (a marker file and 1 MB of known lines each,
# for reading and media change from Linux) and grub.iso (`grub-mkrescue` for BIOS: El Torito
# no-emulation boot, a grub.cfg that prints TRUCE-GRUB-CD on the serial port and reboots).
# Prints the directory holding them on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v xorriso >/dev/null || lab_die "apt-get install xorriso"
command -v grub-mkrescue >/dev/null && [ -d /usr/lib/grub/i386-pc ] ||
    lab_die "apt-get install grub-pc-bin grub-common"
tools=$(dpkg-query -W -f '${Version} ' xorriso grub-pc-bin 2>/dev/null || true)
key=$(lab_hash "$0" -- "$tools")
out=$LAB_CACHE/isos/$key
if [ -f "$out/grub.iso" ]; then
    echo "$out"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lab_log "building the AHCI scenarios' ISO images"
for n in 1 2; do
    mkdir -p "$work/data$n/sub"
    echo "truce-ahci-cd-$n" >"$work/data$n/marker.txt"
    seq "$n" 150000 >"$work/data$n/sub/lines.txt"
    xorriso -as mkisofs -quiet -R -J -V "TRUCE_DATA$n" -o "$work/data$n.iso" "$work/data$n" ||
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
mkdir -p "$out"
cp "$work"/data1.iso "$work"/data2.iso "$work"/grub.iso "$out/"
lab_prune "$LAB_CACHE/isos" 3
echo "$out"
