# bench-firmware — L1 side of bench/firmware.sh: boots from disk through firmware under truce and
# QEMU, alternating, REPS boots each: SeaBIOS -> GRUB (MBR gap of the BIOS disk) -> the cloud
# kernel -> /init (QEMU -M pc), and OVMF -> GRUB EFI (the ESP of the GPT disk), which prints its
# marker and powers off (QEMU -M q35). Prints "BENCH-FW fw vmm rep first_ms marker_ms exit_ms
# status" lines: SeaBIOS: first = GRUB's first output, marker = /init; OVMF: first = OVMF's boot
# manager starting, marker = GRUB's first output (-1: not seen). REPS in /lab/bench/firmware.conf.
# lab: vmm=truce timeout=4000 l0=patched
REPS=3
[ -f /lab/bench/firmware.conf ] && . /lab/bench/firmware.conf
bios=/lab/bios/grub-bios.img efi=/lab/efi/efi-disk.img
[ -f $bios ] && [ -f $efi ] || fail "the GRUB disks are not in the L1 image"
lab_grub_sel linux "lab.end=poweroff"
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# Time one boot: first output FIRST and the final MARKER, polled every 0.1 s next to labrun's
# own start->marker time.
bench_boot() { # FW VMM REP FIRST MARKER DISK...
    local fw=$1 vmm=$2 rep=$3 first=$4 marker=$5 t0 tf=-1 f
    shift 5
    rm -f vars.fd result
    LAB_VMM=$vmm lab_fw_args "$fw" 1 256 "$@" >vmm-args
    [ $fw/$vmm = ovmf/qemu ] && sed -i 's/^pc$/q35/' vmm-args
    set --
    while IFS= read -r f; do set -- "$@" "$f"; done <vmm-args
    : >out.txt
    t0=$(now_ms)
    labrun -t 400 -m "$marker" -o out.txt -r result -- "$@" &
    while [ ! -s result ]; do
        [ $tf = -1 ] && grep -aq "$first" out.txt && tf=$(($(now_ms) - t0))
        sleep 0.1
    done
    wait
    eval "$(cat result)"
    # shellcheck disable=SC2154 # set by labrun's result file
    echo "BENCH-FW $fw $vmm $rep $tf $marker_ms $exit_ms $status"
    grep -aq "$marker" out.txt || echo "BENCH-NOTE $fw $vmm run $rep: no $marker: $(tail -n 1 out.txt)"
}
for rep in $(seq "$REPS"); do
    order="truce qemu"
    [ $((rep % 2)) = 0 ] && order="qemu truce"
    for vmm in $order; do
        bench_boot seabios $vmm $rep 'TRUCE-GRUB sel' TRUCE-INIT $bios "$PWD/sel.img"
        bench_boot ovmf $vmm $rep 'BdsDxe: starting' TRUCE-GRUB-EFI $efi
    done
done
