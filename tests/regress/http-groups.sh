#!/usr/bin/env bash
# http-groups.sh -- consumer groups over HTTP (doc/http.md, "Consumer
# groups"): PUT/GET/DELETE /v1/groups/{g}, the long poll POST
# /v1/groups/{g}/next (a delivery; 204 after ?wait=), POST
# /v1/deliveries/{id}/ack completes it, /nack gives it back for a retry,
# a long poll whose client went away does not take (and lose) the next
# delivery, a delivery taken and never acked comes back after the ack
# timeout, the dead letters (GET /v1/groups/{g}/dead-letters, paged, by key,
# with payloads; POST .../retry and .../purge by key, id or all; their
# errors), errors are the RPC's codes with the usual statuses, 8 consumers
# at once deliver and ack 200 fires exactly once (http_groups.py); and an
# unacked delivery survives a restart (journaled, --fsync always).
. "${top_srcdir:-.}/tests/regress/lib.sh"

command -v curl >/dev/null || skip "needs curl"
start_http
H=http://127.0.0.1:$port

# Runs curl; prints the body and, on the last line, the status.
req() {
	curl -s -w '\n%{http_code}' "$@"
}
status() { tail -n 1; }
body() { sed '$d'; }

# Runs req with the arguments after WHAT; fails with WHAT unless the status is STATUS and the
# answer matches TEXT (a grep pattern; "" for any).
expect() {
	local want=$1 text=$2 what=$3 out
	shift 3
	out=$(req "$@")
	[ "$(echo "$out" | status)" = "$want" ] && { [ -z "$text" ] || echo "$out" | grep -q -- "$text"; } ||
		fail "$what: $out"
}

# The counter NAME of group G (GET /v1/groups/G).
counter() {
	curl -s "$H/v1/groups/$1" | json_int "$2"
}

# group management
out=$(req -X PUT "$H/v1/groups/jobs" -d '{"topics": ["jobs"], "ack_timeout": "2s", "backoff_min": "50ms"}')
[ "$(echo "$out" | status)" = 201 ] || fail "PUT a new group: $out"
out=$(req -X PUT "$H/v1/groups/jobs" -d '{"topics": ["jobs"], "ack_timeout": "2s", "backoff_min": "50ms"}')
[ "$(echo "$out" | status)" = 200 ] && echo "$out" | grep -q '"created":false' || fail "PUT the same group again: $out"
# If-None-Match: * only creates: other settings are a 409 CONFLICT, the same ones 200 created:false
expect 409 '"code":"CONFLICT"' "PUT If-None-Match: * with other settings" -X PUT -H 'If-None-Match: *' \
	"$H/v1/groups/jobs" -d '{"topics": ["jobs"], "ack_timeout": "3s"}'
expect 200 '"created":false' "PUT If-None-Match: * with the same settings" -X PUT -H 'If-None-Match: *' \
	"$H/v1/groups/jobs" -d '{"topics": ["jobs"], "ack_timeout": "2s", "backoff_min": "50ms"}'
out=$(req "$H/v1/groups/jobs")
echo "$out" | grep -q '"ack_timeout_ns":2000000000' || fail "GET the group: $out"
echo "$out" | grep -q '"webhook_requests":0,"webhook_failures":0' || fail "GET the group: no webhook counters: $out"
out=$(req "$H/v1/groups")
echo "$out" | grep -q '"name":"jobs"' || fail "GET /v1/groups: $out"

# errors: the RPC's codes, the API's statuses
expect 404 '"code":"NOT_FOUND"' "next of no group" -X POST "$H/v1/groups/nope/next"
expect 400 '"code":"INVALID"' "a bad wait" -X POST "$H/v1/groups/jobs/next?wait=soon"
expect 400 "" "a wait over 5m" -X POST "$H/v1/groups/jobs/next?wait=1h"
expect 405 "" "GET on next" "$H/v1/groups/jobs/next"
expect 404 '"code":"NOT_FOUND"' "ack of no delivery" -X POST "$H/v1/deliveries/12345/ack"
expect 400 "" "ack of delivery 0" -X POST "$H/v1/deliveries/0/ack"
expect 400 'no topic' "a group without topics" -X PUT "$H/v1/groups/bad" -d '{"topics": []}'
expect 400 "" "a number for a duration" -X PUT "$H/v1/groups/bad" -d '{"topics": ["a"], "ack_timeout": 5}'
expect 400 "unknown field 'max_attempt'" "a typo" -X PUT "$H/v1/groups/bad" -d '{"topics": ["a"], "max_attempt": 5}'

# 204 once the wait is over, and not before
t0=$(now_ms)
out=$(req -X POST "$H/v1/groups/jobs/next?wait=300ms")
t1=$(now_ms)
[ "$(echo "$out" | status)" = 204 ] || fail "an empty group's long poll: $out"
[ $((t1 - t0)) -ge 290 ] || fail "the long poll answered 204 after $((t1 - t0)) ms, before its 300 ms wait"

# next returns a delivery: a poll waiting before the fire gets it as it fires
req -X POST "$H/v1/groups/jobs/next?wait=10s" >"$tmp/next1" &
poll_pid=$!
waiting() { [ "$(counter jobs consumers)" = 1 ]; }
wait_for waiting
curl -sf -X PUT "$H/v1/timers/job-1" -d '{"in": "20ms", "topic": "jobs", "payload": "hello"}' >/dev/null ||
	fail "arm job-1"
wait "$poll_pid"
out=$(cat "$tmp/next1")
[ "$(echo "$out" | status)" = 200 ] || fail "the long poll did not get the delivery: $out"
d1=$(echo "$out" | body | json_int delivery_id)
echo "$out" | grep -q '"attempt":1' && echo "$out" | grep -q '"key":"job-1"' &&
	echo "$out" | grep -q '"payload":"hello"' && echo "$out" | grep -q '"group":"jobs"' &&
	echo "$out" | grep -q '"deadline_unix_ns":' && [ -n "$d1" ] || fail "the delivery's fields: $out"
[ "$(counter jobs in_flight)" = 1 ] || fail "the delivery is not in flight: $(curl -s "$H/v1/groups/jobs")"

# ack completes it (answered once durable: --fsync always); a second ack is 404
out=$(req -X POST "$H/v1/deliveries/$d1/ack")
[ "$(echo "$out" | status)" = 200 ] || fail "ack: $out"
[ "$(counter jobs acked)" = 1 ] && [ "$(counter jobs in_flight)" = 0 ] ||
	fail "after the ack: $(curl -s "$H/v1/groups/jobs")"
out=$(req -X POST "$H/v1/deliveries/$d1/ack")
[ "$(echo "$out" | status)" = 404 ] || fail "a second ack: $out"
released() { [ "$(counter jobs consumers)" = 0 ]; }
wait_for released

# nack retries: the same delivery again after retry_after, attempt 2, the error kept
curl -sf -X PUT "$H/v1/timers/job-2" -d '{"in": "10ms", "topic": "jobs", "payload": "two"}' >/dev/null
out=$(req -X POST "$H/v1/groups/jobs/next?wait=10s")
d2=$(echo "$out" | body | json_int delivery_id)
[ "$(echo "$out" | status)" = 200 ] && [ -n "$d2" ] || fail "next for job-2: $out"
out=$(req -X POST "$H/v1/deliveries/$d2/nack" -d '{"retry_after": "nope"}')
[ "$(echo "$out" | status)" = 400 ] || fail "a nack with a bad retry_after: $out"
out=$(req -X POST "$H/v1/deliveries/$d2/nack" -d '{"retry_after": "2d"}')
[ "$(echo "$out" | status)" = 400 ] && echo "$out" | grep -q 'out of range' || fail "a nack past a day: $out"
out=$(req -X POST "$H/v1/deliveries/$d2/nack" -d '{"retry_after": "200ms", "error": "busy"}')
[ "$(echo "$out" | status)" = 200 ] || fail "nack: $out"
t0=$(now_ms)
out=$(req -X POST "$H/v1/groups/jobs/next?wait=10s")
t1=$(now_ms)
[ "$(echo "$out" | status)" = 200 ] && [ "$(echo "$out" | body | json_int delivery_id)" = "$d2" ] &&
	echo "$out" | grep -q '"attempt":2' || fail "the nacked delivery did not come back: $out"
[ $((t1 - t0)) -ge 150 ] || fail "the nacked delivery came back after $((t1 - t0)) ms, before its retry_after (200 ms)"
[ "$(counter jobs nacked)" = 1 ] || fail "nacked: $(curl -s "$H/v1/groups/jobs")"
curl -sf -X POST "$H/v1/deliveries/$d2/ack" >/dev/null || fail "ack of the retried delivery"

# an abandoned long poll: its client goes before a delivery; the next one is not handed to it
curl -s -X POST "$H/v1/groups/jobs/next?wait=30s" >/dev/null &
poll_pid=$!
wait_for waiting
kill "$poll_pid"
wait "$poll_pid" 2>/dev/null
wait_for released	# timerd noticed the closed connection (EPOLLRDHUP) while the request waited
curl -sf -X PUT "$H/v1/timers/job-3" -d '{"in": "10ms", "topic": "jobs", "payload": "three"}' >/dev/null
out=$(req -X POST "$H/v1/groups/jobs/next?wait=10s")
[ "$(echo "$out" | status)" = 200 ] && echo "$out" | grep -q '"key":"job-3"' && echo "$out" | grep -q '"attempt":1' ||
	fail "after an abandoned poll the delivery went astray: $out"
d3=$(echo "$out" | body | json_int delivery_id)

# a delivery taken and never acked (its consumer crashed) comes back after the ack timeout (2 s)
out=$(req -X POST "$H/v1/groups/jobs/next?wait=10s")
[ "$(echo "$out" | status)" = 200 ] && [ "$(echo "$out" | body | json_int delivery_id)" = "$d3" ] &&
	echo "$out" | grep -q '"attempt":2' || fail "an unacked delivery did not come back after its ack timeout: $out"

# the next poll that gets a timed-out delivery is the one its ack goes to, even after the first poll's hold
# is swept (1 s after the ack timeout): the sweep does not take the delivery from the newer poll
curl -sf -X PUT "$H/v1/groups/sweep" -d '{"topics": ["sweep"], "ack_timeout": "3s", "backoff_min": "10ms", "backoff_max": "20ms"}' >/dev/null || fail "PUT sweep"
curl -sf -X PUT "$H/v1/timers/job-4" -d '{"in": "10ms", "topic": "sweep", "payload": "four"}' >/dev/null
out=$(req -X POST "$H/v1/groups/sweep/next?wait=10s")
d4=$(echo "$out" | body | json_int delivery_id)
[ "$(echo "$out" | status)" = 200 ] && echo "$out" | grep -q '"key":"job-4"' || fail "next for job-4: $out"
out=$(req -X POST "$H/v1/groups/sweep/next?wait=10s")
[ "$(echo "$out" | body | json_int delivery_id)" = "$d4" ] && echo "$out" | grep -q '"attempt":2' ||
	fail "job-4 did not come back after its ack timeout: $out"
sleep 1.5	# the first poll's sweep has run (its ack timeout + 1 s); the second one's ack timeout has not
out=$(req -X POST "$H/v1/deliveries/$d4/ack")
[ "$(echo "$out" | status)" = 200 ] || fail "the ack of job-4 by the poll that holds it now, after the first poll's sweep: $out"
curl -sf -X DELETE "$H/v1/groups/sweep" >/dev/null || fail "DELETE sweep"

# many consumers at once: polls and acks on different connections (and loops), nacks, every key acked once
PY=/usr/bin/python3
if [ -x "$PY" ]; then
	"$PY" "${top_srcdir:-.}/tests/regress/http_groups.py" "$port" 200 8 || fail "http_groups.py (above)"
fi

# an unacked delivery survives a restart (journaled with the fire) and is delivered again
stop_timerd
start_http
H=http://127.0.0.1:$port
out=$(req -X POST "$H/v1/groups/jobs/next?wait=10s")
[ "$(echo "$out" | status)" = 200 ] && [ "$(echo "$out" | body | json_int delivery_id)" = "$d3" ] ||
	fail "after a restart the unacked delivery $d3 was not delivered again: $out"
curl -sf -X POST "$H/v1/deliveries/$d3/ack" >/dev/null || fail "ack after the restart"

# dead letters (the RPC's DlqList/DlqRetry/DlqPurge): one attempt, nacked, is a dead letter
curl -sf -X PUT "$H/v1/groups/dl" -d '{"topics": ["dl"], "max_attempts": 1}' >/dev/null || fail "PUT group dl"
# Takes group dl's next delivery and nacks it (its only attempt: a dead letter); prints its id.
kill_next() {
	local out id
	out=$(req -X POST "$H/v1/groups/dl/next?wait=10s")
	id=$(echo "$out" | body | json_int delivery_id)
	[ "$(echo "$out" | status)" = 200 ] && [ -n "$id" ] || fail "next of group dl: $out"
	curl -sf -X POST "$H/v1/deliveries/$id/nack" -d '{"error": "no printer"}' >/dev/null || fail "nack $id"
	echo "$id"
}
for k in dl-a dl-b; do
	curl -sf -X PUT "$H/v1/timers/$k" -d "{\"in\": \"10ms\", \"topic\": \"dl\", \"payload\": \"$k\"}" >/dev/null ||
		fail "arm $k"
	eval "id_${k#dl-}=\$(kill_next)"
done
out=$(req "$H/v1/groups/dl/dead-letters")
[ "$(echo "$out" | status)" = 200 ] && echo "$out" | grep -q "\"delivery_id\":$id_a," &&
	echo "$out" | grep -q "\"delivery_id\":$id_b," && echo "$out" | grep -q '"last_error":"no printer"' &&
	echo "$out" | grep -q '"next_cursor":0' || fail "GET dead-letters: $out"
echo "$out" | grep -q '"payload":"dl-a"' && fail "GET dead-letters without payload=1 has the payloads: $out"
out=$(req "$H/v1/groups/dl/dead-letters?key=dl-b&payload=1")
[ "$(echo "$out" | status)" = 200 ] && echo "$out" | grep -q '"payload":"dl-b"' && ! echo "$out" | grep -q dl-a ||
	fail "GET dead-letters?key=dl-b&payload=1: $out"
out=$(req "$H/v1/groups/dl/dead-letters?limit=1")
next=$(echo "$out" | body | json_int next_cursor)
[ "$(echo "$out" | grep -o '"delivery_id"' | wc -l)" = 1 ] && [ "$next" -gt 0 ] || fail "a page of 1: $out"
out=$(req "$H/v1/groups/dl/dead-letters?limit=1&cursor=$next")
echo "$out" | grep -q "\"delivery_id\":$id_b," || fail "the second page: $out"
# errors: the RPC's codes with the API's statuses
expect 404 '"code":"NOT_FOUND"' "dead letters of no group" "$H/v1/groups/nope/dead-letters"
expect 400 '"code":"INVALID"' "a bad cursor" "$H/v1/groups/dl/dead-letters?cursor=x"
expect 400 "id '12x' is not a number" "a bad id" -X POST "$H/v1/groups/dl/dead-letters/retry?id=12x"
expect 404 "" "purge of no group" -X POST "$H/v1/groups/nope/dead-letters/purge"
expect 405 "" "GET on retry" "$H/v1/groups/dl/dead-letters/retry"
# retry by key: delivered again with its attempts reset, the same id; dead again; purge by id, then all
out=$(req -X POST "$H/v1/groups/dl/dead-letters/retry?key=dl-a")
[ "$(echo "$out" | status)" = 200 ] && echo "$out" | grep -q '"count":1' || fail "retry ?key=dl-a: $out"
out=$(req -X POST "$H/v1/groups/dl/next?wait=10s")
[ "$(echo "$out" | body | json_int delivery_id)" = "$id_a" ] && echo "$out" | grep -q '"attempt":1' ||
	fail "the retried dead letter: $out"
curl -sf -X POST "$H/v1/deliveries/$id_a/nack" >/dev/null || fail "nack the retried one"
out=$(req -X POST "$H/v1/groups/dl/dead-letters/purge?id=$id_a")
[ "$(echo "$out" | status)" = 200 ] && echo "$out" | grep -q '"count":1' || fail "purge ?id=$id_a: $out"
out=$(req -X POST "$H/v1/groups/dl/dead-letters/purge?id=$id_a")
echo "$out" | grep -q '"count":0' || fail "purge of a purged id: $out"
out=$(req -X POST "$H/v1/groups/dl/dead-letters/purge")
[ "$(echo "$out" | status)" = 200 ] && echo "$out" | grep -q '"count":1' || fail "purge all: $out"
[ "$(counter dl dead_letters)" = 0 ] || fail "dead letters left: $(curl -s "$H/v1/groups/dl")"
curl -sf -X DELETE "$H/v1/groups/dl" >/dev/null || fail "DELETE group dl"

# DELETE: the group is gone
out=$(req -X DELETE "$H/v1/groups/jobs")
[ "$(echo "$out" | status)" = 200 ] || fail "DELETE the group: $out"
out=$(req "$H/v1/groups/jobs")
[ "$(echo "$out" | status)" = 404 ] || fail "GET a deleted group: $out"
stop_timerd
