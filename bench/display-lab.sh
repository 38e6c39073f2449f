#!/bin/bash
# display-lab.sh — the lab part of bench/display.sh (bench/display.sh --lab [REPS]): inside one
# nested-lab run on the patched L0 (bench/lab/display-scenario.sh), truce vs QEMU alternating.
# MEM_REPS (default 5) runs each: VMM memory (VmRSS less the guest RAM mapping's) with the display
# and a VNC server vs without, the cloud kernel booted directly and holding. REPS (default 1; an
# OVMF boot takes minutes in the lab) runs each: OVMF booting GRUB's gfxterm menu from a CD, the
# time from start to the menu and the VMM's memory there. Writes the "Display in the lab" section
# of bench/RESULTS.md; --report rewrites it from the last samples.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
LAB_DIR=$REPO_DIR/tests/lab
. "$LAB_DIR/lib.sh"

report=
[ "${1:-}" = --report ] && report=1 && shift
reps=${1:-1}
mem_reps=${MEM_REPS:-5}
case "$reps" in '' | *[!0-9]*) lab_die "REPS must be a number, got '$reps'" ;; esac
lab_cloud_kernel || lab_die "cannot fetch the Debian cloud kernel (apt-get download)"
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || lab_die "apt-get install ovmf"
[ -x "$REPO_DIR/build/truce" ] && [ -x "$REPO_DIR/build/tools/vnctool" ] || lab_die "make build/truce guests first"
"$LAB_DIR/build-l0.sh" >/dev/null || lab_die "the patched L0 is needed (tests/lab/build-l0.sh)"
work=$LAB_CACHE/bench-display
out=$work/out
mkdir -p "$work" "$out"
if [ -z "$report" ]; then
    printf 'REPS=%s\nMEM_REPS=%s\n' "$reps" "$mem_reps" >"$work/display.conf"
    # QEMU -M pc with -kernel wants its vapic ROM besides SeaBIOS and linuxboot_dma.bin, -vnc a keymap
    initrd=$("$LAB_DIR/build-l1.sh" --extra "$work/display.conf:/lab/bench/display.conf" \
        --extra /usr/share/qemu/kvmvapic.bin:/usr/share/qemu/kvmvapic.bin \
        --extra /usr/share/qemu/keymaps/en-us:/usr/share/qemu/keymaps/en-us \
        --extra "$BENCH_DIR/lab/display-scenario.sh:/lab/scenarios/bench-display.sh") ||
        lab_die "building the lab image failed"
    lab_log "running $mem_reps x 4 kernel boots and $reps x 2 OVMF boots to GRUB in the lab"
    lab_bench_run truce/bench-display $((mem_reps * 4 * 300 + reps * 2 * 1800 + 300)) 2048 "$initrd" BENCH-DISPLAY "$out"
fi
LAB_BENCH_LOG=$(ls -1t "$out"/l1-*.log | head -n 1)
notes=$(tr -d '\r' <"$LAB_BENCH_LOG" | sed -n 's/^BENCH-NOTE //p' | paste -sd ';' || true)

python3 - "$out/samples.txt" "$BENCH_DIR/RESULTS.md" "$reps" "$(lab_kver)" \
    "$(qemu-system-x86_64 --version | head -n 1)" "$("$REPO_DIR/build/truce" --version)" \
    "$notes" <<'PY'
import statistics, sys, time
samples, results, reps, kver, qver, tver, notes = sys.argv[1:8]
mem, grub = {}, {}
for line in open(samples):
    f = line.split()
    if len(f) >= 8 and f[1] == "mem" and int(f[5]) > 0 and int(f[6]) > 0:
        mem.setdefault((f[2], f[3]), []).append((int(f[5]) - int(f[6])) / 1024)
    elif len(f) >= 7 and f[1] == "grub" and float(f[4]) > 0:
        grub.setdefault(f[2], []).append((float(f[4]) / 1000, (int(f[5]) - int(f[6])) / 1024))
med = lambda v: statistics.median(v) if v else None
fmt = lambda x, u="MiB": f"{x:.1f} {u}" if x is not None else "n/a"
rows = []
for vmm, label in (("truce", "truce"), ("qemu", "QEMU -M pc")):
    a, b = med(mem.get((vmm, "none"), [])), med(mem.get((vmm, "vnc"), []))
    d = f"{b - a:+.1f} MiB" if a is not None and b is not None else "n/a"
    rows.append(f"| {label} | {fmt(a)} | {fmt(b)} | {d} |")
gt = {v: med([r[0] for r in grub.get(v, [])]) for v in ("truce", "qemu")}
gm = {v: med([r[1] for r in grub.get(v, [])]) for v in ("truce", "qemu")}
ratio = f"{gt['truce'] / gt['qemu']:.2f}" if gt["truce"] and gt["qemu"] else "n/a"
n = {k: len(v) for k, v in mem.items()}
allm = "; ".join(f"{v} {d} " + ", ".join(f"{x:.1f}" for x in mem.get((v, d), []))
                 for v in ("truce", "qemu") for d in ("none", "vnc"))
allg = "; ".join(v + " " + ", ".join(f"{r[0]:.1f}" for r in grub.get(v, [])) for v in ("truce", "qemu"))
section = f"""<!-- bench/display-lab.sh begin: this section is rewritten by bench/display.sh --lab -->
## Display in the lab: truce vs QEMU -vga std -vnc

Produced by `bench/display.sh --lab {reps}` on {time.strftime('%Y-%m-%d', time.gmtime())} ({tver}),
{kver} as L1 and guest kernel, {qver}; both VMMs in the same L1 (QEMU TCG with nested AMD-V on
the patched L0), alternating, 1 vCPU, 256 MiB.

VMM memory (VmRSS less the guest RAM mapping's resident pages) when the directly booted cloud
kernel holds (console on serial; the screen stays in text mode), median of {min(n.values()) if n else 0}:

| VMM | no display | display + VNC server, no client | display cost |
| --- | --- | --- | --- |
""" + "\n".join(rows) + f"""

GRUB's gfxterm menu (800x600x32, solid background) under Debian's OVMF from a CD
(`gfx-efi.iso`): truce `run --firmware ovmf --cdrom` (i440FX, AHCI) with `--display vnc=`; QEMU
`-M q35` (AHCI) `-vga std -vnc`, OVMF as pflash in both:

| median | truce | QEMU q35 | truce/QEMU |
| --- | --- | --- | --- |
| start -> GRUB's menu on the serial port | {fmt(gt['truce'], 's')} | {fmt(gt['qemu'], 's')} | {ratio} |
| VMM memory at the menu (less guest RAM) | {fmt(gm['truce'])} | {fmt(gm['qemu'])} | |

- truce: `truce run --kernel K --initrd I --cmdline C --memory 256M [--display vnc=127.0.0.1:P]`;
  QEMU: `-M pc -accel kvm -cpu host -m 256 -kernel K -initrd I -append C -nodefaults` with
  `-vga none -display none` or `-vga std -vnc 127.0.0.1:N`. Memory sampled by labrun at the
  guest's GUEST-HOLD line (after /init ran its checks) or at GRUB's menu line.
- Every GRUB boot, start -> menu in s: {allg}. Every memory run, MiB: {allm}. labrun reads
  VmRSS and then the guest mapping's Rss from smaps while the guest runs, so single runs vary
  by a few hundred KiB (truce) to a few MiB (QEMU); the medians are what to read.
- Absolute times are lab figures (every firmware instruction runs under TCG-emulated nested
  virtualisation, and the build machine's 2 cores are shared with other jobs); compare the ratio.
- The memory at the menu includes what each firmware setup holds outside guest RAM (truce: the
  flash images, the 16 MiB VRAM's drawn pages, the VNC server; QEMU: its own VRAM, ROMs and
  devices).
"""
if notes:
    section += f"\nNotes from the run: {notes}\n"
section += "<!-- bench/display-lab.sh end -->\n"
text = open(results).read()
b, e = "<!-- bench/display-lab.sh begin", "<!-- bench/display-lab.sh end -->\n"
if b in text:
    text = text[:text.index(b)] + section + text[text.index(e) + len(e):]
else:
    text = text.rstrip("\n") + "\n\n" + section
open(results, "w").write(text)
print(section)
PY
