# ahci-seabios-cd — SeaBIOS boots an El Torito ISO from truce's AHCI CD-ROM drive: a
# `grub-mkrescue` image (tests/lab/build-ahci-images.sh) whose GRUB reads its modules and grub.cfg from
# the CD through SeaBIOS's AHCI driver (ATAPI READ(10)), prints TRUCE-GRUB-CD on the serial port
# and reboots (truce: status 6). Cross-checked under QEMU -M q35 (its ICH9 AHCI, an ide-cd on
# port 0) with the same SeaBIOS and ISO; SeaBIOS's own lines reach the serial port only under
# truce, which sets etc/sercon-port.
# lab: vmm=truce,qemu timeout=150 needs=seabios l0=patched
iso=/lab/ahci/grub.iso
[ -f $iso ] || fail "grub.iso is not in the L1 image (tests/lab/build-ahci-images.sh)"
GUEST_OUT=$PWD/seabios.out
if [ "$LAB_VMM" = truce ]; then
    set -- truce run --firmware seabios --cdrom $iso --memory 128M --console stdio --log-level debug
    want_status=6
else
    set -- qemu-system-x86_64 -L /lab/qemu -bios /usr/share/seabios/bios-256k.bin -M q35 \
        -accel kvm -cpu host -m 128 -nodefaults -no-user-config -display none -serial stdio \
        -no-reboot -drive "file=$iso,if=none,id=cd,media=cdrom,readonly=on" \
        -device ide-cd,bus=ide.0,drive=cd
    want_status=0 # -no-reboot: QEMU ends at the reboot
fi
labrun -t 100 -m 'TRUCE-GRUB-CD' -o "$GUEST_OUT" -r result -- "$@"
eval "$(cat result)"
if [ "$LAB_VMM" = truce ]; then
    grep -qE 'AHCI/[0-9]: registering: "DVD/CD' "$GUEST_OUT" ||
        fail "SeaBIOS did not register the AHCI CD-ROM; last line: $(lab_last_line)"
    grep -q 'Booting from DVD/CD' "$GUEST_OUT" || fail "SeaBIOS did not boot the CD"
fi
grep -aq 'TRUCE-GRUB-CD' "$GUEST_OUT" || fail "GRUB's marker never came; last line: $(lab_last_line)"
# shellcheck disable=SC2154 # status comes from labrun's result file
[ "$status" = "$want_status" ] || fail "$LAB_VMM exited with $status, want $want_status (GRUB's reboot)"
