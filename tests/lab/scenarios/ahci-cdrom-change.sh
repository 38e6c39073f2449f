# ahci-cdrom-change — CD-ROM media change through the API: the Debian cloud kernel, configured
# over the API with an AHCI CD-ROM drive (truce's "interface": "ahci", "media": "cdrom" drive
# fields), reads data1.iso; `PATCH /drives/cd` with an empty path ejects it (the guest's mount
# says no medium), with data2.iso inserts another (the guest sees the new files); a file that is
# not an ISO is refused with 400 and changes nothing. Ends with Ctrl-Alt-Del (status 0).
# lab: vmm=truce timeout=240 needs=boot-bzimage
command -v curl >/dev/null || fail "curl is not in the L1 image"
[ -f /lab/ahci/ahci.ko ] && [ -f /lab/ahci/data2.iso ] ||
    fail "the AHCI modules or ISO images are not in the L1 image"
GUEST_OUT=$PWD/guest.out
SOCK=$PWD/api.sock
cat >cdwatch <<'EOS'
#!/bin/sh
# cdwatch — loads ahci, then every 0.3 s mounts /dev/sr0 and reports what is in the drive
# ("cdwatch: marker X" or "cdwatch: no medium") when it changes; Ctrl-Alt-Del powers off.
r() { echo "GUEST-RESULT $1 cdwatch $2"; }
echo 0 >/proc/sys/kernel/ctrl-alt-del && echo $$ >/proc/sys/kernel/cad_pid ||
    { r FAIL "cannot take Ctrl-Alt-Del"; exit 0; }
trap 'r PASS; poweroff -f' INT
insmod /lab/libahci.ko && insmod /lab/ahci.ko || { r FAIL "insmod ahci failed"; exit 0; }
i=0
while [ ! -b /dev/sr0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -b /dev/sr0 ] || { r FAIL "no /dev/sr0"; exit 0; }
mkdir -p /cd
last=
while :; do
    if mount -t iso9660 -o ro /dev/sr0 /cd 2>/tmp/err; then
        now="marker $(cat /cd/marker.txt) $(wc -l </cd/sub/lines.txt)"
        umount /cd
    else
        now="no medium ($(cat /tmp/err))"
    fi
    [ "$now" != "$last" ] && echo "cdwatch: $now"
    last=$now
    sleep 0.3
done
EOS
chmod +x cdwatch
mkdir -p extra/checks extra/lab && cp cdwatch extra/checks/ &&
    cp /lab/ahci/libahci.ko /lab/ahci/ahci.ko extra/lab/ || fail "cannot stage the guest files"
(cd extra && find . | cpio -o -H newc 2>/dev/null) >extra.cpio
cat "$LAB_GUESTS/initrd.cpio" extra.cpio >initrd.img || fail "cannot build the initrd"
head -c 1048576 /dev/zero >notiso.img

truce --api-sock "$SOCK" --id lab-cd --level Info </dev/null >truce.out 2>&1 &
VMM_PID=$!
i=0
while [ ! -S "$SOCK" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$SOCK" ] || fail "truce --api-sock made no socket: $(tail -n 1 truce.out)"
want 204 PUT /boot-source "{\"kernel_image_path\": \"$(lab_kernel cloud)\",
    \"initrd_path\": \"$PWD/initrd.img\", \"boot_args\": \"$LAB_BASE_CMDLINE lab.check=cdwatch\"}"
want 204 PUT /machine-config '{"vcpu_count": 1, "mem_size_mib": 256}'
want 400 PUT /drives/cd "{\"drive_id\": \"cd\", \"path_on_host\": \"$PWD/notiso.img\",
    \"is_root_device\": false, \"is_read_only\": true, \"interface\": \"ahci\", \"media\": \"cdrom\"}"
grep -q 'not an ISO 9660 image' api.body || fail "PUT of a non-ISO: $(cat api.body)"
want 204 PUT /drives/cd "{\"drive_id\": \"cd\", \"path_on_host\": \"/lab/ahci/data1.iso\",
    \"is_root_device\": false, \"is_read_only\": true, \"interface\": \"ahci\", \"media\": \"cdrom\"}"
want 204 PUT /serial "{\"serial_out_path\": \"$GUEST_OUT\"}"
want 204 PUT /actions '{"action_type": "InstanceStart"}'
wait_out '^cdwatch: marker truce-ahci-cd-1 150000' 120
want 400 PATCH /drives/cd "{\"drive_id\": \"cd\", \"path_on_host\": \"$PWD/notiso.img\"}"
# The guest's watcher mounts the CD for a moment every 0.3 s, and Linux locks the door while it
# is mounted: an eject that lands then is refused (400, "locked"), as on a PC. Try again.
i=0
until [ "$(api PATCH /drives/cd '{"drive_id": "cd", "path_on_host": ""}')" = 204 ]; do
    grep -q 'locked the media' api.body && [ $i -lt 50 ] ||
        fail "PATCH /drives/cd (eject): $(cat api.body)"
    i=$((i + 1))
    sleep 0.1
done
wait_out '^cdwatch: no medium' 30
want 204 PATCH /drives/cd '{"drive_id": "cd", "path_on_host": "/lab/ahci/data2.iso"}'
wait_out '^cdwatch: marker truce-ahci-cd-2 149999' 30
want 200 GET /vm/config
grep -q '"media": *"cdrom"' api.body || fail "GET /vm/config has no cdrom drive: $(cat api.body)"
want 204 PUT /actions '{"action_type": "SendCtrlAltDel"}'
i=0
while kill -0 "$VMM_PID" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$VMM_PID" 2>/dev/null; then
    kill "$VMM_PID"
    fail "truce still running 60 s after SendCtrlAltDel"
fi
wait "$VMM_PID"
status=$?
tr -d '\r' <"$GUEST_OUT" | grep -aq '^GUEST-RESULT PASS cdwatch' ||
    fail "the guest did not report Ctrl-Alt-Del; last line: $(lab_last_line)"
[ $status = 0 ] || fail "truce exited $status, want 0: $(tail -n 1 truce.out)"
true
