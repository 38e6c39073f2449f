# bench-net — L1 side of bench/net.sh: the same guest on a tap under truce (`--net tap=tap0`),
# truce with vhost-net (`--net tap=tap0,vhost=on`), QEMU with vhost-net (`virtio-net-pci` + `-netdev tap,vhost=on`) and QEMU without it
# (`vhost=off`), rotating which goes first, REPS boots each with every vCPU count of CPUS. Every
# boot measures, from L1 (10.9.0.1) against nettool servers in the guest (10.9.0.2): guest->L1
# and L1->guest TCP throughput (BYTES each) and the median TCP round trip of 1-byte messages.
# With ROUNDS=N every boot measures N times and reports the median (each round's values on a
# "BENCH-NET-ROUNDS vmm rep test_cN v1 .. vN" line).
# Prints "BENCH-NET vmm rep test_cN value" lines for the host (vmm truce, truce-vhost, qemu-vhost
# or qemu-novhost; N the vCPUs) and one "BENCH-NET-CMD vmm ARGS" line per VMM (its exact extra
# arguments). Parameters in /lab/bench/net.conf.
# With TRACE=1 every measurement also prints "BENCH-NET-TRACE vmm rep test counter value" lines:
# kernel event counts in L1 during that transfer (hist triggers on KVM and syscall tracepoints),
# which cost some speed: traced runs are for counting, not for the results table.
# lab: vmm=truce timeout=3600
REPS=5 BYTES=134217728 RTTS=2000 TRACE=0 CPUS="1 2" VMMS="truce truce-vhost qemu-vhost qemu-novhost"
ROUNDS=1
[ -f /lab/bench/net.conf ] && . /lab/bench/net.conf
nt=$(command -v nettool) || fail "nettool is not in the L1 image"
l1_modprobe tun || fail "insmod tun failed"
case " $VMMS " in *" qemu-vhost "* | *" truce-vhost "*)
    l1_modprobe vhost_net || fail "insmod vhost_net failed"
    [ -c /dev/vhost-net ] || mknod /dev/vhost-net c 10 238 || fail "no /dev/vhost-net"
    ;;
esac
ip link set lo up
# one persistent tap for both VMMs, configured once
tunctl -t tap0 >/dev/null || fail "tunctl -t tap0 failed"
ip addr add 10.9.0.1/24 dev tap0
ip link set tap0 up
cat >netbench <<EOF
#!/bin/sh
# netbench — guest side: nettool servers on 10.9.0.2 until L1 says "done" on port 5204.
ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up || { echo "GUEST-RESULT FAIL netbench no eth0"; exit 0; }
nettool echo tcp::5201 >/dev/null 2>&1 &
nettool sink tcp::5202 >/dev/null 2>&1 &
nettool source tcp::5203 $BYTES >/dev/null 2>&1 &
timeout 900 nettool recv tcp::5204 >/dev/null
echo "GUEST-RESULT PASS netbench"
EOF
chmod +x netbench

# ---- TRACE=1: what a transfer costs in notifications, interrupts, exits and syscalls ----------
TR=/sys/kernel/tracing
# event:hist-trigger pairs; kvm_mmio counts the guest's MMIO writes handled in L1's kernel (the
# queue notifications, through ioeventfd), kvm_exit's SVM exit code 120 is HLT
HISTS="kvm/kvm_exit:hist:keys=exit_reason:vals=hitcount
kvm/kvm_mmio:hist:keys=type:vals=hitcount
kvm/kvm_msi_set_irq:hist:keys=common_pid:vals=hitcount
raw_syscalls/sys_enter:hist:keys=common_pid:vals=hitcount:size=2048"
trace_on() {
    local h
    [ -d $TR/events ] || mount -t tracefs tracefs $TR || fail "no tracefs in L1"
    for h in $HISTS; do
        echo "${h#*:}" >>"$TR/events/${h%%:*}/trigger" || fail "hist trigger ${h%%:*}"
    done
}
# Zero the counts (before a transfer).
trace_clear() {
    local h
    for h in $HISTS; do echo "${h#*:}:clear" >>"$TR/events/${h%%:*}/trigger"; done
}
# Sum of the hit counts of EVENT's hist lines matching the extended regex KEY.
hist_sum() {
    grep -E "$2" "$TR/events/$1/hist" | sed 's/.*hitcount: *//' | awk '{s += $1} END {print s + 0}'
}
# Involuntary context switches of the VMM's threads so far.
vmm_preempted() {
    cat /proc/"$1"/task/*/status 2>/dev/null |
        awk '/^nonvoluntary_ctxt_switches/ {s += $2} END {print s + 0}'
}
# Print the counters of the transfer TEST since trace_clear; PID is the VMM, PRE its
# vmm_preempted before the transfer.
trace_report() {
    local test=$1 pid=$2 pre=$3 tids
    tids=$(ls /proc/"$pid"/task | tr '\n' '|')
    {
        echo "notifications $(hist_sum kvm/kvm_mmio 'type: +2 ')"
        echo "msis $(hist_sum kvm/kvm_msi_set_irq hitcount)"
        echo "exits $(hist_sum kvm/kvm_exit hitcount)"
        echo "hlt_exits $(hist_sum kvm/kvm_exit 'exit_reason: +120 ')"
        echo "vmm_syscalls $(hist_sum raw_syscalls/sys_enter "common_pid: +(${tids%|}) ")"
        echo "vmm_preemptions $(($(vmm_preempted "$pid") - pre))"
    } | sed "s/^/$test /"
}

# Measure one transfer: CMD prints "KEY=VALUE" among others; "TEST VALUE" goes into FILE (and
# the counters into FILE.trace with TRACE=1).
measure_one() {
    local file=$1 test=$2$SUFFIX key=$3 pid pre r
    shift 3
    pid=$(pidof truce qemu-system-x86_64 | cut -d' ' -f1)
    if [ "$TRACE" = 1 ]; then
        pre=$(vmm_preempted "$pid")
        trace_clear
    fi
    r=$("$@") && echo "$test $(echo "$r" | sed "s/.*$key=\([0-9.]*\).*/\1/")" >>"$file"
    [ "$TRACE" != 1 ] || trace_report "$test" "$pid" "$pre" >>"$file.trace"
}

# "test value" lines of FILE -> "test v1 v2 ..." (in order) into FILE.rounds and one "test
# median" line per test into FILE (the middle value; the mean of the two middle ones when even).
reduce_rounds() {
    awk '{n[$1]++; v[$1, n[$1]] = $2; if (!($1 in seen)) {seen[$1] = 1; order[++k] = $1}}
        END {
            for (i = 1; i <= k; i++) {
                t = order[i]; c = n[t]; line = t
                for (j = 1; j <= c; j++) { a[j] = v[t, j]; line = line " " a[j] }
                print line > "/dev/stderr"
                for (j = 2; j <= c; j++)
                    for (m = j; m > 1 && a[m - 1] + 0 > a[m] + 0; m--) {
                        x = a[m]; a[m] = a[m - 1]; a[m - 1] = x
                    }
                med = c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
                print t, med
            }
        }' "$1" 2>"$1.rounds" >"$1.med" && mv "$1.med" "$1"
}

# Measure against the guest once its servers answer, ROUNDS times (each round: guest->L1,
# L1->guest, round trips); print "test value" lines into FILE, the median of the rounds (each
# round's values into FILE.rounds).
measure() {
    local file=$1 i=0 r
    : >"$file"
    : >"$file.trace"
    until nettool rtt tcp:10.9.0.2:5201 1 >/dev/null 2>&1; do
        sleep 1
        i=$((i + 1))
        [ $i -lt 300 ] || return 0
    done
    for r in $(seq "$ROUNDS"); do
        measure_one "$file" guest_to_l1_Mbps mbps nettool recvrate tcp:10.9.0.2:5203
        measure_one "$file" l1_to_guest_Mbps mbps nettool sendrate tcp:10.9.0.2:5202 "$BYTES"
        measure_one "$file" rtt_us rtt_us nettool rtt tcp:10.9.0.2:5201 "$RTTS"
    done
    reduce_rounds "$file"
    echo done | nettool connect tcp:10.9.0.2:5204 >/dev/null 2>&1
}
[ "$TRACE" != 1 ] || trace_on

# the VMM-specific arguments of VMM, one per line
vmm_args() {
    case $1 in
    truce) printf '%s\n' --net tap=tap0 ;;
    truce-vhost) printf '%s\n' --net tap=tap0,vhost=on ;;
    qemu-*)
        local vhost=on
        [ "$1" = qemu-novhost ] && vhost=off
        printf '%s\n' -M pcie=on -netdev "tap,id=n0,ifname=tap0,script=no,downscript=no,vhost=$vhost" \
            -device virtio-net-pci,netdev=n0,romfile=
        ;;
    esac
}
for v in $VMMS; do echo "BENCH-NET-CMD $v $(vmm_args "$v" | tr '\n' ' ')"; done
l1_no_khugepaged
REP0=$(lab_arg rep0 0) # the reps run before this L1 (bench/net.sh runs each rep in an L1 of its own)
VMMS=$(lab_rotate "$REP0" "$VMMS") # rep REP0+1's order
for rep in $(seq $((REP0 + 1)) $((REP0 + REPS))); do
    for cpus in $CPUS; do
        SUFFIX=_c$cpus
        for vmm in $VMMS; do
            set --
            while IFS= read -r a; do set -- "$@" -x "$a"; done <<ARGS
$(vmm_args "$vmm")
ARGS
            LAB_VMM=${vmm%%-*}
            measure "m-$vmm-$rep-$cpus" &
            helper=$!
            guest_boot -t 900 -c "$cpus" -m 512 -f "$nt:/bin/nettool" -f netbench:/checks/netbench \
                -a lab.check=netbench "$@"
            kill "$helper" 2>/dev/null # still waiting only when the guest never came up
            wait "$helper"
            if ! tr -d '\r' <"$GUEST_OUT" | grep -aq "^GUEST-RESULT PASS netbench"; then
                # one boot that failed (a guest that never came up, a VMM that died) costs its
                # samples, not the whole run: named here and in the results
                lab_show_output
                echo "BENCH-NET-SKIP $vmm $rep c$cpus $(lab_last_line)"
                continue
            fi
            sed "s/^/BENCH-NET $vmm $rep /" "m-$vmm-$rep-$cpus"
            sed "s/^/BENCH-NET-TRACE $vmm $rep /" "m-$vmm-$rep-$cpus.trace"
            [ ! -s "m-$vmm-$rep-$cpus.rounds" ] ||
                sed "s/^/BENCH-NET-ROUNDS $vmm $rep /" "m-$vmm-$rep-$cpus.rounds"
        done
    done
    VMMS=$(lab_rotate 1 "$VMMS")
done
LAB_VMM=truce
