#!/usr/bin/env bash
# owner.sh -- timers record their creator (Timer.owner, the store's owner
# column) and it survives a restart: another identity with keys=* can
# neither get, cancel, re-arm nor list them; admin (root) reaches all; an
# identity whose keys= prefix covers a key reaches the timers under it
# whoever armed them (doc/security.md).
. "${top_srcdir:-.}/tests/regress/lib.sh"

users=$tmp/users
: >"$users"
chmod 600 "$users"
add() {
	"$TIMERCTL" user add "$@" >>"$users" 2>"$tmp/secret.$1" || fail "user add $1"
	eval "secret_$1=\$(sed -n 's/.*: //p' \"$tmp/secret.$1\")"
}
add ann
add ben
add team --keys shared
as() {	# as NAME timerctl-args...
	local v=secret_$1
	local name=$1
	shift
	TIMERD_SECRET=${!v} ctl --user "$name" "$@"
}
start_timerd --no-stats --users "$users"

as ann arm ann-1 --in 1h --topic a >/dev/null || fail "ann's arm"
as ann arm shared/x --in 1h >/dev/null || fail "ann's arm of shared/x"
out=$(as ann --json get ann-1) || fail "ann's get"
echo "$out" | grep -q '"owner":"ann"' || fail "ann-1's owner: $out"
for what in "get ann-1" "cancel ann-1" "arm ann-1 --in 2h"; do
	out=$(as ben $what 2>&1) && fail "ben could $what"
	echo "$out" | grep -q "identity ben may not .* another identity armed it" || fail "ben's $what said: $out"
done
out=$(as ben --json list) || fail "ben's list"
echo "$out" | grep -q 'ann-1' && fail "ben's list shows ann-1: $out"
as team get shared/x >/dev/null || fail "team (keys=shared) cannot get ann's shared/x"
out=$(ctl --json get ann-1) || fail "admin's get"
echo "$out" | grep -q '"owner":"ann"' || fail "admin sees: $out"

# restart: the owner is in timers.db
stop_timerd
start_timerd --no-stats --users "$users"
out=$(ctl --json get ann-1) || fail "ann-1 after the restart"
echo "$out" | grep -q '"owner":"ann"' || fail "ann-1's owner after the restart: $out"
as ben cancel ann-1 >/dev/null 2>&1 && fail "ben cancelled ann-1 after the restart"
as ann cancel ann-1 >/dev/null || fail "ann cannot cancel ann-1 after the restart"
stop_timerd
echo PASS
