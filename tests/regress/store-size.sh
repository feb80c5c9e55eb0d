#!/usr/bin/env bash
# store-size.sh -- timers.db stays within 2x the live data plus a fixed
# slack however much churn goes through it: 300,000 re-arms of the same
# 1,000 keys, then 200,000 timers armed and fired 1 ms later, with the
# snapshot threshold lowered so snapshots run and trim the journal many
# times. The largest size seen (sampled while the churn runs) and the
# final one are checked.
. "${top_srcdir:-.}/tests/regress/lib.sh"

BENCH=$top_builddir/bench/timerd-bench
[ -x "$BENCH" ] || skip "bench/timerd-bench is not built"
# Slack: 5,000 unsnapshotted journal rows + a WAL of up to 6 MiB (the writer's
# checkpoint threshold) + SQLite's free pages; live data: 2 x 1,000 rows of ~200 bytes.
limit=$(( 2 * 1000 * 200 + 10 * 1024 * 1024 ))

# Bytes timers.db and its WAL take now.
store_bytes() {
	local n=0 f
	for f in "$tmp/state/timers.db" "$tmp/state/timers.db-wal"; do
		[ -f "$f" ] && n=$(( n + $(stat -c %s "$f") ))
	done
	echo $n
}

# Runs timerd-bench with ARGS while sampling the store; prints the largest size.
churn() {
	local max=0 n pid
	"$BENCH" --socket "$sock" --mode fill --conns 4 --pipeline 100 "$@" > "$tmp/bench.out" 2>&1 &
	pid=$!
	while kill -0 $pid 2>/dev/null; do
		n=$(store_bytes); [ "$n" -gt "$max" ] && max=$n
		sleep 0.1
	done
	wait $pid || fail "timerd-bench $*: $(cat "$tmp/bench.out")"
	n=$(store_bytes); [ "$n" -gt "$max" ] && max=$n
	echo $max
}

start_timerd --fsync never --snapshot-min-rows 5000 --no-stats
max=$(churn --count 300000 --keys 1000)
final=$(store_bytes)
snaps=$(ctl --json stats | json_int snapshots)
echo "re-arms: max $max bytes, final $final, limit $limit, $snaps snapshots"
[ "${snaps:-0}" -ge 10 ] || fail "only ${snaps:-0} snapshots ran during 300,000 re-arms"
[ "$max" -le "$limit" ] || fail "timers.db + WAL reached $max bytes for 1,000 live timers (limit $limit)"
[ "$(ctl list | grep -c '^20')" -eq 1000 ] || fail "not 1,000 timers pending after the re-arms"

max=$(churn --count 200000 --keys 0 --delay 1)
echo "short timers: max $max bytes, final $(store_bytes), limit $limit"
[ "$max" -le "$limit" ] || fail "timers.db + WAL reached $max bytes with short timers (limit $limit)"
stop_timerd
exit 0
