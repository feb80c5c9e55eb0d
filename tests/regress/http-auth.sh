#!/usr/bin/env bash
# http-auth.sh -- identities over HTTP (doc/http.md): with a users file a
# request needs Authorization: Bearer IDENTITY:SECRET (or a local uid the
# file binds; root is admin): none or a wrong secret is 401 UNAUTHENTICATED
# with WWW-Authenticate, a rule that does not allow it 403 PERMISSION; the
# same rules as the RPC (keys, topics, List filtered), through the same code.
# A users-file reload that removes an identity ends its event streams with
# an UNAUTHENTICATED event (ident_closes); another identity's stays open.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ "$(id -u)" -eq 0 ] || skip "needs root to run a client as nobody"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
command -v curl >/dev/null || skip "needs curl"
nobody=$(id -u nobody 2>/dev/null) || skip "no user nobody"
chmod 0711 "$tmp"
users=$tmp/users
"$TIMERCTL" user add bob --keys billing --topics billing >"$users" 2>"$tmp/secret" || fail "user add"
bob=$(sed -n 's/.*: //p' "$tmp/secret")
"$TIMERCTL" user add carol --topics billing >>"$users" 2>"$tmp/secret" || fail "user add carol"
carol=$(sed -n 's/.*: //p' "$tmp/secret")
"$TIMERCTL" user add dave --allow get,list >>"$users" 2>"$tmp/secret" || fail "user add dave"
dave=$(sed -n 's/.*: //p' "$tmp/secret")
"$TIMERCTL" user add erin --allow consume >>"$users" 2>"$tmp/secret" || fail "user add erin"
erin=$(sed -n 's/.*: //p' "$tmp/secret")
chmod 600 "$users"
start_http --memory-only --no-stats --users "$users"

# nobody's request: prints "BODY STATUS"; extra curl flags after the path
as_nobody() {
	local method=$1 path=$2
	shift 2
	setpriv --reuid "$nobody" --regid "$nobody" --clear-groups \
		curl -s -X "$method" -w ' %{http_code}' "$@" "http://127.0.0.1:$port$path"
}
expect() {	# expect STATUS WHAT OUTPUT [TEXT]
	case "$3" in *" $1") ;; *) fail "$2: wanted $1, got: $3" ;; esac
	[ -z "${4:-}" ] || echo "$3" | grep -q -- "$4" || fail "$2: the body lacks '$4': $3"
}

# root (admin by uid) needs no Bearer
curl -sf -X PUT -d '{"in": "1h", "topic": "payroll"}' "http://127.0.0.1:$port/v1/timers/root-1" >/dev/null ||
	fail "root's PUT"
out=$(as_nobody GET /v1/timers -i)
expect 401 "nobody without a Bearer" "$out" '"code":"UNAUTHENTICATED"'
echo "$out" | grep -qi '^WWW-Authenticate: Bearer' || fail "401 without WWW-Authenticate: $out"
out=$(as_nobody GET /v1/timers -H "Authorization: Bearer bob:wrong")
expect 401 "a wrong secret" "$out" "authentication as 'bob' failed"
# the address waits now: a right secret in the delay is refused at once (Retry-After), then works
wait_for sh -c "setpriv --reuid $nobody --regid $nobody --clear-groups curl -sf -H 'Authorization: Bearer bob:$bob' \
	-X PUT -d '{\"in\": \"1h\", \"topic\": \"billing.x\"}' http://127.0.0.1:$port/v1/timers/billing%2F1"
out=$(as_nobody PUT /v1/timers/payroll-1 -H "Authorization: Bearer bob:$bob" -d '{"in": "1h", "topic": "billing"}')
expect 403 "bob's PUT of payroll-1" "$out" "keys= rule"
out=$(as_nobody DELETE /v1/timers/root-1 -H "Authorization: Bearer bob:$bob")
expect 403 "bob's DELETE of root-1" "$out" "PERMISSION"
out=$(as_nobody GET /v1/timers -H "Authorization: Bearer bob:$bob")
expect 200 "bob's list" "$out" 'billing/1'
echo "$out" | grep -q root-1 && fail "bob's list shows root-1: $out"
out=$(as_nobody GET /metrics -H "Authorization: Bearer bob:$bob")
expect 200 "bob's /metrics (stats)" "$out"
out=$(as_nobody GET "/v1/watch?topic=payroll" -H "Authorization: Bearer bob:$bob" --max-time 5)
expect 403 "bob's watch of payroll" "$out" "topics= rule"
curl -sf "http://127.0.0.1:$port/v1/timers/root-1" >/dev/null || fail "root-1 is gone"
# dead letters are the consume operation's, as over RPC: dave (get,list) is refused, bob sees them
curl -sf -X PUT -d '{"topics": ["billing"]}' "http://127.0.0.1:$port/v1/groups/bills" >/dev/null || fail "PUT group bills"
out=$(as_nobody GET /v1/groups/bills/dead-letters -H "Authorization: Bearer dave:$dave")
expect 403 "dave's dead-letters" "$out" "may not consume"
out=$(as_nobody POST /v1/groups/bills/dead-letters/purge -H "Authorization: Bearer dave:$dave")
expect 403 "dave's purge" "$out" "may not consume"
# a consume-only identity (no stats) long-polls and acks, as over RPC; the status routes stay stats'
out=$(as_nobody POST "/v1/groups/bills/next?wait=0" -H "Authorization: Bearer erin:$erin")
expect 204 "erin's next with nothing due" "$out"
curl -sf -X PUT -d '{"in": "1ms", "topic": "billing"}' "http://127.0.0.1:$port/v1/timers/billing%2Fjob" >/dev/null ||
	fail "root's PUT of billing/job"
out=$(as_nobody POST "/v1/groups/bills/next?wait=20s" -H "Authorization: Bearer erin:$erin")
expect 200 "erin's next" "$out" '"key":"billing/job"'
dlv=$(echo "$out" | sed -n 's/.*"delivery_id":"\{0,1\}\([0-9]*\).*/\1/p')
[ -n "$dlv" ] || fail "erin's next has no delivery_id: $out"
out=$(as_nobody POST "/v1/deliveries/$dlv/ack" -H "Authorization: Bearer erin:$erin")
expect 200 "erin's ack" "$out"
out=$(as_nobody GET /metrics -H "Authorization: Bearer erin:$erin")
expect 403 "erin's /metrics" "$out" "may not stats"
out=$(as_nobody GET /v1/status -H "Authorization: Bearer erin:$erin")
expect 403 "erin's /v1/status" "$out" "may not stats"
out=$(as_nobody GET /v1/groups/bills/dead-letters -H "Authorization: Bearer bob:$bob")
expect 200 "bob's dead-letters" "$out" '"letters":\[\]'

# reload: carol's removal ends carol's stream with the RPC's words; bob's stays open
as_nobody GET "/v1/watch?topic=billing" -N -H "Authorization: Bearer bob:$bob" --max-time 60 >"$tmp/sse-bob" &
sse_bob=$!
as_nobody GET "/v1/watch?topic=billing" -N -H "Authorization: Bearer carol:$carol" --max-time 60 >"$tmp/sse-carol" &
sse_carol=$!
wait_for grep -q watching "$tmp/sse-bob"
wait_for grep -q watching "$tmp/sse-carol"
# ownership on the stream as on the RPC: carol (keys=*) does not get root's fire, bob (keys=billing) does;
# carol gets her own (armed after bob saw root's: had root's reached carol, it would be there by then)
curl -sf -X PUT -d '{"in": "10ms", "topic": "billing", "payload": "secret-root"}' \
	"http://127.0.0.1:$port/v1/timers/billing%2Froot-sse" >/dev/null || fail "root's PUT of billing/root-sse"
wait_for grep -q '"key":"billing/root-sse"' "$tmp/sse-bob"
as_nobody PUT /v1/timers/billing%2Fcarol-sse -H "Authorization: Bearer carol:$carol" \
	-d '{"in": "10ms", "topic": "billing"}' >/dev/null || fail "carol's PUT of billing/carol-sse"
wait_for grep -q '"key":"billing/carol-sse"' "$tmp/sse-carol"
grep -q 'root-sse' "$tmp/sse-carol" && fail "carol's stream got root's fire: $(cat "$tmp/sse-carol")"
closes0=$(ctl --json stats | json_int ident_closes)
grep -v '^carol' "$users" >"$tmp/users.new" && cat "$tmp/users.new" >"$users"
grep -q '^bob' "$users" || fail "the rewritten users file lost bob: $(cat "$users")"
kill -HUP "$daemon_pid"
wait_for gone "$sse_carol"
grep -q '^event: closed' "$tmp/sse-carol" || fail "carol's stream ended without its closed event: $(cat "$tmp/sse-carol")"
grep -q '"code":"UNAUTHENTICATED".*identity carol was removed by a users-file reload' "$tmp/sse-carol" ||
	fail "carol's closed event does not say why: $(cat "$tmp/sse-carol")"
closes1=$(ctl --json stats | json_int ident_closes)
[ "$closes1" -ge $((closes0 + 1)) ] || fail "ident_closes did not count the stream: $closes0 -> $closes1"
kill -0 "$sse_bob" 2>/dev/null || fail "bob's stream ended on a reload that kept bob: $(cat "$tmp/sse-bob")"
# bob's stream still delivers: a fire reaches it
curl -sf -X PUT -d '{"in": "10ms", "topic": "billing"}' "http://127.0.0.1:$port/v1/timers/billing%2Ffire" >/dev/null ||
	fail "root's PUT of billing/fire"
wait_for grep -q '"key":"billing/fire"' "$tmp/sse-bob"
grep -q 'event: closed' "$tmp/sse-bob" && fail "bob's stream got a closed event: $(cat "$tmp/sse-bob")"
kill "$sse_bob" 2>/dev/null
wait "$sse_bob" 2>/dev/null
stop_timerd
echo PASS
