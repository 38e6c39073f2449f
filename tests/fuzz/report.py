#!/usr/bin/env python3
"""report.py — the table of a `make fuzz` run: reads build/fuzz/logs/<target>.log (libFuzzer's
output) and build/fuzz/artifacts/, writes tests/fuzz/RESULTS.md. Exits 1 when a target crashed,
hung or leaked (an artifact was written) or left no statistics."""
import argparse
import datetime
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# What each target feeds to which code (the first line of each target's source says the same).
WHAT = {
    "fuzz_http": "HTTP server on its UNIX socket: framing, pipelining, router, handlers",
    "fuzz_http_parse": "HTTP request-head parser (every prefix)",
    "fuzz_config": "--config-file JSON and every configuring PUT/PATCH body",
    "fuzz_cli": "`truce run` flags + config validation, `truce jail` flags",
    "fuzz_virtq": "split-virtqueue walker (indirect, aliasing, loops) + blk request parser",
    "fuzz_vsock": "vsock engine: guest packet streams, host sockets",
    "fuzz_blk": "virtio-blk through virtio-pci: a hostile driver program",
    "fuzz_net": "virtio-net TX headers/offloads, RX (mergeable/big), backpressure",
    "fuzz_vsock_dev": "virtio-vsock device + host UDS programs",
    "fuzz_console": "virtio-console TX, RX with host input, emerg_wr",
    "fuzz_rng": "virtio-rng requests",
    "fuzz_legacy": "every non-PCI device's ports (UART, i8042, CMOS, fw_cfg + DMA, ACPI PM, ...)",
    "fuzz_pci": "PCI config (CF8/CFC, ECAM), BAR sizing/moves, MSI-X table/PBA",
    "fuzz_mmio": "virtio-mmio transport registers, rings in RAM, notifications",
    "fuzz_boot": "boot_load: bzImage, PVH ELF, multiboot, firmware ROM, initrd, MP/ACPI",
    "fuzz_multiboot": "multiboot images: header search, a.out kludge, ELF, boot information",
    "fuzz_snapshot": "snapshot file: header, snapshot_check, every device's restore",
    "fuzz_mmds": "MMDS responder: guest ARP/TCP frame sequences, HTTP requests, tokens",
}

STATUS = re.compile(r"^#(\d+)\s+(?:INITED|NEW|REDUCE|pulse|DONE|RELOAD)\s+cov: (\d+) ft: (\d+) "
                    r"corp: (\d+)/(\d+\w*)(?:.*?exec/s: (\d+))?")


def parse(log):
    """Last status line's figures, the executed count, and how the run ended."""
    last, execs, end, secs = None, None, "no output", None
    with open(log, errors="replace") as f:
        for line in f:
            m = STATUS.match(line)
            if m:
                last = m
                if re.match(r"^#\d+\s+DONE\s", line):
                    end = "done"
            m3 = re.match(r"Done \d+ runs in (\d+) second", line)
            if m3:
                secs = int(m3.group(1))
            m2 = re.match(r"stat::number_of_executed_units: (\d+)", line)
            if m2:
                execs = int(m2.group(1))
            # libFuzzer's own verdict (crash, timeout, leak, OOM, sanitizer) or a stuck device
            if line.startswith("SUMMARY: ") or "is stuck" in line:
                end = line.strip()[:120]
    if not last:
        return None
    return {
        "execs": execs if execs is not None else int(last.group(1)),
        "cov": int(last.group(2)),
        "ft": int(last.group(3)),
        "corp": "%s / %s" % (last.group(4), last.group(5)),
        "end": end,
        "secs": secs,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, required=True)
    ap.add_argument("--runs", type=int, required=True)
    ap.add_argument("--logs", default=os.path.join(ROOT, "build/fuzz/logs"))
    ap.add_argument("--artifacts", default=os.path.join(ROOT, "build/fuzz/artifacts"))
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("targets", nargs="+")
    a = ap.parse_args()
    arts = os.listdir(a.artifacts) if os.path.isdir(a.artifacts) else []
    rows, bad = [], []
    for t in a.targets:
        log = os.path.join(a.logs, t + ".log")
        r = parse(log) if os.path.exists(log) else None
        crashes = sorted(x for x in arts if x.startswith(t + "-"))
        if r is None:
            bad.append("%s: no statistics in %s" % (t, log))
            rows.append("| %s | - | - | - | - | - | - | no run | %s |" % (t, WHAT.get(t, "")))
            continue
        if crashes or r["end"] != "done":
            bad.append("%s: %s %s" % (t, r["end"], " ".join(crashes)))
        rows.append("| %s | %s | %d | %d | %d | %s | %d | %s | %s |" % (
            t, r["secs"] if r["secs"] is not None else "-", r["execs"], r["cov"], r["ft"],
            r["corp"], len(crashes),
            "completed" if r["end"] == "done" else r["end"], WHAT.get(t, "")))
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")
    with open(a.out, "w") as f:
        f.write("# Fuzzing results\n\n")
        f.write("Written by `make fuzz` (tests/fuzz/report.py) on %s at commit %s.\n\n"
                % (now, commit))
        f.write("Budget: each target runs until %d executions or %d s, whichever comes first "
                "(`FUZZ_RUNS`, `FUZZ_SECONDS`), one after the other, `nice`d, under ASan + UBSan, "
                "on a 2-core machine shared with other work. A crash, hang, leak or sanitizer "
                "report stops that target and leaves its input in build/fuzz/artifacts/.\n\n"
                % (a.runs, a.seconds))
        f.write("Columns: s = seconds run; execs = inputs run; cov = edges covered (libFuzzer's "
                "`cov:` at the end); ft = features; corpus = inputs / bytes in the corpus at the "
                "end (seeds from tests/fuzz/corpus/<target>/ plus what the run added under "
                "build/fuzz/corpus/).\n\n")
        f.write("| target | s | execs | cov | ft | corpus | crashes | end | fuzzes |\n")
        f.write("|---|---:|---:|---:|---:|---:|---:|---|---|\n")
        f.write("\n".join(rows) + "\n")
        regress = sorted("%s/%s" % (t, x) for t in a.targets
                         for x in (os.listdir(os.path.join(HERE, "corpus", t))
                                   if os.path.isdir(os.path.join(HERE, "corpus", t)) else [])
                         if x.startswith("regress-"))
        f.write("\nRegression inputs kept in tests/fuzz/corpus (each once crashed or hung truce; "
                "every brief run in `make test` replays them): %s.\n"
                % (", ".join("`%s`" % r for r in regress) if regress else "none"))
        if bad:
            f.write("\nFindings of this run:\n\n" + "".join("- %s\n" % b for b in bad))
    print(open(a.out).read())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
