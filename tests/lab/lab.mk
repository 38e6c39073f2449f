# lab.mk — make targets of the nested lab (included by the top-level Makefile).
.PHONY: lab lab-long lab-image lab-kernel lab-shell bench-boot bench-firmware

# Every scenario in tests/lab/scenarios under every VMM it names; ends with "N passed, N failed".
lab: build/truce build/guests/triple32.elf build/hostile/vq_indirect_self.elf \
     build/guests/multiboot.elf
	@tests/lab/run.sh --summary

# The scenarios marked long=1 (soaks, benches), kept out of `make test`.
lab-long: build/truce build/guests/triple32.elf build/hostile/vq_indirect_self.elf \
          build/guests/multiboot.elf
	@LAB_LONG=only tests/lab/run.sh --summary

# Build (or find in the cache) the L1 image and the small PVH kernel.
lab-image: build/truce
	@tests/lab/build-l1.sh
lab-kernel:
	@tests/lab/build-kernel.sh

# An interactive shell in L1 (KVM loaded, truce and QEMU at hand) for debugging; exit ends it.
lab-shell: build/truce
	@tests/lab/shell.sh

# The boot benchmark (truce vs QEMU microvm in the lab) -> bench/RESULTS.md.
bench-boot: build/truce
	@bench/boot.sh

# Boot from disk through SeaBIOS/OVMF and GRUB, truce vs QEMU in the lab -> bench/RESULTS.md.
bench-firmware: build/truce build/guests/multiboot.elf
	@bench/firmware.sh
