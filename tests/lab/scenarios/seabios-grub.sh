# seabios-grub — a BIOS boot from disk: SeaBIOS loads GRUB from the MBR gap of a partitioned raw
# disk on virtio-blk (tests/lab/build-disk.sh, made without loop mounts), GRUB reads the cloud
# kernel and the guest initramfs from its ext2 partition through INT 13h and boots them; /init
# sees 2 vCPUs, runs on full ACPI (the PIIX4 PM block where SeaBIOS put it, the SCI on IRQ 9, the
# 8259 reprogrammed by Linux: GRUB's config no longer masks it) and powers off through ACPI.
# Timings of each stage go to the log.
# lab: vmm=truce,qemu timeout=240 needs=seabios l0=patched
disk=/lab/bios/grub-bios.img
[ -f "$disk" ] || fail "no GRUB disk in the L1 image (tests/lab/build-disk.sh; apt-get install grub-pc-bin)"
lab_grub_sel linux "lab.end=poweroff lab.check=nproc:2 lab.check=acpi-pc:0x608"
t0=$(cut -d' ' -f1 /proc/uptime)
# boot in the background and note when each stage shows (the times go to the log)
lab_fw_boot seabios 2 256 200 TRUCE-INIT "$disk" "$PWD/sel.img" &
pid=$!
# each stage's first sight, polled (SeaBIOS's and GRUB's banners reach the serial port only
# under truce, which sets etc/sercon-port)
i=0
for m in 'GRUB loading' 'TRUCE-GRUB sel' TRUCE-GRUB-KERNEL-READ TRUCE-GRUB-BOOT TRUCE-INIT; do
    i=$((i + 1))
    echo "$m" >"marker.$i"
done
while kill -0 $pid 2>/dev/null; do
    for i in 1 2 3 4 5; do
        [ -f "stage.$i" ] && continue
        grep -aqF "$(cat "marker.$i")" guest.out 2>/dev/null &&
            echo "$(cut -d' ' -f1 /proc/uptime) $(cat "marker.$i")" >"stage.$i"
    done
    sleep 0.2
done
cat stage.* >stages 2>/dev/null
wait $pid
GUEST_OUT=$PWD/guest.out
eval "$(cat result)"
# shellcheck disable=SC2154 # set by labrun's result file
GUEST_STATUS=$status GUEST_TIMED_OUT=$timed_out GUEST_TIMEOUT=200
awk -v t0="$t0" '{ printf "seabios-grub: %s at %.1f s\n", substr($0, index($0, " ") + 1), $1 - t0 }' stages
grep -aq 'TRUCE-GRUB sel=linux' "$GUEST_OUT" || fail "GRUB did not start; last line: $(lab_last_line)"
tr -d '\r' <"$GUEST_OUT" | grep -a 'acpi-pc:' # the FADT's PM timer, IRQ 0 and IRQ 9 as seen
expect_init
expect_guest nproc
expect_guest acpi-pc
expect_end poweroff
[ "$LAB_VMM" != truce ] || grep -q 'powered off (PIIX4 PM1_CNT)' "$GUEST_OUT" ||
    fail "the power-off did not go through PM1_CNT"
