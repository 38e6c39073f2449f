#!/bin/bash
# build-kernel.sh — build (or find in the cache) the lab's small L2 kernel from Debian's
# linux-source-6.1: tinyconfig + small-kernel.config, booted through PVH (ELF vmlinux).
# Prints the vmlinux path on stdout. --check: print it only if already built (exit 1 if not).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC_TAR=${LAB_LINUX_SRC:-/usr/src/linux-source-6.1.tar.xz}
FRAG=$LAB_DIR/small-kernel.config
[ -f "$SRC_TAR" ] || lab_die "$SRC_TAR missing: apt-get install linux-source-6.1"
srcver=$(dpkg-query -W -f '${Version}' linux-source-6.1 2>/dev/null || stat -c %s.%Y "$SRC_TAR")
key=$(lab_hash "$FRAG" "$0" -- "$srcver" "$(gcc --version | head -n 1)")
out=$LAB_CACHE/small-kernel/$key
if [ -f "$out/vmlinux" ]; then
    echo "$out/vmlinux"
    exit 0
fi
[ "${1:-}" = --check ] && exit 1

mkdir -p "$LAB_CACHE/kbuild"
exec 9>"$LAB_CACHE/kbuild/lock"
flock 9 # one build at a time; a second caller waits and then finds the result
if [ -f "$out/vmlinux" ]; then
    echo "$out/vmlinux"
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
obj=$LAB_CACHE/kbuild/obj-$srcver
mkdir -p "$obj"
jobs=${LAB_JOBS:-$(nproc)}
lab_log "building the small kernel ($jobs jobs, log $obj/build.log)"
start=$SECONDS
{
    make -C "$tree" O="$obj" tinyconfig
    "$tree/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$FRAG"
    make -C "$tree" O="$obj" olddefconfig
    nice -n 10 make -C "$tree" O="$obj" -j"$jobs" vmlinux
} >"$obj/build.log" 2>&1 || lab_die "kernel build failed: tail $obj/build.log"

# Every line of the fragment must have survived olddefconfig (a missing dependency drops it).
missing=$(grep -E '^CONFIG_' "$FRAG" | while read -r opt; do
    grep -qxF "$opt" "$obj/.config" || echo "$opt"
done)
[ -z "$missing" ] || lab_log "warning: options not set in the small kernel: $(echo $missing)"
mkdir -p "$out"
cp "$obj/vmlinux" "$out/vmlinux.tmp"
strip --strip-debug "$out/vmlinux.tmp" 2>/dev/null || true
cp "$obj/.config" "$out/config"
mv "$out/vmlinux.tmp" "$out/vmlinux"
lab_prune "$LAB_CACHE/small-kernel" 3
lab_log "small kernel built in $((SECONDS - start)) s: $out/vmlinux"
echo "$out/vmlinux"
