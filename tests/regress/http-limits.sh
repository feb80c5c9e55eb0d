#!/usr/bin/env bash
# http-limits.sh -- issue 12's limits hold over HTTP as over the RPC (they
# are the RPC's own checks, through rpc_run; doc/security.md): a period
# under min-period is 400 PERIOD naming it, arms past max-memory are 503
# NO_MEMORY naming it and drop nothing armed before, keys and topics with
# controls or bidi overrides are 400 INVALID (also in a watch), and
# http-timeout closes a connection that sends nothing or idles after a
# reply.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip "needs Debian's /usr/bin/python3"
command -v curl >/dev/null || skip "needs curl"

start_http --memory-only --min-period 100ms --max-memory 4MiB --max-payload 64KiB --http-timeout 1s

"$PY" - "$port" <<'PYEOF' || fail "issue 12's limits over HTTP (above)"
import http.client, json, socket, sys, time
port = int(sys.argv[1])

def fail(msg):
    sys.exit("FAIL: " + msg)

def req(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=None if body is None else json.dumps(body))
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        return r.status, r, json.loads(data)
    except ValueError:
        return r.status, r, data

def refused(what, got, status, code, needle=None):
    st, _, b = got
    e = b.get("error", {}) if isinstance(b, dict) else {}
    if st != status or e.get("code") != code or (needle and needle not in e.get("message", "")):
        fail("%s: %d %r, expected %d %s%s" % (what, st, b, status, code, " naming " + needle if needle else ""))

# min-period
refused("every 10ms", req("PUT", "/v1/timers/fast", {"every": "10ms"}), 400, "PERIOD", "min-period (100000000 ns)")
if req("PUT", "/v1/timers/slow", {"every": "100ms", "ephemeral": True})[0] != 201:
    fail("a period of min-period was refused")
req("DELETE", "/v1/timers/slow")

# text classes: C0 controls and bidi overrides in keys and topics
for k in ("%1B%5B31m", "a%E2%80%AEb", "%C2%85", "bad%FF"):
    refused("key " + k, req("PUT", "/v1/timers/" + k, {"in": "1h"}), 400, "INVALID")
for t in ("\u202e", "\x1b[2J", "\u2066x"):
    refused("topic %r" % t, req("PUT", "/v1/timers/t", {"in": "1h", "topic": t}), 400, "INVALID")
refused("watch a bidi topic", req("GET", "/v1/watch?topic=%E2%80%AE"), 400, "INVALID")

# max-memory: 60 KiB payloads until the budget is used up; nothing before is dropped
payload = "x" * 60000
armed = 0
for i in range(200):
    st, r, b = req("PUT", "/v1/timers/big-%d" % i, {"in": "1h", "payload": payload})
    if st != 201:
        refused("arm %d past max-memory" % i, (st, r, b), 503, "NO_MEMORY", "max-memory")
        if r.getheader("Retry-After") is None:
            fail("NO_MEMORY without Retry-After")
        break
    armed += 1
if not 40 <= armed < 200:
    fail("%d arms of 60 KB under a 4 MiB max-memory" % armed)
for i in (0, armed - 1):
    st, _, b = req("GET", "/v1/timers/big-%d" % i)
    if st != 200 or b.get("payload") != payload:
        fail("big-%d armed before the budget ran out is gone: %d" % (i, st))

# http-timeout 1s: a connection that sends nothing, and one idle after a reply, are closed
def closed_within(s, secs):
    s.settimeout(secs)
    try:
        while s.recv(4096):
            pass
        return True
    except socket.timeout:
        return False

s = socket.create_connection(("127.0.0.1", port))
t0 = time.time()
if not closed_within(s, 10):
    fail("a silent connection was not closed within 10s under http-timeout 1s")
if time.time() - t0 < 0.5:
    fail("a silent connection was closed after %.2fs, before http-timeout 1s" % (time.time() - t0))
s.close()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n")
if not closed_within(s, 10):
    fail("an idle keep-alive connection was not closed within 10s under http-timeout 1s")
s.close()
print("ok: min-period, text classes, max-memory and http-timeout over HTTP")
PYEOF
stop_timerd
echo PASS
