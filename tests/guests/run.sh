#!/usr/bin/env bash
# run.sh — tier-2 guest tests: tiny guests under build/truce on this host's /dev/kvm, judged by
# serial output and exit status. Prints one PASS/FAIL line per case.
set -u
cd "$(dirname "$0")/../.."
TRUCE=${TRUCE:-build/truce}
G=build/guests
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
. tests/guests/pattern.sh

if [ ! -c /dev/kvm ] || ! "$TRUCE" check >/dev/null 2>&1 && ! [ -w /dev/kvm ]; then
    echo "FAIL guests: /dev/kvm is not usable here"
    exit 0
fi

# case NAME EXPECTED_STATUS EXPECTED_SERIAL_REGEX -- truce run args...
case_() {
    local name=$1 want=$2 pattern=$3
    shift 4
    local log="$OUT/$name.serial" err="$OUT/$name.err"
    if [ -n "${SIGNAL:-}" ]; then # deliver SIGNAL once the guest is up, like a host would
        "$TRUCE" run --console "file:$log" "$@" </dev/null >"$OUT/$name.out" 2>"$err" &
        local pid=$!
        # (up = the expected line is all there: on a loaded host the first byte can come early)
        for _ in $(seq 200); do grep -Eq -- "$pattern" "$log" 2>/dev/null && break; sleep 0.1; done
        kill -s "$SIGNAL" $pid
        wait $pid
    elif [ -n "${INPUT:-}" ]; then # typed on the console; serial output goes to stdout
        log="$OUT/$name.out"
        (sleep 1; printf "$INPUT"; sleep 5) | timeout 120 "$TRUCE" run --console stdio "$@" \
            >"$log" 2>"$err"
    else
        timeout 120 "$TRUCE" run --console "file:$log" "$@" </dev/null >"$OUT/$name.out" 2>"$err"
    fi
    local got=$?
    touch "$log"
    if [ "$got" != "$want" ]; then
        echo "FAIL $name: exit status $got, want $want ($(tail -n1 "$err"); serial: $(tr '\n' '|' <"$log" | cut -c1-200))"
    elif ! grep -Eq -- "$pattern" "$log"; then
        echo "FAIL $name: serial output lacks /$pattern/: $(tr '\n' '|' <"$log" | cut -c1-300)"
    else
        echo "PASS $name"
    fi
}

case_ realmode-rom 33 'cmos base memory 640 KiB' -- --firmware $G/realmode.rom
# A ROM that writes over itself (high copy read-only, legacy copy RAM): the writes are dropped in
# the guest and the file on disk keeps its bytes.
cp $G/romwrite.rom "$OUT/romwrite.rom"
case_ rom-write-dropped 37 "rom writes dropped" -- --firmware "$OUT/romwrite.rom"
cmp -s $G/romwrite.rom "$OUT/romwrite.rom" && echo "PASS rom-file-unchanged" ||
    echo "FAIL rom-file-unchanged: the guest's writes reached $OUT/romwrite.rom"
case_ pvh64 65 "pvh64 ok" -- --kernel $G/pvh64.elf --cmdline "hello truce" --memory 64M
case_ pvh64-cmdline 65 "cmdline 'a=1 b=\"two words\" c'" -- --kernel $G/pvh64.elf \
    --cmdline 'a=1 b="two words" c'
case_ pvh64-ram 65 "ram 6[0-9] MiB" -- --kernel $G/pvh64.elf --memory 64M
case_ pvh64-highmem 65 "ram 409[0-9] MiB" -- --kernel $G/pvh64.elf --memory 4G
case_ pvh64-64g 65 "ram 6553[0-9] MiB" -- --kernel $G/pvh64.elf --memory 64G
# Guest RAM that ends beyond the physical address bits of this host's CPU (KVM passes the host's
# width to the guest in CPUID 0x80000008): refused with the reason before any vCPU runs. Hosts
# with more than 40 bits cannot be asked for that much (--memory stops at 1T).
bits=$(sed -n 's/.*address sizes[^0-9]*\([0-9]*\) bits physical.*/\1/p' /proc/cpuinfo | head -n 1)
if [ -n "$bits" ] && [ "$bits" -le 40 ] && [ "$bits" -ge 33 ]; then
    "$TRUCE" run --kernel $G/pvh64.elf --memory "$((1 << (bits - 30)))G" --console none \
        </dev/null >/dev/null 2>"$OUT/physbits.err"
    got=$?
    if [ $got = 2 ] && grep -q "beyond the $bits-bit physical address space" "$OUT/physbits.err"; then
        echo "PASS ram-beyond-phys-bits ($bits bits: $(cut -c1-160 "$OUT/physbits.err"))"
    else
        echo "FAIL ram-beyond-phys-bits: exit status $got, want 2 ($(tail -n1 "$OUT/physbits.err"))"
    fi
else
    echo "SKIP ram-beyond-phys-bits: this host's CPU has ${bits:-unknown} physical address bits"
fi
case_ pvh64-64cpus 65 "pvh64 ok" -- --kernel $G/pvh64.elf --cpus 64
# An initrd is loaded into guest RAM while the guest already runs (src/vm/lazyload.c): the guest
# checks every page of an 8 MiB file in a known pattern (pvh64.c), front to back and back to
# front, in each mode; "demand" loads a piece only when it is touched, so every piece goes
# through the userfaultfd (the debug line counts them). A file that shrinks before the guest
# reads it stops the VM with the file's name (the guest waits for a key until it is cut).
pattern_file "$OUT/pattern.img"
for mode in lazy demand eager; do
    for order in forward reverse; do
        TRUCE_BOOT_LOAD=$mode case_ initrd-$mode-$order 65 "initrd ok 8192 KiB" -- \
            --kernel $G/pvh64.elf --initrd "$OUT/pattern.img" --cmdline "initrd=$order" \
            --log-level debug
    done
done
grep -q "lazy load: 32 of 32 pieces (8192 KiB) in [0-9]* ms, 32 for faults" \
    "$OUT/initrd-demand-reverse.err" && echo "PASS initrd-demand-faults" ||
    echo "FAIL initrd-demand-faults: $(grep 'lazy load' "$OUT/initrd-demand-reverse.err")"
cp "$OUT/pattern.img" "$OUT/shrinks.img"
(for _ in $(seq 300); do grep -q "waits for a key" "$OUT/shrinks.out" 2>/dev/null && break; sleep 0.1; done
    truncate -s 4M "$OUT/shrinks.img" && printf k && sleep 5) |
    TRUCE_BOOT_LOAD=demand timeout 120 "$TRUCE" run --kernel $G/pvh64.elf --initrd "$OUT/shrinks.img" \
        --cmdline "initrd=key initrd=reverse" --console stdio >"$OUT/shrinks.out" 2>"$OUT/shrinks.err"
got=$?
if [ $got = 4 ] && grep -q "initrd $OUT/shrinks.img: reading it into guest RAM at offset [0-9]*: the file shrank while it was loaded" "$OUT/shrinks.err"; then
    echo "PASS initrd-shrinks-while-loading"
else
    echo "FAIL initrd-shrinks-while-loading: exit status $got, want 4 ($(tail -n 1 "$OUT/shrinks.err"))"
fi
case_ bzimage-64bit 69 "cmdline 'bz test" -- --kernel $G/bzimage.bin --cmdline "bz test"
case_ bzimage-highmem 69 "zero page ok" -- --kernel $G/bzimage.bin --memory 5G
case_ smp-2cpu 97 "cpu1 up, apic id 1" -- --kernel $G/smp.elf --cpus 2
case_ smp-2cpu-bsp 97 "cpu0 apic id 0, logical cpus 2" -- --kernel $G/smp.elf --cpus 2
# The PIT (ISA IRQ 0) reaches the IOAPIC pin that the MP table and the MADT name for it (truce's
# routing, used on virtio-mmio machines: machine/builder.c).
case_ pit-ioapic-pin 73 "pit reaches the named pin" -- --kernel $G/timer.elf --transport mmio
case_ triple-fault 8 "loading an empty IDT" -- --kernel $G/triple32.elf
# ... and truce says where the guest was: its registers, the empty IDT among them.
if grep -Eq 'vCPU 0, triple fault: rip=0x[0-9a-f]+ .*cr0=0x[0-9a-f]*1 .* idt=0x0/0x0 ' \
    "$OUT/triple-fault.err"; then
    echo "PASS triple-fault-state"
else
    echo "FAIL triple-fault-state: no register line with the empty IDT: $(tr '\n' '|' <"$OUT/triple-fault.err")"
fi
A=$G/actions.elf
case_ reboot-i8042 6 "actions 'i8042-reset'" -- --kernel $A --cmdline i8042-reset
case_ reboot-cf9 6 "actions 'cf9-reset'" -- --kernel $A --cmdline cf9-reset
case_ poweroff-acpi 0 "actions 'acpi-poweroff'" -- --kernel $A --cmdline acpi-poweroff
case_ panic-pvpanic 12 "actions 'pvpanic'" -- --kernel $A --cmdline pvpanic
case_ debug-exit-255 255 "actions 'exit'" -- --kernel $A --cmdline exit
INPUT='hi\001\001q' case_ console-input-ctrl-a-a 193 "68 69 01 71" -- --kernel $A --cmdline echo
INPUT='\001x' case_ console-ctrl-a-x 16 "actions 'spin'" -- --kernel $A --cmdline spin
SIGNAL=TERM case_ sigterm 16 "actions 'spin'" -- --kernel $A --cmdline spin
SIGNAL=INT case_ sigint 16 "actions 'spin'" -- --kernel $A --cmdline spin
case_ unmapped-mmio-halts 10 "unmapped reads all-ones; halting" -- --kernel $G/mmio.elf

# Multiboot v1: an ELF kernel and a flat a.out-kludge one, with two modules and their arguments.
printf 'first module\n' >"$OUT/mod1.txt"
printf 'second\001module' >"$OUT/mod2.bin"
MODS="$OUT/mod1.txt arg1 arg2,$OUT/mod2.bin x,,y"
for mb in elf bin; do
    case_ multiboot-$mb-cmdline 85 "multiboot cmdline '$G/multiboot.$mb hello mb'" -- \
        --kernel $G/multiboot.$mb --cmdline "hello mb" --initrd "$MODS" --memory 64M
    case_ multiboot-$mb-modules 85 "module 1 '$OUT/mod2.bin x,y' 13 bytes: second.module" -- \
        --kernel $G/multiboot.$mb --cmdline "hello mb" --initrd "$MODS" --memory 64M
done
case_ multiboot-memory 85 "mem_lower 639 KiB, mem_upper 64512 KiB" -- --kernel $G/multiboot.elf \
    --memory 64M
case_ multiboot-highmem 85 "mem_upper 3144704 KiB" -- --kernel $G/multiboot.elf --memory 4G
case_ fw-cfg-items 85 "fw_cfg id 3, cpus 2, ram 64 MiB" -- --kernel $G/multiboot.elf \
    --cmdline fwcfg --cpus 2 --memory 64M
case_ fw-cfg-e820-dma 85 "fw_cfg etc/e820 5 entries match the memory map" -- \
    --kernel $G/multiboot.elf --cmdline fwcfg --memory 64M
case_ fw-cfg-dma-errors 85 "fw_cfg dma errors reported" -- --kernel $G/multiboot.elf \
    --cmdline fwcfg --memory 5G
# Debian's SeaBIOS: POST through to "nothing to boot", then its reboot (status 6).
if [ -f /usr/share/seabios/bios-256k.bin ]; then
    case_ seabios-post 6 "No bootable device" -- --firmware seabios --memory 128M
    # boot from disk: SeaBIOS's virtio-blk driver loads the MBR, which reads sector 2 by INT 13h
    case_ seabios-disk-boot 37 "second sector read through int 13h" -- --firmware seabios \
        --disk "path=$G/bootsector.img,readonly=on"
    # the same from an AHCI disk: SeaBIOS's AHCI driver (IDENTIFY, READ DMA) behind INT 13h
    case_ seabios-ahci-disk-boot 37 "second sector read through int 13h" -- --firmware seabios \
        --disk "path=$G/bootsector.img,readonly=on,if=ahci"
else
    echo "FAIL seabios-post: /usr/share/seabios/bios-256k.bin missing (apt-get install seabios)"
fi
case_ multiboot-one-module 85 "module 0 '$OUT/mod1.txt' 13 bytes: first module." -- \
    --kernel $G/multiboot.bin --initrd "$OUT/mod1.txt"

# Bad input: one clear line, status 2, before any guest runs.
bad_() {
    local name=$1 pattern=$2
    shift 2
    local err="$OUT/$name.err"
    timeout 30 "$TRUCE" "$@" </dev/null >/dev/null 2>"$err"
    local got=$? want=${WANT:-2}
    if [ "$got" != "$want" ]; then
        echo "FAIL $name: exit status $got, want $want"
    elif [ "$(wc -l <"$err")" != 1 ] || ! grep -Eq -- "$pattern" "$err"; then
        echo "FAIL $name: stderr not one line matching /$pattern/: $(head -c 300 "$err")"
    else
        echo "PASS $name"
    fi
}
head -c 4096 /dev/urandom >"$OUT/garbage.img"
head -c 100 $G/pvh64.elf >"$OUT/truncated.elf"
truncate -s 20M "$OUT/big.img"
bad_ bad-cpus-0 '--cpus' run --kernel $G/pvh64.elf --cpus 0
bad_ bad-cpus-65 '--cpus' run --kernel $G/pvh64.elf --cpus 65
bad_ bad-memory-unit '--memory' run --kernel $G/pvh64.elf --memory 12Q
bad_ bad-memory-small '--memory' run --kernel $G/pvh64.elf --memory 1M
bad_ bad-missing-kernel '--kernel: /nonexistent' run --kernel /nonexistent
bad_ bad-unknown-flag '--bogus' run --kernel $G/pvh64.elf --bogus
bad_ bad-console '--console' run --kernel $G/pvh64.elf --console tty
bad_ bad-not-a-kernel 'garbage.img' run --kernel "$OUT/garbage.img"
bad_ bad-truncated-elf 'truncated.elf' run --kernel "$OUT/truncated.elf"
head -c 600 $G/multiboot.bin >"$OUT/mb-truncated.bin"
bad_ bad-multiboot-truncated 'truncated: load_end_addr' run --kernel "$OUT/mb-truncated.bin"
bad_ bad-multiboot-module-missing '--initrd: /nonexistent' run --kernel $G/multiboot.elf \
    --initrd "$OUT/mod1.txt,/nonexistent"
bad_ bad-firmware-kernel-not-bzimage 'for the firmware' run --firmware $G/realmode.rom \
    --kernel $G/multiboot.elf
# UEFI images: wrong sizes, a missing or foreign variable store (OVMF from Debian's ovmf)
OVMF=/usr/share/OVMF
if [ -f $OVMF/OVMF_CODE_4M.fd ] && [ -f $OVMF/OVMF_VARS.fd ]; then
    head -c 1000000 $OVMF/OVMF_CODE_4M.fd >"$OUT/ovmf-cut.fd"
    cp $OVMF/OVMF_VARS_4M.fd "$OUT/vars.fd"
    bad_ bad-ovmf-size 'not a whole number of 4 KiB' run --firmware "$OUT/ovmf-cut.fd"
    bad_ bad-ovmf-vars-missing '--firmware-vars: .*/nonexistent' run --firmware ovmf \
        --firmware-vars /nonexistent/vars.fd
    bad_ bad-ovmf-vars-mismatch 'does not belong to this code image' run --firmware ovmf \
        --firmware-vars "$(cp $OVMF/OVMF_VARS.fd "$OUT/small-vars.fd" && echo "$OUT/small-vars.fd")"
    bad_ bad-ovmf-vars-not-a-store 'not a UEFI variable store' run --firmware ovmf \
        --firmware-vars "$OUT/garbage.img"
    bad_ bad-vars-for-seabios 'only a UEFI' run --firmware seabios --firmware-vars "$OUT/vars.fd"
    sum=$(sha256sum <"$OUT/vars.fd")
    [ "$(sha256sum <$OVMF/OVMF_VARS_4M.fd)" = "$sum" ] && echo "PASS ovmf-vars-untouched-by-refusals" ||
        echo "FAIL ovmf-vars-untouched-by-refusals"
fi
bad_ bad-modules-for-pvh 'need a multiboot kernel' run --kernel $G/pvh64.elf \
    --initrd "$OUT/mod1.txt,$OUT/mod2.bin"
bad_ bad-multiboot-too-little-ram 'does not fit in guest RAM' run --kernel $G/multiboot.elf --memory 16M \
    --initrd "$OUT/big.img"
bad_ bad-initrd-too-big 'initrd' run --kernel $G/pvh64.elf --memory 16M --initrd "$OUT/big.img"
# vhost-net: the flag's values and the combinations it cannot serve (frames never reach truce)
bad_ bad-net-vhost-value 'vhost=maybe: expected on or off' run --kernel $G/pvh64.elf \
    --net tap=tvh0,vhost=maybe
bad_ bad-net-vhost-user 'vhost=on needs a tap' run --kernel $G/pvh64.elf --net user,vhost=on
bad_ bad-net-vhost-limiter 'rate limiters' run --kernel $G/pvh64.elf --net tap=tvh0,vhost=on,rx_bw=1M
bad_ bad-net-vhost-queues 'at most one queue pair per vCPU' run --kernel $G/pvh64.elf \
    --cpus 1 --net tap=tvh0,vhost=on,queues=2
if [ -w /dev/net/tun ]; then
    bad_ bad-net-vhost-mmds 'MMDS' run --kernel $G/pvh64.elf --net tap=tvh0,vhost=on --mmds version=V2
    # a host without vhost-net (this build host's own kernel): the device is named
    [ -e /dev/vhost-net ] || bad_ bad-net-vhost-missing 'cannot open /dev/vhost-net' run \
        --kernel $G/pvh64.elf --net tap=tvh0,vhost=on
fi

# Huge pages: a reserved pool backs the guest; a pool too small is a clear error, not a SIGBUS.
if [ -w /proc/sys/vm/nr_hugepages ]; then
    old=$(cat /proc/sys/vm/nr_hugepages)
    echo $((old + 40)) >/proc/sys/vm/nr_hugepages
    case_ hugepages-64m 65 "pvh64 ok" -- --kernel $G/pvh64.elf --memory 64M --hugepages
    # virtio-balloon over huge pages gives back only whole 2 MiB pages (tests/hostile/balloon_bogus.c)
    if make -s build/hostile/balloon_bogus.elf >/dev/null 2>&1; then
        case_ balloon-hugepages 85 "whole huge page given back" -- \
            --kernel build/hostile/balloon_bogus.elf --cmdline huge --memory 64M --hugepages \
            --balloon amount_mib=8
    else
        echo "FAIL balloon-hugepages: cannot build build/hostile/balloon_bogus.elf"
    fi
    WANT=4 bad_ hugepages-pool-too-small '--hugepages: not enough' run --kernel $G/pvh64.elf \
        --memory 64G --hugepages --console none
    echo "$old" >/proc/sys/vm/nr_hugepages
fi

# `truce check` must recognise this host's kind of /dev/kvm and say so plainly.
check_out=$("$TRUCE" check 2>&1)
check_rc=$?
if [ -d /sys/module/kvm_pvm ]; then
    if [ $check_rc = 1 ] && grep -q "PVM-backed" <<<"$check_out"; then
        echo "PASS check-recognises-pvm"
    else
        echo "FAIL check-recognises-pvm: status $check_rc, output: $(tail -n1 <<<"$check_out")"
    fi
elif grep -qwE 'vmx|svm' /proc/cpuinfo; then
    [ $check_rc = 0 ] && echo "PASS check-hw-virt" || echo "FAIL check-hw-virt: status $check_rc"
else
    [ $check_rc = 1 ] && echo "PASS check-no-hw-virt" || echo "FAIL check-no-hw-virt: status $check_rc"
fi

# The terminal is restored on every exit path: run truce on a pseudo-terminal (script(1)) and
# compare `stty -g` before and after. tty_ NAME INPUT KILL -- truce run args...
tty_() {
    local name=$1 input=$2 kill=$3
    shift 4
    local d="$OUT/$name" t
    mkdir -p "$d"
    t="$TRUCE run --console stdio $*"
    [ "$kill" = 1 ] && t="$t & p=\$!; sleep 1; kill -TERM \$p; wait \$p"
    (sleep 1; printf "$input"; sleep 3) | timeout 30 script -qfec \
        "stty -g >$d/before; $t; stty -g >$d/after" \
        /dev/null >"$d/out" 2>&1
    if [ ! -s "$d/before" ] || [ ! -s "$d/after" ]; then
        echo "FAIL $name: no terminal state captured: $(tail -n2 "$d/out" | tr '\n' '|')"
    elif ! cmp -s "$d/before" "$d/after"; then
        echo "FAIL $name: terminal settings changed: $(cat "$d/before") -> $(cat "$d/after")"
    else
        echo "PASS $name"
    fi
}
if command -v script >/dev/null; then
    tty_ tty-restored-ctrl-a-x '\001x' 0 -- --kernel $A --cmdline spin
    tty_ tty-restored-sigterm '' 1 -- --kernel $A --cmdline spin
    tty_ tty-restored-guest-exit '' 0 -- --kernel $A --cmdline exit
else
    echo "FAIL tty-restored: script(1) missing (apt-get install bsdutils)"
fi

# Snapshots of a running guest, restored by the CLI and the API; bad state files refused.
tests/guests/snapshot.sh

# Diff snapshots: dirty page tracking, rebase onto the base, restore.
tests/guests/diffsnap.sh

# CPU templates: dump, verify, baseline, applied or refused, bad files.
tests/guests/cputemplate.sh

# Started through a `firecracker` symlink: Firecracker's command line, API flow and exit codes.
tests/guests/firecracker.sh

# Optional parts cost nothing unused: libslirp and glib are mapped only with --net user.
maps_() { # maps_ NAME WANT(0|1) -- truce run args
    local name=$1 want=$2
    shift 3
    "$TRUCE" run --kernel $A --cmdline spin --console none "$@" 2>/dev/null &
    local p=$! n=0
    sleep 1.5
    n=$(grep -cE 'libslirp|libglib' "/proc/$p/maps" 2>/dev/null)
    kill -TERM $p
    wait $p
    local got=0
    [ "${n:-0}" -gt 0 ] && got=1
    if [ "$got" = "$want" ]; then
        echo "PASS $name"
    else
        echo "FAIL $name: $n libslirp/glib mappings"
    fi
}
maps_ footprint-no-slirp-without-user-net 0 --
maps_ footprint-slirp-with-user-net 1 -- --net user

# Threads' stacks sized to what they need: the deepest known paths use at most half.
tests/guests/stacks.sh

# Migration between two truce processes (UNIX and TCP), failures that leave the source running.
tests/guests/migrate.sh

# The std VGA display, screenshots and the VNC server (tiny guests drawing through VBE).
tests/guests/display.sh
