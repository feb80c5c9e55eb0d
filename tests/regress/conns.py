#!/usr/bin/python3
# conns.py -- connection helpers for the regress tests (slowconn.sh).
#   conns.py slow ADDR SECONDS_PER_BYTE DEADLINE   1 byte at a time; prints "closed after S" or "open"
#   conns.py idle ADDR DEADLINE                    sends nothing; prints "closed after S" or "open"
#   conns.py hold ADDR N SECONDS                   opens N, prints "accepted A refused R", holds them SECONDS
#   conns.py unknown ADDR BYTES                    sends one frame of BYTES of unknown fields, prints the reply size
# ADDR is a Unix socket path or HOST:PORT.
import socket, sys, time

def connect(addr):
    if addr.startswith('/'):
        s = socket.socket(socket.AF_UNIX)
        s.connect(addr)
    else:
        host, port = addr.rsplit(':', 1)
        s = socket.create_connection((host, int(port)))
    return s

def closed(s, wait):
    """True if the server closed s (or sent it an error) within wait seconds."""
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return True
            return True      # an Error event: the server is closing it
    except socket.timeout:
        return False
    except OSError:
        return True

def slow(addr, per_byte, deadline):
    s = connect(addr)
    t0 = time.monotonic()
    frame = b'\x00\x00\x00\x40' + b'\x08' * 64   # a 64-byte frame, never completed in time
    i = 0
    while time.monotonic() - t0 < deadline:
        try:
            s.send(frame[i:i + 1])
        except OSError:
            break
        i += 1
        if closed(s, per_byte):
            print("closed after %.1f" % (time.monotonic() - t0))
            return
    print("open")

def idle(addr, deadline):
    s = connect(addr)
    t0 = time.monotonic()
    if closed(s, deadline):
        print("closed after %.1f" % (time.monotonic() - t0))
    else:
        print("open")

def hold(addr, n, secs):
    acc, ref, keep = 0, 0, []
    for _ in range(n):
        try:
            s = connect(addr)
        except OSError:
            ref += 1
            continue
        keep.append(s)
    for s in keep:
        if closed(s, 0.3):
            ref += 1
        else:
            acc += 1
    print("accepted %d refused %d" % (acc, ref), flush=True)
    time.sleep(secs)

def unknown(addr, nbytes):
    s = connect(addr)
    body = bytes.fromhex('f80701') * (nbytes // 3)   # field 127, varint 1, again and again
    s.sendall(len(body).to_bytes(4, 'big') + body)
    s.settimeout(10)
    print(s.recv(65536)[4:].decode('utf-8', 'replace'))

cmd = sys.argv[1]
if cmd == 'slow':
    slow(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
elif cmd == 'idle':
    idle(sys.argv[2], float(sys.argv[3]))
elif cmd == 'unknown':
    unknown(sys.argv[2], int(sys.argv[3]))
elif cmd == 'hold':
    hold(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
