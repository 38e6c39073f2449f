# mmds — Firecracker's metadata service seen from the Debian guest, over a tap (the VM driven by
# the API: mmds/config V2, data PUT by the host; then the VM is snapshotted and restored in a new
# process, whose store starts empty and is filled again by the host) and over `--net user`
# (`truce run --mmds version=V2,data=FILE`). The guest (httpc, a static client it carries) gets
# 401 without a token, a session token by PUT /latest/api/token, the host's data with it (IMDS
# listing and JSON), and a token of TTL 1 refused after 2 s; a 1 MiB store is refused with
# Firecracker's error. L1 serves a decoy at 169.254.169.254:80 on its own loopback: a frame that
# reached the tap or libslirp would fetch "decoy" instead of the MMDS answer.
# lab: vmm=truce timeout=300 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
lab_dhcp_script # ./dhcp.script, the guest's udhcpc hook (l1/lib.sh)
cat >check <<'EOS'
#!/bin/sh
# mmds — check (ARG: tap | user): reach the MMDS at 169.254.169.254 over eth0 and check the V2
# token rules and the data the host stored (instance-id i-lab-ARG); with tap, after printing
# "mmds: ready-for-snapshot", wait for stage "two" (a new token when the old one is refused).
r() { echo "GUEST-RESULT $1 mmds${2:+ $2}"; exit 0; }
A=http://169.254.169.254
# get [httpc options] URL: "STATUS" in $st, the body in $body
get() {
    out=$(/lab/httpc -t 10 "$@") || r FAIL "no answer from the MMDS for $*"
    st=$(echo "$out" | sed -n 1p)
    body=$(echo "$out" | sed 1d)
}
case "$1" in
tap)
    ip addr add 10.9.0.2/24 dev eth0 && ip link set eth0 up || r FAIL "no eth0"
    ip route add 169.254.169.254 dev eth0 || r FAIL "cannot route to the MMDS"
    ;;
user)
    ip link set eth0 up || r FAIL "no eth0"
    udhcpc -i eth0 -n -q -t 5 -T 2 -s /lab/dhcp.script || r FAIL "no DHCP lease"
    ;; # the MMDS is reached through the default route: intercepted by address
esac
get $A/latest/meta-data/instance-id
[ "$st" = 401 ] || r FAIL "GET without a token answered $st: $body"
echo "mmds: no token: $st $body"
get -X PUT -H "X-metadata-token-ttl-seconds: 0" $A/latest/api/token
[ "$st" = 400 ] || r FAIL "a token of TTL 0 answered $st"
get -X PUT -H "X-metadata-token-ttl-seconds: 21600" $A/latest/api/token
[ "$st" = 200 ] || r FAIL "PUT /latest/api/token answered $st: $body"
tok=$body
get -H "X-metadata-token: $tok" $A/latest/meta-data/instance-id
[ "$st" = 200 ] && [ "$body" = "i-lab-$1" ] || r FAIL "instance-id: $st '$body'"
echo "mmds: instance-id $body"
get -H "X-metadata-token: $tok" $A/latest/meta-data/
[ "$st" = 200 ] && [ "$(echo "$body" | tr '\n' ' ')" = "instance-id stage tags/ " ] ||
    r FAIL "IMDS listing: $st '$body'"
get -H "X-metadata-token: $tok" -H "Accept: application/json" $A/latest/meta-data/tags
[ "$st" = 200 ] && [ "$body" = '{"a":"1","b":[1,2]}' ] || r FAIL "JSON: $st '$body'"
get -H "X-metadata-token: bogus" $A/latest/meta-data/instance-id
[ "$st" = 401 ] || r FAIL "a bogus token answered $st"
# (whether it works before it expires depends on how fast this guest runs: not asserted)
get -X PUT -H "X-metadata-token-ttl-seconds: 1" $A/latest/api/token
[ "$st" = 200 ] || r FAIL "PUT /latest/api/token with TTL 1 answered $st: $body"
short=$body
sleep 2
get -H "X-metadata-token: $short" $A/latest/meta-data/stage
[ "$st" = 401 ] || r FAIL "a TTL-1 token still worked after 2 s ($st)"
echo "mmds: TTL-1 token refused after 2 s: $st $body"
t0=$(cut -d' ' -f1 /proc/uptime)
n=0
while [ $n -lt 5 ]; do
    get -H "X-metadata-token: $tok" $A/latest/meta-data/instance-id
    [ "$st" = 200 ] || r FAIL "GET $n answered $st"
    n=$((n + 1))
done
echo "mmds: 5 GETs (httpc started for each) in $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.2f", b - a }') s"
if [ "$1" = tap ]; then
    echo "mmds: ready-for-snapshot"
    i=0
    while :; do
        # a connection cut by the snapshot is no answer: try again
        out=$(/lab/httpc -t 3 -H "X-metadata-token: $tok" $A/latest/meta-data/stage) || out=none
        st=$(echo "$out" | sed -n 1p)
        body=$(echo "$out" | sed 1d)
        [ "$st" = 200 ] && [ "$body" = two ] && break
        if [ "$st" = 401 ]; then
            echo "mmds: token refused ($body): a new one"
            out=$(/lab/httpc -t 3 -X PUT -H "X-metadata-token-ttl-seconds: 21600" \
                $A/latest/api/token) && tok=$(echo "$out" | sed 1d)
        fi
        i=$((i + 1))
        [ $i -lt 240 ] || r FAIL "stage two never showed (last: $st '$body')"
        sleep 0.5
    done
    echo "mmds: stage two from the restored VM"
fi
r PASS
EOS
chmod +x check dhcp.script
data() { # data NAME [STAGE]: the store's contents for interface kind NAME
    echo "{\"latest\": {\"meta-data\": {\"instance-id\": \"i-lab-$1\", \"stage\": \"${2:-one}\",
        \"tags\": {\"b\": [1, 2], \"a\": \"1\"}}}}"
}
# the decoy: what a frame that escaped to L1 would fetch
ip link set lo up
ip addr add 169.254.169.254/32 dev lo || fail "cannot add the decoy address"
mkdir -p decoy/latest/meta-data
echo decoy >decoy/latest/meta-data/instance-id
httpd -f -p 169.254.169.254:80 -h "$PWD/decoy" &
decoy=$!

# ---- tap, through the API ----
l1_modprobe tun || fail "insmod tun failed"
GUEST_OUT=$PWD/guest.out
SOCK=$PWD/api.sock
mkdir -p extra-root/checks extra-root/lab
cp check extra-root/checks/mmds && cp /lab/bin/httpc dhcp.script extra-root/lab/ ||
    fail "cannot stage the guest files"
(cd extra-root && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
cat "$LAB_GUESTS/initrd.cpio" extra.cpio >initrd.img || fail "cannot build the initrd"
start_truce() { # start_truce SOCK: truce --api-sock SOCK in the background ($VMM_PID)
    SOCK=$1
    truce --api-sock "$SOCK" --id lab-mmds --http-api-max-payload-size 4194304 \
        --mmds-size-limit 524288 </dev/null >>truce.out 2>&1 &
    VMM_PID=$!
    i=0
    while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
    [ -S "$SOCK" ] || fail "truce --api-sock made no socket: $(tail -n 1 truce.out)"
}
start_truce "$PWD/api0.sock"
want 204 PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=mmds:tap\"}"
want 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 128}'
want 204 PUT /network-interfaces/eth0 '{"iface_id": "eth0", "host_dev_name": "tap0"}'
want 204 PUT /mmds/config '{"network_interfaces": ["eth0"], "version": "V2"}'
want 400 PUT /mmds/config '{"network_interfaces": ["eth1"]}'
{ printf '{"big": "'; head -c 1048576 /dev/zero | tr '\0' x; printf '"}'; } >big.json
s=$(curl -s -o api.body -w '%{http_code}' --unix-socket "$SOCK" -X PUT \
    -H 'Content-Type: application/json' --data-binary @big.json http://localhost/mmds)
[ "$s" = 400 ] && grep -q "The MMDS patch request doesn't fit." api.body ||
    fail "a 1 MiB PUT /mmds answered $s: $(cat api.body)"
echo "mmds: 1 MiB store refused: $(cat api.body)"
want 204 PUT /mmds "$(data tap)"
want 204 PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
want 204 PUT /actions '{"action_type": "InstanceStart"}'
want 400 PUT /mmds/config '{"network_interfaces": ["eth0"]}' # pre-boot only
i=0
until tr -d '\r' <"$GUEST_OUT" 2>/dev/null | grep -aq -e '^mmds: ready-for-snapshot' -e '^GUEST-RESULT'; do
    i=$((i + 1))
    if [ $i -ge 900 ] || ! kill -0 "$VMM_PID" 2>/dev/null; then break; fi
    sleep 0.1
done
# snapshot, a new process, restore: the MMDS configuration comes back, the data does not
want 204 PATCH /vm '{"state": "Paused"}'
want 204 PUT /snapshot/create "{\"snapshot_path\": \"$PWD/vm.state\",
    \"mem_file_path\": \"$PWD/vm.mem\", \"snapshot_type\": \"Full\"}"
kill -TERM "$VMM_PID"
wait "$VMM_PID" 2>/dev/null
start_truce "$PWD/api1.sock"
want 204 PUT /snapshot/load "{\"snapshot_path\": \"$PWD/vm.state\",
    \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"$PWD/vm.mem\"},
    \"resume_vm\": true}"
want 200 GET /vm/config
grep -q '"mmds-config":{"version":"V2","network_interfaces":\["eth0"\]' api.body ||
    fail "the restored VM's configuration lacks the MMDS: $(cat api.body)"
want 200 GET /mmds
[ "$(cat api.body)" = "{}" ] || fail "the restored store is not empty: $(cat api.body)"
want 204 PUT /mmds "$(data tap)"
want 204 PATCH /mmds '{"latest": {"meta-data": {"stage": "two", "tags": null}}}'
i=0
while kill -0 "$VMM_PID" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
kill "$VMM_PID" 2>/dev/null
tr -d '\r' <"$GUEST_OUT" | grep -a '^mmds: '
tr -d '\r' <"$GUEST_OUT" | grep -aq '^GUEST-RESULT PASS mmds' || {
    kill "$decoy"
    lab_show_output
    fail "tap: $(tr -d '\r' <"$GUEST_OUT" | grep -a '^GUEST-RESULT' | head -n 1)"
}

# ---- user networking, `truce run --mmds` ----
data user >meta-user.json
guest_boot -m 128 -x --net -x user -x --mmds -x "version=V2,data=$PWD/meta-user.json" \
    -f check:/checks/mmds -f /lab/bin/httpc:/lab/httpc -f dhcp.script:/lab/dhcp.script \
    -a "lab.check=mmds:user" -t 90
kill "$decoy"
tr -d '\r' <"$GUEST_OUT" | grep -a '^mmds: '
expect_init
expect_guest mmds
expect_end poweroff
