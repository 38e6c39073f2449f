# balloon — virtio-balloon through the Firecracker API on the Debian cloud kernel. VM 1 (virtio-mmio,
# deflate-on-OOM, statistics): the guest fills and frees 200 MiB of tmpfs, PATCH /balloon
# inflates over nearly all its free memory and truce's RSS (/proc/PID/status in L1) drops by
# >= 150 MiB; GET /balloon/statistics has the guest's figures; then the guest allocates 64 MiB
# more than it has free, which works because the balloon deflates on OOM (the statistics show
# it smaller), and PATCH to 0 gives the guest the rest back. VM 2 (--enable-pci,
# free page reporting and hinting): the guest frees 200 MiB and reporting alone brings truce's
# RSS >= 150 MiB below its peak; a hinting run started by the API ends with the guest's STOP
# answered by DONE. init_on_alloc=0 spares the nested guest zeroing pages it gives away.
# lab: vmm=truce timeout=480 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
GUEST_OUT=$PWD/guest.out
SOCK=$PWD/api.sock
MEM=320

want() {
    local s
    s=$(api "$2" "$3" "${4:-}")
    [ "$s" = "$1" ] ||
        fail "$2 $3 answered $s, want $1: $(cat api.body) (truce: $(tail -n 2 truce-*.out | tr '\n' ' '))"
}
kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$VMM_PID/status"; } # VmRSS, VmHWM
field() { grep -o "\"$1\":[0-9]*" api.body | cut -d: -f2; }             # from api.body

cat >balloon <<'CHECK'
#!/bin/sh
# balloon MODE — fill and free 200 MiB of tmpfs. MODE 1: wait for the host's inflation (MemFree
# low), then for its go (it gives 24 MiB back), then allocate 64 MiB more than is free (the
# balloon must deflate on OOM), free it and wait for the host to deflate the balloon to 0.
# MODE 2: wait until the host inflates 8 MiB (its sign that it is done: MemTotal shrinks).
r() { echo "GUEST-RESULT $1 balloon $2"; exit 0; }
mi() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' /proc/meminfo; }
w() { i=0; while [ $i -lt 2400 ]; do eval "$1" && return 0; sleep 0.1; i=$((i + 1)); done; return 1; }
ls /sys/bus/virtio/drivers/virtio_balloon 2>/dev/null | grep -q virtio || r FAIL "no device bound to virtio_balloon"
mkdir -p /t && mount -t tmpfs -o size=90% tmpfs /t || r FAIL "cannot mount tmpfs"
dd if=/dev/zero of=/t/a bs=1M count=200 2>/dev/null || r FAIL "cannot fill 200 MiB"
rm /t/a
total=$(mi MemTotal)
echo "BALLOON-READY $(($(mi MemFree) - 32)) total $total"
if [ "$1" = 2 ]; then
    w "[ \$(mi MemTotal) -le $((total - 4)) ]" || r FAIL "the host never inflated 8 MiB"
    r PASS
fi
w '[ $(mi MemFree) -lt 48 ]' || r FAIL "no inflation seen (MemFree $(mi MemFree) MiB)"
w '[ $(mi MemFree) -ge 52 ]' || r FAIL "no go from the host (MemFree $(mi MemFree) MiB)"
free=$(mi MemFree)
dd if=/dev/zero of=/t/b bs=1M count=$((free + 64)) 2>/dev/null ||
    r FAIL "cannot allocate $((free + 64)) MiB with $free MiB free (deflate on OOM)"
echo "balloon: allocated $((free + 64)) MiB with $free MiB free; oom_kill $(awk '$1 == "oom_kill" { print $2 }' /proc/vmstat)"
rm /t/b
f0=$(mi MemFree)
w "[ \$(mi MemFree) -ge $((f0 + 64)) ]" || r FAIL "the host's deflation to 0 never came (MemFree $(mi MemFree) MiB)"
echo "balloon: deflated, MemFree $f0 -> $(mi MemFree) MiB"
r PASS
CHECK
chmod +x balloon
mkdir -p extra-root/checks && cp balloon extra-root/checks/ || fail "cannot stage the check"
(cd extra-root && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
cat "$LAB_GUESTS/initrd.cpio" extra.cpio >initrd.img || fail "cannot build the initrd"

# start_vm MODE BALLOON-JSON [TRUCE-FLAG]: a guest of $MEM MiB running the check in MODE; returns
# once it has freed its 200 MiB, with TARGET = its free memory less 32 MiB.
start_vm() {
    rm -f "$SOCK" "$GUEST_OUT"
    truce --api-sock "$SOCK" --id "lab-balloon-$1" ${3:-} </dev/null >"truce-$1.out" 2>&1 &
    VMM_PID=$!
    local i=0
    while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    [ -S "$SOCK" ] || fail "truce --api-sock made no socket: $(tail -n 1 "truce-$1.out")"
    want 204 PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
        \"initrd_path\": \"$PWD/initrd.img\",
        \"boot_args\": \"$LAB_BASE_CMDLINE init_on_alloc=0 lab.check=balloon:$1\"}"
    want 204 PUT /machine-config "{\"vcpu_count\": 1, \"mem_size_mib\": $MEM}"
    want 204 PUT /balloon "$2"
    want 204 PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
    want 204 PUT /actions '{"action_type": "InstanceStart"}'
    wait_out '^BALLOON-READY [0-9]+' 240
    TARGET=$(tr -d '\r' <"$GUEST_OUT" | grep -a '^BALLOON-READY' | cut -d' ' -f2)
}

# end_vm MODE: the guest passes its check and powers off; truce exits 0.
end_vm() {
    local i=0
    while kill -0 "$VMM_PID" 2>/dev/null && [ $i -lt 2400 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$VMM_PID" 2>/dev/null; then
        kill "$VMM_PID"
        lab_show_output
        fail "VM $1: truce still running; last line: $(lab_last_line)"
    fi
    wait "$VMM_PID"
    local status=$?
    tr -d '\r' <"$GUEST_OUT" | grep -a '^balloon:'
    tr -d '\r' <"$GUEST_OUT" | grep -aq '^GUEST-RESULT PASS balloon' ||
        fail "VM $1: $(tr -d '\r' <"$GUEST_OUT" | grep -a 'GUEST-RESULT' | tail -n 1)"
    [ $status = 0 ] || fail "VM $1: truce exited $status: $(tail -n 1 "truce-$1.out")"
}

T0=$(date +%s)
# ---- VM 1: inflate by PATCH, RSS drops; statistics; deflate on OOM ----------------------------
start_vm 1 '{"amount_mib": 0, "deflate_on_oom": true, "stats_polling_interval_s": 1}'
rss0=$(kib VmRSS)
t0=$(date +%s)
want 204 PATCH /balloon "{\"amount_mib\": $TARGET}"
i=0
while [ $i -lt 900 ]; do
    want 200 GET /balloon/statistics
    [ "$(field actual_mib)" -ge "$TARGET" ] && break
    sleep 0.1
    i=$((i + 1))
done
[ "$(field actual_mib)" -ge "$TARGET" ] || fail "the balloon reached $(cat api.body), want $TARGET MiB"
rss1=$(kib VmRSS)
echo "balloon: VM 1 inflated to $TARGET MiB in $(($(date +%s) - t0)) s: truce RSS $((rss0 / 1024)) -> $((rss1 / 1024)) MiB"
echo "balloon: statistics $(cat api.body)"
[ $((rss0 - rss1)) -ge $((150 * 1024)) ] ||
    fail "inflating $TARGET MiB took truce's RSS from $((rss0 / 1024)) to only $((rss1 / 1024)) MiB"
tot=$(field total_memory) free=$(field free_memory)
[ -n "$tot" ] && [ -n "$free" ] && [ -n "$(field available_memory)" ] ||
    fail "GET /balloon/statistics has no guest figures: $(cat api.body)"
[ $((tot / 1048576)) -gt $((MEM - 64)) ] && [ $((tot / 1048576)) -le $MEM ] ||
    fail "total_memory $tot is not about $MEM MiB"
want 200 GET /balloon
grep -q "\"amount_mib\":$TARGET" api.body || fail "GET /balloon: $(cat api.body)"
want 204 PATCH /balloon "{\"amount_mib\": $((TARGET - 24))}" # the guest's go
wait_out '^balloon: allocated' 240
want 200 GET /balloon/statistics
echo "balloon: after the guest's allocation: $(cat api.body)"
[ "$(field actual_mib)" -lt $((TARGET - 24)) ] ||
    fail "the balloon did not deflate on OOM: $(cat api.body)"
want 204 PATCH /balloon '{"amount_mib": 0}'
end_vm 1
echo "balloon: VM 1 took $(($(date +%s) - T0)) s"
T0=$(date +%s)

# ---- VM 2 (PCI): free page reporting alone; a hinting run ------------------------------------
start_vm 2 '{"amount_mib": 0, "deflate_on_oom": false, "free_page_reporting": true,
    "free_page_hinting": true}' --enable-pci
i=0
while [ $i -lt 300 ] && [ $(($(kib VmHWM) - $(kib VmRSS))) -lt $((150 * 1024)) ]; do
    sleep 0.1
    i=$((i + 1))
done
hwm=$(kib VmHWM) rss=$(kib VmRSS)
echo "balloon: VM 2 reporting: truce RSS $((rss / 1024)) MiB, peak $((hwm / 1024)) MiB"
[ $((hwm - rss)) -ge $((150 * 1024)) ] ||
    fail "free page reporting: RSS $((rss / 1024)) MiB, only $(((hwm - rss) / 1024)) MiB below its peak"
want 204 PATCH /balloon/hinting/start '{}'
i=0
while [ $i -lt 600 ]; do
    want 200 GET /balloon/hinting/status
    grep -q '"guest_cmd":0' api.body && grep -q '"host_cmd":1' api.body && break
    sleep 0.1
    i=$((i + 1))
done
echo "balloon: hinting status $(cat api.body)"
grep -q '"guest_cmd":0' api.body && grep -q '"host_cmd":1' api.body ||
    fail "the hinting run did not end with STOP and DONE: $(cat api.body)"
want 204 PATCH /balloon '{"amount_mib": 8}' # the guest's sign to end
end_vm 2
echo "balloon: VM 2 took $(($(date +%s) - T0)) s"
