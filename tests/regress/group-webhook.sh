#!/bin/bash
# group-webhook.sh -- consumer groups delivered by HTTP(S) POST (doc/delivery.md,
# "Webhooks"), end to end: timerctl declares groups with --webhook, timers fire
# on their topics, tests/regress/webhook_server.py answers on a schedule (per
# URL path and key) and records each request. Checked: a 2xx acks (body and
# headers as documented); 500 twice then 200 acks on the third attempt with
# the group's backoff between the attempts (the server's timestamps); a 503
# with Retry-After is retried after it, not after the group's backoff; a
# timeout, a refused connection and a self-signed certificate each end as a
# dead letter after max_attempts with the words of the failure; insecure
# accepts the certificate; 20 fires through concurrency 3 are all acked with
# at most 3 requests at once; nothing is lost (each fire acked or a dead
# letter), and the attempts and webhook counters add up. Then: a group's URL
# changed while it fails, a group deleted with a request in flight, and a
# restart with a delivery failing (restored, POSTed again, acked).
. "${top_srcdir:-.}/tests/regress/lib.sh"

[ -x /usr/bin/python3 ] || skip "needs Debian's /usr/bin/python3"
command -v openssl >/dev/null || skip "needs openssl"
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

srcdir=${top_srcdir:-.}/tests/regress
log=$tmp/hook.jsonl
tlslog=$tmp/hook-tls.jsonl

# Starts webhook_server.py with its port file $1 and further arguments; waits for the port.
start_server() {
	local portfile=$1
	shift
	/usr/bin/python3 "$srcdir/webhook_server.py" --port-file "$portfile" "$@" 2>>"$tmp/server.err" &
	wait_for test -s "$portfile"
}

# The requests to path $1 with fields $2... (webhook_log.py), from the plain server's log (WLOG to change).
reqs() {
	local path=$1
	shift
	/usr/bin/python3 "$srcdir/webhook_log.py" "${WLOG:-$log}" "$path" "$@"
}

# True once path $1 got at least $2 requests.
got() {
	local n
	n=$(reqs "$1" t | wc -l)
	[ "$n" -ge "$2" ] || { echo "$n requests to $1, want $2"; return 1; }
}

# True when group $1's integer field $2 is $3 (prints the group otherwise).
group_is() {
	local out
	out=$(ctl --json group show "$1") || return 1
	[ "$(echo "$out" | json_int "$2")" = "$3" ] || { echo "$out"; return 1; }
}

# Integer field $2 of group $1.
group_int() {
	ctl --json group show "$1" | json_int "$2"
}

# The last_error of group $1's only dead letter.
dead_error() {
	ctl --json dlq list "$1" | json_str last_error
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 ||
	fail "openssl could not make a self-signed certificate"
start_server "$tmp/port" --log "$log"
start_server "$tmp/tlsport" --log "$tlslog" --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"
port=$(cat "$tmp/port")
tlsport=$(cat "$tmp/tlsport")
base=http://127.0.0.1:$port
start_timerd

# --- 2xx: acked once; the body and headers as documented ---
ctl group create ok --topic t-ok --webhook "$base/s/200/ok" >/dev/null || fail "group create --webhook"
ctl arm k-ok --in 50ms --topic t-ok --payload hello >/dev/null || fail "arm"
wait_for got /s/200/ok 1
wait_for group_is ok acked 1
read -r key topic payload attempt hdr_attempt hdr_id body_id idem ctype ua group <<<"$(reqs /s/200/ok \
	b:key b:topic b:payload b:attempt h:X-Timerd-Attempt h:X-Timerd-Delivery b:delivery_id h:Idempotency-Key \
	h:Content-Type h:User-Agent b:group)"
[ "$key $topic $payload $attempt $hdr_attempt $group" = "k-ok t-ok aGVsbG8= 1 1 ok" ] ||
	fail "2xx: body/headers: key=$key topic=$topic payload=$payload attempt=$attempt/$hdr_attempt group=$group"
[ "$hdr_id" = "$body_id" ] && [ "$idem" = "ok-$body_id" ] || fail "2xx: delivery id $hdr_id / $body_id / $idem"
[ "$ctype" = application/json ] || fail "2xx: Content-Type $ctype"
case $ua in timerd/*) ;; *) fail "2xx: User-Agent $ua" ;; esac
reqs /s/200/ok b:deadline | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$' || fail "2xx: deadline not RFC 3339"
wait_for group_is ok in_flight 0
[ "$(reqs /s/200/ok t | wc -l)" = 1 ] || fail "2xx: acked delivery POSTed again"

# --- 500, 500, then 200: acked on attempt 3, backoff between the attempts ---
ctl group create retry --topic t-retry --backoff-min 300ms --backoff-max 2s --max-attempts 5 \
	--webhook "$base/s/500,500,200/retry" >/dev/null || fail "group create retry"
ctl arm k-retry --in 50ms --topic t-retry >/dev/null || fail "arm"
wait_for got /s/500,500,200/retry 3
wait_for group_is retry acked 1
mapfile -t lines < <(reqs /s/500,500,200/retry t b:attempt h:X-Timerd-Attempt b:delivery_id)
[ "${#lines[@]}" = 3 ] || fail "500x2: ${#lines[@]} requests: ${lines[*]}"
read -r t1 a1 h1 id1 <<<"${lines[0]}"
read -r t2 a2 h2 id2 <<<"${lines[1]}"
read -r t3 a3 h3 id3 <<<"${lines[2]}"
[ "$a1$a2$a3" = 123 ] && [ "$h1$h2$h3" = 123 ] || fail "500x2: attempts $a1 $a2 $a3 (headers $h1 $h2 $h3)"
[ "$id1" = "$id2" ] && [ "$id2" = "$id3" ] || fail "500x2: the retries have other delivery ids: $id1 $id2 $id3"
# backoff (group.c: 300ms, then 300-600ms: exponential, jitter in [b/2, b], at least the minimum),
# measured between the server's receipts; at most the maximum (2s) plus slack
/usr/bin/python3 - "$t1" "$t2" "$t3" <<'EOF' || fail "500x2: backoff not observed between attempts (${lines[*]})"
import sys
t1, t2, t3 = map(float, sys.argv[1:])
g1, g2 = t2 - t1, t3 - t2
print("backoff gaps: %.3f s, %.3f s" % (g1, g2))
sys.exit(0 if 0.29 <= g1 <= 3.0 and 0.29 <= g2 <= 3.0 else 1)
EOF
wait_for group_is retry redeliveries 2
[ "$(group_int retry nacked)" = 2 ] || fail "500x2: nacked $(group_int retry nacked), want 2"
[ "$(group_int retry dead_letters)" = 0 ] || fail "500x2: a dead letter"

# --- 503 with Retry-After: 1 waits that second, not the group's 50ms backoff ---
ctl group create ra --topic t-ra --backoff-min 50ms --backoff-max 100ms \
	--webhook "$base/s/503ra1,200/ra" >/dev/null || fail "group create ra"
ctl arm k-ra --in 50ms --topic t-ra >/dev/null || fail "arm"
wait_for group_is ra acked 1
mapfile -t lines < <(reqs /s/503ra1,200/ra t)
[ "${#lines[@]}" = 2 ] || fail "Retry-After: ${#lines[@]} requests"
/usr/bin/python3 -c 'import sys; g = float(sys.argv[2]) - float(sys.argv[1]); print("Retry-After gap: %.3f s" % g); sys.exit(0 if 0.95 <= g <= 3 else 1)' \
	"${lines[0]}" "${lines[1]}" || fail "Retry-After: 1 not waited for (${lines[*]})"

# --- timeout: dead letter after max_attempts, in words ---
ctl group create slow --topic t-slow --webhook-timeout 300ms --backoff-min 50ms --backoff-max 100ms \
	--max-attempts 2 --webhook "$base/s/sleep2/slow" >/dev/null || fail "group create slow"
ctl arm k-slow --in 50ms --topic t-slow >/dev/null || fail "arm"
wait_for group_is slow dead_letters 1
[ "$(dead_error slow)" = "timeout after 300ms" ] || fail "timeout: last error '$(dead_error slow)'"
[ "$(reqs /s/sleep2/slow t | wc -l)" = 2 ] || fail "timeout: $(reqs /s/sleep2/slow t | wc -l) requests, want 2"
ctl --json dlq list slow | grep -q '"attempts":2' || fail "timeout: dead letter attempts: $(ctl --json dlq list slow)"

# --- the request timeout may not pass the ack timeout; equal to it, the request's own timeout answers ---
ctl group create toolong --topic t-toolong --ack-timeout 1s --webhook-timeout 2s --webhook "$base/s/200/toolong" \
	>/dev/null 2>"$tmp/err" && fail "a webhook timeout above the ack timeout was taken"
grep -q "raise --ack-timeout or lower --webhook-timeout" "$tmp/err" || fail "webhook timeout above ack timeout: $(cat "$tmp/err")"
ctl group create even --topic t-even --ack-timeout 1s --webhook-timeout 1s --max-attempts 1 \
	--webhook "$base/s/sleep2/even" >/dev/null || fail "group create even"
ctl arm k-even --in 50ms --topic t-even >/dev/null || fail "arm"
wait_for group_is even dead_letters 1
[ "$(dead_error even)" = "timeout after 1s" ] || fail "equal timeouts: last error '$(dead_error even)', want the request's"
[ "$(group_int even timeouts)" = 0 ] || fail "equal timeouts: the group's ack timeout answered: $(ctl --json group show even)"

# --- connection refused: a port nobody listens on ---
closed=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ctl group create refused --topic t-refused --backoff-min 50ms --backoff-max 100ms --max-attempts 2 \
	--webhook "http://127.0.0.1:$closed/hook" >/dev/null || fail "group create refused"
ctl arm k-refused --in 50ms --topic t-refused >/dev/null || fail "arm"
wait_for group_is refused dead_letters 1
[ "$(dead_error refused)" = "connection refused (127.0.0.1 port $closed)" ] ||
	fail "refused: last error '$(dead_error refused)'"

# --- TLS: a self-signed certificate is refused; insecure takes it ---
ctl group create tls --topic t-tls --max-attempts 1 --webhook "https://127.0.0.1:$tlsport/s/200/tls" >/dev/null ||
	fail "group create tls"
ctl group create tls-insecure --topic t-tls --webhook-insecure \
	--webhook "https://127.0.0.1:$tlsport/s/200/tls-insecure" >/dev/null || fail "group create tls-insecure"
ctl arm k-tls --in 50ms --topic t-tls --payload secret >/dev/null || fail "arm"
wait_for group_is tls dead_letters 1
case $(dead_error tls) in
"TLS: certificate verify failed (self-signed certificate)" | "TLS: certificate verify failed (self signed certificate)") ;;
*) fail "TLS: last error '$(dead_error tls)'" ;;
esac
wait_for group_is tls-insecure acked 1
[ "$(WLOG=$tlslog reqs /s/200/tls-insecure b:key b:payload)" = "k-tls c2VjcmV0" ] || fail "TLS insecure: body"
[ "$(WLOG=$tlslog reqs /s/200/tls t | wc -l)" = 0 ] || fail "TLS: a request got through an unverified certificate"

# --- 20 fires, each key failing once, through 3 at once: all acked, the bound held ---
ctl group create many --topic t-many --webhook-concurrency 3 --backoff-min 50ms --backoff-max 200ms \
	--webhook "$base/s/hold0.2-500,hold0.2/many" >/dev/null || fail "group create many"
for i in $(seq 1 20); do
	ctl arm "m-$i" --in 700ms --topic t-many >/dev/null || fail "arm m-$i"
done
wait_for got /s/hold0.2-500,hold0.2/many 40
wait_for group_is many acked 20
most=$(reqs /s/hold0.2-500,hold0.2/many concurrent | sort -n | tail -1)
[ "$most" -le 3 ] || fail "many: the server saw $most requests at once, concurrency is 3"
[ "$most" -ge 2 ] || fail "many: never 2 requests at once ($most): not concurrent"
[ "$(reqs /s/hold0.2-500,hold0.2/many b:key b:attempt | sort -u | wc -l)" = 40 ] ||
	fail "many: want each of 20 keys at attempts 1 and 2: $(reqs /s/hold0.2-500,hold0.2/many b:key b:attempt | sort | tr '\n' ' ')"

# --- nothing lost: every fire acked or a dead letter; the counters add up ---
for g in ok:1:0 retry:1:0 ra:1:0 slow:0:1 even:0:1 refused:0:1 tls:0:1 tls-insecure:1:0 many:20:0; do
	IFS=: read -r name acked dead <<<"$g"
	wait_for group_is "$name" acked "$acked"
	wait_for group_is "$name" dead_letters "$dead"
	wait_for group_is "$name" backlog 0
	wait_for group_is "$name" in_flight 0
done
stats=$(ctl --json stats)
# requests: ok 1, retry 3, ra 2, slow 2, even 1, refused 2, tls 1, tls-insecure 1, many 40; failures: 2 + 1 + 2 + 1 + 2 + 1 + 20
requests=$(echo "$stats" | json_int webhook_requests)
failures=$(echo "$stats" | json_int webhook_failures)
[ "$requests" = 53 ] && [ "$failures" = 29 ] || fail "stats: webhook_requests=$requests (want 53), webhook_failures=$failures (want 29)"
# the same per group (GroupInfo webhook_requests, webhook_failures), in group show --json and its text
for g in ok:1:0 retry:3:2 ra:2:1 slow:2:2 even:1:1 refused:2:2 tls:1:1 tls-insecure:1:0 many:40:20; do
	IFS=: read -r name want_req want_fail <<<"$g"
	out=$(ctl --json group show "$name")
	[ "$(json_int webhook_requests <<<"$out")" = "$want_req" ] && [ "$(json_int webhook_failures <<<"$out")" = "$want_fail" ] ||
		fail "group $name: want webhook_requests $want_req, webhook_failures $want_fail: $out"
done
ctl group show retry | grep -qx "requests      3 (2 failed)" || fail "group show retry: no 'requests 3 (2 failed)' line: $(ctl group show retry)"

# --- a URL timerd refuses to POST to (a password in it): dead letters that say why ---
ctl group create creds --topic t-creds --max-attempts 1 --webhook "http://user:s3cret@127.0.0.1:$port/x" \
	>/dev/null || fail "group create creds"
ctl arm k-creds --in 50ms --topic t-creds >/dev/null || fail "arm"
wait_for group_is creds dead_letters 1
case $(dead_error creds) in
"the webhook URL holds a user name or password"*) ;;
*) fail "creds: last error '$(dead_error creds)'" ;;
esac
! grep -q s3cret "$tmp/timerd.log" || fail "creds: the password is in timerd's log"

# --- settings changed while failing: the new URL takes the same delivery ---
ctl group create moved --topic t-moved --backoff-min 100ms --backoff-max 200ms --max-attempts 50 \
	--webhook "$base/s/500/moved-a" >/dev/null || fail "group create moved"
ctl arm k-moved --in 50ms --topic t-moved >/dev/null || fail "arm"
wait_for got /s/500/moved-a 1
ctl group create moved --topic t-moved --backoff-min 100ms --backoff-max 200ms --max-attempts 50 \
	--webhook "$base/s/200/moved-b" --update >/dev/null || fail "group create moved --update"
wait_for group_is moved acked 1
read -r id_a <<<"$(reqs /s/500/moved-a b:delivery_id | head -1)"
read -r id_b attempt_b <<<"$(reqs /s/200/moved-b b:delivery_id b:attempt)"
[ "$id_a" = "$id_b" ] && [ "$attempt_b" -ge 2 ] || fail "update: moved-a id $id_a, moved-b id $id_b attempt $attempt_b"

# --- deleted with a request in flight; the name again with another URL ---
ctl group create gone --topic t-gone --webhook "$base/s/sleep1/gone" >/dev/null || fail "group create gone"
ctl arm k-gone --in 50ms --topic t-gone >/dev/null || fail "arm"
wait_for got /s/sleep1/gone 1
ctl group delete gone >/dev/null || fail "group delete gone"
ctl group create gone --topic t-gone --webhook "$base/s/200/gone2" >/dev/null || fail "group create gone again"
ctl arm k-gone2 --in 50ms --topic t-gone >/dev/null || fail "arm"
wait_for group_is gone acked 1
[ "$(reqs /s/200/gone2 b:key)" = k-gone2 ] || fail "delete: the new group got $(reqs /s/200/gone2 b:key)"

# --- restart with a delivery failing: restored, POSTed again with its attempts counted, acked ---
ctl group create restart --topic t-restart --backoff-min 3s --backoff-max 4s --max-attempts 10 \
	--webhook "$base/s/500,200/restart" >/dev/null || fail "group create restart"
ctl arm k-restart --in 50ms --topic t-restart >/dev/null || fail "arm"
wait_for got /s/500,200/restart 1
wait_for group_is restart nacked 1
stop_timerd
start_timerd
wait_for group_is restart acked 1
mapfile -t lines < <(reqs /s/500,200/restart b:delivery_id b:attempt)
[ "${#lines[@]}" = 2 ] || fail "restart: ${#lines[@]} requests: ${lines[*]}"
read -r rid1 ra1 <<<"${lines[0]}"
read -r rid2 ra2 <<<"${lines[1]}"
[ "$rid1" = "$rid2" ] && [ "$ra1" = 1 ] && [ "$ra2" -ge 2 ] || fail "restart: requests ${lines[*]}"

stop_timerd
echo "PASS: group-webhook"
