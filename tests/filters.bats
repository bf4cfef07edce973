#!/usr/bin/env bats
#
# Filters applied in the kernel (-P, -4/-6, --cause, --comm, -c) show what they should, keep
# the captured-vs-TcpOutRsts check honest, and bad input is refused; owners of sockets that
# existed before rstwhy started are found (sock_diag + /proc/PID/fd).

load lib/common

HOLDCONNS="${HOLDCONNS:-$ROOT/.output/holdconns}"
TEST_CG=""
HOLD_PID=""

setup() {
	make_hosts
}

teardown() {
	if [[ -n $HOLD_PID ]]; then
		kill -TERM "$HOLD_PID" 2>/dev/null || true
		wait "$HOLD_PID" 2>/dev/null || true
	fi
	teardown_hosts
	# processes that were in the test cgroup are gone with the namespaces' scenarios
	if [[ -n $TEST_CG && -d $TEST_CG ]]; then
		rmdir "$TEST_CG" || fail "could not remove the test cgroup $TEST_CG"
	fi
}

teardown_file() {
	rw_teardown_file
}

# cgroup2_root: where cgroup v2 is mounted (pure v2 or a hybrid's "unified")
cgroup2_root() {
	awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo
}

@test "-P in the kernel: other ports cost no event, the TcpOutRsts check still adds up" {
	local other=$((SCEN_PORT + 1000)) n total filtered
	start_rstwhy --netns "$SRV_NSPATH" -P "$SCEN_PORT"
	run_scen flood 4 -n 300 -p "$other"
	run_scen no-listener 4
	stop_rstwhy

	n=$(count_events no-listener ".sport=$SCEN_PORT")
	((n >= 1)) || fail "no no-listener event on port $SCEN_PORT"
	total=$(grep -c . "$EVENTS" || true)
	((total == n)) || { _rw_show_file events "$EVENTS" 20; fail "events on other ports shown"; }
	grep -q 'captured \([0-9]*\) of \1 (100.0%)' "$RSTWHY_ERR" ||
		{ _rw_show_file stderr "$RSTWHY_ERR"; fail "captured does not match TcpOutRsts"; }
	filtered=$(sed -n 's/.*; \([0-9]*\) filtered out in the kernel.*/\1/p' "$RSTWHY_ERR")
	[[ -n $filtered ]] && ((filtered >= 300)) ||
		{ _rw_show_file stderr "$RSTWHY_ERR"; fail "expected >= 300 filtered in the kernel"; }
}

@test "-6 and --cause in the kernel: only what was asked for" {
	start_rstwhy --netns "$SRV_NSPATH" -6 --cause no-listener
	run_scen no-listener 4
	run_scen no-listener 6
	run_scen close-linger0 6
	stop_rstwhy

	assert_event no-listener .family=ipv6
	[[ $(count_events '*' .family=ipv4) == 0 ]] || fail "an IPv4 event passed -6"
	[[ $(count_events close-linger0) == 0 ]] || fail "a close-linger0 event passed --cause"
	grep -q 'filtered out in the kernel' "$RSTWHY_ERR" || fail "no kernel filter count"
}

@test "--cause netfilter-reject alone drops the stack's resets in the kernel" {
	start_rstwhy --netns "$SRV_NSPATH" --cause netfilter-reject
	run_scen no-listener 4
	stop_rstwhy
	[[ $(grep -c . "$EVENTS" || true) == 0 ]] || fail "a stack reset was shown"
	grep -q 'captured \([0-9]*\) of \1 (100.0%)' "$RSTWHY_ERR" ||
		{ _rw_show_file stderr "$RSTWHY_ERR"; fail "captured does not match TcpOutRsts"; }
}

@test "--comm: only the server of that name" {
	start_rstwhy --netns "$SRV_NSPATH" --comm srv-l0
	run_scen close-linger0 4
	run_scen close-unread 4
	stop_rstwhy

	assert_event close-linger0 .owner.comm=srv-l0
	[[ $(count_events close-unread) == 0 ]] || fail "srv-unr's reset passed --comm srv-l0"
	[[ $(count_events '*' .owner.comm=srv-unr) == 0 ]] || fail "srv-unr shown"
}

@test "-c: only sockets owned by tasks in the cgroup subtree" {
	local root
	root=$(cgroup2_root)
	[[ -n $root ]] || skip "no cgroup v2 hierarchy mounted"
	TEST_CG="$root/rstwhy-test-$$-$BATS_TEST_NUMBER"
	mkdir "$TEST_CG/" 2>/dev/null || mkdir "$TEST_CG"
	mkdir "$TEST_CG/inner"

	start_rstwhy --netns "$SRV_NSPATH" -c "$TEST_CG"
	# in a child cgroup of the subtree: moves itself, then becomes rstgen
	_rw_scen_args 4
	timeout "$RSTGEN_TIMEOUT" sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' sh \
		"$TEST_CG/inner" "$RSTGEN" close-linger0 --server-ns "$SRV_NSPATH" \
		--client-ns "$CLI_NSPATH" -a "$SCEN_SRV" -c "$SCEN_CLI" -p "$SCEN_PORT" \
		>"$BATS_TEST_TMPDIR/in.out" 2>&1 || { cat "$BATS_TEST_TMPDIR/in.out"; fail "rstgen in the cgroup failed"; }
	run_scen close-unread 4
	stop_rstwhy

	assert_event close-linger0 .owner.comm=srv-l0
	[[ $(count_events close-unread) == 0 ]] || fail "a socket outside the cgroup passed -c"
	rmdir "$TEST_CG/inner"
}

@test "-c with a missing path or one not on cgroup v2: one line, exit 2" {
	run "$RSTWHY" -c /nonexistent/cgroup
	((status == 2)) || fail "exit $status for a missing path"
	[[ ${#lines[@]} == 1 && ${lines[0]} == *"-c /nonexistent/cgroup"* ]] || fail "output: $output"
	run "$RSTWHY" -c /tmp
	((status == 2)) || fail "exit $status for a path not on cgroup v2"
	[[ ${#lines[@]} == 1 && ${lines[0]} == *"not a cgroup v2 directory"* ]] || fail "output: $output"
	run "$RSTWHY" --comm 0123456789abcdef
	((status == 2)) || fail "exit $status for a 16-byte --comm"
}

# the owners of connections made before rstwhy started: HOW is "iter" (the BPF iterator over
# open files, where the kernel has it) or "proc" (sock_diag and /proc/PID/fd, forced)
check_preexisting_owners() {
	local how=$1
	require_bin "$HOLDCONNS" holdconns
	local out="$BATS_TEST_TMPDIR/hold.out" client i port=$((SCEN_PORT + 2000))
	ip netns exec "$SRV_NS" "$HOLDCONNS" -n 400 -w 2 -k 3 -p "$port" >"$out" 2>&1 3>&- &
	HOLD_PID=$!
	RW_PIDS+=("$HOLD_PID")
	for ((i = 0; i < 600; i++)); do
		grep -q '^ready=1' "$out" && break
		kill -0 "$HOLD_PID" 2>/dev/null || { cat "$out"; fail "holdconns exited"; }
		sleep 0.1
	done
	grep -q '^ready=1' "$out" || fail "holdconns not ready"
	client=$(holdconns_client "$out" "$port")
	[[ -n $client ]] || { cat "$out"; fail "no client pid"; }

	if [[ $how == proc ]]; then
		RSTWHY_SEED=proc start_rstwhy --netns "$SRV_NSPATH" -v
	else
		start_rstwhy --netns "$SRV_NSPATH" -v
	fi
	local want="owners of existing sockets (BPF iterator"
	[[ $how == iter ]] || want="owners of existing sockets (sock_diag"
	grep -qF "$want" "$RSTWHY_ERR" || { cat "$RSTWHY_ERR"; fail "not seeded the $how way"; }
	kill -USR1 "$client"
	for ((i = 0; i < 300; i++)); do
		grep -q '^resets=3' "$out" && break
		sleep 0.1
	done
	grep -q '^resets=3' "$out" || fail "holdconns did not reset"
	stop_rstwhy
	assert_seeded_owners "$out" "$client"
}

@test "owners of connections made before rstwhy started: BPF iterator over open files" {
	"$RSTWHY" --probe -j | jq -e '.seed_iter' >/dev/null ||
		skip "kernel $(uname -r) has no BPF iterator over open files (5.11+ with BTF)"
	check_preexisting_owners iter
}

@test "owners of connections made before rstwhy started: sock_diag and /proc/PID/fd" {
	check_preexisting_owners proc
}

@test "RSTWHY_SEED with a value other than proc: one line, exit 2" {
	RSTWHY_SEED=sockdiag run "$RSTWHY" -d 1
	((status == 2)) || fail "exit $status"
	[[ ${#lines[@]} == 1 && ${lines[0]} == *"RSTWHY_SEED=sockdiag"* ]] || fail "output: $output"
}
