#!/usr/bin/env python3
# footprint.py — where a running VM's memory outside guest RAM goes: starts the tiny PVH guest on
# this host's /dev/kvm under truce (bare, or with a disk + user net + rng) REPS times, samples
# /proc/PID/smaps SAMPLE_S after the start and prints JSON: per run the resident set (Rss) and
# the private memory (Anonymous: pages of this process alone, what N VMs really cost each)
# outside guest RAM, and per mapping group the median of both. Run by bench/footprint.sh.
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

GUEST_MIB = 64
SAMPLE_S = 1.5


def command(truce, kernel, cfg, d):
    cmd = [truce, "run", "--kernel", kernel, "--cmdline", "spin", "--memory", f"{GUEST_MIB}M",
           "--cpus", "1", "--console", f"file:{d}/serial.txt"]
    if cfg == "devices":
        cmd += ["--disk", f"path={d}/disk.img", "--net", "user", "--rng"]
    return cmd


def group(m, prev, is_guest):
    """The row mapping M (PREV: the mapping before it) counts in."""
    name, perm = m["name"], m["perm"]
    if is_guest:
        return "guest RAM"
    if name.startswith("/"):
        base = os.path.basename(name)
        who = ("truce" if base.startswith("truce") else
               "libc and ld.so" if base.startswith(("libc.", "ld-linux")) else "other libraries")
        kind = ("code" if "x" in perm else "writable data" if "w" in perm else
                "read-only data and relocated pointers")
        return f"{who}: {kind}"
    if name == "[heap]":
        return "malloc heap"
    if name == "[stack]":
        return "main thread stack"
    if name.startswith("anon_inode:") or name.startswith("[v"):
        return "shared with the kernel (kvm_run, io_uring rings, vDSO)"
    if name == "" and perm == "rw-p" and prev is not None and prev["name"] == "" \
            and prev["perm"] == "---p" and prev["size"] == 4:
        return "other threads' stacks"
    return "other anonymous memory (large blocks, .bss)"


def sample(pid):
    maps, cur = [], None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
            if m:
                cur = {"size": (int(m[2], 16) - int(m[1], 16)) // 1024, "perm": m[3],
                       "name": m[4].strip(), "Rss": 0, "Anonymous": 0}
                maps.append(cur)
                continue
            k, _, v = line.partition(":")
            if cur is not None and k in ("Rss", "Anonymous"):
                cur[k] = int(v.split()[0])
    anon = [m for m in maps if m["name"] == "" and m["size"] >= GUEST_MIB * 1024]
    guest = max(anon, key=lambda m: m["size"]) if anon else None
    groups = {}
    for i, m in enumerate(maps):
        g = group(m, maps[i - 1] if i else None, m is guest)
        r = groups.setdefault(g, [0, 0])
        r[0] += m["Rss"]
        r[1] += m["Anonymous"]
    out = {k: v for k, v in groups.items() if k != "guest RAM"}
    return {"rss_kib": sum(v[0] for v in out.values()),
            "private_kib": sum(v[1] for v in out.values()),
            "guest_kib": groups.get("guest RAM", [0, 0])[0], "groups": out}


def run(truce, kernel, cfg):
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/disk.img", "wb") as f:
            f.truncate(1 << 20)
        p = subprocess.Popen(command(truce, kernel, cfg, d), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            time.sleep(SAMPLE_S)
            if p.poll() is not None:
                return {"error": f"truce exited with {p.returncode}"}
            return sample(p.pid)
        finally:
            p.terminate()
            p.wait(20)


def main():
    truce, kernel, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    res = {"command": {c: command("truce", "actions.elf", c, "DIR") for c in ("bare", "devices")},
           "configs": {}}
    for cfg in ("bare", "devices"):
        runs = [run(truce, kernel, cfg) for _ in range(reps)]
        good = [r for r in runs if "error" not in r]
        med = {}
        for g in sorted({g for r in good for g in r["groups"]}):
            med[g] = [statistics.median(r["groups"].get(g, [0, 0])[i] for r in good) for i in (0, 1)]
        res["configs"][cfg] = {
            "runs": runs, "good": len(good),
            "rss_kib": statistics.median(r["rss_kib"] for r in good) if good else -1,
            "private_kib": statistics.median(r["private_kib"] for r in good) if good else -1,
            "groups": med}
    json.dump(res, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
