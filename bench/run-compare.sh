#!/bin/sh
# bench/run-compare.sh: run the issue-7 suite of tern-bench against one
# XMPP server that is already running, RUNS times each, and print the
# median (with min..max) of every metric. Run it once per server (ternd,
# Prosody, ejabberd) with the same settings to get comparable columns.
#
# Environment (defaults in brackets):
#   NAME      label of the server in the output [server]
#   PORT      its STARTTLS c2s port [5222]
#   DOMAIN    its virtual host [localhost]
#   PIDS      its process ids, space separated (CPU and RSS are summed)
#   PROVISION tern-bench provisioning options, e.g.
#             "--provision --ternctl build/ternctl --config /tmp/t/tern.yml"
#             "--provision --provision-cmd 'prosodyctl register {user} {domain} {password}'"
#             (provisioning runs before each scenario, never while measuring)
#   PLAIN_PORT a c2s port that allows auth without TLS, for the no-TLS rows
#   HTTPS_PORT its https port with XEP-0363 upload (upload.DOMAIN) and
#             WebSocket at /xmpp-websocket, for the upload and msg-ws
#             cases (run only when CASES names them, with msg-p10: msg
#             over TCP at msg-ws's load)
#   RUNS      repetitions [3]
#   DIV       divide the issue's sizes by DIV for a quick look [1]
#   DURATION  measured seconds of msg and presence [10]
#   TB        the generator [build/tern-bench]
#   OUT       file collecting the JSON lines [bench/results-$NAME.jsonl]
#   CORE      CPU the generator is pinned to [1]
#   CASES     the case labels to run, space separated [all of them:
#             login fast idle idle-1k msg msg-sm-carbons msg-mam
#             msg-nomam msg-1000 presence muc mam, and
#             login-plain idle-plain when PLAIN_PORT is set]
#   QUIET_MAX seconds to wait, before each run, for the server to be
#             quiet (under 5% of a core for half a second) [10]
#   SRC       source addresses of the cases with many connections (idle,
#             muc) [127.0.0.1-127.0.0.200: at most 50 sessions per
#             address, under ternd's shipped limits.conns_per_ip of 100]
#   COUNT_ARCHIVED  a command printing how many MAM items the server's
#             store holds (ternd: a count of archive_item); when set, each
#             msg run gets "archived_items", the items written during it
#   RUN_FIRST number of the first run, for a caller that runs one case
#             at a time on a freshly started server [1]
#   APPEND    1: append to OUT instead of starting it afresh [0]
#   SUMMARY   0: do not print the medians at the end [1]
#   LIMIT     seconds a run may take beyond tern-bench's own --timeout
#             before it is killed [60]
#
# A tern-bench argument @RUN@ is replaced by the run number (e.g. a fresh
# user pair per mam run: --users mam@RUN@u). A run that fails leaves a
# line {"server":…,"case":…,"run":…,"failed":"reason"} in OUT instead of
# its numbers; fast against a server without SASL2 one line
# {…,"unsupported":"not supported: …"} and no further runs.
#
# The server itself should already be pinned (start it with taskset -c 0).
set -eu
NAME=${NAME:-server}
PORT=${PORT:-5222}
DOMAIN=${DOMAIN:-localhost}
PIDS=${PIDS:?set PIDS to the server process id(s)}
PROVISION=${PROVISION:-}
RUNS=${RUNS:-3}
DIV=${DIV:-1}
DURATION=${DURATION:-10}
TB=${TB:-build/tern-bench}
OUT=${OUT:-bench/results-$NAME.jsonl}
CORE=${CORE:-1}
PLAIN_PORT=${PLAIN_PORT:-}
CASES=${CASES:-login fast idle idle-1k msg msg-sm-carbons msg-mam msg-nomam msg-1000 presence muc mam${PLAIN_PORT:+ login-plain idle-plain}}
SRC=${SRC:-127.0.0.1-127.0.0.200}
COUNT_ARCHIVED=${COUNT_ARCHIVED:-}
RUN_FIRST=${RUN_FIRST:-1}
APPEND=${APPEND:-0}
SUMMARY=${SUMMARY:-1}
LIMIT=${LIMIT:-60}
ERR=$(mktemp)
trap 'rm -f "$ERR"' EXIT

pidargs=
for p in $PIDS; do pidargs="$pidargs --pid $p"; done
s() { echo $(( $1 / DIV > 0 ? $1 / DIV : 1 )); }
[ "$APPEND" = 1 ] || : > "$OUT"

# The whole run's bound: tern-bench's --timeout (the last one given wins,
# default 120 s) plus LIMIT for provisioning and the final close.
bound() {
	t=120
	prev=
	for a in "$@"; do
		[ "$prev" = --timeout ] && t=$a
		prev=$a
	done
	echo $((t + LIMIT))
}

# Why a run failed, as a JSON string: tern-bench's last error lines.
reason() {
	tail -n 3 "$ERR" | tr '\n\t' '  ' | sed 's/\\/\\\\/g; s/"/\\"/g' | cut -c1-300
}

# The errors by kind of a run that finished with too many ("error: KIND
# N" lines of its table), as a JSON string; tern-bench's last lines when
# there are none.
error_kinds() { # tern-bench's stdout
	k=$(printf '%s\n' "$1" | sed -n 's/^  error: *\(.*[^ ]\) \{1,\}\([0-9][0-9]*\)$/\1 (\2)/p' |
	    paste -sd ';' - | sed 's/;/; /g; s/\\/\\\\/g; s/"/\\"/g' | cut -c1-300)
	[ -n "$k" ] && echo "$k" || reason
}

# The server's CPU so far (clock ticks, all its processes).
server_ticks() {
	t=0
	for p in $PIDS; do
		v=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# Wait (at most QUIET_MAX seconds) until the server has used under 5% of
# a core for half a second: a case must not be charged with the work the
# previous one left behind (10,000 idle sessions closing take a ternd a
# fifth of a second; a login case of 2,000 lasts less than that).
QUIET_MAX=${QUIET_MAX:-10}
hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
wait_quiet() {
	w=0
	while [ "$w" -lt $((QUIET_MAX * 2)) ]; do
		a=$(server_ticks)
		sleep 0.5
		b=$(server_ticks)
		[ $((b - a)) -gt $((hz / 40)) ] || return 0
		w=$((w + 1))
	done
	echo "run-compare: $NAME still busy after ${QUIET_MAX}s; measuring anyway" >&2
}

run() { # label, tern-bench arguments...
	label=$1
	shift
	case " $CASES " in
	*" $label "*) ;;
	*) return 0 ;;
	esac
	i=$RUN_FIRST
	while [ "$i" -lt $((RUN_FIRST + RUNS)) ]; do
		echo "== $(date +%H:%M:%S) $NAME $label run $i" >&2
		args=$(echo "$*" | sed "s/@RUN@/$i/g")
		lim=$(bound $args)
		wait_quiet
		before=
		case $label in
		msg*) [ -z "$COUNT_ARCHIVED" ] || before=$(eval "$COUNT_ARCHIVED") || before= ;;
		esac
		# eval: PROVISION may hold a quoted command.
		rc=0
		out=$(eval "timeout -k 5 $lim taskset -c $CORE $TB $args \
		    --domain $DOMAIN $pidargs $PROVISION" 2>"$ERR") || rc=$?
		line=$(printf '%s\n' "$out" | grep '^{' | tail -n 1) || true
		head="{\"server\":\"$NAME\",\"case\":\"$label\",\"run\":$i"
		if [ -n "$before" ]; then
			# what the store holds once the server has committed
			sleep 1
			after=$(eval "$COUNT_ARCHIVED") || after=
			[ -z "$after" ] ||
				head="$head,\"archived_items\":$((after - before))"
		fi
		if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
			printf '%s\n' "$line" | sed "s/^{/$head,/" >> "$OUT"
		elif printf '%s\n' "$out" | cat - "$ERR" | grep -q 'offers no SASL2'; then
			# A server without XEP-0388 has no FAST: say so once,
			# not as a failure of the run and not with a number.
			why="not supported: no SASL2 (XEP-0388), so no FAST (XEP-0484)"
			printf 'run-compare: %s: %s\n' "$label" "$why" >&2
			printf '%s,"unsupported":"%s"}\n' "$head" "$why" >> "$OUT"
			break
		else
			if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
				why="did not finish in $lim s"
			elif [ -n "$line" ]; then
				why="more than 1% errors: $(error_kinds "$out")"
			else
				why="exit $rc: $(reason)"
			fi
			printf 'run-compare: %s run %s failed: %s\n' "$label" "$i" "$why" >&2
			printf '%s,"failed":"%s"}\n' "$head" "$why" >> "$OUT"
		fi
		grep -h WARNING "$ERR" >&2 || true
		i=$((i + 1))
	done
}

run login     login --port "$PORT" -c 50 -n "$(s 2000)"
# SASL2 + Bind 2 with a XEP-0484 token, after one SCRAM login per user
# that fetched it: the re-login of a client that was online before
run fast      fast --port "$PORT" -c 50 -n "$(s 2000)"
run idle      idle --port "$PORT" -k "$(s 10000)" --hold 10 --src "$SRC" --timeout 600
# the same at a tenth of the size: a flat KiB per session at both sizes
# means no fixed cost is counted as per-session memory
run idle-1k   idle --port "$PORT" -k "$(s 1000)" --hold 10 --src "$SRC" --timeout 600
# msg sets no MAM preferences: the server's default decides what is
# archived (nothing on the tuned configs, everything with `make run`'s).
# msg-mam and msg-nomam set them, each with users of its own: stored
# preferences outlive the session, and the other cases' users must keep
# none (the server's default).
run msg       msg --port "$PORT" -p 50 -w 10 --duration "$DURATION"
run msg-sm-carbons msg --port "$PORT" -p 50 -w 10 --duration "$DURATION" --sm --carbons
run msg-mam   msg --port "$PORT" -p 50 -w 10 --duration "$DURATION" --mam --users arch
run msg-nomam msg --port "$PORT" -p 50 -w 10 --duration "$DURATION" --mam-prefs never --users noarch
run msg-1000  msg --port "$PORT" -p 50 --rate 1000 --duration "$DURATION"
run presence  presence --port "$PORT" -u 100 -r 10 --duration "$DURATION"
run muc       muc --port "$PORT" --rooms 10 --occupants "$(s 50)" -w 10 --duration "$DURATION" --src "$SRC"
run mam       mam --port "$PORT" -n "${MAM_N:-$(s 100000)}" --queries 50 --timeout 600 ${MAM_ARGS:-}
if [ -n "${HTTPS_PORT:-}" ]; then
	run upload upload --port "$PORT" -n "$(s 20)" --size 10M --timeout 300
	run msg-ws msg --port "$HTTPS_PORT" --ws /xmpp-websocket -p 10 -w 10 --duration "$DURATION"
	run msg-p10 msg --port "$PORT" -p 10 -w 10 --duration "$DURATION"
fi
if [ -n "$PLAIN_PORT" ]; then
	run login-plain login --port "$PLAIN_PORT" --no-tls -c 50 -n "$(s 2000)"
	run idle-plain  idle --port "$PLAIN_PORT" --no-tls -k "$(s 10000)" --hold 10 --src "$SRC" --timeout 600
fi
[ "$SUMMARY" = 1 ] || exit 0

# Medians and ranges of every numeric field, per case.
python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cases = {}
for r in rows:
    cases.setdefault((r["server"], r["case"]), []).append(r)
for (srv, case), rs in cases.items():
    print("\n%s %s (%d runs)" % (srv, case, len(rs)))
    for r in rs:
        if "failed" in r:
            print("  run %d failed: %s" % (r["run"], r["failed"]))
        if "unsupported" in r:
            print("  %s" % r["unsupported"])
    rs = [r for r in rs if "failed" not in r and "unsupported" not in r]
    if not rs:
        continue
    for k, v in rs[0].items():
        if isinstance(v, (int, float)) and k != "run":
            vals = [x[k] for x in rs if k in x]
            print("  %-28s median %12.3f  range %.3f..%.3f" % (
                k, statistics.median(vals), min(vals), max(vals)))
EOF
