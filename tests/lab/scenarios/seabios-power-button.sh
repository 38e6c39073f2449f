# seabios-power-button — the ACPI power button of a firmware machine: the cloud kernel booted
# through SeaBIOS over the API (`PUT /boot-source` with "firmware": "seabios") runs on full ACPI;
# its button driver enables the fixed power-button event, `PUT /actions SendPowerButton` (a
# truce extension) presses it, the PIIX4 raises the SCI on IRQ 9 and the guest's ACPI core counts
# the event (guest check powerbtn); the guest then powers off (status 0). Before the driver
# listens, the press is refused with 400.
# lab: vmm=truce timeout=200 needs=seabios l0=patched
command -v curl >/dev/null || fail "curl is not in the L1 image"
GUEST_OUT=$PWD/guest.out
SOCK=$PWD/api.sock
truce --api-sock "$SOCK" --id lab-pwrbtn --level Info </dev/null >truce.out 2>&1 &
VMM_PID=$!
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$SOCK" ] || fail "truce --api-sock made no socket: $(tail -n 1 truce.out)"
want 204 PUT /boot-source "{\"firmware\": \"seabios\", \"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$LAB_GUESTS/initrd.cpio\",
    \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=powerbtn:60 lab.end=poweroff\"}"
want 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
want 204 PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
want 204 PUT /actions '{"action_type": "InstanceStart"}'
s=$(api PUT /actions '{"action_type": "SendPowerButton"}') # SeaBIOS or an early kernel: no listener
[ "$s" = 400 ] && grep -q 'not enabled' api.body ||
    echo "seabios-power-button: an early press answered $s: $(cat api.body) (the guest was already listening)"
i=0
until tr -d '\r' <"$GUEST_OUT" 2>/dev/null | grep -aq '^powerbtn: ready'; do
    kill -0 "$VMM_PID" 2>/dev/null || fail "truce ended before the guest listened: $(tail -n 3 truce.out)"
    [ $i -lt 1500 ] || { kill "$VMM_PID"; fail "the guest never said 'powerbtn: ready'; last line: $(tail -n 1 "$GUEST_OUT")"; }
    sleep 0.1
    i=$((i + 1))
done
want 204 PUT /actions '{"action_type": "SendPowerButton"}'
i=0
while kill -0 "$VMM_PID" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$VMM_PID" 2>/dev/null; then
    kill "$VMM_PID"
    fail "truce still running 60 s after SendPowerButton; last line: $(tail -n 1 "$GUEST_OUT")"
fi
wait "$VMM_PID"
status=$?
tr -d '\r' <"$GUEST_OUT" | grep -a '^powerbtn:'
tr -d '\r' <"$GUEST_OUT" | grep -aq '^GUEST-RESULT PASS powerbtn' ||
    fail "the guest did not see the press: $(tr -d '\r' <"$GUEST_OUT" | grep -a 'GUEST-RESULT' | tail -n 1)"
[ "$status" = 0 ] || fail "truce exited $status, want 0 (power-off): $(tail -n 1 truce.out)"
grep -q 'powered off (PIIX4 PM1_CNT)' truce.out || fail "the power-off did not go through PM1_CNT"
