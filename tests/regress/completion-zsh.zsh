# completion-zsh.zsh -- prints what zsh's completion offers for a command line:
#   zsh -f completion-zsh.zsh FPATHDIR PATHDIR 'timerctl arm x --in 5'
# An interactive zsh under zpty with compinit and FPATHDIR first in fpath
# (PATHDIR first in path) gets the line and a Tab; a wrapper around compadd
# prints each match; the completion ends the shell when it is done.
zmodload zsh/zpty || exit 77
zpty z zsh -f -i
zpty -w z "PROMPT=; fpath=(${(q)1} \$fpath); path=(${(q)2} \$path); autoload -U compinit; compinit -u -D"
zpty -w z 'compprefuncs=( _cap_pre ); comppostfuncs=( _cap_post )
_cap_pre() { compadd() {
	if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
	local -a __h; builtin compadd -O __h "$@"; (( $#__h )) && print -lr -- "<M>"${^__h} > /dev/tty
	builtin compadd "$@"; } }
_cap_post() { print -r -- "<E""ND>" > /dev/tty; exit }'
zpty -w z 'bindkey "^I" complete-word; print -r -- "<RE""ADY>"'
zpty -r z l '*<READY>*'
zpty -n -w z "$3"$'\t'
while zpty -r z line; do
	[[ $line == *'<END>'* ]] && break
	[[ $line == *'<M>'* ]] && print -r -- "${${line##*<M>}%%$'\r'*}"
done
zpty -d z
