# bench-snapshot — L1 side of bench/snapshot.sh: snapshot create and restore-to-running for
# guests of each size in SIZES (MiB), and live migration of a guest dirtying memory at a fixed
# rate, truce (its API) vs QEMU (-M pc, QMP through /lab/bench/qmptool), alternating which goes
# first, REPS fresh boots each (BIG_REPS for guests over 1 GiB). The guest (the cloud kernel, check "fill") first writes non-zero
# data into a tmpfs until only a few MiB of its memory are left. Prints for the host:
#   BENCH-SNAP vmm mib rep create_ms create_vmm_ms load_ms load_vmm_ms used_mib file_mib
#   BENCH-MIG vmm mib rep total_ms downtime_ms mib_sent rounds guest_missed guest_gap_ms
#   BENCH-START vmm mib rep start-stats ... (the restored truce's start-up timeline, µs a phase)
#   BENCH-MIGT truce mib rep TIMELINE | TIMELINE | start-stats ... (a migration's switch, step by
#     step: the source's and the destination's "migration timeline" lines, src/machine/migrate.c)
# (-1: not measured) and BENCH-NOTE lines for what failed. Settings in /lab/bench/snapshot.conf.
# lab: vmm=truce timeout=7200 l0=patched long=1
REPS=3 BIG_REPS= SIZES="128 2048" MIGRATE=1 MIG_MIB=256 MIG_DOWNTIME=30
[ -f /lab/bench/snapshot.conf ] && . /lab/bench/snapshot.conf
QMP=/lab/bench/qmptool
command -v curl >/dev/null || fail "curl is not in the L1 image"
[ -x $QMP ] || fail "no $QMP (bench/snapshot.sh builds it)"
# the memory files live in /tmp (tmpfs, half of L1's memory by default)
mount -o remount,size=90% /tmp || echo "BENCH-NOTE cannot enlarge /tmp"
KERNEL=$(lab_kernel cloud)
BASE_ARGS=$LAB_BASE_CMDLINE

cat >fill <<'CHECK'
#!/bin/sh
# fill KEEP[d] — bench guest: writes non-zero data into a tmpfs until only KEEP MiB of the
# guest's available memory are left and prints "fill done N MiB, used U of T MiB"; with d it then
# starts mobtool ticks (missed 1 ms ticks, a line a second) and mobtool dirty 32 8 (32 MiB
# rewritten at 8 MiB/s); then prints "alive N" every half second, for ever.
keep=${1%d}
mem() { awk -v k="$1" '$1 == k ":" { print int($2 / 1024) }' /proc/meminfo; }
n=$(($(mem MemAvailable) - keep))
[ "$n" -gt 0 ] || n=0
mkdir -p /fill
mount -t tmpfs -o size=$((n + 1))m tmpfs /fill
yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ |
    head -c $((n * 1048576)) >/fill/data
echo "fill done $n MiB, used $(($(mem MemTotal) - $(mem MemFree))) of $(mem MemTotal) MiB"
if [ "$1" != "$keep" ]; then
    /bin/mobtool ticks &
    /bin/mobtool dirty 32 8 &
fi
i=0
while :; do
    i=$((i + 1))
    echo "alive $i"
    sleep 0.5
done
CHECK
chmod +x fill
lab_initrd initrd.img fill:/checks/fill /lab/bin/mobtool:/bin/mobtool
INITRD=$PWD/initrd.img

now_s() { cut -d' ' -f1 /proc/uptime; }
# wait_for FILE PATTERN SECONDS: a line matching PATTERN appears in FILE; else fail
wait_for() {
    local i=0
    while [ $i -lt $(($3 * 10)) ]; do
        [ -f "$1" ] && tr -d '\r' <"$1" | grep -aqE "$2" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    fail "no '$2' in $(basename "$1") within $3 s; last: $(cat "$1" 2>/dev/null | tr -d '\r' | tail -n 1)"
}
last_alive() { tr -d '\r' <"$1" | grep -a '^alive ' | tail -n 1 | cut -d' ' -f2; }
used_mib() { tr -d '\r' <"$1" | sed -n 's/^fill done .*used \([0-9]*\) of.*/\1/p' | tail -n 1; }
# timed STATUS SOCK METHOD PATH JSON: one API request that must answer STATUS; prints the time
# the client saw (curl's time_total) in ms
timed() {
    local r
    r=$(curl -s -o api.body -w '%{http_code} %{time_total}' --unix-socket "$2" -X "$3" \
        -H 'Content-Type: application/json' -d "$5" "http://localhost$4")
    [ "${r%% *}" = "$1" ] || fail "$3 $4 answered ${r%% *}, want $1: $(cat api.body 2>/dev/null)"
    echo "${r#* }" | awk '{ printf "%.3f", $1 * 1000 }'
}
# The API server's running total KEY (latency_us_total, latency_us_max: the last occurrence on a
# metrics line is truce_cumulative's) on line N (default: the last) of FILE, in ms. Totals, not
# the per-line deltas: a periodic flush may write a line between two of ours.
metric_ms() { # FILE KEY [N]
    sed -n "${3:-\$}p" "$1" | grep -o "\"$2\":[0-9]*" | tail -n 1 | cut -d: -f2 |
        awk '{ printf "%.3f", $1 / 1000 }'
}
stop_pid() {
    kill -TERM "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    true
}
file_mib() { du -k "$@" | awk '{ k += $1 } END { printf "%.1f", k / 1024 }'; }

truce_boot() { # SOCK MIB CHECKARG [ARG...]: a truce under its API (ARGs) booting the fill guest
    local sock=$1 mib=$2 arg=$3
    shift 3
    lab_truce_api "$sock" "$@"
    lab_want 204 "$sock" PUT /metrics "{\"metrics_path\": \"$PWD/metrics-src.json\"}"
    lab_want 204 "$sock" PUT /boot-source "{\"kernel_image_path\": \"$KERNEL\",
        \"initrd_path\": \"$INITRD\", \"boot_args\": \"$BASE_ARGS lab.check=fill:$arg\"}"
    lab_want 204 "$sock" PUT /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": $mib}"
    lab_want 204 "$sock" PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
    lab_want 204 "$sock" PUT /actions '{"action_type": "InstanceStart"}'
}

qemu_start() { # QMPSOCK MIB CHECKARG SERIAL [ARG...]: QEMU -M pc with the fill guest
    local q=$1 mib=$2 arg=$3 out=$4
    shift 4
    rm -f "$q"
    qemu-system-x86_64 -L /lab/qemu -M pc -accel kvm -cpu host -smp 1 -m "$mib" \
        -kernel "$KERNEL" -initrd "$INITRD" -append "$BASE_ARGS lab.check=fill:$arg" \
        -nodefaults -no-user-config -display none \
        -chardev "file,id=ser,path=$out,append=on" -serial chardev:ser \
        -qmp "unix:$q,server=on,wait=off" "$@" </dev/null >>qemu.out 2>&1 &
    QEMU_PID=$!
}

truce_snap() { # MIB REP
    local mib=$1 rep=$2 s1=$PWD/src.sock s2=$PWD/dst.sock create cvmm load lvmm used a n before
    rm -f vm.state vm.mem guest.out metrics-*.json
    GUEST_OUT=$PWD/guest.out
    truce_boot "$s1" "$mib" 24
    wait_for "$GUEST_OUT" '^alive 2$' $((180 + mib / 2))
    used=$(used_mib "$GUEST_OUT")
    lab_want 204 "$s1" PATCH /vm '{"state": "Paused"}'
    lab_want 204 "$s1" PUT /actions '{"action_type": "FlushMetrics"}'
    n=$(wc -l <metrics-src.json)
    before=$(metric_ms metrics-src.json latency_us_total "$n")
    create=$(timed 204 "$s1" PUT /snapshot/create "{\"snapshot_path\": \"$PWD/vm.state\",
        \"mem_file_path\": \"$PWD/vm.mem\", \"snapshot_type\": \"Full\"}") || exit 1
    lab_want 204 "$s1" PUT /actions '{"action_type": "FlushMetrics"}'
    # the create and the first flush (well under a millisecond) since that line
    cvmm=$(awk -v a="$before" -v b="$(metric_ms metrics-src.json latency_us_total)" \
        'BEGIN { printf "%.3f", b - a }')
    stop_pid "$VMM_PID"
    a=$(last_alive "$GUEST_OUT")
    lab_truce_api "$s2" --level Debug # its start-up timeline (start-stats) when it stops
    lab_want 204 "$s2" PUT /metrics "{\"metrics_path\": \"$PWD/metrics-dst.json\"}"
    load=$(timed 204 "$s2" PUT /snapshot/load "{\"snapshot_path\": \"$PWD/vm.state\",
        \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$PWD/vm.mem\"},
        \"resume_vm\": true}") || exit 1
    lab_want 204 "$s2" PUT /actions '{"action_type": "FlushMetrics"}'
    lvmm=$(metric_ms metrics-dst.json latency_us_max)
    wait_for "$GUEST_OUT" "^alive $((a + 2))\$" 60
    echo "BENCH-SNAP truce $mib $rep $create $cvmm $load $lvmm ${used:--1} $(file_mib vm.mem vm.state)"
    stop_pid "$VMM_PID"
    echo "BENCH-START truce $mib $rep $(grep -o 'start-stats restore=1.*' truce.out | tail -n 1)"
    rm -f vm.state vm.mem
}

qemu_snap() { # MIB REP
    local mib=$1 rep=$2 r save load used a
    rm -f vm.qemu guest.out
    GUEST_OUT=$PWD/guest.out
    qemu_start "$PWD/q0.sock" "$mib" 24 "$GUEST_OUT"
    wait_for "$GUEST_OUT" '^alive 2$' $((180 + mib / 2))
    used=$(used_mib "$GUEST_OUT")
    r=$($QMP "$PWD/q0.sock" save "exec:cat > $PWD/vm.qemu") || fail "qmptool save: $r"
    save=$(echo "$r" | sed -n 's/.*save_ms=\([0-9.]*\).*/\1/p')
    # QEMU's own figure: total-time, in ms
    qtot=$(echo "$r" | sed -n 's/.*qemu_total_ms=\([0-9-]*\).*/\1/p')
    stop_pid "$QEMU_PID"
    a=$(last_alive "$GUEST_OUT")
    qemu_start "$PWD/q1.sock" "$mib" 24 "$GUEST_OUT" -incoming defer
    r=$($QMP "$PWD/q1.sock" load "exec:cat $PWD/vm.qemu") || fail "qmptool load: $r"
    load=$(echo "$r" | sed -n 's/.*load_ms=\([0-9.]*\).*/\1/p')
    wait_for "$GUEST_OUT" "^alive $((a + 2))\$" 60
    echo "BENCH-SNAP qemu $mib $rep $save ${qtot:--1} $load -1 ${used:--1} $(file_mib vm.qemu)"
    stop_pid "$QEMU_PID"
    rm -f vm.qemu
}

# The guest's own measure around a migration: the source's last ticks line and the
# destination's first two: "missed maxgap".
guest_pause() { # SRC-OUT DST-OUT
    (tr -d '\r' <"$1" | grep -a '^ticks ' | tail -n 1
        tr -d '\r' <"$2" | grep -a '^ticks ' | head -n 2) |
        awk '{ m += $4; if ($6 > g) g = $6 } END { printf "%d %d", m, g }'
}

truce_mig() { # MIB REP
    local mib=$1 rep=$2 s=$PWD/src.sock src dst st fig nsrc
    rm -f guest.out src.out dst.out mig.sock dst.log truce.out metrics-*.json
    GUEST_OUT=$PWD/guest.out # the destination appends to the source's serial file
    truce_boot "$s" "$mib" 64d --level Debug # the switch's timeline ("migration timeline")
    src=$VMM_PID
    wait_for "$GUEST_OUT" '^dirty pass 1$' $((180 + mib / 2))
    wait_for "$GUEST_OUT" '^ticks 3 ' 30
    truce migrate-receive --listen "unix:$PWD/mig.sock" --log-level debug </dev/null >dst.log 2>&1 &
    dst=$!
    i=0
    while [ ! -S mig.sock ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    lab_want 204 "$s" PUT /migration "{\"destination_url\": \"unix:$PWD/mig.sock\",
        \"max_downtime_ms\": $MIG_DOWNTIME}"
    wait "$src"
    st=$?
    [ $st = 20 ] || fail "the source exited $st after the migration, want 20: $(tail -n 1 truce.out)"
    nsrc=$(wc -l <"$GUEST_OUT")
    head -n "$nsrc" "$GUEST_OUT" >src.out
    i=0
    while [ "$(tail -n +$((nsrc + 1)) "$GUEST_OUT" | tr -d '\r' | grep -ac '^ticks ')" -lt 2 ]; do
        [ $i -lt 300 ] || fail "the destination printed no ticks: $(tail -n 1 dst.log)"
        sleep 0.1
        i=$((i + 1))
    done
    tail -n +$((nsrc + 1)) "$GUEST_OUT" >dst.out
    grep -aq 'dirty: FAIL' dst.out && fail "the guest: $(grep -a 'dirty: FAIL' dst.out | head -n 1)"
    # "migrated to URL: K KiB (P pages) in T ms, R pre-copy rounds (...), downtime D ms"
    fig=$(sed -n 's/.*migrated to [^:]*:[^:]*: \([0-9]*\) KiB ([0-9]* pages) in \([0-9]*\) ms, \([0-9]*\) pre-copy rounds.*downtime \([0-9.]*\) ms.*/\2 \4 \1 \3/p' truce.out | tail -n 1)
    [ -n "$fig" ] || fail "no migration figures in truce.out: $(tail -n 1 truce.out)"
    # shellcheck disable=SC2086 # four numbers
    set -- $fig
    echo "BENCH-MIG truce $mib $rep $1 $2 $(echo "$3" | awk '{ printf "%.1f", $1 / 1024 }') $4 $(guest_pause src.out dst.out)"
    stop_pid "$dst"
    # the switch step by step: the source's and the destination's timelines (one clock) and the
    # destination's start-up timeline (its first KVM_RUN), logged when it ends
    echo "BENCH-MIGT truce $mib $rep $(grep -ao 'timeline: source pause.*' truce.out | tail -n 1) | $(grep -ao 'timeline: destination.*' dst.log | tail -n 1) | $(grep -ao 'start-stats.*' dst.log | tail -n 1)"
}

qemu_mig() { # MIB REP
    local mib=$1 rep=$2 r src dst
    rm -f src.out dst.out mig.sock
    qemu_start "$PWD/q0.sock" "$mib" 64d "$PWD/src.out"
    src=$QEMU_PID
    wait_for src.out '^dirty pass 1$' $((180 + mib / 2))
    wait_for src.out '^ticks 3 ' 30
    qemu_start "$PWD/q1.sock" "$mib" 64d "$PWD/dst.out" -incoming "unix:$PWD/mig.sock"
    dst=$QEMU_PID
    i=0
    while [ ! -S mig.sock ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
    r=$($QMP "$PWD/q0.sock" migrate "unix:$PWD/mig.sock" "$MIG_DOWNTIME") || fail "qmptool migrate: $r"
    wait_for dst.out '^ticks ' 30
    i=0
    while [ "$(tr -d '\r' <dst.out | grep -ac '^ticks ')" -lt 2 ]; do
        [ $i -lt 300 ] || fail "the destination printed no second ticks line"
        sleep 0.1
        i=$((i + 1))
    done
    grep -aq 'dirty: FAIL' dst.out && fail "the guest: $(grep -a 'dirty: FAIL' dst.out | head -n 1)"
    # wall_ms= total_ms= downtime_ms= setup_ms= ram_mib= syncs=
    eval "$(echo "$r" | tr ' ' '\n' | grep -E '^[a-z_]+=[0-9.-]+$')"
    # shellcheck disable=SC2154 # set by the eval
    echo "BENCH-MIG qemu $mib $rep $total_ms $downtime_ms $ram_mib $syncs $(guest_pause src.out dst.out)"
    stop_pid "$src"
    stop_pid "$dst"
}

# One measurement in a subshell: a failure becomes a BENCH-NOTE and the bench goes on.
one() { # WHAT VMM MIB REP
    local t0
    t0=$(now_s)
    ("$2_$1" "$3" "$4")
    if [ -f /tmp/lab-fail-reason ]; then
        echo "BENCH-NOTE $2 $1 $3 MiB rep $4: $(cat /tmp/lab-fail-reason)"
        rm -f /tmp/lab-fail-reason
        for p in $(pidof truce qemu-system-x86_64); do kill -KILL "$p" 2>/dev/null; done
        sleep 1
    fi
    echo "bench-snapshot: $2 $1 $3 MiB rep $4 took $(awk -v a="$t0" -v b="$(now_s)" 'BEGIN { printf "%.0f", b - a }') s"
}

total=$(awk '$1 == "MemTotal:" { print int($2 / 1024) }' /proc/meminfo)
for mib in $SIZES; do
    # the source's RAM, the memory file and L1's own files must fit together
    if [ "$mib" -gt 1024 ] && [ $((mib * 2 + 1024)) -gt "$total" ]; then
        echo "BENCH-NOTE L1 has $total MiB: too little for a $mib MiB guest and its memory file; 1024 MiB instead"
        mib=1024
    fi
    n=$REPS
    [ "$mib" -gt 1024 ] && n=${BIG_REPS:-$REPS}
    for rep in $(seq "$n"); do
        order="truce qemu"
        [ $((rep % 2)) = 0 ] && order="qemu truce"
        for vmm in $order; do one snap "$vmm" "$mib" "$rep"; done
    done
done
[ "$MIGRATE" = 1 ] && for rep in $(seq "$REPS"); do
    order="truce qemu"
    [ $((rep % 2)) = 0 ] && order="qemu truce"
    for vmm in $order; do one mig "$vmm" "$MIG_MIB" "$rep"; done
done
true
