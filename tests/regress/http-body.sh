#!/usr/bin/env bash
# http-body.sh -- a request body over the limits gets the JSON 413 (doc/http.md
# "Limits"): with a Content-Length and chunked, at 2x and 10x max-frame, the
# reply is 413 FRAME_TOO_LARGE with a message naming max-frame and what to
# do, sent at once from the headers (a declared 100 GB body with nothing
# sent, or Expect: 100-continue and no body: within 1 s), and the
# connection is closed after it (a client that keeps sending may get a
# reset instead: doc/http.md); curl's Expect: 100-continue upload gets it;
# evhttp's other own errors are JSON as well (400 for a bad Content-Length
# and for headers over 64 KiB; a malformed chunk size is its 413); the
# daemon keeps serving, its peak RSS stays bounded while 8 clients send 10x
# max-frame bodies at once, and 200 connections leave no fd open.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip "needs Debian's /usr/bin/python3"
command -v curl >/dev/null || skip "needs curl"

start_http --memory-only --max-frame 1MiB --http-timeout 5s

# ASan keeps freed memory in its quarantine, TSan its shadow: there the peak RSS is printed, not judged (as memory.sh)
judge=1
ldd "$TIMERD" 2>/dev/null | grep -q "libasan\|libtsan" && judge=0
"$PY" - "$port" "$daemon_pid" "$judge" <<'PYEOF' || fail "bodies over the limits (above)"
import json, socket, sys, threading
port, pid, judge = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
MAX_FRAME = 1 << 20

def fail(msg):
    sys.exit("FAIL: " + msg)

def hwm_kib():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    fail("no VmHWM in /proc/%d/status" % pid)

def send(head, parts, reset_ok=False):
    """Sends head then parts (stopping if the server closes), returns (reply bytes, whether the send was cut);
    with reset_ok, a reset while reading gives what was read (a client that kept sending past the 413)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    cut = False
    try:
        s.sendall(head)
        for p in parts:
            s.sendall(p)
    except OSError:
        cut = True
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError as e:
        if not reset_ok:
            fail("reading the reply after %d bytes: %s" % (len(out), e))
        cut = True
    s.close()
    return out, cut

def check_json(what, out, status, code, needle=None):
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 %d " % status):
        fail("%s: status line %r, expected %d (reply %r)" % (what, lines[0], status, out[:300]))
    hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    if hdrs.get("content-type") != "application/json":
        fail("%s: Content-Type %r, expected application/json (reply %r)" % (what, hdrs.get("content-type"), out[:300]))
    if int(hdrs.get("content-length", -1)) != len(body):
        fail("%s: Content-Length %r for a %d-byte body" % (what, hdrs.get("content-length"), len(body)))
    if hdrs.get("connection", "").lower() != "close":
        fail("%s: no Connection: close (headers %r)" % (what, hdrs))
    e = json.loads(body).get("error", {})
    if e.get("code") != code or (needle and needle not in e.get("message", "")):
        fail("%s: error %r, expected %s naming %r" % (what, e, code, needle))

def chunks(total, size=65536):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b"%x\r\n" % n + b"x" * n + b"\r\n"
        sent += n
    yield b"0\r\n\r\n"

def plain(total, size=65536):
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield b"x" * n
        sent += n

hwm0 = hwm_kib()
for mult in (2, 10):
    n = mult * MAX_FRAME + 1
    # a client that stops sending at the limit (the headers: evhttp refuses from Content-Length) reads the 413
    out, _ = send(b"PUT /v1/timers/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n, [])
    check_json("Content-Length %dx max-frame" % mult, out, 413, "FRAME_TOO_LARGE", "max-frame (1048576)")
    # one that keeps sending gets the 413 or a reset (the body it sent is never read)
    out, cut = send(b"PUT /v1/timers/big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n, plain(n), True)
    if out or not cut:
        check_json("Content-Length %dx max-frame, sent on" % mult, out, 413, "FRAME_TOO_LARGE", "max-frame (1048576)")
    # chunked: refused once the chunks pass the cap; the client stops at the first write that fails
    out, cut = send(b"POST /v1/timers HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", chunks(n), True)
    if out or not cut:
        check_json("chunked %dx max-frame" % mult, out, 413, "FRAME_TOO_LARGE", "raise max-frame")
# refused from the headers alone, at once: a declared 100 GB body with none sent, and Expect: 100-continue
import time
for what, head in (("Content-Length 100000000000, no body",
                    b"PUT /v1/timers/big HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n"),
                   ("Expect: 100-continue, Content-Length 3 MiB, no body",
                    b"PUT /v1/timers/big HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                    % (3 << 20))):
    t0 = time.monotonic()
    out, _ = send(head, [])
    took = time.monotonic() - t0
    check_json(what, out, 413, "FRAME_TOO_LARGE", "max-frame (1048576)")
    if took > 1.0:
        fail("%s: the 413 took %.2f s, expected at once (under 1 s)" % (what, took))
# evhttp's other own errors are JSON too
out, _ = send(b"BREW /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n", [])
check_json("an unknown method", out, 501, "UNKNOWN_OP")
out, _ = send(b"PUT /v1/timers/g HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", [])
check_json("a negative Content-Length", out, 400, "MALFORMED")
# headers over 64 KiB: libevent 2.1 counts them as an invalid header, a 400 (not a 413)
out, _ = send(b"GET /v1/stats HTTP/1.1\r\nHost: x\r\nX-Big: " + b"y" * (70 << 10) + b"\r\n\r\n", [], True)
check_json("headers over 64 KiB", out, 400, "MALFORMED", "64 KiB")
out, _ = send(b"PUT /v1/timers/g HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", [])
check_json("a bad chunk size (evhttp counts it as too long)", out, 413, "FRAME_TOO_LARGE", "chunked encoding")
# 8 clients at once, each 10x max-frame in 64 KiB chunks: peak RSS grows by far less than they send
errs = []
def flood(i):
    try:
        o, cut = send(b"POST /v1/timers HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (10 * MAX_FRAME),
                      plain(10 * MAX_FRAME), True)
        if o or not cut:
            check_json("flood %d" % i, o, 413, "FRAME_TOO_LARGE")
    except SystemExit as e:
        errs.append(str(e))
ts = [threading.Thread(target=flood, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
if errs:
    fail("; ".join(errs))
grew = hwm_kib() - hwm0
print("peak RSS grew by %d KiB while 8 x 10 MiB bodies were refused" % grew)
if judge and grew > 8 * 2 * 1024 + 16 * 1024:
    fail("peak RSS grew by %d KiB: more than 8 connections x twice max-frame + 16 MiB" % grew)
# 200 connections (evhttp's own error pages, which http_errpage_fix holds a reference for, and
# plain requests) leave no fd open: the daemon's /proc/PID/fd count comes back to what it was
import os, time
def nfds():
    return len(os.listdir("/proc/%d/fd" % pid))
fds0 = nfds()
for i in range(200):
    req = [b"BREW /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n",
           b"PUT /v1/timers/g HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
           b"GET /v1/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"][i % 3]
    out, _ = send(req, [])
    if not out:
        fail("connection %d of 200: no reply" % i)
deadline = time.time() + 5
while nfds() > fds0 and time.time() < deadline:
    time.sleep(0.02)
if nfds() > fds0:
    fail("%d fds open after 200 connections, %d before: a connection's fd leaked" % (nfds(), fds0))
PYEOF

# curl's upload of 10x max-frame (Expect: 100-continue) gets the JSON 413 too
head -c $((10 * 1024 * 1024)) /dev/zero >"$tmp/big"
out=$(curl -sS --max-time 30 -X PUT --data-binary @"$tmp/big" -w '\n%{http_code}' "http://127.0.0.1:$port/v1/timers/curl-big") ||
	fail "curl's 10 MiB upload: $out"
grep -q '"code":"FRAME_TOO_LARGE"' <<<"$out" && [ "$(tail -n1 <<<"$out")" = 413 ] || fail "curl's 10 MiB upload got: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{"in": "1h"}' "http://127.0.0.1:$port/v1/timers/after")
[ "$code" = 201 ] || fail "an arm after the refused bodies: status $code"
grep -q "AddressSanitizer\|ThreadSanitizer\|runtime error" "$tmp/timerd.log" && fail "sanitizer report: $(cat "$tmp/timerd.log")"
stop_timerd
exit 0
