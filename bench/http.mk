# bench/http.mk -- the HTTP API's benchmarks (doc/benchmarks.md, "HTTP API
# and metrics"): bench-json (jansson beside json-c and cJSON on timerd's
# messages; json-c in its own program, bench-json-c, which bench-json runs)
# and bench-http (wrk arms/s beside timerd-bench, the cost of /metrics).
if HAVE_JSON_PEERS
noinst_PROGRAMS += bench/bench-json bench/bench-json-c
bench_bench_json_SOURCES = bench/bench-json.c
bench_bench_json_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS) $(CJSON_CFLAGS)
bench_bench_json_LDADD = $(JANSSON_LIBS) $(CJSON_LIBS)
bench_bench_json_c_SOURCES = bench/bench-json.c
bench_bench_json_c_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS) -DBJ_JSONC
bench_bench_json_c_LDADD = $(JSONC_LIBS)
endif
dist_noinst_SCRIPTS += bench/bench-http
