# seabios-grub — a BIOS boot from disk: SeaBIOS loads GRUB from the MBR of a partitioned raw disk
# on virtio-blk (tests/lab/build-disk.sh), GRUB reads its ext2 partition through the BIOS and
# boots the cloud kernel with its initramfs to /init; the guest powers off through ACPI.
# lab: vmm=truce timeout=300 needs=seabios
disk=$LAB_GUESTS/grub-bios.img
[ -f "$disk" ] || fail "no GRUB disk in the L1 image (tests/lab/build-disk.sh; apt-get install grub-pc-bin)"
GUEST_OUT=$PWD/grub.out
labrun -t 240 -m TRUCE-INIT -o "$GUEST_OUT" -r result -- truce run --firmware seabios \
    --disk "path=$disk,readonly=on" --memory 256M --console stdio
eval "$(cat result)"
# shellcheck disable=SC2154 # set by labrun's result file
GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_TIMEOUT=240
grep -q 'TRUCE-GRUB' "$GUEST_OUT" || fail "GRUB did not start; last line: $(lab_last_line)"
expect_init
expect_end poweroff
