#!/usr/bin/env bash
# http-tls.sh -- HTTPS on the HTTP listener (http-tls, issue 12 section 3,
# doc/http.md "TLS"): curl --cacert PUTs and GETs a timer; plaintext to the
# TLS port gets a plain 400 with the API's JSON error saying to use
# https:// (counted in /metrics), a body over twice max-frame gets the
# JSON 413, and the daemon keeps serving (curl
# https:// and openssl s_client still work); a silent connection is
# closed after http-timeout; a wrong CA fails; a client
# certificate binds its identity (cert=) as on the RPC; SIGHUP serves a new
# certificate to new connections; a non-loopback http starts with TLS and
# a users file and is refused without TLS, saying what to add.
. "${top_srcdir:-.}/tests/regress/lib.sh"

command -v openssl >/dev/null || skip "needs the openssl command (Debian package openssl)"
command -v curl >/dev/null || skip "needs curl"
p=$tmp/pki
mkdir -p "$p"

# Makes key NAME.key and certificate NAME.pem for CN, signed by CA ca.
mkcert() {
	local name=$1 cn=$2
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/$name.key" \
		-out "$p/$name.csr" -subj "/CN=$cn" 2>/dev/null || fail "openssl req $name"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$p/ext"
	openssl x509 -req -in "$p/$name.csr" -CA "$p/ca.pem" -CAkey "$p/ca.key" -CAcreateserial \
		-out "$p/$name.pem" -days 30 -extfile "$p/ext" 2>/dev/null || fail "openssl x509 $name"
	chmod 600 "$p/$name.key"
}
for ca in ca ca2; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/$ca.key" -out "$p/$ca.pem" \
		-days 30 -subj "/CN=timerd test $ca" 2>/dev/null || fail "openssl req $ca"
done
mkcert srv "timerd server one"
mkcert srv2 "timerd server two"
mkcert client "certclient"

# the users file: our uid binds admin (timerd's own user); the client certificate binds certclient
users=$tmp/users
printf 'certclient cert=certclient keys=cert topics=*\n' > "$users"
chmod 600 "$users"

# --- without TLS a non-loopback http is refused, saying what to add ---
out=$("$TIMERD" --foreground --memory-only --no-stats --socket "$tmp/x.sock" --state-dir "$tmp/sx" --log stderr \
	--http 0.0.0.0:1 --users "$users" 2>&1) && fail "timerd served a non-loopback http without TLS"
grep -q "refusing to serve HTTP on 0.0.0.0:1 without TLS" <<<"$out" || fail "non-loopback http without TLS: $out"
grep -q "http-tls = yes" <<<"$out" || fail "the refusal does not say to add http-tls: $out"
out=$("$TIMERD" --foreground --memory-only --no-stats --socket "$tmp/x.sock" --state-dir "$tmp/sx" --log stderr \
	--http 0.0.0.0:1 --tls-cert "$p/srv.pem" --tls-key "$p/srv.key" --http-tls 2>&1) &&
	fail "timerd served a non-loopback https without a users file"
grep -q "without authentication" <<<"$out" || fail "non-loopback https without users: $out"
out=$("$TIMERD" --foreground --memory-only --no-stats --socket "$tmp/x.sock" --state-dir "$tmp/sx" --log stderr \
	--http 127.0.0.1:1 --http-tls 2>&1) && fail "timerd took http-tls without a certificate"
grep -q "add --tls-cert" <<<"$out" || fail "http-tls without tls-cert: $out"

# --- a non-loopback https with a users file (config file: SIGHUP re-reads it) ---
cp "$p/srv.pem" "$p/live.pem"
cp "$p/srv.key" "$p/live.key"
started=
for _ in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 40000))
	printf 'http = 0.0.0.0:%s\nhttp-tls = yes\ntls-cert = %s\ntls-key = %s\ntls-ca = %s\ntls-verify-client = optional\nusers = %s\nhttp-timeout = 1s\n' \
		"$port" "$p/live.pem" "$p/live.key" "$p/ca.pem" "$users" > "$tmp/timerd.conf"
	"$TIMERD" --foreground --memory-only --no-stats --socket "$sock" --state-dir "$tmp/state" \
		--log "$tmp/timerd.log" --config "$tmp/timerd.conf" &
	daemon_pid=$!
	for _ in $(seq 1 250); do
		if curl -sf --cacert "$p/ca.pem" "https://localhost:$port/v1/stats" >/dev/null 2>&1; then
			started=1
			break 2
		fi
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.02
	done
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
done
[ -n "$started" ] || fail "could not start timerd with https on 0.0.0.0: $(cat "$tmp/timerd.log")"
grep -q "HTTP API on https://0.0.0.0:$port/" "$tmp/timerd.log" || fail "no https line in the log: $(cat "$tmp/timerd.log")"
U="https://localhost:$port"
hc() { curl -s --cacert "$p/ca.pem" -w ' %{http_code}' "$@"; }
expect() {	# expect STATUS WHAT OUTPUT [TEXT]
	case "$3" in *" $1") ;; *) fail "$2: wanted $1, got: $3" ;; esac
	[ -z "${4:-}" ] || grep -q -- "$4" <<<"$3" || fail "$2: the body lacks '$4': $3"
}

# --- PUT and GET a timer over HTTPS ---
out=$(hc -X PUT -d '{"in": "1h", "topic": "t", "payload": "aGk="}' "$U/v1/timers/over-https")
expect 201 "PUT over https" "$out"
out=$(hc "$U/v1/timers/over-https")
expect 200 "GET over https" "$out" '"key":"over-https"'
# a body over twice max-frame gets the JSON 413 over TLS too (http-body.sh has the plaintext cases)
head -c $((3 * 1024 * 1024)) /dev/zero >"$tmp/big"
# Expect: 100-continue: curl waits, the 413 comes from the headers (a client sending on may be reset instead)
out=$(hc -H "Expect: 100-continue" -X PUT --data-binary @"$tmp/big" "$U/v1/timers/big")
expect 413 "a 3 MiB body over https" "$out" '"code":"FRAME_TOO_LARGE"'

# --- plaintext to the TLS port: a plain 400 saying to use https://, counted and logged; serving goes on ---
out=$(curl -s --max-time 5 -w ' %{http_code}' "http://127.0.0.1:$port/v1/stats") ||
	fail "plaintext GET on the HTTPS port got no answer: $out"
expect 400 "plaintext GET on the HTTPS port" "$out" "this port speaks HTTPS (http-tls): use https://HOST:$port/"
grep -q '{"error":{"code":"INVALID","message":' <<<"$out" || fail "the 400 is not the API's JSON error: $out"
out=$(curl -s --max-time 5 -w ' %{http_code}' -X PUT -d '{"in": "1h"}' "http://localhost:$port/v1/timers/plain")
expect 400 "plaintext PUT on the HTTPS port" "$out" "use https://"
grep -q "sent plaintext to the HTTPS port" "$tmp/timerd.log" || fail "the plaintext request was not logged"
out=$(hc "$U/metrics")
expect 200 "metrics" "$out" "timerd_http_plaintext_on_tls_total 2"
kill -0 "$daemon_pid" || fail "timerd died on a plaintext request"
out=$(hc "$U/v1/timers/over-https")
expect 200 "GET after the plaintext attempt" "$out"
out=$(hc "$U/v1/timers/plain")
expect 404 "the plaintext PUT armed nothing" "$out"
out=$(openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$p/ca.pem" -verify_return_error \
	</dev/null 2>&1) || fail "openssl s_client after the plaintext attempts: $out"

# --- a connection that never starts its handshake is closed after http-timeout (1s) ---
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "connect to the TLS port"
timeout 10 cat <&3 >/dev/null || fail "a silent connection was not closed within 10s (http-timeout is 1s)"
exec 3<&-

# --- a wrong CA fails (the client does not trust the server) ---
out=$(curl -s --cacert "$p/ca2.pem" "$U/v1/stats" 2>&1) && fail "curl trusted the server with the wrong CA: $out"
out=$(hc "$U/v1/stats")
expect 200 "stats after the wrong-CA attempt" "$out"

# --- a client certificate binds its identity (keys=cert), over the uid ---
cc=(--cert "$p/client.pem" --key "$p/client.key")
out=$(hc "${cc[@]}" -X PUT -d '{"in": "1h", "topic": "t"}' "$U/v1/timers/cert%2F1")
expect 201 "certclient's PUT of cert/1" "$out"
out=$(hc "${cc[@]}" -X PUT -d '{"in": "1h", "topic": "t"}' "$U/v1/timers/other")
expect 403 "certclient's PUT of other" "$out" "PERMISSION"

# --- SIGHUP: new connections get the new certificate ---
# Prints the subject CN the server on port $port presents.
served_cn() {
	openssl s_client -connect "127.0.0.1:$port" -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -subject 2>/dev/null
}
served_cn | grep -q "timerd server one" || fail "before the reload: $(served_cn)"
cp "$p/srv2.pem" "$p/live.pem"
cp "$p/srv2.key" "$p/live.key"
kill -HUP "$daemon_pid"
wait_for sh -c "grep -q 'TLS certificate .* re-read' '$tmp/timerd.log'"
served_cn | grep -q "timerd server two" || fail "after the reload: $(served_cn)"
out=$(hc "$U/v1/timers/over-https")
expect 200 "GET after the reload" "$out"
grep -q "AddressSanitizer\|runtime error" "$tmp/timerd.log" && fail "sanitizer report: $(cat "$tmp/timerd.log")"
stop_timerd
echo PASS
