# bench-blk — L1 side of bench/blk.sh: the same raw image on virtio-blk under truce and QEMU
# (virtio-blk-pci), alternating, REPS boots each; every boot runs fio (from the tools disk vdb)
# on /dev/vda: sequential 1 MiB read and write (MB/s) and 4 KiB random read (IOPS). Prints
# "BENCH-BLK vmm rep test value" lines for the host. Parameters in /lab/bench/blk.conf.
# lab: vmm=truce timeout=2400
REPS=5 RUNTIME=5 SIZE_MB=256
[ -f /lab/bench/blk.conf ] && . /lab/bench/blk.conf
TOOLS=/lab/bench/tools.img
[ -f "$TOOLS" ] || fail "no tools image $TOOLS (run bench/blk.sh)"
dd if=/dev/zero of=target.img bs=1M count="$SIZE_MB" 2>/dev/null || fail "cannot create the target image"
cat >blkbench <<EOF
#!/bin/sh
# blkbench — fio on /dev/vda from the tools file system on /dev/vdb; one line per test.
mkdir -p /t && mount -t ext4 -o ro /dev/vdb /t || { echo "GUEST-RESULT FAIL blkbench no tools disk"; exit 0; }
fio() { /t/lib/ld-linux-x86-64.so.2 --library-path /t/lib /t/fio "\$@"; }
common="--filename=/dev/vda --direct=1 --ioengine=libaio --runtime=$RUNTIME --time_based --minimal"
r=\$(fio --name=seqread --rw=read --bs=1M --iodepth=8 \$common) || { echo "GUEST-RESULT FAIL blkbench fio failed"; exit 0; }
echo "blkbench: seqread_MBps \$(echo "\$r" | awk -F';' '{printf "%.1f", \$7 / 1024}')"
r=\$(fio --name=seqwrite --rw=write --bs=1M --iodepth=8 \$common)
echo "blkbench: seqwrite_MBps \$(echo "\$r" | awk -F';' '{printf "%.1f", \$48 / 1024}')"
r=\$(fio --name=randread --rw=randread --bs=4k --iodepth=32 \$common)
echo "blkbench: randread_IOPS \$(echo "\$r" | awk -F';' '{print \$8}')"
umount /t
echo "GUEST-RESULT PASS blkbench"
EOF
chmod +x blkbench
for rep in $(seq "$REPS"); do
    for vmm in truce qemu; do
        if [ $vmm = truce ]; then
            set -- -x --disk -x "path=$PWD/target.img" -x --disk -x "path=$TOOLS,readonly=on"
        else
            set -- -x -M -x pcie=on \
                -x -drive -x "file=$PWD/target.img,format=raw,if=none,id=d0,cache=writeback,aio=io_uring" \
                -x -device -x virtio-blk-pci,drive=d0 \
                -x -drive -x "file=$TOOLS,format=raw,if=none,id=d1,readonly=on" \
                -x -device -x virtio-blk-pci,drive=d1
        fi
        LAB_VMM=$vmm
        guest_boot -t 400 -m 512 -f blkbench:/checks/blkbench -a lab.check=blkbench "$@"
        expect_guest blkbench
        tr -d '\r' <"$GUEST_OUT" | sed -n "s/^blkbench: \([a-zA-Z_]*\) \([0-9.]*\)\$/BENCH-BLK $vmm $rep \1 \2/p"
    done
done
LAB_VMM=truce
