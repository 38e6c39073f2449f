#!/usr/bin/env bash
# run.sh — the hostile-guest suite: each case (a guest from tests/hostile/ and its command line)
# runs under build/truce and build/truce-asan, at most two at a time; one PASS/FAIL line each.
# A case fails on: a status other than the one it documents, a sanitizer report, a death by
# signal, no serial progress for $HANG_S seconds (or a case running over $CASE_S seconds), SIGTERM
# not honoured within 5 s (sent to every case still running at its end), a busy process while
# the guest idles, peak RSS above guest RAM plus a generous bound, more than $HOSTILE_FDS open
# files (4096), or a disk image whose size changed. HOSTILE_BUILDS and HOSTILE_CASES (a regex)
# narrow the run; HOSTILE_KEEP=1 keeps the outputs (serial, stdout, stderr per case).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILDS=${HOSTILE_BUILDS:-build/truce build/truce-asan}
HANG_S=${HANG_S:-30}
CASE_S=${CASE_S:-180}
G=build/hostile
OUT=$(mktemp -d /tmp/hostile.XXXXXX)
[ -n "${HOSTILE_KEEP:-}" ] && echo "outputs in $OUT"
trap '[ -n "${HOSTILE_KEEP:-}" ] || rm -rf "$OUT"' EXIT
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99

if [ ! -c /dev/kvm ] || ! [ -w /dev/kvm ]; then
    echo "FAIL hostile: /dev/kvm is not usable here"
    exit 0
fi
for b in $BUILDS; do
    [ -x "$b" ] || { echo "FAIL hostile: $b missing (make hostile)"; exit 0; }
done

# The disk every case gets: sector N starts with "truce-hostile sector N\n" (fresh_blk reads 5).
python3 - "$OUT/disk.img" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    for n in range(2048):
        s = b"truce-hostile sector %d\n" % n
        f.write(s + b"\0" * (512 - len(s)))
EOF

# The pmem image (--pmem-img cases): 4 MiB of a repeated pattern.
python3 -c 'import sys; n = 4 << 20; open(sys.argv[1], "wb").write(b"truce-hostile pmem\n" * (n // 19) + b"\0" * (n % 19))' "$OUT/pmem.img"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# one BUILD NAME GUEST CMDLINE WANT PATTERN [truce args...]: run one case, print its line.
one() {
    local build=$1 name=$2 guest=$3 cmdline=$4 want=$5 pattern=$6
    shift 6
    local tag
    tag="$name$([ "$build" = build/truce-asan ] && echo ' [asan]')"
    local d
    d="$OUT/$name.$(basename "$build")"
    mkdir -p "$d"
    cp "$OUT/disk.img" "$d/disk.img"
    local mem_mib=128 args=() console=(--console "file:$d/serial") disk="path=$d/disk.img" pmem_ro=0
    local net=(--net user)
    for a in "$@"; do
        case $a in
        --memory=*) mem_mib=${a#--memory=}; mem_mib=${mem_mib%M}; args+=(--memory "${mem_mib}M") ;;
        --console-virtio) console=(--console virtio) ;;
        --disk-ro) disk="$disk,readonly=on" ;;
        --disk-direct) disk="$disk,direct=on" ;; # O_DIRECT for aligned requests, buffered for the rest
        --disk-ahci) disk="$disk,if=ahci" ;;
        --disk-rl=*) disk="$disk,${a#--disk-rl=}" ;; # rate limits: bw=..., ops=...
        --disk-mq=*) # virtio-blk with that many queues, one vCPU each
            disk="$disk,queues=${a#--disk-mq=}"
            args+=(--cpus "${a#--disk-mq=}") ;;
        --net-mq=*) # a multiqueue tap (truce creates it) instead of user networking, one vCPU a pair
            net=(--net "tap=hmq$$$((RANDOM % 1000)),queues=${a#--net-mq=}")
            args+=(--cpus "${a#--net-mq=}") ;;
        --pmem-img | --pmem-img-ro) # a copy of the 4 MiB pmem image; read-only must keep it
            cp "$OUT/pmem.img" "$d/pmem.img"
            args+=(--pmem "path=$d/pmem.img$([ "$a" = --pmem-img-ro ] && echo ,ro=on)")
            [ "$a" = --pmem-img-ro ] && pmem_ro=1 ;;
        --input=*) head -c "${a#--input=}" /dev/zero | tr '\0' y >"$d/stdin" ;;
        *) args+=("$a") ;;
        esac
    done
    python3 tests/hostile/vsock_peer.py "$d/v.sock" 120 &
    local peer=$!
    for _ in $(seq 600); do # python starts in well under a second, but takes seconds in the lab's L1
        [ -S "$d/v.sock_5000" ] && [ -S "$d/v.sock_5001" ] && break
        sleep 0.05
    done
    : >"$d/serial"
    [ -e "$d/stdin" ] || : >"$d/stdin"
    # stdin is a pipe (a console cannot watch a regular file), holding --input's bytes
    cat "$d/stdin" | "$build" run --kernel "$G/$guest.elf" --cmdline "$cmdline" \
        --memory "${mem_mib}M" --disk "$disk" --rng "${net[@]}" \
        --vsock "cid=3,uds=$d/v.sock" "${console[@]}" "${args[@]}" >"$d/stdout" 2>"$d/stderr" &
    local pid=$! hwm=0 fds=0 last_size=-1 last_ms start_ms why=""
    start_ms=$(now_ms)
    last_ms=$start_ms
    while kill -0 $pid 2>/dev/null; do
        local h size t
        h=$(awk '/^VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null)
        [ -n "$h" ] && [ "$h" -gt "$hwm" ] && hwm=$h
        h=$(find /proc/$pid/fd -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
        [ "$h" -gt "$fds" ] && fds=$h
        size=$(cat "$d/serial" "$d/stdout" 2>/dev/null | wc -c)
        t=$(now_ms)
        [ "$size" != "$last_size" ] && last_size=$size && last_ms=$t
        grep -q 'hostile-verdict: ok (parked)' "$d/serial" "$d/stdout" 2>/dev/null && break
        if [ $((t - last_ms)) -gt $((HANG_S * 1000)) ]; then
            why="hang: no serial progress for ${HANG_S}s"
            break
        fi
        if [ $((t - start_ms)) -gt $((CASE_S * 1000)) ]; then
            why="still running after ${CASE_S}s"
            break
        fi
        sleep 0.2
    done
    local term_ms=""
    if kill -0 $pid 2>/dev/null; then
        if [ -z "$why" ]; then # parked: the process must be idle while the guest is
            local c0 c1
            c0=$(cpu_ticks $pid)
            sleep 2
            c1=$(cpu_ticks $pid)
            [ $((c1 - c0)) -gt 150 ] && why="busy while the guest idles ($((c1 - c0)) ticks in 2 s)"
        fi
        local t0
        t0=$(now_ms)
        kill -TERM $pid
        for _ in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
        if kill -0 $pid 2>/dev/null; then
            kill -KILL $pid
            why="${why:+$why; }SIGTERM not honoured within 5 s"
        fi
        term_ms=$(($(now_ms) - t0))
    fi
    wait $pid 2>/dev/null
    local got=$?
    kill $peer 2>/dev/null
    wait $peer 2>/dev/null
    local limit=$(((mem_mib + ${HOSTILE_RSS_MIB:-192}) * 1024))
    [ "$build" = build/truce-asan ] && limit=$((limit + 512 * 1024))
    local out
    out=$(cat "$d/serial" "$d/stdout" 2>/dev/null | tr -d '\0' | tr '\n' '|' | tail -c 300)
    if [ -n "$why" ]; then
        echo "FAIL $tag: $why (serial: $out)"
    elif grep -Eq 'Sanitizer|runtime error:' "$d/stderr"; then
        echo "FAIL $tag: sanitizer report: $(grep -Em2 'Sanitizer|runtime error:|#[0-9] ' \
            "$d/stderr" | tr '\n' ' ' | cut -c1-300)"
    elif ! [[ "$got" =~ ^($want)$ ]] && [ "$got" -gt 128 ] && ! grep -q debug-exit "$d/stderr"; then
        echo "FAIL $tag: killed by signal $((got - 128)) ($(tail -n1 "$d/stderr"))"
    elif ! [[ "$got" =~ ^($want)$ ]]; then
        echo "FAIL $tag: exit status $got, want $want" \
            "($(grep -v WARN "$d/stderr" | tail -n1); serial: $out)"
    elif ! grep -Eq -- "$pattern" "$d/serial" "$d/stdout"; then
        echo "FAIL $tag: output lacks /$pattern/ (serial: $out)"
    elif [ "$hwm" -gt "$limit" ]; then
        echo "FAIL $tag: peak RSS $((hwm / 1024)) MiB above $((limit / 1024)) MiB"
    elif [ "$fds" -gt "${HOSTILE_FDS:-4096}" ]; then
        echo "FAIL $tag: $fds open files at the peak, above ${HOSTILE_FDS:-4096}"
    elif [ "$(stat -c %s "$d/disk.img")" != 1048576 ]; then
        echo "FAIL $tag: the guest changed the size of the host's disk image"
    elif [ $pmem_ro = 1 ] && ! cmp -s "$OUT/pmem.img" "$d/pmem.img"; then
        echo "FAIL $tag: the guest changed the read-only pmem image"
    else
        echo "PASS $tag (status $got, $((($(now_ms) - start_ms) / 1000)) s," \
            "peak RSS $((hwm / 1024)) MiB, $fds fds${term_ms:+, SIGTERM took $term_ms ms})"
    fi
}

# The cases (tests/hostile/cases.sh): c NAME GUEST CMDLINE WANT_STATUS PATTERN [truce args...].
# Status 85: the guest's checks passed; 16: parked, then stopped by SIGTERM; the others are the
# README's exit statuses. Every build runs every case, two at a time.
OK='hostile-verdict: ok'
running=0
c() {
    [ -n "${HOSTILE_CASES:-}" ] && ! [[ $1 =~ $HOSTILE_CASES ]] && return
    one "$BUILD" "$@" &
    running=$((running + 1))
    if [ $running -ge 2 ]; then
        wait -n
        running=$((running - 1))
    fi
}
for BUILD in $BUILDS; do
    . tests/hostile/cases.sh
done
wait
