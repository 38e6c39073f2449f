# display-vnc — the Debian cloud kernel through SeaBIOS with the std VGA display and its VNC
# server: Debian's VGA BIOS sets up text mode and the kernel's VGA console (vgacon; the cloud
# kernel has no DRM driver) is tty0; vncsnapshot (Debian) reads the screen; garbage and clients
# leaving mid-handshake do not hurt the VM; vnctool (Debian's libvncclient) types a command on
# tty1 (shifted characters included) that the guest runs, its marker arriving on the serial
# console, and reads the screen back: 720x400 text with the shell's console text in it.
# lab: vmm=truce timeout=320 needs=seabios l0=patched
VNCTOOL=/lab/bin/vnctool
[ -x "$VNCTOOL" ] || fail "vnctool is not in the L1 image (make guests, then rebuild L1)"
[ -f /usr/share/seabios/vgabios-stdvga.bin ] || fail "vgabios-stdvga.bin is not in the L1 image"
PORT=5907
GUEST_OUT=$PWD/guest.out
# the clients reach the server over L1's loopback
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null

cat >vnctype <<'EOF'
#!/bin/sh
# vnctype — a shell on tty1 (the screen) for what the VNC client types; waits for the first typed
# command's file, then for the client's last command (the host reads the screen meanwhile).
setsid sh -c 'exec sh </dev/tty1 >/dev/tty1 2>&1' &
echo "vnctype: shell on tty1"
dmesg | grep -iE 'i8042|serio|input:|console \[tty' | sed 's/^/vnctype: /' | head -n 12
echo VNC-READY
# until the client's last command (a time limit, not a count: a loaded guest runs its loop slowly)
t0=$(cut -d. -f1 /proc/uptime)
while [ ! -f /tmp/done ] && [ $(($(cut -d. -f1 /proc/uptime) - t0)) -lt 150 ]; do
    sleep 0.2
done
# what tty1 shows (80 columns a line), for the log
echo "vnctype: /tmp: $(ls /tmp | tr '\n' ' ')"
fold -w 80 /dev/vcs1 2>/dev/null | grep -aE 'touch|VNC' | sed 's/ *$//; s/^/vnctype: tty1: /'
if [ ! -f /tmp/typed ]; then
    echo "GUEST-RESULT FAIL vnctype the first typed command did not run (tty1 above)"
elif [ ! -f /tmp/done ]; then
    echo "GUEST-RESULT FAIL vnctype the last typed command did not run within 150 s (tty1 above)"
else
    echo "GUEST-RESULT PASS vnctype"
fi
EOF
chmod +x vnctype

# lit FILE.ppm: "WxH LIT" — the size and the number of colour bytes that are not black
lit() {
    local size w h
    size=$(sed -n 2p "$1")
    w=${size% *} h=${size#* }
    echo "${w}x$h $(tail -c $((w * h * 3)) "$1" | tr -d '\000' | wc -c)"
}

# T SECONDS CMD...: CMD with a time limit (a stuck client must not stall the scenario)
T() {
    local t=$1
    shift
    if command -v timeout >/dev/null; then timeout "$t" "$@"; else "$@"; fi
}

(
    i=0
    while [ $i -lt 1500 ] && ! grep -aq VNC-READY "$GUEST_OUT" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    sleep 1
    T 30 "$VNCTOOL" "127.0.0.1:$PORT" snap screen0.ppm 2>>vnctool.err && lit screen0.ppm >screen0.lit
    echo "vnctool type: start" >>vnctool.err
    T 60 "$VNCTOOL" "127.0.0.1:$PORT" type 'echo VNC-TYPED-$((6*7)) >/dev/ttyS0; touch /tmp/typed
' 2>>vnctool.err
    echo $? >type1.status
    # once the guest ran the typed line (its marker on the serial console; a loaded guest may
    # still be reading the keys), the line is on the screen: read it back
    i=0
    while [ $i -lt 600 ] && ! tr -d '\r' <"$GUEST_OUT" | grep -aq '^VNC-TYPED-42$'; do
        sleep 0.1
        i=$((i + 1))
    done
    sleep 1
    T 30 "$VNCTOOL" "127.0.0.1:$PORT" snap screen.ppm 2>>vnctool.err && lit screen.ppm >screen.lit
    if command -v vncsnapshot >/dev/null; then
        T 30 vncsnapshot -quiet "127.0.0.1::$PORT" snap.jpg >vncsnapshot.log 2>&1 && [ -s snap.jpg ] &&
            echo ok >vncsnapshot.ok
    fi
    # hostile clients: garbage after the version, a close mid-handshake
    head -c 4096 /dev/urandom | T 10 socat -u - TCP:127.0.0.1:$PORT 2>/dev/null
    T 10 socat -u /dev/null TCP:127.0.0.1:$PORT 2>/dev/null
    printf 'RFB 003.008\n\002' | T 10 socat -u - TCP:127.0.0.1:$PORT 2>/dev/null
    T 60 "$VNCTOOL" "127.0.0.1:$PORT" type 'touch /tmp/done
' 2>>vnctool.err
    echo $? >type2.status
) &
LAB_BASE_CMDLINE="console=tty0 console=ttyS0 quiet" # the kernel's console on the screen too
guest_boot -a "lab.check=vnctype" -f "$PWD/vnctype:/checks/vnctype" -x --firmware -x seabios \
    -x --display -x "vnc=127.0.0.1:$PORT" -t 280
wait
expect_init
grep -q 'SeaBIOS (version' "$GUEST_OUT" || fail "the kernel did not come through SeaBIOS"
diag() { cat vnctool.err vncsnapshot.log 2>/dev/null | tr '\n' '|' | cut -c1-300; }
grep -aq VNC-READY "$GUEST_OUT" || fail "the guest never started its shell on tty1: $(lab_last_line)"
# the client itself must have typed everything (status 124: the time limit killed it)
[ "$(cat type1.status 2>/dev/null)" = 0 ] || fail "vnctool type (first command): status $(cat type1.status 2>/dev/null): $(diag)"
[ "$(cat type2.status 2>/dev/null)" = 0 ] || fail "vnctool type (last command): status $(cat type2.status 2>/dev/null): $(diag)"
tr -d '\r' <"$GUEST_OUT" | grep -aq '^VNC-TYPED-42$' ||
    fail "the typed command did not run (no VNC-TYPED-42 on the serial console): $(diag)"
[ -f screen0.lit ] && [ -f screen.lit ] || fail "vnctool read no screen: $(diag)"
read -r size n0 <screen0.lit
read -r size n <screen.lit
[ "$size" = 720x400 ] || fail "the screen is $size, not 80x25 text (720x400)"
[ "$n0" -gt 1500 ] || fail "only $n0 lit colour bytes: no console text on the screen"
[ "$n" -gt "$n0" ] || fail "the typed line did not appear on the screen ($n0 -> $n lit colour bytes)"
echo "display-vnc: screen $size, $n0 lit colour bytes, $n with the typed line"
command -v vncsnapshot >/dev/null && { [ -f vncsnapshot.ok ] || fail "vncsnapshot: $(cat vncsnapshot.log)"; }
expect_guest vnctype
expect_end poweroff
