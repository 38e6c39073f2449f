# blk-serials — several disks appear in order with their sizes and serials (the sysfs serial
# attribute udev turns into /dev/disk/by-id/virtio-SERIAL); the driver survives rmmod + insmod
# (device reset) and reads again. Sizes that are not a multiple of 512 round down.
# lab: vmm=truce timeout=150 needs=boot-bzimage
truncate -s 1M a.img && truncate -s 2M b.img && truncate -s 3000000 c.img
printf 'reload-marker' | dd of=b.img conv=notrunc 2>/dev/null
cat >blkids <<'EOF'
#!/bin/sh
# blkids — vda/vdb/vdc: serial and size as the scenario configured; reset through rmmod/insmod.
r() { echo "GUEST-RESULT $1 blkids $2"; exit 0; }
for want in vda:disk-a:2048 vdb:DISK_B-0123456789:4096 vdc::5859; do
    d=${want%%:*} rest=${want#*:}
    ser=${rest%%:*} size=${rest#*:}
    [ -b /dev/$d ] || r FAIL "no /dev/$d"
    got=$(cat /sys/block/$d/serial 2>/dev/null)
    [ "$got" = "$ser" ] || r FAIL "$d serial '$got', expected '$ser'"
    [ "$(cat /sys/block/$d/size)" = "$size" ] || r FAIL "$d size $(cat /sys/block/$d/size), expected $size"
    echo "blkids: $d serial '$got' size $size"
done
ko=$(grep '/virtio_blk.ko' /lib/modules/$(uname -r)/load-order | head -n 1)
rmmod virtio_blk || r FAIL "rmmod virtio_blk failed"
[ -b /dev/vda ] && r FAIL "/dev/vda still there after rmmod"
insmod /lib/modules/$(uname -r)/$ko || r FAIL "insmod virtio_blk failed"
i=0
while [ ! -b /dev/vdb ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
[ "$(dd if=/dev/vdb bs=13 count=1 2>/dev/null)" = reload-marker ] || r FAIL "vdb unreadable after reload"
r PASS
EOF
chmod +x blkids
guest_boot -f blkids:/checks/blkids -x --disk -x "path=$PWD/a.img,serial=disk-a" \
    -x --disk -x "path=$PWD/b.img,serial=DISK_B-0123456789" -x --disk -x "path=$PWD/c.img" \
    -a lab.check=blkids
expect_init
expect_guest blkids
expect_end poweroff
