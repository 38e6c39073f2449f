# ovmf — Debian's OVMF (UEFI, OVMF.fd as the BIOS) runs under QEMU with KVM in L1 to its UEFI
# shell. OVMF writes CR8 in every interrupt stub; with an in-kernel LAPIC that aborts Debian's
# own QEMU as the lab's L0, so this proves the patched L0 (tests/lab/build-l0.sh).
# lab: vmm=qemu timeout=240 l0=patched
[ -f /lab/qemu/OVMF.fd ] || fail "OVMF.fd is not in the L1 image (apt-get install ovmf)"
GUEST_OUT=$PWD/ovmf.out
qemu-system-x86_64 -L /lab/qemu -M pc -accel kvm -cpu host -m 256 -bios /lab/qemu/OVMF.fd \
    -nodefaults -no-user-config -display none -serial stdio -no-reboot \
    </dev/null >"$GUEST_OUT" 2>&1 &
pid=$!
i=0
while [ $i -lt 200 ] && kill -0 $pid 2>/dev/null && ! grep -q 'UEFI Interactive Shell' "$GUEST_OUT"; do
    sleep 1
    i=$((i + 1))
done
kill $pid 2>/dev/null
wait $pid
grep -q 'UEFI Interactive Shell' "$GUEST_OUT" ||
    fail "OVMF did not reach its UEFI shell in ${i} s; last line: $(tr '\r' '\n' <"$GUEST_OUT" | grep -v '^ *$' | tail -n 1)"
grep -q 'BdsDxe: starting' "$GUEST_OUT" || fail "no BdsDxe boot line before the shell"
