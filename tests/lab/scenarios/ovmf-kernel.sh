# ovmf-kernel — UEFI under truce: `--firmware ovmf` (Debian's OVMF_CODE_4M.fd, variables in a
# CFI flash) boots the cloud kernel handed over through fw_cfg (OVMF's QemuKernelLoaderFsDxe, as
# QEMU's -kernel) to the guest's /init; OVMF starts the second vCPU, installs truce's ACPI tables
# from the table loader, and the guest powers off through ACPI (truce: status 0).
# lab: vmm=truce timeout=240 l0=patched
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
guest_boot -c 2 -a "lab.end=poweroff lab.check=nproc:2" -x --firmware -x ovmf -x --log-level \
    -x debug -t 200
tr -d '\r' <"$GUEST_OUT" | grep -aE "unmapped|fw_cfg: item" | head -n 60
expect_init
expect_guest nproc
expect_end poweroff
