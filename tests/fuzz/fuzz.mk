# fuzz.mk — libFuzzer targets (clang-14 + libclang-rt-14-dev): `make fuzz` runs each one for
# FUZZ_RUNS executions or FUZZ_SECONDS and writes tests/fuzz/RESULTS.md; tests/fuzz/run.sh
# (make test) runs each briefly with its seeds. Included by the top Makefile.

FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 300
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# Everything but -Werror and -O2 from CFLAGS: clang warns about other things than gcc does.
FUZZ_CFLAGS   = $(filter-out -Werror -O2,$(CFLAGS)) -O1 -g $(FUZZ_SAN) -Wno-unknown-warning-option
FUZZ_OBJS    := $(LIBSRCS:%.c=build/fuzz/obj/%.o)
FUZZ_VIRTIO  := build/fuzz/fuzz_blk build/fuzz/fuzz_net build/fuzz/fuzz_vsock_dev \
                build/fuzz/fuzz_console build/fuzz/fuzz_rng build/fuzz/fuzz_balloon \
                build/fuzz/fuzz_pmem build/fuzz/fuzz_vmem
FUZZ_DEVICES := build/fuzz/fuzz_legacy build/fuzz/fuzz_pci build/fuzz/fuzz_mmio build/fuzz/fuzz_boot \
                build/fuzz/fuzz_snapshot build/fuzz/fuzz_ahci build/fuzz/fuzz_pflash
FUZZ_TARGETS := build/fuzz/fuzz_http build/fuzz/fuzz_http_parse build/fuzz/fuzz_config \
                build/fuzz/fuzz_virtq build/fuzz/fuzz_vsock $(FUZZ_VIRTIO) $(FUZZ_DEVICES) \
                build/fuzz/fuzz_cli
FUZZ_TARGETS += build/fuzz/fuzz_multiboot build/fuzz/fuzz_mmds build/fuzz/fuzz_net_ctrl
# Fuzzed requests must not reach KVM or write outside the fuzzer's directory (fuzz_sandbox.h).
FUZZ_WRAP    := -Wl,--wrap=open,--wrap=kvm_host_open

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

# The parser alone: no sockets, no sandbox needed.
build/fuzz/fuzz_http_parse: tests/fuzz/fuzz_http_parse.c build/fuzz/obj/src/api/http.o
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^

# Device parsers: guest memory only, no files or KVM to fence off.
FUZZ_PLAIN   := build/fuzz/fuzz_vsock build/fuzz/fuzz_cli build/fuzz/fuzz_mmds build/fuzz/fuzz_net_ctrl
$(FUZZ_PLAIN): build/fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

build/fuzz/fuzz_net: FUZZ_VIRTIO_WRAP := -Wl,--wrap=tap_backend_open
# Virtio devices driven by a hostile driver through the unit tests' fake VM (fuzz_virtio.h);
# the legacy platform, PCI, boot loaders and snapshot restore on the unit tests' hand-built VMs
# (devtest.h, virtio_fixture.h, boot_fixture.h).
FUZZ_FIXTURES := tests/fuzz/fuzz_virtio.h tests/fuzz/fuzz_platform.h tests/unit/virtio_fixture.h \
                 tests/unit/devtest.h tests/unit/boot_fixture.h
$(FUZZ_VIRTIO) $(FUZZ_DEVICES): build/fuzz/%: tests/fuzz/%.c $(FUZZ_FIXTURES) $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -Itests/unit -o $@ $< $(FUZZ_OBJS) \
		$(FUZZ_VIRTIO_WRAP) $(LDLIBS) -lcmocka

build/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_sandbox.h $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(FUZZ_OBJS) \
		$(FUZZ_WRAP) $(LDLIBS)

# truced's routes with their store (an in-memory SQLite), no VMM objects.
FUZZ_MGR     := $(addprefix build/fuzz/obj/src/manager/,routes.o db.o vmproc.o monitor.o hclient.o \
                jailvm.o limits.o migrate.o)
build/fuzz/fuzz_truced: tests/fuzz/fuzz_truced.c $(FUZZ_MGR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ -ljansson -lsqlite3 -lpthread
FUZZ_TARGETS += build/fuzz/fuzz_truced
# truced's WebSocket framing (console and VNC proxy).
build/fuzz/fuzz_ws: tests/fuzz/fuzz_ws.c build/fuzz/obj/src/manager/ws.o
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^ -lcrypto
FUZZ_TARGETS += build/fuzz/fuzz_ws
-include $(FUZZ_MGR:.o=.d)

fuzz-build: $(FUZZ_TARGETS)

# The longer run: each target until FUZZ_RUNS executions or FUZZ_SECONDS, whichever comes first
# (nice'd, one after the other), growing its corpus under build/fuzz/corpus; then report.py writes
# the table to tests/fuzz/RESULTS.md and fails when any target crashed, hung or leaked.
FUZZ_RUNS    ?= 10000000
fuzz: $(FUZZ_TARGETS)
	@rm -rf build/fuzz/logs build/fuzz/artifacts
	@mkdir -p build/fuzz/logs build/fuzz/artifacts
	@for t in $(FUZZ_TARGETS); do \
		n=$$(basename $$t); mkdir -p build/fuzz/corpus/$$n; \
		echo "== $$n: up to $(FUZZ_RUNS) runs or $(FUZZ_SECONDS) s"; \
		ml=$$(find tests/fuzz/corpus/$$n -type f -printf '%s\n' | sort -n | tail -1); \
		ml=$$(( $${ml:-0} > 8192 ? $${ml:-0} : 8192 )); \
		nice $$t -max_total_time=$(FUZZ_SECONDS) -runs=$(FUZZ_RUNS) -max_len=$$ml -timeout=60 \
			-print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/$$n- \
			build/fuzz/corpus/$$n tests/fuzz/corpus/$$n >build/fuzz/logs/$$n.log 2>&1; \
		grep -E '^#[0-9]+.*DONE|^SUMMARY' build/fuzz/logs/$$n.log | tail -n 1; \
	done
	@python3 tests/fuzz/report.py --seconds $(FUZZ_SECONDS) --runs $(FUZZ_RUNS) \
		$(notdir $(FUZZ_TARGETS))

.PHONY: fuzz-build

-include $(FUZZ_OBJS:.o=.d)

# The API integration tests' guest (tests/api/api.mk).
-include tests/api/api.mk
