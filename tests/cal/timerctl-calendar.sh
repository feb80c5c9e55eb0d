#!/bin/sh
# timerctl-calendar.sh -- timerctl calendar without a daemon: the normalised
# form, elapses in the zone and in UTC, --json, "never", a bad zone's message.
set -u
ctl=${top_builddir:-.}/client/timerctl
fail() { echo "timerctl-calendar: $*"; exit 1; }
export TZ=UTC

out=$("$ctl" calendar 'Mon..Fri 09:00 Europe/Paris' --iterations 2 --base-time 2026-12-04T12:00:00.5Z) || fail "exit $?"
echo "$out" | grep -qx 'Normalized form: Mon..Fri \*-\*-\* 09:00:00 Europe/Paris' || fail "normalised form: $out"
echo "$out" | grep -qx '    Next elapse: Mon 2026-12-07 09:00:00 CET' || fail "first elapse: $out"
echo "$out" | grep -qx '       (in UTC): Mon 2026-12-07 08:00:00 UTC' || fail "first elapse in UTC: $out"
echo "$out" | grep -qx '       Iter. #2: Tue 2026-12-08 09:00:00 CET' || fail "second elapse: $out"

out=$("$ctl" calendar --json 'CRON_TZ=Europe/Paris 30 2 * * *' --iterations 2 --base-time 2026-03-28T12:00:00Z) || fail "exit $?"
[ "$out" = '{"normalized":"CRON_TZ=Europe/Paris 30 2 * * *","elapses_unix_ns":[1774746000000000000,1774830600000000000]}' ] ||
	fail "json: $out"

out=$("$ctl" calendar '*-02-30') || fail "exit $?"
echo "$out" | grep -q 'never' || fail "never: $out"
out=$("$ctl" calendar --json '*-02-30') || fail "exit $?"
[ "$out" = '{"normalized":"*-02-30 00:00:00","elapses_unix_ns":[]}' ] || fail "json never: $out"

out=$("$ctl" calendar '*:*:0/0.25' --base-time 2026-12-04T12:00:00.1+01:00)
echo "$out" | grep -qx '    Next elapse: Fri 2026-12-04 11:00:00.250000 UTC' || fail "fractions: $out"

err=$("$ctl" calendar 'daily Europe/Pariss' 2>&1); rc=$?
[ $rc -eq 2 ] || fail "bad zone exits $rc"
echo "$err" | grep -q "unknown time zone 'Europe/Pariss'" || fail "bad zone message: $err"
echo "timerctl-calendar: ok"
