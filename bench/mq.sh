#!/bin/bash
# mq.sh — multiqueue scaling benchmark: truce (its own virtio-net, and with vhost=on) vs Debian's
# QEMU at 1, 2 and 4 vCPUs, each with as
# many virtio-blk queues and virtio-net queue pairs as vCPUs (QEMU: virtio-blk-pci num-queues=V,
# aio=io_uring; -netdev tap,queues=V,vhost=on + virtio-net-pci mq=on,vectors=2V+2), in the nested
# lab (tests/lab) with a 2-CPU L1 (LAB_L1_CPUS), each rep of each vCPU count in an L1 of its own,
# rotating VMMs, median of REPS boots per VMM and vCPU count. Measures fio 4 KiB random read QD32
# numjobs=V (IOPS) and TCP throughput over V parallel connections each way (guest->L1,
# L1->guest). Writes the "multiqueue" section of bench/RESULTS.md and bench/mq.png. Outside
# `make test`; bench/lab/mq-scenario.sh is the L1 side.
# Usage: bench/mq.sh [--reps N] [--runtime S] [--vcpus "1 2 4"] [--mib M]
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
LAB_DIR=$REPO_DIR/tests/lab
. "$LAB_DIR/lib.sh"

reps=5 runtime=5 size_mb=256 vcpus="1 2 4" mib=32
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=$2 && shift 2 ;;
    --runtime) runtime=$2 && shift 2 ;;
    --vcpus) vcpus=$2 && shift 2 ;;
    --mib) mib=$2 && shift 2 ;;
    *) echo "usage: bench/mq.sh [--reps N] [--runtime S] [--vcpus LIST] [--mib M]" >&2 && exit 2 ;;
    esac
done
export LAB_L1_CPUS=${LAB_L1_CPUS:-2}
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
fio=$(command -v fio) || lab_die "fio missing: apt-get install fio"
command -v mkfs.ext4 >/dev/null || lab_die "mkfs.ext4 missing: apt-get install e2fsprogs"
[ -x "$REPO_DIR/build/truce" ] || lab_die "build truce first (make)"
work=$LAB_CACHE/bench-mq
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
printf 'REPS=1 RUNTIME=%s SIZE_MB=%s BYTES=%s VCPUS="%s"\n' "$runtime" "$size_mb" \
    "$((mib * 1024 * 1024))" "$vcpus" >"$work/mq.conf"

initrd=$("$LAB_DIR/build-l1.sh" --extra "$tools:/lab/bench/tools.img" \
    --extra "$work/mq.conf:/lab/bench/mq.conf" \
    --extra "$BENCH_DIR/lab/mq-scenario.sh:/lab/scenarios/bench-mq.sh") ||
    lab_die "building the lab image failed"
out=$work/out
rm -rf "$out"
mkdir -p "$out"
load_start=$(cut -d" " -f1-3 /proc/loadavg)
# each rep of each vCPU count in an L1 of its own (lab_bench_reps): an SMP boot sometimes resets L1
wedged=
for v in $vcpus; do
    lab_log "$v vCPUs: $reps reps of 3 boots, each in an L1 with $LAB_L1_CPUS CPUs"
    LAB_BENCH_ARGS="lab.vcpus=$v" lab_bench_reps truce/bench-mq $((3 * 400 + 120)) 3072 "$initrd" \
        BENCH-MQ "$out/v$v" "$reps" || true
    cat "$out/v$v/all.log" >>"$out/all.log" 2>/dev/null || true
    cat "$out/v$v/samples.txt" >>"$out/samples.txt" 2>/dev/null || true
    [ -z "$LAB_BENCH_WEDGED" ] || wedged="$wedged${wedged:+; }$v vCPUs: rep $LAB_BENCH_WEDGED"
done
[ -s "$out/samples.txt" ] || lab_die "no samples; see $out/v*/rep*/l1-*.log"
grep -a '^BENCH-MQ-INFO ' "$out/all.log" | sort -u >"$out/info.txt" || true
grep -a '^BENCH-MQ-SKIP ' "$out/all.log" >"$out/skips.txt" || true
[ -z "$wedged" ] || lab_log "L1s that stopped dead or reset (the rep ran again): $wedged"
[ ! -s "$out/skips.txt" ] || lab_log "boots without samples: $(cut -d' ' -f2-4 "$out/skips.txt" | paste -sd,)"

plot=$(lab_plot mq "$out/samples.txt" "$BENCH_DIR/mq.png")
WEDGED="$wedged" LOADAVG="$load_start -> $(cut -d" " -f1-3 /proc/loadavg)" python3 - "$out/samples.txt" "$BENCH_DIR/RESULTS.md" "$reps" "$runtime" "$vcpus" "$mib" \
    "$LAB_L1_CPUS" "$(qemu-system-x86_64 --version | head -n 1)" "$(fio --version)" \
    "$out/info.txt" "$plot" <<'PY'
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[2])))
from ratio import load_samples, peers_table, samples_text, write_section
samples, results, reps, runtime, vcpus, mib, l1cpus, qver, fver, info, plot = sys.argv[1:12]
vals = load_samples(samples)
rows = []
for v in vcpus.split():
    rows += [(f"iops_{v}", f"{v} vCPU: fio 4 KiB randread QD32 numjobs={v}, {v} blk queues (IOPS)"),
             (f"g2h_{v}", f"{v} vCPU: TCP guest -> L1, {v} connections, {v} pairs (Mbit/s)"),
             (f"h2g_{v}", f"{v} vCPU: TCP L1 -> guest, {v} connections, {v} pairs (Mbit/s)")]
lines = ["<!-- mq:begin -->", "## Multiqueue: scaling with vCPUs, truce vs QEMU", "",
         f"Median of {reps} boots per VMM and vCPU count, the VMMs one after the other (which goes "
         f"first rotates every rep), each rep of each vCPU count in a fresh L1 of its own with "
         f"{l1cpus} L1 CPUs (the host has 2 cores). "
         "Every VMM gets as many queues as vCPUs. truce: `--cpus V --disk path=IMG,queues=V "
         "--net tap=tap0,queues=V`; truce vhost=on: the same with `--net tap=tap0,queues=V,vhost=on` "
         "(a vhost-net instance per queue pair, interrupts through KVM irqfds). QEMU "
         f"({qver}): `-M microvm,pcie=on -smp V -drive file=IMG,format=raw,if=none,id=d0,"
         "cache=writeback,aio=io_uring -device virtio-blk-pci,drive=d0,num-queues=V -netdev "
         "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=on,queues=V -device "
         "virtio-net-pci,netdev=n0,mq=on,vectors=2V+2` (mq and vectors only for V > 1). "
         f"Guest: Debian cloud kernel, 512 MiB; fio ({fver}) {runtime} s with libaio, O_DIRECT, "
         f"on a 256 MiB raw image in L1's tmpfs; TCP: {mib} MiB per connection with the lab's "
         "nettool (sum of V parallel connections: iperf3 -P V's measure; iperf3 is not in the "
         "lab image). Absolute numbers are lab figures (L1 is emulated by TCG on 2 host cores, "
         "so 4 vCPUs share 2 L1 CPUs); the ratio is the result.", ""]
lines += peers_table(vals, rows, "truce", [("qemu", "QEMU")])
if any(v == "truce-vhost" for _, v in vals):
    lines += ["", "truce with vhost=on against the same QEMU, same boots:", ""]
    lines += peers_table(vals, rows, "truce-vhost", [("qemu", "QEMU")])
try:
    seen = sorted(set(l.split(None, 1)[1].strip() for l in open(info) if l.strip()))
except FileNotFoundError:
    seen = []
if seen:
    lines += ["", "Queues the guest saw (vmm vCPUs blk-queues net-queues): " + "; ".join(seen)]
skips = os.path.join(os.path.dirname(os.path.abspath(samples)), "skips.txt")
if os.path.exists(skips) and os.path.getsize(skips):
    lines += ["", "Boots that failed and gave no samples (VMM, rep, vCPUs, the VMM's last line): "
              + "; ".join(" ".join(line.split()[1:]) for line in open(skips)) + "."]
if os.environ.get("WEDGED"):
    lines += ["", "L1s that stopped dead (stop) or reset themselves (reset) during a rep (the lab's "
              "TCG-emulated nested SVM; the rep ran again in a fresh L1, a boot done before it "
              f"counted once): {os.environ['WEDGED']}."]
if os.environ.get("LOADAVG"):
    lines += ["", "The host's load average (1, 5, 15 min) at the start -> the end: "
              f"{os.environ['LOADAVG']}, on {os.cpu_count()} cores shared with other jobs."]
if plot:
    lines += ["", f"![IOPS and throughput vs vCPUs]({os.path.basename(plot)})"]
lines += ["", f"Command: `bench/mq.sh --reps {reps} --runtime {runtime} --vcpus \"{vcpus}\"` "
          f"({time.strftime('%Y-%m-%d')}). Samples: " + samples_text(vals), "<!-- mq:end -->"]
section = "\n".join(lines) + "\n"
write_section(results, "<!-- mq:begin -->", "<!-- mq:end -->", section)
print(section)
PY
