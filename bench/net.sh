#!/bin/bash
# net.sh — virtio-net benchmark: truce (`--net tap=`, and `--net tap=,vhost=on`) vs Debian's QEMU (virtio-net-pci + tap, with
# vhost-net and without) on the same tap inside one nested-lab run (tests/lab, L1 with 2 CPUs),
# rotating VMMs, median of REPS boots per vCPU count (1 and 2), ratio truce/QEMU: guest->L1 and
# L1->guest TCP throughput and TCP round-trip time, measured with tests/lab/tools/nettool.c.
# Writes the "virtio-net" section of bench/RESULTS.md (bench/net_table.py) and bench/net.png.
# --trace counts instead (RESULTS.md untouched): queue notifications, MSIs, exits, HLT exits, VMM
# syscalls and preemptions of the VMM's threads in L1, per MiB moved (per round trip for the RTT
# test), median of REPS, into the run's trace.txt and on stdout.
# --rounds R: every boot measures R times (each test) and counts the median of its rounds (the
# boot-to-boot spread in this lab is wide; each round's values are kept in the run's rounds.txt).
# Usage: bench/net.sh [--reps N] [--mib M] [--rtts N] [--rounds R] [--trace]
# (defaults 5, 128, 2000, 1)
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
LAB_DIR=$REPO_DIR/tests/lab
. "$LAB_DIR/lib.sh"

reps=5 mib=128 trace=0 rtts=2000 rounds=1
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) reps=$2 && shift 2 ;;
    --mib) mib=$2 && shift 2 ;;
    --rtts) rtts=$2 && shift 2 ;;
    --rounds) rounds=$2 && shift 2 ;;
    --trace) trace=1 && shift ;;
    *) echo "usage: bench/net.sh [--reps N] [--mib MIB] [--rtts N] [--rounds R] [--trace]" >&2 &&
        exit 2 ;;
    esac
done
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
[ -x "$REPO_DIR/build/truce" ] || lab_die "build truce first (make)"
work=${NET_BENCH_WORK:-$LAB_CACHE/bench-net} # another directory: two runs at once
mkdir -p "$work"
cpus=${CPUS:-1 2}
printf 'REPS=1 BYTES=%s RTTS=%s TRACE=%s CPUS="%s" ROUNDS=%s\n' "$((mib * 1024 * 1024))" \
    "$rtts" "$trace" "$cpus" "$rounds" >"$work/net.conf"

# nettool (tests/lab/tools/nettool.c) is in L1 already: build-l1.sh builds every tools/*.c
initrd=$("$LAB_DIR/build-l1.sh" --extra "$work/net.conf:/lab/bench/net.conf" \
    --extra "$BENCH_DIR/lab/net-scenario.sh:/lab/scenarios/bench-net.sh") ||
    lab_die "building the lab image failed"
out=$work/out
mkdir -p "$out"
timeout=$((4 * $(echo $cpus | wc -w) * 600 + 120))
export LAB_L1_CPUS=${LAB_L1_CPUS:-2}
load_start=$(cut -d" " -f1-3 /proc/loadavg)
lab_log "running $reps reps of 4 x ($cpus vCPUs) boots, each rep in an L1 of its own"
lab_bench_reps truce/bench-net "$timeout" 2048 "$initrd" BENCH-NET "$out" "$reps" || lab_die "no samples"
[ -z "$LAB_BENCH_WEDGED" ] || lab_log "reps whose L1 stopped dead or reset (the rep ran again): $LAB_BENCH_WEDGED"

if [ "$trace" = 1 ]; then # counters per MiB (per round trip): median per VMM, test and counter
    tr -d '\r' <"$LAB_BENCH_LOG" | grep '^BENCH-NET-TRACE ' >"$out/trace-samples.txt" || true
    python3 - "$out/trace-samples.txt" "$mib" "$rtts" <<'TRACE_EOF' | tee "$out/trace.txt"
import statistics, sys
vals = {}
for line in open(sys.argv[1]):
    _, vmm, _, test, counter, v = line.split()
    vals.setdefault((test, counter, vmm), []).append(float(v))
vmms = sorted({k[2] for k in vals}, key=lambda v: (v != "truce", v))
print("| test | counter | " + " | ".join(vmms) + " |\n|---|---" + "|---:" * len(vmms) + "|")
tests = sorted({k[0] for k in vals})
for test in tests:
    unit = "round trip" if test.startswith("rtt") else "MiB"
    div = float(sys.argv[2] if unit == "MiB" else sys.argv[3])
    for counter in ("notifications", "msis", "exits", "hlt_exits", "vmm_syscalls",
                    "vmm_preemptions"):
        def cell(vmm):
            v = vals.get((test, counter, vmm))
            return "%.2f" % (statistics.median(v) / div) if v else "n/a"
        print(f"| {test} | {counter} per {unit} | " + " | ".join(cell(v) for v in vmms) + " |")
TRACE_EOF
    exit 0
fi

# the exact peer command lines, the plot, then the section of RESULTS.md
tr -d '\r' <"$LAB_BENCH_LOG" | grep '^BENCH-NET-CMD ' | sort -u >"$out/cmds.txt" || true
tr -d '\r' <"$LAB_BENCH_LOG" | grep '^BENCH-NET-ROUNDS ' >"$out/rounds.txt" || true
tr -d '\r' <"$LAB_BENCH_LOG" | grep '^BENCH-NET-SKIP ' >"$out/skips.txt" || true
[ ! -s "$out/skips.txt" ] || lab_log "boots without samples: $(cut -d' ' -f2-4 "$out/skips.txt" | paste -sd,)"
plot=$(lab_plot net "$out/samples.txt" "$BENCH_DIR/net.png")
WEDGED="$LAB_BENCH_WEDGED" LOADAVG="$load_start -> $(cut -d" " -f1-3 /proc/loadavg)" python3 "$BENCH_DIR/net_table.py" "$out/samples.txt" "$out/cmds.txt" "$BENCH_DIR/RESULTS.md" \
    "$reps" "$mib" "$cpus" "$(qemu-system-x86_64 --version | head -n 1)" "$rtts" "$rounds" $plot
