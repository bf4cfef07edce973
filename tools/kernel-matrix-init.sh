#!/bin/sh
# shellcheck shell=sh disable=SC3043
#
# /init of the kernel-matrix guest (busybox sh; put there by tools/kernel-matrix.sh).
#
# Runs the end-to-end scenarios of tests/causes.bats inside a qemu guest: for every attach
# mode, case and address family, two fresh network namespaces joined by a veth, rstwhy --json
# watching one of them, rstgen provoking the RST, rstwhy stopped with SIGINT.  Everything the
# host needs to check the case goes to the console as prefixed lines:
#
#   @@KM key=value ...      control lines (boot, mode, case begin/end, statuses)
#   @@EV {json}             rstwhy's events     @@RE  rstwhy's stderr
#   @@GO key=value          rstgen's stdout     @@GE  rstgen's stderr (holdconns' for
#                                                     the case preexisting)
#   @@SS line               ss -K output (socket-destroy)
#   @@VL line               rstwhy -v, once per mode when rstwhy failed to start
#   @@PR line               rstwhy --probe      @@DM  the guest's dmesg, at the end
#   @@PJ {json}             rstwhy --probe -j   @@RF  {json} the plan in rstwhy's ready file
#
# One case of the guest alone, preexisting: tools/holdconns makes connections in the server
# namespace before rstwhy -v starts, then resets three of them (owners learnt at start).
#
# /etc/km.conf sets KM_MODES, KM_CASES, KM_FAMILIES, KM_TIMEOUT (seconds per rstgen run),
# KM_RSTWHY_ARGS (more rstwhy options for every case).
# The guest is its own machine: here, and only here, global sysctls may be changed
# (net.ipv4.tcp_max_orphans for orphan-memory, restored afterwards).

export PATH=/usr/bin:/bin:/usr/sbin:/sbin
# busybox sh prefers its own applets to binaries on PATH: iproute2 by its full path
ip() { /usr/bin/ip "$@"; }
mount -t devtmpfs dev /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs run /run
mount -t tmpfs tmp /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /run/netns

KM_MODES=auto
KM_CASES=
KM_RSTWHY_ARGS=
KM_FAMILIES="4 6"
KM_TIMEOUT=120
# shellcheck disable=SC1091
. /etc/km.conf

km() { echo "@@KM $*"; }
# pfx PREFIX FILE: every line of FILE behind PREFIX (nothing if FILE is missing or empty)
pfx() { [ -s "$2" ] && sed "s/^/$1 /" "$2"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

finish() {
	km "dmesg"
	dmesg >/tmp/dmesg 2>&1
	pfx @@DM /tmp/dmesg
	km "done uptime=$(uptime_s)"
	sync
	poweroff -f
	sleep 5
	echo o >/proc/sysrq-trigger
}

echo
km "boot uname=$(uname -r) uptime=$(uptime_s)"
km "cmdline $(cat /proc/cmdline)"

for m in $(cat /modules/order 2>/dev/null); do
	if out=$(insmod "/modules/$m.ko" 2>&1); then
		km "module $m loaded"
	else
		km "module $m failed: $out"
	fi
done

if [ ! -e /sys/kernel/btf/vmlinux ]; then
	km "warning: no /sys/kernel/btf/vmlinux"
fi

RSTWHY=/bin/rstwhy
RSTGEN=/bin/rstgen
HOLDCONNS=/bin/holdconns
"$RSTWHY" --help >/tmp/help 2>&1
HAS_ATTACH=no
grep -q -- '--attach' /tmp/help && HAS_ATTACH=yes
km "rstwhy has_attach=$HAS_ATTACH"
if grep -q -- '--probe' /tmp/help; then
	st=0
	"$RSTWHY" --probe >/tmp/probe 2>&1 || st=$?
	pfx @@PR /tmp/probe
	km "probe status=$st"
	"$RSTWHY" --probe -j >/tmp/probe.json 2>/dev/null
	pfx @@PJ /tmp/probe.json
else
	km "probe absent (rstwhy --help does not mention --probe)"
fi

# ---- hosts -------------------------------------------------------------------------------

SRV_NS=kms
CLI_NS=kmc
SRV_NSPATH=/run/netns/$SRV_NS
CLI_NSPATH=/run/netns/$CLI_NS
SRV_IF=rws
CLI_IF=rwc
# same layout as tests/lib/common.bash make_hosts with n=1; the host-side checks use these too
SRV4=10.210.1.1
CLI4=10.210.1.2
SPOOF4=10.210.1.99
SRV6=fd00:210:1::1
CLI6=fd00:210:1::2
SPOOF6=fd00:210:1::99

kill_ns_pids() {
	local ns pid
	for ns in $SRV_NS $CLI_NS; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -9 "$pid" 2>/dev/null
		done
	done
}

rm_hosts() {
	kill_ns_pids
	ip netns del $SRV_NS 2>/dev/null
	ip netns del $CLI_NS 2>/dev/null
	return 0
}

make_hosts() {
	rm_hosts
	ip netns add $SRV_NS && ip netns add $CLI_NS &&
		ip -n $SRV_NS link add $SRV_IF type veth peer name $CLI_IF netns $CLI_NS &&
		ip -n $SRV_NS link set lo up &&
		ip -n $CLI_NS link set lo up &&
		ip -n $SRV_NS addr add $SRV4/24 dev $SRV_IF &&
		ip -n $CLI_NS addr add $CLI4/24 dev $CLI_IF &&
		ip -n $SRV_NS -6 addr add $SRV6/64 dev $SRV_IF nodad &&
		ip -n $CLI_NS -6 addr add $CLI6/64 dev $CLI_IF nodad &&
		ip -n $SRV_NS link set $SRV_IF up &&
		ip -n $CLI_NS link set $CLI_IF up
}

# ---- rstwhy ------------------------------------------------------------------------------

RW_PID=
RW_READY=0
RW_STATUS=

# start_rstwhy ARGS...: 0 once the ready file exists; otherwise RW_STATUS is rstwhy's status
start_rstwhy() {
	local i=0
	rm -f /tmp/ready
	# a background job of a non-interactive shell ignores SIGINT; rstwhy installs its
	# own handler, so SIGINT still stops it the way Ctrl-C would
	"$RSTWHY" --json --ready-file /tmp/ready "$@" >/tmp/events.jsonl 2>/tmp/rstwhy.err </dev/null &
	RW_PID=$!
	RW_READY=0
	RW_STATUS=
	while [ $i -lt 1200 ]; do
		if [ -e /tmp/ready ]; then
			RW_READY=1
			return 0
		fi
		if ! kill -0 "$RW_PID" 2>/dev/null; then
			RW_STATUS=0
			wait "$RW_PID" || RW_STATUS=$?
			RW_PID=
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
	echo "kernel-matrix: rstwhy not ready within 120 s, killed" >>/tmp/rstwhy.err
	kill -9 "$RW_PID" 2>/dev/null
	RW_STATUS=0
	wait "$RW_PID" || RW_STATUS=$?
	RW_PID=
	return 1
}

stop_rstwhy() {
	local i=0
	[ -n "$RW_PID" ] || return 0
	kill -INT "$RW_PID" 2>/dev/null
	while kill -0 "$RW_PID" 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$RW_PID" 2>/dev/null; then
		echo "kernel-matrix: rstwhy did not exit within 60 s of SIGINT, killed" >>/tmp/rstwhy.err
		kill -9 "$RW_PID" 2>/dev/null
	fi
	RW_STATUS=0
	wait "$RW_PID" || RW_STATUS=$?
	RW_PID=
}

# ---- cases -------------------------------------------------------------------------------

# case_def CASE: SIDE (namespace rstwhy watches), SCEN (rstgen scenario), XARGS (rstwhy).
# Mirrors tests/causes.bats: the case is the first word of a test's name there.
case_def() {
	SIDE=server
	SCEN=$1
	XARGS=$KM_RSTWHY_ARGS
	case $1 in
	disconnect) SIDE=client ;;
	received) SIDE=client SCEN=no-listener XARGS="$XARGS -r" ;;
	preexisting) SCEN=holdconns XARGS="$XARGS -v" ;;
	esac
}

ALL_CASES="no-reply no-listener no-connection stray-ack listener-closed accept-overflow close-unread
close-linger0 disconnect data-after-close fin-wait2-abort keepalive-timeout timewait
bad-segment socket-destroy orphan-memory received preexisting"

# wait_line LINE FILE PID: 0 once FILE has the line LINE, 1 if PID ended first or after 60 s
wait_line() {
	local i=0
	while ! grep -qx "$1" "$2" 2>/dev/null; do
		if ! kill -0 "$3" 2>/dev/null || [ $i -ge 600 ]; then
			echo "kernel-matrix: no line $1 from $3" >>/tmp/rstgen.err
			return 1
		fi
		sleep 0.1
		i=$((i + 1))
	done
}

# run_rstgen FAM PORT: rstgen in the foreground (socket-destroy: with ss -K beside it)
run_rstgen() {
	local fam=$1 port=$2 srv cli spoof i dst
	if [ "$fam" = 6 ]; then
		srv=$SRV6 cli=$CLI6 spoof=$SPOOF6
	else
		srv=$SRV4 cli=$CLI4 spoof=$SPOOF4
	fi
	set -- "$RSTGEN" "$SCEN" --server-ns $SRV_NSPATH --client-ns $CLI_NSPATH \
		-a "$srv" -c "$cli" --spoof "$spoof" --client-if $CLI_IF -p "$port"
	GEN_STATUS=0
	SS_STATUS=
	if [ "$SCEN" != socket-destroy ]; then
		timeout "$KM_TIMEOUT" "$@" >/tmp/rstgen.out 2>/tmp/rstgen.err </dev/null ||
			GEN_STATUS=$?
		return
	fi
	timeout "$KM_TIMEOUT" "$@" >/tmp/rstgen.out 2>/tmp/rstgen.err </dev/null &
	local gpid=$!
	if wait_line ready=1 /tmp/rstgen.out $gpid; then
		dst=$cli
		[ "$fam" = 6 ] && dst="[$cli]"
		SS_STATUS=0
		ip netns exec $SRV_NS ss -K dst "$dst" >/tmp/ss.out 2>&1 || SS_STATUS=$?
	fi
	wait $gpid || GEN_STATUS=$?
}

HOLD_PID=

# start_holdconns PORT: connections in the server namespace, before rstwhy starts (preexisting)
start_holdconns() {
	/usr/bin/ip netns exec $SRV_NS "$HOLDCONNS" -n 40 -w 2 -k 3 -p "$1" \
		>/tmp/rstgen.out 2>/tmp/rstgen.err </dev/null &
	HOLD_PID=$!
	wait_line ready=1 /tmp/rstgen.out $HOLD_PID
}

# reset_holdconns PORT: the client of the server on PORT resets three of its connections
reset_holdconns() {
	local client
	client=$(sed -n "s/^server=[0-9]* client=\([0-9]*\) port=$1\$/\1/p" /tmp/rstgen.out)
	[ -n "$client" ] && kill -USR1 "$client" && wait_line resets=3 /tmp/rstgen.out $HOLD_PID
}

stop_holdconns() {
	[ -n "$HOLD_PID" ] || return 0
	kill -TERM $HOLD_PID 2>/dev/null
	GEN_STATUS=0
	wait $HOLD_PID || GEN_STATUS=$?
	HOLD_PID=
}

MODE_SKIP=

# run_case MODE CASE FAM PORT
run_case() {
	local mode=$1 case=$2 fam=$3 port=$4 t0 watch max_orphans=
	case_def "$case"
	t0=$(uptime_s)
	km "case mode=$mode case=$case fam=$fam scen=$SCEN side=$SIDE port=$port"
	rm -f /tmp/events.jsonl /tmp/rstwhy.err /tmp/rstgen.out /tmp/rstgen.err /tmp/ss.out /tmp/ready
	GEN_STATUS=
	SS_STATUS=
	if ! make_hosts >/tmp/hosts.err 2>&1; then
		pfx @@RE /tmp/hosts.err
		km "result hosts=failed"
		km "end"
		rm_hosts
		return
	fi
	km "netns srv_ino=$(stat -L -c %i $SRV_NSPATH) cli_ino=$(stat -L -c %i $CLI_NSPATH)"
	watch=$SRV_NSPATH
	[ "$SIDE" = client ] && watch=$CLI_NSPATH
	[ "$case" = preexisting ] && start_holdconns "$port"
	# shellcheck disable=SC2086
	if start_rstwhy $MODE_ARGS $XARGS --netns "$watch"; then
		if [ "$case" = orphan-memory ]; then
			max_orphans=$(cat /proc/sys/net/ipv4/tcp_max_orphans)
			echo 0 >/proc/sys/net/ipv4/tcp_max_orphans
		fi
		if [ "$case" = preexisting ]; then
			reset_holdconns "$port"
		else
			run_rstgen "$fam" "$port"
		fi
		if [ -n "$max_orphans" ]; then
			echo "$max_orphans" >/proc/sys/net/ipv4/tcp_max_orphans
		fi
		stop_rstwhy
	elif [ "$RW_STATUS" = 2 ] && [ -n "$MODE_ARGS" ]; then
		# rstwhy rejected its command line: this attach mode does not exist (yet)
		MODE_SKIP=$(head -n 3 /tmp/rstwhy.err | tr '\n' ' ' | sed 's/ *$//')
	elif [ -z "$VERBOSE_DONE" ]; then
		# once per mode: the same again with -v, for the verifier log (its last 300 lines)
		VERBOSE_DONE=1
		# shellcheck disable=SC2086
		timeout 120 "$RSTWHY" -v --json -d 1 $MODE_ARGS $XARGS --netns "$watch" \
			>/dev/null 2>/tmp/verbose.err </dev/null
		tail -n 300 /tmp/verbose.err >/tmp/verbose.tail
		pfx @@VL /tmp/verbose.tail
	fi
	stop_holdconns
	pfx @@GO /tmp/rstgen.out
	pfx @@GE /tmp/rstgen.err
	pfx @@SS /tmp/ss.out
	pfx @@EV /tmp/events.jsonl
	pfx @@RE /tmp/rstwhy.err
	pfx @@RF /tmp/ready
	km "result rstwhy_ready=$RW_READY rstwhy_status=$RW_STATUS rstgen_status=$GEN_STATUS ss_status=$SS_STATUS secs=$(awk "BEGIN{print $(uptime_s) - $t0}")"
	km "end"
	rm_hosts
}

[ -n "$KM_CASES" ] || KM_CASES=$ALL_CASES
for mode in $KM_MODES; do
	MODE_ARGS="--attach=$mode"
	if [ "$HAS_ATTACH" = no ]; then
		if [ "$mode" = auto ]; then
			MODE_ARGS=
		else
			km "mode-skip mode=$mode reason=rstwhy has no --attach option (rstwhy --help)"
			continue
		fi
	fi
	km "mode mode=$mode args=$MODE_ARGS uptime=$(uptime_s)"
	VERBOSE_DONE=
	MODE_SKIP=
	port=20000
	for case in $KM_CASES; do
		for fam in $KM_FAMILIES; do
			# holdconns speaks IPv4 only
			[ "$case" = preexisting ] && [ "$fam" != 4 ] && continue
			port=$((port + 1))
			run_case "$mode" "$case" "$fam" "$port"
			[ -z "$MODE_SKIP" ] || break 2
		done
	done
	if [ -n "$MODE_SKIP" ]; then
		km "mode-skip mode=$mode reason=rstwhy rejected $MODE_ARGS: $MODE_SKIP"
	fi
	km "mode-end mode=$mode uptime=$(uptime_s)"
done
finish
