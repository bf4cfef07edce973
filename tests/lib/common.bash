# shellcheck shell=bash
#
# Shared helpers for the rstwhy end-to-end tests.  Loaded by every .bats file
# with `load lib/common`.
#
# Rules this harness keeps:
#   * traffic only flows inside network namespaces created here;
#   * no sysctl of the root network namespace is ever touched;
#   * processes are only ever killed by PID: ones this harness started, or
#     ones living inside a namespace this harness created.
#
# The code is written to be safe under `set -u`, but does not enable it:
# bats' own functions are not guaranteed to be nounset-clean.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RSTWHY="${RSTWHY:-$ROOT/rstwhy}"
RSTGEN="${RSTGEN:-$ROOT/.output/rstgen}"
export ROOT RSTWHY RSTGEN

# Seconds a single rstgen scenario may take before it is considered hung.
RSTGEN_TIMEOUT="${RSTGEN_TIMEOUT:-120}"

# Namespace names are "<prefix>-<test number>-s|c".  The prefix contains the
# PID of the top-level bats process (the same for every test of a run, unique
# between concurrent runs) and the test file name, so that teardown_file can
# check that this file left nothing behind.
_rw_file_slug="$(basename "${BATS_TEST_FILENAME:-adhoc}" .bats)"
_rw_file_slug="${_rw_file_slug//[^A-Za-z0-9]/}"
RW_NS_PREFIX="rw${BATS_ROOT_PID:-$$}-${_rw_file_slug:0:12}"
unset _rw_file_slug

# State of the current test (bats runs every test in a fresh process, so
# these start empty for each test).
RW_PIDS=()      # PIDs of background processes started by this harness
RW_NETNS=()     # namespaces created by this harness
RSTWHY_PID=""
RSTGEN_PID=""

# --------------------------------------------------------------------------
# generic helpers

# fail MESSAGE...: print every argument on its own line to stderr, return 1.
# Used as a plain command in a test (or in a helper), errexit turns it into a
# test failure.
fail() {
	printf '%s\n' "$@" >&2
	return 1
}

# require_bin PATH WHAT: fail clearly (never skip) when a binary is missing.
require_bin() {
	local path=$1 what=$2
	if [[ ! -x $path ]]; then
		fail "$what binary not found or not executable: $path" \
			"(build it first: run 'make' in $ROOT)"
	fi
}

# _rw_show_file LABEL FILE [MAXLINES]: dump a file to stderr for diagnostics.
_rw_show_file() {
	local label=$1 file=$2 max=${3:-400} n
	if [[ ! -e $file ]]; then
		printf -- '--- %s: (%s does not exist)\n' "$label" "$file" >&2
		return 0
	fi
	n=$(wc -l <"$file")
	printf -- '--- %s (%s, %s lines) ---\n' "$label" "$file" "$n" >&2
	if ((n > max)); then
		head -n "$max" "$file" >&2
		printf -- '... (%s more lines not shown)\n' "$((n - max))" >&2
	else
		cat "$file" >&2
	fi
	printf -- '--- end of %s ---\n' "$label" >&2
}

# _rw_forget_pid PID: drop PID from RW_PIDS.
_rw_forget_pid() {
	local p keep=()
	for p in "${RW_PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	RW_PIDS=("${keep[@]}")
}

# _rw_wait_gone PID TENTHS: wait until PID no longer exists; 0 if it is gone.
# (bash reaps its own children asynchronously, so kill -0 does fail for them
# once they exit; `wait PID` then still returns the saved status.)
_rw_wait_gone() {
	local pid=$1 tenths=$2 i
	for ((i = 0; i < tenths; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	! kill -0 "$pid" 2>/dev/null
}

# --------------------------------------------------------------------------
# namespaces

# make_hosts: two fresh network namespaces (server, client) joined by a veth.
make_hosts() {
	local tnum=${BATS_TEST_NUMBER:-0}
	local snum=${BATS_SUITE_TEST_NUMBER:-$tnum}
	local n=$(((snum % 250) + 1))

	SRV_NS="${RW_NS_PREFIX}-${tnum}-s"
	CLI_NS="${RW_NS_PREFIX}-${tnum}-c"
	SRV_NSPATH="/run/netns/$SRV_NS"
	CLI_NSPATH="/run/netns/$CLI_NS"
	SRV_IF="rws"
	CLI_IF="rwc"
	RW_N=$n
	SRV4="10.210.$n.1"
	CLI4="10.210.$n.2"
	SPOOF4="10.210.$n.99"
	SRV6="fd00:210:$n::1"
	CLI6="fd00:210:$n::2"
	SPOOF6="fd00:210:$n::99"
	SCEN_PORT=$((20000 + n))
	export SRV_NS CLI_NS SRV_NSPATH CLI_NSPATH SRV_IF CLI_IF RW_N \
		SRV4 CLI4 SPOOF4 SRV6 CLI6 SPOOF6 SCEN_PORT

	local ns
	for ns in "$SRV_NS" "$CLI_NS"; do
		if ip netns list | awk '{print $1}' | grep -qxF "$ns"; then
			fail "make_hosts: namespace $ns already exists (stale run?)"
		fi
		ip netns add "$ns" || fail "make_hosts: ip netns add $ns failed"
		RW_NETNS+=("$ns") # registered at once: teardown removes it
	done

	# The veth is created directly inside the server namespace, its peer
	# directly inside the client namespace: the root namespace never sees it.
	ip -n "$SRV_NS" link add "$SRV_IF" type veth peer name "$CLI_IF" netns "$CLI_NS" ||
		fail "make_hosts: creating the veth pair failed"

	ip -n "$SRV_NS" link set lo up
	ip -n "$CLI_NS" link set lo up
	ip -n "$SRV_NS" addr add "$SRV4/24" dev "$SRV_IF"
	ip -n "$CLI_NS" addr add "$CLI4/24" dev "$CLI_IF"
	ip -n "$SRV_NS" -6 addr add "$SRV6/64" dev "$SRV_IF" nodad
	ip -n "$CLI_NS" -6 addr add "$CLI6/64" dev "$CLI_IF" nodad
	ip -n "$SRV_NS" link set "$SRV_IF" up
	ip -n "$CLI_NS" link set "$CLI_IF" up
}

# _rw_kill_pids SIG PID...: signal, wait up to 3 s, then SIGKILL survivors.
_rw_kill_pids() {
	local sig=$1 pid
	shift
	(($# > 0)) || return 0
	for pid in "$@"; do
		kill "-$sig" "$pid" 2>/dev/null || true
	done
	for pid in "$@"; do
		if ! _rw_wait_gone "$pid" 30; then
			kill -KILL "$pid" 2>/dev/null || true
			_rw_wait_gone "$pid" 30 || true
		fi
	done
}

# teardown_hosts: stop everything this test started and delete its
# namespaces.  Call from teardown(); safe to call when nothing was set up.
teardown_hosts() {
	local pid ns pids=()

	# 1. processes started by the harness (rstwhy, background rstgen)
	if ((${#RW_PIDS[@]} > 0)); then
		_rw_kill_pids TERM "${RW_PIDS[@]}"
		for pid in "${RW_PIDS[@]}"; do
			wait "$pid" 2>/dev/null || true
		done
	fi
	RW_PIDS=()
	RSTWHY_PID=""
	RSTGEN_PID=""

	# 2. anything still running inside our namespaces (rstgen's children)
	for ns in "${RW_NETNS[@]}"; do
		while read -r pid; do
			[[ $pid =~ ^[0-9]+$ ]] && pids+=("$pid")
		done < <(ip netns pids "$ns" 2>/dev/null)
	done
	if ((${#pids[@]} > 0)); then
		_rw_kill_pids KILL "${pids[@]}"
	fi

	# 3. the namespaces themselves
	for ns in "${RW_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	RW_NETNS=()
}

# _rw_leftover_ns: print namespaces of this run and test file still present.
_rw_leftover_ns() {
	ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${RW_NS_PREFIX}-" || true
}

# rw_teardown_file: call from teardown_file().  Fails if namespaces of this
# file survived their tests (and removes them, so the host stays clean).
rw_teardown_file() {
	local left ns pid
	left=$(_rw_leftover_ns)
	[[ -z $left ]] && return 0
	for ns in $left; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
		ip netns del "$ns" 2>/dev/null || true
	done
	fail "network namespaces left behind by $(basename "${BATS_TEST_FILENAME:-?}"):" "${left//$'\n'/ }"
}

# ns_inode NSPATH: the inode number rstwhy reports as "netns".
ns_inode() {
	stat -L -c %i "$1"
}

# --------------------------------------------------------------------------
# rstwhy

# start_rstwhy ARGS...: start rstwhy in the background (JSON mode) and wait
# until it has written its ready file.
start_rstwhy() {
	require_bin "$RSTWHY" rstwhy
	[[ -z $RSTWHY_PID ]] || fail "start_rstwhy: rstwhy already running (pid $RSTWHY_PID)"

	READY_FILE="$BATS_TEST_TMPDIR/ready"
	EVENTS="$BATS_TEST_TMPDIR/events.jsonl"
	RSTWHY_ERR="$BATS_TEST_TMPDIR/stderr"
	export READY_FILE EVENTS RSTWHY_ERR
	rm -f "$READY_FILE"

	# Background jobs of a non-interactive shell start with SIGINT ignored;
	# env --default-signal restores the default before exec, so rstwhy sees
	# SIGINT exactly as it would from a terminal.  fd 3 is closed so that
	# bats never waits on it.
	env --default-signal=INT "$RSTWHY" --json --ready-file "$READY_FILE" "$@" \
		>"$EVENTS" 2>"$RSTWHY_ERR" </dev/null 3>&- &
	RSTWHY_PID=$!
	RW_PIDS+=("$RSTWHY_PID")

	local i rc
	for ((i = 0; i < 300; i++)); do
		[[ -e $READY_FILE ]] && return 0
		if ! kill -0 "$RSTWHY_PID" 2>/dev/null; then
			rc=0
			wait "$RSTWHY_PID" || rc=$?
			_rw_forget_pid "$RSTWHY_PID"
			RSTWHY_PID=""
			_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
			fail "rstwhy ($RSTWHY --json $*) exited with status $rc before it was ready"
		fi
		sleep 0.1
	done
	_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
	fail "rstwhy ($RSTWHY --json $*) did not create its ready file within 30 s"
}

# stop_rstwhy: SIGINT, wait (30 s at most), require exit status 0.
# rstwhy flushes all buffered events before exiting, so no sleep is needed.
stop_rstwhy() {
	[[ -n $RSTWHY_PID ]] || fail "stop_rstwhy: rstwhy is not running"
	local pid=$RSTWHY_PID rc=0
	kill -INT "$pid" 2>/dev/null || true
	if ! _rw_wait_gone "$pid" 300; then
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		_rw_forget_pid "$pid"
		RSTWHY_PID=""
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
		fail "rstwhy did not exit within 30 s of SIGINT (killed)"
	fi
	wait "$pid" || rc=$?
	_rw_forget_pid "$pid"
	RSTWHY_PID=""
	RSTWHY_STATUS=$rc
	export RSTWHY_STATUS
	if ((rc != 0)); then
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
		fail "rstwhy exited with status $rc after SIGINT (expected 0)"
	fi
}

# --------------------------------------------------------------------------
# rstgen

# _rw_scen_args FAMILY: set SCEN_SRV/SCEN_CLI/SCEN_SPOOF/SCEN_FAMILY.
_rw_scen_args() {
	case $1 in
	4 | ipv4)
		SCEN_SRV=$SRV4 SCEN_CLI=$CLI4 SCEN_SPOOF=$SPOOF4 SCEN_FAMILY=ipv4 ;;
	6 | ipv6)
		SCEN_SRV=$SRV6 SCEN_CLI=$CLI6 SCEN_SPOOF=$SPOOF6 SCEN_FAMILY=ipv6 ;;
	*)
		fail "bad address family '$1' (want 4 or 6)" ;;
	esac
	export SCEN_SRV SCEN_CLI SCEN_SPOOF SCEN_FAMILY
}

# start_scen SCENARIO FAMILY [extra args]: start rstgen in the background.
# Its stdout goes to $RSTGEN_OUT, stderr to $RSTGEN_ERR.
start_scen() {
	(($# >= 2)) || fail "usage: start_scen SCENARIO 4|6 [rstgen args...]"
	local scen=$1 fam=$2
	shift 2
	require_bin "$RSTGEN" rstgen
	[[ -n ${SRV_NSPATH:-} ]] || fail "start_scen: call make_hosts first"
	[[ -z $RSTGEN_PID ]] || fail "start_scen: rstgen already running (pid $RSTGEN_PID)"
	_rw_scen_args "$fam"

	RSTGEN_SCEN=$scen
	RSTGEN_OUT="$BATS_TEST_TMPDIR/rstgen.$scen.out"
	RSTGEN_ERR="$BATS_TEST_TMPDIR/rstgen.$scen.err"
	RSTGEN_CMD=("$RSTGEN" "$scen" --server-ns "$SRV_NSPATH" --client-ns "$CLI_NSPATH"
		-a "$SCEN_SRV" -c "$SCEN_CLI" --spoof "$SCEN_SPOOF" --client-if "$CLI_IF"
		-p "$SCEN_PORT" "$@")
	# timeout(1) signals its whole process group, i.e. rstgen's children too
	timeout "$RSTGEN_TIMEOUT" "${RSTGEN_CMD[@]}" \
		>"$RSTGEN_OUT" 2>"$RSTGEN_ERR" </dev/null 3>&- &
	RSTGEN_PID=$!
	RW_PIDS+=("$RSTGEN_PID")
}

# wait_scen_line LINE [SECONDS]: wait until rstgen printed LINE (a whole
# line, e.g. ready=1).  rstgen must flush stdout after such a line.
wait_scen_line() {
	local line=$1 secs=${2:-30} i
	[[ -n $RSTGEN_PID ]] || fail "wait_scen_line: rstgen is not running"
	for ((i = 0; i < secs * 10; i++)); do
		grep -qxF -- "$line" "$RSTGEN_OUT" 2>/dev/null && return 0
		if ! kill -0 "$RSTGEN_PID" 2>/dev/null; then
			grep -qxF -- "$line" "$RSTGEN_OUT" 2>/dev/null && return 0
			_rw_show_file "rstgen stdout" "$RSTGEN_OUT"
			_rw_show_file "rstgen stderr" "$RSTGEN_ERR"
			fail "rstgen $RSTGEN_SCEN exited without printing '$line'"
		fi
		sleep 0.1
	done
	_rw_show_file "rstgen stdout" "$RSTGEN_OUT"
	_rw_show_file "rstgen stderr" "$RSTGEN_ERR"
	fail "rstgen $RSTGEN_SCEN did not print '$line' within $secs s"
}

# _rw_parse_kv FILE: turn key=value lines into exported G_key variables.
_rw_parse_kv() {
	local line key val var
	for var in ${!G_@}; do unset "$var"; done
	while IFS= read -r line || [[ -n $line ]]; do
		[[ $line =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || continue
		key=${BASH_REMATCH[1]}
		val=${BASH_REMATCH[2]}
		printf -v "G_$key" '%s' "$val"
		export "G_$key"
	done <"$1"
}

# finish_scen: wait for the background rstgen, parse its output, fail on a
# non-zero exit status.
finish_scen() {
	[[ -n $RSTGEN_PID ]] || fail "finish_scen: rstgen is not running"
	local pid=$RSTGEN_PID rc=0
	wait "$pid" || rc=$?
	_rw_forget_pid "$pid"
	RSTGEN_PID=""
	_rw_parse_kv "$RSTGEN_OUT"
	# shown only when the test fails
	sed 's/^/rstgen: /' "$RSTGEN_OUT"
	if ((rc != 0)); then
		_rw_show_file "rstgen stdout" "$RSTGEN_OUT"
		_rw_show_file "rstgen stderr" "$RSTGEN_ERR"
		if ((rc == 124)); then
			fail "rstgen $RSTGEN_SCEN timed out after $RSTGEN_TIMEOUT s: ${RSTGEN_CMD[*]}"
		fi
		fail "rstgen $RSTGEN_SCEN exited with status $rc: ${RSTGEN_CMD[*]}"
	fi
}

# run_scen SCENARIO FAMILY [extra args]: run rstgen to completion; its
# key=value output becomes G_* variables (G_server_pid, G_client_port, ...).
run_scen() {
	start_scen "$@"
	finish_scen
}

# need_g NAME...: fail unless rstgen printed every NAME=... line.
need_g() {
	local k v missing=()
	for k in "$@"; do
		v="G_$k"
		[[ -n ${!v:-} ]] || missing+=("$k")
	done
	if ((${#missing[@]} > 0)); then
		_rw_show_file "rstgen stdout" "${RSTGEN_OUT:-/dev/null}"
		fail "rstgen did not print: ${missing[*]}"
	fi
}

# --------------------------------------------------------------------------
# events (JSON lines written by rstwhy --json)

# _rw_check_events: the events file exists and every line is a JSON object.
_rw_check_events() {
	[[ -n ${EVENTS:-} && -f $EVENTS ]] || fail "no events file (was start_rstwhy called?)" || return 1
	local bad
	if ! bad=$(jq -c 'select(type != "object")' "$EVENTS" 2>&1); then
		_rw_show_file "events" "$EVENTS" 50
		fail "events file is not valid JSON lines: $bad" || return 1
	fi
	if [[ -n $bad ]]; then
		fail "events file has lines that are not JSON objects:" "$bad" || return 1
	fi
}

# _rw_conds MATCHER...: build a jq boolean from .path=value matchers into
# RW_COND (jq program text) and RW_JQ_ARGS (--arg pairs).  Values compare as
# strings (jq tostring); the literal value null means JSON null.
_rw_conds() {
	local kv path val i=0
	RW_COND="true"
	RW_JQ_ARGS=()
	for kv in "$@"; do
		if [[ $kv != .*=* ]]; then
			fail "bad event matcher '$kv' (want .path=value)" || return 1
		fi
		path=${kv%%=*}
		val=${kv#*=}
		if [[ $val == null ]]; then
			RW_COND+=" and ((try ($path) catch \"<not a path>\") == null)"
		else
			RW_COND+=" and ((try ($path) catch null) as \$x | \$x != null and ((\$x | tostring) == \$v$i))"
			RW_JQ_ARGS+=(--arg "v$i" "$val")
		fi
		i=$((i + 1))
	done
}

# _rw_cause_cond CAUSE: jq condition for the cause ("*" = any cause).
_rw_cause_cond() {
	if [[ $1 == "*" ]]; then
		RW_CAUSE_COND="true"
	else
		RW_CAUSE_COND='(.cause == $cause)'
	fi
}

# events_with_cause CAUSE [MATCHER...]: print the matching events.
events_with_cause() {
	local cause=$1
	shift
	_rw_check_events || return 1
	_rw_conds "$@" || return 1
	_rw_cause_cond "$cause"
	jq -c --arg cause "$cause" "${RW_JQ_ARGS[@]}" \
		"select($RW_CAUSE_COND and ($RW_COND))" "$EVENTS"
}

# count_events CAUSE [MATCHER...]: number of matching events.
count_events() {
	local out
	out=$(events_with_cause "$@") || return 1
	if [[ -z $out ]]; then echo 0; else printf '%s\n' "$out" | wc -l; fi
}

# _rw_event_failure MESSAGE: diagnostics for a failed event assertion.
_rw_event_failure() {
	_rw_show_file "events" "$EVENTS"
	_rw_show_file "rstwhy stderr" "$RSTWHY_ERR" 50
	fail "$@"
}

# _rw_matcher_report CAUSE MATCHER...: for each matcher, how many events of
# that cause satisfy it (tells which field is wrong).
_rw_matcher_report() {
	local cause=$1 kv
	shift
	for kv in "$@"; do
		printf '  %-40s matched by %s\n' "$kv" "$(count_events "$cause" "$kv")"
	done
}

# assert_event_count_min N CAUSE [MATCHER...]: at least N matching events.
assert_event_count_min() {
	local min=$1 cause=$2 n
	shift 2
	n=$(count_events "$cause" "$@") || return 1
	if ((n < min)); then
		_rw_event_failure "expected at least $min event(s) with cause '$cause' matching: $*" \
			"found $n; events with cause '$cause': $(count_events "$cause")" \
			"$(_rw_matcher_report "$cause" "$@")"
	fi
}

# assert_event CAUSE [MATCHER...]: at least one matching event.
#   assert_event close-unread .origin=application .owner.pid=$G_server_pid
assert_event() {
	assert_event_count_min 1 "$@"
}

# refute_event CAUSE [MATCHER...]: no matching event.
refute_event() {
	local cause=$1 n
	shift
	n=$(count_events "$cause" "$@") || return 1
	if ((n != 0)); then
		_rw_event_failure "expected no event with cause '$cause' matching: $*" \
			"found $n:" "$(events_with_cause "$cause" "$@")"
	fi
}

# assert_all_events MATCHER...: every event matches (and there is at least one).
assert_all_events() {
	_rw_check_events || return 1
	local total bad
	total=$(grep -c . "$EVENTS" || true)
	((total > 0)) || _rw_event_failure "no events were reported at all" || return 1
	_rw_conds "$@" || return 1
	bad=$(jq -c "${RW_JQ_ARGS[@]}" "select(($RW_COND) | not)" "$EVENTS") || return 1
	if [[ -n $bad ]]; then
		_rw_event_failure "expected every event to match: $*" "these do not:" "$bad"
	fi
}

# assert_all_events_jq JQ_BOOL DESCRIPTION: every event satisfies JQ_BOOL.
assert_all_events_jq() {
	local expr=$1 what=$2 bad
	_rw_check_events || return 1
	bad=$(jq -c "select(($expr) | not)" "$EVENTS") || return 1
	if [[ -n $bad ]]; then
		_rw_event_failure "expected every event to satisfy: $what" "these do not:" "$bad"
	fi
}

# _rw_expect_task FIELD WHO CHECK_PID: matchers for the owner or actor rstgen expects (its
# expect_owner / expect_actor line): server, client (that process: name, and pid if
# CHECK_PID is 1), ss (the harness's ss -K), none (null) or any (not checked).
_rw_expect_task() {
	local field=$1 who=$2 pid=$3 comm= p=
	case $who in
	any) return 0 ;;
	none) RW_EXPECT+=(".$field=null"); return 0 ;;
	ss) RW_EXPECT+=(".$field.comm=ss"); return 0 ;;
	server) need_g server_comm server_pid; comm=$G_server_comm p=$G_server_pid ;;
	client) need_g client_comm client_pid; comm=$G_client_comm p=$G_client_pid ;;
	*) fail "rstgen printed expect_$field=$who: not a process it knows" ;;
	esac
	RW_EXPECT+=(".$field.comm=$comm")
	[[ $pid == 1 ]] && RW_EXPECT+=(".$field.pid=$p")
	return 0
}

# assert_expected: the events hold what rstgen says its scenario produces (its expect_*
# lines, after run_scen or finish_scen): at least expect_rsts sent RSTs of expect_cause with
# the expected origin, addresses and ports, state before the reset, owner and actor.
assert_expected() {
	local to_addr to_port
	need_g expect_cause expect_origin expect_to expect_to_port expect_state expect_owner \
		expect_owner_pid expect_actor expect_rsts rst_from server_port client_port
	RW_EXPECT=(.dir=sent ".family=$SCEN_FAMILY" ".origin=$G_expect_origin")
	case $G_rst_from in
	server) RW_EXPECT+=(".saddr=$SCEN_SRV" ".sport=$G_server_port") ;;
	client) RW_EXPECT+=(".saddr=$SCEN_CLI" ".sport=$G_client_port") ;;
	*) fail "rstgen printed rst_from=$G_rst_from" ;;
	esac
	case $G_expect_to in
	client) to_addr=$SCEN_CLI to_port=$G_client_port ;;
	server) to_addr=$SCEN_SRV to_port=$G_server_port ;;
	spoof) to_addr=$SCEN_SPOOF to_port=$G_client_port ;;
	*) fail "rstgen printed expect_to=$G_expect_to" ;;
	esac
	RW_EXPECT+=(".daddr=$to_addr")
	[[ $G_expect_to_port == 1 ]] && RW_EXPECT+=(".dport=$to_port")
	case $G_expect_state in
	any) ;;
	none) RW_EXPECT+=(.state=null) ;;
	*) RW_EXPECT+=(".state=$G_expect_state") ;;
	esac
	_rw_expect_task owner "$G_expect_owner" "$G_expect_owner_pid"
	_rw_expect_task actor "$G_expect_actor" 1
	[[ -n ${G_expect_unread_bytes:-} ]] &&
		RW_EXPECT+=(".detail.unread_bytes=$G_expect_unread_bytes")
	assert_event_count_min "$G_expect_rsts" "$G_expect_cause" "${RW_EXPECT[@]}"
}

# assert_common_fields NSPATH: every event has netns == inode of NSPATH and
# a kernel_reason that is present and either a string or null.
assert_common_fields() {
	local ino
	ino=$(ns_inode "$1") || return 1
	assert_all_events ".netns=$ino" || return 1
	assert_all_events_jq 'has("kernel_reason") and ((.kernel_reason | type) == "string" or (.kernel_reason | type) == "null")' \
		"kernel_reason is present and is a string or null"
}

# holdconns_client OUT PORT: the pid of the client tools/holdconns forked for its server on PORT
# (OUT: holdconns' output)
holdconns_client() {
	sed -n "s/^server=[0-9]* client=\([0-9]*\) port=$2\$/\1/p" "$1"
}

# assert_seeded_owners OUT CLIENT: each connection holdconns reset ("reset sport=" lines of
# OUT), made before rstwhy started, has its RST owned by CLIENT, an owner rstwhy learnt at start
assert_seeded_owners() {
	local sport n=0
	for sport in $(sed -n 's/^reset sport=\([0-9]*\) .*/\1/p' "$1"); do
		assert_event close-linger0 ".sport=$sport" ".owner.pid=$2" \
			.owner.comm=holdconns-cli .detail.owner_from=procfs || return 1
		n=$((n + 1))
	done
	((n > 0)) || fail "holdconns reset no connection: $(cat "$1")"
}

# free_port: a TCP port nobody listens on in this (the root) namespace, unique-ish per run
free_port() {
	local p i
	for ((i = 0; i < 500; i++)); do
		p=$((20000 + (($$ * 131 + BATS_TEST_NUMBER * 977 + i * 7919 + RANDOM) % 40000)))
		if [[ -z $(ss -Htln "sport = :$p") ]]; then
			echo "$p"
			return 0
		fi
	done
	fail "free_port: no free TCP port found"
}

# need_cmd CMD PACKAGE: fail (not skip) when a test dependency is missing
need_cmd() {
	command -v "$1" >/dev/null ||
		fail "$1 is not installed (Debian package $2; 'make test' installs it)"
}
