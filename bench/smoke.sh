#!/bin/sh
# bench/smoke.sh [BUILD]: run tern-bench once at a tiny scale against a
# throw-away ternd, only to keep the generator working (`make test` may
# call it). No timing is asserted: it fails only when tern-bench reports
# errors or cannot complete a login and a message exchange.
set -eu
BUILD=${1:-build}
for b in ternd ternctl tern-bench; do
	[ -x "$BUILD/$b" ] || { echo "smoke: $BUILD/$b missing" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/ternd-tmp.sh"
ternd_tmp smoke "disco, ping, version, time"
common="--port $PORT --pid $PID --provision --ternctl $BUILD/ternctl --config $DIR/tern.yml --timeout 30"
timeout 60 "$BUILD/tern-bench" login -n 20 -c 5 $common
timeout 60 "$BUILD/tern-bench" msg -p 2 -w 2 --duration 1 $common
echo "smoke: tern-bench login and msg ok"
