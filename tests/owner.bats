#!/usr/bin/env bats
#
# The owner is the process holding the socket when it is reset, the actor the thread that
# triggered it. A small server (tests/owner-srv.c, built here) first uses the accepted socket
# in one process or thread, then hands it over and resets it from another: SCM_RIGHTS to a
# handler process, a pre-forked child closing last, a pool thread. The owner must be the
# process that reset it, named as ps names it; the actor must name the thread.

load lib/common

setup_file() {
	OWNER_SRV="$BATS_FILE_TMPDIR/owner-srv"
	cc -O2 -Wall -pthread -o "$OWNER_SRV" "$ROOT/tests/owner-srv.c" ||
		fail "cannot build tests/owner-srv.c"
	export OWNER_SRV
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

# run_owner SCENARIO: run it in the server namespace under rstwhy; sets OUT (its line)
run_owner() {
	local out="$BATS_TEST_TMPDIR/owner.out"
	start_rstwhy --netns "$SRV_NSPATH"
	timeout 60 ip netns exec "$SRV_NS" "$OWNER_SRV" "$1" "$SCEN_PORT" >"$out" ||
		fail "owner-srv $1 failed"
	stop_rstwhy
	OUT=$(cat "$out")
	[[ $OUT =~ accept_pid=([0-9]+)\ reset_pid=([0-9]+)\ reset_tid=([0-9]+) ]] ||
		fail "owner-srv printed: $OUT"
	ACCEPT_PID=${BASH_REMATCH[1]} RESET_PID=${BASH_REMATCH[2]} RESET_TID=${BASH_REMATCH[3]}
}

@test "SCM_RIGHTS hand-over: the handler that reset it owns it, not the acceptor" {
	run_owner scm
	[[ $ACCEPT_PID != "$RESET_PID" ]] || fail "the scenario did not use two processes"
	assert_event close-unread .dir=sent ".sport=$SCEN_PORT" \
		".owner.pid=$RESET_PID" .owner.comm=owner-handler \
		".actor.pid=$RESET_PID" .actor.comm=owner-handler \
		".actor.tid=$RESET_PID" .actor.thread=owner-handler
	refute_event close-unread ".owner.pid=$ACCEPT_PID"
}

@test "pre-forked child closing last owns the socket, not the parent that accepted it" {
	run_owner prefork
	[[ $ACCEPT_PID != "$RESET_PID" ]] || fail "the scenario did not use two processes"
	assert_event close-unread .dir=sent ".sport=$SCEN_PORT" \
		".owner.pid=$RESET_PID" .owner.comm=owner-child \
		".actor.pid=$RESET_PID" .actor.tid=$RESET_PID .actor.thread=owner-child
	refute_event close-unread ".owner.pid=$ACCEPT_PID"
}

@test "thread pool: owner is the process by its name, the actor names the closing thread" {
	run_owner pool
	[[ $RESET_TID != "$RESET_PID" ]] || fail "the reset did not come from a second thread"
	assert_event close-unread .dir=sent ".sport=$SCEN_PORT" \
		".owner.pid=$RESET_PID" .owner.comm=owner-pool \
		".actor.pid=$RESET_PID" .actor.comm=owner-pool \
		".actor.tid=$RESET_TID" .actor.thread=pool-1
	refute_event close-unread .owner.comm=acceptor
}
