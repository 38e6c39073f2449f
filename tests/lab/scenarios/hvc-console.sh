# hvc-console — with --console virtio the guest's hvc0 is the console: the guest starts a login
# shell on hvc0, the scenario types a command into truce's stdin and reads the answer on its
# stdout. (ttyS0 still exists but its output goes nowhere, so /init's marker is not expected.)
# lab: vmm=truce timeout=150 needs=boot-bzimage
cat >hvc <<'EOF'
#!/bin/sh
# hvc — a login shell on /dev/hvc0 (controlling tty), driven from the host side.
i=0
while [ ! -c /dev/hvc0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
exec >/dev/hvc0 2>&1 || exit 0
echo HVC-READY
setsid -c sh -l <>/dev/hvc0 >&0 2>&1
exec >/dev/hvc0 2>&1 # the shell's exit hung up the tty: open it again
echo "GUEST-RESULT PASS hvc"
EOF
chmod +x hvc
mkdir -p extra-root/checks && cp hvc extra-root/checks/hvc
(cd extra-root && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
cat "$LAB_GUESTS/initrd.cpio" extra.cpio >initrd.img
GUEST_OUT=$PWD/guest.out
: >"$GUEST_OUT"
mkfifo in || fail "mkfifo failed"
# the host side of the console: wait for the shell, type a command, then end the shell
(
    i=0
    while ! grep -q HVC-READY "$GUEST_OUT" && [ $i -lt 900 ]; do sleep 0.1; i=$((i + 1)); done
    sleep 0.5
    printf 'echo HVC-$((6 * 7)) $(tty)\n'
    sleep 2
    printf 'exit\n'
    sleep 60
) >in &
writer=$!
labrun -i -t 120 -m HVC-READY -o "$GUEST_OUT" -r result -- truce run \
    --kernel "$(lab_kernel cloud)" --initrd initrd.img --console virtio --cpus 1 --memory 256M \
    --cmdline "console=ttyS0 console=hvc0 quiet lab.check=hvc" <in
kill $writer 2>/dev/null
eval "$(cat result)"
GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_TIMEOUT=120
grep -q HVC-READY "$GUEST_OUT" || { lab_show_output; fail "nothing arrived on hvc0; last line: $(lab_last_line)"; }
grep -q 'HVC-42 /dev/hvc0' "$GUEST_OUT" || { lab_show_output; fail "the shell on hvc0 did not answer; last line: $(lab_last_line)"; }
expect_guest hvc
expect_end poweroff
