#!/bin/bash
# footprint.sh — the footprint bench (make bench-footprint): where one running VM's memory outside
# guest RAM goes, per mapping group, on this host's /dev/kvm: the tiny PVH guest idle, bare and with
# a disk + user networking + rng, REPS runs each (median). Resident set (Rss: what `ps` shows,
# shared library pages included) and private memory (Anonymous: pages of this process alone, what
# each of N VMs really costs). BASE=path/to/an/older/truce adds its totals for comparison (named
# BASE_LABEL, e.g. the commit it was built from). Writes
# its section of bench/RESULTS.md. Usage: bench/footprint.sh [REPS] (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
case "$reps" in '' | *[!0-9]* | 0) echo "footprint.sh: REPS must be a positive number, got '$reps'" >&2; exit 2 ;; esac
[ -w /dev/kvm ] || { echo "footprint.sh: /dev/kvm is not usable here" >&2; exit 1; }
make -s build/truce guests
out=${FOOTPRINT_OUT:-/tmp/footprint-$$}
mkdir -p "$out"
nice python3 bench/footprint.py build/truce build/guests/actions.elf "$reps" >"$out/truce.json"
base_note=
if [ -n "${BASE:-}" ]; then
    nice python3 bench/footprint.py "$BASE" build/guests/actions.elf "$reps" >"$out/base.json"
    base_note="$out/base.json"
fi

section=$(mktemp)
trap 'rm -f "$section"' EXIT
{
    echo "<!-- bench/footprint.sh begin: this section is rewritten by bench/footprint.sh -->"
    echo "## Footprint: where a running VM's memory goes (outside guest RAM), this host's /dev/kvm"
    echo
    echo "Produced by \`bench/footprint.sh $reps\` on $(date -u +%Y-%m-%d) ($(build/truce --version)),"
    echo "$(uname -r), medians of $reps runs, sampled 1.5 s after the start."
    echo
    BASE_LABEL=${BASE_LABEL:-${BASE:-}} python3 - "$out/truce.json" $base_note <<'PYEOF'
import json, os, sys
d = json.load(open(sys.argv[1]))
base = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else None
cfgs = (("bare", "no devices"), ("devices", "disk + user net + rng"))
head = "| | " + " | ".join(f"{label}: Rss | {label}: private" for _, label in cfgs) + " |"
print(head)
print("|---" + "|---:" * 4 + "|")
def row(name, res):
    cells = []
    for c, _ in cfgs:
        r = res["configs"][c]
        cells += [f"{r['rss_kib']:.0f} KiB", f"{r['private_kib']:.0f} KiB"]
    print(f"| {name} | " + " | ".join(cells) + " |")
if base:
    row(f"before ({os.environ.get('BASE_LABEL', 'BASE')})", base)
row("**total, truce now**", d)
groups = sorted({g for c, _ in cfgs for g in d["configs"][c]["groups"]},
                key=lambda g: -d["configs"]["devices"]["groups"].get(g, [0, 0])[0])
for g in groups:
    cells = []
    for c, _ in cfgs:
        v = d["configs"][c]["groups"].get(g, [0, 0])
        cells += [f"{v[0]:.0f}", f"{v[1]:.0f}"]
    print(f"| {g} | " + " | ".join(cells) + " |")
print()
print("Commands: `" + " ".join(d["command"]["bare"]).replace("DIR/", "") + "`; devices: `"
      + " ".join(d["command"]["devices"]).replace("DIR/", "") + "` (seccomp on). Every run: "
      + "; ".join(f"{c} Rss/private KiB " + ", ".join(
          f"{r['rss_kib']}/{r['private_kib']}" for r in d["configs"][c]["runs"] if "error" not in r)
          for c, _ in cfgs) + ".")
priv = d["configs"]["devices"]["private_kib"]
print()
print(f"Issue 14's goal, private memory at or below 256 KiB with a disk, user networking and an "
      f"entropy device: {'met' if priv <= 256 else 'not met'} ({priv:.0f} KiB).")
PYEOF
    echo
    echo "- Rss counts every page mapped in the process, shared library code included (the kernel's"
    echo "  fault-around maps library code 64 KiB at a time); private counts pages of this process"
    echo "  alone (smaps' Anonymous: heap, stacks, copied-on-write relocations and .data of each"
    echo "  library), which is what each more VM costs. Guest RAM: the largest anonymous mapping."
    echo "- What keeps them small (src/util/footprint.c, main.c, cli.c): one malloc arena for every"
    echo "  thread; large, mostly cold blocks on pages of their own (\`page_zalloc\`: the console's"
    echo "  16 KiB output ring, virtio-net's receive buffer and held-chain ring, virtio-blk's and the"
    echo "  disk backend's request tables, fw_cfg's item table, libslirp's backend with its 64 KiB"
    echo "  transmit buffer, the i8042's host FIFOs), so a page is backed only once written; the"
    echo "  host's CPUID table freed once every vCPU has its own; each virtio device's queue array sized to"
    echo "  the queues it has (not 32), each PCI function's BAR regions in one table of 8 (not 8"
    echo "  per BAR) and its MSI-X table sized by its owner (virtio: queues + 1 vectors, not 64);"
    echo "  glib's slice allocator off (G_SLICE=always-malloc, as glib does itself from 2.76);"
    echo "  no 1 MiB static buffer in the middle of .bss; the parsed VM configuration (200 KiB, mostly"
    echo "  paths of devices not asked for) freed once the VM holds its page-wise copy, laid out"
    echo "  small settings first (one page, then one per path set); seccomp rule texts and syscall"
    echo "  names as arrays, not pointers (a pointer table of a position-independent program is"
    echo "  relocated, i.e. copied into each process, at start); libslirp and glib loaded only with"
    echo "  --net user and libseccomp only to compile a filter (a VM loads the ones compiled at"
    echo "  build time); one idle tick after the start, once every thread runs under its seccomp"
    echo "  filter, \`footprint_trim\` gives back free heap pages, the main thread's stack from 256"
    echo "  bytes under its stack pointer down (the frames that stay while the VM runs are kept"
    echo "  small) and the code and read-only data of the program and its libraries (the pages stay"
    echo "  in the page cache); \`-z now\`, so the dynamic linker's code is not needed again; thread"
    echo "  stacks of 256 KiB (vCPU) and 512 KiB (I/O) instead of 8 MiB, the deepest known paths"
    echo "  checked by tests/guests/stacks.sh."
    echo "- What is left with devices: the heap (about 30 KiB of it glib's, libslirp's and the"
    echo "  dynamic linker's for them: link maps, glib's quark and hash tables, libslirp's state and"
    echo "  GRand), the relocated pointers and .data of libc, ld.so, glib, pcre2, libm and libslirp"
    echo "  (each library at least one page of each), libc's .bss, the main thread's static TLS (2"
    echo "  pages), two pages per thread stack (thread control block and TLS take 4.2 KiB), the"
    echo "  VM's configuration copy (one page per path or command line set: its fixed 4 KiB fields)"
    echo "  and truce's own relocated tables (ops structs, option tables: 5 pages)."
    echo "<!-- bench/footprint.sh end -->"
} >"$section"

results=bench/RESULTS.md
if grep -q '^<!-- bench/footprint.sh begin' "$results"; then
    awk -v f="$section" '
        /^<!-- bench\/footprint.sh begin/ { while ((getline l < f) > 0) print l; skip = 1; next }
        /^<!-- bench\/footprint.sh end/ { skip = 0; next }
        !skip' "$results" >"$results.tmp"
    mv "$results.tmp" "$results"
else
    { echo; cat "$section"; } >>"$results"
fi
cat "$section"
