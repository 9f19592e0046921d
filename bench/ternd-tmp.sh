# bench/ternd-tmp.sh: sourced by bench scripts. ternd_tmp NAME MODULES
# [HOST_YAML] (more lines under the host, e.g. services:) starts a throw-away ternd (self-signed certificate, SQLite store, a free
# loopback port, limits raised for load) in a temp dir that is removed on
# exit; sets DIR, PORT and PID. Needs BUILD (absolute) with ternd.
ternd_tmp() {
	name=$1
	modules=$2
	host_yaml=${3:-}
	DIR=$(mktemp -d "/tmp/tern-bench-$name.XXXXXX")
	PID=
	trap 'ternd_tmp_cleanup' EXIT INT TERM
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
    modules: [$modules]
$host_yaml
EOC
	(cd "$DIR" && exec "$BUILD/ternd" -c tern.yml > ternd.log 2>&1) &
	PID=$!
	i=0
	until python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 50 ] || { echo "$name: ternd did not listen" >&2; cat "$DIR/ternd.log" >&2; exit 1; }
		sleep 0.1
	done
}

ternd_tmp_cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$DIR"
}
