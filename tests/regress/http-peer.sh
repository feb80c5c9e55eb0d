#!/usr/bin/env bash
# http-peer.sh -- the HTTP API on 127.0.0.1 is no way around the Unix
# socket's mode either (doc/security.md): `nobody` over HTTP can neither
# read root's timer nor list, DELETE or PUT (403 PERMISSION, saying what to
# do); root still can. Then max-connections-per-address caps one uid's
# HTTP connections (429 TOO_MANY_CONNECTIONS), and a closed one frees its
# place.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ "$(id -u)" -eq 0 ] || skip "needs root to run a client as nobody"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
command -v curl >/dev/null || skip "needs curl"
[ -x "$PY" ] || skip "needs Debian's /usr/bin/python3"
nobody=$(id -u nobody 2>/dev/null) || skip "no user nobody"
chmod 0711 "$tmp"

# nobody's request: prints "STATUS BODY"
as_nobody() {
	local method=$1 path=$2
	shift 2
	setpriv --reuid "$nobody" --regid "$nobody" --clear-groups \
		curl -s -X "$method" -w ' %{http_code}' "$@" "http://127.0.0.1:$port$path"
}

# Fails unless nobody's $1 $2 was refused with 403 PERMISSION and the rule's message.
refused() {
	local out
	out=$(as_nobody "$@")
	case "$out" in *' 403') ;; *) fail "nobody's $1 $2 was not refused with 403: $out" ;; esac
	echo "$out" | grep -q '"code": *"PERMISSION"' || fail "nobody's $1 $2: no PERMISSION code: $out"
	echo "$out" | grep -q "uid $nobody may not use timerd" || fail "nobody's $1 $2: the message said: $out"
	echo "$out" | grep -q "socket-group" || fail "nobody's $1 $2: the message does not say what to do: $out"
	echo "$out" | grep -q "root-only-payload" && fail "nobody's $1 $2 showed root's payload: $out"
	return 0
}

start_http
ctl arm secret --in 1h --payload root-only-payload --topic t >/dev/null || fail "root's arm"
refused GET /v1/timers/secret
refused GET /v1/timers
refused GET "/v1/timers?topic=t"
refused DELETE /v1/timers/secret
refused PUT /v1/timers/secret -d '{"in": "1s", "payload": "nobody-was-here"}'
refused POST /v1/timers -d '{"in": "1h"}'
refused GET /v1/watch
ctl get secret | grep -q root-only-payload || fail "root's timer changed after nobody's DELETE/PUT: $(ctl get secret 2>&1)"
curl -sf "http://127.0.0.1:$port/v1/timers/secret" | grep -q '"payload": *"root-only-payload"' ||
	fail "root cannot GET its timer over HTTP: $(curl -s "http://127.0.0.1:$port/v1/timers/secret")"
curl -sf "http://127.0.0.1:$port/v1/timers" | grep -q secret || fail "root cannot list over HTTP"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{"in": "2h"}' "http://127.0.0.1:$port/v1/timers/secret")
[ "$code" = 200 ] || fail "root's PUT over HTTP: status $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "http://127.0.0.1:$port/v1/timers/secret")
[ "$code" = 200 ] || fail "root's DELETE over HTTP: status $code"
grep -q "HTTP connection from uid $nobody refused: uid $nobody may not use timerd" "$tmp/timerd.log" ||
	fail "the refusal is not logged"
stop_timerd

# max-connections-per-address: uid 0 may hold 3 HTTP connections, the 4th is refused until one closes
start_http --max-connections-per-address 3
"$PY" - "$port" <<'PYEOF' || fail "max-connections-per-address over HTTP (above)"
import http.client, json, sys, time
port = int(sys.argv[1])

def get(c):
    c.request("GET", "/v1/stats")
    r = c.getresponse()
    return r.status, r.getheader("Retry-After"), r.read()

def conns():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    for line in c.getresponse().read().decode().splitlines():
        if line.startswith("timerd_http_connections "):
            c.close()
            return float(line.split()[1])
    sys.exit("FAIL: no timerd_http_connections in /metrics")

end = time.time() + 10
while conns() > 1:	# the start-up probe's connection, then the metric's own
    if time.time() > end:
        sys.exit("FAIL: earlier HTTP connections did not close")
    time.sleep(0.02)
held = []
for i in range(3):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    st, _, body = get(c)
    if st != 200:
        # the metric's own connection may not be forgotten yet: wait for it once
        time.sleep(0.2)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        st, _, body = get(c)
    if st != 200:
        sys.exit("FAIL: connection %d of 3: %d %r" % (i, st, body))
    held.append(c)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
st, retry, body = get(c)
err = json.loads(body).get("error", {}) if st != 200 else {}
if st != 429 or retry is None or err.get("code") != "TOO_MANY_CONNECTIONS" or \
        "max-connections-per-address" not in err.get("message", ""):
    sys.exit("FAIL: the 4th connection of uid 0: %d %r" % (st, body))
held.pop().close()
end = time.time() + 10
while True:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    st, _, body = get(c)
    c.close()
    if st == 200:
        break
    if time.time() > end:
        sys.exit("FAIL: a closed connection did not free its place: %d %r" % (st, body))
    time.sleep(0.02)
PYEOF
stop_timerd
echo PASS
