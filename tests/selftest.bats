#!/usr/bin/env bats
#
# rstwhy selftest: provokes every cause it can between its own private namespaces and checks
# what rstwhy reports.  Here: it passes on this machine (every cause this kernel can show is
# "ok", with the cause names of --list-causes, one line each), --json says the same, and it leaves
# nothing behind: not after a normal run, not after Ctrl-C at two points of the run, not when a
# step fails (ip refusing to make the veth; a tracer killed under it).
#
# Leftovers are found without guessing names: every selftest run gets a unique
# RW_SELFTEST_TAG in its environment, which all its descendants carry (forked or exec'ed), so
# a process still holding it afterwards is one it left behind.  Its namespaces are named in its
# first output line.

load lib/common

# every cause, in rstwhy's own order (--list-causes)
mapfile -t CAUSES < <("$RSTWHY" --list-causes 2>/dev/null | cut -f1)

setup() {
	require_bin "$RSTWHY" rstwhy
	((${#CAUSES[@]} > 0)) || fail "rstwhy --list-causes listed no causes"
	ST_TAG="bats$$-${BATS_TEST_NUMBER}-$RANDOM"
	ST_PID=""
	ST_NS=""
	ST_OUT="$BATS_TEST_TMPDIR/selftest.out"
	ST_ERR="$BATS_TEST_TMPDIR/selftest.err"
	ST_TMP="$BATS_TEST_TMPDIR/tmp"
	mkdir -p "$ST_TMP"
}

teardown() {
	local p
	# a selftest still running (failed test): SIGTERM makes it clean up after itself
	if [[ -n $ST_PID ]] && kill -0 "$ST_PID" 2>/dev/null; then
		kill -TERM "$ST_PID" 2>/dev/null || true
		_rw_wait_gone "$ST_PID" 100 || kill -KILL "$ST_PID" 2>/dev/null || true
		wait "$ST_PID" 2>/dev/null || true
	fi
	for p in $(tagged_pids "$ST_TAG"); do
		kill -KILL "$p" 2>/dev/null || true
	done
	for p in $ST_NS; do
		ip netns del "$p" 2>/dev/null || true
	done
}

# tagged_pids TAG: processes whose environment holds RW_SELFTEST_TAG=TAG
tagged_pids() {
	local e p
	for e in /proc/[0-9]*/environ; do
		p=${e#/proc/}
		p=${p%/environ}
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		if { tr '\0' '\n' <"$e" | grep -qxF "RW_SELFTEST_TAG=$1"; } 2>/dev/null; then
			echo "$p"
		fi
	done
}

# start_selftest ARGS...: run it in the background, stdout in $ST_OUT, stderr in $ST_ERR.
# env execs rstwhy, so $! is the selftest itself and its namespaces are rwself$!-s/-c.
# SIGINT is restored: background jobs of a non-interactive shell start with it ignored.
start_selftest() {
	: >"$ST_OUT"
	: >"$ST_ERR"
	env --default-signal=INT RW_SELFTEST_TAG="$ST_TAG" TMPDIR="$ST_TMP" ${ST_PATH:+PATH="$ST_PATH"} \
		"$RSTWHY" selftest "$@" >"$ST_OUT" 2>"$ST_ERR" </dev/null 3>&- &
	ST_PID=$!
	ST_NS="rwself$ST_PID-s rwself$ST_PID-c"
}

# finish_selftest [SECONDS]: wait for the run (a bound, generous: a run takes about 15 s here);
# its exit status in ST_STATUS
finish_selftest() {
	local secs=${1:-300}
	if ! _rw_wait_gone "$ST_PID" $((secs * 10)); then
		_rw_show_file "selftest output" "$ST_OUT"
		fail "selftest did not end within $secs s"
	fi
	ST_STATUS=0
	wait "$ST_PID" || ST_STATUS=$?
	ST_PID=""
}

# run_selftest ARGS...: the whole run
run_selftest() {
	start_selftest "$@"
	finish_selftest
}

# wait_output REGEX SECONDS: until the background run printed a matching line
wait_output() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		grep -qE -- "$1" "$ST_OUT" && return 0
		kill -0 "$ST_PID" 2>/dev/null || break
		sleep 0.05
	done
	_rw_show_file "selftest output" "$ST_OUT"
	_rw_show_file "selftest stderr" "$ST_ERR"
	fail "selftest did not print /$1/ within $2 s"
}

# assert_nothing_left: no process of the run, neither namespace, no temporary file
assert_nothing_left() {
	local p left=() ns n
	for p in $(tagged_pids "$ST_TAG"); do
		left+=("$p/$(cat "/proc/$p/comm" 2>/dev/null)")
	done
	((${#left[@]} == 0)) || fail "processes left behind: ${left[*]}"
	for ns in $ST_NS; do
		if ip netns list | awk '{print $1}' | grep -qxF "$ns"; then
			fail "network namespace left behind: $ns"
		fi
	done
	n=$(find "$ST_TMP" -mindepth 1 | wc -l)
	((n == 0)) || fail "temporary files left behind: $(find "$ST_TMP" -mindepth 1)"
}

# wait_link_down NS SECONDS: until a link of NS other than lo is down (keepalive-timeout takes
# the client's link down while its probes go unanswered)
wait_link_down() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		ip -n "$1" -o link show 2>/dev/null | grep -v ': lo:' | grep -qv '[<,]UP[,>]' && return 0
		kill -0 "$ST_PID" 2>/dev/null || break
		sleep 0.05
	done
	show_run
	fail "no link of $1 went down within $2 s"
}

show_run() {
	_rw_show_file "selftest output" "$ST_OUT"
	_rw_show_file "selftest stderr" "$ST_ERR"
}

# what this kernel should show: causes the attach plan says are not seen may be "not visible"
expected_result() {
	local cause=$1
	case $cause in
	unknown) echo skipped ;;
	orphan-memory)
		if [[ $(cat /proc/sys/net/ipv4/tcp_max_orphans) == 0 ]]; then echo ok; else echo skipped; fi ;;
	netfilter-reject)
		if command -v nft >/dev/null || command -v iptables >/dev/null; then echo ok; else echo skipped; fi ;;
	socket-destroy)
		if command -v ss >/dev/null; then echo ok; else echo skipped; fi ;;
	mptcp)
		if [[ -e /proc/sys/net/mptcp/enabled ]]; then echo ok; else echo skipped; fi ;;
	*)
		if jq -e --arg c "$cause" '.gap and any(.gap_causes[]; . == $c)' "$BATS_TEST_TMPDIR/probe" >/dev/null; then
			echo "not visible"
		else
			echo ok
		fi ;;
	esac
}

@test "selftest: every cause this kernel can show is ok, one line per cause; nothing left behind" {
	"$RSTWHY" --probe -j >"$BATS_TEST_TMPDIR/probe" || fail "rstwhy --probe -j failed"
	local t0=$SECONDS got want cause line res
	run_selftest
	echo "# rstwhy selftest: status $ST_STATUS in $((SECONDS - t0)) s" >&3
	sed -n '/^RESULT/,$p' "$ST_OUT" | sed 's/^/#   /' >&3
	((ST_STATUS == 0)) || { show_run; fail "rstwhy selftest exited with status $ST_STATUS"; }
	grep -q "server ${ST_NS%% *} " "$ST_OUT" || fail "the first line does not name its namespaces $ST_NS"

	# the result lines: exactly the causes of --list-causes, in its order
	got=$(sed -n '/^RESULT /,/^$/p' "$ST_OUT" | sed '1d;/^$/d' |
		awk '{print ($1 == "not" ? $3 : $2)}' | tr '\n' ' ')
	want="${CAUSES[*]} "
	[[ $got == "$want" ]] || fail "result lines name these causes:" "  $got" "expected:" "  $want"
	for cause in "${CAUSES[@]}"; do
		line=$(grep -E "^(ok|MISMATCH|MISSING|FAILED|not visible|skipped) +$cause " "$ST_OUT")
		res=$(expected_result "$cause")
		[[ $line == "$res "* ]] || { show_run; fail "$cause: expected '$res', got: $line"; }
	done
	grep -q "every cause this kernel can show was shown right" "$ST_OUT" ||
		fail "no closing 'shown right' line"
	# the live table showed the events as they came, with owners
	grep -qE '^[0-9:.]+ +close-unread +application +[0-9]+/srv-unr ' "$ST_OUT" ||
		fail "no close-unread row in the live table"
	assert_nothing_left
}

@test "selftest --json: one object per cause, the events that proved them, a summary" {
	local n bad
	run_selftest --json
	((ST_STATUS == 0)) || { show_run; fail "status $ST_STATUS"; }
	n=$(jq -s 'length' "$ST_OUT") || fail "stdout is not JSON lines"
	((n == ${#CAUSES[@]} + 1)) || fail "expected $((${#CAUSES[@]} + 1)) objects, got $n"
	[[ $(jq -r 'select(.cause) | .cause' "$ST_OUT" | tr '\n' ' ') == "${CAUSES[*]} " ]] ||
		fail "causes missing or out of order"
	# every ok check carries the event that proved it, with that very cause
	bad=$(jq -c 'select(.cause) | .cause as $c | .checks[] | select(.result == "ok" and
		(.event.cause != $c or .event.netns == null)) | {c: $c, scenario, family}' "$ST_OUT")
	[[ -z $bad ]] || fail "ok checks without their event: $bad"
	jq -e 'select(.summary) | .summary.passed == true and .summary.mismatch == 0 and
		.summary.missing == 0 and .summary.failed == 0' "$ST_OUT" >/dev/null ||
		fail "summary: $(tail -1 "$ST_OUT")"
	[[ $(jq -r 'select(.cause == "close-unread") | .checks | map(.family) | join(" ")' "$ST_OUT") == "ipv4 ipv6" ]] ||
		fail "close-unread was not checked in both families"
	assert_nothing_left
}

@test "selftest: Ctrl-C mid-run (between scenarios, and while keepalive has a link down) cleans up" {
	local at
	for at in '^[0-9:.]+ +close-unread ' 'link down'; do
		start_selftest
		if [[ $at == "link down" ]]; then
			# keepalive-timeout comes last, after mptcp
			wait_output '^[0-9:.]+ +mptcp .*\[fd00' 120
			wait_link_down "${ST_NS#* }" 120
		else
			wait_output "$at" 120
		fi
		kill -INT "$ST_PID"
		finish_selftest 120
		((ST_STATUS == 130)) || { show_run; fail "status $ST_STATUS after SIGINT (expected 130)"; }
		grep -q "Interrupt: cleaning up" "$ST_ERR" || { show_run; fail "no 'cleaning up' message"; }
		! grep -q '^RESULT' "$ST_OUT" || fail "results printed after an interrupt"
		assert_nothing_left
		echo "# SIGINT at /$at/: status $ST_STATUS; $ST_NS gone, no process left" >&3
	done
}

@test "selftest: a failing step (ip cannot make the veth) cleans up and says why" {
	local shim="$BATS_TEST_TMPDIR/shim" real
	real=$(command -v ip)
	mkdir -p "$shim"
	cat >"$shim/ip" <<-EOF
		#!/bin/sh
		case "\$*" in *"type veth"*) echo "ip: refused by the test" >&2; exit 2 ;; esac
		exec "$real" "\$@"
	EOF
	chmod +x "$shim/ip"
	ST_PATH="$shim:$PATH" run_selftest
	((ST_STATUS == 1)) || { show_run; fail "status $ST_STATUS (expected 1)"; }
	grep -q "ip failed: ip: refused by the test" "$ST_ERR" || { show_run; fail "no reason given"; }
	# both namespaces were made before the veth failed: both must be gone
	assert_nothing_left
}

@test "selftest: a tracer that dies under it ends the run with status 1 and cleans up" {
	local tracer="" p
	start_selftest
	wait_output '^TIME ' 120
	# the tracers are its children running rstwhy --ready-file
	for p in $(pgrep -P "$ST_PID" -x rstwhy); do
		if tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- '--ready-file'; then
			tracer=$p
			break
		fi
	done
	[[ -n $tracer ]] || fail "no tracer process under selftest $ST_PID"
	kill -KILL "$tracer"
	finish_selftest 120
	((ST_STATUS == 1)) || { show_run; fail "status $ST_STATUS (expected 1)"; }
	grep -q "ended before the test did (killed by Killed)" "$ST_ERR" || { show_run; fail "no reason given"; }
	assert_nothing_left
}

@test "selftest: usage errors exit 2, --help exits 0" {
	run "$RSTWHY" selftest --bogus
	((status == 2)) || fail "status $status for --bogus"
	run "$RSTWHY" selftest extra
	((status == 2)) || fail "status $status for an extra argument"
	run "$RSTWHY" selftest --help
	((status == 0)) || fail "status $status for --help"
	[[ $output == *"Usage: rstwhy selftest"* ]] || fail "no usage text"
}
