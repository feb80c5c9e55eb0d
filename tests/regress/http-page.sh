#!/usr/bin/env bash
# http-page.sh -- the status page's routes with curl: the built-in files
# (Content-Type, ETag, 304, security headers, 404), GET /v1/status (counters,
# probes, the next timers due soonest first) and GET /v1/history (series in
# buckets, a zoomed range, every bad parameter a 400 naming it, 501 with
# --no-stats).
. "${top_srcdir:-.}/tests/regress/lib.sh"
command -v curl >/dev/null || skip "no curl (apt-get install curl)"

port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null) ||
	port=$((20000 + $$ % 20000))
start_timerd --http "127.0.0.1:$port" --stats-interval 100ms
base=http://127.0.0.1:$port
for i in 1 2 3; do ctl arm "soon-$i" --in "$((i * 10))s" --topic jobs >/dev/null || fail "arm soon-$i"; done
ctl arm tick --every 20ms --topic tick >/dev/null || fail "arm tick"

# The files: type, ETag, revalidation, headers; unknown names are 404.
check_file() {	# URL TYPE
	curl -s -D "$tmp/h" -o "$tmp/body" "$base$1" || fail "GET $1"
	grep -qi "^content-type: $2" "$tmp/h" || fail "$1 content type: $(cat "$tmp/h")"
	grep -qi '^cache-control: no-cache' "$tmp/h" || fail "$1 cache-control: $(cat "$tmp/h")"
	etag=$(sed -n 's/^[Ee][Tt]ag: *\("[0-9a-f]*"\).*/\1/p' "$tmp/h")
	[ -n "$etag" ] || fail "$1 has no ETag: $(cat "$tmp/h")"
	[ -s "$tmp/body" ] || fail "$1 is empty"
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base$1")
	[ "$code" = 304 ] || fail "$1 with If-None-Match $etag: $code, not 304"
}
check_file / 'text/html;charset=utf-8'
grep -qi "^content-security-policy: default-src 'self'" "$tmp/h" || fail "no CSP on /: $(cat "$tmp/h")"
grep -q '<script src="/static/status.js">' "$tmp/body" || fail "/ is not the page"
check_file /static/status.js 'text/javascript'
check_file /static/status.css 'text/css'
check_file /static/uPlot.iife.min.js 'text/javascript'
check_file /static/uPlot.min.css 'text/css'
check_file /static/uPlot.LICENSE 'text/plain'
grep -q 'MIT License' "$tmp/body" || fail "uPlot's license is not served"
for p in /static/nope.js /static/ /static/..%2Fhttp.c; do
	code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base$p")
	[ "$code" = 404 ] || fail "GET $p: $code, not 404"
done

# /v1/status: the counters as /v1/stats has them, probes, the next timers due.
curl -sf "$base/v1/status?next=3" >"$tmp/status.json" || fail "GET /v1/status"
grep -q '"stats":{"engine":{"arms":4,' "$tmp/status.json" || fail "status stats: $(cat "$tmp/status.json")"
grep -q '"probes":\[' "$tmp/status.json" || fail "status probes: $(cat "$tmp/status.json")"
grep -q '"next":{"complete":true,"scanned":4,"timers":\[{"timer_id":[0-9]*,"key":"tick",.*"key":"soon-1",.*"key":"soon-2",' \
	"$tmp/status.json" || fail "status next: $(cat "$tmp/status.json")"
grep -q '"soon-3"' "$tmp/status.json" && fail "next=3 returned more than 3: $(cat "$tmp/status.json")"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base/v1/status?next=101")
[ "$code" = 400 ] && grep -q '"code":"INVALID","message":"next must be an integer from 0 to 100' "$tmp/body" ||
	fail "next=101: $code $(cat "$tmp/body")"

# /v1/history: rows of the last hour by default; a zoomed range; bad parameters.
rows_with_fires() {	# (the last minute in 600 points: 100 ms buckets)
	curl -sf "$base/v1/history?since=$(($(now_ms) - 60000))&metric=engine_fires,server_conns" >"$tmp/hist.json" ||
		return 1
	grep -q '"series":{"engine_fires":\[[0-9]*,[0-9]*,[0-9]*,' "$tmp/hist.json" || { cat "$tmp/hist.json"; return 1; }
}
wait_for rows_with_fires
curl -sf "$base/v1/history" >"$tmp/hist.json" || fail "GET /v1/history"
grep -q '"since_ms":[0-9]*,"until_ms":[0-9]*,"step_ms":6000,"ts_ms":\[' "$tmp/hist.json" ||
	fail "history header (1 h in 600 points: 6 s buckets): $(cat "$tmp/hist.json")"
grep -q '"series":{"engine_arms":\[.*"engine_fires":\[.*"engine_pending":\[.*"server_late_p99_ns":\[' "$tmp/hist.json" ||
	fail "history's default metrics: $(cat "$tmp/hist.json")"
now=$(now_ms)
curl -sf "$base/v1/history?since=$((now - 60000))&until=$now&points=60000" -o /dev/null && fail "points=60000 accepted"
curl -sf "$base/v1/history?since=$((now - 2000))&until=$now&points=20&metric=engine_pending" >"$tmp/zoom.json" ||
	fail "zoomed history"
grep -q "\"since_ms\":$((now - 2000)),\"until_ms\":$now,\"step_ms\":100,\"ts_ms\":\[[0-9]" "$tmp/zoom.json" ||
	fail "zoomed history: $(cat "$tmp/zoom.json")"
/usr/bin/python3 - "$tmp/zoom.json" "$((now - 2000))" "$now" <<'PY' || fail "zoomed rows out of range: $(cat "$tmp/zoom.json")"
import json, sys
d, lo, hi = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
assert d["ts_ms"] and all(lo <= t <= hi for t in d["ts_ms"]) and len(d["ts_ms"]) <= 21, d
assert d["ts_ms"] == sorted(d["ts_ms"]) and len(d["series"]["engine_pending"]) == len(d["ts_ms"]), d
PY
bad() {	# QUERY WORDS: a 400 INVALID whose message has WORDS
	code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base/v1/history?$1")
	[ "$code" = 400 ] && grep -q "\"code\":\"INVALID\",\"message\":\"$2" "$tmp/body" ||
		fail "history?$1: $code $(cat "$tmp/body")"
}
bad 'metric=nope' "metric: no column 'nope' in stats.db"
bad 'metric=ts_ms' "metric: no column 'ts_ms'"
bad 'metric=engine_fires%22),(select%201' "metric: no column"
bad "metric=$(printf 'engine_fires,%.0s' $(seq 1 33))" 'metric: at most 32 names'
bad 'points=0' 'points must be an integer from 1 to 5000'
bad 'since=abc' 'since must be an integer'
bad "since=$((now + 100000))&until=$now" 'since must be an integer from 0 to'
bad 'until=-5' 'until must be an integer'
stop_timerd

start_timerd --http "127.0.0.1:$port" --no-stats
code=$(curl -s -o "$tmp/body" -w '%{http_code}' "$base/v1/history")
[ "$code" = 501 ] && grep -q '"code":"UNAVAILABLE","message":"stats are off' "$tmp/body" ||
	fail "history with --no-stats: $code $(cat "$tmp/body")"
stop_timerd
