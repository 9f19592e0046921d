#!/bin/sh
# bench/muc.sh [BUILD] [ROOMS] [OCCUPANTS] [WINDOW]: groupchat fan-out
# against a throw-away ternd with the muc service on conference.localhost
# (tern-bench's muc scenario: one speaker per room, every occupant gets
# each message). Prints tern-bench's table and JSON line; the key figure
# is server_cpu_us_per_delivery.
set -eu
BUILD=${1:-build}
ROOMS=${2:-10}
OCC=${3:-50}
WIN=${4:-10}
for b in ternd ternctl tern-bench; do
	[ -x "$BUILD/$b" ] || { echo "muc: $BUILD/$b missing" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" && pwd)
. "$(dirname "$0")/ternd-tmp.sh"
ternd_tmp muc "disco, ping, roster, presence, blocking, smacks, csi" \
"    services: [{ module: muc, domain: conference.localhost }]
    muc: { message_rate: 100000, message_burst: 100000, history_max: 0 }"
timeout 600 "$BUILD/tern-bench" muc --rooms "$ROOMS" --occupants "$OCC" \
	-w "$WIN" --port "$PORT" --pid "$PID" --provision \
	--ternctl "$BUILD/ternctl" --config "$DIR/tern.yml" --duration 10 \
	--timeout 300
