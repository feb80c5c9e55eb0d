#!/usr/bin/env python3
"""auth_timeout.py -- clients for authtimeout.sh (auth-timeout, doc/security.md).

  silent HOST PORT TIMEOUT       connects, sends nothing: prints the seconds until the server closed
  slowtls HOST PORT TIMEOUT CA   a TLS ClientHello sent one byte every 50 ms: prints the seconds
                                 until the server closed, and how many of its bytes had been sent
  tlsidle HOST PORT WAIT CA      a full TLS handshake, then WAIT seconds of silence: prints
                                 "open" if the connection is still open after it
  unixidle PATH WAIT             a Unix connection silent for WAIT seconds: "open" if still open
"""
import socket
import ssl
import sys
import time


def closed_within(s, limit):
    """Seconds until the peer closed s (EOF or reset), or None if it was still open after limit."""
    t0 = time.monotonic()
    s.settimeout(limit)
    try:
        while True:
            b = s.recv(4096)
            if not b:
                return time.monotonic() - t0
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - t0
    except socket.timeout:
        return None


def silent(host, port, limit):
    s = socket.create_connection((host, int(port)))
    t = closed_within(s, float(limit))
    print("open" if t is None else "closed %.3f" % t)


def slowtls(host, port, limit, ca):
    ctx = ssl.create_default_context(cafile=ca)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = socket.create_connection((host, int(port)))
    t0 = time.monotonic()
    sent = 0
    try:
        for b in hello:
            s.sendall(bytes([b]))
            sent += 1
            s.settimeout(0.05)
            try:
                if not s.recv(4096):
                    break
            except socket.timeout:
                pass
            if time.monotonic() - t0 > float(limit):
                print("open after %.3f (%d of %d bytes sent)" % (time.monotonic() - t0, sent, len(hello)))
                return
    except (ConnectionResetError, BrokenPipeError):
        pass
    print("closed %.3f sent %d of %d" % (time.monotonic() - t0, sent, len(hello)))


def tlsidle(host, port, wait, ca):
    ctx = ssl.create_default_context(cafile=ca)
    s = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname="localhost")
    t = closed_within(s, float(wait))
    print("open" if t is None else "closed %.3f" % t)


def unixidle(path, wait):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    t = closed_within(s, float(wait))
    print("open" if t is None else "closed %.3f" % t)


if __name__ == "__main__":
    {"silent": silent, "slowtls": slowtls, "tlsidle": tlsidle, "unixidle": unixidle}[sys.argv[1]](*sys.argv[2:])
