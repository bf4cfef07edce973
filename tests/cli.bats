#!/usr/bin/env bats
#
# Command-line behaviour: bad input, help, privileges, duration, and that no
# BPF program or link outlives the process.  No namespaces needed.

load lib/common

setup() {
	require_bin "$RSTWHY" rstwhy
}

teardown() {
	teardown_hosts
}

# rw_cli EXPECTED_STATUS ARGS...: run rstwhy (120 s at most) with stdout and
# stderr in $CLI_OUT / $CLI_ERR, and check its exit status.
rw_cli() {
	local want=$1 rc=0
	shift
	CLI_OUT="$BATS_TEST_TMPDIR/cli.out"
	CLI_ERR="$BATS_TEST_TMPDIR/cli.err"
	timeout 120 "$RSTWHY" "$@" >"$CLI_OUT" 2>"$CLI_ERR" </dev/null || rc=$?
	CLI_STATUS=$rc
	if ((rc != want)); then
		_rw_show_file "stdout" "$CLI_OUT" 40
		_rw_show_file "stderr" "$CLI_ERR" 40
		((rc == 124)) && fail "rstwhy $* did not exit within 120 s"
		fail "rstwhy $*: exit status $rc, expected $want"
	fi
}

# one_error_line ARGS...: stderr of the last rw_cli holds exactly one line,
# free of library noise.  The user's own arguments are removed before the
# "-1" check, so "invalid duration '-1'" is fine.
one_error_line() {
	local lines=() line arg clean
	mapfile -t lines <"$CLI_ERR"
	if ((${#lines[@]} != 1)) || [[ -z ${lines[0]// /} ]]; then
		_rw_show_file "stderr" "$CLI_ERR" 40
		fail "expected exactly one line on stderr, got ${#lines[@]}"
	fi
	line=${lines[0]}
	if [[ ${line,,} == *libbpf* || ${line,,} == *errno* ]]; then
		fail "error message leaks library details: $line"
	fi
	clean=$line
	for arg in "$@"; do
		clean=${clean//"$arg"/}
	done
	if [[ $clean == *-1* ]]; then
		fail "error message leaks a raw return code (-1): $line"
	fi
}

bad_usage() {
	rw_cli 2 "$@"
	one_error_line "$@"
}

@test "-P 70000 is rejected with exit 2" { bad_usage -P 70000; }
@test "-p abc is rejected with exit 2" { bad_usage -p abc; }
@test "--cause nonsense is rejected with exit 2" { bad_usage --cause nonsense; }
@test "--netns /nope is rejected with exit 2" { bad_usage --netns /nope; }
@test "--bogus is rejected with exit 2" { bad_usage --bogus; }
@test "-d 0 is rejected with exit 2" { bad_usage -d 0; }
@test "-d -1 is rejected with exit 2" { bad_usage -d -1; }
@test "-s with --summary is rejected with exit 2" { bad_usage -s --summary; }
@test "--attach bogus is rejected with exit 2" { bad_usage --attach=bogus; }

@test "--btf of a file that is not BTF: exit 1, one line, no bare libbpf code" {
	rw_cli 1 --btf /etc/hostname
	one_error_line --btf /etc/hostname
	if grep -qi 'unknown error' "$CLI_ERR"; then
		_rw_show_file "stderr" "$CLI_ERR"
		fail "a bare error code reached the user"
	fi
}

@test "--help exits 0 and documents --json" {
	rw_cli 0 --help
	if ! grep -q -- '--json' "$CLI_OUT" "$CLI_ERR"; then
		_rw_show_file "stdout" "$CLI_OUT"
		fail "--help does not mention --json"
	fi
}

@test "non-root gets exit 1 and one line about root or CAP_BPF" {
	local rc=0
	CLI_OUT="$BATS_TEST_TMPDIR/cli.out"
	CLI_ERR="$BATS_TEST_TMPDIR/cli.err"
	timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups "$RSTWHY" \
		>"$CLI_OUT" 2>"$CLI_ERR" </dev/null || rc=$?
	if ((rc != 1)); then
		_rw_show_file "stderr" "$CLI_ERR" 40
		fail "non-root rstwhy: exit status $rc, expected 1"
	fi
	one_error_line
	if ! grep -qiE 'root|CAP_BPF' "$CLI_ERR"; then
		fail "message does not mention root or CAP_BPF: $(cat "$CLI_ERR")"
	fi
}

@test "-d 1 exits 0 on its own and prints the summary" {
	local t0 t1
	t0=$(date +%s)
	rw_cli 0 -d 1
	t1=$(date +%s)
	if ! grep -q 'captured' "$CLI_ERR"; then
		_rw_show_file "stderr" "$CLI_ERR" 40
		fail "no summary line containing 'captured' on stderr"
	fi
	echo "# rstwhy -d 1 took $((t1 - t0)) s" >&3
}

# held_ids PID prog|link: IDs of the BPF programs (or links) process PID holds open, from its
# fdinfo: only this rstwhy's, whatever else runs on the machine
held_ids() {
	grep -h "^$2_id:" /proc/"$1"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u
}

# alive prog|link IDS...: those of the IDS still loaded
alive() {
	local kind=$1 id
	shift
	for id in "$@"; do
		bpftool "$kind" show id "$id" >/dev/null 2>&1 && echo "$id"
	done
	return 0
}

@test "SIGINT leaves no BPF program or link behind" {
	command -v bpftool >/dev/null || fail "bpftool is not installed"
	local progs links left leftlinks i names
	start_rstwhy
	progs=$(held_ids "$RSTWHY_PID" prog)
	links=$(held_ids "$RSTWHY_PID" link)
	[[ -n $progs && -n $links ]] || fail "rstwhy is running but holds no BPF program or link"
	# shellcheck disable=SC2086 # one ID per word
	names=$(for i in $progs; do bpftool -j prog show id "$i" | jq -r .name; done | sort -u)
	if grep -qv '^rw_' <<<"$names"; then
		fail "programs not named with rstwhy's rw_ prefix:" "$names"
	fi
	echo "# rstwhy holds $(wc -w <<<"$progs") rw_* programs and $(wc -w <<<"$links") links" >&3
	stop_rstwhy

	# programs and links are freed asynchronously after the last fd closes
	for ((i = 0; i < 300; i++)); do
		# shellcheck disable=SC2086
		left=$(alive prog $progs)
		# shellcheck disable=SC2086
		leftlinks=$(alive link $links)
		[[ -z $left && -z $leftlinks ]] && break
		sleep 0.1
	done
	if [[ -n $leftlinks ]]; then
		bpftool link show >&2
		fail "BPF links of rstwhy still there after exit:" "${leftlinks//$'\n'/ }"
	fi
	if [[ -n $left ]]; then
		for i in $left; do bpftool prog show id "$i" >&2 || true; done
		fail "rstwhy's BPF programs still loaded after exit, ids:" "${left//$'\n'/ }"
	fi
}

# send_reset_args: arguments of the kernel's tcp:tcp_send_reset tracepoint, from its BTF
# (the typedef btf_trace_tcp_send_reset points to a prototype with ctx first): 3 from 6.10 on,
# with the reset's reason, and then the tracepoint sees every reset
send_reset_args() {
	bpftool btf dump file /sys/kernel/btf/vmlinux format raw | awk '
		/ TYPEDEF .btf_trace_tcp_send_reset. / { sub(/.*type_id=/, ""); ptr = $0; next }
		ptr != "" && $1 == "[" ptr "]" { sub(/.*type_id=/, ""); proto = $0; next }
		proto != "" && $1 == "[" proto "]" { sub(/.*vlen=/, ""); print $0 - 1; exit }'
}

# plan_fields FILE: FILE holds one JSON object, the attach plan, with every documented field
plan_fields() {
	local n
	n=$(jq -s length "$1") || { _rw_show_file plan "$1"; fail "$1 is not JSON"; }
	((n == 1)) || { _rw_show_file plan "$1"; fail "$1 holds $n JSON values, expected one"; }
	jq -e --arg k "$(uname -r)" '
		.kernel == $k and (.btf | type == "string") and
		(.tracepoints | IN("tp_btf", "raw_tp", "tracepoint")) and (.reason | type == "boolean") and
		(.passive | IN("tracepoint", "fentry", "kprobe")) and (.gap | type == "boolean") and
		(.gap_causes | type == "array") and (.aggregate | type == "boolean") and
		(.tried | type == "array") and (.hooks | length > 0) and
		all(.hooks[]; keys == ["attach", "error", "hook", "misses", "program"] and
			(.hook | type == "string") and
			(if .attach then .error == null else (.misses | type == "string") end)) and
		any(.hooks[]; .hook == "tcp:tcp_send_reset" and .attach == $p.tracepoints)
		' --argjson p "$(jq -c . "$1")" "$1" >/dev/null ||
		{ _rw_show_file plan "$1"; fail "$1: fields missing or of the wrong type"; }
}

@test "--probe -j: the plan as one JSON object, the same plan as the text" {
	local hook how
	rw_cli 0 --probe -j
	plan_fields "$CLI_OUT"
	jq -e 'all(.modes[]; (.mode | IN("fentry", "kprobe")) and (.available | type == "boolean")
		and (.in_use | type == "boolean") and (if .available then .why == null
		else (.why | type == "string") end)) and (.modes | map(.mode) | sort == ["fentry", "kprobe"])
		and (.passive == "tracepoint" or any(.modes[]; .in_use and .mode == .passive))' \
		"$CLI_OUT" >/dev/null || { _rw_show_file "--probe -j" "$CLI_OUT"; fail "modes are wrong"; }
	cp "$CLI_OUT" "$BATS_TEST_TMPDIR/plan.json"
	# the people's text says the same
	rw_cli 0 --probe
	grep -qE "^  tracepoints +$(jq -r .tracepoints "$BATS_TEST_TMPDIR/plan.json")\$" "$CLI_OUT" ||
		fail "text and JSON disagree on the tracepoint flavour"
	while IFS=$'\t' read -r hook how; do
		grep -qE "^  $hook +$how" "$CLI_OUT" || { _rw_show_file "--probe" "$CLI_OUT"; fail "JSON says $hook $how, the text does not"; }
	done < <(jq -r '.hooks[] | [.hook, .attach // "(missing|not attached)"] | @tsv' "$BATS_TEST_TMPDIR/plan.json")
	echo "# $(jq -c '{tracepoints, passive, gap, hooks: [.hooks[] | select(.attach) | .hook]}' "$BATS_TEST_TMPDIR/plan.json")" >&3
}

@test "--attach=tracepoint --probe -j: passive resets through the tracepoint, a gap only where it has no reason argument" {
	command -v bpftool >/dev/null || fail "bpftool is not installed"
	local args gap
	args=$(send_reset_args)
	[[ $args =~ ^[0-9]+$ ]] || fail "cannot read tcp:tcp_send_reset's arguments from BTF"
	gap=false
	((args >= 3)) || gap=true
	rw_cli 0 --attach=tracepoint --probe -j
	plan_fields "$CLI_OUT"
	jq -e --argjson gap "$gap" '.passive == "tracepoint" and .gap == $gap and
		(.gap_causes | if $gap then index("no-listener") != null else . == [] end) and
		all(.hooks[].hook; test("^tcp_v[46]_send_reset$") | not)' \
		"$CLI_OUT" >/dev/null || { _rw_show_file "--probe -j" "$CLI_OUT"; fail "expected passive tracepoint, gap $gap"; }
	echo "# tcp:tcp_send_reset has $args arguments: gap $gap" >&3
}

@test "the ready file holds the attach plan of the running tracer" {
	start_rstwhy -r --no-egress
	plan_fields "$READY_FILE"
	jq -e 'has("modes") | not' "$READY_FILE" >/dev/null || fail "the ready file probes modes"
	jq -e '.aggregate == false and
		any(.hooks[]; .hook == "tcp:tcp_receive_reset" and .attach != null) and
		all(.hooks[]; .hook != "net:net_dev_queue")' "$READY_FILE" >/dev/null ||
		{ _rw_show_file ready "$READY_FILE"; fail "the plan is not that of -r --no-egress"; }
	stop_rstwhy
	# written aside and renamed: nothing else is left in its directory
	[[ $(find "$(dirname "$READY_FILE")" -maxdepth 1 -name "$(basename "$READY_FILE")*" | wc -l) == 1 ]] ||
		fail "files left beside the ready file: $(ls "$(dirname "$READY_FILE")")"
	start_rstwhy -q
	jq -e '.aggregate == true' "$READY_FILE" >/dev/null || fail "-q counts in the kernel: aggregate"
	stop_rstwhy
}

@test "--ready-file in a directory that does not exist: exit 1, one line" {
	rw_cli 1 -d 1 --ready-file "$BATS_TEST_TMPDIR/nope/ready"
	one_error_line -d 1 --ready-file "$BATS_TEST_TMPDIR/nope/ready"
	grep -q -- "--ready-file" "$CLI_ERR" || fail "the message does not name --ready-file"
}

@test "--version and -V: rstwhy's version, libbpf's, the kernel release and its BTF" {
	local opt
	for opt in --version -V; do
		rw_cli 0 "$opt"
		grep -qE '^rstwhy [^ ]+$' "$CLI_OUT" || fail "$opt: no 'rstwhy VERSION' line"
		grep -qE '^libbpf [0-9]+\.[0-9]+$' "$CLI_OUT" || fail "$opt: no libbpf version"
		grep -qF "kernel $(uname -r) " "$CLI_OUT" || fail "$opt: no kernel release"
		grep -qE 'BTF (present|missing)' "$CLI_OUT" || fail "$opt: does not say whether BTF is there"
	done
	cat "$CLI_OUT" >&3
}

@test "--help lists the subcommands; rstwhy help [SUBCOMMAND]" {
	local sc
	rw_cli 0 --help
	for sc in selftest match diff help; do
		grep -qE "^  $sc " "$CLI_OUT" || fail "--help does not list the subcommand $sc"
	done
	rw_cli 0 help
	grep -q -- '--json' "$CLI_OUT" || fail "rstwhy help is not the --help text"
	for sc in match diff selftest; do
		rw_cli 0 help "$sc"
		grep -qi "rstwhy $sc" "$CLI_OUT" || fail "rstwhy help $sc does not show its usage"
	done
	bad_usage help nonsense
}

# every option with a value takes it as --opt V and as --opt=V: a bad value is refused in both
# forms with a message that names it (so the value went to that option)
@test "every option with a value accepts --opt V and --opt=V" {
	local spec opt val
	for spec in --pid:abc --port:70000 --cause:nonsense --duration:0 --attach:bogus \
		--summary:0.01 --prometheus:nonsense --prom-max-series:0 --netns:/nope \
		--btf:/nope --wakeup-bytes:-5; do
		opt=${spec%%:*} val=${spec#*:}
		rw_cli 2 "$opt" "$val"
		grep -qF -- "$val" "$CLI_ERR" || fail "$opt $val: the message does not name $val"
		rw_cli 2 "$opt=$val"
		grep -qF -- "$val" "$CLI_ERR" || fail "$opt=$val: the message does not name $val"
	done
	# options whose every value is good: both forms in a real run
	rw_cli 0 --duration 1 --ready-file "$BATS_TEST_TMPDIR/r1" --stats-file "$BATS_TEST_TMPDIR/s1" \
		--pcapng "$BATS_TEST_TMPDIR/p1" --cause no-listener --port 9 --pid 1
	rw_cli 0 --duration=1 --ready-file="$BATS_TEST_TMPDIR/r2" --stats-file="$BATS_TEST_TMPDIR/s2" \
		--pcapng="$BATS_TEST_TMPDIR/p2" --cause=no-listener --port=9 --pid=1
	for f in r1 r2 s1 s2 p1 p2; do
		[[ -e $BATS_TEST_TMPDIR/$f ]] || fail "the file of one form ($f) was not created"
	done
}

@test "--summary 5 and --summary=5 take the interval; --summary alone keeps 2 s" {
	rw_cli 0 --summary 0.5 -d 1
	grep -q 'rstwhy summary' "$CLI_OUT" || fail "--summary 0.5: no summary"
	grep -q 'last 0\.[0-9]s\|last 0\.5s' "$CLI_OUT" || fail "--summary 0.5: not a 0.5 s interval"
	rw_cli 0 --summary=0.5 -d 1
	grep -q 'rstwhy summary' "$CLI_OUT" || fail "--summary=0.5: no summary"
	# not a number after it: the default interval, and the next option is read as one
	rw_cli 0 --summary -j -d 1
	jq -e '.interval' "$CLI_OUT" >/dev/null || fail "--summary -j: no JSON summary line"
	bad_usage --summary 0.01
}

@test "--netns 12 (no namespace has that inode) is said at start, in one line" {
	rw_cli 0 --netns 12 -d 1
	[[ $(grep -c -- '--netns 12' "$CLI_ERR") == 1 ]] || { _rw_show_file stderr "$CLI_ERR"
		fail "no single line about --netns 12"; }
	head -1 "$CLI_ERR" | grep -q 'warning: --netns 12' || fail "the warning is not the first line"
}
