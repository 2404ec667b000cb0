#!/usr/bin/python3
"""test_search.py - GET messages/search: full-text search over the channels
the caller may read and nothing else (another app's channel, another pair's
direct channel), ranked, paged by cursor without gaps or repeats, edits
found by their new words, deleted messages gone, highlights as pieces;
every bad parameter a clear 422 that changes nothing."""
import json as _json

from ct import T, api, sql1, uniq
from hx import expect, key, new_channel, new_session, post


def search(ref, app="app1", **query):
    return api("GET", "messages/search", key=key(app), session=ref, query=query)


def ids(r):
    return [x["message"]["id"] for x in r.json.get("results", [])]


word = uniq("zq")  # a word no other test writes
other = uniq("zr")
ref_a, alice = new_session("app1", name="Alice")
ref_b, bob = new_session("app1", name="Bob")
ref_c, carol = new_session("app2", name="Carol")

open_ch = new_channel()
app1_only = new_channel(apps=["app1"])
app2_only = new_channel(apps=["app2"])
dm_ab = "dm:" + ":".join(sorted([alice, bob]))
dm_bc = "dm:" + ":".join(sorted([bob, carol]))

posted = {}
for ch, ref, app, text in [
        (open_ch, ref_a, "app1", "%s one in the open channel" % word),
        (open_ch, ref_b, "app1", "%s %s %s twice and more" % (word, word, word)),
        (app1_only, ref_a, "app1", "%s for app1 only" % word),
        (app2_only, ref_c, "app2", "%s for app2 only" % word),
        (dm_ab, ref_a, "app1", "%s between alice and bob" % word),
        (dm_bc, ref_c, "app2", "%s between bob and carol" % word),
        (open_ch, ref_a, "app1", "nothing to find here %s" % other)]:
    r = post(ref, ch, text, app=app)
    T.ok(r.status in (200, 201), "posted to " + ch, repr(r))
    posted[text] = r.json["message"]["id"]


def texts(r):
    return sorted(x["message"]["text"] for x in r.json["results"])


# --- scope: only what the caller may read -----------------------------------
r = expect("alice searches", search(ref_a, q=word), 200)
T.eq(texts(r), sorted(t for t in posted if word in t and ("app2 only" not in t)
                      and "bob and carol" not in t), "alice finds open, app1 and her DM")
r = expect("carol searches", search(ref_c, app="app2", q=word), 200)
T.eq(texts(r), sorted(t for t in posted if word in t and ("app1 only" not in t)
                      and "alice and bob" not in t), "carol finds open, app2 and her DM")
r = expect("bob searches", search(ref_b, q=word), 200)
T.eq(len(r.json["results"]), 5, "bob finds both DMs he is in, not app2's channel")
expect("alice in app2's channel", search(ref_a, q=word, channel=app2_only), 403, "forbidden")
expect("alice in bob and carol's DM", search(ref_a, q=word, channel=dm_bc), 403, "forbidden")
expect("no such channel", search(ref_a, q=word, channel=uniq("nochan")), 404, "not_found")
expect("no session", api("GET", "messages/search", query={"q": word}), 401, "unauthorized")

# --- highlights join to the text as written ---------------------------------------
tricky = ["<b>find</b> &amp; <!-- find --> <script>find()</script>",
          "find-me well-found find-find https://find.example/find?x=find www.find.org/p",
          "mail find@example.com, 12-34 v2.0-rc find\ttab\nnew line",
          "find \u05e9\u05dc\u05d5\u05dd \u202eevil\u202c \u7528\u6237 find \U0001f600 \x01find\x02",
          "FIND Find fInD finding found"]
for text in tricky:
    pieces = sql1("SELECT crosstalk.highlight('simple', :'v1', websearch_to_tsquery('simple', 'find'))", text)
    got = _json.loads(pieces)
    T.eq("".join(p["text"] for p in got), text, "highlight pieces join to %r" % text[:30])
    T.ok(any(p["hit"] for p in got), "and mark a hit in %r" % text[:30])
T.eq([p["text"] for p in _json.loads(sql1(
    "SELECT crosstalk.highlight('simple', :'v1', websearch_to_tsquery('simple', 'find'))",
    "FIND Find fInD finding found")) if p["hit"]], ["FIND", "Find", "fInD"], "hits case-folded, whole words only")

# --- one channel, ranked, highlighted ----------------------------------------
r = expect("in one channel", search(ref_a, q=word, channel=open_ch), 200)
T.eq(len(r.json["results"]), 2, "two in the open channel")
res = r.json["results"]
T.ok(res[0]["rank"] >= res[1]["rank"], "best ranked first", repr([x["rank"] for x in res]))
T.eq(res[0]["message"]["id"], posted["%s %s %s twice and more" % (word, word, word)],
     "three hits outrank one")
hl = res[0]["highlight"]
T.ok(all(set(p) == {"text", "hit"} for p in hl), "highlight is {text, hit} pieces")
T.eq([p["text"] for p in hl if p["hit"]], [word, word, word], "every hit marked")
T.ok("".join(p["text"] for p in hl).strip() in res[0]["message"]["text"],
     "the pieces are the text's own words")
T.eq(res[0]["message"]["channel"], open_ch, "a result is the message's event")

# --- paging by cursor: everything once, in order -----------------------------
r1 = expect("page 1", search(ref_b, q=word, limit="2"), 200)
seen = ids(r1)
cur = r1.json.get("next")
pages = 1
while cur and pages < 10:
    r2 = expect("page %d" % (pages + 1), search(ref_b, q=word, limit="2", cursor=cur), 200)
    seen += ids(r2)
    cur = r2.json.get("next")
    pages += 1
all_at_once = ids(expect("all at once", search(ref_b, q=word, limit="50"), 200))
T.eq(seen, all_at_once, "pages of 2 give what one page of 50 gives, in the same order")
T.eq(pages, 3, "5 results in pages of 2: 3 pages, the last without next")

# --- edits and deletes ---------------------------------------------------------
mid = posted["nothing to find here %s" % other]
new_word = uniq("zs")
expect("edit", api("POST", "messages/edit", key=key("app1"), session=ref_a,
                   json_body={"id": mid, "text": "now with %s" % new_word}), 200)
T.eq(ids(search(ref_a, q=new_word)), [mid], "an edit is found by its new words")
T.eq(ids(search(ref_a, q=other)), [], "and no longer by its old ones")
expect("delete", api("POST", "messages/delete", key=key("app1"), session=ref_a,
                     json_body={"id": mid}), 200)
T.eq(ids(search(ref_a, q=new_word)), [], "a deleted message is not found")

# --- web search syntax ----------------------------------------------------------
T.eq(texts(search(ref_a, q='"%s for app1"' % word)), ["%s for app1 only" % word], "a phrase")
T.eq(len(search(ref_a, q="%s -twice" % word, channel=open_ch).json["results"]), 1, "-word excludes")

# --- bad input: a clear error, nothing changed ----------------------------------
for what, q, code, status in [
        ("no q", {}, "invalid", 422),
        ("empty q", {"q": "  "}, "invalid", 422),
        ("q too long", {"q": "x" * 201}, "invalid", 422),
        ("q with a control character", {"q": "a\x01b"}, "invalid", 422),
        ("q without words", {"q": "!!! ..."}, "invalid", 422),
        ("limit 0", {"q": word, "limit": "0"}, "invalid", 422),
        ("limit 51", {"q": word, "limit": "51"}, "invalid", 422),
        ("limit not a number", {"q": word, "limit": "ten"}, "invalid", 422),
        ("a forged cursor", {"q": word, "cursor": "1' OR 1=1 --"}, "invalid", 422),
        ("a cursor out of range", {"q": word, "cursor": "1e99_1"}, "invalid", 422),
        ("a malformed channel", {"q": word, "channel": "Bad Name"}, "invalid", 422)]:
    r = expect(what, search(ref_a, **q), status, code)
    T.ok(r.json and "error" in r.json and r.json["error"]["message"], what + ": says why")
T.done()
