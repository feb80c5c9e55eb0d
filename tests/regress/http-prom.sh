#!/usr/bin/env bash
# http-prom.sh -- /metrics for Prometheus: `promtool check metrics` accepts
# the exposition (no lint problem), and a real Prometheus scraping timerd
# on loopback every second sees rate(timerd_fires_total[10s]) > 0 while
# periodic timers fire. With --metrics-topics a,b, fires of a, b and c
# count as timerd_topic_fires_total{topic="a"}, "b" and "other"; a list of
# 65 topics is refused. Exit 77 without prometheus/promtool (Debian package
# prometheus) or curl.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PROM=$(command -v prometheus) || skip "needs prometheus (apt-get install prometheus)"
PROMTOOL=$(command -v promtool) || skip "needs promtool (apt-get install prometheus)"
command -v curl >/dev/null || skip "needs curl"

# Starts timerd with --http on a free loopback port (sets port).
start_http --memory-only --metrics-topics 'a, b'
base=http://127.0.0.1:$port

# per-topic fire counters: a twice, b once, c three times (and the ticks below) as "other"
for t in a:1 a:2 b:1 c:1 c:2 c:3; do
	curl -sf -X PUT -d "{\"in\": \"1ms\", \"topic\": \"${t%%:*}\"}" "$base/v1/timers/topic-$t" >/dev/null ||
		fail "arming topic-$t over HTTP"
done
topic_fires() {
	curl -sf "$base/metrics" >"$tmp/topics.txt" &&
		grep -q '^timerd_topic_fires_total{topic="a"} 2$' "$tmp/topics.txt" &&
		grep -q '^timerd_topic_fires_total{topic="b"} 1$' "$tmp/topics.txt" &&
		grep -Eq '^timerd_topic_fires_total\{topic="other"\} ([3-9]|[1-9][0-9]+)$' "$tmp/topics.txt" ||
		{ grep topic_fires "$tmp/topics.txt"; return 1; }
}
wait_for topic_fires
[ "$(grep -c '^timerd_topic_fires_total{' "$tmp/topics.txt")" = 3 ] ||
	fail "expected the series a, b and other: $(grep topic_fires "$tmp/topics.txt")"
many=$(seq -s, 1 65)
"$TIMERD" --check-config --socket "$tmp/x.sock" --state-dir "$tmp/state" --metrics-topics "$many" \
	>"$tmp/many.out" 2>&1 && fail "--metrics-topics with 65 topics was accepted"
grep -q 'more than 64 topics' "$tmp/many.out" || fail "--metrics-topics with 65 topics: $(cat "$tmp/many.out")"

for i in 1 2 3 4; do
	curl -sf -X PUT -d '{"every": "10ms", "topic": "tick"}' "$base/v1/timers/tick-$i" >/dev/null ||
		fail "arming tick-$i over HTTP"
done
metrics_fire() { curl -sf "$base/metrics" | grep -q '^timerd_fires_total [1-9]'; }
wait_for metrics_fire
curl -sf "$base/metrics" >"$tmp/metrics.txt" || fail "GET /metrics"
"$PROMTOOL" check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(cat "$tmp/promtool.out")"
grep -q '^timerd_http_replies_held_total 0$' "$tmp/metrics.txt" ||
	fail "--memory-only HTTP arms waited for a journal: $(grep held "$tmp/metrics.txt")"
grep -q '^timerd_fire_lateness_seconds_bucket{le="+Inf"} [1-9]' "$tmp/metrics.txt" ||
	fail "no fire lateness histogram: $(grep lateness "$tmp/metrics.txt" | head -5)"

cat >"$tmp/prometheus.yml" <<EOT
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: timerd
    static_configs:
      - targets: ['127.0.0.1:$port']
EOT
prom_pid=
for _ in 1 2 3 4 5; do
	pport=$((20000 + RANDOM % 40000))
	"$PROM" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
		--web.listen-address="127.0.0.1:$pport" >"$tmp/prometheus.log" 2>&1 &
	prom_pid=$!
	for _ in $(seq 1 250); do
		curl -sf "http://127.0.0.1:$pport/-/ready" >/dev/null 2>&1 && break 2
		kill -0 "$prom_pid" 2>/dev/null || break
		sleep 0.04
	done
	kill "$prom_pid" 2>/dev/null
	wait "$prom_pid" 2>/dev/null
	prom_pid=
done
[ -n "$prom_pid" ] || fail "prometheus did not start: $(tail -5 "$tmp/prometheus.log")"

# True once Prometheus computes a positive fire rate from its scrapes of timerd.
rate_positive() {
	local out
	out=$(curl -sf "http://127.0.0.1:$pport/api/v1/query" --data-urlencode 'query=rate(timerd_fires_total[10s])') || return 1
	echo "$out"
	/usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; sys.exit(0 if r and float(r[0]["value"][1]) > 0 else 1)' <<<"$out"
}
for _ in $(seq 1 60); do
	rate_positive >"$tmp/rate.out" 2>&1 && break
	sleep 0.5
done
rate_positive >"$tmp/rate.out" 2>&1 ||
	fail "Prometheus never saw rate(timerd_fires_total[10s]) > 0 in 30s: $(cat "$tmp/rate.out"); targets: $(curl -s "http://127.0.0.1:$pport/api/v1/targets" | head -c 600)"
kill "$prom_pid"
wait "$prom_pid" 2>/dev/null
stop_timerd
