# display-drm — Linux's `bochs` DRM driver drives truce's std VGA display: Debian's generic kernel
# (the cloud kernel has no DRM; tests/lab/build-drm-kernel.sh fetches the generic one with bochs.ko
# and its dependencies, which the guest's /init loads) boots through the API with a display; bochs
# binds the device (/dev/dri/card0, fb0 "bochs-drmdrmfb", fbcon on it); the guest writes known text
# at the top of tty1 and `truce screenshot` shows it: a screen of the mode the guest set, lit pixels
# where the text is, background below. Twice: the driver's default mode with 16 MiB of video
# memory, then `video=Virtual-1:1920x1080` with 32 MiB — the screenshot follows the mode.
# lab: vmm=truce timeout=240
# shellcheck shell=dash disable=SC2046,SC2015 # vnctool stat prints words to split
VNCTOOL=/lab/bin/vnctool
[ -x "$VNCTOOL" ] || fail "vnctool is not in the L1 image (make guests, then rebuild L1)"
[ -f /lab/drm/vmlinuz ] && [ -f /lab/drm/modules.cpio ] ||
    fail "the generic kernel with bochs.ko is not in the L1 image (tests/lab/build-drm-kernel.sh)"

# milliseconds since L1 booted (busybox's date has no %N)
now_ms() { echo $(($(sed 's/ .*//; s/\.//' /proc/uptime) * 10)); }

cat >drmfb <<'EOS'
#!/bin/sh
# drmfb — bochs-drm is bound and fbcon runs on its frame buffer: report the mode, write two known
# lines at the top of tty1, then wait for the host's screenshot (the host ends the VM).
r() { echo "GUEST-RESULT $1 drmfb $2"; exit 0; }
i=0
while [ $i -lt 100 ] && [ ! -e /sys/class/graphics/fb0 ]; do
    sleep 0.1
    i=$((i + 1))
done
echo "drmfb: dmesg: $(dmesg | grep -iE 'bochs|fbcon|drm' | sed 's/^\[[^]]*\] //' | tr '\n' '|' | cut -c1-400)"
[ -c /dev/dri/card0 ] || r FAIL "no /dev/dri/card0"
grep -q bochs-drm /proc/fb || r FAIL "no bochs-drm frame buffer in /proc/fb: $(cat /proc/fb)"
conn=$(ls -d /sys/class/drm/card0-* | head -n 1)
echo "drmfb: $(basename "$conn") $(cat "$conn/status") $(cat "$conn/enabled"), $(wc -l <"$conn/modes") modes, first $(head -n 1 "$conn/modes")"
echo "drmfb: fb0 $(cat /proc/fb | tr '\n' ' ')virtual_size $(cat /sys/class/graphics/fb0/virtual_size) bpp $(cat /sys/class/graphics/fb0/bits_per_pixel)"
echo "DRM-MODE $(tr , x </sys/class/graphics/fb0/virtual_size) $(cat /sys/class/graphics/fb0/bits_per_pixel)"
dmesg | grep -q 'fb0: bochs-drmdrmfb frame buffer device' || r FAIL "fbcon did not take fb0"
chvt 1 2>/dev/null
# clear, cursor off, home; two lines of text, the rest of the screen blank
printf '\033[2J\033[?25l\033[H%s\n%s\n' "TRUCE-BOCHS-DRM-CONSOLE-TEXT-0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ" \
    "################################################################################" >/dev/tty1
echo "GUEST-RESULT PASS drmfb"
echo DRM-READY
sleep 120
EOS
chmod +x drmfb
mkdir -p extra/checks
cp drmfb extra/checks/
(cd extra && find . | cpio -o -H newc 2>/dev/null) >check.cpio
cat "$LAB_GUESTS/initrd.cpio" /lab/drm/modules.cpio check.cpio >initrd.img

# shot NAME VRAM-MIB EXTRA-ARGS: boot through the API with the display, wait for DRM-READY on the
# serial port, take the screenshot into NAME.png, end the VM. Leaves NAME.serial.
shot() {
    local name=$1 vram=$2 args=$3 S=$PWD/$1.sock ser=$PWD/$1.serial i t0
    rm -f "$ser"
    lab_truce_api "$S"
    lab_want 204 "$S" PUT /boot-source "{\"kernel_image_path\": \"/lab/drm/vmlinuz\", \
\"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"console=ttyS0 quiet lab.check=drmfb $args\"}"
    lab_want 204 "$S" PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
    lab_want 204 "$S" PUT /display "{\"kind\": \"std\", \"vram_mib\": $vram}"
    lab_want 204 "$S" PUT /serial "{\"serial_out_path\": \"$ser\"}"
    t0=$(now_ms)
    lab_want 204 "$S" PUT /actions '{"action_type": "InstanceStart"}'
    i=0
    while ! grep -aqE 'DRM-READY|GUEST-RESULT FAIL' "$ser" 2>/dev/null && [ $i -lt 900 ] &&
        kill -0 "$VMM_PID" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    tr -d '\r' <"$ser" | grep -a '^drmfb: ' | sed "s/^/display-drm: $name: /"
    grep -aq DRM-READY "$ser" || {
        kill "$VMM_PID" 2>/dev/null
        fail "$name: $(tr -d '\r' <"$ser" | grep -a 'GUEST-RESULT FAIL' | head -n 1)$(tr -d '\r' <"$ser" 2>/dev/null | tail -c 300 | tr '\n' '|') $(tail -n 2 truce.out)"
    }
    echo "display-drm: $name: text on the screen $(($(now_ms) - t0)) ms after InstanceStart"
    # fbcon draws into a shadow buffer that a kernel worker copies to the video memory: wait for
    # the text rows to fill (at most 10 s), then take the screenshot that is checked
    i=0
    while [ $i -lt 20 ]; do
        truce screenshot --api-sock "$S" -o "$name.png" 2>"$name.shot" ||
            { kill "$VMM_PID"; fail "$name: truce screenshot: $(cat "$name.shot")"; }
        set -- $("$VNCTOOL" stat "$name.png" 0 16 640 16)
        [ "$2" != 000000 ] || [ "$3" -lt "$4" ] && break
        sleep 0.5
        i=$((i + 1))
    done
    sleep 0.5
    truce screenshot --api-sock "$S" -o "$name.png" 2>"$name.shot" ||
        { kill "$VMM_PID"; fail "$name: truce screenshot: $(cat "$name.shot")"; }
    kill "$VMM_PID"
    wait "$VMM_PID" 2>/dev/null
}

# check NAME: NAME.png is the mode the guest reported, the text rows are lit, the rows below are
# background (black).
check() {
    local name=$1 mode size lit
    mode=$(tr -d '\r' <"$name.serial" | sed -n 's/^DRM-MODE \([0-9x]*\) .*/\1/p')
    set -- $("$VNCTOOL" stat "$name.png" 0 0 0 0)
    size=$1
    echo "display-drm: $name: screenshot $size, guest mode $mode; $3 of $4 pixels #$2"
    [ "$size" = "$mode" ] || fail "$name: the screenshot is $size but the guest set $mode"
    [ "$2" = 000000 ] || fail "$name: the console background is not black: $*"
    set -- $("$VNCTOOL" stat "$name.png" 0 0 640 32) # the two lines (8x16 font, 80 columns)
    lit=$(($4 - $3))
    echo "display-drm: $name: text rows: $lit lit of $4 pixels"
    [ "$2" = 000000 ] && [ "$lit" -gt 2000 ] || fail "$name: too few lit pixels where the text is: $*"
    set -- $("$VNCTOOL" stat "$name.png" 0 0 560 16) # line 1: 68 characters
    [ "$3" -lt "$4" ] || fail "$name: the first line is blank: $*"
    set -- $("$VNCTOOL" stat "$name.png" 0 16 640 16) # line 2: 80 '#'
    [ "$3" -lt "$4" ] || fail "$name: the second line is blank: $*"
    set -- $("$VNCTOOL" stat "$name.png" 640 0 0 32) # right of column 80: blank
    [ "$2 $3" = "000000 $4" ] || fail "$name: the text rows are lit right of column 80: $*"
    set -- $("$VNCTOOL" stat "$name.png" 0 64 0 0) # everything below: blank
    [ "$2 $3" = "000000 $4" ] || fail "$name: the screen below the text is not background: $*"
}

shot default 16 ""
check default
shot fullhd 32 "video=Virtual-1:1920x1080"
check fullhd
[ "$("$VNCTOOL" stat fullhd.png 0 0 1 1 | cut -d' ' -f1)" = 1920x1080 ] ||
    fail "video=Virtual-1:1920x1080 did not give a 1920x1080 screen"
