# blk-multiqueue — `--disk ...,queues=4` on 4 vCPUs: the cloud kernel's virtio_blk sees 4 request
# queues (/sys/block/vda/mq/0..3) with one MSI-X vector each, and reads issued from each vCPU
# (taskset, O_DIRECT) complete on every queue: each queue's interrupt count grows and the data is
# the image's. queues=5 on 4 vCPUs is refused with a message naming the limit.
# lab: vmm=truce timeout=240 needs=boot-bzimage
dd if=/dev/urandom of=mq.img bs=1M count=8 2>/dev/null
sum=$(sha256sum mq.img | cut -d' ' -f1)
cat >blkmq <<'EOG'
#!/bin/sh
# blkmq — ARG: the image's sha256. 4 queues in sysfs, reads from every CPU, each queue's IRQ fires.
r() { echo "GUEST-RESULT $1 blkmq${2:+ $2}"; exit 0; }
[ -b /dev/vda ] || r FAIL "no /dev/vda"
n=$(ls -d /sys/block/vda/mq/[0-9]* 2>/dev/null | wc -l)
echo "blkmq: $n queues: $(ls /sys/block/vda/mq | tr '\n' ' ')"
[ "$n" = 4 ] || r FAIL "$n request queues, expected 4"
irqs() { grep -E 'virtio[0-9]+-req\.[0-9]+' /proc/interrupts | awk '{s = 0; for (i = 2; i <= 5; i++) s += $i; print $NF, s}'; }
irqs >before
[ "$(wc -l <before)" = 4 ] || r FAIL "expected 4 req.N interrupt lines: $(cat before)"
for c in 0 1 2 3; do
    taskset -c $c dd if=/dev/vda of=/dev/null bs=4096 count=512 skip=$((c * 512)) iflag=direct 2>/dev/null ||
        r FAIL "O_DIRECT read on cpu $c failed"
done
irqs >after
echo "blkmq: interrupts before: $(tr '\n' ' ' <before)"
echo "blkmq: interrupts after: $(tr '\n' ' ' <after)"
paste before after | while read -r q a q2 b; do
    [ "$b" -gt "$a" ] || echo "idle $q"
done >idle
[ -s idle ] && r FAIL "queues without completions: $(tr '\n' ' ' <idle)"
got=$(dd if=/dev/vda bs=1M count=8 2>/dev/null | sha256sum | cut -d' ' -f1)
[ "$got" = "$1" ] || r FAIL "read sha256 $got, the image has $1"
r PASS
EOG
chmod +x blkmq
guest_boot -c 4 -m 256 -f blkmq:/checks/blkmq -x --disk -x "path=$PWD/mq.img,queues=4" \
    -a "lab.check=blkmq:$sum" -t 200
expect_init
expect_guest blkmq
expect_end poweroff
# one queue per vCPU at most: refused before the guest runs, naming the limit
out=$(truce run --kernel "$LAB_GUESTS/vmlinuz" --cpus 4 --memory 128M \
    --disk "path=$PWD/mq.img,queues=5" 2>&1)
echo "$out" | grep -q 'queues=5: at most one queue per vCPU (4 vCPUs)' ||
    fail "queues=5 on 4 vCPUs not refused clearly: $out"
