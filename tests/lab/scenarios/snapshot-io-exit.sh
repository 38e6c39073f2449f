# snapshot-io-exit — a pause lands after KVM finished the guest's last I/O instruction: the
# freestanding "stream" guest (build/guests/actions.elf) prints numbered lines through the UART as
# fast as it can (two port exits a character), and is paused, snapshotted, killed and restored in
# a new truce process 20 times. Under nested SVM an IN or OUT is finished only when KVM_RUN is
# entered again; a snapshot taken before that makes the restored guest repeat the instruction
# (a doubled character, or a lost transmit interrupt for a Linux guest). Every line must be
# "s<7 digits>", one more than the one before.
# lab: vmm=truce timeout=400
G=/lab/tguests/actions.elf
[ -f "$G" ] || fail "$G is not in L1 (build/guests/actions.elf; make guests)"
OUT=$PWD/guest.out
cat >vm.json <<JSON
{"boot-source": {"kernel_image_path": "$G", "boot_args": "stream"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32},
 "serial": {"serial_out_path": "$OUT"}}
JSON
S=$PWD/api0.sock
lab_truce_api "$S" --config-file vm.json
c=1
while [ $c -le 20 ]; do
    sleep 0.5
    lab_want 204 "$S" PATCH /vm '{"state": "Paused"}'
    lab_want 204 "$S" PUT /snapshot/create "{\"snapshot_path\": \"$PWD/vm.state\",
        \"mem_file_path\": \"$PWD/vm.mem\", \"snapshot_type\": \"Full\"}"
    kill -TERM "$VMM_PID"
    wait "$VMM_PID" 2>/dev/null
    cuts="$cuts $(tail -c 12 "$OUT" | tr '\n' '|')"
    S=$PWD/api$c.sock
    lab_truce_api "$S"
    lab_want 204 "$S" PUT /snapshot/load "{\"snapshot_path\": \"$PWD/vm.state\",
        \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$PWD/vm.mem\"},
        \"resume_vm\": true}"
    c=$((c + 1))
done
sleep 0.5
kill -KILL "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
lines=$(grep -c '^s' "$OUT")
bad=$(sed -n '/^s0000000$/,$p' "$OUT" | sed '$d' | awk '
    !/^s[0-9][0-9][0-9][0-9][0-9][0-9][0-9]$/ { print NR ": \"" $0 "\""; exit }
    { n = substr($0, 2); sub(/^0+/, "", n); n += 0 }
    NR > 1 && n != prev + 1 { print NR ": " $0 " after s" prev; exit }
    { prev = n }')
if [ -n "$bad" ]; then
    n=${bad%%:*}
    around=$(sed -n '/^s0000000$/,$p' "$OUT" | sed -n "$((n - 2)),$((n + 1))p" | tr '\n' '|')
    fail "line $bad ($lines lines over 20 restores; lines around it: $around; the saved VM's last bytes:$cuts)"
fi
[ "$lines" -ge 100 ] || fail "only $lines lines over 20 restores"
echo "snapshot-io-exit: 20 restores mid-stream, $lines lines, none repeated, broken or lost"
