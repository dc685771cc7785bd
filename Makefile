# libagentex - embeddable C SDK for Agentex agents.
#
#   make                 release library + examples + agentex-dev into $(BUILD)/
#   make check           ASan+UBSan build of everything, then the whole test suite
#   make check-tsan      ThreadSanitizer build, threaded suites only
#   make bench           load benchmarks (see bench/README.md)
#   make install PREFIX=/usr/local DESTDIR=
#   make clean
#
# Every source file is found by globbing: lib/*.c is the library, examples/*.c one
# program each, devserver/*.c the agentex-dev binary, tests/check_*.c the Check suites
# (each defines `Suite *<name>_suite(void)` for tests/check_<name>.c).

BUILD   ?= build
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
CC      ?= cc

VHDR  := include/agentex/version.h
VMAJ  := $(shell sed -n 's/^\#define AGENTEX_VERSION_MAJOR \([0-9]*\).*/\1/p' $(VHDR))
VMIN  := $(shell sed -n 's/^\#define AGENTEX_VERSION_MINOR \([0-9]*\).*/\1/p' $(VHDR))
VPAT  := $(shell sed -n 's/^\#define AGENTEX_VERSION_PATCH \([0-9]*\).*/\1/p' $(VHDR))
VERSION := $(VMAJ).$(VMIN).$(VPAT)
# 0.x: every minor may break the ABI (libagentex.so.0.MINOR); from 1.0: libagentex.so.MAJOR
ifeq ($(VMAJ),0)
SONAME := libagentex.so.$(VMAJ).$(VMIN)
else
SONAME := libagentex.so.$(VMAJ)
endif
REALNAME := libagentex.so.$(VERSION)

PKGS      := libcurl libcjson libwebsockets hiredis
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
SQLITE_LIBS := $(shell pkg-config --libs sqlite3 2>/dev/null)

WARN   := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wwrite-strings -Wvla
STD    := -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L
BASE_CFLAGS := $(STD) $(WARN) -pthread -Iinclude -Ilib $(PKG_CFLAGS) -MMD -MP
LIB_CFLAGS  := -fPIC -fvisibility=hidden

REL_CFLAGS  := -O2 -g
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined -DAGX_TESTING
TSAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread -DAGX_TESTING

LIB_SRCS  := $(sort $(wildcard lib/*.c))
EX_SRCS   := $(sort $(wildcard examples/*.c))
DEV_SRCS  := $(sort $(wildcard devserver/*.c))
TEST_SRCS := $(sort $(wildcard tests/check_*.c) $(wildcard tests/support/*.c))
SUITES    := $(patsubst tests/check_%.c,%,$(filter-out tests/check_main.c,$(wildcard tests/check_*.c)))
EX_NAMES  := $(patsubst examples/%.c,%,$(EX_SRCS))
TOOL_SRCS := $(sort $(wildcard tools/*.c))
TOOL_NAMES := $(patsubst tools/%.c,%,$(TOOL_SRCS))

.PHONY: all lib examples devserver tools check check-tsan asan tsan bench install uninstall \
        clean format fuzz
.DEFAULT_GOAL := all

# ---- one build variant: $(1)=dir $(2)=extra cflags ------------------------------------
define VARIANT
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) $$(LIB_CFLAGS) $(2) -c $$< -o $$@

$(1)/lib/libagentex.a: $$(patsubst %.c,$(1)/obj/%.o,$$(LIB_SRCS))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^

$(1)/examples/%: examples/%.c $(1)/lib/libagentex.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) $(2) $$< -o $$@ $(1)/lib/libagentex.a $$(PKG_LIBS) -pthread

$(1)/bin/agentex-dev: $$(patsubst %.c,$(1)/obj/%.o,$$(DEV_SRCS)) $(1)/lib/libagentex.a
	@mkdir -p $$(dir $$@)
	$$(CC) $(2) $$(filter %.o,$$^) -o $$@ $(1)/lib/libagentex.a $$(PKG_LIBS) $$(SQLITE_LIBS) -pthread

$(1)/bin/%: tools/%.c $(1)/lib/libagentex.a
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) $(2) $$< -o $$@ $(1)/lib/libagentex.a $$(PKG_LIBS) -pthread
endef

$(eval $(call VARIANT,$(BUILD),$(REL_CFLAGS)))
$(eval $(call VARIANT,$(BUILD)/asan,$(ASAN_CFLAGS)))
$(eval $(call VARIANT,$(BUILD)/tsan,$(TSAN_CFLAGS)))

DEV_BIN = $(if $(DEV_SRCS),$(1)/bin/agentex-dev)
VARIANT_ALL = $(1)/lib/libagentex.a $(addprefix $(1)/examples/,$(EX_NAMES)) \
              $(call DEV_BIN,$(1)) $(addprefix $(1)/bin/,$(TOOL_NAMES))

# ---- release: shared library with soname, static library, examples, dev server ---------
all: lib examples devserver tools $(BUILD)/agentex.pc

lib: $(BUILD)/lib/$(REALNAME) $(BUILD)/lib/libagentex.a

$(BUILD)/lib/$(REALNAME): $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) lib/libagentex.map
	@mkdir -p $(dir $@)
	$(CC) -shared -pthread -Wl,-soname,$(SONAME) -Wl,--no-undefined \
	  -Wl,--version-script=lib/libagentex.map -o $@ $(filter %.o,$^) $(PKG_LIBS)
	ln -sf $(REALNAME) $(BUILD)/lib/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/lib/libagentex.so

examples: $(addprefix $(BUILD)/examples/,$(EX_NAMES))
devserver: $(call DEV_BIN,$(BUILD))
tools: $(addprefix $(BUILD)/bin/,$(TOOL_NAMES)) $(BUILD)/bin/rss_floor_lws

# bench/run.sh's memory floor of libwebsockets alone: tools/rss_floor.c linked with nothing else
$(BUILD)/bin/rss_floor_lws: tools/rss_floor.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) $(REL_CFLAGS) -DRSS_FLOOR_LWS_ONLY $(shell pkg-config --cflags libwebsockets) \
	  $< -o $@ $(shell pkg-config --libs libwebsockets)

$(BUILD)/agentex.pc: pkgconfig/agentex.pc.in $(VHDR)
	@mkdir -p $(dir $@)
	sed -e 's#@PREFIX@#$(PREFIX)#' -e 's#@LIBDIR@#$(LIBDIR)#' -e 's#@VERSION@#$(VERSION)#' $< > $@

# ---- tests ------------------------------------------------------------------------------
asan: $(call VARIANT_ALL,$(BUILD)/asan) $(BUILD)/asan/tests/check_agentex
tsan: $(call VARIANT_ALL,$(BUILD)/tsan) $(BUILD)/tsan/tests/check_agentex

# tests/check_main.c includes the generated suite list
define TESTRUNNER
$(1)/tests/suites.h: $$(wildcard tests/check_*.c) Makefile
	@mkdir -p $$(dir $$@)
	@printf '%s\n' $$(foreach s,$$(SUITES),'SUITE($$(s))') > $$@.tmp
	@if cmp -s $$@.tmp $$@; then rm -f $$@.tmp; else mv $$@.tmp $$@; fi

$(1)/tests/obj/%.o: %.c $(1)/tests/suites.h
	@mkdir -p $$(dir $$@)
	$$(CC) $$(BASE_CFLAGS) $(2) -I$(1)/tests -Itests $$(CHECK_CFLAGS) -c $$< -o $$@

$(1)/tests/check_agentex: $$(patsubst %.c,$(1)/tests/obj/%.o,$$(TEST_SRCS)) $(1)/lib/libagentex.a
	$$(CC) $(2) $$(filter %.o,$$^) -o $$@ $(1)/lib/libagentex.a $$(CHECK_LIBS) $$(PKG_LIBS) -pthread -lm
endef
$(eval $(call TESTRUNNER,$(BUILD)/asan,$(ASAN_CFLAGS)))
$(eval $(call TESTRUNNER,$(BUILD)/tsan,$(TSAN_CFLAGS)))

check: all asan
	BUILD=$(BUILD) VARIANT=$(BUILD)/asan tests/run.sh

check-tsan: tsan
	BUILD=$(BUILD) VARIANT=$(BUILD)/tsan TSAN=1 tests/run.sh

# libFuzzer target for the SSE parser (clang only): build/fuzz/fuzz_sse -max_total_time=60
$(BUILD)/fuzz/fuzz_sse: tests/fuzz_sse.c lib/sse.c lib/sse.h lib/common.c
	@mkdir -p $(dir $@)
	clang $(STD) $(WARN) -Iinclude -Ilib $(PKG_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined \
	  tests/fuzz_sse.c lib/sse.c lib/common.c -o $@ $(PKG_LIBS) -pthread
# libFuzzer target for the scan-only ack path of the ACP server (the whole library, clang)
$(BUILD)/fuzz/fuzz_acp_scan: tests/fuzz_acp_scan.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	clang $(STD) $(WARN) -Iinclude -Ilib $(PKG_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined \
	  tests/fuzz_acp_scan.c $(LIB_SRCS) -o $@ $(PKG_LIBS) -pthread
# libFuzzer target for the HTTP/1.1 response parser of the client (clang only)
$(BUILD)/fuzz/fuzz_h1resp: tests/fuzz_h1resp.c lib/h1resp.c lib/h1resp.h lib/common.c
	@mkdir -p $(dir $@)
	clang $(STD) $(WARN) -Iinclude -Ilib $(PKG_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined \
	  tests/fuzz_h1resp.c lib/h1resp.c lib/common.c -o $@ $(PKG_LIBS) -pthread
fuzz: $(BUILD)/fuzz/fuzz_sse $(BUILD)/fuzz/fuzz_acp_scan $(BUILD)/fuzz/fuzz_h1resp

bench: all
	BUILD=$(BUILD) bench/run.sh
	BUILD=$(BUILD) bench/run_streaming.sh

# ---- install ----------------------------------------------------------------------------
# agentex.pc is written here, not copied from $(BUILD): it must name this install's PREFIX.
install: all
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/agentex \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(BINDIR)
	install -m 755 $(BUILD)/lib/$(REALNAME) $(DESTDIR)$(LIBDIR)/
	ln -sf $(REALNAME) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libagentex.so
	install -m 644 $(BUILD)/lib/libagentex.a $(DESTDIR)$(LIBDIR)/
	install -m 644 include/agentex/*.h $(DESTDIR)$(INCDIR)/agentex/
	sed -e 's#@PREFIX@#$(PREFIX)#' -e 's#@LIBDIR@#$(LIBDIR)#' -e 's#@VERSION@#$(VERSION)#' \
	  pkgconfig/agentex.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/agentex.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/agentex.pc
	install -m 644 man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 755 $(BUILD)/bin/agentex $(DESTDIR)$(BINDIR)/
	$(if $(DEV_SRCS),install -m 755 $(BUILD)/bin/agentex-dev $(DESTDIR)$(BINDIR)/)

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libagentex.* $(DESTDIR)$(LIBDIR)/pkgconfig/agentex.pc \
	  $(DESTDIR)$(BINDIR)/agentex-dev $(DESTDIR)$(BINDIR)/agentex
	rm -rf $(DESTDIR)$(INCDIR)/agentex
	cd man/man3 && for f in *.3; do rm -f $(DESTDIR)$(MANDIR)/man3/$$f; done
	cd man/man1 && for f in *.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$$f; done

format:
	clang-format -i include/agentex/*.h lib/*.c lib/*.h examples/*.c tests/*.c tests/support/*.[ch] \
	  $(wildcard devserver/*.[ch] tools/*.c)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# ---- demo: agentex-dev + echo_agent + the agentex CLI, all on loopback (tools/demo.sh) ----
.PHONY: demo
demo: all
	BUILD=$(BUILD) tools/demo.sh
