#!/bin/sh
# Builds every fuzz/fuzz_*.c with libFuzzer + ASan + UBSan (clang) and runs
# each for FUZZ_SECONDS with its seed corpus (fuzz/corpus/NAME) and
# dictionary (fuzz/NAME.dict) when present. Crashes land in
# build-fuzz/crashes/; turn each into a regression unit test.
# FUZZ_ONLY=name runs fuzz/fuzz_name.c alone.
set -eu
SECS=${FUZZ_SECONDS:-60}
OUT=build-fuzz
SAN="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
PKGS="expat openssl libgsasl libidn sqlite3 yaml-0.1 libunbound libqrencode"
# --cflags fails when a Requires.private (libunbound: libevent) has no
# .pc file; Debian needs none of these flags (as in the Makefile)
CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -Isrc $(pkg-config --cflags $PKGS 2>/dev/null || true)"
# libev statically and first, as in the Makefile (its libevent
# compatibility symbols must not replace libunbound's libevent)
LIBS="-l:libev.a -lm $(pkg-config --libs $PKGS) -lhttp_parser -lwslay"
mkdir -p "$OUT/obj" "$OUT/crashes"
objs=""
for src in $(find src -mindepth 2 -name "*.c" | sort); do
	o="$OUT/obj/$(echo "$src" | tr / _).o"
	if [ ! -f "$o" ] || [ "$src" -nt "$o" ]; then
		clang $CFLAGS -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$o"
	fi
	objs="$objs $o"
done
status=0
targets="fuzz/fuzz_*.c"
[ -n "${FUZZ_ONLY:-}" ] && targets="fuzz/fuzz_$FUZZ_ONLY.c"
for t in $targets; do
	name=$(basename "$t" .c | sed 's/^fuzz_//')
	clang $CFLAGS $SAN "$t" $objs $LIBS -o "$OUT/fuzz_$name"
	corpus="$OUT/corpus/$name"
	mkdir -p "$corpus"
	[ -d "fuzz/corpus/$name" ] && cp -n fuzz/corpus/$name/* "$corpus/" 2>/dev/null || true
	dict=""
	[ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
	echo "fuzz: $name for ${SECS}s"
	if ! "$OUT/fuzz_$name" $dict -max_total_time="$SECS" -timeout=10 \
		-artifact_prefix="$OUT/crashes/$name-" -print_final_stats=1 \
		"$corpus" >"$OUT/$name.log" 2>&1; then
		echo "fuzz: $name FOUND A CRASH (see $OUT/$name.log, $OUT/crashes/)"
		tail -n 30 "$OUT/$name.log"
		status=1
	else
		grep -E "stat::number_of_executed_units|Done" "$OUT/$name.log" | tail -n 2
	fi
done
exit $status
