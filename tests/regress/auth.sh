#!/usr/bin/env bash
# auth.sh -- identities on the wire (doc/security.md): a users file that
# is readable by others or has a bad line stops timerd at start (and fails
# --check-config the same way); Auth with
# a good and a bad secret; nothing but Hello, Ping and Auth before an
# identity (a uid the file does not name, over the Unix socket and
# loopback TCP); a gid= line binding a Unix-socket peer by gid; brute force slowed per address; key, topic and operation
# rules (PERMISSION naming them, List filtered); a reload removing an
# identity closes its connections; a bad reload keeps the file in force.
. "${top_srcdir:-.}/tests/regress/lib.sh"

users=$tmp/users
# user add NAME [OPTIONS]: appends its line to $users, sets SECRET.
user_add() {
	local name=$1
	shift
	"$TIMERCTL" user add "$name" "$@" >>"$users" 2>"$tmp/secret.$name" || fail "timerctl user add $name"
	SECRET=$(sed -n 's/.*: //p' "$tmp/secret.$name")
	[ ${#SECRET} -ge 32 ] || fail "user add printed no secret: $(cat "$tmp/secret.$name")"
}
as() {	# as NAME SECRET timerctl-args...
	local name=$1 secret=$2
	shift 2
	TIMERD_SECRET=$secret ctl --user "$name" "$@"
}

: >"$users"
user_add bob --keys billing --topics billing
bob=$SECRET
user_add carol --allow get,list
carol=$SECRET

# user add --json: the three members
j=$("$TIMERCTL" --json user add dave --allow arm,watch) || fail "user add --json"
for m in identity secret line; do
	echo "$j" | grep -q "\"$m\":\"" || fail "user add --json lacks $m: $j"
done
echo "$j" | grep -q '"line":"dave secret=scrypt\$15,8,1\$' || fail "user add --json line: $j"
out=$("$TIMERCTL" user add bad --allow fly 2>&1) && fail "user add accepted --allow fly"
echo "$out" | grep -q "arm, cancel" || fail "user add --allow fly said: $out"

# File checks at start: mode, then a bad line (the whole file, FILE:LINE)
chmod 644 "$users"
out=$("$TIMERD" --foreground --socket "$sock" --memory-only --no-stats --users "$users" 2>&1) &&
	fail "timerd started with a users file readable by others"
echo "$out" | grep -q "chmod 600 $users" || fail "the mode refusal does not say the chmod: $out"
for mode in 644 604; do	# --check-config refuses what a start refuses, with the same message
	chmod "$mode" "$users"
	out=$("$TIMERD" --check-config --users "$users" 2>&1) && fail "--check-config passed a users file at $mode: $out"
	echo "$out" | grep -q "(mode 0$mode): it holds secret hashes: run chmod 600 $users" ||
		fail "--check-config's mode $mode refusal: $out"
done
chmod 600 "$users"
cp "$users" "$tmp/users.good"
echo "eve uid=abc" >>"$users"
out=$("$TIMERD" --foreground --socket "$sock" --memory-only --no-stats --users "$users" 2>&1) &&
	fail "timerd started with a bad users line"
echo "$out" | grep -q "$users:3: uid=abc" || fail "the bad line is not named FILE:LINE: $out"
out=$("$TIMERD" --check-config --users "$users" 2>&1) && fail "--check-config passed a bad users line: $out"
echo "$out" | grep -q "$users:3: uid=abc: give a numeric uid" || fail "--check-config's bad line: $out"
cp "$tmp/users.good" "$users"
out=$("$TIMERD" --check-config --users "$users" 2>&1) || fail "--check-config refused a good users file: $out"
echo "$out" | grep -q "configuration OK" || fail "--check-config of a good users file said: $out"

start_tcp --socket-mode 0666 --memory-only --no-stats --users "$users" --listen "127.0.0.1:@PORT@"

# root is admin without a line of its own
ctl arm root/1 --in 1h --topic payroll >/dev/null || fail "root (admin) cannot arm"
ctl arm billing/root --in 1h --topic billing >/dev/null || fail "root (admin) cannot arm billing/root"

# bob: its keys and topics only
as bob "$bob" arm billing/1 --in 1h --topic billing.inv >/dev/null || fail "bob cannot arm billing/1"
out=$(as bob "$bob" arm payroll/1 --in 1h --topic billing 2>&1) && fail "bob armed payroll/1"
echo "$out" | grep -q "identity bob may not arm key 'payroll/1': its keys= rule" || fail "bob's refusal: $out"
out=$(as bob "$bob" arm billing/2 --in 1h --topic payroll 2>&1) && fail "bob armed on topic payroll"
echo "$out" | grep -q "topics= rule" || fail "bob's topic refusal: $out"
out=$(as bob "$bob" cancel root/1 2>&1) && fail "bob cancelled root/1"
ctl get root/1 >/dev/null || fail "root/1 is gone after bob's refused cancel"
out=$(as bob "$bob" --json list) || fail "bob's list"
echo "$out" | grep -q '"billing/1"' || fail "bob's list lacks billing/1: $out"
echo "$out" | grep -q '"billing/root"' || fail "bob's list lacks billing/root (under its prefix): $out"
echo "$out" | grep -q 'root/1' && ! echo "$out" | grep -q '"billing/root"' && fail "bob's list shows root/1: $out"
echo "$out" | grep -q '"root/1"' && fail "bob's list shows root/1: $out"
out=$(as bob "$bob" stats 2>&1) || fail "bob (default ops) cannot stats: $out"
out=$(as bob "$bob" probe list 2>&1) && fail "bob listed probes"

# carol: get and list only
out=$(as carol "$carol" get root/1 2>&1) && fail "carol (keys=*) got admin's root/1"
echo "$out" | grep -q "another identity armed it" || fail "carol's get of root/1: $out"
out=$(as carol "$carol" --json list) || fail "carol's list"
echo "$out" | grep -q 'root/1' && fail "carol's list shows admin's root/1: $out"
out=$(as carol "$carol" arm c/1 --in 1h 2>&1) && fail "carol armed"
echo "$out" | grep -q "identity carol may not arm (its rule: allow=get,list)" || fail "carol's refusal: $out"

# a bad secret, then nothing before an identity
out=$(as bob wrong-secret list 2>&1) && fail "a wrong secret was accepted"
echo "$out" | grep -q "authentication as 'bob' failed" || fail "the wrong secret's refusal: $out"
out=$(as nobody-here "$bob" list 2>&1) && fail "an unknown identity was accepted"

[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && nobody=$(id -u nobody 2>/dev/null) && {
	share_programs
	as_nobody() { setpriv --reuid "$nobody" --regid "$nobody" --clear-groups "$OTHER_TIMERCTL" "$@"; }
	as_nobody --socket "$sock" ping >/dev/null || fail "nobody's ping before Auth (Unix socket)"
	out=$(as_nobody --socket "$sock" list 2>&1) && fail "nobody listed without an identity"
	echo "$out" | grep -q "this connection has no identity: send Auth first" || fail "nobody's list said: $out"
	out=$(as_nobody --connect "127.0.0.1:$port" arm x --in 1h 2>&1) && fail "nobody armed over TCP without an identity"
	echo "$out" | grep -q "no identity" || fail "nobody's TCP arm said: $out"
	out=$(TIMERD_SECRET=$bob as_nobody --connect "127.0.0.1:$port" --user bob --json list) ||
		fail "nobody authenticated as bob over TCP: $out"
	echo "$out" | grep -q '"billing/1"' || fail "bob over TCP: $out"
}

# brute force from one uid: each failure doubles the wait before the next check (100, 200, 400 ms)
t0=$(now_ms)
for i in 1 2 3 4; do
	as bob "guess-$i" ping >/dev/null 2>&1 && fail "guess $i was accepted"
done
took=$(( $(now_ms) - t0 ))
[ "$took" -ge 700 ] || fail "4 wrong guesses took ${took}ms: the per-address delay (>= 100+200+400ms) did not hold"
stats=$(ctl --json stats)
[ "$(echo "$stats" | json_int auth_failures)" -ge 6 ] || fail "auth_failures: $stats"
[ "$(echo "$stats" | json_int auth_throttled)" -ge 3 ] || fail "auth_throttled: $stats"
[ "$(echo "$stats" | json_int err_unauthenticated)" -ge 1 ] || fail "err_unauthenticated: $stats"
grep -q "authentication as 'bob' failed from pid [0-9]* uid 0" "$tmp/timerd.log" || fail "failures are not logged with the peer"
# the right secret still works (after the delay in force)
as bob "$bob" get billing/1 >/dev/null || fail "bob's good secret after the guesses"

# reload: bob's watch survives a reload that keeps bob, ends on one that removes bob
as bob "$bob" watch billing >"$tmp/watch.out" 2>&1 &
watch_pid=$!
wait_for watching 1
kill -HUP "$daemon_pid"
wait_for grep -q "reload: users file $users: 2 identities" "$tmp/timerd.log"
kill -0 "$watch_pid" 2>/dev/null || fail "bob's watch ended on a reload that kept bob: $(cat "$tmp/watch.out")"
echo "carol uid=12x" >>"$users"	# a bad file: the old one stays
kill -HUP "$daemon_pid"
wait_for grep -q "the users file in force stays" "$tmp/timerd.log"
as bob "$bob" get billing/1 >/dev/null || fail "bob lost access on a rejected reload"
grep -v '^bob ' "$tmp/users.good" >"$users"
kill -HUP "$daemon_pid"
wait_for gone "$watch_pid"
grep -q "identity bob was removed by a users-file reload" "$tmp/watch.out" || fail "bob's watch ended with: $(cat "$tmp/watch.out")"
out=$(as bob "$bob" get billing/1 2>&1) && fail "bob authenticated after its removal"
[ "$(ctl --json stats | json_int ident_closes)" -ge 1 ] || fail "ident_closes did not count"

# gid=: a Unix-socket peer whose uid no line names binds by its gid (not over TCP: sock_diag names no gid)
[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && nobody=$(id -u nobody 2>/dev/null) && {
	ngid=$(id -g nobody)
	as_gid() { setpriv --reuid "$nobody" --regid "$ngid" --clear-groups "$OTHER_TIMERCTL" "$@"; }
	echo "staff gid=$ngid allow=get,list,stats" >>"$users"
	reloads=$(grep -c "reload: users file $users:" "$tmp/timerd.log")
	kill -HUP "$daemon_pid"
	reloaded() { [ "$(grep -c "reload: users file $users:" "$tmp/timerd.log")" -gt "$reloads" ]; }
	wait_for reloaded
	out=$(as_gid --socket "$sock" --json list 2>&1) || fail "nobody (gid $ngid) is not bound to staff: $out"
	out=$(as_gid --socket "$sock" arm g/1 --in 1h 2>&1) && fail "staff (by gid) armed"
	echo "$out" | grep -q "identity staff may not arm" || fail "the gid-bound arm's refusal: $out"
	out=$(as_gid --connect "127.0.0.1:$port" list 2>&1) && fail "gid= bound a loopback TCP peer"
	echo "$out" | grep -q "no identity" || fail "nobody's TCP list with a gid= line said: $out"
	echo "staff2 gid=$ngid allow=get" >>"$users"	# a gid binds one identity: refused, the file in force stays
	kill -HUP "$daemon_pid"
	wait_for grep -q "gid=$ngid is also staff's" "$tmp/timerd.log"
	as_gid --socket "$sock" list >/dev/null || fail "staff lost its gid binding on a rejected reload"
}

stop_timerd
echo PASS
