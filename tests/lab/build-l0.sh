#!/usr/bin/env bash
# build-l0.sh — the lab's L0: Debian 12's own QEMU source with l0-cr8-bql.patch, x86_64-softmmu.
#
# Debian's QEMU aborts as the lab's L0 when an L2 guest writes CR8 under nested SVM (DESIGN.md
# "The lab's L0 and nested CR8 writes"); OVMF does that in every interrupt stub. This script gets
# the source of the QEMU Debian ships (apt-get source, adding a deb-src line for bookworm when
# there is none), applies the fix, configures only what the L1 machine of lib.sh lab_l1_qemu
# uses (TCG, the pc machine and its default devices, -kernel/-initrd, serial on stdio), builds it
# (nice, -j2, about 15 minutes on 2 cores) and caches the binary under
# $LAB_CACHE/l0-qemu/<hash of source version, patch and configure flags>/qemu-system-x86_64.
# Prints that path on stdout. Exit 0 when the binary is there, 1 with one error line otherwise.
# Usage: build-l0.sh [--print]   (--print: only print the cached path, exit 1 when not built)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

out=$(lab_l0_path) || {
    [ "${1:-}" = --print ] && exit 1
    true
}
if [ -n "$out" ] && [ -x "$out" ]; then
    echo "$out"
    exit 0
fi
[ "${1:-}" = --print ] && exit 1

# A deb-src line for Debian 12, when no source list names bookworm sources yet.
lab_l0_deb_src() {
    if grep -rqsE '^(Types:.*deb-src|deb-src .*bookworm)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    [ "$(id -u)" = 0 ] || lab_die "no deb-src line for bookworm and not root: add one to /etc/apt/sources.list.d/"
    lab_log "adding /etc/apt/sources.list.d/truce-deb-src.sources (deb-src for bookworm)"
    cat >/etc/apt/sources.list.d/truce-deb-src.sources <<'EOF'
# Added by truce tests/lab/build-l0.sh: Debian 12 sources, for apt-get source qemu.
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt-get update -qq >&2 || lab_die "apt-get update failed after adding the deb-src line"
}

command -v dpkg-source >/dev/null || lab_die "dpkg-dev missing (apt-get install dpkg-dev)"
for t in ninja meson pkg-config; do
    command -v "$t" >/dev/null || lab_die "$t missing (apt-get install \$(cat tests/deps.txt))"
done
pkg-config --exists pixman-1 glib-2.0 zlib || lab_die "libpixman-1-dev, libglib2.0-dev or zlib1g-dev missing"
# Debian 12's libfdt-dev ships no pkg-config file; QEMU's meson finds the library by name.
[ -e /usr/include/libfdt.h ] || lab_die "libfdt-dev missing (apt-get install libfdt-dev)"
lab_l0_deb_src

dest=$(dirname "$out")
mkdir -p "$LAB_CACHE/l0-qemu"
exec 9>"$LAB_CACHE/l0-qemu/.lock"
flock 9 # another worktree may be building the same thing
if [ -x "$out" ]; then
    echo "$out"
    exit 0
fi
work=$LAB_CACHE/l0-qemu/build.$$
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
ver=$(lab_l0_version)
lab_log "L0: apt-get source qemu=$ver into $work"
(cd "$work" && apt-get source -qq "qemu=$ver" >&2) || lab_die "apt-get source qemu=$ver failed"
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'qemu-*' | head -n 1)
[ -n "$src" ] || lab_die "no source tree after apt-get source"
patch -d "$src" -p1 --forward <"$LAB_DIR/l0-cr8-bql.patch" >&2 || lab_die "l0-cr8-bql.patch does not apply to qemu $ver"
mkdir -p "$src/build"
lab_log "L0: configure (${LAB_L0_CONFIGURE[*]})"
(cd "$src/build" && nice ../configure "${LAB_L0_CONFIGURE[@]}" >"$work/configure.log" 2>&1) ||
    {
        tail -n 20 "$work/configure.log" >&2
        lab_die "QEMU configure failed"
    }
lab_log "L0: building qemu-system-x86_64 (nice, -j2; about 15 minutes on 2 cores)"
(cd "$src/build" && nice ninja -j2 qemu-system-x86_64 >"$work/build.log" 2>&1) ||
    {
        tail -n 30 "$work/build.log" >&2
        lab_die "QEMU build failed"
    }
mkdir -p "$dest"
cp "$src/build/qemu-system-x86_64" "$dest/qemu-system-x86_64.tmp"
mv "$dest/qemu-system-x86_64.tmp" "$out"
lab_log "L0: cached $out"
echo "$out"
