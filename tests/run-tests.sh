#!/usr/bin/env bash
# run-tests.sh — `make test`: every tier (unit, guests, API, fuzz, lab); prints the summary last.
set -u
cd "$(dirname "$0")/.."
LOG=build/test-results.txt
mkdir -p build
: >"$LOG"

tier() { # tier NAME COMMAND...: run a tier script, keep its PASS/FAIL lines
    local name=$1
    shift
    local t0=$SECONDS
    echo "== $name" >&2
    "$@" 2>&1 | tee -a build/test-$name.log | grep --line-buffered -E '^(PASS|FAIL) ' | tee -a "$LOG" >&2
    echo "== $name took $((SECONDS - t0)) s" >&2
}

unit_tests() {
    for t in build/unit/test_*; do
        [ -x "$t" ] || continue
        local n
        n=$(basename "$t")
        if "$t" >"build/unit/$n.log" 2>&1; then
            echo "PASS unit/$n ($(grep -Eo '[0-9]+ test\(s\) run' "build/unit/$n.log" | head -1 || true))"
        else
            echo "FAIL unit/$n: $(grep -E 'FAILED|ERROR|Sanitizer|runtime error' "build/unit/$n.log" | head -3 | tr '\n' ' ')"
        fi
    done
}

format_check() { # every C file clang-format clean against the repo's .clang-format
    command -v clang-format >/dev/null || { echo "FAIL format: clang-format missing"; return; }
    local bad
    bad=$(for f in $(git ls-files '*.c' '*.h' 2>/dev/null); do
        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
    done)
    [ -z "$bad" ] && echo "PASS format" || echo "FAIL format: not clang-format clean: $bad"
}

# With the lab on, its artefacts (kernels, images, then the L0 QEMU: about 25 minutes on a cold
# cache) are built in the background, at the lowest priority, while the other tiers run. The lab
# tier starts once the L1 image and the appliance are ready (the L0 may still be building: the
# lab runs the scenarios that need it last).
prebuild= ready=build/lab-prebuild.ready
rm -f "$ready"
if [ -x tests/lab/run.sh ] && [ "${TRUCE_SKIP_LAB:-0}" != 1 ]; then
    LAB_PREBUILD_READY=$PWD/$ready nice -n 19 tests/lab/prebuild.sh >build/lab-prebuild.log 2>&1 &
    prebuild=$!
fi

# The tiers that run tiny guests need this host's /dev/kvm; where there is none (a build machine
# that is itself a guest), each runs in an L1 machine of the lab instead (tests/lab/hostkvm.sh:
# the same files through virtiofs, on L1's nested KVM).
kvm_in_l1=
[ "${TRUCE_SKIP_LAB:-0}" != 1 ] && tests/lab/hostkvm.sh --needed && kvm_in_l1=tests/lab/hostkvm.sh
kvm_tier() { # kvm_tier NAME MINUTES COMMAND...: MINUTES bounds the tier's L1 (about 3x its run)
    local name=$1 minutes=$2
    shift 2
    HOSTKVM_TIMEOUT=$((minutes * 60)) tier "$name" ${kvm_in_l1:+"$kvm_in_l1" "$name"} "$@"
}

tier format format_check
tier layers tests/layers.sh
tier unit unit_tests
lane_a() {
    kvm_tier guests 30 tests/guests/run.sh
    kvm_tier manager 30 tests/manager/run.sh
}
lane_b() {
    kvm_tier hostile 40 tests/hostile/run.sh
    kvm_tier seccomp 10 tests/seccomp/run.sh
    kvm_tier jail 10 tests/guests/jail.sh
    kvm_tier api 10 tests/api/run.sh
}
fuzz() { [ -x tests/fuzz/run.sh ] && tier fuzz tests/fuzz/run.sh; }
if [ -n "$kvm_in_l1" ]; then
    # Two L1s at once (one emulated CPU each: about 20 minutes instead of 35), the fuzz tier (this
    # host only) beside them. Their lines interleave, each whole.
    lane_a &
    a=$!
    lane_b &
    b=$!
    fuzz
    wait $a $b
else
    lane_a
    lane_b
    fuzz
fi
if [ -n "$prebuild" ]; then
    t0=$SECONDS
    while [ ! -e "$ready" ] && kill -0 "$prebuild" 2>/dev/null; do sleep 2; done
    [ -e "$ready" ] || echo "lab prebuild failed (build/lab-prebuild.log); the lab retries" >&2
    echo "== lab artefacts ready after waiting $((SECONDS - t0)) s more" >&2
    tier lab tests/lab/run.sh
fi
[ -x tests/lab/appliance.sh ] && [ "${TRUCE_SKIP_LAB:-0}" != 1 ] && tier appliance tests/lab/appliance.sh
[ -z "$prebuild" ] || wait "$prebuild" 2>/dev/null

pass=$(grep -c '^PASS ' "$LOG")
fail=$(grep -c '^FAIL ' "$LOG")
if [ "$fail" != 0 ]; then
    echo "failed:" >&2
    grep '^FAIL ' "$LOG" >&2
fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" != 0 ]
