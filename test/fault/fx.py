"""fx.py - a private stack per fault test (scripts/stack.sh up/down in its
own state dir), processes by pid, a second crosstalk-wsd node, the
database stopped and started, and the stream checks the fault tests share.

Figures a test measures are printed as "FIGURE name=value ..." lines;
docs/RELIABILITY.md quotes them."""
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import ct

SRC = os.environ.get("CT_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("CT_BIN") or os.path.join(SRC, "build")
STACK = os.path.join(SRC, "scripts", "stack.sh")
PGBIN = sorted(d for d in (os.path.join("/usr/lib/postgresql", v, "bin")
                           for v in os.listdir("/usr/lib/postgresql"))
               if os.path.isdir(d))[-1]


def figure(name, **kv):
    print("FIGURE %s %s" % (name, " ".join("%s=%s" % (k, v) for k, v in kv.items())),
          flush=True)



def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] not in "ZX"
    except OSError:
        return False


def wait_dead(pid, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def http_ok(url, timeout=2.0):
    try:
        r = ct.http("GET", url, timeout=timeout)
        return r.status == 200
    except Exception:
        return False


class Stack:
    """One private stack: up() in BIN/fault-state/NAME, down() always."""

    def __init__(self, name, extra_conf="", env=None):
        self.name = name
        self.state = os.path.join(BIN, "fault-state", name)
        self.extra_conf = extra_conf
        self.env_extra = env or {}
        self.procs = []

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def up(self):
        os.makedirs(self.state, exist_ok=True)
        for f in os.listdir(self.state):  # fresh logs per run
            if f.endswith(".log"):
                os.unlink(os.path.join(self.state, f))
        env = dict(os.environ, CT_EXTRA_CONF=self.extra_conf, **self.env_extra)
        subprocess.run([STACK, "up", self.state, BIN], check=True, env=env)
        ct.ENV.clear()
        ct.ENV.update(ct.load_env(self.state))
        self.env = ct.ENV
        for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
            os.environ[k] = self.env[k]

    def down(self):
        subprocess.run([STACK, "down", self.state, BIN])
        for p in self.procs:  # reap what we started
            try:
                p.wait(timeout=1)
            except Exception:
                pass

    # --- processes -------------------------------------------------------
    def pids(self):
        out = {}
        try:
            with open(os.path.join(self.state, "pids")) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        out[parts[0]] = int(parts[1])
        except OSError:
            pass
        return out

    def pid(self, name):
        return self.pids()[name]

    def signal(self, name, sig):
        os.kill(self.pid(name), sig)

    def start(self, name, argv, log):
        """Start a daemon; stack.sh down stops it (its pid is recorded)."""
        lf = open(log, "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=lf,
                             stderr=subprocess.STDOUT)
        lf.close()
        self.procs.append(p)
        with open(os.path.join(self.state, "pids"), "a") as f:
            f.write("%s %d\n" % (name, p.pid))
        return p

    def stop(self, name, timeout=10.0):
        pid = self.pid(name)
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
            if not wait_dead(pid, timeout):
                os.kill(pid, signal.SIGKILL)
                wait_dead(pid, 5)

    # --- configs ---------------------------------------------------------
    def daemon_conf(self):
        return self.env["CROSSTALK_DAEMON_CONFIG"]

    def conf_variant(self, path, section_sets):
        """Copy the daemon config with keys set in sections:
        {"wsd": {"port": "1234"}}. Keys absent are added to the section."""
        lines = open(self.daemon_conf()).read().splitlines()
        out, sec, done = [], None, set()

        def flush(sec):
            for k, v in section_sets.get(sec, {}).items():
                if (sec, k) not in done:
                    out.append("%s = %s" % (k, v))
                    done.add((sec, k))
        for line in lines:
            m = re.match(r"^\[(\w+)\]\s*$", line)
            if m:
                flush(sec)
                sec = m.group(1)
                out.append(line)
                continue
            m = re.match(r"^(\w+)\s*=", line)
            if m and sec in section_sets and m.group(1) in section_sets[sec]:
                k = m.group(1)
                if (sec, k) not in done:
                    out.append("%s = %s" % (k, section_sets[sec][k]))
                    done.add((sec, k))
                continue
            out.append(line)
        flush(sec)
        for s, kv in section_sets.items():
            missing = {k: v for k, v in kv.items() if (s, k) not in done}
            if missing:
                out.append("[%s]" % s)
                out += ["%s = %s" % (k, v) for k, v in missing.items()]
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")
        return path

    def start_wsd(self, name, port, extra=None):
        """A second (third...) crosstalk-wsd node on the same database."""
        sets = {"wsd": {"port": str(port)}}
        for s, kv in (extra or {}).items():
            sets.setdefault(s, {}).update(kv)
        conf = self.conf_variant(os.path.join(self.state, name + ".conf"), sets)
        p = self.start(name, [os.path.join(BIN, "wsd", "crosstalk-wsd"),
                              "--config", conf],
                       os.path.join(self.state, name + ".log"))
        url = "http://127.0.0.1:%d/health" % port
        end = time.time() + 20
        while time.time() < end and not http_ok(url):
            if p.poll() is not None:
                break
            time.sleep(0.1)
        if not http_ok(url):
            raise RuntimeError("%s did not come up: %s" % (
                name, open(os.path.join(self.state, name + ".log")).read()[-2000:]))
        return p

    def start_fcgi(self, name="fcgi2"):
        p = self.start(name, [os.path.join(BIN, "fcgi", "crosstalk-fcgi"),
                              "--config", self.daemon_conf()],
                       os.path.join(self.state, "fcgi.log"))
        return p

    # --- the database ----------------------------------------------------
    def pg_ctl(self, *args):
        cmd = [os.path.join(PGBIN, "pg_ctl"), "-D", self.env["PGDATA"]] + list(args)
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True)

    def pg_opts(self):
        return ("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=300 -c synchronous_commit=on"
                % (self.env["PGPORT"], self.env["PGHOST"]))

    def pg_stop(self):
        return self.pg_ctl("-m", "fast", "-w", "stop")

    def pg_start(self):
        return self.pg_ctl("-w", "-l", os.path.join(self.env["PGHOST"], "pg.log"),
                           "-o", self.pg_opts(), "start")

    def pg_restart(self):
        return self.pg_ctl("-m", "fast", "-w", "-l",
                           os.path.join(self.env["PGHOST"], "pg.log"),
                           "-o", self.pg_opts(), "restart")


def ws_url(port):
    return "ws://127.0.0.1:%d/ws" % port


class StreamCheck:
    """What one reader saw of a channel whose events are all messages with
    seqs 1..N: counts lost, duplicated and out-of-order events."""

    def __init__(self, name):
        self.name = name
        self.last = 0
        self.seen = {}  # seq -> client_id
        self.dups = 0
        self.out_of_order = 0
        self.reconnects = 0

    def add(self, ev):
        if ev.get("type") != "message":
            return
        s = int(ev["seq"])
        if s in self.seen:
            self.dups += 1
        elif s != self.last + 1:
            self.out_of_order += 1
        self.seen[s] = ev.get("client_id", "")
        if s > self.last:
            self.last = s

    def lost(self, n):
        return sum(1 for s in range(1, n + 1) if s not in self.seen)

    def report(self, T, n, cids):
        lost = self.lost(n)
        T.eq(lost, 0, "%s: messages lost" % self.name)
        T.eq(self.dups, 0, "%s: messages duplicated" % self.name)
        T.eq(self.out_of_order, 0, "%s: events out of order" % self.name)
        got = set(self.seen.values())
        T.eq(len(got & cids), len(cids), "%s: every published client_id seen" % self.name)
        return lost, self.dups
