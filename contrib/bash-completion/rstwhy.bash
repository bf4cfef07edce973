# bash completion for rstwhy(8): options, cause names, subcommands and their options.
# Options and causes are read from `rstwhy --help` (and `rstwhy SUBCOMMAND --help`), so they
# always match the installed binary.

_rstwhy_help_words()
{
	# every --long and -s option at the start of a help line (also "-4, --ipv4 / -6, --ipv6")
	"$@" --help 2>/dev/null | grep -oE '(^|[ ,/])--?[A-Za-z0-9][A-Za-z0-9-]*' |
		sed 's/^[ ,\/]//' | sort -u
}

_rstwhy_causes()
{
	# rstwhy --list-causes (id, origin, meaning), or the "Causes:" paragraph of --help
	"$1" --list-causes 2>/dev/null | cut -f1 | grep . ||
		"$1" --help 2>/dev/null | awk '/^Causes:/ { on = 1; sub(/^Causes:/, "") }
			on && /^[[:space:]]*$/ { exit }
			on { print }' | grep -oE '[a-z][a-z0-9-]*[a-z0-9]'
}

_rstwhy_subcommands()
{
	# from --help: "Subcommands: rstwhy a|b|c ..." or a "Subcommands:" paragraph of
	# "  name  text" lines; the known ones if neither
	local out
	out=$("$1" --help 2>/dev/null | awk '
		/^Subcommands:/ && /rstwhy [a-z|]+/ {
			match($0, /rstwhy [a-z|]+/); n = split(substr($0, RSTART + 7, RLENGTH - 7), w, "|")
			for (i = 1; i <= n; i++) print w[i]; exit }
		/^Subcommands:/ { on = 1; next }
		on && !/^  [a-z]/ { exit }
		on { print $1 }')
	echo "${out:-selftest match diff} help"
}

_rstwhy()
{
	local cur prev words cword
	_init_completion -s || return
	local bin=${words[0]} sub="" subs i
	subs=" $(_rstwhy_subcommands "$bin" | tr '\n' ' ') "
	for ((i = 1; i < cword; i++)); do
		if [[ ${words[i]} != -* && $subs == *" ${words[i]} "* ]]; then
			sub=${words[i]}
			break
		fi
	done

	case $sub in
	"") ;;
	help)
		COMPREPLY=($(compgen -W "${subs//help/}" -- "$cur"))
		return ;;
	explain)
		[[ $cur == -* ]] || COMPREPLY=($(compgen -W '$(_rstwhy_causes "$bin")' -- "$cur"))
		return ;;
	selftest)
		case $prev in
		--attach) COMPREPLY=($(compgen -W 'auto tracepoint fentry kprobe' -- "$cur")); return ;;
		esac
		COMPREPLY=($(compgen -W '$(_rstwhy_help_words "$bin" selftest)' -- "$cur"))
		return ;;
	*)
		case $prev in
		--window | --span | --nat) return ;;
		esac
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '$(_rstwhy_help_words "$bin" "$sub")' -- "$cur"))
		else
			_filedir
		fi
		return ;;
	esac

	case $prev in
	--cause)
		# a comma-separated list: complete the word after the last comma
		local pre="" last=$cur
		[[ $cur == *,* ]] && pre=${cur%,*}, last=${cur##*,}
		COMPREPLY=($(compgen -P "$pre" -W '$(_rstwhy_causes "$bin")' -- "$last"))
		compopt -o nospace
		return ;;
	--attach) COMPREPLY=($(compgen -W 'auto tracepoint fentry kprobe' -- "$cur")); return ;;
	--netns)
		COMPREPLY=($(compgen -f -- "${cur:-/run/netns/}"))
		return ;;
	--pcapng | --ready-file | --btf | --stats-file) _filedir; return ;;
	-p | --pid) COMPREPLY=($(compgen -W '$(command ls /proc | grep -E "^[0-9]+$")' -- "$cur")); return ;;
	-P | --port | -d | --duration | --prometheus | --prom-max-series | --wakeup-bytes) return ;;
	esac
	if [[ $cur == --summary=* ]]; then
		return
	fi
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W '$(_rstwhy_help_words "$bin")' -- "$cur"))
		[[ ${COMPREPLY-} == *= ]] && compopt -o nospace
		return
	fi
	COMPREPLY=($(compgen -W "$subs" -- "$cur"))
} &&
	complete -F _rstwhy rstwhy
