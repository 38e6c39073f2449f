#!/usr/bin/env python3
# start_cpu_table.py — bench/start-cpu.sh's table: start_cpu.py's JSON lines (one per VMM) as one
# Markdown table, µs of CPU per run by bucket, largest truce bucket first.
import json
import sys


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    vmms = [r["vmm"] for r in rows]
    names = {"qemu": "QEMU microvm"}
    keys = sorted({k for r in rows for k in r["buckets_us"]},
                  key=lambda k: -rows[0]["buckets_us"].get(k, 0))
    print("| where (stack of the sample) | " + " | ".join(names.get(v, v) + " µs/run" for v in vmms)
          + " |")
    print("|---|" + "---:|" * len(vmms))
    print("| **all of the process's CPU, start to exit** | "
          + " | ".join(f"**{r['cpu_per_run_us']}**" for r in rows) + " |")
    for k in keys:
        print(f"| {k} | " + " | ".join(str(r["buckets_us"].get(k, 0)) for r in rows) + " |")


if __name__ == "__main__":
    main()
