# tests/install.mk -- what an operator gets: the man pages (lint, flags
# against --help), make install DESTDIR=... (files, modes, soname, exports,
# pkg-config), the bash completion against a running daemon. The Debian
# package test (tests/packaging/deb.sh) builds the whole tree again, so it
# is a step of its own in .ci/run, not part of make check.
INSTALL_TESTS = \
	tests/regress/completion.sh \
	tests/regress/install.sh \
	tests/regress/man.sh
TESTS += $(INSTALL_TESTS)
EXTRA_DIST += $(INSTALL_TESTS) tests/packaging/deb.sh
