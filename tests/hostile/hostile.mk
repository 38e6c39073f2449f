# hostile.mk — the hostile-guest suite (tests/hostile/): one 64-bit PVH guest per tests/hostile/*.c
# (except the library files), each linked with the suite's library and tests/guests/ entry code.
HOSTILE_LIB    := hostile fresh
HOSTILE_SRCS   := $(filter-out $(HOSTILE_LIB:%=tests/hostile/%.c),$(wildcard tests/hostile/*.c))
HOSTILE_GUESTS := $(HOSTILE_SRCS:tests/hostile/%.c=build/hostile/%.elf)
HOSTILE_OBJS   := build/guests/entry64.o64 build/guests/pvh_note.o64 \
                  $(HOSTILE_LIB:%=build/hostile/%.o)

hostile: $(HOSTILE_GUESTS) build/truce build/truce-asan

build/hostile/%.o: tests/hostile/%.c tests/hostile/hostile.h tests/guests/lib.h
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	$(Q)$(CC) -m64 $(GUEST_CFLAGS) -c -o $@ $<

build/hostile/%.elf: build/hostile/%.o $(HOSTILE_OBJS) tests/guests/pvh.ld
	$(Q)$(GUEST_LD) -m elf_x86_64 -T tests/guests/pvh.ld -o $@ $< $(HOSTILE_OBJS)

# The race guest's second vCPU starts in real mode from a trampoline (tests/guests/pvh.ld .tramp).
build/hostile/race_ap.o: tests/hostile/race_ap.S
	@mkdir -p $(dir $@)
	$(Q)$(CC) -m64 -c -o $@ $<

build/hostile/race.elf: build/hostile/race.o build/hostile/race_ap.o $(HOSTILE_OBJS) tests/guests/pvh.ld
	$(Q)$(GUEST_LD) -m elf_x86_64 -T tests/guests/pvh.ld -o $@ $< build/hostile/race_ap.o $(HOSTILE_OBJS)

# truce with ASan+UBSan: the unit tests' objects plus main.c.
build/truce-asan: build/asan/src/main.o $(ASANOBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -O1 $(SANFLAGS) -o $@ $^ $(LDLIBS)

.SECONDARY: $(HOSTILE_GUESTS:.elf=.o) $(HOSTILE_LIB:%=build/hostile/%.o)
