#!/usr/bin/env bash
# rearm.sh -- arming an existing key replaces its deadline (same id, one fire).
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd
first=$(ctl --json arm lease --in 10s --topic r) || fail "arm failed"
ctl --json watch r --for 2s > "$tmp/watch.json" &
watcher=$!
wait_for watching 1	# the watch is in place
second=$(ctl --json arm lease --in 300ms --topic r) || fail "re-arm failed"
[ "$(echo "$first" | json_int timer_id)" = "$(echo "$second" | json_int timer_id)" ] || fail "re-arm made a new timer"
echo "$first" | grep -q '"created":true' || fail "first arm: $first"
echo "$second" | grep -q '"created":false' || fail "re-arm should report created=false: $second"
wait $watcher
[ "$(wc -l < "$tmp/watch.json")" -eq 1 ] || fail "expected exactly one fire, got: $(cat "$tmp/watch.json")"
[ "$(json_int deadline_mono_ns < "$tmp/watch.json")" = "$(echo "$second" | json_int deadline_mono_ns)" ] ||
	fail "the fire kept the old deadline"
ctl get lease >/dev/null 2>&1
[ $? -eq 4 ] || fail "a one-shot timer is still there after firing"
stop_timerd
