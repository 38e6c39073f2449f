#!/usr/bin/env python3
# density.py — the density bench: starts N idle tiny PVH guests at once on this host's /dev/kvm
# under truce or QEMU microvm and measures time to every guest's first serial line, private memory
# per VM outside guest RAM, and host memory used; run by bench/density.sh (see its usage).
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

GUEST_MIB = 64
TIMEOUT_S = 120


def vm_command(vmm, cfg, kernel, d, i):
    """The command line of VM I under VMM (truce: --thp off, truce-thp: --thp on, qemu) with config
    CFG (bare | devices), files in D."""
    serial = f"{d}/serial{i}"
    disk = f"{d}/disk{i}.img"
    if vmm in ("truce", "truce-thp"):
        cmd = [os.environ.get("TRUCE", "build/truce"), "run", "--kernel", kernel, "--cmdline",
               "spin", "--memory", f"{GUEST_MIB}M", "--cpus", "1", "--console", f"file:{serial}",
               "--thp", "on" if vmm == "truce-thp" else "off"]
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


SPAWNER = os.environ.get("DENSITY_SPAWN", "build/tools/density_spawn")


def run_once(vmm, cfg, n, kernel):
    """N VMs at once through the spawner (bench/density_spawn.c): spawn and first-line times,
    each VM's CPU time, and memory sampled while all N run."""
    d = tempfile.mkdtemp(prefix=f"density-{vmm}-")
    if cfg == "devices":
        for i in range(n):
            with open(f"{d}/disk{i}.img", "wb") as f:
                f.truncate(1 << 20)
    avail_before = mem_available_kib()
    # "{i}" is the VM's index for the spawner; the console is the FIFO it reads
    cmd = [SPAWNER, "-t", str(TIMEOUT_S), "-s", "1000", str(n), d, "--"] + \
        vm_command(vmm, cfg, kernel, d, "{i}")
    sp = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    pids = []
    for line in sp.stdout:
        if line.startswith("PID "):
            pids.append(int(line.split()[2]))
            if len(pids) == n:
                break
    private, guest = [], []
    for pid in pids:  # 1 s after the last guest printed: every VM idles in its guest
        try:
            a, b = private_outside_guest_kib(pid)
            private.append(a)
            guest.append(b)
        except OSError:
            pass
    avail_after = mem_available_kib()
    out, _ = sp.communicate("stop\n")
    vms, spawner = [], None
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "VM":
            vms.append({"spawn_us": int(f[3]), "first_us": int(f[4]), "cpu_first_us": int(f[5]),
                        "cpu_sample_us": int(f[6]), "cpu_exit_us": int(f[7])})
        elif f and f[0] == "SPAWNER":
            spawner = {"spawned_all_us": int(f[1]), "all_up_us": int(f[2]),
                       "self_cpu_us": int(f[3])}
    if sp.returncode or spawner is None or len(vms) != n:
        sys.exit(f"density.py: the spawner failed ({sp.returncode}): {' '.join(cmd)}")
    failed = [i for i, v in enumerate(vms) if v["first_us"] < 0]
    errs = ""
    if failed:
        errs = open(f"{d}/err{failed[0]}.txt", errors="replace").read().strip()[-300:]
    subprocess.run(["rm", "-rf", d])
    ok = [v for v in vms if v["first_us"] >= 0]
    t_all = spawner["all_up_us"] / 1e6 if ok and not failed else -1.0
    cpu_first = [v["cpu_first_us"] / 1000 for v in ok]
    cores = os.cpu_count()
    med_cpu = statistics.median(cpu_first) if cpu_first else -1
    return {
        "vmm": vmm, "config": cfg, "n": n, "ok": len(ok),
        "spawn_s": round(spawner["spawned_all_us"] / 1e6, 4),
        "all_first_line_s": round(t_all, 4),
        "vms_per_s_per_core": round(n / t_all / cores, 1) if t_all > 0 else -1,
        # CPU cost: every VM's CPU to its first line, and what one core does at that cost
        "median_cpu_first_ms": round(med_cpu, 2),
        "total_cpu_first_s": round(sum(cpu_first) / 1000, 3),
        "vms_per_core_s_cpu": round(1000 / med_cpu, 1) if med_cpu > 0 else -1,
        "median_cpu_exit_ms": round(statistics.median(v["cpu_exit_us"] for v in vms) / 1000, 2),
        "spawner_cpu_ms": round(spawner["self_cpu_us"] / 1000, 1),
        "median_private_kib": statistics.median(private) if private else -1,
        "median_guest_touched_kib": statistics.median(guest) if guest else -1,
        "host_used_mib": round((avail_before - avail_after) / 1024, 1),
        "first_line_s": sorted(round(v["first_us"] / 1e6, 4) for v in ok),
        "cpu_first_ms": sorted(round(c, 2) for c in cpu_first),
        "spawn_at_s": [round(v["spawn_us"] / 1e6, 4) for v in vms],
        "private_kib": private, "error": errs,
    }


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: density.py KERNEL OUT.json N... (VMMS=truce,truce-thp,qemu CONFIGS=bare,devices)")
    kernel, out, ns = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3:]]
    vmms = os.environ.get("VMMS", "truce,truce-thp,qemu").split(",")
    cfgs = os.environ.get("CONFIGS", "bare,devices").split(",")
    results = []
    for n in ns:
        for cfg in cfgs:
            for vmm in vmms:
                r = run_once(vmm, cfg, n, kernel)
                print(f"DENSITY vmm={vmm} config={cfg} n={n} ok={r['ok']} "
                      f"all_first_line_s={r['all_first_line_s']} "
                      f"vms_per_s_per_core={r['vms_per_s_per_core']} "
                      f"median_cpu_first_ms={r['median_cpu_first_ms']} "
                      f"median_cpu_exit_ms={r['median_cpu_exit_ms']} "
                      f"median_private_kib={r['median_private_kib']} "
                      f"host_used_mib={r['host_used_mib']}" +
                      (f" error={r['error']!r}" if r["error"] else ""), flush=True)
                results.append(r)
                time.sleep(2)  # let the host take back the memory of the last batch
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
