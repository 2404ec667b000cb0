#!/usr/bin/python3
"""test_dbrestart.py - crosstalk-fcgi through a PostgreSQL restart, on a
stack of its own: reads recover at once (retried on a fresh connection),
posts recover within seconds, and a long-poll waiting across the restart
still wakes for a message posted after it (the listener reconnects)."""
import os
import subprocess
import sys
import threading
import time

SRC = os.environ["CT_SRC"]
BIN = os.environ["CT_BIN"]
STATE = os.path.join(BIN, "stack-http-dbrestart")
os.environ["CT_STATE"] = STATE
up = subprocess.run([os.path.join(SRC, "scripts/stack.sh"), "up", STATE, BIN])
if up.returncode != 0:
    print("stack did not come up")
    sys.exit(1)

try:
    import ct
    from ct import T, api
    ct.ENV.update(ct.load_env(STATE))
    from hx import new_session, post

    env = ct.ENV
    pgbin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
    pg_ctl = "/usr/lib/postgresql/%s/bin/pg_ctl" % pgbin
    ref, user = new_session()
    T.eq(post(ref, "general", "before").status, 201, "post before the restart")

    got = []

    def waiter():
        t0 = time.monotonic()
        r = api("GET", "messages/poll", query={"channel": "random", "after": 0, "wait": 20},
                timeout=40)
        got.append((r, time.monotonic() - t0))

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.5)
    # -l and no pipes: the new postmaster must not inherit our stdout
    cmd = [pg_ctl, "-D", env["PGDATA"], "-m", "fast", "-w", "-t", "30", "-l",
           os.path.join(env["PGHOST"], "pg.log"), "restart"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    rs = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL, timeout=60)
    T.eq(rs.returncode, 0, "PostgreSQL restarted")
    t_up = time.monotonic()

    r = api("GET", "channels")
    T.eq(r.status, 200, "first read after the restart succeeds (retried)")
    codes = []
    ok_at = None
    for i in range(50):
        c = post(ref, "random", "after %d" % i).status
        codes.append(c)
        if c == 201:
            ok_at = time.monotonic() - t_up
            break
        T.ok(c == 503, "a post before reconnecting is 503, never 500", str(c))
        time.sleep(0.1)
    T.ok(ok_at is not None and ok_at < 5, "posts work again within 5 s", str(codes))
    th.join(30)
    T.ok(got and got[0][0].status == 200 and len(got[0][0].json["messages"]) == 1,
         "a long-poll waiting across the restart got the later message",
         repr(got[0][0]) if got else "no reply")
    if got:
        print("long-poll across the restart returned after %.2f s; post ok %.2f s after "
              "the restart" % (got[0][1], ok_at or -1), flush=True)
finally:
    subprocess.run([os.path.join(SRC, "test/fixtures/stack-down.sh"), STATE, BIN])
T.done()
