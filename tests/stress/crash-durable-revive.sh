#!/usr/bin/env bash
# crash-durable-revive.sh -- the crash test's first find, made deterministic:
# an arm by key right after a cancel revives the cancelled timer with its id
# (the engine had not applied the cancel yet); the journal then holds put X,
# del X, put X, and the restore must keep X. The dispatcher is held back by a
# recovery grace (a late timer is restored first), so the revival is certain.
. "${top_srcdir:-.}/tests/regress/lib.sh"

# kill -9 of the running daemon.
crash() {
	kill -KILL "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}

start_timerd --no-stats
ctl arm late --in 200ms >/dev/null || fail "arm late"
crash
sleep 0.3
start_timerd --no-stats --recovery-grace 30s
id=$(ctl arm job --in 1h | sed -n 's/.*(id \([0-9]*\)).*/\1/p')
ctl cancel job >/dev/null || fail "cancel job"
out=$(ctl arm job --in 2h) || fail "re-arm job"
case $out in
*"re-armed job (id $id)"*) ;;
*) skip "the cancel was applied before the re-arm ($out): nothing to check" ;;
esac
crash
start_timerd --no-stats
ctl list | grep -qE " job +$id( |\$)" || { ctl list >&2; fail "the acknowledged re-arm of job (id $id) was lost"; }
stop_timerd
