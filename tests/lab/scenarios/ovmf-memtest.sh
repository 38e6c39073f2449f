# ovmf-memtest — memtest86+ under UEFI: OVMF runs GRUB EFI from the GPT disk's ESP
# (tests/lab/build-efi-disk.sh); a second disk holds a GRUB script that chain-loads Debian's
# memtest86+x64.efi with console=ttyS0. memtest86+'s EFI build needs a GOP framebuffer, so the
# VM has truce's std VGA (--display std, OVMF's QemuVideoDxe). Its first test is seen on serial,
# then the VMM is stopped (a whole pass takes too long in the lab). Cross-checked under QEMU -M pc
# with -vga std and the same OVMF files and disks.
# Unloaded, truce reaches the first test in 36-44 s (QEMU 91 s); in a loaded cold-cache CI run it
# took over 240 s (QEMU 131 s): the limit has room for that.
# lab: vmm=truce,qemu timeout=390 l0=patched needs=ovmf-kernel
disk=/lab/efi/efi-disk.img
[ -f $disk ] || fail "no UEFI disk in the L1 image (apt-get install grub-efi-amd64-bin mtools)"
{ printf 'echo TRUCE-GRUB-MEMTEST\nchainloader /memtest86+x64.efi console=ttyS0,115200\nboot\n'
    head -c 512 /dev/zero | tr '\0' '#'; } | head -c 512 >sel.img
dd if=/dev/zero bs=512 count=7 2>/dev/null >>sel.img
lab_fw_args ovmf 1 256 "$disk" "$PWD/sel.img" >vmm-args
set --
while IFS= read -r f; do set -- "$@" "$f"; done <vmm-args
case $LAB_VMM in # a GOP framebuffer: the std VGA under both
truce) set -- "$@" --display std && bin=truce ;;
*) set -- "$@" -vga std && bin=qemu-system-x86_64 ;;
esac
labrun -t 330 -m 'Address test' -o guest.out -r result -- "$@" &
pid=$!
while kill -0 $pid 2>/dev/null && ! lab_memtest_running guest.out; do sleep 0.5; done
for p in $(pidof $bin); do kill "$p" 2>/dev/null; done
wait $pid
GUEST_OUT=$PWD/guest.out
eval "$(cat result)"
plain=$(lab_memtest_plain "$GUEST_OUT")
echo "$plain" | grep -aoE 'Memtest86\+ v[0-9.]+|\[[A-Z][a-z]+ [a-z]+[^]]*\]|(L[123] Cache|Memory) *:[^|]*' | sort -u | head -n 8 |
    sed 's/^/ovmf-memtest: /'
grep -aq TRUCE-GRUB-MEMTEST "$GUEST_OUT" || { lab_show_output 20; fail "GRUB EFI did not run the script of the second disk; last line: $(lab_last_line)"; }
echo "$plain" | grep -aq 'Memtest86+' || { lab_show_output 20; fail "no memtest86+ banner on serial"; }
lab_memtest_running "$GUEST_OUT" || { lab_show_output 20; fail "memtest86+ started no test"; }
# shellcheck disable=SC2154 # marker_ms from labrun's result file
echo "ovmf-memtest: exec to memtest86+'s first test $marker_ms ms"
