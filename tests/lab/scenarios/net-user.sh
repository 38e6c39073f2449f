# net-user — `--net user` (libslirp): the guest gets 10.0.2.15 by DHCP, fetches a 4 MiB page from
# a busybox httpd on L1's loopback (reached as 10.0.2.2 through the NAT; sha256 verified), and
# resolves a name through the forwarded DNS at 10.0.2.3 (answered by nettool on L1's 127.0.0.1:53).
# lab: vmm=truce timeout=200 needs=boot-bzimage
lab_dhcp_script # ./dhcp.script, the guest's udhcpc hook (l1/lib.sh)
cat >check <<'EOF'
#!/bin/sh
# net-user — check: eth0 gets 10.0.2.15/24 by DHCP with gateway 10.0.2.2 and DNS 10.0.2.3;
# http://10.0.2.2:8080/page has the sha256 ARG; the name in /lab/dns-name resolves through
# 10.0.2.3 to the address in /lab/dns-addr.
r() { echo "GUEST-RESULT $1 net-user${2:+ $2}"; exit 0; }
ip link set eth0 up || r FAIL "no eth0 (virtio-net missing?)"
udhcpc -i eth0 -n -q -t 5 -T 2 -s /lab/dhcp.script || r FAIL "no DHCP lease"
ip -4 addr show eth0 | grep -q 'inet 10.0.2.15/24' || r FAIL "lease is not 10.0.2.15/24"
ip route | grep -q 'default via 10.0.2.2' || r FAIL "no default route via 10.0.2.2"
grep -q 'nameserver 10.0.2.3' /etc/resolv.conf || r FAIL "DNS server is not 10.0.2.3"
# (busybox wget -T crashes: no timeout option here; the VMM's timeout bounds it)
wget -q -O /tmp/page http://10.0.2.2:8080/page || r FAIL "wget http://10.0.2.2:8080/page failed"
got=$(sha256sum /tmp/page | cut -d' ' -f1)
[ "$got" = "$1" ] || r FAIL "page sha256 $got, expected $1"
echo "net-user: mac $(cat /sys/class/net/eth0/address), page of $(wc -c </tmp/page) bytes intact"
name=$(cat /lab/dns-name) addr=$(cat /lab/dns-addr)
nslookup "$name" 10.0.2.3 2>&1 | grep -q "Address: $addr" ||
    r FAIL "nslookup $name through 10.0.2.3 did not answer $addr"
echo "net-user: $name resolved through the forwarded DNS"
r PASS
EOF
chmod +x dhcp.script check
ip link set lo up
mkdir -p www /etc
dd if=/dev/urandom of=www/page bs=1M count=4 2>/dev/null
sum=$(sha256sum www/page | cut -d' ' -f1)
httpd -f -p 127.0.0.1:8080 -h "$PWD/www" &
httpd=$!
echo "nameserver 127.0.0.1" >/etc/resolv.conf # slirp forwards the guest's DNS here
nettool dns web.lab.test 10.0.2.2 >dns.log 2>&1 &
dns=$!
echo web.lab.test >dns-name
echo 10.0.2.2 >dns-addr
guest_boot -x --net -x user -f check:/checks/net-user -f dhcp.script:/lab/dhcp.script \
    -f dns-name:/lab/dns-name -f dns-addr:/lab/dns-addr -a "lab.check=net-user:$sum" -t 150
kill "$httpd" "$dns"
expect_init
expect_guest net-user
expect_end poweroff
