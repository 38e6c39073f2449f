# ratelimit — Firecracker's rate limiters, measured from a Debian guest configured over the API: a
# drive limited to 10 MB/s (O_DIRECT reads) and a tap interface limited to 20 Mbit/s each way
# (TCP streams to and from L1); then both limits are lowered live with PATCH (1 MB/s, 1 Mbit/s:
# far below what the guest reaches even on a loaded host) and measured again. Each measured rate
# must stay within 10% of its bound, what a token bucket lets through at most: the limit, plus
# the bucket's size and one largest request spread over the measurement. The figures are
# printed, not otherwise judged; the lowered limits must lower the rates, the metrics show the
# devices throttled, GET /vm/config shows the new limits, and no received frame was dropped.
# lab: vmm=truce timeout=240 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
GUEST_OUT=$PWD/guest.out
SOCK=$PWD/api.sock

cat >check <<'EOF'
#!/bin/sh
# ratelimit — check (needs /bin/nettool): eth0 is 10.9.0.2, L1 10.9.0.1 (sink on 5001, sources on
# 5002 and 5003). Measures /dev/vda reads and TCP both ways, prints "ratelimit: TAG bytes=B
# seconds=S", says "ratelimit: waiting" and waits for L1's "patched" on port 7000, measures again.
r() { echo "GUEST-RESULT $1 ratelimit${2:+ $2}"; exit 0; }
up() { cut -d' ' -f1 /proc/uptime; }
disk() { # TAG MIB SKIP_MIB: O_DIRECT reads of 64 KiB (smaller than either bucket)
    echo 3 >/proc/sys/vm/drop_caches
    t0=$(up)
    dd if=/dev/vda of=/dev/null bs=64k count=$(($2 * 16)) skip=$(($3 * 16)) iflag=direct \
        2>/dev/null || r FAIL "reading /dev/vda failed"
    t1=$(up)
    echo "ratelimit: $1 bytes=$(($2 * 1048576)) seconds=$(awk -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%.2f", b - a }')"
}
net() { # TAG sendrate|recvrate ADDR [BYTES]
    out=$(nettool "$2" "$3" $4) || r FAIL "$1: nettool $2 $3 failed: $out"
    echo "ratelimit: $1 $out"
}
ip link set eth0 up && ip addr add 10.9.0.2/24 dev eth0 || r FAIL "no eth0"
i=0
until ping -c 1 -W 1 10.9.0.1 >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 60 ] || r FAIL "L1 (10.9.0.1) never answered ping"
done
disk disk1 20 0
net tx1 sendrate tcp:10.9.0.1:5001 2500000
net rx1 recvrate tcp:10.9.0.1:5002
echo "ratelimit: waiting"
w=$(nettool recv tcp::7000) || r FAIL "no word from L1"
[ "$w" = patched ] || r FAIL "L1 sent '$w', not patched"
disk disk2 2 32
net tx2 sendrate tcp:10.9.0.1:5001 250000
net rx2 recvrate tcp:10.9.0.1:5003
r PASS
EOF
chmod +x check

# bucket JSON for SIZE bytes every 100 ms
bucket() { echo "{\"bandwidth\": {\"size\": $1, \"refill_time\": 100}}"; }

l1_modprobe tun || fail "insmod tun failed"
ip link set lo up
mkdir -p extra/checks extra/bin
cp check extra/checks/ratelimit
cp "$(command -v nettool)" extra/bin/nettool
(cd extra && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
cat "$LAB_GUESTS/initrd.cpio" extra.cpio >initrd.img || fail "cannot build the initrd"
dd if=/dev/zero of=disk.img bs=1M count=0 seek=64 2>/dev/null # 64 MiB, sparse
nettool sink tcp::5001 &
s1=$!
nettool source tcp::5002 2500000 &
s2=$!
nettool source tcp::5003 250000 &
s3=$!
(
    i=0
    while [ ! -e /sys/class/net/tap0 ] && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    ip addr add 10.9.0.1/24 dev tap0
    ip link set tap0 up
) &

truce --api-sock "$SOCK" --id lab-rl --metrics-path "$PWD/metrics.json" </dev/null \
    >truce.out 2>&1 &
VMM_PID=$!
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$SOCK" ] || fail "truce --api-sock made no socket: $(tail -n 1 truce.out)"
want 204 PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=ratelimit\"}"
want 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
want 204 PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$PWD/disk.img\",
    \"is_root_device\": false, \"is_read_only\": true, \"rate_limiter\": $(bucket 1000000)}"
want 204 PUT /network-interfaces/eth0 "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\",
    \"rx_rate_limiter\": $(bucket 250000), \"tx_rate_limiter\": $(bucket 250000)}"
want 204 PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
want 204 PUT /actions '{"action_type": "InstanceStart"}'
wait_out '^ratelimit: waiting' 180

# Lower both limits live, check that the configuration says so, let the guest go on.
want 204 PATCH /drives/data "{\"drive_id\": \"data\", \"rate_limiter\": $(bucket 100000)}"
want 204 PATCH /network-interfaces/eth0 "{\"iface_id\": \"eth0\",
    \"rx_rate_limiter\": $(bucket 12500), \"tx_rate_limiter\": $(bucket 12500)}"
want 200 GET /vm/config
grep -q '"rate_limiter":{"bandwidth":{"size":100000,' api.body ||
    fail "GET /vm/config does not show the drive's new limit: $(cat api.body)"
[ "$(grep -o '_rate_limiter":{"bandwidth":{"size":12500,' api.body | wc -l)" = 2 ] ||
    fail "GET /vm/config does not show the interface's new limits: $(cat api.body)"
i=0
until echo patched | nettool connect tcp:10.9.0.2:7000 >/dev/null 2>&1; do
    sleep 0.2
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the guest never took the word on port 7000"
done
wait_out '^GUEST-RESULT ' 120
i=0 # the guest powers off; truce writes a last metrics line as it exits
while kill -0 "$VMM_PID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill "$VMM_PID" 2>/dev/null
wait "$VMM_PID"
status=$?
kill "$s1" "$s2" "$s3" 2>/dev/null
expect_guest ratelimit

# TAG LIMIT(B/s) SIZE MAXREQ (bytes): the measured rate and its bound, 1.1 x (LIMIT + (SIZE +
# MAXREQ) / seconds): a full bucket at the start, and a last request let through on credit (one
# larger than the bucket goes through and is paid for afterwards).
judge() {
    local line
    line=$(tr -d '\r' <"$GUEST_OUT" | grep -a "^ratelimit: $1 " | head -n 1)
    [ -n "$line" ] || fail "no figure for $1"
    echo "$line" | awk -v tag="$1" -v lim="$2" -v size="$3" -v maxreq="$4" '{
        for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        rate = v["bytes"] / v["seconds"]; bound = 1.1 * (lim + (size + maxreq) / v["seconds"])
        steady = (v["bytes"] > size ? v["bytes"] - size : 0) / v["seconds"] # past the first bucket
        printf "ratelimit: %s %.0f bytes in %.2f s = %.2f MB/s (%.1f Mbit/s); limit %.2f MB/s, bound %.2f MB/s; ratio to limit %.3f, without the first full bucket %.3f\n",
            tag, v["bytes"], v["seconds"], rate / 1e6, rate * 8 / 1e6, lim / 1e6, bound / 1e6, rate / lim, steady / lim
        exit !(v["seconds"] > 0 && rate <= bound)
    }' || fail "$1 went faster than its limit allows: $line"
}
rate() { # TAG: bytes per second as measured
    tr -d '\r' <"$GUEST_OUT" | grep -a "^ratelimit: $1 " | head -n 1 | awk '{
        for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%.0f", v["bytes"] / v["seconds"] }'
}
# requests: 64 KiB reads; frames up to a 64 KiB GSO frame and its virtio-net header
judge disk1 10000000 1000000 65536
judge tx1 2500000 250000 65550
judge rx1 2500000 250000 65550
judge disk2 1000000 100000 65536
judge tx2 125000 12500 65550
judge rx2 125000 12500 65550
for t in disk tx rx; do
    echo "ratelimit: $t after PATCH: $(rate ${t}2) B/s, before: $(rate ${t}1) B/s"
    [ "$(rate ${t}2)" -lt "$(rate ${t}1)" ] || fail "$t: the lower limit did not lower the rate"
done
# the devices did throttle (the counters are cumulative under truce_cumulative)
for c in rate_limiter_throttled_events rx_rate_limiter_throttled tx_rate_limiter_throttled; do
    n=$(grep -o "\"$c\":[0-9]*" metrics.json | cut -d: -f2 | sort -n | tail -n 1)
    echo "ratelimit: metrics $c $n"
    [ "${n:-0}" -gt 0 ] || fail "metrics: $c is ${n:-missing}, the device never throttled"
done
# held back, never dropped: every frame L1 sent reached the guest
n=$(grep -o '"rx_dropped":[0-9]*' metrics.json | cut -d: -f2 | sort -n | tail -n 1)
echo "ratelimit: metrics rx_dropped ${n:-missing}"
[ "${n:-x}" = 0 ] || fail "metrics: rx_dropped is ${n:-missing}, want 0"
[ $status = 0 ] || fail "truce exited $status after the guest powered off, want 0"
true
