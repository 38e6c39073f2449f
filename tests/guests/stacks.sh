#!/usr/bin/env bash
# stacks.sh — truce's threads have small stacks (THREAD_STACK_VCPU / THREAD_STACK_IO in
# util/util.h, instead of glibc's 8 MiB): the deepest paths known run with seccomp on and must use
# at most half of them. Each thread logs its deepest use at exit (--log-level debug: "stack used N
# KiB of M KiB", util/footprint.c). The paths: SeaBIOS booting from AHCI and virtio-blk (PIO,
# fw_cfg DMA, the disk paths), hostile guests flooding user networking (libslirp on the I/O
# thread), the metadata service and long descriptor chains, 2 vCPUs. One PASS/FAIL line each.
set -u
cd "$(dirname "$0")/../.."
TRUCE=${TRUCE:-build/truce}
H=build/hostile G=build/guests
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# stack NAME WANT_STATUS -- truce run args: run, then check every "stack used" line of stderr
stack() {
    local name=$1 want=$2
    shift 3
    cp "$OUT/disk.img" "$OUT/$name.img"
    timeout 120 "$TRUCE" run --log-level debug --console "file:$OUT/$name.serial" "$@" \
        </dev/null >/dev/null 2>"$OUT/$name.err"
    local got=$? lines bad
    lines=$(grep -o 'stack used [0-9]* KiB of [0-9]* KiB' "$OUT/$name.err")
    bad=$(echo "$lines" | awk '$3 * 2 > $6' | head -n 1)
    if [ "$got" != "$want" ]; then
        echo "FAIL stacks-$name: exit status $got, want $want ($(grep -v DEBUG "$OUT/$name.err" | tail -n 1))"
    elif [ "$(echo "$lines" | grep -c .)" -lt 2 ]; then
        echo "FAIL stacks-$name: no stack lines from the threads"
    elif [ -n "$bad" ]; then
        echo "FAIL stacks-$name: a thread used more than half its stack: $bad"
    else
        echo "PASS stacks-$name (deepest: $(echo "$lines" | sort -k3 -n | tail -n 1))"
    fi
}

if [ ! -c /dev/kvm ] || ! [ -w /dev/kvm ]; then
    echo "FAIL stacks: /dev/kvm is not usable here"
    exit 0
fi
# the disk the hostile guests expect: sector N starts with "truce-hostile sector N\n"
python3 -c 'import sys
with open(sys.argv[1], "wb") as f:
    for n in range(2048):
        s = b"truce-hostile sector %d\n" % n
        f.write(s + b"\0" * (512 - len(s)))' "$OUT/disk.img"
if [ -f $H/net_flood.elf ]; then
    stack net-flood-user 85 -- --kernel $H/net_flood.elf --cmdline net --net user \
        --disk "path=$OUT/net-flood-user.img" --rng
    stack long-chains 85 -- --kernel $H/vq_long_chain.elf --cmdline blk --net user \
        --disk "path=$OUT/long-chains.img" --rng --cpus 2
    stack mmds-flood 85 -- --kernel $H/mmds_flood.elf --cmdline net --net user \
        --disk "path=$OUT/mmds-flood.img" --rng --mmds version=V2
    stack baseline 85 -- --kernel $H/baseline.elf --cmdline "blk rng net" --net user \
        --disk "path=$OUT/baseline.img" --rng
else
    echo "FAIL stacks-hostile: $H/net_flood.elf missing (make hostile)"
fi
if [ -f /usr/share/seabios/bios-256k.bin ]; then
    stack seabios-ahci 37 -- --firmware seabios --disk "path=$G/bootsector.img,readonly=on,if=ahci"
    stack seabios-virtio 37 -- --firmware seabios --disk "path=$G/bootsector.img,readonly=on"
fi
