#!/usr/bin/env bash
# group-perms.sh -- a consumer group's requests follow its topics' rules
# (doc/security.md): an identity with topics=billing is refused Subscribe
# (timerctl consume), group show, dlq list/retry/purge and group delete of
# a group of topic payroll (PERMISSION naming the rule; the group is kept),
# group list leaves that group out, and all of it works on its own group.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/group-lib.sh"

users=$tmp/users
: >"$users"
chmod 600 "$users"
"$TIMERCTL" user add billing --keys billing --topics billing >>"$users" 2>"$tmp/secret" || fail "user add billing"
secret=$(sed -n 's/.*: //p' "$tmp/secret")
as_billing() {
	TIMERD_SECRET=$secret ctl --user billing "$@"
}
start_timerd --no-stats --users "$users"

ctl group create payroll --topic payroll >/dev/null || fail "admin's group create payroll"
ctl group create bills --topic billing >/dev/null || fail "admin's group create bills"
ctl arm payroll/7 --in 1ms --topic payroll --payload salary >/dev/null || fail "admin's arm payroll/7"
wait_for group_is payroll backlog 1

# the payroll group: refused, naming the rule
for what in "group show payroll" "dlq list payroll" "dlq retry payroll" "dlq purge payroll" "group delete payroll"; do
	out=$(as_billing $what 2>&1) && fail "billing could $what: $out"
	echo "$out" | grep -q "may not consume.*payroll" || fail "billing's $what said: $out"
done
out=$(TIMERD_SECRET=$secret timeout 20 "$TIMERCTL" --socket "$sock" --user billing consume payroll -- cat 2>&1) &&
	fail "billing could consume payroll: $out"
echo "$out" | grep -q "cannot subscribe: .*may not consume.*payroll" || fail "billing's consume payroll said: $out"
echo "$out" | grep -q "salary\|payroll/7" && fail "billing received payroll/7: $out"
ctl group show payroll >/dev/null || fail "billing's refused delete removed payroll"
group_is payroll backlog 1 || fail "payroll's delivery is gone"
out=$(as_billing --json group list) || fail "billing's group list"
echo "$out" | grep -q '"payroll"' && fail "billing's group list shows payroll: $out"
echo "$out" | grep -q '"bills"' || fail "billing's group list lacks bills: $out"
out=$(ctl --json group list) || fail "admin's group list"
echo "$out" | grep -q '"payroll"' || fail "admin's group list lacks payroll: $out"

# its own group: allowed
as_billing group show bills >/dev/null || fail "billing's group show bills"
as_billing dlq list bills >/dev/null || fail "billing's dlq list bills"
ctl arm billing/1 --in 1ms --topic billing >/dev/null || fail "admin's arm billing/1"
TIMERD_SECRET=$secret "$TIMERCTL" --socket "$sock" --user billing consume bills -- "$job" 2>>"$tmp/consume.log" &
consumer_pid=$!
wait_for logged "billing/1"
wait_for group_is bills acked 1
kill "$consumer_pid"
wait "$consumer_pid"
as_billing group delete bills >/dev/null || fail "billing's group delete bills"
stop_timerd
echo PASS
