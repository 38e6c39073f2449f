# seabios-grub-multiboot — GRUB's `multiboot` command from the BIOS disk (tests/lab/build-disk.sh)
# boots truce's multiboot test kernel (tests/guests/multiboot.c) with a command line and two
# modules with their own arguments; the kernel checks its entry state and boot information and
# exits through the debug-exit port (0x2a: status 85 under both VMMs).
# lab: vmm=truce,qemu timeout=150 needs=seabios l0=patched
disk=/lab/bios/grub-bios.img
[ -f "$disk" ] || fail "no GRUB disk in the L1 image (tests/lab/build-disk.sh; apt-get install grub-pc-bin)"
lab_grub_sel multiboot
lab_fw_boot seabios 1 64 100 'multiboot ok' "$disk" "$PWD/sel.img"
mb_fail() { lab_show_output 30; fail "$1"; }
grep -aq 'TRUCE-GRUB sel=multiboot' "$GUEST_OUT" || mb_fail "GRUB did not start; last line: $(lab_last_line)"
grep -aq "truce-guest: multiboot cmdline 'hello mb'" "$GUEST_OUT" || mb_fail "no command line"
grep -aq "truce-guest: loader 'GRUB 2" "$GUEST_OUT" || mb_fail "no GRUB loader name"
grep -aq "truce-guest: module 0 'arg1 arg2' 13 bytes: first module." "$GUEST_OUT" || mb_fail "module 0"
grep -aq "truce-guest: module 1 'x,y' 13 bytes: second.module" "$GUEST_OUT" || mb_fail "module 1"
grep -aq 'truce-guest: multiboot ok' "$GUEST_OUT" || mb_fail "the kernel's checks failed: $(lab_last_line)"
# shellcheck disable=SC2154 # GUEST_MARKER_MS from lab_fw_boot
[ "$GUEST_STATUS" = 85 ] || mb_fail "$LAB_VMM exited $GUEST_STATUS, want 85 (debug-exit 0x2a)"
echo "seabios-grub-multiboot: exec to 'multiboot ok' $GUEST_MARKER_MS ms"
