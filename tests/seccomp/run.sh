#!/usr/bin/env bash
# run.sh — seccomp tier: every thread of a running truce is filtered (Seccomp: 2), the flags work,
# and a forbidden syscall in each thread kind ends truce with status 18 and one line naming it
# (build/truce-sectest). Tiny guests on this host's /dev/kvm. One PASS/FAIL line per case.
set -u
cd "$(dirname "$0")/../.."
. tests/wait.sh
TRUCE=${TRUCE:-build/truce}
SECTEST=build/truce-sectest
G=build/guests
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

if ! make -s "$SECTEST" $G/actions.elf >/dev/null 2>&1; then
    echo "FAIL seccomp: cannot build $SECTEST and the test guests"
    exit 0
fi
if [ ! -c /dev/kvm ]; then
    echo "FAIL seccomp: /dev/kvm is not usable here"
    exit 0
fi
truncate -s 8M "$OUT/disk.img"
DEVICES=(--disk "path=$OUT/disk.img" --rng --net user --vsock "cid=3,uds=$OUT/v.sock")

# wait_for FILE REGEX: up to 20 s for REGEX to appear in FILE
wait_for() {
    for _ in $(seq 200); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# threads_say PID WANT: every thread's "Seccomp:" is WANT; prints the count or what differs.
threads_say() {
    local pid=$1 want=$2 n=0 bad=""
    for st in /proc/"$pid"/task/*/status; do
        local mode name
        mode=$(awk '/^Seccomp:/ {print $2}' "$st" 2>/dev/null) || continue
        [ -n "$mode" ] || continue # the thread just ended
        name=$(awk '/^Name:/ {print $2}' "$st")
        n=$((n + 1))
        [ "$mode" = "$want" ] || bad="$bad $name($(basename "$(dirname "$st")")):$mode"
    done
    if [ -n "$bad" ]; then
        echo "threads not at Seccomp $want:$bad"
        return 1
    fi
    echo "$n"
}

# stop_cont PID: SIGSTOP then SIGCONT, twice; the process must live on (every thread's timed
# poll, futex wait or sleep resumes through restart_syscall, which every filter allows).
stop_cont() {
    for _ in 1 2; do
        kill -STOP "$1" && sleep 0.3 && kill -CONT "$1" && sleep 0.3
    done
    kill -0 "$1" 2>/dev/null
}

# running_case NAME WANT_MODE MIN_THREADS -- truce run args: threads of a running VM, stopped and
# continued, then SIGTERM.
running_case() {
    local name=$1 want=$2 min=$3
    shift 4
    local log="$OUT/$name.serial"
    "$TRUCE" run --console "file:$log" "$@" </dev/null >"$OUT/$name.out" 2>"$OUT/$name.err" &
    local pid=$! why="" got
    wait_for "$log" "actions 'spin'" || why="the guest did not start"
    sleep 0.3 # past the idle monitor's first round: every thread has started
    if [ -z "$why" ]; then
        got=$(threads_say $pid "$want") || why=$got
        [ -z "$why" ] && [ "$got" -lt "$min" ] && why="$got threads, want at least $min"
    fi
    [ -z "$why" ] && ! stop_cont $pid && why="gone after SIGSTOP/SIGCONT: $(tail -n1 "$OUT/$name.err")"
    kill -TERM $pid 2>/dev/null
    wait $pid
    local st=$?
    [ -z "$why" ] && [ $st != 16 ] && why="exit status $st after SIGTERM, want 16 ($(tail -n1 "$OUT/$name.err"))"
    [ -z "$why" ] && echo "PASS $name ($got threads at Seccomp $want, alive after SIGSTOP/SIGCONT)" ||
        echo "FAIL $name: $why"
}

SPIN=(--kernel $G/actions.elf --cmdline spin)
running_case run-threads-filtered 2 4 -- "${SPIN[@]}" --cpus 2 "${DEVICES[@]}"
running_case run-no-seccomp 0 4 -- "${SPIN[@]}" --cpus 2 --no-seccomp

# A filter compiled outside truce: BPF_RET|BPF_K SECCOMP_RET_ALLOW, applied to every thread.
printf '\x06\x00\x00\x00\x00\x00\xff\x7f' >"$OUT/allow.bpf"
running_case run-seccomp-filter-file 2 3 -- "${SPIN[@]}" --seccomp-filter "$OUT/allow.bpf"

# bad_filter NAME FILE-CONTENT-PRINTF REGEX: refused before anything runs, one line, status 2
bad_filter() {
    local name=$1 err="$OUT/$1.err"
    printf "$2" >"$OUT/$name.bpf"
    timeout 30 "$TRUCE" run "${SPIN[@]}" --seccomp-filter "$OUT/$name.bpf" </dev/null \
        >/dev/null 2>"$err"
    local st=$?
    if [ $st != 2 ]; then
        echo "FAIL $name: exit status $st, want 2"
    elif [ "$(wc -l <"$err")" != 1 ] || ! grep -Eq -- "$3" "$err"; then
        echo "FAIL $name: stderr not one line matching /$3/: $(head -c 300 "$err")"
    else
        echo "PASS $name"
    fi
}
bad_filter bad-filter-empty '' '--seccomp-filter: .*: empty'
bad_filter bad-filter-partial '\x06\x00\x00\x00\x00\x00\xff\x7f\x06\x00' 'not a whole number of 8-byte'
bad_filter bad-filter-no-return '\x20\x00\x00\x00\x00\x00\x00\x00' 'not a return'

# The API mode: a --config-file VM booted by the main thread, and the API server and metrics
# ticker threads started before it; every thread ends up filtered, and the API still answers.
api_config() {
    cat >"$1" <<EOF
{"boot-source": {"kernel_image_path": "$G/actions.elf", "boot_args": "spin"},
 "machine-config": {"vcpu_count": 2, "mem_size_mib": 64},
 "drives": [{"drive_id": "d0", "path_on_host": "$OUT/disk.img", "is_root_device": false}]}
EOF
}
api_case() {
    local name=$1 sock="$OUT/$1.sock" cfg="$OUT/$1.json" why="" got
    api_config "$cfg"
    "$TRUCE" --api-sock "$sock" --config-file "$cfg" </dev/null >"$OUT/$name.out" \
        2>"$OUT/$name.err" &
    local pid=$!
    wait_sock "$sock"
    curl -s --unix-socket "$sock" http://localhost/ >"$OUT/$name.info" 2>/dev/null
    grep -q '"state": *"Running"' "$OUT/$name.info" || why="GET / did not say Running: $(head -c 200 "$OUT/$name.info")"
    sleep 0.3
    if [ -z "$why" ]; then
        got=$(threads_say $pid 2) || why=$got
        [ -z "$why" ] && [ "$got" -lt 5 ] && why="$got threads, want at least 5"
    fi
    [ -z "$why" ] && ! stop_cont $pid && why="gone after SIGSTOP/SIGCONT: $(tail -n1 "$OUT/$name.err")"
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" -X PATCH \
        -H 'Content-Type: application/json' -d '{"state": "Paused"}' http://localhost/vm)
    [ -z "$why" ] && [ "$code" != 204 ] && why="PATCH /vm Paused under seccomp: HTTP $code"
    code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$sock" -X PATCH \
        -H 'Content-Type: application/json' -d '{"state": "Resumed"}' http://localhost/vm)
    [ -z "$why" ] && [ "$code" != 204 ] && why="PATCH /vm Resumed under seccomp: HTTP $code"
    kill -TERM $pid 2>/dev/null
    wait $pid
    local st=$?
    [ -z "$why" ] && [ $st != 16 ] && why="exit status $st after SIGTERM, want 16 ($(tail -n1 "$OUT/$name.err"))"
    [ -z "$why" ] && echo "PASS $name ($got threads at Seccomp 2)" || echo "FAIL $name: $why"
}
api_case api-threads-filtered

# violation KIND -- how to run: the hook makes KIND's thread call execve right after entering.
violation() {
    local kind=$1 name="violation-$1" err="$OUT/violation-$1.err"
    shift 2
    TRUCE_SECTEST_KIND=$kind timeout 60 "$SECTEST" "$@" </dev/null >"$OUT/$name.out" 2>"$err"
    local st=$? line="truce: seccomp: the $kind thread made syscall execve \\(59\\), which its list does not allow \\(exit status 18\\)"
    if [ $st != 18 ]; then
        echo "FAIL $name: exit status $st, want 18 ($(tail -n2 "$err" | tr '\n' '|'))"
    elif [ "$(grep -c 'truce: seccomp:' "$err")" != 1 ] || ! grep -Eq "^$line\$" "$err"; then
        echo "FAIL $name: no single line /$line/: $(head -c 300 "$err")"
    else
        echo "PASS $name"
    fi
}
violation vcpu -- run "${SPIN[@]}" --console none
violation io -- run "${SPIN[@]}" --console none "${DEVICES[@]}"
violation main -- run "${SPIN[@]}" --console none
violation vnc -- run "${SPIN[@]}" --console none --display "vnc=unix:$OUT/vnc.sock"
# the boot-file loader exists while a large initrd loads; demand mode and a guest that waits for a
# key keep it alive until its hook has run
head -c 4M /dev/zero >"$OUT/initrd.img"
TRUCE_BOOT_LOAD=demand violation loader -- run --kernel $G/pvh64.elf --initrd "$OUT/initrd.img" \
    --cmdline initrd=key --console none
api_config "$OUT/violation.json"
violation api -- --api-sock "$OUT/violation.sock" --config-file "$OUT/violation.json"

# The lists, as `truce seccomp dump` prints them: every kind, counts at or below Firecracker's.
dump="$OUT/dump.txt"
"$TRUCE" seccomp dump >"$dump"
counts=$(sed -n 's/^# syscalls per kind: //p' "$dump")
why=""
for kv in "vcpu 27" "io 50" "api 50" "main 50" "vnc 31" "loader 15"; do
    set -- $kv
    n=$(echo "$counts" | grep -Eo "$1 [0-9]+" | cut -d' ' -f2)
    [ -n "$n" ] && [ "$n" -le "$2" ] && grep -q "^$1 " "$dump" || why="$why $1=${n:-missing}(max $2)"
done
grep -Eq '^vcpu +ioctl +KVM_RUN +# ' "$dump" || why="$why no KVM_RUN rule"
[ -z "$why" ] && echo "PASS seccomp-dump ($counts)" || echo "FAIL seccomp-dump:$why"
