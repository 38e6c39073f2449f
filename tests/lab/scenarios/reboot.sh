# reboot — `reboot -f` in the guest ends the VMM with the reboot status (truce: 6).
# lab: vmm=truce,qemu timeout=150 needs=boot-bzimage
guest_boot -a lab.end=reboot
expect_init
expect_end reboot
