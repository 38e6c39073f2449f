# ovmf-vars — UEFI variables persist: the guest writes a non-volatile variable through efivarfs
# (OVMF's runtime variable service programs truce's CFI flash, backed by --firmware-vars), and
# the next boot with the same vars file reads it back; OVMF_CODE's bytes never change.
# lab: vmm=truce timeout=300 l0=patched needs=ovmf-kernel
code=/usr/share/OVMF/OVMF_CODE_4M.fd
[ -f $code ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd
sum0=$(sha256sum <$code)
val=truce-$$-$(date +%s)
guest_boot -a "lab.check=efivar:write:$val" -x --firmware -x ovmf -x --firmware-vars \
    -x "$PWD/vars.fd" -t 130
expect_init
expect_guest efivar
expect_end poweroff
cmp -s vars.fd /usr/share/OVMF/OVMF_VARS_4M.fd && fail "the vars file is unchanged after the write"
grep -a -q "$val" vars.fd || fail "the value is not in the vars file"
guest_boot -a "lab.check=efivar:read:$val" -x --firmware -x ovmf -x --firmware-vars \
    -x "$PWD/vars.fd" -t 130
expect_init
expect_guest efivar
expect_end poweroff
[ "$(sha256sum <$code)" = "$sum0" ] || fail "OVMF_CODE changed on disk"
echo "ovmf-vars: the second boot reached /init after ${GUEST_MARKER_MS} ms"
