# ahci-ovmf-cd — OVMF (`--firmware ovmf`) boots a UEFI `grub-mkrescue` ISO (El Torito EFI image,
# tests/lab/build-ahci-images.sh) from truce's AHCI CD-ROM drive through its AtaAtapiPassThru
# and ScsiDisk drivers, then the same hybrid image given as an AHCI disk (its EFI system
# partition); GRUB prints TRUCE-GRUB-CD on the serial port and reboots (status 6) each time.
# lab: vmm=truce timeout=360 l0=patched
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
[ -f /lab/ahci/grub-efi.iso ] || fail "grub-efi.iso is not in the L1 image (apt-get install grub-efi-amd64-bin mtools)"
cp /lab/ahci/grub-efi.iso disk.img || fail "cannot copy the image"
for drive in "--cdrom /lab/ahci/grub-efi.iso" "--disk path=$PWD/disk.img,if=ahci"; do
    GUEST_OUT=$PWD/ovmf.out
    # shellcheck disable=SC2086 # $drive is two words
    labrun -t 200 -m 'TRUCE-GRUB-CD' -o "$GUEST_OUT" -r result -- \
        truce run --firmware ovmf $drive --memory 256M --console stdio
    eval "$(cat result)"
    grep -aq 'TRUCE-GRUB-CD' "$GUEST_OUT" ||
        fail "$drive: GRUB's marker never came; last line: $(lab_last_line)"
    # shellcheck disable=SC2154 # status comes from labrun's result file
    [ "$status" = 6 ] || fail "$drive: truce exited with $status, want 6 (GRUB's reboot)"
done
