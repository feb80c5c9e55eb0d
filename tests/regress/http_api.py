#!/usr/bin/python3
# tests/regress/http_api.py PORT -- drives timerd's HTTP API (doc/http.md) on
# 127.0.0.1:PORT: every route's success and error cases, malformed and
# mistyped JSON, bodies over the limits, slow and abandoned clients, an
# event-stream reader that stops reading, many concurrent keep-alive
# clients and the connection cap. Run by tests/regress/http.sh, which
# starts timerd with --http-timeout 1s --http-max-connections 48
# --max-frame 256KiB --max-payload 16KiB --max-output 256KiB.
# Prints what failed and exits 1 on the first failure.
import http.client
import json
import socket
import sys
import threading
import time

PORT = int(sys.argv[1])
HOST = "127.0.0.1"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def req(method, path, body=None, conn=None, headers=None):
    """One request; returns (status, headers, parsed JSON or text)."""
    c = conn or http.client.HTTPConnection(HOST, PORT, timeout=10)
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    c.request(method, path, body=data, headers=headers or {})
    r = c.getresponse()
    raw = r.read()
    if not conn:
        c.close()
    ctype = r.getheader("Content-Type") or ""
    out = raw.decode("utf-8", "replace")
    if ctype.startswith("application/json"):
        out = json.loads(raw)
    return r.status, r, out


def expect(what, got, status, code=None):
    st, r, body = got
    if st != status:
        fail("%s: status %d, expected %d: %r" % (what, st, status, body))
    if code is not None:
        if not isinstance(body, dict) or "error" not in body:
            fail("%s: no JSON error body: %r" % (what, body))
        e = body["error"]
        if e.get("code") != code or not e.get("message"):
            fail("%s: error %r, expected code %s with a message" % (what, e, code))
    return body


def wait_for(what, fn, deadline=10.0):
    end = time.time() + deadline
    last = None
    while time.time() < end:
        last = fn()
        if last:
            return last
        time.sleep(0.02)
    fail("timed out after %.0fs waiting for %s (last: %r)" % (deadline, what, last))


def metric(name):
    _, _, text = req("GET", "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    fail("metric %s not in /metrics" % name)


def test_timers():
    b = expect("PUT new", req("PUT", "/v1/timers/job-7", {"in": "1h", "topic": "jobs", "payload": "hi"}), 201)
    for f in ("timer_id", "deadline_mono_ns", "deadline_unix_ns", "created"):
        if f not in b:
            fail("PUT reply lacks %s: %r" % (f, b))
    tid = b["timer_id"]
    b = expect("PUT again", req("PUT", "/v1/timers/job-7", {"in": "2h", "topic": "jobs", "payload": "hi"}), 200)
    if b["created"] or b["timer_id"] != tid:
        fail("re-arm by key: %r" % b)
    t = expect("GET key", req("GET", "/v1/timers/job-7"), 200)
    if t["key"] != "job-7" or t["topic"] != "jobs" or t["payload"] != "hi":
        fail("GET key: %r" % t)
    t = expect("GET id", req("GET", "/v1/timers/id/%d" % tid), 200)
    if t["key"] != "job-7":
        fail("GET id: %r" % t)
    expect("PUT id", req("PUT", "/v1/timers/id/%d" % tid, {"in": "3h"}), 200)
    expect("GET id 0", req("GET", "/v1/timers/id/0"), 400, "INVALID")
    expect("GET id text", req("GET", "/v1/timers/id/abc"), 400, "INVALID")
    # a key with a slash and spaces, %-escaped
    expect("PUT escaped", req("PUT", "/v1/timers/a%2Fb%20c", {"in": "1h"}), 201)
    t = expect("GET escaped", req("GET", "/v1/timers/a%2Fb%20c"), 200)
    if t["key"] != "a/b c":
        fail("escaped key came back as %r" % t["key"])
    # anonymous
    st, r, b = req("POST", "/v1/timers", {"every": "1h", "payload_base64": "AAEC/w=="})
    if st != 201 or not r.getheader("Location", "").startswith("/v1/timers/id/"):
        fail("POST: %d %r %r" % (st, r.getheaders(), b))
    t = expect("GET anonymous", req("GET", r.getheader("Location")), 200)
    if t.get("payload_base64") != "AAEC/w==" or t["period_ns"] != 3600 * 10**9:
        fail("anonymous timer: %r" % t)
    # at, RFC 3339
    expect("PUT at", req("PUT", "/v1/timers/at", {"at": "2099-01-02T09:00:00Z", "misfire": "skip",
                                                  "ephemeral": True}), 201)
    t = expect("GET at", req("GET", "/v1/timers/at"), 200)
    if not t["realtime"] or t["misfire"] != "MISFIRE_SKIP" or not t["ephemeral"]:
        fail("at timer: %r" % t)
    # list, pages
    for i in range(5):
        expect("PUT page", req("PUT", "/v1/timers/page-%d" % i, {"in": "1h", "topic": "page"}), 201)
    seen, cursor = [], 0
    while True:
        b = expect("list", req("GET", "/v1/timers?topic=page&limit=2&cursor=%d" % cursor), 200)
        seen += [t["key"] for t in b["timers"]]
        cursor = b["next_cursor"]
        if not cursor:
            break
    if sorted(seen) != ["page-%d" % i for i in range(5)]:
        fail("list by topic in pages gave %r" % seen)
    expect("list bad cursor", req("GET", "/v1/timers?cursor=x"), 400, "INVALID")
    expect("list bad limit", req("GET", "/v1/timers?limit=-1"), 400, "INVALID")
    # delete
    expect("DELETE", req("DELETE", "/v1/timers/job-7"), 200)
    expect("DELETE again", req("DELETE", "/v1/timers/job-7"), 404, "NOT_FOUND")
    expect("GET gone", req("GET", "/v1/timers/job-7"), 404, "NOT_FOUND")
    expect("DELETE id", req("DELETE", "/v1/timers/id/%d" % tid), 404, "NOT_FOUND")


def test_bad_bodies():
    p = "/v1/timers/bad"
    expect("not JSON", req("PUT", p, "{bad"), 400, "MALFORMED")
    expect("empty", req("PUT", p, ""), 400, "MALFORMED")
    expect("array", req("PUT", p, "[1]"), 400, "MALFORMED")
    expect("no time", req("PUT", p, {"topic": "x"}), 400, "INVALID")
    expect("in a number", req("PUT", p, {"in": 5}), 400, "INVALID")
    expect("in not a duration", req("PUT", p, {"in": "soon"}), 400, "INVALID")
    expect("at not a time", req("PUT", p, {"at": "tomorrow"}), 400, "INVALID")
    expect("in and at", req("PUT", p, {"in": "1s", "at": "2099-01-02T09:00:00Z"}), 400, "INVALID")
    expect("topic a number", req("PUT", p, {"in": "1s", "topic": 3}), 400, "INVALID")
    expect("ephemeral a string", req("PUT", p, {"in": "1s", "ephemeral": "yes"}), 400, "INVALID")
    expect("misfire unknown", req("PUT", p, {"in": "1s", "misfire": "later"}), 400, "INVALID")
    expect("unknown field", req("PUT", p, {"in": "1s", "colour": "red"}), 400, "INVALID")
    expect("duplicate field", req("PUT", p, '{"in": "1s", "in": "2s"}'), 400, "MALFORMED")
    expect("bad base64", req("PUT", p, {"in": "1s", "payload_base64": "@@@"}), 400, "INVALID")
    expect("both payloads", req("PUT", p, {"in": "1s", "payload": "a", "payload_base64": "YQ=="}), 400, "INVALID")
    expect("period too short", req("PUT", p, {"every": "1ns"}), 400, "PERIOD")
    expect("key too long", req("PUT", "/v1/timers/" + "k" * 300, {"in": "1s"}), 400, "KEY_TOO_LONG")
    expect("topic too long", req("PUT", p, {"in": "1s", "topic": "t" * 200}), 400, "TOPIC_TOO_LONG")
    expect("bad UTF-8 topic", req("PUT", p, b'{"in": "1s", "topic": "\\u0001"}'), 400, "INVALID")
    expect("payload over max-payload", req("PUT", p, {"in": "1s", "payload": "x" * 20000}), 413,
           "PAYLOAD_TOO_LARGE")
    # over max-frame (256 KiB) but within evhttp's cap (twice that): the API's own JSON 413
    expect("a body over max-frame", req("PUT", p, "x" * (300 * 1024)), 413, "FRAME_TOO_LARGE")
    st, _, _ = req("GET", "/v1/stats", headers={"X-Big": "h" * (70 * 1024)})
    if st not in (400, 413, 431):
        fail("headers over the limit: status %d" % st)
    expect("unknown path", req("GET", "/v2/nothing"), 404, "UNKNOWN_OP")
    expect("method not allowed", req("POST", "/v1/stats"), 405, "UNKNOWN_OP")
    # methods evhttp would refuse with its HTML 501: a JSON 405 listing the route's methods
    for m in ("PATCH", "OPTIONS"):
        expect(m, req(m, "/v1/timers/bad", {"in": "1s"}), 405, "UNKNOWN_OP")
    _, r, _ = req("PATCH", "/v1/timers/bad", {"in": "1s"})
    if r.getheader("Allow") != "GET, HEAD, PUT, DELETE":
        fail("PATCH: Allow %r, expected 'GET, HEAD, PUT, DELETE'" % r.getheader("Allow"))
    expect("PATCH an unknown path", req("PATCH", "/v2/nothing"), 404, "UNKNOWN_OP")
    if req("GET", "/v1/timers/bad")[0] != 404:
        fail("a refused arm left a timer behind")


def test_calendar():
    """Issue 15: "calendar" in the arm bodies, the RPC's checks, the normalised form in GET and list."""
    b = expect("PUT calendar", req("PUT", "/v1/timers/cal-q", {"calendar": "*:0/15", "topic": "cal"}), 201)
    now = time.time_ns()
    # the next quarter hour on the wall clock, within 15 minutes
    off = b["deadline_unix_ns"] % (15 * 60 * 10**9)  # the wall-clock deadline is an estimate: within 1s
    if 10**9 < off < 15 * 60 * 10**9 - 10**9 or not now - 10**9 < b["deadline_unix_ns"] <= now + 15 * 60 * 10**9 + 10**9:
        fail("*:0/15 armed for %r (now %d)" % (b, now))
    t = expect("GET calendar", req("GET", "/v1/timers/cal-q"), 200)
    if t.get("calendar") != "*-*-* *:00/15:00" or not t["realtime"] or t["period_ns"] != 0:
        fail("GET shows %r, expected the normalised '*-*-* *:00/15:00', realtime, period 0" % t)
    t = expect("GET a timer without one", req("PUT", "/v1/timers/cal-none", {"in": "1h"}), 201)
    if expect("GET cal-none", req("GET", "/v1/timers/cal-none"), 200).get("calendar") != "":
        fail("a timer armed with 'in' shows a calendar")
    # re-armed by key: the schedule is replaced; then by id, to a plain delay
    expect("PUT calendar again", req("PUT", "/v1/timers/cal-q", {"calendar": "weekly", "topic": "cal"}), 200)
    t = expect("GET re-armed", req("GET", "/v1/timers/cal-q"), 200)
    if t["calendar"] != "Mon *-*-* 00:00:00":
        fail("re-armed with weekly, GET shows %r" % t["calendar"])
    st, r, b = req("POST", "/v1/timers", {"calendar": "0 9 * * mon-fri", "payload": "cron"})
    if st != 201:
        fail("POST calendar: %d %r" % (st, b))
    t = expect("GET POSTed", req("GET", r.getheader("Location")), 200)
    if t["calendar"] != "0 9 * * 1-5" or t["payload"] != "cron":
        fail("a cron expression came back as %r" % t)
    expect("PUT id calendar", req("PUT", r.getheader("Location"), {"calendar": "daily"}), 200)
    if expect("GET id", req("GET", r.getheader("Location")), 200)["calendar"] != "*-*-* 00:00:00":
        fail("re-armed by id with daily")
    b = expect("list cal", req("GET", "/v1/timers?topic=cal"), 200)
    if [t["calendar"] for t in b["timers"]] != ["Mon *-*-* 00:00:00"]:
        fail("list by topic shows %r" % b["timers"])
    # errors: the RPC's, with the parser's message; nothing is armed
    p = "/v1/timers/cal-bad"
    e = expect("bad calendar", req("PUT", p, {"calendar": "Mon..Fri 25:00"}), 400, "INVALID")
    if "calendar 'Mon..Fri 25:00': " not in e["error"]["message"] or "timerctl calendar" not in e["error"]["message"]:
        fail("a bad calendar's message: %r" % e["error"]["message"])
    e = expect("never elapses", req("PUT", p, {"calendar": "*-02-30"}), 400, "INVALID")
    if "never elapses" not in e["error"]["message"]:
        fail("*-02-30's message: %r" % e["error"]["message"])
    e = expect("unknown zone", req("PUT", p, {"calendar": "daily Mars/Olympus"}), 400, "INVALID")
    expect("calendar and in", req("PUT", p, {"calendar": "daily", "in": "1s"}), 400, "INVALID")
    expect("calendar and at", req("PUT", p, {"calendar": "daily", "at": "2099-01-02T09:00:00Z"}), 400, "INVALID")
    e = expect("calendar and every", req("PUT", p, {"calendar": "daily", "every": "1h"}), 400, "INVALID")
    if "not both" not in e["error"]["message"]:
        fail("calendar with every: %r" % e["error"]["message"])
    expect("calendar a number", req("PUT", p, {"calendar": 9}), 400, "INVALID")
    expect("calendar empty", req("PUT", p, {"calendar": ""}), 400, "INVALID")
    expect("calendar with NUL", req("PUT", p, b'{"calendar": "daily\\u0000x"}'), 400, "MALFORMED")  # jansson refuses \u0000
    expect("calendar with a control", req("PUT", p, b'{"calendar": "daily\\u0001"}'), 400, "INVALID")
    expect("calendar too long", req("PUT", p, {"calendar": "daily" + " " * 5000}), 400, "INVALID")
    if req("GET", p)[0] != 404:
        fail("a refused calendar arm left a timer behind")
    for k in ("cal-q", "cal-none"):
        expect("DELETE " + k, req("DELETE", "/v1/timers/" + k), 200)
    expect("DELETE POSTed", req("DELETE", r.getheader("Location")), 200)


def test_stats_metrics():
    b = expect("stats", req("GET", "/v1/stats"), 200)
    for g in ("engine", "server", "store", "version"):
        if g not in b:
            fail("stats lacks %s: %r" % (g, list(b)))
    _, r, text = req("GET", "/metrics")
    if not r.getheader("Content-Type", "").startswith("text/plain"):
        fail("/metrics content type %r" % r.getheader("Content-Type"))
    for m in ("timerd_fires_total", "timerd_pending", "timerd_server_conns", "timerd_fire_lateness_seconds_bucket",
              "timerd_fire_lateness_seconds_count", "timerd_http_connections"):
        if m not in text:
            fail("/metrics lacks %s" % m)


def sse_open(path):
    s = socket.create_connection((HOST, PORT), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    return s


def sse_read_until(s, needle, deadline=10.0):
    buf = b""
    end = time.time() + deadline
    while needle not in buf:
        if time.time() > end:
            fail("event stream: no %r within %.0fs; got %r" % (needle, deadline, buf[-500:]))
        s.settimeout(max(0.05, end - time.time()))
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        if not d:
            fail("event stream closed before %r; got %r" % (needle, buf[-500:]))
        buf += d
    return buf


def test_watch():
    s = sse_open("/v1/watch?topic=sse")
    head = sse_read_until(s, b": watching")
    if b"text/event-stream" not in head:
        fail("watch content type: %r" % head[:300])
    expect("arm for watch", req("PUT", "/v1/timers/sse-1", {"in": "10ms", "topic": "sse", "payload": "p1"}), 201)
    expect("arm other topic", req("PUT", "/v1/timers/sse-x", {"in": "10ms", "topic": "other"}), 201)
    buf = sse_read_until(s, b"}\n\n")
    line = buf.split(b"event: fire\ndata: ", 1)[1].split(b"\n", 1)[0]
    ev = json.loads(line)
    if ev["key"] != "sse-1" or ev["payload"] != "p1" or not ev["final"] or "fired_mono_ns" not in ev:
        fail("fire event: %r" % ev)
    s.close()
    expect("watch bad topic", req("GET", "/v1/watch?topic=%01"), 400, "INVALID")
    expect("watch long topic", req("GET", "/v1/watch?topic=" + "t" * 200), 400, "TOPIC_TOO_LONG")


def test_watch_slow_reader():
    """A reader that stops reading is dropped with a last event; timerd keeps serving."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((HOST, PORT))
    s.sendall(b"GET /v1/watch?topic=flood HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.2)
    payload = "z" * 15000
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    for i in range(200):
        expect("flood arm", req("PUT", "/v1/timers/flood-%d" % i, {"in": "20ms", "topic": "flood",
                                                                    "payload": payload, "ephemeral": True},
                                conn=c), 201)
    c.close()
    wait_for("the flood to fire", lambda: metric("timerd_server_fires_dropped_total") >= 1)
    # now read everything: the stream ends with the 'dropped' event and the connection closes
    buf = b""
    s.settimeout(10)
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
    if b"event: dropped" not in buf or b"TOO_MANY_INFLIGHT" not in buf:
        fail("a slow reader's stream did not end with a 'dropped' event (%d bytes, tail %r)" % (len(buf),
                                                                                             buf[-300:]))
    fires = buf.count(b"event: fire")
    if fires >= 200:
        fail("the slow reader got every fire (%d): nothing was bounded" % fires)
    # bounded: at most max-output (256 KiB) queued, plus what the socket buffers held
    if len(buf) > 256 * 1024 + 4 * 1024 * 1024:
        fail("the slow reader was sent %d bytes" % len(buf))
    expect("stats after the flood", req("GET", "/v1/stats"), 200)


def test_slow_clients():
    # half a request, then nothing: closed after http-timeout (1s)
    s = socket.create_connection((HOST, PORT), timeout=10)
    s.sendall(b"GET /v1/stats HTTP/1.1\r\nHost: x\r\n")
    t0 = time.time()
    try:
        d = s.recv(4096)
        while d:
            d = s.recv(4096)
    except ConnectionResetError:
        pass
    if time.time() - t0 > 8:
        fail("a stalled request was not closed within 8s")
    s.close()
    # connected and silent: closed too
    s = socket.create_connection((HOST, PORT), timeout=10)
    t0 = time.time()
    try:
        d = s.recv(4096)
    except ConnectionResetError:
        d = b""
    if d or time.time() - t0 > 8:
        fail("an idle connection was not closed (got %r after %.1fs)" % (d, time.time() - t0))
    s.close()
    expect("serving after slow clients", req("GET", "/v1/stats"), 200)


def test_concurrent():
    errors = []

    def worker(n):
        try:
            c = http.client.HTTPConnection(HOST, PORT, timeout=20)
            for i in range(40):
                st, _, b = req("PUT", "/v1/timers/cc-%d-%d" % (n, i), {"in": "1h", "topic": "cc"}, conn=c)
                if st != 201:
                    errors.append("worker %d arm %d: %d %r" % (n, i, st, b))
                    return
                st, _, b = req("GET", "/v1/timers/cc-%d-%d" % (n, i), conn=c)
                if st != 200:
                    errors.append("worker %d get %d: %d" % (n, i, st))
                    return
            c.close()
        except Exception as e:  # noqa: BLE001 -- report whatever broke
            errors.append("worker %d: %r" % (n, e))

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        fail("concurrent keep-alive clients: " + "; ".join(errors[:5]))
    n, cursor = 0, 0
    while True:
        b = expect("list cc", req("GET", "/v1/timers?topic=cc&limit=1000&cursor=%d" % cursor), 200)
        n += len(b["timers"])
        cursor = b["next_cursor"]
        if not cursor:
            break
    if n != 32 * 40:
        fail("32 clients armed 1280 timers; %d are listed" % n)


def test_connection_cap():
    wait_for("earlier connections to close", lambda: metric("timerd_http_connections") <= 1)
    conns = []
    for i in range(47):
        c = http.client.HTTPConnection(HOST, PORT, timeout=10)
        expect("cap conn %d" % i, req("GET", "/v1/stats", conn=c), 200)
        conns.append(c)
    # the 48th may still be free (the metric's own connection may not have been forgotten yet)
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    st, r, b = req("GET", "/v1/stats", conn=c)
    if st == 200:
        conns.append(c)
        st, r, b = req("GET", "/v1/stats")
    if st != 429 or r.getheader("Retry-After") is None or b["error"]["code"] != "TOO_MANY_CONNECTIONS":
        fail("over http-max-connections: %d %r %r" % (st, r.getheaders(), b))
    for c in conns:
        c.close()
    wait_for("the capped connections to close", lambda: req("GET", "/v1/stats")[0] == 200)


def raw(data, wait=2.0):
    """Sends raw bytes, returns what came back before the server closed or wait passed."""
    s = socket.create_connection((HOST, PORT), timeout=wait)
    out = b""
    try:
        s.sendall(data)
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return out


def test_garbage():
    """Malformed HTTP never crashes timerd; pipelined requests are answered in order."""
    for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                 b"BREW /v1/stats HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"PUT /v1/timers/g HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                 b"PUT /v1/timers/g HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                 b"GET /v1/timers/%zz%00 HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /" + b"a/" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /v1/stats HTTP/1.1\r\n" + b"X: y\r\n" * 5000 + b"\r\n"):
        raw(junk, wait=1.5)
    body = b'{"in": "1h", "topic": "pipe"}'
    reqs = b"".join(b"PUT /v1/timers/pipe-%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" %
                    (i, len(body), body) for i in range(20))
    out = raw(reqs + b"GET /v1/timers/pipe-19 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", wait=10)
    if out.count(b"HTTP/1.1 201") != 20 or b'"key":"pipe-19"' not in out:
        fail("20 pipelined PUTs and a GET: %d created, tail %r" % (out.count(b"HTTP/1.1 201"), out[-300:]))
    expect("serving after malformed HTTP", req("GET", "/v1/stats"), 200)


for t in (test_timers, test_calendar, test_garbage, test_bad_bodies, test_stats_metrics, test_watch, test_watch_slow_reader, test_slow_clients,
          test_concurrent, test_connection_cap):
    t()
    print("ok: " + t.__name__)
