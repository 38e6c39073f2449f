#!/bin/bash
# boot.sh — the boot benchmark: inside one nested-lab run, alternates truce and QEMU (-M microvm)
# on the same kernel, initrd and command line (1 vCPU, 128 MiB) RUNS times each, and writes the
# medians (start -> /init marker, start -> exit, VMM memory overhead) and the truce/QEMU ratios to
# bench/RESULTS.md. Usage: bench/boot.sh [RUNS] (default 5). BENCH_KINDS=cloud (or small) runs one
# kernel; BENCH_EXTRA_LOG=FILE adds the BENCH lines of an earlier run (the other kernel's);
# BENCH_LOG_ONLY=FILE makes the tables from FILE without a lab run (a run cut short).
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lab/lib.sh
. bench/lib.sh

runs=${1:-5}
kinds=${BENCH_KINDS:-small,cloud} # which guest kernels (small, cloud)
case "$runs" in '' | *[!0-9]*) lab_die "RUNS must be a number, got '$runs'" ;; esac
make -s build/truce
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
if [ -n "${BENCH_LOG_ONLY:-}" ]; then # the tables from the log of a run cut short
    log=$BENCH_LOG_ONLY
else
    # the floor: a libc-only program linked as truce is that does only the kernel's part of a boot
    floor=$LAB_CACHE/bench-boot/vmm_floor
    mkdir -p "$(dirname "$floor")"
    gcc -O2 -Wl,-z,now -o "$floor" bench/vmm_floor.c || lab_die "cannot build bench/vmm_floor.c"
    l1=$(tests/lab/build-l1.sh --extra bench/lib.sh:/lab/extra/bench.sh \
        --extra "$floor:/lab/extra/vmm_floor")
    mkdir -p "${LAB_OUT:=tests/lab/out}"
    log=$LAB_OUT/bench-boot.log
    lab_log "running the benchmark in L1 ($runs runs per VMM and kernel; log $log)"
    start=$SECONDS
    lab_l1_qemu "$l1" 2048
    timeout -k 10 $((600 + runs * 900)) "${L1_QEMU[@]}" \
        -append "console=ttyS0 quiet panic=-1 no_timer_check lab.mode=bench lab.runs=$runs lab.kinds=$kinds" \
        -nographic -serial stdio </dev/null >"$log" 2>&1 || true
    grep -q '^BENCH kernel=' "$log" || lab_die "no BENCH lines in $log: $(tail -n 3 "$log")"
    # the lines of an earlier run (e.g. of the other kernel) count too
    [ -z "${BENCH_EXTRA_LOG:-}" ] || cat "$BENCH_EXTRA_LOG" >>"$log"
    lab_log "benchmark done in $((SECONDS - start)) s"
fi

table=$(bench_table <"$log")
notes=$(tr -d '\r' <"$log" | sed -n 's/^BENCH-NOTE //p')
truce_ver=$(build/truce --version 2>/dev/null | head -n 1)
section=$(mktemp)
trap 'rm -f "$section"' EXIT
cat >"$section" <<EOF
<!-- bench/boot.sh begin: this section is rewritten by bench/boot.sh -->
## Boot: truce vs QEMU microvm, nested lab

Produced by \`bench/boot.sh $runs\` on $(date -u +%Y-%m-%d) (${truce_ver:-truce}), $(nproc) host
cores, $(lab_kver) as L1 and cloud guest kernel, $(qemu-system-x86_64 --version | head -n 1).

$table

- Both VMMs run inside the lab's L1 (QEMU TCG with nested AMD-V), one after the other, swapping
  which goes first every run; medians of $runs runs each after one warm-up run. Absolute times
  are lab figures (every guest instruction is emulated by TCG); the ratios are what carries over.
- Same guest for both: the kernel (small: tests/lab/small-kernel.config, booted through PVH;
  cloud: Debian's bzImage), the lab's guest initramfs, \`$BENCH_CMDLINE lab.end=poweroff\`,
  1 vCPU, 128 MiB. truce: \`truce run --kernel K --initrd I --cmdline C --cpus 1 --memory 128M
  --console stdio\`. QEMU: \`qemu-system-x86_64 -M microvm -accel kvm -cpu host -smp 1 -m 128
  -kernel K -initrd I -append C -nodefaults -no-user-config -display none -serial stdio
  -no-reboot\` (qboot firmware).
- start -> /init: from fork+exec of the VMM to the guest's /init printing \`TRUCE-INIT\` on the
  serial console; start -> exit: to the VMM process exiting after the guest powers off
  (tests/lab/tools/labrun.c times both with CLOCK_MONOTONIC).
- VMM overhead = peak RSS (wait4's ru_maxrss) minus the guest RAM the guest touched, taken as the
  Rss of the VMM's largest mapping (its guest RAM) from /proc/PID/smaps while the guest holds
  for 1 s after /init (separate runs with \`lab.end=hold\`; guest RAM is never returned, so this is
  all it touches). peak RSS and guest RAM touched are medians of their own. The peak includes
  what the VMM held only while loading (e.g. the kernel file), when little guest RAM was
  touched yet. VMM RSS after /init = VmRSS minus that guest RAM Rss at the same moment: what
  the VMM keeps while the guest runs.
- For scale: kvmtool-class VMMs reach /init on the small kernel in about 2.4 s in this lab
  (../shared/DESIGN.md, "The nested lab recipe"; not measured by this script).
- Every run's raw figures: the \`BENCH\` lines of tests/lab/out/bench-boot.log.
EOF
if [ -n "$notes" ]; then
    printf '\nNotes from the run: %s\n' "$(echo "$notes" | paste -sd ';' | sed 's/;/; /g')" >>"$section"
fi
# the boot time distribution (Debian's matplotlib is for Debian's python3)
[ -z "$(lab_plot boot "$log" bench/boot.png)" ] ||
    printf '\n![start -> /init, every run](boot.png)\n' >>"$section"
cat >>"$section" <<EOF

### Boot, explained: the VMM's share of a Linux boot (nested lab)

From the same lab boot: $runs more runs of each VMM and kernel (alternating, after the warm-up)
with the exits counted, powering off right after /init (\`lab.end=poweroff\`).

$(python3 bench/boot_trace.py "$log")

- truce: the same command with \`--log-level debug\`; when the VM stops truce logs \`exit-stats
  first_run_ns=T now_ns=T KIND=COUNT/USEC ...\` (CLOCK_MONOTONIC; handler time measured around each
  exit's handler, src/vm/exits.c). QEMU: the same command with \`-msg timestamp=on -trace kvm_run_exit -trace
  kvm_vcpu_ioctl -D /tmp/qtrace.log\` (Debian's QEMU has the \`log\` trace backend, wall-clock
  µs); an exit's userspace time runs from its \`kvm_run_exit\` to the next KVM_RUN ioctl (so it
  includes writing two trace lines, which inflates QEMU's figure); QEMU's exits include qboot's.
- exec: labrun's fork (tests/lab/tools/labrun.c prints it on both clocks: start_mono_ns,
  start_wall_us). VMM share = (exec -> first KVM_RUN + exit handling + last exit -> process exit)
  / exec -> exit; the rest is the guest running and KVM's own exit handling in L1's kernel. truce's
  debug log itself costs it some time in these runs (every line is written to the console).
  "VMM share of exec -> /init": (exec -> first KVM_RUN + exit handling) / exec -> /init, the
  boot alone (the exit handling counted is the whole run's, which ends right after /init).
- truce's phases: its \`start-stats\` line (\`main_ns\` and \`begin_ns\` place it on CLOCK_MONOTONIC
  beside labrun's exec stamp): exec -> main() is the kernel's exec and the dynamic loader, main()
  -> build the command line and /dev/kvm's checks, then KVM_CREATE_VM (kvm), guest RAM (mmap,
  memslots), irqchip and PIT, CPUID, devices, loading the kernel and initrd (boot), vCPUs,
  Landlock (prepare), the threads, the first vCPU thread under seccomp, its first KVM_RUN.
- Raw lines: \`BENCH-TRACE\` and \`BENCH-FLOOR\` in tests/lab/out/bench-boot.log.
EOF
echo "<!-- bench/boot.sh end -->" >>"$section"

# Replace this script's section of bench/RESULTS.md, keeping every other section.
results=bench/RESULTS.md
[ -f "$results" ] || printf '# Benchmarks\n\n' >"$results"
if grep -q '^<!-- bench/boot.sh begin' "$results"; then
    awk -v f="$section" '
        /^<!-- bench\/boot.sh begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /^<!-- bench\/boot.sh end/ { skip = 0; next }
        !skip' "$results" >"$results.tmp"
else
    cat "$results" "$section" >"$results.tmp"
fi
mv "$results.tmp" "$results"
cat "$section"
