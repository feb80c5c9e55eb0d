# core/ -- the engine library: no sockets, only timerfd/eventfd.
#
# liberr.la: the TD_* codes and td_errf, alone, so that proto/ (and through
# it the client) links them without the engine.
noinst_LTLIBRARIES += core/liberr.la
core_liberr_la_SOURCES = \
	core/err.c \
	core/err.h

noinst_LTLIBRARIES += core/libcore.la
core_libcore_la_LIBADD = core/liberr.la cal/libcal.la
core_libcore_la_SOURCES = \
	core/cell.h \
	core/compiler.h \
	core/ctr.h \
	core/dispatch.c \
	core/engine.c \
	core/engine.h \
	core/engine_int.h \
	core/hash.c \
	core/hash.h \
	core/hazptr.c \
	core/hazptr.h \
	core/hist.c \
	core/hist.h \
	core/hpslots.h \
	core/idmap.c \
	core/idmap.h \
	core/llist.h \
	core/restore.c \
	core/spin.h \
	core/table.c \
	core/table.h \
	core/timer.h \
	core/wheel.c \
	core/wheel.h
