#!/usr/bin/python3
"""free-port.py WANTED FIXED - print WANTED if the servers could bind it on
127.0.0.1 now, else (FIXED 0) a free port or (FIXED 1) fail saying why.

Probes as the servers bind (SO_REUSEADDR): a port whose last connections
linger in TIME-WAIT after a stack stopped is free for the servers, so it
is free here too; a port something listens on is not."""
import socket
import sys


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
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
        s.close()


main()
