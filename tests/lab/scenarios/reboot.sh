# reboot — `reboot -f` in the guest (the kernel's default reset methods: ACPI reset register,
# then the i8042) ends the VMM with the reboot status (truce: 6).
# lab: vmm=truce,qemu timeout=150 needs=boot-bzimage
# QEMU's microvm has neither an ACPI reset register nor an i8042: its guests reboot by triple fault
if [ "$LAB_VMM" = qemu ]; then
    guest_boot -a "lab.end=reboot reboot=t"
else
    guest_boot -a lab.end=reboot
fi
expect_init
expect_end reboot
