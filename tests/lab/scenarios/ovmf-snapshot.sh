# ovmf-snapshot — a Debian guest booted through OVMF (under the API, with --firmware-vars) is
# paused, snapshotted, killed and restored in a new truce process, and only then writes a UEFI
# variable: OVMF's runtime variable service programs the CFI flash, which the restored machine
# must have mapped again (a snapshot's memory file holds guest RAM only); the value lands in the
# vars file, and OVMF_CODE's bytes never change.
# lab: vmm=truce timeout=420 l0=patched needs=ovmf-kernel
code=/usr/share/OVMF/OVMF_CODE_4M.fd
[ -f $code ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd
sum0=$(sha256sum <$code)
val=snap-$$-$(date +%s)
OUT=$PWD/guest.out
cat >efisnap <<'CHECK'
#!/bin/sh
# efisnap — check: say "efisnap: ready", wait 20 s of guest time (the host snapshots and restores
# the VM meanwhile), then write the UEFI variable ARG (the efivar check).
echo "efisnap: ready"
sleep 20
/checks/efivar "write:$1"
CHECK
chmod +x efisnap
lab_initrd initrd.img efisnap:/checks/efisnap
wait_out() { # wait_out PATTERN SECONDS
    local i=0
    while [ $i -lt $(($2 * 10)) ]; do
        tr -d '\r' <"$OUT" 2>/dev/null | grep -aq "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    fail "no '$1' within $2 s: $(tr -d '\r' <"$OUT" | tail -n 3 | tr '\n' '|') $(tail -n 1 truce.out)"
}
S=$PWD/api0.sock
lab_truce_api "$S" --enable-pci --level Debug
lab_want 204 "$S" PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=efisnap:$val\",
    \"firmware\": \"ovmf\", \"firmware_vars\": \"$PWD/vars.fd\"}"
lab_want 204 "$S" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
lab_want 204 "$S" PUT /serial "{\"serial_out_path\": \"$OUT\"}"
lab_want 204 "$S" PUT /actions '{"action_type": "InstanceStart"}'
wait_out "efisnap: ready" 240
lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
lab_want 204 "$S" PUT /snapshot/create "{\"snapshot_path\": \"$PWD/vm.state\",
    \"mem_file_path\": \"$PWD/vm.mem\", \"snapshot_type\": \"Full\"}"
kill -TERM "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
grep -aq "$val" vars.fd && fail "the value is in the vars file before the restore"
S=$PWD/api1.sock
lab_truce_api "$S" --enable-pci --level Debug
lab_want 204 "$S" PUT /snapshot/load "{\"snapshot_path\": \"$PWD/vm.state\",
    \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$PWD/vm.mem\"},
    \"resume_vm\": true}"
wait_out "GUEST-RESULT [A-Z]* efivar" 120
tr -d '\r' <"$OUT" | grep -aq "GUEST-RESULT PASS efivar" ||
    fail "after the restore: $(tr -d '\r' <"$OUT" | grep -a 'GUEST-RESULT' | tail -n 1)"
kill -TERM "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
grep -aq "$val" vars.fd ||
    fail "the value written after the restore is not in the vars file: $(grep -ai 'flash\|firmware' truce.out | tail -n 4 | tr '\n' '|')"
[ "$(sha256sum <$code)" = "$sum0" ] || fail "OVMF_CODE changed on disk"
echo "ovmf-snapshot: the restored guest wrote a UEFI variable into $PWD/vars.fd"
