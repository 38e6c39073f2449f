# ovmf-grub-disk — UEFI boot from a disk: OVMF finds the EFI system partition of a GPT raw disk
# on truce's virtio-blk (its own virtio driver, BARs placed by OVMF), runs \EFI\BOOT\BOOTX64.EFI
# (GRUB from grub-efi-amd64-bin, image built without loop mounts: tests/lab/build-efi-disk.sh),
# which prints its marker and powers off through UEFI ResetSystem (OVMF writes PIIX4's PM1_CNT:
# truce's status 0). Cross-checked under QEMU -M pc with the same OVMF files and disk.
# lab: vmm=truce,qemu timeout=200 l0=patched needs=ovmf-kernel
disk=/lab/efi/efi-disk.img
[ -f $disk ] || fail "no UEFI disk in the L1 image (apt-get install grub-efi-amd64-bin mtools)"
lab_fw_boot ovmf 1 256 150 TRUCE-GRUB-EFI $disk
tr -d '\r' <"$GUEST_OUT" | sed 's/\x1b\[[0-9;]*[a-zA-Z]//g' | grep -aE 'BdsDxe|GRUB|truce:' | head -n 20
grep -q TRUCE-GRUB-EFI "$GUEST_OUT" || fail "GRUB did not run; last line: $(lab_last_line)"
# shellcheck disable=SC2154 # status and marker_ms come from labrun's result file
[ "$status" = 0 ] || fail "$LAB_VMM exited with $status after GRUB's halt, want 0 (PIIX4 soft-off)"
echo "ovmf-grub-disk: GRUB's marker after $marker_ms ms"
