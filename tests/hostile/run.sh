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
. tests/wait.sh
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

now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

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
    wait_sock "$d/v.sock_5000" "$d/v.sock_5001"
    : >"$d/serial"
    [ -e "$d/stdin" ] || : >"$d/stdin"
    local start_ms got hwm fds term_ms why
    start_ms=$(now_ms)
    read -r got hwm fds term_ms why < <(python3 tests/hostile/watch.py "$HANG_S" "$CASE_S" \
        "$d/stdin" "$d/stdout" "$d/stderr" "$d/serial" "$d/stdout" -- \
        "$build" run --kernel "$G/$guest.elf" --cmdline "$cmdline" --memory "${mem_mib}M" \
        --disk "$disk" --rng "${net[@]}" --vsock "cid=3,uds=$d/v.sock" "${console[@]}" "${args[@]}")
    [ -n "$got" ] || { got=255 hwm=0 fds=0 term_ms=- why="tests/hostile/watch.py failed"; }
    [ "$term_ms" = - ] && term_ms=
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
