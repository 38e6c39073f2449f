#!/bin/bash
# net.sh — virtio-net benchmark: truce (`--net tap=`) vs Debian's QEMU (virtio-net-pci + tap,
# vhost off) on the same tap inside one nested-lab run (tests/lab), alternating VMMs, median of
# REPS boots, ratio truce/QEMU: guest->L1 and L1->guest TCP throughput and TCP round-trip time,
# measured with tests/lab/tools/nettool.c. Writes the "virtio-net" section of bench/RESULTS.md.
# --trace counts instead (RESULTS.md untouched): queue notifications, MSIs, exits, HLT exits, VMM
# syscalls and preemptions of the VMM's threads in L1, per MiB moved (per round trip for the RTT
# test), median of REPS, into the run's trace.txt and on stdout.
# Usage: bench/net.sh [--reps N] [--mib M] [--trace]
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
LAB_DIR=$REPO_DIR/tests/lab
. "$LAB_DIR/lib.sh"

reps=5 mib=128 trace=0 rtts=2000
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=$2 && shift 2 ;;
    --mib) mib=$2 && shift 2 ;;
    --trace) trace=1 && shift ;;
    *) echo "usage: bench/net.sh [--reps N] [--mib MIB] [--trace]" >&2 && exit 2 ;;
    esac
done
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
[ -x "$REPO_DIR/build/truce" ] || lab_die "build truce first (make)"
work=$LAB_CACHE/bench-net
mkdir -p "$work"
printf 'REPS=%s BYTES=%s RTTS=%s TRACE=%s\n' "$reps" "$((mib * 1024 * 1024))" "$rtts" "$trace" \
    >"$work/net.conf"

# nettool (tests/lab/tools/nettool.c) is in L1 already: build-l1.sh builds every tools/*.c
initrd=$("$LAB_DIR/build-l1.sh" --extra "$work/net.conf:/lab/bench/net.conf" \
    --extra "$BENCH_DIR/lab/net-scenario.sh:/lab/scenarios/bench-net.sh") ||
    lab_die "building the lab image failed"
out=$work/out
mkdir -p "$out"
timeout=$((reps * 2 * 600 + 120))
lab_log "running $reps x 2 boots in the lab (up to $timeout s)"
lab_bench_run truce/bench-net "$timeout" 2048 "$initrd" BENCH-NET "$out"

if [ "$trace" = 1 ]; then # counters per MiB (per round trip): median per VMM, test and counter
    tr -d '\r' <"$LAB_BENCH_LOG" | grep '^BENCH-NET-TRACE ' >"$out/trace-samples.txt" || true
    python3 - "$out/trace-samples.txt" "$mib" "$rtts" <<'TRACE_EOF' | tee "$out/trace.txt"
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    _, vmm, _, test, counter, v = line.split()
    vals.setdefault((test, counter, vmm), []).append(float(v))
print("| test | counter | truce | QEMU |\n|---|---|---:|---:|")
for test, unit in (("guest_to_l1_Mbps", "MiB"), ("l1_to_guest_Mbps", "MiB"),
                   ("rtt_us", "round trip")):
    div = float(sys.argv[2] if unit == "MiB" else sys.argv[3])
    for counter in ("notifications", "msis", "exits", "hlt_exits", "vmm_syscalls",
                    "vmm_preemptions"):
        def cell(vmm):
            v = vals.get((test, counter, vmm))
            return "%.2f" % (statistics.median(v) / div) if v else "n/a"
        print(f"| {test} | {counter} per {unit} | {cell('truce')} | {cell('qemu')} |")
TRACE_EOF
    exit 0
fi

# median per VMM and test, ratio truce/QEMU -> the RESULTS.md section between the markers
python3 - "$out/samples.txt" "$BENCH_DIR/RESULTS.md" "$reps" "$mib" \
    "$(qemu-system-x86_64 --version | head -n 1)" <<'EOF'
import os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[2])))
from ratio import load_samples, ratio_table, samples_text, write_section
samples, results, reps, mib, qver = sys.argv[1:6]
vals = load_samples(samples)
rows = [("guest_to_l1_Mbps", "TCP guest -> L1 (Mbit/s, higher is better)"),
        ("l1_to_guest_Mbps", "TCP L1 -> guest (Mbit/s, higher is better)"),
        ("rtt_us", "TCP round trip, 1-byte messages (µs, lower is better)")]
B, E = "<!-- net:begin -->", "<!-- net:end -->"
lines = [B, "## virtio-net: truce vs QEMU", "",
         f"Median of {reps} boots each, alternating truce and QEMU (the first VMM swaps every "
         f"boot), on one persistent tap in the lab's L1 (10.9.0.1) with the guest at 10.9.0.2. "
         f"Throughput: {mib} MiB per direction over one TCP connection (nettool source/sink, "
         "timed by the receiver from its first byte, or by the sender until the receiver "
         "closed); RTT: median of 2000 1-byte TCP round trips (TCP_NODELAY). "
         f"QEMU: {qver}, `-M microvm,pcie=on`, `-netdev tap,vhost=off`, `virtio-net-pci`. "
         "truce: `--net tap=tap0` (tap with vnet headers, offloads as negotiated). Guest: Debian "
         "cloud kernel, 1 vCPU, 512 MiB. The lab's L2 runs under nested SVM in a TCG-emulated "
         "L1, so absolute numbers are only lab figures; the ratio is the result. Where the "
         "time goes (notifications, MSIs, exits, syscalls per MiB): `bench/net.sh --trace`.", ""]
lines += ratio_table(vals, rows)
lines += ["", f"Command: `bench/net.sh --reps {reps} --mib {mib}` "
          f"({time.strftime('%Y-%m-%d')}). Samples: "
          + samples_text(vals), E]
section = "\n".join(lines) + "\n"
write_section(results, B, E, section)
print(section)
EOF
