# ahci-ovmf-cd — OVMF (`--firmware ovmf`) boots a UEFI `grub-mkrescue` ISO (El Torito EFI image,
# tests/lab/build-ahci-images.sh) from truce's AHCI CD-ROM drive through its AtaAtapiPassThru
# and ScsiDisk drivers; GRUB prints TRUCE-GRUB-CD on the serial port and reboots (status 6).
# lab: vmm=truce timeout=240 l0=patched
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
[ -f /lab/ahci/grub-efi.iso ] || fail "grub-efi.iso is not in the L1 image (apt-get install grub-efi-amd64-bin mtools)"
GUEST_OUT=$PWD/ovmf.out
labrun -t 200 -m 'TRUCE-GRUB-CD' -o "$GUEST_OUT" -r result -- \
    truce run --firmware ovmf --cdrom /lab/ahci/grub-efi.iso --memory 256M --console stdio
eval "$(cat result)"
grep -aq 'TRUCE-GRUB-CD' "$GUEST_OUT" || fail "GRUB's marker never came; last line: $(lab_last_line)"
# shellcheck disable=SC2154 # status comes from labrun's result file
[ "$status" = 6 ] || fail "truce exited with $status, want 6 (GRUB's reboot)"
