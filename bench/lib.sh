# lib.sh — the boot benchmark's two halves (POSIX sh): bench_l1_main runs inside the lab's L1
# (sourced by its init in lab.mode=bench) and prints one BENCH line per VMM run; bench_table runs
# on the host and turns those lines into the Markdown table of bench/RESULTS.md.
# shellcheck shell=dash

BENCH_CMDLINE="console=ttyS0 quiet"

# Print, one argument a line, the command that boots KERNEL with INITRD and CMDLINE under VMM with
# 1 vCPU and 128 MiB — the same guest for both VMMs.
bench_cmd() {
    case "$1" in
    truce)
        printf '%s\n' truce run --kernel "$2" --initrd "$3" --cmdline "$4" --cpus 1 \
            --memory 128M --console stdio
        ;;
    qemu)
        printf '%s\n' qemu-system-x86_64 -L /lab/qemu -M microvm -accel kvm -cpu host -smp 1 \
            -m 128 -kernel "$2" -initrd "$3" -append "$4" -nodefaults -no-user-config \
            -display none -serial stdio -no-reboot
        ;;
    esac
}

# The extra arguments of a trace run (the boot's breakdown): truce logs its exit statistics at
# debug level when the VM stops; QEMU writes its KVM_RUN ioctls and exits to /tmp/qtrace.log.
bench_trace_args() {
    case "$1" in
    truce) printf '%s\n' --log-level debug ;;
    qemu) printf '%s\n' -msg timestamp=on -trace kvm_run_exit -trace kvm_vcpu_ioctl -D /tmp/qtrace.log ;;
    esac
}

# A trace run's breakdown on one line: "first_us=T last_us=T exits=REASON:COUNT:US,..." from
# QEMU's log-backend trace (PID@SEC.USEC:event args; wall clock): the first KVM_RUN, the last
# exit, and per exit reason the count and the time from each exit to the next KVM_RUN.
bench_qemu_trace() {
    awk '
    {
        at = index($0, "@"); colon = index($0, ":")
        if (!at || colon < at) next
        split(substr($0, at + 1, colon - at - 1), t, ".")
        us = t[1] * 1000000 + t[2]
        rest = substr($0, colon + 1)
        if (rest ~ /^kvm_vcpu_ioctl/ && rest ~ /type 0xae80/) {
            if (!first) first = us
            if (pending) { tot[reason] += us - since; pending = 0 }
        } else if (rest ~ /^kvm_run_exit/) {
            reason = rest; sub(/.*reason /, "", reason); sub(/[^0-9].*/, "", reason)
            cnt[reason]++; pending = 1; since = us; last = us
        }
    }
    END {
        s = ""
        for (r in cnt) s = s (s == "" ? "" : ",") r ":" cnt[r] ":" tot[r]
        printf "first_us=%.0f last_us=%.0f exits=%s\n", first, last, s
    }' "$1"
}

# One run: VMM, KIND (small|cloud), MODE (time: the guest powers off at once; mem: it holds 1 s
# after /init so labrun samples the VMM's memory; trace: powers off, with the VMM's exit
# statistics, bench_trace_args), RUN number. Prints a BENCH line (and a BENCH-TRACE line).
bench_once() {
    local vmm=$1 kind=$2 mode=$3 run=$4 end=poweroff kernel a
    [ "$mode" = mem ] && end=hold
    kernel=$(lab_kernel "$kind") || return 0
    set --
    while IFS= read -r a; do [ -z "$a" ] || set -- "$@" "$a"; done <<EOF
$(bench_cmd "$vmm" "$kernel" "$LAB_GUESTS/initrd.cpio" "$BENCH_CMDLINE lab.end=$end")
$([ "$mode" = trace ] && bench_trace_args "$vmm")
EOF
    rm -f /tmp/qtrace.log
    labrun -t "${BENCH_TIMEOUT:-300}" -m TRUCE-INIT -H GUEST-HOLD -o /tmp/bench.out -r /tmp/bench.res -- "$@"
    echo "BENCH kernel=$kind vmm=$vmm mode=$mode run=$run $(cat /tmp/bench.res)"
    if ! grep -q TRUCE-INIT /tmp/bench.out; then
        tail -n 5 /tmp/bench.out | sed 's/^/  | /'
    fi
    [ "$mode" = trace ] || return 0
    if [ "$vmm" = truce ]; then
        # the exits, the start-up timeline with its fields renamed ss_* (it has a run= too), and
        # the boot-file loader's line (src/vm/lazyload.c) as lz_*
        a="$(tr -d '\r' </tmp/bench.out | sed -n 's/.*exit-stats //p' | tail -n 1) $(tr -d '\r' \
            </tmp/bench.out | sed -n 's/.*start-stats //p' | tail -n 1 | sed 's/\([a-z_]*\)=/ss_\1=/g')"
        a="$a $(tr -d '\r' </tmp/bench.out | sed -n 's/.*lazy load: [0-9]* of [0-9]* pieces (\([0-9]*\) KiB) in \([0-9]*\) ms, \([0-9]*\) for faults.*/lz_kib=\1 lz_ms=\2 lz_faults=\3/p' | tail -n 1)"
    else
        a=$(bench_qemu_trace /tmp/qtrace.log)
    fi
    echo "BENCH-TRACE kernel=$kind vmm=$vmm run=$run $(cat /tmp/bench.res) $a"
}

# Inside L1: RUNS times bench/vmm_floor.c (built by bench/boot.sh) without arguments under labrun,
# each a "BENCH-FLOOR exec_main_us=N" line: exec to main() of a program linked as truce is.
bench_exec_floor() {
    local i main start
    [ -x /lab/extra/vmm_floor ] || return 0
    for i in $(seq "$1"); do
        labrun -t 30 -m EXEC-FLOOR -o /tmp/floor.out -r /tmp/floor.res -- /lab/extra/vmm_floor
        main=$(sed -n 's/.*main_ns=\([0-9]*\).*/\1/p' /tmp/floor.out)
        start=$(sed -n 's/.*start_mono_ns=\([0-9]*\).*/\1/p' /tmp/floor.res)
        [ -n "$main" ] && [ -n "$start" ] && echo "BENCH-FLOOR exec_main_us=$(((main - start) / 1000))"
    done
}

# Inside L1: one run of bench/vmm_floor.c with KIND's kernel and the guest initrd in 128 MiB (what
# the kernel charges any VMM for this boot): "BENCH-FLOOR kernel=KIND run=N" with its clock stamps,
# labrun's result (exit_ms: the process's exit, the VM destroyed) and start_mono_ns.
bench_vmm_floor() {
    local kind=$1 run=$2 kernel
    [ -x /lab/extra/vmm_floor ] || return 0
    kernel=$(lab_kernel "$kind") || return 0
    labrun -t 60 -m VMM-FLOOR -o /tmp/floor.out -r /tmp/floor.res -- \
        /lab/extra/vmm_floor 128 "$kernel" "$LAB_GUESTS/initrd.cpio"
    echo "BENCH-FLOOR kernel=$kind run=$run $(tr -d '\r' </tmp/floor.out | sed -n 's/^VMM-FLOOR //p' |
        tail -n 1) $(cat /tmp/floor.res)"
}

# Inside L1: lab.runs= runs (default 5) of each VMM on each kernel of lab.kinds= (default
# small,cloud), alternating VMMs and swapping which goes first every run; run 0 is a warm-up and
# is not counted.
bench_l1_main() {
    local runs=5 kinds="small cloud" arg i kind first second mode
    for arg in $(cat /proc/cmdline); do
        case "$arg" in
        lab.runs=*) runs=${arg#lab.runs=} ;;
        lab.kinds=*) kinds=$(echo "${arg#lab.kinds=}" | tr , ' ') ;;
        esac
    done
    command -v truce >/dev/null || echo "BENCH-NOTE truce is not in the L1 image"
    l1_no_khugepaged
    bench_exec_floor 5
    for kind in $kinds; do
        if ! lab_kernel "$kind" >/dev/null; then
            echo "BENCH-NOTE kernel $kind not built"
            continue
        fi
        for i in $(seq 0 "$runs"); do
            first=truce second=qemu
            [ $((i % 2)) = 1 ] && first=qemu second=truce
            for mode in time mem trace; do
                bench_once $first "$kind" $mode "$i"
                bench_once $second "$kind" $mode "$i"
            done
            [ "$i" = 0 ] || bench_vmm_floor "$kind" "$i"
        done
    done
}

# On the host: read BENCH lines on stdin, print the Markdown table. A run counts when the VMM
# reached the /init marker and exited 0 without the timeout.
bench_table() {
    tr -d '\r' | grep '^BENCH kernel=' | sed 's/^BENCH //' | awk '
    function median(list, n,    a, i, j, t) {
        n = split(list, a, " ")
        if (n == 0) return -1
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function fmt(v, unit) { return v == "" || v < 0 ? "n/a" : sprintf(unit == "MiB" ? "%.1f %s" : "%.0f %s", v, unit) }
    function ratio(a, b) { return (a < 0 || b <= 0) ? "n/a" : sprintf("%.2f", a / b) }
    {
        for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
        if (f["run"] == 0) next
        if (f["mode"] == "trace") next
        k = f["kernel"] SUBSEP f["vmm"]
        tried[k]++
        ok = f["status"] == 0 && f["timed_out"] == 0 && f["marker_ms"] >= 0
        if (!ok) next
        if (f["mode"] == "time") { init[k] = init[k] " " f["marker_ms"]; ex[k] = ex[k] " " f["exit_ms"]; good[k]++ }
        else if (f["guest_rss_kb"] >= 0) {
            over[k] = over[k] " " (f["maxrss_kb"] - f["guest_rss_kb"]) / 1024
            peak[k] = peak[k] " " f["maxrss_kb"] / 1024
            guest[k] = guest[k] " " f["guest_rss_kb"] / 1024
            steady[k] = steady[k] " " (f["hold_rss_kb"] - f["guest_rss_kb"]) / 1024
        }
    }
    END {
        print "| guest kernel | VMM | good runs | start -> /init | start -> exit | peak RSS | guest RAM touched | VMM overhead (peak) | VMM RSS after /init |"
        print "|---|---|---|---|---|---|---|---|---|"
        nk = split("small cloud", kinds, " ")
        for (x = 1; x <= nk; x++) {
            kd = kinds[x]
            name = kd == "small" ? "small (PVH vmlinux)" : "Debian cloud (bzImage)"
            for (y = 1; y <= 2; y++) {
                v = y == 1 ? "truce" : "qemu"
                k = kd SUBSEP v
                if (!(k in tried)) continue
                mi[v] = median(init[k]); me[v] = median(ex[k]); mo[v] = median(over[k])
                ms[v] = median(steady[k])
                printf "| %s | %s | %d/%d | %s | %s | %s | %s | %s | %s |\n", name, v == "qemu" ? "QEMU microvm" : v,
                    good[k], tried[k] / 2, fmt(mi[v], "ms"), fmt(me[v], "ms"),
                    fmt(median(peak[k]), "MiB"), fmt(median(guest[k]), "MiB"), fmt(mo[v], "MiB"), fmt(ms[v], "MiB")
            }
            if ((kd SUBSEP "truce") in tried && (kd SUBSEP "qemu") in tried)
                printf "| %s | **truce/QEMU** | | **%s** | **%s** | | | **%s** | **%s** |\n", name,
                    ratio(mi["truce"], mi["qemu"]), ratio(me["truce"], me["qemu"]), ratio(mo["truce"], mo["qemu"]),
                    ratio(ms["truce"], ms["qemu"])
        }
    }'
}
