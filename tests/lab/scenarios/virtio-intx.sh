# virtio-intx — with MSI-X unavailable (pci=nomsi) virtio devices interrupt through INTx and the
# ISR register, routed as the ACPI _PRT says: the disk and the hwrng both work.
# lab: vmm=truce timeout=150 needs=boot-bzimage
printf 'intx-marker' >disk.img
truncate -s 1M disk.img
cat >intx <<'EOF'
#!/bin/sh
# intx — no MSI-X vectors in use; a disk read and an hwrng read complete.
r() { echo "GUEST-RESULT $1 intx $2"; exit 0; }
grep -q PCI-MSI /proc/interrupts && r FAIL "MSI in use despite pci=nomsi"
[ "$(dd if=/dev/vda bs=11 count=1 2>/dev/null)" = intx-marker ] || r FAIL "disk read failed"
n=$(dd if=/dev/hwrng bs=512 count=4 2>/dev/null | wc -c)
[ "$n" = 2048 ] || r FAIL "hwrng gave $n bytes"
grep -E 'virtio|IO-APIC' /proc/interrupts | sed 's/^/intx: /'
r PASS
EOF
chmod +x intx
guest_boot -f intx:/checks/intx -x --disk -x "path=$PWD/disk.img" -x --rng -a "pci=nomsi lab.check=intx"
expect_init
expect_guest intx
expect_end poweroff
