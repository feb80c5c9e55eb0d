#!/usr/bin/python3
# list-filter.py SOCKET IDENTITY SECRET ROUNDS -- helper of bench/compare-list-filter:
# arms 1000 x 45 KB timers as root (admin, the Unix socket's uid rule), then times
# List(limit 1000) as IDENTITY (0 entries: none are its own), with and without
# payloads, an admin List{topic} that matches nothing and an admin List of all
# 1000 without payloads; one JSON line per case (median and p90 ms per List).
import json, os, socket, struct, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'regress'))
sys.argv_saved = sys.argv; sys.argv = ['x', 'none']
import text as T
sys.argv = sys.argv_saved
path, ident, secret, rounds = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4])

def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); return s

def call(s, rid, body_num, body):
    s.sendall(T.frame(T.field(1, 0, rid) + T.field(body_num, 2, body)))
    f = T.read_frame(s)
    return T.parse(f), len(f)

a = conn()
pay = b'p' * 45000
for i in range(1000):
    arm = T.field(1, 0, 3600 * 10**9) + T.field(5, 2, b'k%d' % i) + T.field(7, 2, b'jobs') + T.field(8, 2, pay)
    a.sendall(T.frame(T.field(1, 0, i + 1) + T.field(11, 2, arm)))
for i in range(1000):
    (rid, body), _ = T.parse(T.read_frame(a)), 0
    assert body and body[0] != 9, body

def timeit(s, body, n):
    ts = []
    for r in range(n):
        t0 = time.perf_counter()
        (rid, b), ln = call(s, 100 + r, 14, body)
        ts.append((time.perf_counter() - t0) * 1e3)
        assert b and b[0] != 9, b
    ts.sort()
    return ts[len(ts) // 2], ts[int(len(ts) * 0.9)], ln

r = conn()
(rid, b), _ = call(r, 1, 22, T.field(1, 2, ident.encode()) + T.field(2, 2, secret))
assert b and b[0] != 9, ('auth', b)
for name, s, body in (('identity_list_nopayload', r, T.field(3, 0, 1000)),
                      ('identity_list_with_payload', r, T.field(3, 0, 1000) + T.field(4, 0, 1)),
                      ('admin_list_topic_nomatch', a, T.field(1, 2, b'nomatch') + T.field(3, 0, 1000)),
                      ('admin_list_all_nopayload', a, T.field(3, 0, 1000))):
    med, p90, ln = timeit(s, body, rounds)
    print(json.dumps({"bench": "list-filter", "case": name, "timers": 1000, "payload_bytes": 45000,
                      "rounds": rounds, "median_ms": round(med, 4), "p90_ms": round(p90, 4), "reply_bytes": ln}))
