# bench-blk — L1 side of bench/blk.sh: the same raw image, on a loop device in L1 (tmpfs has no
# O_DIRECT on this kernel; a block device does), on virtio-blk under truce and under QEMU
# (virtio-blk-pci) with cache=none and aio=io_uring, then aio=native, rotating which goes first,
# REPS boots each. Every boot runs fio (from the tools disk vdb) on /dev/vda: sequential 1 MiB
# read and write (MB/s, QD8), 4 KiB random read and write (IOPS) at QD1 and QD32. Prints
# "BENCH-BLK vmm rep test value" lines for the host (vmm truce, qemu-uring or qemu-native) and one
# "BENCH-BLK-CMD vmm ARGS" line per VMM: its exact extra arguments. Parameters in
# /lab/bench/blk.conf.
# lab: vmm=truce timeout=3600
REPS=5 RUNTIME=5 SIZE_MB=256
[ -f /lab/bench/blk.conf ] && . /lab/bench/blk.conf
TOOLS=/lab/bench/tools.img
[ -f "$TOOLS" ] || fail "no tools image $TOOLS (run bench/blk.sh)"
[ -f /lab/bench/loop.ko ] || fail "no loop.ko in the L1 image (run bench/blk.sh)"
[ -d /sys/module/loop ] || insmod /lab/bench/loop.ko || fail "insmod loop.ko failed"
dd if=/dev/zero of=target.img bs=1M count="$SIZE_MB" 2>/dev/null || fail "cannot create the target image"
[ -b /dev/loop0 ] || mknod /dev/loop0 b 7 0
losetup /dev/loop0 "$PWD/target.img" || fail "losetup /dev/loop0 failed"
DEV=/dev/loop0
cat >blkbench <<EOF
#!/bin/sh
# blkbench — fio on /dev/vda from the tools file system on /dev/vdb; one line per test.
mkdir -p /t && mount -t ext4 -o ro /dev/vdb /t || { echo "GUEST-RESULT FAIL blkbench no tools disk"; exit 0; }
fio() { /t/lib/ld-linux-x86-64.so.2 --library-path /t/lib /t/fio "\$@"; }
common="--filename=/dev/vda --direct=1 --ioengine=libaio --runtime=$RUNTIME --time_based --minimal"
# one test: NAME RW BS QD FIELD DIV (the field of fio's terse output; DIV 1024: KiB/s -> MiB/s)
t() {
    r=\$(fio --name=\$1 --rw=\$2 --bs=\$3 --iodepth=\$4 \$common) || { echo "GUEST-RESULT FAIL blkbench fio \$1 failed"; exit 0; }
    echo "blkbench: \$1 \$(echo "\$r" | awk -F';' -v f=\$5 -v d=\$6 '{printf "%.1f", \$f / d}')"
}
t seqread_MBps read 1M 8 7 1024
t seqwrite_MBps write 1M 8 48 1024
t randread_qd1_IOPS randread 4k 1 8 1
t randread_qd32_IOPS randread 4k 32 8 1
t randwrite_qd1_IOPS randwrite 4k 1 49 1
t randwrite_qd32_IOPS randwrite 4k 32 49 1
umount /t
echo "GUEST-RESULT PASS blkbench"
EOF
chmod +x blkbench
# the VMM-specific arguments of VMM (truce, qemu-uring, qemu-native), one per line
vmm_args() {
    case $1 in
    truce) printf '%s\n' --disk "path=$DEV" --disk "path=$TOOLS,readonly=on" ;;
    truce-direct) printf '%s\n' --disk "path=$DEV,direct=on" --disk "path=$TOOLS,readonly=on" ;;
    qemu-*)
        printf '%s\n' -M pcie=on \
            -drive "file=$DEV,format=raw,if=none,id=d0,cache=none,aio=${1#qemu-}" \
            -device virtio-blk-pci,drive=d0 \
            -drive "file=$TOOLS,format=raw,if=none,id=d1,readonly=on" \
            -device virtio-blk-pci,drive=d1
        ;;
    esac
}
for v in truce truce-direct qemu-io_uring qemu-native; do echo "BENCH-BLK-CMD $v $(vmm_args $v | tr '\n' ' ')"; done
vmms="truce truce-direct qemu-io_uring qemu-native"
for rep in $(seq "$REPS"); do
    for v in $vmms; do
        set --
        while IFS= read -r a; do set -- "$@" -x "$a"; done <<ARGS
$(vmm_args $v)
ARGS
        LAB_VMM=${v%%-*}
        guest_boot -t 600 -m 512 -f blkbench:/checks/blkbench -a lab.check=blkbench "$@"
        expect_guest blkbench
        tr -d '\r' <"$GUEST_OUT" | sed -n "s/^blkbench: \([a-zA-Z0-9_]*\) \([0-9.]*\)\$/BENCH-BLK $v $rep \1 \2/p"
    done
    vmms="${vmms#* } ${vmms%% *}" # the next rep starts with the next VMM
done
losetup -d /dev/loop0
LAB_VMM=truce
