#!/bin/sh
# bench/web.sh [BUILD]: issue 15's HTTP numbers against a throw-away ternd
# with the default dev config (scripts/dev-setup.sh: every module, upload
# on upload.localhost, http/https listeners), on free loopback ports:
#   - upload: XEP-0363 slots, then HTTP PUT and GET over https (MiB/s,
#     server CPU per MiB);
#   - msg over TCP (STARTTLS) and over WebSocket (wss, RFC 7395): server
#     CPU per message, the same load both ways.
# Env: FILES (20), SIZE (10M), PAIRS (10), WINDOW (10), DURATION (10).
set -eu
BUILD=${1:-build}
for b in ternd ternctl tern-bench; do
	[ -x "$BUILD/$b" ] || { echo "web: $BUILD/$b missing" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=$(mktemp -d /tmp/tern-bench-web.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT INT TERM
VAR="$DIR" sh "$ROOT/scripts/dev-setup.sh" >/dev/null
set -- $(python3 -c 'import socket
ss=[socket.socket() for _ in range(5)]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')
C2S=$1 HTTPS=$5
# the dev config on free ports (and IPv4 only: one listener per port)
sed -i -e '/"::1"/d' -e "s/5222/$1/; s/5223/$2/; s/5347/$3/; s/5280/$4/" \
	-e "s/5281/$5/g" "$DIR/tern.yml"
(cd "$DIR" && exec "$BUILD/ternd" -c tern.yml > ternd.log 2>&1) &
PID=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$HTTPS),1)" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "web: ternd did not listen" >&2; cat "$DIR/ternd.log" >&2; exit 1; }
	sleep 0.1
done
common="--pid $PID --provision --ternctl $BUILD/ternctl --config $DIR/tern.yml --timeout 300"
load="-p ${PAIRS:-10} -w ${WINDOW:-10} --duration ${DURATION:-10}"
echo "== upload (${FILES:-20} x ${SIZE:-10M}, https)"
timeout 600 "$BUILD/tern-bench" upload -n "${FILES:-20}" --size "${SIZE:-10M}" \
	--port "$C2S" $common
echo "== msg over TCP (STARTTLS)"
timeout 600 "$BUILD/tern-bench" msg $load --port "$C2S" $common
echo "== msg over WebSocket (wss)"
timeout 600 "$BUILD/tern-bench" msg $load --ws /xmpp-websocket \
	--port "$HTTPS" $common
