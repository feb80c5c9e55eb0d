#!/usr/bin/env bash
# quotas.sh -- per-identity quotas (doc/security.md, Quotas): arms-per-s
# answers RATE_LIMITED with retry_after_ms and pauses the connection,
# max-connections refuses the connection over it (TOO_MANY_CONNECTIONS),
# max-watches counts the identity's watches over all its connections; each
# counted in Stats. Then fairness: while one identity floods arms (4
# connections, 256 pipelined each), another's ping and arm p99 stay within
# 2x of its idle figure (quota-fair prints the figures and fails loudly).
. "${top_srcdir:-.}/tests/regress/lib.sh"

users=$tmp/users
: >"$users"
user_add rl "arms-per-s=1"
user_add bob "max-connections=2 max-watches=2"
user_add flood "arms-per-s=2000"
user_add victim ""
user_add fast "min-period=100us"
chmod 600 "$users"
start_timerd --memory-only --no-stats --users "$users" --socket-mode 0666
as() {	# as NAME timerctl-args...
	local name=$1 var=SECRET_$1
	shift
	TIMERD_SECRET=${!var} ctl --user "$name" "$@"
}

# min-period= grants an identity a shorter period than the server's (1ms here); others stay refused
as fast arm fast-p --every 500us --topic fast >/dev/null || fail "fast (min-period=100us) could not arm a 500us period"
as fast cancel fast-p >/dev/null || fail "cancel fast-p"
out=$(as fast arm fast-q --every 50us 2>&1) && fail "fast armed 50us, below its min-period 100us"
echo "$out" | grep -q "min-period (100000 ns, this identity's)" || fail "fast's 50us refusal: $out"
out=$(as victim arm slow-p --every 500us 2>&1) && fail "victim (no min-period=) armed a 500us period"
echo "$out" | grep -q "min-period (1000000 ns)" || fail "victim's 500us refusal: $out"

# arms-per-s=1 (one token, one a second, so a slow sanitizer build still outruns it): RATE_LIMITED saying when to retry (a connection refused so is
# paused for that long: it still counts in max-connections until then, hence its own identity here)
limited=0
for i in $(seq 1 12); do
	if ! out=$(as rl arm "b$i" --in 1h 2>&1); then
		echo "$out" | grep -q "arms more than its arms-per-s (1 a second): retry in [0-9]* ms" ||
			fail "arm $i refused otherwise: $out"
		limited=$((limited + 1))
	fi
done
[ "$limited" -ge 3 ] || fail "only $limited of 12 quick arms were rate limited at arms-per-s=1"
stats=$(ctl --json stats)
[ "$(echo "$stats" | json_int err_rate_limited)" = "$limited" ] || fail "err_rate_limited is not $limited: $stats"

# max-watches=2 over all of bob's connections, max-connections=2
TIMERD_SECRET=$SECRET_bob "$TIMERCTL" --socket "$sock" --user bob watch a --for 20s >"$tmp/w1" 2>&1 &
w1=$!
wait_for grep -q "watching" "$tmp/w1"
out=$(as bob watch b c --for 1s 2>&1) && fail "bob watched 3 topics over 2 connections: $out"
echo "$out" | grep -q "identity bob already watches its max-watches (2)" || fail "max-watches refusal: $out"
TIMERD_SECRET=$SECRET_bob "$TIMERCTL" --socket "$sock" --user bob watch b --for 20s >"$tmp/w2" 2>&1 &
w2=$!
wait_for grep -q "watching" "$tmp/w2"
out=$(as bob ping 2>&1) && fail "bob opened a third connection with max-connections=2: $out"
echo "$out" | grep -q "identity bob already has its max-connections (2) open" || fail "max-connections refusal: $out"
as victim ping >/dev/null || fail "another identity was refused: $(as victim ping 2>&1)"
kill "$w2"
wait "$w2" 2>/dev/null
# the connection and its watch are released: bob may connect and watch again
wait_for as bob ping
stats=$(ctl --json stats)
[ "$(echo "$stats" | json_int quota_refusals)" -ge 2 ] || fail "quota_refusals: $stats"
kill "$w1"
wait "$w1" 2>/dev/null

# fairness: the flood is held to its arms-per-s and paused, the victim keeps its round trips.
# Under a sanitizer every accepted arm costs several times more: the figures are printed, not judged.
report=0
ldd "$TIMERD" 2>/dev/null | grep -q 'libasan\|libtsan\|libubsan' && report=1
# A p99 of 400 samples is the 4 slowest: one burst of the machine's own load (a CI neighbour, a
# sanitizer build) can make it. The measurement is repeated up to 3 times and each is printed;
# the test fails when none of them holds the victim within 2x.
fair=0
for attempt in 1 2 3; do
	if QUOTA_FAIR_REPORT=$report FLOOD_SECRET=$SECRET_flood VICTIM_SECRET=$SECRET_victim \
		"$top_builddir/tests/regress/quota-fair" "$sock" flood victim 4 256 400 >"$tmp/fair.json"; then
		fair=1
		break
	fi
	echo "fairness attempt $attempt failed: $(cat "$tmp/fair.json")"
done
[ "$fair" = 1 ] || fail "fairness: 3 attempts failed, the last: $(cat "$tmp/fair.json")"
cat "$tmp/fair.json"
grep -q '"flood_rate_limited":[1-9]' "$tmp/fair.json" || fail "the flood was never rate limited: $(cat "$tmp/fair.json")"
stop_timerd
echo PASS
