# vsock — `--vsock cid=3,uds=PATH`, Firecracker's host side: the guest echoes 10 MiB (sha256
# compared) and runs 64 concurrent echoed connections through L1's echo server on PATH_5001;
# L1 does the same the other way, connecting to PATH with "CONNECT 5000" to the guest's echo
# server, and reports to the guest's port 5002.
# lab: vmm=truce timeout=400 needs=boot-bzimage
nt=$(command -v nettool) || fail "nettool is not in the L1 image (build-l1.sh builds tools/nettool.c)"
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
guest_boot -m 512 -f "$nt:/bin/nettool" -x --vsock -x "cid=3,uds=$uds" -a lab.check=vsock -t 350
kill "$echo_pid" "$helper" 2>/dev/null
expect_init
grep -q '^host-ok' report 2>/dev/null || fail "L1 side: $(cat report 2>/dev/null || echo 'never reached the guest')"
expect_guest vsock
expect_end poweroff
