# nproc-2-pvh — the small kernel booted through PVH also brings up 2 vCPUs (MADT/MP table).
# lab: vmm=truce,qemu timeout=180 needs=boot-pvh
guest_boot -k small -c 2 -a lab.check=nproc:2
expect_init
expect_guest nproc
expect_end poweroff
