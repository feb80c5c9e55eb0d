#!/usr/bin/env bash
# durable-cli.sh -- durable timers through timerctl: arm --ephemeral and
# --misfire skip show in list; after a SIGTERM restart the ephemeral timer is
# gone and the stored one is back with its id; stats shows the store; a timer
# that came due while timerd was down (kill -9) fires marked recovered.
. "${top_srcdir:-.}/tests/regress/lib.sh"

# Prints the JSON line of `list` whose key is $1 (empty if none).
list_key() {
	ctl --json list | grep "\"key\":\"$1\""
}

# Waits up to 10s for file $1 to match the extended regex $2; fails with what it saw.
wait_match() {
	for _ in $(seq 1 500); do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	fail "no line matching '$2' in $1 within 10s; it holds: $(cat "$1" 2>/dev/null)"
}

# --- ephemeral and misfire skip, across a clean restart ---------------------
start_timerd
ctl arm mem --in 1h --ephemeral >/dev/null || fail "arm --ephemeral"
ctl arm kept --in 1h --misfire skip --topic t >/dev/null || fail "arm --misfire skip"
ctl arm bad --in 1h --misfire later >/dev/null 2>"$tmp/misfire.err"
rc=$?
[ $rc -eq 2 ] || fail "--misfire later should exit 2, exited $rc"
grep -q "fire or skip" "$tmp/misfire.err" || fail "--misfire later does not name the policies: $(cat "$tmp/misfire.err")"

mem=$(list_key mem)
kept=$(list_key kept)
echo "$mem" | grep -q '"ephemeral":true' || fail "list: mem is not ephemeral: $mem"
echo "$mem" | grep -q '"misfire":"fire"' || fail "list: mem's misfire is not fire: $mem"
echo "$kept" | grep -q '"ephemeral":false' || fail "list: kept is ephemeral: $kept"
echo "$kept" | grep -q '"misfire":"skip"' || fail "list: kept's misfire is not skip: $kept"
ctl get kept | grep -q "misfire: *skip" || fail "get: no misfire skip: $(ctl get kept)"
ctl list | grep -q "ephemeral" || fail "list: no ephemeral flag: $(ctl list)"
kept_id=$(echo "$kept" | json_int timer_id)
[ -n "$kept_id" ] || fail "no timer_id for kept: $kept"

stop_timerd
start_timerd
[ -z "$(list_key mem)" ] || fail "the ephemeral timer survived a restart: $(list_key mem)"
kept=$(list_key kept)
[ -n "$kept" ] || fail "kept is gone after the restart: $(ctl --json list)"
[ "$(echo "$kept" | json_int timer_id)" = "$kept_id" ] || fail "kept changed id: $kept_id -> $kept"
echo "$kept" | grep -q '"misfire":"skip"' || fail "kept lost its misfire policy: $kept"

stats=$(ctl --json stats) || fail "stats --json"
store=$(echo "$stats" | sed -n 's/.*"store":{\([^}]*\)}.*/\1/p')
[ -n "$store" ] || fail "stats --json has no store section: $stats"
echo "$store" | grep -q '"durable":1' || fail "store is not durable: $store"
echo "$store" | grep -q '"loaded":1[,}]\|"loaded":1$' || fail "store did not load 1 timer: $store"
echo "$store" | grep -q '"fsync":"always"' || fail "store fsync is not always: $store"
echo "$store" | grep -q '"path":"[^"]*timers.db"' || fail "store path is not timers.db: $store"
ctl stats | grep -q "^store:" || fail "stats (text) has no store section: $(ctl stats)"
ctl stats | grep -Eq "^  path +.*timers.db" || fail "stats (text) has no store path: $(ctl stats)"

# --- a fire that came due while timerd was down -----------------------------
ctl arm late --in 300ms --topic late >/dev/null || fail "arm late"
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
sleep 0.4	# let the deadline pass while timerd is down
start_timerd --recovery-grace 2s
ctl --json watch late --for 20s --count 1 > "$tmp/watch.json" 2>"$tmp/watch.err" &
wait_match "$tmp/watch.json" '"event":"fire".*"key":"late".*"recovered":true'
grep '"key":"late"' "$tmp/watch.json" | grep -q '"final":true' || fail "the recovered fire is not final: $(cat "$tmp/watch.json")"
stop_timerd
