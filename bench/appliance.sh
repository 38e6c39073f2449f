#!/usr/bin/env bash
# appliance.sh — `make bench-appliance`: the appliance's size and its boot to "manager ready",
# booted N times (default 3) from its raw disk as the lab's L1 machine (QEMU TCG, nested AMD-V,
# SeaBIOS -> GRUB), each on a fresh copy of the disk grown to 2 GiB (so every boot is a first
# boot that makes and formats the data partition). Medians into bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lab/lib.sh
N=${1:-3}
APP=$(appliance/build.sh)
W=$(mktemp -d /tmp/bench-appliance-XXXXXX)
QPID=
trap '[ -n "$QPID" ] && kill -KILL "$QPID" 2>/dev/null; rm -rf "$W"' EXIT
load0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$W/samples"
for i in $(seq "$N"); do
    cp "$APP/truce-appliance.img" "$W/disk.img"
    truncate -s 2G "$W/disk.img"
    : >"$W/serial.log"
    t0=$(date +%s.%N)
    qemu-system-x86_64 -accel tcg -cpu EPYC,+svm,+npt -M pc -m 2048 -smp 1 -no-reboot -nodefaults \
        -display none -drive "file=$W/disk.img,format=raw,if=virtio" \
        -netdev user,id=n0 -device virtio-net-pci,netdev=n0 -serial "file:$W/serial.log" 2>/dev/null &
    QPID=$!
    line=
    for _ in $(seq 1200); do
        line=$(tr -d '\r' <"$W/serial.log" | grep -a '^TRUCE-APPLIANCE-READY ' | head -n 1 || true)
        [ -n "$line" ] && break
        sleep 0.25
    done
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
    kill -KILL "$QPID"
    wait "$QPID" 2>/dev/null || true
    QPID=
    [ -n "$line" ] || lab_die "boot $i: no ready line; $(tail -n 3 "$W/serial.log")"
    v() { echo "$line" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
    echo "$wall $(v uptime) $(v init) $(v boot)" >>"$W/samples"
    lab_log "boot $i: ready $wall s after QEMU started ($(v uptime) s of kernel uptime)"
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)
med() { cut -d' ' -f"$1" "$W/samples" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
wall=$(med 1) up=$(med 2) init=$(med 3) boot=$(med 4)
fw=$(awk -v w="$wall" -v u="$up" 'BEGIN { printf "%.1f", w - u }')
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
sz() { sed -n "s/^$1 \([0-9 a-z.-]*\)/\1/p" "$APP/sizes.txt" | awk '{ print $NF }'; }
{
    echo "<!-- bench/appliance.sh begin: this section is rewritten by bench/appliance.sh -->"
    echo "## The appliance: size and boot to \"manager ready\""
    echo
    echo "Produced by \`bench/appliance.sh $N\` on $(date -u +%F) ($(sed -n 's/^kernel \([^ ]*\).*/\1/p' \
        "$APP/sizes.txt"), $(qemu-system-x86_64 --version | head -n 1)), load average $load0 before"
    echo "and $load1 after (2 host cores shared with other work)."
    echo
    echo "| what | size |"
    echo "|---|---:|"
    echo "| raw disk image (MBR, GRUB BIOS + UEFI, FAT boot partition) | $(mib "$(sz disk)") |"
    echo "| ISO (grub-mkrescue, BIOS + UEFI) | $(mib "$(sz iso)") |"
    echo "| kernel (Debian cloud vmlinuz) | $(mib "$(sz kernel)") |"
    echo "| initramfs (zstd -19) | $(mib "$(sz initrd)") |"
    echo "| root unpacked in RAM | $(mib "$(sz root)") |"
    echo
    echo "| boot step (median of $N first boots) | seconds |"
    echo "|---|---:|"
    echo "| QEMU start -> kernel start (SeaBIOS, GRUB loading kernel and initramfs) | $fw |"
    echo "| kernel start -> /init's boot stage | $init |"
    echo "| -> boot stage done (modules, data partition made and formatted, token, DHCP started) | $boot |"
    echo "| -> manager ready (truced answers on its socket): kernel uptime | $up |"
    echo "| QEMU start -> manager ready | $wall |"
    echo
    echo "- L1 as in the lab: \`qemu-system-x86_64 -accel tcg -cpu EPYC,+svm,+npt -M pc -m 2048 -smp 1\`,"
    echo "  the disk on virtio-blk, user networking on virtio-net; every instruction of the appliance"
    echo "  is emulated by TCG, so these are lab figures, not what a machine with VT-x/AMD-V would"
    echo "  show (not measured here). The goal of issue 13 compares this with QEMU in L1 booting a"
    echo "  Debian guest to /init (5.8 s in the boot table above): that guest runs under nested"
    echo "  KVM, the appliance under TCG, and the appliance does not reach it here."
    echo "<!-- bench/appliance.sh end -->"
} >"$W/section.md"
python3 - "$W/section.md" bench/RESULTS.md <<'PY'
import re, sys
sec = open(sys.argv[1]).read()
res = open(sys.argv[2]).read()
pat = re.compile(r"<!-- bench/appliance.sh begin.*?<!-- bench/appliance.sh end -->\n", re.S)
res = pat.sub(lambda m: sec, res) if pat.search(res) else res.rstrip("\n") + "\n\n" + sec
open(sys.argv[2], "w").write(res)
PY
cat "$W/section.md"
