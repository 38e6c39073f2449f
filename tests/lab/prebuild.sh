#!/bin/bash
# prebuild.sh — build (or find in the cache) every lab artefact: the L1 image with its kernels
# and images, the appliance image, then the patched L0 QEMU. `make test` starts it at nice 19
# beside the tiers that do not need the lab, so a cold cache is filled while they run. When
# $LAB_PREBUILD_READY names a file, it is created once the L1 image and the appliance are built:
# the lab tier starts then, runs the scenarios that Debian's QEMU can host while the L0 builds,
# and waits for the L0 (build-l0.sh's lock) only for the l0=patched ones. Output: the build
# scripts' logs on stderr; the exit status is that of the first failing step (the lab tier then
# tries again and reports the failure per scenario).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rc=0
step() { # run one build; keep the first failure's status
    "$@" >/dev/null
    local s=$?
    [ $rc != 0 ] || rc=$s
}
step "$LAB_DIR/build-l1.sh"
app=$LAB_DIR/../../appliance/build.sh
[ ! -x "$app" ] || step "$app"
[ -z "${LAB_PREBUILD_READY:-}" ] || : >"$LAB_PREBUILD_READY"
step "$LAB_DIR/build-l0.sh"
exit $rc
