#!/usr/bin/env bash
# group-nack.sh -- failures through timerctl consume: a non-zero exit nacks
# (with --retry-after: due again no sooner than that); after max_attempts
# the delivery is a dead letter (dlq list: key, topic, attempts, last error;
# --key; retry makes it a delivery again, attempt 1; purge drops it);
# --timeout kills the job (SIGTERM, then SIGKILL) and nacks it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/group-lib.sh"

start_timerd
ctl group create g --topic t --max-attempts 3 --backoff-min 10ms --backoff-max 40ms --ack-timeout 20s >/dev/null ||
	fail "group create"

# --- nack with retry_after: attempt 2 comes no sooner ---------------------------
job_does n1.1 'exit 3'
start_consumer g --retry-after 700ms
c=$consumer_pid
wait_for group_is g consumers 1
ctl arm n1 --in 10ms --topic t >/dev/null || fail "arm n1"
wait_for logged '^end n1 2 .* 0$'
end1=$(sed -n 's/^end n1 1 [0-9]* [0-9]* \([0-9]*\) 3$/\1/p' "$joblog")
start2=$(sed -n 's/^start n1 2 [0-9]* [0-9]* \([0-9]*\)$/\1/p' "$joblog")
[ -n "$end1" ] && [ -n "$start2" ] || consume_fail "no attempt 1 ending with status 3 then attempt 2"
[ $((start2 - end1)) -ge 600 ] || consume_fail "attempt 2 came $((start2 - end1)) ms after the nack, before retry_after (700ms)"
wait_for group_is g acked 1
[ "$(group_field g nacked)" -ge 1 ] || fail "no nack counted: $(ctl --json group show g)"
kill -TERM "$c"
wait_for gone "$c"

# --- dead letter after max_attempts; dlq list, retry, purge ---------------------
job_does default 'exit 1'
start_consumer g
c=$consumer_pid
wait_for group_is g consumers 1
ctl arm d1 --in 10ms --topic t --payload p1 >/dev/null || fail "arm d1"
ctl arm d2 --in 10ms --topic t --payload p2 >/dev/null || fail "arm d2"
wait_for group_is g dead_letters 2
[ "$(count_logged '^start d1 ')" = 3 ] || consume_fail "d1 ran $(count_logged '^start d1 ') times, want max_attempts (3)"
ctl --json dlq list g >"$tmp/dlq" || fail "dlq list --json"
[ "$(grep -c '^{' "$tmp/dlq")" = 2 ] || fail "dlq list --json: $(cat "$tmp/dlq")"
line=$(grep '"key":"d1"' "$tmp/dlq")
[ "$(echo "$line" | json_int attempts)" = 3 ] || fail "d1's attempts: $line"
[ "$(echo "$line" | json_str topic)" = t ] || fail "d1's topic: $line"
[ "$(echo "$line" | json_str last_error)" = "exit status 1" ] || fail "d1's last error: $line"
[ "$(ctl --json dlq list g --key d2 | grep -c '"key":"d2"')" = 1 ] || fail "dlq list --key d2: $(ctl --json dlq list g --key d2)"
[ "$(ctl --json dlq list g --key d2 | grep -c '^{')" = 1 ] || fail "dlq list --key d2 lists others"
ctl dlq list g >"$tmp/dlq.txt" || fail "dlq list"
grep -q '^2 dead letters' "$tmp/dlq.txt" && grep -q 'd1 .* exit status 1' "$tmp/dlq.txt" ||
	fail "dlq list (human): $(cat "$tmp/dlq.txt")"
[ "$(ctl --json dlq list g --payload --key d1 | json_str payload)" = p1 ] || fail "dlq list --payload: $(ctl --json dlq list g --payload --key d1)"
# retry d1 with a job that now succeeds: attempts start over
job_does d1 'exit 0'
[ "$(ctl --json dlq retry g --key d1 | json_int retried)" = 1 ] || fail "dlq retry --key d1"
wait_for logged '^end d1 1 .* 0$'
[ "$(grep -c '^start d1 1 ' "$joblog")" = 2 ] || consume_fail "the retried d1 did not start over at attempt 1"
wait_for group_is g dead_letters 1
wait_for group_is g acked 2
# purge d2
[ "$(ctl --json dlq purge g --key d2 | json_int purged)" = 1 ] || fail "dlq purge --key d2"
[ "$(group_field g dead_letters)" = 0 ] || fail "after purge: $(ctl --json group show g)"
[ -z "$(ctl --json dlq list g)" ] || fail "dlq list after purge: $(ctl --json dlq list g)"
[ "$(group_field g dead_lettered)" -ge 2 ] || fail "dead_lettered (all time): $(ctl --json group show g)"
kill -TERM "$c"
wait_for gone "$c"

# --- --timeout kills the job and nacks: the error says so ------------------------
ctl group create once --topic once --max-attempts 1 >/dev/null || fail "group create once"
job_does slowkey 'sleep 10'
start_consumer once --timeout 300ms --kill-after 300ms
c=$consumer_pid
wait_for group_is once consumers 1
ctl arm slowkey --in 10ms --topic once >/dev/null || fail "arm slowkey"
wait_for group_is once dead_letters 1
ctl --json dlq list once | grep -q '"last_error":"timed out after 300ms' || fail "timed-out job's error: $(ctl --json dlq list once)"
kill -TERM "$c"
wait_for gone "$c"
wait "$c" || consume_fail "consume exited non-zero after SIGTERM"
stop_timerd
echo "group-nack: ok"
