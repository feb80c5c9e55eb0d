#!/usr/bin/env python3
"""tls_check.py -- Python ssl against timerd's TLS listener (tests/regress/tls.sh).

usage: tls_check.py CHECK TLS_PORT PLAIN_PORT CA
  plain-to-tls  a timerd frame sent in plaintext to the TLS port is answered in
                plaintext: "this port speaks TLS"
  tls-to-plain  a TLS client on the plaintext port fails its handshake (the
                server answers with a plaintext frame, not a ServerHello)
  tls11         a client that offers at most TLS 1.1 is refused
  tls12         TLS 1.2 negotiates an ECDHE + AEAD suite; TLS 1.3 is chosen when offered
  records       many small TLS records in one TCP segment stream (the server reads
                ahead: every request is answered, none waits in OpenSSL's buffer);
                then records followed by close_notify (all answered, then closed),
                by a FIN and by a forged record (the connection is closed, not left
                hanging)
  fin           1, 500 and 20000 requests then a bare TCP FIN (no close_notify):
                every request is answered, then the server closes (it takes the
                FIN as the end of the stream: SSL_OP_IGNORE_UNEXPECTED_EOF)
Exit 0 on success, 1 with a message.
"""
import socket, ssl, struct, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are offered on purpose

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def ctx(ca, **kw):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.load_verify_locations(ca)
    for k, v in kw.items():
        setattr(c, k, v)
    return c

def varint(n):
    b = b""
    while True:
        if n < 0x80:
            return b + bytes([n])
        b += bytes([(n & 0x7f) | 0x80])
        n >>= 7

def ping_frame(i):
    """A Request{id = i, ping = {}} frame."""
    body = b"\x08" + varint(i) + b"\x92\x01\x00"
    return struct.pack(">I", len(body)) + body

def arm_frame(i):
    """A Request{id = i, arm = {after_ns = 1 h, key = "fin-<i>"}} frame (journaled: its reply waits for the commit)."""
    key = b"fin-%d" % i
    arm = b"\x08" + varint(3600 * 10**9) + b"\x2a" + varint(len(key)) + key
    body = b"\x08" + varint(i) + b"\x5a" + varint(len(arm)) + arm
    return struct.pack(">I", len(body)) + body

def tls_bio(ca, port):
    """A TLS session over memory BIOs (so the test decides what goes in each TCP send)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx(ca).wrap_bio(inc, out, server_hostname="localhost")
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            if out.pending:
                sock.sendall(out.read())
            r = sock.recv(65536)
            if not r:
                fail("the server closed during the handshake")
            inc.write(r)
    if out.pending:
        sock.sendall(out.read())
    return sock, obj, inc, out

def read_replies(sock, obj, inc, want, what):
    """Reads reply frames until want came; returns (ids, how it ended: 'open', 'eof', 'close_notify', 'reset')."""
    buf, ids, end = b"", [], "open"
    while len(ids) < want:
        try:
            while True:
                d = obj.read(65536)
                if not d:  # the TCP EOF without close_notify (a ragged EOF: suppressed by default)
                    end = "eof"
                    break
                buf += d
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            end = "close_notify"
        except ssl.SSLError as e:
            end = "error: %s" % e
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
            n = struct.unpack(">I", buf[:4])[0]
            f, buf = buf[4:4 + n], buf[4 + n:]
            i, sh = 0, 0
            for k in range(1, len(f)):  # field 1 (id), a varint
                i |= (f[k] & 0x7f) << sh
                sh += 7
                if not f[k] & 0x80:
                    break
            ids.append(i if f[:1] == b"\x08" else 0)
        if len(ids) >= want or end != "open":
            break
        try:
            r = sock.recv(65536)
        except socket.timeout:
            fail("%s: only %d of %d replies in 10 s (the rest waited in the server)" % (what, len(ids), want))
        except ConnectionResetError:
            return ids, "reset"
        if not r:
            end = "eof"
            inc.write_eof()
            continue
        inc.write(r)
    return ids, end

def records(ca, port):
    """Pipelined requests, one TLS record each, all sent at once; then with close_notify, FIN, a forged record."""
    n = 500
    sock, obj, inc, out = tls_bio(ca, port)
    for i in range(1, n + 1):
        obj.write(ping_frame(i))	# one record each
    sock.sendall(out.read())
    ids, end = read_replies(sock, obj, inc, n, "records")
    if ids != list(range(1, n + 1)):
        fail("records: replies %s... (%d) for %d pings sent as one record each" % (ids[:5], len(ids), n))
    # the same session again, with close_notify right after the records
    for i in range(n + 1, 2 * n + 1):
        obj.write(ping_frame(i))
    try:
        obj.unwrap()
    except ssl.SSLWantReadError:
        pass
    sock.sendall(out.read())
    ids, end = read_replies(sock, obj, inc, n, "records + close_notify")
    if ids != list(range(n + 1, 2 * n + 1)):
        fail("records + close_notify: replies %s... (%d) of %d" % (ids[:5], len(ids), n))
    sock.close()
    # records, then a FIN
    sock, obj, inc, out = tls_bio(ca, port)
    for i in range(1, n + 1):
        obj.write(ping_frame(i))
    sock.sendall(out.read())
    sock.shutdown(socket.SHUT_WR)
    ids, end = read_replies(sock, obj, inc, 10**9, "records + FIN")
    if end == "open":
        fail("records + FIN: the connection stayed open")
    fin = "%d replies, then %s" % (len(ids), end)
    sock.close()
    # records, then a forged application-data record: the server must close, not wait
    sock, obj, inc, out = tls_bio(ca, port)
    for i in range(1, 51):
        obj.write(ping_frame(i))
    sock.sendall(out.read() + b"\x17\x03\x03\x00\x20" + b"\x5a" * 32)
    ids, end = read_replies(sock, obj, inc, 10**9, "records + forged record")
    if end == "open":
        fail("records + forged record: the connection stayed open")
    print("records: ok (FIN: %s; forged record: %d replies, then %s)" % (fin, len(ids), end))
    sock.close()

def fin(ca, port):
    """Requests, then a bare TCP FIN (no close_notify): every one is answered before the server closes."""
    # pings are answered at once; arms (on a journaling timerd) wait for their commit, so their
    # replies are still to be written when the server reads the FIN
    for frame, n in ((ping_frame, 1), (ping_frame, 500), (ping_frame, 20000), (arm_frame, 1), (arm_frame, 200)):
        sock, obj, inc, out = tls_bio(ca, port)
        for i in range(1, n + 1):
            obj.write(frame(i))
        sock.sendall(out.read())
        sock.shutdown(socket.SHUT_WR)
        ids, end = read_replies(sock, obj, inc, 10**9, "%d %s + FIN" % (n, frame.__name__))
        sock.close()
        if ids != list(range(1, n + 1)):
            fail("%d %s + FIN: %d replies (%s...), then %s: replies to requests sent before a FIN were lost"
                 % (n, frame.__name__, len(ids), ids[:3], end))
        if end not in ("eof", "close_notify"):
            fail("%d %s + FIN: all answered, then %s (expected the server's close)" % (n, frame.__name__, end))
    print("fin: ok (every request before a bare FIN answered, then the server closed)")

def main():
    check, tls_port, plain_port, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    if check == "plain-to-tls":
        s = socket.create_connection(("127.0.0.1", tls_port), timeout=5)
        # a Request frame: 4-byte big-endian length, then protobuf (id = 1)
        s.sendall(struct.pack(">I", 2) + b"\x08\x01")
        data = b""
        while True:
            try:
                b = s.recv(4096)
            except ConnectionResetError:
                break
            if not b:
                break
            data += b
        if b"this port speaks TLS" not in data:
            fail("plaintext frame on the TLS port was answered %r" % data)
    elif check == "tls-to-plain":
        try:
            with socket.create_connection(("127.0.0.1", plain_port), timeout=5) as raw:
                with ctx(ca).wrap_socket(raw, server_hostname="localhost"):
                    fail("a TLS handshake succeeded on the plaintext port")
        except ssl.SSLError as e:
            if "WRONG_VERSION_NUMBER" not in str(e) and "wrong version number" not in str(e) \
                    and "record layer failure" not in str(e) and "PACKET_LENGTH" not in str(e):
                fail("unexpected TLS error on the plaintext port: %s" % e)
    elif check == "tls11":
        c = ctx(ca)
        try:
            c.set_ciphers("DEFAULT:@SECLEVEL=0")
            c.minimum_version = ssl.TLSVersion.TLSv1  # deprecated: on purpose
            c.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ValueError, ssl.SSLError) as e:
            print("python ssl cannot offer TLS 1.1 here (%s): checked with openssl s_client only" % e)
            return
        try:
            with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw:
                with c.wrap_socket(raw, server_hostname="localhost") as s:
                    fail("TLS 1.1 was accepted: %s" % s.version())
        except ssl.SSLError as e:
            print("TLS 1.1 refused: %s" % e)
    elif check == "tls12":
        c = ctx(ca, maximum_version=ssl.TLSVersion.TLSv1_2)
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw:
            with c.wrap_socket(raw, server_hostname="localhost") as s:
                name, ver, _ = s.cipher()
                if ver != "TLSv1.2" or not name.startswith("ECDHE-") or ("GCM" not in name and "CHACHA20" not in name):
                    fail("TLS 1.2 negotiated %s %s" % (ver, name))
        with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as raw:
            with ctx(ca).wrap_socket(raw, server_hostname="localhost") as s:
                if s.version() != "TLSv1.3":
                    fail("a client offering TLS 1.3 got %s" % s.version())
    elif check == "fin":
        fin(ca, tls_port)
    elif check == "records":
        records(ca, tls_port)
    else:
        fail("unknown check " + check)

main()
