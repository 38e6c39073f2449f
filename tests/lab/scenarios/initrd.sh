# initrd — the initrd arrives intact: a 16 MiB random payload inside it has, in the guest, the
# sha256 computed here and passed on the kernel command line.
# lab: vmm=truce,qemu timeout=150 needs=boot-bzimage
dd if=/dev/urandom of=payload bs=1M count=16 2>/dev/null
sum=$(sha256sum payload | cut -d' ' -f1)
guest_boot -f payload:/lab/payload -a "lab.check=initrd-sum:$sum"
expect_init
expect_guest initrd-sum
expect_end poweroff
