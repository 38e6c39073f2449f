# boot-pvh — the small kernel (ELF vmlinux) boots through its PVH entry to /init; guest poweroff
# ends the VMM with status 0.
# lab: vmm=truce,qemu timeout=150
guest_boot -k small -a lab.end=poweroff
expect_init
expect_end poweroff
