#!/usr/bin/env bats
#
# Loss test: 100000 SYNs to a closed port give 100000 RSTs, and rstwhy must
# report every one of them.

load lib/common

FLOOD_N=100000

setup() {
	make_hosts
}

teardown() {
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

@test "flood: 100000 no-listener RSTs, none lost" {
	local t0 t1 t2 n total secs
	RSTGEN_TIMEOUT=${RSTGEN_FLOOD_TIMEOUT:-600}
	start_rstwhy --netns "$SRV_NSPATH"
	t0=$(date +%s%N)
	run_scen flood 4 -n "$FLOOD_N"
	t1=$(date +%s%N)
	stop_rstwhy
	t2=$(date +%s%N)

	assert_common_fields "$SRV_NSPATH"
	n=$(count_events no-listener)
	total=$(grep -c . "$EVENTS" || true)
	secs=$(((t1 - t0) / 1000000))
	echo "# flood: rstgen flood -n $FLOOD_N took ${secs} ms (~$((FLOOD_N * 1000 / (secs > 0 ? secs : 1))) RST/s)" >&3
	echo "# flood: rstwhy drained and exited $(((t2 - t1) / 1000000)) ms after SIGINT" >&3
	echo "# flood: $n no-listener events, $total events in total" >&3
	echo "# flood: summary: $(grep -m1 captured "$RSTWHY_ERR" || echo '(none)')" >&3

	if ((n != FLOOD_N)); then
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR" 50
		fail "expected exactly $FLOOD_N no-listener events, got $n ($total events in total)"
	fi
	if ! grep -qF "captured $FLOOD_N of $FLOOD_N" "$RSTWHY_ERR"; then
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR" 50
		fail "rstwhy's summary does not say 'captured $FLOOD_N of $FLOOD_N'"
	fi
}
