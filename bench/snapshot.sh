#!/bin/bash
# snapshot.sh — snapshots and live migration, truce vs Debian's QEMU (-M pc) in one nested-lab
# run on the patched L0 (bench/lab/snapshot-scenario.sh): snapshot create and restore-to-running
# time for a 128 MiB and a 2 GiB guest whose memory is written first, and live-migration total
# time and downtime while the guest rewrites memory at a fixed rate; median of REPS each. Writes
# the "Snapshots and migration" section of bench/RESULTS.md.
# Usage: bench/snapshot.sh [REPS] (default 3); --report rewrites the section from the last run's
# samples; --cycles [N] runs the lab scenario snapshot-cycles with N cycles (default 100; the
# issue's soak) and adds its result to the section. SNAP_SIZES (MiB, default "128 2048") and
# SNAP_L1_MIB (L1's memory, default 6144: a 2 GiB guest and its 2 GiB memory file at once);
# SNAP_BIG_REPS: runs for guests over 1 GiB (default REPS; in the lab each boot of a 2 GiB guest
# spends minutes writing its memory); SNAP_MIGRATE=0 skips the migrations, SNAP_MIGRATE=only
# runs only them (the section keeps the snapshot rows of the last run that had them).
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")
LAB_DIR=$REPO_DIR/tests/lab
. "$LAB_DIR/lib.sh"

mode=bench
# a migration-only run has its own samples and its own part of the section
samples=samples.txt
[ "${SNAP_MIGRATE:-1}" = only ] && samples=migrate-samples.txt
case "${1:-}" in
--report) mode=report && shift ;;
--cycles) mode=cycles && shift ;;
esac
reps=${1:-3}
[ $mode = cycles ] && reps=${1:-100}
case "$reps" in '' | *[!0-9]*) lab_die "REPS must be a number, got '$reps'" ;; esac
sizes=${SNAP_SIZES:-128 2048}
l1_mib=${SNAP_L1_MIB:-6144}
lab_cloud_kernel || lab_die "cannot fetch the Debian cloud kernel (apt-get download)"
[ -x "$REPO_DIR/build/truce" ] || lab_die "build truce first (make)"
work=$LAB_CACHE/bench-snapshot
out=$work/out
mkdir -p "$work" "$out"

if [ $mode = bench ]; then
    "$LAB_DIR/build-l0.sh" >/dev/null || lab_die "the patched L0 is needed (tests/lab/build-l0.sh)"
    gcc -O2 -Wall -Wextra -static -o "$work/qmptool" "$BENCH_DIR/lab/qmptool.c" ||
        lab_die "cannot build bench/lab/qmptool.c"
    migrate=${SNAP_MIGRATE:-1}
    [ "$migrate" = only ] && sizes= && migrate=1
    printf 'REPS=%s\nBIG_REPS=%s\nSIZES="%s"\nMIGRATE=%s\n' "$reps" "${SNAP_BIG_REPS:-}" "$sizes" \
        "$migrate" >"$work/snapshot.conf"
    initrd=$("$LAB_DIR/build-l1.sh" --extra "$work/snapshot.conf:/lab/bench/snapshot.conf" \
        --extra "$work/qmptool:/lab/bench/qmptool" \
        --extra "$BENCH_DIR/lab/snapshot-scenario.sh:/lab/scenarios/bench-snapshot.sh") ||
        lab_die "building the lab image failed"
    lab_log "running $reps x 2 VMMs x (snapshots of ${sizes:-no} MiB + a migration) in the lab (L1: $l1_mib MiB)"
    lab_bench_run truce/bench-snapshot $((reps * 2 * 1200 + 300)) "$l1_mib" "$initrd" \
        "BENCH-$([ -n "$sizes" ] && echo SNAP || echo MIG)" "$out"
    tr -d '\r' <"$LAB_BENCH_LOG" | grep -aE '^BENCH-(SNAP|MIG|MIGT) ' >"$out/$samples" || true
    tr -d '\r' <"$LAB_BENCH_LOG" | grep -E '^BENCH-NOTE ' >"$out/notes.txt" || true
elif [ $mode = cycles ]; then
    cat >"$work/cycles-scenario.sh" <<EOF
# bench-snapshot-cycles — the lab scenario snapshot-cycles with $reps cycles (bench/snapshot.sh --cycles)
# lab: vmm=truce timeout=$((reps * 60 + 600)) long=1
LAB_SNAP_CYCLES=$reps
. /lab/scenarios/snapshot-cycles.sh
EOF
    initrd=$("$LAB_DIR/build-l1.sh" \
        --extra "$work/cycles-scenario.sh:/lab/scenarios/bench-snapshot-cycles.sh") ||
        lab_die "building the lab image failed"
    mkdir -p "$out/cycles"
    lab_log "running snapshot-cycles with $reps cycles in the lab"
    lab_bench_run truce/bench-snapshot-cycles $((reps * 60 + 600)) 2048 "$initrd" LAB-RESULT "$out/cycles"
    res=$(head -n 1 "$out/cycles/samples.txt" | cut -d' ' -f2,4-)
    fin=$(tr -d '\r' <"$LAB_BENCH_LOG" | sed -n 's/^snapshot-cycles: \([0-9]* cycles,.*\)/\1/p' | tail -n 1)
    last=$(tr -d '\r' <"$LAB_BENCH_LOG" | grep -a '^snapshot-cycles: cycle ' | tail -n 1 | cut -d' ' -f3 | tr -d :)
    # on a failure the scenario shows the guest's lines around it: the ones that are not counter lines
    odd=$(tr -d '\r' <"$LAB_BENCH_LOG" | sed -n 's/^  | [0-9]*[-:]//p' | grep -aE ' [0-9]+ [0-9.]+$' |
        grep -avE '^count [0-9]+ [0-9.]+$' | head -n 3 | paste -sd ';' || true)
    [ -z "$odd" ] || fin="${fin:-cycles completed: ${last:-0}}; malformed counter lines in the guest's output: $odd"
    echo "$(date -u +%Y-%m-%d) $reps ${res:-no result}: ${fin:-cycles completed: ${last:-0}}" >"$work/cycles.txt"
    lab_log "soak: $(cat "$work/cycles.txt")"
fi
[ -s "$out/$samples" ] || lab_die "no samples in $out/$samples (run bench/snapshot.sh first)"
notes=$(cut -d' ' -f2- "$out/notes.txt" 2>/dev/null | paste -sd ';' || true)

python3 - "$out/$samples" "$BENCH_DIR/RESULTS.md" "$(lab_kver)" \
    "$(qemu-system-x86_64 --version | head -n 1)" "$("$REPO_DIR/build/truce" --version)" \
    "$notes" "$(cat "$work/cycles.txt" 2>/dev/null || true)" "$BENCH_DIR" "${SNAP_MIGRATE:-1}" <<'PY'
import re, statistics, sys, time
samples, results, kver, qver, tver, notes, cycles, bench_dir, migrate = sys.argv[1:10]
sys.path.insert(0, bench_dir)
from ratio import write_section

snap, mig, steps = {}, {}, {}
STEPS = [("src", "paused", "source: the vCPUs out of KVM_RUN, devices paused"),
         ("src", "dirty-log", "source: the last dirty log collected"),
         ("src", "pages-sent", "source: the last pages and the end of memory sent"),
         ("src", "state-saved", "source: the vCPU and device state saved"),
         ("src", "state-sent", "source: the state sent"),
         ("dst", "end", "destination: the end of memory received"),
         ("dst", "state-received", "destination: the state received"),
         ("dst", "checked", "destination: the state checked"),
         ("dst", "state-set", "destination: KVM, vCPU and device state set"),
         ("dst", "answer", "destination: the answer sent"),
         ("src", "answer", "source: the answer received (its downtime)"),
         ("dst", "resumed", "destination: the vCPUs resumed"),
         ("src", "resumed", "source: the destination's word that the guest runs"),
         ("run", "run", "destination: the first KVM_RUN")]

def timeline(rest):
    """A BENCH-MIGT line's steps, ms after the source's pause (missing ones left out)."""
    src = re.search(r"source pause at (\d+) us:([^|]*)", rest)
    dst = re.search(r"destination end of memory at (\d+) us:([^|]*)", rest)
    if not src or not dst:
        return {}
    off = int(dst.group(1)) - int(src.group(1))
    sv = {k: int(v) for k, v in re.findall(r"([a-z-]+)=(\d+)", src.group(2))}
    dv = {k: int(v) + off for k, v in re.findall(r"([a-z-]+)=(\d+)", dst.group(2))}
    dv["end"] = off
    run = re.search(r"state=\d+ .*?run=(\d+)", rest)
    out = {("src", k): v / 1000 for k, v in sv.items()}
    out.update({("dst", k): v / 1000 for k, v in dv.items()})
    if run and "state-set" in dv:
        out[("run", "run")] = (dv["state-set"] + int(run.group(1))) / 1000
    return out

failed = []
for line in open(samples):
    f = line.split()
    if f[0] == "BENCH-MIGT" and len(f) > 4:
        for k, v in timeline(line.split(" ", 4)[4]).items():
            steps.setdefault(k, []).append(v)
    elif f[0] == "BENCH-SNAP" and len(f) == 10:
        snap.setdefault((f[1], int(f[2])), []).append([float(x) for x in f[4:10]])
    elif f[0] == "BENCH-MIG" and len(f) == 10 and float(f[4]) <= 0:
        failed.append(f"{f[1]} {f[2]} MiB run {f[3]}")  # no total time: it never completed
    elif f[0] == "BENCH-MIG" and len(f) == 10:
        mig.setdefault((f[1], int(f[2])), []).append([float(x) for x in f[4:10]])

def med(table, key, i):
    v = [r[i] for r in table.get(key, []) if r[i] >= 0]
    return statistics.median(v) if v else None

def fmt(x, unit=""):
    if x is None:
        return "n/a"
    if x == int(x) and not unit.endswith("ms"):
        return f"{x:.0f}{unit}"
    return (f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:.0f}") + unit

def ratio(t, q):
    if t is None or not q:
        return "n/a"
    return f"**{t / q:.3f}**" if t / q < 0.1 else f"**{t / q:.2f}**"

sizes = sorted({k[1] for k in snap})
rows = []
what = [(0, "create, as the API client sees it", " ms"),
        (1, "create, the VMM's own figure", " ms"),
        (2, "restore to running, as the API client sees it", " ms"),
        (3, "restore to running, the VMM's own figure", " ms"),
        (4, "guest memory in use (MemTotal - MemFree)", " MiB"),
        (5, "state written (blocks used)", " MiB")]
for mib in sizes:
    n = {v: len(snap.get((v, mib), [])) for v in ("truce", "qemu")}
    for i, label, unit in what:
        t, q = med(snap, ("truce", mib), i), med(snap, ("qemu", mib), i)
        rows.append(f"| {mib} MiB ({n['truce']}/{n['qemu']}) | {label} | {fmt(t, unit)} | {fmt(q, unit)} | {ratio(t, q)} |")
mrows = []
mwhat = [(0, "total time", " ms"),
         (1, "downtime, the VMM's figure", " ms"),
         (2, "data sent", " MiB"),
         (3, "rounds", ""),
         (4, "guest: 1 ms ticks missed around the switch", ""),
         (5, "guest: longest gap between ticks around the switch", " ms")]
msizes = sorted({k[1] for k in mig})
for mib in msizes:
    n = {v: len(mig.get((v, mib), [])) for v in ("truce", "qemu")}
    for i, label, unit in mwhat:
        t, q = med(mig, ("truce", mib), i), med(mig, ("qemu", mib), i)
        mrows.append(f"| {mib} MiB ({n['truce']}/{n['qemu']}) | {label} | {fmt(t, unit)} | {fmt(q, unit)} | {ratio(t, q)} |")

def every(table, i):
    return "; ".join(f"{v} {mib} MiB: " + ", ".join(fmt(r[i]) for r in rs)
                     for (v, mib), rs in sorted(table.items()))

srows = [f"| {label} | {fmt(statistics.median(steps[(w, k)]), ' ms')} |"
         for w, k, label in STEPS if steps.get((w, k))]
small = min(sizes) if sizes else None
lvmm = med(snap, ("truce", small), 3) if small else None
down = [med(mig, ("truce", m), 1) for m in msizes]
down = down[0] if down else None
goal_r = "n/a" if lvmm is None else f"{fmt(lvmm, ' ms')}: {'met' if lvmm < 3 else 'not met'}"
goal_d = "n/a" if down is None else f"{fmt(down, ' ms')}: {'met' if down < 30 else 'not met'}"
few = ""
if any(len(v) < max(len(w) for w in snap.values()) for v in snap.values()):
    few = (" (fewer runs of the big guest: `SNAP_BIG_REPS`; in the lab each boot of it spends"
           " minutes writing its memory)")
incomplete = ("" if not failed else " Left out, the migration did not complete (the VMM reported no total time): "
              + ", ".join(failed) + ".")
reps = max([len(v) for v in list(snap.values()) + list(mig.values())] or [0])
steps_table = ("" if not srows else f"""

The switch step by step (truce, ms after the source's pause, medians of {len(steps.get(('src', 'answer'), []))} migrations; the
"migration timeline" debug lines of the source and the destination, one clock, and the
destination's start-up timeline):

| step | truce |
| --- | --- |
""" + "\n".join(srows))
if migrate == "only":
    section = f"""<!-- bench/snapshot.sh migration begin: rewritten by SNAP_MIGRATE=only bench/snapshot.sh -->
### Live migration only: `SNAP_MIGRATE=only bench/snapshot.sh {reps}`, {time.strftime('%Y-%m-%d', time.gmtime())}

{tver}, {kver} as L1 and guest kernel, {qver}; the same guest and method as the table above
(L1: one emulated CPU, so the two VMMs of a migration share it). truce's downtime runs from the
source's pause to the destination's answer (its vCPUs resume right after it); QEMU's
(query-migrate `downtime`) ends when the source has sent everything, without the destination's
loading and start.

| guest (runs) | live migration, max downtime 30 ms, the guest rewriting 32 MiB at 8 MiB/s | truce | QEMU | truce/QEMU |
| --- | --- | --- | --- | --- |
""" + "\n".join(mrows) + steps_table + f"""

Downtime below 30 ms (issue 11's goal, reported, never asserted): {goal_d}. Every run: total ms
{every(mig, 0)}; downtime ms {every(mig, 1)}; guest's longest gap ms {every(mig, 5)}.{incomplete}
"""
    if notes:
        section += f"\nNotes from the run: {notes}\n"
    section += "<!-- bench/snapshot.sh migration end -->\n"
    text = open(results).read()
    if "<!-- bench/snapshot.sh migration begin" not in text:  # right after the main section
        end = "<!-- bench/snapshot.sh end -->\n"
        text = text.replace(end, end + "\n<!-- bench/snapshot.sh migration begin -->\n"
                            "<!-- bench/snapshot.sh migration end -->\n", 1)
        open(results, "w").write(text)
    write_section(results, "<!-- bench/snapshot.sh migration begin",
                  "<!-- bench/snapshot.sh migration end -->", section)
    print(section)
    sys.exit(0)
section = f"""<!-- bench/snapshot.sh begin: this section is rewritten by bench/snapshot.sh -->
## Snapshots and migration: truce vs QEMU, nested lab

Produced by `bench/snapshot.sh {reps}` on {time.strftime('%Y-%m-%d', time.gmtime())} ({tver}), {kver} as
L1 and guest kernel, {qver} (`-M pc -accel kvm -cpu host`), 1 vCPU, median of the runs counted
in brackets (truce/QEMU); each run boots a fresh guest{few}.

| guest (runs) | snapshot | truce | QEMU | truce/QEMU |
| --- | --- | --- | --- | --- |
""" + "\n".join(rows) + f"""

| guest (runs) | live migration, max downtime 30 ms, the guest rewriting 32 MiB at 8 MiB/s | truce | QEMU | truce/QEMU |
| --- | --- | --- | --- | --- |
""" + "\n".join(mrows) + steps_table + f"""

Issue 11's goals (reported, never asserted): restore below 3 ms of VMM time for 128 MiB —
{goal_r}; downtime below 30 ms — {goal_d}.

- The guest (the cloud kernel and the lab initramfs, check `fill` in
  bench/lab/snapshot-scenario.sh) writes non-zero data into a tmpfs until only 24 MiB (64 for
  the migration) of its available memory are left, so the memory is really in use; it then
  prints a line every 0.5 s, and a restore or migration counts only when those lines go on.
- Create: truce `PATCH /vm` Paused, then `PUT /snapshot/create` (Full) timed; QEMU `stop`, then
  `migrate` to `exec:cat > FILE` timed until query-migrate says completed (QEMU 7.2 has no
  `file:` URI). Restore to running, in a fresh process (its start not counted): truce
  `PUT /snapshot/load` (File backend: the memory file mapped privately, pages load on demand;
  `resume_vm` true) timed until its 204; QEMU (started with `-incoming defer`)
  `migrate-incoming exec:cat FILE`, then `cont` once the state is in, timed until query-status
  says running.
- As the API client sees it: truce through curl (`time_total`), QEMU through QMP by
  bench/lab/qmptool.c (CLOCK_MONOTONIC, polling every 1 ms). The VMM's own figure: truce's API
  server's handling time of that one request (metrics `latency_us_total`, `latency_us_max`);
  QEMU's query-migrate `total-time` for create, none for restore.
- Migration: truce `PUT /migration` {{`destination_url`: `unix:...`, `max_downtime_ms`: 30}} to
  `truce migrate-receive --listen unix:...`, figures from the source's stop message (total:
  request -> the destination's answer; downtime: pause -> the destination's answer; rounds:
  pre-copy rounds before the last); QEMU `migrate` to a second QEMU started with `-incoming
  unix:...`, `downtime-limit` 30, figures from query-migrate (`total-time`, `downtime`, RAM
  `transferred`; rounds: `dirty-sync-count`). The guest runs `mobtool dirty 32 8` (32 MiB
  rewritten at 8 MiB/s, each page checked to hold the previous pass) under both.
- Every QEMU migration runs with `max-bandwidth` unlimited (its default cap is 128 MiB/s; truce
  has none). QEMU skips zero pages in its stream; truce writes a sparse memory file.
- The guest's own measure: `mobtool ticks` in the guest sleeps to every 1 ms deadline of
  CLOCK_MONOTONIC and counts the deadlines it missed (the source's last one-second line and the
  destination's first two). In the lab, L1 itself is emulated (TCG): even without a migration
  the guest misses many ticks, so only the comparison means something.
- Absolute times are lab figures (TCG-emulated nested virtualisation); the ratios are the result.
- Every run: create ms {every(snap, 0)}; restore ms {every(snap, 2)}; migration total ms
  {every(mig, 0)}; downtime ms {every(mig, 1)}. Raw lines: `BENCH-SNAP` / `BENCH-MIG` in the
  lab log (the scenario's header says what the fields are).
"""
if cycles:
    c = cycles.split(" ", 2)
    section += (f"\nSoak (`bench/snapshot.sh --cycles {c[1]}`, `make bench-snapshot-cycles`, {c[0]}): "
                f"the lab scenario snapshot-cycles with {c[1]} snapshot/restore cycles of a guest writing an "
                f"fsync'd counter: {c[2]}.\n")
if notes:
    section += f"\nNotes from the run: {notes}\n"
section += "<!-- bench/snapshot.sh end -->\n"
write_section(results, "<!-- bench/snapshot.sh begin", "<!-- bench/snapshot.sh end -->", section)
print(section)
PY
