#!/usr/bin/env bash
# group-fire-order.sh -- the journal's ordering rule (doc/architecture.md,
# "Durability"): a change that depends on a fired one-shot being gone (here an
# arm of the same key, which makes a new timer once the old one left the key
# table) never commits before the old timer's FIRED row and its group
# deliveries. The test hook TIMERD_TEST_STALL_TOPIC holds the fire on the
# thread delivering it (a delivery worker, then the dispatcher with
# engine-workers 0) before it journals anything; the re-arm's reply must wait
# for it, and a SIGKILL right after that reply must keep the delivery.
# Before the rule, the re-arm committed at once and the delivery was lost
# every time (the old timer was evicted by the new one's PUT at the load).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/group-lib.sh"

stall=1500	# ms the fire is held on its thread

# Kills timerd with SIGKILL and reaps it.
kill_timerd() {
	kill -KILL "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}

# The log has the test hook's line for the fire (it stalls now).
stalling() {
	grep -q 'test hook: stalling this thread' "$tmp/timerd.log"
}

for workers in 1 0; do
	rm -rf "$tmp/state" "$tmp/timerd.log"
	TIMERD_TEST_STALL_TOPIC=slow start_timerd --fsync always --engine-workers "$workers"
	ctl group create g$workers --topic slow >/dev/null || fail "group create"
	ctl arm k --in 50ms --topic slow --payload "$stall" >/dev/null || fail "arm k"
	wait_for stalling
	t0=$(now_ms)
	# k fired and left the key table: this arm makes a new timer k (a PUT that evicts the old one at a load)
	ctl arm k --in 1h --topic later >/dev/null || fail "re-arm k (workers $workers)"
	t1=$(now_ms)
	kill_timerd
	start_timerd --fsync always --engine-workers "$workers"
	got=$(ctl --json group show g$workers) || fail "group show after the restart"
	[ "$(echo "$got" | json_int backlog)" = 1 ] ||
		fail "workers $workers: the fire's delivery was lost across SIGKILL (re-arm answered after $((t1 - t0))ms, stall ${stall}ms): $got"
	ctl --json get k | grep -q '"topic":"later"' || fail "workers $workers: the re-armed k is not there: $(ctl --json get k 2>&1)"
	# the re-arm's reply waited for the fire's rows: about the rest of the stall
	[ $((t1 - t0)) -ge 500 ] || fail "workers $workers: the re-arm was answered in $((t1 - t0))ms, before the stalled fire journaled"
	stop_timerd
done
echo "group-fire-order: ok"
