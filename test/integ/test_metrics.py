"""Both /metrics endpoints: readable only from the allowed addresses or
with the admin token (behind a trusted proxy, the forwarded client counts),
and their counters move as the test acts."""
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request

import ct
from ct import T

src, bindir = os.environ["CT_SRC"], os.environ["CT_BIN"]
state = tempfile.mkdtemp(prefix="ctmetrics.")
env = dict(os.environ)
# the loopback is *not* allowed here: only the token, or a client that the
# trusted proxy (loopback) forwards from 10.9.9.9
env["CT_EXTRA_CONF"] = ("[wsd]\nmetrics_allow = 10.9.9.9\nmetrics_token = t0ken-wsd\n"
                        "trusted_proxies = 127.0.0.1\n[http]\nmetrics_allow = 10.9.9.9\n"
                        "metrics_token = t0ken-http\n")
up = subprocess.run([src + "/scripts/stack.sh", "up", state, bindir], env=env,
                    capture_output=True, text=True)
if up.returncode != 0:
    print(up.stderr)
    T.ok(False, "stack up")
    T.done()
ct.ENV.update(ct.load_env(state))
E = ct.ENV


def get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def parse(text):
    vals = {}
    for line in text.splitlines():
        m = re.match(r'^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$', line)
        if m:
            vals[m.group(1)] = float(m.group(2))
    return vals


WSD = E["CROSSTALK_WSD"] + "/metrics"
FCGI = E["CROSSTALK_HTTP"] + "/metrics"


def scrape_wsd():
    s, body = get(WSD, {"Authorization": "Bearer t0ken-wsd"})
    T.eq(s, 200, "wsd metrics with the token")
    return parse(body)


def scrape_fcgi():
    s, body = get(FCGI, {"Authorization": "Bearer t0ken-http"})
    T.eq(s, 200, "fcgi metrics with the token")
    return parse(body)


try:
    s, body = get(WSD)
    T.eq(s, 403, "wsd metrics refused to a loopback client not in metrics_allow")
    T.ok("forbidden" in body and "crosstalk_" not in body, "refusal is a JSON error", body[:200])
    s, _ = get(WSD, {"Authorization": "Bearer wrong"})
    T.eq(s, 403, "wsd metrics refused with a wrong token")
    s, body = get(WSD, {"X-Forwarded-For": "10.9.9.9"})
    T.eq(s, 200, "wsd metrics for the allowed client forwarded by a trusted proxy")
    s, _ = get(FCGI)
    T.eq(s, 403, "fcgi metrics refused to a client not in metrics_allow")
    s, _ = get(FCGI, {"X-Forwarded-For": "10.9.9.9"})
    T.eq(s, 403, "fcgi metrics: a client's own X-Forwarded-For is not believed")

    w0, f0 = scrape_wsd(), scrape_fcgi()
    for name in ["crosstalk_wsd_connections", "crosstalk_wsd_subscriptions",
                 "crosstalk_wsd_deliveries_total", "crosstalk_wsd_frames_written_total",
                 "crosstalk_wsd_events_inline_total",
                 "crosstalk_wsd_slow_consumers_closed_total", "crosstalk_notify_queue_usage",
                 'crosstalk_wsd_auth_failures_total{reason="ticket"}',
                 'crosstalk_wsd_rate_limited_total{kind="publish"}',
                 "crosstalk_wsd_db_reconnects_total", "crosstalk_wsd_replay_batches_total",
                 "crosstalk_wsd_statements_prepared_total",
                 "crosstalk_wsd_publish_ack_seconds_count",
                 "crosstalk_wsd_commit_delivery_seconds_count"]:
        T.ok(name in w0, "wsd exposes %s" % name)
    T.ok(w0.get("crosstalk_wsd_db_reconnects_total", 0) >= 2, "database connections counted")

    async def act():
        a, ua, wa, _ = await ct.ws_login("app1")
        b, ub, wb, _ = await ct.ws_login("app2")
        for ws in (a, b):
            await ct.ws_send(ws, type="subscribe", channel="general", after="0")
            await ct.ws_until(ws, lambda e: e.get("type") == "subscribed")
        for i in range(5):
            await ct.ws_send(a, type="publish", channel="general", text="m%d" % i, client_id="c%d" % i)
        await ct.ws_until(b, lambda e: e.get("type") == "message" and e.get("text") == "m4")
        # the publishes are counted as they are acked, and b may hear of
        # the last commit before a's acks for it are out: wait for all 5
        acked = set()

        def all_acked(e):
            if e.get("type") == "ack":
                acked.add(e.get("client_id"))
            return len(acked) == 5
        await ct.ws_until(a, all_acked)
        bad = await ct.ws_open()
        await ct.ws_send(bad, type="auth", ticket="ctt_nope")
        try:
            await asyncio.wait_for(bad.wait_closed(), 5)
        except asyncio.TimeoutError:
            pass
        mid = scrape_wsd()
        await a.close()
        await b.close()
        return mid

    w1 = asyncio.run(act())
    ref, _ = ct.session("app1")
    r = ct.api("POST", "messages", session=ref, json_body={"channel": "general", "text": "over http"})
    T.eq(r.status, 201, "post over HTTP")
    f1 = scrape_fcgi()

    def moved(a, b, name, at_least):
        d = b.get(name, 0) - a.get(name, 0)
        return T.ok(d >= at_least, "%s moved by >= %d" % (name, at_least), "moved by %s" % d)

    moved(w0, w1, "crosstalk_wsd_publishes_total", 5)
    moved(w0, w1, "crosstalk_wsd_events_in_total", 5)
    # the events came with their NOTIFY (sql/functions.sql, notify_event): no fetch needed
    moved(w0, w1, "crosstalk_wsd_events_inline_total", 1)
    moved(w0, w1, "crosstalk_wsd_deliveries_total", 10)  # 5 events x 2 subscribers
    moved(w0, w1, "crosstalk_wsd_frames_written_total", 2)
    moved(w0, w1, "crosstalk_wsd_notifications_total", 5)
    moved(w0, w1, "crosstalk_wsd_publish_ack_seconds_count", 5)
    moved(w0, w1, "crosstalk_wsd_commit_delivery_seconds_count", 5)
    moved(w0, w1, 'crosstalk_wsd_auth_failures_total{reason="ticket"}', 1)
    moved(w0, w1, "crosstalk_wsd_auth_total", 2)
    T.eq(w1.get("crosstalk_wsd_connections"), 2.0, "two connections open while acting")
    T.ok(w1.get("crosstalk_wsd_subscriptions", 0) >= 2, "subscriptions counted")
    moved(f0, f1, "crosstalk_fcgi_request_seconds_count", 2)
finally:
    subprocess.run([src + "/scripts/stack.sh", "down", state, bindir])
    if not T.failed:  # a failed run keeps the daemons' logs there
        shutil.rmtree(state, ignore_errors=True)
T.done()
