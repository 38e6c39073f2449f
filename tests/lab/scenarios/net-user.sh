# net-user — `--net user` (libslirp): the guest gets 10.0.2.15 by DHCP, fetches a 4 MiB page from
# a busybox httpd on L1's loopback (reached as 10.0.2.2 through the NAT; sha256 verified), and
# resolves a name through the forwarded DNS at 10.0.2.3 (answered by nettool on L1's 127.0.0.1:53).
# lab: vmm=truce timeout=200 needs=boot-bzimage
ip link set lo up
mkdir -p www
dd if=/dev/urandom of=www/page bs=1M count=4 2>/dev/null
sum=$(sha256sum www/page | cut -d' ' -f1)
httpd -f -p 127.0.0.1:8080 -h "$PWD/www" &
httpd=$!
files=
if command -v nettool >/dev/null; then
    echo "nameserver 127.0.0.1" >/etc/resolv.conf
    nettool dns web.lab.test 10.0.2.2 >dns.log 2>&1 &
    dns=$!
    echo web.lab.test >dns-name
    echo 10.0.2.2 >dns-addr
    files="-f dns-name:/lab/dns-name -f dns-addr:/lab/dns-addr"
fi
# shellcheck disable=SC2086
guest_boot -x --net -x user $files -a "lab.check=net-user:$sum" -t 150
kill "$httpd" ${dns:+"$dns"}
expect_init
expect_guest net-user
expect_end poweroff
