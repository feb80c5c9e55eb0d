#!/usr/bin/env bash
# http-openapi.sh -- doc/openapi.yaml against the real server: every
# documented route, success and error cases, status codes and response
# shapes (tests/regress/http_openapi.py; needs Debian's python3-yaml).
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c 'import yaml' 2>/dev/null || skip "needs Debian's python3 and python3-yaml"
command -v curl >/dev/null || skip "needs curl"
start_http --memory-only --max-timers 40 --max-watches 2 --max-payload 16KiB
"$PY" "${top_srcdir:-.}/tests/regress/http_openapi.py" "${top_srcdir:-.}/doc/openapi.yaml" "$port" ||
	fail "the server does not answer as doc/openapi.yaml says (above)"
stop_timerd
