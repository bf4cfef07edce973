#!/usr/bin/env bats
#
# Outputs: valid UTF-8 whatever bytes a process name holds (JSON, Prometheus labels, pcapng
# comments), outputs that fail (a full filesystem: one line, the true count, exit 1), a reader
# that goes away (rstwhy -j | head -1: a quiet end), and --stats-file.

load lib/common

setup() {
	require_bin "$RSTWHY" rstwhy
}

teardown() {
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

# wait_file_has FILE REGEX SECS: until FILE has a line matching REGEX
wait_file_has() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

@test "a process name cut mid-character: JSON parses, promtool accepts /metrics, tshark reads the comment" {
	local pp m="$BATS_TEST_TMPDIR/metrics.txt" pcap="$BATS_TEST_TMPDIR/rst.pcapng" i
	# 8 Cyrillic letters and z: 17 bytes; the kernel keeps 15, the last one half a letter
	local cut="ёёёёёёёёz" want=$'ёёёёёёё\uFFFD' valid="gw-ünïcode"
	need_cmd curl curl
	need_cmd promtool prometheus
	need_cmd tshark tshark
	make_hosts
	pp=$(free_port)
	start_rstwhy --netns "$SRV_NSPATH" --prometheus "127.0.0.1:$pp" --pcapng "$pcap"
	run_scen close-linger0 4 --server-comm "$cut"
	local spid=$G_server_pid
	run_scen close-linger0 4 --server-comm "$valid"
	local vpid=$G_server_pid
	# /metrics is refreshed every second: wait for the two owners' series
	for ((i = 0; i < 300; i++)); do
		curl -sS --max-time 10 -o "$m" "http://127.0.0.1:$pp/metrics" || true
		[[ $(grep -c 'cause="close-linger0"' "$m") -ge 2 ]] && break
		sleep 0.1
	done
	stop_rstwhy
	grep -F 'cause="close-linger0"' "$m" >&3 || true
	grep -qF "owner=\"$want\"" "$m" || fail "no series with owner=\"$want\" in /metrics"
	grep -qF "owner=\"$valid\"" "$m" || fail "no series with owner=\"$valid\" in /metrics"
	promtool check metrics <"$m" || fail "promtool check metrics rejects /metrics"

	jq -e . "$EVENTS" >/dev/null || fail "the JSON lines do not parse"
	[[ $(jq -r --argjson p "$spid" 'select(.owner.pid == $p) | .owner.comm' "$EVENTS" |
		head -1) == "$want" ]] || fail "owner.comm of pid $spid is not \"$want\""
	[[ $(jq -r --argjson p "$vpid" 'select(.owner.pid == $p) | .owner.comm' "$EVENTS" |
		head -1) == "$valid" ]] || fail "owner.comm of pid $vpid is not \"$valid\""
	grep -qF "$valid" "$EVENTS" || fail "valid UTF-8 was escaped instead of written as text"

	tshark -r "$pcap" -T fields -e frame.comment >"$BATS_TEST_TMPDIR/comments" ||
		fail "tshark cannot read $pcap"
	cat "$BATS_TEST_TMPDIR/comments" >&3
	grep -qF "owner=$spid/$want" "$BATS_TEST_TMPDIR/comments" ||
		fail "no pcapng comment with owner=$spid/$want"
}

@test "JSON to a full filesystem during a flood: one line, the true count, exit 1" {
	local dir="$BATS_TEST_TMPDIR/small" st="$BATS_TEST_TMPDIR/stats.json" rc i
	local ready="$BATS_TEST_TMPDIR/ready" err="$BATS_TEST_TMPDIR/stderr" written lines
	need_cmd unshare util-linux
	make_hosts
	mkdir -p "$dir"
	# a 64 KiB tmpfs in a private mount namespace: it goes away with rstwhy
	unshare --mount --propagation private sh -c '
		mount -t tmpfs -o size=64k rstwhy-test "$1" || exit 99
		"$2" -j --netns "$3" --ready-file "$4" --stats-file "$5" >"$1/events.jsonl" 2>"$6" &
		p=$!
		trap "kill -INT $p" TERM INT
		wait $p; rc=$?
		while kill -0 $p 2>/dev/null; do wait $p; rc=$?; done
		echo $rc >"$7.rc"
		wc -l <"$1/events.jsonl" >"$7.lines"' sh \
		"$dir" "$RSTWHY" "$SRV_NSPATH" "$ready" "$st" "$err" "$BATS_TEST_TMPDIR/out" \
		</dev/null 3>&- &
	RW_PIDS+=("$!")
	for ((i = 0; i < 300; i++)); do
		[[ -e $ready || -e $BATS_TEST_TMPDIR/out.rc ]] && break
		sleep 0.1
	done
	[[ -e $ready ]] || { _rw_show_file stderr "$err"; fail "rstwhy did not start"; }
	# RSTs until rstwhy stops on its own (its only output failed)
	for ((i = 0; i < 20; i++)); do
		[[ -e $BATS_TEST_TMPDIR/out.rc ]] && break
		run_scen flood 4 -n 3000
	done
	for ((i = 0; i < 300; i++)); do
		[[ -e $BATS_TEST_TMPDIR/out.rc ]] && break
		sleep 0.1
	done
	[[ -e $BATS_TEST_TMPDIR/out.rc ]] || fail "rstwhy did not stop after its output failed"
	cat "$err" >&3
	rc=$(cat "$BATS_TEST_TMPDIR/out.rc")
	lines=$(cat "$BATS_TEST_TMPDIR/out.lines")
	((rc == 1)) || { _rw_show_file stderr "$err"; fail "exit status $rc, expected 1"; }
	# one line when it happens (the closing summary says it again, with the count)
	[[ $(grep -c 'No space left on device; output stopped' "$err") == 1 ]] ||
		fail "not exactly one line about the full disk on stderr"
	grep -q "json output failed (No space left on device): $lines written" "$err" ||
		fail "the closing summary does not give what was really written"
	written=$(sed -n 's/.*output stopped after \([0-9]*\) written.*/\1/p' "$err")
	[[ $written == "$lines" ]] || fail "rstwhy says $written written, the file holds $lines lines"
	((lines > 0)) || fail "nothing was written before the disk was full"
	jq -e --argjson n "$lines" '.sinks[0] | .sink == "json" and .written == $n and
		(.error | test("space"))' "$st" >/dev/null || { cat "$st"; fail "stats file: $(cat "$st")"; }
	jq -e '.shown > .sinks[0].written' "$st" >/dev/null ||
		fail "the stats file does not show more events than were written"
}

@test "rstwhy -j | head -1 ends rstwhy quietly with exit 0" {
	local out="$BATS_TEST_TMPDIR/head.out" err="$BATS_TEST_TMPDIR/stderr"
	local ready="$BATS_TEST_TMPDIR/ready" rcf="$BATS_TEST_TMPDIR/rc" i
	make_hosts
	# in a shell of its own, away from the descriptors bats reports on
	bash -c '{ "$1" -j --netns "$2" --ready-file "$3" 2>"$4"; echo $? >"$5"; } | head -1 >"$6"' \
		sh "$RSTWHY" "$SRV_NSPATH" "$ready" "$err" "$rcf" "$out" </dev/null >/dev/null 2>&1 3>&- &
	RW_PIDS+=("$!")
	for ((i = 0; i < 300; i++)); do
		[[ -e $ready ]] && break
		sleep 0.1
	done
	[[ -e $ready ]] || { _rw_show_file stderr "$err"; fail "rstwhy did not start"; }
	# one RST reaches head; rstwhy learns at a later write that its reader left
	for ((i = 0; i < 50; i++)); do
		[[ -e $rcf ]] && break
		run_scen no-listener 4
		sleep 0.2
	done
	for ((i = 0; i < 100; i++)); do
		[[ -e $rcf ]] && break
		sleep 0.1
	done
	[[ -e $rcf ]] || fail "rstwhy kept running after its reader went away"
	[[ $(cat "$rcf") == 0 ]] || { _rw_show_file stderr "$err"; fail "exit status $(cat "$rcf")"; }
	[[ ! -s $err ]] || { _rw_show_file stderr "$err"; fail "rstwhy said something on stderr"; }
	jq -e '.cause == "no-listener"' "$out" >/dev/null || fail "head did not get one event"
}

@test "--stats-file: the closing summary as one JSON object, numbers equal to the prose" {
	local st="$BATS_TEST_TMPDIR/stats.json"
	make_hosts
	start_rstwhy --netns "$SRV_NSPATH" --stats-file "$st"
	run_scen flood 4 -n 50
	stop_rstwhy
	cat "$st" >&3
	jq -e '(.sent|type) == "number" and (.egress|type) == "number" and
		(.received|type) == "number" and (.shown|type) == "number" and
		(.causes|type) == "object" and (.lost|type) == "number" and
		(.hooked|type) == "number" and (.kernel.outrsts|type) == "number" and
		(.kernel.captured|type) == "number" and (.kernel.watched_netns == 1) and
		(.kernel.gone|type) == "number" and .sinks[0].sink == "json" and
		.sinks[0].error == null' "$st" >/dev/null || fail "fields missing or of the wrong type"
	jq -e '.causes["no-listener"] == 50 and .kernel.captured == 50 and .kernel.outrsts == 50
		and .sinks[0].written == 50' "$st" >/dev/null || fail "counts are not the flood's 50"
	grep -qF "captured $(jq .kernel.captured "$st") of $(jq .kernel.outrsts "$st")" \
		"$RSTWHY_ERR" || fail "the prose says other numbers"
	[[ $(grep -c . "$EVENTS") == "$(jq .sinks[0].written "$st")" ]] ||
		fail "written is not the number of lines"
}
