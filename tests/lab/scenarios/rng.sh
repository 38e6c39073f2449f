# rng — with --rng the guest's hwrng is virtio_rng and `cat /dev/hwrng` yields random data.
# lab: vmm=truce timeout=150 needs=boot-bzimage
cat >hwrng <<'EOF'
#!/bin/sh
# hwrng — /dev/hwrng is backed by virtio_rng and gives non-constant bytes.
r() { echo "GUEST-RESULT $1 hwrng $2"; exit 0; }
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
case "$cur" in virtio_rng*) ;; *) r FAIL "rng_current is '$cur'" ;; esac
n=$(dd if=/dev/hwrng bs=1024 count=64 2>/dev/null | wc -c)
[ "$n" = 65536 ] || r FAIL "read $n bytes from /dev/hwrng, expected 65536"
a=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | md5sum)
b=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | md5sum)
[ "$a" != "$b" ] || r FAIL "two reads of /dev/hwrng returned the same bytes"
zeros=$(dd if=/dev/hwrng bs=4096 count=1 2>/dev/null | tr -d '\000' | wc -c)
[ "$zeros" -gt 3900 ] || r FAIL "only $zeros non-zero bytes in 4096"
r PASS
EOF
chmod +x hwrng
guest_boot -f hwrng:/checks/hwrng -x --rng -a lab.check=hwrng
expect_init
expect_guest hwrng
expect_end poweroff
