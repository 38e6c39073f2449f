#!/usr/bin/env python3
# boot_trace.py — bench/boot.sh's "Boot, explained" table from the BENCH-TRACE lines of the lab
# log (bench/lib.sh, mode trace): per VMM and kernel, exec -> first KVM_RUN, exits by kind and the
# userspace time handling them, the last exit -> process exit, and the VMM's share of the boot.
# Usage: boot_trace.py LOG  (prints Markdown)
import statistics
import sys

REASONS = {"1": "exception", "2": "io", "5": "hlt", "6": "mmio", "7": "irq_window_open",
           "8": "shutdown", "9": "fail_entry", "10": "intr", "17": "internal_error",
           "24": "system_event", "29": "rdmsr", "30": "wrmsr"}


def parse(line):
    f = {}
    for tok in line.split()[1:]:
        k, _, v = tok.partition("=")
        f[k] = v
    return f


def breakdown(f):
    """-> (exec->first run ms, {kind: (count, us)}, last exit->process exit ms, exec->exit ms,
    exec->/init ms) or None when the run is not usable."""
    if f.get("status") != "0" or f.get("timed_out") != "0":
        return None
    total_ms = float(f["exit_ms"])
    exits = {}
    if f["vmm"] == "truce":
        if "first_run_ns" not in f:
            return None
        start = int(f["start_mono_ns"])
        first_ms = (int(f["first_run_ns"]) - start) / 1e6
        stopped_ms = (int(f["now_ns"]) - start) / 1e6
        for k, v in f.items():
            if "/" in v and k not in ("vmm",):
                c, us = v.split("/")
                exits[k] = (int(c), int(us))
    else:
        if not f.get("first_us") or f["first_us"] == "0":
            return None
        start = int(f["start_wall_us"])
        first_ms = (int(f["first_us"]) - start) / 1e3
        stopped_ms = (int(f["last_us"]) - start) / 1e3
        for item in filter(None, f.get("exits", "").split(",")):
            r, c, us = item.split(":")
            exits[REASONS.get(r, f"reason_{r}")] = (int(c), int(us))
    return first_ms, exits, total_ms - stopped_ms, total_ms, float(f["marker_ms"])


def handling_ms(b):
    """A breakdown's userspace exit handling, ms."""
    return sum(us for _, us in b[1].values()) / 1000


def vmm_ms(b):
    """A breakdown's VMM time, ms: exec -> first KVM_RUN, exit handling, last exit -> exit."""
    return b[0] + handling_ms(b) + b[2]


def phases(f):
    """truce's exec -> first KVM_RUN by phase, ms: [(name, ms)] from labrun's exec stamp, the
    start-up timeline's main_ns and begin_ns, then its phases (ss_* fields), or None."""
    if f.get("vmm") != "truce" or "ss_main_ns" not in f or f.get("status") != "0":
        return None
    start, main, begin = int(f["start_mono_ns"]), int(f["ss_main_ns"]), int(f["ss_begin_ns"])
    out = [("exec -> main()", (main - start) / 1e6), ("main() -> build", (begin - main) / 1e6)]
    for k, v in f.items():
        if k.startswith("ss_") and k not in ("ss_restore", "ss_total", "ss_main_ns",
                                             "ss_begin_ns"):
            out.append((k[3:], int(v) / 1e3))
    return out


def phases_table(runs, floor):
    """The truce rows' exec -> first KVM_RUN split into phases (medians), when the runs have
    them; FLOOR: exec -> main() of bench/vmm_floor.c in the same L1 (µs samples)."""
    rows = []
    for kernel in ("small", "cloud"):
        good = [p for p in (phases(f) for f in runs.get((kernel, "truce-fields"), [])) if p]
        if not good:
            continue
        names = [n for n, _ in good[0]]
        med = {n: statistics.median(dict(p).get(n, 0) for p in good) for n in names}
        rows.append((kernel, len(good), names, med))
    if not rows:
        return
    print()
    print("truce's exec -> first KVM_RUN, phase by phase (median ms; `start-stats`, "
          "src/machine/lifecycle.c; `run` ends at the first KVM_RUN):")
    print()
    for kernel, n, names, med in rows:
        print(f"- {kernel} ({n} runs): " + ", ".join(f"{k} {med[k]:.1f}" for k in names))
        lz = [f for f in runs.get((kernel, "truce-fields"), []) if "lz_ms" in f]
        if lz:
            print(f"  - after the first KVM_RUN, beside the guest (src/vm/lazyload.c): the loader "
                  f"put {statistics.median(int(f['lz_kib']) for f in lz) / 1024:.1f} MiB of kernel "
                  f"and initrd in place in {statistics.median(int(f['lz_ms']) for f in lz)} ms "
                  f"(median of {len(lz)}; {min(int(f['lz_ms']) for f in lz)}-"
                  f"{max(int(f['lz_ms']) for f in lz)}), "
                  f"{statistics.median(int(f['lz_faults']) for f in lz)} of its 256 KiB pieces "
                  f"first asked for by a fault")
    if floor:
        print(f"- for comparison, exec -> main() of a program linked as truce is (libc only, -z now; "
              f"bench/vmm_floor.c without arguments) that does nothing else, in the same L1: "
              f"{statistics.median(floor) / 1000:.1f} ms (median of {len(floor)}; "
              f"{min(floor) / 1000:.1f}-{max(floor) / 1000:.1f})")


FLOOR_STEPS = (("exec -> main()", "start", "main_ns"), ("KVM_CREATE_VM", "main_ns", "kvm_ns"),
               ("RAM + memslot", "kvm_ns", "ram_ns"), ("irqchip", "ram_ns", "irqchip_ns"),
               ("kernel + initrd read", "irqchip_ns", "load_ns"), ("vCPU", "load_ns", "vcpu_ns"))


def floor_steps(f):
    """A bench/vmm_floor.c run's steps, ms: {step: ms} with "exit (VM destroyed)" (its last stamp
    -> the process's exit) and "total" (exec -> exit), or None when the run is not usable."""
    if f.get("status") != "0" or "end_ns" not in f:
        return None
    at = {k: int(f[k]) for k in ("main_ns", "kvm_ns", "ram_ns", "irqchip_ns", "load_ns", "vcpu_ns",
                                  "end_ns")}
    at["start"] = int(f["start_mono_ns"])
    out = {name: (at[b] - at[a]) / 1e6 for name, a, b in FLOOR_STEPS}
    total = float(f["exit_ms"])
    out["exit (VM destroyed)"] = total - (at["end_ns"] - at["start"]) / 1e6
    out["total"] = total
    out["MiB"] = int(f["bytes"]) / 2**20
    return out


def floor_table(floors, shares):
    """The kernel's part of a boot, per kernel (medians of bench/vmm_floor.c runs), beside truce's
    VMM time: SHARES {kernel: (truce's VMM ms, truce's exec -> exit ms, truce's share %)}."""
    if not floors:
        return
    med = statistics.median
    names = [n for n, _, _ in FLOOR_STEPS] + ["exit (VM destroyed)"]
    print()
    print("The floor: the kernel's part of the same boot, which any VMM pays (bench/vmm_floor.c in "
          "the same L1, one run after each pair of trace runs: exec, KVM_CREATE_VM, 128 MiB of "
          "guest RAM advised MADV_HUGEPAGE and registered, the in-kernel irqchip, the kernel's "
          "loadable bytes and the initrd read into it, one vCPU, then exit, which destroys the VM; "
          "no guest instruction runs). Medians, ms:")
    print()
    print("| guest kernel | runs | " + " | ".join(names) + " | floor | floor / truce's exec -> "
          "exit | truce's VMM time | truce's VMM share | truce above the floor |")
    print("|---|---:|" + "---:|" * (len(names) + 5))
    for kernel in ("small", "cloud"):
        good = [s for s in floors.get(kernel, []) if s]
        if not good:
            continue
        cells = [f"{med(s[n] for s in good):.1f}" for n in names]
        cells[names.index("kernel + initrd read")] += f" ({med(s['MiB'] for s in good):.1f} MiB)"
        total = med(s["total"] for s in good)
        row = f"| {kernel} | {len(good)}/{len(floors[kernel])} | " + " | ".join(cells) + \
            f" | {total:.1f} |"
        if kernel in shares:
            vmm, exit_ms, share = shares[kernel]
            row += f" {total / exit_ms * 100:.1f}% | {vmm:.1f} | {share:.1f}% | {vmm - total:.1f} |"
        else:
            row += " n/a | n/a | n/a | n/a |"
        print(row)


def main():
    runs, floor, floors, shares = {}, [], {}, {}
    for line in open(sys.argv[1], errors="replace"):
        line = line.strip().replace("\r", "")
        if line.startswith("BENCH-FLOOR exec_main_us="):
            floor.append(int(line.split("=", 1)[1]))
        elif line.startswith("BENCH-FLOOR kernel="):
            f = parse(line)
            floors.setdefault(f["kernel"], []).append(floor_steps(f))
        if not line.startswith("BENCH-TRACE "):
            continue
        f = parse(line)
        if f.get("run") == "0":
            continue  # warm-up
        b = breakdown(f)
        runs.setdefault((f["kernel"], f["vmm"]), []).append((f.get("run"), b))
        runs.setdefault((f["kernel"], f["vmm"] + "-fields"), []).append(f)
    print("| guest kernel | VMM | good runs | exec -> first KVM_RUN | exits during the run: count "
          "(userspace time) | exit handling | last exit -> process exit | exec -> exit | "
          "VMM share | VMM share of exec -> /init |")
    print("|---|---|---:|---:|---|---:|---:|---:|---:|---:|")
    samples = []
    for kernel in ("small", "cloud"):
        for vmm in ("truce", "qemu"):
            rs = runs.get((kernel, vmm), [])
            good = [b for _, b in rs if b]
            if not rs:
                continue
            name = "small (PVH vmlinux)" if kernel == "small" else "Debian cloud (bzImage)"
            if not good:
                print(f"| {name} | {vmm} | 0/{len(rs)} | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
                continue
            med = statistics.median
            first = med(b[0] for b in good)
            kinds = sorted({k for b in good for k in b[1]}, key=lambda k: -med(
                b[1].get(k, (0, 0))[0] for b in good))
            ex = ", ".join(f"{k} {med(b[1].get(k, (0, 0))[0] for b in good):.0f} "
                           f"({med(b[1].get(k, (0, 0))[1] for b in good) / 1000:.1f} ms)"
                           for k in kinds[:6])
            handling = med(handling_ms(b) for b in good)
            tail = med(b[2] for b in good)
            total = med(b[3] for b in good)
            share = med(vmm_ms(b) / b[3] * 100 for b in good)
            boot_share = med((b[0] + handling_ms(b)) / b[4] * 100 for b in good)
            if vmm == "truce":
                shares[kernel] = (med(vmm_ms(b) for b in good), total, share)
            print(f"| {name} | {'QEMU microvm' if vmm == 'qemu' else vmm} | {len(good)}/{len(rs)} "
                  f"| {first:.1f} ms | {ex} | {handling:.1f} ms | {tail:.1f} ms | {total:.0f} ms "
                  f"| {share:.1f}% | {boot_share:.1f}% |")
            for run, b in rs:
                samples.append(f"- {kernel} {vmm} run {run}: " + (
                    "not usable" if not b else
                    f"first KVM_RUN {b[0]:.1f} ms, handling "
                    f"{handling_ms(b):.1f} ms, tail {b[2]:.1f} ms, "
                    f"exit {b[3]:.0f} ms, /init {b[4]:.0f} ms; " +
                    " ".join(f"{k}={c}/{us}" for k, (c, us) in sorted(b[1].items()))))
    phases_table(runs, floor)
    floor_table(floors, shares)
    print()
    print("Samples (exits: kind=count/µs of userspace handling):")
    print()
    print("\n".join(samples))


if __name__ == "__main__":
    main()
