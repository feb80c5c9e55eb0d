#!/usr/bin/env bash
# durable-coalesce.sh -- a keyless one-shot armed and fired between two commits
# has only its FIRED row journaled (store.coalesced_rows; doc/architecture.md,
# "Durability"), and restarts after SIGKILL neither bring back a fired one-shot
# nor lose a pending timer:
#   1. bench/deliver-client arms keyless jobs due at once through a group
#      (snapshots off): coalesced_rows > 0, and in timers.db exactly that many
#      FIRED rows have no PUT of their id;
#   2. the same with --snapshot-min-rows 500 (passes run while jobs arm and
#      fire), every job fired, a marker arm committed, SIGKILL: after the
#      restart no job is back and every long timer is, with its id;
#   3. SIGKILL in the middle of a run with passes: every long timer is back,
#      and no restored timer has a FIRED row in the store the kill left.
. "${top_srcdir:-.}/tests/regress/lib.sh"

CLIENT=$top_builddir/bench/deliver-client
[ -x "$CLIENT" ] || skip "$CLIENT not built (timerd's delivery benchmark client)"
command -v sqlite3 >/dev/null || skip "sqlite3 (Debian: sqlite3) is needed to read timers.db"
db=$tmp/state/timers.db
TOPIC=bench-deliver

# Kills timerd with SIGKILL and reaps it.
crash_timerd() {
	kill -KILL "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}

# The pending timers of topic $1 as "id deadline_mono_ns", sorted.
pending() {
	ctl --json list --topic "$1" | sed -E 's/.*"timer_id":([0-9]+),.*"deadline_mono_ns":(-?[0-9]+),.*/\1 \2/' | sort
}

# True when no timer of topic $1 is pending (prints them otherwise).
none_pending() {
	local p
	p=$(pending "$1")
	[ -z "$p" ] || { echo "$p" | head -5; return 1; }
}

# A store counter from timerctl stats.
store_stat() {
	ctl --json stats | json_int "$1"
}

# True once timerd completed at least $1 snapshot passes.
snapshots_done() {
	[ "$(store_stat snapshots)" -ge "$1" ]
}

# Fails unless the restart restored exactly $1 timers.
loaded_is() {
	local n
	n=$(store_stat loaded)
	[ "$n" = "$1" ] || fail "$n timers restored, want $1 (the long timers and markers; no job): $(pending "$TOPIC" | head -5)"
}

# Runs the delivery client for $1 ms (1 consumer, jobs due at once); its JSON line goes to $tmp/client.out.
run_jobs() {
	"$CLIENT" --system timerd --addr "$sock" --mode ack --consumers 1 --delay 0 --time "$1" --window 512 \
		>> "$tmp/client.out" 2>> "$tmp/client.err"
}

# Long timers that must survive every kill: 20 keyless and 5 keyed.
start_timerd --fsync 10ms --snapshot-min-rows 1099511627776
for i in $(seq 1 20); do ctl arm --in 1h --topic keep >/dev/null || fail "arm keyless long timer $i"; done
for i in 1 2 3 4 5; do ctl arm "keep-$i" --in 2h --topic keep >/dev/null || fail "arm keep-$i"; done
keep=$(pending keep)
[ "$(wc -l <<<"$keep")" -eq 25 ] || fail "expected 25 long timers, got: $keep"

# 1. coalescing, no snapshot: the PUTs left out are exactly the FIRED rows without a PUT
run_jobs 1000 || fail "deliver-client failed: $(cat "$tmp/client.err")"
wait_for none_pending "$TOPIC"
ctl arm marker-1 --in 1h >/dev/null || fail "arm marker-1"	# committed: every fire before it is too
coalesced=$(store_stat coalesced_rows)
[ -n "$coalesced" ] && [ "$coalesced" -gt 0 ] ||
	fail "no row coalesced after $(json_int acked < "$tmp/client.out") jobs: $(ctl --json stats)"
crash_timerd
fired=$(sqlite3 "$db" "SELECT count(*) FROM journal WHERE op = 3")
bare=$(sqlite3 "$db" "SELECT count(*) FROM (SELECT id FROM journal WHERE op IN (1, 3) GROUP BY id
	HAVING sum(op = 3) > 0 AND sum(op = 1) = 0)")
[ "$bare" -eq "$coalesced" ] ||
	fail "$coalesced rows coalesced, but $bare of the journal's $fired FIRED rows have no PUT of their id"
echo "durable-coalesce: $coalesced of $fired fired jobs journaled without their PUT"

start_timerd --fsync 10ms --snapshot-min-rows 1099511627776
loaded_is 26
[ "$(pending keep)" = "$keep" ] || fail "long timers changed across kill -9: $(pending keep)"
none_pending "$TOPIC" >/dev/null || fail "fired jobs are back after the restart: $(pending "$TOPIC" | head)"
# the journal's row count (what starts snapshot passes) is the rows there, not its LSN span,
# which the PUTs left out made about twice as large: a restart then ran passes back to back
ctl arm marker-1b --in 1h >/dev/null || fail "arm marker-1b"	# a commit: the gauge is read after one
ctl cancel marker-1b >/dev/null || fail "cancel marker-1b"
journal_counted() {	# prints both (and the LSN span) when they differ
	local g n
	g=$(store_stat journal_rows)
	n=$(sqlite3 "$db" "SELECT count(*) FROM journal")
	[ "$g" = "$n" ] && return 0
	echo "journal_rows $g, timers.db's journal $n rows, LSN span" \
	     "$(sqlite3 "$db" "SELECT max(lsn) - min(lsn) + 1 FROM journal")"
	return 1
}
wait_for journal_counted
stop_timerd

# 2. snapshots during arm-and-fire, every job fired and committed, then SIGKILL
start_timerd --fsync 10ms --snapshot-min-rows 500
snaps0=$(store_stat snapshots)
run_jobs 1500 || fail "deliver-client failed: $(cat "$tmp/client.err")"
wait_for none_pending "$TOPIC"
ctl arm marker-2 --in 1h >/dev/null || fail "arm marker-2"
snaps=$(store_stat snapshots)
[ "$snaps" -gt "$snaps0" ] || fail "no snapshot pass ran during the jobs: $(ctl --json stats)"
crash_timerd
start_timerd --fsync 10ms --snapshot-min-rows 500
loaded_is 27
[ "$(pending keep)" = "$keep" ] || fail "long timers changed across kill -9 after snapshots: $(pending keep)"
none_pending "$TOPIC" >/dev/null ||
	fail "fired jobs are back after a restart following snapshot passes: $(pending "$TOPIC" | head)"

# 3. SIGKILL in the middle of jobs and passes
run_jobs 4000 &
client=$!
wait_for snapshots_done 1
crash_timerd
wait "$client" 2>/dev/null
ids=$(sqlite3 "$db" "SELECT id FROM journal WHERE op = 3" | sort -u)
start_timerd --fsync 10ms --snapshot-min-rows 500
[ "$(pending keep)" = "$keep" ] || fail "long timers changed across a kill during jobs: $(pending keep)"
back=$(comm -12 <(pending "$TOPIC" | cut -d' ' -f1 | sort) <(echo "$ids"))
[ -z "$back" ] || fail "timers whose FIRED row was committed are back: $(echo "$back" | head)"
stop_timerd
exit 0
