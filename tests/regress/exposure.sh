#!/usr/bin/env bash
# exposure.sh -- the exposure rules (doc/security.md): a non-loopback listen
# or http without TLS or a users file refuses to start
# saying what to add; a loopback listener takes the kernel-vouched uid as
# authentication (tcp-peer.sh: a uid the Unix socket refuses is refused);
# --insecure lifts both rules and says so loudly (log, --check-config);
# allow-remote still works, with a deprecation warning.
. "${top_srcdir:-.}/tests/regress/lib.sh"

# --check-config reads the users file and builds the TLS context: give it real ones
command -v openssl >/dev/null || skip "needs openssl to make a certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/k.pem" -out "$tmp/c.pem" \
	-days 2 -subj "/CN=localhost" 2>/dev/null || fail "openssl req"
chmod 600 "$tmp/k.pem"
echo "ops uid=4242" >"$tmp/u"
chmod 600 "$tmp/u"

# Runs timerd --check-config with the flags; prints its output, returns its status.
check() {
	"$TIMERD" --check-config --socket "$sock" --state-dir "$tmp/state" "$@" 2>&1
}

out=$(check --listen 0.0.0.0:7070) && fail "a plaintext unauthenticated 0.0.0.0 listener was accepted: $out"
for want in "without TLS or authentication" "tls-cert = CERT.pem and tls-key = KEY.pem" "users = FILE" "--insecure"; do
	echo "$out" | grep -q -- "$want" || fail "the refusal does not say '$want': $out"
done
out=$(check --listen '[::]:7070' --tls-cert "$tmp/c.pem" --tls-key "$tmp/k.pem") && fail "TLS without authentication was accepted"
echo "$out" | grep -q "without authentication.*Add users = FILE" || fail "TLS only: $out"
out=$(check --listen 0.0.0.0:7070 --users "$tmp/u") && fail "authentication without TLS was accepted"
echo "$out" | grep -q "without TLS.*Add tls-cert" || fail "users only: $out"
out=$(check --listen 0.0.0.0:7070 --tls-cert "$tmp/c.pem" --tls-key "$tmp/k.pem" --users "$tmp/u") || fail "TLS and users refused: $out"
echo "$out" | grep -qi "warning" && fail "TLS and users warned: $out"
out=$(check --http 0.0.0.0:8080 --users "$tmp/u") && fail "a non-loopback http was accepted"
echo "$out" | grep -q "refusing to serve HTTP on 0.0.0.0:8080 without TLS.*http-tls = yes" || fail "http: $out"
out=$(check --http 0.0.0.0:8080 --tls-cert "$tmp/c.pem" --tls-key "$tmp/k.pem" --http-tls) && fail "https without users was accepted"
echo "$out" | grep -q "without authentication.*Add users = FILE" || fail "https only: $out"
out=$(check --http 0.0.0.0:8080 --tls-cert "$tmp/c.pem" --tls-key "$tmp/k.pem" --http-tls --users "$tmp/u") ||
	fail "a non-loopback http with http-tls and users refused: $out"
out=$(check --listen 127.0.0.1:7070) || fail "a loopback listener was refused: $out"

# --insecure: starts, and says so at start and in --check-config
out=$(check --listen 0.0.0.0:7070 --http 0.0.0.0:8080 --insecure) || fail "--insecure refused: $out"
echo "$out" | grep -q "warning: --insecure is set" || fail "--check-config --insecure did not warn: $out"
out=$(check --listen 0.0.0.0:7070 --allow-remote) || fail "allow-remote refused: $out"
echo "$out" | grep -q "allow-remote is deprecated" || fail "allow-remote did not warn: $out"

[ "$(id -u)" -eq 0 ] || skip "the rest runs a client as nobody"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
nobody=$(id -u nobody 2>/dev/null) || skip "no user nobody"
chmod 0711 "$tmp"
start_tcp --state-dir "$tmp/state" --listen "0.0.0.0:@PORT@" --insecure
grep -q "warning: settings_log: INSECURE: --insecure is set" "$tmp/timerd.log" || fail "--insecure was not logged as a warning"
share_programs
out=$(setpriv --reuid "$nobody" --regid "$nobody" --clear-groups "$OTHER_TIMERCTL" --connect "127.0.0.1:$port" ping 2>&1) ||
	fail "--insecure lifts the loopback rule, yet nobody was refused: $out"
stop_timerd
echo PASS
