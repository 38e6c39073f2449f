#!/bin/bash
# blk.sh — virtio-blk benchmark: truce vs Debian's QEMU (virtio-blk-pci) on the same raw image,
# inside one nested-lab run (tests/lab), alternating VMMs, median of REPS boots, ratio
# truce/QEMU. fio (Debian package) runs in the guest from a tools disk built here. Writes the
# "virtio-blk" section of bench/RESULTS.md (bench/blk_table.py). QEMU runs twice per rep, with
# cache=none and aio=io_uring, then aio=native; the image is a loop device in L1.
# Usage: bench/blk.sh [--reps N] [--runtime S]
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
LAB_DIR=$REPO_DIR/tests/lab
. "$LAB_DIR/lib.sh"

reps=5 runtime=5 size_mb=256
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=$2 && shift 2 ;;
    --runtime) runtime=$2 && shift 2 ;;
    *) echo "usage: bench/blk.sh [--reps N] [--runtime SECONDS]" >&2 && exit 2 ;;
    esac
done
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
fio=$(command -v fio) || lab_die "fio missing: apt-get install fio"
command -v mkfs.ext4 >/dev/null || lab_die "mkfs.ext4 missing: apt-get install e2fsprogs"
[ -x "$REPO_DIR/build/truce" ] || lab_die "build truce first (make)"
work=$LAB_CACHE/bench-blk
mkdir -p "$work"

# The tools disk: fio, every library it links and the dynamic loader, as an ext4 image.
tools_key=$(lab_hash "$fio" "$0")
tools=$work/tools-$tools_key.img
if [ ! -f "$tools" ]; then
    lab_log "building the fio tools disk"
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root/lib"
    cp -L "$fio" "$root/fio"
    ldd "$fio" | awk '/=>/ && $3 ~ /^\// {print $3}' | xargs -r cp -L -t "$root/lib/"
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib/"
    mb=$(($(du -sm "$root" | cut -f1) * 5 / 4 + 16))
    mkfs.ext4 -q -F -L tools -d "$root" "$tools.tmp" "${mb}M"
    mv "$tools.tmp" "$tools"
    rm -rf "$root"
    trap - EXIT
fi
printf 'REPS=%s RUNTIME=%s SIZE_MB=%s\n' "$reps" "$runtime" "$size_mb" >"$work/blk.conf"

loop_ko=$KMOD/kernel/drivers/block/loop.ko
[ -f "$loop_ko" ] || lab_die "no $loop_ko in the cloud kernel's modules"
initrd=$("$LAB_DIR/build-l1.sh" --extra "$tools:/lab/bench/tools.img" \
    --extra "$loop_ko:/lab/bench/loop.ko" \
    --extra "$work/blk.conf:/lab/bench/blk.conf" \
    --extra "$BENCH_DIR/lab/blk-scenario.sh:/lab/scenarios/bench-blk.sh") ||
    lab_die "building the lab image failed"
out=$work/out
mkdir -p "$out"
timeout=$((reps * 4 * (6 * runtime + 180) + 120))
load_start=$(cut -d" " -f1-3 /proc/loadavg)
lab_log "running $reps x 4 boots in the lab (up to $timeout s)"
lab_bench_run truce/bench-blk "$timeout" 3072 "$initrd" BENCH-BLK "$out"

# the exact peer command lines the scenario printed, then the section of RESULTS.md
tr -d '\r' <"$LAB_BENCH_LOG" | grep '^BENCH-BLK-CMD ' >"$out/cmds.txt" || true
plot=$(lab_plot blk "$out/samples.txt" "$BENCH_DIR/blk.png")
LOADAVG="$load_start -> $(cut -d" " -f1-3 /proc/loadavg)" python3 "$BENCH_DIR/blk_table.py" "$out/samples.txt" "$out/cmds.txt" "$BENCH_DIR/RESULTS.md" \
    "$reps" "$runtime" "$size_mb" "$(qemu-system-x86_64 --version | head -n 1)" "$(fio --version)" \
    $plot
