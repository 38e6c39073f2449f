#!/usr/bin/env bash
# migrate.sh — a VM moved between two truceds on this host (`trucectl migrate NAME --to ADDR`):
# half a command typed into the guest's shell before, the rest after, and the guest answers at
# the destination (its memory moved); the source forgets the VM, the destination runs it under a
# truce that received it through its API (PUT /migration/receive), re-adopts it after kill -9,
# pauses and resumes it and moves it back, where the guest answers again; refusals (no
# destination, a taken name, a stopped VM) leave the VM running where it was.
set -u
. "$(dirname "$0")/lib.sh"
mgr_init migrate
PA= PB=
SA=$W/a.sock SB=$W/b.sock
mgr_extra_cleanup() { # the two truceds and the VMs of their state dirs
    kill -KILL $PA $PB 2>/dev/null
    mgr_kill_vms "$W"/a "$W"/b
}
start_a() { truced_spawn "$SA" "$W/a" "$W/a.err" --cgroup-parent "" && PA=$!; }
start_b() { truced_spawn "$SB" "$W/b" "$W/b.err" --cgroup-parent "" && PB=$!; }
MGR_CASE=migrate mgr_needs "$A"
start_a
start_b
wait_sock "$SA" "$SB" || { failc migrate "the truceds did not start: $(cat "$W"/*.err)"; exit 0; }
cat >"$W/sh.json" <<JSON
{"boot-source": {"kernel_image_path": "$A", "boot_args": "shell"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}
JSON
"$CTL" --sock "$SA" create "$W/sh.json" >/dev/null && "$CTL" --sock "$SA" start sh >/dev/null

# Refusals first: each leaves the VM running on the source.
st1=$("$CTL" --sock "$SA" migrate sh --to "$W/nobody.sock" 2>&1)
"$CTL" --sock "$SB" create "$W/sh.json" >/dev/null # the name is taken there
st2=$("$CTL" --sock "$SA" migrate sh --to "$SB" 2>&1)
"$CTL" --sock "$SB" delete sh >/dev/null
"$CTL" --sock "$SA" create "$W/sh.json" --name idle >/dev/null
st3=$("$CTL" --sock "$SA" migrate idle --to "$SB" 2>&1)
if echo "$st1" | grep -q '502: destination .*nobody.sock' && echo "$st2" | grep -q "409: .*a VM named 'sh' exists" &&
    echo "$st3" | grep -q "409: VM 'idle' is defined" && [ "$(jget sh state "$SA")" = running ] &&
    [ "$("$CTL" --sock "$SB" list | grep -c .)" = 1 ]; then
    pass migrate-refusals "no destination 502, taken name 409, stopped VM 409; the VM runs on"
else
    failc migrate-refusals "'$st1' / '$st2' / '$st3'; sh $(jget sh state "$SA"); B: $("$CTL" --sock "$SB" list)"
fi

# Half a command before the move, the rest after: the guest's line buffer moved with it.
out=$(py '
c = wsc.open_console("'"$SA"'", "sh")
c.read_until(rb"\$ ")
c.send(b"echo mig")
c.read_until(rb"echo mig")' 2>&1)
pid_a=$(jget sh pid "$SA")
mig=$("$CTL" --sock "$SA" migrate sh --to "$SB" --json 2>&1)
after=$(py '
for _ in range(50):
    try:
        c = wsc.open_console("'"$SB"'", "sh")
        break
    except RuntimeError:
        import time; time.sleep(0.1)
c.send(b"rated\r")
print(repr(c.read_until(rb"\nmigrated\r?\n")))' 2>&1)
pid_b=$(jget sh pid "$SB")
gone=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SA" http://l/v1/vms/sh)
if [ -z "$out" ] && echo "$after" | grep -q migrated && [ "$gone" = 404 ] &&
    [ "$(jget sh state "$SB")" = running ] && ! kill -0 "$pid_a" 2>/dev/null &&
    grep -q -- "--api-sock" "/proc/$pid_b/cmdline"; then
    pass migrate "$(echo "$mig" | python3 -c 'import json,sys; print(json.load(sys.stdin)["source"])' 2>&1 | cut -c1-220); the guest answered at the destination"
else
    failc migrate "typed '$out'; migrate '$mig'; after '$after'; source GET $gone; destination $(jget sh state "$SB") pid $pid_b"
fi
"$CTL" --sock "$SA" events | grep -q ' sh .*migrated' && "$CTL" --sock "$SB" events | grep -q ' sh .*running' &&
    pass migrate-events "the source logged 'migrated', the destination 'running'" ||
    failc migrate-events "$("$CTL" --sock "$SA" events | tail -2) / $("$CTL" --sock "$SB" events | tail -2)"

# The source truced killed -9 in the middle of a migration (once the destination has prepared
# the VM): wherever the move had got to, the VM runs in exactly one place, that truced records
# it running (the destination notices an arrival nobody committed), and its console answers.
"$CTL" --sock "$SA" create "$W/sh.json" --name k >/dev/null && "$CTL" --sock "$SA" start k >/dev/null
"$CTL" --sock "$SA" migrate k --to "$SB" >"$W/k.out" 2>&1 &
cp=$!
for _ in $(seq 20000); do [ -S "$W/b/vms/k/migrate.sock" ] && break; done # the receiver listens
kill -KILL "$PA"
wait "$PA" 2>/dev/null
wait $cp
start_a
wait_sock "$SA"
for _ in $(seq 100); do
    ka=$(jget k state "$SA") kb=$(jget k state "$SB")
    [ "$ka" != running ] && [ "$kb" = running ] && break
    [ "$ka" = running ] && [ "$kb" != starting ] && break
    sleep 0.1
done
where=$([ "$kb" = running ] && echo "$SB" || echo "$SA")
ans=$(py '
c = wsc.open_console("'"$where"'", "k")
c.send(b"echo still-here
")
print(repr(c.read_until(rb"\nstill-here\r?\n")))' 2>&1)
if { [ "$ka" = running ] && [ "$kb" != running ]; } || { [ "$ka" != running ] && [ "$kb" = running ]; } &&
    echo "$ans" | grep -q still-here; then
    pass migrate-source-killed "source '$ka', destination '$kb' ($(jget k reason "$SB")); the guest answers where it runs"
else
    failc migrate-source-killed "source '$ka' destination '$kb'; console '$ans'; $(cat "$W/k.out")"
fi
[ "$kb" = running ] && "$CTL" --sock "$SB" stop k >/dev/null
[ "$ka" = running ] && "$CTL" --sock "$SA" stop k --force >/dev/null
[ "$kb" = starting ] && "$CTL" --sock "$SB" stop k --force >/dev/null # a receiver never sent to

# The destination: kill -9 and restart re-adopts it; the moved VM has its API there: paused and
# resumed, then moved back to the first truced, where the guest answers; stop works.
kill -KILL "$PB"
wait "$PB" 2>/dev/null
start_b
wait_sock "$SB"
s1="$(jget sh state "$SB") $(jget sh pid "$SB")"
pz=$(curl -s -o "$W/reply" -w '%{http_code}' --unix-socket "$SB" -X POST http://l/v1/vms/sh/pause)
sz=$(jget sh state "$SB")
rs=$(curl -s -o "$W/reply2" -w '%{http_code}' --unix-socket "$SB" -X POST http://l/v1/vms/sh/resume)
back=$("$CTL" --sock "$SB" migrate sh --to "$SA" 2>&1)
home=$(py '
c = wsc.open_console("'"$SA"'", "sh")
c.send(b"echo back-home\r")
print(repr(c.read_until(rb"\nback-home\r?\n")))' 2>&1)
gone=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SB" http://l/v1/vms/sh)
pid_h=$(jget sh pid "$SA")
"$CTL" --sock "$SA" stop sh >/dev/null
s2=$(jget sh state "$SA")
if [ "$s1" = "running $pid_b" ] && [ "${pz%??}" = 2 ] && [ "$sz" = paused ] && [ "${rs%??}" = 2 ] &&
    echo "$home" | grep -q back-home && [ "$gone" = 404 ] && [ "$s2" = stopped ] &&
    ! kill -0 "$pid_b" 2>/dev/null && ! kill -0 "$pid_h" 2>/dev/null; then
    pass migrate-destination "re-adopted after kill -9; pause $pz ($sz), resume $rs; moved back, answered there, stopped"
else
    failc migrate-destination "after restart '$s1' (pid $pid_b); pause $pz $sz $(cat "$W/reply"); resume $rs; back '$back'; home '$home'; B GET $gone; stop -> $s2"
fi
exit 0
