# vsock — `--vsock cid=3,uds=PATH`, Firecracker's host side: the guest echoes 10 MiB (sha256
# compared) and runs 64 concurrent echoed connections through L1's echo server on PATH_5001;
# L1 does the same the other way, connecting to PATH with "CONNECT 5000" to the guest's echo
# server, and reports to the guest's port 5002.
# lab: vmm=truce timeout=400 needs=boot-bzimage
cat >check <<'EOF'
#!/bin/sh
# vsock — check (needs /bin/nettool from the scenario): with --vsock cid=3, serve an echo on vsock
# port 5000 for L1; echo 10 MiB through L1's echo server (host port 5001, reached as CID 2) and
# compare sha256s; run 64 concurrent echoed connections to it; then wait (at most 300 s) for L1's
# report on port 5002 about its own connections to us, which must start with "host-ok".
r() { echo "GUEST-RESULT $1 vsock${2:+ $2}"; exit 0; }
command -v nettool >/dev/null || r FAIL "nettool missing from the guest initrd"
[ "$(cat /sys/bus/virtio/devices/*/device 2>/dev/null | grep -c 0x0013)" -ge 1 ] ||
    r FAIL "no virtio-vsock device"
nettool echo vsock:4294967295:5000 >/tmp/echo.log 2>&1 &
head -c 10485760 /dev/urandom >/tmp/d
nettool connect vsock:2:5001 </tmp/d >/tmp/back || r FAIL "connect to host port 5001 failed"
a=$(sha256sum </tmp/d | cut -d' ' -f1)
b=$(sha256sum </tmp/back | cut -d' ' -f1)
[ "$a" = "$b" ] || r FAIL "10 MiB echoed by the host came back as $b, sent $a"
echo "vsock: guest->host 10 MiB echoed intact"
nettool parallel vsock:2:5001 64 131072 || r FAIL "64 concurrent connections to the host failed"
report=$(timeout 300 nettool recv vsock:4294967295:5002)
case "$report" in
host-ok*) r PASS ;;
*) r FAIL "L1 reported: ${report:-nothing}" ;;
esac
EOF
chmod +x check
nt=$(command -v nettool) || fail "nettool is not in the L1 image (tests/lab/tools/nettool.c)"
uds=$PWD/v.sock
nettool echo "unix:${uds}_5001" >echo.log 2>&1 &
echo_pid=$!
(
    i=0
    until nettool connect "fc:$uds:5000" </dev/null >/dev/null 2>&1; do
        sleep 1
        i=$((i + 1))
        [ $i -lt 200 ] || exit 0
    done
    head -c 10485760 /dev/urandom >d
    nettool connect "fc:$uds:5000" <d >back
    if [ "$(sha256sum <d)" != "$(sha256sum <back)" ]; then
        echo "host-fail 10 MiB through the guest's echo came back different" >report
    elif ! nettool parallel "fc:$uds:5000" 64 131072 >par.log 2>&1; then
        echo "host-fail parallel: $(tail -n 1 par.log)" >report
    else
        echo "host-ok 10 MiB and 64 concurrent connections echoed intact" >report
    fi
    i=0
    until nettool connect "fc:$uds:5002" <report >/dev/null 2>&1; do
        sleep 1
        i=$((i + 1))
        [ $i -lt 30 ] || exit 0
    done
) &
helper=$!
guest_boot -m 512 -f check:/checks/vsock -f "$nt:/bin/nettool" -x --vsock -x "cid=3,uds=$uds" \
    -a lab.check=vsock -t 350
kill "$echo_pid" "$helper" 2>/dev/null
expect_init
if ! grep -q '^host-ok' report 2>/dev/null; then
    lab_show_output
    fail "L1 side: $(cat report 2>/dev/null || echo 'never reached the guest')"
fi
expect_guest vsock
expect_end poweroff
