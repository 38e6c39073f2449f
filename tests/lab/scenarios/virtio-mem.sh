# virtio-mem — memory hotplug over the Firecracker API (virtio on PCI: --enable-pci): 512 MiB of
# hotplug memory configured with PUT /hotplug/memory, the Debian cloud kernel's virtio_mem plugs
# 256 MiB after PATCH requested_size_mib 256 (MemTotal grows by it, GET reports it plugged), then
# unplugs it all after PATCH 0 (MemTotal back down, GET reports 0 plugged); truce's RSS is
# reported at each step.
# lab: vmm=truce timeout=150 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
GUEST_OUT=$PWD/guest.out
SOCK=$PWD/api.sock
# The last MemTotal (KiB) the guest printed.
memtotal() {
    tr -d '\r' <"$GUEST_OUT" | grep -aE '^memwatch: MemTotal [0-9]+$' | tail -n 1 | cut -d' ' -f3
}
# wait_mem TEST SECONDS: wait until the guest's MemTotal passes TEST (an awk condition on m).
wait_mem() {
    local i=0 m
    while [ $i -lt $(($2 * 10)) ]; do
        m=$(memtotal)
        [ -n "$m" ] && awk -v m="$m" "BEGIN { exit !($1) }" && return 0
        kill -0 "$VMM_PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    lab_show_output
    fail "MemTotal never satisfied '$1' within $2 s (last: ${m:-none} KiB; $(cat api.body))"
}
rss() { awk '/^VmRSS/ {print $2}' "/proc/$VMM_PID/status"; }

cat >memwatch <<'EOF'
#!/bin/sh
# memwatch — prints MemTotal whenever it changes; Ctrl-Alt-Del powers off.
r() { echo "GUEST-RESULT $1 memwatch $2"; }
echo 0 >/proc/sys/kernel/ctrl-alt-del && echo $$ >/proc/sys/kernel/cad_pid ||
    { r FAIL "cannot take Ctrl-Alt-Del"; exit 0; }
trap 'r PASS; poweroff -f' INT
last=
while :; do
    m=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
    [ "$m" != "$last" ] && echo "memwatch: MemTotal $m" && last=$m
    sleep 0.2
done
EOF
chmod +x memwatch
mkdir -p extra-root/checks && cp memwatch extra-root/checks/ || fail "cannot stage memwatch"
(cd extra-root && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
cat "$LAB_GUESTS/initrd.cpio" extra.cpio >initrd.img || fail "cannot build the initrd"

truce --api-sock "$SOCK" --id lab-mem --enable-pci </dev/null >truce.out 2>&1 &
VMM_PID=$!
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$SOCK" ] || fail "truce --api-sock made no socket: $(tail -n 1 truce.out)"
want 204 PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\",
    \"boot_args\": \"$LAB_BASE_CMDLINE memhp_default_state=online_movable lab.check=memwatch\"}"
want 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
want 204 PUT /hotplug/memory '{"total_size_mib": 512, "block_size_mib": 2, "slot_size_mib": 128}'
want 204 PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
want 204 PUT /actions '{"action_type": "InstanceStart"}'
wait_mem "m > 0" 120
sleep 1
base=$(memtotal)
rss0=$(rss)
want 200 GET /hotplug/memory
echo "virtio-mem: booted, MemTotal $base KiB, truce RSS $rss0 KiB, $(cat api.body)"

want 204 PATCH /hotplug/memory '{"requested_size_mib": 256}'
wait_mem "m >= $base + 256 * 1024" 60
want 200 GET /hotplug/memory
grep -q '"plugged_size_mib":256' api.body || fail "GET after plugging: $(cat api.body)"
rss1=$(rss)
echo "virtio-mem: plugged, MemTotal $(memtotal) KiB, truce RSS $rss1 KiB, $(cat api.body)"

want 204 PATCH /hotplug/memory '{"requested_size_mib": 0}'
wait_mem "m <= $base" 60
i=0
while [ $i -lt 100 ]; do
    api GET /hotplug/memory >/dev/null
    grep -q '"plugged_size_mib":0' api.body && break
    sleep 0.1
    i=$((i + 1))
done
grep -q '"plugged_size_mib":0' api.body || fail "GET after unplugging: $(cat api.body)"
echo "virtio-mem: unplugged, MemTotal $(memtotal) KiB, truce RSS $(rss) KiB, $(cat api.body)"
want 400 PATCH /hotplug/memory '{"requested_size_mib": 1024}'

want 204 PUT /actions '{"action_type": "SendCtrlAltDel"}'
i=0
while kill -0 "$VMM_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$VMM_PID" 2>/dev/null; then
    kill "$VMM_PID"
    fail "truce still running 30 s after SendCtrlAltDel"
fi
wait "$VMM_PID"
status=$?
tr -d '\r' <"$GUEST_OUT" | grep -aq '^GUEST-RESULT PASS memwatch' ||
    fail "the guest did not report Ctrl-Alt-Del; last line: $(lab_last_line)"
[ $status = 0 ] || fail "truce exited $status, want 0: $(tail -n 1 truce.out)"
