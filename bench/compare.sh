#!/bin/sh
# bench/compare.sh [BUILD]: `make bench-compare`, issue 7's side-by-side
# comparison. Installs Prosody and ejabberd from Debian if they are
# missing (as root), runs every case of bench/run-compare.sh against
# Prosody, ejabberd and ternd in turn (each alone on the machine, pinned
# to core 0, tern-bench on core 1), RUNS times each, and writes
# OUTDIR/RESULTS.md with bench/results.py.
#
# Everything the servers use lives in one temp dir (configs rendered from
# bench/compare/*.in, one ECDSA P-256 certificate for localhost, SQLite
# stores, logs), removed at the end; the system's /etc/prosody,
# /etc/ejabberd and /var/lib/* are never used. Users are written into
# each store before anything is measured (bench/compare/provision.py for
# Prosody and ejabberd, `ternctl import` for ternd) and one login with
# them is checked first. `idle` runs on a freshly started server each
# time (an allocator keeps freed memory); the no-TLS rows run on the
# same server restarted with TLS optional (Prosody and ternd can only
# say that per server, not per port).
#
# Environment (defaults in brackets):
#   RUNS      repetitions of every case [3]
#   DIV       divide the issue's sizes (logins, idle sessions, MAM
#             messages) by DIV [1]; DIV=100 DURATION=1 RUNS=1 is a quick
#             check of the whole pipeline (a couple of minutes)
#   DURATION  measured seconds of msg and presence [10]
#   SERVERS   which servers, in order [prosody ejabberd tern tern-dev];
#             tern is ternd with bench/compare/tern.yml.in (limits raised,
#             nothing archived by default, log_level warn), tern-dev ternd
#             with the configuration `make run` writes
#             (scripts/dev-setup.sh: archiving on, log_level info, the
#             shipped rate limits), only its ports changed
#   OUTDIR    where RESULTS.md and results-NAME.jsonl go [bench]
#   ITER      SCRAM-SHA-1 iteration count of the provisioned users [4096]
#   MAM_N_prosody, MAM_N_ejabberd, MAM_N_tern, MAM_N_tern_dev
#             archive size of the mam case per server [100000/DIV]
#   WORKDIR   where the temp dir is made [/dev/shm if writable, else /tmp]
#   ONLY      run only these cases, e.g. "idle idle-plain" [all:
#             idle idle-1k login fast msg msg-sm-carbons msg-mam msg-nomam
#             msg-1000 presence muc mam idle-plain login-plain; and only
#             when named here: upload
#             msg-ws msg-p10, issue 15's (bench/RESULTS-web.md)]
#   KEEP      1: keep the temp dir (its path is printed) [0]
set -eu
BUILD=${1:-build}
RUNS=${RUNS:-3}
DIV=${DIV:-1}
DURATION=${DURATION:-10}
SERVERS=${SERVERS:-prosody ejabberd tern tern-dev}
OUTDIR=${OUTDIR:-bench}
ITER=${ITER:-4096}
KEEP=${KEEP:-0}
HERE=$(cd "$(dirname "$0")" && pwd)
TPL=$HERE/compare
T0=$(date +%s)

log() { echo "[$(date +%H:%M:%S) +$(($(date +%s) - T0))s] compare: $*" >&2; }
die() { log "error: $*"; exit 1; }
s() { echo $(( $1 / DIV > 0 ? $1 / DIV : 1 )); }

for b in ternd ternctl tern-bench; do
	[ -x "$BUILD/$b" ] || die "$BUILD/$b missing (make all bench)"
done
BUILD=$(cd "$BUILD" && pwd)
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)

# --- packages ---------------------------------------------------------
# Prosody with its SQLite driver, ejabberd with its SQLite driver: all
# three servers keep their data in SQLite.
# Only for the servers asked for: SERVERS=tern (make bench) needs none.
missing=
case " $SERVERS " in
*" prosody "*)
	command -v prosody >/dev/null 2>&1 || missing="$missing prosody"
	dpkg -s lua-dbi-sqlite3 >/dev/null 2>&1 || missing="$missing lua-dbi-sqlite3"
	;;
esac
case " $SERVERS " in
*" ejabberd "*)
	command -v ejabberdctl >/dev/null 2>&1 || missing="$missing ejabberd"
	dpkg -s erlang-p1-sqlite3 >/dev/null 2>&1 || missing="$missing erlang-p1-sqlite3"
	;;
esac
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || die "missing Debian packages:$missing; run as root or 'apt-get install$missing' first"
	log "installing$missing"
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q $missing >&2 ||
		die "apt-get install$missing failed"
	# A package may have started and enabled its system instance: it
	# would share core 0 with what we measure.
	for svc in prosody ejabberd; do
		case "$missing" in *" $svc"*) ;; *) continue ;; esac
		timeout 60 service "$svc" stop >/dev/null 2>&1 || true
		if command -v systemctl >/dev/null 2>&1; then
			timeout 60 systemctl disable "$svc" >/dev/null 2>&1 || true
		fi
	done
fi
# System instances we did not start still take CPU: say so.
for pat in prosody beam.smp; do
	if pgrep -x "$pat" >/dev/null 2>&1 || pgrep -f "/usr/bin/$pat" >/dev/null 2>&1; then
		log "warning: a $pat process is already running (a system instance?); it shares the CPU with the measurement"
	fi
done

# --- limits -----------------------------------------------------------
need=$(( $(s 10000) + 2000 ))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 100000 ]; then
	ulimit -Hn 100000 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need" ] ||
	die "ulimit -n is $(ulimit -n), the idle case needs $need (see bench/README.md)"

# --- work dir and clean-up --------------------------------------------
# On tmpfs when there is one: the three servers keep SQLite stores with
# their durable defaults, and on a disk Prosody's and ejabberd's commit
# per message would make fsync, not the server, what is measured.
if [ -z "${WORKDIR:-}" ]; then
	WORKDIR=/tmp
	[ -d /dev/shm ] && [ -w /dev/shm ] && WORKDIR=/dev/shm
fi
W=$(mktemp -d "$WORKDIR/tern-compare.XXXXXX")
chmod 755 "$W"
MAIN=
SPIDS=
# The pids of the server running now, for the clean-up on exit.
STARTED="$W/started"
: > "$STARTED"
cleanup() {
	trap - EXIT INT TERM
	for p in $(cat "$STARTED" 2>/dev/null); do
		kill -TERM "$p" 2>/dev/null || true
	done
	sleep 1
	for p in $(cat "$STARTED" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null || true
	done
	if [ "$KEEP" = 1 ]; then
		log "kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log "work dir $W, ulimit -n $(ulimit -n)"

# A copy of the binaries: a rebuild during the run must not change (or
# briefly remove) what is measured.
mkdir -p "$W/bin"
for b in ternd ternctl tern-bench; do
	cp "$BUILD/$b" "$W/bin/$b"
done
BUILD=$W/bin

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# One ECDSA P-256 certificate for localhost, shared by the three.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 \
	-nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 30 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost 2>/dev/null
cat "$W/cert.pem" "$W/key.pem" > "$W/localhost.pem"
chmod 600 "$W/key.pem" "$W/localhost.pem"

# Everything a server's process tree holds (pids of $1 and below) but the
# shells and su that started it: what CPU and RSS are read from.
server_pids() {
	ps -e -o pid=,ppid=,comm= | awk -v root="$1" '
	{ pp[$1] = $2; c[$1] = $3 }
	END {
		for (p in pp) {
			q = p
			for (n = 0; n < 64 && q != "" && q != 0; n++) {
				if (q == root) { keep[p] = 1; break }
				q = pp[q]
			}
		}
		for (p in keep)
			if (c[p] !~ /^(sh|bash|dash|su|setpriv|env|taskset|ejabberdctl|timeout)$/)
				printf "%s ", p
	}'
}

wait_port() { # port, seconds
	n=0
	until python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; do
		n=$((n + 1))
		[ "$n" -lt $(($2 * 5)) ] || return 1
		kill -0 "$MAIN" 2>/dev/null || return 1
		sleep 0.2
	done
}

render() { # template, output, REQUIRE_TLS value
	sed -e "s|@WORK@|$SD|g" -e "s|@PORT@|$PORT|g" -e "s|@REQUIRE_TLS@|$3|g" \
	    -e "s|@HTTPS_PORT@|$HTTPS_PORT|g" -e "s|@TLS_PORT@|$TLS_PORT|g" \
	    -e "s|@HTTP_PORT@|$HTTP_PORT|g" -e "s|@COMP_PORT@|$COMP_PORT|g" \
	    -e "s|@NODE@|$NODE|g" -e "s|@DIST_PORT@|$DIST_PORT|g" "$1" > "$2"
}

# ejabberdctl run as the ejabberd user (it refuses root) through setpriv,
# not su: su's PAM session would reset the open-files limit to 1024.
EJ_USER="setpriv --reuid=ejabberd --regid=ejabberd --init-groups"

# start SERVER tls|plain: the server alone on core 0; sets MAIN and SPIDS.
start() {
	mode=$2
	case $1 in
	tern)
		[ "$mode" = tls ] && req=true || req=false
		render "$TPL/tern.yml.in" "$SD/tern.yml" "$req"
		(cd "$SD" && exec taskset -c 0 "$BUILD/ternd" -c tern.yml >> ternd.log 2>&1) &
		MAIN=$!
		;;
	tern-dev)
		# `make run`'s file as written, its ports replaced; TLS is
		# required there by default: the no-TLS rows add only
		# tls.c2s_require_tls: false.
		render "$SD/make-run.yml.in" "$SD/tern.yml" true
		if [ "$mode" = plain ]; then
			sed -i 's/^  cert_dir: certs$/&\n  c2s_require_tls: false/' "$SD/tern.yml"
			grep -q '^  c2s_require_tls: false$' "$SD/tern.yml" ||
				{ log "tern-dev: could not make TLS optional"; return 1; }
		fi
		(cd "$SD" && exec taskset -c 0 "$BUILD/ternd" -c tern.yml >> ternd.log 2>&1) &
		MAIN=$!
		;;
	prosody)
		[ "$mode" = tls ] && req=true || req=false
		render "$TPL/prosody.cfg.lua.in" "$SD/prosody.cfg.lua" "$req"
		(cd "$SD" && exec taskset -c 0 prosody --config "$SD/prosody.cfg.lua" -F >> stdout.log 2>&1) &
		MAIN=$!
		;;
	ejabberd)
		[ "$mode" = tls ] && req=true || req=false
		render "$TPL/ejabberd.yml.in" "$SD/ejabberd.yml" "$req"
		chown -R ejabberd: "$SD" 2>/dev/null || true
		(cd "$SD" && exec taskset -c 0 $EJ_USER env HOME="$SD" \
		    ejabberdctl --config-dir "$SD" --logs "$SD/log" \
		    --spool "$SD/spool" foreground >> stdout.log 2>&1) &
		MAIN=$!
		;;
	esac
	echo "$MAIN" >> "$STARTED"
	if ! wait_port "$PORT" 90; then
		log "$1 did not start listening on $PORT; its log:"
		tail -n 30 "$SD"/*.log "$SD"/log/*.log 2>/dev/null >&2 || true
		return 1
	fi
	sleep 1
	SPIDS=$(server_pids "$MAIN")
	[ -n "$SPIDS" ] || { log "$1: no server process found"; return 1; }
	# Every process and thread of the server on core 0.
	for p in $SPIDS; do
		taskset -a -p -c 0 "$p" >/dev/null 2>&1 || true
		echo "$p" >> "$STARTED"
	done
	log "$1 ($mode) up on 127.0.0.1:$PORT, pids $SPIDS"
}

stop() {
	[ -n "$MAIN" ] || return 0
	if [ "$1" = ejabberd ]; then
		timeout 60 $EJ_USER env HOME="$SD" ejabberdctl --config-dir "$SD" \
		    --logs "$SD/log" --spool "$SD/spool" stop >/dev/null 2>&1 || true
	else
		kill -TERM $SPIDS 2>/dev/null || true
	fi
	n=0
	while [ "$n" -lt 150 ]; do
		alive=
		for p in $MAIN $SPIDS; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ -n "$alive" ] || break
		sleep 0.2
		n=$((n + 1))
	done
	kill -KILL $MAIN $SPIDS 2>/dev/null || true
	wait "$MAIN" 2>/dev/null || true
	MAIN=
	SPIDS=
	# Gone: the clean-up must not signal these pids again (reused).
	: > "$STARTED"
}

# The users of every case: bench1..benchK (idle needs the most) and the
# idle case's warm-up sessions after them (as many as its logins in
# flight, 50; 100 kept), those of msg-mam and msg-nomam (their MAM
# preferences stay stored), and a fresh pair per mam run so each run
# fills an empty archive.
USERS_K=$(s 10000)
WARM_K=100
provision() {
	names="bench{1..$((USERS_K + WARM_K))} arch{1..100} noarch{1..100}"
	i=1
	while [ "$i" -le "$RUNS" ]; do
		names="$names mam${i}u1 mam${i}u2"
		i=$((i + 1))
	done
	t=$(date +%s)
	case $1 in
	tern|tern-dev)
		# shellcheck disable=SC2086
		python3 -c '
import re, sys
for n in sys.argv[1:]:
    m = re.fullmatch(r"(.*)\{(\d+)\.\.(\d+)\}", n)
    for u in ([m.group(1) + str(i) for i in range(int(m.group(2)), int(m.group(3)) + 1)] if m else [n]):
        print("%s@localhost bench" % u)' $names |
		    "$BUILD/ternctl" -c "$SD/tern.yml" import --iterations "$ITER" - >&2
		;;
	prosody)
		# shellcheck disable=SC2086
		python3 "$TPL/provision.py" prosody "$SD/prosody.sqlite" localhost bench "$ITER" $names >&2
		;;
	ejabberd)
		# shellcheck disable=SC2086
		python3 "$TPL/provision.py" ejabberd "$SD/ejabberd.db" localhost bench "$ITER" $names >&2
		;;
	esac
	log "$1: provisioned $USERS_K + $WARM_K + 200 + $((2 * RUNS)) users in $(($(date +%s) - t)) s"
}

# Record a case that could not be run at all (server did not start).
fail_cases() { # server, reason, cases...
	fc_srv=$1
	fc_why=$2
	shift 2
	fail_runs "$fc_srv" "$fc_why" 1 "$RUNS" "$@"
}

# Record runs FIRST..LAST of cases that could not be run.
fail_runs() { # server, reason, first run, last run, cases...
	srv=$1
	why=$2
	first=$3
	last=$4
	shift 4
	for c in "$@"; do
		i=$first
		while [ "$i" -le "$last" ]; do
			printf '{"server":"%s","case":"%s","run":%d,"failed":"%s"}\n' \
			    "$srv" "$c" "$i" "$why" >> "$OUT"
			i=$((i + 1))
		done
	done
}

bench_cases() { # server, port, RUN_FIRST, RUNS, cases, [plain port]
	NAME=$1 PORT=$2 PIDS="$SPIDS" RUN_FIRST=$3 RUNS=$4 CASES=$5 \
	    PLAIN_PORT=${6:-} HTTPS_PORT="$HTTPS_PORT" OUT="$OUT" DIV="$DIV" \
	    DURATION="$DURATION" COUNT_ARCHIVED="$COUNT_ARCHIVED" \
	    TB="$BUILD/tern-bench" CORE=1 APPEND=1 SUMMARY=0 \
	    MAM_N="$MAM_N" MAM_ARGS="--users mam@RUN@u" \
	    sh "$HERE/run-compare.sh" || true
}

# phase SERVER MODE "FRESH CASES" "OTHER CASES" PLAIN_PORT: every run of
# each fresh case (idle, idle-1k: memory) on a server started for it
# alone, the other cases RUNS times each on the server of the last one.
phase() {
	ph_fresh=$(only $3 || true)
	[ -n "$ph_fresh" ] || [ -n "$4" ] || return 0
	ph_nostart="did not finish: the server did not start"
	if [ -z "$ph_fresh" ]; then
		if start "$1" "$2"; then
			bench_cases "$1" "$PORT" 1 "$RUNS" "$4" "$5"
		else
			fail_cases "$1" "$ph_nostart" $4
		fi
		stop "$1"
		return 0
	fi
	ph_last=$(echo $ph_fresh | awk '{ print $NF }')
	for ph_c in $ph_fresh; do
		ph_i=1
		while [ "$ph_i" -le "$RUNS" ]; do
			ph_rest=
			[ "$ph_c" != "$ph_last" ] || [ "$ph_i" -ne "$RUNS" ] ||
				ph_rest=$4
			if start "$1" "$2"; then
				bench_cases "$1" "$PORT" "$ph_i" 1 "$ph_c" "$5"
				[ -z "$ph_rest" ] ||
					bench_cases "$1" "$PORT" 1 "$RUNS" "$ph_rest" "$5"
			else
				fail_runs "$1" "$ph_nostart" "$ph_i" "$ph_i" "$ph_c"
				[ -z "$ph_rest" ] ||
					fail_cases "$1" "$ph_nostart" $ph_rest
			fi
			stop "$1"
			ph_i=$((ph_i + 1))
		done
	done
}

MAIN_CASES="login fast msg msg-sm-carbons msg-mam msg-nomam msg-1000 presence muc mam"
FRESH_CASES="idle idle-1k"
ALL_CASES="$FRESH_CASES $MAIN_CASES idle-plain login-plain"
# Issue 15's cases (bench/RESULTS-web.md), run only when ONLY names them:
# XEP-0363 upload over https and msg over WebSocket (wss) with msg over
# TCP at the same load.
WEB_CASES="upload msg-ws msg-p10"
# The cases of ALL_CASES that ONLY asks for (all when ONLY is empty).
only() {
	r=
	for c in "$@"; do
		case " ${ONLY:-$ALL_CASES} " in *" $c "*) r="$r $c" ;; esac
	done
	echo $r
	[ -n "$r" ]
}

# The cases of $@ that ONLY names (none when ONLY is empty).
named() {
	r=
	for c in "$@"; do
		case " ${ONLY:-} " in *" $c "*) r="$r $c" ;; esac
	done
	echo $r
}

run_server() {
	srv=$1
	SD=$W/$srv
	mkdir -p "$SD"
	PORT=$(free_port)
	HTTPS_PORT=$(free_port)
	TLS_PORT=$(free_port)
	HTTP_PORT=$(free_port)
	COMP_PORT=$(free_port)
	COUNT_ARCHIVED=
	OUT=$OUTDIR/results-$srv.jsonl
	: > "$OUT"
	eval "MAM_N=\${MAM_N_$(echo "$srv" | tr - _):-$(s 100000)}"
	NODE=tcmp$$@localhost
	DIST_PORT=$(free_port)
	case $srv in
	tern)
		mkdir -p "$SD/certs"
		cp "$W/localhost.pem" "$SD/certs/localhost.pem"
		render "$TPL/tern.yml.in" "$SD/tern.yml" true
		provision tern
		COUNT_ARCHIVED="python3 $TPL/archived.py $SD/tern.db"
		;;
	tern-dev)
		# The certificate shared with the others (dev-setup.sh makes
		# one only when there is none), then `make run`'s tern.yml,
		# its fixed ports made free ones.
		mkdir -p "$SD/certs"
		cp "$W/localhost.pem" "$SD/certs/localhost.pem"
		VAR=$SD sh "$HERE/../scripts/dev-setup.sh" >&2
		sed -e 's/\b5222\b/@PORT@/g' -e 's/\b5223\b/@TLS_PORT@/g' \
		    -e 's/\b5347\b/@COMP_PORT@/g' -e 's/\b5280\b/@HTTP_PORT@/g' \
		    -e 's/\b5281\b/@HTTPS_PORT@/g' "$SD/tern.yml" > "$SD/make-run.yml.in"
		provision tern-dev
		COUNT_ARCHIVED="python3 $TPL/archived.py $SD/tern.db"
		;;
	prosody)
		mkdir -p "$SD/data" "$SD/certs"
		cp "$W/cert.pem" "$SD/certs/localhost.crt"
		cp "$W/key.pem" "$SD/certs/localhost.key"
		provision prosody
		;;
	ejabberd)
		mkdir -p "$SD/log" "$SD/spool" "$SD/upload"
		cp "$W/localhost.pem" "$SD/localhost.pem"
		cp /etc/ejabberd/inetrc "$SD/inetrc" 2>/dev/null ||
			echo '{lookup,["file","native"]}.' > "$SD/inetrc"
		render "$TPL/ejabberdctl.cfg.in" "$SD/ejabberdctl.cfg" true
		# A cookie of our own (no ~/.erlang.cookie written).
		echo "ERL_OPTIONS=\"\$ERL_OPTIONS -setcookie tc$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')\"" >> "$SD/ejabberdctl.cfg"
		python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.executescript(open(sys.argv[2]).read()); db.commit()' \
		    "$SD/ejabberd.db" /usr/share/ejabberd/sql/lite.sql
		provision ejabberd
		;;
	esac

	# First start: one login with the provisioned users, before any
	# measurement.
	if ! start "$srv" tls; then
		stop "$srv"
		fail_cases "$srv" "did not finish: the server did not start" $ALL_CASES
		return 0
	fi
	if ! timeout 120 taskset -c 1 "$BUILD/tern-bench" login -n 5 -c 5 \
	    --port "$PORT" --timeout 60 > "$SD/check.out" 2>&1; then
		log "$srv: a provisioned user cannot log in:"
		tail -n 20 "$SD/check.out" >&2
		stop "$srv"
		fail_cases "$srv" "did not finish: provisioned users could not log in" $ALL_CASES
		return 0
	fi
	log "$srv: provisioned users log in"
	stop "$srv"

	# STARTTLS required: idle on a fresh server each run, the rest after
	# the last idle run; then the same with TLS optional for the no-TLS
	# rows.
	phase "$srv" tls "$FRESH_CASES" "$(echo $(only $MAIN_CASES) $(named $WEB_CASES))" ""
	phase "$srv" plain idle-plain "$(only login-plain)" "$PORT"
	log "$srv: done, $(grep -c '"failed"' "$OUT" || true) failed runs"
}

# --- versions, for RESULTS.md -----------------------------------------
META=$W/meta.env
{
	echo "tern=$(cd "$HERE/.." && git describe --always --dirty 2>/dev/null || echo unknown)"
	echo "prosody=$(prosodyctl about 2>/dev/null | sed -n 's/^Prosody \([0-9].*\)/\1/p' | head -n 1)"
	echo "ejabberd=$(dpkg-query -W -f '${Version}' ejabberd 2>/dev/null)"
	echo "erlang=$(dpkg-query -W -f '${Version}' erlang-base 2>/dev/null)"
	echo "lua=$(prosodyctl about 2>/dev/null | sed -n 's/^Lua version: *//p' | head -n 1)"
	echo "luasec=$(dpkg-query -W -f '${Version}' lua-sec 2>/dev/null)"
	echo "openssl=$(openssl version)"
	echo "sqlite=$(dpkg-query -W -f '${Version}' libsqlite3-0 2>/dev/null)"
	echo "command=${BENCH_COMMAND:-sh bench/compare.sh $1}"
	echo "knobs=RUNS=$RUNS DIV=$DIV DURATION=$DURATION ITER=$ITER"
	echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
} > "$META"

log "servers: $SERVERS; RUNS=$RUNS DIV=$DIV DURATION=$DURATION"
for srv in $SERVERS; do
	case $srv in
	tern|tern-dev|prosody|ejabberd) ;;
	*) die "unknown server $srv" ;;
	esac
	log "=== $srv"
	run_server "$srv"
done
echo "minutes=$(( ($(date +%s) - T0 + 59) / 60 ))" >> "$META"

python3 "$HERE/results.py" --meta "$META" --outdir "$OUTDIR" \
    --tpl "$TPL" $(for srv in $SERVERS; do echo "$OUTDIR/results-$srv.jsonl"; done)
log "wrote $OUTDIR/RESULTS.md in $(( ($(date +%s) - T0) / 60 )) min"
