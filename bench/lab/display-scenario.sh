# bench-display — L1 side of bench/display.sh --lab: what a display with a VNC server costs, truce
# vs QEMU (-M pc, -vga std -vnc), alternating: (1) MEM_REPS times the cloud kernel booted
# directly, with and without the display, VMM memory sampled when the guest holds (labrun -H):
# "BENCH-DISPLAY mem vmm display rep hold_rss_kb guest_rss_kb status"; (2) OVMF booting GRUB's
# gfxterm menu from the CD (gfx-efi.iso): start -> the menu on the serial port, memory sampled
# there, then the VMM is stopped, REPS times: "BENCH-DISPLAY grub vmm rep marker_ms hold_rss_kb
# guest_rss_kb". REPS and MEM_REPS in /lab/bench/display.conf.
# lab: vmm=truce timeout=3000 l0=patched
REPS=1 MEM_REPS=5
[ -f /lab/bench/display.conf ] && . /lab/bench/display.conf
kernel=$(lab_kernel cloud) || fail "no cloud kernel"
initrd=$LAB_GUESTS/initrd.cpio
code=/usr/share/OVMF/OVMF_CODE_4M.fd
iso=/lab/ahci/gfx-efi.iso
[ -f $code ] && [ -f $iso ] || fail "OVMF or gfx-efi.iso is not in the L1 image"
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null
cmdline="$LAB_BASE_CMDLINE lab.end=hold"
qemu_pc="qemu-system-x86_64 -L /usr/share/seabios -L /usr/share/qemu -L /lab/qemu -M pc -accel kvm
-cpu host -smp 1 -m 256 -nodefaults -no-user-config -serial stdio -no-reboot"

mem_run() { # VMM DISPLAY REP
    local vmm=$1 disp=$2 rep=$3
    if [ "$vmm" = truce ]; then
        set -- truce run --kernel "$kernel" --initrd "$initrd" --cmdline "$cmdline" --cpus 1 \
            --memory 256M --console stdio
        [ "$disp" = vnc ] && set -- "$@" --display vnc=127.0.0.1:5911
    else
        # shellcheck disable=SC2086 # word list
        set -- $qemu_pc -kernel "$kernel" -initrd "$initrd" -append "$cmdline"
        if [ "$disp" = vnc ]; then set -- "$@" -vga std -vnc 127.0.0.1:11; else set -- "$@" -vga none -display none; fi
    fi
    labrun -t 300 -m TRUCE-INIT -H GUEST-HOLD -o "mem-$vmm-$disp-$rep.txt" -r result -- "$@"
    eval "$(cat result)"
    # shellcheck disable=SC2154 # set by labrun's result file
    echo "BENCH-DISPLAY mem $vmm $disp $rep $hold_rss_kb $guest_rss_kb $status"
    grep -q GUEST-HOLD "mem-$vmm-$disp-$rep.txt" ||
        echo "BENCH-NOTE $vmm $disp run $rep did not hold: $(tail -n 1 "mem-$vmm-$disp-$rep.txt")"
}

grub_run() { # VMM REP: start -> GRUB's menu under OVMF, memory there; then stop the VMM
    local vmm=$1 rep=$2 out="grub-$1-$2.txt" i=0
    cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd
    if [ "$vmm" = truce ]; then
        set -- truce run --firmware ovmf --firmware-vars "$PWD/vars.fd" --cdrom $iso --cpus 1 \
            --memory 256M --console stdio --display vnc=127.0.0.1:5911
    else
        set -- qemu-system-x86_64 -L /usr/share/seabios -L /lab/qemu -M q35 -accel kvm -cpu host -smp 1 -m 256 \
            -drive "if=pflash,format=raw,unit=0,readonly=on,file=$code" \
            -drive "if=pflash,format=raw,unit=1,file=$PWD/vars.fd" -cdrom $iso \
            -nodefaults -no-user-config -vga std -vnc 127.0.0.1:11 -serial stdio -no-reboot
    fi
    rm -f "$out"
    labrun -t 1500 -m 'TRUCE GFX MENU' -H 'TRUCE GFX MENU' -o "$out" -r result -- "$@" &
    local lr=$!
    while [ $i -lt 1500 ] && ! grep -aq 'TRUCE GFX MENU' "$out" 2>/dev/null && kill -0 $lr 2>/dev/null; do
        sleep 1
        i=$((i + 1))
    done
    sleep 1
    for p in $(pidof truce qemu-system-x86_64); do kill "$p" 2>/dev/null; done
    wait $lr
    eval "$(cat result)"
    echo "BENCH-DISPLAY grub $vmm $rep $marker_ms $hold_rss_kb $guest_rss_kb"
    grep -aq 'TRUCE GFX MENU' "$out" ||
        echo "BENCH-NOTE $vmm GRUB run $rep: no menu: $(tail -c 200 "$out" | tr -d '\r\033' | tr '\n' ' ')"
}

for rep in $(seq "$MEM_REPS"); do
    order="truce qemu"
    [ $((rep % 2)) = 0 ] && order="qemu truce"
    for vmm in $order; do
        mem_run "$vmm" none "$rep"
        mem_run "$vmm" vnc "$rep"
    done
done
for rep in $(seq "$REPS"); do
    order="truce qemu"
    [ $((rep % 2)) = 0 ] && order="qemu truce"
    for vmm in $order; do grub_run "$vmm" "$rep"; done
done
