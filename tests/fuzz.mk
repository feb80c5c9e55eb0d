# tests/fuzz.mk -- libFuzzer harnesses (tests/fuzz/) and their corpus replay.
#
# Every harness defines LLVMFuzzerTestOneInput. make check links each one
# with tests/fuzz/replay.c and runs it over tests/fuzz/corpus/NAME (seeds
# and the reproducers of fixed bugs), with any compiler. configure
# --enable-fuzz (CC=clang) also builds tests/fuzz/fuzz-NAME with libFuzzer;
# `make fuzz-run` runs each for FUZZ_TIME seconds. doc/timerd.md, "Fuzzing".

FUZZ_NAMES = rpc stream spec units addr config elf response
FUZZ_SRV_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(PROTOBUF_C_CFLAGS)
FUZZ_WORLD = tests/fuzz/world.c tests/fuzz/world.h tests/fuzz/fuzz.h

check_PROGRAMS += \
	tests/fuzz/mkcorpus \
	tests/fuzz/replay-addr \
	tests/fuzz/replay-config \
	tests/fuzz/replay-rpc \
	tests/fuzz/replay-spec \
	tests/fuzz/replay-stream \
	tests/fuzz/replay-units \
	tests/fuzz/replay-elf \
	tests/fuzz/replay-response

TESTS += \
	tests/fuzz/replay-addr \
	tests/fuzz/replay-config \
	tests/fuzz/replay-rpc \
	tests/fuzz/replay-spec \
	tests/fuzz/replay-stream \
	tests/fuzz/replay-units \
	tests/fuzz/replay-elf \
	tests/fuzz/replay-response

EXTRA_DIST += tests/fuzz/corpus

tests_fuzz_mkcorpus_SOURCES = tests/fuzz/mkcorpus.c client/codec.c client/internal.h client/tls.c
tests_fuzz_mkcorpus_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(OPENSSL_CFLAGS)
tests_fuzz_mkcorpus_LDADD = proto/libproto.la $(PROTOBUF_C_LIBS) $(OPENSSL_LIBS)

tests_fuzz_replay_rpc_SOURCES = tests/fuzz/fuzz-rpc.c tests/fuzz/replay.c $(FUZZ_WORLD)
tests_fuzz_replay_rpc_CFLAGS = $(FUZZ_SRV_CFLAGS) -DFUZZ_NAME='"rpc"'
tests_fuzz_replay_rpc_LDADD = $(SERVER_LIBS)

tests_fuzz_replay_stream_SOURCES = tests/fuzz/fuzz-stream.c tests/fuzz/replay.c $(FUZZ_WORLD)
tests_fuzz_replay_stream_CFLAGS = $(FUZZ_SRV_CFLAGS) -DFUZZ_NAME='"stream"'
tests_fuzz_replay_stream_LDADD = $(SERVER_LIBS)

tests_fuzz_replay_spec_SOURCES = tests/fuzz/fuzz-spec.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_spec_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS) -DFUZZ_NAME='"spec"'
tests_fuzz_replay_spec_LDADD = probe/libprobe.la $(LIBBPF_LIBS)

tests_fuzz_replay_units_SOURCES = tests/fuzz/fuzz-units.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_units_CFLAGS = $(AM_CFLAGS) -DFUZZ_NAME='"units"'
tests_fuzz_replay_units_LDADD = proto/libproto.la

tests_fuzz_replay_addr_SOURCES = tests/fuzz/fuzz-addr.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_addr_CFLAGS = $(AM_CFLAGS) -DFUZZ_NAME='"addr"'
tests_fuzz_replay_addr_LDADD = proto/libproto.la

tests_fuzz_replay_config_SOURCES = tests/fuzz/fuzz-config.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_config_CFLAGS = $(FUZZ_SRV_CFLAGS) -DFUZZ_NAME='"config"'
tests_fuzz_replay_config_LDADD = $(SERVER_LIBS)

# Security (issue 12): the probe loader's ELF reader and libtimerd's Response decoder.
tests_fuzz_replay_elf_SOURCES = tests/fuzz/fuzz-elf.c tests/fuzz/replay.c tests/fuzz/fuzz.h
tests_fuzz_replay_elf_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS) -DFUZZ_NAME='"elf"'
tests_fuzz_replay_elf_LDADD = probe/libprobe.la $(LIBBPF_LIBS)

tests_fuzz_replay_response_SOURCES = tests/fuzz/fuzz-response.c tests/fuzz/replay.c tests/fuzz/fuzz.h client/codec.c client/group.c client/internal.h client/tls.c
tests_fuzz_replay_response_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(OPENSSL_CFLAGS) -DFUZZ_NAME='"response"'
tests_fuzz_replay_response_LDADD = proto/libproto.la $(PROTOBUF_C_LIBS) $(OPENSSL_LIBS)

# Rewrites the rpc and stream seeds with the client's encoder.
fuzz-seeds: tests/fuzz/mkcorpus
	$(MKDIR_P) $(srcdir)/tests/fuzz/corpus && tests/fuzz/mkcorpus $(srcdir)/tests/fuzz/corpus
.PHONY: fuzz-seeds fuzz-run

if FUZZ
# libFuzzer links its own main(); the libraries are already instrumented
# (configure adds -fsanitize=fuzzer-no-link,address,undefined to everything).
FUZZER_LINK = $(AM_LDFLAGS) -fsanitize=fuzzer

noinst_PROGRAMS += \
	tests/fuzz/fuzz-addr \
	tests/fuzz/fuzz-config \
	tests/fuzz/fuzz-rpc \
	tests/fuzz/fuzz-spec \
	tests/fuzz/fuzz-stream \
	tests/fuzz/fuzz-units \
	tests/fuzz/fuzz-elf \
	tests/fuzz/fuzz-response

tests_fuzz_fuzz_elf_SOURCES = tests/fuzz/fuzz-elf.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_elf_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
tests_fuzz_fuzz_elf_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_elf_LDADD = probe/libprobe.la $(LIBBPF_LIBS)

tests_fuzz_fuzz_response_SOURCES = tests/fuzz/fuzz-response.c tests/fuzz/fuzz.h client/codec.c client/group.c client/internal.h client/tls.c
tests_fuzz_fuzz_response_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(OPENSSL_CFLAGS)
tests_fuzz_fuzz_response_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_response_LDADD = proto/libproto.la $(PROTOBUF_C_LIBS) $(OPENSSL_LIBS)

tests_fuzz_fuzz_rpc_SOURCES = tests/fuzz/fuzz-rpc.c $(FUZZ_WORLD)
tests_fuzz_fuzz_rpc_CFLAGS = $(FUZZ_SRV_CFLAGS)
tests_fuzz_fuzz_rpc_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_rpc_LDADD = $(SERVER_LIBS)

tests_fuzz_fuzz_stream_SOURCES = tests/fuzz/fuzz-stream.c $(FUZZ_WORLD)
tests_fuzz_fuzz_stream_CFLAGS = $(FUZZ_SRV_CFLAGS)
tests_fuzz_fuzz_stream_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_stream_LDADD = $(SERVER_LIBS)

tests_fuzz_fuzz_spec_SOURCES = tests/fuzz/fuzz-spec.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_spec_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS)
tests_fuzz_fuzz_spec_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_spec_LDADD = probe/libprobe.la $(LIBBPF_LIBS)

tests_fuzz_fuzz_units_SOURCES = tests/fuzz/fuzz-units.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_units_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_units_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_units_LDADD = proto/libproto.la

tests_fuzz_fuzz_addr_SOURCES = tests/fuzz/fuzz-addr.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_addr_CFLAGS = $(AM_CFLAGS)
tests_fuzz_fuzz_addr_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_addr_LDADD = proto/libproto.la

tests_fuzz_fuzz_config_SOURCES = tests/fuzz/fuzz-config.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_config_CFLAGS = $(FUZZ_SRV_CFLAGS)
tests_fuzz_fuzz_config_LDFLAGS = $(FUZZER_LINK)
tests_fuzz_fuzz_config_LDADD = $(SERVER_LIBS)

# Runs every fuzzer for FUZZ_TIME seconds (each), new inputs into fuzz-corpus/NAME,
# crashes into fuzz-crashes/; under 2 GB of memory each, a 10 s limit per input.
FUZZ_TIME = 300
FUZZ_ARGS = -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
fuzz-run: $(noinst_PROGRAMS)
	@mkdir -p fuzz-crashes; for n in $(FUZZ_NAMES); do \
	  mkdir -p fuzz-corpus/$$n && echo "fuzz-run: $$n for $(FUZZ_TIME)s" && \
	  tests/fuzz/fuzz-$$n $(FUZZ_ARGS) -max_total_time=$(FUZZ_TIME) -artifact_prefix=fuzz-crashes/$$n- \
	    fuzz-corpus/$$n $(srcdir)/tests/fuzz/corpus/$$n || exit 1; \
	done
else
fuzz-run:
	@echo "fuzz-run: configure CC=clang --enable-fuzz first (doc/timerd.md, Fuzzing)"; exit 1
endif
