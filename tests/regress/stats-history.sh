#!/usr/bin/env bash
# stats-history.sh -- the stats thread writes rows to stats.db (WAL) that
# `timerctl stats --history` reads back; live stats answer too.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd --stats-interval 100ms
# True once stats.db holds at least 5 rows, the last counting the 3 arms and their fires.
history_caught_up() {
	ctl --json stats --history 1m > "$tmp/rows.json" || return 1
	last=$(tail -1 "$tmp/rows.json")
	[ "$(wc -l < "$tmp/rows.json")" -ge 5 ] && [ "$(echo "$last" | json_int engine_arms)" -ge 3 ] &&
		[ "$(echo "$last" | json_int engine_fires)" -ge 3 ] || { echo "rows: $last"; return 1; }
}
for i in 1 2 3; do ctl arm "s$i" --in 50ms >/dev/null || fail "arm"; done
ctl --json stats > "$tmp/live.json" || fail "stats failed"
arms=$(sed -n 's/.*"engine":{"arms":\([0-9]*\).*/\1/p' "$tmp/live.json")
[ "${arms:-0}" -ge 3 ] || fail "live stats: $(cat "$tmp/live.json")"
wait_for history_caught_up	# rows every 100ms
rows=$(wc -l < "$tmp/rows.json")
ctl stats --history 1m | grep -q "rows from $tmp/state/stats.db" || fail "human history output"
if command -v sqlite3 >/dev/null; then
	[ "$(sqlite3 "$tmp/state/stats.db" 'PRAGMA journal_mode')" = wal ] || fail "stats.db is not in WAL mode"
fi
stop_timerd
# the final row is written at shutdown and readable without the daemon
ctl --json stats --history 1m --db "$tmp/state/stats.db" > "$tmp/after.json" || fail "history without daemon"
[ "$(wc -l < "$tmp/after.json")" -gt "$rows" ] || fail "no final row written at shutdown"
