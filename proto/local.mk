# proto/ -- the wire contract (timerd.proto) and its generated C code.
#
# protoc-c writes proto/timerd.pb-c.{c,h} into the build directory (never the
# source tree), so `make distcheck` works from a read-only source tree.
# libproto.la: the generated code, framing helpers, a decode arena, units
# parsing, and core's error helpers (core/liberr.la); server/ and client/
# both link it.

EXTRA_DIST += proto/timerd.proto

PROTO_GEN = proto/timerd.pb-c.c proto/timerd.pb-c.h
BUILT_SOURCES += $(PROTO_GEN)
CLEANFILES += $(PROTO_GEN)

# One rule writes both files; the stamp keeps parallel make from running it twice.
proto/timerd.pb-c.c: $(srcdir)/proto/timerd.proto
	$(AM_V_GEN)$(MKDIR_P) proto && \
	  $(PROTOC_C) --c_out=$(builddir) -I$(srcdir) $(srcdir)/proto/timerd.proto
proto/timerd.pb-c.h: proto/timerd.pb-c.c
	@test -f $@ || { rm -f proto/timerd.pb-c.c; $(MAKE) $(AM_MAKEFLAGS) proto/timerd.pb-c.c; }

noinst_LTLIBRARIES += proto/libproto.la
proto_libproto_la_SOURCES = \
	proto/addr.c \
	proto/addr.h \
	proto/arena.c \
	proto/arena.h \
	proto/flat.c \
	proto/flat.h \
	proto/frame.h \
	proto/pack.c \
	proto/pack.h \
	proto/text.h \
	proto/units.c \
	proto/units.h \
	proto/unpack.c \
	proto/unpack.h \
	proto/version.h
nodist_proto_libproto_la_SOURCES = $(PROTO_GEN)
proto_libproto_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
proto_libproto_la_LIBADD = core/liberr.la $(PROTOBUF_C_LIBS)
