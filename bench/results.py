#!/usr/bin/python3
"""Write bench/RESULTS.md from the JSON lines of bench/compare.sh.

usage: results.py --meta META.env --outdir DIR [--tpl bench/compare]
                  results-prosody.jsonl results-ejabberd.jsonl results-tern.jsonl

Each input line is one tern-bench result, tagged by run-compare.sh with
"server", "case" and "run", or a failed run {"server","case","run",
"failed": reason}, or a case the server cannot do {…, "unsupported":
reason} (FAST on a server without SASL2). Every cell is the median of the
runs that succeeded with their [min-max] range; a case with no successful
run shows "failed: reason". Two Tern columns: tern (the tuned
bench/compare/tern.yml.in) and tern-dev (the configuration `make run`
writes); each gets ratio columns against Prosody and ejabberd, oriented
so that > 1 means Tern is better (faster, or less CPU, memory or
latency), and met/missed against the targets of issues 7 and 18.
"""
import argparse
import json
import os
import platform
import re
import statistics

def fmt(v):
    if v is None:
        return "?"
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


SERVERS = [("prosody", "Prosody"), ("ejabberd", "ejabberd"),
           ("tern", "Tern, tuned"), ("tern-dev", "Tern, make run defaults")]
# The Tern columns (targets and ratios are theirs) and the others.
TERNS = [("tern", "tuned"), ("tern-dev", "make run")]
OTHERS = ["prosody", "ejabberd"]


class T:
    """A target: text as in the issue, and how a median is checked
    against it. op: "<=" or ">=" a value, or None (not checkable: "—").
    issue: where it comes from (7 or 18); servers: the Tern columns it
    applies to (both when None)."""

    def __init__(self, op, value, issue, servers=None, text=None):
        self.op, self.value, self.issue, self.servers = op, value, issue, \
            servers
        self.text = text or "%s %s" % ("≤" if op == "<=" else "≥",
                                       "{:,}".format(value))

    def label(self):
        return "%s (#%d)" % (self.text, self.issue)

    def check(self, server, cell):
        if self.servers is not None and server not in self.servers:
            return "—"
        if self.op is None or cell.median is None:
            return "—"
        ok = cell.median <= self.value if self.op == "<=" else \
            cell.median >= self.value
        return "met" if ok else "**missed**"


def t7(op, value, text=None):
    return T(op, value, 7, text=text)


def t18(op, value, servers=None, text=None):
    return T(op, value, 18, servers, text)


# (section, metric label, case, JSON key, higher is better (None: no
# ratio columns), target[, the servers the metric means something for:
# "n/a" in the other columns])
METRICS = [
    ("Logins", "full logins/s (TCP+STARTTLS+SCRAM+bind+presence+ping, 50 in flight)",
     "login", "logins_per_s", True, t7(">=", 1500)),
    ("Logins", "login latency p50 (ms)", "login", "latency_ms_p50", False, None),
    ("Logins", "login latency p99 (ms)", "login", "latency_ms_p99", False, None),
    ("Logins", "server CPU ms per login, STARTTLS", "login",
     "server_cpu_ms_per_login", False, t18("<=", 0.5)),
    ("Logins", "FAST re-logins/s (STARTTLS, SASL2 + Bind 2 with a XEP-0484 "
     "token, 50 in flight)", "fast", "logins_per_s", True, None),
    ("Logins", "server CPU ms per FAST re-login, STARTTLS", "fast",
     "server_cpu_ms_per_login", False, None),
    ("Logins", "FAST re-login latency p50 (ms)", "fast", "latency_ms_p50",
     False, None),
    ("Logins", "server CPU of a FAST re-login / of a full SCRAM login",
     "fast/login", "server_cpu_ms_per_login", None, None),
    ("Logins", "server CPU ms per login, no TLS", "login-plain",
     "server_cpu_ms_per_login", False, t18("<=", 0.2)),
    ("Logins", "full logins/s, no TLS", "login-plain", "logins_per_s", True,
     None),
    ("Idle sessions", "KiB of server RSS per idle authenticated TLS session, "
     "10,000 sessions", "idle", "kib_per_session", False, t18("<=", 10)),
    ("Idle sessions", "KiB per idle TLS session, 1,000 sessions (fresh "
     "server)", "idle-1k", "kib_per_session", False,
     t18("<=", 10, text="≤ 10, flat")),
    ("Idle sessions", "flatness: KiB per session at 1,000 / at 10,000",
     "idle-1k/idle", "kib_per_session", False, t18("<=", 1.2)),
    ("Idle sessions", "KiB per idle session without TLS, 10,000 sessions",
     "idle-plain", "kib_per_session", False, t7("<=", 4)),
    ("Idle sessions", "idle sessions alive at the end (TLS, 10,000)", "idle",
     "sessions_alive", True, None),
    ("Messages", "delivered msgs/s, saturated (50 pairs, 10 in flight each; "
     "no MAM preferences set, so the server's default decides: make run "
     "defaults archive every message)",
     "msg", "delivered_per_s", True, t7(">=", 40000)),
    ("Messages", "server CPU s per 100k delivered messages (the same run)",
     "msg", "server_cpu_s_per_100k", False, t7("<=", 2.5)),
    ("Messages", "MAM items the store gained during that run (warm-up and "
     "drain included; two per archived message)", "msg", "archived_items",
     None, None),
    ("Messages", "delivered msgs/s with stream management + carbons",
     "msg-sm-carbons", "delivered_per_s", True, None),
    ("Messages", "server CPU s per 100k, stream management + carbons",
     "msg-sm-carbons", "server_cpu_s_per_100k", False, t7("<=", 3)),
    ("Archiving", "delivered msgs/s, every message archived (msg-mam: "
     "the client sets default='always')", "msg-mam", "delivered_per_s",
     True, None),
    ("Archiving", "server CPU s per 100k archived messages (msg-mam)",
     "msg-mam", "server_cpu_s_per_100k", False, t18("<=", 2.5)),
    ("Archiving", "server CPU s per 100k archived messages, archiving as "
     "shipped (msg with make run defaults: no preferences stored)", "msg",
     "server_cpu_s_per_100k", False, t18("<=", 2.5, servers=("tern-dev",)),
     ("tern-dev",)),
    ("Archiving", "delivered msgs/s, nothing archived at the client's "
     "request (msg-nomam: default='never' stored)", "msg-nomam",
     "delivered_per_s", True, None),
    ("Archiving", "server CPU s per 100k, msg-nomam", "msg-nomam",
     "server_cpu_s_per_100k", False, None),
    ("Archiving", "throughput kept with every message archived: msg-mam / "
     "msg (msg archives nothing there: the server's default is never)",
     "msg-mam/msg", "delivered_per_s", True,
     t18(">=", 0.8, servers=("tern",)), ("prosody", "ejabberd", "tern")),
    ("Archiving", "throughput kept with archiving on as shipped: msg with "
     "make run defaults (every message archived) / msg of Tern, tuned "
     "(nothing archived); no preferences stored in either",
     "msg/tern:msg", "delivered_per_s", True,
     t18(">=", 0.8, servers=("tern-dev",)), ("tern-dev",)),
    ("Archiving", "the same from CPU per message (msg's CPU / msg-mam's; "
     "at saturation the server that does not archive may not be what "
     "limits msg's rate, so this can be the lower figure)",
     "msg/msg-mam", "server_cpu_s_per_100k", None, None,
     ("prosody", "ejabberd", "tern")),
    ("Archiving", "the same from CPU per message (Tern, tuned's msg CPU / "
     "msg's with make run defaults)", "tern:msg/msg",
     "server_cpu_s_per_100k", None, None, ("tern-dev",)),
    ("Archiving", "msg / msg-nomam with make run defaults: archiving as "
     "shipped against users who stored default='never' (who pay what a "
     "stored preference costs, next row)", "msg/msg-nomam",
     "delivered_per_s", True, None, ("tern-dev",)),
    ("Archiving", "server CPU per message with default='never' stored / "
     "with no preferences (msg-nomam / msg, neither archiving; 1: a "
     "stored 'never' costs nothing)", "msg-nomam/msg",
     "server_cpu_s_per_100k", None, None, ("prosody", "ejabberd", "tern")),
    ("Archiving", "MAM items gained during msg-nomam (0 expected)",
     "msg-nomam", "archived_items", None, None),
    ("Archiving", "MAM items gained during msg-mam", "msg-mam",
     "archived_items", None, None),
    ("Latency", "latency p50 at 1,000 msgs/s offered (ms)", "msg-1000",
     "latency_ms_p50", False, t7("<=", 0.2)),
    ("Latency", "latency p99 at 1,000 msgs/s offered (ms)", "msg-1000",
     "latency_ms_p99", False, t7("<=", 1)),
    ("Latency", "delivered msgs/s at 1,000 offered", "msg-1000",
     "delivered_per_s", True, None),
    ("MAM", "archive fill, msgs/s (one sender, one archive)", "mam",
     "fill_msgs_per_s", True, None),
    ("MAM", "first page of 50, p50 (ms)", "mam", "first_ms_p50", False,
     t7("<=", 5)),
    ("MAM", "last page of 50 (<before/>), p50 (ms)", "mam", "last_ms_p50",
     False, t7("<=", 5)),
    ("MAM", "page filtered by with, p50 (ms)", "mam", "with_ms_p50", False,
     t7("<=", 5)),
    ("MAM", "first page of 50, p99 (ms)", "mam", "first_ms_p99", False, None),
    ("Group chat", "groupchat copies delivered/s (10 rooms x 50, 10 in "
     "flight per room)", "muc", "delivered_per_s", True, None),
    ("Group chat", "server CPU us per delivered groupchat copy", "muc",
     "server_cpu_us_per_delivery", False,
     T(None, None, 7, text="≤ 1/3 of the best other")),
    ("Presence", "presence cycles/s (100 users, 10 contacts each)",
     "presence", "cycles_per_s", True, None),
    ("Presence", "server CPU ms per cycle", "presence",
     "server_cpu_ms_per_cycle", False, None),
]

SRC = "--src 127.0.0.1-127.0.0.200"
CASES = [
    ("login", "login -c 50 -n 2000"),
    ("fast", "fast -c 50 -n 2000 (one SCRAM login per user first fetches "
     "its FAST token; then token logins)"),
    ("login-plain", "login --no-tls -c 50 -n 2000"),
    ("idle", "idle -k 10000 --hold 10 " + SRC + " (a fresh server per run)"),
    ("idle-1k", "idle -k 1000 --hold 10 " + SRC + " (a fresh server per "
     "run)"),
    ("idle-plain", "idle --no-tls -k 10000 --hold 10 " + SRC),
    ("msg", "msg -p 50 -w 10 --duration 10 (no MAM preferences set)"),
    ("msg-sm-carbons", "msg -p 50 -w 10 --duration 10 --sm --carbons"),
    ("msg-mam", "msg -p 50 -w 10 --duration 10 --mam (MAM preferences "
     "default='always')"),
    ("msg-nomam", "msg -p 50 -w 10 --duration 10 --mam-prefs never (MAM "
     "preferences default='never')"),
    ("msg-1000", "msg -p 50 --rate 1000 --duration 10"),
    ("presence", "presence -u 100 -r 10 --duration 10"),
    ("muc", "muc --rooms 10 --occupants 50 -w 10 --duration 10 " + SRC +
     " (instant rooms, one speaker each)"),
    ("mam", "mam -n 100000 --queries 50 (a fresh user pair per run)"),
]


def load(paths):
    runs = {}
    for p in paths:
        if not os.path.exists(p):
            continue
        for line in open(p):
            line = line.strip()
            if not line:
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            runs.setdefault((r.get("server"), r.get("case")), []).append(r)
    return runs


def empty_text(cell):
    """What a cell without a median says: why not."""
    if cell.unsupported:
        return cell.unsupported[0]["unsupported"].replace("|", "/")
    if cell.failed:
        return "failed: " + cell.failed[0]["failed"].replace("|", "/")
    if cell.nruns:
        return "not measured"
    return "not run"


class Ratio:
    """A cell that is the quotient of two cases' medians (one value)."""

    def __init__(self, a, b):
        self.failed = a.failed + b.failed
        self.unsupported = a.unsupported + b.unsupported
        self.ok = a.ok if b.median else []
        self.median = a.median / b.median if a.median is not None and \
            b.median else None
        self.lo = self.hi = self.median
        self.nruns = min(a.nruns, b.nruns)

    def text(self):
        if self.median is None:
            return empty_text(self)
        return "%.2f" % self.median


class NotApplicable:
    """A metric that means nothing for this server (e.g. msg-mam/msg where
    msg archives everything too)."""
    median = lo = hi = None
    ok = failed = unsupported = []
    nruns = 0

    def text(self):
        return "n/a"


def metric_cell(runs, server, case, key):
    """A case's cell, or the ratio "A/B" of two cases' medians; "SRV:A"
    or "SRV:B" takes that case from another server's column."""
    if "/" in case:
        a, b = case.split("/")
        asrv, a = a.split(":") if ":" in a else (server, a)
        bsrv, b = b.split(":") if ":" in b else (server, b)
        return Ratio(Cell(runs.get((asrv, a), []), key),
                     Cell(runs.get((bsrv, b), []), key))
    return Cell(runs.get((server, case), []), key)


class Cell:
    def __init__(self, runs, key):
        self.unsupported = [r for r in runs if "unsupported" in r]
        self.failed = [r for r in runs if "failed" in r]
        self.ok = [r for r in runs if "failed" not in r and
                   "unsupported" not in r and key in r]
        vals = [float(r[key]) for r in self.ok]
        self.median = statistics.median(vals) if vals else None
        self.lo = min(vals) if vals else None
        self.hi = max(vals) if vals else None
        self.nruns = len(runs)

    def text(self):
        if self.median is None:
            return empty_text(self)
        s = fmt(self.median)
        if len(self.ok) > 1:
            s += " [%s–%s]" % (fmt(self.lo), fmt(self.hi))
        if self.failed:
            s += " (%d of %d runs failed: %s)" % (
                len(self.failed), self.nruns,
                self.failed[0]["failed"].replace("|", "/"))
        return s


def with_cpu_pct(r):
    """idle reports the generator's CPU seconds, not a percentage: over
    the logins and the hold."""
    if "bench_cpu_pct" not in r and "bench_cpu_s" in r and \
            r.get("login_s", 0) + r.get("hold_s", 0) > 0:
        r = dict(r, bench_cpu_pct=100.0 * r["bench_cpu_s"] /
                 (r["login_s"] + r["hold_s"]))
    return r


def ratio(tern, other, higher_better):
    if higher_better is None or tern.median is None or \
            other.median is None:
        return "—"
    num, den = (tern.median, other.median) if higher_better else \
        (other.median, tern.median)
    if den <= 0 or num <= 0:
        return "—"  # e.g. RSS that shrank: no meaningful ratio
    return "%.2f×" % (num / den)


def machine():
    model, cores, mem = "?", os.cpu_count(), "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    except OSError:
        pass
    u = platform.uname()
    return model, cores, "%s %s %s" % (u.system, u.release, u.machine), mem


def read_meta(path):
    meta = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            meta[k] = v.strip()
    return meta


def modules(tpl):
    """The module lists from the config templates, for the write-up."""
    out = {}
    try:
        t = open(os.path.join(tpl, "prosody.cfg.lua.in")).read()
        m = re.search(r"modules_enabled = \{(.*?)\n\}", t, re.S)
        out["prosody"] = re.findall(r'"([a-z_0-9]+)"', m.group(1)) if m else []
        t = open(os.path.join(tpl, "ejabberd.yml.in")).read()
        out["ejabberd"] = re.findall(r"^  (mod_[a-z_0-9]+):", t, re.M)
        for key, path in (("tern", os.path.join(tpl, "tern.yml.in")),
                          ("tern-dev", os.path.join(
                              tpl, "..", "..", "scripts", "dev-setup.sh"))):
            t = open(path).read()
            m = re.search(r"modules: \[(.*?)\]", t, re.S)
            out[key] = [x.strip() for x in m.group(1).split(",")] \
                if m else []
    except OSError:
        pass
    return out


def present_servers(runs):
    """The columns: the servers that have any line in the inputs."""
    have = {srv for srv, _ in runs}
    return [(k, n) for k, n in SERVERS if k in have]


def write(args):
    meta = read_meta(args.meta)
    runs = load(args.files)
    model, cores, kernel, mem = machine()
    mods = modules(args.tpl)
    cols = present_servers(runs) or SERVERS
    names = dict(SERVERS)
    terns = [(k, short) for k, short in TERNS if k in dict(cols)]
    others = [k for k in OTHERS if k in dict(cols)]
    L = []
    w = L.append
    w("# Tern vs Prosody vs ejabberd")
    w("")
    w("Written by `make bench-compare` (bench/compare.sh, bench/results.py); "
      "do not edit by hand. Issues 7 and 18 have the targets; "
      "bench/README.md says what each scenario does.")
    w("")
    w("## Machine")
    w("")
    w("- CPU: %s, %s cores" % (model, cores))
    w("- kernel: %s" % kernel)
    w("- RAM: %s" % mem)
    w("- each server pinned to core 0 (every process and thread, "
      "`taskset`), the load generator tern-bench to core 1; loopback only")
    w("")
    w("## Versions")
    w("")
    w("- Tern: %s" % meta.get("tern", "?"))
    w("- Prosody: %s (%s, LuaSec %s)" % (
        meta.get("prosody", "?"), meta.get("lua", "?"),
        meta.get("luasec", "?")))
    w("- ejabberd: %s (Erlang/OTP package %s)" % (
        meta.get("ejabberd", "?"), meta.get("erlang", "?")))
    w("- %s; SQLite %s" % (meta.get("openssl", "?"), meta.get("sqlite", "?")))
    w("")
    w("## Configuration")
    w("")
    w("Two Tern columns:")
    w("")
    w("- **Tern, tuned**: bench/compare/tern.yml.in, set up like the "
      "other two servers below (limits raised, nothing archived by "
      "default, `log_level: warn`, TLS 1.3 only)")
    w("- **Tern, make run defaults**: the tern.yml that `make run` writes "
      "(scripts/dev-setup.sh) with only its fixed ports replaced by free "
      "ones: `log_level: info`, the shipped limits (`conns_per_ip` 100, "
      "`c2s_rate` 1M, `c2s_burst` 4M, `sessions_per_account` 20, "
      "`sasl_failures_per_ip` 10, group chat `message_rate` 5/s per "
      "occupant, burst 20: the muc case's speakers, 10 messages in "
      "flight each, are refused with resource-constraint), TLS 1.2 and "
      "1.3, MAM `default_prefs: always` (every "
      "chat message archived, in the sender's and the recipient's "
      "archive, without the client asking), `retention.archive` 7d, every "
      "module and listener of `make run`; the no-TLS rows add only "
      "`tls.c2s_require_tls: false`. The cases with many connections "
      "(idle, muc) spread them over 200 source addresses (at most 50 per "
      "address), as many users would come from many addresses: the "
      "per-address cap is not what is measured")
    w("")
    w("The same for Prosody, ejabberd and Tern, tuned (bench/compare/*.in):")
    w("")
    w("- one ECDSA P-256 self-signed certificate for `localhost` (all "
      "four columns); "
      "STARTTLS required, TLS 1.3 only; SCRAM-SHA-1 (4096 iterations, "
      "a random salt per user; the servers keep StoredKey/ServerKey, "
      "no PBKDF2 on the server at login)")
    w("- no rate limits or shapers: ternd's `limits` raised "
      "(conns_per_ip 1,000,000, c2s_rate/burst 1G, sessions_per_account "
      "1,000), Prosody without mod_limits, ejabberd with `shaper: none`, "
      "`max_user_sessions: infinity`, without mod_fail2ban and "
      "mod_pres_counter")
    w("- storage: SQLite for all (Prosody mod_storage_sql, "
      "ejabberd `default_db: sql` / `auth_method: sql`, ternd's own), "
      "each with its durable defaults, in a temp dir on tmpfs so that "
      "what is measured is the server, not the disk's fsync (Prosody "
      "and ejabberd commit every archived message; ternd groups writes "
      "in one transaction per loop iteration)")
    w("- MAM enabled with nothing archived by default "
      "(Prosody `default_archive_policy = false`, ejabberd "
      "`mod_mam: {default: never}`, ternd `default_prefs: never`, as "
      "ejabberd ships it). msg sets no preferences (the server's default "
      "decides: nothing archived here, everything with make run "
      "defaults); msg-mam and mam set the XEP-0313 preferences "
      "`default='always'` (tern-bench --mam) and msg-nomam "
      "`default='never'` (--mam-prefs never), each with users of its own "
      "(stored preferences outlive the session; the other cases' users "
      "store none). msg-mam/msg is the throughput kept when every message "
      "is archived; with make run defaults, msg against Tern, tuned's msg "
      "is the one kept with archiving as shipped")
    w("- modules: each server's default set plus carbons, stream "
      "management and MAM, minus s2s:")
    for key, name in cols:
        w("  - %s: %s" % (name, ", ".join(mods.get(key, [])) or "?"))
    w("- the no-TLS rows run against the same server restarted with TLS "
      "optional (Prosody `c2s_require_encryption = false`, ejabberd "
      "`starttls_required: false`, ternd `tls.c2s_require_tls: false`), "
      "still SCRAM-SHA-1")
    w("- users are written into each store before anything is measured "
      "(bench/compare/provision.py for Prosody and ejabberd, "
      "`ternctl import` for ternd); `idle` and `idle-1k` run on a freshly "
      "started server each run")
    w("- FAST (XEP-0484 token login over SASL2, XEP-0388, with Bind 2): "
      "Prosody 0.12 and ejabberd 23.01 offer no SASL2; their fast cells "
      "say so (the case is tried once, the stream features decide)")
    w("")
    w("## How it was run")
    w("")
    w("- command: `%s` (%s), %s, %s min in all" % (
        meta.get("command", "?"), meta.get("knobs", ""),
        meta.get("date", "?"), meta.get("minutes", "?")))
    w("- every case %s; cells are the median [min–max] of the runs" % (
        "once" if "RUNS=1 " in meta.get("knobs", "") else
        "repeated (RUNS in the knobs above)"))
    knobs = meta.get("knobs", "") + " "
    if "DIV=1 " not in knobs or "DURATION=10 " not in knobs:
        w("- **a reduced run**: the sizes below (logins, idle sessions, "
          "MAM messages) divided by DIV, msg and presence measured for "
          "DURATION s")
    w("- server CPU is utime+stime from /proc/PID/stat, RSS the sum of "
      "VmRSS over the server's processes (ejabberd: beam.smp, "
      "erl_child_setup and its helpers); MAM items gained: ternd's "
      "archive rows counted before and after each msg run "
      "(bench/compare/archived.py)")
    w("")
    w("| case | tern-bench arguments |")
    w("|---|---|")
    for c, a in CASES:
        w("| %s | `%s` |" % (c, a))
    w("")
    w("## Results")
    w("")
    if terns and others:
        w("Ratio columns: **> 1 means Tern is better** (Tern/other for "
          "rates, other/Tern for CPU, memory and latency), for each Tern "
          "column. Targets: (#7) issue 7's, (#18) issue 18's; met or "
          "missed by the median, for each Tern column.")
    # issue 18's targets first, as a summary
    if terns:
        w("")
        w("### Targets of issue 18")
        w("")
        w("| target | metric | %s |" % " | ".join(
            names[k] for k, _ in terns))
        w("|---|---|%s" % ("---|" * len(terns)))
        for sec, label, case, key, hib, target, *rest in METRICS:
            if target is None or target.issue != 18:
                continue
            row = []
            for k, _ in terns:
                if rest and k not in rest[0]:
                    row.append("n/a")
                    continue
                cell = metric_cell(runs, k, case, key)
                chk = target.check(k, cell)
                row.append(cell.text() if chk == "—" else
                           "%s: %s" % (chk, cell.text()))
            w("| %s | %s | %s |" % (target.text, label, " | ".join(row)))
    section = None
    for sec, label, case, key, hib, target, *rest in METRICS:
        applies = rest[0] if rest else None
        if sec != section:
            section = sec
            w("")
            w("### %s" % sec)
            w("")
            head = ["metric"] + [n for _, n in cols] + ["target"]
            head += ["%s: met?" % short for _, short in terns]
            head += ["%s/%s" % (short, names[o]) for _, short in terns
                     for o in others]
            w("| %s |" % " | ".join(head))
            w("|%s" % ("---|" * len(head)))
        cells = {k: metric_cell(runs, k, case, key) if applies is None or
                 k in applies else NotApplicable() for k, _ in cols}
        row = [label] + [cells[k].text() for k, _ in cols]
        row.append(target.label() if target else "—")
        row += [target.check(k, cells[k]) if target else "—"
                for k, _ in terns]
        row += [ratio(cells[k], cells[o], hib) for k, _ in terns
                for o in others]
        w("| %s |" % " | ".join(row))
    w("")
    w("## The generator's own CPU")
    w("")
    w("tern-bench's CPU in % of one core while measuring (median "
      "[min–max]); ⚠ marks a case where a run used more than 50%: there "
      "the generator, not the server, may be what was measured. In idle "
      "most of it is the client's PBKDF2 for 10,000 distinct users "
      "(tern-bench derives each user's SCRAM keys once, ~2 ms each): it "
      "can slow the logins down but does not change the KiB per session.")
    w("")
    w("| case | %s |" % " | ".join(n for _, n in cols))
    w("|---|%s" % ("---|" * len(cols)))
    for c, _ in CASES:
        row = []
        for k, _ in cols:
            rs = [with_cpu_pct(r) for r in runs.get((k, c), [])]
            cell = Cell(rs, "bench_cpu_pct")
            t = cell.text()
            if cell.hi is not None and cell.hi > 50:
                t = "⚠ " + t
            row.append(t)
        w("| %s | %s |" % (c, " | ".join(row)))
    w("")
    # kept by hand beside this file: what archiving costs with make run's
    # defaults (bench/archive.sh), idle memory with make run's
    # configuration (bench/idle.sh), the HTTP numbers (bench/web.sh)
    for name in ("RESULTS-archive.md", "RESULTS-idle.md", "RESULTS-web.md"):
        extra = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             name)
        if os.path.exists(extra):
            L.append(open(extra).read().rstrip("\n"))
            w("")
    path = os.path.join(args.outdir, "RESULTS.md")
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(L))
    os.replace(path + ".tmp", path)
    print("results: wrote %s" % path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meta", required=True)
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--tpl", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "compare"))
    ap.add_argument("files", nargs="+")
    write(ap.parse_args())


if __name__ == "__main__":
    main()
