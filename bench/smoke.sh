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
DIR=$(mktemp -d /tmp/tern-bench-smoke.XXXXXX)
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# A free loopback port: ask the kernel for one.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$DIR/certs"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 \
	-nodes -keyout "$DIR/k.pem" -out "$DIR/c.pem" -days 1 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
cat "$DIR/c.pem" "$DIR/k.pem" > "$DIR/certs/localhost.pem"
cat > "$DIR/tern.yml" <<EOF
log_level: warn
storage: { backend: sqlite, path: tern.db }
tls: { cert_dir: certs }
limits: { conns_per_ip: 100000, sasl_failures_per_ip: 10000 }
listeners:
  - { type: c2s, address: 127.0.0.1, port: $PORT }
hosts:
  - name: localhost
    modules: [disco, ping, version, time]
EOF
(cd "$DIR" && exec "$BUILD/ternd" -c tern.yml > ternd.log 2>&1) &
PID=$!
# Wait (bounded) for the listener.
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "smoke: ternd did not listen" >&2; cat "$DIR/ternd.log" >&2; exit 1; }
	sleep 0.1
done
common="--port $PORT --pid $PID --provision --ternctl $BUILD/ternctl --config $DIR/tern.yml --timeout 30"
timeout 60 "$BUILD/tern-bench" login -n 20 -c 5 $common
timeout 60 "$BUILD/tern-bench" msg -p 2 -w 2 --duration 1 $common
echo "smoke: tern-bench login and msg ok"
