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
DIR=$(mktemp -d /tmp/tern-bench-mam.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DIR/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 \
	-nodes -keyout "$DIR/k.pem" -out "$DIR/c.pem" -days 1 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
cat "$DIR/c.pem" "$DIR/k.pem" > "$DIR/certs/localhost.pem"
cat > "$DIR/tern.yml" <<EOC
log_level: warn
storage: { backend: sqlite, path: tern.db }
tls: { cert_dir: certs }
limits: { conns_per_ip: 100000, sasl_failures_per_ip: 10000 }
listeners:
  - { type: c2s, address: 127.0.0.1, port: $PORT }
hosts:
  - name: localhost
    modules: [disco, ping, roster, presence, carbons, mam]
EOC
(cd "$DIR" && exec "$BUILD/ternd" -c tern.yml > ternd.log 2>&1) &
PID=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "mam: ternd did not listen" >&2; cat "$DIR/ternd.log" >&2; exit 1; }
	sleep 0.1
done
timeout 900 "$BUILD/tern-bench" mam -n "$N" --port "$PORT" --pid "$PID" \
	--provision --ternctl "$BUILD/ternctl" --config "$DIR/tern.yml" \
	--timeout 800
echo "mam: archive rows: $(sqlite3 "$DIR/tern.db" "select count(*) from archive where store='mam'" 2>/dev/null || echo '?')"
