#!/bin/sh
# bench/mam.sh [BUILD] [N]: time XEP-0313 pages over one user's archive of
# N messages (default 100000) against a throw-away ternd with the mam
# module (tern-bench's mam scenario: first page, last page via <before/>,
# page filtered by with). Prints tern-bench's table and JSON line.
set -eu
BUILD=${1:-build}
N=${2:-100000}
for b in ternd ternctl tern-bench; do
	[ -x "$BUILD/$b" ] || { echo "mam: $BUILD/$b missing" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/ternd-tmp.sh"
ternd_tmp mam "disco, ping, roster, presence, carbons, mam"
timeout 900 "$BUILD/tern-bench" mam -n "$N" --port "$PORT" --pid "$PID" \
	--provision --ternctl "$BUILD/ternctl" --config "$DIR/tern.yml" \
	--timeout 800
echo "mam: archive rows: $(sqlite3 "$DIR/tern.db" "select count(*) from archive_item join archive_owner using(owner) where store='mam'" 2>/dev/null || echo '?')"
