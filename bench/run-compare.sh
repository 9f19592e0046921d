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
#   RUNS      repetitions [3]
#   DIV       divide the issue's sizes by DIV for a quick look [1]
#   DURATION  measured seconds of msg and presence [10]
#   TB        the generator [build/tern-bench]
#   OUT       file collecting the JSON lines [bench/results-$NAME.jsonl]
#   CORE      CPU the generator is pinned to [1]
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

pidargs=
for p in $PIDS; do pidargs="$pidargs --pid $p"; done
s() { echo $(( $1 / DIV > 0 ? $1 / DIV : 1 )); }
: > "$OUT"

run() { # label, tern-bench arguments...
	label=$1
	shift
	i=1
	while [ "$i" -le "$RUNS" ]; do
		echo "== $NAME $label run $i/$RUNS" >&2
		# eval: PROVISION may hold a quoted command.
		if line=$(eval "taskset -c $CORE $TB $* --domain $DOMAIN $pidargs \
		    $PROVISION" | grep '^{'); then
			echo "$line" | sed "s/^{/{\"server\":\"$NAME\",\"case\":\"$label\",\"run\":$i,/" >> "$OUT"
		else
			echo "run-compare: $label run $i failed" >&2
		fi
		i=$((i + 1))
	done
}

run login     login --port "$PORT" -c 50 -n "$(s 2000)"
run idle      idle --port "$PORT" -k "$(s 10000)" --hold 10 --src 127.0.0.1-127.0.0.50
run msg       msg --port "$PORT" -p 50 -w 10 --duration "$DURATION"
run msg-sm-carbons msg --port "$PORT" -p 50 -w 10 --duration "$DURATION" --sm --carbons
run msg-1000  msg --port "$PORT" -p 50 --rate 1000 --duration "$DURATION"
run presence  presence --port "$PORT" -u 100 -r 10 --duration "$DURATION"
run mam       mam --port "$PORT" -n "$(s 100000)" --queries 50 --timeout 600
if [ -n "$PLAIN_PORT" ]; then
	run login-plain login --port "$PLAIN_PORT" --no-tls -c 50 -n "$(s 2000)"
	run idle-plain  idle --port "$PLAIN_PORT" --no-tls -k "$(s 10000)" --hold 10 --src 127.0.0.1-127.0.0.50
fi

# Medians and ranges of every numeric field, per case.
python3 - "$OUT" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
cases = {}
for r in rows:
    cases.setdefault((r["server"], r["case"]), []).append(r)
for (srv, case), rs in cases.items():
    print("\n%s %s (%d runs)" % (srv, case, len(rs)))
    for k, v in rs[0].items():
        if isinstance(v, (int, float)) and k != "run":
            vals = [x[k] for x in rs if k in x]
            print("  %-28s median %12.3f  range %.3f..%.3f" % (
                k, statistics.median(vals), min(vals), max(vals)))
EOF
