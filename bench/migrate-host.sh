#!/bin/bash
# migrate-host.sh — live-migration downtime, step by step, on this host's /dev/kvm (PVM-backed
# here): RUNS migrations of the tiny "dirty" guest (tests/guests/actions.c: it rewrites 256 pages
# over and over) between two truce processes over a UNIX socket, `PUT /migration` with
# max_downtime_ms 30 to `truce migrate-receive`, both at debug level. The source logs its
# downtime (pause -> the destination's answer) and both log a timeline of the switch
# ("migration timeline", src/machine/migrate.c; the destination's start-up timeline adds its
# first KVM_RUN); the medians go to bench/RESULTS.md. Figures only, never asserted.
# Usage: bench/migrate-host.sh [RUNS] (default 20). BEFORE=BINARY adds runs of another truce
# (its downtime only: older builds log no timeline), alternating with build/truce's; MIB=N the
# guest's memory (default 256); NO_RESULTS=1 prints the table without rewriting RESULTS.md;
# SAMPLES_OUT=FILE keeps the raw lines, REPORT=FILE writes the section from such a file instead
# of running (RUNS and BEFORE_NOTE as for that run; the load average is read now).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
case "$runs" in '' | *[!0-9]* | 0) echo "migrate-host.sh: RUNS must be a positive number, got '$runs'" >&2; exit 2 ;; esac
[ -w /dev/kvm ] || { echo "migrate-host.sh: /dev/kvm is not usable here" >&2; exit 1; }
before=${BEFORE:-}
[ -z "$before" ] || [ -x "$before" ] || { echo "migrate-host.sh: BEFORE=$before is not an executable" >&2; exit 2; }
mib=${MIB:-256}
make -s build/truce build/guests/actions.elf
TRUCE=$PWD/build/truce
W=$(mktemp -d)
trap 'rm -rf "$W"; kill $(jobs -p) 2>/dev/null || true' EXIT

# one BINARY TAG: one migration; appends "TAG downtime_ms=D rounds=R <source timeline> |
# <destination timeline> | <start-stats>" to $W/samples (nothing when it failed).
one() {
    local bin=$1 tag=$2 d=$W/run
    rm -rf "$d"
    mkdir -p "$d"
    cat >"$d/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/build/guests/actions.elf", "boot_args": "dirty"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": $mib},
 "serial": {"serial_out_path": "$d/src.log"}}
JSON
    "$bin" --api-sock "$d/api" --level Debug --config-file "$d/vm.json" >"$d/src.err" 2>&1 &
    local src=$!
    for _ in $(seq 600); do grep -q "pass 1" "$d/src.log" 2>/dev/null && break; sleep 0.05; done
    local lvl=(--log-level debug)
    [ "$bin" = "$TRUCE" ] || lvl=()
    "$bin" migrate-receive --listen "unix:$d/mig.sock" --console "file:$d/dst.log" "${lvl[@]}" \
        >"$d/dst.err" 2>&1 &
    local dst=$!
    for _ in $(seq 200); do [ -S "$d/mig.sock" ] && break; sleep 0.01; done
    local code
    code=$(curl -s -o "$d/reply" -w '%{http_code}' --unix-socket "$d/api" -X PUT http://l/migration \
        -d "{\"destination_url\": \"unix:$d/mig.sock\", \"max_downtime_ms\": 30}")
    timeout 60 tail --pid=$src -f /dev/null || kill -KILL $src
    wait $src || true
    # the destination's timeline is logged at the switch, its start-up timeline when it ends
    for _ in $(seq 100); do grep -q "pass [0-9]" "$d/dst.log" 2>/dev/null && break; sleep 0.02; done
    kill -TERM $dst 2>/dev/null || true
    wait $dst || true
    local fig
    fig=$(grep -o 'pre-copy rounds.*downtime [0-9.]* ms' "$d/src.err" | tail -n 1 |
        sed 's/pre-copy rounds.*downtime \([0-9.]*\) ms/\1/')
    local rounds
    rounds=$(grep -o 'ms, [0-9]* pre-copy rounds' "$d/src.err" | tail -n 1 | grep -o '[0-9]* pre' | cut -d' ' -f1)
    if [ "$code" != 204 ] || [ -z "$fig" ] || grep -q FAIL "$d/dst.log"; then
        echo "migrate-host.sh: $tag run failed: $code $(cat "$d/reply") $(tail -n 1 "$d/dst.err")" >&2
        return 0
    fi
    echo "$tag downtime_ms=$fig rounds=${rounds:-0} $(grep -o 'timeline: source pause.*' "$d/src.err" | tail -n 1) | $(grep -o 'timeline: destination.*' "$d/dst.err" | tail -n 1) | $(grep -o 'start-stats.*' "$d/dst.err" | tail -n 1)" >>"$W/samples"
}

for i in $(seq "$runs"); do
    [ -z "${REPORT:-}" ] || break
    [ -z "$before" ] || one "$before" before
    one "$TRUCE" after
    printf '.' >&2
done
echo >&2
[ -z "${REPORT:-}" ] || cp "$REPORT" "$W/samples"
[ -s "$W/samples" ] || { echo "migrate-host.sh: no migration succeeded" >&2; exit 1; }
cp "$W/samples" "${SAMPLES_OUT:-/dev/null}" 2>/dev/null || true

python3 - "$W/samples" bench/RESULTS.md "$runs" "$mib" "${BEFORE_NOTE:-}" "$("$TRUCE" --version)" \
    "${NO_RESULTS:-}" "$(uname -r)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import re, statistics, sys, time
samples, results, runs, mib, note, tver, nores, kver, ncpu, load = sys.argv[1:11]
rows = {}
for line in open(samples):
    tag, rest = line.split(" ", 1)
    r = rows.setdefault(tag, {})
    m = re.search(r"downtime_ms=([\d.]+) rounds=(\d+)", rest)
    r.setdefault("downtime, the source's figure (pause -> the destination's answer)", []).append(float(m.group(1)))
    r.setdefault("pre-copy rounds", []).append(float(m.group(2)))
    src = re.search(r"source pause at (\d+) us:([^|]*)", rest)
    dst = re.search(r"destination end of memory at (\d+) us:([^|]*)", rest)
    if not src or not dst:
        continue
    t_src, t_dst = int(src.group(1)), int(dst.group(1))
    s = {k: int(v) for k, v in re.findall(r"([a-z-]+)=(\d+)", src.group(2))}
    dd = {k: int(v) for k, v in re.findall(r"([a-z-]+)=(\d+)", dst.group(2))}
    def add(label, v):
        r.setdefault(label, []).append(v / 1000)
    add("source: the vCPUs out of KVM_RUN, devices paused", s["paused"])
    add("source: the last dirty log collected", s["dirty-log"])
    add("source: the last pages and the end of memory sent", s["pages-sent"])
    add("source: the vCPU and device state saved", s["state-saved"])
    add("source: the state sent", s["state-sent"])
    add("destination: the end of memory received", t_dst - t_src)
    add("destination: the state received", t_dst - t_src + dd["state-received"])
    add("destination: the state checked", t_dst - t_src + dd["checked"])
    add("destination: KVM, vCPU and device state set", t_dst - t_src + dd["state-set"])
    add("destination: the answer sent", t_dst - t_src + dd["answer"])
    add("source: the answer received (its downtime)", s["answer"])
    add("destination: the vCPUs resumed", t_dst - t_src + dd["resumed"])
    if "resumed" in s:
        add("source: the destination's word that the guest runs", s["resumed"])
    st = re.search(r"state=\d+ .*?run=(\d+)", rest)
    if st:  # the start-up timeline: the state set -> the first KVM_RUN
        add("destination: the first KVM_RUN", t_dst - t_src + dd["state-set"] + int(st.group(1)))
    pages = re.search(r"pages-sent=\d+/(\d+)", src.group(2))
    if pages:
        r.setdefault("pages in the final round", []).append(float(pages.group(1)))

def fmt(v):
    return "n/a" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")

tags = [t for t in ("before", "after") if t in rows]
labels = []
for t in tags:
    for k in rows[t]:
        if k not in labels:
            labels.append(k)
head = "| step (ms after the source's pause; medians) | " + " | ".join(
    {"before": "before", "after": "build/truce"}[t] + f" ({len(rows[t][labels[0]])} runs)" for t in tags) + " |"
lines = [head, "|" + " --- |" * (len(tags) + 1)]
for k in labels:
    cells = [fmt(statistics.median(rows[t][k])) if rows[t].get(k) else "n/a" for t in tags]
    lines.append(f"| {k} | " + " | ".join(cells) + " |")
every = "; ".join(f"{t}: " + ", ".join(f"{v:.0f}" for v in rows[t][labels[0]]) for t in tags)
section = f"""<!-- bench/migrate-host.sh begin: this section is rewritten by bench/migrate-host.sh -->
## Live-migration downtime, step by step, on this host

Produced by `bench/migrate-host.sh {runs}` on {time.strftime('%Y-%m-%d', time.gmtime())} ({tver}, host kernel {kver},
PVM-backed /dev/kvm, {ncpu} CPUs, load average {load} at the end): the tiny `dirty` guest
(tests/guests/actions.c, {mib} MiB of RAM, rewriting 256 pages over and over; it runs in KVM's
instruction emulator here) migrated between two truce processes over a UNIX socket,
`max_downtime_ms` 30, both at debug level; the steps from the source's and the destination's
"migration timeline" lines (one CLOCK_MONOTONIC) and the destination's start-up timeline.
{note}

""" + "\n".join(lines) + f"""

Downtime of every run (ms), {every}.
<!-- bench/migrate-host.sh end -->
"""
print(section)
if not nores:
    sys.path.insert(0, "bench")
    from ratio import write_section
    write_section(results, "<!-- bench/migrate-host.sh begin", "<!-- bench/migrate-host.sh end -->", section)
PY
