#!/usr/bin/env bash
# status-page.sh -- the status page in a real browser: timerd --http under
# load (periodic timers firing to a watcher, a stream of arms), headless
# Chromium driven over the DevTools protocol (status-page.js) waits until
# the plots hold data, checks the DOM (numbers, the next-timers table, a
# key with markup shown as text, no errors logged) and that the canvases
# are not blank, in the page and again in its screenshot (png-variety.py).
# Skips (77) without chromium, node or /usr/bin/python3.
# STATUS_PAGE_SCREENSHOT=doc/status-page.png keeps the screenshot.
. "${top_srcdir:-.}/tests/regress/lib.sh"
here=${top_srcdir:-.}/tests/browser

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$CHROMIUM" ] || skip "no $CHROMIUM (apt-get install chromium)"
command -v node >/dev/null || skip "no node (apt-get install nodejs)"
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3"

# A free loopback port: bind 0 and read it back.
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_timerd --http "127.0.0.1:$port" --stats-interval 250ms
for i in 1 2 3 4 5; do ctl arm "tick-$i" --every 20ms --topic tick >/dev/null || fail "arm tick-$i"; done
for i in $(seq 1 20); do ctl arm "later-$i" --in "$((i * 3))m" --topic later >/dev/null || fail "arm later-$i"; done
ctl watch tick >/dev/null 2>&1 &
# A stream of arms for arms/s: re-arms of 50 keys, a minute out.
( i=0; while :; do ctl arm "job-$((i % 50))" --in 1m --topic jobs >/dev/null 2>&1 || exit 0; i=$((i + 1)); done ) &
wait_for watching 1
# Only to make doc/status-page.png show some history: STATUS_PAGE_WARMUP=SECONDS of load first.
[ -z "${STATUS_PAGE_WARMUP:-}" ] || sleep "$STATUS_PAGE_WARMUP"
evil='<img src=x onerror=alert(1)>'	# due before the stream's arms: in the next-timers table
ctl arm "$evil" --in 50s --topic '<b>bold</b>' >/dev/null || fail "arm the key with markup"

node "$here/status-page.js" "$CHROMIUM" "http://127.0.0.1:$port/#range=300" \
	"$tmp/profile" "$tmp/shot.png" "$evil" >"$tmp/seen.json" 2>"$tmp/node.err" ||
	fail "browser check: $(cat "$tmp/node.err")"
cat "$tmp/seen.json"
boxes=$(/usr/bin/python3 -c 'import json, sys; print(" ".join(",".join(str(int(v)) for v in b) for b in json.load(open(sys.argv[1]))["boxes"]))' "$tmp/seen.json")
/usr/bin/python3 "$here/png-variety.py" "$tmp/shot.png" $boxes || fail "the screenshot's plots are blank"
if [ -n "${STATUS_PAGE_SCREENSHOT:-}" ]; then
	cp "$tmp/shot.png" "$STATUS_PAGE_SCREENSHOT"
fi
stop_timerd
