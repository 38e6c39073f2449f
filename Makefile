# truce build: `make` builds build/truce, `make test` runs every test tier.
CC       ?= gcc
VERSION  := 0.1.0
PKGS     := liburing libseccomp jansson slirp glib-2.0 zlib libpng libvncserver
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wvla \
            -fno-strict-aliasing -D_GNU_SOURCE -DTRUCE_VERSION=\"$(VERSION)\" -Isrc \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libslirp (and glib with it) is dlopen'ed by a VM with --net user (backend/slirp_lib.c), libpng
# and libvncserver by a VM with --display (ui/ui_lib.c): their headers are used, never linked, so
# a VM without those parts maps none of them; libseccomp is loaded only to compile a filter
# (sandbox/seccomp_lib.c: a VM loads the ones compiled at build time).
# The linked ones come in as archives (their Debian -dev packages ship them): a start maps four
# files fewer, 0.2-0.4 ms of CPU and ~90 KiB of private memory less per VM (bench/density.sh).
LDPKGS   := $(filter-out slirp glib-2.0 libpng libvncserver libseccomp,$(PKGS))
LDLIBS   += -lpthread -ldl -Wl,-Bstatic $(shell pkg-config --libs $(LDPKGS) 2>/dev/null) -Wl,-Bdynamic

SRCS     := $(shell find src -name '*.c' -not -path 'src/manager/*' | sort)
LIBSRCS  := $(filter-out src/main.c,$(SRCS))
OBJS     := $(SRCS:%.c=build/obj/%.o)
LIBOBJS  := $(LIBSRCS:%.c=build/obj/%.o)

# Unit tests: one cmocka binary per tests/unit/test_*.c, built with ASan+UBSan.
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASANOBJS := $(LIBSRCS:%.c=build/asan/%.o)
UNITSRCS := $(sort $(wildcard tests/unit/test_*.c))
UNITBINS := $(UNITSRCS:tests/unit/%.c=build/unit/%)

.PHONY: all test unit guests hostile lab demo fuzz bench clean format check-format
all: build/truce build/truced build/trucectl

# truced (the manager of many VMs) and trucectl: separate binaries that drive truce processes
# through their API; they link only api/http.c (the bounded request parser) from the VMM.
# (paths are bounded with snprintf and checked where a cut would matter)
build/obj/src/manager/%.o build/asan/src/manager/%.o: CFLAGS += -Wno-format-truncation
# truced's database layer has its own unit test (the pattern rule links the VMM's objects).
build/unit/test_truced_db: tests/unit/test_truced_db.c build/asan/src/manager/db.o
	@mkdir -p $(dir $@)
	@echo "  UNIT    $@"
	$(Q)$(CC) $(CFLAGS) -O1 $(SANFLAGS) -Itests/unit -o $@ $^ -ljansson -lsqlite3 -lcmocka
MGRSRCS  := $(filter-out src/manager/trucectl.c src/manager/ctlconsole.c,$(wildcard src/manager/*.c))
build/truced: $(MGRSRCS:%.c=build/obj/%.o) build/obj/src/api/http.o
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -lpthread -ljansson -lsqlite3 -lcrypto

-include $(wildcard build/obj/src/manager/*.d build/asan/src/manager/*.d)

build/trucectl: $(addprefix build/obj/src/manager/,trucectl.o hclient.o ctlconsole.o ws.o)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $^ -ljansson -lcrypto

# `make V=1` shows the full commands.
Q := $(if $(V),,@)

# -z now: every symbol bound at start (full RELRO), so the dynamic linker's code is not needed
# again once the VM runs and leaves its resident set (util/footprint.c, bench/footprint.sh).
VMM_LDFLAGS := -Wl,-z,now
build/truce: $(OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(VMM_LDFLAGS) -o $@ $^ $(LDLIBS)

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	$(Q)$(CC) $(CFLAGS) -O1 $(SANFLAGS) -MMD -MP -c -o $@ $<

build/unit/%: tests/unit/%.c $(ASANOBJS)
	@mkdir -p $(dir $@)
	@echo "  UNIT    $@"
	$(Q)$(CC) $(CFLAGS) -O1 $(SANFLAGS) -Itests/unit -o $@ $< $(ASANOBJS) $(LDLIBS) -lcmocka

unit: $(UNITBINS)

# build/truce plus a hook that makes one thread kind break its seccomp list (tests/seccomp/).
build/truce-sectest: $(OBJS) build/obj/tests/seccomp/hook.o
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(VMM_LDFLAGS) -o $@ $^ $(LDLIBS)

# The built-in seccomp filters compiled by libseccomp once, at build time (src/sandbox/sandbox.h):
# seccomp.c includes the generated tables.
build/tools/seccomp_gen: tools/seccomp_gen.c src/sandbox/seccomp_build.c src/sandbox/seccomp_lists.c \
		src/sandbox/sandbox.h src/util/util.h
	@mkdir -p $(dir $@)
	@echo "  GEN-CC  $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $(filter %.c,$^) $(shell pkg-config --libs libseccomp)
build/gen/sandbox/seccomp_bpf.inc: build/tools/seccomp_gen
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	$(Q)build/tools/seccomp_gen $@
build/obj/src/sandbox/seccomp.o build/asan/src/sandbox/seccomp.o: build/gen/sandbox/seccomp_bpf.inc
build/obj/src/sandbox/seccomp.o build/asan/src/sandbox/seccomp.o: CFLAGS += -Ibuild/gen

# Objects are kept between builds (make would delete pattern-rule intermediates).
.SECONDARY: $(ASANOBJS) $(OBJS)

include tests/guests/guests.mk
include tests/hostile/hostile.mk
-include tests/lab/lab.mk
-include tests/fuzz/fuzz.mk
-include appliance/appliance.mk

test: build/truce build/truced build/trucectl unit guests hostile build/truce-sectest build/api/ticker.elf
	@tests/run-tests.sh

demo: build/truce
	@tests/lab/demo.sh

# Benches on this host's /dev/kvm, outside make test: N VMs at once (N=... to choose), and where
# a boot's time goes (exec -> first KVM_RUN, exits by kind and their userspace time).
.PHONY: bench-density bench-boot-breakdown bench-display bench-footprint bench-start-cpu
bench-density: build/truce guests build/tools/density_spawn
	@bench/density.sh $(N)
# The density bench's spawner: N VMMs at once, each one's first console byte and CPU time.
build/tools/density_spawn: bench/density_spawn.c
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -Wall -Wextra -Werror -o $@ $< -lpthread
bench-boot-breakdown: build/truce guests
	@bench/boot-breakdown.sh
# Where one tiny VM's CPU goes from exec to exit, by kernel path (perf; REPS=100 runs).
bench-start-cpu: build/truce guests
	@bench/start-cpu.sh $(REPS)
# The display's cost (host, tiny guests) and, with LAB=1, truce vs QEMU -vga std -vnc in the lab.
bench-display: build/truce guests
	@bench/display.sh $(N)
	@[ -z "$(LAB)" ] || bench/display.sh --lab
# Where a running VM's memory outside guest RAM goes (host, tiny guest; REPS=5 runs).
bench-footprint: build/truce guests
	@bench/footprint.sh $(REPS)
# Snapshots and live migration, truce vs QEMU in the lab -> bench/RESULTS.md (REPS=3), and the
# snapshot/restore soak: the lab scenario snapshot-cycles with CYCLES=100 cycles.
.PHONY: bench-snapshot bench-snapshot-cycles
bench-snapshot: build/truce
	@bench/snapshot.sh $(REPS)
bench-snapshot-cycles: build/truce
	@bench/snapshot.sh --cycles $(or $(CYCLES),100)
# Live-migration downtime step by step on this host's /dev/kvm, tiny guest (RUNS=20 migrations).
.PHONY: bench-migrate-host
bench-migrate-host: build/truce guests
	@bench/migrate-host.sh $(RUNS)

format:
	clang-format -i $(SRCS) $(wildcard src/manager/*.c) $(shell find src tests -name '*.h') $(UNITSRCS)

check-format:
	clang-format --dry-run -Werror $(SRCS) $(wildcard src/manager/*.c) $(shell find src tests -name '*.h') $(UNITSRCS)

clean:
	rm -rf build

-include $(OBJS:.o=.d) $(ASANOBJS:.o=.d)
