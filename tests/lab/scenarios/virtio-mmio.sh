# virtio-mmio — `truce run --transport mmio` with a disk and --rng: the Debian cloud kernel finds
# both as virtio-mmio platform devices (no virtio PCI function), reads /dev/vda byte-exact and
# draws from /dev/hwrng through virtio_rng; then with --net user: a DHCP lease and a 1 MiB page
# from L1's httpd (sha256 compared) over virtio-net on MMIO.
# lab: vmm=truce timeout=300 needs=boot-bzimage
seq 1 20000 >data # ~110 KB of known bytes: the disk's first bytes
truncate -s 16M disk.img && dd if=data of=disk.img conv=notrunc 2>/dev/null ||
    fail "cannot create the disk image"
cat >mmio <<'EOS'
#!/bin/sh
# mmio — devices on virtio-mmio: /dev/vda holds the data, /dev/hwrng is virtio_rng.
r() { echo "GUEST-RESULT $1 mmio $2"; exit 0; }
grep -q "virtio_mmio.device=4K@0xc0001000:5" /proc/cmdline || r FAIL "no virtio_mmio.device= entry"
n=0 p=0
for d in /sys/bus/virtio/devices/*; do
    [ -e "$d" ] || continue
    path=$(readlink -f "$d")
    echo "mmio: $path"
    case "$path" in */pci*) p=$((p + 1)) ;; *LNRO0005* | *virtio-mmio*) n=$((n + 1)) ;; esac
done
bound=$(ls /sys/bus/platform/drivers/virtio-mmio 2>&1 | tr '\n' ' ')
[ "$n" = 2 ] || r FAIL "$n virtio devices on virtio-mmio, expected 2 (bound: $bound)"
[ "$p" = 0 ] || r FAIL "$p virtio devices on PCI"
[ -b /dev/vda ] || r FAIL "no /dev/vda"
len=$(wc -c </lab/mmio-data)
dd if=/dev/vda of=/tmp/back bs=$len count=1 iflag=fullblock 2>/dev/null ||
    dd if=/dev/vda of=/tmp/back bs=$len count=1 2>/dev/null
cmp /tmp/back /lab/mmio-data || r FAIL "the data read from /dev/vda differs"
cur=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)
case "$cur" in virtio_rng*) ;; *) r FAIL "rng_current is '$cur'" ;; esac
a=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | md5sum)
b=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | md5sum)
[ "$a" != "$b" ] || r FAIL "two reads of /dev/hwrng returned the same bytes"
n=$(dd if=/dev/hwrng bs=1024 count=64 2>/dev/null | wc -c)
[ "$n" = 65536 ] || r FAIL "read $n bytes from /dev/hwrng, expected 65536"
echo "mmio: irq $(grep -m1 virtio /proc/interrupts | tr -s ' ')"
r PASS
EOS
chmod +x mmio
guest_boot -f mmio:/checks/mmio -f data:/lab/mmio-data -x --transport -x mmio -x --rng \
    -x --disk -x "path=$PWD/disk.img,readonly=on" -a lab.check=mmio
expect_init
expect_guest mmio
expect_end poweroff

lab_dhcp_script # ./dhcp.script, the guest's udhcpc hook (l1/lib.sh)
cat >mmionet <<'EOS'
#!/bin/sh
# mmionet — virtio-net on virtio-mmio: DHCP from user networking, then the page with sha256 ARG.
r() { echo "GUEST-RESULT $1 mmionet${2:+ $2}"; exit 0; }
readlink -f /sys/class/net/eth0/device | grep -q LNRO0005 || r FAIL "eth0 is not on virtio-mmio"
ip link set eth0 up || r FAIL "no eth0"
udhcpc -i eth0 -n -q -t 5 -T 2 -s /lab/dhcp.script || r FAIL "no DHCP lease"
wget -q -O /tmp/page http://10.0.2.2:8080/page || r FAIL "wget http://10.0.2.2:8080/page failed"
got=$(sha256sum /tmp/page | cut -d' ' -f1)
[ "$got" = "$1" ] || r FAIL "page sha256 $got, expected $1"
r PASS
EOS
chmod +x dhcp.script mmionet
ip link set lo up
mkdir -p www
dd if=/dev/urandom of=www/page bs=1M count=1 2>/dev/null
sum=$(sha256sum www/page | cut -d' ' -f1)
httpd -f -p 127.0.0.1:8080 -h "$PWD/www" &
httpd=$!
guest_boot -t 120 -x --transport -x mmio -x --net -x user -f mmionet:/checks/mmionet \
    -f dhcp.script:/lab/dhcp.script -a "lab.check=mmionet:$sum"
kill "$httpd"
expect_init
expect_guest mmionet
expect_end poweroff
