# tests/http.mk -- the HTTP/JSON API, /metrics and the OpenAPI description
# (server/http*.c, doc/http.md, doc/openapi.yaml).

HTTP_TESTS = \
	tests/regress/http-body.sh \
	tests/regress/http-groups.sh \
	tests/regress/http-limits.sh \
	tests/regress/http-openapi.sh \
	tests/regress/http-peer.sh \
	tests/regress/http-prom.sh \
	tests/regress/http-tls.sh \
	tests/regress/http-topics-reload.sh \
	tests/regress/http.sh
TESTS += $(HTTP_TESTS)
EXTRA_DIST += $(HTTP_TESTS) tests/regress/http_api.py tests/regress/http_groups.py tests/regress/http_openapi.py doc/openapi.yaml

# The JSON request decoder's fuzzer (tests/fuzz.mk's pattern: the corpus is
# replayed in make check; --enable-fuzz builds the libFuzzer binary).
HTTPJSON_SOURCES = tests/fuzz/fuzz-httpjson.c server/http-json.c server/http-json.h tests/fuzz/fuzz.h
HTTPJSON_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(JANSSON_CFLAGS) $(LIBEVENT_CFLAGS)
HTTPJSON_LIBS = proto/libproto.la $(JANSSON_LIBS) $(PROTOBUF_C_LIBS) $(LIBEVENT_LIBS)
check_PROGRAMS += tests/fuzz/replay-httpjson
TESTS += tests/fuzz/replay-httpjson
tests_fuzz_replay_httpjson_SOURCES = $(HTTPJSON_SOURCES) tests/fuzz/replay.c
tests_fuzz_replay_httpjson_CFLAGS = $(HTTPJSON_CFLAGS) -DFUZZ_NAME='"httpjson"'
tests_fuzz_replay_httpjson_LDADD = $(HTTPJSON_LIBS)
if FUZZ
FUZZ_NAMES += httpjson
noinst_PROGRAMS += tests/fuzz/fuzz-httpjson
tests_fuzz_fuzz_httpjson_SOURCES = $(HTTPJSON_SOURCES)
tests_fuzz_fuzz_httpjson_CFLAGS = $(HTTPJSON_CFLAGS)
tests_fuzz_fuzz_httpjson_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_httpjson_LDADD = $(HTTPJSON_LIBS)
endif

# metrics-topics' table swapped by a reload under counting threads (server/topic-metrics.c).
check_PROGRAMS += tests/unit/test-topic-metrics
TESTS += tests/unit/test-topic-metrics
tests_unit_test_topic_metrics_SOURCES = tests/unit/test-topic-metrics.c
tests_unit_test_topic_metrics_CFLAGS = $(RPC_TEST_CFLAGS)
tests_unit_test_topic_metrics_LDADD = $(SERVER_LIBS) $(CHECK_LIBS)
