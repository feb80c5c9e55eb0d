#!/usr/bin/env bash
# memory-watch.sh -- watches count in max-memory (doc/security.md, Limits):
# 2000 watched topics of 100 bytes (about 390 KiB by timerd's estimate)
# use up a 256 KiB budget, so an Arm is refused NO_MEMORY naming
# max-memory; once the watcher is gone its bytes come back and Arm works.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd --memory-only --no-stats --max-memory 256KiB --max-watches 100000
ctl arm before --in 1h >/dev/null || fail "an arm under an empty budget failed: $(ctl arm before --in 1h 2>&1)"
pad=$(printf 'x%.0s' $(seq 1 96))
topics=$(for i in $(seq 1000 2999); do printf '%s%s ' "$pad" "$i"; done)
# shellcheck disable=SC2086
"$TIMERCTL" --socket "$sock" watch $topics --for 60s >"$tmp/watch.out" 2>&1 &
watcher=$!
wait_for watching 2000
out=$(ctl arm during --in 1h 2>&1) && fail "an arm fit in a budget the watches used up: $out"
echo "$out" | grep -q "max-memory" || fail "the refusal does not name max-memory: $out"
kill "$watcher"
wait "$watcher" 2>/dev/null
wait_for watching 0
wait_for ctl arm after --in 1h
stop_timerd
echo PASS
