# fuzz.mk — libFuzzer targets (clang-14): `make fuzz` runs each for FUZZ_SECONDS; run.sh briefly.

# The API server links libmicrohttpd (Debian: libmicrohttpd-dev). Until the top Makefile lists it
# in PKGS, it is added here, where every binary of the tree picks it up.
ifeq ($(findstring libmicrohttpd,$(PKGS)),)
CFLAGS += $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
LDLIBS += $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
endif

# The API integration tests' guest (tests/api/api.mk).
-include tests/api/api.mk
