#!/usr/bin/python3
"""test_lsan.py - LeakSanitizer really runs inside both daemons here (ASan
builds only; elsewhere it exits 77 = skipped). Containers can stop LSan
(it needs ptrace to stop the world): this proves it works, then the
stack_down fixture's "no leak report at exit" means something.
1. Traffic through both daemons, SIGTERM: each exits by itself (logs
   msg="stopped") with no LeakSanitizer report.
2. Each daemon again with a preloaded library that leaks 4242 bytes on
   purpose: LeakSanitizer must report exactly that leak at exit."""
import asyncio
import os
import re
import signal
import subprocess
import sys
import time

import ct
import fx
from ct import T, api, session

cache = open(os.path.join(fx.BIN, "CMakeCache.txt")).read()
if not re.search(r"^CT_SANITIZE:STRING=.*address", cache, re.M):
    print("not an ASan build: skipped")
    sys.exit(77)

so = os.path.join(fx.BIN, "fault-state", "leak4242.so")
os.makedirs(os.path.dirname(so), exist_ok=True)
src = so[:-3] + ".c"
with open(src, "w") as f:
    f.write("#include <stdlib.h>\n#include <string.h>\n"
            "static void __attribute__((constructor)) leak4242(void)\n"
            "{ char *p = malloc(4242); if (p) memset(p, 1, 4242); p = NULL; }\n")
subprocess.run(["cc", "-shared", "-fPIC", "-O0", "-o", so, src], check=True)

stack = fx.Stack("lsan")
stack.up()
try:
    ref, _ = session()
    T.eq(api("POST", "messages", session=ref, json_body={"channel": "general", "text": "x"}).status,
         201, "a post through crosstalk-fcgi")

    async def ws_round():
        ws, user, welcome, _ = await ct.ws_login()
        await ct.ws_send(ws, type="subscribe", channel="general", after="0")
        await ct.ws_until(ws, lambda e: e.get("type") == "subscribed", 5)
        await ct.ws_send(ws, type="publish", channel="general", text="y", client_id="lsan")
        await ct.ws_until(ws, lambda e: e.get("type") == "ack", 5)
        await ws.close()
    asyncio.run(ws_round())
    logs = {"fcgi": os.path.join(stack.state, "fcgi.log"),
            "wsd": os.path.join(stack.state, "wsd.log")}
    for name in ("fcgi", "wsd"):
        pid = stack.pid(name)
        os.kill(pid, signal.SIGTERM)
        T.ok(fx.wait_dead(pid, 20), "%s exits by itself on SIGTERM" % name)
        text = open(logs[name], errors="replace").read()
        T.ok(re.search(r'msg="stopped"', text), "%s logged its last line" % name)
        T.ok("LeakSanitizer" not in text, "%s: no leak report at exit" % name,
             text[text.find("LeakSanitizer"):][:400])

    # the same daemons with a planted leak: the check must see it
    env = dict(os.environ, LD_PRELOAD=so,
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "detect_leaks=1") +
               ":verify_asan_link_order=0")
    conf = stack.daemon_conf()
    for name, exe in (("fcgi", "fcgi/crosstalk-fcgi"), ("wsd", "wsd/crosstalk-wsd")):
        log = os.path.join(stack.state, name + "-planted.log")
        lf = open(log, "wb")
        p = subprocess.Popen([os.path.join(fx.BIN, exe), "--config", conf], env=env,
                             stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)
        lf.close()
        with open(os.path.join(stack.state, "pids"), "a") as f:
            f.write("%s_planted %d\n" % (name, p.pid))
        url = ct.ENV["CROSSTALK_HTTP"] + "/health" if name == "fcgi" else \
            ct.ENV["CROSSTALK_WSD"] + "/health"
        T.ok(ct.wait_until(lambda: fx.http_ok(url), 20), "%s with the planted leak runs" % name)
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        text = open(log, errors="replace").read()
        T.ok("ERROR: LeakSanitizer: detected memory leaks" in text and
             "4242 byte(s) leaked in 1 allocation(s)" in text,
             "%s: LeakSanitizer reports the planted 4242-byte leak" % name, text[-600:])
        T.ok(rc != 0, "%s: exit status non-zero with a leak" % name, str(rc))
        print("FIGURE lsan_planted daemon=%s reported=%d exit=%d" % (
            name, "4242 byte(s) leaked" in text, rc), flush=True)
finally:
    stack.down()
T.done()
