#!/bin/bash
# ovmf.sh — UEFI boot benchmark: the Debian cloud kernel through Debian's OVMF (kernel by fw_cfg)
# to the guest's /init, truce (--firmware ovmf, i440FX) vs QEMU (-M q35, the same OVMF files as
# pflash), inside one nested-lab run on the patched L0, alternating, median of REPS boots each.
# Writes the "UEFI boot" section of bench/RESULTS.md. Usage: bench/ovmf.sh [REPS] (default 3);
# bench/ovmf.sh --report rewrites the section from the last run's samples.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
LAB_DIR=$REPO_DIR/tests/lab
. "$LAB_DIR/lib.sh"

report=
[ "${1:-}" = --report ] && report=1 && shift
reps=${1:-3}
case "$reps" in '' | *[!0-9]*) lab_die "REPS must be a number, got '$reps'" ;; esac
lab_cloud_kernel || lab_die "cannot fetch the Debian cloud kernel (apt-get download)"
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || lab_die "apt-get install ovmf"
[ -x "$REPO_DIR/build/truce" ] || lab_die "build truce first (make)"
"$LAB_DIR/build-l0.sh" >/dev/null || lab_die "the patched L0 is needed (tests/lab/build-l0.sh)"
work=$LAB_CACHE/bench-ovmf
out=$work/out
mkdir -p "$work" "$out"
if [ -z "$report" ]; then
    echo "REPS=$reps" >"$work/ovmf.conf"
    initrd=$("$LAB_DIR/build-l1.sh" --extra "$work/ovmf.conf:/lab/bench/ovmf.conf" \
        --extra "$BENCH_DIR/lab/ovmf-scenario.sh:/lab/scenarios/bench-ovmf.sh") ||
        lab_die "building the lab image failed"
    lab_log "running $reps x 2 UEFI boots in the lab"
    lab_bench_run truce/bench-ovmf $((reps * 2 * 420 + 120)) 2048 "$initrd" BENCH-OVMF "$out"
fi
LAB_BENCH_LOG=$(ls -1t "$out"/l1-*.log | head -n 1)
notes=$(tr -d '\r' <"$LAB_BENCH_LOG" | sed -n 's/^BENCH-NOTE //p' | sed 's/:.*//' | paste -sd ';' || true)
reps=$(grep -c '^BENCH-OVMF truce' "$out/samples.txt" || echo "$reps")

python3 - "$out/samples.txt" "$BENCH_DIR/RESULTS.md" "$reps" "$(lab_kver)" \
    "$(qemu-system-x86_64 --version | head -n 1)" "$("$REPO_DIR/build/truce" --version)" \
    "$notes" <<'PY'
import statistics, sys, time
samples, results, reps, kver, qver, tver, notes = sys.argv[1:8]
runs = {}
for line in open(samples):
    f = line.split()
    if len(f) >= 6 and f[5] == "0" and float(f[3]) >= 0:
        runs.setdefault(f[1], []).append((float(f[3]), float(f[4])))
def med(vmm, i):
    v = [r[i] for r in runs.get(vmm, [])]
    return statistics.median(v) / 1000 if v else None
rows = []
for what, i in (("start -> /init (s)", 0), ("start -> exit after poweroff (s)", 1)):
    t, q = med("truce", i), med("qemu", i)
    ratio = f"{t / q:.2f}" if t and q else "n/a"
    fmt = lambda x: f"{x:.1f}" if x is not None else "n/a"
    rows.append(f"| {what} | {fmt(t)} | {fmt(q)} | {ratio} |")
n = {v: len(runs.get(v, [])) for v in ("truce", "qemu")}
all_runs = "; ".join(v + " " + ", ".join(f"{r[0] / 1000:.0f}" for r in runs.get(v, []))
                     for v in ("truce", "qemu"))
section = f"""<!-- bench/ovmf.sh begin: this section is rewritten by bench/ovmf.sh -->
## UEFI boot: truce vs QEMU q35 with the same OVMF, nested lab

Produced by `bench/ovmf.sh {reps}` on {time.strftime('%Y-%m-%d', time.gmtime())} ({tver}), {kver} as
L1 and guest kernel, {qver}, Debian's OVMF_CODE_4M.fd + a fresh OVMF_VARS_4M.fd per boot.

| median of {n['truce']} (truce) / {n['qemu']} (QEMU) boots | truce | QEMU q35 | truce/QEMU |
| --- | --- | --- | --- |
""" + "\n".join(rows) + f"""

- Both inside the lab's L1 (QEMU TCG with nested AMD-V on the patched L0), alternating which
  goes first; 1 vCPU, 256 MiB; the kernel, initramfs and command line handed to OVMF through
  fw_cfg (QEMU's -kernel / truce's --kernel with --firmware). truce: `truce run --firmware ovmf
  --firmware-vars vars.fd --kernel K --initrd I --cmdline C`; QEMU: `-M q35 -accel kvm -cpu host
  -drive if=pflash,unit=0,readonly=on,file=OVMF_CODE_4M.fd -drive if=pflash,unit=1,file=vars.fd
  -kernel K -initrd I -append C -nodefaults`.
- Absolute times are lab figures: every instruction OVMF runs before the kernel goes through
  TCG-emulated nested virtualisation, and OVMF's flash and port accesses are VM exits.
- Every boot, start -> /init in s: {all_runs}. Raw lines: `BENCH-OVMF vmm rep
  init_ms exit_ms status` in the lab log; a boot that did not reach /init within labrun's 400 s
  counts in neither median.
"""
if notes:
    section += f"\nNotes from the run: {notes}\n"
section += "<!-- bench/ovmf.sh end -->\n"
try:
    text = open(results).read()
except FileNotFoundError:
    text = "# Benchmarks\n\n"
b, e = "<!-- bench/ovmf.sh begin", "<!-- bench/ovmf.sh end -->\n"
if b in text:
    pre = text[:text.index(b)]
    post = text[text.index(e) + len(e):]
    text = pre + section + post
else:
    text = text.rstrip("\n") + "\n\n" + section
open(results, "w").write(text)
print(section)
PY
