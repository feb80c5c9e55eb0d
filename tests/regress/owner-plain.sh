#!/usr/bin/env bash
# owner-plain.sh -- a timer armed without a users file has no owner, also
# when it has no attributes at all (no topic, payload, period or flags):
# after a restart with a users file, a keys=* identity can neither cancel
# nor re-arm it (the engine's owner check, engine_rec_claim_own); admin can.
. "${top_srcdir:-.}/tests/regress/lib.sh"

users=$tmp/users
: >"$users"
chmod 600 "$users"
"$TIMERCTL" user add ben >>"$users" 2>"$tmp/secret.ben" || fail "user add ben"
secret_ben=$(sed -n 's/.*: //p' "$tmp/secret.ben")
ben() { TIMERD_SECRET=$secret_ben ctl --user ben "$@"; }

start_timerd --no-stats
ctl arm plain-1 --in 1h >/dev/null || fail "arm plain-1 (no users file, no topic)"
ctl arm plain-2 --in 1h >/dev/null || fail "arm plain-2"
stop_timerd
start_timerd --no-stats --users "$users"
out=$(ctl --json get plain-1) || fail "plain-1 after the restart"
for what in "cancel plain-1" "arm plain-2 --in 2h"; do
	out=$(ben $what 2>&1) && fail "ben (keys=*) could $what, a timer with no owner: $out"
	echo "$out" | grep -q "identity ben may not .* another identity armed it" || fail "ben's $what said: $out"
done
ctl get plain-1 >/dev/null || fail "plain-1 is gone"
ctl cancel plain-1 >/dev/null || fail "admin cannot cancel plain-1"
stop_timerd
echo PASS
