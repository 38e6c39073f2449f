# display-linux-fb — Linux draws its console on truce's display: OVMF (`--firmware ovmf`, its
# QemuVideoDxe GOP driver on the std VGA) boots the Debian cloud kernel, whose efifb takes over
# the GOP framebuffer (the cloud kernel has no DRM driver, so not `bochs`) with fbcon on it. The
# guest clears tty1 and writes two known lines of text at the top; vnctool reads the screen over
# VNC: the text rows hold lit pixels, the rows below them are all background.
# lab: vmm=truce timeout=300 l0=patched long=1
VNCTOOL=/lab/bin/vnctool
[ -x "$VNCTOOL" ] || fail "vnctool is not in the L1 image (make guests, then rebuild L1)"
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || fail "OVMF is not in the L1 image (apt-get install ovmf)"
PORT=5909
GUEST_OUT=$PWD/guest.out
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null

cat >fbtext <<'EOS'
#!/bin/sh
# fbtext — known text at the top of tty1 (fbcon on efifb), then time for the host to read it.
echo "fbtext: $(cat /proc/fb 2>/dev/null | tr '\n' ' ') $(cat /sys/class/graphics/fb0/virtual_size 2>/dev/null)"
grep -q . /proc/fb 2>/dev/null || { echo "GUEST-RESULT FAIL fbtext no frame buffer: $(dmesg | grep -iE 'efifb|fb0|fbcon' | tail -n 3 | tr '\n' ' ')"; exit 0; }
chvt 1 2>/dev/null
# clear, cursor off, home; two lines of text, the rest blank
printf '\033[2J\033[?25l\033[H%s\n%s\n' "TRUCE-FRAMEBUFFER-CONSOLE-TEXT-0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ" \
    "################################################################################" >/dev/tty1
echo FB-READY
sleep 20
echo "GUEST-RESULT PASS fbtext"
EOS
chmod +x fbtext

(
    i=0
    while [ $i -lt 2400 ] && ! grep -aq FB-READY "$GUEST_OUT" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    sleep 1
    timeout 30 "$VNCTOOL" "127.0.0.1:$PORT" snap screen.ppm >vnctool.out 2>&1
) &
# kernel messages stay off tty1 (console=ttyS0 only): the text there is what fbtext wrote
guest_boot -a "lab.check=fbtext" -f "$PWD/fbtext:/checks/fbtext" -x --firmware -x ovmf \
    -x --display -x "vnc=127.0.0.1:$PORT" -t 260
wait
expect_init
expect_guest fbtext
[ -f screen.ppm ] || fail "vnctool read no screen: $(cat vnctool.out)"
set -- $("$VNCTOOL" stat screen.ppm 0 0 0 0)
size=$1
echo "display-linux-fb: screen $*"
[ "$2" = 000000 ] || fail "the console background is not black: $*"
w=${size%x*}
[ "$w" -ge 640 ] || fail "the screen is $size: no frame buffer console"
set -- $("$VNCTOOL" stat screen.ppm 0 0 560 32) # the two lines (8x16 font)
echo "display-linux-fb: text rows: $(($4 - $3)) lit of $4 pixels"
[ $(($4 - $3)) -gt 2000 ] || fail "too few lit pixels where the text is: $*"
set -- $("$VNCTOOL" stat screen.ppm 0 48 0 200) # rows 3 to 14: blank
[ "$2 $3" = "000000 $4" ] || fail "the blank rows below the text are not background: $*"
