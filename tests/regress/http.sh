#!/usr/bin/env bash
# http.sh -- the HTTP/JSON API (doc/http.md): tests/regress/http_api.py walks
# every route and its errors, limits, slow clients, event streams and the
# connection cap on a private timerd; curl https:// to it fails with "wrong
# version number"; curl -N shows a fire as it happens; then an HTTP arm answered under
# --fsync always survives kill -9, and --http refuses a non-loopback address
# without --insecure.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] || skip "needs Debian's /usr/bin/python3"

command -v curl >/dev/null || skip "needs curl"
start_http --http-timeout 1s --http-max-connections 48 --max-frame 256KiB --max-payload 16KiB --max-output 256KiB
"$PY" "${top_srcdir:-.}/tests/regress/http_api.py" "$port" || fail "http_api.py (above)"

# a TLS client on this plaintext port fails at once, and curl says why (doc/http.md "TLS")
out=$(curl -sS --max-time 5 "https://127.0.0.1:$port/v1/stats" 2>&1) && fail "curl https:// on the plaintext port: $out"
grep -qi "wrong version number" <<<"$out" || fail "curl https:// on the plaintext HTTP port said: $out"

# curl -N shows the event stream as fires happen
curl -sN --max-time 20 "http://127.0.0.1:$port/v1/watch?topic=curl" >"$tmp/sse.txt" 2>/dev/null &
curl_pid=$!
streaming() { grep -q '^: watching' "$tmp/sse.txt"; }
wait_for streaming
curl -sf -X PUT -d '{"in": "10ms", "topic": "curl", "payload": "via curl"}' "http://127.0.0.1:$port/v1/timers/curl-1" >/dev/null ||
	fail "arming curl-1"
fired() { grep -q '^data: {.*"key":"curl-1".*"payload":"via curl"' "$tmp/sse.txt" && grep -q '^event: fire' "$tmp/sse.txt"; }
wait_for fired
kill "$curl_pid" 2>/dev/null
wait "$curl_pid" 2>/dev/null

# durable: the 201 came after the commit (the reply was held for it), so kill -9 keeps the timer
held() { curl -sf "http://127.0.0.1:$port/metrics" | sed -n 's/^timerd_http_replies_held_total //p'; }
before=$(held)
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{"in": "1h", "topic": "d"}' "http://127.0.0.1:$port/v1/timers/durable")
[ "$code" = 201 ] || fail "durable arm: status $code"
after=$(held)
[ "$after" -gt "$before" ] || fail "the durable arm's reply did not wait for the journal (held $before -> $after)"
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
start_http
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/timers/durable")
[ "$code" = 200 ] || fail "an HTTP arm answered 201 under --fsync always was lost by kill -9 (GET: $code)"
stop_timerd

out=$("$TIMERD" --check-config --socket "$sock" --state-dir "$tmp/state" --http 0.0.0.0:8080 2>&1)
[ $? -ne 0 ] || fail "--http 0.0.0.0:8080 without --insecure was accepted"
echo "$out" | grep -q -- "--insecure" || fail "the refusal of --http 0.0.0.0 said: $out"
exit 0
