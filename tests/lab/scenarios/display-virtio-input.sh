# display-virtio-input — the VNC cursor and the guest's agree: the Debian cloud kernel with
# --display vnc=...,input=virtio gets truce's virtio keyboard and tablet (its virtio_input and
# evdev modules bind them); a VNC client (vnctool, Debian's libvncclient) clicks at the bottom
# right and top left corners of the screen and types "aZ"; evread (an evtest-style reader of
# /dev/input/event*) in the guest sees the tablet's absolute axes at their maximum and at 0 with
# the left button, and the keyboard's key codes (Shift wrapped around the Z). Then the guest
# unloads virtio_input (the driver resets the devices) and loads psmouse: the same client input
# now reaches the PS/2 keyboard (the same key codes through atkbd) and the PS/2 mouse (relative
# motion to the right, the left button).
# lab: vmm=truce timeout=200
VNCTOOL=/lab/bin/vnctool
[ -x "$VNCTOOL" ] || fail "vnctool is not in the L1 image (make guests, then rebuild L1)"
PORT=5908
GUEST_OUT=$PWD/guest.out
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null

cat >vinput <<'EOS'
#!/bin/sh
# vinput — read the virtio tablet's and keyboard's events while the VNC client sends them.
r() { echo "GUEST-RESULT $1 vinput $2"; exit 0; }
for d in /sys/class/input/input*; do echo "vinput: $(basename "$d") $(cat "$d/name")"; done
/lab/evread "truce virtio-tablet" 8 60 >/tmp/tab.ev 2>/tmp/tab.err &
t=$!
/lab/evread "truce virtio-keyboard" 6 60 >/tmp/kbd.ev 2>/tmp/kbd.err &
k=$!
i=0
while [ $i -lt 100 ] && ! { grep -q ready /tmp/tab.ev && grep -q ready /tmp/kbd.ev; } 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
echo VINPUT-READY
wait $t
ts=$?
wait $k
ks=$?
sed 's/^/vinput: tablet /' /tmp/tab.ev /tmp/tab.err
sed 's/^/vinput: keyboard /' /tmp/kbd.ev /tmp/kbd.err
[ $ts = 0 ] && [ $ks = 0 ] || r FAIL "events missing: $(cat /tmp/tab.err /tmp/kbd.err | tr '\n' ' ')"
# EV_ABS 3: ABS_X 0, ABS_Y 1 (0..32767); EV_KEY 1: BTN_LEFT 272, KEY_A 30, KEY_Z 44, KEY_LEFTSHIFT 42
want_tab="3 0 32767|3 1 32767|1 272 1|1 272 0|3 0 0|3 1 0|1 272 1|1 272 0"
want_kbd="1 30 1|1 30 0|1 42 1|1 44 1|1 44 0|1 42 0"
[ "$(sed 1d /tmp/tab.ev | tr '\n' '|')" = "$want_tab|" ] || r FAIL "tablet events differ"
[ "$(sed 1d /tmp/kbd.ev | tr '\n' '|')" = "$want_kbd|" ] || r FAIL "keyboard events differ"
# phase 2: virtio_input's driver gone (the device is reset), the same VNC input reaches PS/2:
# the AT keyboard (atkbd) and the PS/2 mouse (psmouse, built for the lab)
insmod /lab/psmouse.ko || r FAIL "insmod psmouse.ko failed"
rmmod virtio_input || r FAIL "rmmod virtio_input failed"
/lab/evread "Set 2 keyboard" 100 60 "1 42 0" >/tmp/ps2k.ev 2>/tmp/ps2k.err &
k=$!
/lab/evread "PS/2" 100 60 "1 272 0" >/tmp/ps2m.ev 2>/tmp/ps2m.err &
m=$!
i=0
while [ $i -lt 100 ] && ! { grep -q ready /tmp/ps2k.ev && grep -q ready /tmp/ps2m.ev; } 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
echo PS2-READY
wait $k
ks=$?
wait $m
ms=$?
sed 's/^/vinput: ps2 keyboard /' /tmp/ps2k.ev /tmp/ps2k.err
sed 's/^/vinput: ps2 mouse /' /tmp/ps2m.ev /tmp/ps2m.err
[ $ks = 0 ] && [ $ms = 0 ] || r FAIL "PS/2 events missing: $(cat /tmp/ps2k.err /tmp/ps2m.err | tr '\n' ' ')"
# the keys (EV_KEY lines; atkbd also reports MSC_SCAN), motion to the right, the left button
[ "$(grep '^1 ' /tmp/ps2k.ev | tr '\n' '|')" = "$want_kbd|" ] || r FAIL "PS/2 keyboard events differ"
grep -Eq '^2 0 [1-9]' /tmp/ps2m.ev || r FAIL "no REL_X motion to the right from the PS/2 mouse"
grep -q '^1 272 1$' /tmp/ps2m.ev || r FAIL "no BTN_LEFT press from the PS/2 mouse"
r PASS
EOS
chmod +x vinput

# T SECONDS CMD...: CMD with a time limit (a stuck client must not stall the scenario)
T() {
    local t=$1
    shift
    if command -v timeout >/dev/null; then timeout "$t" "$@"; else "$@"; fi
}

(
    i=0
    while [ $i -lt 900 ] && ! grep -aq VINPUT-READY "$GUEST_OUT" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    T 30 "$VNCTOOL" "127.0.0.1:$PORT" click -1 -1 >>vnctool.out 2>&1
    T 30 "$VNCTOOL" "127.0.0.1:$PORT" click 0 0 >>vnctool.out 2>&1
    T 30 "$VNCTOOL" "127.0.0.1:$PORT" type aZ >>vnctool.out 2>&1
    echo "vnctool: status $?" >>vnctool.out
    i=0
    while [ $i -lt 900 ] && ! grep -aq PS2-READY "$GUEST_OUT" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    T 30 "$VNCTOOL" "127.0.0.1:$PORT" type aZ >>vnctool.out 2>&1
    T 30 "$VNCTOOL" "127.0.0.1:$PORT" move 20 0 3 >>vnctool.out 2>&1
    T 30 "$VNCTOOL" "127.0.0.1:$PORT" click 0 0 >>vnctool.out 2>&1
    echo "vnctool: ps2 status $?" >>vnctool.out
) &
[ -f /lab/ahci/psmouse.ko ] || fail "psmouse.ko is not in the L1 image (tests/lab/build-ahci-mods.sh)"
guest_boot -a "lab.check=vinput" -f "$PWD/vinput:/checks/vinput" -f /lab/bin/evread:/lab/evread \
    -f /lab/ahci/psmouse.ko:/lab/psmouse.ko \
    -x --display -x "vnc=127.0.0.1:$PORT,input=virtio" -t 160
wait
expect_init
grep -aq VINPUT-READY "$GUEST_OUT" || fail "the guest's readers never started: $(lab_last_line)"
echo "display-virtio-input: $(tr '\n' ' ' <vnctool.out)"
expect_guest vinput
echo "display-virtio-input: PS/2: $(tr -d '\r' <"$GUEST_OUT" | sed -n 's/^vinput: ps2 //p' | tr '\n' '|' | cut -c1-400)"
expect_end poweroff
