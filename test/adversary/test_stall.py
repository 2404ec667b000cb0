"""A database that stops answering on one connection stalls nobody else,
and a LISTEN connection cut without a FIN is noticed.

Here [database] statement_timeout = 2 and keepalive = 2, so a statement
that gets no answer costs its connection after 2 + 5 s, and the LISTEN
connection is probed every 2 s.

- One of crosstalk-wsd's query backends is paused (SIGSTOP): logins,
  subscribes and publishes go on over the others; the paused one is given up
  at its deadline and made anew.
- Its LISTEN backend is paused: the unanswered probe gives it up, a new one
  LISTENs, and a subscriber gets every message posted meanwhile, in order.
- One of crosstalk-fcgi's backends is paused: requests on the other
  connections go on; the one caught on it answers 503 at the deadline.
- A node reaches PostgreSQL through a TCP relay that stops forwarding its
  LISTEN connection (a half-open connection: no FIN, no RST, the relay's
  kernel still acknowledges): the node notices within two probes,
  reconnects and catches up by seq."""
import asyncio
import os
import signal
import socket
import threading
import time

import adv
import ct
import fx
from ct import T

KEEPALIVE = 2
STATEMENT_TIMEOUT = 2
DEADLINE_S = STATEMENT_TIMEOUT + 5


def backend(app, exclude=()):
    rows = ct.sql("SELECT pid FROM pg_stat_activity WHERE application_name = :'v1' "
                  "ORDER BY backend_start", app)
    pids = [int(r[0]) for r in rows if int(r[0]) not in exclude]
    return pids


def post(ref, channel, text):
    return ct.api("POST", "messages", session=ref, json_body={"channel": channel, "text": text})


async def collect_seqs(ws, channel, n, timeout):
    seqs = []
    end = time.time() + timeout
    while len(seqs) < n and time.time() < end:
        try:
            for e in await ct.ws_events(ws, end - time.time()):
                if e.get("type") == "message" and e.get("channel") == channel:
                    seqs.append(int(e["seq"]))
        except asyncio.TimeoutError:
            break
    return seqs


async def paused_query(st, chan):
    """The one request that was sent on the paused connection fails at its
    deadline (a login closes with 1013, try again); every other is served
    over the other connections as usual."""
    pids = backend("crosstalk-wsd")
    T.ok(len(pids) >= 2, "wsd has its query connections", str(pids))
    victim_pid = pids[0]
    os.kill(victim_pid, signal.SIGSTOP)
    times, failed = [], []
    try:
        t0 = time.time()
        while time.time() - t0 < DEADLINE_S + 3:
            t1 = time.time()
            ms = await adv.victim("a paused wsd query backend", chan, quiet=True)
            (times if ms >= 0 else failed).append(time.time() - t1)
        fx.figure("adv_paused_query", served=len(times), failed=len(failed),
                  worst_served_ms="%.0f" % (max(times) * 1000 if times else -1))
        T.ok(len(failed) <= 1, "at most the victim caught on the paused connection failed",
             str(failed))
        T.ok(all(d < DEADLINE_S + 3 for d in failed), "and it failed at the deadline", str(failed))
        T.ok(len(times) >= 5 and max(times) < adv.VICTIM_MS * 4 / 1000.0,
             "every other victim was served as usual", str([round(t, 2) for t in times]))
        for _ in range(50):
            if len(backend("crosstalk-wsd", exclude=(victim_pid,))) >= len(pids):
                break
            await asyncio.sleep(0.2)
        T.eq(len(backend("crosstalk-wsd", exclude=(victim_pid,))), len(pids),
             "the paused connection was given up and made anew")
    finally:
        os.kill(victim_pid, signal.SIGCONT)


async def paused_listen(st, chan):
    ref, _ = ct.session("app1")
    ws, _, _ = await adv.login("app1")
    await ct.ws_send(ws, type="subscribe", channel=chan, after="-1")
    evs = await ct.ws_until(ws, lambda e: e.get("type") == "subscribed", 10)
    last = int(evs[-1]["last_seq"])
    (lpid,) = backend("crosstalk-wsd-listen")[:1]
    os.kill(lpid, signal.SIGSTOP)
    try:
        t0 = time.time()
        for i in range(5):
            T.eq(post(ref, chan, "during %d" % i).status, 201, "a post while LISTEN is paused")
        seqs = await collect_seqs(ws, chan, 5, 4 * KEEPALIVE + 8)
        took = time.time() - t0
        fx.figure("adv_paused_listen", delivered=len(seqs), after_s="%.1f" % took)
        T.eq(seqs, list(range(last + 1, last + 6)), "every message arrived, in order")
        T.ok(took < 4 * KEEPALIVE + 8, "within about two probes and a connect", "%.1f s" % took)
        T.eq(len(backend("crosstalk-wsd-listen", exclude=(lpid,))), 1,
             "a new LISTEN connection was made")
    finally:
        os.kill(lpid, signal.SIGCONT)
    await ws.close()


def paused_fcgi(chan):
    pids = backend("crosstalk-fcgi")
    T.ok(len(pids) >= 1, "fcgi has pool connections", str(pids))
    stopped = pids[0]
    os.kill(stopped, signal.SIGSTOP)
    out = []

    def worker(k):
        ref = None
        for i in range(8):
            t0 = time.time()
            if not ref:  # a session is a request too (it may be the one caught)
                r = ct.api("POST", "sessions", json_body={"user_id": ct.uniq("f"),
                                                          "display_name": "F", "ttl": 600})
                if r.status == 200:
                    ref = r.json["session"]
                else:
                    out.append((r.status, time.time() - t0))
                    continue
            r = post(ref, chan, "fcgi %d %d" % (k, i))
            out.append((r.status, time.time() - t0))
    try:
        ths = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in ths:
            t.start()
        for t in ths:
            t.join(60)
    finally:
        os.kill(stopped, signal.SIGCONT)
    failed = [s for s, _ in out if s not in (200, 201)]
    slow = [d for _, d in out if d > 1.5]
    fx.figure("adv_paused_fcgi", posts=len(out), failed=len(failed), slow=len(slow),
              worst_s="%.1f" % max(d for _, d in out))
    T.eq(len(out), 32, "every post answered")
    T.ok(all(d < DEADLINE_S + 3 for _, d in out), "none waited past the deadline",
         str(sorted(round(d, 1) for _, d in out)[-4:]))
    T.ok(len(failed) <= 2 and all(s == 503 for s in failed),
         "at most the posts caught on the paused connection failed, with 503", str(failed))
    T.ok(len(slow) <= 2, "the others kept their latency", str(len(slow)))


class Relay:
    """A TCP relay to PostgreSQL that can stop forwarding the connections
    whose startup packet names an application, keeping their sockets open
    (the kernel still acknowledges: a half-open connection, as a dead
    middlebox leaves it)."""

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.frozen = set()  # connection ids no longer forwarded
        self.conns = []      # (id, first bytes seen from the client)
        self.freeze_app = None
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        n = 0
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            n += 1
            u = socket.create_connection(self.target)
            rec = [n, b""]
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self.pipe, args=(c, u, rec, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(u, c, rec, False), daemon=True).start()

    def pipe(self, a, b, rec, upstream):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if upstream and len(rec[1]) < 4096:
                    rec[1] += data
                while rec[0] in self.frozen:
                    time.sleep(0.2)  # hold it: nothing goes through
                b.sendall(data)
        except OSError:
            pass
        if rec[0] not in self.frozen:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self, app):
        with self.lock:
            for n, first in self.conns:
                if app.encode() + b"\0" in first:
                    self.frozen.add(n)
        return len(self.frozen)


async def relayed(st, chan):
    relay = Relay(int(ct.ENV["PGPORT"]))
    port = ct.free_port()
    conninfo = ("host=127.0.0.1 port=%d dbname=%s user=%s sslmode=disable"
                % (relay.port, ct.ENV["PGDATABASE"], ct.ENV.get("CROSSTALK_RUNTIME_ROLE")
                   or ct.ENV["PGUSER"]))
    st.start_wsd("relayed", port, {"wsd": {"node_id": "relayed"},
                                   "database": {"conninfo": conninfo}})
    ref, _ = ct.session("app1")
    ws, _, _ = await adv.login("app1", url=fx.ws_url(port))
    await ct.ws_send(ws, type="subscribe", channel=chan, after="-1")
    evs = await ct.ws_until(ws, lambda e: e.get("type") == "subscribed", 10)
    last = int(evs[-1]["last_seq"])
    T.eq(post(ref, chan, "before").status, 201, "a post before the cut")
    T.eq(await collect_seqs(ws, chan, 1, 10), [last + 1], "delivered through the relay")
    T.eq(relay.freeze("crosstalk-wsd-listen"), 1, "the relay froze the LISTEN connection")
    t0 = time.time()
    for i in range(5):
        T.eq(post(ref, chan, "after the cut %d" % i).status, 201, "a post after the cut")
    seqs = await collect_seqs(ws, chan, 5, 4 * KEEPALIVE + 10)
    took = time.time() - t0
    fx.figure("adv_half_open_listen", delivered=len(seqs), after_s="%.1f" % took,
              keepalive_s=KEEPALIVE)
    T.eq(seqs, list(range(last + 2, last + 7)), "every message after the cut arrived, in order")
    T.ok(took < 4 * KEEPALIVE + 10, "within two probes, a connect and a fetch", "%.1f s" % took)
    log = open(os.path.join(st.state, "relayed.log")).read()
    T.ok("no answer to the keepalive probe" in log, "the node says why it reconnected")
    await ws.close()


async def main(st):
    pids = st.pids()
    chan = ct.uniq("st")
    T.eq(ct.api("POST", "channels/create", form={"name": chan}).status, 200, "setup: channel")
    await paused_query(st, chan)
    await paused_listen(st, chan)
    paused_fcgi(chan)
    await relayed(st, chan)
    await adv.victim("after the stalls", chan)
    adv.pids_kept(st, pids, "stalled database connections")


with fx.Stack("adv-stall", extra_conf="[database]\nstatement_timeout = %d\nkeepalive = %d\n"
              % (STATEMENT_TIMEOUT, KEEPALIVE)) as st:
    asyncio.run(main(st))
T.done()
