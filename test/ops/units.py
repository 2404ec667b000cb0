"""units.py - both daemons run under their systemd units' hardening, and
live through real work.

systemd is not PID 1 on the machines the suite runs on (a CI VM, a
container, the fresh-Debian chroot), so test/ops/unitrun.py applies each
unit's directives the way systemd does (user and groups, no capabilities,
no new privileges, a read-only system, private /tmp and /dev, the proc
options, the address families, namespaces, W^X, and the system-call filter
built from systemd's own groups; an unknown directive is an error). Then:

 1. probes in the wsd unit's sandbox show that it holds: /etc is read-only,
    /root hidden, a syscall outside the filter kills (swapoff(2)), W+X memory
    and an AF_PACKET socket are refused, so is a new namespace;
 2. with strace installed, both daemons run a real workload under strace
    with everything but the syscall filter, and every syscall they made is
    checked against the unit's SystemCallFilter= (a name outside it is
    what would have killed the daemon: the test says which);
 3. both daemons run the same workload with the filter on: an HTTP API
    round trip through nginx (sessions, touch, ticket, post, long-poll,
    metrics), a WebSocket chat (auth, subscribe, publish, ack, presence,
    typing, read), the widget and scripts, a SIGHUP reload of crosstalk-wsd;
    then SIGTERM: each exits 0, none killed by SIGSYS.
Root only (else skipped, 77). The binaries, web files and config are
copied under /run (ProtectHome would hide a checkout under /root).
"""
import asyncio
import grp
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.environ["CT_SRC"], "test", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ct  # noqa: E402
import unitrun  # noqa: E402

SRC = os.environ["CT_SRC"]
BIN = os.environ["CT_BIN"]
STATE = os.path.join(BIN, "ops-units")
STAGE = "/run/ct-units"
PY = "/usr/bin/python3"
UNITRUN = os.path.join(SRC, "test", "ops", "unitrun.py")
T = ct.T
procs = []
made_user = False


def unit(name):
    return os.path.join(SRC, "conf", name + ".service")


def launch(name, *opts, log=None):
    cmd = [PY, UNITRUN, "--replace", "/usr/bin/=%s/bin/" % STAGE,
           "--replace", "/etc/crosstalk/crosstalk.conf=%s/crosstalk.conf" % STAGE] + list(opts) + [unit(name)]
    out = open(log, "a") if log else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(p)
    return p


def probe(cmd):
    """A command in crosstalk-wsd's sandbox; (returncode, output)."""
    r = subprocess.run([PY, UNITRUN, "--exec", cmd, unit("crosstalk-wsd")],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def stage(env):
    """The test install: binaries, web files, the config (0640 root:crosstalk)."""
    shutil.rmtree(STAGE, ignore_errors=True)
    os.makedirs(STAGE + "/bin")
    os.chmod(STAGE, 0o755)
    for b in ("fcgi/crosstalk-fcgi", "wsd/crosstalk-wsd"):
        shutil.copy2(os.path.join(BIN, b), STAGE + "/bin/")
    shutil.copytree(os.path.join(SRC, "web"), STAGE + "/web")
    ws_port = ct.free_port()
    conf = """[database]
conninfo = host=127.0.0.1 port={pg} dbname=crosstalk user={role}
[http]
socket = /run/crosstalk/fcgi.sock
public_ws_url = ws://127.0.0.1:{ws}/ws
public_widget_url = http://127.0.0.1:{ws}/widget
[wsd]
listen = 127.0.0.1
port = {ws}
web_root = {stage}/web
origin = http://127.0.0.1:{ws}
""".format(pg=env["PGPORT"], role=env["CROSSTALK_RUNTIME_ROLE"], ws=ws_port, stage=STAGE)
    path = STAGE + "/crosstalk.conf"
    with open(path, "w") as f:
        f.write(conf)
    os.chown(path, 0, grp.getgrnam("crosstalk").gr_gid)
    os.chmod(path, 0o640)
    return ws_port


def start_nginx(port):
    """The shipped API snippet as it is (unix:/run/crosstalk/fcgi.sock),
    workers as www-data, the socket's group."""
    d = os.path.join(STATE, "nginx")
    os.makedirs(d + "/tmp", exist_ok=True)
    shutil.chown(d + "/tmp", "www-data")
    snippet = open(os.path.join(SRC, "conf", "nginx-crosstalk.conf")).read()
    snippet = snippet.replace("include fastcgi_params;", "include /etc/nginx/fastcgi_params;")
    with open(d + "/api.conf", "w") as f:
        f.write(snippet)
    with open(d + "/nginx.conf", "w") as f:
        f.write("""user www-data;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(d)s/tmp/body;
    proxy_temp_path %(d)s/tmp/proxy;
    fastcgi_temp_path %(d)s/tmp/fastcgi;
    uwsgi_temp_path %(d)s/tmp/uwsgi;
    scgi_temp_path %(d)s/tmp/scgi;
    server { listen 127.0.0.1:%(port)d; include %(d)s/api.conf; }
}
""" % {"d": d, "port": port})
    p = subprocess.Popen(["nginx", "-e", d + "/error.log", "-p", d, "-c", d + "/nginx.conf",
                          "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    procs.append(p)


def http(method, url, body=None, headers=None):
    return ct.http(method, url, body, headers or {}, timeout=20)


async def ws_work(ws_url, origin, ticket, channel, label):
    import websockets
    async with websockets.connect(ws_url, origin=origin, subprotocols=["crosstalk.v1"],
                                  ping_interval=None, open_timeout=10) as ws:
        await ct.ws_send(ws, type="auth", ticket=ticket)
        ev = await ct.ws_until(ws, lambda e: e.get("type") in ("welcome", "error"), 10)
        if ev[-1].get("type") != "welcome":
            return "auth: %r" % ev[-1]
        await ct.ws_send(ws, type="subscribe", channel=channel, after="0")
        await ct.ws_until(ws, lambda e: e.get("type") in ("subscribed", "error"), 10)
        await ct.ws_send(ws, type="presence", channel=channel)
        await ct.ws_send(ws, type="typing", channel=channel)
        text, cid = "under the units (%s)" % label, ct.uniq("u")
        await ct.ws_send(ws, type="publish", channel=channel, text=text, client_id=cid)
        seen = set()

        def both(e):
            if e.get("type") == "ack" and e.get("client_id") == cid:
                seen.add("ack")
            if e.get("type") == "message" and e.get("text") == text:
                seen.add("message")
                seen.add(e.get("seq"))
            return "ack" in seen and "message" in seen
        await ct.ws_until(ws, both, 10)
        seq = [s for s in seen if s not in ("ack", "message")][0]
        await ct.ws_send(ws, type="read", channel=channel, seq=seq)
        await ct.ws_send(ws, type="ping")
        await ct.ws_until(ws, lambda e: e.get("type") == "pong", 10)
    return "ok"


def workload(env, api_base, ws_port, label):
    """What a day of chat asks of both daemons; True when all of it worked."""
    key = env["APP1_KEY"]
    hdr = {"Authorization": "Bearer " + key}
    results = []

    def check(what, cond, detail=""):
        results.append(T.ok(cond, "%s: %s" % (label, what), detail))
    r = http("GET", api_base + "/health")
    check("API health through nginx", r.status == 200, r)
    r = http("POST", api_base + "/sessions", json.dumps({"user_id": "unit", "display_name": "Unit", "ttl": 600}).encode(),
             dict(hdr, **{"Content-Type": "application/json"}))
    ref = (r.json or {}).get("session", "")
    check("POST sessions", r.status == 200 and ref, r)
    r = http("POST", api_base + "/sessions/touch", b"", dict(hdr, **{"X-Crosstalk-Session": ref}))
    check("POST sessions/touch", r.status == 200, r)
    r = http("POST", api_base + "/messages", json.dumps({"channel": "general", "text": "over HTTP"}).encode(),
             dict(hdr, **{"X-Crosstalk-Session": ref, "Content-Type": "application/json"}))
    check("POST messages", r.status == 201, r)
    t0 = time.monotonic()
    r = http("GET", api_base + "/messages/poll?channel=general&after=100000&wait=1", headers=hdr)
    check("a long-poll waits", r.status == 200 and time.monotonic() - t0 > 0.8, r)
    r = http("GET", api_base + "/metrics")
    check("fcgi metrics", r.status == 200 and b"crosstalk_fcgi_requests_total" in r.raw, r)
    r = http("POST", api_base + "/tickets", b"", dict(hdr, **{"X-Crosstalk-Session": ref}))
    ticket = (r.json or {}).get("ticket", "")
    check("POST tickets", r.status == 200 and ticket, r)
    wsd = "http://127.0.0.1:%d" % ws_port
    for path in ("/health", "/widget?channel=general", "/widget/config", "/crosstalk.js",
                 "/crosstalk-embed.js", "/metrics"):
        r = http("GET", wsd + path)
        check("crosstalk-wsd serves " + path, r.status == 200, r.status)
    try:
        res = asyncio.run(ws_work("ws://127.0.0.1:%d/ws" % ws_port, env["APP1_ORIGIN"], ticket, "general", label))
    except Exception as e:  # noqa: BLE001
        res = repr(e)
    check("a WebSocket chat (auth, subscribe, presence, typing, publish, ack, read, ping)", res == "ok", res)
    return all(results)


def alive(p):
    return p.poll() is None


def run_daemons(env, ws_port, api_port, label, trace=None):
    """Start both under their units, work them, reload, stop; the exit codes."""
    for d in ("/run/crosstalk",):
        shutil.rmtree(d, ignore_errors=True)
    opts = {}
    for name in ("crosstalk-fcgi", "crosstalk-wsd"):
        o = ["--strace", os.path.join(STATE, "%s.trace" % name)] if trace else []
        opts[name] = launch(name, *o, log=os.path.join(STATE, "%s-%s.log" % (name, label)))
    fcgi, wsd = opts["crosstalk-fcgi"], opts["crosstalk-wsd"]
    def ready():
        if not os.path.exists("/run/crosstalk/fcgi.sock"):
            return False
        try:
            return http("GET", "http://127.0.0.1:%d/health" % ws_port).status == 200
        except OSError:
            return False
    up = ct.wait_until(ready, 20, 0.2)
    T.ok(up, "%s: both daemons up under their units" % label,
         open(os.path.join(STATE, "crosstalk-fcgi-%s.log" % label)).read()[-800:] +
         open(os.path.join(STATE, "crosstalk-wsd-%s.log" % label)).read()[-800:])
    if up:
        st = os.stat("/run/crosstalk/fcgi.sock")
        T.eq("%o:%s:%s" % (st.st_mode & 0o777, pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name),
             "660:crosstalk:www-data", "%s: the socket is 0660 crosstalk:www-data (UMask, Group)" % label)
        workload(env, "http://127.0.0.1:%d/api/v1" % api_port, ws_port, label)
        # ExecReload: kill -HUP (trace: the tracer's child is the daemon)
        os.kill(daemon_pid(wsd), signal.SIGHUP)
        time.sleep(1)
        T.ok(alive(wsd) and http("GET", "http://127.0.0.1:%d/health" % ws_port).status == 200,
             "%s: crosstalk-wsd lives through its reload (SIGHUP)" % label)
    codes = {}
    for name, p in opts.items():
        if alive(p):
            os.kill(daemon_pid(p), signal.SIGTERM)
        try:
            codes[name] = p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            codes[name] = "hung"
    return codes


def daemon_pid(p):
    """The daemon's pid: the launcher execs it; under strace it is strace's child."""
    comm = open("/proc/%d/comm" % p.pid).read().strip() if alive(p) else ""
    if comm != "strace":
        return p.pid
    for d in os.listdir("/proc"):
        try:
            stat = open("/proc/%s/stat" % d).read()
        except (OSError, ValueError):
            continue
        if d.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == p.pid:
            return int(d)
    return p.pid


def syscalls_in(trace):
    names = set()
    for line in open(trace, errors="replace"):
        m = re.match(r"^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
        if m and m.group(1) not in ("exited", "killed"):
            names.add(m.group(1))
    return names


def main():
    global made_user
    if os.getuid() != 0:
        print("skipped: running daemons as their units do needs root")
        sys.exit(77)
    try:
        pwd.getpwnam("crosstalk")
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "crosstalk"], check=True)
        made_user = True
    os.makedirs(STATE, exist_ok=True)
    up = subprocess.run([SRC + "/scripts/stack.sh", "up", STATE, BIN], capture_output=True, text=True)
    if not T.ok(up.returncode == 0, "stack up", up.stderr[-500:]):
        return
    env = ct.load_env(STATE)
    ct.ENV.clear()
    ct.ENV.update(env)
    # the stack's own daemons go; the units' take over
    for line in open(os.path.join(STATE, "pids")):
        name, pid = line.split()
        if name in ("fcgi", "wsd"):
            os.kill(int(pid), signal.SIGTERM)
    time.sleep(1)
    ws_port = stage(env)
    api_port = ct.free_port()
    start_nginx(api_port)
    pairs, _ = unitrun.service(unit("crosstalk-wsd"))

    # 1. the sandbox holds
    rc, out = probe("/bin/sh -c 'echo x > /etc/ct-units-probe'")
    T.ok(rc != 0 and "Read-only" in out, "ProtectSystem=strict: /etc is read-only", out)
    rc, out = probe("/bin/ls /root")
    T.ok(rc != 0, "ProtectHome: /root is out of reach", out)
    rc, out = probe(PY + " -c 'import ctypes; ctypes.CDLL(None).swapoff(b\"/nonexistent\")'")
    T.ok(rc == -signal.SIGSYS or rc == 128 + signal.SIGSYS, "SystemCallFilter: swapoff (@swap) kills the process",
         "rc %d %s" % (rc, out))
    rc, out = probe(PY + " -c 'import mmap; mmap.mmap(-1, 4096, prot=7)'")
    T.ok(rc == 1 and "Operation not permitted" in out, "MemoryDenyWriteExecute: W+X memory refused", out[-300:])
    rc, out = probe(PY + " -c 'import socket; socket.socket(17, 3)'")
    T.ok(rc == 1 and "Address family not supported" in out, "RestrictAddressFamilies: AF_PACKET refused", out[-300:])
    rc, out = probe("/usr/bin/unshare -n true")
    T.ok(rc != 0 and ("Operation not permitted" in out or rc < 0), "RestrictNamespaces: no new namespace", out)
    rc, out = probe("/bin/sh -c 'id -u; grep -E \"^(CapEff|CapBnd|NoNewPrivs)\" /proc/self/status'")
    T.ok(rc == 0 and re.search(r"CapEff:\s+0+\n", out + "\n") and "NoNewPrivs:\t1" in out and
         out.split()[0] == str(pwd.getpwnam("crosstalk").pw_uid),
         "User=crosstalk, no capabilities, no new privileges", out)

    # 2. what the daemons call, against the filter
    allowed = unitrun.allowed_syscalls(pairs)
    if shutil.which("strace"):
        codes = run_daemons(env, ws_port, api_port, "traced", trace=True)
        for name in ("crosstalk-fcgi", "crosstalk-wsd"):
            used = syscalls_in(os.path.join(STATE, "%s.trace" % name))
            unit_allowed = unitrun.allowed_syscalls(unitrun.service(unit(name))[0])
            T.ok(len(used) > 20, "%s: strace saw its syscalls" % name, sorted(used))
            T.eq(sorted(used - unit_allowed), [], "%s: every syscall it made is in its SystemCallFilter" % name)
            print("%s: %d distinct syscalls under the workload, all within %d allowed"
                  % (name, len(used), len(unit_allowed)))
        T.ok(all(c == 0 for c in codes.values()), "traced run: both exit 0", codes)
    else:
        print("strace not installed: the syscall coverage step is skipped (the enforcing run below still runs)")
    print("SystemCallFilter allows %d syscalls" % len(allowed))

    # 3. the real thing: filter on
    codes = run_daemons(env, ws_port, api_port, "enforced")
    for name, c in codes.items():
        T.ok(c != -signal.SIGSYS, "%s was not killed by the system-call filter" % name, c)
        T.eq(c, 0, "%s exits 0 on SIGTERM under its unit" % name)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        T.ok(False, "units", repr(e))
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        subprocess.run([SRC + "/scripts/stack.sh", "down", STATE, BIN], capture_output=True)
        shutil.rmtree("/run/crosstalk", ignore_errors=True)
        shutil.rmtree(STAGE, ignore_errors=True)
        if made_user:
            subprocess.run(["userdel", "crosstalk"], capture_output=True)
    T.done()
