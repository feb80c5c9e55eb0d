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
