"""wsh.py - WebSocket helpers for test/ws on top of test/lib/ct.py."""
import asyncio
import json
import os
import re
import socket
import signal
import subprocess
import sys
import time
import urllib.request

import websockets

from ct import *  # noqa: F401,F403  (T, ENV, sql, api, ws_* ...)


async def login(app="app1", user=None, name=None):
    ws, uid, welcome, ref = await ws_login(app, user, name)
    if welcome.get("type") != "welcome":
        raise RuntimeError("no welcome: %r" % welcome)
    return ws, uid, ref


async def subscribe(ws, channel, after="0", timeout=10):
    """Subscribe; returns (replayed events, subscribed frame)."""
    await ws_send(ws, type="subscribe", channel=channel, after=after)
    got = await ws_until(ws, lambda e: e.get("type") in ("subscribed", "error")
                         and e.get("channel", channel) == channel, timeout)
    return [e for e in got if "seq" in e and e.get("type") in
            ("message", "edited", "deleted")], got[-1]


async def collect(ws, pred, timeout=5.0):
    """Events until pred(list) is true or timeout; never raises on timeout."""
    got = []
    end = time.time() + timeout
    while not pred(got):
        left = end - time.time()
        if left <= 0:
            break
        try:
            got += await ws_events(ws, left)
        except asyncio.TimeoutError:
            break
    return got


async def close_code(ws, timeout=5.0):
    """Read until the server closes; its close code (None if it did not)."""
    end = time.time() + timeout
    try:
        while time.time() < end:
            await asyncio.wait_for(ws.recv(), end - time.time())
    except websockets.exceptions.ConnectionClosed as e:
        return e.rcvd.code if e.rcvd else 1006
    except asyncio.TimeoutError:
        return None
    return None



def health(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=2) as r:
            return r.status
    except Exception:
        return None


def node_config(name, wsd_lines="", tail=""):
    """The shared stack's daemon config for another node NAME on a free
    port: (text, port, path of the file written)."""
    state = ENV["CROSSTALK_STATE"]
    src = open(ENV.get("CROSSTALK_DAEMON_CONFIG", ENV["CROSSTALK_CONFIG"])).read()
    port = free_port()
    text = re.sub(r"(?m)^port = \d+$", "port = %d" % port, src)
    text = text.replace("[wsd]\n", "[wsd]\nnode_id = %s\n%s" % (name, wsd_lines), 1) + tail
    conf = os.path.join(state, "wsd-%s.conf" % name)
    open(conf, "w").write(text)
    return text, port, conf


def start_node(name, wsd_lines="", tail=""):
    """Another crosstalk-wsd on the shared database; its log goes to
    STATE/wsd-NAME.log. Returns (process, port, config path, config text)."""
    text, port, conf = node_config(name, wsd_lines, tail)
    log = open(os.path.join(ENV["CROSSTALK_STATE"], "wsd-%s.log" % name), "a")
    p = subprocess.Popen([os.path.join(ENV["CROSSTALK_BIN"], "wsd", "crosstalk-wsd"), "--config", conf],
                         stdout=log, stderr=log)
    log.close()
    return p, port, conf, text


def msgs(evs, channel=None):
    return [e for e in evs if e.get("type") == "message"
            and (channel is None or e.get("channel") == channel)]


def new_channel(prefix="c", apps=None):
    name = uniq(prefix)
    sql("INSERT INTO crosstalk.channels (name, title, apps) VALUES "
        "(:'v1', :'v1', " + ("NULL" if apps is None else "string_to_array(:'v2', ',')") + ")",
        name, *( [] if apps is None else [",".join(apps)] ))
    return name


def post_sql(channel, text, user="sqluser", app="app1"):
    return sql("SELECT (m).id, (m).seq FROM (SELECT crosstalk.post_message("
               ":'v1', :'v2', :'v2', :'v3', :'v4') m) x",
               app, user, channel, text)[0]


def run(coro):
    try:
        asyncio.run(coro)
    except Exception as e:  # a crash is a failure, not a pass
        import traceback
        traceback.print_exc()
        T.ok(False, "test raised %r" % e)
    T.done()
