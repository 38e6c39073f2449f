# display-virtio-input — the VNC cursor and the guest's agree: the Debian cloud kernel with
# --display vnc=...,input=virtio gets truce's virtio keyboard and tablet (its virtio_input and
# evdev modules bind them); a VNC client (vnctool, Debian's libvncclient) clicks at the bottom
# right and top left corners of the screen and types "aZ"; evread (an evtest-style reader of
# /dev/input/event*) in the guest sees the tablet's absolute axes at their maximum and at 0 with
# the left button, and the keyboard's key codes (Shift wrapped around the Z).
# lab: vmm=truce timeout=150
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
) &
guest_boot -a "lab.check=vinput" -f "$PWD/vinput:/checks/vinput" -f /lab/bin/evread:/lab/evread \
    -x --display -x "vnc=127.0.0.1:$PORT,input=virtio" -t 120
wait
expect_init
grep -aq VINPUT-READY "$GUEST_OUT" || fail "the guest's readers never started: $(lab_last_line)"
echo "display-virtio-input: $(tr '\n' ' ' <vnctool.out)"
expect_guest vinput
expect_end poweroff
