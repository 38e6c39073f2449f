# memtotal-hole — 3584 MiB spans the PCI hole below 4 GiB: the RAM above 4 GiB must be in the
# guest's memory map too, so MemTotal is still 3584 MiB less the kernel's reservations.
# lab: vmm=truce,qemu timeout=180 needs=boot-bzimage
guest_boot -m 3584 -a lab.check=memtotal:3584
expect_init
expect_guest memtotal
expect_end poweroff
