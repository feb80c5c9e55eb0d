#!/usr/bin/env bash
# group-redeliver.sh -- at-least-once delivery through timerctl consume:
# the consumer SIGKILLed mid-delivery -> the delivery goes to the other
# consumer with TIMERD_ATTEMPT=2; no ack within ack_timeout -> delivered
# again (attempt 2), to the other consumer; to the same one (no other) while its
# command still runs: not run twice, the running command's result answers it;
# timerd SIGKILLed while a delivery is unacked -> the restarted timerd
# delivers it again (to the same consume, reconnected: answered the same
# way). The job's environment (TIMERD_KEY, TOPIC, ATTEMPT, DELIVERY_ID,
# DEADLINE as RFC 3339) and stdin (the payload).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/group-lib.sh"

start_timerd --fsync always
ctl group create jobs --topic work --ack-timeout 20s --backoff-min 10ms --backoff-max 50ms >/dev/null || fail "group create"

# --- consumer killed mid-delivery -> the other consumer, attempt 2 ---------------
job_does k1.1 hold		# attempt 1 waits to be released (it never is: its consumer dies)
start_consumer jobs
c1=$consumer_pid
wait_for group_is jobs consumers 1
ctl arm k1 --in 50ms --topic work --payload 'hello k1' >/dev/null || fail "arm k1"
wait_for logged '^start k1 1 '
[ "$(group_field jobs in_flight)" = 1 ] || fail "k1 running but not in flight: $(ctl --json group show jobs)"
start_consumer jobs
c2=$consumer_pid
wait_for group_is jobs consumers 2
kill -KILL "$c1"
wait_for logged '^end k1 2 .* 0$'
id=$(sed -n 's/^start k1 2 \([0-9]*\) .*/\1/p' "$joblog")
[ -n "$id" ] || consume_fail "no attempt 2 of k1"
grep -q '^TIMERD_ATTEMPT=2$' "$jobdir/env.$id" || consume_fail "attempt 2's environment: $(cat "$jobdir/env.$id")"
grep -q '^TIMERD_KEY=k1$' "$jobdir/env.$id" || consume_fail "TIMERD_KEY: $(cat "$jobdir/env.$id")"
grep -q '^TIMERD_TOPIC=work$' "$jobdir/env.$id" || consume_fail "TIMERD_TOPIC: $(cat "$jobdir/env.$id")"
grep -q "^TIMERD_DELIVERY_ID=$id\$" "$jobdir/env.$id" || consume_fail "TIMERD_DELIVERY_ID: $(cat "$jobdir/env.$id")"
grep -Eq '^TIMERD_DEADLINE=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$' "$jobdir/env.$id" ||
	consume_fail "TIMERD_DEADLINE is not RFC 3339: $(cat "$jobdir/env.$id")"
[ "$(cat "$jobdir/payload.$id")" = "hello k1" ] || consume_fail "payload on stdin: '$(cat "$jobdir/payload.$id")'"
wait_for group_is jobs acked 1
wait_for group_is jobs in_flight 0
[ "$(group_field jobs redeliveries)" -ge 1 ] || fail "no redelivery counted: $(ctl --json group show jobs)"
kill -TERM "$c2"
wait_for gone "$c2"

# --- ack timeout: the job outlives it -> delivered again (attempt 2) ----------------
ctl group create slow --topic slowwork --ack-timeout 500ms --backoff-min 10ms --backoff-max 50ms >/dev/null ||
	fail "group create slow"
# to another consumer when there is one: it runs there
job_does s1.1 hold
start_consumer slow --concurrency 2
c3=$consumer_pid
wait_for group_is slow consumers 1
ctl arm s1 --in 10ms --topic slowwork >/dev/null || fail "arm s1"
wait_for logged '^start s1 1 '
start_consumer slow
c3b=$consumer_pid
wait_for group_is slow consumers 2
# attempt 1 still holds: past the ack timeout attempt 2 goes to c3b, not back to c3 (timerd prefers
# another consumer with credit for a redelivery), and runs there
wait_long 15 logged '^end s1 2 .* 0$'
if grep -q "key s1 attempt 2: still running here" "$tmp/consume.log"; then
	consume_fail "attempt 2 of s1 went back to c3, which still runs attempt 1, while c3b had credit"
fi
wait_for group_atleast slow timeouts 1
wait_for group_is slow acked 1
touch "$jobdir/release.s1"
wait_for logged '^end s1 1 '
wait_for grep -q "refused the answer" "$tmp/consume.log"	# attempt 1's late ack: not in flight any more
kill -TERM "$c3b"
wait_for gone "$c3b"
# back to the same consumer while the command still runs there: not run twice, its result answers
job_does s2.1 hold
ctl arm s2 --in 10ms --topic slowwork >/dev/null || fail "arm s2"
wait_for logged '^start s2 1 '
wait_for grep -q "delivery [0-9]* key s2 attempt 2: still running here" "$tmp/consume.log"
touch "$jobdir/release.s2"
wait_for logged '^end s2 1 .* 0$'
wait_for group_is slow acked 2
[ "$(count_logged '^start s2 ')" = 1 ] || consume_fail "s2's command ran twice in one consume"
grep -q "key s2 attempt 2: ok, acked" "$tmp/consume.log" || consume_fail "attempt 1's result did not answer attempt 2"
kill -TERM "$c3"
wait_for gone "$c3"

# --- timerd killed with an unacked delivery -> the restarted timerd delivers it again
job_does r1.1 hold
start_consumer jobs
c4=$consumer_pid
wait_for group_is jobs consumers 1
ctl arm r1 --in 10ms --topic work >/dev/null || fail "arm r1"
wait_for logged '^start r1 1 '
kill -KILL "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
daemon_pid=
start_timerd --fsync always
# the same consume reconnects and gets attempt 2 while attempt 1 still runs: its result answers it
wait_long 20 grep -q "delivery [0-9]* key r1 attempt 2: still running here" "$tmp/consume.log"
kill -0 "$c4" 2>/dev/null || consume_fail "consume exited when timerd went away"
touch "$jobdir/release"
wait_for logged '^end r1 1 .* 0$'
wait_for group_is jobs acked 1
[ "$(count_logged '^start r1 ')" = 1 ] || consume_fail "r1's command ran twice in one consume"
kill -TERM "$c4"
wait_for gone "$c4"
wait "$c4" || consume_fail "consume exited non-zero after SIGTERM"
stop_timerd
echo "group-redeliver: ok"
