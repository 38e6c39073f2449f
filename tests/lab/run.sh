#!/bin/bash
# run.sh — the nested-lab test tier: builds the lab images (cached), runs every scenario inside
# the TCG-emulated AMD-V machine L1, prints one `PASS name` / `FAIL name: reason` line each and
# exits 0. --summary adds the `N passed, N failed` line. Arguments: name patterns (glob, e.g.
# 'qemu/*' or '*/panic') to run a subset; LAB_VMMS=truce,qemu limits the VMMs. Scenarios marked
# long=1 (soaks, benches) run only when named by a pattern or with LAB_LONG=1 (all) or
# LAB_LONG=only (just those).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

summary=0
if [ "${1:-}" = --summary ]; then
    summary=1
    shift
fi
LAB_OUT=${LAB_OUT:-$LAB_DIR/out}
mkdir -p "$LAB_OUT"
rm -f "$LAB_OUT/l0-fails.txt"

# Scenario header: "# lab: vmm=truce,qemu timeout=SECONDS needs=OTHER long=1". Scenarios without
# needs= come first so the ones they gate have run before.
field() { sed -n "s/^# lab:.*\\b$1=\\([^ ]*\\).*/\\1/p" "$2" | head -n 1; }
first=() later=()
for f in "$LAB_DIR"/scenarios/*.sh; do
    stem=$(basename "$f" .sh)
    vmms=$(field vmm "$f")
    timeout=$(field timeout "$f")
    long=$(field long "$f")
    if [ $# -eq 0 ]; then
        case "${LAB_LONG:-}:${long:-0}" in
        :1 | only:0) continue ;;
        esac
    fi
    for vmm in $(echo "${vmms:-truce}" | tr ',' ' '); do
        case ",${LAB_VMMS:-truce,qemu}," in *",$vmm,"*) ;; *) continue ;; esac
        name=$vmm/$stem
        if [ $# -gt 0 ]; then
            keep=0
            for p in "$@"; do
                # shellcheck disable=SC2053
                [[ $name == $p ]] && keep=1
            done
            [ $keep = 1 ] || continue
        fi
        if [ -n "$(field needs "$f")" ]; then
            later+=("$name:${timeout:-120}")
        else
            first+=("$name:${timeout:-120}")
        fi
    done
done
specs=("${first[@]}" "${later[@]}")
[ ${#specs[@]} -gt 0 ] || {
    echo "FAIL lab: no scenario matches ${*:-anything}"
    exit 0
}

# Print FAIL for every selected scenario (when the lab cannot run at all) and exit 0.
fail_all() {
    local s
    for s in "${specs[@]}"; do echo "FAIL ${s%:*}: $1"; done
    exit 0
}

start=$SECONDS
command -v qemu-system-x86_64 >/dev/null || fail_all "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
command -v python3 >/dev/null || fail_all "python3 missing (apt-get install python3)"
lab_cloud_kernel || fail_all "no Debian cloud kernel (apt-get download linux-image-cloud-amd64 failed)"
initrd=$("$LAB_DIR/build-l1.sh" 2>"$LAB_OUT/build.log") ||
    fail_all "building the lab image failed: $(tail -n 1 "$LAB_OUT/build.log")"
# This run's own name for the image (a hard link where it can be, else a copy): build-l1.sh
# keeps only the newest images, and other lab runs sharing the cache may prune this one while a
# rebooted L1 still needs it.
ln -f "$initrd" "$LAB_OUT/l1-initrd.cpio" 2>/dev/null || cp "$initrd" "$LAB_OUT/l1-initrd.cpio" ||
    fail_all "cannot keep the lab image in $LAB_OUT"
initrd=$LAB_OUT/l1-initrd.cpio
lab_log "lab image ready after $((SECONDS - start)) s"

# Scenarios whose header says l0=patched (OVMF: CR8 writes under nested SVM) need the lab's
# patched L0 QEMU; build-l0.sh builds it once (about 15 minutes, cached). The others run on any
# L0. When the patched L0 is not built yet (a cold cache: `make test`'s prebuild may be building
# it right now), the others start at once, on Debian's QEMU in one L1, and the l0=patched ones
# start in a second L1 beside them as soon as build-l0.sh returns (it waits for a build already
# under way). When it cannot be had, those scenarios FAIL with the reason.
l0_needed=() others=()
for s in "${specs[@]}"; do
    n=${s%:*}
    if [ "$(field l0 "$LAB_DIR/scenarios/${n#*/}.sh")" = patched ]; then
        l0_needed+=("$s")
    else
        others+=("$s")
    fi
done

# Run the scenarios SPEC... in one L1 (rebooted by lab.py after a failure); PASS/FAIL lines go
# to stdout and results.txt, L1's serial logs to l1-TAGN.log.
run_l1() { # TAG SPEC...
    local tag=$1 args=() s
    shift
    for s in "$@"; do args+=(--scenario "$s"); done
    [ -n "${LAB_VERBOSE:-}" ] && args+=(--verbose)
    python3 "$LAB_DIR/lab.py" --log-dir "$LAB_OUT" --log-tag "$tag" "${args[@]}" -- \
        "${L1_QEMU[@]}" -nographic -serial stdio | tee -a "$LAB_OUT/results.txt"
}

# Run the scenarios SPEC... in JOBS L1 machines at once (each one TCG CPU: one host core). Each
# scenario goes to the L1 with the least work so far, longest timeout first; each L1 keeps the
# scenarios' order (needs= gates first). A needs= gate only skips its dependents in its own L1;
# in another, they run and fail on their own if the gate's cause is real.
run_batch() { # JOBS SPEC...
    local jobs=$1 s j best
    shift
    [ $# -ge $((2 * jobs)) ] || jobs=1
    lab_l1_qemu "$initrd" 2048
    lab_log "L0: $LAB_L0_KIND QEMU (${L1_QEMU[0]}) for $# scenarios in $jobs L1 machine(s)"
    if [ "$jobs" = 1 ]; then
        run_l1 "$LAB_L0_KIND-" "$@"
        return
    fi
    local -a load shard_of
    local -A shard
    for ((j = 0; j < jobs; j++)); do load[j]=0; done
    while read -r t s; do
        best=0
        for ((j = 1; j < jobs; j++)); do [ "${load[j]}" -lt "${load[best]}" ] && best=$j; done
        load[best]=$((load[best] + t))
        shard[$s]=$best
    done < <(for s in "$@"; do echo "${s##*:} $s"; done | sort -rn -s -k1,1)
    for ((j = 0; j < jobs; j++)); do
        shard_of=()
        for s in "$@"; do [ "${shard[$s]}" = "$j" ] && shard_of+=("$s"); done
        run_l1 "$LAB_L0_KIND-$j-" "${shard_of[@]}" &
    done
    wait
}
# Parallel L1 machines: one per host core (at most 2: the lab's RAM and the tier's CPU share).
jobs=${LAB_JOBS:-$(($(nproc) >= 2 ? 2 : 1))}
: >"$LAB_OUT/results.txt"
stock_pid=
if [ ${#l0_needed[@]} -gt 0 ] && [ "${LAB_L0:-}" != stock ] && ! "$LAB_DIR/build-l0.sh" --print >/dev/null; then
    # in one L1, in the background: the L0's build has the other core, then the patched batch
    if [ ${#others[@]} -gt 0 ]; then
        LAB_L0=stock run_batch 1 "${others[@]}" &
        stock_pid=$!
    fi
    specs=("${l0_needed[@]}")
fi
l0_error=
if [ ${#l0_needed[@]} -gt 0 ]; then
    if [ "${LAB_L0:-}" = stock ]; then
        l0_error="LAB_L0=stock"
    elif ! "$LAB_DIR/build-l0.sh" >/dev/null 2>"$LAB_OUT/build-l0.log"; then
        l0_error="building the patched L0 failed: $(tail -n 1 "$LAB_OUT/build-l0.log")"
    fi
fi
if [ -n "$l0_error" ]; then
    kept=()
    for s in "${specs[@]}"; do
        if [[ " ${l0_needed[*]} " == *" $s "* ]]; then
            echo "FAIL ${s%:*}: needs the lab's patched L0 QEMU ($l0_error)" | tee -a "$LAB_OUT/l0-fails.txt"
        else
            kept+=("$s")
        fi
    done
    specs=("${kept[@]}")
fi
if [ ${#specs[@]} -gt 0 ]; then
    if [ -n "$stock_pid" ] && kill -0 "$stock_pid" 2>/dev/null; then
        run_batch 1 "${specs[@]}" # beside the stock batch: one core each
    else
        run_batch "$jobs" "${specs[@]}"
    fi
fi
[ -z "$stock_pid" ] || wait "$stock_pid"
lab_log "lab finished in $((SECONDS - start)) s"
if [ $summary = 1 ]; then
    echo "$(grep -c '^PASS ' "$LAB_OUT/results.txt") passed, $(cat "$LAB_OUT/results.txt" "$LAB_OUT/l0-fails.txt" 2>/dev/null | grep -c '^FAIL ') failed"
fi
exit 0
