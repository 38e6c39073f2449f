# memtotal — with --memory 512M the guest's MemTotal is 512 MiB less only the kernel's own
# reservations (tolerance in tests/lab/guest/checks/memtotal).
# lab: vmm=truce,qemu timeout=150 needs=boot-bzimage
guest_boot -m 512 -a lab.check=memtotal:512
expect_init
expect_guest memtotal
expect_end poweroff
