#!/usr/bin/python3
"""test_attachments.py - files on messages, through nginx and PostgreSQL:
an upload as cfhttp sends it (key + session) and as a browser does (the
token of the WebSocket `upload` frame); the type found from the bytes,
never from the part's Content-Type; the size limit (a file of exactly
max_size passes, one byte more is 413) and refused types (415) leave
nothing stored, and so does an upload whose body ends before its closing
boundary (after chunks were written); messages carry their files, once;
signed links serve the bytes with nosniff, a sandbox CSP and the right
disposition, only to people who may read the channel, never after they
expire or once tampered with; deleting a message and prune remove files."""
import asyncio
import hashlib
import hmac
import os
import socket
import struct
import time
import urllib.parse
import uuid
import zlib

from ct import ENV, T, api, http, sql, sql1, uniq, ws_login, ws_send, ws_until
from hx import expect, key, new_channel, new_session, post

MAX = 10485760  # [attachments] max_size, the default


def png(w=2, h=2):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def form(fields, filename=None, data=None, ctype="application/octet-stream", close=True):
    """A multipart/form-data body as cfhttpparam type="file" sends it."""
    b = "----ctform" + uuid.uuid4().hex
    out = b""
    for k, v in fields:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (b, k, v)).encode()
    if filename is not None:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                "Content-Type: %s\r\n\r\n" % (b, filename, ctype)).encode("utf-8") + data + b"\r\n"
    if close:
        out += ("--%s--\r\n" % b).encode()
    return "multipart/form-data; boundary=" + b, out


def upload(ref, channel, filename, data, ctype="application/octet-stream", app="app1", query=None,
           fields=None, with_key=True):
    ct, body = form(fields if fields is not None else [("channel", channel)], filename, data, ctype)
    return api("POST", "attachments", key=key(app) if with_key else "", session=ref, raw=body,
               content_type=ct, query=query)


def stored(channel):
    return int(sql1("SELECT count(*) FROM crosstalk.attachments WHERE channel = :'v1'", channel))


def get(url):
    return http("GET", url)


def link_for(ref, app, id_):
    r = expect("attachments/url", api("GET", "attachments/url", key=key(app), session=ref,
                                      query={"id": id_}), 200)
    return r.json["url"]


ch = new_channel()
ref_a, alice = new_session("app1", name="Alice")
ref_b, bob = new_session("app2", name="Bob")
post(ref_b, ch, "hello")  # bob reads the channel too

# --- an upload from an app server -------------------------------------------
img = png()
r = expect("upload a PNG (its part says text/html)", upload(ref_a, ch, "cat.png", img, "text/html"), 201)
a = r.json["attachment"]
T.eq((a["name"], a["type"], a["size"], a["channel"]), ("cat.png", "image/png", len(img), ch),
     "the type comes from the bytes")
T.eq(r.headers.get("Access-Control-Allow-Origin"), "*", "a browser may read the answer")
T.eq(sql1("SELECT count(*) FROM crosstalk.attachment_chunks WHERE attachment_id = :'v1'", a["id"]), "1",
     "one chunk stored")

txt = b"Plain words and nothing else.\nA second line of them.\n" * 10
r = expect("a text file that claims to be a PNG", upload(ref_a, ch, "notes.png", txt, "image/png"), 201)
t = r.json["attachment"]
T.eq(t["type"], "text/plain", "sniffed as text, whatever it claims")

r = http("OPTIONS", ENV["CROSSTALK_HTTP"] + "/attachments", headers={
    "Origin": ENV["APP1_ORIGIN"], "Access-Control-Request-Method": "POST"})
T.eq((r.status, r.headers.get("Access-Control-Allow-Origin"), r.headers.get("Access-Control-Allow-Methods")),
     (204, "*", "POST"), "the preflight of a browser's upload with progress")

# --- refused: types and sizes, nothing stored ---------------------------------
before = stored(ch)
expect("an HTML page", upload(ref_a, ch, "x.html", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
       415, "unsupported_media_type")
with open("/bin/true", "rb") as f:
    elf = f.read()
r = expect("a program", upload(ref_a, ch, "true", elf), 415, "unsupported_media_type")
T.ok("not accepted" in r.json["error"]["message"], "says the type", r.json["error"]["message"])
expect("an SVG (scripts)", upload(ref_a, ch, "x.svg",
                                  b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg">'
                                  b'<script>alert(1)</script></svg>'), 415)
expect("an empty file", upload(ref_a, ch, "empty.txt", b""), 422, "invalid")
big = b"a" * (MAX - 64) + b"\n" * 64
r = expect("exactly max_size bytes", upload(ref_a, ch, "big.txt", big), 201)
T.eq(r.json["attachment"]["size"], MAX, "the whole file")
T.eq(sql1("SELECT sum(length(data)) FROM crosstalk.attachment_chunks WHERE attachment_id = :'v1'",
          r.json["attachment"]["id"]), str(MAX), "every byte stored, in chunks")
T.eq(sql1("SELECT count(*) FROM crosstalk.attachment_chunks WHERE attachment_id = :'v1'",
          r.json["attachment"]["id"]), str(MAX // (256 * 1024)), "of 256 KiB")
before = stored(ch)
r = expect("one byte more", upload(ref_a, ch, "big.txt", big + b"a"), 413, "too_large")
T.ok(str(MAX) in r.json["error"]["message"], "says the limit", r.json["error"]["message"])
T.eq(stored(ch), before, "a refused file leaves nothing")
ct, body = form([("channel", ch)], "huge.txt", b"a" * (MAX + 200000))
r = expect("a body far over the limit", api("POST", "attachments", session=ref_a, raw=body, content_type=ct),
           413, "too_large")
ct, body = form([("channel", ch)], "huge.txt", b"a" * (12 * 1024 * 1024))
r = expect("a body over the web server's limit", api("POST", "attachments", session=ref_a, raw=body,
                                                      content_type=ct), 413, "too_large")
T.eq(r.headers.get("Access-Control-Allow-Origin"), "*", "nginx's own 413 is readable by the widget")

# a body cut before its closing boundary, after chunks went in: rolled back
before_chunks = sql1("SELECT count(*) FROM crosstalk.attachment_chunks")
ct, body = form([("channel", ch)], "cut.txt", b"x" * (700 * 1024) + b"\n", close=False)
expect("an upload without its end", api("POST", "attachments", session=ref_a, raw=body, content_type=ct),
       400, "bad_request")
T.eq(stored(ch), before, "an upload cut short leaves nothing")
T.eq(sql1("SELECT count(*) FROM crosstalk.attachment_chunks"), before_chunks, "not a chunk of it")
T.eq(sql1("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"), "0",
     "no transaction left open")

# a client that hangs up halfway: nginx holds the body, crosstalk never sees
# a part of it; a later upload works
ct, body = form([("channel", ch)], "gone.txt", b"y" * (2 * 1024 * 1024))
u = urllib.parse.urlsplit(ENV["CROSSTALK_HTTP"])
s = socket.create_connection((u.hostname, u.port))
s.sendall(("POST %s/attachments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
           "X-Crosstalk-Session: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
           % (u.path, key("app1"), ref_a, ct, len(body))).encode() + body[:len(body) // 2])
s.close()
time.sleep(0.5)
T.eq(stored(ch), before, "a client gone halfway leaves nothing")
expect("uploads go on", upload(ref_a, ch, "after.png", png()), 201)
before = stored(ch)

expect("not multipart", api("POST", "attachments", session=ref_a, json_body={"channel": ch}),
       415, "unsupported_media_type")
ct, body = form([("channel", ch)])
expect("no file part", api("POST", "attachments", session=ref_a, raw=body, content_type=ct), 422, "invalid")
expect("no channel", upload(ref_a, ch, "a.png", png(), fields=[]), 422, "invalid")
expect("a channel not open to app2", upload(ref_b, new_channel(apps=["app1"]), "a.png", png(), app="app2"),
       403, "forbidden")
expect("no session", upload(None, ch, "a.png", png()), 401, "unauthorized")
expect("no key", upload(ref_a, ch, "a.png", png(), with_key=False), 401, "unauthorized")
T.eq(stored(ch), before, "refused uploads store nothing")
r = expect("a name with a path and odd characters",
           upload(ref_a, ch, "C:\\Users\\ann\\Résumé \\\"v2\\\".txt", txt), 201)
T.eq(r.json["attachment"]["name"], "Résumé \"v2\".txt", "only its last segment is kept")
named = r.json["attachment"]

# --- messages carry files -----------------------------------------------------
r = expect("a message of a file alone", post(ref_a, ch, "", files=[a["id"]]), 201)
m = r.json["message"]
T.eq(m.get("files"), [{"id": a["id"], "name": "cat.png", "type": "image/png", "size": len(img)}],
     "the event carries the file")
expect("the same file again", post(ref_a, ch, "again", files=[a["id"]]), 422, "invalid")
expect("someone else's upload", post(ref_b, ch, "mine?", app="app2", files=[t["id"]]), 422, "invalid")
expect("no such file", post(ref_a, ch, "x", files=["999999999"]), 422, "invalid")
expect("not an id", post(ref_a, ch, "x", files=["abc"]), 422, "invalid")
expect("eleven files", post(ref_a, ch, "x", files=[str(i) for i in range(1, 12)]), 422, "invalid")
expect("no text, no files", post(ref_a, ch, ""), 422, "invalid")
other = new_channel()
expect("a file of another channel", post(ref_a, other, "x", files=[t["id"]]), 422, "invalid")
r = expect("text and two files (a form list)", api("POST", "messages", key=key("app1"), session=ref_a,
                                                   form={"channel": ch, "text": "notes",
                                                         "files": "%s, %s" % (t["id"], named["id"])}), 201)
T.eq([f["id"] for f in r.json["message"]["files"]], [t["id"], named["id"]], "in the order given")
m2 = r.json["message"]
cid_file = expect("one more", upload(ref_a, ch, "c.png", png()), 201).json["attachment"]["id"]
r = expect("a post with a client_id", post(ref_a, ch, "c", files=[cid_file], client_id="cid-1"), 201)
again = expect("the same post again", post(ref_a, ch, "c", files=[cid_file], client_id="cid-1"), 200)
T.eq(again.json["message"]["id"], r.json["message"]["id"], "a repeat answers the first message")
r = expect("poll", api("GET", "messages/poll", key=key("app2"), session=ref_b, query={"channel": ch}), 200)
T.eq([e["files"][0]["name"] for e in r.json["messages"] if e.get("files")][:2], ["cat.png", "notes.png"],
     "polls show the files")

# --- signed links -------------------------------------------------------------
url = link_for(ref_b, "app2", a["id"])
T.ok(url.startswith(ENV["CROSSTALK_HTTP"] + "/files?"), "the link is on the API's public address", url)
r = get(url)
T.eq((r.status, r.raw), (200, img), "a reader gets the bytes")
T.eq((r.headers.get("Content-Type"), r.headers.get("X-Content-Type-Options")), ("image/png", "nosniff"),
     "the stored type, nosniff")
T.ok(r.headers.get("Content-Disposition", "").startswith("inline"), "an image shows inline",
     r.headers.get("Content-Disposition"))
T.ok("sandbox" in r.headers.get("Content-Security-Policy", ""), "sandboxed", r.headers)
r = get(link_for(ref_b, "app2", t["id"]))
T.eq(r.status, 200, "text file")
T.ok(r.headers.get("Content-Disposition", "").startswith("attachment"), "anything else downloads",
     r.headers.get("Content-Disposition"))
r = get(link_for(ref_a, "app1", named["id"]))
T.ok("filename*=UTF-8''R%C3%A9sum%C3%A9%20%22v2%22.txt" in r.headers.get("Content-Disposition", ""),
     "the name as RFC 6266 UTF-8", r.headers.get("Content-Disposition"))
big_id = sql1("SELECT id FROM crosstalk.attachments WHERE channel = :'v1' AND size = :'v2'", ch, str(MAX))
r = get(link_for(ref_a, "app1", big_id))
T.eq((r.status, len(r.raw), hashlib.sha256(r.raw).hexdigest()), (200, MAX, hashlib.sha256(big).hexdigest()),
     "10 MiB come back whole, chunk after chunk")

q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
base = ENV["CROSSTALK_HTTP"] + "/files?"
tampered = dict(q, u=alice)
expect("a link for another user", get(base + urllib.parse.urlencode(tampered)), 403, "forbidden")
expect("a link with a later expiry", get(base + urllib.parse.urlencode(dict(q, e=str(int(q["e"]) + 60)))),
       403, "forbidden")
expect("no signature", get(base + urllib.parse.urlencode({k: v for k, v in q.items() if k != "s"})),
       403, "forbidden")
secret = sql1("SELECT value FROM crosstalk.settings WHERE name = 'file_secret'")


def signed(id_, app, user, exp):
    msg = "f1\n%s\n%s\n%s\n%d" % (id_, app, user, exp)
    s = hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()
    return base + urllib.parse.urlencode({"id": id_, "a": app, "u": user, "e": exp, "s": s})


T.eq(get(signed(a["id"], "app2", bob, int(time.time()) + 60)).status, 200,
     "the documented signature (HMAC-SHA256 over f1, id, app, user, expiry)")
r = expect("an expired link", get(signed(a["id"], "app2", bob, int(time.time()) - 1)), 403, "forbidden")
T.ok("expired" in r.json["error"]["message"], "says it expired", r.json["error"]["message"])

# only readers: a private channel's file, a non-member, a member removed
priv = uniq("p")
expect("private channel", api("POST", "channels/create", form={"name": priv, "title": "P", "private": "true",
                                                               "members": alice}), 200)
r = expect("upload to it", upload(ref_a, priv, "secret.png", png()), 201)
pid = r.json["attachment"]["id"]
expect("post it", post(ref_a, priv, "", files=[pid]), 201)
expect("a non-member asks a link", api("GET", "attachments/url", key=key("app2"), session=ref_b,
                                       query={"id": pid}), 403, "forbidden")
expect("a non-member's signed link", get(signed(pid, "app2", bob, int(time.time()) + 60)), 403, "forbidden")
expect("a non-member uploads there", upload(ref_b, priv, "x.png", png(), app="app2"), 403, "forbidden")
carol_ref, carol = new_session("app1", name="Carol")
expect("add carol", api("POST", "channels/members/add", form={"channel": priv, "users": carol}), 200)
curl = link_for(carol_ref, "app1", pid)
T.eq(get(curl).status, 200, "a member reads it")
expect("remove carol", api("POST", "channels/members/remove", form={"channel": priv, "users": carol}), 200)
expect("her link, once removed", get(curl), 403, "forbidden")
r = expect("an upload no message took", upload(ref_a, ch, "draft.png", png()), 201)
draft = r.json["attachment"]["id"]
T.eq(get(link_for(ref_a, "app1", draft)).status, 200, "its uploader sees it (a preview before sending)")
expect("nobody else", api("GET", "attachments/url", key=key("app2"), session=ref_b, query={"id": draft}),
       404, "not_found")


# --- a browser's upload: the WebSocket upload frame's token -------------------
async def browser():
    ws, uid, _, _ = await ws_login("app1", name="Dora")
    await ws_send(ws, type="upload", channel=ch, ref="u1")
    up = (await ws_until(ws, lambda e: e.get("type") in ("upload", "error")))[-1]
    T.eq((up.get("type"), up.get("channel"), up.get("ref"), up.get("max_size")), ("upload", ch, "u1", MAX),
         "the upload frame answers")
    T.eq(up.get("url"), ENV["CROSSTALK_HTTP"] + "/attachments", "where to upload")
    ct_, body = form([("token", up["token"])], "from-page.png", png(3, 3), "image/png")
    r = http("POST", up["url"], body, {"Content-Type": ct_, "Origin": ENV["APP1_ORIGIN"]})
    T.eq(r.status, 201, "a browser uploads with the token alone (no key): %r" % r.raw[:200])
    fid = r.json["attachment"]["id"]
    T.eq(sql1("SELECT user_id || ' ' || channel FROM crosstalk.attachments WHERE id = :'v1'", fid),
         "%s %s" % (uid, ch), "as the token's user, to its channel")
    ct2, b2 = form([("token", up["token"]), ("channel", other)], "x.png", png())
    r = http("POST", up["url"], b2, {"Content-Type": ct2})
    T.eq(r.status, 403, "the token is for its channel only")
    # its last two characters changed (to "00", or "11" when they were "00")
    forged = up["token"][:-2] + ("11" if up["token"].endswith("00") else "00")
    ct3, b3 = form([("token", forged)], "x.png", png())
    T.eq(http("POST", up["url"], b3, {"Content-Type": ct3}).status, 401, "a forged token")
    # tokens signed as the daemon signs them: u1.hex(app, user, channel, expiry).hmac
    def token(exp):
        payload = ("app1\n%s\n%s\n%d" % (uid, ch, exp)).encode()
        return "u1.%s.%s" % (payload.hex(), hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest())

    ct4, b4 = form([("token", token(int(time.time()) - 1))], "x.png", png())
    r = http("POST", up["url"], b4, {"Content-Type": ct4})
    T.eq((r.status, "expired" in r.raw.decode()), (401, True), "an expired upload token ([attachments] url_ttl)")
    ct5, b5 = form([("token", token(int(time.time()) + 60))], "x.png", png())
    T.eq(http("POST", up["url"], b5, {"Content-Type": ct5}).status, 201, "the same token signed for later works")
    r = api("GET", "attachments/url", session=ref_a, query={"id": "x1"})
    T.eq(r.status, 422, "attachments/url with an id that is not one")
    await ws_send(ws, type="publish", channel=ch, text="", files=[fid], client_id="w1")
    ack = (await ws_until(ws, lambda e: e.get("type") in ("ack", "error")))[-1]
    T.eq(ack.get("type"), "ack", "publish with files and no text: %r" % ack)
    await ws_send(ws, type="files", ids=[fid, int(a["id"])], ref="f1")
    fr = (await ws_until(ws, lambda e: e.get("type") in ("files", "error")))[-1]
    T.eq((fr.get("type"), fr.get("ref"), sorted(fr.get("urls", {}))), ("files", "f1", sorted([fid, a["id"]])),
         "links for each id")
    T.eq(get(fr["urls"][fid]["url"]).status, 200, "a link from the frame works")
    for bad in ([], ["x"], list(range(1, 52))):
        await ws_send(ws, type="files", ids=bad)
        e = (await ws_until(ws, lambda e: e.get("type") in ("files", "error")))[-1]
        T.eq(e.get("code"), "invalid", "files frame with %d ids / bad" % len(bad))
    await ws_send(ws, type="publish", channel=ch, text="", client_id="w2")
    e = (await ws_until(ws, lambda e: e.get("type") in ("ack", "error")))[-1]
    T.eq(e.get("code"), "invalid", "a publish with neither text nor files")
    await ws.close()

asyncio.run(browser())

# --- deletion and prune ---------------------------------------------------------
expect("delete the message", api("POST", "messages/delete", session=ref_a, form={"id": m["id"]}), 200)
T.eq(sql1("SELECT count(*) FROM crosstalk.attachments WHERE id = :'v1'", a["id"]), "0",
     "deleting a message deletes its files")
expect("its link", get(url), 404, "not_found")
r = expect("poll after delete", api("GET", "messages/poll", key=key("app1"), session=ref_a,
                                    query={"channel": ch}), 200)
T.eq([e.get("files") for e in r.json["messages"] if e["id"] == m["id"]][-1], None,
     "a deleted message shows no files")
sql("UPDATE crosstalk.attachments SET created_at = now() - interval '2 days' WHERE id = :'v1'", draft)
sql("UPDATE crosstalk.messages SET created_at = now() - interval '40 days' WHERE id = :'v1'", m2["id"])
sql("SELECT crosstalk.prune(30)")
T.eq(sql1("SELECT count(*) FROM crosstalk.attachments WHERE id IN (:'v1', :'v2', :'v3')",
          draft, t["id"], named["id"]), "0", "prune removes files with their messages and old drafts")
T.done()
