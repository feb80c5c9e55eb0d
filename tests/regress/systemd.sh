#!/usr/bin/env bash
# systemd.sh -- timerd under a harness that plays systemd's side
# (tests/regress/sd-harness.py): NOTIFY_SOCKET (READY=1 once listening,
# STATUS=, WATCHDOG=1 at the interval and none while the dispatcher is
# stuck, RELOADING=1/READY=1, STOPPING=1), and socket activation
# (LISTEN_FDS with a Unix and a TCP socket bound by the harness; a socket
# timerd was not configured for is refused). systemd is not PID 1 here, so
# this is as close to the real unit as the machine allows.
. "${top_srcdir:-.}/tests/regress/lib.sh"

# --version of both programs: version, protocol version, build features.
for prog in "$TIMERD" "$TIMERCTL"; do
	v=$("$prog" --version) || fail "$prog --version failed"
	echo "$v" | grep -Eq '^timer(d|ctl) [0-9][^ ]* \(protocol version [0-9]+\)$' || fail "$prog --version said: $v"
	echo "$v" | grep -Eq '^features: probes: (yes|no), systemd: (yes|no), tls: (yes|no), store: [a-z]+$' ||
		fail "$prog --version lists no features: $v"
done
"$TIMERD" --version | grep -q "systemd: yes" || skip "timerd was built without libsystemd (configure --with-systemd)"
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || skip "python3 is missing"
for scenario in notify activate mismatch; do
	mkdir -p "$tmp/$scenario"
	"$py" "$top_srcdir/tests/regress/sd-harness.py" "$scenario" "$TIMERD" "$TIMERCTL" "$tmp/$scenario" ||
		fail "scenario $scenario"
done
