# blk-readonly — a disk given with readonly=on is read-only in the guest (blockdev --getro, a
# direct write fails), reads work, and the image is unchanged afterwards.
# lab: vmm=truce timeout=150 needs=boot-bzimage
seq 1 100000 >disk.img
truncate -s 4M disk.img
before=$(md5sum disk.img | cut -d' ' -f1)
cat >blkro <<'EOF'
#!/bin/sh
# blkro — /dev/vda is read-only: reads work, writes are refused.
r() { echo "GUEST-RESULT $1 blkro $2"; exit 0; }
[ -b /dev/vda ] || r FAIL "no /dev/vda"
[ "$(blockdev --getro /dev/vda)" = 1 ] || r FAIL "blockdev --getro says writable"
[ "$(dd if=/dev/vda bs=6 count=1 2>/dev/null)" = "$(printf '1\n2\n3\n')" ] ||
    r FAIL "first bytes of the disk are wrong"
if echo overwritten | dd of=/dev/vda oflag=direct conv=sync,notrunc bs=512 count=1 2>/dev/null; then
    r FAIL "a direct write to /dev/vda succeeded"
fi
echo overwritten >/dev/vda 2>/dev/null && r FAIL "a buffered write to /dev/vda succeeded"
sync
r PASS
EOF
chmod +x blkro
guest_boot -f blkro:/checks/blkro -x --disk -x "path=$PWD/disk.img,readonly=on" -a lab.check=blkro
expect_init
expect_guest blkro
expect_end poweroff
[ "$(md5sum disk.img | cut -d' ' -f1)" = "$before" ] || fail "the read-only image changed"
