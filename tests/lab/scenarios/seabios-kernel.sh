# seabios-kernel — direct Linux boot through firmware: `--firmware seabios --kernel` hands the
# cloud kernel, initramfs and command line to SeaBIOS through fw_cfg; QEMU's linuxboot option
# ROM (fw_cfg genroms/) loads them and the kernel boots to /init. SeaBIOS installs truce's ACPI
# tables from fw_cfg's table loader and starts the second vCPU itself (INIT/SIPI): the guest sees
# 2 CPUs, runs on full ACPI (PM timer at SeaBIOS's 0x608, SCI on IRQ 9) and powers off through
# ACPI: the DSDT's \_S5 written to the PIIX4's PM1 control register (truce: status 0). A second
# boot ends with `reboot -f`: Linux writes the FADT's reset register (0xCF9; truce: status 6).
# lab: vmm=truce timeout=180 needs=seabios l0=patched
guest_boot -c 2 -a "lab.end=poweroff lab.check=nproc:2 lab.check=dmi:truce/truce_VM lab.check=acpi-pc:0x608" \
    -x --firmware -x seabios -t 120
tr -d '\r' <"$GUEST_OUT" | grep -a 'acpi-pc:' # the FADT's PM timer, IRQ 0 and IRQ 9 as seen
expect_init
expect_guest nproc
expect_guest dmi # SMBIOS through fw_cfg (etc/smbios/*), placed by SeaBIOS
expect_guest acpi-pc
grep -q 'SeaBIOS (version' "$GUEST_OUT" || fail "the kernel did not come through SeaBIOS"
grep -q 'valid RSDP was not found' "$GUEST_OUT" && fail "the guest found no ACPI tables"
expect_end poweroff
grep -q 'powered off (PIIX4 PM1_CNT)' "$GUEST_OUT" || fail "the power-off did not go through PM1_CNT"
guest_boot -a "lab.end=reboot" -x --firmware -x seabios -t 120
expect_init
expect_end reboot
grep -q 'reset through port 0xcf9' "$GUEST_OUT" || fail "the reboot did not use the reset register"
