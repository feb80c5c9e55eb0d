#!/usr/bin/env bash
# durable-cli.sh -- durable timers through timerctl: arm --ephemeral and
# --misfire skip show in list; after a SIGTERM restart the ephemeral timer is
# gone and the stored one is back with its id; stats shows the store; a timer
# that came due while timerd was down (kill -9) fires marked recovered; as
# root, a full tmpfs makes arm exit 6 (STORAGE: retry later) until space returns.
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
ctl arm --help > "$tmp/help.txt" || fail "arm --help exited $?"
grep -q -- "--ephemeral" "$tmp/help.txt" && grep -q -- "--misfire fire|skip" "$tmp/help.txt" ||
	fail "arm --help does not describe --ephemeral and --misfire: $(cat "$tmp/help.txt")"
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

# --- a full disk: STORAGE is exit code 6, and writes resume -----------------
# Needs root for a small tmpfs as the state directory; the rest ran already.
[ "$(id -u)" -eq 0 ] || exit 0
rm -rf "$tmp/state" && mkdir "$tmp/state"
mount -t tmpfs -o size=2m tmpfs "$tmp/state" 2>/dev/null || exit 0
# Stops what uses the tmpfs, unmounts it, then the usual cleanup.
storage_cleanup() {
	if [ -n "$daemon_pid" ]; then
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	umount "$tmp/state" 2>/dev/null
	cleanup
}
trap storage_cleanup EXIT
start_timerd
dd if=/dev/zero of="$tmp/state/fill" bs=4k 2>/dev/null	# fills it: dd stops at ENOSPC
head -c 30000 /dev/urandom | base64 -w0 > "$tmp/payload"
# This arm is in the commit that fails: its reply waits until the store works again.
ctl --timeout 60s arm caught --in 1h --payload-file "$tmp/payload" > "$tmp/caught.out" 2>&1 &
caught=$!
for _ in $(seq 1 500); do
	ctl --json stats | grep -q '"failing":1' && break
	sleep 0.02
done
ctl --json stats | grep -q '"failing":1' || fail "the store is not failing on a full disk: $(ctl --json stats)"
ctl --json stats | grep -q '"last_error":"[^"]' || fail "a failing store has no last_error: $(ctl --json stats)"
ctl arm refused --in 1h > /dev/null 2> "$tmp/refused.err"
rc=$?
[ $rc -eq 6 ] || fail "arm on a failing store should exit 6 (retry later), exited $rc: $(cat "$tmp/refused.err")"
grep -q "retry" "$tmp/refused.err" || fail "the STORAGE message does not say to retry: $(cat "$tmp/refused.err")"
rm -f "$tmp/state/fill"
wait $caught || fail "the arm caught in the failed commit did not succeed once space returned: $(cat "$tmp/caught.out")"
ctl arm refused --in 1h > /dev/null || fail "arm after space returned"
[ -n "$(list_key caught)" ] && [ -n "$(list_key refused)" ] || fail "timers missing after recovery: $(ctl --json list)"
stop_timerd
