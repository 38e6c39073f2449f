# seabios-kernel — direct Linux boot through firmware: `--firmware seabios --kernel` hands the
# cloud kernel, initramfs and command line to SeaBIOS through fw_cfg; QEMU's linuxboot option
# ROM (fw_cfg genroms/) loads them and the kernel boots to /init. SeaBIOS gives the guest no
# ACPI yet (no fw_cfg table loader), so the guest ends by rebooting (i8042), not by ACPI S5.
# lab: vmm=truce timeout=180 needs=seabios
guest_boot -a lab.end=reboot -x --firmware -x seabios -t 120
expect_init
grep -q 'SeaBIOS (version' "$GUEST_OUT" || fail "the kernel did not come through SeaBIOS"
expect_end reboot
