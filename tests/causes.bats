#!/usr/bin/env bats
#
# One test per RST cause and address family: rstgen provokes the RST between
# two private namespaces, rstwhy watches the namespace that sends it, and the
# JSON event must carry the right cause, origin, owner, state and addresses.

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

# Matchers shared by most "sent" events: the RST goes from the server's
# address/port to the client's.
srv_to_cli() {
	SENT=(.dir=sent ".family=$SCEN_FAMILY"
		".saddr=$SCEN_SRV" ".sport=$G_server_port"
		".daddr=$SCEN_CLI" ".dport=$G_client_port")
}

t_no_listener() {
	trace_scenario server no-listener "$1"
	srv_to_cli
	assert_event no-listener "${SENT[@]}" .origin=tcp-stack .owner=null .state=null
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

t_no_connection() {
	trace_scenario server no-connection "$1"
	srv_to_cli
	assert_event no-connection "${SENT[@]}" .origin=tcp-stack .owner=null
}

t_stray_ack() {
	trace_scenario server stray-ack "$1"
	srv_to_cli
	assert_event no-connection "${SENT[@]}" .origin=tcp-stack .state=LISTEN \
		".owner.comm=$G_server_comm"
}

t_listener_closed() {
	trace_scenario server listener-closed "$1"
	assert_event_count_min "${G_expect_rsts:-2}" listener-closed \
		.dir=sent ".family=$SCEN_FAMILY" ".saddr=$SCEN_SRV" ".daddr=$SCEN_CLI" \
		".sport=$G_server_port" .origin=application .state=ESTABLISHED \
		".owner.comm=$G_server_comm" ".owner.pid=$G_server_pid"
}

t_accept_overflow() {
	trace_scenario server accept-overflow "$1"
	assert_event accept-overflow .dir=sent ".family=$SCEN_FAMILY" \
		".saddr=$SCEN_SRV" ".daddr=$SCEN_CLI" ".sport=$G_server_port" \
		.origin=tcp-stack .state=SYN_RECV ".owner.comm=$G_server_comm"
}

t_close_unread() {
	trace_scenario server close-unread "$1"
	srv_to_cli
	assert_event close-unread "${SENT[@]}" .origin=application .state=ESTABLISHED \
		".owner.comm=$G_server_comm" ".owner.pid=$G_server_pid" \
		".actor.comm=$G_server_comm" ".actor.pid=$G_server_pid" \
		".detail.unread_bytes=${G_unread_bytes:-100}"
}

t_close_linger0() {
	trace_scenario server close-linger0 "$1"
	srv_to_cli
	assert_event close-linger0 "${SENT[@]}" .origin=application .state=ESTABLISHED \
		".owner.comm=$G_server_comm" ".owner.pid=$G_server_pid" \
		".actor.comm=$G_server_comm" ".actor.pid=$G_server_pid"
}

t_disconnect() {
	trace_scenario client disconnect "$1"
	need_g client_comm client_pid
	assert_event disconnect .dir=sent ".family=$SCEN_FAMILY" \
		".saddr=$SCEN_CLI" ".sport=$G_client_port" \
		".daddr=$SCEN_SRV" ".dport=$G_server_port" \
		.origin=application .state=ESTABLISHED \
		".owner.comm=$G_client_comm" ".owner.pid=$G_client_pid" \
		".actor.comm=$G_client_comm" ".actor.pid=$G_client_pid"
}

t_data_after_close() {
	trace_scenario server data-after-close "$1"
	srv_to_cli
	assert_event data-after-close "${SENT[@]}" .origin=application .state=FIN_WAIT2 \
		".owner.comm=$G_server_comm" ".owner.pid=$G_server_pid"
}

t_fin_wait2_abort() {
	trace_scenario server fin-wait2-abort "$1"
	srv_to_cli
	assert_event fin-wait2-abort "${SENT[@]}" .origin=application .state=FIN_WAIT2 \
		".owner.comm=$G_server_comm" ".owner.pid=$G_server_pid"
}

t_keepalive_timeout() {
	trace_scenario server keepalive-timeout "$1"
	srv_to_cli
	assert_event keepalive-timeout "${SENT[@]}" .origin=tcp-stack .state=ESTABLISHED \
		".owner.comm=$G_server_comm" ".owner.pid=$G_server_pid" .actor=null
}

t_timewait() {
	trace_scenario server timewait "$1"
	srv_to_cli
	assert_event timewait "${SENT[@]}" .origin=tcp-stack ".owner.comm=$G_server_comm"
}

t_bad_segment() {
	trace_scenario server bad-segment "$1"
	assert_event bad-segment .dir=sent ".family=$SCEN_FAMILY" \
		".saddr=$SCEN_SRV" ".sport=$G_server_port" \
		".daddr=$SCEN_SPOOF" ".dport=$G_client_port" \
		.origin=tcp-stack ".owner.comm=$G_server_comm"
}

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
	srv_to_cli
	assert_event socket-destroy "${SENT[@]}" .origin=admin .state=ESTABLISHED \
		".owner.comm=$G_server_comm" ".owner.pid=$G_server_pid" .actor.comm=ss
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
@test "no-listener ipv4" { t_no_listener 4; }
@test "no-listener ipv6" { t_no_listener 6; }
@test "no-connection ipv4" { t_no_connection 4; }
@test "no-connection ipv6" { t_no_connection 6; }
@test "stray-ack ipv4" { t_stray_ack 4; }
@test "stray-ack ipv6" { t_stray_ack 6; }
@test "listener-closed ipv4" { t_listener_closed 4; }
@test "listener-closed ipv6" { t_listener_closed 6; }
@test "accept-overflow ipv4" { t_accept_overflow 4; }
@test "accept-overflow ipv6" { t_accept_overflow 6; }
@test "close-unread ipv4" { t_close_unread 4; }
@test "close-unread ipv6" { t_close_unread 6; }
@test "close-linger0 ipv4" { t_close_linger0 4; }
@test "close-linger0 ipv6" { t_close_linger0 6; }
@test "disconnect ipv4" { t_disconnect 4; }
@test "disconnect ipv6" { t_disconnect 6; }
@test "data-after-close ipv4" { t_data_after_close 4; }
@test "data-after-close ipv6" { t_data_after_close 6; }
@test "fin-wait2-abort ipv4" { t_fin_wait2_abort 4; }
@test "fin-wait2-abort ipv6" { t_fin_wait2_abort 6; }
@test "keepalive-timeout ipv4" { t_keepalive_timeout 4; }
@test "keepalive-timeout ipv6" { t_keepalive_timeout 6; }
@test "timewait ipv4" { t_timewait 4; }
@test "timewait ipv6" { t_timewait 6; }
@test "bad-segment ipv4" { t_bad_segment 4; }
@test "bad-segment ipv6" { t_bad_segment 6; }
@test "socket-destroy ipv4" { t_socket_destroy 4; }
@test "socket-destroy ipv6" { t_socket_destroy 6; }
@test "orphan-memory ipv4" { skip "$ORPHAN_SKIP"; }
@test "orphan-memory ipv6" { skip "$ORPHAN_SKIP"; }
@test "received peer-reset (-r) ipv4" { t_received 4; }
@test "received peer-reset (-r) ipv6" { t_received 6; }
