#!/usr/bin/env python3
# boot_breakdown.py — where a tiny guest's boot goes, truce vs QEMU microvm on this host's
# /dev/kvm: exec -> first KVM_RUN, exits by kind and the userspace time handling them, exec -> exit.
# Prints the Markdown section for bench/RESULTS.md; run by bench/boot-breakdown.sh.
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

KVM_RUN = 0xAE80
REASONS = {1: "exception", 2: "io", 5: "hlt", 6: "mmio", 7: "irq_window_open", 8: "shutdown",
           9: "fail_entry", 10: "intr", 17: "internal_error", 24: "system_event",
           29: "rdmsr", 30: "wrmsr"}
TRUCE_ARGS = ["run", "--kernel", "KERNEL", "--cmdline", "exit", "--memory", "64M", "--cpus", "1",
              "--console", "SERIAL", "--log-level", "debug"]
QEMU_ARGS = ["-M", "microvm", "-accel", "kvm", "-cpu", "kvm64", "-smp", "1", "-m", "64",
             "-kernel", "KERNEL", "-append", "exit", "-nodefaults", "-no-user-config", "-display",
             "none", "-serial", "SERIAL", "-no-reboot", "-device",
             "isa-debug-exit,iobase=0xf4,iosize=4", "-msg", "timestamp=on", "-trace",
             "kvm_run_exit", "-trace", "kvm_vcpu_ioctl", "-D", "TRACE"]


def fill(args, **kw):
    return [kw.get(a, a) for a in args]


def run_truce(kernel, d):
    cmd = [os.environ.get("TRUCE", "build/truce")] + fill(TRUCE_ARGS, KERNEL=kernel,
                                                          SERIAL=f"file:{d}/serial")
    t0 = time.monotonic_ns()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    total = time.monotonic_ns() - t0
    m = re.search(r"exit-stats first_run_ns=(\d+) now_ns=(\d+)(.*)", p.stderr)
    if p.returncode != 255 or not m:
        return None, f"truce exit status {p.returncode}: {p.stderr.strip()[-200:]}"
    exits = {}
    for kind, count, us in re.findall(r" (\w+)=(\d+)/(\d+)", m.group(3)):
        exits[kind] = (int(count), int(us) * 1000)
    return {"first_run_ns": int(m.group(1)) - t0, "stopped_ns": int(m.group(2)) - t0,
            "total_ns": total, "exits": exits}, ""


def run_qemu(kernel, d):
    cmd = ["qemu-system-x86_64"] + fill(QEMU_ARGS, KERNEL=kernel, SERIAL=f"file:{d}/serial",
                                        TRACE=f"{d}/trace")
    t0 = time.time_ns()
    m0 = time.monotonic_ns()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    total = time.monotonic_ns() - m0
    if p.returncode != 255:  # isa-debug-exit: (0x7f << 1) | 1
        return None, f"QEMU exit status {p.returncode}: {p.stderr.strip()[-200:]}"
    first, pending, exits = None, None, {}
    for line in open(f"{d}/trace"):
        m = re.match(r"\d+@(\d+)\.(\d+):(kvm_run_exit|kvm_vcpu_ioctl) (.*)", line)
        if not m:
            continue
        ts = int(m.group(1)) * 10**9 + int(m.group(2).ljust(6, "0")[:6]) * 1000
        if m.group(3) == "kvm_run_exit":
            pending = (int(re.search(r"reason (\d+)", m.group(4)).group(1)), ts)
            continue
        if int(re.search(r"type (0x[0-9a-f]+)", m.group(4)).group(1), 16) != KVM_RUN:
            continue
        if first is None:
            first = ts
        if pending:
            kind = REASONS.get(pending[0], f"reason_{pending[0]}")
            c, t = exits.get(kind, (0, 0))
            exits[kind] = (c + 1, t + ts - pending[1])
            pending = None
    stopped = pending[1] if pending else None
    if pending:  # the last exit (the guest's debug-exit) ends the VM: counted, no re-entry
        kind = REASONS.get(pending[0], f"reason_{pending[0]}")
        c, t = exits.get(kind, (0, 0))
        exits[kind] = (c + 1, t)
    if first is None:
        return None, "no KVM_RUN in QEMU's trace (is its trace backend 'log'?)"
    if stopped is None:
        return None, "QEMU's trace does not end with an exit"
    return {"first_run_ns": first - t0, "stopped_ns": stopped - t0, "total_ns": total,
            "exits": exits}, ""


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: boot_breakdown.py KERNEL RUNS")
    kernel, runs = sys.argv[1], int(sys.argv[2])
    res = {"truce": [], "qemu": []}
    errors = []
    for i in range(runs + 1):  # run 0 warms the page cache and is not counted
        order = ("truce", "qemu") if i % 2 == 0 else ("qemu", "truce")
        for vmm in order:
            with tempfile.TemporaryDirectory(prefix="bootbd-") as d:
                r, err = (run_truce if vmm == "truce" else run_qemu)(kernel, d)
            if err:
                errors.append(err)
            elif i:
                res[vmm].append(r)
    print("| VMM | good runs | exec -> first KVM_RUN | first KVM_RUN -> stopped | exits during "
          "boot: count (userspace time) | exit handling | stopped -> process exit | exec -> exit "
          "| VMM share |")
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for vmm in ("truce", "qemu"):
        rs = res[vmm]
        name = "QEMU microvm" if vmm == "qemu" else vmm
        if not rs:
            print(f"| {name} | 0/{runs} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
            continue
        hand = [sum(t for _, t in r["exits"].values()) for r in rs]
        kinds = sorted({k for r in rs for k in r["exits"]})
        desc = ", ".join(
            f"{k} {med([r['exits'].get(k, (0, 0))[0] for r in rs]):.0f} "
            f"({med([r['exits'].get(k, (0, 0))[1] for r in rs]) / 1e3:.0f} µs)" for k in kinds)
        share = med([(r["first_run_ns"] + h + r["total_ns"] - r["stopped_ns"]) / r["total_ns"]
                     for r, h in zip(rs, hand)])
        print(f"| {name} | {len(rs)}/{runs} | {med([r['first_run_ns'] for r in rs]) / 1e6:.1f} ms | "
              f"{med([r['stopped_ns'] - r['first_run_ns'] for r in rs]) / 1e6:.1f} ms | {desc} | "
              f"{med(hand) / 1e6:.2f} ms | "
              f"{med([r['total_ns'] - r['stopped_ns'] for r in rs]) / 1e6:.1f} ms | "
              f"{med([r['total_ns'] for r in rs]) / 1e6:.1f} ms | {share * 100:.0f}% |")
    print()
    print("Samples (ms from exec to: first KVM_RUN / stopped / process exit; exits count:µs by kind):")
    print()
    for vmm in ("truce", "qemu"):
        for r in res[vmm]:
            ex = " ".join(f"{k}={c}:{t // 1000}" for k, (c, t) in sorted(r["exits"].items()))
            print(f"- {vmm}: {r['first_run_ns'] / 1e6:.2f} / {r['stopped_ns'] / 1e6:.2f} / "
                  f"{r['total_ns'] / 1e6:.2f} / {ex}")
    if errors:
        print(f"\nFailed runs ({len(errors)}): {errors[0]}")


if __name__ == "__main__":
    main()
