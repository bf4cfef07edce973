#!/usr/bin/env bats
#
# Storms: --summary (table and JSON), listener health, --prometheus with a real
# Prometheus server, bounded series, a stuck scraper, bad input, and the contrib/ artefacts
# (alert rules, systemd unit).
#
# tools/stormgen plays the gateway story between two private namespaces: a "gateway" server
# with backlog 8 that accepts slowly or not at all, and a burst of 200 "device" connections.
# With tcp_abort_on_overflow=0 (the default) the accept queue overflows without a single RST;
# only the listener line shows it. tcp_abort_on_overflow is set to 1 only inside a test's own
# server namespace (a per-namespace sysctl), never in the root namespace.
#
# Everything that listens in the root namespace (rstwhy's /metrics, the Prometheus server)
# listens on 127.0.0.1, on a port that was free when the test picked it.

load lib/common

STORMGEN="${STORMGEN:-$ROOT/.output/stormgen}"
ALERTS="$ROOT/contrib/prometheus/rstwhy-alerts.yml"
UNIT="$ROOT/contrib/systemd/rstwhy.service"

STORM_PID=""
PROMETHEUS_PID=""

teardown() {
	stop_prometheus || true
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

# --------------------------------------------------------------------------
# helpers

# start_storm ARGS...: stormgen in the background between the test hosts, on $STORM_PORT.
# Always pass --hold: it bounds the run.
start_storm() {
	require_bin "$STORMGEN" stormgen
	[[ -z $STORM_PID ]] || fail "start_storm: stormgen already running"
	STORM_OUT="$BATS_TEST_TMPDIR/storm.out"
	STORM_ERR="$BATS_TEST_TMPDIR/storm.err"
	"$STORMGEN" --server-ns "$SRV_NSPATH" --client-ns "$CLI_NSPATH" -a "$SRV4" -c "$CLI4" \
		-p "$STORM_PORT" "$@" >"$STORM_OUT" 2>"$STORM_ERR" </dev/null 3>&- &
	STORM_PID=$!
	RW_PIDS+=("$STORM_PID")
}

# wait_storm_line LINE [SECS]: until stormgen printed LINE (e.g. ready=1)
wait_storm_line() {
	local line=$1 secs=${2:-30} i
	for ((i = 0; i < secs * 10; i++)); do
		grep -qxF -- "$line" "$STORM_OUT" 2>/dev/null && return 0
		if ! kill -0 "$STORM_PID" 2>/dev/null; then
			grep -qxF -- "$line" "$STORM_OUT" && return 0
			_rw_show_file "stormgen stdout" "$STORM_OUT"
			_rw_show_file "stormgen stderr" "$STORM_ERR"
			fail "stormgen exited without printing '$line'"
		fi
		sleep 0.1
	done
	_rw_show_file "stormgen stdout" "$STORM_OUT"
	fail "stormgen did not print '$line' within $secs s"
}

# stop_storm: SIGTERM (or its --hold ran out), wait, require status 0 and done=1
stop_storm() {
	local rc=0
	[[ -n $STORM_PID ]] || fail "stop_storm: stormgen is not running"
	kill -TERM "$STORM_PID" 2>/dev/null || true
	_rw_wait_gone "$STORM_PID" 150 || fail "stormgen did not exit within 15 s of SIGTERM"
	wait "$STORM_PID" || rc=$?
	_rw_forget_pid "$STORM_PID"
	STORM_PID=""
	if ((rc != 0)) || ! grep -qx 'done=1' "$STORM_OUT"; then
		_rw_show_file "stormgen stdout" "$STORM_OUT"
		_rw_show_file "stormgen stderr" "$STORM_ERR"
		fail "stormgen exited with status $rc"
	fi
}

# storm_kv KEY: a key=value stormgen printed
storm_kv() {
	sed -n "s/^$1=//p" "$STORM_OUT" | tail -n 1
}

# summary_jq JQ: run JQ with -s over rstwhy's summary JSON lines ($EVENTS)
summary_jq() {
	jq -s "$@" "$EVENTS"
}

# wait_summary JQ_BOOL SECS WHAT: until some summary line satisfies JQ_BOOL
wait_summary() {
	local cond=$1 secs=$2 what=$3 i
	for ((i = 0; i < secs * 10; i++)); do
		if [[ $(jq -c "select($cond)" "$EVENTS" 2>/dev/null | head -c 1) == "{" ]]; then
			return 0
		fi
		sleep 0.1
	done
	_rw_show_file "rstwhy summary lines" "$EVENTS" 60
	fail "no summary line within $secs s with: $what"
}

# wait_overflow_rows: until a summary line counts accept-overflow RSTs owned by the gateway and
# shows its listener (the storm is held meanwhile, however long the burst takes)
wait_overflow_rows() {
	wait_summary "any(.rows[]; .cause == \"accept-overflow\" and .port == $STORM_PORT and
		.owner.comm == \"gateway\") and any(.listeners[]; .port == $STORM_PORT)" 60 \
		"accept-overflow rows owned by gateway on port $STORM_PORT"
}

# scrape PORT FILE: GET /metrics from rstwhy
scrape() {
	curl -sS --max-time 10 -o "$2" "http://127.0.0.1:$1/metrics"
}

# metric FILE SERIES: the value of the sample line whose name{labels} is exactly SERIES
metric() {
	awk -v s="$2" '$1 == s { print $2; n++ } END { exit n != 1 }' "$1"
}

# wait_metric PORT SERIES VALUE SECS [above]: scrape until SERIES has VALUE (or, with
# "above", an integer value above VALUE)
wait_metric() {
	local port=$1 series=$2 want=$3 secs=$4 above=${5:-} i got=""
	for ((i = 0; i < secs * 5; i++)); do
		if scrape "$port" "$BATS_TEST_TMPDIR/metrics.txt" 2>/dev/null; then
			got=$(metric "$BATS_TEST_TMPDIR/metrics.txt" "$series" 2>/dev/null || true)
			if [[ -n $above ]]; then
				[[ $got =~ ^[0-9]+$ ]] && ((got > want)) && return 0
			else
				[[ $got == "$want" ]] && return 0
			fi
		fi
		sleep 0.2
	done
	_rw_show_file "last /metrics" "$BATS_TEST_TMPDIR/metrics.txt"
	fail "$series: expected ${above:+a value above }$want within $secs s, last value '${got}'"
}

# start_prometheus TARGET_PORT [RULES_FILE]: a Prometheus server of our own (Debian's
# package), scraping 127.0.0.1:TARGET_PORT every second, storage in the test's tmpdir,
# listening on a free loopback port; waits until /-/ready answers.
start_prometheus() {
	local target=$1 rules=${2:-} dir="$BATS_TEST_TMPDIR/prometheus" i
	need_cmd prometheus prometheus
	mkdir -p "$dir/data"
	PROMETHEUS_PORT=$(free_port)
	{
		echo "global:"
		echo "  scrape_interval: 1s"
		echo "  scrape_timeout: 1s"
		echo "  evaluation_interval: 1s"
		if [[ -n $rules ]]; then
			echo "rule_files:"
			echo "  - '$rules'"
		fi
		echo "scrape_configs:"
		echo "  - job_name: rstwhy"
		echo "    static_configs:"
		echo "      - targets: ['127.0.0.1:$target']"
	} >"$dir/prometheus.yml"
	PROMETHEUS_LOG="$dir/prometheus.log"
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
		--storage.tsdb.retention.time=1h >"$PROMETHEUS_LOG" 2>&1 </dev/null 3>&- &
	PROMETHEUS_PID=$!
	RW_PIDS+=("$PROMETHEUS_PID")
	for ((i = 0; i < 600; i++)); do
		curl -sf --max-time 2 "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" >/dev/null && return 0
		if ! kill -0 "$PROMETHEUS_PID" 2>/dev/null; then
			_rw_show_file "prometheus log" "$PROMETHEUS_LOG" 40
			fail "prometheus exited before it was ready"
		fi
		sleep 0.1
	done
	_rw_show_file "prometheus log" "$PROMETHEUS_LOG" 40
	fail "prometheus was not ready within 60 s"
}

# stop_prometheus: SIGTERM our own server (only its PID), wait until it is gone
stop_prometheus() {
	[[ -n $PROMETHEUS_PID ]] || return 0
	local pid=$PROMETHEUS_PID
	kill -TERM "$pid" 2>/dev/null || true
	if ! _rw_wait_gone "$pid" 300; then
		kill -KILL "$pid" 2>/dev/null || true
		_rw_wait_gone "$pid" 50 || true
	fi
	wait "$pid" 2>/dev/null || true
	_rw_forget_pid "$pid"
	PROMETHEUS_PID=""
	! kill -0 "$pid" 2>/dev/null || fail "prometheus ($pid) is still running"
}

# prom_api PATH [curl args...]: GET from our Prometheus' HTTP API
prom_api() {
	local path=$1
	shift
	curl -sS --max-time 5 -G "http://127.0.0.1:$PROMETHEUS_PORT$path" "$@"
}

# closing_captured: "captured N of M" from rstwhy's closing summary -> "N M"
closing_captured() {
	sed -n 's/.*captured \([0-9]*\) of \([0-9]*\).*/\1 \2/p' "$RSTWHY_ERR" | tail -n 1
}

# --------------------------------------------------------------------------
# --summary

@test "summary -j: a flood of no-listener RSTs, counted per interval, totals equal the flood and the closing summary" {
	local n1=10000 n=20000 ino
	RSTGEN_TIMEOUT=300
	make_hosts
	ino=$(ns_inode "$SRV_NSPATH")
	start_rstwhy --netns "$SRV_NSPATH" --summary=0.5
	# the flood in two halves, the second once an interval has counted all of the first: two
	# intervals with counts however fast (or slow) this machine floods
	run_scen flood 4 -n "$n1"
	need_g refused
	((G_refused == n1)) || fail "rstgen flood: only $G_refused of $n1 connections were refused"
	wait_summary ".totals.total == $n1" 60 "a total of $n1 (the first half of the flood)"
	run_scen flood 4 -n "$((n - n1))"
	stop_rstwhy
	need_g refused
	((G_refused == n - n1)) || fail "rstgen flood: only $G_refused of $((n - n1)) connections were refused"

	# every line is one interval object with the documented keys
	summary_jq -e '([.[] | select(.totals.count > 0)] | length >= 2) and all(.[]; type == "object" and has("time") and
		has("interval") and (.rows | type == "array") and has("totals") and
		(.listeners | type == "array"))' >/dev/null ||
		{ _rw_show_file summary "$EVENTS" 20; fail "summary lines lack documented keys"; }
	# only our flood: cause no-listener, our port and namespace, no owner
	summary_jq -e --argjson p "$SCEN_PORT" --argjson ino "$ino" '[.[].rows[]] | length > 0 and
		all(.[]; .cause == "no-listener" and .origin == "tcp-stack" and .dir == "sent" and
		.port == $p and .netns == $ino and .owner == null)' >/dev/null ||
		{ _rw_show_file summary "$EVENTS" 20; fail "rows other than no-listener on port $SCEN_PORT"; }
	# per line: rows add up to the totals
	summary_jq -e 'all(.[]; ([.rows[].count] | add // 0) == .totals.count and
		([.rows[].total] | add // 0) == .totals.total)' >/dev/null ||
		{ _rw_show_file summary "$EVENTS" 20; fail "rows do not add up to the totals line"; }
	# the intervals' counts add up to the flood, and so does the last total
	local sum last lost maxrate
	sum=$(summary_jq '[.[].totals.count] | add')
	last=$(summary_jq '.[-1].totals.total')
	lost=$(summary_jq '[.[].totals.lost] | max')
	maxrate=$(summary_jq '[.[].totals.rate] | max')
	echo "# summary: $(summary_jq length) intervals, sum of counts $sum, last total $last, max rate $maxrate/s" >&3
	((sum == n)) || fail "the intervals' counts add up to $sum, expected $n"
	((last == n)) || fail "the last interval's total is $last, expected $n"
	((lost == 0)) || fail "$lost events lost"
	jq -se 'any(.[].totals.rate; . > 0)' "$EVENTS" >/dev/null || fail "no interval with a rate > 0"
	# the closing summary agrees
	[[ $(closing_captured) == "$n $n" ]] ||
		{ _rw_show_file "rstwhy stderr" "$RSTWHY_ERR"; fail "closing summary does not say captured $n of $n"; }
	grep -q "no-listener $n" "$RSTWHY_ERR" || fail "closing summary does not count no-listener $n"
}

@test "summary table: TOTAL line and the LISTENERS line of the gateway story (queue full, drops)" {
	local out="$BATS_TEST_TMPDIR/table.txt" err="$BATS_TEST_TMPDIR/table.err" pid ino full
	make_hosts
	STORM_PORT=$SCEN_PORT
	ino=$(ns_inode "$SRV_NSPATH")
	# ipv4 port P netns INO  QUEUE LIMIT DROPS NS_OVFL   <- accept queue full: ...
	full="^  ipv4  port $STORM_PORT +netns $ino +9 +8 +[1-9][0-9]* +[1-9][0-9]*   <- accept queue full: connections dropped\$"
	READY_FILE="$BATS_TEST_TMPDIR/ready"
	env --default-signal=INT "$RSTWHY" --summary=0.5 --netns "$SRV_NSPATH" -P "$STORM_PORT" \
		--ready-file "$READY_FILE" >"$out" 2>"$err" </dev/null 3>&- &
	pid=$!
	RW_PIDS+=("$pid")
	for ((i = 0; i < 300; i++)); do [[ -e $READY_FILE ]] && break; sleep 0.1; done
	[[ -e $READY_FILE ]] || { _rw_show_file stderr "$err"; fail "rstwhy not ready"; }
	start_storm --hold 300 --delay 1
	wait_storm_line ready=1
	# until an interval shows the full queue with drops (asserted below), the storm still held
	for ((i = 0; i < 600; i++)); do
		grep -qE "$full" "$out" && break
		sleep 0.1
	done
	kill -INT "$pid"
	_rw_wait_gone "$pid" 300 || fail "rstwhy did not exit"
	wait "$pid" || fail "rstwhy exited with status $?"
	_rw_forget_pid "$pid"
	stop_storm

	grep -q '^rstwhy summary [0-9:]*  last [0-9.]*s' "$out" || { cat "$out"; fail "no summary header"; }
	grep -Eq '^ +RST/s +TOTAL +CAUSE +ORIGIN +DIR +PORT +OWNER$' "$out" || fail "no column header"
	grep -Eq '^ +[0-9.]+ +[0-9]+  TOTAL$' "$out" || fail "no TOTAL line"
	grep -q '^LISTENERS on those ports *QUEUE LIMIT  DROPS NS_OVFL' "$out" ||
		{ _rw_show_file table "$out" 80; fail "no LISTENERS header"; }
	grep -E "$full" "$out" ||
		{ _rw_show_file table "$out" 80; fail "no listener line with queue 9 of 8 and drops"; }
}

@test "listener health, tcp_abort_on_overflow=0: queue at its limit, drops and ListenOverflows, no RST at all" {
	local ino
	make_hosts
	STORM_PORT=$SCEN_PORT
	ino=$(ns_inode "$SRV_NSPATH")
	start_rstwhy --netns "$SRV_NSPATH" -P "$STORM_PORT" --summary=0.5
	start_storm --accept-rate 0 --delay 1.5 --hold 300
	wait_storm_line ready=1
	[[ $(storm_kv abort_on_overflow) == 0 ]] || fail "the server namespace has tcp_abort_on_overflow=$(storm_kv abort_on_overflow)"
	# the kernel queues while ack_backlog <= backlog: the queue peaks at the limit + 1
	wait_summary "any(.listeners[]; .port == $STORM_PORT and .netns == $ino and
		.accept_limit == 8 and .accept_queue > .accept_limit and .drops > 0 and
		.ns_listen_overflows > 0)" 60 "listener $STORM_PORT: queue over the limit 8, drops > 0, ns_listen_overflows > 0"
	stop_rstwhy # the storm is still held: no listener was closed yet
	stop_storm

	local q
	q=$(summary_jq -c "[.[].listeners[] | select(.port == $STORM_PORT) | .accept_queue] | max")
	echo "# listener $STORM_PORT: max accept_queue $q of 8; drops per interval: $(summary_jq -c "[.[].listeners[] | select(.port == $STORM_PORT) | .drops]")" >&3
	((q == 9)) || fail "accept_queue peaked at $q, expected 9 (limit 8 + 1: the kernel queues while ack_backlog <= backlog)"
	# the listener is IPv4 and only one line per interval
	summary_jq -e "all(.[]; [.listeners[] | select(.port == $STORM_PORT)] | length <= 1)" >/dev/null ||
		fail "a listener shows twice in one interval"
	# the gateway story: the queue overflows, and not a single RST is sent
	summary_jq -e 'all(.[]; .totals.total == 0 and (.rows | length) == 0)' >/dev/null ||
		{ _rw_show_file summary "$EVENTS" 40; fail "RSTs were reported while tcp_abort_on_overflow=0"; }
	[[ $(closing_captured) == "0 0" ]] ||
		{ _rw_show_file "rstwhy stderr" "$RSTWHY_ERR"; fail "the kernel counted RSTs in the server namespace"; }
	# and the devices saw it as connects that never complete, not as resets
	(($(storm_kv reset) == 0 && $(storm_kv refused) == 0)) ||
		fail "devices saw resets/refusals: $(grep -E '^(reset|refused)=' "$STORM_OUT" | tr '\n' ' ')"
	(($(storm_kv accepted) == 0)) || fail "the gateway accepted connections with --accept-rate 0"
}

@test "accept overflow, tcp_abort_on_overflow=1 in the server namespace: accept-overflow rows owned by gateway" {
	local root_before root_after ino n
	make_hosts
	STORM_PORT=$SCEN_PORT
	ino=$(ns_inode "$SRV_NSPATH")
	root_before=$(cat /proc/sys/net/ipv4/tcp_abort_on_overflow)
	ip netns exec "$SRV_NS" sysctl -qw net.ipv4.tcp_abort_on_overflow=1
	root_after=$(cat /proc/sys/net/ipv4/tcp_abort_on_overflow)
	[[ $root_before == "$root_after" ]] || fail "the root namespace's tcp_abort_on_overflow changed"

	start_rstwhy --netns "$SRV_NSPATH" -P "$STORM_PORT" --summary=0.5
	# TCP_DEFER_ACCEPT: a handshake becomes a connection with the device's first data, so the
	# devices that send data right away find the queue full (on a zero-latency veth every
	# plain handshake completes inside connect(), and a full queue then drops only SYNs)
	start_storm --accept-rate 0 --defer-accept 5 --delay 1 --hold 300
	wait_storm_line ready=1
	wait_overflow_rows
	stop_storm
	stop_rstwhy
	[[ $(storm_kv abort_on_overflow) == 1 ]] || fail "stormgen saw tcp_abort_on_overflow=$(storm_kv abort_on_overflow)"

	local spid
	spid=$(storm_kv server_pid)
	n=$(summary_jq --argjson p "$STORM_PORT" --argjson ino "$ino" --argjson pid "$spid" '
		[.[-1].rows[] | select(.cause == "accept-overflow" and .origin == "tcp-stack" and
		 .dir == "sent" and .port == $p and .netns == $ino and .owner.comm == "gateway" and
		 .owner.pid == $pid) | .total] | add // 0')
	echo "# accept-overflow RSTs owned by $spid/gateway: $n; devices reset: $(storm_kv reset)" >&3
	((n > 0)) || { _rw_show_file summary "$EVENTS" 40; fail "no accept-overflow row owned by $spid/gateway"; }
	summary_jq -e '[.[-1].rows[] | select(.cause == "accept-overflow" and .owner.comm != "gateway")] | length == 0' >/dev/null ||
		fail "accept-overflow rows with another owner"
	grep -q "accept-overflow $n\b" "$RSTWHY_ERR" ||
		{ _rw_show_file "rstwhy stderr" "$RSTWHY_ERR"; fail "closing summary does not count accept-overflow $n"; }
	local c
	c=$(closing_captured)
	[[ ${c% *} == "${c#* }" && ${c% *} == $(summary_jq '.[-1].totals.total') ]] ||
		fail "summary total $(summary_jq '.[-1].totals.total') vs closing summary: captured $c"
	(($(storm_kv reset) > 0)) || fail "no device saw a reset"
}

# --------------------------------------------------------------------------
# --prometheus

@test "prometheus: /metrics names, labels and values (flood count, listener gauges with -P, build_info); promtool check metrics" {
	local pp n=3000 ino m="$BATS_TEST_TMPDIR/metrics.txt"
	need_cmd curl curl
	need_cmd promtool prometheus
	make_hosts
	ino=$(ns_inode "$SRV_NSPATH")
	STORM_PORT=$((SCEN_PORT + 1))
	pp=$(free_port)
	start_rstwhy -q --prometheus "127.0.0.1:$pp" --netns "$SRV_NSPATH" -P "$SCEN_PORT,$STORM_PORT"
	run_scen flood 4 -n "$n"
	((G_refused == n)) || fail "rstgen flood: only $G_refused of $n refused"
	start_storm --accept-rate 0 --hold 300
	wait_storm_line ready=1
	wait_metric "$pp" "rstwhy_rst_total{cause=\"no-listener\",origin=\"tcp-stack\",dir=\"sent\",port=\"$SCEN_PORT\",port_side=\"local\",owner=\"\",netns=\"$ino\",runtime=\"\",container=\"\",pod_uid=\"\"}" "$n" 15
	wait_metric "$pp" "rstwhy_listener_accept_queue{netns=\"$ino\",port=\"$STORM_PORT\",family=\"ipv4\"}" 9 15
	wait_metric "$pp" "rstwhy_listener_accept_queue_limit{netns=\"$ino\",port=\"$STORM_PORT\",family=\"ipv4\"}" 8 15
	# a scrape with drops counted: the first sighting of a listener is the baseline, the
	# devices' retransmitted SYNs are dropped after it
	wait_metric "$pp" "rstwhy_listener_drops_total{netns=\"$ino\",port=\"$STORM_PORT\",family=\"ipv4\"}" 0 60 above
	wait_metric "$pp" "rstwhy_netns_listen_overflows_total{netns=\"$ino\"}" 0 60 above
	cp "$m" "$BATS_TEST_TMPDIR/scraped.txt"
	m="$BATS_TEST_TMPDIR/scraped.txt"

	local v
	v=$(metric "$m" "rstwhy_listener_drops_total{netns=\"$ino\",port=\"$STORM_PORT\",family=\"ipv4\"}") ||
		fail "no rstwhy_listener_drops_total for the listener"
	((v > 0)) || fail "rstwhy_listener_drops_total is $v"
	v=$(metric "$m" "rstwhy_netns_listen_overflows_total{netns=\"$ino\"}") ||
		fail "no rstwhy_netns_listen_overflows_total"
	((v > 0)) || fail "rstwhy_netns_listen_overflows_total is $v"
	[[ $(metric "$m" rstwhy_events_captured_total) == "$n" ]] || fail "rstwhy_events_captured_total is not $n"
	[[ $(metric "$m" rstwhy_events_lost_total) == 0 ]] || fail "rstwhy_events_lost_total is not 0"
	grep -Eq '^rstwhy_build_info\{version="[^"]+",kernel="'"$(uname -r)"'",tracepoints="[a-z_]+",passive="[a-z]+"\} 1$' "$m" ||
		{ cat "$m"; fail "no rstwhy_build_info{version,kernel,...} 1"; }
	# the only RST series is the flood's: the storm sends none (tcp_abort_on_overflow=0)
	[[ $(grep -c '^rstwhy_rst_total{' "$m") == 1 ]] || { cat "$m"; fail "unexpected rstwhy_rst_total series"; }
	# every family has HELP and TYPE, counters end in _total
	local name
	for name in rstwhy_rst_total rstwhy_listener_accept_queue rstwhy_listener_accept_queue_limit \
		rstwhy_listener_drops_total rstwhy_netns_listen_overflows_total rstwhy_events_lost_total \
		rstwhy_events_captured_total rstwhy_build_info; do
		grep -q "^# HELP $name " "$m" || fail "no HELP for $name"
		grep -Eq "^# TYPE $name (counter|gauge)$" "$m" || fail "no TYPE for $name"
	done
	grep -q '^# TYPE rstwhy_rst_total counter$' "$m" || fail "rstwhy_rst_total is not a counter"
	grep -q '^# TYPE rstwhy_listener_accept_queue gauge$' "$m" || fail "accept_queue is not a gauge"
	promtool check metrics <"$m" || fail "promtool check metrics failed"

	# HTTP: content type, / and an unknown path
	curl -sS --max-time 10 -D "$BATS_TEST_TMPDIR/h.txt" -o /dev/null "http://127.0.0.1:$pp/metrics"
	grep -qi '^Content-Type: text/plain; version=0.0.4' "$BATS_TEST_TMPDIR/h.txt" || fail "wrong Content-Type"
	[[ $(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pp/") == 200 ]] || fail "/ is not 200"
	[[ $(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pp/nope") == 404 ]] || fail "/nope is not 404"
	stop_storm
	stop_rstwhy
}

@test "prometheus: a real Prometheus server scrapes rstwhy every second; the query API returns the flood count; the gateway alert goes pending" {
	local pp n=1234 val i
	need_cmd curl curl
	make_hosts
	STORM_PORT=$((SCEN_PORT + 1))
	pp=$(free_port)
	start_rstwhy -q --prometheus "127.0.0.1:$pp" --netns "$SRV_NSPATH" -P "$SCEN_PORT,$STORM_PORT"
	start_prometheus "$pp" "$ALERTS"
	run_scen flood 4 -n "$n"
	((G_refused == n)) || fail "rstgen flood: only $G_refused of $n refused"

	# bounded poll: Prometheus scrapes every second
	local q="rstwhy_rst_total{port=\"$SCEN_PORT\",cause=\"no-listener\"}"
	for ((i = 0; i < 240; i++)); do
		val=$(prom_api /api/v1/query --data-urlencode "query=$q" | jq -r '.data.result[0].value[1] // empty') || true
		[[ $val == "$n" ]] && break
		sleep 0.5
	done
	echo "# prometheus: $q = ${val:-none} after ~$((i / 2)) s" >&3
	[[ $val == "$n" ]] || { prom_api /api/v1/targets | jq -c '.data.activeTargets[] | {health, lastError}'; fail "query $q returned '${val}', expected $n"; }
	# the series carries the scrape job and all rstwhy labels
	prom_api /api/v1/query --data-urlencode "query=$q" | jq -e --arg p "$SCEN_PORT" '.data.result |
		length == 1 and (.[0].metric | .job == "rstwhy" and .origin == "tcp-stack" and
		.dir == "sent" and .port == $p)' >/dev/null || fail "series labels"
	prom_api /api/v1/targets | jq -e '.data.activeTargets | length == 1 and .[0].health == "up"' >/dev/null ||
		fail "the rstwhy target is not up"
	# the rules file loads into a real server, every rule healthy
	prom_api /api/v1/rules | jq -e '[.data.groups[].rules[]] | length == 7 and all(.[]; .health != "err")' >/dev/null ||
		{ prom_api /api/v1/rules | jq -c '.data.groups[].rules[] | {name, health, lastError}'; fail "rules not loaded or unhealthy"; }

	# the gateway story: queue at its limit and drops -> RstwhyAcceptQueueFull pending (for: 1m)
	start_storm --accept-rate 0 --hold 300
	wait_storm_line ready=1
	for ((i = 0; i < 240; i++)); do
		prom_api /api/v1/alerts | jq -e --arg p "$STORM_PORT" '.data.alerts | any(.[];
			.labels.alertname == "RstwhyAcceptQueueFull" and .labels.port == $p and
			(.state == "pending" or .state == "firing"))' >/dev/null && break
		sleep 0.5
	done
	((i < 240)) || { prom_api /api/v1/alerts | jq -c .; fail "RstwhyAcceptQueueFull did not become pending"; }
	prom_api /api/v1/alerts | jq -e '.data.alerts | all(.[]; .labels.alertname != "RstwhyEventsLost")' >/dev/null ||
		fail "RstwhyEventsLost is active"
	stop_storm
	stop_prometheus
	stop_rstwhy
}

# unit_cmdline PROM_PORT: the shipped unit's ExecStart, with this build's binary and a free port
unit_cmdline() {
	local cmd
	cmd=$(sed -n 's/^ExecStart=//p' "$UNIT")
	[[ $cmd == /usr/local/sbin/rstwhy\ * && $cmd == *127.0.0.1:9464* ]] ||
		fail "unexpected ExecStart: $cmd"
	cmd=${cmd/\/usr\/local\/sbin\/rstwhy/$RSTWHY}
	echo "${cmd/127.0.0.1:9464/127.0.0.1:$1}"
}

# wait_alert NAME JQ_BOOL SECS: until Prometheus shows alert NAME pending or firing and
# JQ_BOOL (over the alert, e.g. .labels.port == "80") holds
wait_alert() {
	local name=$1 cond=$2 secs=$3 i
	for ((i = 0; i < secs * 2; i++)); do
		prom_api /api/v1/alerts | jq -e --arg n "$name" ".data.alerts | any(.[];
			.labels.alertname == \$n and (.state == \"pending\" or .state == \"firing\") and
			($cond))" >/dev/null 2>&1 && { echo "# $name active after ~$((i / 2)) s" >&3; return 0; }
		sleep 0.5
	done
	prom_api /api/v1/alerts | jq -c .
	fail "$name did not become pending within $secs s"
}

@test "fleet: the shipped unit's command line, the gateway story, no RST sent: RstwhyAcceptQueueFull and RstwhyListenOverflows pending in Prometheus" {
	local pp ino cmd pid m="$BATS_TEST_TMPDIR/metrics.txt" i
	need_cmd curl curl
	make_hosts
	STORM_PORT=$SCEN_PORT
	ino=$(ns_inode "$SRV_NSPATH")
	pp=$(free_port)
	cmd=$(unit_cmdline "$pp")
	echo "# $cmd" >&3
	RSTWHY_ERR="$BATS_TEST_TMPDIR/stderr"
	# shellcheck disable=SC2086
	env --default-signal=INT $cmd >"$BATS_TEST_TMPDIR/stdout" 2>"$RSTWHY_ERR" </dev/null 3>&- &
	pid=$!
	RW_PIDS+=("$pid")
	RSTWHY_PID=$pid
	for ((i = 0; i < 600; i++)); do
		scrape "$pp" "$m" 2>/dev/null && grep -q '^rstwhy_build_info' "$m" && break
		kill -0 "$pid" 2>/dev/null || { _rw_show_file stderr "$RSTWHY_ERR"; fail "rstwhy exited"; }
		sleep 0.1
	done
	start_prometheus "$pp" "$ALERTS"
	# the gateway: backlog 8, accepts nothing while devices keep connecting, and the default
	# tcp_abort_on_overflow=0 in its namespace: not a single RST
	start_storm --accept-rate 0 --delay 1 --hold 600
	wait_storm_line ready=1
	[[ $(storm_kv abort_on_overflow) == 0 ]] || fail "tcp_abort_on_overflow is not 0 in the server namespace"
	wait_alert RstwhyAcceptQueueFull ".labels.port == \"$STORM_PORT\" and .labels.netns == \"$ino\"" 300
	wait_alert RstwhyListenOverflows ".labels.netns == \"$ino\"" 300
	scrape "$pp" "$m"
	grep -E "^rstwhy_listener_accept_queue\{netns=\"$ino\",port=\"$STORM_PORT\",family=\"ipv4\"\} 9$" "$m" ||
		{ cat "$m"; fail "no accept queue at 9 (limit 8) for the gateway"; }
	# no RST in the gateway's namespace: the alerts come from listener health alone
	! grep -q "^rstwhy_rst_total{.*netns=\"$ino\"" "$m" || { cat "$m"; fail "RSTs counted in the server namespace"; }
	[[ $(metric "$m" "rstwhy_kernel_out_rsts_total{netns=\"$ino\"}") == 0 ]] ||
		{ cat "$m"; fail "the kernel counted RSTs in the server namespace"; }
	stop_storm
	stop_prometheus
	stop_rstwhy
}

@test "prometheus: the same port refused in two namespaces gives two rstwhy_rst_total series; each namespace's TcpOutRsts beside its captured count" {
	local pp m="$BATS_TEST_TMPDIR/metrics.txt" s c sino cino
	make_hosts
	sino=$(ns_inode "$SRV_NSPATH")
	cino=$(ns_inode "$CLI_NSPATH")
	pp=$(free_port)
	start_rstwhy -q --prometheus "127.0.0.1:$pp"
	run_scen flood 4 -n 30
	((G_refused == 30)) || fail "flood in the server namespace: $G_refused of 30 refused"
	# the same port, the roles swapped: refused in the client namespace
	timeout "$RSTGEN_TIMEOUT" "$RSTGEN" flood --server-ns "$CLI_NSPATH" --client-ns "$SRV_NSPATH" \
		-a "$CLI4" -c "$SRV4" -p "$SCEN_PORT" -n 20 >"$BATS_TEST_TMPDIR/g2.out" 2>&1 ||
		{ cat "$BATS_TEST_TMPDIR/g2.out"; fail "rstgen flood in the client namespace"; }
	grep -qx 'refused=20' "$BATS_TEST_TMPDIR/g2.out" || { cat "$BATS_TEST_TMPDIR/g2.out"; fail "not 20 refused"; }
	s="rstwhy_rst_total{cause=\"no-listener\",origin=\"tcp-stack\",dir=\"sent\",port=\"$SCEN_PORT\",port_side=\"local\",owner=\"\",netns=\"$sino\",runtime=\"\",container=\"\",pod_uid=\"\"}"
	c="rstwhy_rst_total{cause=\"no-listener\",origin=\"tcp-stack\",dir=\"sent\",port=\"$SCEN_PORT\",port_side=\"local\",owner=\"\",netns=\"$cino\",runtime=\"\",container=\"\",pod_uid=\"\"}"
	wait_metric "$pp" "$s" 30 30
	wait_metric "$pp" "$c" 20 30
	wait_metric "$pp" "rstwhy_captured_rsts_total{netns=\"$sino\"}" 30 30
	wait_metric "$pp" "rstwhy_captured_rsts_total{netns=\"$cino\"}" 20 30
	# the kernel's own counters: the namespaces were made for this test, so exactly the floods
	[[ $(metric "$m" "rstwhy_kernel_out_rsts_total{netns=\"$sino\"}") == 30 ]] ||
		{ grep kernel_out "$m"; fail "TcpOutRsts of the server namespace is not 30"; }
	[[ $(metric "$m" "rstwhy_kernel_out_rsts_total{netns=\"$cino\"}") == 20 ]] ||
		{ grep kernel_out "$m"; fail "TcpOutRsts of the client namespace is not 20"; }
	promtool check metrics <"$m" || fail "promtool check metrics failed"
	stop_rstwhy
}

@test "promtool: RstwhyRstsNotCaptured fires on a captured/kernel gap, not where they agree" {
	need_cmd promtool prometheus
	local t="$BATS_TEST_TMPDIR/captured.test.yml"
	cat >"$t" <<EOF
rule_files: ['$ALERTS']
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # netns 1: 100 RSTs a minute, all captured; netns 2: 100 a minute, 60 captured
      - series: 'rstwhy_kernel_out_rsts_total{instance="h:9464",job="rstwhy",netns="1"}'
        values: '500+100x40'
      - series: 'rstwhy_captured_rsts_total{instance="h:9464",job="rstwhy",netns="1"}'
        values: '0+100x40'
      - series: 'rstwhy_kernel_out_rsts_total{instance="h:9464",job="rstwhy",netns="2"}'
        values: '0+100x40'
      - series: 'rstwhy_captured_rsts_total{instance="h:9464",job="rstwhy",netns="2"}'
        values: '0+60x40'
    alert_rule_test:
      - eval_time: 5m
        alertname: RstwhyRstsNotCaptured
        exp_alerts: []
      - eval_time: 25m
        alertname: RstwhyRstsNotCaptured
        exp_alerts:
          - exp_labels: {severity: info, instance: "h:9464", job: rstwhy, netns: "2"}
            exp_annotations:
              summary: "400 RSTs in netns 2 not captured by rstwhy (10m)"
              description: "The kernel of network namespace 2 counted 400 more RSTs in 10 minutes (TcpOutRsts) than rstwhy captured there: their causes are unknown. Look at rstwhy_events_lost_total and at rstwhy's closing summary in the journal."
EOF
	run promtool check rules "$ALERTS"
	echo "$output"
	((status == 0)) || fail "promtool check rules failed"
	run promtool test rules "$t"
	echo "$output"
	((status == 0)) || fail "promtool test rules failed"
}

@test "promtool: check rules on contrib/prometheus/rstwhy-alerts.yml; unit tests of the gateway and lost-events alerts" {
	need_cmd promtool prometheus
	run promtool check rules "$ALERTS"
	echo "$output"
	((status == 0)) || fail "promtool check rules failed"
	[[ $output == *"SUCCESS: 7 rules found"* ]] || fail "expected 7 rules"

	# promtool test rules: the alerts fire on the series rstwhy exports, and stay quiet
	# when the queue has room
	local t="$BATS_TEST_TMPDIR/rules-test.yml"
	cat >"$t" <<EOF
rule_files:
  - $ALERTS
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'rstwhy_listener_accept_queue{instance="h:9464",job="rstwhy",netns="1",port="51244",family="ipv4"}'
        values: '9x40'
      - series: 'rstwhy_listener_accept_queue_limit{instance="h:9464",job="rstwhy",netns="1",port="51244",family="ipv4"}'
        values: '8x40'
      - series: 'rstwhy_listener_drops_total{instance="h:9464",job="rstwhy",netns="1",port="51244",family="ipv4"}'
        values: '0+191x40'
      - series: 'rstwhy_listener_accept_queue{instance="h:9464",job="rstwhy",netns="1",port="80",family="ipv4"}'
        values: '2x40'
      - series: 'rstwhy_listener_accept_queue_limit{instance="h:9464",job="rstwhy",netns="1",port="80",family="ipv4"}'
        values: '128x40'
      - series: 'rstwhy_listener_drops_total{instance="h:9464",job="rstwhy",netns="1",port="80",family="ipv4"}'
        values: '0+5x40'
      - series: 'rstwhy_events_lost_total{instance="h:9464",job="rstwhy"}'
        values: '0 0 0 10 10 10 10 10 10 10'
      - series: 'rstwhy_rst_total{instance="h:9464",job="rstwhy",cause="accept-overflow",origin="tcp-stack",dir="sent",port="51244",port_side="local",owner="gateway",netns="1",runtime="",container="",pod_uid=""}'
        values: '0+600x40'
    alert_rule_test:
      - eval_time: 30s
        alertname: RstwhyAcceptQueueFull
        exp_alerts: []
      - eval_time: 3m
        alertname: RstwhyAcceptQueueFull
        exp_alerts:
          - exp_labels: {severity: warning, instance: "h:9464", job: rstwhy, netns: "1", port: "51244", family: ipv4}
            exp_annotations:
              summary: "Listener on port 51244 (ipv4, netns 1) has a full accept queue and drops connections"
              description: "The accept queue of the listener on port 51244 is at its limit (9 waiting) and the listener keeps dropping SYNs and handshakes. The application accepts connections more slowly than they arrive: clients see timeouts and retransmissions (and accept-overflow RSTs if tcp_abort_on_overflow=1). Look at the accepting process, not the network."
      - eval_time: 2m
        alertname: RstwhyEventsLost
        exp_alerts:
          - exp_labels: {severity: info, instance: "h:9464", job: rstwhy}
            exp_annotations:
              summary: "rstwhy lost 10 events (ring buffer full)"
              description: "RSTs were sent faster than rstwhy could read them; counts per cause are lower bounds. Run rstwhy with --quiet or --summary (counted in the kernel)."
      # rate() over 5m of a counter that starts at 0 reaches 40/s only once the window is
      # full: pending from about 2.5m, firing 5m later
      - eval_time: 5m
        alertname: RstwhyRstRateHigh
        exp_alerts: []
      - eval_time: 10m
        alertname: RstwhyRstRateHigh
        exp_alerts:
          - exp_labels: {severity: warning, instance: "h:9464", cause: accept-overflow, origin: tcp-stack, port: "51244"}
            exp_annotations:
              summary: "40 RST/s accept-overflow (tcp-stack) on port 51244"
              description: "This host has been sending 40 RSTs per second with cause accept-overflow (decided by: tcp-stack) on local port 51244 for 5 minutes. \`rstwhy --summary -P 51244\` shows the owning processes; \`rstwhy -j -P 51244\` the evidence."
EOF
	run promtool test rules "$t"
	echo "$output"
	((status == 0)) || fail "promtool test rules failed"
}

@test "prometheus: --prom-max-series 2 with RSTs on 4 ports: 2 specific series, the rest in port=\"other\", sums equal the total" {
	local pp m="$BATS_TEST_TMPDIR/metrics.txt" p total=0 cnt
	declare -A want
	make_hosts
	pp=$(free_port)
	start_rstwhy -q --prometheus "127.0.0.1:$pp" --prom-max-series 2 --netns "$SRV_NSPATH"
	for i in 1 2 3 4; do
		p=$((SCEN_PORT + 100 * i))
		cnt=$((100 + i))
		run_scen flood 4 -n "$cnt" -p "$p"
		((G_refused == cnt)) || fail "flood on $p: only $G_refused of $cnt refused"
		want[$p]=$cnt
		total=$((total + cnt))
	done
	wait_metric "$pp" rstwhy_events_captured_total "$total" 15
	grep '^rstwhy_rst_total' "$m" >&3 || true

	local specific other sum line port val ns=0 ino
	ino=$(ns_inode "$SRV_NSPATH")
	specific=$(grep -c '^rstwhy_rst_total{.*port="[0-9]*"' "$m" || true)
	other=$(grep -c '^rstwhy_rst_total{cause="no-listener",origin="tcp-stack",dir="sent",port="other",port_side="local",owner="other",netns="other",runtime="other",container="other",pod_uid="other"}' "$m" || true)
	((specific == 2)) || { cat "$m"; fail "$specific port-specific series, expected 2"; }
	((other == 1)) || { cat "$m"; fail "$other port=\"other\" series, expected 1"; }
	sum=$(awk '/^rstwhy_rst_total\{/ { s += $2 } END { print s + 0 }' "$m")
	((sum == total)) || { cat "$m"; fail "rstwhy_rst_total series add up to $sum, expected $total"; }
	# each specific series holds exactly its port's RSTs
	while read -r line; do
		[[ $line =~ port=\"([0-9]+)\".*\}\ ([0-9]+)$ ]] || continue
		port=${BASH_REMATCH[1]}
		val=${BASH_REMATCH[2]}
		[[ ${want[$port]:-} == "$val" ]] || fail "series for port $port is $val, expected ${want[$port]:-none}"
		ns=$((ns + val))
	done < <(grep '^rstwhy_rst_total{' "$m")

	# later RSTs: a port with its own series keeps it (a monotonic counter), a folded one
	# lands in "other"
	local kept folded oval
	kept=$(grep -o '^rstwhy_rst_total{[^}]*port="[0-9]*"' "$m" | head -n 1 | sed 's/.*port="\([0-9]*\)"/\1/')
	for p in "${!want[@]}"; do
		grep -q "port=\"$p\"" "$m" || folded=$p
	done
	oval=$(metric "$m" 'rstwhy_rst_total{cause="no-listener",origin="tcp-stack",dir="sent",port="other",port_side="local",owner="other",netns="other",runtime="other",container="other",pod_uid="other"}')
	run_scen flood 4 -n 7 -p "$kept"
	run_scen flood 4 -n 9 -p "$folded"
	wait_metric "$pp" rstwhy_events_captured_total "$((total + 16))" 15
	[[ $(metric "$m" "rstwhy_rst_total{cause=\"no-listener\",origin=\"tcp-stack\",dir=\"sent\",port=\"$kept\",port_side=\"local\",owner=\"\",netns=\"$ino\",runtime=\"\",container=\"\",pod_uid=\"\"}") == $((want[$kept] + 7)) ]] ||
		{ cat "$m"; fail "the series of port $kept did not grow by 7"; }
	[[ $(metric "$m" 'rstwhy_rst_total{cause="no-listener",origin="tcp-stack",dir="sent",port="other",port_side="local",owner="other",netns="other",runtime="other",container="other",pod_uid="other"}') == $((oval + 9)) ]] ||
		{ cat "$m"; fail "the other series did not grow by 9"; }
	(($(grep -c '^rstwhy_rst_total{' "$m") == 3)) || { cat "$m"; fail "series count changed"; }
	stop_rstwhy
}

@test "prometheus: a stuck scraper (connects, never sends) blocks neither tracing nor the next scrape" {
	local pp n=5000 fd t0 t1 ms ino
	need_cmd curl curl
	make_hosts
	ino=$(ns_inode "$SRV_NSPATH")
	pp=$(free_port)
	start_rstwhy -q --prometheus "127.0.0.1:$pp" --netns "$SRV_NSPATH"
	exec {fd}<>"/dev/tcp/127.0.0.1/$pp" || fail "cannot connect to 127.0.0.1:$pp"
	run_scen flood 4 -n "$n"
	((G_refused == n)) || fail "rstgen flood: only $G_refused of $n refused"
	t0=$(date +%s%N)
	scrape "$pp" "$BATS_TEST_TMPDIR/m1.txt" || fail "the scrape behind a stuck connection failed"
	t1=$(date +%s%N)
	ms=$(((t1 - t0) / 1000000))
	# that scrape was answered while the stuck connection was still open
	echo "# a scrape behind a stuck connection took $ms ms" >&3
	exec {fd}>&-
	wait_metric "$pp" "rstwhy_rst_total{cause=\"no-listener\",origin=\"tcp-stack\",dir=\"sent\",port=\"$SCEN_PORT\",port_side=\"local\",owner=\"\",netns=\"$ino\",runtime=\"\",container=\"\",pod_uid=\"\"}" "$n" 10
	stop_rstwhy
	[[ $(closing_captured) == "$n $n" ]] ||
		{ _rw_show_file "rstwhy stderr" "$RSTWHY_ERR"; fail "the flood was not fully captured during the stuck scrape"; }
}

@test "prometheus: a scraper that trickles its request does not block other scrapes" {
	local pp fd i code
	need_cmd curl curl
	pp=$(free_port)
	start_rstwhy -q --prometheus "127.0.0.1:$pp"
	exec {fd}<>"/dev/tcp/127.0.0.1/$pp"
	(for ((i = 0; i < 20; i++)); do printf G; sleep 1; done) >&"$fd" &
	local trickler=$!
	RW_PIDS+=("$trickler")
	sleep 0.5
	code=$(curl -s --max-time 8 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pp/metrics") || true
	kill "$trickler" 2>/dev/null || true
	exec {fd}>&-
	stop_rstwhy
	[[ $code == 200 ]] || fail "a scrape during a trickling request got '$code' within 8 s"
}

@test "summary honours -P and --cause like per-event output" {
	make_hosts
	start_rstwhy --summary=0.5 --netns "$SRV_NSPATH" -P "$((SCEN_PORT + 1))"
	run_scen flood 4 -n 100
	stop_rstwhy
	summary_jq -e '[.[].rows[]] | length == 0' >/dev/null ||
		{ _rw_show_file summary "$EVENTS" 10; fail "rows for port $SCEN_PORT although -P $((SCEN_PORT + 1))"; }
	start_rstwhy --summary=0.5 --netns "$SRV_NSPATH" --cause accept-overflow
	run_scen flood 4 -n 100
	stop_rstwhy
	summary_jq -e '[.[].rows[]] | length == 0' >/dev/null ||
		{ _rw_show_file summary "$EVENTS" 10; fail "no-listener rows although --cause accept-overflow"; }
}

@test "prometheus: rstwhy_netns_listen_overflows_total stays while any listener of the namespace is seen" {
	local pp ino m="$BATS_TEST_TMPDIR/metrics.txt" a b pa pb gone i
	make_hosts
	ino=$(ns_inode "$SRV_NSPATH")
	pp=$(free_port)
	a=$((SCEN_PORT + 1))
	b=$((SCEN_PORT + 2))
	start_rstwhy -q --prometheus "127.0.0.1:$pp" --netns "$SRV_NSPATH" -P "$a,$b"
	# two listeners in one namespace; close each in turn while the other stays
	# (one of the two is the first entry rstwhy recorded for the namespace)
	for gone in a b; do
		for p in $a $b; do
			grep -qx "listening=1" "$BATS_TEST_TMPDIR/storm.$p.out" 2>/dev/null && continue
			"$STORMGEN" --server-ns "$SRV_NSPATH" --client-ns "$CLI_NSPATH" -a "$SRV4" -p "$p" \
				--clients 1 --hold 300 >"$BATS_TEST_TMPDIR/storm.$p.out" 2>&1 </dev/null 3>&- &
			eval "p$p=\$!"
			RW_PIDS+=("$!")
		done
		for p in $a $b; do
			wait_metric "$pp" "rstwhy_listener_accept_queue_limit{netns=\"$ino\",port=\"$p\",family=\"ipv4\"}" 8 15
		done
		p=${!gone}
		pa="p$p"
		kill -TERM "${!pa}"
		wait "${!pa}" || true
		rm -f "$BATS_TEST_TMPDIR/storm.$p.out"
		for ((i = 0; i < 300; i++)); do
			scrape "$pp" "$m"
			grep -q "^rstwhy_listener_accept_queue{.*port=\"$p\"" "$m" || break
			sleep 0.2
		done
		! grep -q "^rstwhy_listener_accept_queue{.*port=\"$p\"" "$m" ||
			fail "the listener on port $p is still in the scrape 60 s after it closed"
		grep -q "^rstwhy_listener_accept_queue{" "$m" || fail "no listener left in the scrape"
		grep -q "^rstwhy_netns_listen_overflows_total{netns=\"$ino\"}" "$m" ||
			{ cat "$m"; fail "rstwhy_netns_listen_overflows_total vanished after port $p closed, although a listener of the namespace is still shown"; }
	done
	stop_rstwhy
}

@test "quiet: -q without --prometheus still counts, or is refused" {
	local n=500
	make_hosts
	start_rstwhy -q --netns "$SRV_NSPATH"
	run_scen flood 4 -n "$n"
	stop_rstwhy
	[[ $(closing_captured) == "$n $n" ]] ||
		{ _rw_show_file "rstwhy stderr" "$RSTWHY_ERR"; fail "rstwhy -q: captured $(closing_captured), expected $n $n"; }
}

# --------------------------------------------------------------------------
# bad input

@test "bad input: --prometheus address in use (exit 1), bad addresses, --summary=0|abc, --prom-max-series 0, --watch-listeners (exit 2), one line each" {
	local pp out err rc a
	pp=$(free_port)
	# the port is taken by another rstwhy
	start_rstwhy -q --prometheus "127.0.0.1:$pp"
	out="$BATS_TEST_TMPDIR/o"
	err="$BATS_TEST_TMPDIR/e"
	rc=0
	timeout 60 "$RSTWHY" -q --prometheus "127.0.0.1:$pp" -d 5 >"$out" 2>"$err" </dev/null || rc=$?
	cat "$err"
	((rc == 1)) || fail "address in use: exit $rc, expected 1"
	[[ $(wc -l <"$err") == 1 ]] || fail "address in use: expected one line on stderr"
	grep -q "127.0.0.1:$pp" "$err" && grep -qi 'in use' "$err" || fail "the message does not name the address and 'in use'"
	[[ ! -s $out ]] || fail "output on stdout"
	stop_rstwhy

	for a in "--prometheus nonsense" "--prometheus 127.0.0.1:0" "--prometheus 127.0.0.1:65536" \
		"--prometheus 127.0.0.1:" "--prometheus 127.0.0.1:http" "--prometheus [::1:9464" \
		"--summary=0" "--summary=abc" "--summary=-2" "--prom-max-series 0" \
		"--prom-max-series x" "--watch-listeners all" "--summary --watch-listeners 0" \
		"--summary --watch-listeners 80,x" "--summary --watch-listeners 80," \
		"--summary --watch-listeners 70000" "--summary --watch-listeners none"; do
		rc=0
		# shellcheck disable=SC2086
		timeout 30 "$RSTWHY" $a >"$out" 2>"$err" </dev/null || rc=$?
		echo "$a -> $rc: $(cat "$err")"
		((rc == 2)) || fail "'$a': exit $rc, expected 2"
		[[ $(wc -l <"$err") == 1 ]] || fail "'$a': expected one line on stderr"
		[[ ! -s $out ]] || fail "'$a': output on stdout"
	done
}

# --------------------------------------------------------------------------
# contrib/systemd/rstwhy.service

@test "systemd unit: systemd-analyze verify; rstwhy works with exactly the unit's capability bounding set" {
	local caps setcaps c pid ino
	grep -qx 'ExecStart=/usr/local/sbin/rstwhy --quiet --prometheus 127.0.0.1:9464 --watch-listeners all' "$UNIT" ||
		fail "ExecStart is not 'rstwhy --quiet --prometheus 127.0.0.1:9464 --watch-listeners all'"
	if command -v systemd-analyze >/dev/null; then
		local d="$BATS_TEST_TMPDIR/unit"
		mkdir -p "$d"
		sed "s|^ExecStart=/usr/local/sbin/rstwhy|ExecStart=$RSTWHY|" "$UNIT" >"$d/rstwhy.service"
		run systemd-analyze verify "$d/rstwhy.service"
		echo "$output"
		((status == 0)) && [[ -z $output ]] || fail "systemd-analyze verify complained"
	fi

	# CapabilityBoundingSet=CAP_A CAP_B ... -> setpriv's +a,+b
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
	[[ -n $caps ]] || fail "no CapabilityBoundingSet"
	setcaps="-all"
	for c in $caps; do
		c=${c#CAP_}
		setcaps+=",+${c,,}"
	done
	echo "# setpriv --bounding-set=$setcaps" >&3

	make_hosts
	STORM_PORT=$SCEN_PORT
	ino=$(ns_inode "$SRV_NSPATH")
	ip netns exec "$SRV_NS" sysctl -qw net.ipv4.tcp_abort_on_overflow=1
	EVENTS="$BATS_TEST_TMPDIR/events.jsonl"
	RSTWHY_ERR="$BATS_TEST_TMPDIR/stderr"
	READY_FILE="$BATS_TEST_TMPDIR/ready"
	env --default-signal=INT setpriv --bounding-set="$setcaps" --inh-caps=-all -- \
		"$RSTWHY" -j --summary=0.5 --netns "$SRV_NSPATH" -P "$STORM_PORT" --ready-file "$READY_FILE" \
		>"$EVENTS" 2>"$RSTWHY_ERR" </dev/null 3>&- &
	pid=$!
	RW_PIDS+=("$pid")
	RSTWHY_PID=$pid
	for ((i = 0; i < 300; i++)); do
		[[ -e $READY_FILE ]] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[[ -e $READY_FILE ]] || { _rw_show_file "rstwhy stderr" "$RSTWHY_ERR"; fail "rstwhy did not start with the unit's capabilities"; }
	# the bounding set really is the unit's (capsh decodes it where libcap2-bin is installed)
	if command -v capsh >/dev/null; then
		local bnd
		bnd=$(capsh --decode="$(awk '/^CapBnd:/ { print $2 }' "/proc/$pid/status")")
		echo "# rstwhy's $bnd" >&3
		for c in $caps; do
			[[ $bnd == *"${c,,}"* ]] || fail "$c is not in rstwhy's bounding set: $bnd"
		done
		[[ $(tr -cd , <<<"$bnd" | wc -c) == $(($(wc -w <<<"$caps") - 1)) ]] ||
			fail "rstwhy's bounding set has more than the unit's: $bnd"
	fi
	start_storm --accept-rate 0 --defer-accept 5 --delay 1 --hold 300
	wait_storm_line ready=1
	wait_overflow_rows
	stop_storm
	stop_rstwhy
	# BPF (events and owners), listener health (setns, sock_diag) and the TcpOutRsts check
	summary_jq -e --argjson p "$STORM_PORT" 'any(.[].rows[]; .cause == "accept-overflow" and
		.port == $p and .owner.comm == "gateway")' >/dev/null ||
		{ _rw_show_file summary "$EVENTS" 20; fail "no accept-overflow row owned by gateway"; }
	summary_jq -e --argjson p "$STORM_PORT" --argjson ino "$ino" 'any(.[].listeners[];
		.port == $p and .netns == $ino and .accept_limit == 8)' >/dev/null ||
		{ _rw_show_file summary "$EVENTS" 20; fail "no listener health with the unit's capabilities"; }
	local c2
	c2=$(closing_captured)
	[[ -n $c2 && ${c2% *} == "${c2#* }" && ${c2#* } != 0 ]] ||
		{ _rw_show_file "rstwhy stderr" "$RSTWHY_ERR"; fail "TcpOutRsts check with the unit's capabilities: captured $c2"; }
}
