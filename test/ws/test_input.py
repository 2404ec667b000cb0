"""Bad input gets a clear error and changes nothing; no input crashes the
daemon or disturbs another connection."""
from wsh import *

BAD = [
    {"type": 5}, {"type": None}, {"type": ["subscribe"]}, {"type": "subscribe"},
    {"type": "subscribe", "channel": 7}, {"type": "subscribe", "channel": "Bad Name"},
    {"type": "subscribe", "channel": "general", "after": {"x": 1}},
    {"type": "subscribe", "channel": "general", "after": "12abc"},
    {"type": "subscribe", "channel": "general", "after": 1.5},
    {"type": "subscribe", "channel": "dm:b:a"}, {"type": "subscribe", "channel": "dm:a"},
    {"type": "subscribe", "channel": "x" * 300},
    {"type": "publish", "channel": "general"}, {"type": "publish", "channel": "general", "text": 5},
    {"type": "publish", "channel": "general", "text": ["a"]},
    {"type": "publish", "channel": "general", "text": "a\u0000b"},
    {"type": "publish", "channel": "general", "text": "ok", "client_id": "c" * 200},
    {"type": "edit", "id": "abc", "text": "x"}, {"type": "edit", "id": -1, "text": "x"},
    {"type": "edit", "id": "99999999", "text": "x"}, {"type": "delete"},
    {"type": "delete", "id": "99999999999999999999999"},
    {"type": "read", "channel": "general"}, {"type": "read", "channel": "general", "seq": "x"},
    {"type": "history", "channel": "general", "limit": 0},
    {"type": "history", "channel": "general", "limit": 100000},
    {"type": "history", "channel": "general", "before": "-"},
    {"type": "presence", "channel": "nope-" + uniq()}, {"type": "typing", "channel": "general"},
    {"type": "auth", "ticket": "again"}, {"type": "unsubscribe", "channel": "never"},
    {"type": "ping", "ref": "r" * 1000},
]


async def main():
    w, u, _ = await login("app1")
    other, _, _ = await login("app2")
    # other tests post in parallel on the shared stack: count this user's
    before = sql1("SELECT count(*) FROM crosstalk.messages WHERE user_id = :'v1'", u)
    for i, m in enumerate(BAD):
        m = dict(m)
        m.setdefault("ref", "b%d" % i) if m.get("type") != "ping" else None
        await w.send(json.dumps(m))
    for raw in ("[]", "1", '"x"', "{", '{"type":"ping"} {"type":"ping"}', "{}" * 10, " "):
        await w.send(raw)
    await ws_send(w, type="ping", ref="end")
    evs = await ws_until(w, lambda e: e.get("type") == "pong", 10)
    # wait for every answer: one per bad frame (errors, pongs, unsubscribed)
    want = set("b%d" % i for i, m in enumerate(BAD)
               if m.get("type") not in ("ping", "unsubscribe") and "\u0000" not in str(m.get("text")))
    evs += await collect(w, lambda g: want <= set(e.get("ref") for e in evs + g), 10)
    errs = [e for e in evs if e.get("type") == "error"]
    T.ok(all(e.get("code") in ("bad_request", "invalid", "not_found", "forbidden", "too_large")
             for e in errs), "errors use the contract's codes", set(e.get("code") for e in errs))
    refs = set(e.get("ref") for e in errs)
    for i, m in enumerate(BAD):
        if m.get("type") in ("ping", "unsubscribe") or "\u0000" in str(m.get("text")):
            continue  # a NUL escape fails JSON parsing itself: bad_request, no ref
        T.ok("b%d" % i in refs, "bad frame %d %r answered with an error" % (i, m))
    T.eq(sql1("SELECT count(*) FROM crosstalk.messages WHERE user_id = :'v1'", u), before,
         "nothing stored")
    await ws_send(w, type="ping")
    T.eq((await ws_until(w, lambda e: e["type"] == "pong"))[-1]["type"], "pong", "the connection still works")
    await ws_send(other, type="ping")
    T.eq((await ws_until(other, lambda e: e["type"] == "pong"))[-1]["type"], "pong", "others undisturbed")
    T.ok(http("GET", ENV["CROSSTALK_WSD"] + "/health").status == 200, "daemon alive")
    await w.close()
    await other.close()


run(main())
