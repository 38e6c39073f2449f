# nproc-2 — with 2 vCPUs the guest (cloud kernel) brings up both: nproc says 2.
# lab: vmm=truce,qemu timeout=180 needs=boot-bzimage
guest_boot -c 2 -a lab.check=nproc:2
expect_init
expect_guest nproc
expect_end poweroff
