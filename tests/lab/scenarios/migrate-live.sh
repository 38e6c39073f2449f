# migrate-live — a Debian guest writing an fsync'd counter to its virtio disk while it rewrites
# 32 MiB of memory at 8 MiB/s (each page checked to hold the previous pass) is live-migrated
# (pre-copy, max_downtime_ms 30) to a second truce process in the same L1 over a UNIX socket: the
# source ends with status 20, the count goes on at the destination from the next number with no
# committed write lost, and no rewritten page was lost. The guest's own measure of the pause (1 ms
# ticks of CLOCK_MONOTONIC it missed) and truce's figures are printed, never asserted.
# lab: vmm=truce timeout=240 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
GUEST_OUT=$PWD/guest.out # the source's serial output, and the destination's after it (O_APPEND)

cat >load <<'CHECK'
#!/bin/sh
# load — in the background: mobtool ticks (missed 1 ms ticks, a line a second) and mobtool dirty
# (32 MiB rewritten at 8 MiB/s); in the foreground: N written to sector 0 of /dev/vda (fsync'd),
# then "count N UPTIME" printed, every 100 ms, for ever.
/bin/mobtool ticks &
/bin/mobtool dirty 32 8 &
n=$(dd if=/dev/vda bs=16 count=1 2>/dev/null | tr -dc 0-9)
n=${n:-0}
while :; do
    n=$((n + 1))
    printf '%-16s' "$n" | dd of=/dev/vda bs=16 count=1 conv=fsync,notrunc 2>/dev/null
    echo "count $n $(cut -d' ' -f1 /proc/uptime)"
    sleep 0.1
done
CHECK
chmod +x load
head -c 4194304 /dev/zero >disk.img
lab_initrd initrd.img load:/checks/load /lab/bin/mobtool:/bin/mobtool

counts() { tr -d '\r' <"$1" | grep -aE '^count [0-9]+ [0-9.]+$' | cut -d' ' -f2; }
wait_for() { # wait_for FILE PATTERN SECONDS: a line matching PATTERN appears in FILE
    local i=0
    while [ $i -lt $(($3 * 10)) ]; do
        [ "$1" != "${DST_OUT:-}" ] || dst_part
        tr -d '\r' <"$1" 2>/dev/null | grep -aqE "$2" && return 0
        tr -d '\r' <"$1" 2>/dev/null | grep -aq 'dirty: FAIL' &&
            fail "the guest: $(tr -d '\r' <"$1" | grep -a 'dirty: FAIL' | head -n 1)"
        sleep 0.1
        i=$((i + 1))
    done
    fail "no '$2' in $(basename "$1") within $3 s; last: $(tr -d '\r' <"$1" | tail -n 1); $(tail -n 1 truce.out)"
}

S=$PWD/api.sock
lab_truce_api "$S"
lab_want 204 "$S" PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=load\"}"
lab_want 204 "$S" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
lab_want 204 "$S" PUT /drives/data "{\"drive_id\": \"data\", \"path_on_host\": \"$PWD/disk.img\",
    \"is_root_device\": false, \"is_read_only\": false}"
lab_want 204 "$S" PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
lab_want 204 "$S" PUT /actions '{"action_type": "InstanceStart"}'
SRC=$VMM_PID
wait_for "$GUEST_OUT" '^dirty pass 1$' 180
wait_for "$GUEST_OUT" '^ticks 3 ' 30

truce migrate-receive --listen "unix:$PWD/mig.sock" </dev/null >dst.log 2>&1 &
DST=$!
i=0
while [ ! -S mig.sock ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
lab_want 204 "$S" PUT /migration "{\"destination_url\": \"unix:$PWD/mig.sock\",
    \"max_downtime_ms\": 30}"
wait "$SRC"
st=$?
[ $st = 20 ] || fail "the source exited $st after the migration, want 20: $(tail -n 1 truce.out)"
# a line the source left half-written ends in the destination's part
nsrc=$(wc -l <"$GUEST_OUT")
head -n "$nsrc" "$GUEST_OUT" >src.out
DST_OUT=$PWD/dst.out
dst_part() { tail -n +$((nsrc + 1)) "$GUEST_OUT" >"$DST_OUT"; }
saved=$(counts src.out | tail -n 1)
wait_for "$DST_OUT" "^count $((saved + 3)) " 60
first=$(counts "$DST_OUT" | head -n 1)
[ "$first" = $((saved + 1)) ] ||
    fail "the source stopped at count $saved, the destination began at '$first'"
# the guest's rewritten pages: a pass finished at the destination checked every page
passes=$(tr -d '\r' <src.out | grep -ac '^dirty pass ')
wait_for "$DST_OUT" "^dirty pass $((passes + 1))\$" 60
kill -TERM "$DST"
wait "$DST" 2>/dev/null
dst_part
dups=$(cat "$GUEST_OUT" | tr -d '\r' | grep -aE '^count [0-9]+ ' | cut -d' ' -f2 |
    sort -n | uniq -d | head -n 3)
[ -z "$dups" ] || fail "counts printed twice: $dups"
final=$(counts "$DST_OUT" | tail -n 1)
ondisk=$(dd if=disk.img bs=16 count=1 2>/dev/null | tr -dc 0-9)
[ "$ondisk" -ge "$final" ] 2>/dev/null ||
    fail "the disk holds '$ondisk', but the guest printed count $final (a committed write lost)"

# the figures: truce's (the source's stop message) and the guest's own (the ticks lines of the
# seconds around the migration: the source's last and the destination's first two)
figures=$(sed -n 's/.*migrated to [^:]*:[^:]*: //p' truce.out | tail -n 1)
around=$( (tr -d '\r' <src.out | grep -a '^ticks ' | tail -n 1
    tr -d '\r' <"$DST_OUT" | grep -a '^ticks ' | head -n 2) |
    awk '{ m += $4; if ($6 > g) g = $6 } END { printf "%d ticks missed, longest gap %d ms", m, g }')
before=$(tr -d '\r' <src.out | grep -a '^ticks ' | sed '$d' | tail -n 5 |
    awk '{ m += $4; if ($6 > g) g = $6; n++ } END { printf "%d missed in %d s, longest gap %d ms", m, n, g }')
echo "migrate-live: count $saved -> $first, disk $ondisk; truce: $figures"
echo "migrate-live: guest around the migration: $around (the 5 s before: $before)"
true
