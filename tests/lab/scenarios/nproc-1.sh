# nproc-1 — with 1 vCPU the guest sees exactly 1 CPU.
# lab: vmm=truce,qemu timeout=150 needs=boot-bzimage
guest_boot -c 1 -a lab.check=nproc:1
expect_init
expect_guest nproc
expect_end poweroff
