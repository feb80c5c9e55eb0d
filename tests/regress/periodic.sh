#!/usr/bin/env bash
# periodic.sh -- a periodic timer fires again and again at a fixed rate until cancelled.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd
ctl --json watch tick --count 5 --for 10s > "$tmp/watch.json" &
watcher=$!
wait_for watching 1	# the watch is in place
ctl arm ticker --every 100ms --topic tick >/dev/null || fail "arm failed"
wait $watcher || fail "watch saw fewer than 5 fires: $(cat "$tmp/watch.json")"
seqs=$(json_int seq < "$tmp/watch.json" | tr '\n' ' ')
[ "$seqs" = "1 2 3 4 5 " ] || fail "seq should count 1..5, got: $seqs"
prev=
for d in $(json_int deadline_mono_ns < "$tmp/watch.json"); do
	[ -z "$prev" ] || [ $((d - prev)) -eq 100000000 ] || fail "deadlines not 100ms apart: $prev -> $d"
	prev=$d
done
grep -q '"final":true' "$tmp/watch.json" && fail "a periodic fire was marked final"
json_int late_ns < "$tmp/watch.json" | while read -r l; do [ "$l" -ge 0 ] || fail "fired early"; done
ctl get ticker | grep -q "period:   100ms" || fail "get does not show the period"
ctl cancel ticker >/dev/null || fail "cancel failed"
stop_timerd
