# api-lifecycle — the Debian cloud kernel configured and started purely over the Firecracker API
# with curl --unix-socket; paused 2 s (the guest's clock and its running counter do not advance),
# resumed, its drive swapped (the guest sees the new size and data), and Ctrl-Alt-Del ending it
# cleanly (the guest powers off: status 0).
# lab: vmm=truce timeout=300 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
GUEST_OUT=$PWD/guest.out
SOCK=$PWD/api.sock

# The last "tick N UPTIME" line of the guest, as "N UPTIME".
last_tick() {
    tr -d '\r' <"$GUEST_OUT" | grep -aE '^tick [0-9]+ [0-9.]+$' | tail -n 1 | cut -d' ' -f2-
}

cat >apiwatch <<'EOF'
#!/bin/sh
# apiwatch — prints "tick N UPTIME" every 0.2 s; reports /dev/vda's size and first bytes when the
# size changes; takes Ctrl-Alt-Del (it becomes cad_pid), reports it and powers off.
r() { echo "GUEST-RESULT $1 apiwatch $2"; }
# the kernel's default is an immediate restart; 0 sends SIGINT to cad_pid instead
echo 0 >/proc/sys/kernel/ctrl-alt-del && echo $$ >/proc/sys/kernel/cad_pid ||
    { r FAIL "cannot take Ctrl-Alt-Del"; exit 0; }
trap 'echo "apiwatch: ctrl-alt-del"; r PASS; sync; poweroff -f' INT
[ -b /dev/vda ] || { r FAIL "no /dev/vda"; exit 0; }
size=$(cat /sys/block/vda/size)
echo "apiwatch: vda-size $size $(head -c 8 /dev/vda)"
n=0
while :; do
    n=$((n + 1))
    echo "tick $n $(cut -d' ' -f1 /proc/uptime)"
    s=$(cat /sys/block/vda/size)
    if [ "$s" != "$size" ]; then
        size=$s
        echo 3 >/proc/sys/vm/drop_caches
        echo "apiwatch: vda-size $size $(head -c 8 /dev/vda)"
    fi
    sleep 0.2
done
EOF
chmod +x apiwatch
mkdir -p extra-root/checks && cp apiwatch extra-root/checks/ || fail "cannot stage apiwatch"
(cd extra-root && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
cat "$LAB_GUESTS/initrd.cpio" extra.cpio >initrd.img || fail "cannot build the initrd"
{ printf 'DISK-ONE'; head -c 8388600 /dev/zero; } >disk1.img  # 8 MiB: 16384 sectors
{ printf 'DISK-TWO'; head -c 16777208 /dev/zero; } >disk2.img # 16 MiB: 32768 sectors

truce --api-sock "$SOCK" --id lab-api --level Info </dev/null >truce.out 2>&1 &
VMM_PID=$!
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$SOCK" ] || fail "truce --api-sock made no socket: $(tail -n 1 truce.out)"

want 200 GET /
grep -q '"state":"Not started"' api.body || fail "GET / before boot: $(cat api.body)"
want 204 PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=apiwatch\"}"
want 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
want 204 PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$PWD/disk1.img\",
    \"is_root_device\": false, \"is_read_only\": true}"
want 204 PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
want 204 PUT /actions '{"action_type": "InstanceStart"}'
want 400 PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\"}" # pre-boot only
wait_out '^apiwatch: vda-size 16384 DISK-ONE' 180
wait_out '^tick 10 ' 60

# Pause 2 s: no output, and afterwards the guest clock shows (almost) none of the pause.
want 204 PATCH /vm '{"state": "Paused"}'
want 200 GET /
grep -q '"state":"Paused"' api.body || fail "GET / while paused: $(cat api.body)"
before=$(last_tick)
size=$(wc -c <"$GUEST_OUT")
sleep 2
[ "$(wc -c <"$GUEST_OUT")" = "$size" ] || fail "the guest kept printing while paused"
want 204 PATCH /vm '{"state": "Resumed"}'
n1=${before% *}
wait_out "^tick $((n1 + 3)) " 30
after=$(tr -d '\r' <"$GUEST_OUT" | grep -aE "^tick $((n1 + 1)) " | head -n 1 | cut -d' ' -f3)
# normal tick spacing in guest time: the median of the gaps before the pause
gap=$(tr -d '\r' <"$GUEST_OUT" | grep -aE '^tick [0-9]+ [0-9.]+$' | head -n "$n1" |
    awk 'NR > 1 { print $3 - prev } { prev = $3 }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "api-lifecycle: tick $n1 at ${before#* } s, tick $((n1 + 1)) at $after s, usual gap $gap s"
awk -v a="${before#* }" -v b="$after" -v g="$gap" 'BEGIN { exit !(b - a < g + 1.0) }' ||
    fail "the guest clock advanced $(awk -v a="${before#* }" -v b="$after" 'BEGIN { print b - a }') s across a 2 s pause (usual gap $gap s)"

# Swap the drive: the guest gets a config-change interrupt and sees the new size and bytes. A
# refused swap is reported at the end, after Ctrl-Alt-Del has been checked too.
swap_err=
s=$(api PATCH /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$PWD/disk2.img\"}")
if [ "$s" = 204 ]; then
    wait_out '^apiwatch: vda-size 32768 DISK-TWO' 60
else
    swap_err="PATCH /drives/data answered $s, want 204: $(cat api.body)"
fi

# Ctrl-Alt-Del through the i8042: the guest's handler powers off, truce exits 0.
want 204 PUT /actions '{"action_type": "SendCtrlAltDel"}'
i=0
while kill -0 "$VMM_PID" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$VMM_PID" 2>/dev/null; then
    kill "$VMM_PID"
    lab_show_output
    fail "truce still running 60 s after SendCtrlAltDel"
fi
wait "$VMM_PID"
status=$?
tr -d '\r' <"$GUEST_OUT" | grep -aq '^GUEST-RESULT PASS apiwatch' ||
    fail "the guest did not report Ctrl-Alt-Del; last line: $(lab_last_line)"
[ $status = 0 ] || fail "truce exited $status after the guest powered off, want 0: $(tail -n 1 truce.out)"
[ -e "$SOCK" ] && fail "the API socket was left behind"
[ -z "$swap_err" ] || fail "$swap_err"
true
