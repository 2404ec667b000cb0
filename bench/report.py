#!/usr/bin/python3
"""report.py RESULTS_TXT OUT_DIR RESULTS_MD ELAPSED

Turns the tagged result lines of bench/run.sh into bench/RESULTS.md (and a
summary on stdout). Every figure, and every ratio, comes from the lines of
this one run; a figure a system did not produce is shown as "-"."""
import datetime
import os
import re
import statistics
import subprocess
import sys

res_txt, out_dir, md_path, elapsed = sys.argv[1:5]
params = dict(l.strip().split("=", 1) for l in open(os.path.join(out_dir, "params.txt")) if "=" in l)
P99 = float(params.get("p99_ms", "20"))
SYSTEMS = ["crosstalk", "crosstalk-ws", "crosstalk-defaults", "crosstalk-2nodes",
           "nchan-redis", "nchan", "node", "raw-once", "raw-coalesce"]
# systems whose whole stack is more than the server process (its store)
STACKED = [s for s in SYSTEMS if s.startswith("crosstalk")] + ["nchan-redis"]
LABEL = {
    "crosstalk": "crosstalk, HTTP publish (nginx, FastCGI)",
    "crosstalk-ws": "crosstalk, WebSocket publish",
    "crosstalk-defaults": "crosstalk, shipped defaults (HTTP publish)",
    "crosstalk-2nodes": "crosstalk, two daemon nodes (HTTP publish)",
    "nchan-redis": "nginx + nchan + Redis (durable: appendfsync always)",
    "nchan": "nginx + nchan (memory only)",
    "node": "Node.js + ws (memory only)",
    "raw-once": "raw epoll, one send per frame (memory only)",
    "raw-coalesce": "raw epoll, coalescing (memory only)",
}
SCEN = {"fan1k": "1 channel x 1,000 subscribers", "multi": "1,000 channels x 10 subscribers"}

rows = []
with open(res_txt) as f:
    for line in f:
        kv = dict(t.split("=", 1) for t in line.split() if "=" in t)
        if "sys" in kv and "scen" in kv:
            rows.append(kv)


def num(r, k):
    try:
        return float(r.get(k, ""))
    except (TypeError, ValueError):
        return None


def steps(sys_, scen, npub=None, mode="fanout"):
    return [r for r in rows if r["sys"] == sys_ and r["scen"] == scen and r.get("mode") == mode
            and (npub is None or r.get("npub") == str(npub))]


def best(sys_, scen):
    """(npub, the fastest sustained step) over the publisher sweep."""
    ok = [r for r in steps(sys_, scen) if r.get("sustained") == "1"]
    if not ok:
        return None, None
    r = max(ok, key=lambda r: (num(r, "rate"), num(r, "deliv_per_s")))
    return r.get("npub"), r


def pooled(sys_, scen, npub, rate):
    for r in rows:
        if (r["sys"] == sys_ and r["scen"] == scen and r.get("mode") == "pooled"
                and r.get("npub") == npub and abs((num(r, "rate") or 0) - rate) < 0.5):
            return r
    return None


def equal_rate(scen):
    first = params.get("rates_1k" if scen == "fan1k" else "rates_mc", "").split(",")[0]
    return float(first) if first else None


def at_equal(sys_, scen, npub):
    rate = equal_rate(scen)
    for r in steps(sys_, scen, npub):
        if num(r, "rate") == rate:
            return r
    return None


def syscalls_row(sys_, scen, npub):
    for r in rows:
        if (r["sys"] == sys_ and r["scen"] == scen and r.get("mode") == "syscalls"
                and r.get("npub") == npub):
            return r
    return None


def per1k(r, key):
    d = num(r, "delivered") if r else None
    v = num(r, key) if r else None
    return v / d * 1000 if d and v is not None else None


def per(r, key):
    d = num(r, "delivered") if r else None
    v = num(r, key) if r else None
    return v / d if d and v is not None else None


def fmt(v, kind="int"):
    if v is None:
        return "-"
    if kind == "int":
        return f"{v:,.0f}"
    if kind == "ms":
        return f"{v:.1f}" if v >= 10 else f"{v:.2f}"
    if kind == "x":
        return f"{v:.2f}x"
    return f"{v:.2f}"


def checks():
    """Every step's delivery checks, summed."""
    tot = {"delivered": 0, "lost": 0, "dups": 0, "ooo": 0, "wrong_chan": 0, "seq_gaps": 0,
           "seq_dups": 0}
    bad = []
    for r in rows:
        if r.get("mode") != "fanout":
            continue
        for k in tot:
            v = num(r, k)
            if v and v > 0:
                tot[k] += v
        if any((num(r, k) or 0) > 0 for k in ("lost", "dups", "ooo", "wrong_chan", "seq_gaps", "seq_dups")):
            bad.append(r)
    return tot, bad


def scenario_table(scen):
    hdr = ["system", "best publishers", f"highest rate at p99 <= {P99:.0f} ms (msg/s)",
           "deliveries/s", "pooled p99 / p99.9 (ms)", "each run's p99: min / median / max (ms)",
           f"CPU ms per 1,000 deliveries at {fmt(equal_rate(scen))} msg/s (server / whole stack)",
           "syscalls / bytes per delivery", "RSS after load (kB)", "kernel TCP memory (kB)"]
    out = []
    for s in SYSTEMS:
        npub, r = best(s, scen)
        if not steps(s, scen):
            continue
        if not r:
            out.append([LABEL[s], "-", "none sustained"] + ["-"] * (len(hdr) - 3))
            continue
        pl = pooled(s, scen, npub, num(r, "rate"))
        eq = at_equal(s, scen, npub)
        sc = syscalls_row(s, scen, npub)
        whole = per1k(eq, "stack_cpu_ms") if s in STACKED else None
        out.append([
            LABEL[s], npub, fmt(num(r, "rate")), fmt(num(r, "deliv_per_s")),
            f"{fmt(num(pl, 'p99_ms'), 'ms')} / {fmt(num(pl, 'p999_ms'), 'ms')}" if pl else
            f"{fmt(num(r, 'p99_ms'), 'ms')} / {fmt(num(r, 'p999_ms'), 'ms')} (1 run)",
            (f"{fmt(num(pl, 'rep_p99_min_ms'), 'ms')} / {fmt(num(pl, 'rep_p99_median_ms'), 'ms')}"
             f" / {fmt(num(pl, 'rep_p99_max_ms'), 'ms')}") if pl else "-",
            f"{fmt(per1k(eq, 'cpu_ms'), 'f')}" + (f" / {fmt(whole, 'f')}" if whole else ""),
            f"{fmt(per(sc, 'syscalls'), 'f')} / {fmt(per(sc, 'sub_bytes'))}",
            fmt(num(r, "rss_kb")), fmt(num(r, "sock_mem_kb")),
        ])
    return render(out, hdr)


def render(tbl, hdr):
    s = "| " + " | ".join(hdr) + " |\n|" + "---|" * len(hdr) + "\n"
    for row in tbl:
        s += "| " + " | ".join(str(c) for c in row) + " |\n"
    return s


def sweep_table(scen):
    """The highest sustained rate of each system at each publisher count."""
    npubs = sorted({int(r["npub"]) for r in rows if r.get("scen") == scen and r.get("mode") == "fanout"})
    hdr = ["system"] + [f"{n} publishers" for n in npubs]
    out = []
    for s in SYSTEMS:
        if not steps(s, scen):
            continue
        line = [LABEL[s]]
        for n in npubs:
            ok = [r for r in steps(s, scen, n) if r.get("sustained") == "1"]
            line.append(fmt(max(num(r, "rate") for r in ok)) if ok else
                        ("none" if steps(s, scen, n) else "-"))
        out.append(line)
    return render(out, hdr)


def ratio(scen, a, b="nchan"):
    _, ra = best(a, scen)
    _, rb = best(b, scen)
    if not ra or not rb or not num(rb, "deliv_per_s"):
        return None
    return num(ra, "deliv_per_s") / num(rb, "deliv_per_s")


def idle_table():
    hdr = ["system", "connections", "RSS per idle connection (bytes)"]
    out = []
    for s in SYSTEMS:
        for r in rows:
            if r["sys"] == s and r.get("scen") == "multi" and r.get("mode") == "idle":
                out.append([LABEL[s], fmt(num(r, "ready")), fmt(num(r, "per_conn_bytes"))])
                break
    return render(out, hdr)


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10).stdout.strip()
    except Exception:
        return ""


def readf(name):
    try:
        return open(os.path.join(out_dir, name)).read().strip()
    except OSError:
        return ""


def one(sys_, scen, mode):
    for r in rows:
        if r["sys"] == sys_ and r["scen"] == scen and r.get("mode") == mode:
            return r
    return None


versions = {
    "kernel": sh("uname -r"),
    "nginx": sh("nginx -v 2>&1 | sed 's/.*nginx\\///'"),
    "libnginx-mod-nchan": sh("dpkg-query -W -f='${Version}' libnginx-mod-nchan"),
    "Redis": sh("redis-server --version | sed 's/.* v=\\([^ ]*\\).*/\\1/'"),
    "node": sh("node --version"),
    "PostgreSQL": sh("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1 | xargs -I{} {}/postgres --version"),
    "libwebsockets": sh("pkg-config --modversion libwebsockets"),
}
cpu = sh("lscpu | sed -n 's/^Model name: *//p' | head -n 1")
tot, bad = checks()
now = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")

md = [f"""# crosstalk benchmarks

Generated by `make bench` (bench/run.sh, bench/report.py) on {now}; the run
took {int(elapsed)} s{" (quick mode)" if params.get("quick") == "1" else ""}. Every number and every ratio below comes from this run's own
measurements (bench/out/results.txt, reproduced at the end); figures vary
from run to run on this kind of machine, so compare within one run only.

## How it was measured
- Machine: {cpu}, {os.cpu_count()} cores; Linux {versions['kernel']}; everything over 127.0.0.1. Each
  server process on core 0, the load generator (ctbench, one thread, epoll) on core 1; crosstalk's
  nginx, crosstalk-fcgi and PostgreSQL float over both cores (they share core 1 with the generator).
- Same generator and the same checks for every system. Subscribers over WebSocket; publishes by HTTP
  POST over keep-alive connections (crosstalk also over WebSocket, "WebSocket publish"); 64-byte texts.
- **Every delivery is checked**, per subscriber: the text carries run, channel and a per-channel
  number, so a message on the wrong channel, a duplicate, and (1,000 channels: one publisher connection
  per channel) one out of publish order are counted; crosstalk's seq must grow by exactly 1. Lost =
  published to the channel minus distinct messages received: a duplicate cannot hide a loss.
  The checks are tested themselves (test `bench_checks`: against `ctbench-raw --fault dup|drop|swap|chan`,
  which gets every 50th message wrong, each kind must be counted and fail its step).
- **Open loop**: message i of a step is due at t0 + i/rate and stamped with that planned time, so the
  latency (delivery - planned send) includes any wait for a free publisher connection (no coordinated
  omission). The backlog of due messages is in the raw lines.
- A step (rate) is **sustained** when: >= 97 % of the planned messages were sent, no publish failed,
  nothing lost, duplicated or out of order, no connection closed, and p99 <= {P99:.0f} ms.
- Rates: the same ladder for every system ({SCEN['fan1k']}: {params.get('rates_1k')} msg/s;
  {SCEN['multi']}: {params.get('rates_mc')} msg/s), then 3 fine steps between each system's last
  sustained rate and its first failure; {params.get('step_s')} s per step. Publisher connections
  swept over {params.get('pubs')} for every system (raw servers: 64), each system reported at its best.
- At the best rate, {params.get('reps')} more runs: their latencies pooled (p99, p99.9), and each run's
  p99 (min / median / max).
- CPU per 1,000 deliveries is compared at an **equal rate**, the first rung of each ladder (every
  system runs it): utime+stime of the server process(es); for crosstalk "whole stack" adds
  crosstalk-fcgi, nginx and PostgreSQL, for nchan + Redis it adds Redis. Syscalls per delivery:
  every system call the server process(es) made during the warm-up at that same first rate
  (`perf stat -e raw_syscalls:sys_enter -p`; traced there, not in the measured steps, whose CPU
  figures tracing would raise), over its deliveries; bytes per delivery: what the subscribers'
  sockets received in it (frames with their WebSocket headers). RSS: the server process after the
  step; kernel TCP memory: /proc/net/sockstat, whole machine.
- crosstalk runs **durable**: PostgreSQL with `fsync=on`, `synchronous_commit=on` (every acknowledged
  message is on disk before anyone hears of it). So does the durable peer, nginx + nchan keeping its
  messages in a Redis of its own with `appendonly yes`, `appendfsync always`: Redis writes and fsyncs
  its append-only file before it sends the replies and pub/sub messages of that turn of its loop, so a
  publish is on disk before nchan acknowledges or delivers it (Redis floats over both cores, as
  PostgreSQL does). nchan alone, Node and the raw servers keep messages in memory only.
- crosstalk's best settings: `[limits] publish_count = 1000000` per second (the load uses 400 users),
  `[http] workers = 64`, `[wsd] unauth_per_addr` uncapped (the load comes from one address). The
  "shipped defaults" row uses the configuration as installed (8 FastCGI workers, 20 posts per 10 s per
  user: 4,000 publishing users, 64 unauthenticated sockets per address at most).

## Delivery checks over the whole run
{fmt(tot['delivered'])} deliveries checked: {fmt(tot['lost'])} lost, {fmt(tot['dups'])} duplicated,
{fmt(tot['ooo'])} out of order, {fmt(tot['wrong_chan'])} on a wrong channel, {fmt(tot['seq_gaps'])} seq gaps,
{fmt(tot['seq_dups'])} seqs repeated. {len(bad)} step(s) had any (each fails its step; they are the
rates past a system's limit).
"""]
for scen in ("multi", "fan1k"):
    md.append(f"## {SCEN[scen]}\n\n" + scenario_table(scen))
    for peer, name in (("nchan", "nginx+nchan"), ("nchan-redis", "the durable peer, nginx+nchan+Redis")):
        r1, r2, rd = (ratio(scen, s, peer) for s in ("crosstalk", "crosstalk-ws", "crosstalk-defaults"))
        if r1 or r2:
            md.append(f"\nSame-run ratios of sustained deliveries/s to {name}: crosstalk HTTP publish "
                      f"{fmt(r1, 'x')}, WebSocket publish {fmt(r2, 'x')}"
                      + (f", shipped defaults {fmt(rd, 'x')}" if rd else "") + ".\n")
    md.append("\nHighest sustained rate (msg/s) by publisher connections:\n\n" + sweep_table(scen))
md.append("## Memory per idle connection (10,000 connections, 1,000 channels, before the load)\n\n"
          + idle_table())

sl = one("crosstalk", "slow", "slow")
slf = one("crosstalk", "slow", "fanout")
if sl:
    md.append(
        f"## A subscriber that stops reading\n"
        f"1,000 subscribers of one channel at {fmt(num(sl, 'rate'))} msg/s for {params.get('slow_s', '30')} s; "
        f"one of them stops reading (a 4 KiB receive window). The other 999: p99 "
        f"{fmt(num(slf, 'p99_ms'), 'ms')} ms, p99.9 {fmt(num(slf, 'p999_ms'), 'ms')} ms, "
        f"{fmt(num(slf, 'lost'))} lost, sustained: {'yes' if slf and slf.get('sustained') == '1' else 'no'} "
        f"(compare the ladder's step at the same rate above). The stopped one closed with 4008: "
        f"{sl.get('closed_4008')} of {sl.get('slow')}; resumed from its last seq with every later event "
        f"in order: {sl.get('resumed')} of {sl.get('slow')} (seq gaps while resuming: "
        f"{sl.get('resume_seq_gaps')}). Not closed means what waited for it stayed within its bounds "
        f"(the kernel's send buffer, [wsd] sndbuf, plus queue_max / queue_bytes).\n")

wp = one("crosstalk", "wspub", "fanout")
lpc = one("crosstalk", "longpoll", "longpoll")
lpn = one("nchan", "longpoll", "longpoll")
extra = []
if wp:
    extra.append(f"- WebSocket publish, 64 publishers, 8 in flight each, 100 channels: "
                 f"{fmt(num(wp, 'pub_per_s'))} acknowledged (committed) publishes/s, ack p99 "
                 f"{fmt(num(wp, 'pub_p99_ms'), 'ms')} ms.")
hp = one("crosstalk", "httppub", "fanout")
if hp:
    p10 = next((r for r in rows if r["sys"] == "postgres" and r["scen"] == "pgbench-post10"), None)
    extra.append(f"- HTTP publish (nginx, crosstalk-fcgi), 128 keep-alive connections, 100 channels, each post "
                 f"answered once committed: {fmt(num(hp, 'pub_per_s'))} posts/s, p99 "
                 f"{fmt(num(hp, 'pub_p99_ms'), 'ms')} ms"
                 + (f"; the database alone, post_message() 10 per transaction over 100 channels: "
                    f"{fmt(num(p10, 'tps') * 10 if num(p10, 'tps') else None)}/s (below)." if p10 else "."))
hk0 = one("crosstalk", "chook-none", "fanout")
hk1 = one("crosstalk", "chook-on", "fanout")
if hk0 and hk1:
    extra.append(f"- A channel hook on every channel (a local nginx answering `{{\"allow\":true}}`), WebSocket "
                 f"publishes at {fmt(num(hk1, 'rate'))} msg/s over 100 channels, one subscriber each: publish to "
                 f"delivery p50 / p99 {fmt(num(hk0, 'p50_ms'), 'ms')} / {fmt(num(hk0, 'p99_ms'), 'ms')} ms without "
                 f"the hook, {fmt(num(hk1, 'p50_ms'), 'ms')} / {fmt(num(hk1, 'p99_ms'), 'ms')} ms with it; ack "
                 f"p50 / p99 {fmt(num(hk0, 'pub_p50_ms'), 'ms')} / {fmt(num(hk0, 'pub_p99_ms'), 'ms')} ms and "
                 f"{fmt(num(hk1, 'pub_p50_ms'), 'ms')} / {fmt(num(hk1, 'pub_p99_ms'), 'ms')} ms; lost "
                 f"{fmt(num(hk1, 'lost'))}, sustained: {'yes' if hk1.get('sustained') == '1' else 'no'}.")


def lp_runs(sys_):
    return [r for r in rows if r["sys"] == sys_ and r["scen"] == "longpoll" and r.get("mode") == "longpoll"]


def mmm(vals):
    """min / median / max of the values that are there"""
    v = sorted(x for x in vals if x is not None and x >= 0)
    if not v:
        return "-"
    return f"{fmt(v[0], 'ms')} / {fmt(v[len(v) // 2], 'ms')} / {fmt(v[-1], 'ms')}"


if lpc:
    lc, ln, lr = lp_runs("crosstalk"), lp_runs("nchan"), lp_runs("nchan-redis")
    ok = all(num(r, "ok") == num(r, "polls") for r in lc + ln + lr)
    extra.append(
        f"- 500 waiting long-polls (published to once the server counts all 500 waiting), one post, "
        f"{len(lc)} runs: all answered in {mmm([num(r, 'all_ms') for r in lc])} ms (min / median / max) "
        f"after the post was sent; the post itself was acknowledged (committed, on disk) after "
        f"{mmm([num(r, 'post_ms') for r in lc])} ms. nginx+nchan ({len(ln)} runs, memory only): "
        f"{mmm([num(r, 'all_ms') for r in ln])} ms"
        + (f"; nginx+nchan+Redis ({len(lr)} runs, durable): {mmm([num(r, 'all_ms') for r in lr])} ms, "
           f"the post acknowledged after {mmm([num(r, 'post_ms') for r in lr])} ms" if lr else "")
        + ". Every poll answered 200 with the message: "
        f"{'yes' if ok else 'no'}.")
if extra:
    md.append("## Other figures\n" + "\n".join(extra) + "\n")

sr = [r for r in rows if r["sys"] == "crosstalk" and r.get("mode") == "search"]
sl_load = one("crosstalk", "search-load", "load")
sw = one("crosstalk", "search-write", "write")
if sr:
    tb = [[r.get("words"), r.get("clients"), fmt(num(r, "queries")), fmt(num(r, "qps")),
           fmt(num(r, "p50_ms"), "ms"), fmt(num(r, "p99_ms"), "ms"), fmt(num(r, "max_ms"), "ms")] for r in sr]
    md.append(f"## Search ({fmt(num(sl_load, 'messages'))} stored messages)\n\n"
              "crosstalk.search_messages (what GET messages/search and the WebSocket `search` run) with "
              "one or two words drawn from a 5,000-word vocabulary whose few common words are in most "
              "messages (as in chat), for a user of app1, 20 results with highlights per query; 8 s per "
              "row through pgbench (one query per transaction).\n\n"
              + render(tb, ["words", "clients", "queries", "queries/s", "p50 (ms)", "p99 (ms)", "max (ms)"]))
    if sw:
        a, b = num(sw, "tps_index"), num(sw, "tps_noindex")
        md.append(f"\nWhat the search index costs the write path (api_post_batch, 64 posts over 1,000 channels "
                  f"per transaction, 16 clients): {fmt(a * 64 if a else None)} posts/s with it, "
                  f"{fmt(b * 64 if b else None)} without it"
                  + (f" ({(1 - a / b) * 100:.0f} % less)" if a and b else "") + ".\n")

pg = [r for r in rows if r["sys"] == "postgres"]
if pg:
    names = {
        "post1": "post_message(), 1 per transaction, 1 channel",
        "post1-spread": "post_message(), 1 per transaction, 100 channels",
        "post10": "post_message(), 10 per transaction, 1 of 100 channels",
        "batch10-1": "api_post_batch, 10 posts per transaction, 1 channel",
        "batch10-1000": "api_post_batch, 10 posts per transaction, 1,000 channels",
        "batch64-1": "api_post_batch, 64 posts per transaction, 1 channel",
        "batch64-1000": "api_post_batch, 64 posts per transaction, 1,000 channels",
        "insert": "a plain INSERT per transaction (the floor)",
        "insert-notify": "INSERT + NOTIFY per transaction",
    }
    tb = []
    for r in pg:
        s = r["scen"].replace("pgbench-", "")
        per_tx = 10 if s.startswith("batch10") or s == "post10" else 64 if s.startswith("batch64") else 1
        tps = num(r, "tps")
        tb.append([names.get(s, s), fmt(tps), fmt(tps * per_tx if tps else None)])
    md.append("## The database alone (pgbench, 16 clients, fsync on)\n\n"
              + render(tb, ["what", "transactions/s", "messages/s"]))
fs = readf("pg_test_fsync.txt")
if fs:
    md.append("## This disk's flush (pg_test_fsync)\n```\n" + fs + "\n```\n")
pt = readf("perf-top.txt")
if pt:
    md.append("## Where crosstalk-wsd's time goes (perf, 1,000 subscribers, 200 msg/s)\n```\n" + pt + "\n```\n")

md.append("## Versions\n" + "\n".join(f"- {k}: {v}" for k, v in versions.items()) + "\n")
md.append("## Load on the machine (start, end)\n```\n" + readf("load.txt") + "\n```\n")
md.append("## Raw results\n```\n" + open(res_txt).read().strip() + "\n```\n")
open(md_path, "w").write("\n".join(md))

# stdout: the headline
for scen in ("multi", "fan1k"):
    for s in SYSTEMS:
        npub, r = best(s, scen)
        if r:
            print(f"{scen:6} {s:20} {fmt(num(r, 'rate')):>8} msg/s  {fmt(num(r, 'deliv_per_s')):>10} deliveries/s"
                  f"  p99 {fmt(num(r, 'p99_ms'), 'ms')} ms  ({npub} publishers)")
print(f"checked {fmt(tot['delivered'])} deliveries: {fmt(tot['lost'])} lost, {fmt(tot['dups'])} duplicated, "
      f"{fmt(tot['ooo'])} out of order")
