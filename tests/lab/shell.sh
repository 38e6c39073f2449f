#!/bin/bash
# shell.sh — `make lab-shell`: boots L1 with KVM loaded and gives an interactive shell on its
# console (truce, QEMU, the guests under /lab/guests, the scenario API in /lab/lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
l1=$(LAB_SMALL_KERNEL=cached "$LAB_DIR/build-l1.sh")
echo "lab: L1 shell; '. /lab/lib.sh; LAB_VMM=truce guest_boot ...' boots a guest; exit powers off"
lab_l1_qemu "$l1" 2048
exec "${L1_QEMU[@]}" "${LAB_L1_TTY[@]}" -append "console=ttyS0 quiet panic=-1 lab.mode=shell" \
    2> >(grep -v "TCG doesn't support" >&2)
