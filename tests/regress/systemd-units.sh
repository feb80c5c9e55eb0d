#!/usr/bin/env bash
# systemd-units.sh -- systemd/timerd.service.in (substituted as an install
# would, with this build's timerd) and systemd/timerd.socket pass
# `systemd-analyze verify`, and `systemd-analyze security --offline=yes`
# rates the service's exposure at most 2.0 (1.8 when written; doc/timerd.md).
. "${top_srcdir:-.}/tests/regress/lib.sh"

command -v systemd-analyze >/dev/null || skip "systemd-analyze is missing (Debian package systemd)"
units=$tmp/units
mkdir -p "$units"
sed -e "s|@sbindir@|$top_builddir/server|g" -e "s|@sysconfdir@|/etc|g" -e "s|@bindir@|$top_builddir/client|g" \
	"$top_srcdir/systemd/timerd.service.in" >"$units/timerd.service"
cp "$top_srcdir/systemd/timerd.socket" "$units/"
grep -q '@[a-z]*@' "$units/timerd.service" && fail "unsubstituted variables left: $(grep -o '@[a-z]*@' "$units/timerd.service" | sort -u)"
out=$(cd "$units" && systemd-analyze verify --man=no timerd.service timerd.socket 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify warned: $out"
out=$(cd "$units" && systemd-analyze security --offline=yes --no-pager timerd.service 2>&1)
score=$(echo "$out" | sed -n 's/.*Overall exposure level for timerd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || skip "systemd-analyze security --offline=yes gave no score here: $(echo "$out" | tail -3)"
echo "exposure score: $score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure $score is above 2.0: $(echo "$out" | grep '✗')"
grep -q '^Type=notify' "$units/timerd.service" || fail "the service is not Type=notify"
grep -q '^WatchdogSec=' "$units/timerd.service" || fail "the service sets no WatchdogSec="
grep -q '^ExecReload=.*-HUP' "$units/timerd.service" || fail "ExecReload= does not send SIGHUP"
