# jail — `truce jail` (Firecracker-jailer layout) boots the Debian guest with a disk and a tap as
# uid 1000 with no capabilities, in its own mount namespace and cgroup v2 (memory.max, pids.max,
# cpu.max); L1 checks the process from outside while the guest pings L1 and reads/writes its
# disk. A second jailed VM whose memory.max is below what the guest touches is killed by the
# cgroup's OOM killer (status 137, memory.events oom_kill) and L1 lives on. `truce jail
# --cleanup` leaves nothing behind.
# lab: vmm=truce timeout=420 needs=boot-bzimage
JUID=1000 JGID=1000 BASE=$PWD/jail
TRUCE_BIN=$(command -v truce) || fail "no truce in L1"
CG=/sys/fs/cgroup
if ! grep -q "^[^ ]* $CG cgroup2 " /proc/mounts; then
    mkdir -p $CG && mount -t cgroup2 none $CG || fail "cannot mount cgroup2 on $CG"
fi
grep -qw memory $CG/cgroup.controllers || fail "L1's cgroup v2 has no memory controller"
l1_modprobe tun || fail "insmod tun failed"
mktap jtap0 $JUID $JGID || fail "mktap jtap0 $JUID $JGID failed"
# on any failure too: no cgroup, jail or tap survives into the next scenario
trap 'for i in lab-1 lab-2; do truce jail --cleanup --id $i --exec-file "$TRUCE_BIN" \
    --chroot-base-dir "$BASE" 2>/dev/null; done; mktap -d jtap0 2>/dev/null' EXIT
ip addr add 10.9.1.1/24 dev jtap0 && ip link set jtap0 up || fail "cannot configure jtap0"
ip link set lo up

cat >jail-dev <<'EOF'
#!/bin/sh
# jail-dev — check (ARG: sha256 of the disk's first MiB): read /dev/vda's first MiB and compare,
# write a marker at 2 MiB for L1 to find, ping L1 over the tap (10.9.1.2 -> 10.9.1.1), then wait
# (at most 120 s) for L1 to say "done" on port 5004 once it has inspected the jailed truce.
r() { echo "GUEST-RESULT $1 jail-dev${2:+ $2}"; exit 0; }
[ -b /dev/vda ] || r FAIL "no /dev/vda"
got=$(dd if=/dev/vda bs=4096 count=256 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$1" ] || r FAIL "disk reads $got, L1 wrote $1"
echo jail-marker | dd of=/dev/vda bs=512 seek=4096 conv=notrunc 2>/dev/null && sync ||
    r FAIL "cannot write the disk"
ip addr add 10.9.1.2/24 dev eth0 && ip link set eth0 up || r FAIL "no eth0"
i=0
until ping -c 1 -W 1 10.9.1.1 >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 60 ] || r FAIL "L1 (10.9.1.1) never answered ping"
done
verdict=$(timeout 120 nc -l -p 5004 </dev/null)
[ "$verdict" = done ] || r FAIL "L1 did not finish its checks: ${verdict:-no word on port 5004}"
r PASS
EOF
cat >jail-fill <<'EOF'
#!/bin/sh
# jail-fill — touch 280 MiB of guest RAM (tmpfs files); the VMM's cgroup should not allow it.
echo "jail-fill: filling"
for i in 1 2 3 4 5 6 7; do
    dd if=/dev/zero of=/fill$i bs=1M count=40 2>/dev/null
    echo "jail-fill: $((i * 40)) MiB"
done
echo "GUEST-RESULT FAIL jail-fill the guest filled 280 MiB under memory.max"
EOF
chmod +x jail-dev jail-fill
mkdir -p extra-root/checks && cp jail-dev jail-fill extra-root/checks/ || fail "cannot stage checks"
(cd extra-root && find . | cpio -o -H newc 2>/dev/null) >extra.cpio

# Place the guest's files in the jail's root as Firecracker's users do (<base>/truce/<id>/root).
prep() { # ID
    local root=$BASE/truce/$1/root
    mkdir -p "$root" && ln "$LAB_GUESTS/vmlinuz" "$root/vmlinuz" 2>/dev/null ||
        cp "$LAB_GUESTS/vmlinuz" "$root/vmlinuz" || fail "cannot place the kernel"
    cat "$LAB_GUESTS/initrd.cpio" extra.cpio >"$root/initrd.img" || fail "cannot place the initrd"
}
# jailed_boot ID TIMEOUT MEM-MiB KERNEL-ARGS [JAIL-ARGS...] -- [TRUCE-ARGS...]
jailed_boot() {
    local id=$1 timeout=$2 mem=$3 args=$4 j=''
    shift 4
    GUEST_OUT=$PWD/guest-$id.out
    set -- truce jail --id "$id" --exec-file "$TRUCE_BIN" --uid $JUID --gid $JGID \
        --chroot-base-dir "$BASE" --cgroup-version 2 "$@" --kernel /vmlinuz --initrd /initrd.img \
        --cmdline "$LAB_BASE_CMDLINE $args" --memory "${mem}M" --console stdio --log-level info
    labrun -t "$timeout" -m TRUCE-INIT -o "$GUEST_OUT" -r result -- "$@"
    eval "$(cat result)"
    # shellcheck disable=SC2154
    GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_TIMEOUT=$timeout
}

# ---- 1. a jailed VM with a disk and a tap, inspected from L1 while it runs
ID=lab-1
ROOT=$BASE/truce/$ID/root
prep $ID
dd if=/dev/urandom of="$ROOT/disk.img" bs=1M count=1 2>/dev/null
sum=$(sha256sum "$ROOT/disk.img" | cut -d' ' -f1)
truncate -s 8M "$ROOT/disk.img" && chown $JUID:$JGID "$ROOT/disk.img" || fail "no disk image"
(
    i=0
    until ping -c 1 -W 1 10.9.1.2 >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 120 ] || exit 0
    done
    P=$(cat "$ROOT/truce.pid")
    {
        grep -E '^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' "/proc/$P/status"
        echo "mnt-ns $(readlink "/proc/$P/ns/mnt") $(readlink /proc/self/ns/mnt)"
        echo "cgroup $(sed -n 's/^0:://p' "/proc/$P/cgroup")"
        echo "memory.max $(cat $CG/truce/$ID/memory.max)"
        echo "pids.max $(cat $CG/truce/$ID/pids.max)"
        echo "cpu.max $(cat $CG/truce/$ID/cpu.max)"
        echo "nofile $(awk '/^Max open files/ {print $4}' "/proc/$P/limits")"
        echo "files $(cd "$ROOT" && find . ! -type d | sort | tr '\n' ' ')"
    } >facts
    i=0
    while [ $i -lt 30 ]; do
        echo done | nc 10.9.1.2 5004 && break
        sleep 1
        i=$((i + 1))
    done
) &
helper=$!
jailed_boot $ID 200 256 "lab.check=jail-dev:$sum" --cgroup memory.max=512M --cgroup pids.max=64 \
    --cgroup "cpu.max=50000 100000" \
    --resource-limit no-file=256 -- run --disk path=/disk.img --net tap=jtap0
kill $helper 2>/dev/null
expect_init
expect_guest jail-dev
expect_end poweroff
tr -d '\r' <"$GUEST_OUT" | grep -q 'landlock: ABI [0-9]*, file access restricted' ||
    fail "truce did not report Landlock in force: $(grep landlock "$GUEST_OUT" | head -n 1)"
grep -q 'is an initramfs' "$GUEST_OUT" && echo "jail: L1's root is an initramfs: jailed by move + chroot"
[ -s facts ] || fail "L1 never reached the guest over the tap to inspect the jailed truce"
sed 's/^/jail: /' facts
fact() { sed -n "s/^$1:*[[:space:]]*//p" facts | tr -s '\t ' '  '; }
[ "$(fact Uid)" = "$JUID $JUID $JUID $JUID" ] || fail "jailed truce runs as uid '$(fact Uid)'"
[ "$(fact Gid)" = "$JGID $JGID $JGID $JGID" ] || fail "jailed truce runs as gid '$(fact Gid)'"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    [ "$(fact $c)" = 0000000000000000 ] || fail "jailed truce has $c $(fact $c)"
done
[ "$(fact NoNewPrivs)" = 1 ] || fail "jailed truce has NoNewPrivs '$(fact NoNewPrivs)'"
set -- $(fact mnt-ns)
[ -n "$1" ] && [ "$1" != "$2" ] || fail "jailed truce shares L1's mount namespace ($1)"
[ "$(fact cgroup)" = "/truce/$ID" ] || fail "jailed truce is in cgroup '$(fact cgroup)'"
[ "$(fact memory.max)" = 536870912 ] || fail "memory.max is '$(fact memory.max)'"
[ "$(fact pids.max)" = 64 ] || fail "pids.max is '$(fact pids.max)'"
[ "$(fact cpu.max)" = "50000 100000" ] || fail "cpu.max is '$(fact cpu.max)'"
[ "$(fact nofile)" = 256 ] || fail "RLIMIT_NOFILE is '$(fact nofile)'"
want="./dev/kvm ./dev/net/tun ./disk.img ./initrd.img ./truce ./truce.pid ./vmlinuz"
for f in $want; do
    case " $(fact files) " in *" $f "*) ;; *) fail "the jail lacks $f: $(fact files)" ;; esac
done
extra=$(for f in $(fact files); do
    case " $want ./dev/userfaultfd " in *" $f "*) ;; *) case "$f" in ./lib*) ;; *) echo "$f" ;; esac ;; esac
done)
[ -z "$extra" ] || fail "the jail holds more than the VM needs: $extra"
[ "$(dd if="$ROOT/disk.img" bs=512 skip=4096 count=1 2>/dev/null | head -c 11)" = jail-marker ] ||
    fail "the guest's write did not reach disk.img"
echo "jail: memory.peak $(($(cat $CG/truce/$ID/memory.peak 2>/dev/null || echo 0) / 1048576)) MiB"
truce jail --cleanup --id $ID --exec-file "$TRUCE_BIN" --chroot-base-dir "$BASE" ||
    fail "--cleanup failed"

# ---- 2. memory.max below what the guest touches: the cgroup's OOM killer ends truce, not L1
ID=lab-2
prep $ID
jailed_boot $ID 200 512 "lab.check=jail-fill" --cgroup memory.max=192M --cgroup memory.swap.max=0 \
    -- run
oom=$(sed -n 's/^oom_kill //p' $CG/truce/$ID/memory.events)
echo "jail: memory.max 192 MiB, guest filling 280 MiB: status $GUEST_STATUS, oom_kill ${oom:-?}"
expect_init
tr -d '\r' <"$GUEST_OUT" | grep -q 'jail-fill: filling' || fail "the guest never started to fill"
grep -q 'GUEST-RESULT FAIL jail-fill' "$GUEST_OUT" && fail "the guest filled 280 MiB under memory.max"
[ "$GUEST_TIMED_OUT" = 0 ] || fail "truce still running after ${GUEST_TIMEOUT}s under memory.max"
[ "$GUEST_STATUS" = 137 ] || fail "status $GUEST_STATUS, want 137 (SIGKILL by the cgroup OOM killer)"
[ "${oom:-0}" -ge 1 ] || fail "memory.events shows no oom_kill"
truce jail --cleanup --id $ID --exec-file "$TRUCE_BIN" --chroot-base-dir "$BASE" ||
    fail "--cleanup failed"

# ---- nothing left behind: no cgroup, no jail directory, the tap is L1's own (made by mktap)
[ ! -e $CG/truce ] || fail "cgroup $CG/truce left behind: $(ls $CG/truce)"
[ -z "$(ls -A "$BASE")" ] || fail "left in $BASE: $(cd "$BASE" && find . | head -n 5)"
