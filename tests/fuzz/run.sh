#!/usr/bin/env bash
# run.sh — brief libFuzzer runs for `make test`: each target replays its seed corpus, then fuzzes
# for FUZZ_BRIEF seconds. One PASS/FAIL line per target; exits 0 even when one fails.
set -u
cd "$(dirname "$0")/../.."
BRIEF=${FUZZ_BRIEF:-10}
OUT=build/fuzz/run
mkdir -p "$OUT"

if ! command -v clang-14 >/dev/null; then
    echo "FAIL fuzz: clang-14 is not installed (apt-get install clang-14 libclang-rt-14-dev)"
    exit 0
fi
if ! make -s fuzz-build >"$OUT/build.log" 2>&1; then
    echo "FAIL fuzz: the fuzz targets do not build: $(grep -m1 -E 'error' "$OUT/build.log")"
    exit 0
fi
for t in build/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    n=$(basename "$t")
    work=$(mktemp -d)
    log="$OUT/$n.log"
    # inputs as long as the longest seed (a saved snapshot is larger than the default)
    maxlen=$(find "tests/fuzz/corpus/$n" -type f -printf '%s\n' 2>/dev/null | sort -n | tail -1)
    maxlen=$((${maxlen:-0} > 8192 ? ${maxlen:-0} : 8192))
    # nice: fuzzing shares the machine with other tests
    if nice timeout $((BRIEF + 120)) "$t" -max_total_time="$BRIEF" -max_len="$maxlen" -timeout=90 \
        -artifact_prefix="$OUT/$n-" "$work" "tests/fuzz/corpus/$n" >"$log" 2>&1; then
        echo "PASS fuzz/$n ($(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1))"
    else
        echo "FAIL fuzz/$n: $(grep -m1 -E 'ERROR|SUMMARY|deadly' "$log") (see $log)"
    fi
    rm -rf "$work"
done
exit 0
