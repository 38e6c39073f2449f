# pxe — network boot with no server: SeaBIOS runs Debian's iPXE ROM (pxe-virtio.rom, the
# virtio-net option ROM truce hands it as fw_cfg pci1af4,1041.rom), iPXE gets its address and
# boot file name from libslirp's DHCP (`--net user,tftp=DIR,bootfile=boot.ipxe`), fetches the
# iPXE script, the cloud kernel and the guest initramfs over libslirp's TFTP and boots them to
# /init, which powers off (truce: status 0).
# lab: vmm=truce timeout=260 needs=seabios l0=patched
mkdir tftp
cp "$LAB_GUESTS/vmlinuz" "$LAB_GUESTS/initrd.cpio" tftp/ || fail "no lab guest kernel/initrd"
cat >tftp/boot.ipxe <<IPXE
#!ipxe
echo TRUCE-IPXE-SCRIPT \${net0/ip} next-server \${next-server}
kernel vmlinuz $LAB_BASE_CMDLINE lab.end=poweroff
initrd initrd.cpio
boot
IPXE
[ -f /usr/lib/ipxe/qemu/pxe-virtio.rom ] || fail "pxe-virtio.rom is not in the L1 image (ipxe-qemu)"
GUEST_OUT=$PWD/pxe.out
labrun -t 220 -m TRUCE-INIT -o "$GUEST_OUT" -r result -- \
    truce run --firmware seabios --memory 256M --console stdio \
    --net "user,tftp=$PWD/tftp,bootfile=boot.ipxe"
eval "$(cat result)"
# shellcheck disable=SC2154 # status, timed_out come from labrun's result file
GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_TIMEOUT=220
pxe_fail() { lab_show_output 40; fail "$1"; }
grep -aq 'iPXE (PCI 00:' "$GUEST_OUT" || pxe_fail "SeaBIOS did not run the iPXE ROM; last line: $(lab_last_line)"
grep -aq 'TRUCE-IPXE-SCRIPT 10.0.2.15 next-server 10.0.2.2' "$GUEST_OUT" ||
    pxe_fail "iPXE did not fetch and run boot.ipxe over TFTP; last line: $(lab_last_line)"
expect_init
# shellcheck disable=SC2154 # marker_ms, exit_ms come from labrun's result file
echo "pxe: exec to /init ${marker_ms} ms (kernel $(wc -c <tftp/vmlinuz) B and initrd $(wc -c <tftp/initrd.cpio) B over TFTP), exit ${exit_ms} ms"
expect_end poweroff
