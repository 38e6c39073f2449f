# bench-ovmf — L1 side of bench/ovmf.sh: the cloud kernel booted through Debian's OVMF
# (OVMF_CODE_4M.fd + a fresh copy of OVMF_VARS_4M.fd each boot, kernel by fw_cfg) under truce
# (i440FX, --firmware ovmf) and QEMU (-M q35, pflash), alternating, REPS boots each; prints
# "BENCH-OVMF vmm rep init_ms exit_ms status" lines for the host. REPS in /lab/bench/ovmf.conf.
# lab: vmm=truce timeout=3000 l0=patched
REPS=3
[ -f /lab/bench/ovmf.conf ] && . /lab/bench/ovmf.conf
code=/usr/share/OVMF/OVMF_CODE_4M.fd
[ -f $code ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
kernel=$(lab_kernel cloud) || fail "no cloud kernel"
initrd=$LAB_GUESTS/initrd.cpio
cmdline="$LAB_BASE_CMDLINE lab.end=poweroff"
for rep in $(seq "$REPS"); do
    order="truce qemu"
    [ $((rep % 2)) = 0 ] && order="qemu truce"
    for vmm in $order; do
        cp /usr/share/OVMF/OVMF_VARS_4M.fd vars.fd
        if [ $vmm = truce ]; then
            set -- truce run --firmware ovmf --firmware-vars "$PWD/vars.fd" --kernel "$kernel" \
                --initrd "$initrd" --cmdline "$cmdline" --cpus 1 --memory 256M --console stdio
        else
            set -- qemu-system-x86_64 -L /lab/qemu -M q35 -accel kvm -cpu host -smp 1 -m 256 \
                -drive "if=pflash,format=raw,unit=0,readonly=on,file=$code" \
                -drive "if=pflash,format=raw,unit=1,file=$PWD/vars.fd" \
                -kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
                -nodefaults -no-user-config -display none -serial stdio -no-reboot
        fi
        labrun -t 400 -m TRUCE-INIT -o out-$vmm-$rep.txt -r result -- "$@"
        eval "$(cat result)"
        # shellcheck disable=SC2154 # set by labrun's result file
        echo "BENCH-OVMF $vmm $rep $marker_ms $exit_ms $status"
        grep -q TRUCE-INIT out-$vmm-$rep.txt || echo "BENCH-NOTE $vmm run $rep did not reach /init: $(tail -n 1 out-$vmm-$rep.txt)"
    done
done
