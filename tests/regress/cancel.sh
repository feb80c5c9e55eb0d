#!/usr/bin/env bash
# cancel.sh -- a cancelled timer never fires; get and cancel then say it is gone.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd
ctl --json watch c --for 2500ms > "$tmp/watch.json" &
watcher=$!
wait_for watching 1	# the watch is in place
ctl arm doomed --in 1s --topic c >/dev/null || fail "arm failed"
ctl cancel doomed >/dev/null || fail "cancel failed"
ctl get doomed >/dev/null 2>"$tmp/err"
[ $? -eq 4 ] || fail "get of a cancelled timer should exit 4"
grep -q "no such timer" "$tmp/err" || fail "get said: $(cat "$tmp/err")"
wait $watcher || fail "watch exited with $?"
[ ! -s "$tmp/watch.json" ] || fail "a cancelled timer fired: $(cat "$tmp/watch.json")"
ctl cancel never-armed >/dev/null 2>&1
[ $? -eq 4 ] || fail "cancel of an unknown key should exit 4"
id=$(ctl --json arm by-id --in 1h | json_int timer_id)
ctl cancel --id "$id" >/dev/null || fail "cancel --id failed"
ctl get --id "$id" >/dev/null 2>&1
[ $? -eq 4 ] || fail "timer $id still there after cancel --id"
stop_timerd
