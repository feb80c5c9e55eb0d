#!/usr/bin/env bash
# stats-history.sh -- the stats thread writes rows to stats.db (WAL) that
# `timerctl stats --history` reads back; live stats answer too.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd --stats-interval 100ms
for i in 1 2 3; do ctl arm "s$i" --in 50ms >/dev/null || fail "arm"; done
sleep 1
ctl --json stats > "$tmp/live.json" || fail "stats failed"
arms=$(sed -n 's/.*"engine":{"arms":\([0-9]*\).*/\1/p' "$tmp/live.json")
[ "${arms:-0}" -ge 3 ] || fail "live stats: $(cat "$tmp/live.json")"
ctl --json stats --history 1m > "$tmp/rows.json" || fail "stats --history failed"
rows=$(wc -l < "$tmp/rows.json")
[ "$rows" -ge 5 ] || fail "only $rows rows in stats.db after 1s at 100ms"
[ "$(tail -1 "$tmp/rows.json" | json_int engine_arms)" -ge 3 ] || fail "rows: $(tail -1 "$tmp/rows.json")"
[ "$(tail -1 "$tmp/rows.json" | json_int engine_fires)" -ge 3 ] || fail "fires not counted"
ctl stats --history 1m | grep -q "rows from $tmp/state/stats.db" || fail "human history output"
if command -v sqlite3 >/dev/null; then
	[ "$(sqlite3 "$tmp/state/stats.db" 'PRAGMA journal_mode')" = wal ] || fail "stats.db is not in WAL mode"
fi
stop_timerd
# the final row is written at shutdown and readable without the daemon
ctl --json stats --history 1m --db "$tmp/state/stats.db" > "$tmp/after.json" || fail "history without daemon"
[ "$(wc -l < "$tmp/after.json")" -gt "$rows" ] || fail "no final row written at shutdown"
