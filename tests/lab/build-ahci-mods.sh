#!/bin/bash
# build-ahci-mods.sh — build (or find in the cache) the AHCI driver modules (libahci.ko, ahci.ko)
# for the lab's Debian cloud kernel, which is built without CONFIG_SATA_AHCI (its libata, SCSI,
# sd, sr and isofs are modules), and psmouse.ko for the display scenarios (the PS/2 mouse alone:
# the kernel has no CONFIG_INPUT_MOUSE). They are compiled from Debian's linux-source-6.1 of the
# same version against the cloud kernel's own configuration and Module.symvers (from the matching
# linux-headers package, fetched with apt-get download), so they load unmodified. Prints the
# directory holding the three .ko files on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC_TAR=${LAB_LINUX_SRC:-/usr/src/linux-source-6.1.tar.xz}
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
[ -f "$SRC_TAR" ] || lab_die "$SRC_TAR missing: apt-get install linux-source-6.1"
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || stat -c %s.%Y "$SRC_TAR")
kcfg=$(dirname "$KIMG")/config-$KVER
[ -f "$kcfg" ] || lab_die "no kernel configuration $kcfg"
key=$(lab_hash "$0" "$kcfg" -- "$KVER" "$srcver" "$(gcc --version | head -n 1)")
out=$LAB_CACHE/ahci-mods/$key
if [ -f "$out/psmouse.ko" ]; then
    echo "$out"
    exit 0
fi
mkdir -p "$LAB_CACHE/kbuild"
exec 9>"$LAB_CACHE/kbuild/lock"
flock 9 # shares the kernel source tree with build-kernel.sh
if [ -f "$out/psmouse.ko" ]; then
    echo "$out"
    exit 0
fi
tree=$LAB_CACHE/kbuild/src-$srcver
if [ ! -f "$tree/.extracted" ]; then
    lab_log "extracting $SRC_TAR (once per source version)"
    rm -rf "$tree"
    mkdir -p "$tree"
    tar -xJf "$SRC_TAR" -C "$tree" --strip-components=1
    touch "$tree/.extracted"
fi
obj=$LAB_CACHE/kbuild/ahci-$KVER
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
lab_log "building libahci.ko and ahci.ko for $KVER (log $obj/build.log)"
rm -rf "$obj"
mkdir -p "$obj/mods"
start=$SECONDS
{
    # The kernel's Module.symvers, so the modules carry the symbol versions it checks.
    (cd "$work" && apt-get download "linux-headers-$KVER") || exit 1
    dpkg-deb --fsys-tarfile "$work"/linux-headers-"$KVER"_*.deb |
        tar -xO "./usr/src/linux-headers-$KVER/Module.symvers" >"$obj/Module.symvers"
    cp "$kcfg" "$obj/.config"
    # psmouse for the display scenarios: the PS/2 mouse alone (no vendor protocols)
    "$tree/scripts/config" --file "$obj/.config" --enable INPUT_MOUSE --module MOUSE_PS2 \
        --disable MOUSE_PS2_ALPS --disable MOUSE_PS2_BYD --disable MOUSE_PS2_LOGIPS2PP \
        --disable MOUSE_PS2_SYNAPTICS --disable MOUSE_PS2_SYNAPTICS_SMBUS \
        --disable MOUSE_PS2_CYPRESS --disable MOUSE_PS2_LIFEBOOK --disable MOUSE_PS2_TRACKPOINT \
        --disable MOUSE_PS2_ELANTECH --disable MOUSE_PS2_SENTELIC --disable MOUSE_PS2_TOUCHKIT \
        --disable MOUSE_PS2_FOCALTECH --disable MOUSE_PS2_VMMOUSE --disable MOUSE_PS2_SMBUS \
        --disable MOUSE_APPLETOUCH --disable MOUSE_BCM5974 --disable MOUSE_CYAPA \
        --disable MOUSE_ELAN_I2C --disable MOUSE_VSXXXAA --disable MOUSE_SERIAL \
        --disable MOUSE_SYNAPTICS_I2C --disable MOUSE_SYNAPTICS_USB
    "$tree/scripts/config" --file "$obj/.config" --module SATA_AHCI --disable DEBUG_INFO \
        --enable DEBUG_INFO_NONE --disable DEBUG_INFO_BTF --set-str SYSTEM_TRUSTED_KEYS "" \
        --set-str SYSTEM_REVOCATION_KEYS ""
    make -C "$tree" O="$obj" KERNELRELEASE="$KVER" olddefconfig
    nice -n 10 make -C "$tree" O="$obj" KERNELRELEASE="$KVER" -j"${LAB_JOBS:-$(nproc)}" \
        modules_prepare
    cp "$tree"/drivers/ata/{ahci.c,ahci.h,libahci.c,libata.h} "$obj/mods/"
    echo 'obj-m := libahci.o ahci.o' >"$obj/mods/Kbuild"
    nice -n 10 make -C "$tree" O="$obj" KERNELRELEASE="$KVER" M="$obj/mods" modules
    mkdir -p "$obj/mouse"
    cp "$tree"/drivers/input/mouse/{*.h,psmouse-base.c,synaptics.c,focaltech.c} "$obj/mouse/"
    printf 'obj-m := psmouse.o\npsmouse-objs := psmouse-base.o synaptics.o focaltech.o\n' \
        >"$obj/mouse/Kbuild"
    nice -n 10 make -C "$tree" O="$obj" KERNELRELEASE="$KVER" M="$obj/mouse" modules
} >"$work/build.log" 2>&1 || {
    cp "$work/build.log" "$obj/build.log"
    lab_die "AHCI module build failed: tail $obj/build.log"
}
cp "$work/build.log" "$obj/build.log"
modinfo -F vermagic "$obj/mods/ahci.ko" | grep -q "^$KVER " ||
    lab_die "ahci.ko was built for another kernel: $(modinfo -F vermagic "$obj/mods/ahci.ko")"
mkdir -p "$out"
modinfo -F vermagic "$obj/mouse/psmouse.ko" | grep -q "^$KVER " ||
    lab_die "psmouse.ko was built for another kernel"
cp "$obj/mods/libahci.ko" "$obj/mods/ahci.ko" "$obj/mouse/psmouse.ko" "$out/"
strip --strip-debug "$out"/*.ko
rm -rf "$obj"
lab_prune "$LAB_CACHE/ahci-mods" 3
lab_log "AHCI modules built in $((SECONDS - start)) s: $out"
echo "$out"
