#!/usr/bin/python3
"""test_spawn.py - crosstalk-fcgi started by spawn-fcgi (config socket
empty: it serves the listening socket on fd 0), spoken to over FastCGI
directly. Also the long-poll bound: with [http] max_waiters = 1 a second
waiting poll answers at once with "waited": false. Ends with SIGTERM and
checks the responder stopped cleanly."""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

from ct import ENV, T, sql1, wait_until
from hx import new_channel, new_session, post


def fcgi_send(path, params, method="GET", query="", body=b"", headers=None, timeout=30):
    """A FastCGI request sent on a new connection to the responder: the
    socket, for its answer."""
    env = {"REQUEST_METHOD": method, "DOCUMENT_URI": "/api/v1/" + path,
           "SCRIPT_NAME": "/api/v1/" + path, "QUERY_STRING": query,
           "CONTENT_LENGTH": str(len(body)), "SERVER_PROTOCOL": "HTTP/1.1"}
    if body:
        env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    env.update(headers or {})

    def rec(t, content):
        return struct.pack("!BBHHBx", 1, t, 1, len(content), 0) + content

    def nv(k, v):
        k, v = k.encode(), v.encode()
        enc = lambda n: bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
        return enc(len(k)) + enc(len(v)) + k + v

    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(params["sock"])
    out = rec(1, struct.pack("!HB5x", 1, 0))
    pairs = b"".join(nv(k, v) for k, v in env.items())
    out += rec(4, pairs) + rec(4, b"")
    if body:
        out += rec(5, body)
    out += rec(5, b"")
    s.sendall(out)
    return s


def fcgi_request(path, params, method="GET", query="", body=b"", headers=None, timeout=30):
    s = fcgi_send(path, params, method, query, body, headers, timeout)
    data, stdout = b"", b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    while len(data) >= 8:
        _, t, _, n, pad = struct.unpack("!BBHHBx", data[:8])
        if t == 6:
            stdout += data[8:8 + n]
        data = data[8 + n + pad:]
    head, _, payload = stdout.partition(b"\r\n\r\n")
    m = re.search(rb"Status: (\d+)", head)
    try:
        body = json.loads(payload or b"null")
    except ValueError:
        body = payload.decode(errors="replace")  # metrics: text
    return int(m.group(1)) if m else 0, head.decode(), body


work = tempfile.mkdtemp(prefix="ctspawn.", dir="/tmp")
os.chmod(work, 0o755)
sock = os.path.join(work, "fcgi.sock")
conf = os.path.join(work, "crosstalk.conf")
with open(ENV["CROSSTALK_CONFIG"]) as f:
    text = f.read()
text = re.sub(r"(?m)^socket = .*$",
              "socket =\nmax_waiters = 1\nmetrics_token = spawn-metrics-token", text)
text = re.sub(r"(?m)^workers = .*$", "workers = 2", text)
with open(conf, "w") as f:
    f.write(text)
binary = os.path.join(ENV["CROSSTALK_BIN"], "fcgi", "crosstalk-fcgi")
log = open(os.path.join(work, "fcgi.log"), "w")
# -n: stay in the foreground, so this pid is crosstalk-fcgi itself
proc = subprocess.Popen(["spawn-fcgi", "-n", "-s", sock, "-M", "0600", "--", binary,
                         "--config", conf], stdout=log, stderr=log)
P = {"sock": sock}

def accepting(path):
    """spawn-fcgi binds (the file appears) before it listens: ready when a
    connection is taken, not when the file exists"""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


for _ in range(100):
    if os.path.exists(sock) and accepting(sock):
        break
    time.sleep(0.05)
T.ok(os.path.exists(sock) and accepting(sock), "spawn-fcgi made the socket and listens on it")

try:
    st, head, body = fcgi_request("health", P)
    T.eq((st, body and body.get("ok")), (200, True), "health over fd 0")
    T.ok("Content-Length:" in head, "Content-Length on the spawned responder")
    auth = {"HTTP_AUTHORIZATION": "Bearer " + ENV["APP1_KEY"]}
    ref, user = new_session()
    st, _, body = fcgi_request("messages", P, method="POST",
                               body=b"channel=general&text=via+spawn-fcgi",
                               headers=dict(auth, HTTP_X_CROSSTALK_SESSION=ref))
    T.eq(st, 201, "post through the spawned responder")

    # the waiter bound: one poll waits, the second answers at once
    ch = new_channel()
    first = []
    th = threading.Thread(target=lambda: first.append(fcgi_request(
        "messages/poll", P, query="channel=%s&wait=10" % ch, headers=auth)))
    th.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    st, _, body = fcgi_request("messages/poll", P, query="channel=%s&wait=10" % ch,
                               headers=auth)
    took = time.monotonic() - t0
    T.eq((st, body.get("waited"), body.get("messages")), (200, False, []),
         "past max_waiters: answered at once, waited false")
    T.ok(took < 3, "second poll did not wait", "%.2f s" % took)
    st, _, body = fcgi_request("metrics", P, headers={"REMOTE_ADDR": "127.0.0.1"})
    T.ok(st == 200 and "crosstalk_fcgi_polls_not_waited_total 1" in body and
         "crosstalk_fcgi_waiting_polls 1" in body, "metrics count the refused wait",
         str(body)[-600:])
    st, _, body = fcgi_request("metrics", P, headers={"REMOTE_ADDR": "192.0.2.7"})
    T.eq((st, body.get("error", {}).get("code")), (403, "forbidden"),
         "metrics refused to other addresses")
    st, _, body = fcgi_request("metrics", P, headers={
        "REMOTE_ADDR": "192.0.2.7", "HTTP_AUTHORIZATION": "Bearer spawn-metrics-token"})
    T.ok(st == 200 and "crosstalk_fcgi_request_seconds_bucket" in body,
         "metrics_token lets another address in", str(body)[:200])
    post(ref, ch, "wake the one waiter")
    th.join(20)
    T.ok(first and first[0][0] == 200 and len(first[0][2]["messages"]) == 1
         and first[0][2].get("waited") is True, "the waiting poll woke", repr(first)[:300])

    # a waiting poll whose client leaves gives its place back at once and
    # counts as 499 (this responder is the test's alone: exact counts)
    def metrics():
        return fcgi_request("metrics", P, headers={"REMOTE_ADDR": "127.0.0.1"})[2]

    gone = 'crosstalk_fcgi_requests_total{endpoint="messages/poll",status="499"} 1'
    leaving = fcgi_send("messages/poll", P, query="channel=%s&after=1&wait=20" % ch, headers=auth)
    T.ok(wait_until(lambda: "crosstalk_fcgi_waiting_polls 1" in metrics(), 5), "a poll waits")
    T.ok(gone not in metrics(), "nothing counted as 499 before it leaves")
    leaving.close()
    t0 = time.monotonic()
    T.ok(wait_until(lambda: "crosstalk_fcgi_waiting_polls 0" in metrics(), 5),
         "its client left: its place is free", "%.2f s" % (time.monotonic() - t0))
    T.ok(gone in metrics(), "counted once, as 499", metrics()[-900:])
    # the rate limit holds across processes: 10 posts through nginx's
    # responder and 10 through this one fill the window; the next is 429
    rref, _ = new_session()
    codes = [post(rref, "random", "n%d" % i).status for i in range(10)]
    for i in range(10):
        st, _, _ = fcgi_request("messages", P, method="POST",
                                body=("channel=random&text=s%d" % i).encode(),
                                headers=dict(auth, HTTP_X_CROSSTALK_SESSION=rref))
        codes.append(st)
    T.eq(codes, [201] * 20, "20 posts over two processes")
    st, head, body = fcgi_request("messages", P, method="POST",
                                  body=b"channel=random&text=one+too+many",
                                  headers=dict(auth, HTTP_X_CROSSTALK_SESSION=rref))
    T.eq(st, 429, "21st post in the window, on the other process: 429")
    T.ok("Retry-After:" in head, "Retry-After from the spawned responder")
    T.eq(post(rref, "random", "and here").status, 429, "and on the first process too")

    # SIGTERM while a poll waits: it is answered and the process ends
    last = []
    th = threading.Thread(target=lambda: last.append(fcgi_request(
        "messages/poll", P, query="channel=%s&after=1&wait=20" % ch, headers=auth)))
    th.start()
    time.sleep(0.5)
finally:
    t_term = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "killed"
    log.close()
T.eq(rc, 0, "SIGTERM: clean exit")
th.join(20)
T.ok(time.monotonic() - t_term < 8, "stopped promptly with a poll waiting",
     "%.2f s" % (time.monotonic() - t_term))
T.ok(last and last[0][0] == 200 and last[0][2]["messages"] == [],
     "the waiting poll was answered at stop", repr(last)[:300])
logtext = open(os.path.join(work, "fcgi.log")).read()
T.ok('socket="fd:0"' in logtext, "listened on fd 0", logtext[-500:])
T.ok("AddressSanitizer" not in logtext and "runtime error:" not in logtext,
     "no sanitizer report", logtext[-2000:])
if T.failed == 0:
    shutil.rmtree(work, ignore_errors=True)
T.done()
