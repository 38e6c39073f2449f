# net-user-idle — `--net user` leaves no socket libslirp stopped polling in its epoll set (issue
# 16), so truce stays idle while the guest does: a guest keeps a connection half-open for 4 s
# after L1's server closed it, then downloads 64 MiB from L1 reading slowly (64 KiB receive
# buffer, a pause after every MiB, and no reading at all for 4 s after 8 MiB). truce's CPU time
# (utime+stime of the whole process, /proc/PID/stat in L1) over each 4 s stop stays below 25%
# of it (a spinning I/O thread takes all it is given), and all 64 MiB arrive.
# lab: vmm=truce timeout=300 needs=boot-bzimage
lab_dhcp_script
cat >check <<'EOF2'
#!/bin/sh
# net-user-idle — check (needs /bin/nettool): half-open connection to 10.0.2.2:9001 held 4 s,
# then a slow 64 MiB download from 10.0.2.2:9000 with a 4 s stop; the byte count must be right.
r() { echo "GUEST-RESULT $1 net-user-idle${2:+ $2}"; exit 0; }
command -v nettool >/dev/null || r FAIL "nettool missing from the guest initrd"
ip link set eth0 up || r FAIL "no eth0 (virtio-net missing?)"
udhcpc -i eth0 -n -q -t 5 -T 2 -s /lab/dhcp.script || r FAIL "no DHCP lease"
nettool holdopen tcp:10.0.2.2:9001 4 || r FAIL "half-open connection to 10.0.2.2:9001 failed"
nettool slowrecv tcp:10.0.2.2:9000 1048576 40 8388608 4 | tee /tmp/slow
got=$(grep '^bytes=' /tmp/slow)
[ "$got" = "bytes=67108864" ] || r FAIL "slow download got ${got:-nothing}, expected 64 MiB"
echo "net-user-idle: 64 MiB downloaded slowly, intact in length"
r PASS
EOF2
chmod +x check
command -v nettool >/dev/null || fail "nettool is not in the L1 image (tests/lab/tools/nettool.c)"

# truce's CPU ticks (USER_HZ: centiseconds) and L1's uptime in centiseconds.
ticks() { cut -d' ' -f14,15 "/proc/$1/stat" 2>/dev/null | { read -r u s && echo $((u + s)); }; }
uptime_cs() { read -r up _ </proc/uptime && echo "${up%.*}${up#*.}"; }
# Each "nettool: hold start" .. "hold end" window the guest prints: one line
# "CPU-TICKS WINDOW-CS" in cpu.txt.
cpu_watch() {
    local pid='' k=0 s e t0='' u0=''
    while [ -z "$pid" ]; do
        pid=$(pidof truce) || sleep 0.1
    done
    while kill -0 "$pid" 2>/dev/null; do
        s=$(grep -c 'nettool: hold start' guest.out 2>/dev/null)
        e=$(grep -c 'nettool: hold end' guest.out 2>/dev/null)
        if [ -z "$t0" ] && [ "${s:-0}" -gt $k ]; then
            t0=$(ticks "$pid") u0=$(uptime_cs)
        elif [ -n "$t0" ] && [ "${e:-0}" -gt $k ]; then
            echo "$(($(ticks "$pid") - t0)) $(($(uptime_cs) - u0))" >>cpu.txt
            k=$((k + 1)) t0=''
        fi
        sleep 0.1
    done
}

ip link set lo up
nettool source tcp:127.0.0.1:9000 67108864 >source.log 2>&1 &
src=$!
nettool source tcp:127.0.0.1:9001 4096 >closer.log 2>&1 &
closer=$!
: >cpu.txt
cpu_watch &
watch=$!
guest_boot -x --net -x user -f check:/checks/net-user-idle -f dhcp.script:/lab/dhcp.script \
    -f "$(command -v nettool):/bin/nettool" -a "lab.check=net-user-idle" -t 200
kill "$src" "$closer" "$watch" 2>/dev/null
expect_init
expect_guest net-user-idle
expect_end poweroff
n=0 bad=''
while read -r t w; do
    n=$((n + 1))
    what=$([ $n = 1 ] && echo "half-open connection" || echo "stopped download")
    echo "net-user-idle: truce CPU $t cs over $w cs while the guest held a $what"
    [ "$w" -gt 0 ] && [ $((t * 100)) -le $((w * 25)) ] ||
        bad="${bad:-truce spun:} $t cs of CPU in $w cs while the guest held a $what;"
done <cpu.txt
[ -z "$bad" ] || fail "$bad"
[ $n = 2 ] || fail "saw $n hold windows in the guest output, expected 2"
