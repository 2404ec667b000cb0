#!/usr/bin/python3
"""free-port.py WANTED FIXED - print WANTED if the servers could bind it on
127.0.0.1 now, else (FIXED 0) a free port or (FIXED 1) fail saying why.

Probes as the servers bind (SO_REUSEADDR): a port whose last connections
linger in TIME-WAIT after a stack stopped is free for the servers, so it
is free here too; a port something listens on is not.

A picked port comes from below the kernel's ephemeral range, never from
bind(0): the daemons bind seconds after this probe, and meanwhile any
outgoing connection on the machine (the tests open thousands) may be given
an ephemeral port, which would make that bind fail."""
import random
import socket
import sys

LOWEST = 10000  # above the well-known and most registered service ports


def free(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def main():
    want, fixed = int(sys.argv[1]), sys.argv[2] == "1"
    if want and free(want):
        print(want)
    elif fixed:
        sys.stderr.write("port %d is already taken on 127.0.0.1 (set another with the environment)\n" % want)
        sys.exit(1)
    else:
        print(pick())


def pick():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        first_ephemeral = int(f.read().split()[0])
    top = max(first_ephemeral, LOWEST + 1000)
    for _ in range(200):
        port = random.randrange(LOWEST, top)
        if free(port):
            return port
    sys.stderr.write("no free port in %d-%d on 127.0.0.1\n" % (LOWEST, top - 1))
    sys.exit(1)


main()
