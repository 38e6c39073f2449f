#!/usr/bin/env python3
# density.py — the density bench: starts N idle tiny PVH guests at once on this host's /dev/kvm
# under truce or QEMU microvm and measures time to every guest's first serial line, private memory
# per VM outside guest RAM, and host memory used; run by bench/density.sh (see its usage).
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

GUEST_MIB = 64
TIMEOUT_S = 120


def vm_command(vmm, cfg, kernel, d, i):
    """The command line of VM I under VMM with config CFG (bare | devices), files in D."""
    serial = f"{d}/serial{i}.txt"
    disk = f"{d}/disk{i}.img"
    if vmm == "truce":
        cmd = [os.environ.get("TRUCE", "build/truce"), "run", "--kernel", kernel, "--cmdline",
               "spin", "--memory", f"{GUEST_MIB}M", "--cpus", "1", "--console", f"file:{serial}"]
        if cfg == "devices":
            cmd += ["--disk", f"path={disk}", "--net", "user", "--rng"]
        return cmd
    cmd = ["qemu-system-x86_64", "-M", "microvm", "-accel", "kvm", "-cpu", "kvm64", "-smp", "1",
           "-m", str(GUEST_MIB), "-kernel", kernel, "-append", "spin", "-nodefaults",
           "-no-user-config", "-display", "none", "-serial", f"file:{serial}", "-no-reboot"]
    if cfg == "devices":
        cmd += ["-drive", f"id=d0,file={disk},format=raw,if=none", "-device",
                "virtio-blk-device,drive=d0", "-netdev", "user,id=n0", "-device",
                "virtio-net-device,netdev=n0", "-device", "virtio-rng-device"]
    return cmd


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return -1


def private_outside_guest_kib(pid):
    """Private_Clean + Private_Dirty of PID minus that of its guest RAM: the anonymous mapping of
    at least the guest's size (the largest such one), so guest pages the guest touched are out."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    best_size, best_priv, size, priv, anon = 0, 0, 0, 0, False
    with open(f"/proc/{pid}/smaps") as f:
        lines = f.read().splitlines()
    lines.append("0-0 ---p 0 0:0 0")  # sentinel header closing the last mapping
    for line in lines:
        head = line.split()
        if head and "-" in head[0] and ":" not in head[0]:
            if anon and size >= GUEST_MIB * 1024 and size > best_size:
                best_size, best_priv = size, priv
            size, priv = 0, 0
            anon = len(head) < 6 or head[5].startswith("/memfd:") or head[5] == "[anon]"
        elif line.startswith("Size:"):
            size = int(head[1])
        elif line.startswith(("Private_Clean:", "Private_Dirty:")):
            priv += int(head[1])
    return total - best_priv, best_priv


def run_once(vmm, cfg, n, kernel):
    d = tempfile.mkdtemp(prefix=f"density-{vmm}-")
    if cfg == "devices":
        for i in range(n):
            with open(f"{d}/disk{i}.img", "wb") as f:
                f.truncate(1 << 20)
    avail_before = mem_available_kib()
    procs, first = [], [None] * n
    t0 = time.monotonic()
    for i in range(n):
        procs.append(subprocess.Popen(vm_command(vmm, cfg, kernel, d, i), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL,
                                      stderr=open(f"{d}/err{i}.txt", "wb")))
    t_spawned = time.monotonic() - t0
    while None in first and time.monotonic() - t0 < TIMEOUT_S:
        for i in range(n):
            if first[i] is None and os.path.exists(f"{d}/serial{i}.txt") and \
                    os.path.getsize(f"{d}/serial{i}.txt") > 0:
                first[i] = time.monotonic() - t0
            if first[i] is None and procs[i].poll() is not None:
                first[i] = -1.0  # died before printing
        time.sleep(0.002)
    time.sleep(1.0)  # let every VM settle into its idle spin before sampling memory
    private, guest = [], []
    for p in procs:
        try:
            a, b = private_outside_guest_kib(p.pid)
            private.append(a)
            guest.append(b)
        except OSError:
            pass
    avail_after = mem_available_kib()
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    failed = sum(1 for t in first if t is None or t < 0)
    errs = ""
    if failed:
        for i in range(n):
            if first[i] is None or first[i] < 0:
                errs = open(f"{d}/err{i}.txt", errors="replace").read().strip()[-300:]
                break
    subprocess.run(["rm", "-rf", d])
    ok = [t for t in first if t is not None and t >= 0]
    t_all = max(ok) if ok and not failed else -1.0
    return {
        "vmm": vmm, "config": cfg, "n": n, "ok": n - failed, "spawn_s": round(t_spawned, 4),
        "all_first_line_s": round(t_all, 4),
        "vms_per_s_per_core": round(n / t_all / os.cpu_count(), 1) if t_all > 0 else -1,
        "median_private_kib": statistics.median(private) if private else -1,
        "median_guest_touched_kib": statistics.median(guest) if guest else -1,
        "host_used_mib": round((avail_before - avail_after) / 1024, 1),
        "first_line_s": sorted(round(t, 4) for t in ok), "private_kib": private,
        "error": errs,
    }


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: density.py KERNEL OUT.json N... (VMMS=truce,qemu CONFIGS=bare,devices)")
    kernel, out, ns = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3:]]
    vmms = os.environ.get("VMMS", "truce,qemu").split(",")
    cfgs = os.environ.get("CONFIGS", "bare,devices").split(",")
    results = []
    for n in ns:
        for cfg in cfgs:
            for vmm in vmms:
                r = run_once(vmm, cfg, n, kernel)
                print(f"DENSITY vmm={vmm} config={cfg} n={n} ok={r['ok']} "
                      f"all_first_line_s={r['all_first_line_s']} "
                      f"vms_per_s_per_core={r['vms_per_s_per_core']} "
                      f"median_private_kib={r['median_private_kib']} "
                      f"host_used_mib={r['host_used_mib']}" +
                      (f" error={r['error']!r}" if r["error"] else ""), flush=True)
                results.append(r)
                time.sleep(2)  # let the host take back the memory of the last batch
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
