#!/bin/bash
# prebuild.sh — build (or find in the cache) every lab artefact: the patched L0 QEMU, the L1
# image with its kernels and images, and the appliance image. `make test` starts it at nice 19 beside the tiers that do not
# need the lab, so a cold cache is filled while they run; the lab tier waits for it. Output: the
# build scripts' logs on stderr; the exit status is that of the first failing step (the lab tier
# then tries again and reports the failure per scenario).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rc=0
"$LAB_DIR/build-l0.sh" >/dev/null || rc=$?
"$LAB_DIR/build-l1.sh" >/dev/null || { [ $rc != 0 ] || rc=$?; }
app=$LAB_DIR/../../appliance/build.sh
if [ -x "$app" ]; then
    "$app" >/dev/null || { [ $rc != 0 ] || rc=$?; }
fi
exit $rc
