#!/bin/bash
# prebuild.sh — build (or find in the cache) every lab artefact: the patched L0 QEMU, the L1
# image with its kernels and images, and the appliance image. `make test` starts it at nice 19 beside the tiers that do not
# need the lab, so a cold cache is filled while they run; the lab tier waits for it. Output: the
# build scripts' logs on stderr; the exit status is that of the first failing step (the lab tier
# then tries again and reports the failure per scenario).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rc=0
step() { # run one build; keep the first failure's status
    "$@" >/dev/null
    local s=$?
    [ $rc != 0 ] || rc=$s
}
step "$LAB_DIR/build-l0.sh"
step "$LAB_DIR/build-l1.sh"
app=$LAB_DIR/../../appliance/build.sh
[ ! -x "$app" ] || step "$app"
exit $rc
