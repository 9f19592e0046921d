#!/bin/sh
# scripts/repeat-tests.sh N PYTEST-ARGS...: run one pytest selection N times
# in a row (to show that tests are not flaky), each run with a fresh
# --basetemp of its own, stopping at the first failing run. Ends with
# "K/N passed"; exits 0 only when all N passed.
#   sh scripts/repeat-tests.sh 20 tests/integration/test_durability.py
# TERN_BIN (default: <repo>/build) chooses the binaries, as for the suite.
set -u
if [ $# -lt 2 ]; then
	echo "usage: $0 N PYTEST-ARGS..." >&2
	exit 2
fi
n=$1
shift
case $n in
'' | *[!0-9]*)
	echo "$0: N must be a number, not '$n'" >&2
	exit 2
	;;
esac
[ "$n" -ge 1 ] || { echo "$0: N must be at least 1" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
export TERN_BIN="${TERN_BIN:-$top/build}"
tmp=$(mktemp -d /tmp/repeat-tests.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
i=1
while [ "$i" -le "$n" ]; do
	start=$(date +%s)
	if timeout 900 /usr/bin/python3 -m pytest -q -p no:cacheprovider \
	    --basetemp="$tmp/run$i" "$@" >"$tmp/out" 2>&1; then
		passed=$((passed + 1))
		echo "run $i/$n: passed ($(($(date +%s) - start)) s)"
		rm -rf "$tmp/run$i"
	else
		echo "run $i/$n: FAILED ($(($(date +%s) - start)) s)"
		tail -n 60 "$tmp/out"
		break
	fi
	i=$((i + 1))
done
echo "$passed/$n passed"
[ "$passed" = "$n" ]
