"""blk_table.py — bench/blk.sh's RESULTS.md section: medians per VMM and test, truce/peer ratios,
the exact command lines. Usage: blk_table.py SAMPLES CMDS RESULTS REPS RUNTIME SIZE QVER FVER [PLOT.png]"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ratio import load_samples, peers_table, samples_text, write_section  # noqa: E402

samples, cmdf, results, reps, runtime, size, qver, fver = sys.argv[1:9]
plot = sys.argv[9] if len(sys.argv) > 9 else ""
vals = load_samples(samples)
cmds = {}
for line in open(cmdf):
    parts = line.rstrip("\n").split(None, 2)
    if len(parts) == 3:
        cmds[parts[1]] = parts[2].strip()
rows = [("seqread_MBps", "sequential read 1 MiB, QD8 (MB/s)"),
        ("seqwrite_MBps", "sequential write 1 MiB, QD8 (MB/s)"),
        ("randread_qd1_IOPS", "random read 4 KiB, QD1 (IOPS)"),
        ("randread_qd32_IOPS", "random read 4 KiB, QD32 (IOPS)"),
        ("randwrite_qd1_IOPS", "random write 4 KiB, QD1 (IOPS)"),
        ("randwrite_qd32_IOPS", "random write 4 KiB, QD32 (IOPS)")]
peers = [("qemu-io_uring", "QEMU io_uring"), ("qemu-native", "QEMU native")]
base = ("qemu-system-x86_64 -L /lab/qemu -M microvm -accel kvm -cpu host -smp 1 -m 512 -kernel K "
        "-initrd I -append C -nodefaults -no-user-config -display none -serial stdio -no-reboot "
        "-device pvpanic -action panic=exit-failure")
B, E = "<!-- blk:begin -->", "<!-- blk:end -->"
lines = [B, "## virtio-blk: truce vs QEMU with cache=none (io_uring and native AIO)", "",
         f"Median of {reps} boots each, the VMMs one after the other in one lab boot, "
         "rotating which goes first every rep; fio "
         f"{runtime} s per test, O_DIRECT and libaio in the guest, on a {size} MiB raw image: a "
         "file in the lab's L1 tmpfs behind the loop device /dev/loop0 (a block device, so "
         "QEMU's cache=none can open it with O_DIRECT; L1's 6.1 tmpfs has no O_DIRECT). Guest: "
         f"Debian cloud kernel, 1 vCPU, 512 MiB. {qver}; {fver}. The lab's L2 runs under nested "
         "SVM in a TCG-emulated L1, so absolute numbers are only lab figures; the ratios are the "
         "result (goal: truce >= QEMU).", ""]
lines += peers_table(vals, rows, "truce", peers)
if any(v == "truce-direct" for _, v in vals):
    lines += ["", "truce with `direct=on` (reads and writes aligned to 4 KiB bypass L1's page cache "
              "with O_DIRECT, as the peers' cache=none does), same boots:", ""]
    lines += peers_table(vals, rows, "truce-direct", peers)
lines += ["", "Command lines (K, I, C: the lab's Debian kernel, initramfs and command line; the "
          "second disk is the fio tools disk):", "",
          "- truce: `truce run --kernel K --initrd I --cmdline C --cpus 1 --memory 512M "
          f"--console stdio {cmds.get('truce', '?')}` (buffered: L1's page cache, io_uring)"]
if "truce-direct" in cmds:
    lines.append("- truce `direct=on`: `truce run --kernel K --initrd I --cmdline C --cpus 1 "
                 f"--memory 512M --console stdio {cmds['truce-direct']}` (O_DIRECT, io_uring)")
for p, label in peers:
    lines.append(f"- {label}: `{base} {cmds.get(p, '?')}`")
if plot:
    lines += ["", f"![virtio-blk medians]({os.path.basename(plot)})"]
if os.environ.get("LOADAVG"):
    lines += ["", f"The host's load average (1, 5, 15 min) at the start -> the end: "
              f"{os.environ['LOADAVG']}, on {os.cpu_count()} cores shared with other jobs: "
              "with a high load the samples spread widely between boots."]
lines += ["", f"Command: `bench/blk.sh --reps {reps} --runtime {runtime}` "
          f"({time.strftime('%Y-%m-%d')}). Samples: " + samples_text(vals), E]
section = "\n".join(lines) + "\n"
write_section(results, B, E, section)
print(section)
