#!/usr/bin/env bash
# group-order.sh -- what timerctl consume runs at once: per key, the
# deliveries of a group go out in fire order and the next waits for the
# previous ack (a periodic job faster than its consumer never overlaps
# itself), and credit (--concurrency N) bounds the commands running at
# once: never more than N, and N reached when there is work.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/group-lib.sh"

# Prints the largest number of jobs running at once according to the job
# log, counting only keys matching the regex $1.
max_running() {
	awk -v re="$1" '$2 ~ re && $1 == "start" { n++; if (n > m) m = n } $2 ~ re && $1 == "end" { n-- } END { print m + 0 }' "$joblog"
}

start_timerd
ctl group create ordered --topic tick --backoff-min 10ms --backoff-max 40ms >/dev/null || fail "group create"

# --- per-key ordering with a slow consumer --------------------------------------
# one periodic timer every 50ms; each run takes 200ms; 4 slots: without the
# per-key rule runs of p would overlap
job_does p 'sleep 0.2'
start_consumer ordered --concurrency 4
c=$consumer_pid
wait_for group_is ordered consumers 1
ctl arm p --every 50ms --topic tick >/dev/null || fail "arm p"
wait_for logged_atleast 4 "^end p "
ctl cancel p >/dev/null || fail "cancel p"
[ "$(max_running '^p$')" = 1 ] || consume_fail "runs of key p overlapped ($(max_running '^p$') at once)"
# fire order: each run's delivery has a larger id (created in fire order) than the previous
ids=$(sed -n 's/^start p 1 \([0-9]*\) .*/\1/p' "$joblog")
[ "$ids" = "$(echo "$ids" | sort -n)" ] || consume_fail "key p's deliveries ran out of fire order: $(echo $ids)"
# the per-key rule made a backlog: the fires waited
kill -TERM "$c"
wait_for gone "$c"

# --- credit: never more than --concurrency running ------------------------------
ctl group create wide --topic batch --unordered --backoff-min 10ms --backoff-max 40ms >/dev/null || fail "group create wide"
job_does default 'sleep 0.3'
for i in $(seq 1 12); do
	ctl arm "b$i" --in 10ms --topic batch >/dev/null || fail "arm b$i"
done
wait_for group_is wide backlog 12
start_consumer wide --concurrency 3
c=$consumer_pid
# group show's acked/s over two samples 1.5s apart, while the 12 jobs (about 1.2s of work) are acked
ctl group show wide --interval 1500ms >"$tmp/show" || fail "group show wide"
rate=$(sed -n 's/^acked\/s *\([0-9.]*\)$/\1/p' "$tmp/show")
[ -n "$rate" ] && awk -v r="$rate" 'BEGIN { exit !(r > 0) }' || fail "acked/s while acking: '$rate': $(cat "$tmp/show")"
wait_long 20 logged_atleast 12 "^end b[0-9]+ "
wait_for group_is wide acked 12
m=$(max_running '^b[0-9]+$')
[ "$m" = 3 ] || consume_fail "at most $m jobs ran at once with --concurrency 3, want exactly 3"
[ "$(group_field wide in_flight)" = 0 ] || fail "in flight after all acked: $(ctl --json group show wide)"
kill -TERM "$c"
wait_for gone "$c"
stop_timerd
echo "group-order: ok"
