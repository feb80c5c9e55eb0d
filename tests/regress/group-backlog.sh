#!/usr/bin/env bash
# group-backlog.sh -- deliveries while no consumer is subscribed wait in the
# group's backlog (durably: across a restart of timerd) and go out oldest
# first when a consumer comes; max_backlog bounds it, the deliveries past it
# counted in backlog_dropped; the newest are refused (doc/delivery.md).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/group-lib.sh"

start_timerd --fsync always
ctl group create later --topic q --backoff-min 10ms --backoff-max 40ms >/dev/null || fail "group create"

# --- backlog while no consumer, drained in fire order ---------------------------
# five one-shots firing 40ms apart at absolute times, armed in another order
base=$(( $(now_ms) + 2000 ))
for k in e c a d b; do
	case $k in a) off=0 ;; b) off=40 ;; c) off=80 ;; d) off=120 ;; e) off=160 ;; esac
	ms=$((base + off))
	at=$(date -u -d "@$((ms / 1000))" +%Y-%m-%dT%H:%M:%S).$(printf '%03d' $((ms % 1000)))Z
	ctl arm "$k" --at "$at" --topic q --payload "$k" >/dev/null || fail "arm $k --at $at"
done
[ $(( $(now_ms) )) -lt "$base" ] || fail "arming took over 2s: the fire order is not the one meant"
wait_for group_is later backlog 5
[ "$(group_field later in_flight)" = 0 ] || fail "in flight with no consumer: $(ctl --json group show later)"
# durable: still there after a restart
stop_timerd
start_timerd --fsync always
wait_for group_is later backlog 5
start_consumer later --concurrency 1
c=$consumer_pid
wait_for logged_atleast 5 '^end [a-e] '
order=$(sed -n 's/^start \([a-e]\) .*/\1/p' "$joblog" | tr -d '\n')
[ "$order" = abcde ] || consume_fail "the backlog drained as '$order', want fire order abcde"
wait_for group_is later acked 5
wait_for group_is later backlog 0
kill -TERM "$c"
wait_for gone "$c"

# --- max_backlog ------------------------------------------------------------------
ctl group create small --topic s --max-backlog 3 >/dev/null || fail "group create small"
for i in 1 2 3 4 5; do
	ctl arm "s$i" --in "${i}0ms" --topic s >/dev/null || fail "arm s$i"
done
wait_for group_is small backlog_dropped 2
wait_for group_is small backlog 3
[ "$(group_field small created)" -ge 3 ] || fail "created: $(ctl --json group show small)"
: >"$joblog"
start_consumer small
c=$consumer_pid
wait_for logged_atleast 3 '^end s[0-9] '
kept=$(sed -n 's/^start \(s[0-9]\) .*/\1/p' "$joblog" | tr '\n' ' ')
# the policy (doc/delivery.md): past max_backlog the newest fire is refused, the held ones are kept
[ "$kept" = "s1 s2 s3 " ] || consume_fail "past max_backlog kept '$kept', want the oldest three (s1 s2 s3)"
wait_for group_is small acked 3
kill -TERM "$c"
wait_for gone "$c"
stop_timerd
echo "group-backlog: ok"
