#!/usr/bin/python3
"""test_db_start.py - the database is unreachable when the daemons start.
Both crosstalk-fcgi and crosstalk-wsd must keep retrying with a growing
back-off ([database] startup_wait), log one clear line per attempt
(attempt=N, retry_in_ms, the error), stay alive, and come up by themselves
once PostgreSQL starts within the window. (test/sql/test_ctl.py checks the
exit when the window runs out.)"""
import os
import re
import time

import ct
import fx
from ct import T, api, session

DOWN_S = 4.0

stack = fx.Stack("db_start")
stack.up()
try:
    stack.stop("fcgi")
    stack.stop("wsd")
    T.eq(stack.pg_stop().returncode, 0, "PostgreSQL stopped")
    conf = stack.daemon_conf()
    logs = {"fcgi": os.path.join(stack.state, "fcgi-late.log"),
            "wsd": os.path.join(stack.state, "wsd-late.log")}
    t_start = time.time()
    procs = {
        "fcgi": stack.start("fcgi_late", [os.path.join(fx.BIN, "fcgi", "crosstalk-fcgi"),
                                          "--config", conf], logs["fcgi"]),
        "wsd": stack.start("wsd_late", [os.path.join(fx.BIN, "wsd", "crosstalk-wsd"),
                                        "--config", conf], logs["wsd"]),
    }
    time.sleep(DOWN_S)
    line_re = re.compile(r'msg="database unreachable, retrying" attempt=(\d+) '
                         r'retry_in_ms=(\d+) error="([^"]*)')
    for name, log in logs.items():
        T.eq(procs[name].poll(), None, "%s is still running while the database is down" % name)
        text = open(log, errors="replace").read()
        lines = [l for l in text.splitlines() if "database unreachable" in l]
        got = [line_re.search(l) for l in lines]
        T.ok(all(got), "%s: every retry line has attempt, retry_in_ms and error" % name,
             repr(lines[:3]))
        got = [m for m in got if m]
        attempts = [int(m.group(1)) for m in got]
        waits = [int(m.group(2)) for m in got]
        T.ok(len(attempts) >= 3, "%s: at least 3 attempts in %.0f s" % (name, DOWN_S),
             repr(attempts))
        T.eq(attempts, list(range(1, len(attempts) + 1)),
             "%s: one line per attempt, numbered 1..n" % name)
        T.ok(all(a <= b for a, b in zip(waits, waits[1:])) and len(waits) > 1 and
             waits[-1] > waits[0], "%s: the back-off grows" % name, repr(waits))
        T.ok(all(m.group(3) for m in got), "%s: each line says why" % name)
        print("%s retry lines: %d, back-off ms %s" % (name, len(attempts), waits), flush=True)
    fx.figure("db_start_retry", down_s=DOWN_S,
              fcgi_lines=len([l for l in open(logs["fcgi"]) if "unreachable" in l]),
              wsd_lines=len([l for l in open(logs["wsd"]) if "unreachable" in l]))

    t_db = time.time()
    T.eq(stack.pg_start().returncode, 0, "PostgreSQL started")
    up = {}
    end = time.time() + 20
    while time.time() < end and len(up) < 2:
        if "fcgi" not in up and fx.http_ok(ct.ENV["CROSSTALK_HTTP"] + "/health"):
            up["fcgi"] = time.time() - t_db
        if "wsd" not in up and fx.http_ok(ct.ENV["CROSSTALK_WSD"] + "/health"):
            up["wsd"] = time.time() - t_db
        time.sleep(0.1)
    T.ok("fcgi" in up, "crosstalk-fcgi came up once the database started")
    T.ok("wsd" in up, "crosstalk-wsd came up once the database started")
    for name in ("fcgi", "wsd"):
        T.eq(procs[name].poll(), None, "%s still running" % name)
    ref, _ = session()
    r = api("POST", "messages", session=ref, json_body={"channel": "general", "text": "late"})
    T.eq(r.status, 201, "a post works after the late start")
    fx.figure("db_start_up", fcgi_up_s="%.1f" % up.get("fcgi", -1),
              wsd_up_s="%.1f" % up.get("wsd", -1))
finally:
    stack.down()
T.done()
