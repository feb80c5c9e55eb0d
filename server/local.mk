# server/ -- the timerd daemon.
#
# libserver.la: everything but main(), so tests can run a server in-process.
# timerd links it with the probe library (probe/libprobe.la, probe/local.mk),
# the engine (core/) and the protocol code (proto/).

noinst_LTLIBRARIES += server/libserver.la
server_libserver_la_SOURCES = \
	server/auth.c \
	server/auth.h \
	server/conn.c \
	server/errmap.c \
	server/fire.c \
	server/topic-metrics.c \
	server/topic-metrics.h \
	server/group-srv.c \
	server/group-srv.h \
	server/group.c \
	server/group.h \
	server/hmap.c \
	server/hmap.h \
	server/http-json.c \
	server/http-json.h \
	server/http-group.c \
	server/http-metrics.c \
	server/http-page.c \
	server/http-watch.c \
	server/http.c \
	server/http.h \
	server/ident.c \
	server/ident.h \
	server/journal.c \
	server/journal.h \
	server/log.c \
	server/log.h \
	server/loop.c \
	server/notify.c \
	server/notify.h \
	server/reload.c \
	server/peer.c \
	server/priv.c \
	server/priv.h \
	server/quota.c \
	server/quota.h \
	server/rpc.c \
	server/settings.c \
	server/settings.h \
	server/srv-cal.c \
	server/srv-probes.c \
	server/srv-webhook.c \
	server/srv-webhook.h \
	server/srv.c \
	server/srv.h \
	server/stats.c \
	server/statsdb.c \
	server/statsdb.h \
	server/tls.c \
	server/watch.c \
	server/webhook.c \
	server/webhook.h
server_libserver_la_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) $(PROTOBUF_C_CFLAGS) $(SQLITE3_CFLAGS) $(JANSSON_CFLAGS) $(LIBSYSTEMD_CFLAGS)

# What a program embedding the server links, in order.
SERVER_LIBS = server/libserver.la probe/libprobe.la store/libstore.la core/libcore.la proto/libproto.la \
	$(LIBEVENT_OPENSSL_LIBS) $(OPENSSL_LIBS) \
	$(LIBEVENT_LIBS) $(JANSSON_LIBS) $(SQLITE3_LIBS) $(PROTOBUF_C_LIBS) $(LIBBPF_LIBS) $(LIBSYSTEMD_LIBS)

# Consumer groups' HTTP callbacks (server/webhook.c): libcurl.
server_libserver_la_CFLAGS += $(LIBCURL_CFLAGS)
SERVER_LIBS += $(LIBCURL_LIBS)

sbin_PROGRAMS += server/timerd
server_timerd_SOURCES = server/main.c
server_timerd_CFLAGS = $(AM_CFLAGS) $(PROTOBUF_C_CFLAGS)
server_timerd_LDADD = $(SERVER_LIBS)

# The status page's files (server/www/, uPlot vendored by scripts/vendor-uplot)
# built into the daemon as C arrays by server/www/embed.sh: URL=FILE=TYPE.
WWW_ASSETS = \
	'/=index.html=text/html;charset=utf-8' \
	'/static/status.css=status.css=text/css;charset=utf-8' \
	'/static/status.js=status.js=text/javascript;charset=utf-8' \
	'/static/uPlot.LICENSE=vendor/uplot/LICENSE=text/plain;charset=utf-8' \
	'/static/uPlot.iife.min.js=vendor/uplot/uPlot.iife.min.js=text/javascript;charset=utf-8' \
	'/static/uPlot.min.css=vendor/uplot/uPlot.min.css=text/css;charset=utf-8'
WWW_FILES = \
	server/www/index.html \
	server/www/status.css \
	server/www/status.js \
	server/www/vendor/uplot/LICENSE \
	server/www/vendor/uplot/uPlot.iife.min.js \
	server/www/vendor/uplot/uPlot.min.css
server_libserver_la_SOURCES += server/www-assets.h
nodist_server_libserver_la_SOURCES = server/www-assets.c
CLEANFILES += server/www-assets.c
EXTRA_DIST += $(WWW_FILES) server/www/embed.sh server/www/vendor/uplot/VERSION
server/www-assets.c: $(srcdir)/server/www/embed.sh $(WWW_FILES:%=$(srcdir)/%) Makefile
	$(AM_V_GEN)mkdir -p server && $(SHELL) $(srcdir)/server/www/embed.sh $@ $(srcdir)/server/www $(WWW_ASSETS)
