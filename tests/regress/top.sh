#!/usr/bin/env bash
# top.sh -- timerctl top: --once (plain and --json) reports the pending
# timers, rates from counter deltas, lateness, connections, probes, errors
# and the next timers due of a loaded daemon; the live view rides out the
# daemon going away and coming back; bad options are usage errors.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd --stats-interval 100ms
for i in 1 2 3 4 5; do ctl arm "tick-$i" --every 10ms --topic tick >/dev/null || fail "arm tick-$i"; done
for i in $(seq 1 20); do ctl arm "later-$i" --in "${i}m" --topic later >/dev/null || fail "arm later-$i"; done
ctl watch tick >/dev/null 2>&1 &
wait_for watching 1

# Plain: name=value fields, one line per subject, the next timers as a table.
ctl top --once --interval 500ms --next 7 >"$tmp/once.txt" || fail "top --once: $(cat "$tmp/once.txt")"
field() { grep -o "$1=[^ ]*" "$tmp/once.txt" | head -1 | cut -d= -f2; }
[ "$(field pending)" = 25 ] || fail "pending: $(cat "$tmp/once.txt")"
fires=$(field fires/s)
[ "${fires%.*}" -gt 0 ] 2>/dev/null || fail "fires/s not positive: $(cat "$tmp/once.txt")"
[ "$(field watchers)" = 1 ] || fail "watchers: $(cat "$tmp/once.txt")"
for f in arms/s cancels/s req/s errors/s p50 p99 max open accepted attached hits drops server; do
	[ -n "$(field "$f")" ] || fail "no $f= in: $(cat "$tmp/once.txt")"
done
grep -q '^next due     7 of 25 pending$' "$tmp/once.txt" || fail "next due header: $(cat "$tmp/once.txt")"
rows=$(grep -c '^  -\?[0-9].*  tick  *tick-[1-5]$' "$tmp/once.txt")	# LEFT is negative for one due but not yet fired
[ "$rows" = 5 ] || fail "the 5 periodic timers are not the first due: $(cat "$tmp/once.txt")"
grep -q '  later  *later-1$' "$tmp/once.txt" || fail "later-1 not listed: $(cat "$tmp/once.txt")"
grep -q 'later-3' "$tmp/once.txt" && fail "--next 7 listed more than 7: $(cat "$tmp/once.txt")"

# JSON: one object, rates as numbers, the next timers soonest first.
ctl --json top --once --interval 300ms >"$tmp/once.json" || fail "top --once --json"
[ "$(wc -l <"$tmp/once.json")" = 1 ] || fail "--json printed more than one line"
[ "$(json_int pending <"$tmp/once.json")" = 25 ] || fail "json pending: $(cat "$tmp/once.json")"
grep -q '"fires_per_s":[1-9]' "$tmp/once.json" || fail "json fires_per_s: $(cat "$tmp/once.json")"
grep -q '"next":{"complete":true,"scanned":25,"timers":\[{"timer_id":[0-9]*,"key":"tick-' "$tmp/once.json" ||
	fail "json next: $(cat "$tmp/once.json")"
if [ -x /usr/bin/python3 ]; then
	/usr/bin/python3 - "$tmp/once.json" <<'PY' || fail "json check: $(cat "$tmp/once.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["pending"] == 25 and d["fires_per_s"] > 0 and d["arms_per_s"] >= 0, d
assert set(d["lateness"]) == {"dispatch", "delivery"} and d["lateness"]["dispatch"]["late_count"] > 0, d
assert d["connections"]["watchers"] == 1 and "list" in d["probes"] and "by_code" in d["errors"], d
t = d["next"]["timers"]
assert len(t) == 10 and all(a["left_ns"] <= b["left_ns"] for a, b in zip(t, t[1:])), t
assert [x["key"] for x in t[5:]] == ["later-%d" % i for i in range(1, 6)], t
PY
fi

# --json without --once: one object per refresh, one per line; the first has no rates yet.
"$TIMERCTL" --socket "$sock" --json top --interval 100ms --next 1 >"$tmp/stream.json" 2>&1 &
stream_pid=$!
lines() { [ "$(wc -l <"$tmp/stream.json")" -ge 3 ] || { cat "$tmp/stream.json"; return 1; }; }
wait_for lines
kill -TERM "$stream_pid"
wait "$stream_pid" || fail "top --json exited $? after SIGTERM"
head -1 "$tmp/stream.json" | grep -q '"arms_per_s":null' || fail "first streamed snapshot has rates: $(head -1 "$tmp/stream.json")"
sed -n 2p "$tmp/stream.json" | grep -q '"fires_per_s":[1-9]' || fail "second streamed snapshot: $(sed -n 2p "$tmp/stream.json")"
grep -vc '^{"version":"timerd .*}$' "$tmp/stream.json" | grep -qx 0 || fail "a streamed line is not one object: $(cat "$tmp/stream.json")"

# Bad options.
ctl top --once --interval 10ms >/dev/null 2>&1; [ $? = 2 ] || fail "--interval 10ms is not a usage error"
ctl top --once --next 101 >/dev/null 2>&1; [ $? = 2 ] || fail "--next 101 is not a usage error"

# The live view (not a terminal: snapshots appended) says when timerd goes away and when it is back.
"$TIMERCTL" --socket "$sock" top --interval 100ms --next 1 >"$tmp/live.txt" 2>"$tmp/live.err" &
top_pid=$!
snapshots() { [ "$(grep -c '^timers ' "$tmp/live.txt")" -ge "$1" ] || { tail -3 "$tmp/live.txt"; return 1; }; }
wait_for snapshots 2
stop_timerd
wait_for grep -q 'timerd is not reachable' "$tmp/live.err"
ctl top --once >/dev/null 2>&1; [ $? = 3 ] || fail "top --once without timerd does not exit 3"
start_timerd
wait_for grep -q 'timerd is back' "$tmp/live.err"
n=$(grep -c '^timers ' "$tmp/live.txt")
wait_for snapshots $((n + 1))
kill -TERM "$top_pid"
wait_for gone "$top_pid"
wait "$top_pid" || fail "top exited $? after SIGTERM"
stop_timerd
