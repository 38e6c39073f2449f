# api.mk — the API tests' own guest, built like the tier-2 guests (tests/guests/guests.mk).
build/api/ticker.o64: tests/api/ticker.c tests/guests/lib.h
	@mkdir -p $(dir $@)
	$(CC) -m64 $(GUEST_CFLAGS) -Itests/guests -c -o $@ $<

build/api/ticker.elf: build/guests/entry64.o64 build/guests/pvh_note.o64 build/api/ticker.o64
	$(GUEST_LD) -m elf_x86_64 -T tests/guests/pvh.ld -o $@ $^
