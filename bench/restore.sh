#!/bin/bash
# restore.sh — snapshot restore to running, phase by phase, on this host's /dev/kvm (PVM-backed
# here): the tiny "count" guest snapshotted once per memory size, then RUNS restores each in a
# fresh `truce --api-sock --level Debug` through PUT /snapshot/load (resume_vm true); truce logs
# its start-up timeline ("start-stats", src/machine/lifecycle.c) when the VM is torn down, and the
# medians of every phase go to its section of bench/RESULTS.md. Figures only, never asserted.
# Usage: bench/restore.sh [RUNS] (default 20). BEFORE=BINARY adds a column for another truce
# (e.g. one built from an older commit; BEFORE_NOTE says what it is in the section), its runs
# alternating with build/truce's; SIZES="128 2048"
# (MiB) by default; NO_RESULTS=1 prints the table without rewriting bench/RESULTS.md; LOAD_NOTE
# adds a note on the host's load (e.g. "nothing else running") to the section.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
case "$runs" in '' | *[!0-9]* | 0) echo "restore.sh: RUNS must be a positive number, got '$runs'" >&2; exit 2 ;; esac
[ -w /dev/kvm ] || { echo "restore.sh: /dev/kvm is not usable here" >&2; exit 1; }
before=${BEFORE:-}
[ -z "$before" ] || [ -x "$before" ] || { echo "restore.sh: BEFORE=$before is not an executable" >&2; exit 2; }
sizes=${SIZES:-128 2048}
make -s build/truce build/guests/actions.elf
TRUCE=$PWD/build/truce
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

# take SIZE: snapshot the count guest (SIZE MiB) after its third tick into $W/SIZE/{st,mem}, with
# BEFORE's truce when given (a newer truce reads an older one's snapshots, not the reverse).
take() {
    local d=$W/$1
    mkdir -p "$d"
    cat >"$d/vm.json" <<JSON
{"boot-source": {"kernel_image_path": "$PWD/build/guests/actions.elf", "boot_args": "count"},
 "machine-config": {"vcpu_count": 1, "mem_size_mib": $1},
 "serial": {"serial_out_path": "$d/src.log"}}
JSON
    "${before:-$TRUCE}" --api-sock "$d/api" --config-file "$d/vm.json" 2>"$d/src.err" &
    local p=$!
    for _ in $(seq 200); do grep -q "tick 3" "$d/src.log" 2>/dev/null && break; sleep 0.05; done
    curl -sf --unix-socket "$d/api" -X PATCH http://l/vm -d '{"state":"Paused"}'
    curl -sf --unix-socket "$d/api" -X PUT http://l/snapshot/create \
        -d "{\"snapshot_path\":\"$d/st\",\"mem_file_path\":\"$d/mem\"}"
    kill -TERM $p
    wait $p || true
    [ -s "$d/st" ] || { echo "restore.sh: no snapshot of the $1 MiB guest: $(cat "$d/src.err")" >&2; exit 1; }
}

# one BINARY SIZE: one restore; prints "curl_us=N start-stats ..." (nothing when it failed).
one() {
    local bin=$1 d=$W/$2 r=$W/run
    rm -rf "$r"
    mkdir -p "$r"
    "$bin" --api-sock "$r/api" --level Debug >"$r/log" 2>&1 &
    local p=$!
    for _ in $(seq 500); do [ -S "$r/api" ] && break; sleep 0.01; done
    local t m
    curl -sf --unix-socket "$r/api" -X PUT http://l/metrics -d "{\"metrics_path\":\"$r/metrics.json\"}"
    t=$(curl -s -o "$r/reply" -w '%{http_code} %{time_total}' --unix-socket "$r/api" -X PUT \
        http://l/snapshot/load -d "{\"snapshot_path\":\"$d/st\",\"mem_backend\":{\"backend_type\":\"File\",\"backend_path\":\"$d/mem\"},\"resume_vm\":true}")
    curl -sf --unix-socket "$r/api" -X PUT http://l/actions -d '{"action_type":"FlushMetrics"}' || true
    # the API server's own handling time of the load (the lab's "VMM's own figure")
    m=$(tail -n 1 "$r/metrics.json" 2>/dev/null | grep -o '"latency_us_max":[0-9]*' | tail -n 1 | cut -d: -f2)
    sleep 0.2
    kill -TERM $p
    wait $p || true
    [ "${t%% *}" = 204 ] || { echo "restore.sh: load answered $t: $(cat "$r/reply")" >&2; return 0; }
    # a truce waiting for its API makes what every build needs before the first request
    # (api_kvm_warm: /dev/kvm, its supported CPUID, a KVM VM with its irqchip); not in the
    # request's phases; "unused" when the load came first (it then built everything itself)
    local w
    w=$(grep -o 'kvm-warm us=[0-9]*\( unused\)\?' "$r/log" | head -n 1 | cut -d= -f2 || true)
    case "$w" in *unused) w="warm_unused=${w% unused} " ;; ?*) w="warm=$w " ;; esac
    printf 'api_us=%s curl_us=%s %s%s\n' "${m:-0}" "$(awk -v s="${t#* }" 'BEGIN { printf "%d", s * 1e6 }')" \
        "$w" "$(grep -o 'start-stats.*' "$r/log" | head -n 1)"
}

for s in $sizes; do take "$s"; done
for s in $sizes; do
    one "$TRUCE" "$s" >/dev/null # warm-up: page cache, the binary
    for i in $(seq "$runs"); do
        if [ -n "$before" ] && [ $((i % 2)) = 0 ]; then
            one "$before" "$s" | sed "s/^/before size=$s /"
            one "$TRUCE" "$s" | sed "s/^/after size=$s /"
        else
            one "$TRUCE" "$s" | sed "s/^/after size=$s /"
            [ -z "$before" ] || one "$before" "$s" | sed "s/^/before size=$s /"
        fi
    done
done >"$W/lines"

table=$(python3 - "$W/lines" "$runs" <<'PY'
import statistics, sys
rows = {}
order = []
for line in open(sys.argv[1]):
    f = line.split()
    who, size = f[0], f[1].split("=")[1]
    kv = dict(x.split("=", 1) for x in f[2:] if "=" in x)
    kv.pop("restore", None)
    for k in kv:
        if k not in order:
            order.append(k)
    rows.setdefault((size, who), []).append(kv)
whos = [w for w in ("before", "after") if any(k[1] == w for k in rows)]
names = {"curl_us": "PUT /snapshot/load as curl sees it (204)",
         "api_us": "**PUT /snapshot/load, the API server's own handling time**", "total": "**request -> first KVM_RUN**",
         "warm": "*before the request*: /dev/kvm, its CPUID, KVM_CREATE_VM, irqchip, PIT (not in the total)",
         "warm_unused": "the same, when the load came first and built it all itself (runs)",
         "read": "read and check the state file",
         "kvm": "check the memory file; KVM_CREATE_VM, TSS, identity map (unless made before)",
         "mmap": "map the memory file (MAP_PRIVATE)", "memslots": "KVM memory slots",
         "irqchip": "irqchip, GSI routing, PIT (the routing only when made before)", "cpuid": "KVM_GET_SUPPORTED_CPUID (unless asked before), template",
         "devices": "console, devices, ROMs", "vcpus": "KVM_CREATE_VCPU",
         "state": "set KVM, vCPU and device state", "prepare": "Landlock, API bookkeeping",
         "threads": "create the I/O and vCPU threads", "seccomp": "first vCPU thread filtered",
         "run": "-> its first KVM_RUN"}
phases = [k for k in order if k not in ("api_us", "curl_us", "total")] + ["total", "api_us", "curl_us"]
sizes = sorted({k[0] for k in rows}, key=int)
head = "| phase (µs: median / best) |" + "".join(f" {s} MiB {w} ({len(rows.get((s, w), []))}) |" for s in sizes for w in whos)
print(head)
print("|" + " --- |" * (1 + len(sizes) * len(whos)))
for p in phases:
    cells = []
    for s in sizes:
        for w in whos:
            v = [int(r[p]) for r in rows.get((s, w), []) if p in r]
            if p == "warm_unused":
                cells.append(f" {len(v)} |")
                continue
            cells.append(f" {statistics.median(v):.0f} / {min(v)} |" if v else " - |")
    print(f"| {names.get(p, p)} |" + "".join(cells))
PY
)
section=$W/section
cat >"$section" <<EOT
<!-- bench/restore.sh begin: this section is rewritten by bench/restore.sh -->
## Snapshot restore, phase by phase: this host's /dev/kvm (PVM-backed)

Produced by \`${BEFORE:+BEFORE=... }bench/restore.sh $runs\` on $(date -u +%Y-%m-%d) ($("$TRUCE" --version)), $(uname -r) with
a PVM-backed /dev/kvm (not the nested lab), $(nproc) cores (load average $(cut -d' ' -f1 /proc/loadavg) at the
end${LOAD_NOTE:+; $LOAD_NOTE}). Medians and the best of the runs in
brackets${BEFORE:+, "before" and "after" alternating}: on a loaded host the phases that wait for
another thread (the PIT's kernel thread, an RCU grace period, a new vCPU thread) spread by
milliseconds, and the best run shows what the code costs.

$table

- Guest: build/guests/actions.elf \`count\` (1 vCPU), snapshotted after its third tick with
  \`PUT /snapshot/create\`; each run restores it in a fresh \`truce --api-sock S --level Debug\`
  with \`PUT /snapshot/load\` (File backend, \`resume_vm\` true), then stops it after 0.2 s.
- Phases: truce's start-up timeline (\`start-stats\`, logged at debug level when the VM is torn
  down; CLOCK_MONOTONIC): each phase is the time since the previous one ended, from the request
  reaching the restore code to the first vCPU's first KVM_RUN. The API server's handling time
  (metrics \`latency_us_max\` after a FlushMetrics, as bench/snapshot.sh's "VMM's own figure" in
  the lab) and curl's (\`time_total\`) end at the 204, which is sent once the threads exist
  (before the vCPU has installed its filter and run); they include opening /dev/kvm when the
  process has not opened it before.
- Made before the request: a \`truce --api-sock\` (without --config-file) opens /dev/kvm, asks
  KVM_GET_SUPPORTED_CPUID and creates the KVM VM (TSS, identity map, irqchip, PIT, and one
  page's memory slot set and deleted: the first slot after the irqchip waits 5-11 ms for an
  SRCU grace period here) as soon as its socket listens (api_kvm_warm, "kvm-warm" at debug
  level; its row above, not counted in the total), on its own /dev/kvm handle and without the
  API's lock: a load arriving meanwhile does not wait for it but builds everything itself (the
  "came first" row counts those runs; their phases are in the medians).
EOT
[ -z "$before" ] || echo "- Before: ${BEFORE_NOTE:-$before}." >>"$section"
echo "<!-- bench/restore.sh end -->" >>"$section"
if [ -z "${NO_RESULTS:-}" ]; then
    results=bench/RESULTS.md
    if grep -q '^<!-- bench/restore.sh begin' "$results"; then
        awk -v f="$section" '
            /^<!-- bench\/restore.sh begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
            /^<!-- bench\/restore.sh end/ { skip = 0; next }
            !skip' "$results" >"$results.tmp"
        mv "$results.tmp" "$results"
    else
        { echo; cat "$section"; } >>"$results"
    fi
fi
cat "$section"
