#!/usr/bin/env bash
# http-topics-reload.sh -- metrics-topics follows SIGHUP (server/reload.c,
# topic-metrics.h): with metrics-topics = a, fires of a and b count as
# {topic="a"} and "other"; after the file says "a, b" and a SIGHUP, b gets
# its own series from 0 while a and "other" keep their counts (a 1 ms
# periodic timer on a fires through every swap); a list of 65 topics is
# rejected whole and the running list stays; an empty list turns the
# series off.
. "${top_srcdir:-.}/tests/regress/lib.sh"

command -v curl >/dev/null || skip "needs curl"

conf=$tmp/timerd.conf
settings() {	# settings LIST: the config file with metrics-topics = LIST
	printf 'log = %s\nmemory-only = yes\nmetrics-topics = %s\n' "$tmp/timerd.log" "$1" >"$conf"
}
settings a
start_http --config "$conf"
base=http://127.0.0.1:$port

arm() {	# arm KEY TOPIC [in|every] [DURATION]
	curl -sf -X PUT -d "{\"${3:-in}\": \"${4:-1ms}\", \"topic\": \"$2\"}" "$base/v1/timers/$1" >/dev/null ||
		fail "arming $1 on topic $2"
}
series() {	# series TOPIC: its timerd_topic_fires_total, or "none"
	curl -sf "$base/metrics" >"$tmp/m.txt" || return 1
	sed -n "s/^timerd_topic_fires_total{topic=\"$1\"} //p" "$tmp/m.txt" | grep . || echo none
}
at_least() {	# at_least TOPIC N
	local v
	v=$(series "$1")
	[ "$v" != none ] && [ "$v" -ge "$2" ]
}
is() {	# is TOPIC VALUE
	[ "$(series "$1")" = "$2" ]
}
reloads() { [ "$(grep -c "$1" "$tmp/timerd.log")" -ge "$2" ]; }

arm a1 a
arm a2 a
arm b1 b
wait_for is a 2
wait_for is other 1
is b none || fail "b has a series before it is listed: $(grep topic_fires "$tmp/m.txt")"

arm tick a every 1ms	# fires all along, through each swap below
wait_for at_least a 10
settings "a, b"
kill -HUP "$daemon_pid"
wait_for reloads "reload: metrics-topics changed: in effect now" 1
wait_for is b 0
a_then=$(series a)
[ "$a_then" -ge 10 ] || fail "a's count did not carry over the reload: $a_then ($(grep topic_fires "$tmp/m.txt"))"
is other 1 || fail "other's count did not carry over the reload: $(grep topic_fires "$tmp/m.txt")"
arm b2 b
wait_for is b 1
wait_for at_least a $((a_then + 10))

settings "$(seq -s, 1 65)"
kill -HUP "$daemon_pid"
wait_for reloads "reload rejected" 1
grep "reload rejected" "$tmp/timerd.log" | grep -q "more than 64 topics" ||
	fail "the rejected reload does not say why: $(grep 'reload rejected' "$tmp/timerd.log")"
is b 1 || fail "the rejected list changed the series: $(grep topic_fires "$tmp/m.txt")"

settings ""
kill -HUP "$daemon_pid"
wait_for reloads "reload: metrics-topics changed: in effect now" 2
wait_for is a none
is other none || fail "an empty metrics-topics left series: $(grep topic_fires "$tmp/m.txt")"
ctl ping >/dev/null || fail "timerd stopped serving after the reloads"
stop_timerd
exit 0
