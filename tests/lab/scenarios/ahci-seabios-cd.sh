# ahci-seabios-cd — SeaBIOS boots an El Torito ISO from truce's AHCI CD-ROM drive: a
# `grub-mkrescue` image (tests/lab/build-ahci-images.sh) whose GRUB reads its modules and grub.cfg from
# the CD through SeaBIOS's AHCI driver (ATAPI READ(10)), prints TRUCE-GRUB-CD on the serial port
# and reboots (truce: status 6).
# lab: vmm=truce timeout=150 needs=seabios
[ -f /lab/ahci/grub.iso ] || fail "grub.iso is not in the L1 image (tests/lab/build-ahci-images.sh)"
GUEST_OUT=$PWD/seabios.out
labrun -t 100 -m 'TRUCE-GRUB-CD' -o "$GUEST_OUT" -r result -- \
    truce run --firmware seabios --cdrom /lab/ahci/grub.iso --memory 128M --console stdio \
    --log-level debug
eval "$(cat result)"
grep -qE 'AHCI/[0-9]: registering: "DVD/CD' "$GUEST_OUT" ||
    fail "SeaBIOS did not register the AHCI CD-ROM; last line: $(lab_last_line)"
grep -q 'Booting from DVD/CD' "$GUEST_OUT" || fail "SeaBIOS did not boot the CD"
grep -aq 'TRUCE-GRUB-CD' "$GUEST_OUT" || fail "GRUB's marker never came; last line: $(lab_last_line)"
# shellcheck disable=SC2154 # status comes from labrun's result file
[ "$status" = 6 ] || fail "truce exited with $status, want 6 (GRUB's reboot)"
