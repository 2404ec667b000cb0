#!/usr/bin/python3
"""report.py RESULTS_TXT OUT_DIR RESULTS_MD ELAPSED STEP_S IDLE_N

Turns the tagged result lines of bench/run.sh into one table (stdout) and
bench/RESULTS.md. Every figure comes from the lines of this run; a figure a
system did not produce is shown as "-"."""
import datetime
import os
import platform
import re
import subprocess
import sys

res_txt, out_dir, md_path, elapsed, step_s, idle_n = sys.argv[1:7]
SYSTEMS = ["crosstalk", "nchan", "node", "raw-once", "raw-coalesce"]
PEERS = SYSTEMS[1:]

rows = []
with open(res_txt) as f:
    for line in f:
        kv = dict(t.split("=", 1) for t in line.split() if "=" in t)
        if "sys" in kv and "scen" in kv:
            rows.append(kv)


def steps(sys_, scen):
    return [r for r in rows if r["sys"] == sys_ and r["scen"] == scen
            and r.get("mode") != "idle"]


def idle(sys_, key):
    for r in rows:
        if r["sys"] == sys_ and r.get("mode") == "idle":
            return num(r, key)
    return None


def num(r, k):
    try:
        return float(r.get(k, ""))
    except ValueError:
        return None


def best_sustained(sys_, scen):
    ok = [r for r in steps(sys_, scen) if r.get("sustained") == "1"]
    return max(ok, key=lambda r: num(r, "deliv_per_s")) if ok else None


def cpu_per_1k(sys_, scen, key="cpu_ms"):
    st = steps(sys_, scen)
    d = sum(num(r, "delivered") or 0 for r in st)
    c = sum(num(r, key) or 0 for r in st)
    return c / d * 1000 if d and c else None


def cpu_per_pub(sys_, scen, key="cpu_ms"):
    st = steps(sys_, scen)
    p = sum(num(r, "pub_ok") or 0 for r in st)
    c = sum(num(r, key) or 0 for r in st)
    return c / p if p and c else None


def at_rate_all(sys_, scen, rate, key):
    return sorted(v for v in (num(r, key) for r in steps(sys_, scen)
                              if num(r, "rate") == rate) if v is not None)


def at_rate(sys_, scen, rate, key):
    """The median over every step run at this rate (the 100 msg/s step is
    repeated: one step's p99 swings with any hiccup of a shared machine)."""
    v = at_rate_all(sys_, scen, rate, key)
    return v[len(v) // 2] if v else None


def one(sys_, scen, key):
    st = steps(sys_, scen)
    return num(st[-1], key) if st else None


def fmt(v, kind):
    if v is None:
        return "-"
    if kind in ("int", "count"):
        return f"{v:,.0f}"
    if kind == "ms":
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    if kind == "cpu":
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    return str(v)


def peak(sys_, scen):
    v = [num(r, "deliv_per_s") for r in steps(sys_, scen)]
    v = [x for x in v if x]
    return max(v) if v else None


def bs(sys_, scen, key):
    r = best_sustained(sys_, scen)
    return num(r, key) if r else None


# (label, kind, better, function(system) -> value)
FIGS = [
    ("fan-out 1x1,000: highest sustained deliveries/s", "int", "high",
     lambda s: bs(s, "fan1k", "deliv_per_s")),
    ("  p99 publish->delivery at that rate (ms)", "ms", "low",
     lambda s: bs(s, "fan1k", "p99_ms")),
    ("  peak deliveries/s in any step (lagging or not)", "int", "high",
     lambda s: peak(s, "fan1k")),
    ("  p99 at 100 msg/s = 100k deliveries/s (ms, median of the steps)", "ms", "low",
     lambda s: at_rate(s, "fan1k", 100, "p99_ms")),
    ("  server CPU ms per 1,000 deliveries", "cpu", "low",
     lambda s: cpu_per_1k(s, "fan1k")),
    ("  server CPU ms per publish", "cpu", "low",
     lambda s: cpu_per_pub(s, "fan1k")),
    ("  whole-stack CPU ms per publish", "cpu", "low",
     lambda s: cpu_per_pub(s, "fan1k", "stack_cpu_ms")),
    ("fan-out 1x5,000: highest sustained deliveries/s", "int", "high",
     lambda s: bs(s, "fan5k", "deliv_per_s")),
    ("  p99 at that rate (ms)", "ms", "low",
     lambda s: bs(s, "fan5k", "p99_ms")),
    ("  peak deliveries/s in any step", "int", "high",
     lambda s: peak(s, "fan5k")),
    ("  server CPU ms per 1,000 deliveries", "cpu", "low",
     lambda s: cpu_per_1k(s, "fan5k")),
    ("1,000 channels x 10: highest sustained deliveries/s", "int", "high",
     lambda s: bs(s, "multi", "deliv_per_s")),
    ("  p99 at that rate (ms)", "ms", "low",
     lambda s: bs(s, "multi", "p99_ms")),
    ("  peak deliveries/s in any step", "int", "high",
     lambda s: peak(s, "multi")),
    ("  server CPU ms per 1,000 deliveries", "cpu", "low",
     lambda s: cpu_per_1k(s, "multi")),
    (f"RSS per idle connection at {int(idle_n):,} (bytes)", "int", "low",
     lambda s: idle(s, "per_conn_bytes")),
    ("  connections held", "count", "high",
     lambda s: idle(s, "ready")),
    ("long-poll: 500 waiting polls, one post -> all answered (ms)", "ms",
     "low", lambda s: one(s, "longpoll", "all_ms")),
    ("WebSocket publish, 64 publishers: acks/s", "int", "high",
     lambda s: one(s, "wspub", "pub_per_s")),
    ("  ack p99 (ms)", "ms", "low", lambda s: one(s, "wspub", "pub_p99_ms")),
]

header = ["figure"] + SYSTEMS + [f"ct/{p}" for p in PEERS]
table = []
for label, kind, better, fn in FIGS:
    vals = {s: fn(s) for s in SYSTEMS}
    line = [label] + [fmt(vals[s], kind) for s in SYSTEMS]
    for p in PEERS:
        a, b = vals["crosstalk"], vals[p]
        line.append(f"{a / b:.2f}" if a is not None and b and kind != "count"
                    else "-")
    table.append(line)


def pg(scen, key):
    for r in rows:
        if r["sys"] in ("postgres", "crosstalk") and r["scen"] == scen:
            try:
                return float(r.get(key, ""))
            except ValueError:
                return None
    return None


db_rows = [
    ("HTTP POST messages via nginx->fcgi->PG, 1 channel (wrk -c16), req/s",
     pg("wrk1", "rps")),
    ("HTTP POST messages, spread over 100 channels, req/s", pg("wrk100", "rps")),
    ("pgbench post_message(), 1/tx, 1 channel (-c16), tx/s",
     pg("pgbench-post1", "tps")),
    ("pgbench post_message(), 1/tx, 100 channels, tx/s",
     pg("pgbench-post1-spread", "tps")),
    ("pgbench post_message() x10 per tx, 100 channels, messages/s",
     (pg("pgbench-post10", "tps") or 0) * 10 or None),
    ("pgbench plain INSERT, tx/s", pg("pgbench-insert", "tps")),
    ("pgbench INSERT + NOTIFY, tx/s", pg("pgbench-insert-notify", "tps")),
]
wrk_non2xx = {n: pg(f"wrk{n}", "non2xx") for n in (1, 100)}


def render(tbl, hdr):
    w = [max(len(str(r[i])) for r in tbl + [hdr]) for i in range(len(hdr))]
    out = ["| " + " | ".join(h.ljust(w[i]) for i, h in enumerate(hdr)) + " |",
           "|" + "|".join("-" * (x + 2) for x in w) + "|"]
    for r in tbl:
        out.append("| " + " | ".join(
            (str(c).ljust(w[i]) if i == 0 else str(c).rjust(w[i]))
            for i, c in enumerate(r)) + " |")
    return "\n".join(out)


main_table = render(table, header)
db_table = render([[l, fmt(v, "int")] for l, v in db_rows],
                  ["durable publish (fsync on, synchronous_commit on)", "rate"])
print(main_table)
print()
print(db_table)


# ---- RESULTS.md ---------------------------------------------------------
def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True,
                              timeout=10).stdout.strip() + \
            subprocess.run(cmd, shell=True, capture_output=True, text=True,
                           timeout=10).stderr.strip()
    except Exception:
        return "?"


def readf(name):
    p = os.path.join(out_dir, name)
    return open(p).read().strip() if os.path.exists(p) else ""


cpu = sh("lscpu | sed -n 's/^Model name: *//p' | head -n 1")
versions = {
    "kernel": platform.release(),
    "nginx": sh("nginx -v 2>&1 | sed 's/.*nginx\\///'"),
    "libnginx-mod-nchan": sh("dpkg-query -W -f='${Version}' libnginx-mod-nchan"),
    "node": sh("node --version"),
    "ws (npm)": sh("node -p \"require('" +
                   os.path.dirname(os.path.abspath(md_path)) +
                   "/node/node_modules/ws/package.json').version\""),
    "PostgreSQL": sh("/usr/lib/postgresql/15/bin/postgres --version"),
    "libwebsockets": sh("pkg-config --modversion libwebsockets"),
    "wrk": sh("dpkg-query -W -f='${Version}' wrk"),
    "pgbench": sh("pgbench --version"),
}

params = dict(line.split("=", 1) for line in readf("params.txt").splitlines()
              if "=" in line)


def rates(name):
    v = [int(x) for x in params.get(name, "").split(",") if x.strip()]
    return f"{min(v):,}..{max(v):,}" if v else "?"


targets = []
fan1k = best_sustained("crosstalk", "fan1k")
nchan1k = best_sustained("nchan", "fan1k")


def tline(name, have, verdict):
    targets.append(f"| {name} | {have} | {verdict} |")


v = num(fan1k, "deliv_per_s") if fan1k else None
tline("fan-out at 1,000 subscribers >= 1,000,000 deliveries/s, durable",
      fmt(v, "int") + (f" (nchan {fmt(num(nchan1k, 'deliv_per_s'), 'int')})"
                       if nchan1k else ""),
      "no data" if v is None else ("met" if v >= 1e6 else "not met"))
a, b = cpu_per_1k("crosstalk", "fan1k"), cpu_per_1k("nchan", "fan1k")
ma, mb = cpu_per_1k("crosstalk", "multi"), cpu_per_1k("nchan", "multi")
tline("server CPU per 1,000 deliveries below nchan's",
      f"1x1,000: {fmt(a, 'cpu')} ms vs nchan {fmt(b, 'cpu')} ms; "
      f"1,000x10: {fmt(ma, 'cpu')} vs {fmt(mb, 'cpu')} ms",
      "no data" if a is None or b is None else
      ("met at 1 channel" if a < b else "not met at 1 channel") +
      ("" if ma is None or mb is None else
       ("; met at 1,000 channels" if ma < mb else "; not met at 1,000 channels")))
p = at_rate("crosstalk", "fan1k", 100, "p99_ms")
pall = at_rate_all("crosstalk", "fan1k", 100, "p99_ms")
tline("p99 publish->delivery at 1,000 x 100 msg/s, commit included <= 15 ms",
      f"{fmt(p, 'ms')} ms (median of {len(pall)} steps; "
      f"{sum(1 for v in pall if v <= 15)} of {len(pall)} <= 15 ms; "
      f"range {fmt(pall[0] if pall else None, 'ms')}-"
      f"{fmt(pall[-1] if pall else None, 'ms')})",
      "no data" if p is None else ("met" if p <= 15 else "not met"))
w1, pb1 = pg("wrk1", "rps"), pg("pgbench-post1", "tps")
w100, pb100 = pg("wrk100", "rps"), pg("pgbench-post1-spread", "tps")
tline("HTTP durable publish >= pgbench's post_message() 1/tx",
      f"1 channel {fmt(w1, 'int')} vs {fmt(pb1, 'int')}; 100 channels "
      f"{fmt(w100, 'int')} vs {fmt(pb100, 'int')} /s",
      "no data" if not (w1 and pb1) else
      ("met" if w1 >= pb1 and (not w100 or not pb100 or w100 >= pb100)
       else f"{w1 / pb1:.0%} / " + (f"{w100 / pb100:.0%}" if w100 and pb100
                                    else "-") + " of pgbench"))
r = idle("crosstalk", "per_conn_bytes")
tline(f"<= 4 KiB RSS per idle authenticated connection at {int(idle_n):,}",
      f"{fmt(r, 'int')} B ({fmt(idle('crosstalk', 'ready'), 'int')} held)",
      "no data" if r is None else ("met" if r <= 4096 else "not met"))

analysis = ""
ap = os.path.join(os.path.dirname(md_path), "ANALYSIS.md")
if os.path.exists(ap):
    analysis = open(ap).read().strip()

raw_lines = readf("results.txt")
md = f"""# crosstalk benchmarks

Generated by `make bench` (bench/run.sh, bench/report.py) on
{datetime.datetime.utcnow().strftime('%Y-%m-%d %H:%M UTC')}; the runs took
{elapsed} s. Every number below comes from this run's own measurements
(bench/out/results.txt, reproduced at the end); figures vary about ±30 %
from run to run on this kind of machine.

## Machine
- {cpu}, {os.cpu_count()} cores, {sh("free -g | awk '/^Mem/ {{print $2}}'")} GiB RAM,
  Linux {versions['kernel']}; everything over 127.0.0.1.
- Pinning: each server process on core 0 (`taskset`), the load generator
  (ctbench, wrk) on core 1. For crosstalk only crosstalk-wsd is pinned;
  nginx, crosstalk-fcgi and PostgreSQL float over both cores, so on this
  2-core machine they share core 1 with the load generator.
- The machine was shared: other builds and test runs may have been going on
  during the run. Load at the start and at the end of the run:
```
{readf("load.txt")}
```

## Versions
""" + "\n".join(f"- {k}: {v}" for k, v in versions.items()) + f"""

## Settings
- Same generator for every system: ctbench (bench/ctbench.c), epoll, one
  thread; subscribers over WebSocket, publishes by HTTP POST over
  {params.get("pub_conns", "?")} keep-alive connections, text "ctb RUN IDX
  SEND_NS" padded to 64 bytes; latency = delivery time - send time stamped
  in the text (same clock, same process).
- Publish rate stepped up ({step_s} s per step, up to 2 s to drain) until a
  step is not sustained: sustained = >= 97 % of planned publishes sent, no
  failed publish, loss <= 0.1 %, p99 <= 500 ms, no connection closed.
  Rates: 1x1,000: {rates("rates_1k")} msg/s (the 100 msg/s step five
  times over: its p99 is the median of them); 1x5,000: {rates("rates_5k")}
  msg/s; 1,000x10: {rates("rates_mc")} msg/s spread round-robin over the
  channels.
- CPU: utime+stime of the server's own process(es) from /proc/PID/stat,
  summed over all steps of a scenario, divided by deliveries (or
  publishes). "whole stack" for crosstalk adds crosstalk-fcgi, nginx and all
  PostgreSQL processes.
- RSS per idle connection: VmRSS of the server process after N connections
  are authenticated and subscribed, minus before, divided by N (process
  memory only; the kernel's socket buffers are not included).
- crosstalk: scripts/stack.sh with PostgreSQL options
  `-c fsync=on -c synchronous_commit=on` (so every acknowledged message is
  on disk), {params.get("http_workers", "?")} FastCGI worker threads,
  `[limits] publish_count = 1000000`,
  `publish_window = 1`, `ticket_ttl = 3600`, `idle_timeout = 600`,
  `auth_timeout = 60` (512 handshakes in flight queue behind one another in
  the daemon), `[http] max_waiters = 600`. HTTP publishes go round-robin
  over 100 users' sessions. Subscribers authenticate with tickets minted in bulk in
  SQL (bench/tickets.c, the same sealing as the API).
- nchan: bench/nchan.conf.in (1 worker, 256 MB shared memory, 32 messages
  kept per channel, subscribers start at the newest message). Node:
  bench/node/server.js (ws, perMessageDeflate off). raw: bench/rawsrv.c.

### PostgreSQL settings used
```
{readf("pg-settings.txt") or "(crosstalk was not run)"}
```
Safe in production: `fsync=on`, `synchronous_commit=on`, `full_page_writes=on`
are the durable defaults. The stack's other choices (trust authentication,
`--no-sync` initdb, a throwaway cluster) are for tests only. Not used here,
and only acceptable where losing the last few hundred milliseconds of
acknowledged messages on a crash is acceptable: `synchronous_commit=off`
(7-10k commits/s here) or `fsync=off` (never in production: corruption).
`commit_delay` (group commit) is safe; it trades latency for throughput.

## Results (figure x system; ct/peer = crosstalk divided by the peer)
{main_table}

## Durable publish throughput
{db_table}

wrk non-2xx answers: 1 channel {fmt(wrk_non2xx[1], 'int')}, 100 channels
{fmt(wrk_non2xx[100], 'int')}.

## Targets (issue 6)
| target | this run | verdict |
|---|---|---|
""" + "\n".join(targets) + f"""

{analysis}

## Profile of crosstalk-wsd during fan-out (1,000 subscribers)
perf stat:
```
{readf("perf-stat.txt") or "(not run)"}
```
Hottest symbols (perf record -g, cpu-clock samples, self time):
```
{readf("perf-top.txt") or "(not run)"}
```
By shared object:
```
{readf("perf-dso.txt") or "(not run)"}
```
Including callees (>= 5 %):
```
{readf("perf-children.txt") or "(not run)"}
```
With 10,000 connections, publishes spread over 1,000 channels (first step of
that scenario), hottest symbols:
```
{readf("perf-multi-top.txt") or "(not run)"}
```
The profiled run itself (1,000 subscribers):
```
{readf("profile-run.txt") or "(not run)"}
```

## Raw result lines
```
{raw_lines}
```
"""
with open(md_path, "w") as f:
    f.write(md)
print(f"\nwrote {md_path}", file=sys.stderr)
