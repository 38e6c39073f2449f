#!/usr/bin/env python3
# density_plot.py — bench/density.sh's report: from density.py's JSON, the Markdown table
# (--table), every sample (--samples), or the PNG plot (OUT.png) of private memory per VM vs N
# beside the largest batch's guests up over time.
import json
import sys


def table(rows):
    print("| VMM | devices | N | up | spawned | all up | VMs/s/core (wall) | CPU/VM to 1st line "
          "| VMs/core-s (CPU) | CPU/VM start to exit | private/VM (median) | guest touched "
          "| host used |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        vmm = vmm_name(r["vmm"])
        dev = "disk+net+rng" if r["config"] == "devices" else "none"
        up = f"{r['all_first_line_s'] * 1000:.0f} ms" if r["all_first_line_s"] > 0 else "n/a"
        rate = f"{r['vms_per_s_per_core']:.1f}" if r["vms_per_s_per_core"] > 0 else "n/a"
        cpu_rate = f"{r['vms_per_core_s_cpu']:.0f}" if r["vms_per_core_s_cpu"] > 0 else "n/a"
        print(f"| {vmm} | {dev} | {r['n']} | {r['ok']}/{r['n']} | {r['spawn_s'] * 1000:.0f} ms "
              f"| {up} | {rate} | {r['median_cpu_first_ms']:.1f} ms | {cpu_rate} "
              f"| {r['median_cpu_exit_ms']:.1f} ms "
              f"| {r['median_private_kib']:.0f} KiB | {r['median_guest_touched_kib']:.0f} KiB | "
              f"{r['host_used_mib']:.0f} MiB |")


def samples(rows):
    for r in rows:
        print(f"- {r['vmm']} {r['config']} N={r['n']}: first line s {r['first_line_s']}; "
              f"CPU ms to first line {r.get('cpu_first_ms', [])}; "
              f"spawned at s {r.get('spawn_at_s', [])}; private KiB {r['private_kib']}; "
              f"the spawner's own CPU {r.get('spawner_cpu_ms', -1)} ms" + (f"; error: {r['error']}" if r["error"] else ""))


def vmm_name(vmm):
    return {"qemu": "QEMU microvm", "truce": "truce --thp off",
            "truce-thp": "truce --thp on"}.get(vmm, vmm)


def label_of(vmm, cfg):
    return vmm_name(vmm) + (" + disk/net/rng" if cfg == "devices" else "")


def plot(rows, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (mem, up) = plt.subplots(1, 2, figsize=(12, 4.5))
    series = sorted({(r["vmm"], r["config"]) for r in rows})
    for vmm, cfg in series:
        pts = sorted((r["n"], r["median_private_kib"]) for r in rows
                     if r["vmm"] == vmm and r["config"] == cfg and r["median_private_kib"] >= 0)
        mem.plot([p[0] for p in pts], [p[1] / 1024 for p in pts], marker="o",
                 label=label_of(vmm, cfg))
        # the largest batch of this series: guests up over time
        big = max((r for r in rows if r["vmm"] == vmm and r["config"] == cfg),
                  key=lambda r: r["n"])
        ts = big["first_line_s"]
        up.step([t * 1000 for t in ts], range(1, len(ts) + 1), where="post",
                label=f"{label_of(vmm, cfg)}, N={big['n']}")
    mem.set_yscale("log")
    mem.set_xlabel("VMs running at once (N)")
    mem.set_ylabel("median private memory per VM outside guest RAM (MiB, log)")
    mem.set_title("Memory per VM vs N")
    up.set_xscale("log")
    up.set_xlabel("ms since the first spawn (log)")
    up.set_ylabel("guests that printed their first line")
    up.set_title("Start of the largest batch")
    for ax in (mem, up):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Density on this host's /dev/kvm: 64 MiB idle PVH guests")
    fig.tight_layout()
    fig.savefig(out, dpi=80)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: density_plot.py DENSITY.json --table|--samples|OUT.png")
    rows = json.load(open(sys.argv[1]))
    if sys.argv[2] == "--table":
        table(rows)
    elif sys.argv[2] == "--samples":
        samples(rows)
    else:
        plot(rows, sys.argv[2])


if __name__ == "__main__":
    main()
