#!/bin/sh
# Runs every unit test binary, then the integration suite, and ends with
# one line: "N passed, N failed".
set -u
BUILD=${1:-build}
passed=0
failed=0
log=$(mktemp)
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	if timeout 120 "$t" >"$log" 2>&1; then :; fi
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
	p=${p:-0}
	f=${f:-0}
	if [ "$p" = 0 ] && [ "$f" = 0 ]; then
		f=1 # crashed before reporting
	fi
	if [ "$f" != 0 ]; then
		echo "unit $name: FAILED"
		cat "$log"
	else
		echo "unit $name: $p passed"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
done
# the configuration reference must match the code's directive tables
if [ -x "$BUILD/ternd" ]; then
	if "$BUILD/ternd" --config-doc | diff -u docs/configuration.md - >"$log" 2>&1; then
		echo "docs: configuration.md is current"
		passed=$((passed + 1))
	else
		echo "docs: docs/configuration.md is stale: run 'make docs'"
		head -n 20 "$log"
		failed=$((failed + 1))
	fi
fi
# the load generator still logs in and exchanges messages (no timing)
if [ -x "$BUILD/tern-bench" ]; then
	if timeout 120 sh bench/smoke.sh "$BUILD" >"$log" 2>&1; then
		echo "bench: tern-bench smoke ok"
		passed=$((passed + 1))
	else
		echo "bench: tern-bench smoke FAILED"
		tail -n 20 "$log"
		failed=$((failed + 1))
	fi
fi
if [ -d tests/integration ] && ls tests/integration/test_*.py >/dev/null 2>&1; then
	# under valgrind every ternd runs ~20 times slower; sanitizer
	# builds (make sanitize) set TERN_TEST_LIMIT for their ~2x
	limit=${TERN_TEST_LIMIT:-480}
	[ -n "${TERN_VALGRIND:-}" ] && limit=3600
	# most of a test's time is spent waiting on sockets and peers: two
	# workers (pytest-xdist), a test file per worker so that a module's
	# shared server stays in one process; TERN_TEST_JOBS=1 runs serially
	jobs=${TERN_TEST_JOBS:-2}
	par=""
	if [ "$jobs" -gt 1 ] && /usr/bin/python3 -c 'import xdist' 2>/dev/null; then
		par="-n $jobs --dist loadfile"
	fi
	# shellcheck disable=SC2086
	TERN_BIN="$(pwd)/$BUILD" timeout "$limit" /usr/bin/python3 -m pytest -q \
		-p no:cacheprovider --basetemp="$log.pt" $par tests/integration \
		--durations=10 --junitxml="$log.xml" 2>&1 | tail -n 40
	if [ -f "$log.xml" ]; then
		set -- $(/usr/bin/python3 - "$log.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
# what failed and why, last, where a CI log's tail shows it
for case in r.iter("testcase"):
    for bad in list(case.findall("failure")) + list(case.findall("error")):
        msg = (bad.get("message") or "").strip()
        body = (bad.text or "").strip().splitlines()
        print("%s %s::%s: %s" % (bad.tag.upper(), case.get("classname"),
              case.get("name"), msg[:300]), file=sys.stderr)
        for line in body[-12:]:
            print("    " + line[:200], file=sys.stderr)
PY
)
		passed=$((passed + $1))
		failed=$((failed + $2))
		rm -f "$log.xml"
	else
		echo "integration: pytest produced no report"
		failed=$((failed + 1))
	fi
fi
rm -rf "$log" "$log.pt"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
