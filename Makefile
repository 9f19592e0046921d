# Tern: GNU make + pkg-config. `make run` and `make test` are all a
# newcomer needs (see README.md).
PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
BUILD ?= build
PKGS = expat openssl libgsasl libidn sqlite3 yaml-0.1 libunbound libqrencode

WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
       -Wformat=2 -Wvla -Wpointer-arith -Wcast-qual -Wwrite-strings \
       -Wimplicit-fallthrough -Wundef -fno-common
HARDEN = -fstack-protector-strong -D_FORTIFY_SOURCE=2
OPT ?= -O2 -g
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(WARN) $(HARDEN) $(OPT) -Isrc \
	     $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(EXTRA_CFLAGS) $(CFLAGS)
# libev ships no .pc file on Debian 12. It is linked statically: its
# shared library also exports a libevent compatibility API (event_add,
# event_set...) that would take the place of the real libevent that
# libunbound's resolver thread calls, and crash it.
# It comes first, before libunbound asks for those symbols, so that the
# linker takes only ev.o from the archive.
# libhttp-parser and libwslay ship no .pc file either.
LIBS = -l:libev.a -lm $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser \
       -lwslay \
       $(EXTRA_LDFLAGS)

# every .c under src/, however deep (src/mod/muc/*.c too), but main.c
ALL_SRC := $(sort $(shell find src -name '*.c'))
LIB_SRC = $(filter-out src/main.c,$(ALL_SRC))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_SRC = $(wildcard bench/*.c)

.PHONY: all deps run test unit integration install clean docs docs-check \
	bench bench-build bench-compare sanitize valgrind fuzz lint format \
	format-check
all: $(BUILD)/ternd $(BUILD)/ternctl

deps:
	@sh scripts/deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/libtern.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ternd: $(BUILD)/src/main.o $(BUILD)/libtern.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS)

CTL_SRC = $(wildcard tools/*.c)
$(BUILD)/ternctl: $(CTL_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libtern.a
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libtern.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIBS) -lcmocka

$(BUILD)/tern-bench: $(BENCH_SRC:%.c=$(BUILD)/%.o)
	$(CC) $(CFLAGS_ALL) -o $@ $^ -lev -lssl -lcrypto -lm

bench-build: $(BUILD)/tern-bench

# The Tern-only suite of issues 7 and 18 (several minutes): every case once
# against ternd tuned and with `make run`'s configuration, results in
# $(BUILD)/bench/RESULTS.md. bench-compare: Prosody, ejabberd and both
# Terns side by side, 3 runs each, into bench/RESULTS.md (about an hour).
bench: all $(BUILD)/tern-bench
	SERVERS="tern tern-dev" RUNS=1 OUTDIR=$(BUILD)/bench sh bench/compare.sh $(BUILD)

bench-compare: all $(BUILD)/tern-bench
	sh bench/compare.sh $(BUILD)

run: deps all
	@sh scripts/dev-setup.sh
	@echo "ternd: starting in the foreground (Ctrl-C stops it)"
	exec $(BUILD)/ternd -c var/tern.yml

unit: all $(UNIT_BIN)
integration: all

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN) $(BUILD)/tern-bench
	@sh scripts/run-tests.sh $(BUILD)

docs: all
	$(BUILD)/ternd --config-doc > docs/configuration.md

docs-check: all
	@$(BUILD)/ternd --config-doc | diff -u docs/configuration.md - >/dev/null || \
		{ echo "docs/configuration.md is stale: run 'make docs'"; exit 1; }

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/share/doc/tern
	install -m 755 $(BUILD)/ternd $(DESTDIR)$(PREFIX)/sbin/ternd
	install -m 755 $(BUILD)/ternctl $(DESTDIR)$(PREFIX)/bin/ternctl
	install -m 644 docs/*.md $(DESTDIR)$(PREFIX)/share/doc/tern/

# ASan/UBSan make every ternd about twice as slow: the integration suite
# gets a longer bound than make test's
sanitize:
	TERN_TEST_LIMIT=1500 $(MAKE) BUILD=build-san \
		OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" test

fuzz: deps
	@sh scripts/fuzz.sh

valgrind: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@TERN_VALGRIND=1 sh scripts/run-tests.sh $(BUILD)

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--inline-suppr -Isrc src tools
FORMAT_SRC = $(ALL_SRC) $(sort $(shell find src -name '*.h')) $(wildcard tools/*.c tools/*.h)
format:
	clang-format -i $(FORMAT_SRC)
format-check:
	clang-format --dry-run --Werror $(FORMAT_SRC)

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d $(CTL_SRC:%.c=$(BUILD)/%.d) \
	$(BENCH_SRC:%.c=$(BUILD)/%.d)
