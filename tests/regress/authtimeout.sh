#!/usr/bin/env bash
# authtimeout.sh -- auth-timeout (doc/security.md): a TLS client that
# connects and sends nothing, and one that sends its ClientHello one byte
# every 50 ms, are closed auth-timeout after they connected and counted in
# handshake_timeouts; a client whose handshake is done stays open past it
# (no Auth is needed without a users file), and so does a silent Unix
# connection; ServerStats.insecure shows --insecure.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
command -v openssl >/dev/null || skip "needs the openssl command (Debian package openssl)"
[ -x "$PY" ] || skip "needs Debian's python3"
helper="${top_srcdir:-.}/tests/regress/auth_timeout.py"
p=$tmp/pki
mkdir -p "$p"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$p/srv.key" -out "$p/srv.pem" \
	-days 30 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null ||
	fail "openssl req"
chmod 600 "$p/srv.key"

start_tcp --state-dir "$tmp/state" --memory-only --listen "127.0.0.1:@PORT@" --tls-cert "$p/srv.pem" --tls-key "$p/srv.key" --auth-timeout 1s

# Fails unless "closed T" with 0.9 <= T <= 4 (auth-timeout 1s, a coarse clock, a busy machine).
in_time() {
	local t
	t=$(echo "$2" | sed -n 's/^closed \([0-9.]*\).*/\1/p')
	[ -n "$t" ] || fail "$1: not closed by auth-timeout: $2"
	awk -v t="$t" 'BEGIN { exit !(t >= 0.9 && t <= 4) }' || fail "$1: closed after ${t}s, not about 1s: $2"
}

out=$("$PY" "$helper" silent 127.0.0.1 "$port" 8) || fail "silent client: $out"
in_time "a client that sends nothing" "$out"
out=$("$PY" "$helper" slowtls 127.0.0.1 "$port" 8 "$p/srv.pem") || fail "slow TLS client: $out"
in_time "a ClientHello sent one byte every 50 ms" "$out"
echo "$out" | awk '{ exit !($4 < $6) }' || fail "the slow ClientHello was all sent before the close: $out"
out=$("$PY" "$helper" tlsidle 127.0.0.1 "$port" 2 "$p/srv.pem") || fail "TLS client: $out"
[ "$out" = open ] || fail "a client whose handshake was done was closed: $out"
out=$("$PY" "$helper" unixidle "$sock" 2) || fail "Unix client: $out"
[ "$out" = open ] || fail "a silent Unix connection was closed: $out"

stats=$(ctl --json stats)
[ "$(echo "$stats" | json_int handshake_timeouts)" = 2 ] || fail "handshake_timeouts is not 2: $stats"
[ "$(echo "$stats" | json_int auth_timeouts)" = 0 ] || fail "auth_timeouts is not 0: $stats"
[ "$(echo "$stats" | json_int insecure)" = 0 ] || fail "insecure is not 0: $stats"
grep -q "TLS handshake was not done 1.000s after it connected (auth-timeout)" "$tmp/timerd.log" ||
	fail "the handshake timeout was not logged"
ctl stats | grep -q WARNING && fail "timerctl stats warned without --insecure"
stop_timerd

# with a users file: a connection no identity is bound to (nobody's uid) must Auth within auth-timeout;
# root's (bound by uid to admin) need not
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && nobody=$(id -u nobody 2>/dev/null); then
	"$TIMERCTL" user add bob >"$tmp/users" 2>/dev/null || fail "timerctl user add"
	chmod 600 "$tmp/users"
	start_timerd --memory-only --users "$tmp/users" --socket-mode 0666 --auth-timeout 1s
	share_programs
	chmod 0711 "$tmp"
	out=$(setpriv --reuid "$nobody" --regid "$nobody" --clear-groups "$PY" "$OTHER_DIR/auth_timeout.py" unixidle \
		"$sock" 8) || fail "nobody's Unix client: $out"
	in_time "a connection without an identity that never sent Auth" "$out"
	out=$("$PY" "$helper" unixidle "$sock" 2) || fail "root's Unix client: $out"
	[ "$out" = open ] || fail "root's connection (bound by uid) was closed by auth-timeout: $out"
	stats=$(ctl --json stats)
	[ "$(echo "$stats" | json_int auth_timeouts)" = 1 ] || fail "auth_timeouts is not 1: $stats"
	grep -q "no Auth 1.000s after connecting (auth-timeout)" "$tmp/timerd.log" || fail "the Auth timeout was not logged"
	stop_timerd
fi

start_timerd --memory-only --insecure
[ "$(ctl --json stats | json_int insecure)" = 1 ] || fail "Stats does not show --insecure: $(ctl --json stats)"
ctl stats | grep -q "WARNING: this timerd runs with --insecure" || fail "timerctl stats did not warn: $(ctl stats)"
stop_timerd
echo PASS
