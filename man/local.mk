# man/ -- the manual pages, in mdoc. Each page is written by hand in
# man/NAME.in; man/help2mdoc splices in what the programs say about
# themselves (timerd --help, timerctl --help, timerctl CMD --help, the
# prototypes and codes of client/timerd.h), so a flag, setting or command
# added to the code appears in the pages at the next build.
# tests/regress/man.sh lints them and compares them with --help.

MAN_PAGES = man/timerctl.1 man/libtimerd.3 man/timerd.conf.5 man/timerd.8
nodist_man_MANS = $(MAN_PAGES)
EXTRA_DIST += man/help2mdoc man/timerctl.1.in man/libtimerd.3.in man/timerd.conf.5.in man/timerd.8.in
CLEANFILES += $(MAN_PAGES)

# What help2mdoc runs: the programs of this build and the public header.
MAN_GEN = $(AM_V_GEN)$(MKDIR_P) man && \
	TIMERD=$(abs_top_builddir)/server/timerd$(EXEEXT) TIMERCTL=$(abs_top_builddir)/client/timerctl$(EXEEXT) \
	TIMERD_H=$(top_srcdir)/client/timerd.h \
	$(SHELL) $(top_srcdir)/man/help2mdoc
MAN_DEPS = $(top_srcdir)/man/help2mdoc server/timerd$(EXEEXT) client/timerctl$(EXEEXT) $(top_srcdir)/client/timerd.h

man/timerctl.1: $(top_srcdir)/man/timerctl.1.in $(MAN_DEPS)
	$(MAN_GEN) $(top_srcdir)/man/timerctl.1.in > $@.tmp && mv $@.tmp $@
man/libtimerd.3: $(top_srcdir)/man/libtimerd.3.in $(MAN_DEPS)
	$(MAN_GEN) $(top_srcdir)/man/libtimerd.3.in > $@.tmp && mv $@.tmp $@
man/timerd.conf.5: $(top_srcdir)/man/timerd.conf.5.in $(MAN_DEPS)
	$(MAN_GEN) $(top_srcdir)/man/timerd.conf.5.in > $@.tmp && mv $@.tmp $@
man/timerd.8: $(top_srcdir)/man/timerd.8.in $(MAN_DEPS)
	$(MAN_GEN) $(top_srcdir)/man/timerd.8.in > $@.tmp && mv $@.tmp $@

