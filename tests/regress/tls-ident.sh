#!/usr/bin/env bash
# tls-ident.sh -- a TLS client certificate binds its identity
# (doc/security.md): the users file's cert= matches the certificate's CN, a
# DNS or an email subjectAltName; the certificate wins over the peer's uid;
# an unknown certificate (or none) leaves the connection to Auth. Clients
# run as nobody, whom the file does not bind by uid.
. "${top_srcdir:-.}/tests/regress/lib.sh"

command -v openssl >/dev/null || skip "needs the openssl command (Debian package openssl)"
[ "$(id -u)" -eq 0 ] || skip "needs root to run a client as nobody"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
nobody=$(id -u nobody 2>/dev/null) || skip "no user nobody"
chmod 0711 "$tmp"
p=$tmp/pki
mkdir -p "$p"
# mkcert NAME CN EXT: a key and a certificate signed by the CA, with extension text EXT
mkcert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/$1.key" -out "$p/$1.csr" \
		-subj "/CN=$2" 2>/dev/null || fail "openssl req $1"
	printf '%s\n' "$3" >"$p/$1.ext"
	openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.pem" -CAkey "$p/ca.key" -CAcreateserial -out "$p/$1.pem" \
		-days 30 -extfile "$p/$1.ext" 2>/dev/null || fail "openssl x509 $1"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/ca.key" -out "$p/ca.pem" \
	-days 30 -subj "/CN=timerd test ca" 2>/dev/null || fail "openssl req ca"
mkcert srv "timerd server" "subjectAltName=DNS:localhost,IP:127.0.0.1"
mkcert svc svc.example "subjectAltName=DNS:ignored.example"
mkcert alt "not a name in the file" "subjectAltName=DNS:alt.example"
mkcert mail "mailer" "subjectAltName=email:ops@example.com"
mkcert stranger stranger.example "subjectAltName=DNS:stranger.example"
chmod -R a+rX "$p"	# nobody reads the CA and its client certificates and keys
chmod 600 "$p/srv.key" "$p/ca.key"

users=$tmp/users
cat >"$users" <<EOT
svc cert=svc.example keys=svc topics=svc
alt cert=alt.example allow=get,list
mailer cert=ops@example.com allow=stats
EOT
chmod 600 "$users"
start_tcp --memory-only --no-stats --users "$users" --listen "127.0.0.1:@PORT@" --tls-cert "$p/srv.pem" --tls-key "$p/srv.key" --tls-ca "$p/ca.pem" --tls-verify-client optional
share_programs
# as CERT ARGS...: timerctl as nobody over TLS with client certificate CERT ("-": none)
as() {
	local c=$1
	shift
	if [ "$c" = - ]; then
		setpriv --reuid "$nobody" --regid "$nobody" --clear-groups "$OTHER_TIMERCTL" --connect "tls://127.0.0.1:$port" \
			--ca "$p/ca.pem" "$@"
	else
		setpriv --reuid "$nobody" --regid "$nobody" --clear-groups "$OTHER_TIMERCTL" --connect "tls://127.0.0.1:$port" \
			--ca "$p/ca.pem" --cert "$p/$c.pem" --cert-key "$p/$c.key" "$@"
	fi
}

as svc arm svc/1 --in 1h --topic svc.x >/dev/null || fail "svc (by its CN) cannot arm svc/1"
out=$(as svc arm other --in 1h --topic svc 2>&1) && fail "svc armed 'other'"
echo "$out" | grep -q "identity svc may not arm key 'other'" || fail "svc's refusal: $out"
out=$(as alt --json list) || fail "alt (by its DNS SAN) cannot list: $out"
echo "$out" | grep -q '"svc/1"' && fail "alt (keys=*) lists svc's svc/1: $out"
out=$(as alt arm a --in 1h 2>&1) && fail "alt armed"
echo "$out" | grep -q "identity alt may not arm" || fail "alt's refusal: $out"
as mail stats >/dev/null || fail "mailer (by its email SAN) cannot stats"
out=$(as stranger list 2>&1) && fail "an unknown certificate listed"
echo "$out" | grep -q "no identity" || fail "the unknown certificate's refusal: $out"
out=$(as - list 2>&1) && fail "no certificate listed"
echo "$out" | grep -q "no identity" || fail "no certificate's refusal: $out"
grep -q "is identity svc by its client certificate" "$tmp/timerd.log" || fail "the binding is not logged"
stop_timerd
echo PASS
