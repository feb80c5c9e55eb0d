#!/usr/bin/env bash
# quota-timers.sh -- per-identity max-timers= and max-memory= (doc/security.md,
# Quotas): the arm that would create a timer past the identity's quota is
# refused naming the quota and the identity; re-arms never are; a cancelled
# timer's slot comes back; restored timers count for their owner.
. "${top_srcdir:-.}/tests/regress/lib.sh"

users=$tmp/users
: >"$users"
user_add five "max-timers=5"
user_add mem "max-memory=8K"
user_add other ""
chmod 600 "$users"
as() {	# as NAME timerctl-args...
	local name=$1 var=SECRET_$1
	shift
	TIMERD_SECRET=${!var} ctl --user "$name" "$@"
}
start_timerd --no-stats --users "$users" --socket-mode 0666

# max-timers=5: five arms, the sixth refused naming the quota and the identity
for i in 1 2 3 4 5; do
	as five arm "t$i" --in 1h >/dev/null || fail "arm $i of 5: $(as five arm "t$i" --in 1h 2>&1)"
done
out=$(as five arm t6 --in 1h 2>&1) && fail "a 6th timer was armed with max-timers=5: $out"
echo "$out" | grep -q "identity five already has its max-timers (5) timers pending" || fail "max-timers refusal: $out"
# a re-arm at the limit is never refused; another identity is not counted with it
as five arm t3 --in 2h >/dev/null || fail "re-arm at the limit refused: $(as five arm t3 --in 2h 2>&1)"
as other arm o1 --in 1h >/dev/null || fail "another identity refused: $(as other arm o1 --in 1h 2>&1)"
# cancel one: its slot comes back once the dispatcher removed it (within its 1 ms intake delay)
as five cancel t1 >/dev/null || fail "cancel t1"
wait_for as five arm t6 --in 1h
out=$(as five arm t7 --in 1h 2>&1) && fail "a 6th timer was armed after t6 took the slot back: $out"
# a one-shot that fires gives its slot back too
as five cancel t2 >/dev/null || fail "cancel t2"
wait_for as five arm f1 --in 10ms
wait_for as five arm t8 --in 1h
stats=$(ctl --json stats)
[ "$(echo "$stats" | json_int quota_refusals)" -ge 2 ] || fail "quota_refusals: $stats"

# restored timers count for their owner: after a restart five still has 5
stop_timerd
start_timerd --no-stats --users "$users" --socket-mode 0666
out=$(as five arm t9 --in 1h 2>&1) && fail "a 6th timer was armed after restore: $out"
echo "$out" | grep -q "max-timers (5)" || fail "max-timers refusal after restore: $out"
as five arm t3 --in 3h >/dev/null || fail "re-arm after restore refused: $(as five arm t3 --in 3h 2>&1)"

# max-memory=8K: timers of 2000-byte payloads (each about 2.3 KiB with its record) fit three times
head -c 2000 /dev/zero | tr '\0' x >"$tmp/p2k"
for i in 1 2 3; do
	as mem arm "m$i" --in 1h --payload-file "$tmp/p2k" >/dev/null ||
		fail "arm $i within max-memory: $(as mem arm "m$i" --in 1h --payload-file "$tmp/p2k" 2>&1)"
done
out=$(as mem arm m4 --in 1h --payload-file "$tmp/p2k" 2>&1) && fail "a 4th 2 KB timer fit in max-memory=8K: $out"
echo "$out" | grep -q "identity mem would pass its max-memory (8192 bytes" || fail "max-memory refusal: $out"
# a small timer still fits the room left; a re-arm is never refused, even with a payload
# (the old payload's bytes come back once hazard-pointer reclamation frees them)
as mem arm s1 --in 1h >/dev/null || fail "a small timer refused under max-memory: $(as mem arm s1 --in 1h 2>&1)"
as mem arm m2 --in 2h --payload-file "$tmp/p2k" >/dev/null || fail "re-arm at max-memory refused"
stop_timerd
echo PASS
