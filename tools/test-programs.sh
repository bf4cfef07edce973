#!/bin/bash
# The external programs the tests and the tools they drive run, one per line: words in command
# position in tests/*.bats, tests/lib/*.bash, tests/run and the tools those run on the host
# (line starts, after | && || ; $( and the wrappers run, timeout, env, ip netns exec, nsenter),
# the arguments of
# need_cmd/need_prog/command -v, and the programs rstwhy itself starts (selftest). Only
# names that are programs on this host's PATH are printed (not builtins or test functions).
cd "$(dirname "$0")/.." || exit 1
{
	for f in tests/*.bats tests/lib/*.bash tests/run tools/kernel-matrix.sh tools/deps.sh \
		tools/debroot.sh tools/version.sh tools/test-programs.sh; do
		# drop comments and heredoc-free quoted prose is kept: a false hit costs a lookup only
		sed -E 's/(^|[[:space:]])#.*$//' "$f" |
			sed -E 's/(\$\(|\|\||&&|[|;`]|\bthen\b|\bdo\b|\belse\b)/\n/g' |
			sed -E 's/^[[:space:]]*(!|run|if|while|until|exec|time|command|sudo)[[:space:]]+/ /' |
			sed -E 's/^[[:space:]]*(timeout[[:space:]]+(-[a-z]+[[:space:]]+[^[:space:]]+[[:space:]]+)?[0-9.]+[smh]?|env([[:space:]]+(-[^[:space:]]+|[A-Z_]+=[^[:space:]]*))*|ip[[:space:]]+netns[[:space:]]+exec[[:space:]]+[^[:space:]]+|nsenter([[:space:]]+-[^[:space:]]+)*)[[:space:]]+/ /' |
			awk '{print $1}'
		grep -ohE '(need_cmd|need_prog|command -v)[[:space:]]+[a-z][a-z0-9_.+-]*' "$f" |
			awk '{print $NF}'
	done
	# programs rstwhy runs: string literals handed to its exec helper
	grep -ohE '"(ip|nft|iptables|ip6tables|ss|tc|sysctl)"' user/*.c | tr -d '"'
} | grep -E '^[a-z][a-z0-9_.+-]*$' | sort -u | while read -r w; do
	[[ $(type -t "$w") == file ]] && echo "$w"
done
