#!/usr/bin/python3
"""test_fcgi_kill.py - crosstalk-fcgi killed mid-request.
1. A long-poll is waiting inside crosstalk-fcgi when it is killed -9: the
   poll fails cleanly at nginx (503 + the API's JSON error, Retry-After),
   not a hang, not HTML.
2. A post reaches a frozen (SIGSTOP) crosstalk-fcgi, which is then killed:
   the post fails the same way and nothing of it is stored.
3. With crosstalk-fcgi down, requests get the JSON 503 at once.
4. A new crosstalk-fcgi starts: the next request succeeds; the failed post
   retried with the same client_id is stored exactly once; the channel's
   seqs stay gapless."""
import json
import os
import signal
import threading
import time

import ct
import fx
from ct import T, api, session


def json_error(r, status, code, what):
    T.eq(r.status, status, what + ": status")
    T.ok(r.json is not None and r.json.get("ok") is False and
         (r.json.get("error") or {}).get("code") == code,
         what + ": JSON error body with code " + code, repr(r))
    ctype = {k.lower(): v for k, v in r.headers.items()}.get("content-type", "")
    T.ok(ctype.startswith("application/json"), what + ": JSON content type", ctype)


stack = fx.Stack("fcgi_kill")
stack.up()
try:
    ref, user = session()
    chan = "fcgikill"
    T.eq(api("POST", "channels/create", form={"name": chan}).status, 200, "channel created")
    r = api("POST", "messages", session=ref, json_body={"channel": chan, "text": "one",
                                                         "client_id": "k-1"})
    T.eq(r.status, 201, "a first post")

    def snapshot():
        return ct.sql("SELECT (SELECT last_seq FROM crosstalk.channels WHERE name = :'v1'),"
                      " (SELECT count(*) FROM crosstalk.messages WHERE channel = :'v1'),"
                      " (SELECT count(*) FROM crosstalk.messages)", chan)[0]

    # 1. a long-poll in flight when crosstalk-fcgi dies
    box = {}

    def poll():
        t0 = time.time()
        box["r"] = api("GET", "messages/poll", session=ref, timeout=40,
                       query={"channel": chan, "after": 1, "wait": 20})
        box["t"] = time.time() - t0

    th = threading.Thread(target=poll)
    th.start()
    fcgi = stack.pid("fcgi")
    # wait until the poll is parked inside crosstalk-fcgi (health counts it)
    waiting = ct.wait_until(lambda: (api("GET", "health", key="").json or {}).get(
        "waiting_polls", 0) >= 1, timeout=5)
    if not waiting:
        time.sleep(1.0)  # an older responder without the count: give it time
    os.kill(fcgi, signal.SIGKILL)
    T.ok(fx.wait_dead(fcgi), "crosstalk-fcgi is dead")
    th.join(30)
    T.ok("r" in box, "the long-poll returned")
    lp_status = box["r"].status if "r" in box else None
    if "r" in box:
        json_error(box["r"], 503, "unavailable", "long-poll cut by the kill")
        T.ok(box["t"] < 19, "the poll failed at once, not after its wait", "%.1fs" % box["t"])
        T.ok("retry-after" in {k.lower() for k in box["r"].headers}, "Retry-After on the 503")

    # 3. while crosstalk-fcgi is down
    before = snapshot()
    r = api("POST", "messages", session=ref,
            json_body={"channel": chan, "text": "while down", "client_id": "k-down"})
    json_error(r, 503, "unavailable", "post while crosstalk-fcgi is down")
    T.eq(snapshot(), before, "nothing stored while down")

    # 4. a new crosstalk-fcgi; then 2. a post stuck in a frozen one
    stack.start_fcgi("fcgi2")
    T.ok(ct.wait_until(lambda: fx.http_ok(ct.ENV["CROSSTALK_HTTP"] + "/health"), 10),
         "a restarted crosstalk-fcgi answers")
    r = api("POST", "messages", session=ref,
            json_body={"channel": chan, "text": "two", "client_id": "k-2"})
    T.eq(r.status, 201, "the next post succeeds")
    fcgi2 = stack.pid("fcgi2")
    os.kill(fcgi2, signal.SIGSTOP)
    before = snapshot()
    box = {}

    def post():
        box["r"] = api("POST", "messages", session=ref, timeout=40,
                       json_body={"channel": chan, "text": "stuck", "client_id": "k-stuck"})

    th = threading.Thread(target=post)
    th.start()
    time.sleep(0.5)  # nginx has handed it to the frozen responder's socket
    os.kill(fcgi2, signal.SIGKILL)
    th.join(30)
    T.ok("r" in box, "the stuck post returned")
    stuck_status = box["r"].status if "r" in box else None
    if "r" in box:
        json_error(box["r"], 503, "unavailable", "post to a killed responder")
    T.eq(snapshot(), before, "nothing of the stuck post was stored")
    half = int(ct.sql1("SELECT count(*) FROM crosstalk.messages WHERE client_id = 'k-stuck'"))
    T.eq(half, 0, "no half-stored message")

    stack.start_fcgi("fcgi3")
    T.ok(ct.wait_until(lambda: fx.http_ok(ct.ENV["CROSSTALK_HTTP"] + "/health"), 10),
         "crosstalk-fcgi restarted again")
    r = api("POST", "messages", session=ref,
            json_body={"channel": chan, "text": "stuck", "client_id": "k-stuck"})
    T.eq(r.status, 201, "the failed post, retried, succeeds")
    r2 = api("POST", "messages", session=ref,
             json_body={"channel": chan, "text": "stuck", "client_id": "k-stuck"})
    T.eq(r2.status, 200, "retried once more: the same message (idempotent)")
    if r.json and r2.json:
        T.eq(r2.json["message"]["id"], r.json["message"]["id"], "same message id")
    T.eq(ct.sql1("SELECT count(*) FROM crosstalk.messages WHERE client_id = 'k-stuck'"), "1",
         "stored exactly once")
    rows = ct.sql("SELECT count(*), min(seq), max(seq) FROM crosstalk.messages "
                  "WHERE channel = :'v1'", chan)[0]
    T.eq(rows, ["3", "1", "3"], "seqs gapless: 3 messages, 1..3")
    r = api("GET", "messages/poll", session=ref, query={"channel": chan, "after": 0})
    T.eq([m["client_id"] for m in (r.json or {}).get("messages", [])],
         ["k-1", "k-2", "k-stuck"], "a poll reads exactly the stored messages")
    fx.figure("fcgi_kill", longpoll_status=lp_status, stuck_post_status=stuck_status,
              half_stored=half)
finally:
    stack.down()
T.done()
