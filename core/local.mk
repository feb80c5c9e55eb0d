# core/ -- the engine library: no sockets, only timerfd/eventfd.
noinst_LTLIBRARIES += core/libcore.la
core_libcore_la_SOURCES = \
	core/cell.h \
	core/compiler.h \
	core/err.c \
	core/err.h \
	core/hazptr.c \
	core/hazptr.h
