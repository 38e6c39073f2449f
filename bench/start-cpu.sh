#!/bin/bash
# start-cpu.sh — where one VM's CPU goes from exec to exit (make bench-start-cpu): the tiny PVH
# guest with cmdline `exit` under truce and QEMU microvm, REPS runs each in a row under `perf record
# -g`, each sample bucketed by the kernel or library path on its stack (bench/start_cpu.py); its
# section of bench/RESULTS.md. Usage: bench/start-cpu.sh [REPS] (default 100 truce, REPS/10 QEMU).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-100}
case "$reps" in '' | *[!0-9]* | 0) echo "start-cpu.sh: REPS must be a positive number, got '$reps'" >&2; exit 2 ;; esac
[ -w /dev/kvm ] || { echo "start-cpu.sh: /dev/kvm is not usable here" >&2; exit 1; }
command -v perf >/dev/null || { echo "start-cpu.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "start-cpu.sh: qemu-system-x86_64 is missing" >&2; exit 1; }
make -s build/truce guests
qreps=$(( reps / 10 > 0 ? reps / 10 : 1 ))
load=$(cut -d' ' -f1-3 /proc/loadavg)
json=$(mktemp)
section=$(mktemp)
trap 'rm -f "$json" "$section"' EXIT
VMMS=truce nice python3 bench/start_cpu.py build/guests/actions.elf "$reps" >"$json"
VMMS=qemu nice python3 bench/start_cpu.py build/guests/actions.elf "$qreps" >>"$json"
cat >"$section" <<EOT
<!-- bench/start-cpu.sh begin: this section is rewritten by bench/start-cpu.sh -->
## Start-up CPU by path: one tiny VM from exec to exit, this host's /dev/kvm

Produced by \`bench/start-cpu.sh $reps\` on $(date -u +%Y-%m-%d) ($(build/truce --version)),
$(nproc) cores shared with other agents (loaded: figures of that moment; load average $load
before), $(uname -r) with a
PVM-backed /dev/kvm, $(qemu-system-x86_64 --version | head -n 1). truce ran $reps times, QEMU
$qreps times, one after the other, under \`perf record -F 5000 -g\` (cpu-clock; perf's own cost is
in the figures: a run costs more CPU here than unobserved).

$(python3 bench/start_cpu_table.py "$json")

- Guest: build/guests/actions.elf with command line \`exit\` (prints one line on COM1, then writes
  the debug-exit port), 64 MiB, 1 vCPU. truce: \`truce run --kernel actions.elf --cmdline exit
  --memory 64M --cpus 1 --console file:S\` (seccomp and Landlock on, as by default). QEMU:
  \`qemu-system-x86_64 -M microvm -accel kvm -cpu kvm64 -smp 1 -m 64 -kernel actions.elf -append
  exit -nodefaults -no-user-config -display none -serial file:S -no-reboot -device
  isa-debug-exit,iobase=0xf4,iosize=4\` (its qboot firmware runs before the kernel).
- A sample goes to the first bucket in bench/start_cpu.py's list with a symbol on its stack: the
  VM fd's release and exit first, then the guest's KVM_RUN, the KVM ioctls, seccomp, Landlock,
  clone, exec and the dynamic linker, glibc's start-up CPUID probing (init_cpu_features,
  handle_amd: every CPUID exits to the hypervisor below this host), page faults, other system
  calls by handler; what is left is user code, interrupts and scheduling.
- This guest is not PVM-aware, so PVM runs it in KVM's instruction emulator (about 1.5 µs per
  guest instruction) and every exit to the VMM reloads the vCPU (vcpu_load's MSR reads exit to
  the hypervisor below): the "guest:" rows are this guest's cost on this host, not the VMM's.
- QEMU's row for the VM fd's release is 0: QEMU leaves by exit_group without closing its KVM
  fds, and no sample of the release is on QEMU's own stacks (it is done outside its threads);
  truce closes its VM fd itself, so its release is in its figure.
<!-- bench/start-cpu.sh end -->
EOT
results=bench/RESULTS.md
if grep -q '^<!-- bench/start-cpu.sh begin' "$results"; then
    awk -v f="$section" '
        /^<!-- bench\/start-cpu.sh begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /^<!-- bench\/start-cpu.sh end/ { skip = 0; next }
        !skip' "$results" >"$results.tmp"
    mv "$results.tmp" "$results"
else
    { echo; cat "$section"; } >>"$results"
fi
cat "$section"
