#!/usr/bin/python3
# tests/regress/http_openapi.py SPEC PORT STATE -- checks doc/openapi.yaml
# against the real server on 127.0.0.1:PORT (started by http-openapi.sh with
# --max-timers 40 --max-watches 2 --max-payload 16KiB --memory-only): runs
# one request per documented (path, method, status), checks that the status
# is documented for the route and that the body matches the documented
# schema (types, required fields, enums, items; headers such as
# Retry-After), and fails if a documented response was not exercised
# (except those in UNREACHED, each with the reason).
# The main walk first compares the spec's (path, method)s with the routes the
# server registers (http_route_add calls in SRCDIR/server/*.c, SRCDIR from
# $top_srcdir): one missing on either side fails.
# http_openapi.py SPEC PORT STATE --auth TOKEN, run first against a timerd
# with a users file (TOKEN: IDENTITY:SECRET of an identity allowed only
# probe), walks the 401 and 403 of every route and writes what it covered to
# STATE, which the main walk reads.
import glob
import http.client
import json
import os
import re
import socket
import sys

import yaml

SPEC = yaml.safe_load(open(sys.argv[1]))
PORT = int(sys.argv[2])
STATE = sys.argv[3]
AUTH = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--auth" else None
HOST = "127.0.0.1"

# Documented responses this test cannot provoke on a healthy loopback server.
UNREACHED = {
    ("/v1/timers/{key}", "put", "503"): "STORAGE needs a failing disk (tests/regress/diskfull.sh, over RPC)",
    ("/v1/timers/{key}", "delete", "503"): "as above",
    ("/v1/timers", "post", "503"): "as above",
    ("/v1/timers/id/{id}", "put", "503"): "as above",
    ("/v1/timers/id/{id}", "put", "429"): "FULL refuses only new timers and this re-arms one: its 429s are RATE_LIMITED "
                                          "and TOO_MANY_INFLIGHT (tests/regress/quotas.sh, over RPC)",
    ("/v1/history", "get", "501"): "needs timerd --no-stats (tests/regress/http-page.sh)",
    ("/v1/deliveries/{id}/ack", "post", "503"): "STORAGE while the store fails (tests/regress/group-diskfull.sh)",
    ("/v1/groups/{group}/dead-letters/retry", "post", "503"): "STORAGE: as above (tests/regress/group-diskfull.sh)",
    ("/v1/groups/{group}/dead-letters/purge", "post", "503"): "as above",
}

covered = set()


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def resolve(s):
    while isinstance(s, dict) and "$ref" in s:
        node = SPEC
        for part in s["$ref"].lstrip("#/").split("/"):
            node = node[part]
        s = node
    return s


def check(value, schema, where):
    schema = resolve(schema)
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool}
    if t == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            fail("%s: %r is not an integer" % (where, value))
    elif t in types and not isinstance(value, types[t]):
        fail("%s: %r is not a %s" % (where, value, t))
    if "enum" in schema and value not in schema["enum"]:
        fail("%s: %r is not one of %r" % (where, value, schema["enum"]))
    if t == "object":
        for r in schema.get("required", []):
            if r not in value:
                fail("%s: required field %s missing from %r" % (where, r, sorted(value)))
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                check(v, props[k], where + "." + k)
            elif schema.get("additionalProperties") is False:
                fail("%s: field %s is not documented" % (where, k))
    if t == "array":
        for i, v in enumerate(value):
            check(v, schema.get("items", {}), "%s[%d]" % (where, i))


def call(route, method, path, body=None, raw=False, headers=None):
    """Runs one request and checks it against the spec entry of route and method."""
    op = SPEC["paths"][route].get(method)
    if op is None:
        fail("%s %s is not documented" % (method.upper(), route))
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    c.request(method.upper(), path, body=None if body is None else (body if raw else json.dumps(body)),
              headers=headers or {})
    r = c.getresponse()
    data = r.read()
    ctype = r.getheader("Content-Type", "")
    c.close()
    status = str(r.status)
    resp = op["responses"].get(status)
    if resp is None:
        fail("%s %s answered %s, which the spec does not list for %s %s (%r)" % (
            method.upper(), path, status, method.upper(), route, data[:200]))
    resp = resolve(resp)
    for h in resp.get("headers", {}):
        if r.getheader(h) is None:
            fail("%s %s: %s response lacks header %s" % (method.upper(), path, status, h))
    content = resp.get("content", {})
    if content:
        media = next(iter(content))
        if media != "*/*" and not ctype.startswith(media.split(";")[0]):
            fail("%s %s: content type %r, documented %s" % (method.upper(), path, ctype, media))
        if media == "application/json":
            check(json.loads(data), content[media]["schema"], "%s %s %s" % (method.upper(), route, status))
    covered.add((route, method, status))
    return r, data


# A concrete path and a valid body for each route's parameters (the auth walk).
SAMPLE = {"{key}": "oa-auth", "{id}": "1", "{group}": "oa-g", "{name}": "status.js"}


def sample(route, method):
    """A path for route and a body its method accepts (auth must be refused before either matters)."""
    path = route
    for k, v in SAMPLE.items():
        path = path.replace(k, v)
    body = None
    if route.startswith("/v1/timers") and method in ("put", "post"):
        body = {"in": "1h"}
    elif route == "/v1/groups/{group}" and method == "put":
        body = {"topics": ["t"]}
    return path, body


def auth_walk():
    """Every route and method: 401 UNAUTHENTICATED without a Bearer, 403 PERMISSION for a probe-only identity."""
    for route, ops in SPEC["paths"].items():
        for method in ops:
            if method == "parameters":
                continue
            path, body = sample(route, method)
            for status, code, authz in (("401", "UNAUTHENTICATED", "Basic eA=="), ("403", "PERMISSION", "Bearer " + AUTH)):
                r, d = call(route, method, path, body, headers={"Authorization": authz})
                if str(r.status) != status or json.loads(d)["error"]["code"] != code:
                    fail("%s %s with Authorization %s: %d %r, want %s %s" % (
                        method.upper(), path, authz.split(":")[0], r.status, d, status, code))
    json.dump(sorted(covered), open(STATE, "w"))
    print("ok: %d auth responses checked against the server" % len(covered))
    sys.exit(0)


if AUTH:
    auth_walk()
covered.update(tuple(x) for x in json.load(open(STATE)))

# the server's routes (http_route_add(EVHTTP_REQ_GET, "/v1/...", fn) in server/*.c) against the spec's
registered = set()
for src in glob.glob(os.path.join(os.environ.get("top_srcdir", "."), "server", "*.c")):
    for m, p in re.findall(r'http_route_add\(\s*EVHTTP_REQ_([A-Z]+)\s*,\s*"([^"]+)"', open(src).read()):
        registered.add((p, m.lower()))
if len(registered) < 10:
    fail("found only %d http_route_add calls under %s/server: is top_srcdir right?" % (
        len(registered), os.environ.get("top_srcdir", ".")))
documented = set((p, m) for p, ops in SPEC["paths"].items() for m in ops if m != "parameters")
diff = []
if registered - documented:
    diff.append("routes the server registers that doc/openapi.yaml lacks: " +
                ", ".join("%s %s" % (m.upper(), p) for p, m in sorted(registered - documented)))
if documented - registered:
    diff.append("routes doc/openapi.yaml documents that the server does not register: " +
                ", ".join("%s %s" % (m.upper(), p) for p, m in sorted(documented - registered)))
if diff:
    fail("; ".join(diff))


def watch_once(path):
    """GET /v1/watch: reads the head of a 200 stream (it does not end by itself)."""
    s = socket.create_connection((HOST, PORT), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    buf = b""
    while b": watching" not in buf and b"\r\n\r\n{" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    s.close()
    status = buf.split(b" ", 2)[1].decode() if buf else "none"
    if status == "200":
        if b"text/event-stream" not in buf:
            fail("watch stream content type: %r" % buf[:300])
        covered.add(("/v1/watch", "get", "200"))
        return
    call("/v1/watch", "get", path)


K = "/v1/timers/{key}"
I = "/v1/timers/id/{id}"
T = "/v1/timers"
r, d = call(K, "put", "/v1/timers/oa", {"in": "1h", "topic": "oa"})
tid = json.loads(d)["timer_id"]
call(K, "put", "/v1/timers/oa", {"in": "2h", "topic": "oa", "payload": "p"})
call(K, "put", "/v1/timers/oa", {"in": "soon"})
call(K, "put", "/v1/timers/oa", {"in": "1s", "payload": "x" * 20000})
call(K, "get", "/v1/timers/oa")
call(K, "get", "/v1/timers/none")
call(I, "put", "/v1/timers/id/%d" % tid, {"in": "3h"})
call(I, "put", "/v1/timers/id/0", {"in": "3h"})
call(I, "put", "/v1/timers/id/999999", {"in": "3h"})
call(I, "put", "/v1/timers/id/%d" % tid, {"in": "3h", "payload": "x" * 20000})
call(I, "get", "/v1/timers/id/%d" % tid)
call(I, "get", "/v1/timers/id/x")
call(I, "get", "/v1/timers/id/999999")
call(T, "get", "/v1/timers?topic=oa&limit=10&payload=1")
call(T, "get", "/v1/timers?cursor=bad")
r, d = call(T, "post", "/v1/timers", {"every": "1h"})
call(T, "post", "/v1/timers", "[]", raw=True)
call(T, "post", "/v1/timers", {"in": "1s", "payload": "x" * 20000})
call(I, "delete", "/v1/timers/id/%d" % json.loads(d)["timer_id"])
call(I, "delete", "/v1/timers/id/x")
call(I, "delete", "/v1/timers/id/999999")
call(K, "delete", "/v1/timers/oa")
call(K, "delete", "/v1/timers/oa")
# calendar (issue 15): the ArmBody field, the Timer's normalised form, the RPC's errors
call(K, "put", "/v1/timers/oa-cal", {"calendar": "Mon..Fri 09:00", "topic": "oa"})
r, d = call(K, "get", "/v1/timers/oa-cal")
if json.loads(d).get("calendar") != "Mon..Fri *-*-* 09:00:00":
    fail("GET /v1/timers/oa-cal: calendar %r" % json.loads(d).get("calendar"))
call(K, "put", "/v1/timers/oa-cal", {"calendar": "Mon..Fri 25:00"})
call(T, "get", "/v1/timers?topic=oa")
r, d = call(T, "post", "/v1/timers", {"calendar": "*-02-30"})
if r.status != 400 or "never elapses" not in json.loads(d)["error"]["message"]:
    fail("POST a calendar that never elapses: %d %r" % (r.status, d))
call(K, "delete", "/v1/timers/oa-cal")
call("/v1/stats", "get", "/v1/stats")
call("/metrics", "get", "/metrics")
r, d = call("/", "get", "/")
call("/", "get", "/", headers={"If-None-Match": r.getheader("ETag")})
call("/static/{name}", "get", "/static/status.js")
call("/static/{name}", "get", "/static/nothing.js")
call("/v1/status", "get", "/v1/status?next=5")
call("/v1/status", "get", "/v1/status?next=x")
call("/v1/history", "get", "/v1/history")
call("/v1/history", "get", "/v1/history?metric=no_such_column")
watch_once("/v1/watch?topic=a")
watch_once("/v1/watch?topic=%01")
watch_once("/v1/watch?topic=a&topic=b&topic=c")
# consumer groups: the group routes, the long poll, ack and nack
G = "/v1/groups/{group}"
call(G, "put", "/v1/groups/oa-g", {"topics": ["oa-g"], "ack_timeout": "30s"})
call(G, "put", "/v1/groups/oa-g", {"topics": ["oa-g"], "ack_timeout": "30s"})
call(G, "put", "/v1/groups/oa-bad", {"topics": "oa-g"})
call(G, "put", "/v1/groups/oa-g", {"topics": ["oa-g"], "ack_timeout": "5s"}, headers={"If-None-Match": "*"})
call(G, "get", "/v1/groups/oa-g")
call(G, "get", "/v1/groups/none")
call("/v1/groups", "get", "/v1/groups")
N = "/v1/groups/{group}/next"
call(N, "post", "/v1/groups/oa-g/next?wait=0")
call(N, "post", "/v1/groups/oa-g/next?wait=forever")
call(N, "post", "/v1/groups/none/next")
deliveries = []
for k in ("oa-d1", "oa-d2"):
    call(K, "put", "/v1/timers/" + k, {"in": "1ms", "topic": "oa-g", "payload": "job"})
    r, d = call(N, "post", "/v1/groups/oa-g/next?wait=10s")
    if r.status != 200:
        fail("no delivery of %s within 10 s: %d %r" % (k, r.status, d))
    deliveries.append(json.loads(d)["delivery_id"])
A = "/v1/deliveries/{id}/ack"
NK = "/v1/deliveries/{id}/nack"
call(A, "post", "/v1/deliveries/%d/ack" % deliveries[0])
call(A, "post", "/v1/deliveries/%d/ack" % deliveries[0])
call(A, "post", "/v1/deliveries/x/ack")
call(NK, "post", "/v1/deliveries/%d/nack" % deliveries[1], {"retry_after": "forever"})
call(NK, "post", "/v1/deliveries/%d/nack" % deliveries[1], {"retry_after": "1h", "error": "later"})
call(NK, "post", "/v1/deliveries/%d/nack" % deliveries[1], {})
# dead letters: one attempt, nacked, is a dead letter; listed, retried, dead again, purged by id
DL, DR, DP = "/v1/groups/{group}/dead-letters", "/v1/groups/{group}/dead-letters/retry", "/v1/groups/{group}/dead-letters/purge"


def dead_letter(key):
    """Makes the next delivery of group oa-g (timer key) a dead letter: taken, nacked on its last attempt."""
    r, d = call(N, "post", "/v1/groups/oa-g/next?wait=10s")
    if r.status != 200 or json.loads(d)["key"] != key:
        fail("no delivery of %s within 10 s: %d %r" % (key, r.status, d))
    call(NK, "post", "/v1/deliveries/%d/nack" % json.loads(d)["delivery_id"], {"error": "broken"})
    return json.loads(d)["delivery_id"]


call(G, "put", "/v1/groups/oa-g", {"topics": ["oa-g"], "ack_timeout": "30s", "max_attempts": 1})
call(K, "put", "/v1/timers/oa-dl", {"in": "1ms", "topic": "oa-g", "payload": "dead"})
dlid = dead_letter("oa-dl")
r, d = call(DL, "get", "/v1/groups/oa-g/dead-letters?key=oa-dl&payload=1&limit=10")
letters = json.loads(d)["letters"]
if [(x["delivery_id"], x["last_error"], x.get("payload")) for x in letters] != [(dlid, "broken", "dead")]:
    fail("GET dead-letters: %r, want delivery %d, last_error broken, payload dead" % (letters, dlid))
call(DL, "get", "/v1/groups/oa-g/dead-letters?cursor=bad")
call(DL, "get", "/v1/groups/none/dead-letters")
r, d = call(DR, "post", "/v1/groups/oa-g/dead-letters/retry?key=oa-dl")
if json.loads(d)["count"] != 1:
    fail("retry: %r, want count 1" % d)
call(DR, "post", "/v1/groups/oa-g/dead-letters/retry?id=x")
call(DR, "post", "/v1/groups/none/dead-letters/retry")
if dead_letter("oa-dl") != dlid:
    fail("the retried dead letter came back with another delivery id")
call(DP, "post", "/v1/groups/oa-g/dead-letters/purge?id=-1")
call(DP, "post", "/v1/groups/none/dead-letters/purge")
r, d = call(DP, "post", "/v1/groups/oa-g/dead-letters/purge?id=%d" % dlid)
if json.loads(d)["count"] != 1:
    fail("purge: %r, want count 1" % d)
r, d = call(DL, "get", "/v1/groups/oa-g/dead-letters")
if json.loads(d) != {"letters": [], "next_cursor": 0}:
    fail("GET dead-letters after the purge: %r" % d)
call(G, "delete", "/v1/groups/oa-g")
call(G, "delete", "/v1/groups/oa-g")
for i in range(60):  # --max-timers 40: FULL is 429
    r, d = call(K, "put", "/v1/timers/full-%d" % i, {"in": "1h", "ephemeral": True})
    if r.status == 429:
        break
call(T, "post", "/v1/timers", {"in": "1h", "ephemeral": True})  # still FULL: 429
# 405: every documented path with a method it does not serve; Allow lists the documented ones
for route, ops in SPEC["paths"].items():
    methods = [m for m in ("get", "put", "post", "delete") if m in ops]
    wrong = next(m for m in ("delete", "post", "put", "get") if m not in ops)
    path, _ = sample(route, wrong)
    c = http.client.HTTPConnection(HOST, PORT, timeout=10)
    c.request(wrong.upper(), path, body="{}")
    r = c.getresponse()
    d = r.read()
    c.close()
    want = set(m.upper() for m in methods) | ({"HEAD"} if "get" in ops else set())
    allow = set(x.strip() for x in (r.getheader("Allow") or "").split(",") if x.strip())
    if r.status != 405 or json.loads(d)["error"]["code"] != "UNKNOWN_OP" or allow != want:
        fail("%s %s: %d, Allow %r, %r; want 405 UNKNOWN_OP, Allow %s (the spec's methods)" % (
            wrong.upper(), path, r.status, r.getheader("Allow"), d[:200], ", ".join(sorted(want))))
    check(json.loads(d), SPEC["components"]["schemas"]["Error"], "%s %s 405" % (wrong.upper(), route))
    covered.add((route, wrong, "405"))

missing = []
for route, ops in SPEC["paths"].items():
    for method, op in ops.items():
        if method == "parameters":
            continue
        for status in op["responses"]:
            key = (route, method, status)
            if key not in covered and key not in UNREACHED:
                missing.append("%s %s %s" % (method.upper(), route, status))
if missing:
    fail("documented responses never exercised: " + ", ".join(missing))
print("ok: %d documented responses checked against the server" % len(covered))
