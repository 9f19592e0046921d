#!/bin/sh
# bench/archive.sh [BUILD] [RUNS]: what archiving costs with the modules and
# MAM defaults of `make run` (scripts/dev-setup.sh: mam on, default_prefs
# always, so every chat message is archived twice: in the sender's and in
# the recipient's archive). Two throw-away ternds on SQLite in a temp dir,
# each pinned to core 0 (tern-bench to core 1), limits raised so that no
# rate limit is measured:
#   noarchive  the same but `mam: { default_prefs: never }`
#   archive    mam as shipped
# and `tern-bench msg -p 50 -w 10 --duration DURATION` RUNS times against
# each (fresh server per run). Prints every JSON line, then the medians:
# delivered msgs/s, server CPU s per 100k delivered (in archive: per 100k
# archived messages) and the ratio archive/noarchive.
set -eu
BUILD=${1:-build}
RUNS=${2:-3}
DURATION=${DURATION:-10}
for b in ternd ternctl tern-bench; do
	[ -x "$BUILD/$b" ] || { echo "archive: $BUILD/$b missing" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" && pwd)
# on tmpfs like bench/compare.sh: the server, not the disk, is measured
WORKDIR=${WORKDIR:-$( [ -w /dev/shm ] && echo /dev/shm || echo /tmp)}
DIR=$(mktemp -d "$WORKDIR/tern-bench-archive.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT INT TERM
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 \
	-nodes -keyout "$DIR/k.pem" -out "$DIR/c.pem" -days 1 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
mkdir -p "$DIR/certs"
cat "$DIR/c.pem" "$DIR/k.pem" > "$DIR/certs/localhost.pem"
: > "$DIR/results.jsonl"

start() { # mam settings line
	rm -f "$DIR"/tern.db*
	PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	cat > "$DIR/tern.yml" <<EOC
log_level: warn
storage: { backend: sqlite, path: tern.db }
tls: { cert_dir: certs }
limits: { conns_per_ip: 100000, sasl_failures_per_ip: 10000,
          c2s_rate: 1G, c2s_burst: 1G }
listeners:
  - { type: c2s, address: 127.0.0.1, port: $PORT }
hosts:
  - name: localhost
    modules: [disco, ping, time, version, roster, presence, offline,
              blocking, last, vcard, private, register, smacks,
              carbons, mam, csi, push, pep, avatar, bookmarks, adhoc]
$1
EOC
	(cd "$DIR" && exec taskset -c 0 "$BUILD/ternd" -c tern.yml > ternd.log 2>&1) &
	PID=$!
	i=0
	until python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 50 ] || { echo "archive: ternd did not listen" >&2; cat "$DIR/ternd.log" >&2; exit 1; }
		sleep 0.1
	done
}

stop() {
	kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	PID=
}

run=1
while [ $run -le "$RUNS" ]; do
	for case in noarchive archive; do
		if [ $case = noarchive ]; then
			start "    mam: { default_prefs: never }"
		else
			start ""
		fi
		out=$(timeout 300 taskset -c 1 "$BUILD/tern-bench" msg -p 50 -w 10 \
			--duration "$DURATION" --port "$PORT" --pid "$PID" \
			--provision --ternctl "$BUILD/ternctl" \
			--config "$DIR/tern.yml" --timeout 200 | grep '^{"scenario"')
		rows=$(sqlite3 "$DIR/tern.db" "select count(*) from sqlite_master where name='archive_item'" 2>/dev/null)
		stop
		if [ "$rows" = 1 ]; then
			rows=$(sqlite3 "$DIR/tern.db" "select count(*) from archive_item")
		else
			rows=$(sqlite3 "$DIR/tern.db" "select count(*) from archive")
		fi
		echo "$out" | sed "s/^{/{\"case\":\"$case\",\"run\":$run,\"archived_rows\":$rows,/" |
			tee -a "$DIR/results.jsonl"
	done
	run=$((run + 1))
done

python3 - "$DIR/results.jsonl" <<'EOP'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(case, key):
    v = [r[key] for r in rows if r["case"] == case]
    return f"{statistics.median(v):.3g} [{min(v):.3g}-{max(v):.3g}]"
for case in ("noarchive", "archive"):
    print(f"{case:10} delivered msgs/s {med(case, 'delivered_per_s')}"
          f"  server CPU s per 100k {med(case, 'server_cpu_s_per_100k')}")
na = statistics.median(r["delivered_per_s"] for r in rows
                       if r["case"] == "noarchive")
ar = statistics.median(r["delivered_per_s"] for r in rows
                       if r["case"] == "archive")
print(f"throughput kept with archiving (archive/noarchive): {ar / na:.2f}")
EOP
