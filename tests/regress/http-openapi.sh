#!/usr/bin/env bash
# http-openapi.sh -- doc/openapi.yaml against the real server: every
# documented route, success and error cases, status codes and response
# shapes (tests/regress/http_openapi.py; needs Debian's python3-yaml).
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import yaml' 2>/dev/null || skip "needs Debian's python3 and python3-yaml"
command -v curl >/dev/null || skip "needs curl"
for _ in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 40000))
	"$TIMERD" --foreground --socket "$sock" --state-dir "$tmp/state" --log "$tmp/timerd.log" --memory-only \
		--max-timers 40 --max-watches 2 --max-payload 16KiB --http "127.0.0.1:$port" &
	daemon_pid=$!
	for _ in $(seq 1 250); do
		curl -sf "http://127.0.0.1:$port/v1/stats" >/dev/null 2>&1 && break 2
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.02
	done
	kill "$daemon_pid" 2>/dev/null
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
done
[ -n "$daemon_pid" ] || fail "could not start timerd with --http on a free port"
"$PY" "${top_srcdir:-.}/tests/regress/http_openapi.py" "${top_srcdir:-.}/doc/openapi.yaml" "$port" ||
	fail "the server does not answer as doc/openapi.yaml says (above)"
stop_timerd
