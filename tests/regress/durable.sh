#!/usr/bin/env bash
# durable.sh -- timers survive kill -9 and restart: same ids, deadlines to the
# ns, keys, topics, payloads and periods; cancelled timers stay cancelled;
# --memory-only keeps nothing; --check-store reports what timers.db holds;
# a damaged timers.db is refused with the recovery command; a new boot maps
# monotonic deadlines through the wall clock.
. "${top_srcdir:-.}/tests/regress/lib.sh"

# The pending timers as "id key topic deadline period payload_size realtime", sorted; the
# deadline is CLOCK_MONOTONIC ns, or for realtime timers their wall-clock ns (what they keep).
snapshot() {
	ctl --json list | sed -E 's/.*"timer_id":([0-9]+),"key":"([^"]*)","topic":"([^"]*)","deadline_mono_ns":(-?[0-9]+),"deadline_unix_ns":([0-9]+),.*"period_ns":([0-9]+),"realtime":(true|false),"payload_size":([0-9]+).*/\1 \2 \3 \4 \5 \6 \8 \7/' |
		awk '{ print $1, $2, $3, ($8 == "true" ? $5 : $4), $6, $7, $8 }' | sort
}

# Kills timerd with SIGKILL and reaps it.
crash_timerd() {
	kill -KILL "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}

start_timerd
ctl arm job-a --in 1h --topic jobs --payload alpha >/dev/null || fail "arm job-a"
ctl arm hb --every 7s --topic hb >/dev/null || fail "arm hb"
ctl arm report --at 2031-01-02T09:00:00Z --topic reports >/dev/null || fail "arm report"
ctl arm gone --in 1h >/dev/null || fail "arm gone"
ctl arm job-a --in 2h --topic jobs --payload beta >/dev/null || fail "re-arm job-a"
ctl cancel gone >/dev/null || fail "cancel gone"
for i in $(seq 1 50); do ctl arm "bulk-$i" --in "${i}h" --topic bulk >/dev/null || fail "arm bulk-$i"; done
before=$(snapshot)
[ "$(wc -l <<<"$before")" -eq 53 ] || fail "expected 53 pending timers before the crash, got: $before"
crash_timerd

start_timerd
after=$(snapshot)
[ "$before" = "$after" ] || fail "timers changed across kill -9:
before:
$before
after:
$after"
ctl --json get job-a | grep -q '"payload":"beta"' || fail "job-a lost its last payload: $(ctl --json get job-a)"
ctl get gone >/dev/null 2>&1 && fail "the cancelled timer came back"
ctl --json stats | grep -q '"loaded":53' || fail "stats do not say 53 timers were loaded: $(ctl --json stats)"
# a clean stop keeps them too
stop_timerd
"$TIMERD" --check-store --state-dir "$tmp/state" > "$tmp/check.out" 2>&1 || fail "--check-store failed: $(cat "$tmp/check.out")"
grep -q "ok, format 3" "$tmp/check.out" || fail "--check-store output: $(cat "$tmp/check.out")"
start_timerd
[ "$(snapshot)" = "$before" ] || fail "timers changed across a clean restart"
stop_timerd

# Another boot (injected): monotonic deadlines are mapped through the wall clock, so the
# wall-clock instant stays (to the few microseconds the clocks are read apart).
start_timerd
wall_before=$(ctl --json get job-a | json_int deadline_unix_ns)
stop_timerd
TIMERD_TEST_BOOT_ID=another-boot start_timerd
wall_after=$(ctl --json get job-a | json_int deadline_unix_ns)
[ -n "$wall_before" ] && [ -n "$wall_after" ] || fail "job-a missing after a new boot"
drift=$(( wall_after - wall_before )); drift=${drift#-}
[ "$drift" -lt 10000000 ] || fail "job-a moved by ${drift}ns on the wall clock across a new boot"
[ "$(snapshot | wc -l)" -eq 53 ] || fail "timers lost across a new boot: $(snapshot)"
stop_timerd

# --memory-only: no timers.db, nothing kept.
rm -rf "$tmp/state"
start_timerd --memory-only
ctl arm volatile --in 1h >/dev/null || fail "arm volatile"
crash_timerd
[ ! -e "$tmp/state/timers.db" ] || fail "--memory-only wrote timers.db"
start_timerd --memory-only
ctl get volatile >/dev/null 2>&1 && fail "--memory-only kept a timer across a restart"
stop_timerd

# A damaged store is refused with the file and the recovery command; nothing starts empty.
mkdir -p "$tmp/state"
head -c 8192 /dev/urandom > "$tmp/state/timers.db"
"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --log "$tmp/bad.log" > "$tmp/bad.out" 2>&1 &
pid=$!
for _ in $(seq 1 500); do kill -0 $pid 2>/dev/null || break; sleep 0.02; done
kill -0 $pid 2>/dev/null && { kill -KILL $pid; fail "timerd started on a damaged timers.db"; }
wait $pid && fail "timerd exited 0 on a damaged timers.db"
grep -q "timers.db" "$tmp/bad.out" "$tmp/bad.log" 2>/dev/null || fail "the error does not name timers.db: $(cat "$tmp/bad.out" "$tmp/bad.log")"
grep -q ".recover" "$tmp/bad.out" "$tmp/bad.log" 2>/dev/null || fail "the error does not say how to recover: $(cat "$tmp/bad.out" "$tmp/bad.log")"
exit 0
