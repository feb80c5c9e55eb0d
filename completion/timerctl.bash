# bash completion for timerctl -- commands, flags and their arguments.
#
# Commands and flags are read from `timerctl --help` and `timerctl CMD
# --help` (once per shell), so they follow the installed timerctl. Keys,
# topics and ids come from the running daemon (`timerctl --json list`, at
# most 300 ms, silent when no daemon answers), asked at the address the
# command line names (--socket, --connect) or the default one.

# Prints the lines of a --help block after the line starting with $1, up to a blank line.
_timerctl_block()
{
	awk -v h="$1" 'on && /^[ \t]*$/ { exit } on { print } index($0, h) == 1 { on = 1 }'
}

# Prints the flags of a --help block (stdin), one per line.
_timerctl_flags()
{
	awk '/^  -/ { t = substr($0, 3); if (match(t, /  /)) t = substr(t, 1, RSTART - 1)
		n = split(t, w, " "); for (i = 1; i <= n; i++) if (w[i] ~ /^--/) { sub(/,$/, "", w[i]); print w[i] } }'
}

# Caches the commands and the global flags of timerctl ($1: the program).
_timerctl_load()
{
	[[ -n ${_timerctl_commands-} ]] && return
	local help
	help=$("$1" --help 2>/dev/null) || return
	_timerctl_commands=$(_timerctl_block "Commands:" <<<"$help" | awk '/^  [a-z]/ { print $1 }')
	_timerctl_global=$(_timerctl_block "Global options" <<<"$help" | _timerctl_flags)
}

# Prints a command's flags ($1: the program, $2: the command), cached per command.
_timerctl_cmd_flags()
{
	local var=_timerctl_flags_${2//-/_}
	if [[ -z ${!var-} ]]; then
		printf -v "$var" '%s' "$("$1" "$2" --help 2>/dev/null | _timerctl_block "Options:" | _timerctl_flags)"
	fi
	printf '%s\n' "${!var}"
}

# Prints a field ($2: key, topic or timer_id) of the daemon's timers, one per line;
# $1: the program, then the address options of the command line.
_timerctl_daemon()
{
	local prog=$1 field=$2
	shift 2
	"$prog" "$@" --json --timeout 300ms list --limit 1000 2>/dev/null </dev/null |
		sed -n "s/.*\"$field\":\\(\"\\([^\"\\\\]*\\)\"\\|\\([0-9][0-9]*\\)\\).*/\\2\\3/p" | sort -u
}

# Prints the names of the daemon's consumer groups, one per line; $1: the program, then the address options.
_timerctl_groups()
{
	local prog=$1
	shift
	"$prog" "$@" --json --timeout 300ms group list 2>/dev/null </dev/null |
		sed -n 's/^{"name":"\([^"\\]*\)".*/\1/p' | sort -u
}

# Sets COMPREPLY to the words of $1 (one per line) that start with $cur.
_timerctl_reply()
{
	local w
	COMPREPLY=()
	while IFS= read -r w; do
		[[ -n $w && $w == "$cur"* ]] && COMPREPLY+=("$w")
	done <<<"$1"
}

# Completes a duration: units after digits, else examples.
_timerctl_duration()
{
	if [[ $cur =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
		COMPREPLY=("${cur}ms" "${cur}s" "${cur}m" "${cur}h" "${cur}d" "${cur}us" "${cur}ns")
	else
		_timerctl_reply "$(printf '%s\n' 250ms 1s 5s 30s 1m 5m 1h 1h30m 1d)"
	fi
	compopt -o nospace 2>/dev/null
}

# Completes a calendar expression (systemd.time(7) or cron): examples.
_timerctl_calendar()
{
	_timerctl_reply "$(printf '%s\n' minutely hourly daily weekly monthly yearly \
		'*-*-* 09:00:00' 'Mon..Fri *-*-* 09:00' '*:0/15' '0 9 * * 1-5')"
}

# Quotes the words of COMPREPLY that hold blanks or glob characters (keys, calendar expressions).
_timerctl_quote()
{
	local i
	for i in "${!COMPREPLY[@]}"; do
		[[ ${COMPREPLY[i]} == *[[:space:]*?[]* ]] && printf -v "COMPREPLY[i]" '%q' "${COMPREPLY[i]}"
	done
	return 0
}

_timerctl()
{
	local cur prev prog=${COMP_WORDS[0]} cmd= i w addr=() sub= arg= dashdash=
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	# --flag=value: bash splits at '=' (COMP_WORDBREAKS).
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = && COMP_CWORD -ge 2 ]]; then
		prev=${COMP_WORDS[COMP_CWORD-2]}
	fi
	[[ $prog == */* || -n $(type -P "$prog") ]] || prog=timerctl
	_timerctl_load "$prog"

	# The command word, and the address options to ask the daemon with.
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--socket | --connect) addr+=("$w" "${COMP_WORDS[i+1]}"); ((i++)); continue ;;
		--socket=* | --connect=*) addr+=("$w"); continue ;;
		--timeout | --topic | --key | --id | --ack-timeout | --max-attempts | --backoff-min | --backoff-max | \
			--max-backlog | --webhook | --webhook-concurrency | --webhook-timeout | --interval | --concurrency | \
			--kill-after | --retry-after) ((i++)); continue ;;
		--) [[ $cmd == consume ]] && { dashdash=$i; break; }; continue ;;
		-*) continue ;;
		esac
		if [[ -z $cmd ]]; then
			cmd=$w
		elif [[ -z $sub ]]; then
			sub=$w
		elif [[ -z $arg ]]; then
			arg=$w
		fi
	done

	# consume GROUP -- COMMAND ARGS...: a program, then its own arguments (files).
	if [[ -n $dashdash ]]; then
		if ((COMP_CWORD == dashdash + 1)); then
			COMPREPLY=($(compgen -c -- "$cur"))
		else
			COMPREPLY=($(compgen -f -- "$cur"))
			compopt -o filenames 2>/dev/null
		fi
		return
	fi

	# The argument of the previous flag.
	case $prev in
	--ack-timeout | --backoff-min | --backoff-max | --webhook-timeout | --kill-after | --retry-after) _timerctl_duration; return ;;
	--concurrency | --max-attempts | --max-backlog | --webhook-concurrency | --webhook) return ;;
	--in | --every | --for | --history | --timeout | --wait-timeout | --interval) _timerctl_duration; return ;;
	--on-calendar) _timerctl_calendar; _timerctl_quote; return ;;
	--at | --base-time) COMPREPLY=("$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null)"); return ;;
	--topic) _timerctl_reply "$(_timerctl_daemon "$prog" topic "${addr[@]}")"; return ;;
	--key) _timerctl_reply "$(_timerctl_daemon "$prog" key "${addr[@]}")"; return ;;
	--id) _timerctl_reply "$(_timerctl_daemon "$prog" timer_id "${addr[@]}")"; return ;;
	--misfire) _timerctl_reply "$(printf '%s\n' fire skip)"; return ;;
	--socket | --db | --payload-file) COMPREPLY=($(compgen -f -- "$cur")); compopt -o filenames 2>/dev/null; return ;;
	--connect) _timerctl_reply "$(printf '%s\n' 127.0.0.1: localhost:)"; compopt -o nospace 2>/dev/null; return ;;
	--count | --limit | --payload | --iterations | --next) return ;;
	esac

	if [[ $cur == -* ]]; then
		_timerctl_reply "$([[ -n $cmd ]] && _timerctl_cmd_flags "$prog" "$cmd"; printf '%s\n' "$_timerctl_global")"
		return
	fi
	if [[ -z $cmd ]]; then
		_timerctl_reply "$(printf '%s\n' "$_timerctl_commands")"
		return
	fi
	case $cmd in
	arm | cancel | get)
		[[ -z $sub ]] && _timerctl_reply "$(_timerctl_daemon "$prog" key "${addr[@]}")" ;;
	watch) _timerctl_reply "$(_timerctl_daemon "$prog" topic "${addr[@]}")" ;;
	probe) [[ -z $sub ]] && _timerctl_reply "$(printf '%s\n' attach list detach)" ;;
	calendar) [[ -z $sub ]] && _timerctl_calendar ;;
	group)
		if [[ -z $sub ]]; then
			_timerctl_reply "$(printf '%s\n' create list show delete)"
		elif [[ -z $arg && $sub =~ ^(show|delete|create)$ ]]; then
			_timerctl_reply "$(_timerctl_groups "$prog" "${addr[@]}")"
		fi ;;
	dlq)
		if [[ -z $sub ]]; then
			_timerctl_reply "$(printf '%s\n' list retry purge)"
		elif [[ -z $arg ]]; then
			_timerctl_reply "$(_timerctl_groups "$prog" "${addr[@]}")"
		fi ;;
	consume)
		if [[ -z $sub ]]; then
			_timerctl_reply "$(_timerctl_groups "$prog" "${addr[@]}")"
		else
			_timerctl_reply --
		fi ;;
	esac
	_timerctl_quote
}

complete -F _timerctl timerctl
