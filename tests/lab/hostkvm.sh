#!/bin/bash
# hostkvm.sh — run a test tier that needs /dev/kvm on a host that has none (a build machine that
# is itself a guest without nested virtualisation): in an L1 machine of the lab (QEMU TCG with
# nested AMD-V, the Debian cloud kernel), chrooted into this host's own root shared by virtiofs,
# so the tier runs the same files, tools and checkout, on L1's KVM, /proc, /sys, /dev, cgroup2 and
# an ext4 /tmp of its own (a fresh scratch disk). The command's output is printed as it comes; the
# exit status is the command's. If L1 cannot start or stops before the command ends, prints one
# "FAIL NAME: ..." line and exits 1.
#   hostkvm.sh --needed        exit 0 when this host's /dev/kvm is unusable (the tiers need L1)
#   hostkvm.sh NAME COMMAND [ARG...]
# HOSTKVM_TIMEOUT (s, default 2400), HOSTKVM_MEM (MiB, 6144), HOSTKVM_CPUS (1: with 2, TCG's
# nested SVM has stopped dead within minutes, as the lab has seen with SMP L1s).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
VIRTIOFSD=/usr/lib/qemu/virtiofsd
MODS="irqbypass kvm kvm-amd virtio_pci virtio_blk virtiofs tun tap bridge veth vhost_net
vhost_vsock vsock vsock_loopback vmw_vsock_virtio_transport_common"

# /dev/kvm usable: a character device this user can open, and KVM_GET_API_VERSION answers.
host_kvm_ok() {
    [ -c /dev/kvm ] && [ -w /dev/kvm ] &&
        python3 -c 'import fcntl, os; fcntl.ioctl(os.open("/dev/kvm", os.O_RDWR), 0xae00)' 2>/dev/null
}
if [ "${1:-}" = --needed ]; then
    ! host_kvm_ok
    exit
fi
[ $# -ge 2 ] || lab_die "usage: hostkvm.sh --needed | hostkvm.sh NAME COMMAND [ARG...]"
NAME=$1
shift
fail() {
    echo "FAIL $NAME: $*"
    exit 1
}
[ -x "$VIRTIOFSD" ] || fail "no /dev/kvm here, and no $VIRTIOFSD to run the tier in the lab (apt-get install qemu-system-x86)"
lab_cloud_kernel || fail "no /dev/kvm here, and no Debian cloud kernel for the lab's L1"

# L1's initramfs: busybox, the modules (load-order, dependencies first) and the init; cached.
initrd=$LAB_CACHE/hostkvm/$(lab_hash "$LAB_DIR/hostkvm/init" "$(command -v busybox)" -- "$KVER" $MODS).cpio
if [ ! -f "$initrd" ]; then
    lab_log "$NAME: building the hostkvm L1 initramfs"
    root=$(mktemp -d)
    lab_busybox "$root" && lab_devnodes "$root" && mkdir -p "$root"/{proc,sys,tmp} &&
        lab_copy_modules "$KMOD" "$root" $MODS && cp "$LAB_DIR/hostkvm/init" "$root/init" &&
        mkdir -p "$LAB_CACHE/hostkvm" && lab_cpio "$root" "$initrd"
    rc=$?
    rm -rf "$root"
    [ $rc = 0 ] || fail "cannot build the L1 initramfs for the lab"
    lab_prune "$LAB_CACHE/hostkvm" 3
fi

# The run's files live in the checkout (L1 sees the host's root, but its /tmp is the scratch
# disk): the script the chroot runs, virtiofsd's socket, the scratch disk, L1's console log.
mkdir -p "$REPO_DIR/build"
work=$(mktemp -d "$REPO_DIR/build/hostkvm.XXXXXX") || fail "cannot create a work directory"
vfsd=
cleanup() { # L1 (timeout passes the signal on to QEMU), the console filters and virtiofsd
    pkill -TERM -P $$ 2>/dev/null
    [ -z "$vfsd" ] || wait "$vfsd" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
{
    echo "# $NAME in the lab's L1, made by tests/lab/hostkvm.sh"
    export -p | grep -Ev '^declare -[a-z]*x* (BASH[A-Z_]*|SHELLOPTS|EUID|PPID|UID|OLDPWD|PWD|SHLVL|_)='
    # Debian's own PATH: the tiers need Debian's python3 and its modules (tests/deps.txt), and a
    # wrapper ahead of it (pyenv's shims: half a second on the host) takes 15 s under TCG
    echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    printf 'cd %q || exit 1\nexec' "$PWD"
    printf ' %q' "$@"
    echo
} >"$work/cmd.sh"
truncate -s 32G "$work/scratch.img" && mkfs.ext4 -q -F -E nodiscard "$work/scratch.img" ||
    fail "cannot make the scratch disk"
# cache=always: L1 keeps what it looked up (half the cost of an exec under TCG); only L1 writes
# what the tier reads while it runs.
"$VIRTIOFSD" --socket-path="$work/vfs.sock" -o source=/ -o sandbox=chroot -o cache=always \
    -o allow_direct_io -o xattr >"$work/virtiofsd.log" 2>&1 &
vfsd=$!
for _ in $(seq 100); do [ -S "$work/vfs.sock" ] && break; sleep 0.1; done
[ -S "$work/vfs.sock" ] || fail "virtiofsd did not start: $(tail -n 3 "$work/virtiofsd.log")"

mem=${HOSTKVM_MEM:-6144}
lab_log "$NAME: this host has no usable /dev/kvm; running it in an L1 of the lab ($mem MiB, ${HOSTKVM_CPUS:-1} CPUs)"
timeout -k 10 "${HOSTKVM_TIMEOUT:-2400}" qemu-system-x86_64 -accel tcg -cpu EPYC,+svm,+npt -M pc \
    -m "$mem" -smp "${HOSTKVM_CPUS:-1}" -no-reboot -nodefaults -display none \
    -object "memory-backend-memfd,id=mem,size=${mem}M,share=on" -numa node,memdev=mem \
    -chardev "socket,id=vfs,path=$work/vfs.sock" -device vhost-user-fs-pci,chardev=vfs,tag=hostroot \
    -drive "file=$work/scratch.img,if=virtio,format=raw,cache=unsafe,discard=unmap" \
    -kernel "$KIMG" -initrd "$initrd" -serial stdio \
    -append "console=ttyS0 quiet loglevel=1 panic=-1 hostkvm.cmd=$work/cmd.sh hostkvm.repo=$REPO_DIR" </dev/null \
    2>"$work/qemu.log" | sed -u 's/\r$//' | tee "$work/console.log" |
    grep --line-buffered -Ev '^HOSTKVM-|^\[ *[0-9]+\.[0-9]+\] ' &
wait $! # in the background, so that a signal to this script ends L1 at once
rc=$(sed -n 's/^HOSTKVM-EXIT \([0-9]*\)$/\1/p' "$work/console.log" | tail -n 1)
[ -n "$rc" ] && exit "$rc"
why=$(sed -n 's/^HOSTKVM-FAIL //p' "$work/console.log" | head -n 1)
grep -v "TCG doesn't support" "$work/qemu.log" | tail -n 5 >&2
fail "the lab's L1 ${why:+failed: $why}${why:-stopped before the tier ended (see the lines above)}"
