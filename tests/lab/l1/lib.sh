# lib.sh — the scenario API inside the lab's L1 machine (busybox sh). Scenario files in
# /lab/scenarios/ are sourced in a subshell with these functions and $LAB_VMM (truce or qemu) set;
# see tests/lab/README.md for the convention.
# shellcheck shell=dash disable=SC2034,SC1090,SC2120 # sourced; its variables serve the scenarios

LAB_GUESTS=/lab/guests
LAB_BASE_CMDLINE="console=ttyS0 quiet"

# ---- L1 set-up ------------------------------------------------------------------------------

# Load module NAME and what it needs (chains written by build-l1.sh). Returns insmod's failure.
l1_modprobe() {
    local chain ko mod
    chain=$(sed -n "s|^$1 ||p" "/lib/modules/$(uname -r)/chains")
    [ -n "$chain" ] || return 1
    for ko in $chain; do
        mod=$(basename "$ko" .ko | tr - _)
        [ -d "/sys/module/$mod" ] && continue
        insmod "/lib/modules/$(uname -r)/$ko" || return 1
    done
}

# Load irqbypass, kvm, kvm-amd and check that nested KVM works. Sets L1_ERROR on failure.
l1_kvm_setup() {
    local m
    for m in irqbypass kvm kvm-amd; do
        l1_modprobe "$m" || {
            L1_ERROR="insmod $m failed"
            return 1
        }
    done
    [ -c /dev/kvm ] || {
        L1_ERROR="/dev/kvm missing after loading kvm-amd"
        return 1
    }
    dmesg | grep -q "Nested Paging enabled" || {
        L1_ERROR="kvm-amd did not report 'Nested Paging enabled'"
        return 1
    }
}

# ---- scenario results -----------------------------------------------------------------------

# End the running scenario as failed with REASON (one line).
fail() {
    echo "$*" | head -n 1 >/tmp/lab-fail-reason
    exit 1
}

# Print the last lines of the guest's output, indented, for the log.
lab_show_output() {
    [ -f "$GUEST_OUT" ] || return 0
    echo "  --- last lines of $LAB_VMM output ($GUEST_OUT) ---"
    tail -n "${1:-25}" "$GUEST_OUT" | sed 's/^/  | /'
}

# Run scenario NAME (VMM/STEM): LAB-START, the scenario file in a subshell, LAB-RESULT.
lab_run_scenario() {
    local name=$1 vmm=${1%%/*} stem=${1#*/} file need rc reason p
    file=/lab/scenarios/$stem.sh
    echo "LAB-START $name"
    rm -f /tmp/lab-fail-reason
    if [ ! -f "$file" ]; then
        echo "no scenario file $file" >/tmp/lab-fail-reason
    else
        for need in $(sed -n 's/^# lab:.*needs=\([^ ]*\).*/\1/p' "$file" | tr ',' ' '); do
            if grep -qx "$vmm/$need" /tmp/lab-failed; then
                echo "needs $vmm/$need, which failed" >/tmp/lab-fail-reason
            fi
        done
    fi
    if [ ! -f /tmp/lab-fail-reason ]; then
        mkdir -p "/tmp/work/$stem-$vmm"
        (
            cd "/tmp/work/$stem-$vmm" || exit 1
            LAB_VMM=$vmm LAB_NAME=$name GUEST_OUT=
            . "$file"
        )
        rc=$?
        [ $rc -ne 0 ] && [ ! -f /tmp/lab-fail-reason ] &&
            echo "scenario script exited with status $rc" >/tmp/lab-fail-reason
    fi
    # the guest's result and info lines ("name: ...") go into the L1 log
    [ -f "/tmp/work/$stem-$vmm/guest.out" ] &&
        tr -d '\r' <"/tmp/work/$stem-$vmm/guest.out" | grep -aE '^(GUEST-RESULT|[a-z0-9-]+: )' |
        head -n 20 | sed 's/^/  | /'
    if [ -f /tmp/lab-fail-reason ]; then
        reason=$(cat /tmp/lab-fail-reason)
        echo "$name" >>/tmp/lab-failed
        echo "LAB-RESULT FAIL $name ${reason:-failed}"
    else
        echo "LAB-RESULT PASS $name"
    fi
    rm -rf "/tmp/work/$stem-$vmm"
    # a failed scenario may leave its VMM running: nothing of it may reach the next scenario
    for p in $(pidof truce firecracker qemu-system-x86_64); do kill -KILL "$p" 2>/dev/null; done
    true
}

# ---- booting a guest ------------------------------------------------------------------------

# Print the kernel file for KIND (cloud: Debian cloud bzImage, small: the PVH vmlinux).
# lab_api SOCK METHOD PATH [JSON]: one API request to the truce serving SOCK; prints the HTTP
# status, the body goes to ./api.body.
lab_api() {
    if [ -n "${4:-}" ]; then
        curl -s -o api.body -w '%{http_code}' --unix-socket "$1" -X "$2" \
            -H 'Content-Type: application/json' -d "$4" "http://localhost$3"
    else
        curl -s -o api.body -w '%{http_code}' --unix-socket "$1" -X "$2" "http://localhost$3"
    fi
}

# api METHOD PATH [JSON]: lab_api on the scenario's API socket $SOCK.
api() { lab_api "$SOCK" "$@"; }

# want STATUS METHOD PATH [JSON]: lab_want on the scenario's API socket $SOCK.
want() { lab_want "$1" "$SOCK" "$2" "$3" "${4:-}"; }

# lab_wait_poweroff WHAT HALF_SECONDS: the VMM $VMM_PID ends in time with status 0 (the guest
# powered off), else the scenario fails naming WHAT.
lab_wait_poweroff() {
    local i=0 st
    while kill -0 "$VMM_PID" 2>/dev/null; do
        sleep 0.5
        i=$((i + 1))
        [ $i -lt "$2" ] || fail "$1 did not end after the guest's poweroff"
    done
    wait "$VMM_PID"
    st=$?
    [ "$st" = 0 ] || fail "$1 ended with status $st, want 0 (poweroff): $(tail -n 2 truce.out)"
}

# wait_out PATTERN SECONDS: until $GUEST_OUT has a line matching PATTERN (grep -E), while the VMM
# $VMM_PID lives; else the scenario fails with the guest's last line.
wait_out() {
    local i=0
    while [ $i -lt $(($2 * 10)) ]; do
        tr -d '\r' <"$GUEST_OUT" 2>/dev/null | grep -aqE "$1" && return 0
        kill -0 "$VMM_PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    lab_show_output
    fail "guest output never matched /$1/ within $2 s; last line: $(lab_last_line)"
}

lab_kernel() {
    case "$1" in
    cloud) echo "$LAB_GUESTS/vmlinuz" ;;
    small) [ -f "$LAB_GUESTS/vmlinux" ] && echo "$LAB_GUESTS/vmlinux" ;;
    *) return 1 ;;
    esac
}

# ---- truce over its API (snapshots, migration) ---------------------------------------------

# lab_truce_api SOCK [ARG...]: `truce --api-sock SOCK ARG...` in the background, its output
# appended to ./truce.out; returns once the socket exists (else fails the scenario). Sets VMM_PID.
lab_truce_api() {
    local sock=$1 i=0
    shift
    rm -f "$sock"
    truce --api-sock "$sock" --level Info "$@" </dev/null >>truce.out 2>&1 &
    VMM_PID=$!
    while [ ! -S "$sock" ] && [ $i -lt 200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    [ -S "$sock" ] || fail "truce --api-sock made no socket: $(tail -n 1 truce.out)"
}

# lab_want STATUS SOCK METHOD PATH [JSON]: an API request that must answer STATUS; otherwise the
# scenario fails naming the request and the answer.
lab_want() {
    local s
    s=$(lab_api "$2" "$3" "$4" "${5:-}")
    [ "$s" = "$1" ] || fail "$3 $4 answered $s, want $1: $(cat api.body 2>/dev/null)"
}

# lab_initrd OUT SRC:DEST...: the lab guest's initramfs with the files added at DEST (a second
# cpio archive appended to the first: the kernel unpacks both).
lab_initrd() {
    local out=$1 f
    shift
    rm -rf initrd-root
    for f in "$@"; do
        mkdir -p "initrd-root$(dirname "${f#*:}")" && cp "${f%%:*}" "initrd-root${f#*:}" ||
            fail "cannot add ${f%%:*} to the guest initrd"
    done
    (cd initrd-root && find . | cpio -o -H newc 2>/dev/null) >initrd-extra.cpio
    cat "$LAB_GUESTS/initrd.cpio" initrd-extra.cpio >"$out" || fail "cannot build $out"
}

# Print the command that boots KERNEL/INITRD/CMDLINE with CPUS and MEM MiB under $LAB_VMM, one
# argument a line (guest_boot turns the lines back into arguments).
lab_vmm_args() {
    local kernel=$1 initrd=$2 cmdline=$3 cpus=$4 mem=$5
    case "$LAB_VMM" in
    truce)
        printf '%s\n' truce run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" \
            --cpus "$cpus" --memory "${mem}M" --console stdio
        ;;
    qemu)
        printf '%s\n' qemu-system-x86_64 -L /lab/qemu -M microvm -accel kvm -cpu host \
            -smp "$cpus" -m "$mem" -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
            -nodefaults -no-user-config -display none -serial stdio -no-reboot \
            -device pvpanic -action panic=exit-failure
        ;;
    *) return 1 ;;
    esac
}

# ---- booting through firmware from the BIOS GRUB disk (tests/lab/build-disk.sh) -------------

# Write ./sel.img, the disk that tells the BIOS GRUB disk what to boot: SEL (linux, multiboot,
# memtest) and ARGS (extra kernel arguments). GRUB sources its first sector as a script.
lab_grub_sel() {
    { printf 'set sel=%s\nset args="%s"\n' "$1" "${2:-}"; head -c 512 /dev/zero | tr '\0' '#'; } |
        head -c 512 >sel.img
    dd if=/dev/zero bs=512 count=7 2>/dev/null >>sel.img
}

# Print, one argument a line, the command that boots FIRMWARE (seabios, ovmf) with CPUS and MEM
# MiB from the given raw disks (read-only, the first one boots) under $LAB_VMM: truce's PC, or
# QEMU's -M pc with the same firmware files. OVMF's variables: ./vars.fd (a fresh copy).
lab_fw_args() {
    local fw=$1 cpus=$2 mem=$3 d
    shift 3
    case "$fw" in
    ovmf) [ -f vars.fd ] || cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd ;;
    esac
    case "$LAB_VMM/$fw" in
    truce/seabios) printf '%s\n' truce run --firmware seabios ;;
    truce/ovmf) printf '%s\n' truce run --firmware ovmf --firmware-vars "$PWD/vars.fd" ;;
    qemu/seabios) printf '%s\n' qemu-system-x86_64 -L /lab/qemu -bios /usr/share/seabios/bios-256k.bin ;;
    qemu/ovmf)
        printf '%s\n' qemu-system-x86_64 -L /lab/qemu -drive \
            if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
            -drive "if=pflash,format=raw,unit=1,file=$PWD/vars.fd"
        ;;
    *) return 1 ;;
    esac
    case "$LAB_VMM" in
    truce)
        printf '%s\n' --cpus "$cpus" --memory "${mem}M" --console stdio
        for d; do printf '%s\n' --disk "path=$d,readonly=on"; done
        ;;
    qemu)
        printf '%s\n' -M pc -accel kvm -cpu host -smp "$cpus" -m "$mem" -nodefaults \
            -no-user-config -display none -serial stdio -no-reboot \
            -device isa-debug-exit,iobase=0xf4,iosize=4
        for d; do printf '%s\n' -drive "file=$d,if=virtio,format=raw,readonly=on"; done
        ;;
    esac
}

# Boot FIRMWARE from DISK... (lab_fw_args) with CPUS, MEM MiB; wait at most TIMEOUT s, timing the
# first MARKER. Sets what guest_boot sets ($GUEST_OUT is ./guest.out).
lab_fw_boot() { # FIRMWARE CPUS MEM TIMEOUT MARKER DISK...
    local fw=$1 cpus=$2 mem=$3 timeout=$4 marker=$5 f
    shift 5
    GUEST_OUT=$PWD/guest.out
    lab_fw_args "$fw" "$cpus" "$mem" "$@" >vmm-args || fail "cannot boot $fw under $LAB_VMM"
    set --
    while IFS= read -r f; do set -- "$@" "$f"; done <vmm-args
    labrun -t "$timeout" -m "$marker" -o "$GUEST_OUT" -r result -- "$@"
    eval "$(cat result)"
    # shellcheck disable=SC2154
    GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_MARKER_MS=$marker_ms GUEST_EXIT_MS=$exit_ms
    GUEST_TIMEOUT=$timeout
}

# Write ./dhcp.script: a udhcpc hook that applies the lease (address, default route, DNS) to
# the interface. User-networking scenarios pass it with -f dhcp.script:/lab/dhcp.script.
lab_dhcp_script() {
    cat >dhcp.script <<'EOF'
#!/bin/sh
case "$1" in
bound | renew)
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    ;;
esac
exit 0
EOF
    chmod +x dhcp.script
}

# Write ./netmq for the multiqueue scenarios: a guest check that wants PAIRS queue pairs in sysfs,
# fetches L1's http://L1ADDR:8080/big over 8 connections (md5 = the check's argument), pings
# L1ADDR from every vCPU and wants interrupts on every queue (PAIRS pairs, default 2, on as
# many vCPUs). The guest takes 10.9.x.2 of
# L1ADDR's /24 (10.9.x.1).
lab_netmq_script() { # L1ADDR [PAIRS (default 2; as many vCPUs)]
    cat >netmq <<'EOG'
#!/bin/sh
# netmq — @P@ pairs in sysfs; fetch from L1 over 8 connections, ping from every CPU; per-queue IRQs.
r() { echo "GUEST-RESULT $1 netmq${2:+ $2}"; exit 0; }
ip addr add @GUEST@/24 dev eth0 && ip link set eth0 up || r FAIL "no eth0"
q=$(ls /sys/class/net/eth0/queues | tr '\n' ' ')
cpus() { k=0; while [ $k -lt @P@ ]; do echo $k; k=$((k + 1)); done; }
want=$(for d in rx tx; do for k in $(cpus); do printf '%s ' $d-$k; done; done)
echo "netmq: queues: $q"
[ "$q" = "$want" ] || r FAIL "queues '$q', expected $want"
i=0
until ping -c 1 -W 1 @L1@ >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 60 ] || r FAIL "L1 (@L1@) never answered ping"
done
irqs() { grep -E 'virtio[0-9]+-(input|output)\.[0-9]+' /proc/interrupts | awk '{s = 0; for (i = 2; i <= @P@ + 1; i++) s += $i; print $NF, s}'; }
irqs >before
for c in $(cpus); do taskset -c $c ping -c 20 -i 0.05 @L1@ >/dev/null || r FAIL "ping from cpu $c"; done
for k in 1 2 3 4 5 6 7 8; do
    (taskset -c $((k % @P@)) wget -q -O - http://@L1@:8080/big | md5sum >sum.$k) &
done
wait
for k in 1 2 3 4 5 6 7 8; do [ "$(cut -d' ' -f1 sum.$k)" = "$1" ] || r FAIL "fetch $k: md5 $(cat sum.$k)"; done
irqs >after
echo "netmq: interrupts before: $(tr '\n' ' ' <before)"
echo "netmq: interrupts after: $(tr '\n' ' ' <after)"
paste before after | while read -r q a q2 b; do [ "$b" -gt "$a" ] || echo "$q"; done >idle
[ -s idle ] && r FAIL "queues without interrupts: $(tr '\n' ' ' <idle)"
r PASS
EOG
    sed -i "s/@L1@/$1/g; s/@GUEST@/${1%.1}.2/g; s/@P@/${2:-2}/g" netmq
    chmod +x netmq
}

# A guest announcing itself (VIRTIO_NET_F_GUEST_ANNOUNCE): lab_garp_start IFACE IPV4 FILE watches
# IFACE for IPV4's gratuitous ARP (/lab/bin/arpwatch, into FILE, pid in GARP; ready when it
# returns); lab_garp_wait WHAT FILE T0 EVENT waits 20 s for one, stops the watch and prints it
# with its time in ms after T0 (`mobtool now` at EVENT; negative: before it).
lab_garp_start() { # IFACE IPV4 FILE
    local i=0
    arpwatch "$1" "$2" 120 >"$3" 2>&1 &
    GARP=$!
    while ! grep -q 'arpwatch: ready' "$3" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    grep -q 'arpwatch: ready' "$3" || fail "arpwatch did not start: $(cat "$3")"
}
lab_garp_wait() { # WHAT FILE T0 EVENT
    local i=0 line
    while ! grep -q 'gratuitous ARP' "$2"; do
        [ $i -lt 100 ] || fail "$1: no gratuitous ARP from the guest (VIRTIO_NET_F_GUEST_ANNOUNCE)"
        sleep 0.2
        i=$((i + 1))
    done
    kill "$GARP" 2>/dev/null
    wait "$GARP" 2>/dev/null
    GARP=
    line=$(grep -m 1 'gratuitous ARP' "$2" | sed 's/^arpwatch: //')
    echo "$1: the guest announced itself: ${line%%, +*}, $((${line##*wall } - $3)) ms after $4"
}

# memtest86+'s serial console FILE without carriage returns and escape sequences.
lab_memtest_plain() { tr -d '\r' <"$1" 2>/dev/null | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g'; }
# Whether memtest86+'s serial console FILE shows a test running, by the bracketed name of any of
# its tests: its serial output is the screen's changes, so the first test's name can arrive only
# in pieces (seen under QEMU, where "[Moving inversions, 1s & 0s]" came but no "[Address test").
lab_memtest_running() {
    lab_memtest_plain "$1" | grep -aqE '\[(Address test|Moving inversions|Random number|Modulo|Bit fade|Block move)'
}

# Boot the lab guest under $LAB_VMM and wait for the VMM to exit (or the timeout).
# Options: -k cloud|small (kernel, default cloud)  -c CPUS (1)  -m MiB (256)
#          -a ARGS (added to the kernel command line; repeatable)
#          -f SRC:DEST (file added to the guest initrd at DEST; repeatable)
#          -x ARG (one extra VMM argument; repeatable)  -t SECONDS (timeout, 60)
# Sets GUEST_OUT (the VMM's output), GUEST_STATUS, GUEST_TIMED_OUT, GUEST_MARKER_MS,
# GUEST_EXIT_MS, GUEST_CMDLINE. Fails the scenario only when the guest cannot be started.
guest_boot() {
    local kind=cloud cpus=1 mem=256 args='' timeout=60 kernel initrd o src dest f extra='' hold=''
    local OPTIND=1
    rm -rf extra-root extra-args
    : >extra-args
    while getopts k:c:m:a:f:x:t:H: o; do
        case $o in
        k) kind=$OPTARG ;;
        c) cpus=$OPTARG ;;
        m) mem=$OPTARG ;;
        a) args="$args $OPTARG" ;;
        f)
            src=${OPTARG%%:*} dest=${OPTARG#*:}
            mkdir -p "extra-root$(dirname "$dest")" && cp "$src" "extra-root$dest" ||
                fail "cannot add $src to the guest initrd"
            extra=1
            ;;
        x) printf '%s\n' "$OPTARG" >>extra-args ;;
        t) timeout=$OPTARG ;;
        H) hold=$OPTARG ;;
        *) fail "guest_boot: bad option" ;;
        esac
    done
    kernel=$(lab_kernel "$kind") || fail "small kernel not built (tests/lab/build-kernel.sh)"
    initrd=$LAB_GUESTS/initrd.cpio
    if [ -n "$extra" ]; then
        # a second cpio archive appended to the first: the kernel unpacks both
        (cd extra-root && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
        cat "$initrd" extra.cpio >initrd.img
        initrd=$PWD/initrd.img
    fi
    GUEST_CMDLINE="$LAB_BASE_CMDLINE$args"
    GUEST_OUT=$PWD/guest.out
    lab_vmm_args "$kernel" "$initrd" "$GUEST_CMDLINE" "$cpus" "$mem" >vmm-args ||
        fail "unknown VMM $LAB_VMM"
    cat extra-args >>vmm-args
    command -v "$(head -n 1 vmm-args)" >/dev/null || fail "$LAB_VMM is not in the L1 image"
    # one argument a line -> positional parameters (arguments may hold spaces and quotes)
    set --
    while IFS= read -r f; do set -- "$@" "$f"; done <vmm-args
    labrun -t "$timeout" -m TRUCE-INIT ${hold:+-H "$hold"} -o "$GUEST_OUT" -r result -- "$@"
    eval "$(cat result)" # status= timed_out= marker_ms= exit_ms= ... (written by labrun)
    # shellcheck disable=SC2154
    GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_MARKER_MS=$marker_ms GUEST_EXIT_MS=$exit_ms
    GUEST_TIMEOUT=$timeout
}

# The status $LAB_VMM exits with when the guest ends by ACTION (poweroff, reboot, panic).
lab_end_status() {
    case "$LAB_VMM/$1" in
    truce/poweroff) echo 0 ;;
    truce/reboot) echo 6 ;;
    truce/panic) echo 12 ;;
    qemu/poweroff | qemu/reboot) echo 0 ;; # -no-reboot: a reset ends QEMU with 0
    qemu/panic) echo 1 ;;                  # -action panic=exit-failure
    esac
}

# The last non-empty line of the VMM output (for failure reasons).
lab_last_line() {
    grep -v '^[[:space:]]*$' "$GUEST_OUT" 2>/dev/null | tail -n 1 | tr -d '\r' | cut -c1-160
}

# ---- assertions (each fails the scenario with a reason) -------------------------------------

# The guest's /init ran (it prints TRUCE-INIT first thing).
expect_init() {
    grep -q TRUCE-INIT "$GUEST_OUT" && return 0
    lab_show_output
    if [ "$GUEST_TIMED_OUT" = 1 ]; then
        fail "guest never reached /init; $LAB_VMM killed after ${GUEST_TIMEOUT}s; last line: $(lab_last_line)"
    fi
    fail "guest never reached /init; $LAB_VMM exited $GUEST_STATUS; last line: $(lab_last_line)"
}

# The guest check NAME printed GUEST-RESULT PASS NAME.
expect_guest() {
    local line
    line=$(tr -d '\r' <"$GUEST_OUT" | grep -aE "^GUEST-RESULT (PASS|FAIL) $1( |\$)" | head -n 1)
    case "$line" in
    "GUEST-RESULT PASS $1"*) return 0 ;;
    "GUEST-RESULT FAIL $1"*)
        lab_show_output
        fail "guest: ${line#GUEST-RESULT FAIL }"
        ;;
    esac
    lab_show_output
    fail "guest printed no result for check $1; last line: $(lab_last_line)"
}

# The VMM ended, without the timeout, with the status documented for ACTION.
expect_end() {
    local want
    want=$(lab_end_status "$1")
    if [ "$GUEST_TIMED_OUT" = 1 ]; then
        lab_show_output
        fail "$LAB_VMM still running after ${GUEST_TIMEOUT}s (expected $1, status $want)"
    fi
    if [ "$GUEST_STATUS" != "$want" ]; then
        lab_show_output
        fail "$LAB_VMM exited $GUEST_STATUS after guest $1, expected $want; last line: $(lab_last_line)"
    fi
}

# For benchmarks: L1's khugepaged stops collapsing the VMMs' memory into huge pages (a huge page
# at fault time still comes). In the TCG-emulated L1 it has spun for minutes (soft lockups, no
# heartbeat) during long benchmark runs, under QEMU's boots and truce's, stalling the run.
l1_no_khugepaged() {
    echo 86400000 >/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs 2>/dev/null
    echo 86400000 >/sys/kernel/mm/transparent_hugepage/khugepaged/alloc_sleep_millisecs 2>/dev/null
    return 0
}

# The words of LIST rotated left N times: a benchmark's VMM order for its rep N+1 (every rep starts
# with the next VMM).
lab_rotate() { # N LIST
    local i l=$2
    for i in $(seq "$1"); do l="${l#* } ${l%% *}"; done
    echo "$l"
}

# The value of `lab.NAME=` on L1's command line, else DEFAULT: a benchmark's host side passes
# settings of one L1 there (lab_bench_reps: `lab.rep0=N`, the reps run before this L1, so the
# scenario numbers its reps from N+1 and starts its VMMs' rotation there).
lab_arg() { # NAME DEFAULT
    local arg v=$2
    for arg in $(cat /proc/cmdline); do
        case "$arg" in "lab.$1="*) v=${arg#lab."$1"=} ;; esac
    done
    echo "$v"
}

# ---- the demo ---------------------------------------------------------------------------------

# Boot the demo guest (a shell on the console) under lab.vmm= (default truce), interactively.
lab_demo() {
    local vmm=truce arg
    for arg in $(cat /proc/cmdline); do
        case "$arg" in lab.vmm=*) vmm=${arg#lab.vmm=} ;; esac
    done
    echo "lab: booting the demo guest under $vmm inside the lab; type poweroff in the guest to end"
    case "$vmm" in
    truce)
        truce run --kernel "$LAB_GUESTS/vmlinuz" --initrd "$LAB_GUESTS/initrd.cpio" \
            --cmdline "$LAB_BASE_CMDLINE" --cpus 1 --memory 256M --console stdio
        ;;
    qemu)
        qemu-system-x86_64 -L /lab/qemu -M microvm -accel kvm -cpu host -m 256 \
            -kernel "$LAB_GUESTS/vmlinuz" -initrd "$LAB_GUESTS/initrd.cpio" \
            -append "$LAB_BASE_CMDLINE" -nodefaults -no-user-config -display none \
            -chardev stdio,id=con,signal=off -serial chardev:con -no-reboot
        ;;
    esac
    echo "lab: $vmm exited with status $?"
}
