#!/usr/bin/python3
"""Write bench/RESULTS.md from the JSON lines of bench/compare.sh.

usage: results.py --meta META.env --outdir DIR [--tpl bench/compare]
                  results-prosody.jsonl results-ejabberd.jsonl results-tern.jsonl

Each input line is one tern-bench result, tagged by run-compare.sh with
"server", "case" and "run", or a failed run {"server","case","run",
"failed": reason}. Every cell is the median of the runs that succeeded
with their [min-max] range; a case with no successful run shows
"failed: reason". Ratio columns are oriented so that > 1 means Tern is
better (faster, or less CPU, memory or latency).
"""
import argparse
import json
import os
import platform
import re
import statistics

SERVERS = [("prosody", "Prosody"), ("ejabberd", "ejabberd"), ("tern", "Tern")]

# (section, metric label, case, JSON key, higher is better, Tern target)
METRICS = [
    ("Logins", "full logins/s (TCP+STARTTLS+SCRAM+bind+presence+ping, 50 in flight)",
     "login", "logins_per_s", True, "≥ 1,500"),
    ("Logins", "login latency p50 (ms)", "login", "latency_ms_p50", False, "—"),
    ("Logins", "login latency p99 (ms)", "login", "latency_ms_p99", False, "—"),
    ("Logins", "server CPU ms per login, STARTTLS", "login",
     "server_cpu_ms_per_login", False, "≤ 0.5"),
    ("Logins", "server CPU ms per login, no TLS", "login-plain",
     "server_cpu_ms_per_login", False, "≤ 0.2"),
    ("Logins", "full logins/s, no TLS", "login-plain", "logins_per_s", True, "—"),
    ("Idle sessions", "KiB of server RSS per idle authenticated TLS session",
     "idle", "kib_per_session", False, "≤ 10"),
    ("Idle sessions", "KiB per idle session without TLS", "idle-plain",
     "kib_per_session", False, "≤ 4"),
    ("Idle sessions", "idle sessions alive at the end (TLS)", "idle",
     "sessions_alive", True, "—"),
    ("Messages", "delivered msgs/s, saturated (50 pairs, 10 in flight each)",
     "msg", "delivered_per_s", True, "≥ 40,000"),
    ("Messages", "server CPU s per 100k delivered messages", "msg",
     "server_cpu_s_per_100k", False, "≤ 2.5"),
    ("Messages", "delivered msgs/s with stream management + carbons",
     "msg-sm-carbons", "delivered_per_s", True, "—"),
    ("Messages", "server CPU s per 100k, stream management + carbons",
     "msg-sm-carbons", "server_cpu_s_per_100k", False, "≤ 3"),
    ("Messages", "delivered msgs/s with MAM archiving every message",
     "msg-mam", "delivered_per_s", True, "—"),
    ("Messages", "throughput kept with archiving (msg --mam / msg)",
     "msg-mam/msg", "delivered_per_s", True, "≥ 0.8"),
    ("Messages", "server CPU s per 100k, MAM archiving", "msg-mam",
     "server_cpu_s_per_100k", False, "—"),
    ("Latency", "latency p50 at 1,000 msgs/s offered (ms)", "msg-1000",
     "latency_ms_p50", False, "≤ 0.2"),
    ("Latency", "latency p99 at 1,000 msgs/s offered (ms)", "msg-1000",
     "latency_ms_p99", False, "≤ 1"),
    ("Latency", "delivered msgs/s at 1,000 offered", "msg-1000",
     "delivered_per_s", True, "—"),
    ("MAM", "archive fill, msgs/s (one sender, one archive)", "mam",
     "fill_msgs_per_s", True, "—"),
    ("MAM", "first page of 50, p50 (ms)", "mam", "first_ms_p50", False, "≤ 5"),
    ("MAM", "last page of 50 (<before/>), p50 (ms)", "mam", "last_ms_p50",
     False, "≤ 5"),
    ("MAM", "page filtered by with, p50 (ms)", "mam", "with_ms_p50", False,
     "≤ 5"),
    ("MAM", "first page of 50, p99 (ms)", "mam", "first_ms_p99", False, "—"),
    ("Group chat", "groupchat copies delivered/s (10 rooms x 50, 10 in "
     "flight per room)", "muc", "delivered_per_s", True, "—"),
    ("Group chat", "server CPU us per delivered groupchat copy", "muc",
     "server_cpu_us_per_delivery", False, "≤ 1/3 of the best other"),
    ("Presence", "presence cycles/s (100 users, 10 contacts each)",
     "presence", "cycles_per_s", True, "—"),
    ("Presence", "server CPU ms per cycle", "presence",
     "server_cpu_ms_per_cycle", False, "—"),
]

CASES = [
    ("login", "login -c 50 -n 2000"),
    ("login-plain", "login --no-tls -c 50 -n 2000"),
    ("idle", "idle -k 10000 --hold 10 --src 127.0.0.1-127.0.0.50"),
    ("idle-plain", "idle --no-tls -k 10000 --hold 10 --src …"),
    ("msg", "msg -p 50 -w 10 --duration 10"),
    ("msg-sm-carbons", "msg -p 50 -w 10 --duration 10 --sm --carbons"),
    ("msg-mam", "msg -p 50 -w 10 --duration 10 --mam (MAM preferences default='always')"),
    ("msg-1000", "msg -p 50 --rate 1000 --duration 10"),
    ("presence", "presence -u 100 -r 10 --duration 10"),
    ("muc", "muc --rooms 10 --occupants 50 -w 10 --duration 10 (instant "
     "rooms, one speaker each)"),
    ("mam", "mam -n 100000 --queries 50 (a fresh user pair per run)"),
]


def fmt(v):
    if v is None:
        return "?"
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


class Ratio:
    """A cell that is the quotient of two cases' medians (one value)."""

    def __init__(self, a, b):
        self.failed = a.failed + b.failed
        self.ok = a.ok if b.median else []
        self.median = a.median / b.median if a.median is not None and \
            b.median else None
        self.lo = self.hi = self.median
        self.nruns = a.nruns

    def text(self):
        if self.median is None:
            if self.failed:
                return "failed: " + self.failed[0]["failed"].replace("|", "/")
            return "not run"
        return "%.2f" % self.median


def metric_cell(runs, server, case, key):
    if "/" in case:
        a, b = case.split("/")
        return Ratio(Cell(runs.get((server, a), []), key),
                     Cell(runs.get((server, b), []), key))
    return Cell(runs.get((server, case), []), key)


class Cell:
    def __init__(self, runs, key):
        self.ok = [r for r in runs if "failed" not in r and key in r]
        self.failed = [r for r in runs if "failed" in r]
        vals = [float(r[key]) for r in self.ok]
        self.median = statistics.median(vals) if vals else None
        self.lo = min(vals) if vals else None
        self.hi = max(vals) if vals else None
        self.nruns = len(runs)

    def text(self):
        if self.median is None:
            if self.failed:
                return "failed: " + self.failed[0]["failed"].replace("|", "/")
            return "not run"
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
    if tern.median is None or other.median is None:
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
        t = open(os.path.join(tpl, "tern.yml.in")).read()
        m = re.search(r"modules: \[(.*?)\]", t, re.S)
        out["tern"] = [x.strip() for x in m.group(1).split(",")] if m else []
    except OSError:
        pass
    return out


def write(args):
    meta = read_meta(args.meta)
    runs = load(args.files)
    model, cores, kernel, mem = machine()
    mods = modules(args.tpl)
    L = []
    w = L.append
    w("# Tern vs Prosody vs ejabberd")
    w("")
    w("Written by `make bench-compare` (bench/compare.sh, bench/results.py); "
      "do not edit by hand. Issue 7 has the targets; bench/README.md says "
      "what each scenario does.")
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
    w("The same for the three servers (bench/compare/*.in):")
    w("")
    w("- one ECDSA P-256 self-signed certificate for `localhost`; "
      "STARTTLS required, TLS 1.3 only; SCRAM-SHA-1 (4096 iterations, "
      "a random salt per user; the servers keep StoredKey/ServerKey, "
      "no PBKDF2 on the server at login)")
    w("- no rate limits or shapers: ternd's `limits` raised "
      "(conns_per_ip 1,000,000, c2s_rate/burst 1G, sessions_per_account "
      "1,000), Prosody without mod_limits, ejabberd with `shaper: none`, "
      "`max_user_sessions: infinity`, without mod_fail2ban and "
      "mod_pres_counter")
    w("- storage: SQLite for all three (Prosody mod_storage_sql, "
      "ejabberd `default_db: sql` / `auth_method: sql`, ternd's own), "
      "each with its durable defaults, in a temp dir on tmpfs so that "
      "what is measured is the server, not the disk's fsync (Prosody "
      "and ejabberd commit every archived message; ternd groups writes "
      "in one transaction per loop iteration)")
    w("- MAM enabled on all three with nothing archived by default "
      "(Prosody `default_archive_policy = false`, ejabberd "
      "`mod_mam: {default: never}`, ternd `default_prefs: never`, as "
      "ejabberd ships it); the mam and msg-mam cases archive everything "
      "because their users set the XEP-0313 preferences "
      "`default='always'` (tern-bench --mam), so msg-mam/msg is the "
      "throughput kept when every message is archived")
    w("- modules: each server's default set plus carbons, stream "
      "management and MAM, minus s2s:")
    for key, name in SERVERS:
        w("  - %s: %s" % (name, ", ".join(mods.get(key, [])) or "?"))
    w("- the no-TLS rows run against the same server restarted with TLS "
      "optional (Prosody `c2s_require_encryption = false`, ejabberd "
      "`starttls_required: false`, ternd `tls.c2s_require_tls: false`), "
      "still SCRAM-SHA-1")
    w("- users are written into each store before anything is measured "
      "(bench/compare/provision.py for Prosody and ejabberd, "
      "`ternctl import` for ternd); `idle` runs on a freshly started "
      "server each run")
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
      "erl_child_setup and its helpers)")
    w("")
    w("| case | tern-bench arguments |")
    w("|---|---|")
    for c, a in CASES:
        w("| %s | `%s` |" % (c, a))
    w("")
    w("## Results")
    w("")
    w("Ratio columns: **> 1 means Tern is better** (Tern/other for rates, "
      "other/Tern for CPU, memory and latency).")
    section = None
    for sec, label, case, key, hib, target in METRICS:
        if sec != section:
            section = sec
            w("")
            w("### %s" % sec)
            w("")
            w("| metric | Prosody | ejabberd | Tern | Tern target | "
              "Tern/Prosody | Tern/ejabberd |")
            w("|---|---|---|---|---|---|---|")
        cells = {s: metric_cell(runs, s, case, key) for s, _ in SERVERS}
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, cells["prosody"].text(), cells["ejabberd"].text(),
            cells["tern"].text(), target,
            ratio(cells["tern"], cells["prosody"], hib),
            ratio(cells["tern"], cells["ejabberd"], hib)))
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
    w("| case | Prosody | ejabberd | Tern |")
    w("|---|---|---|---|")
    for c, _ in CASES:
        row = []
        for s, _ in SERVERS:
            rs = [with_cpu_pct(r) for r in runs.get((s, c), [])]
            cell = Cell(rs, "bench_cpu_pct")
            t = cell.text()
            if cell.hi is not None and cell.hi > 50:
                t = "⚠ " + t
            row.append(t)
        w("| %s | %s |" % (c, " | ".join(row)))
    w("")
    # kept by hand beside this file: idle memory with make run's
    # configuration (bench/idle.sh), the HTTP numbers (bench/web.sh)
    for name in ("RESULTS-idle.md", "RESULTS-web.md"):
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
