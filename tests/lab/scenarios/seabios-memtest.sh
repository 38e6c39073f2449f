# seabios-memtest — a non-Linux OS from GRUB: Debian's memtest86+ (memtest86+x64.bin, booted with
# GRUB's `linux` from the BIOS disk, tests/lab/build-disk.sh) starts under SeaBIOS and runs its
# first test, seen on its serial console (console=ttyS0,115200). A whole pass takes too long in
# the lab: the VMM is stopped once a test is running. On Debian's own QEMU as L0, L1 wedged
# twice in a row as memtest86+ started (a cold-cache CI run, 2026-12-02); on the patched L0 it
# passes in seconds: l0=patched.
# lab: vmm=truce,qemu timeout=240 needs=seabios l0=patched
disk=/lab/bios/grub-bios.img
[ -f "$disk" ] || fail "no GRUB disk in the L1 image (tests/lab/build-disk.sh; apt-get install grub-pc-bin)"
lab_grub_sel memtest
# memtest86+ never ends: the VMM is stopped once a test shows (lab_memtest_running)
lab_fw_boot seabios 1 128 180 'Address test' "$disk" "$PWD/sel.img" &
pid=$!
while kill -0 $pid 2>/dev/null && ! lab_memtest_running guest.out; do sleep 0.5; done
for p in $(pidof truce qemu-system-x86_64); do kill "$p" 2>/dev/null; done
wait $pid
GUEST_OUT=$PWD/guest.out
eval "$(cat result)"
# shellcheck disable=SC2154 # set by labrun's result file
GUEST_MARKER_MS=$marker_ms
plain=$(lab_memtest_plain "$GUEST_OUT")
echo "$plain" | grep -aoE 'Memtest86\+ v[0-9.]+|\[[A-Z][a-z]+ [a-z]+[^]]*\]|(L[123] Cache|Memory) *:[^|]*' | sort -u | head -n 8 |
    sed 's/^/seabios-memtest: /'
grep -aq 'TRUCE-GRUB sel=memtest' "$GUEST_OUT" || fail "GRUB did not start; last line: $(lab_last_line)"
echo "$plain" | grep -aq 'Memtest86+' || { lab_show_output 20; fail "no memtest86+ banner on serial"; }
lab_memtest_running "$GUEST_OUT" || { lab_show_output 20; fail "memtest86+ started no test"; }
# shellcheck disable=SC2154 # GUEST_MARKER_MS from lab_fw_boot
echo "seabios-memtest: exec to memtest86+'s first test $GUEST_MARKER_MS ms"
