# bench-ahci — L1 side of bench/ahci.sh: one truce guest with two equal raw images, one on
# virtio-blk (/dev/vda) and one on the AHCI controller (/dev/sda), REPS boots; every boot runs
# fio (from the tools disk /dev/vdb) on both: sequential 1 MiB read and write (MB/s) and 4 KiB
# random read (IOPS), alternating the device first. Prints "BENCH-AHCI dev rep test value" lines
# (dev virtio or ahci). Parameters in /lab/bench/blk.conf.
# lab: vmm=truce timeout=2400
REPS=5 RUNTIME=5 SIZE_MB=256
[ -f /lab/bench/blk.conf ] && . /lab/bench/blk.conf
TOOLS=/lab/bench/tools.img
[ -f "$TOOLS" ] || fail "no tools image $TOOLS (run bench/ahci.sh)"
[ -f /lab/ahci/ahci.ko ] || fail "no AHCI modules in the L1 image"
for d in v a; do
    dd if=/dev/zero of=target-$d.img bs=1M count="$SIZE_MB" 2>/dev/null || fail "cannot create images"
done
cat >ahcibench <<GUEST
#!/bin/sh
# ahcibench — fio on /dev/vda (virtio-blk) and /dev/sda (AHCI); one line per device and test.
insmod /lab/libahci.ko && insmod /lab/ahci.ko || { echo "GUEST-RESULT FAIL ahcibench insmod"; exit 0; }
i=0
while [ ! -b /dev/sda ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
mkdir -p /t && mount -t ext4 -o ro /dev/vdb /t || { echo "GUEST-RESULT FAIL ahcibench no tools disk"; exit 0; }
fio() { /t/lib/ld-linux-x86-64.so.2 --library-path /t/lib /t/fio "\$@"; }
order="virtio:vda ahci:sda"
[ \$((\$1 % 2)) = 0 ] && order="ahci:sda virtio:vda"
for dd in \$order; do
    n=\${dd%%:*} dev=/dev/\${dd#*:}
    common="--filename=\$dev --direct=1 --ioengine=libaio --runtime=$RUNTIME --time_based --minimal"
    r=\$(fio --name=seqread --rw=read --bs=1M --iodepth=8 \$common) || { echo "GUEST-RESULT FAIL ahcibench fio"; exit 0; }
    echo "ahcibench: \$n seqread_MBps \$(echo "\$r" | awk -F';' '{printf "%.1f", \$7 / 1024}')"
    r=\$(fio --name=seqwrite --rw=write --bs=1M --iodepth=8 \$common)
    echo "ahcibench: \$n seqwrite_MBps \$(echo "\$r" | awk -F';' '{printf "%.1f", \$48 / 1024}')"
    r=\$(fio --name=randread --rw=randread --bs=4k --iodepth=32 \$common)
    echo "ahcibench: \$n randread_IOPS \$(echo "\$r" | awk -F';' '{print \$8}')"
done
umount /t
echo "GUEST-RESULT PASS ahcibench"
GUEST
chmod +x ahcibench
for rep in $(seq "$REPS"); do
    guest_boot -t 400 -m 512 -f ahcibench:/checks/ahcibench -f /lab/ahci/libahci.ko:/lab/libahci.ko \
        -f /lab/ahci/ahci.ko:/lab/ahci.ko -a "lab.check=ahcibench:$rep" \
        -x --disk -x "path=$PWD/target-v.img" -x --disk -x "path=$TOOLS,readonly=on" \
        -x --disk -x "path=$PWD/target-a.img,if=ahci"
    expect_guest ahcibench
    tr -d '\r' <"$GUEST_OUT" |
        sed -n "s/^ahcibench: \([a-z]*\) \([a-zA-Z_]*\) \([0-9.]*\)\$/BENCH-AHCI \1 $rep \2 \3/p"
done
