#!/bin/sh
# bench/idle.sh [BUILD] [RUNS]: ternd RSS per idle authenticated TLS
# session (issue 18, item 2) at 1,000 and 10,000 sessions, with two
# configurations, each on a freshly started ternd per run:
#   dev    `make run`'s configuration as scripts/dev-setup.sh writes it
#          (log_level info, every module, its listeners on free ports, the
#          default limits: conns_per_ip 100, so the sessions come from
#          many loopback addresses, at most 50 from each)
#   tuned  bench/compare/tern.yml.in (bench-compare's: log_level warn,
#          TLS 1.3 only, limits raised)
# ternd is pinned to core 0, tern-bench to core 1; STARTTLS, SCRAM-SHA-1;
# `tern-bench idle -k K --hold HOLD --src 127.0.0.1-127.0.0.N`.
# Prints every JSON line, then per configuration and size the median
# [min-max] of kib_per_session and the RSS before and after.
# Before the baseline RSS is read, tern-bench logs in and keeps WARMUP
# more sessions (default 50, its logins in flight): the code pages and
# library state the first logins bring in are not the sessions' cost.
# env: SIZES (default "1000 10000"), CONFIGS ("dev tuned"), HOLD (10),
#      WARMUP (50; 0 counts everything from a fresh start),
#      WORKDIR (tmpfs when there is one), MASSIF=1 runs ternd under
#      valgrind --tool=massif (one run) and takes a detailed snapshot
#      before the logins and halfway through the hold:
#      $OUT/massif.CONFIG.K.before and .idle (ms_print reads them;
#      default OUT /tmp/tern-idle-massif).
set -eu
BUILD=${1:-build}
RUNS=${2:-3}
SIZES=${SIZES:-1000 10000}
CONFIGS=${CONFIGS:-dev tuned}
HOLD=${HOLD:-10}
WARMUP=${WARMUP:-50}
MASSIF=${MASSIF:-0}
OUT=${OUT:-/tmp/tern-idle-massif}
for b in ternd ternctl tern-bench; do
	[ -x "$BUILD/$b" ] || { echo "idle: $BUILD/$b missing" >&2; exit 2; }
done
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
# one descriptor per session in each process, and some to spare
max=0
for k in $SIZES; do [ "$k" -gt "$max" ] && max=$k; done
need=$((max + 2000))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
	ulimit -Hn "$need" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need" ] || {
	echo "idle: ulimit -n is $(ulimit -n), $need needed (bench/README.md)" >&2
	exit 2
}
WORKDIR=${WORKDIR:-$( [ -w /dev/shm ] && echo /dev/shm || echo /tmp)}
DIR=$(mktemp -d "$WORKDIR/tern-bench-idle.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$DIR"' EXIT INT TERM
[ "$MASSIF" = 1 ] && mkdir -p "$OUT"
: > "$DIR/results.jsonl"

freeport() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Writes $DIR/$1/tern.yml (and its certificate); sets PORT.
configure() {
	cd_=$DIR/$1
	rm -rf "$cd_"
	mkdir -p "$cd_"
	PORT=$(freeport)
	case $1 in
	dev)
		VAR=$cd_ sh "$SRC/scripts/dev-setup.sh" >/dev/null
		# free ports instead of 5222.., IPv4 only: other servers
		# (a `make run` of someone else) may hold the usual ones
		sed -i -e '/"::1"/d' \
			-e "s/port: 5222 /port: $PORT /" \
			-e "s/port: 5223 /port: $(freeport) /" \
			-e "s/port: 5347 /port: $(freeport) /" \
			-e "s/port: 5280,/port: $(freeport),/" \
			-e "s/port: 5281 /port: $(freeport) /" "$cd_/tern.yml"
		;;
	tuned)
		mkdir -p "$cd_/certs"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
			-sha256 -nodes -keyout "$cd_/k.pem" -out "$cd_/c.pem" \
			-days 1 -subj /CN=localhost \
			-addext subjectAltName=DNS:localhost 2>/dev/null
		cat "$cd_/c.pem" "$cd_/k.pem" > "$cd_/certs/localhost.pem"
		sed -e "s/@PORT@/$PORT/" -e "s/@HTTPS_PORT@/$(freeport)/g" \
			-e "s/@REQUIRE_TLS@/true/" \
			"$SRC/bench/compare/tern.yml.in" > "$cd_/tern.yml"
		;;
	*) echo "idle: unknown configuration $1" >&2; exit 2 ;;
	esac
}

start() { # config size
	cd_=$DIR/$1
	rm -f "$cd_"/tern.db*
	# the users provisioned once (a copy: each run starts from it)
	for f in "$cd_"/users.db*; do
		[ -f "$f" ] && cp "$f" "$cd_/tern.db${f#"$cd_"/users.db}"
	done
	if [ "$MASSIF" = 1 ]; then
		(cd "$cd_" && exec taskset -c 0 valgrind --tool=massif \
			--massif-out-file="$OUT/massif.$1.$2.out" \
			--threshold=0.5 --detailed-freq=1000000 \
			"$BUILD/ternd" -c tern.yml > ternd.log 2>&1) &
	else
		(cd "$cd_" && exec taskset -c 0 "$BUILD/ternd" -c tern.yml \
			> ternd.log 2>&1) &
	fi
	PID=$!
	i=0
	until python3 -c "import socket; socket.create_connection(('127.0.0.1',$PORT),1)" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "idle: ternd did not listen" >&2; cat "$cd_/ternd.log" >&2; exit 1; }
		sleep 0.1
	done
	sleep 1 # settled: anything ternd does after listening is fixed cost
}

stop() {
	if ! kill "$PID" 2>/dev/null; then
		st=0
		wait "$PID" 2>/dev/null || st=$?
		echo "idle: ternd died before the end (status $st)" >&2
		tail -5 "$cd_/ternd.log" >&2
	fi
	wait "$PID" 2>/dev/null || true
	PID=
}

for cfg in $CONFIGS; do
	configure "$cfg"
	# the users, once: bench1..bench(MAX+100) (tern-bench's names; its
	# warm-up sessions take the ones after the measured), then
	# every run starts a fresh server on a copy of that store
	i=1
	while [ $i -le $((max + 100)) ]; do
		echo "bench$i@localhost bench"
		i=$((i + 1))
	done | "$BUILD/ternctl" -c "$DIR/$cfg/tern.yml" import - \
		>"$DIR/prov.log" 2>&1 ||
		{ echo "idle: provisioning failed" >&2; cat "$DIR/prov.log" >&2; exit 1; }
	for f in "$DIR/$cfg"/tern.db*; do
		mv "$f" "$DIR/$cfg/users.db${f#"$DIR/$cfg"/tern.db}"
	done
	for k in $SIZES; do
		# at most 50 sessions per source address (conns_per_ip 100)
		n=$(( (k + 49) / 50 ))
		[ "$n" -lt 2 ] && n=2
		[ "$n" -gt 250 ] && { echo "idle: $k sessions need over 250 source addresses" >&2; exit 2; }
		run=1
		while [ $run -le "$RUNS" ]; do
			start "$cfg" "$k"
			[ "$MASSIF" = 1 ] && vgdb --pid="$PID" detailed_snapshot \
				"$OUT/massif.$cfg.$k.before" >/dev/null
			taskset -c 1 "$BUILD/tern-bench" idle \
				-k "$k" --hold "$HOLD" --warmup "$WARMUP" \
				--port "$PORT" --pid "$PID" \
				--src "127.0.0.1-127.0.0.$n" --timeout 600 \
				> "$DIR/bench.out" 2> "$DIR/bench.err" &
			BPID=$!
			if [ "$MASSIF" = 1 ]; then
				# a detailed snapshot while the sessions are idle
				# (massif's peak may be the shutdown)
				i=0
				until grep -q "holding" "$DIR/bench.err"; do
					i=$((i + 1))
					[ $i -lt 9000 ] || break
					sleep 0.1
				done
				sleep $((HOLD / 2))
				vgdb --pid="$PID" detailed_snapshot \
					"$OUT/massif.$cfg.$k.idle" >/dev/null
			fi
			wait "$BPID" || true
			out=$(grep '^{"scenario"' "$DIR/bench.out") || {
				echo "idle: $cfg $k failed" >&2
				cat "$DIR/bench.err" >&2
				tail -5 "$DIR/$cfg/ternd.log" >&2
				exit 1
			}
			# errors: say which (tern-bench counts them by kind)
			grep -E "error|WARNING|failed|dropped|closed" "$DIR/bench.err" >&2 || true; cat "$DIR/bench.err" "$DIR/bench.out" > /tmp/tern-idle-last.err 2>/dev/null || true; cp "$DIR/$cfg/ternd.log" /tmp/tern-idle-last.log 2>/dev/null || true
			stop
			echo "$out" | sed "s/^{/{\"config\":\"$cfg\",\"k\":$k,\"run\":$run,/" |
				tee -a "$DIR/results.jsonl"
			[ "$MASSIF" = 1 ] && break
			run=$((run + 1))
		done
	done
done

python3 - "$DIR/results.jsonl" <<'EOP'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def med(v):
    return f"{statistics.median(v):.3g} [{min(v):.3g}-{max(v):.3g}]"
seen = []
for r in rows:
    if (r["config"], r["k"]) not in seen:
        seen.append((r["config"], r["k"]))
for cfg, k in seen:
    g = [r for r in rows if r["config"] == cfg and r["k"] == k]
    print(f"{cfg:6} {k:6} sessions: KiB/session {med([r['kib_per_session'] for r in g])}"
          f"  RSS before {med([r['rss_before_kib'] for r in g])} KiB"
          f"  after {med([r['rss_after_kib'] for r in g])} KiB"
          f"  alive {min(r['sessions_alive'] for r in g)}")
EOP
