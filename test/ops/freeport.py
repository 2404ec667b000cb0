#!/usr/bin/python3
"""freeport.py - the stack's port probe (scripts/free-port.py) calls a port
free when its last connections linger in TIME-WAIT, as the servers can bind
it then (make demo used to refuse 8080 for a minute after a stack stopped),
and taken while something listens on it. A port it picks lies below the
kernel's ephemeral range: between the probe and the daemon's bind (seconds:
initdb and migrations come first) any outgoing connection on the machine may
be given an ephemeral port, and the daemon's bind would then fail."""
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["CT_SRC"], "test", "lib"))
from ct import T  # noqa: E402

PROBE = os.path.join(os.environ["CT_SRC"], "scripts", "free-port.py")


def probe(port, fixed):
    r = subprocess.run([sys.executable, PROBE, str(port), "1" if fixed else "0"],
                       capture_output=True, text=True, timeout=10)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def time_wait_port():
    """A port whose server side closed first: its socket is in TIME-WAIT."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    cli = socket.create_connection(("127.0.0.1", port))
    conn, _ = srv.accept()
    srv.close()
    conn.close()  # the server side closes first: it keeps the TIME-WAIT
    cli.recv(1)   # the FIN arrived
    cli.close()
    return port


def in_time_wait(port):
    hexport = ":%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, st = line.split()[1], line.split()[3]
            if local.endswith(hexport) and st == "06":
                return True
    return False


port = time_wait_port()
T.ok(in_time_wait(port), "the test made a TIME-WAIT socket on the port", str(port))
T.eq(probe(port, True)[:2], (0, str(port)), "a TIME-WAIT port is free for a fixed port (make demo)")
T.eq(probe(port, False)[:2], (0, str(port)), "and it is the port given otherwise")

busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen(1)
bport = busy.getsockname()[1]
rc, out, err = probe(bport, True)
T.ok(rc != 0 and "port %d is already taken" % bport in err, "a listening port is taken (fixed: an error)", err)
rc, out, err = probe(bport, False)
T.ok(rc == 0 and out.isdigit() and int(out) != bport, "a listening port is replaced by a free one", out)
busy.close()

with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
    lo, hi = (int(x) for x in f.read().split())
picked = set()
for _ in range(20):
    rc, out, _err = probe(0, False)
    if rc == 0 and out.isdigit():
        picked.add(int(out))
T.ok(len(picked) >= 10, "twenty picks give many different ports", sorted(picked))
inside = sorted(p for p in picked if lo <= p <= hi)
T.eq(inside, [], "no picked port lies in the ephemeral range %d-%d" % (lo, hi))
T.done()
