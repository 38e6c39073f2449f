# ovmf-kernel — UEFI under truce: `--firmware ovmf` (Debian's OVMF_CODE_4M.fd, variables in a
# CFI flash) boots the cloud kernel handed over through fw_cfg (OVMF's QemuKernelLoaderFsDxe, as
# QEMU's -kernel) to the guest's /init; OVMF starts the second vCPU, installs truce's ACPI tables
# from the table loader and its SMBIOS tables (system "truce"/"truce VM", UUID from --id), and
# the guest runs on full ACPI (PM timer at OVMF's 0xB008, SCI on IRQ 9) and powers off through
# ACPI (truce: status 0).
# lab: vmm=truce timeout=240 l0=patched
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
guest_boot -c 2 -a "lab.end=poweroff lab.check=nproc:2 lab.check=dmi:truce/truce_VM lab.check=acpi-pc:0xb008" \
    -x --firmware -x ovmf -x --id -x labvm -x --log-level -x debug -t 200
tr -d '\r' <"$GUEST_OUT" | grep -aE "unmapped|fw_cfg: item|smbios|dmi:|acpi" | head -n 60
expect_init
expect_guest nproc
expect_guest dmi
expect_guest acpi-pc
want=$(tr -d '\r' <"$GUEST_OUT" | sed -n 's/.*smbios: .* uuid \([0-9a-f-]*\).*/\1/p' | head -n 1)
tr -d '\r' <"$GUEST_OUT" | grep -q "dmi: uuid $want;" || fail "the guest's product_uuid is not $want"
expect_end poweroff
echo "ovmf-kernel: /init after ${GUEST_MARKER_MS} ms"
