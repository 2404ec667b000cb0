"""Floods from one logged-in user never reach the others.

- Every client frame type, thousands each, from one connection and from
  many, never read: the victim logs in, subscribes, publishes and receives
  as usual; the daemon keeps its pid, and the node keeps heartbeating (the
  background lane gets its share).
- A reader that never reads while asking for megabyte histories (120
  messages of 3,990 control characters, 600 requests): the daemon's memory
  stays bounded (it stops reading that socket) and the victim's login is
  answered at once.
- A node whose query queue is tiny ([wsd] query_queue_bytes = 4096) is
  flooded until the queue is full, with subscriptions whose replays then
  fail: every failure comes back on a later loop turn and is retried with
  backoff, so the node survives (it used to recurse until the stack
  overflowed) and serves again once the flood stops.
- A connection that is closing while the logins are re-checked (it used to
  make the re-check loop spin forever)."""
import asyncio
import json
import time

import os
import re

import adv
import ct
import fx
from ct import T

QUEUE_BYTES = 4 * 1024 * 1024  # [wsd] queue_bytes, the default


def out_now(st):
    m = re.search(r"^crosstalk_wsd_outbound_bytes (\d+)$",
                  ct.http("GET", st.env["CROSSTALK_WSD"] + "/metrics").raw.decode(), re.M)
    return int(m.group(1)) if m else -1

N_EACH = 1500


async def flood(ws, frames, seconds):
    """Send frames round-robin, as fast as the socket takes them, for at
    most `seconds`; never read. Returns how many went out."""
    sent = 0
    end = time.time() + seconds

    async def go():
        nonlocal sent
        i = 0
        while time.time() < end and sent < N_EACH * len(frames):
            await ws.send(frames[i % len(frames)])
            sent += 1
            i += 1
    try:
        await asyncio.wait_for(go(), seconds + 1)
    except Exception:
        pass
    return sent


def heartbeat_age(node):
    v = ct.sql1("SELECT extract(epoch FROM now() - heartbeat_at) FROM crosstalk.nodes "
                "WHERE node_id = :'v1'", node)
    return float(v) if v else 999.0


async def main(st):
    pids = st.pids()
    wsd_pid = pids["wsd"]
    chan = ct.uniq("fl")
    T.eq(ct.api("POST", "channels/create", form={"name": chan}).status, 200, "setup: channel")
    vchan = ct.uniq("vic")
    T.eq(ct.api("POST", "channels/create", form={"name": vchan}).status, 200, "setup: victim channel")
    node = json.loads(ct.http("GET", st.env["CROSSTALK_WSD"] + "/health").raw)["node"]

    # --- every frame type, from one connection and from many -------------
    frames = [json.dumps(f) for f in (
        {"type": "history", "channel": chan, "limit": 200},
        {"type": "channels"},
        {"type": "read", "channel": chan, "seq": 1},
        {"type": "presence", "channel": chan},
        {"type": "subscribe", "channel": chan, "after": 0},
        {"type": "unsubscribe", "channel": chan},
        {"type": "edit", "id": 1, "text": "y"},
        {"type": "delete", "id": 1},
        {"type": "ping"},
        {"type": "nope"},
    )] + ["not json"]
    # publish and typing are rate-limited per user (and a connection that
    # keeps past the limits is closed with 1008): one connection of their own
    limited = [json.dumps(f) for f in (
        {"type": "publish", "channel": chan, "text": "x"},
        {"type": "typing", "channel": chan})]
    _, mallory = ct.session("app1")
    attackers = [(await adv.login("app1", user=mallory))[0] for _ in range(8)]
    tasks = [asyncio.ensure_future(flood(attackers[0], limited, 12))]
    tasks += [asyncio.ensure_future(flood(ws, frames[i % len(frames):] + frames[:i % len(frames)], 12))
              for i, ws in enumerate(attackers[1:])]
    ages = []
    worst = 0
    for i in range(4):
        await asyncio.sleep(2)
        ages.append(heartbeat_age(node))
        worst = max(worst, await adv.victim("flood of every frame type (%d)" % i, vchan))
    sent = sum(await asyncio.gather(*tasks))
    fx.figure("adv_flood", frames_sent=sent, victim_worst_ms="%.0f" % worst,
              heartbeat_age_max_s="%.1f" % max(ages))
    T.ok(sent > 5000, "the attack sent thousands of frames", str(sent))
    T.ok(max(ages) < 6, "the node kept heartbeating under the flood (presence_ttl 6 s)",
         "ages %r" % ages)
    for ws in attackers:
        ws.transport.abort()
    adv.pids_kept(st, pids, "frame floods")

    # --- megabyte histories, never read ----------------------------------
    big = ct.uniq("big")
    T.eq(ct.api("POST", "channels/create", form={"name": big}).status, 200, "setup: big channel")
    ct.sql("SELECT crosstalk.post_message('app1', 'filler', 'Filler', :'v1', "
           "repeat(chr(1), 3990)) FROM generate_series(1, 120)", big)
    rss0 = adv.rss_kb(wsd_pid)
    hog, _, _ = await adv.login("app1")
    req = json.dumps({"type": "history", "channel": big, "limit": 200})
    hog_task = asyncio.ensure_future(flood(hog, [req], 10))
    peak = rss0
    for i in range(5):
        await asyncio.sleep(2)
        peak = max(peak, adv.rss_kb(wsd_pid))
        t0 = time.time()
        try:
            ws, _, ms = await adv.login("app1")
            await ws.close()
        except Exception as e:
            ms = 99999
            T.ok(False, "a login while the hog waits", repr(e))
        T.ok(ms < adv.VICTIM_MS, "another user's login is answered while the hog never reads",
             "%.0f ms" % ms)
    hog_sent = await hog_task
    most = out_now(st)  # the hog's queue: the others read theirs
    fx.figure("adv_never_reads", history_requests=hog_sent, rss_before_kb=rss0,
              rss_peak_kb=peak, growth_kb=peak - rss0, outbound_max_bytes=most)
    # the daemon's own account of what it queued, then (without a
    # sanitizer, whose quarantine keeps freed memory) its size
    T.ok(0 < most <= QUEUE_BYTES + 2 * 1024 * 1024,
         "what wsd queued for the hog stayed within queue_bytes", str(most))
    if not os.environ.get("CT_SANITIZE"):
        T.ok(peak - rss0 < 64 * 1024, "wsd grew less than 64 MB for the hog",
             "%d kB -> %d kB" % (rss0, peak))
    hog.transport.abort()
    await adv.victim("after the hog", vchan)
    adv.pids_kept(st, pids, "megabyte histories never read")

    # --- a node with a tiny query queue -------------------------------------
    port = ct.free_port()
    st.start_wsd("tiny", port, {"wsd": {"query_queue_bytes": "4096", "node_id": "tiny"}})
    tiny_pid = st.pid("tiny")
    url = fx.ws_url(port)
    subs = []
    for _ in range(10):
        ws, _, _ = await adv.login("app1", user=mallory, url=url)
        subs.append(ws)
    fills = [json.dumps({"type": "subscribe", "channel": "dm:%s:zz%03d" % (mallory, k),
                         "after": 0}) for k in range(200)]
    fills += [json.dumps({"type": "history", "channel": big, "limit": 200})] * 50
    await asyncio.gather(*(flood(ws, fills, 6) for ws in subs))
    got = await adv.drain(subs[0], 3)
    full = sum(1 for e in got if e.get("code") == "unavailable")
    fx.figure("adv_tiny_queue", unavailable_answers=full)
    T.ok(full > 0, "the tiny queue filled: requests answered unavailable", str(len(got)))
    T.ok(fx.alive(tiny_pid) and st.pid("tiny") == tiny_pid, "the tiny-queue node survived")
    T.eq(fx.http_ok("http://127.0.0.1:%d/health" % port), True, "the tiny-queue node answers health")
    for ws in subs:
        ws.transport.abort()
    await asyncio.sleep(1)
    await adv.victim("the tiny-queue node after the flood", vchan, url=url)

    # --- a connection closing while logins are re-checked -------------------
    closing, _, _ = await adv.login("app1")
    await closing.send(json.dumps({"type": "publish", "channel": chan, "text": "x" * 70000}))
    # it never reads its close frame; session_recheck is 1 s here
    await asyncio.sleep(3)
    await adv.victim("a connection closing during the login re-check", vchan)
    closing.transport.abort()
    adv.pids_kept(st, pids, "closing during the re-check")


with fx.Stack("adv-flood", extra_conf="[limits]\npresence_ttl = 6\nsession_recheck = 1\n") as st:
    asyncio.run(main(st))
T.done()
