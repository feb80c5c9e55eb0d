#!/usr/bin/python3
# tests/regress/http_groups.py PORT N W -- many consumers at once over HTTP
# (http-groups.sh): W threads long-poll group 'stress' (unordered) while N
# timers of its topic fire; each acks or nacks (keys divisible by 7 are
# nacked once, retry_after 10ms) on a second connection, so polls and acks
# meet on different loops. Checks every key was delivered, every delivery
# acked exactly once, nothing left in flight or in the backlog, and no poll
# left subscribed.
import http.client
import json
import sys
import threading
import time

PORT, N, W = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
HOST = "127.0.0.1"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def req(c, method, path, body=None):
    c.request(method, path, body=None if body is None else json.dumps(body))
    r = c.getresponse()
    return r.status, r.read()


c = http.client.HTTPConnection(HOST, PORT, timeout=30)
st, d = req(c, "PUT", "/v1/groups/stress", {"topics": ["stress"], "unordered": True, "ack_timeout": "30s"})
if st not in (200, 201):
    fail("PUT /v1/groups/stress: %d %r" % (st, d))
acked, errors, lock = {}, [], threading.Lock()
deadline = time.time() + 40


def consumer():
    polls = http.client.HTTPConnection(HOST, PORT, timeout=30)
    acks = http.client.HTTPConnection(HOST, PORT, timeout=30)
    while time.time() < deadline:
        with lock:
            if len(acked) >= N or errors:
                return
        st, d = req(polls, "POST", "/v1/groups/stress/next?wait=1s")
        if st == 204:
            continue
        if st != 200:
            errors.append("next: %d %r" % (st, d))
            return
        dv = json.loads(d)
        if dv["attempt"] == 1 and int(dv["key"][1:]) % 7 == 0:
            st, d = req(acks, "POST", "/v1/deliveries/%d/nack" % dv["delivery_id"], {"retry_after": "10ms"})
        else:
            st, d = req(acks, "POST", "/v1/deliveries/%d/ack" % dv["delivery_id"])
            with lock:
                if dv["key"] in acked:
                    errors.append("%s acked twice (deliveries %d and %d)" % (dv["key"], acked[dv["key"]],
                                                                           dv["delivery_id"]))
                acked[dv["key"]] = dv["delivery_id"]
        if st != 200:
            errors.append("ack or nack of %d: %d %r" % (dv["delivery_id"], st, d))
            return


threads = [threading.Thread(target=consumer) for _ in range(W)]
for t in threads:
    t.start()
for k in range(N):
    st, d = req(c, "PUT", "/v1/timers/k%d" % k, {"in": "5ms", "topic": "stress", "payload": "x"})
    if st != 201:
        fail("arm k%d: %d %r" % (k, st, d))
for t in threads:
    t.join()
if errors:
    fail("; ".join(errors[:5]))
if len(acked) != N:
    fail("%d of %d keys delivered and acked within 40 s" % (len(acked), N))
want = {"acked": N, "nacked": len([k for k in range(N) if k % 7 == 0]), "in_flight": 0, "backlog": 0}
for _ in range(200):
    st, d = req(c, "GET", "/v1/groups/stress")
    gi = json.loads(d)
    if all(gi[k] == v for k, v in want.items()) and gi["consumers"] == 0:
        break
    time.sleep(0.05)
else:
    fail("group counters %r, want %r and no consumer left" % ({k: gi[k] for k in list(want) + ["consumers"]}, want))
print("ok: %d deliveries to %d long-polling consumers, %d nacked once, all acked once" % (N, W, want["nacked"]))
