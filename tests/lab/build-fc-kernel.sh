#!/bin/bash
# build-fc-kernel.sh — build (or find in the cache) the lab's Firecracker-style L2 kernel from
# Debian's linux-source-6.1: tinyconfig + fc-kernel.config (no PCI, no ACPI, virtio-mmio from the
# command line), an ELF vmlinux with a PVH note. Its object tree starts as a copy of the small
# kernel's (build-kernel.sh), so only what the configuration changes is compiled again.
# Prints the vmlinux path on stdout. --check: print it only if already built (exit 1 if not).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC_TAR=${LAB_LINUX_SRC:-/usr/src/linux-source-6.1.tar.xz}
FRAG=$LAB_DIR/fc-kernel.config
[ -f "$SRC_TAR" ] || lab_die "$SRC_TAR missing: apt-get install linux-source-6.1"
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || stat -c %s.%Y "$SRC_TAR")
key=$(lab_hash "$FRAG" "$0" -- "$srcver" "$(gcc --version | head -n 1)")
out=$LAB_CACHE/fc-kernel/$key
if [ -f "$out/vmlinux" ]; then
    echo "$out/vmlinux"
    exit 0
fi
[ "${1:-}" = --check ] && exit 1

# The source tree (and, when built, the small kernel's objects) come from build-kernel.sh.
"$LAB_DIR/build-kernel.sh" >/dev/null || lab_die "the small kernel (the source tree) failed"
exec 9>"$LAB_CACHE/kbuild/lock"
flock 9 # one kernel build at a time
if [ -f "$out/vmlinux" ]; then
    echo "$out/vmlinux"
    exit 0
fi
tree=$LAB_CACHE/kbuild/src-$srcver
small=$LAB_CACHE/kbuild/obj-$srcver
obj=$LAB_CACHE/kbuild/obj-fc-$srcver
if [ ! -f "$obj/.seeded" ]; then
    rm -rf "$obj"
    cp -a "$small" "$obj" # kbuild rebuilds only what depends on the options that differ
    touch "$obj/.seeded"
fi
jobs=${LAB_JOBS:-$(nproc)}
lab_log "building the Firecracker-style kernel ($jobs jobs, log $obj/build.log)"
start=$SECONDS
{
    make -C "$tree" O="$obj" tinyconfig
    "$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$FRAG"
    make -C "$tree" O="$obj" olddefconfig
    nice -n 10 make -C "$tree" O="$obj" -j"$jobs" vmlinux
} >"$obj/build.log" 2>&1 || lab_die "kernel build failed: tail $obj/build.log"

missing=$(grep -E '^CONFIG_' "$FRAG" | while read -r opt; do
    grep -qxF "$opt" "$obj/.config" || echo "$opt"
done)
[ -z "$missing" ] || lab_log "warning: options not set in the fc kernel: $(echo $missing)"
for off in CONFIG_PCI CONFIG_ACPI; do
    ! grep -q "^$off=y" "$obj/.config" || lab_die "$off is set in the fc kernel"
done
mkdir -p "$out"
cp "$obj/vmlinux" "$out/vmlinux.tmp"
strip --strip-debug "$out/vmlinux.tmp" 2>/dev/null || true
cp "$obj/.config" "$out/config"
mv "$out/vmlinux.tmp" "$out/vmlinux"
lab_prune "$LAB_CACHE/fc-kernel" 3
lab_log "fc kernel built in $((SECONDS - start)) s: $out/vmlinux"
echo "$out/vmlinux"
