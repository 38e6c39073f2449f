# isolation — crash isolation, shown: 10 VMs under truce at once in one L1. While eight small-
# kernel Linux guests (tap, disk, vsock each) wait, one is killed with SIGKILL, one panics (sysrq
# c: status 12), a freestanding guest triple-faults (status 8) and the hostile suite's
# self-referencing indirect table on virtio-blk runs in another (DEVICE_NEEDS_RESET, then a fresh
# driver reads the disk: status 85). The six others are still running afterwards, read L1's
# pattern from their disk, write their own, and fetch a blob from L1 over their tap (sha256
# checked both ways). Then nothing is left: no truce process, no iso* tap, no flock on an image,
# no vsock socket file (the SIGKILLed VM's file stays, but nothing is bound to it).
# lab: vmm=truce timeout=600 needs=boot-pvh
cat >check <<'EOF'
#!/bin/sh
# iso — check ARG "N,PATTERN-SHA,BLOB-SHA[,panic]": eth0 gets 10.10.N.2; wait for L1's "go" on
# tcp port 7000; "panic" mode returns (lab.end=panic follows); otherwise the first MiB of
# /dev/vda must have PATTERN-SHA, "truce-iso vmN" is written at sector 4096 (fsync), and
# http://10.10.N.1:8080/blob must have BLOB-SHA.
# shellcheck disable=SC2046
set -- $(echo "$1" | tr ',' ' ')
n=$1 pat=$2 blob=$3 mode=${4:-}
r() { echo "GUEST-RESULT $1 iso${2:+ $2}"; exit 0; }
ip link set eth0 up && ip addr add "10.10.$n.2/24" dev eth0 || r FAIL "no eth0"
echo "iso: vm$n waiting"
go=$(nettool recv tcp::7000) || r FAIL "no go from L1"
[ "$go" = go ] || r FAIL "L1 sent '$go', not go"
[ "$mode" = panic ] && exit 0
got=$(dd if=/dev/vda bs=65536 count=16 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$pat" ] || r FAIL "disk pattern sha256 $got, expected $pat"
echo "truce-iso vm$n" | dd of=/dev/vda bs=512 seek=4096 conv=fsync 2>/dev/null ||
    r FAIL "disk write failed"
wget -q -O /tmp/blob "http://10.10.$n.1:8080/blob" || r FAIL "wget from 10.10.$n.1 failed"
got=$(sha256sum </tmp/blob | cut -d' ' -f1)
[ "$got" = "$blob" ] || r FAIL "blob sha256 $got, expected $blob"
echo "iso: vm$n disk and network fine"
r PASS
EOF
chmod +x check
k=$LAB_GUESTS/vmlinux
[ -f "$k" ] || fail "small kernel not built (tests/lab/build-kernel.sh)"
for g in triple32 vq_indirect_self; do
    [ -f "/lab/tguests/$g.elf" ] || fail "/lab/tguests/$g.elf missing (make lab builds it)"
done
l1_modprobe tun || fail "cannot load tun"
ip link set lo up

# The guest initrd plus the check and nettool (as guest_boot -f does).
mkdir -p extra/checks extra/bin
cp check extra/checks/iso
cp "$(command -v nettool)" extra/bin/nettool
(cd extra && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
cat "$LAB_GUESTS/initrd.cpio" extra.cpio >initrd.img
mkdir -p www
dd if=/dev/urandom of=www/blob bs=65536 count=16 2>/dev/null
dd if=/dev/urandom of=pattern bs=65536 count=16 2>/dev/null
blob=$(sha256sum <www/blob | cut -d' ' -f1)
pat=$(sha256sum <pattern | cut -d' ' -f1)
httpd -f -p 8080 -h "$PWD/www" &
httpd=$!

# Linux guest I (tap isoI, disk I, vsock I), in the background under labrun.
linux() { # I [panic]
    cp pattern "disk$1.img"
    dd if=/dev/zero of="disk$1.img" bs=512 seek=8191 count=1 conv=notrunc 2>/dev/null
    labrun -t 540 -m TRUCE-INIT -o "out$1" -r "res$1" -- truce run --kernel "$k" --initrd initrd.img \
        --cmdline "console=ttyS0 quiet lab.check=iso:$1,$pat,$blob${2:+,$2}${2:+ lab.end=panic panic=-1}" \
        --memory 64M --disk "path=$PWD/disk$1.img" --net "tap=iso$1" \
        --vsock "cid=3,uds=$PWD/v$1.sock" --console stdio &
    eval "run$1=\$!"
}
# the pid of the truce that labrun started for guest I
truce_pid() {
    local p
    for p in $(pidof truce); do
        grep -q "disk$1.img" "/proc/$p/cmdline" 2>/dev/null && echo "$p" && return 0
    done
    return 1
}
# "status" from labrun's result file of guest I (after it ended)
status_of() { sed -n 's/^status=\([0-9]*\).*/\1/p' "res$1" 2>/dev/null; }
uptime_s() { cut -d. -f1 /proc/uptime; }
go() { echo go | nettool connect "tcp:10.10.$1.2:7000" >/dev/null 2>&1; }
stop_all() { # on failure: end everything this scenario started
    for p in $(pidof truce); do kill -9 "$p" 2>/dev/null; done
    kill "$httpd" 2>/dev/null
}

# Start the eight together (in turn is no faster on L1's one emulated CPU: waiting guests cost
# little but not nothing); each must wait for its go within 420 s; each tap gets its L1 address.
t0=$(uptime_s)
for i in 0 1 4 5 6 7 8 9; do linux "$i" $([ "$i" = 1 ] && echo panic); done
pending="0 1 4 5 6 7 8 9" notap="$pending"
while [ -n "$pending" ]; do
    sleep 1
    for i in $notap; do
        [ -d "/sys/class/net/iso$i" ] && ip addr add "10.10.$i.1/24" dev "iso$i" &&
            notap=$(echo " $notap " | sed "s/ $i / /")
    done
    for i in $pending; do
        grep -q "iso: vm$i waiting" "out$i" 2>/dev/null && pending=$(echo " $pending " | sed "s/ $i / /")
    done
    pending=$(echo $pending) notap=$(echo $notap)
    [ $(($(uptime_s) - t0)) -lt 420 ] || {
        stop_all
        fail "Linux guests $pending did not come up within 420 s"
    }
done
[ -z "$notap" ] || {
    stop_all
    fail "taps of $notap never appeared"
}
echo "isolation: 8 Linux guests up and waiting after $(($(uptime_s) - t0)) s"

# The four attacks, with everyone else running.
labrun -t 60 -o out2 -r res2 -- truce run --kernel /lab/tguests/triple32.elf --memory 32M \
    --console stdio &
run2=$!
for n in $(seq 0 15); do
    printf 'truce-hostile sector %d\n' "$n" | dd of=hostile.img bs=512 seek="$n" conv=notrunc 2>/dev/null
done
dd if=/dev/zero of=hostile.img bs=512 seek=2047 count=1 conv=notrunc 2>/dev/null
labrun -t 60 -o out3 -r res3 -- truce run --kernel /lab/tguests/vq_indirect_self.elf --cmdline blk \
    --memory 64M --disk "path=$PWD/hostile.img" --console stdio &
run3=$!
p0=$(truce_pid 0) || {
    stop_all
    fail "cannot find vm0's truce"
}
kill -9 "$p0"
go 1 || {
    stop_all
    fail "cannot send go to vm1 (to panic)"
}
wait "$run0" "$run1" "$run2" "$run3"
bad=''
[ "$(status_of 0)" = 137 ] || bad="$bad vm0 (SIGKILL) ended with $(status_of 0);"
[ "$(status_of 1)" = 12 ] || bad="$bad vm1 (panic) ended with $(status_of 1), not 12;"
grep -q 'Kernel panic' out1 || bad="$bad vm1 printed no kernel panic;"
[ "$(status_of 2)" = 8 ] || bad="$bad vm2 (triple fault) ended with $(status_of 2), not 8;"
# its vCPU's state line (on AMD, KVM has reset the vCPU by then, and the line says so)
grep -aq 'vCPU 0, triple fault: ' out2 || bad="$bad vm2 logged no vCPU state line;"
[ "$(status_of 3)" = 85 ] && grep -q 'hostile-verdict: ok' out3 ||
    bad="$bad vm3 (hostile blk) ended with $(status_of 3): $(grep -a hostile-verdict out3 | head -n 1);"
[ -z "$bad" ] || {
    stop_all
    fail "$bad"
}
echo "isolation: vm0 killed (137), vm1 panicked (12), vm2 triple-faulted (8), vm3 hostile blk (85)"
alive=0
for i in 4 5 6 7 8 9; do truce_pid "$i" >/dev/null && alive=$((alive + 1)); done
[ $alive = 6 ] || {
    stop_all
    fail "only $alive of the 6 other guests still run after the attacks"
}

# The survivors: disk and network, then poweroff.
for i in 4 5 6 7 8 9; do go "$i" || bad="$bad no go to vm$i;"; done
for i in 4 5 6 7 8 9; do eval "wait \$run$i"; done
kill "$httpd"
for i in 4 5 6 7 8 9; do
    grep -aq "GUEST-RESULT PASS iso" "out$i" && [ "$(status_of "$i")" = 0 ] ||
        bad="$bad vm$i: status $(status_of "$i"), $(tr -d '\r' <"out$i" | grep -a GUEST-RESULT | head -n 1);"
    dd if="disk$i.img" bs=512 skip=4096 count=1 2>/dev/null | grep -aq "truce-iso vm$i" ||
        bad="$bad vm$i's write is not in its image;"
done
[ -z "$bad" ] || fail "$bad"
for i in 0 1 4 5 6 7 8 9; do printf ' vm%s %s' "$i" "$(sed -n 's/.*marker_ms=\([0-9]*\).*/\1/p' "res$i")"; done |
    sed 's/^/isolation: ms to \/init:/'
echo
echo "isolation: 6 survivors passed their disk and network checks ($(($(uptime_s) - t0)) s in all)"

# Nothing left behind.
left=$(pidof truce)
[ -z "$left" ] || bad="$bad truce still running ($left);"
left=$(ls -d /sys/class/net/iso* 2>/dev/null | tr '\n' ' ')
[ -z "$left" ] || bad="$bad taps left: $left;"
for f in disk*.img hostile.img; do
    ino=$(stat -c %i "$f")
    grep -q ":$ino " /proc/locks && bad="$bad $f is still locked;"
done
left=$(ls v*.sock 2>/dev/null | grep -v '^v0.sock$' | tr '\n' ' ')
[ -z "$left" ] || bad="$bad socket files left: $left;"
grep -q "$PWD/v" /proc/net/unix && bad="$bad a vsock socket is still bound;"
[ -z "$bad" ] || fail "$bad"
# vm0's socket file stays (a SIGKILLed process removes nothing), unbound; the next truce with
# that path takes it over and removes it when it ends.
[ -S v0.sock ] || fail "vm0's v0.sock is not there"
truce run --kernel /lab/tguests/triple32.elf --memory 32M --vsock "cid=3,uds=$PWD/v0.sock" \
    --console none >reuse.out 2>&1
st=$?
[ $st = 8 ] || fail "a truce reusing vm0's stale v0.sock ended with $st: $(tail -n 1 reuse.out)"
[ ! -e v0.sock ] || fail "v0.sock is still there after a truce reused it"
echo "isolation: no process, tap, lock or socket left (vm0's stale v0.sock reused, then removed)"
