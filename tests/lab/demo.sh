#!/bin/bash
# demo.sh — `make demo`: boots the default guest (Debian cloud kernel + a busybox shell) under
# truce on this terminal. Directly when `truce check` says this host runs stock guests; otherwise
# it says why in one line and boots the same guest under truce inside the nested lab (L1 under
# TCG with nested AMD-V), still interactive. Type `poweroff` in the guest to end.
# TRUCE_DEMO_VMM=qemu runs the lab path with QEMU in L1 instead of truce (to check the lab).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cd "$REPO_DIR"
make -s build/truce
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
initrd=$("$LAB_DIR/build-guest.sh")
cmdline="console=ttyS0 quiet"

if [ "${TRUCE_DEMO_VMM:-truce}" = truce ] && check=$(build/truce check 2>&1); then
    echo "demo: booting $KIMG under truce; type poweroff in the guest to end"
    exec build/truce run --kernel "$KIMG" --initrd "$initrd" --cmdline "$cmdline" --cpus 2 \
        --memory 256M --console stdio
fi
why=$(printf '%s\n' "${check:-}" | sed -n 's/^verdict: //p' | cut -d: -f1)
[ -n "$why" ] || why=$(printf '%s\n' "${check:-truce check failed}" | tail -n 1)
[ "${TRUCE_DEMO_VMM:-truce}" = truce ] || why="TRUCE_DEMO_VMM=$TRUCE_DEMO_VMM"
echo "demo: cannot run the guest directly here ($why); booting it inside the nested lab (about 10 s)"
l1=$(LAB_SMALL_KERNEL=cached "$LAB_DIR/build-l1.sh")
lab_l1_qemu "$l1" 2048
exec "${L1_QEMU[@]}" "${LAB_L1_TTY[@]}" \
    -append "console=ttyS0 quiet loglevel=1 panic=-1 lab.mode=demo lab.vmm=${TRUCE_DEMO_VMM:-truce}" \
    2> >(grep -v "TCG doesn't support" >&2)
