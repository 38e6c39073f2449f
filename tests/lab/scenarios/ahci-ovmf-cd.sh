# ahci-ovmf-cd — OVMF (`--firmware ovmf`) boots a UEFI `grub-mkrescue` ISO (El Torito EFI image,
# tests/lab/build-ahci-images.sh) from truce's AHCI CD-ROM drive through its AtaAtapiPassThru
# and ScsiDisk drivers, then the same hybrid image given as an AHCI disk (its EFI system
# partition); GRUB prints TRUCE-GRUB-CD on the serial port and reboots (status 6) each time.
# Cross-checked under QEMU -M q35 (ICH9 AHCI: an ide-cd, then an ide-hd on port 0) with the same
# OVMF files and images.
# lab: vmm=truce,qemu timeout=360 l0=patched
iso=/lab/ahci/grub-efi.iso
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
[ -f $iso ] || fail "grub-efi.iso is not in the L1 image (apt-get install grub-efi-amd64-bin mtools)"
cp $iso disk.img || fail "cannot copy the image"
if [ "$LAB_VMM" = truce ]; then
    drives="cd:--cdrom|$iso disk:--disk|path=$PWD/disk.img,if=ahci"
    want_status=6
else
    drives="cd:-drive|file=$iso,if=none,id=d,media=cdrom,readonly=on|-device|ide-cd,bus=ide.0,drive=d"
    drives="$drives disk:-drive|file=$PWD/disk.img,if=none,id=d,format=raw|-device|ide-hd,bus=ide.0,drive=d"
    want_status=0 # -no-reboot: QEMU ends at the reboot
fi
for d in $drives; do
    what=${d%%:*}
    # the VMM's command, with the drive's arguments ('|'-separated) last
    if [ "$LAB_VMM" = truce ]; then
        set -- truce run --firmware ovmf --memory 256M --console stdio
    else
        cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd # fresh variables each boot, as truce's
        set -- qemu-system-x86_64 -L /lab/qemu -M q35 -accel kvm -cpu host -m 256 -nodefaults \
            -no-user-config -display none -serial stdio -no-reboot \
            -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
            -drive "if=pflash,format=raw,unit=1,file=$PWD/vars.fd"
    fi
    rest=${d#*:}
    while [ -n "$rest" ]; do
        set -- "$@" "${rest%%|*}"
        case $rest in *'|'*) rest=${rest#*|} ;; *) rest= ;; esac
    done
    GUEST_OUT=$PWD/ovmf-$what.out
    labrun -t 200 -m 'TRUCE-GRUB-CD' -o "$GUEST_OUT" -r result -- "$@"
    eval "$(cat result)"
    grep -aq 'TRUCE-GRUB-CD' "$GUEST_OUT" ||
        fail "$what: GRUB's marker never came; last line: $(lab_last_line)"
    # shellcheck disable=SC2154 # status comes from labrun's result file
    [ "$status" = "$want_status" ] || fail "$what: $LAB_VMM exited with $status, want $want_status (GRUB's reboot)"
done
