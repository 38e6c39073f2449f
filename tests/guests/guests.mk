# guests.mk — tiny freestanding test guests (tier 2), built with the host gcc.
GUEST_CFLAGS := -ffreestanding -mgeneral-regs-only -fno-pic -fno-pie -fno-stack-protector \
                -fno-asynchronous-unwind-tables -fcf-protection=none -mno-red-zone -nostdlib \
                -O2 -Wall -Wextra -Werror -Wno-unused-parameter
GUEST_LD     := ld --build-id=none -nostdlib -z noexecstack --no-warn-rwx-segments
GUESTS       := build/guests/realmode.rom build/guests/romwrite.rom build/guests/pvh64.elf \
                build/guests/smp.elf build/guests/mmio.elf build/guests/triple32.elf \
                build/guests/timer.elf \
                build/guests/actions.elf build/guests/bzimage.bin \
                build/guests/multiboot.elf build/guests/multiboot.bin build/guests/bootsector.img \
                build/guests/display.elf build/guests/vgaboot.img

guests: $(GUESTS) build/tools/vnctool build/tools/uffd_handler

# A page-fault handler for the Uffd snapshot backend (Firecracker's protocol).
build/tools/uffd_handler: tests/tools/uffd_handler.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -o $@ $<

# A VNC client for the display tests (Debian's libvncclient), also copied into the lab's L1.
build/tools/vnctool: tests/tools/vnctool.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -Wno-unused-parameter -o $@ $< -lvncclient -lpng

build/guests/%.rom: tests/guests/%.S tests/guests/rom.ld
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m16 -c -o build/guests/$*.o $<
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/rom.ld -o $@ build/guests/$*.o

build/guests/%.o32: tests/guests/%.c tests/guests/lib.h
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m32 $(GUEST_CFLAGS) -c -o $@ $<

build/guests/%.o32: tests/guests/%.S
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m32 -c -o $@ $<

build/guests/%.o64: tests/guests/%.c tests/guests/lib.h
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m64 $(GUEST_CFLAGS) -c -o $@ $<

build/guests/%.o64: tests/guests/%.S
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m64 -c -o $@ $<

build/guests/pvh64.elf: build/guests/entry64.o64 build/guests/pvh_note.o64 build/guests/pvh64.o64
	$(Q)$(GUEST_LD) -m elf_x86_64 -T tests/guests/pvh.ld -o $@ $^

build/guests/smp.elf: build/guests/entry32.o32 build/guests/pvh_note.o32 build/guests/smp.o32 \
                      build/guests/smp_ap.o32
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/pvh.ld -o $@ $^

build/guests/mmio.elf: build/guests/entry32.o32 build/guests/pvh_note.o32 build/guests/mmio.o32
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/pvh.ld -o $@ $^

build/guests/timer.elf: build/guests/entry32.o32 build/guests/pvh_note.o32 build/guests/timer.o32
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/pvh.ld -o $@ $^

build/guests/triple32.elf: build/guests/entry32.o32 build/guests/pvh_note.o32 build/guests/triple32.o32
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/pvh.ld -o $@ $^

build/guests/actions.elf: build/guests/entry32.o32 build/guests/pvh_note.o32 build/guests/actions.o32
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/pvh.ld -o $@ $^

build/guests/display.elf: build/guests/entry32.o32 build/guests/pvh_note.o32 build/guests/display.o32
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/pvh.ld -o $@ $^

build/guests/bzimage.bin: tests/guests/bzimage.S tests/guests/bzimage.ld
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m64 -c -o build/guests/bzimage.o $<
	$(Q)$(GUEST_LD) -m elf_x86_64 -T tests/guests/bzimage.ld -o $@ build/guests/bzimage.o

build/guests/multiboot.elf: build/guests/multiboot_entry.o32 build/guests/multiboot.o32 \
                            tests/guests/multiboot.ld
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/multiboot.ld -o $@ $(filter %.o32,$^)

build/guests/multiboot_aout.o32: tests/guests/multiboot_entry.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) -m32 -DAOUT -c -o $@ $<

# The a.out-kludge flavour: a flat binary, the load addresses in its multiboot header.
build/guests/multiboot.bin: build/guests/multiboot_aout.o32 build/guests/multiboot.o32 \
                            tests/guests/multiboot.ld
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/multiboot.ld -o build/guests/multiboot_aout.elf \
	    $(filter %.o32,$^)
	$(Q)objcopy -O binary build/guests/multiboot_aout.elf $@

# A raw disk whose MBR boots under firmware (1 MiB, the rest zeros).
build/guests/vgaboot.img: tests/guests/vgaboot.S tests/guests/bootsector.ld
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m16 -c -o build/guests/vgaboot.o $<
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/bootsector.ld -o $@ build/guests/vgaboot.o
	$(Q)truncate -s 1M $@

build/guests/bootsector.img: tests/guests/bootsector.S tests/guests/bootsector.ld
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m16 -c -o build/guests/bootsector.o $<
	$(Q)$(GUEST_LD) -m elf_i386 -T tests/guests/bootsector.ld -o $@ build/guests/bootsector.o
	$(Q)truncate -s 1M $@
