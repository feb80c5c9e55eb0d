# store/ -- the durable timer store (SQLite): journal, snapshot, load.
# No engine, no sockets: records in, records out (store.h).
noinst_LTLIBRARIES += store/libstore.la
store_libstore_la_SOURCES = \
	store/store.c \
	store/store.h
store_libstore_la_CFLAGS = $(AM_CFLAGS) $(SQLITE3_CFLAGS)
