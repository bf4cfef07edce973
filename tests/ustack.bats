#!/usr/bin/env bats
#
# -u: the user stack of the task that decided an application's reset. Small programs built
# here close a connection from functions with telling names (tests/ustack/); the event must
# name those functions, and say so where it cannot (a process gone, a stripped library, a
# stack deeper than the cap), never with a wrong name.

load lib/common

setup_file() {
	local d=$BATS_FILE_TMPDIR src=$ROOT/tests/ustack
	local cflags=(-g -fno-optimize-sibling-calls)

	gcc -O1 "${cflags[@]}" -fno-omit-frame-pointer -o "$d/closer_fp" "$src/closer.c"
	gcc -O2 "${cflags[@]}" -fomit-frame-pointer -o "$d/closer_nofp" "$src/closer.c"
	gcc -O1 -fPIC -shared "${cflags[@]}" -o "$d/liblibcloser.so" "$src/libcloser.c"
	strip "$d/liblibcloser.so"
	gcc -O1 "${cflags[@]}" -fno-omit-frame-pointer -o "$d/closer_lib" "$src/closer.c" \
		-L"$d" -Wl,--no-as-needed -llibcloser -Wl,-rpath,"$d"
}

setup() {
	make_hosts
}

teardown() {
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

# run_closer BINARY MODE [ARG]: run it in the server namespace until it has closed
# (it then waits, so that its mappings can be read); CLOSER_PID is its pid
run_closer() {
	local out=$BATS_TEST_TMPDIR/closer.out i
	ip netns exec "$SRV_NS" "$@" >"$out" 2>&1 &
	CLOSER_PID=$!
	RW_PIDS+=("$CLOSER_PID")
	for ((i = 0; i < 600; i++)); do
		grep -q '^closed' "$out" && return 0
		kill -0 "$CLOSER_PID" 2>/dev/null || break
		sleep 0.1
	done
	_rw_show_file closer "$out"
	fail "$* did not close its connection"
}

# the one close-unread event of the test, with its user stack
the_event() {
	local n
	n=$(jq -s '[.[] | select(.cause == "close-unread")] | length' "$EVENTS")
	((n == 1)) || { _rw_show_file events "$EVENTS"; fail "expected 1 close-unread event, got $n"; }
	EV=$(jq -c 'select(.cause == "close-unread")' "$EVENTS")
	jq -e 'has("user_stack")' <<<"$EV" >/dev/null || fail "no user_stack in $EV"
}

# syms: the frames' symbols, one a line ("-" for none)
syms() {
	jq -r '.user_stack[] | .sym // "-"' <<<"$EV"
}

# assert_named_close BINARY: the closing function comes right after the C library's close()
assert_named_close() {
	local bin=$1
	jq -e --arg bin "$bin" '
		(.user_stack[0].file | test("libc")) and
		(.user_stack[1].sym | startswith("reject_unread_connection+0x")) and
		(.user_stack[1].file == $bin) and (.user_stack[1].offset | startswith("0x"))' \
		<<<"$EV" >/dev/null || fail "closing function not named after close(): $EV"
}

@test "C with frame pointers: the function that closed is named, in the deciding thread" {
	start_rstwhy --netns "$SRV_NSPATH" -u
	run_closer "$BATS_FILE_TMPDIR/closer_fp" 30001 plain
	stop_rstwhy
	the_event
	assert_named_close "$BATS_FILE_TMPDIR/closer_fp"
	jq -e --argjson p "$CLOSER_PID" '.actor.pid == $p and .user_stack_tid == $p and
		.user_stack_exited == false' <<<"$EV" >/dev/null || fail "wrong task: $EV"
	syms | grep -qx 'main+0x[0-9a-f]*' || fail "main not on the stack: $(syms)"
}

@test "C without frame pointers: unwound with the call frame information" {
	start_rstwhy --netns "$SRV_NSPATH" -u
	run_closer "$BATS_FILE_TMPDIR/closer_nofp" 30001 plain
	stop_rstwhy
	the_event
	assert_named_close "$BATS_FILE_TMPDIR/closer_nofp"
	jq -e '.user_stack_unwind | startswith("dwarf")' <<<"$EV" >/dev/null ||
		fail "not unwound with CFI: $EV"
}

@test "without -u there is no user stack" {
	start_rstwhy --netns "$SRV_NSPATH"
	run_closer "$BATS_FILE_TMPDIR/closer_fp" 30001 plain
	stop_rstwhy
	jq -e -s 'length > 0 and all(.[]; has("user_stack") | not)' "$EVENTS" >/dev/null ||
		fail "user_stack without -u: $(cat "$EVENTS")"
}

@test "a stripped library: its hidden function gets file and offset, not a neighbour's name" {
	start_rstwhy --netns "$SRV_NSPATH" -u
	run_closer "$BATS_FILE_TMPDIR/closer_lib" 30001 lib
	stop_rstwhy
	the_event
	jq -e '(.user_stack[1].file | endswith("/liblibcloser.so")) and
		.user_stack[1].sym == null and (.user_stack[1].offset | startswith("0x")) and
		(.user_stack[2].sym | startswith("lib_entry+0x"))' <<<"$EV" >/dev/null ||
		fail "stripped library frames: $EV"
	! syms | grep -q hidden_close_in_library || fail "a stripped name appeared: $(syms)"
}

@test "a process gone before its record is read: [exited] per frame, no names" {
	start_rstwhy --netns "$SRV_NSPATH" -u
	# rstwhy reads nothing while stopped: the process closes, exits and is reaped first
	kill -STOP "$RSTWHY_PID"
	ip netns exec "$SRV_NS" "$BATS_FILE_TMPDIR/closer_fp" 30001 exit || {
		kill -CONT "$RSTWHY_PID"
		fail "closer failed"
	}
	kill -CONT "$RSTWHY_PID"
	stop_rstwhy
	the_event
	jq -e '.user_stack_exited and (.user_stack | length > 0) and
		all(.user_stack[]; .file == "[exited]" and .sym == null)' <<<"$EV" >/dev/null ||
		fail "exited process: $EV"
}

@test "a deleted binary is still read (the mapped file itself)" {
	cp "$BATS_FILE_TMPDIR/closer_fp" "$BATS_TEST_TMPDIR/closer_del"
	start_rstwhy --netns "$SRV_NSPATH" -u
	run_closer "$BATS_TEST_TMPDIR/closer_del" 30001 deleted
	stop_rstwhy
	[[ ! -e $BATS_TEST_TMPDIR/closer_del ]] || fail "the binary was not deleted"
	the_event
	assert_named_close "$BATS_TEST_TMPDIR/closer_del (deleted)"
}

@test "a stack deeper than the cap: marked truncated, every name right" {
	start_rstwhy --netns "$SRV_NSPATH" -u
	run_closer "$BATS_FILE_TMPDIR/closer_fp" 30001 deep 200
	stop_rstwhy
	the_event
	jq -e '.user_stack_truncated and (.user_stack | length <= 64)' <<<"$EV" >/dev/null ||
		fail "not marked truncated: $EV"
	assert_named_close "$BATS_FILE_TMPDIR/closer_fp"
	[[ $(syms | sed 1,2d | grep -vc '^nest_before_close+0x') == 0 ]] ||
		fail "frames other than the nested calls: $(syms)"
}

@test "Java: the JVM owns the socket, a pool thread closed it, in the named method" {
	command -v javac >/dev/null && command -v jcmd >/dev/null ||
		skip "no JDK (javac, jcmd): Debian's openjdk-17-jdk-headless"
	local d=$BATS_TEST_TMPDIR out=$BATS_TEST_TMPDIR/java.out jvm i port=30010
	javac -d "$d" "$ROOT/tests/ustack/Gateway.java"
	start_rstwhy --netns "$SRV_NSPATH" -u
	# frame pointers in JIT code; C1 only and -Xbatch: the warm-up loop leaves the method
	# compiled (a perf map names compiled code; interpreted frames are all "Interpreter")
	ip netns exec "$SRV_NS" java -XX:+PreserveFramePointer -XX:TieredStopAtLevel=1 -Xbatch \
		-XX:CompileCommand=quiet -XX:CompileCommand=dontinline,Gateway::rejectDeviceOverCapacity \
		-Xmx64m -XX:+UseSerialGC -cp "$d" Gateway "$port" 1 >"$out" 2>&1 &
	RW_PIDS+=("$!")
	for ((i = 0; i < 1200; i++)); do
		grep -q '^listening' "$out" && break
		sleep 0.1
	done
	jvm=$(awk '/^listening/ {print $2}' "$out")
	[[ -n $jvm ]] || { _rw_show_file java "$out"; fail "the gateway did not start"; }
	jcmd "$jvm" Compiler.perfmap >/dev/null || fail "jcmd $jvm Compiler.perfmap failed"
	[[ -s /tmp/perf-$jvm.map ]] || fail "no /tmp/perf-$jvm.map"
	# one device holds the only slot, the next is reset
	ip netns exec "$SRV_NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; sleep 1
		exec 4<>/dev/tcp/127.0.0.1/$port; sleep 1" || true
	for ((i = 0; i < 300; i++)); do
		grep -q '^rejected' "$out" && break
		sleep 0.1
	done
	stop_rstwhy
	rm -f "/tmp/perf-$jvm.map"
	EV=$(jq -c 'select(.cause == "close-linger0")' "$EVENTS" | head -n1)
	[[ -n $EV ]] || { _rw_show_file events "$EVENTS"; fail "no close-linger0 event"; }
	jq -e --argjson p "$jvm" '.owner.pid == $p and .actor.pid == $p and
		.owner.comm == "java" and .actor.comm == "java" and
		(.actor.thread | startswith("gw-pool-")) and .actor.tid == .user_stack_tid and
		.user_stack_tid != $p and
		any(.user_stack[]; (.sym // "") | test("Gateway\\.rejectDeviceOverCapacity"))' \
		<<<"$EV" >/dev/null || fail "Java event: $EV"
}

@test "-u with --summary is refused" {
	run "$RSTWHY" -u --summary
	[[ $status == 2 ]] || fail "status $status: $output"
	[[ $output == *"-u shows the user stack"* ]] || fail "message: $output"
}
