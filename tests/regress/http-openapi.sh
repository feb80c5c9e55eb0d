#!/usr/bin/env bash
# http-openapi.sh -- doc/openapi.yaml against the real server: every
# documented route, success and error cases, status codes and response
# shapes (tests/regress/http_openapi.py; needs Debian's python3-yaml). First
# against a timerd with a users file: every route's 401 and 403.
. "${top_srcdir:-.}/tests/regress/lib.sh"

PY=/usr/bin/python3
export top_srcdir="${top_srcdir:-.}"	# http_openapi.py reads the routes from $top_srcdir/server
[ -x "$PY" ] && "$PY" -c 'import yaml' 2>/dev/null || skip "needs Debian's python3 and python3-yaml"
command -v curl >/dev/null || skip "needs curl"
users=$tmp/users
"$TIMERCTL" user add oa-probe --allow probe >"$users" 2>"$tmp/secret" || fail "timerctl user add oa-probe"
secret=$(sed -n 's/.*: //p' "$tmp/secret")
chmod 600 "$users"
start_http --memory-only --no-stats --users "$users"
"$PY" "${top_srcdir:-.}/tests/regress/http_openapi.py" "${top_srcdir:-.}/doc/openapi.yaml" "$port" "$tmp/covered" \
	--auth "oa-probe:$secret" || fail "the server with a users file does not answer as doc/openapi.yaml says (above)"
stop_timerd
start_http --memory-only --max-timers 40 --max-watches 2 --max-payload 16KiB
"$PY" "${top_srcdir:-.}/tests/regress/http_openapi.py" "${top_srcdir:-.}/doc/openapi.yaml" "$port" "$tmp/covered" ||
	fail "the server does not answer as doc/openapi.yaml says (above)"
stop_timerd
