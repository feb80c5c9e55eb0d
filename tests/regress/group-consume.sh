#!/usr/bin/env bash
# group-consume.sh -- timerctl consume as a service: it carries on across
# a restart of timerd (reconnects with backoff, never exits for that), and
# SIGTERM stops it gracefully: no new deliveries, the running job finishes
# and is acked, exit 0; started before timerd, it waits for it. The command
# never inherits $TIMERD_SECRET.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/group-lib.sh"

# True once "late" fired: two deliveries waiting or in flight (long and late).
late_fired() {
	local o
	o=$(ctl --json group show svc) || return 1
	[ $(( $(echo "$o" | json_int backlog) + $(echo "$o" | json_int in_flight) )) -ge 2 ] || { echo "$o"; return 1; }
}

start_timerd --fsync always
ctl group create svc --topic jobs --backoff-min 10ms --backoff-max 40ms >/dev/null || fail "group create"
export TIMERD_SECRET=consume-must-not-pass-this-on	# the command does not inherit timerctl's secret
start_consumer svc --concurrency 2
unset TIMERD_SECRET
c=$consumer_pid
wait_for group_is svc consumers 1
ctl arm before --in 10ms --topic jobs >/dev/null || fail "arm before"
wait_for logged '^end before 1 .* 0$'
wait_for group_is svc acked 1
grep -q '^TIMERD_KEY=before$' "$jobdir"/env.* || fail "the command's environment lacks TIMERD_KEY: $(cat "$jobdir"/env.*)"
grep -q 'TIMERD_SECRET' "$jobdir"/env.* && fail "the command inherited TIMERD_SECRET: $(cat "$jobdir"/env.*)"

# --- timerd goes away (twice: a clean stop, then SIGKILL); consume carries on ------
stop_timerd
wait_for grep -q "lost timerd" "$tmp/consume.log"
kill -0 "$c" 2>/dev/null || consume_fail "consume exited when timerd stopped"
start_timerd --fsync always
wait_long 15 group_is svc consumers 1
ctl arm after1 --in 10ms --topic jobs >/dev/null || fail "arm after1"
wait_for logged '^end after1 1 .* 0$'
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
start_timerd --fsync always
wait_long 15 group_is svc consumers 1
ctl arm after2 --in 10ms --topic jobs >/dev/null || fail "arm after2"
wait_for logged '^end after2 1 .* 0$'
kill -0 "$c" 2>/dev/null || consume_fail "consume exited after timerd's restarts"

# --- SIGTERM waits for the running job, acks it, exits 0 -------------------------
job_does long hold
ctl arm long --in 10ms --topic jobs >/dev/null || fail "arm long"
wait_for logged '^start long 1 '
kill -TERM "$c"
wait_for grep -q "waiting for 1 running command" "$tmp/consume.log"
kill -0 "$c" 2>/dev/null || consume_fail "consume exited on SIGTERM before its job ended"
# a fire due now is not run by the stopping consumer (pushed to it within its credit, it goes back)
ctl arm late --in 10ms --topic jobs >/dev/null || fail "arm late"
wait_for late_fired
touch "$jobdir/release.long"
wait_for gone "$c"
wait "$c"
rc=$?
[ "$rc" = 0 ] || consume_fail "consume exited $rc after SIGTERM, want 0"
logged '^end long 1 .* 0$' || consume_fail "the running job did not finish"
[ "$(count_logged '^start late ')" = 0 ] || consume_fail "the stopping consumer ran a new delivery"
wait_for group_is svc in_flight 0
wait_for group_is svc backlog 1	# late, waiting for the next consumer
[ "$(count_logged '^start long ')" = 1 ] || consume_fail "the job finished at SIGTERM ran again"

# --- started before timerd: it waits for it, then consumes (late, still waiting, among them)
stop_timerd
start_consumer svc
c=$consumer_pid
wait_for grep -q "retrying until it answers" "$tmp/consume.log"
start_timerd --fsync always
wait_long 15 logged '^end late [0-9]+ .* 0$'
# attempt 2 or more: the stopping consumer had it pushed, and a restart counts one (doc/delivery.md)
[ "$(sed -n 's/^start late \([0-9]*\) .*/\1/p' "$joblog")" -ge 2 ] || consume_fail "late's attempt is not above 1"
wait_for group_is svc acked 1		# counted since this start
kill -TERM "$c"
wait_for gone "$c"
wait "$c" || consume_fail "consume exited non-zero after SIGTERM"
stop_timerd
echo "group-consume: ok"
