#!/usr/bin/env bash
# calendar.sh -- calendar timers through timerctl: Arm's errors (unknown time
# zone, never elapses, a time or period given too), get and list show the
# normalised form (a cron expression in its own syntax), fires at each
# elapse, durable across kill -9 (same id, schedule and next elapse), misfire fire (one late fire, recovered) and skip
# (the first elapse after the restart) after downtime in another boot, and
# SIGHUP re-reading the tz database (a copy pointed at by TZDIR whose
# Europe/Paris is swapped for Asia/Tokyo) re-places the timer at 09:00 Tokyo
# time, losing nothing.
. "${top_srcdir:-.}/tests/regress/lib.sh"

# Prints the JSON line of `list` whose key is $1 (empty if none).
list_key() {
	ctl --json list | grep "\"key\":\"$1\""
}

# Kills timerd with SIGKILL and reaps it.
crash_timerd() {
	kill -KILL "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}

# Waits up to 20s for file $1 to hold $2 lines matching the extended regex $3; fails with what it saw.
wait_lines() {
	for _ in $(seq 1 1000); do
		[ "$(grep -Ec "$3" "$1" 2>/dev/null)" -ge "$2" ] && return 0
		sleep 0.02
	done
	fail "fewer than $2 lines matching '$3' in $1 within 20s; it holds: $(cat "$1" 2>/dev/null)"
}

# True if the next elapse of timer $1 is at $2 seconds past midnight UTC.
at_utc_second() {
	local d
	d=$(ctl --json get "$1" | json_int deadline_unix_ns) || return 1
	[ -n "$d" ] && [ $(( d / 1000000000 % 86400 )) -eq "$2" ] || { echo "deadline_unix_ns $d"; return 1; }
}

# --- zones: a private copy of the tz database --------------------------------
[ -f /usr/share/zoneinfo/Europe/Paris ] && [ -f /usr/share/zoneinfo/Asia/Tokyo ] || skip "no tz database"
mkdir -p "$tmp/zi/Europe" "$tmp/zi/Asia"
cp /usr/share/zoneinfo/Europe/Paris "$tmp/zi/Europe/Paris"
cp /usr/share/zoneinfo/Asia/Tokyo "$tmp/zi/Asia/Tokyo"
cp /usr/share/zoneinfo/UTC "$tmp/zi/UTC"
export TZDIR=$tmp/zi

start_timerd

# --- errors: nothing is armed -------------------------------------------------
ctl arm bad --on-calendar 'Mon..Fri 09:00 Europe/Pariss' >/dev/null 2>"$tmp/err" && fail "an unknown zone was armed"
grep -q "unknown time zone 'Europe/Pariss'" "$tmp/err" || fail "unknown zone: $(cat "$tmp/err")"
ctl arm bad --on-calendar '*-02-30' >/dev/null 2>"$tmp/err" && fail "*-02-30 was armed"
grep -q "never elapses" "$tmp/err" || fail "*-02-30: $(cat "$tmp/err")"
ctl arm bad --on-calendar daily --in 1s >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "--on-calendar with --in is not a usage error: $(cat "$tmp/err")"
ctl get bad >/dev/null 2>&1 && fail "a refused arm left a timer"

# --- arm, get, list -----------------------------------------------------------
ctl arm report --on-calendar 'Mon..Fri 09:00 Europe/Paris' --topic reports >"$tmp/arm.out" || fail "arm report"
grep -q "on calendar 'Mon..Fri 09:00 Europe/Paris'" "$tmp/arm.out" || fail "arm output: $(cat "$tmp/arm.out")"
norm='Mon..Fri *-*-* 09:00:00 Europe/Paris'
ctl get report | grep -qF "calendar: $norm" || fail "get does not show the normalised schedule: $(ctl get report)"
ctl get report | grep -q "(wall clock)" || fail "a calendar timer is not a wall-clock timer: $(ctl get report)"
ctl list | grep -F "$norm" | grep -q report || fail "list does not show the schedule: $(ctl list)"
list_key report | grep -qF "\"calendar\":\"$norm\"" || fail "list --json: $(list_key report)"
ctl --json get report | grep -qF "\"calendar\":\"$norm\"" || fail "get --json: $(ctl --json get report)"
id=$(list_key report | json_int timer_id)
next=$(list_key report | json_int deadline_unix_ns)
# 09:00 Paris is 07:00 or 08:00 UTC
at_utc_second report 25200 >/dev/null || at_utc_second report 28800 >/dev/null || fail "report's next elapse is not 09:00 Paris time: $next"

# a cron expression is kept in its own syntax
ctl arm cron-job --on-calendar 'CRON_TZ=Asia/Tokyo 0 9 * * 1-5' >/dev/null || fail "arm a cron expression"
cron_norm='CRON_TZ=Asia/Tokyo 0 9 * * 1-5'
list_key cron-job | grep -qF "\"calendar\":\"$cron_norm\"" || fail "cron: $(list_key cron-job)"
at_utc_second cron-job 0 >/dev/null || fail "cron-job's next elapse is not 09:00 Tokyo time: $(list_key cron-job)"
cron_next=$(list_key cron-job | json_int deadline_unix_ns)

# --- fires at each elapse ------------------------------------------------------
ctl --json watch tick --for 20s --count 2 >"$tmp/tick.json" 2>&1 &
wait_for watching 1
ctl arm tick --on-calendar '*:*:* UTC' --topic tick >/dev/null || fail "arm tick"
wait_lines "$tmp/tick.json" 2 '"event":"fire".*"key":"tick"'
grep '"key":"tick"' "$tmp/tick.json" | grep -q '"final":true' && fail "a calendar fire is final: $(cat "$tmp/tick.json")"
for d in $(grep '"key":"tick"' "$tmp/tick.json" | json_int deadline_unix_ns); do
	ms=$(( d % 1000000000 / 1000000 ))
	[ "$ms" -lt 5 ] || [ "$ms" -gt 995 ] || fail "a fire of '*:*:*' was due at $d, not on a whole second"
done
ctl cancel tick >/dev/null || fail "cancel tick"

# --- durable across kill -9 ---------------------------------------------------
crash_timerd
start_timerd
after=$(list_key report)
[ "$(echo "$after" | json_int timer_id)" = "$id" ] || fail "report changed id across kill -9: $id -> $after"
[ "$(echo "$after" | json_int deadline_unix_ns)" = "$next" ] || fail "report's next elapse moved across kill -9: $next -> $after"
echo "$after" | grep -qF "\"calendar\":\"$norm\"" || fail "report lost its schedule: $after"
ctl get tick >/dev/null 2>&1 && fail "the cancelled calendar timer came back"
list_key cron-job | grep -qF "\"calendar\":\"$cron_norm\"" || fail "cron-job lost its schedule: $(list_key cron-job)"
[ "$(list_key cron-job | json_int deadline_unix_ns)" = "$cron_next" ] || fail "cron-job moved: $cron_next -> $(list_key cron-job)"

# --- misfire after downtime, in another boot ----------------------------------
ctl arm mf-fire --on-calendar '*:*:* UTC' --topic mf >/dev/null || fail "arm mf-fire"
ctl arm mf-skip --on-calendar '*:*:* UTC' --topic mf --misfire skip >/dev/null || fail "arm mf-skip"
crash_timerd
sleep 1.5	# elapses pass while timerd is down
restart_ms=$(now_ms)
TIMERD_TEST_BOOT_ID=another-boot start_timerd --recovery-grace 2s
ctl --json watch mf --for 20s >"$tmp/mf.json" 2>&1 &
mf_watch=$!
wait_lines "$tmp/mf.json" 1 '"key":"mf-fire"'
wait_lines "$tmp/mf.json" 1 '"key":"mf-skip"'
first_fire=$(grep '"key":"mf-fire"' "$tmp/mf.json" | head -1)
first_skip=$(grep '"key":"mf-skip"' "$tmp/mf.json" | head -1)
echo "$first_fire" | grep -q '"recovered":true' || fail "mf-fire's first fire after downtime is not recovered: $first_fire"
[ $(( $(echo "$first_fire" | json_int deadline_unix_ns) / 1000000 )) -lt "$restart_ms" ] ||
	fail "mf-fire's recovered fire is not an elapse from the downtime: $first_fire (restart at $restart_ms ms)"
[ "$(echo "$first_fire" | json_int missed)" -ge 1 ] || fail "mf-fire's late fire counts no missed elapses: $first_fire"
[ "$(grep -c '"key":"mf-fire".*"recovered":true' "$tmp/mf.json")" -eq 1 ] || fail "more than one recovered fire: $(cat "$tmp/mf.json")"
echo "$first_skip" | grep -q '"recovered":true' && fail "mf-skip fired for the downtime: $first_skip"
[ $(( $(echo "$first_skip" | json_int deadline_unix_ns) / 1000000 )) -ge "$restart_ms" ] ||
	fail "mf-skip's first fire is an elapse from the downtime: $first_skip (restart at $restart_ms ms)"
ctl cancel mf-fire >/dev/null && ctl cancel mf-skip >/dev/null || fail "cancel the misfire timers"
kill "$mf_watch" 2>/dev/null
wait "$mf_watch" 2>/dev/null

# --- SIGHUP: the tz database changed -------------------------------------------
ctl --json watch hup --for 20s --count 1 >"$tmp/hup.json" 2>&1 &
wait_for watching 1
ctl arm hup-tick --on-calendar '*:*:* UTC' --topic hup >/dev/null || fail "arm hup-tick"
cp /usr/share/zoneinfo/Asia/Tokyo "$tmp/zi/Europe/Paris"	# "Paris" now keeps Tokyo's rules
kill -HUP "$daemon_pid"
wait_for at_utc_second report 0	# 09:00 Tokyo is 00:00 UTC
grep -q "time zone database re-read" "$tmp/timerd.log" || fail "the log does not say the tz database was re-read"
[ "$(list_key report | json_int timer_id)" = "$id" ] || fail "report is gone after SIGHUP: $(ctl --json list)"
list_key report | grep -qF "\"calendar\":\"$norm\"" || fail "report's schedule changed after SIGHUP: $(list_key report)"
wait_lines "$tmp/hup.json" 1 '"key":"hup-tick"'	# timers go on firing
stop_timerd
exit 0
