#!/usr/bin/python3
"""test_badinput.py - a table of bad requests: each gets its error (status
and code, JSON shape, never 500/HTML) and changes nothing in the database
(a snapshot of every table the API writes is taken before and after)."""
import json

from ct import T, api, sql
from hx import expect, key, new_channel, new_session, post

SNAPSHOT = """
SELECT (SELECT count(*) FROM crosstalk.messages),
       (SELECT md5(coalesce(string_agg(id || ':' || kind || ':' || text || ':' ||
                    coalesce(edited_at::text, '') || coalesce(deleted_at::text, '') ||
                    coalesce(exclude_ref_hash, ''), ',' ORDER BY id), ''))
        FROM crosstalk.messages),
       (SELECT md5(coalesce(string_agg(name || ':' || last_seq || ':' || title || ':' ||
                    coalesce(apps::text, '*'), ',' ORDER BY name), ''))
        FROM crosstalk.channels),
       (SELECT md5(coalesce(string_agg(ref_hash || coalesce(ended_at::text, ''), ','
                    ORDER BY ref_hash), '')) FROM crosstalk.sessions),
       (SELECT count(*) FROM crosstalk.tickets),
       (SELECT md5(coalesce(string_agg(user_id || channel || seq, ',' ORDER BY user_id,
                    channel), '')) FROM crosstalk.read_markers),
       (SELECT md5(coalesce(string_agg(key || count, ',' ORDER BY key), ''))
        FROM crosstalk.rate_limits)
"""


def snapshot():
    return sql(SNAPSHOT)[0]


# setup (before the first snapshot)
ref, user = new_session()
ref2, user2 = new_session("app2")
ended, _ = new_session()
api("POST", "sessions/end", form={"session": ended})
ch = new_channel()
mine = post(ref, ch, "mine", client_id="bad-cid").json["message"]["id"]
gone = post(ref, ch, "gone").json["message"]["id"]
api("POST", "messages/delete", form={"id": gone})
dm = "dm:%s:%s" % tuple(sorted(["zz-a", "zz-b"]))

J = "application/json"
F = "application/x-www-form-urlencoded"
S = {"session": ref}
# name, method, path, api() keyword arguments, status, code
CASES = [
    ("malformed JSON", "POST", "messages", dict(session=ref, raw=b'{"channel":', content_type=J), 400, "bad_request"),
    ("JSON array body", "POST", "messages", dict(session=ref, raw=b'[1,2]', content_type=J), 400, "bad_request"),
    ("JSON string body", "POST", "messages", dict(session=ref, raw=b'"text"', content_type=J), 400, "bad_request"),
    ("JSON with \\u0000", "POST", "messages", dict(session=ref, raw=b'{"channel":"%s","text":"a\\u0000b"}' % ch.encode(), content_type=J), 400, "bad_request"),
    ("JSON invalid UTF-8", "POST", "messages", dict(session=ref, raw=b'{"channel":"%s","text":"\xff\xfe"}' % ch.encode(), content_type=J), 400, "bad_request"),
    ("JSON after // but garbage", "POST", "messages", dict(session=ref, raw=b'// hello', content_type=J), 400, "bad_request"),
    ("form bad %-escape", "POST", "messages", dict(session=ref, raw=b'channel=%s&text=%%zz' % ch.encode(), content_type=F), 400, "bad_request"),
    ("form truncated %-escape", "POST", "messages", dict(session=ref, raw=b'channel=%s&text=ab%%4' % ch.encode(), content_type=F), 400, "bad_request"),
    ("form invalid UTF-8", "POST", "messages", dict(session=ref, raw=b'channel=%s&text=%%ff%%fe' % ch.encode(), content_type=F), 400, "bad_request"),
    ("form NUL", "POST", "messages", dict(session=ref, raw=b'channel=%s&text=a%%00b' % ch.encode(), content_type=F), 400, "bad_request"),
    ("query NUL", "GET", "messages/poll", dict(query={"channel": ch + "\x00"}), 400, "bad_request"),
    ("body over body_max", "POST", "messages", dict(session=ref, raw=b"text=" + b"a" * 70000, content_type=F), 413, "too_large"),
    ("body over nginx cap", "POST", "messages", dict(session=ref, raw=b"a" * 300000, content_type=F), 413, "too_large"),
    ("multipart body", "POST", "messages", dict(session=ref, raw=b"--b\r\nx\r\n--b--", content_type="multipart/form-data; boundary=b"), 415, "unsupported_media_type"),
    ("XML body", "POST", "messages", dict(session=ref, raw=b"<m/>", content_type="text/xml"), 415, "unsupported_media_type"),
    ("missing channel", "POST", "messages", dict(session=ref, form={"text": "x"}), 422, "invalid"),
    ("missing text", "POST", "messages", dict(session=ref, form={"channel": ch}), 422, "invalid"),
    ("empty text", "POST", "messages", dict(session=ref, json_body={"channel": ch, "text": ""}), 422, "invalid"),
    ("text too long", "POST", "messages", dict(session=ref, json_body={"channel": ch, "text": "y" * 4001}), 413, "too_large"),
    ("channel bad name", "POST", "messages", dict(session=ref, form={"channel": "Bad Name", "text": "x"}), 422, "invalid"),
    ("channel unknown", "POST", "messages", dict(session=ref, form={"channel": "no-such-chan-xyz", "text": "x"}), 404, "not_found"),
    ("channel restricted", "POST", "messages", dict(key=key("app2"), session=ref2, form={"channel": "app1-only", "text": "x"}), 403, "forbidden"),
    ("DM not a member", "POST", "messages", dict(session=ref, form={"channel": dm, "text": "x"}), 403, "forbidden"),
    ("DM ids unsorted", "POST", "messages", dict(session=ref, form={"channel": "dm:zz:%s" % user, "text": "x"}), 422, "invalid"),
    ("channel as array", "POST", "messages", dict(session=ref, json_body={"channel": [ch], "text": "x"}), 422, "invalid"),
    ("text as object", "POST", "messages", dict(session=ref, json_body={"channel": ch, "text": {"a": 1}}), 422, "invalid"),
    ("client_id too long", "POST", "messages", dict(session=ref, form={"channel": ch, "text": "x", "client_id": "c" * 129}), 422, "invalid"),
    ("client_id reused elsewhere", "POST", "messages", dict(session=ref, form={"channel": "general", "text": "x", "client_id": "bad-cid"}), 409, "conflict"),
    ("exclude_sender not boolean", "POST", "messages", dict(session=ref, form={"channel": ch, "text": "x", "exclude_sender": "maybe"}), 422, "invalid"),
    ("no API key", "POST", "messages", dict(key="", session=ref, form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("wrong secret", "POST", "messages", dict(key="app1.wrong", session=ref, form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("unknown app key", "POST", "messages", dict(key="ghost.secret", session=ref, form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("key without app part", "POST", "messages", dict(key="justasecret", session=ref, form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("Basic auth", "POST", "messages", dict(key="", headers={"Authorization": "Basic YTpi"}, session=ref, form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("no session", "POST", "messages", dict(form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("bogus session", "POST", "messages", dict(session="cs_nope", form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("huge session", "POST", "messages", dict(session="s" * 2000, form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("ended session post", "POST", "messages", dict(session=ended, form={"channel": ch, "text": "x"}), 401, "unauthorized"),
    ("ended session ticket", "POST", "tickets", dict(session=ended), 401, "unauthorized"),
    ("other app's session", "POST", "tickets", dict(key=key("app2"), session=ref), 401, "unauthorized"),
    ("sessions ttl too short", "POST", "sessions", dict(form={"user_id": "bi1", "ttl": "10"}), 422, "invalid"),
    ("sessions ttl text", "POST", "sessions", dict(form={"user_id": "bi1", "ttl": "soon"}), 422, "invalid"),
    ("sessions ttl fraction", "POST", "sessions", dict(json_body={"user_id": "bi1", "ttl": 3600.5}), 422, "invalid"),
    ("sessions user_id with :", "POST", "sessions", dict(form={"user_id": "a:b"}), 422, "invalid"),
    ("sessions missing user_id", "POST", "sessions", dict(form={"display_name": "X"}), 422, "invalid"),
    ("sessions user_id too long", "POST", "sessions", dict(form={"user_id": "u" * 129}), 422, "invalid"),
    ("sessions control char name", "POST", "sessions", dict(form={"user_id": "bi2", "display_name": "a\x07b"}), 422, "invalid"),
    ("poll after negative", "GET", "messages/poll", dict(query={"channel": ch, "after": "-1"}), 422, "invalid"),
    ("poll limit 0", "GET", "messages/poll", dict(query={"channel": ch, "limit": "0"}), 422, "invalid"),
    ("poll limit fraction", "GET", "messages/poll", dict(query={"channel": ch, "limit": "5.5"}), 422, "invalid"),
    ("poll wait text", "GET", "messages/poll", dict(query={"channel": ch, "wait": "abc"}), 422, "invalid"),
    ("poll missing channel", "GET", "messages/poll", dict(), 422, "invalid"),
    ("poll DM key only", "GET", "messages/poll", dict(query={"channel": dm}), 403, "forbidden"),
    ("edit id text", "POST", "messages/edit", dict(session=ref, form={"id": "abc", "text": "x"}), 422, "invalid"),
    ("edit missing id", "POST", "messages/edit", dict(session=ref, form={"text": "x"}), 422, "invalid"),
    ("edit missing text", "POST", "messages/edit", dict(session=ref, form={"id": mine}), 422, "invalid"),
    ("edit by other user", "POST", "messages/edit", dict(key=key("app2"), session=ref2, form={"id": mine, "text": "x"}), 403, "forbidden"),
    ("edit deleted message", "POST", "messages/edit", dict(session=ref, form={"id": gone, "text": "x"}), 409, "conflict"),
    ("delete unknown id", "POST", "messages/delete", dict(form={"id": "987654321"}), 404, "not_found"),
    ("create bad name", "POST", "channels/create", dict(form={"name": "-bad"}), 422, "invalid"),
    ("create existing", "POST", "channels/create", dict(form={"name": ch}), 409, "conflict"),
    ("create unknown app", "POST", "channels/create", dict(form={"name": "newchan-bi", "apps": "app1,nosuch"}), 422, "invalid"),
    ("create invalid app id", "POST", "channels/create", dict(form={"name": "newchan-bi", "apps": "App One"}), 422, "invalid"),
    ("create apps object", "POST", "channels/create", dict(json_body={"name": "newchan-bi", "apps": {"a": 1}}), 422, "invalid"),
    ("create title control", "POST", "channels/create", dict(form={"name": "newchan-bi", "title": "a\x01"}), 422, "invalid"),
    ("read missing seq", "POST", "messages/read", dict(session=ref, form={"channel": ch}), 422, "invalid"),
    ("unread no session", "GET", "unread", dict(), 401, "unauthorized"),
    ("GET messages", "GET", "messages", dict(query={"channel": ch, "text": "x"}), 405, "method_not_allowed"),
    ("DELETE channels", "DELETE", "channels", dict(), 405, "method_not_allowed"),
    ("PUT sessions", "PUT", "sessions", dict(raw=b"user_id=x", content_type=F), 405, "method_not_allowed"),
    ("unknown endpoint", "POST", "messages/purge", dict(form={"channel": ch}), 404, "not_found"),
]

T.ok(len(CASES) >= 30, "at least 30 bad-input cases", str(len(CASES)))
for name, method, path, kw, status, code in CASES:
    before = snapshot()
    r = api(method, path, **kw)
    expect(name, r, status, code)
    T.ok(r.status != 500 and not r.raw.lstrip().startswith(b"<"), name + ": no 500/HTML")
    T.eq(snapshot(), before, name + ": database unchanged")

T.done()
