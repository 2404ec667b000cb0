#!/usr/bin/python3
"""test_warm.py - crosstalk-fcgi makes its database connections at start,
each warmed up by one rolled-back group commit, instead of leaving each to
the first request that needs it: on a stack of its own, with no request but
the start's health check, every [http] workers connection is there within
seconds, the log says so, and posts then work on them."""
import os
import re

from ct import T, sql1, wait_until
from hx import new_channel, new_session, post

conf = open(os.path.join(os.environ["CT_STATE"], "crosstalk.conf")).read()
workers = int(re.search(r"^workers\s*=\s*(\d+)", conf, re.M).group(1))

COUNT = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'crosstalk-fcgi'"
n = wait_until(lambda: int(sql1(COUNT)) == workers and workers, timeout=20, step=0.2)
T.ok(n, "every [http] workers connection is made at start",
     "%s of %d" % (sql1(COUNT), workers))
log = open(os.path.join(os.environ["CT_STATE"], "fcgi.log")).read()
m = re.search(r'msg="database connections warmed up" connections=(\d+)', log)
T.ok(m and int(m.group(1)) >= workers - 1, "each is warmed up (the log says how many)",
     m.group(0) if m else "no such line")
# the warm-up's posts were rolled back: nothing of them stays
T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE app = 'crosstalk-warm-up'"), "0",
     "the warm-up left no message")
T.eq(sql1("SELECT count(*) FROM crosstalk.channels WHERE name LIKE 'dm:crosstalk-warm-up%'"), "0",
     "nor its channel")
# and the connections serve posts
ref, _ = new_session()
ch = new_channel()
for i in range(3):
    r = post(ref, ch, "after warm-up %d" % i)
    T.eq(r.status, 201, "a post on a warmed connection")
T.eq(int(sql1(COUNT)), workers, "still [http] workers connections, no more")
T.done()
