#!/usr/bin/env bash
# owner.sh -- timers record their creator (Timer.owner, the store's owner
# column) and it survives a restart: another identity with keys=* can
# neither get, cancel, re-arm, list nor watch them; admin (root) reaches all; an
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

# watch: ben's watch of every topic does not get ann's fires (nor key nor
# payload); admin's does; ann's gets its own. Ben's watch stops at its
# first fire, ben-w, armed after ann-w fired: had ann-w reached it, it would be first.
as ben watch --count 1 --for 30s >"$tmp/watch.ben" 2>&1 &
wben=$!
ctl watch --count 1 --for 30s >"$tmp/watch.admin" 2>&1 &
wadmin=$!
as ann watch w --count 1 --for 30s >"$tmp/watch.ann" 2>&1 &
wann=$!
wait_for watching 3
as ann arm ann-w --in 1ms --topic w --payload secret-w >/dev/null || fail "ann's arm of ann-w"
wait "$wadmin" || fail "admin's watch: $(cat "$tmp/watch.admin")"
grep -q ann-w "$tmp/watch.admin" || fail "admin's watch lacks ann-w: $(cat "$tmp/watch.admin")"
wait "$wann" || fail "ann's watch: $(cat "$tmp/watch.ann")"
grep -q ann-w "$tmp/watch.ann" || fail "ann's watch lacks its ann-w: $(cat "$tmp/watch.ann")"
as ben arm ben-w --in 1ms --topic w >/dev/null || fail "ben's arm of ben-w"
wait "$wben" || fail "ben's watch: $(cat "$tmp/watch.ben")"
grep -q "ann-w\|secret-w" "$tmp/watch.ben" && fail "ben's watch got ann's fire: $(cat "$tmp/watch.ben")"
grep -q ben-w "$tmp/watch.ben" || fail "ben's watch lacks its ben-w: $(cat "$tmp/watch.ben")"

# restart: the owner is in timers.db
stop_timerd
start_timerd --no-stats --users "$users"
out=$(ctl --json get ann-1) || fail "ann-1 after the restart"
echo "$out" | grep -q '"owner":"ann"' || fail "ann-1's owner after the restart: $out"
as ben cancel ann-1 >/dev/null 2>&1 && fail "ben cancelled ann-1 after the restart"
as ann cancel ann-1 >/dev/null || fail "ann cannot cancel ann-1 after the restart"
stop_timerd
echo PASS
