#!/bin/bash
# firmware.sh — boot-from-disk benchmark through firmware: SeaBIOS -> GRUB (MBR gap) -> the cloud
# kernel -> /init, and OVMF -> GRUB EFI, truce vs QEMU (-M pc / -M q35, the same firmware files
# and disks), inside one nested-lab run on the patched L0, alternating, median of REPS boots
# each (bench/lab/firmware-scenario.sh). Writes the "Boot from disk through firmware" section of
# bench/RESULTS.md. Usage: bench/firmware.sh [REPS] (default 3); --report rewrites the section
# from the last run's samples.
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
[ -x "$REPO_DIR/build/truce" ] || lab_die "build truce first (make)"
work=$LAB_CACHE/bench-firmware
out=$work/out
mkdir -p "$work" "$out"
if [ -z "$report" ]; then
    "$LAB_DIR/build-l0.sh" >/dev/null || lab_die "the patched L0 is needed (tests/lab/build-l0.sh)"
    echo "REPS=$reps" >"$work/firmware.conf"
    initrd=$("$LAB_DIR/build-l1.sh" --extra "$work/firmware.conf:/lab/bench/firmware.conf" \
        --extra "$BENCH_DIR/lab/firmware-scenario.sh:/lab/scenarios/bench-firmware.sh") ||
        lab_die "building the lab image failed"
    lab_log "running $reps x 2 x 2 firmware boots in the lab"
    lab_bench_run truce/bench-firmware $((reps * 4 * 420 + 120)) 2048 "$initrd" BENCH-FW "$out"
fi
LAB_BENCH_LOG=$(ls -1t "$out"/l1-*.log | head -n 1)
notes=$(tr -d '\r' <"$LAB_BENCH_LOG" | sed -n 's/^BENCH-NOTE //p' | paste -sd ';' || true)

python3 - "$out/samples.txt" "$BENCH_DIR/RESULTS.md" "$(lab_kver)" \
    "$(qemu-system-x86_64 --version | head -n 1)" "$("$REPO_DIR/build/truce" --version)" \
    "$notes" <<'PY'
import statistics, sys, time
samples, results, kver, qver, tver, notes = sys.argv[1:7]
runs = {}
for line in open(samples):
    f = line.split()  # BENCH-FW fw vmm rep first_ms marker_ms exit_ms status
    if len(f) >= 8:
        runs.setdefault((f[1], f[2]), []).append((float(f[4]), float(f[5])))
def med(fw, vmm, i):
    v = [r[i] for r in runs.get((fw, vmm), []) if r[i] >= 0]
    return (statistics.median(v) / 1000, len(v)) if v else (None, 0)
rows = []
for fw, what in (("seabios", ("exec -> GRUB's first output", "exec -> /init")),
                 ("ovmf", ("exec -> OVMF's boot manager", "exec -> GRUB EFI's first output"))):
    for i in (0, 1):
        (t, nt), (q, nq) = med(fw, "truce", i), med(fw, "qemu", i)
        ratio = f"{t / q:.2f}" if t and q else "n/a"
        fmt = lambda x, n: f"{x:.1f} ({n})" if x is not None else "n/a"
        rows.append(f"| {fw} | {what[i]} | {fmt(t, nt)} | {fmt(q, nq)} | {ratio} |")
every = "; ".join(f"{fw}/{vmm} " + ", ".join(f"{r[1] / 1000:.0f}" for r in v)
                  for (fw, vmm), v in sorted(runs.items()))
section = f"""<!-- bench/firmware.sh begin: this section is rewritten by bench/firmware.sh -->
## Boot from disk through firmware: truce vs QEMU, nested lab

Produced by `bench/firmware.sh` on {time.strftime('%Y-%m-%d', time.gmtime())} ({tver}), {kver} as
L1 and guest kernel, {qver}; Debian's SeaBIOS (bios-256k.bin), OVMF_CODE_4M.fd with a fresh
OVMF_VARS_4M.fd, GRUB 2.06 from grub-pc-bin / grub-efi-amd64-bin.

| firmware | median seconds (boots) | truce | QEMU | truce/QEMU |
| --- | --- | --- | --- | --- |
""" + "\n".join(rows) + f"""

- SeaBIOS: the BIOS disk of tests/lab/build-disk.sh (GRUB in the MBR gap, an ext2 partition with
  the 14 MB cloud kernel and the 8.5 MB guest initramfs, both read through INT 13h on
  virtio-blk); QEMU `-M pc -bios bios-256k.bin -drive if=virtio`. OVMF: the GPT disk of
  tests/lab/build-efi-disk.sh (GRUB EFI on the ESP prints its marker and powers off); QEMU
  `-M q35` with the same OVMF files as pflash. 1 vCPU, 256 MiB, alternating which VMM goes first.
- GRUB's first output is the first line its grub.cfg prints on the serial port (under QEMU
  SeaBIOS and GRUB's banners do not reach it); first-output times are polled every 0.1 s, the
  others are labrun's. Absolute times are
  lab figures (TCG-emulated nested virtualisation); only the ratios mean something.
- Every boot, exec -> last marker in s: {every}.
"""
if notes:
    section += f"\nNotes from the run: {notes}\n"
section += "<!-- bench/firmware.sh end -->\n"
try:
    text = open(results).read()
except FileNotFoundError:
    text = "# Benchmarks\n\n"
b, e = "<!-- bench/firmware.sh begin", "<!-- bench/firmware.sh end -->\n"
if b in text:
    text = text[:text.index(b)] + section + text[text.index(e) + len(e):]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(results, "w").write(text)
print(section)
PY
