#!/bin/bash
# boot-breakdown.sh — where a boot's time goes (make bench-boot-breakdown): the tiny PVH test guest
# on this host's /dev/kvm under truce and QEMU microvm, RUNS alternating runs each: exec -> first
# KVM_RUN, exits by kind with the userspace time handling them, teardown; its section of
# bench/RESULTS.md. Usage: bench/boot-breakdown.sh [RUNS] (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
case "$runs" in '' | *[!0-9]* | 0) echo "boot-breakdown.sh: RUNS must be a positive number, got '$runs'" >&2; exit 2 ;; esac
[ -w /dev/kvm ] || { echo "boot-breakdown.sh: /dev/kvm is not usable here" >&2; exit 1; }
make -s build/truce guests
table=$(nice python3 bench/boot_breakdown.py build/guests/actions.elf "$runs")
section=$(mktemp)
trap 'rm -f "$section"' EXIT
cat >"$section" <<EOT
<!-- bench/boot-breakdown.sh begin: this section is rewritten by bench/boot-breakdown.sh -->
## Boot, explained: the VMM's share of a tiny guest's boot, this host's /dev/kvm

Produced by \`bench/boot-breakdown.sh $runs\` on $(date -u +%Y-%m-%d) ($(build/truce --version)),
$(nproc) cores shared with other agents (loaded: figures of that moment), $(uname -r) with a
PVM-backed /dev/kvm, $(qemu-system-x86_64 --version | head -n 1). Medians of $runs runs each,
alternating which VMM goes first, after one warm-up run of each.

$table

- Guest: build/guests/actions.elf with command line \`exit\` (PVH entry, prints one line on COM1,
  writes 0x7f to the debug-exit port 0xf4: exit status 255 under both), 64 MiB, 1 vCPU. A Linux
  kernel that is not PVM-aware does not boot on this PVM-backed /dev/kvm, so the Linux boot's
  breakdown needs the nested lab (bench/boot.sh), which this script does not run yet.
- truce: \`truce run --kernel actions.elf --cmdline exit --memory 64M --cpus 1 --console
  file:S --log-level debug\`; at debug level truce logs its exit statistics once the VM has
  stopped (\`exit-stats first_run_ns=T now_ns=T io=COUNT/USEC ...\`, CLOCK_MONOTONIC ns, the
  handler time measured around each exit's handler in src/vm/exits.c; the first KVM_RUN stamped in
  src/vm/vcpu.c). "stopped" is that log line, after the vCPU threads have left.
- QEMU: \`qemu-system-x86_64 -M microvm -accel kvm -cpu kvm64 -smp 1 -m 64 -kernel actions.elf
  -append exit -nodefaults -no-user-config -display none -serial file:S -no-reboot -device
  isa-debug-exit,iobase=0xf4,iosize=4 -msg timestamp=on -trace kvm_run_exit -trace kvm_vcpu_ioctl
  -D TRACE\` (Debian's QEMU has the \`log\` trace backend; timestamps in µs). First KVM_RUN: the
  first \`kvm_vcpu_ioctl\` of type 0xae80; an exit's userspace time: from its \`kvm_run_exit\` to
  the next KVM_RUN ioctl (so it includes writing two trace lines, which inflates QEMU's figure);
  "stopped": the last \`kvm_run_exit\` (the debug-exit write). QEMU runs qboot before the
  kernel, so its exits include the firmware's.
- exec -> exit: fork+exec to the process's exit (bench/boot_breakdown.py, CLOCK_MONOTONIC; QEMU's
  trace uses the wall clock, read at exec as well). VMM share = (exec -> first KVM_RUN + exit
  handling + stopped -> process exit) / exec -> exit; the rest is the guest running in KVM and
  the kernel's exit/entry path. For this guest, which does almost nothing, nearly all of the time
  is the VMM's: the issue's goal (under 5%) is about a Linux boot.
- stopped -> process exit is mostly the host kernel's: under strace, truce's close of the KVM VM
  fd took 11 ms of it (the kernel destroying the VM on this PVM host), then exit_group.
EOT
echo "<!-- bench/boot-breakdown.sh end -->" >>"$section"
results=bench/RESULTS.md
if grep -q '^<!-- bench/boot-breakdown.sh begin' "$results"; then
    awk -v f="$section" '
        /^<!-- bench\/boot-breakdown.sh begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /^<!-- bench\/boot-breakdown.sh end/ { skip = 0; next }
        !skip' "$results" >"$results.tmp"
    mv "$results.tmp" "$results"
else
    { echo; cat "$section"; } >>"$results"
fi
cat "$section"
