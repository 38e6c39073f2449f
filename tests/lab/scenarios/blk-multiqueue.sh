# blk-multiqueue — `--disk ...,queues=2` on 2 vCPUs: the cloud kernel's virtio_blk sees 2 request
# queues (/sys/block/vda/mq/0..1) with one MSI-X vector each, and reads issued from each vCPU
# (taskset, O_DIRECT) complete on every queue: each queue's interrupt count grows and the data is
# the image's. Then queues=2 on 2 vCPUs on virtio-mmio (one interrupt line for every queue: the
# queue count, the reads and the data are checked), with a 2-pair tap (`--net tap=..,queues=2`):
# eth0 has rx-0/rx-1/tx-0/tx-1 and pings L1 from both vCPUs. queues=5 on 4 vCPUs is refused
# with a message naming the limit. (4 queues on 4 vCPUs passed the same checks in a lab run:
# `blkmq:SHA,4` with -c 4; too slow for CI's lab.)
# lab: vmm=truce timeout=700 needs=boot-bzimage
dd if=/dev/urandom of=mq.img bs=1M count=8 2>/dev/null
sum=$(sha256sum mq.img | cut -d' ' -f1)
cat >blkmq <<'EOG'
#!/bin/sh
# blkmq — ARG: SHA256,N[,mmio] (the image's sha256, the queues). N queues in sysfs, reads from
# every CPU, each queue's IRQ fires (PCI: one MSI-X vector per queue).
r() { echo "GUEST-RESULT $1 blkmq${2:+ $2}"; exit 0; }
IFS=, read -r sum nq mode <<EOA
$1
EOA
set -- "$sum"
[ -b /dev/vda ] || r FAIL "no /dev/vda"
n=$(ls -d /sys/block/vda/mq/[0-9]* 2>/dev/null | wc -l)
echo "blkmq: $n queues: $(ls /sys/block/vda/mq | tr '\n' ' ')"
[ "$n" = "$nq" ] || r FAIL "$n request queues, expected $nq"
irqs() { grep -E 'virtio[0-9]+-req\.[0-9]+' /proc/interrupts | awk '{s = 0; for (i = 2; i <= 5; i++) s += $i; print $NF, s}'; }
irqs >before
[ "$mode" = mmio ] || [ "$(wc -l <before)" = "$nq" ] || r FAIL "expected $nq req.N IRQ lines: $(cat before)"
for c in $(seq 0 $((nq - 1))); do
    taskset -c $c dd if=/dev/vda of=/dev/null bs=4096 count=128 skip=$((c * 128)) iflag=direct 2>/dev/null ||
        r FAIL "O_DIRECT read on cpu $c failed"
done
irqs >after
echo "blkmq: interrupts before: $(tr '\n' ' ' <before)"
echo "blkmq: interrupts after: $(tr '\n' ' ' <after)"
paste before after | while read -r q a q2 b; do
    [ "$b" -gt "$a" ] || echo "idle $q"
done >idle
[ "$mode" != mmio ] && [ -s idle ] && r FAIL "queues without completions: $(tr '\n' ' ' <idle)"
got=$(dd if=/dev/vda bs=1M count=8 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$1" ] || r FAIL "read sha256 $got, the image has $1"
if [ "$mode" = mmio ]; then
    q=$(ls /sys/class/net/eth0/queues | tr '\n' ' ')
    echo "blkmq: eth0 queues: $q"
    [ "$q" = "rx-0 rx-1 tx-0 tx-1 " ] || r FAIL "eth0 queues '$q', expected 2 pairs"
    ip addr add 10.9.1.2/24 dev eth0 && ip link set eth0 up || r FAIL "no eth0"
    i=0
    until ping -c 1 -W 1 10.9.1.1 >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 60 ] || r FAIL "L1 (10.9.1.1) never answered ping"
    done
    for c in 0 1; do taskset -c $c ping -c 5 -i 0.1 10.9.1.1 >/dev/null || r FAIL "ping from cpu $c"; done
fi
r PASS
EOG
chmod +x blkmq
guest_boot -c 2 -m 256 -f blkmq:/checks/blkmq -x --disk -x "path=$PWD/mq.img,queues=2" \
    -a "lab.check=blkmq:$sum,2" -t 300
expect_init
grep -q 'GUEST-RESULT' "$GUEST_OUT" || lab_show_output 40
expect_guest blkmq
expect_end poweroff
l1_modprobe tun || fail "insmod tun failed"
(
    i=0
    while [ ! -e /sys/class/net/tapm0 ] && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    ip addr add 10.9.1.1/24 dev tapm0
    ip link set tapm0 up
) &
guest_boot -c 2 -m 256 -f blkmq:/checks/blkmq -x --transport -x mmio \
    -x --disk -x "path=$PWD/mq.img,queues=2" -x --net -x tap=tapm0,queues=2 \
    -a "lab.check=blkmq:$sum,2,mmio" -t 300
expect_init
grep -q 'GUEST-RESULT' "$GUEST_OUT" || lab_show_output 40
expect_guest blkmq
expect_end poweroff
# one queue per vCPU at most: refused before the guest runs, naming the limit
out=$(truce run --kernel "$LAB_GUESTS/vmlinuz" --cpus 4 --memory 128M \
    --disk "path=$PWD/mq.img,queues=5" 2>&1)
echo "$out" | grep -q 'queues=5: at most one queue per vCPU (4 vCPUs)' ||
    fail "queues=5 on 4 vCPUs not refused clearly: $out"
