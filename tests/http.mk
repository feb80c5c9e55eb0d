# tests/http.mk -- the HTTP/JSON API, /metrics and the OpenAPI description
# (server/http*.c, doc/http.md, doc/openapi.yaml).

HTTP_TESTS = \
	tests/regress/http.sh
TESTS += $(HTTP_TESTS)
EXTRA_DIST += $(HTTP_TESTS) tests/regress/http_api.py
