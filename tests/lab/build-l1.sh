#!/bin/bash
# build-l1.sh — build (or find in the cache) the lab's L1 initramfs and print its path. It is the
# concatenation of cpio parts, each cached under a hash of its inputs: base (busybox, L1 modules,
# QEMU, tools/*.c), guests (L2 kernels + initramfs), truce (build/truce + libraries), lab (L1 init,
# scenario API, scenarios) and extra (files given with --extra SRC:DEST).
# LAB_SMALL_KERNEL=build (default: build it if not cached) | cached (use only if cached) | skip;
# the same for the Firecracker-style kernel (build-fc-kernel.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
    --extra)
        EXTRA+=("$2")
        shift 2
        ;;
    *) lab_die "usage: build-l1.sh [--extra SRC:DEST]..." ;;
    esac
done
lab_cloud_kernel || lab_die "no Debian cloud kernel: apt-get install linux-image-cloud-amd64"
PARTS=$LAB_CACHE/l1-parts
mkdir -p "$PARTS"
L1_MODS="irqbypass kvm kvm-amd tun tap bridge veth vhost_net vhost_vsock vsock vsock_loopback
vmw_vsock_virtio_transport_common"
QEMU_FW="qboot.rom bios-microvm.bin pvh.bin linuxboot_dma.bin linuxboot.bin kvmvapic.bin
multiboot_dma.bin"
# Copied only when installed: OVMF.fd (apt-get install ovmf) for the ovmf scenario.
QEMU_FW_OPT=$(cd /usr/share/qemu && ls OVMF.fd 2>/dev/null || true)
# Debian's OVMF code and variable template where `truce run --firmware ovmf` looks, when installed.
OVMF_FILES=$(ls /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_VARS_4M.fd 2>/dev/null || true)
IPXE_ROM=$(ls /usr/lib/ipxe/qemu/pxe-virtio.rom 2>/dev/null || true) # --net ...,bootfile= (pxe)

# Build part NAME with KEY by running the function BUILDER ROOT, unless cached. Prints the path.
part() {
    local name=$1 key=$2 builder=$3 out root
    out=$PARTS/$name-$key.cpio
    if [ ! -f "$out" ]; then
        lab_log "building L1 part $name"
        root=$(mktemp -d)
        "$builder" "$root" || {
            rm -rf "$root"
            lab_die "building L1 part $name failed"
        }
        lab_cpio "$root" "$out"
        rm -rf "$root"
        # keep the three newest of each part
        ls -1t "$PARTS/$name"-*.cpio | tail -n +7 | xargs -r rm -f
    fi
    echo "$out"
}

build_base() {
    local root=$1 f m
    lab_busybox "$root"
    lab_devnodes "$root"
    mkdir -p "$root"/{proc,sys,tmp,lab/bin,lab/qemu}
    lab_copy_modules "$KMOD" "$root" $L1_MODS || return 1
    # one line per module: NAME and the module files to insmod for it, dependencies first
    for m in $L1_MODS; do
        LAB_SEEN=
        echo "$m $(lab_mod_order "$KMOD" "$m" | sed 's/\.\(xz\|zst\)$//' | tr '\n' ' ')"
    done >"$root/lib/modules/$KVER/chains"
    lab_copy_elf "$root" "$(command -v qemu-system-x86_64)" /usr/bin/qemu-system-x86_64
    for f in $QEMU_FW $QEMU_FW_OPT; do
        cp -L "/usr/share/qemu/$f" "$root/lab/qemu/"
    done
    # Debian's SeaBIOS and QEMU's linuxboot ROM where `truce run --firmware seabios` looks
    mkdir -p "$root/usr/share/seabios" "$root/usr/share/qemu"
    cp -L /usr/share/seabios/bios-256k.bin "$root/usr/share/seabios/"
    cp -L /usr/share/qemu/linuxboot_dma.bin "$root/usr/share/qemu/"
    if [ -n "$IPXE_ROM" ]; then
        mkdir -p "$root/usr/lib/ipxe/qemu"
        cp -L "$IPXE_ROM" "$root/usr/lib/ipxe/qemu/"
    fi
    if [ -n "$OVMF_FILES" ]; then
        mkdir -p "$root/usr/share/OVMF"
        cp -L $OVMF_FILES "$root/usr/share/OVMF/"
    fi
    # every tools/NAME.c is a static helper, /lab/bin/NAME in L1 (static: guests can carry it too)
    for f in "$LAB_DIR"/tools/*.c; do
        gcc -O2 -Wall -Wextra -static -o "$root/lab/bin/$(basename "$f" .c)" "$f" || return 1
    done
    for f in $L1_TOOLS; do lab_copy_elf "$root" "$f"; done
}

build_guests() {
    local root=$1
    mkdir -p "$root/lab/guests"
    cp "$KIMG" "$root/lab/guests/vmlinuz"
    cp "$GUEST_INITRD" "$root/lab/guests/initrd.cpio"
    [ -z "$SMALL" ] || cp "$SMALL" "$root/lab/guests/vmlinux"
    [ -z "$FCK" ] || cp "$FCK" "$root/lab/guests/vmlinux-fc"
}

build_truce() {
    local root=$1 g
    mkdir -p "$root/usr/local/bin" "$root/lab/tguests"
    [ -z "$TRUCE" ] || lab_copy_elf "$root" "$TRUCE" /usr/local/bin/truce
    # libslirp is dlopen'ed by truce for --net user: ldd does not list it
    local slirp
    slirp=$(ldconfig -p | awk '/libslirp\.so\.0 / { print $NF; exit }')
    [ -z "$TRUCE" ] || [ -z "$slirp" ] || lab_copy_elf "$root" "$slirp"
    # so is libseccomp, to compile a filter (`truce seccomp`; a VM loads build-time ones)
    local sc
    sc=$(ldconfig -p | awk '/libseccomp\.so\.2 / { print $NF; exit }')
    [ -z "$TRUCE" ] || [ -z "$sc" ] || lab_copy_elf "$root" "$sc"
    for g in $TGUESTS; do cp "$g" "$root/lab/tguests/"; done
}

build_lab() {
    local root=$1
    mkdir -p "$root/lab/scenarios"
    cp "$LAB_DIR/l1/init" "$root/init"
    cp "$LAB_DIR/l1/lib.sh" "$root/lab/lib.sh"
    cp "$LAB_DIR"/scenarios/*.sh "$root/lab/scenarios/"
    chmod 755 "$root/init"
}

build_extra() {
    local root=$1 e
    for e in "${EXTRA[@]}"; do
        mkdir -p "$root$(dirname "${e#*:}")"
        cp "${e%%:*}" "$root${e#*:}"
    done
}

GUEST_INITRD=$("$LAB_DIR/build-guest.sh")
case "${LAB_SMALL_KERNEL:-build}" in
build) SMALL=$("$LAB_DIR/build-kernel.sh") || lab_die "small kernel build failed" ;;
cached) SMALL=$("$LAB_DIR/build-kernel.sh" --check) || SMALL= ;;
*) SMALL= ;;
esac
# the Firecracker-style kernel (no PCI, no ACPI), built from the small kernel's objects
case "${LAB_SMALL_KERNEL:-build}" in
build) FCK=$("$LAB_DIR/build-fc-kernel.sh") || lab_die "fc kernel build failed" ;;
cached) FCK=$("$LAB_DIR/build-fc-kernel.sh" --check) || FCK= ;;
*) FCK= ;;
esac
TRUCE=
[ -x "$REPO_DIR/build/truce" ] && TRUCE=$REPO_DIR/build/truce
# freestanding test guests scenarios run in L1 (/lab/tguests/NAME.elf), when built (make lab)
TGUESTS=$(ls "$REPO_DIR"/build/guests/triple32.elf "$REPO_DIR"/build/guests/actions.elf \
    "$REPO_DIR"/build/hostile/vq_indirect_self.elf 2>/dev/null || true)
qemu=$(command -v qemu-system-x86_64) || lab_die "apt-get install qemu-system-x86"

L1_TOOLS=$(sed '/^#/d' "$LAB_DIR/l1/tools.list" | while read -r t; do
    [ -n "$t" ] && command -v "$t" || true
done)
files=(
    "$(part base "$(lab_hash "$0" "$LAB_DIR/lib.sh" "$LAB_DIR/tools" "$qemu" "$(command -v busybox)" \
        /usr/share/seabios/bios-256k.bin $OVMF_FILES $IPXE_ROM $L1_TOOLS -- "$KVER" $L1_MODS $QEMU_FW $QEMU_FW_OPT \
        $L1_TOOLS)" build_base)"
    "$(part guests "$(lab_hash "$KIMG" "$GUEST_INITRD" ${SMALL:+"$SMALL"} ${FCK:+"$FCK"})" build_guests)"
    "$(part truce "$(lab_hash ${TRUCE:+"$TRUCE"} $TGUESTS -- "${TRUCE:-none}" $TGUESTS)" build_truce)"
    "$(part lab "$(lab_hash "$0" "$LAB_DIR/l1" "$LAB_DIR/scenarios")" build_lab)"
)
# The AHCI scenarios' files in /lab/ahci: libahci.ko and ahci.ko for the cloud kernel, images.
AHCI_MODS=$("$LAB_DIR/build-ahci-mods.sh") || AHCI_MODS=
AHCI_ISOS=$("$LAB_DIR/build-ahci-images.sh") || AHCI_ISOS=
build_ahci() {
    mkdir -p "$1/lab/ahci"
    for d in $AHCI_MODS $AHCI_ISOS; do cp "$d"/* "$1/lab/ahci/"; done
}
files+=("$(part ahci "$(lab_hash $AHCI_MODS $AHCI_ISOS -- ahci)" build_ahci)")
# The UEFI scenarios' GPT disk in /lab/efi (needs grub-efi-amd64-bin and mtools).
EFI_DISK=$("$LAB_DIR/build-efi-disk.sh") || EFI_DISK=
build_efi() {
    mkdir -p "$1/lab/efi"
    [ -z "$EFI_DISK" ] || cp "$EFI_DISK"/* "$1/lab/efi/"
}
files+=("$(part efi "$(lab_hash $EFI_DISK -- efi)" build_efi)")
# The BIOS GRUB disk in /lab/bios (needs grub-pc-bin; memtest86+ is fetched): kernel, initramfs,
# truce's multiboot test kernel and memtest86+ behind GRUB in the MBR gap.
BIOS_DISK=$("$LAB_DIR/build-disk.sh" "$GUEST_INITRD" $(ls "$REPO_DIR/build/guests/multiboot.elf" \
    2>/dev/null)) || BIOS_DISK=
build_bios() {
    mkdir -p "$1/lab/bios"
    [ -z "$BIOS_DISK" ] || cp "$BIOS_DISK"/* "$1/lab/bios/"
}
files+=("$(part bios "$(lab_hash $BIOS_DISK -- bios)" build_bios)")
# The display scenarios: what truce dlopens for --display (libpng, libvncserver and their
# libraries), SeaBIOS's VGA BIOS, and the test VNC client (build/tools/vnctool), when installed.
DISPLAY_FILES=$(ls /usr/share/seabios/vgabios-stdvga.bin "$REPO_DIR/build/tools/vnctool" \
    "$(ldconfig -p | awk '/libvncserver\.so\.1 / { print $NF; exit }')" \
    "$(ldconfig -p | awk '/libpng16\.so\.16 / { print $NF; exit }')" 2>/dev/null || true)
build_display() {
    local f
    mkdir -p "$1/usr/share/seabios" "$1/lab/bin"
    for f in $DISPLAY_FILES; do
        case "$f" in
        *.bin) cp -L "$f" "$1/usr/share/seabios/" ;;
        */vnctool) lab_copy_elf "$1" "$f" /lab/bin/vnctool ;;
        *) lab_copy_elf "$1" "$f" ;;
        esac
    done
}
files+=("$(part display "$(lab_hash $DISPLAY_FILES -- display $DISPLAY_FILES)" build_display)")
# display-drm's kernel in /lab/drm: Debian's generic kernel and its bochs DRM modules (fetched).
DRM_KERNEL=$("$LAB_DIR/build-drm-kernel.sh") || DRM_KERNEL=
build_drm() {
    mkdir -p "$1/lab/drm"
    [ -z "$DRM_KERNEL" ] || cp "$DRM_KERNEL/vmlinuz" "$DRM_KERNEL/modules.cpio" "$1/lab/drm/"
}
files+=("$(part drm "$(lab_hash $DRM_KERNEL -- drm)" build_drm)")
if [ ${#EXTRA[@]} -gt 0 ]; then
    files+=("$(part extra "$(lab_hash "${EXTRA[@]%%:*}" -- "${EXTRA[@]}")" build_extra)")
fi
for f in "${files[@]}"; do [ -f "$f" ] || lab_die "an L1 part is missing"; done
key=$(printf '%s\n' "${files[@]}" | sha256sum | cut -c1-16)
out=$LAB_CACHE/l1/initrd-$key.cpio
if [ ! -f "$out" ]; then
    mkdir -p "$LAB_CACHE/l1"
    cat "${files[@]}" >"$out.tmp.$$"
    mv "$out.tmp.$$" "$out"
    ls -1t "$LAB_CACHE"/l1/initrd-*.cpio | tail -n +7 | xargs -r rm -f
fi
echo "$out"
