#!/usr/bin/env python3
# plots.py — PNG plots of bench results (Debian's python3-matplotlib), one kind per bench:
#   plots.py net SAMPLES OUT.png    throughput and round trip vs vCPUs per VMM (bench/net.sh)
#   plots.py blk SAMPLES OUT.png    IOPS and MB/s per test and VMM (bench/blk.sh)
#   plots.py boot LOG OUT.png       distribution of start -> /init per VMM and kernel (boot.sh)
#   plots.py mq SAMPLES OUT.png     IOPS and throughput vs vCPUs, queues = vCPUs (bench/mq.sh)
# SAMPLES: "TAG VMM REP TEST VALUE" lines; LOG: the lab log with bench/lib.sh's BENCH lines.
import statistics
import sys

COLORS = {"truce": "tab:blue", "truce-direct": "tab:cyan", "truce-vhost": "tab:green",
          "qemu-vhost": "tab:red", "qemu-novhost": "tab:orange",
          "qemu-io_uring": "tab:red", "qemu-native": "tab:orange", "qemu": "tab:red"}


def load(path):
    vals = {}
    for line in open(path):
        f = line.split()
        if len(f) == 5:
            vals.setdefault((f[3], f[1]), []).append(float(f[4]))
    return vals


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def per_vcpus(vals, tests, sep, title, out):
    """One panel per (test, label): the median per VMM vs vCPUs (test names TEST + SEP + vCPUs)."""
    plt = pyplot()
    vmms = sorted({v for _, v in vals}, key=lambda v: (v != "truce", v))
    cpus = sorted({int(t.rsplit(sep, 1)[1]) for t, _ in vals if sep in t})
    fig, axes = plt.subplots(1, len(tests), figsize=(4 * len(tests), 4))
    for ax, (t, label) in zip(axes, tests):
        for v in vmms:
            pts = [(c, vals[f"{t}{sep}{c}", v]) for c in cpus if (f"{t}{sep}{c}", v) in vals]
            if not pts:
                continue
            xs = [c for c, _ in pts]
            ax.plot(xs, [statistics.median(s) for _, s in pts], marker="o", label=v,
                    color=COLORS.get(v))
            for c, s in pts:  # every sample, faint
                ax.scatter([c] * len(s), s, s=8, alpha=0.3, color=COLORS.get(v))
        ax.set_title(label)
        ax.set_xlabel("vCPUs")
        ax.set_xticks(cpus)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def net(vals, out):
    tests = [("guest_to_l1_Mbps", "guest -> L1 (Mbit/s)"), ("l1_to_guest_Mbps", "L1 -> guest (Mbit/s)"),
             ("rtt_us", "round trip (µs, lower is better)")]
    per_vcpus(vals, tests, "_c", "virtio-net in the nested lab: median of the boots, dots are samples", out)


def mq(vals, out):
    tests = [("iops", "fio 4 KiB randread QD32 (IOPS)"), ("g2h", "TCP guest -> L1 (Mbit/s)"),
             ("h2g", "TCP L1 -> guest (Mbit/s)")]
    per_vcpus(vals, tests, "_", "Multiqueue in the nested lab (queues = vCPUs): median of the boots, "
              "dots are samples", out)


def blk(vals, out):
    plt = pyplot()
    vmms = sorted({v for _, v in vals}, key=lambda v: (v != "truce", v))
    tests = sorted({t for t, _ in vals})
    groups = [[t for t in tests if t.endswith("MBps")], [t for t in tests if t.endswith("IOPS")]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [1, 2]})
    for ax, group, unit in zip(axes, groups, ("MB/s", "IOPS")):
        w = 0.8 / max(len(vmms), 1)
        for i, v in enumerate(vmms):
            ys = [statistics.median(vals[t, v]) if (t, v) in vals else 0 for t in group]
            ax.bar([x + i * w for x in range(len(group))], ys, w, label=v, color=COLORS.get(v))
        ax.set_xticks([x + w * (len(vmms) - 1) / 2 for x in range(len(group))])
        ax.set_xticklabels([t.rsplit("_", 1)[0] for t in group], fontsize=8)
        ax.set_ylabel(unit)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    fig.suptitle("virtio-blk in the nested lab: medians")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def boot(path, out):
    """BENCH lines of bench/boot.sh's log (key=value; mode=time runs after the warm-up)."""
    plt = pyplot()
    data = {}
    for line in open(path, errors="replace"):
        line = line.strip().replace("\r", "")
        if not line.startswith("BENCH kernel="):
            continue
        f = dict(t.split("=", 1) for t in line.split()[1:] if "=" in t)
        if f.get("mode") != "time" or f.get("run") == "0" or f.get("status") != "0":
            continue
        if float(f.get("marker_ms", -1)) > 0:
            data.setdefault((f["kernel"], f["vmm"]), []).append(float(f["marker_ms"]) / 1000)
    keys = sorted(data)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.boxplot([data[k] for k in keys], vert=False, labels=[f"{k[0]} / {k[1]}" for k in keys])
    for i, k in enumerate(keys, 1):
        ax.scatter(data[k], [i] * len(data[k]), s=12, alpha=0.6, color=COLORS.get(k[1]))
    ax.set_xlabel("start -> /init (s)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Boot to /init in the nested lab, every run")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("net", "blk", "boot", "mq"):
        sys.exit("usage: plots.py net|blk|boot|mq SAMPLES OUT.png")
    kind, samples, out = sys.argv[1:]
    if kind == "boot":
        boot(samples, out)
    else:
        {"net": net, "blk": blk, "mq": mq}[kind](load(samples), out)
