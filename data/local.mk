# data/ -- what make install puts beside the programs: the example
# configuration (generated from timerd --help by data/gen-conf), the
# tmpfiles.d and sysusers.d entries, the systemd units (written in
# systemd/), bash completion (completion/). Each directory is configure's
# (--with-systemdsystemunitdir, --with-tmpfilesdir, --with-sysusersdir,
# --with-bashcompletiondir; =no installs none).

EXTRA_DIST += data/gen-conf data/tmpfiles.d/timerd.conf data/sysusers.d/timerd.conf
CLEANFILES += data/timerd.conf

# The example configuration: every setting commented out with its default.
data/timerd.conf: $(top_srcdir)/data/gen-conf server/timerd$(EXEEXT)
	$(AM_V_GEN)$(MKDIR_P) data && TIMERD=$(abs_top_builddir)/server/timerd$(EXEEXT) \
		$(SHELL) $(top_srcdir)/data/gen-conf > $@.tmp && mv $@.tmp $@

timerdconfdir = $(sysconfdir)
examplesdir = $(docdir)/examples
examples_DATA = data/timerd.conf

# $(sysconfdir)/timerd.conf (what timerd.service reads): installed only where none exists (an
# operator's file is never overwritten), removed only if unchanged.
install-data-local: install-timerd-conf
install-timerd-conf: data/timerd.conf
	$(MKDIR_P) '$(DESTDIR)$(timerdconfdir)'
	test -f '$(DESTDIR)$(timerdconfdir)/timerd.conf' || \
		$(INSTALL_DATA) data/timerd.conf '$(DESTDIR)$(timerdconfdir)/timerd.conf'
uninstall-local: uninstall-timerd-conf
uninstall-timerd-conf:
	if cmp -s data/timerd.conf '$(DESTDIR)$(timerdconfdir)/timerd.conf'; then \
		rm -f '$(DESTDIR)$(timerdconfdir)/timerd.conf'; fi

if HAVE_TMPFILESDIR
dist_tmpfiles_DATA = data/tmpfiles.d/timerd.conf
endif
if HAVE_SYSUSERSDIR
dist_sysusers_DATA = data/sysusers.d/timerd.conf
endif

# The systemd units (systemd/, written with the daemon's systemd support):
# timerd.service gets the installed paths.
EXTRA_DIST += systemd/timerd.service.in systemd/timerd.socket
CLEANFILES += systemd/timerd.service
if HAVE_SYSTEMDSYSTEMUNITDIR
nodist_systemdsystemunit_DATA = systemd/timerd.service
dist_systemdsystemunit_DATA = systemd/timerd.socket
endif
systemd/timerd.service: $(top_srcdir)/systemd/timerd.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && sed -e 's|@sbindir[@]|$(sbindir)|g' -e 's|@bindir[@]|$(bindir)|g' \
		-e 's|@sysconfdir[@]|$(sysconfdir)|g' -e 's|@localstatedir[@]|$(localstatedir)|g' \
		-e 's|@runstatedir[@]|$(runstatedir)|g' $(top_srcdir)/systemd/timerd.service.in > $@.tmp && mv $@.tmp $@

# make distcheck installs under a private prefix: keep these there too.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$${dc_install_base}/lib/systemd/system' \
	--with-tmpfilesdir='$${dc_install_base}/lib/tmpfiles.d' \
	--with-sysusersdir='$${dc_install_base}/lib/sysusers.d' \
	--with-bashcompletiondir='$${dc_install_base}/share/bash-completion/completions'

# For tests/regress/install.sh: where make install puts things.
print-install-dirs:
	@echo "prefix='$(prefix)' bindir='$(bindir)' sbindir='$(sbindir)' libdir='$(libdir)'" \
		"includedir='$(includedir)' mandir='$(mandir)' sysconfdir='$(sysconfdir)' docdir='$(docdir)'" \
		"systemdsystemunitdir='$(systemdsystemunitdir)' tmpfilesdir='$(tmpfilesdir)'" \
		"sysusersdir='$(sysusersdir)' bashcompletiondir='$(bashcompletiondir)'" \
		"zshcompletiondir='$(zshcompletiondir)'"
.PHONY: print-install-dirs install-timerd-conf uninstall-timerd-conf

# The Debian packaging (scripts/build-deb builds it; doc/packaging.md).
EXTRA_DIST += debian
