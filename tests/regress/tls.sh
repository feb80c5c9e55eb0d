#!/usr/bin/env bash
# tls.sh -- TLS on the TCP listener (issue 12 section 3): timerctl over
# tls:// (ping, arm, list, watch); the client refuses a wrong CA, an expired
# or self-signed certificate and a name mismatch with messages saying so; a
# required client certificate; plaintext/TLS mismatches both ways answered
# and logged; a world-readable key refused; SIGHUP serves a new certificate
# to new connections while an open one keeps working; TLS 1.1 refused;
# TLS 1.2 suites are ECDHE + AEAD; 500 pipelined requests in as many TLS
# records, sent at once, are all answered (the server's read-ahead is
# drained), also with close_notify right behind them, and a forged record
# closes the connection; requests followed by a bare TCP FIN (no
# close_notify) are all answered before the server closes, also arms on a
# journaling timerd whose replies wait for the commit. Python's ssl (tls_check.py) and openssl
# s_client / s_server.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
command -v openssl >/dev/null || skip "needs the openssl command (Debian package openssl)"
[ -x "$PY" ] || skip "needs Debian's python3"
check="${top_srcdir:-.}/tests/regress/tls_check.py"
p=$tmp/pki
mkdir -p "$p"

# --- a CA, a server certificate for localhost and 127.0.0.1, a client certificate ---
# Makes key NAME.key and certificate NAME.pem for CN signed by CA (self: self-signed), valid DAYS.
mkcert() {
	local name=$1 cn=$2 ca=$3 days=$4
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/$name.key" \
		-out "$p/$name.csr" -subj "/CN=$cn" 2>/dev/null || fail "openssl req $name"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$p/ext"
	if [ "$ca" = self ]; then
		openssl x509 -req -in "$p/$name.csr" -signkey "$p/$name.key" -out "$p/$name.pem" -days "$days" \
			-extfile "$p/ext" 2>/dev/null || fail "openssl x509 $name"
	else
		openssl x509 -req -in "$p/$name.csr" -CA "$p/$ca.pem" -CAkey "$p/$ca.key" -CAcreateserial \
			-out "$p/$name.pem" -days "$days" -extfile "$p/ext" 2>/dev/null || fail "openssl x509 $name"
	fi
	chmod 600 "$p/$name.key"
}
for ca in ca ca2; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/$ca.key" -out "$p/$ca.pem" \
		-days 30 -subj "/CN=timerd test $ca" 2>/dev/null || fail "openssl req $ca"
done
mkcert srv "timerd server one" ca 30
mkcert srv2 "timerd server two" ca 30
mkcert client "client one" ca 30
mkcert expired localhost ca -1
mkcert selfsigned localhost self 30

# Starts timerd NAME (socket, log $tmp/NAME.*) on a free TCP port with extra flags; sets port_NAME and pid_NAME.
# --memory-only unless journal is set (journal=--fsync=always: the journal in state-NAME).
start_on() {
	local name=$1 port pid
	shift
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		"$TIMERD" --foreground ${journal:---memory-only} --no-stats --socket "$tmp/$name.sock" --state-dir "$tmp/state-$name" \
			--log "$tmp/$name.log" --listen "127.0.0.1:$port" "$@" &
		pid=$!
		for _ in $(seq 1 250); do
			if "$TIMERCTL" --socket "$tmp/$name.sock" ping >/dev/null 2>&1; then
				eval "port_$name=$port pid_$name=$pid"
				return 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.02
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	fail "could not start timerd $name: $(cat "$tmp/$name.log")"
}
# Fails unless CMD... fails and its stderr contains TEXT.
refused() {
	local text=$1 out
	shift
	out=$("$@" 2>&1) && fail "$* should have failed; said: $out"
	grep -q -- "$text" <<<"$out" || fail "$*: expected \"$text\", got: $out"
}

# --- a key readable by others is refused, saying what to do ---
chmod 644 "$p/srv.key"
out=$("$TIMERD" --foreground --memory-only --no-stats --socket "$tmp/x.sock" --state-dir "$tmp/sx" --log stderr \
	--listen 127.0.0.1:1 --tls-cert "$p/srv.pem" --tls-key "$p/srv.key" 2>&1) && fail "timerd started with a 0644 key"
grep -q "chmod 600 $p/srv.key" <<<"$out" || fail "world-readable key: $out"
out=$("$TIMERD" --check-config --listen 127.0.0.1:1 --tls-cert "$p/srv.pem" --tls-key "$p/srv.key" 2>&1) &&
	fail "--check-config passed a 0644 key: $out"
grep -q "tls-key $p/srv.key is readable by group or others (mode 0644).*chmod 600 $p/srv.key" <<<"$out" ||
	fail "--check-config's world-readable key: $out"
chmod 600 "$p/srv.key"
out=$("$TIMERD" --check-config --listen 127.0.0.1:1 --tls-cert "$p/srv.pem" --tls-key "$p/srv.key" 2>&1) ||
	fail "--check-config refused a good certificate and key: $out"
out=$("$TIMERD" --check-config --listen 127.0.0.1:1 --tls-cert "$p/srv.pem" --tls-key "$p/srv.key" \
	--tls-ca "$p/srv.key" 2>&1) && fail "--check-config passed a key file as tls-ca: $out"
grep -q "tls-ca $p/srv.key" <<<"$out" || fail "--check-config's bad tls-ca: $out"

# --- the TLS server (config file: SIGHUP re-reads it) and a plaintext one ---
cp "$p/srv.pem" "$p/live.pem"
cp "$p/srv.key" "$p/live.key"
printf 'tls-cert = %s\ntls-key = %s\n' "$p/live.pem" "$p/live.key" > "$tmp/tls.conf"
start_on tls --config "$tmp/tls.conf"
start_on plain
T="tls://localhost:$port_tls"
tctl() { "$TIMERCTL" --connect "$T" --ca "$p/ca.pem" "$@"; }

tctl ping >/dev/null || fail "ping over TLS: $(tctl ping 2>&1)"
"$TIMERCTL" --connect "tls://127.0.0.1:$port_tls" --ca "$p/ca.pem" ping >/dev/null ||
	fail "ping over TLS by IP address (IP SAN)"
"$TIMERCTL" --connect "localhost:$port_tls" --tls --ca "$p/ca.pem" ping >/dev/null || fail "ping with --tls"
tctl arm over-tls --in 1h --topic t >/dev/null || fail "arm over TLS"
tctl list | grep -q over-tls || fail "list over TLS: $(tctl list 2>&1)"
tctl --json watch w --for 10s > "$tmp/watch.json" &
watcher=$!
wait_for "$TIMERCTL" --socket "$tmp/tls.sock" --json stats
wait_for sh -c "'$TIMERCTL' --socket '$tmp/tls.sock' --json stats | grep -q '\"watchers\":1'"
tctl arm fires-over-tls --in 50ms --topic w >/dev/null || fail "arm to watch"
wait_for grep -q fires-over-tls "$tmp/watch.json"

# --- the client refuses servers it cannot verify, and says why ---
refused "not signed by a CA this client trusts" "$TIMERCTL" --connect "$T" --ca "$p/ca2.pem" ping
refused "not signed by a CA this client trusts" "$TIMERCTL" --connect "$T" ping	# the system CAs
refused "certificate for another name" "$TIMERCTL" --connect "$T" --ca "$p/ca.pem" --server-name timerd.example ping
# expired and self-signed certificates: served by openssl s_server
for bad in expired selfsigned; do
	sport=$((20000 + RANDOM % 40000))
	openssl s_server -quiet -accept "$sport" -cert "$p/$bad.pem" -key "$p/$bad.key" </dev/null >/dev/null 2>&1 &
	spid=$!
	wait_for sh -c "echo | openssl s_client -connect 127.0.0.1:$sport >/dev/null 2>&1"
	case $bad in
	expired) want="outside its validity dates" ;;
	selfsigned) want="not signed by a CA this client trusts" ;;
	esac
	refused "$want" "$TIMERCTL" --connect "tls://localhost:$sport" --ca "$p/ca.pem" ping
	kill "$spid"
	wait "$spid" 2>/dev/null
done

# --- plaintext and TLS mismatches, both ways ---
refused "this port speaks TLS" "$TIMERCTL" --connect "127.0.0.1:$port_tls" ping
grep -q "this port speaks TLS and the client sent plaintext" "$tmp/tls.log" || fail "plaintext on the TLS port not logged"
"$PY" "$check" plain-to-tls "$port_tls" "$port_plain" "$p/ca.pem" || fail "tls_check plain-to-tls"
refused "does not speak TLS" "$TIMERCTL" --connect "tls://localhost:$port_plain" --ca "$p/ca.pem" ping
grep -q "this port speaks plaintext; a TLS client (ClientHello) connected" "$tmp/plain.log" ||
	fail "a ClientHello on the plaintext port not logged: $(cat "$tmp/plain.log")"
"$PY" "$check" tls-to-plain "$port_tls" "$port_plain" "$p/ca.pem" || fail "tls_check tls-to-plain"

# --- versions and suites ---
"$PY" "$check" tls11 "$port_tls" "$port_plain" "$p/ca.pem" || fail "tls_check tls11"
"$PY" "$check" tls12 "$port_tls" "$port_plain" "$p/ca.pem" || fail "tls_check tls12"

# --- pipelined small records are all answered (read-ahead drained), a forged record closes ---
"$PY" "$check" records "$port_tls" "$port_plain" "$p/ca.pem" || fail "tls_check records"
grep -q "TLS error: .*bad record mac" "$tmp/tls.log" || fail "the forged record was not logged: $(tail -5 "$tmp/tls.log")"
tctl ping >/dev/null || fail "ping after the forged record"

# --- requests then a bare TCP FIN (no close_notify): all answered, also arms whose replies wait for the journal ---
journal="--fsync always" start_on durable --tls-cert "$p/srv.pem" --tls-key "$p/srv.key"
"$PY" "$check" fin "$port_durable" "$port_plain" "$p/ca.pem" || fail "tls_check fin"
grep -q "unexpected eof" "$tmp/durable.log" && fail "a bare FIN was logged as a TLS error: $(grep 'unexpected eof' "$tmp/durable.log")"
kill "$pid_durable"
wait "$pid_durable" 2>/dev/null
out=$(openssl s_client -connect "127.0.0.1:$port_tls" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1) &&
	fail "openssl s_client -tls1_1 connected: $out"
out=$(openssl s_client -connect "127.0.0.1:$port_tls" -tls1_2 -cipher 'AES128-SHA' </dev/null 2>&1) &&
	fail "TLS 1.2 with RSA key exchange and CBC (AES128-SHA) connected: $out"
out=$(openssl s_client -connect "127.0.0.1:$port_tls" -CAfile "$p/ca.pem" -verify_return_error </dev/null 2>&1) ||
	fail "openssl s_client: $out"
grep -q "TLSv1.3" <<<"$out" || fail "s_client did not get TLS 1.3: $out"

# --- SIGHUP: a new certificate for new connections; the open watch keeps working ---
serial() { openssl s_client -connect "127.0.0.1:$port_tls" </dev/null 2>/dev/null | openssl x509 -noout -subject; }
serial | grep -q "server one" || fail "before the reload: $(serial)"
cp "$p/srv2.pem" "$p/live.pem"
cp "$p/srv2.key" "$p/live.key"
kill -HUP "$pid_tls"
wait_for sh -c "grep -q 'TLS certificate .* re-read' '$tmp/tls.log'"
serial | grep -q "server two" || fail "after the reload new connections got: $(serial)"
tctl arm after-reload --in 50ms --topic w >/dev/null || fail "arm after the reload"
wait_for grep -q after-reload "$tmp/watch.json"	# the watch opened before the reload still works
# a broken key on reload keeps the old certificate
echo garbage > "$p/live.key"
kill -HUP "$pid_tls"
wait_for sh -c "grep -q 'new TLS connections keep the certificate loaded before' '$tmp/tls.log'"
serial | grep -q "server two" || fail "after a failed reload: $(serial)"
tctl ping >/dev/null || fail "ping after a failed reload"
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null

# --- client certificates: required ---
start_on mtls --tls-cert "$p/srv.pem" --tls-key "$p/srv.key" --tls-ca "$p/ca.pem"
M="tls://localhost:$port_mtls"
refused "needs one" "$TIMERCTL" --connect "$M" --ca "$p/ca.pem" ping
"$TIMERCTL" --connect "$M" --ca "$p/ca.pem" --cert "$p/client.pem" --cert-key "$p/client.key" ping >/dev/null ||
	fail "ping with a client certificate: $("$TIMERCTL" --connect "$M" --ca "$p/ca.pem" --cert "$p/client.pem" --cert-key "$p/client.key" ping 2>&1)"
# before the command, --key is the certificate's key too (the issue's --cert/--key)
"$TIMERCTL" --connect "$M" --ca "$p/ca.pem" --cert "$p/client.pem" --key "$p/client.key" ping >/dev/null ||
	fail "ping with --cert/--key before the command: $("$TIMERCTL" --connect "$M" --ca "$p/ca.pem" --cert "$p/client.pem" --key "$p/client.key" ping 2>&1)"
refused "refused this client's certificate" "$TIMERCTL" --connect "$M" --ca "$p/ca.pem" \
	--cert "$p/selfsigned.pem" --cert-key "$p/selfsigned.key" ping

for n in tls plain mtls; do
	eval "pid=\$pid_$n"
	kill -TERM "$pid"
	wait "$pid" || fail "timerd $n exited with $?"
done
echo "tls.sh: ok"
