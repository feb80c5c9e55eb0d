# server/ -- the timerd daemon.
#
# libserver.la: everything but main(), so tests can run a server in-process.
# timerd links it with the probe library (probe/libprobe.la, probe/local.mk),
# the engine (core/) and the protocol code (proto/).

noinst_LTLIBRARIES += server/libserver.la
server_libserver_la_SOURCES = \
	server/conn.c \
	server/errmap.c \
	server/fire.c \
	server/hmap.c \
	server/hmap.h \
	server/journal.c \
	server/journal.h \
	server/log.c \
	server/log.h \
	server/loop.c \
	server/rpc.c \
	server/settings.c \
	server/settings.h \
	server/srv-cal.c \
	server/srv-probes.c \
	server/srv.c \
	server/srv.h \
	server/stats.c \
	server/statsdb.c \
	server/statsdb.h \
	server/watch.c
server_libserver_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(PROTOBUF_C_CFLAGS) $(SQLITE3_CFLAGS)

# What a program embedding the server links, in order.
SERVER_LIBS = server/libserver.la probe/libprobe.la store/libstore.la core/libcore.la proto/libproto.la \
	$(LIBEVENT_LIBS) $(SQLITE3_LIBS) $(PROTOBUF_C_LIBS) $(LIBBPF_LIBS)

sbin_PROGRAMS += server/timerd
server_timerd_SOURCES = server/main.c
server_timerd_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
server_timerd_LDADD = $(SERVER_LIBS)
