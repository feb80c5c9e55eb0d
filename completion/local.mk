# completion/ -- bash completion for timerctl, installed where
# bash-completion looks (configure --with-bashcompletiondir; =no: none).
# tests/regress/completion.sh drives it against a running daemon.

EXTRA_DIST += completion/timerctl.bash
if HAVE_BASHCOMPLETIONDIR
nodist_bashcompletion_DATA = completion/timerctl
endif
CLEANFILES += completion/timerctl
# bash-completion loads the file named after the command.
completion/timerctl: $(top_srcdir)/completion/timerctl.bash
	$(AM_V_GEN)$(MKDIR_P) completion && cp $(top_srcdir)/completion/timerctl.bash $@

# zsh completion (completion/_timerctl, from the same --help data and
# daemon queries), where zsh looks (configure --with-zshcompletiondir;
# default $(datadir)/zsh/vendor-completions, Debian's; =no: none).
# tests/regress/completion-zsh.sh drives it in a zsh under zpty.
EXTRA_DIST += completion/_timerctl tests/regress/completion-zsh.zsh
if HAVE_ZSHCOMPLETIONDIR
dist_zshcompletion_DATA = completion/_timerctl
endif
AM_DISTCHECK_CONFIGURE_FLAGS += --with-zshcompletiondir='$${dc_install_base}/share/zsh/vendor-completions'
TESTS += tests/regress/completion-zsh.sh
EXTRA_DIST += tests/regress/completion-zsh.sh
