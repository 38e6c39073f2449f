#!/usr/bin/env python3
# density_plot.py — bench/density.sh's report: from density.py's JSON, the Markdown table
# (--table), every sample (--samples), or the PNG plot of private memory per VM vs N (OUT.png).
import json
import sys


def table(rows):
    print("| VMM | devices | N | up | all up | VMs/s/core | private/VM (median) | guest touched | host used |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        vmm = "QEMU microvm" if r["vmm"] == "qemu" else r["vmm"]
        dev = "disk+net+rng" if r["config"] == "devices" else "none"
        up = f"{r['all_first_line_s'] * 1000:.0f} ms" if r["all_first_line_s"] > 0 else "n/a"
        rate = f"{r['vms_per_s_per_core']:.1f}" if r["vms_per_s_per_core"] > 0 else "n/a"
        print(f"| {vmm} | {dev} | {r['n']} | {r['ok']}/{r['n']} | {up} | {rate} | "
              f"{r['median_private_kib']:.0f} KiB | {r['median_guest_touched_kib']:.0f} KiB | "
              f"{r['host_used_mib']:.0f} MiB |")


def samples(rows):
    for r in rows:
        print(f"- {r['vmm']} {r['config']} N={r['n']}: first line s {r['first_line_s']}; "
              f"private KiB {r['private_kib']}" + (f"; error: {r['error']}" if r["error"] else ""))


def plot(rows, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = sorted({(r["vmm"], r["config"]) for r in rows})
    for vmm, cfg in series:
        pts = sorted((r["n"], r["median_private_kib"]) for r in rows
                     if r["vmm"] == vmm and r["config"] == cfg and r["median_private_kib"] >= 0)
        label = ("QEMU microvm" if vmm == "qemu" else vmm) + (" + disk/net/rng" if cfg == "devices" else "")
        ax.plot([p[0] for p in pts], [p[1] / 1024 for p in pts], marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("VMs running at once (N)")
    ax.set_ylabel("median private memory per VM outside guest RAM (MiB, log)")
    ax.set_title("Density on this host's /dev/kvm: 64 MiB idle PVH guests")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=90)


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
