#!/usr/bin/env bats
#
# One test per RST cause and address family: rstgen provokes the RST between
# two private namespaces, rstwhy watches the namespace that sends it, and the
# JSON event must carry the cause, origin, owner, state and addresses rstgen
# says its scenario produces (its expect_* lines: the expectations live there).

load lib/common

setup() {
	make_hosts
}

teardown() {
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

# trace_scenario server|client SCENARIO FAMILY [rstgen args...]
#   Watch the namespace of the given side with rstwhy while the scenario runs,
#   then check the fields every event must have.
trace_scenario() {
	local side=$1
	shift
	case $side in
	server) WATCH_NSPATH=$SRV_NSPATH ;;
	client) WATCH_NSPATH=$CLI_NSPATH ;;
	*) fail "trace_scenario: bad side '$side'" ;;
	esac
	start_rstwhy --netns "$WATCH_NSPATH"
	run_scen "$@"
	stop_rstwhy
	need_g server_port client_port
	if [[ -n ${G_rst_from:-} && $G_rst_from != "$side" ]]; then
		fail "rstgen says the RST comes from the $G_rst_from, this test watches the $side"
	fi
	assert_common_fields "$WATCH_NSPATH"
}

# t_cause SIDE SCENARIO FAMILY: watch SIDE while rstgen runs SCENARIO, then check the
# events against what rstgen says the scenario produces (its expect_* lines).
t_cause() {
	trace_scenario "$1" "$2" "$3"
	assert_expected
}

# RSTs to a closed port reach tcp_v4/v6_send_reset, which sends nothing back: a hook on
# that function (fentry/kprobe, kernels before 6.10) must repeat its checks.
t_no_reply() {
	local n
	start_rstwhy --netns "$SRV_NSPATH"
	run_scen no-reply "$1"
	stop_rstwhy
	n=$(grep -c . "$EVENTS" || true)
	if [[ $n != 0 ]]; then
		_rw_show_file "events" "$EVENTS"
		fail "no RST was sent, rstwhy reported $n"
	fi
	grep -q "captured 0 of 0" "$RSTWHY_ERR" ||
		fail "closing summary: $(cat "$RSTWHY_ERR")"
}

# socket-destroy: rstgen holds the connection until the test runs ss -K on it
t_socket_destroy() {
	local fam=$1 rc=0 dst
	WATCH_NSPATH=$SRV_NSPATH
	start_rstwhy --netns "$WATCH_NSPATH"
	start_scen socket-destroy "$fam"
	wait_scen_line ready=1
	# ss wants IPv6 addresses in brackets
	dst=$SCEN_CLI
	[[ $SCEN_FAMILY == ipv6 ]] && dst="[$SCEN_CLI]"
	ip netns exec "$SRV_NS" ss -K dst "$dst" >"$BATS_TEST_TMPDIR/ss.out" 2>&1 || rc=$?
	if ((rc != 0)); then
		_rw_show_file "ss -K output" "$BATS_TEST_TMPDIR/ss.out"
		fail "ss -K dst $dst failed with status $rc"
	fi
	finish_scen
	stop_rstwhy
	need_g server_port client_port
	assert_common_fields "$WATCH_NSPATH"
	assert_expected
}

ORPHAN_SKIP="provoking orphan-memory needs the global sysctl net.ipv4.tcp_max_orphans, which tests must not change on the host; covered by unit tests and the qemu kernel matrix"

# -r: rstwhy also reports RSTs this host receives.  Watching the client of
# a no-listener scenario must show the peer's RST, and no "sent" event.
t_received() {
	WATCH_NSPATH=$CLI_NSPATH
	start_rstwhy -r --netns "$WATCH_NSPATH"
	run_scen no-listener "$1"
	stop_rstwhy
	need_g client_comm server_port client_port
	assert_common_fields "$WATCH_NSPATH"
	# saddr/sport is the RST's sender: here the peer (server)
	assert_event peer-reset .dir=received .origin=peer ".family=$SCEN_FAMILY" \
		".saddr=$SCEN_SRV" ".sport=$G_server_port" \
		".daddr=$SCEN_CLI" ".dport=$G_client_port" \
		".owner.comm=$G_client_comm"
	refute_event no-listener
}

@test "no-reply ipv4" { t_no_reply 4; }
@test "no-reply ipv6" { t_no_reply 6; }
@test "no-listener ipv4" { t_cause server no-listener 4; }
@test "no-listener ipv6" { t_cause server no-listener 6; }
@test "no-connection ipv4" { t_cause server no-connection 4; }
@test "no-connection ipv6" { t_cause server no-connection 6; }
@test "stray-ack ipv4" { t_cause server stray-ack 4; }
@test "stray-ack ipv6" { t_cause server stray-ack 6; }
@test "listener-closed ipv4" { t_cause server listener-closed 4; }
@test "listener-closed ipv6" { t_cause server listener-closed 6; }
@test "accept-overflow ipv4" { t_cause server accept-overflow 4; }
@test "accept-overflow ipv6" { t_cause server accept-overflow 6; }
@test "close-unread ipv4" { t_cause server close-unread 4; }
@test "close-unread ipv6" { t_cause server close-unread 6; }
@test "close-linger0 ipv4" { t_cause server close-linger0 4; }
@test "close-linger0 ipv6" { t_cause server close-linger0 6; }
@test "disconnect ipv4" { t_cause client disconnect 4; }
@test "disconnect ipv6" { t_cause client disconnect 6; }
@test "data-after-close ipv4" { t_cause server data-after-close 4; }
@test "data-after-close ipv6" { t_cause server data-after-close 6; }
@test "fin-wait2-abort ipv4" { t_cause server fin-wait2-abort 4; }
@test "fin-wait2-abort ipv6" { t_cause server fin-wait2-abort 6; }
@test "keepalive-timeout ipv4" { t_cause server keepalive-timeout 4; }
@test "keepalive-timeout ipv6" { t_cause server keepalive-timeout 6; }
@test "timewait ipv4" { t_cause server timewait 4; }
@test "timewait ipv6" { t_cause server timewait 6; }
@test "bad-segment ipv4" { t_cause server bad-segment 4; }
@test "bad-segment ipv6" { t_cause server bad-segment 6; }
@test "socket-destroy ipv4" { t_socket_destroy 4; }
@test "socket-destroy ipv6" { t_socket_destroy 6; }
@test "orphan-memory ipv4" { skip "$ORPHAN_SKIP"; }
@test "orphan-memory ipv6" { skip "$ORPHAN_SKIP"; }
@test "received peer-reset (-r) ipv4" { t_received 4; }
@test "received peer-reset (-r) ipv6" { t_received 6; }
