# panic — a guest kernel panic (sysrq c) reported through pvpanic (ACPI QEMU0001, bound by
# pvpanic-mmio) ends the VMM with the panic status (truce: 12). panic=-1 makes a VMM without
# pvpanic see a reboot instead, so it fails fast rather than by timeout.
# lab: vmm=truce,qemu timeout=150 needs=boot-bzimage
guest_boot -a "lab.end=panic panic=-1"
expect_init
grep -q 'Kernel panic' "$GUEST_OUT" || fail "the guest did not panic; last line: $(lab_last_line)"
expect_end panic
