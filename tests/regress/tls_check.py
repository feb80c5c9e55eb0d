#!/usr/bin/env python3
"""tls_check.py -- Python ssl against timerd's TLS listener (tests/regress/tls.sh).

usage: tls_check.py CHECK TLS_PORT PLAIN_PORT CA
  plain-to-tls  a timerd frame sent in plaintext to the TLS port is answered in
                plaintext: "this port speaks TLS"
  tls-to-plain  a TLS client on the plaintext port fails its handshake (the
                server answers with a plaintext frame, not a ServerHello)
  tls11         a client that offers at most TLS 1.1 is refused
  tls12         TLS 1.2 negotiates an ECDHE + AEAD suite; TLS 1.3 is chosen when offered
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
    else:
        fail("unknown check " + check)

main()
