#!/bin/bash
# build-drm-kernel.sh — fetch (or find in the cache) a Debian kernel with the `bochs` DRM driver for
# the display-drm scenario: the generic linux-image-VERSION-amd64 of the cloud kernel's ABI (the
# cloud kernel has no DRM at all), fetched with apt-get download and unpacked with dpkg-deb, never
# installed. Only what the scenario needs is kept, in $LAB_CACHE/drm-kernel/VERSION-KEY:
#   vmlinuz       the kernel (bzImage)
#   modules.cpio  lib/modules/VERSION/ with bochs.ko and its dependencies (modinfo -F depends:
#                 drm, drm_kms_helper, ttm, drm_ttm_helper, drm_vram_helper) and load-order, which
#                 the lab guest's /init insmods in that order; appended to the guest initramfs
# Prints that directory on stdout. LAB_DRM_KVER picks another version (e.g. 6.1.0-57-amd64);
# apt offline, the newest cached one is used. Cold: a 70 MB download and a 10-20 s unpack.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

MODS="bochs"
v=${LAB_DRM_KVER:-}
if [ -z "$v" ] && lab_cloud_kernel; then
    v=${KVER%-cloud-amd64}-amd64
fi
key=$(lab_hash "$0" "$LAB_DIR/lib.sh" -- $MODS)
if [ -n "$v" ] && ! apt-cache show "linux-image-$v" >/dev/null 2>&1; then
    # apt knows no such package (offline, or another archive): the newest cached one, if any
    v=
fi
if [ -z "$v" ]; then
    out=$(ls -1d "$LAB_CACHE"/drm-kernel/*-"$key" 2>/dev/null | sort -V | tail -n 1)
    [ -n "$out" ] && [ -f "$out/modules.cpio" ] || lab_die "no generic Debian kernel: apt-get download linux-image-VERSION-amd64 failed and none is cached"
    echo "$out"
    exit 0
fi
out=$LAB_CACHE/drm-kernel/$v-$key
if [ -f "$out/modules.cpio" ] && [ -f "$out/vmlinuz" ]; then
    echo "$out"
    exit 0
fi
mkdir -p "$LAB_CACHE/drm-kernel"
# unpacked aside and renamed into place: runs from other worktrees share the cache
tmp=$(mktemp -d "$LAB_CACHE/drm-kernel/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
start=$SECONDS
lab_log "fetching linux-image-$v (the bochs DRM driver, for display-drm)"
(cd "$tmp" && apt-get download "linux-image-$v" >/dev/null 2>&1) ||
    lab_die "apt-get download linux-image-$v failed"
deb=$(ls -1 "$tmp"/linux-image-"$v"_*.deb | head -n 1)
# only the kernel and the DRM modules' tree leave the package (a whole unpack is 400 MB)
mkdir -p "$tmp/root"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/root" "./boot/vmlinuz-$v" "./boot/config-$v" \
    "./lib/modules/$v/kernel/drivers/gpu" "./lib/modules/$v/modules.order" \
    "./lib/modules/$v/modules.builtin" "./lib/modules/$v/modules.builtin.modinfo" ||
    lab_die "linux-image-$v: unexpected package contents"
depmod -b "$tmp/root" "$v" # the package ships no modules.dep
grep -q '^CONFIG_DRM_BOCHS=[ym]' "$tmp/root/boot/config-$v" ||
    lab_die "linux-image-$v has no CONFIG_DRM_BOCHS"
mkdir -p "$tmp/mods"
lab_copy_modules "$tmp/root/lib/modules/$v" "$tmp/mods" $MODS ||
    lab_die "cannot resolve $MODS and its dependencies in linux-image-$v"
mkdir -p "$tmp/new"
cp "$tmp/root/boot/vmlinuz-$v" "$tmp/new/vmlinuz"
cp "$tmp/root/boot/config-$v" "$tmp/new/config"
lab_cpio "$tmp/mods" "$tmp/new/modules.cpio"
rm -rf "$out"
mv -T "$tmp/new" "$out" 2>/dev/null || [ -f "$out/modules.cpio" ] || lab_die "cannot write $out"
lab_prune "$LAB_CACHE/drm-kernel" 2
lab_log "linux-image-$v ready in $((SECONDS - start)) s: $out ($(tr '\n' ' ' <"$tmp/mods/lib/modules/$v/load-order"))"
echo "$out"
