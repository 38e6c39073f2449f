#!/bin/bash
# blk.sh — virtio-blk benchmark: truce vs Debian's QEMU (virtio-blk-pci) on the same raw image,
# inside one nested-lab run (tests/lab), alternating VMMs, median of REPS boots, ratio
# truce/QEMU. fio (Debian package) runs in the guest from a tools disk built here. Writes the
# "virtio-blk" section of bench/RESULTS.md. Usage: bench/blk.sh [--reps N] [--runtime S]
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

initrd=$("$LAB_DIR/build-l1.sh" --extra "$tools:/lab/bench/tools.img" \
    --extra "$work/blk.conf:/lab/bench/blk.conf" \
    --extra "$BENCH_DIR/lab/blk-scenario.sh:/lab/scenarios/bench-blk.sh") ||
    lab_die "building the lab image failed"
out=$work/out
mkdir -p "$out"
timeout=$((reps * 2 * (3 * runtime + 120) + 120))
lab_log "running $reps x 2 boots in the lab (up to $timeout s)"
lab_bench_run truce/bench-blk "$timeout" 3072 "$initrd" BENCH-BLK "$out"

# median per VMM and test, ratio truce/QEMU -> the RESULTS.md section between the markers
python3 - "$out/samples.txt" "$BENCH_DIR/RESULTS.md" "$reps" "$runtime" "$size_mb" \
    "$(qemu-system-x86_64 --version | head -n 1)" "$(fio --version)" <<'EOF'
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[2])))
from ratio import load_samples, ratio_table, samples_text, write_section
samples, results, reps, runtime, size, qver, fver = sys.argv[1:8]
vals = load_samples(samples)
rows = [("seqread_MBps", "sequential read 1 MiB, QD8 (MB/s)"),
        ("seqwrite_MBps", "sequential write 1 MiB, QD8 (MB/s)"),
        ("randread_IOPS", "random read 4 KiB, QD32 (IOPS)")]
lines = ["<!-- blk:begin -->", "## virtio-blk: truce vs QEMU", "",
         f"Median of {reps} boots each, alternating truce and QEMU, fio {runtime} s per test on a "
         f"{size} MiB raw image in the lab's L1 tmpfs (O_DIRECT in the guest, libaio). "
         f"QEMU: {qver}, `-M microvm,pcie=on`, `virtio-blk-pci`, `cache=writeback,aio=io_uring`. "
         f"truce: `--disk path=...` (page cache + io_uring). Guest: Debian cloud kernel, 1 vCPU, "
         f"512 MiB. {fver}. The lab's L2 runs under nested SVM in a TCG-emulated L1, so absolute "
         "numbers are only lab figures; the ratio is the result (goal: truce >= QEMU).", ""]
lines += ratio_table(vals, rows)
lines += ["", f"Command: `bench/blk.sh --reps {reps} --runtime {runtime}` "
          f"({time.strftime('%Y-%m-%d')}). Samples: "
          + samples_text(vals), "<!-- blk:end -->"]
section = "\n".join(lines) + "\n"
write_section(results, "<!-- blk:begin -->", "<!-- blk:end -->", section)
print(section)
EOF
