"""The "search" request: the same search as GET messages/search (one SQL
function), answered with the frame's ref; scope, paging, and a clear error
for each bad field, the connection kept."""
from wsh import *


async def main():
    word = uniq("zw")
    ch = new_channel("srch")
    closed = new_channel("srchx", apps=["app2"])
    a, ua, _ = await login("app1")
    for i in range(3):
        post_sql(ch, "%s number %d" % (word, i))
    post_sql(closed, "%s where app1 cannot read" % word, app="app2")

    await ws_send(a, type="search", q=word, ref="s1")
    r = (await ws_until(a, lambda e: e["type"] == "search"))[-1]
    T.eq((r.get("ref"), len(r["results"])), ("s1", 3), "3 results, the ref echoed")
    T.ok(all(x["message"]["channel"] == ch for x in r["results"]),
         "nothing from a channel app1 may not read", r)
    T.ok(all(any(p["hit"] and p["text"] == word for p in x["highlight"]) for x in r["results"]),
         "each highlights the word")

    await ws_send(a, type="search", q=word, channel=ch, limit=2, ref="s2")
    r = (await ws_until(a, lambda e: e["type"] == "search"))[-1]
    T.ok(len(r["results"]) == 2 and r.get("next"), "a page of 2 and a cursor", r)
    await ws_send(a, type="search", q=word, channel=ch, limit=2, cursor=r["next"], ref="s3")
    r2 = (await ws_until(a, lambda e: e["type"] == "search"))[-1]
    T.ok(len(r2["results"]) == 1 and "next" not in r2, "the last page", r2)
    T.eq(len({x["message"]["id"] for x in r["results"] + r2["results"]}), 3, "no repeat across pages")

    for what, frame, code in [
            ("no q", {}, "invalid"),
            ("q not a string", {"q": 5}, "invalid"),
            ("q too long", {"q": "y" * 201}, "invalid"),
            ("limit 21", {"q": word, "limit": 21}, "invalid"),
            ("a forged cursor", {"q": word, "cursor": "x_1"}, "invalid"),
            ("a channel app1 may not read", {"q": word, "channel": closed}, "forbidden"),
            ("a malformed channel", {"q": word, "channel": "Not Valid"}, "invalid")]:
        await ws_send(a, type="search", ref="bad", **frame)
        e = (await ws_until(a, lambda e: e["type"] in ("error", "search")))[-1]
        T.eq((e["type"], e.get("code"), e.get("ref")), ("error", code, "bad"), what)
    await ws_send(a, type="ping", ref="alive")
    T.ok((await ws_until(a, lambda e: e["type"] == "pong"))[-1], "the connection is kept")
    await a.close()


run(main())
