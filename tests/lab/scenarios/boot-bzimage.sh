# boot-bzimage — the Debian cloud kernel boots as a bzImage to /init; guest poweroff ends the VMM
# with status 0.
# lab: vmm=truce,qemu timeout=150
guest_boot -k cloud -a lab.end=poweroff
expect_init
expect_end poweroff
