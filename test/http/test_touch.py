#!/usr/bin/python3
"""test_touch.py - logins slide: POST sessions/touch moves a live login's
expiry to now + its ttl (never earlier), a ttl given becomes the login's
ttl, and minting a ticket slides it too (only when that gains more than a
minute). Bad input is refused with a clear error and changes nothing; an
ended or expired login is 401 and stays ended."""
import hashlib
import time

from ct import T, api, sql, sql1, uniq
from hx import expect, key


def sha(s):
    return hashlib.sha256(s.encode()).hexdigest()


def register(ttl, app="app1"):
    r = expect("sessions ttl %d" % ttl, api("POST", "sessions", key=key(app), form={
        "USER_ID": uniq("st"), "DISPLAY_NAME": "Slide Tester", "TTL": str(ttl)}), 200)
    return r.json["session"]


def row(ref):
    """(seconds left, ttl_seconds, ended?, xmin) of the login's row."""
    r = sql("SELECT round(extract(epoch FROM expires_at - now()))::int, ttl_seconds, "
            "ended_at IS NOT NULL, xmin::text FROM crosstalk.sessions WHERE ref_hash = :'v1'",
            sha(ref))
    left, ttl, ended, xmin = r[0]
    return int(left), int(ttl), ended == "t", xmin


def age(ref, seconds_left):
    """Make the login expire in seconds_left (as if time had passed)."""
    sql("UPDATE crosstalk.sessions SET expires_at = now() + make_interval(secs => :'v2') "
        "WHERE ref_hash = :'v1'", sha(ref), str(seconds_left))


def near(got, want, what, slack=5):
    T.ok(abs(got - want) <= slack, what, "got %r want %r (+-%d)" % (got, want, slack))


# --- a live login slides ------------------------------------------------------
ref = register(600)
left, ttl, _, _ = row(ref)
T.eq(ttl, 600, "a login keeps the ttl it was registered with")
age(ref, 30)
t0 = time.time()
r = expect("touch (header)", api("POST", "sessions/touch", session=ref), 200)
T.eq(r.json.get("session"), ref, "touch answers the session")
T.eq(r.json.get("slid"), True, "slid: true for crosstalk's own login")
T.eq(r.json.get("ttl"), 600, "ttl: the login's own")
T.ok(isinstance(r.json.get("expires_at"), str) and r.json["expires_at"].endswith("Z"),
     "expires_at ISO-8601 UTC", r.json)
ms = r.json.get("expires_at_ms")
T.ok(isinstance(ms, int), "expires_at_ms is a number", r.json)
if isinstance(ms, int):
    near(ms / 1000.0 - t0, 600, "expires_at_ms is now + 600 s")
near(row(ref)[0], 600, "stored expiry slid from 30 s to 600 s")

# the session as a form field, a ttl with cfhttp's upper-case name
r = expect("touch (form, TTL)", api("POST", "sessions/touch",
                                    form={"SESSION": ref, "TTL": "3600"}), 200)
T.eq(r.json.get("ttl"), 3600, "a ttl given is answered")
left, ttl, _, _ = row(ref)
near(left, 3600, "and slides the login by it")
T.eq(ttl, 3600, "and becomes the login's ttl")

# JSON as serializeJSON writes it
r = expect("touch (JSON, 120.0)", api("POST", "sessions/touch",
                                      json_body={"Session": ref, "TTL": 120.0}), 200)
left, ttl, _, _ = row(ref)
near(left, 3600, "a shorter ttl never brings the expiry closer")
T.eq(ttl, 120, "but is the login's ttl from now on")
T.eq(r.json.get("ttl"), 120, "and is answered")

# --- minting a ticket slides a live login ---------------------------------------
ref2 = register(900)
age(ref2, 40)
expect("ticket for a login about to expire", api("POST", "tickets", session=ref2), 200)
near(row(ref2)[0], 900, "minting a ticket slid the login to now + its ttl")
xmin = row(ref2)[3]
expect("a second ticket at once", api("POST", "tickets", session=ref2), 200)
T.eq(row(ref2)[3], xmin, "a ticket that would gain under a minute leaves the row alone")
ref2b = register(900, app="app2")
age(ref2b, 40)
expect("app2's ticket", api("POST", "tickets", key=key("app2"), session=ref2b), 200)
near(row(ref2b)[0], 900, "app2's login slides with its ticket too")

# --- bad input: a clear error, nothing changed ----------------------------------
ref3 = register(600)
age(ref3, 300)
def stored(ref):
    """The login's row as stored (the expiry itself, not the seconds left,
    which change as the clock runs while the requests go)."""
    return sql("SELECT expires_at::text, ttl_seconds, ended_at IS NOT NULL FROM crosstalk.sessions "
               "WHERE ref_hash = :'v1'", sha(ref))[0]


before = stored(ref3)
xmin_before = row(ref3)[3]
for what, kw, status, code in (
        ("no session", dict(form={"ttl": "600"}), 422, "invalid"),
        ("ttl below 60", dict(session=ref3, form={"ttl": "5"}), 422, "invalid"),
        ("ttl above 31 days", dict(session=ref3, form={"ttl": "2678401"}), 422, "invalid"),
        ("ttl not a number", dict(session=ref3, form={"ttl": "soon"}), 422, "invalid"),
        ("ttl a fraction", dict(session=ref3, json_body={"ttl": 90.5}), 422, "invalid"),
        ("malformed JSON", dict(session=ref3, raw=b'{"ttl": ', content_type="application/json"),
         400, "bad_request"),
        ("no key", dict(key="", session=ref3), 401, "unauthorized"),
        ("wrong key", dict(key="app1.notthekey", session=ref3), 401, "unauthorized"),
        ("another app's key", dict(key=key("app2"), session=ref3), 401, "unauthorized"),
        ("unknown ref", dict(session="cs_" + "0" * 64), 401, "unauthorized")):
    r = expect("touch: " + what, api("POST", "sessions/touch", **kw), status, code)
    T.ok("error" in (r.json or {}) and r.json["error"].get("message"),
         "touch: %s: the error says why" % what, r)
T.eq(stored(ref3), before, "refused touches changed nothing (expiry, ttl, ended)")
T.eq(row(ref3)[3], xmin_before, "not even rewrote the row")
expect("touch GET", api("GET", "sessions/touch", session=ref3), 405, "method_not_allowed")

# --- an ended or expired login is 401 and stays over -----------------------------
ref4 = register(600)
expect("end", api("POST", "sessions/end", form={"session": ref4}), 200)
expect("touch an ended login", api("POST", "sessions/touch", session=ref4), 401,
       "unauthorized")
T.eq(row(ref4)[2], True, "the ended login stays ended")
expect("ticket for the ended login", api("POST", "tickets", session=ref4), 401,
       "unauthorized")

ref5 = register(600)
age(ref5, -1)
before = row(ref5)
expect("touch an expired login", api("POST", "sessions/touch", session=ref5), 401,
       "unauthorized")
expect("ticket for the expired login", api("POST", "tickets", session=ref5), 401,
       "unauthorized")
T.ok(row(ref5)[0] <= 0, "an expired login is not revived", row(ref5))
T.eq(row(ref5)[3], before[3], "nor its row rewritten")

# the SQL function, as an app calls it in its own transaction
T.eq(sql1("SELECT ttl FROM crosstalk.touch_session('app1', :'v1')", ref), "120",
     "crosstalk.touch_session() from SQL")
try:
    sql("SELECT crosstalk.touch_session('app1', :'v1')", ref4)
    T.ok(False, "touch_session of an ended login raises")
except RuntimeError as e:
    T.ok("not logged in" in str(e), "touch_session of an ended login raises CT401", e)

T.done()
