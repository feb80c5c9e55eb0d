# client/ -- libtimerd and timerctl.
#
# libtimerd.la: the installed client library (public header timerd.h,
# pkg-config file libtimerd.pc); it exports only timerd_* symbols, the
# protocol code it embeds stays private.
# timerctl: the CLI, one subcommand per cmd-*.c file.

lib_LTLIBRARIES += client/libtimerd.la
include_HEADERS = client/timerd.h
pkgconfigdir = $(libdir)/pkgconfig
pkgconfig_DATA = client/libtimerd.pc
EXTRA_DIST += client/libtimerd.pc.in

client_libtimerd_la_SOURCES = \
	client/async.c \
	client/codec.c \
	client/group.c \
	client/internal.h \
	client/sync.c \
	client/timerd.h \
	client/tls.c
client_libtimerd_la_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS)
client_libtimerd_la_LIBADD = proto/libproto.la $(LIBEVENT_OPENSSL_LIBS) $(OPENSSL_LIBS) $(LIBEVENT_LIBS) $(PROTOBUF_C_LIBS)
client_libtimerd_la_LDFLAGS = -version-info 0:0:0 -export-symbols-regex '^timerd_[a-z]'

bin_PROGRAMS += client/timerctl
client_timerctl_SOURCES = \
	client/cmd-arm.c \
	client/cmd-calendar.c \
	client/cmd-cancel.c \
	client/cmd-consume.c \
	client/cmd-dlq.c \
	client/cmd-get.c \
	client/cmd-group.c \
	client/cmd-list.c \
	client/cmd-ping.c \
	client/cmd-probe.c \
	client/cmd-stats.c \
	client/cmd-top.c \
	client/cmd-watch.c \
	client/ctl.c \
	client/timerctl.c \
	client/timerctl.h
client_timerctl_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS) $(LIBEVENT_CFLAGS)
client_timerctl_LDADD = client/libtimerd.la proto/libproto.la cal/libcal.la $(SQLITE3_LIBS) $(LIBEVENT_LIBS)
