#!/usr/bin/env bash
# list.sh -- list and get show what is pending: soonest first, by topic, as a table or JSON.
. "${top_srcdir:-.}/tests/regress/lib.sh"

start_timerd
ctl arm late --in 1h --topic a >/dev/null || fail "arm"
ctl arm soon --in 30m --topic b --payload 'x y' >/dev/null || fail "arm"
ctl arm every --every 5m --topic a >/dev/null || fail "arm"
ctl --json list > "$tmp/list.json" || fail "list failed"
[ "$(wc -l < "$tmp/list.json")" -eq 3 ] || fail "list shows $(wc -l < "$tmp/list.json") timers, want 3"
[ "$(json_str key < "$tmp/list.json" | tr '\n' ' ')" = "every soon late " ] || fail "not soonest first: $(cat "$tmp/list.json")"
[ "$(ctl --json list --topic a | wc -l)" -eq 2 ] || fail "list --topic a"
ctl list > "$tmp/list.txt"
head -1 "$tmp/list.txt" | grep -q "NEXT *LEFT *PERIOD *TOPIC *KEY *ID" || fail "table header: $(head -1 "$tmp/list.txt")"
grep -q "3 timers listed" "$tmp/list.txt" || fail "table footer"
grep -E "^[0-9-]+T[0-9:.]+.* 29m5[0-9]s  *-  *b  *soon" "$tmp/list.txt" >/dev/null || fail "row for 'soon': $(cat "$tmp/list.txt")"
ctl get soon > "$tmp/get.txt" || fail "get failed"
grep -q "payload:  x y" "$tmp/get.txt" || fail "get: $(cat "$tmp/get.txt")"
[ "$(ctl --json get soon | json_str topic)" = b ] || fail "get --json"
# a wall-clock time, and a binary payload read from stdin
at=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
ctl arm wall --at "$at" >/dev/null || fail "arm --at $at"
ctl get wall | grep -q "(wall clock)" || fail "get does not mark a wall-clock timer: $(ctl get wall)"
[ "$(ctl --json get wall | json_int deadline_unix_ns)" = "$(( $(date -u -d "$at" +%s) * 1000000000 ))" ] ||
	fail "wall deadline: $(ctl --json get wall)"
printf '\000\001\377' | ctl arm bin --in 1h --payload-file - >/dev/null || fail "arm --payload-file -"
[ "$(ctl --json get bin | json_str payload_hex)" = 0001ff ] || fail "binary payload: $(ctl --json get bin)"
stop_timerd
