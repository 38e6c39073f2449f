#!/bin/bash
# ahci.sh — AHCI vs virtio-blk inside truce: the same guest boot has a raw image on each (nested
# lab, tests/lab), fio from a tools disk on both, median of REPS boots, ratio AHCI/virtio-blk.
# Writes the "ahci" section of bench/RESULTS.md. Usage: bench/ahci.sh [--reps N] [--runtime S]
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
    *) echo "usage: bench/ahci.sh [--reps N] [--runtime SECONDS]" >&2 && exit 2 ;;
    esac
done
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
fio=$(command -v fio) || lab_die "fio missing: apt-get install fio"
[ -x "$REPO_DIR/build/truce" ] || lab_die "build truce first (make)"
work=$LAB_CACHE/bench-ahci
mkdir -p "$work"
tools_key=$(lab_hash "$fio" "$0")
tools=$work/tools-$tools_key.img
if [ ! -f "$tools" ]; then # fio, its libraries and the dynamic loader, as an ext4 image
    root=$(mktemp -d)
    mkdir -p "$root/lib"
    cp -L "$fio" "$root/fio"
    ldd "$fio" | awk '/=>/ && $3 ~ /^\// {print $3}' | xargs -r cp -L -t "$root/lib/"
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib/"
    mb=$(($(du -sm "$root" | cut -f1) * 5 / 4 + 16))
    mkfs.ext4 -q -F -L tools -d "$root" "$tools.tmp" "${mb}M"
    mv "$tools.tmp" "$tools"
    rm -rf "$root"
fi
printf 'REPS=%s RUNTIME=%s SIZE_MB=%s\n' "$reps" "$runtime" "$size_mb" >"$work/blk.conf"
initrd=$("$LAB_DIR/build-l1.sh" --extra "$tools:/lab/bench/tools.img" \
    --extra "$work/blk.conf:/lab/bench/blk.conf" \
    --extra "$BENCH_DIR/lab/ahci-scenario.sh:/lab/scenarios/bench-ahci.sh") ||
    lab_die "building the lab image failed"
out=$work/out
mkdir -p "$out"
lab_bench_run truce/bench-ahci $((reps * (6 * runtime + 150) + 120)) 3072 "$initrd" BENCH-AHCI "$out"
python3 - "$out/samples.txt" "$BENCH_DIR/RESULTS.md" "$reps" "$runtime" "$size_mb" \
    "$(fio --version)" <<'PY'
import os, statistics, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[2])))
from ratio import load_samples, samples_text, write_section
samples, results, reps, runtime, size, fver = sys.argv[1:7]
vals = load_samples(samples)
rows = [("seqread_MBps", "sequential read 1 MiB, QD8 (MB/s)"),
        ("seqwrite_MBps", "sequential write 1 MiB, QD8 (MB/s)"),
        ("randread_IOPS", "random read 4 KiB, QD32 (IOPS)")]
lines = ["<!-- ahci:begin -->", "## AHCI vs virtio-blk (both truce)", "",
         f"Median of {reps} boots; each boot has a {size} MiB raw image on virtio-blk and one on "
         f"the AHCI controller and runs fio {runtime} s per test on both (O_DIRECT, libaio, the "
         f"device run first alternating). Debian cloud kernel, 1 vCPU, 512 MiB, {fver}. Lab "
         "figures: the ratio is the result.", "",
         "| test | virtio-blk | AHCI | AHCI/virtio |", "|---|---:|---:|---:|"]
for key, label in rows:
    v, a = vals.get((key, "virtio"), []), vals.get((key, "ahci"), [])
    if v and a:
        mv, ma = statistics.median(v), statistics.median(a)
        lines.append(f"| {label} | {mv:.1f} | {ma:.1f} | {ma / mv:.2f} |")
lines += ["", f"Command: `bench/ahci.sh --reps {reps} --runtime {runtime}` "
          f"({time.strftime('%Y-%m-%d')}). Samples: " + samples_text(vals), "<!-- ahci:end -->"]
section = "\n".join(lines) + "\n"
write_section(results, "<!-- ahci:begin -->", "<!-- ahci:end -->", section)
print(section)
PY
