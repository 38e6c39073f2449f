#!/bin/bash
# density.sh — the density bench (make bench-density): N idle tiny PVH guests (64 MiB) started at
# once on this host's own /dev/kvm, without and with a disk + user net + rng, under truce and
# QEMU microvm; writes its section of bench/RESULTS.md and bench/density.png (memory vs N).
# Usage: bench/density.sh [N...] (default 20 50 100). VMMS=truce,truce-thp,qemu (truce with --thp
# off, with --thp on, QEMU) and CONFIGS=bare,devices pick.
set -euo pipefail
cd "$(dirname "$0")/.."

ns=("$@")
[ ${#ns[@]} -gt 0 ] || ns=(20 50 100)
for n in "${ns[@]}"; do
    case "$n" in '' | *[!0-9]* | 0) echo "density.sh: N must be a positive number, got '$n'" >&2; exit 2 ;; esac
done
[ -w /dev/kvm ] || { echo "density.sh: /dev/kvm is not usable here" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "density.sh: qemu-system-x86_64 is missing (apt-get install qemu-system-x86)" >&2; exit 1; }
make -s build/truce guests build/tools/density_spawn
kernel=build/guests/actions.elf
out=${DENSITY_OUT:-/tmp/density-$$}
mkdir -p "$out"
json=$out/density.json
echo "density: N=${ns[*]}, log $out/density.log" >&2
load=$(cut -d' ' -f1-3 /proc/loadavg)
nice python3 bench/density.py "$kernel" "$json" "${ns[@]}" | tee "$out/density.log"

# Debian's matplotlib (python3-matplotlib) is for Debian's python3, not another one first in PATH.
plotpy=python3
[ -x /usr/bin/python3 ] && plotpy=/usr/bin/python3
plot_note="Plot: private memory per VM vs N, and the largest batch's guests up over time: ![private memory per VM vs N; guests up over time](density.png)"
if ! "$plotpy" bench/density_plot.py "$json" bench/density.png 2>"$out/plot.err"; then
    plot_note="No plot: $(tail -n 1 "$out/plot.err") (apt-get install python3-matplotlib)."
fi

section=$(mktemp)
trap 'rm -f "$section"' EXIT
{
    echo "<!-- bench/density.sh begin: this section is rewritten by bench/density.sh -->"
    echo "## Density: N idle VMs at once, truce vs QEMU microvm, this host's /dev/kvm"
    echo
    echo "Produced by \`bench/density.sh ${ns[*]}\` on $(date -u +%Y-%m-%d) ($(build/truce --version)),"
    echo "$(nproc) cores shared with other agents' builds and tests (loaded: timings are figures of that"
    echo "moment, not limits; load average $load before the first batch), $(uname -r) with a PVM-backed"
    echo "/dev/kvm, $(qemu-system-x86_64 --version | head -n 1)."
    echo
    python3 bench/density_plot.py "$json" --table
    echo
    echo "- Guest: build/guests/actions.elf (the tiny PVH test guest of tests/guests) with command line"
    echo "  \`spin\`: it prints \`truce-guest: actions 'spin'\` on COM1 then idles in \`sti; hlt\`;"
    echo "  64 MiB, 1 vCPU. Both VMMs boot the same PVH ELF (QEMU through its PVH ELF note support)."
    echo "- truce: \`truce run --kernel actions.elf --cmdline spin --memory 64M --cpus 1 --console"
    echo "  file:serialI --thp off\`; devices adds \`--disk path=diskI.img --net user --rng\` (seccomp"
    echo "  on). \`--thp on\` rows: the same with guest RAM advised for transparent huge pages (truce's"
    echo "  default where the host's THP policy is madvise, as here): the guest's first touch then"
    echo "  takes a zeroed 2 MiB block instead of a 4 KiB page (README, \"Transparent huge pages\")."
    echo "- QEMU: \`qemu-system-x86_64 -M microvm -accel kvm -cpu kvm64 -smp 1 -m 64 -kernel actions.elf"
    echo "  -append spin -nodefaults -no-user-config -display none -serial file:serialI"
    echo "  -no-reboot\`; devices adds \`-drive id=d0,file=diskI.img,format=raw,if=none -device"
    echo "  virtio-blk-device,drive=d0 -netdev user,id=n0 -device virtio-net-device,netdev=n0 -device"
    echo "  virtio-rng-device\`. Each VM has its own sparse 1 MiB disk file."
    echo "- The harness (bench/density_spawn.c, the same for both VMMs): serialI is a FIFO it opened"
    echo "  for reading before the first spawn; one thread spawns all N with posix_spawn (vfork-style),"
    echo "  stamping each spawn, while another waits on every FIFO and every VM's pidfd with epoll and"
    echo "  stamps each VM's first console byte the moment it arrives (CLOCK_MONOTONIC)."
    echo "- spawned: from just before the first spawn to the return of the last one. all up: from"
    echo "  there to the last guest's first byte. VMs/s/core (wall) = N / all up / $(nproc) cores."
    echo "- CPU/VM: the VM process's CPU time (every thread, user+sys, incl. the guest's own run in"
    echo "  KVM) read from its CPU clock (clock_getcpuclockid) when its first byte arrives; median"
    echo "  over the N VMs. VMs/core-s (CPU) = 1 s / that median: how many such starts one core does"
    echo "  per second when nothing else runs. start to exit: user+sys from wait4 after SIGTERM (the"
    echo "  start, 1 s idle, the stop and the kernel's teardown of the VM)."
    echo "- Where a start's CPU goes, by kernel path: \"Start-up CPU by path\" (bench/start-cpu.sh)."
    echo "- private/VM: Private_Clean + Private_Dirty of /proc/PID/smaps_rollup minus the same of the"
    echo "  guest RAM mapping (the largest anonymous mapping of at least 64 MiB in /proc/PID/smaps),"
    echo "  sampled 1 s after the last guest printed; median over the N VMs. guest touched: that"
    echo "  mapping's private figure (QEMU's includes the qboot firmware it copies into RAM)."
    echo "- host used: MemAvailable before the first spawn minus MemAvailable at the sample; other"
    echo "  agents on the host move it by tens of MiB either way."
    echo "- Every VM is stopped by SIGTERM (SIGKILL after 20 s) before the next batch."
    echo "- $plot_note"
    echo
    echo "Samples (seconds to each guest's first line, sorted; private KiB per VM):"
    echo
    python3 bench/density_plot.py "$json" --samples
    echo "<!-- bench/density.sh end -->"
} >"$section"

results=bench/RESULTS.md
if grep -q '^<!-- bench/density.sh begin' "$results"; then
    awk -v f="$section" '
        /^<!-- bench\/density.sh begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /^<!-- bench\/density.sh end/ { skip = 0; next }
        !skip' "$results" >"$results.tmp"
    mv "$results.tmp" "$results"
else
    { echo; cat "$section"; } >>"$results"
fi
cat "$section"
