#!/usr/bin/env bash
# sigterm.sh -- SIGTERM stops timerd cleanly: connected clients are told,
# the socket goes away, the exit status is 0.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd
ctl --json watch --for 20s > "$tmp/watch.json" 2>"$tmp/watch.err" &
watcher=$!
wait_for watching 1	# the watch is in place
ctl arm pending --in 1h >/dev/null || fail "arm"
stop_timerd
wait $watcher
rc=$?
[ $rc -eq 3 ] || fail "watch should exit 3 (unreachable) when timerd stops, exited $rc"
grep -q '"kind":2' "$tmp/watch.json" || fail "no shutdown notice: $(cat "$tmp/watch.json")"
grep -q "pending timers are in .*timers.db for the next start" "$tmp/timerd.log" ||
	fail "the log does not say the pending timer is kept in timers.db"
grep -q "timerd stopped" "$tmp/timerd.log" || fail "no 'timerd stopped' in the log"
ctl ping >/dev/null 2>&1
[ $? -eq 3 ] || fail "ping after shutdown should exit 3"
