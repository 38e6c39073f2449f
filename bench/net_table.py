"""net_table.py — bench/net.sh's RESULTS.md section: medians per VMM, test and vCPU count,
truce/peer ratios, the exact command lines.
Usage: net_table.py SAMPLES CMDS RESULTS REPS MIB CPUS QVER RTTS ROUNDS [PLOT.png]"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ratio import load_samples, peers_table, samples_text, write_section  # noqa: E402

samples, cmdf, results, reps, mib, cpus, qver, rtts, rounds = sys.argv[1:10]
plot = sys.argv[10] if len(sys.argv) > 10 else ""
vals = load_samples(samples)
cmds = {}
for line in open(cmdf):
    parts = line.rstrip("\n").split(None, 2)
    if len(parts) == 3:
        cmds[parts[1]] = parts[2].strip()
tests = [("guest_to_l1_Mbps", "TCP guest -> L1 (Mbit/s, higher is better)"),
         ("l1_to_guest_Mbps", "TCP L1 -> guest (Mbit/s, higher is better)"),
         ("rtt_us", "TCP round trip, 1-byte messages (µs, lower is better)")]
rows = [(f"{k}_c{c}", f"{label}, {c} vCPU{'s' if c != '1' else ''}")
        for c in cpus.split() for k, label in tests]
peers = [("qemu-vhost", "QEMU vhost=on"), ("qemu-novhost", "QEMU vhost=off")]
base = ("qemu-system-x86_64 -L /lab/qemu -M microvm -accel kvm -cpu host -smp N -m 512 -kernel K "
        "-initrd I -append C -nodefaults -no-user-config -display none -serial stdio -no-reboot "
        "-device pvpanic -action panic=exit-failure")
B, E = "<!-- net:begin -->", "<!-- net:end -->"
lines = [B, "## virtio-net: truce vs QEMU with vhost-net (and without)", "",
         f"Median of {reps} boots each per vCPU count, the VMMs one after the other, each rep in "
         "a lab boot of its own (L1 with 2 CPUs), rotating which goes first every rep, on one "
         "persistent tap "
         "in L1 (10.9.0.1) with the guest at 10.9.0.2. Throughput: "
         f"{mib} MiB per direction over one TCP connection (nettool source/sink, timed by the "
         "receiver from its first byte, or by the sender until the receiver closed); RTT: median "
         f"of {rtts} 1-byte TCP round trips (TCP_NODELAY)"
         + (f"; each boot measures {rounds} rounds of the three tests and counts the median of "
            "its rounds" if rounds != "1" else "")
         + ". Guest: Debian cloud kernel, 512 MiB. "
         f"{qver}. The lab's L2 runs under nested SVM in a TCG-emulated L1, so absolute numbers "
         "are only lab figures; the ratios are the result. For round trips a ratio below 1 is "
         "truce ahead. Where the time goes (notifications, MSIs, exits, syscalls per MiB): "
         "`bench/net.sh --trace`.", ""]
# Each rep runs every VMM back to back, so one rep's boots share the host's load of the moment:
# the ratio within a rep, then the median over reps, is the steadier figure.
by_rep = {}
for line in open(samples):
    _, vmm, rep, test, v = line.split()
    by_rep[test, vmm, rep] = float(v)


def paired(base, peer="qemu-vhost"):
    out = []
    for key, label in rows:
        r = [by_rep[key, base, rep] / by_rep[key, peer, rep]
             for (k, v, rep) in by_rep if k == key and v == base
             if by_rep.get((key, peer, rep))]
        if r:
            out.append(f"{label.split(' (')[0]}{label.split(')')[-1]}: "
                       f"**{statistics.median(r):.2f}** ({len(r)} reps)")
    return ("Median over reps of the ratio within each rep (" + base + "/QEMU vhost=on): "
            + "; ".join(out) + ".") if out else ""


lines += peers_table(vals, rows, "truce", peers)
lines += ["", paired("truce")]
if any(v == "truce-vhost" for _, v in vals):
    lines += ["", "truce with its vhost-net backend (`--net tap=tap0,vhost=on`: the rings served by "
              "L1's vhost-net, its MSI-X interrupts raised by KVM irqfds) against the same peers, "
              "same boots:", ""]
    lines += peers_table(vals, rows, "truce-vhost", peers)
    lines += ["", paired("truce-vhost")]
skips = os.path.join(os.path.dirname(os.path.abspath(samples)), "skips.txt")
if os.path.exists(skips) and os.path.getsize(skips):
    lines += ["", "Boots that failed and gave no samples (VMM, rep, vCPUs, the VMM's last line): "
              + "; ".join(" ".join(line.split()[1:]) for line in open(skips)) + "."]
lines += ["", "Command lines (K, I, C: the lab's Debian kernel, initramfs and command line; N: "
          "1 or 2):", "",
          "- truce: `truce run --kernel K --initrd I --cmdline C --cpus N --memory 512M --console "
          f"stdio {cmds.get('truce', '?')}` (its own userspace virtio-net: tap with vnet headers, "
          "offloads as negotiated)"]
if cmds.get("truce-vhost"):
    lines.append("- truce vhost=on: `truce run --kernel K --initrd I --cmdline C --cpus N --memory "
                 f"512M --console stdio {cmds['truce-vhost']}`")
for p, label in peers:
    lines.append(f"- {label}: `{base} {cmds.get(p, '?')}`")
if plot:
    lines += ["", f"![throughput vs vCPUs]({os.path.basename(plot)})"]
if os.environ.get("WEDGED"):
    lines += ["", "L1s that stopped dead (stop) or reset themselves (reset) during a rep (the lab's "
              "TCG-emulated nested SVM; the rep ran again in a fresh L1, a boot done before it "
              f"counted once): {os.environ['WEDGED']}."]
if os.environ.get("LOADAVG"):
    lines += ["", f"The host's load average (1, 5, 15 min) at the start -> the end: "
              f"{os.environ['LOADAVG']}, on {os.cpu_count()} cores shared with other jobs: "
              "with a high load the samples spread widely between boots."]
opts = f"--reps {reps} --mib {mib} --rtts {rtts}" + (f" --rounds {rounds}" if rounds != "1" else "")
lines += ["", f"Command: `CPUS=\"{cpus}\" bench/net.sh {opts}` ({time.strftime('%Y-%m-%d')}). "
          "Samples: " + samples_text(vals), E]
section = "\n".join(lines) + "\n"
write_section(results, B, E, section)
print(section)
