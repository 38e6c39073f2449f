#!/usr/bin/env bash
# appliance.sh — the truce appliance (make appliance) booted as the lab's L1 machine (QEMU TCG
# with nested AMD-V, as the lab's L1, from its raw disk; user networking with the managers' ports
# forwarded to this host) and driven from here by trucectl over TCP with the token it printed.
# Boot 1 (SeaBIOS -> GRUB for BIOS, blank data space): the data partition is made, two VMs of a
# tiny guest (build/guests/actions.elf, dropped into the boot partition's images/ folder) are
# created and run, one is snapshotted and restored, the other migrated to the second truced of
# the appliance (truce.instances=2), a third spins under cgroup limits (cpus 0.25: about a quarter
# of a CPU, throttled periods counted), the web console answers, no token = 401. The machine is then
# cut off (no clean shutdown). Boot 2 (OVMF -> GRUB for UEFI, same disk): the same token is read,
# the definitions survived, the autostart VM runs again; the ACPI power button stops the VMs and
# powers the machine off. LAB_LONG=1 also boots the ISO.
# One PASS/FAIL line a check; figures (boot to "manager ready") on the PASS lines.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
. tests/lab/lib.sh
CTL=$ROOT/build/trucectl
GUEST=$ROOT/build/guests/actions.elf
W=$(mktemp -d /tmp/appliance-test-XXXXXX)
QPID=
cleanup() {
    [ -n "$QPID" ] && kill -KILL "$QPID" 2>/dev/null
    [ -n "${APPLIANCE_KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
pass() { echo "PASS appliance-$1${2:+ ($2)}"; }
failc() { echo "FAIL appliance-$1: $2"; }

for f in "$CTL" "$GUEST" "$ROOT/build/truce" "$ROOT/build/truced"; do
    [ -e "$f" ] || { failc build "$f missing (make -j2 guests)"; exit 0; }
done
command -v qemu-system-x86_64 >/dev/null || { failc build "apt-get install qemu-system-x86"; exit 0; }
APP=$(appliance/build.sh 2>"$W/build.log") || { failc build "$(tail -n 3 "$W/build.log")"; exit 0; }
read -r _ _ ksize <<<"$(grep '^kernel ' "$APP/sizes.txt")"
pass build "disk $(($(stat -c %s "$APP/truce-appliance.img") >> 20)) MiB, ISO $(($(stat -c %s \
    "$APP/truce-appliance.iso") >> 20)) MiB, kernel $((ksize >> 20)) MiB, initramfs $(($(stat -c %s \
    "$APP/initrd.img") >> 20)) MiB"

# The disk: the built image plus the guest in images/, a kernel command line with two managers
# (and no_timer_check: on a loaded host TCG can fail the kernel's IO-APIC timer check), no menu
# delay, grown to 2 GiB (sparse) so the first boot makes its data partition.
D=$W/disk.img
cp "$APP/truce-appliance.img" "$D"
mcopy -i "$D@@1M" "$GUEST" ::/images/actions.elf
mtype -i "$D@@1M" ::/boot/grub/grub.cfg | sed 's/^set timeout=.*/set timeout=0/;
    s/\(linux .* quiet\)$/\1 truce.instances=2 no_timer_check/' >"$W/grub.cfg"
mcopy -o -i "$D@@1M" "$W/grub.cfg" ::/boot/grub/grub.cfg
truncate -s 2G "$D"
read -r P1 P2 <<<"$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')"

# boot NAME FIRMWARE-ARGS...: start the appliance, wait (at most 300 s) for its ready line.
# Sets TOKEN, READY_UPTIME (the appliance's own clock) and READY_WALL (from starting QEMU).
boot() {
    local name=$1 t0 line
    shift
    : >"$W/$name.log"
    t0=$(date +%s.%N)
    qemu-system-x86_64 -accel tcg -cpu EPYC,+svm,+npt -M pc -m "${LAB_L1_MEM:-2048}" \
        -smp "${LAB_L1_CPUS:-1}" -no-reboot -nodefaults -display none "$@" \
        -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$P1-:8080,hostfwd=tcp:127.0.0.1:$P2-:8081" \
        -device virtio-net-pci,netdev=n0 -serial "file:$W/$name.log" \
        -monitor "unix:$W/$name.mon,server=on,wait=off" 2>"$W/$name.qemu" &
    QPID=$!
    for _ in $(seq 600); do
        line=$(tr -d '\r' <"$W/$name.log" | grep -a '^TRUCE-APPLIANCE-READY ' | head -n 1)
        [ -n "$line" ] && break
        kill -0 "$QPID" 2>/dev/null || break
        sleep 0.5
    done
    READY_WALL=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    [ -n "$line" ] || return 1
    TOKEN=$(echo "$line" | sed -n 's/.* token=\([0-9a-f]*\).*/\1/p')
    READY_UPTIME=$(echo "$line" | sed -n 's/.* uptime=\([0-9.]*\).*/\1/p')
    echo "$TOKEN" >"$W/token"
    [ -n "$TOKEN" ]
}
halt_l1() { # cut the power
    kill -KILL "$QPID" 2>/dev/null
    wait "$QPID" 2>/dev/null
    QPID=
}
ctl() { "$CTL" --addr "tcp:127.0.0.1:$P1" --token-file "$W/token" "$@"; }
ctl2() { "$CTL" --addr "tcp:127.0.0.1:$P2" --token-file "$W/token" "$@"; }
jget() { # jget CTL-FUNCTION NAME KEY: one field (dotted path) of GET /v1/vms/NAME
    "$1" get "$2" --json 2>/dev/null | python3 -c '
import json, sys
try:
    v = json.load(sys.stdin)
except ValueError:
    v = None
for k in sys.argv[1].split("."):
    v = v.get(k) if isinstance(v, dict) else None
print("" if v is None else v)' "$3"
}
wait_state() { # wait_state CTL NAME STATE: up to 30 s
    for _ in $(seq 150); do [ "$(jget "$1" "$2" state)" = "$3" ] && return 0; sleep 0.2; done
    return 1
}
serial_tail() { tr -d '\r' <"$W/$1.log" | grep -av '^\s*$' | tail -n 5 | tr '\n' ' '; }

# Boot 1: BIOS.
if ! boot bios -drive "file=$D,format=raw,if=virtio"; then
    failc boot-bios "no ready line within ${READY_WALL} s: $(serial_tail bios)"
    exit 0
fi
if tr -d '\r' <"$W/bios.log" | grep -q 'creating the data partition /dev/vda2' &&
    dmib=$(tr -d '\r' <"$W/bios.log" | sed -n 's/^ *data: *\/dev\/vda2 (\([0-9]*\) MiB)/\1/p') &&
    [ "${dmib:-0}" -gt 1900 ]; then
    pass boot-bios "manager ready ${READY_UPTIME} s after the kernel started, ${READY_WALL} s \
after QEMU did; a $dmib MiB data partition made on first boot"
else
    failc boot-bios "ready, but no data partition of the disk's free 1.9 GiB: $(serial_tail bios)"
fi

# The token guards TCP: none or a wrong one is refused.
st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P1/v1/vms")
st2=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer x$TOKEN" "http://127.0.0.1:$P1/v1/vms")
[ "$st" = 401 ] && [ "$st2" = 401 ] && pass token "no token: $st, wrong token: $st2" ||
    failc token "no token: $st, wrong token: $st2 (want 401)"

vmdef() { # vmdef NAME
    cat >"$W/$1.json" <<JSON
{"boot-source": {"kernel_image_path": "/data/images/actions.elf", "boot_args": "spin"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "/data/$1.serial"}}
JSON
}
vmdef a
vmdef b
if ctl create "$W/a.json" >/dev/null && ctl create "$W/b.json" --autostart >/dev/null &&
    ctl start a >/dev/null && ctl start b >/dev/null && wait_state ctl a running &&
    wait_state ctl b running; then
    pa=$(jget ctl a pid) pb=$(jget ctl b pid)
    c0=$(jget ctl a metrics.cpu_usage_usec)
    sleep 2
    c1=$(jget ctl a metrics.cpu_usage_usec)
    if [ -n "$pa" ] && [ "$pa" != "$pb" ] && [ -n "$c0" ] && [ "${c1:-0}" -gt "$c0" ]; then
        pass two-vms "a (pid $pa) and b (pid $pb) running; a used $(((c1 - c0) / 1000)) ms of CPU in 2 s"
    else
        failc two-vms "pids $pa $pb, a's CPU $c0 -> $c1: $(ctl list 2>&1)"
    fi
else
    failc two-vms "$(ctl list 2>&1 | tail -n 3)"
fi

# b is snapshotted while it runs, stopped (forced), and restored: a new truce process, running.
pb=$(jget ctl b pid)
if ctl snapshot b /data/snap-b >/dev/null && [ "$(jget ctl b state)" = running ] &&
    ctl stop b --force >/dev/null && wait_state ctl b stopped &&
    ctl restore b /data/snap-b >/dev/null && wait_state ctl b running &&
    [ "$(jget ctl b reason)" = restored ] && [ "$(jget ctl b pid)" != "$pb" ]; then
    pass snapshot-restore "b snapshotted in /data/snap-b, stopped, restored: running, pid $pb -> \
$(jget ctl b pid)"
else
    failc snapshot-restore "b: $(jget ctl b state) $(jget ctl b reason)"
fi

if "$CTL" 2>&1 | grep -q migrate; then
    # the source truced sends it to the second one, on the appliance's own loopback
    if ctl migrate a --to tcp:127.0.0.1:8081 --to-token-file "$W/token" >"$W/migrate.out" 2>&1 &&
        wait_state ctl2 a running && [ -z "$(jget ctl a state)" ]; then
        pass migrate "a moved to the second truced: running there, pid $(jget ctl2 a pid); gone \
from the first"
    else
        failc migrate "$(cat "$W/migrate.out") / first: $(jget ctl a state), second: $(jget ctl2 a state)"
    fi
else
    echo "appliance: trucectl has no migrate command yet; migration not tested" >&2
fi

# Limits in effect (cgroup v2 inside the appliance): VM c spins on its vCPU under cpus 0.25 and
# memory_max_mib 64; over 4 s it gets about a quarter of a CPU, and cpu.stat counts the periods
# in which it had used its quota.
def=$(python3 -c 'import json; print(json.dumps({"name": "c", "limits": {"cpus": 0.25, "memory_max_mib": 64},
    "config": {"boot-source": {"kernel_image_path": "/data/images/actions.elf", "boot_args": "busy"},
               "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}}))')
st=$(curl -s -o "$W/c.reply" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST \
    "http://127.0.0.1:$P1/v1/vms" -d "$def")
if [ "$st" = 201 ] && ctl start c >/dev/null && wait_state ctl c running; then
    sleep 1
    c0=$(jget ctl c metrics.cpu_usage_usec) t0=$(date +%s.%N)
    sleep 4
    c1=$(jget ctl c metrics.cpu_usage_usec) t1=$(date +%s.%N)
    thr=$(jget ctl c metrics.cpu_nr_throttled) mmax=$(jget ctl c metrics.memory_max_bytes)
    cmax=$(jget ctl c metrics.cpu_max)
    share=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.2f", (b - a) / ((e - s) * 1e6) }')
    if awk -v x="$share" 'BEGIN { exit !(x > 0.05 && x <= 0.35) }' && [ "${thr:-0}" -gt 0 ] &&
        [ "$mmax" = 67108864 ] && [ "$cmax" = "25000 100000" ]; then
        pass limits "a spinning guest under cpus 0.25 used $share of a CPU, throttled in $thr \
periods; cpu.max '$cmax', memory.max $mmax"
    else
        failc limits "CPU share $share (want 0.05..0.35), throttled $thr, cpu.max '$cmax', memory.max $mmax"
    fi
    ctl stop c --force >/dev/null
    wait_state ctl c stopped
    ctl delete c >/dev/null
else
    failc limits "create $st $(cat "$W/c.reply"), then: $(ctl list 2>&1 | tail -n 2)"
fi

curl -s -D "$W/web.h" -o "$W/web.body" "http://127.0.0.1:$P1/" >/dev/null
web=$(head -n 1 "$W/web.h" | tr -d '\r')
if [ -d "$ROOT/web" ]; then
    grep -q ' 200' <<<"$web" && grep -qi '<html' "$W/web.body" &&
        pass web-console "GET / -> $web, $(wc -c <"$W/web.body") bytes of HTML" ||
        failc web-console "GET / -> $web: $(head -c 200 "$W/web.body")"
else
    echo "appliance: the tree has no web/ yet; GET / -> $web" >&2
fi

# Power cut, then boot 2 through UEFI from the same disk.
halt_l1
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
if [ -f "$OVMF_CODE" ]; then
    cp /usr/share/OVMF/OVMF_VARS_4M.fd "$W/vars.fd"
    tok1=$TOKEN
    if boot uefi -drive "if=pflash,format=raw,readonly=on,file=$OVMF_CODE" \
        -drive "if=pflash,format=raw,file=$W/vars.fd" -drive "file=$D,format=raw,if=virtio"; then
        a_state=$(jget ctl a state)
        [ -n "$a_state" ] || a_state=$(jget ctl2 a state) # migrated
        if [ "$TOKEN" = "$tok1" ] && wait_state ctl b running && [ -n "$a_state" ]; then
            pass boot-uefi "manager ready ${READY_UPTIME} s after the kernel started, \
${READY_WALL} s after QEMU did; same token, autostart VM b running again, a $a_state"
        else
            failc boot-uefi "token $TOKEN (was $tok1), b: $(jget ctl b state), list: $(ctl list 2>&1)"
        fi
        # the power button: the VMs are stopped, then the machine powers off (QEMU exits)
        python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"system_powerdown\n")
time.sleep(0.5)' "$W/uefi.mon"
        t0=$SECONDS
        for _ in $(seq 240); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.5; done
        if ! kill -0 "$QPID" 2>/dev/null && tr -d '\r' <"$W/uefi.log" | grep -q 'VMs stopped'; then
            pass power-button "VMs stopped and the machine off $((SECONDS - t0)) s after the button"
        else
            failc power-button "$(serial_tail uefi)"
        fi
    else
        failc boot-uefi "no ready line within ${READY_WALL} s: $(serial_tail uefi)"
    fi
    halt_l1
else
    failc boot-uefi "$OVMF_CODE missing: apt-get install ovmf"
fi

# The ISO (LAB_LONG=1): boots from the CD with no data disk; the data then lives in RAM.
if [ -n "${LAB_LONG:-}" ]; then
    if boot iso -cdrom "$APP/truce-appliance.iso" && ctl list >/dev/null; then
        pass boot-iso "manager ready ${READY_UPTIME} s after the kernel started, ${READY_WALL} s after QEMU did"
    else
        failc boot-iso "$(serial_tail iso)"
    fi
    halt_l1
fi
