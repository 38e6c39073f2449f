# display-grub — both firmwares draw on truce's std VGA display: SeaBIOS (with Debian's VGA BIOS)
# and OVMF (its QemuVideoDxe GOP driver) each boot a grub-mkrescue ISO from the AHCI CD-ROM
# (gfx.iso / gfx-efi.iso, tests/lab/build-ahci-images.sh) whose GRUB shows its menu on gfxterm at
# 800x600x32 over a solid #2050a0 background. The VM is configured through the API (boot-source
# firmware, an AHCI cdrom drive, PUT /display) and `truce screenshot` takes the PNG while the menu
# is shown: the screen is 800x600, its corners are the background colour, most of it is, and the
# title line and the highlighted entry are not (text and the selection bar are there).
# lab: vmm=truce timeout=300 l0=patched
VNCTOOL=/lab/bin/vnctool
[ -x "$VNCTOOL" ] || fail "vnctool is not in the L1 image (make guests, then rebuild L1)"
[ -f /lab/ahci/gfx.iso ] || fail "gfx.iso is not in the L1 image (tests/lab/build-ahci-images.sh)"
BG=2050a0

# milliseconds since L1 booted (busybox's date has no %N)
now_ms() { echo $(($(sed 's/ .*//; s/\.//' /proc/uptime) * 10)); }

# shot FIRMWARE ISO: boot it through the API, wait for GRUB's menu on the serial port, take the
# screenshot into FIRMWARE.png; prints the milliseconds from InstanceStart to the menu.
shot() {
    local fw=$1 iso=$2 S=$PWD/$1.sock ser=$PWD/$1.serial c r i t0 t1
    rm -f "$S" "$ser"
    truce --api-sock "$S" >"$fw.log" 2>&1 &
    local pid=$!
    i=0
    while [ ! -S "$S" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    c="curl -s -o /dev/null -w %{http_code} -X PUT --unix-socket $S"
    r="$($c http://localhost/boot-source -d "{\"firmware\": \"$fw\"}")"
    r="$r $($c http://localhost/machine-config -d '{"vcpu_count": 1, "mem_size_mib": 256}')"
    r="$r $($c http://localhost/drives/cd -d "{\"drive_id\": \"cd\", \"path_on_host\": \"$iso\", \
\"is_root_device\": false, \"is_read_only\": true, \"interface\": \"ahci\", \"media\": \"cdrom\"}")"
    r="$r $($c http://localhost/display -d '{"kind": "std"}')"
    r="$r $($c http://localhost/serial -d "{\"serial_out_path\": \"$ser\"}")"
    t0=$(now_ms)
    r="$r $($c http://localhost/actions -d '{"action_type": "InstanceStart"}')"
    [ "$r" = "204 204 204 204 204 204" ] || { kill $pid; fail "$fw: the API answered $r: $(tail -n 2 "$fw.log")"; }
    i=0
    while ! grep -aq 'TRUCE GFX MENU' "$ser" 2>/dev/null && [ $i -lt 1800 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    t1=$(now_ms)
    grep -aq 'TRUCE GFX MENU' "$ser" 2>/dev/null || {
        kill $pid
        fail "$fw: GRUB's menu never came: $(tr -d '\r' <"$ser" 2>/dev/null | tail -c 200) $(tail -n 2 "$fw.log")"
    }
    sleep 2 # the serial terminal is drawn after gfxterm; let both finish
    truce screenshot --api-sock "$S" -o "$fw.png" 2>"$fw.shot" ||
        { kill $pid; fail "$fw: truce screenshot: $(cat "$fw.shot")"; }
    kill $pid
    wait $pid 2>/dev/null
    echo $((t1 - t0))
}

# check FIRMWARE: the regions of FIRMWARE.png
check() {
    local fw=$1 size col n total
    read -r size col n total <<EOS
$("$VNCTOOL" stat "$fw.png" 0 0 0 0)
EOS
    echo "display-grub: $fw: screen $size, $n of $total pixels $col"
    [ "$size" = 800x600 ] || fail "$fw: the screen is $size, not GRUB's 800x600"
    [ "$col" = $BG ] && [ $((n * 10)) -gt $((total * 8)) ] ||
        fail "$fw: the background is not mostly #$BG ($n of $total pixels $col)"
    for corner in "0 0" "-32 0" "0 -32" "-32 -32"; do
        # shellcheck disable=SC2086 # two numbers
        set -- $("$VNCTOOL" stat "$fw.png" $corner 32 32)
        [ "$2 $3" = "$BG 1024" ] || fail "$fw: corner ($corner) is not all #$BG: $*"
    done
    set -- $("$VNCTOOL" stat "$fw.png" 200 28 400 20) # GRUB's title line
    [ "$3" -lt "$4" ] || fail "$fw: no text in the title line: $*"
    echo "display-grub: $fw: title line $(($4 - $3)) text pixels"
    set -- $("$VNCTOOL" stat "$fw.png" 40 82 720 12) # the highlighted entry
    [ "$2" != $BG ] || fail "$fw: the highlighted entry is not drawn: $*"
}

ms=$(shot seabios /lab/ahci/gfx.iso) || exit 1
echo "display-grub: seabios: GRUB's menu $ms ms after InstanceStart"
check seabios
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
[ -f /lab/ahci/gfx-efi.iso ] || fail "gfx-efi.iso is not in the L1 image (apt-get install grub-efi-amd64-bin mtools)"
ms=$(shot ovmf /lab/ahci/gfx-efi.iso) || exit 1
echo "display-grub: ovmf: GRUB's menu $ms ms after InstanceStart"
check ovmf
