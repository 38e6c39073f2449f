# seabios — Debian's SeaBIOS (`--firmware seabios`) runs its POST under truce: it recognises
# QEMU (host bridge subsystem 1af4:1100), reads the memory map from fw_cfg, prints its banner on
# COM1 (fw_cfg etc/sercon-port), finds nothing to boot and reboots (truce: status 6).
# lab: vmm=truce timeout=150 l0=patched
GUEST_OUT=$PWD/seabios.out
labrun -t 60 -m 'SeaBIOS (version' -o "$GUEST_OUT" -r result -- \
    truce run --firmware seabios --memory 128M --console stdio --log-level debug
eval "$(cat result)"
grep -q 'SeaBIOS (version' "$GUEST_OUT" || fail "no SeaBIOS banner; last line: $(lab_last_line)"
grep -q 'firmware: Found QEMU fw_cfg' "$GUEST_OUT" || fail "SeaBIOS did not find fw_cfg"
grep -q 'firmware: qemu/e820: addr 0x0000000000100000' "$GUEST_OUT" ||
    fail "SeaBIOS did not read etc/e820 from fw_cfg"
grep -q 'No bootable device' "$GUEST_OUT" || fail "SeaBIOS did not finish POST; last line: $(lab_last_line)"
# shellcheck disable=SC2154 # status comes from labrun's result file
[ "$status" = 6 ] || fail "truce exited with $status, want 6 (the firmware's reboot)"
