#!/usr/bin/env bash
# fire.sh -- an armed timer fires once, never early, close to its deadline;
# `watch` sees it and `arm --wait` blocks until it fires.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd --threads 2
ctl --json watch jobs --count 1 --for 10s > "$tmp/watch.json" &
watcher=$!
wait_for watching 1	# the watch is in place
armed=$(ctl --json arm job-7 --in 400ms --topic jobs --payload hello) || fail "arm failed"
[ "$(echo "$armed" | json_str key)" = job-7 ] || fail "arm printed: $armed"
wait $watcher || fail "watch exited with $?"
fire=$(cat "$tmp/watch.json")
[ -n "$fire" ] || fail "watch saw no fire"
[ "$(echo "$fire" | json_str key)" = job-7 ] || fail "wrong fire: $fire"
[ "$(echo "$fire" | json_str payload)" = hello ] || fail "payload lost: $fire"
[ "$(echo "$fire" | json_int timer_id)" = "$(echo "$armed" | json_int timer_id)" ] || fail "id differs: $fire"
late=$(echo "$fire" | json_int late_ns)
received=$(echo "$fire" | json_int received_late_ns)
[ "$late" -ge 0 ] && [ "$received" -ge 0 ] || fail "fired early: $fire"
[ "$received" -lt 250000000 ] || fail "fire arrived ${received}ns after its deadline"
[ "$(echo "$fire" | json_int deadline_mono_ns)" = "$(echo "$armed" | json_int deadline_mono_ns)" ] ||
	fail "deadline differs between arm and fire"

t0=$(now_ms)
out=$(ctl arm waited --in 300ms --wait) || fail "arm --wait failed"
t1=$(now_ms)
[ $((t1 - t0)) -ge 290 ] || fail "arm --wait returned after $((t1 - t0))ms, before the fire"
echo "$out" | grep -q "fired  id=" || fail "arm --wait printed: $out"
ctl arm never --in 1h --wait --wait-timeout 200ms >/dev/null 2>&1
[ $? -eq 5 ] || fail "--wait-timeout should exit 5"
stop_timerd
