#!/usr/bin/env bats
#
# rstwhy match / rstwhy diff: "was it this host at all?"
#
# The network tests build client -- middlebox -- server out of three private
# namespaces.  The middlebox forwards (ip_forward=1 in its own namespace only)
# and answers some connections itself with nft `reject with tcp reset`, in the
# server's name, the way a hypervisor or a firewall on the path would.  rstwhy
# watches the server, tcpdump records on the path, and `rstwhy match` must tell
# the middlebox's RSTs from the server's own.

load lib/common

bats_require_minimum_version 1.5.0

# ports of the scenarios
P_UNREAD=7001		# rstgen close-unread: the server's application resets
P_NOLISTEN=7002		# rstgen no-listener: the server's TCP stack resets
P_DROP=7003		# the middlebox drops the server's RSTs
P_UNSEEN=7004		# left out of the capture
P_REJECT_SYN=7777	# the middlebox rejects the SYN
P_REJECT_DATA=7779	# the middlebox rejects the first data segment
P_NAT_UNREAD=7780	# tiny server behind DNAT, closes with unread data

setup_file() {
	require_bin "$RSTWHY" rstwhy
	# a tiny dual-stack server: reads every connection to EOF, or (unread)
	# closes it as soon as data arrived, so that the kernel resets it
	TINYSRV="$BATS_FILE_TMPDIR/tinysrv"
	cat >"$TINYSRV.c" <<'EOF'
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	int one = 1, unread = argc > 2 && !strcmp(argv[2], "unread"), l, fd;
	char buf[4096];

	a.sin6_port = htons(atoi(argv[1]));
	l = socket(AF_INET6, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 16)) {
		perror("tinysrv");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	while ((fd = accept(l, NULL, NULL)) >= 0) {
		if (unread) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			poll(&p, 1, 60000);
			usleep(100000);
			close(fd);
		} else if (!fork()) {
			while (read(fd, buf, sizeof(buf)) > 0)
				;
			_exit(0);
		} else {
			close(fd);
		}
	}
	return 1;
}
EOF
	${CC:-cc} -O2 -Wall -Werror -o "$TINYSRV" "$TINYSRV.c"
	export TINYSRV
}

teardown() {
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

# --------------------------------------------------------------------------
# three hosts

# make_path: namespaces client, middlebox, server; client and server route
# through the middlebox, which forwards IPv4 and IPv6.
make_path() {
	local tnum=${BATS_TEST_NUMBER:-0}
	local snum=${BATS_SUITE_TEST_NUMBER:-$tnum}
	local n=$(((snum % 250) + 1)) ns root_fwd

	CLI_NS="${RW_NS_PREFIX}-${tnum}-c"
	MB_NS="${RW_NS_PREFIX}-${tnum}-m"
	SRV_NS="${RW_NS_PREFIX}-${tnum}-s"
	CLI_NSPATH="/run/netns/$CLI_NS"
	MB_NSPATH="/run/netns/$MB_NS"
	SRV_NSPATH="/run/netns/$SRV_NS"
	CLI_IF=rwc SRV_IF=rws
	CLI4="10.221.$n.2" MBC4="10.221.$n.1" SRV4="10.222.$n.2" MBS4="10.222.$n.1"
	CLI6="fd00:221:$n::2" MBC6="fd00:221:$n::1" SRV6="fd00:222:$n::2" MBS6="fd00:222:$n::1"
	SPOOF4="10.221.$n.99" SPOOF6="fd00:221:$n::99"
	export CLI_NS MB_NS SRV_NS CLI_NSPATH MB_NSPATH SRV_NSPATH CLI_IF SRV_IF \
		CLI4 MBC4 SRV4 MBS4 CLI6 MBC6 SRV6 MBS6 SPOOF4 SPOOF6

	for ns in "$CLI_NS" "$MB_NS" "$SRV_NS"; do
		if ip netns list | awk '{print $1}' | grep -qxF "$ns"; then
			fail "make_path: namespace $ns already exists (stale run?)"
		fi
		ip netns add "$ns" || fail "make_path: ip netns add $ns failed"
		RW_NETNS+=("$ns")
		ip -n "$ns" link set lo up
	done
	ip -n "$CLI_NS" link add "$CLI_IF" type veth peer name rwmc netns "$MB_NS"
	ip -n "$SRV_NS" link add "$SRV_IF" type veth peer name rwms netns "$MB_NS"
	ip -n "$CLI_NS" addr add "$CLI4/24" dev "$CLI_IF"
	ip -n "$CLI_NS" -6 addr add "$CLI6/64" dev "$CLI_IF" nodad
	ip -n "$MB_NS" addr add "$MBC4/24" dev rwmc
	ip -n "$MB_NS" -6 addr add "$MBC6/64" dev rwmc nodad
	ip -n "$MB_NS" addr add "$MBS4/24" dev rwms
	ip -n "$MB_NS" -6 addr add "$MBS6/64" dev rwms nodad
	ip -n "$SRV_NS" addr add "$SRV4/24" dev "$SRV_IF"
	ip -n "$SRV_NS" -6 addr add "$SRV6/64" dev "$SRV_IF" nodad
	ip -n "$CLI_NS" link set "$CLI_IF" up
	ip -n "$SRV_NS" link set "$SRV_IF" up
	ip -n "$MB_NS" link set rwmc up
	ip -n "$MB_NS" link set rwms up
	ip -n "$CLI_NS" route add default via "$MBC4"
	ip -n "$CLI_NS" -6 route add default via "$MBC6"
	ip -n "$SRV_NS" route add default via "$MBS4"
	ip -n "$SRV_NS" -6 route add default via "$MBS6"

	# forwarding in the middlebox's own namespace; the root namespace's
	# setting must not move
	root_fwd=$(cat /proc/sys/net/ipv4/ip_forward)
	ip netns exec "$MB_NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	[[ $(cat /proc/sys/net/ipv4/ip_forward) == "$root_fwd" ]] ||
		fail "make_path: the root namespace's ip_forward changed"
}

# mb_nft RULESET: load an nft ruleset into the middlebox
mb_nft() {
	ip netns exec "$MB_NS" nft -f - <<<"$1" || fail "nft in the middlebox failed: $1"
}

# mb_reject: the middlebox resets connections to P_REJECT_SYN (their SYN) and
# P_REJECT_DATA (their first data segment, after a completed handshake)
mb_reject() {
	mb_nft "table inet rwmb {
		chain forward {
			type filter hook forward priority 0; policy accept;
			tcp dport $P_REJECT_SYN reject with tcp reset
			tcp dport $P_REJECT_DATA tcp flags & psh == psh reject with tcp reset
		}
	}"
}

# --------------------------------------------------------------------------
# captures and helper processes

declare -gA CAP_PIDS=()

# start_capture NAME NETNS TCPDUMP_ARGS...: tcpdump -w $BATS_TEST_TMPDIR/NAME.pcap
start_capture() {
	local name=$1 ns=$2 pid i err
	shift 2
	err="$BATS_TEST_TMPDIR/$name.tcpdump.err"
	# --immediate-mode: without it the last packets can still sit in the
	# kernel's ring when tcpdump is stopped, and never reach the file.
	# -s 256: in immediate mode each slot of that ring holds a whole snap
	# length; with the default 262144 a 2 MB ring has 8 slots and a burst of
	# forwarded packets overflows it ("packets dropped by kernel")
	ip netns exec "$ns" tcpdump -Z root --immediate-mode -U -n -s 256 \
		-w "$BATS_TEST_TMPDIR/$name.pcap" "$@" 2>"$err" </dev/null 3>&- &
	pid=$!
	RW_PIDS+=("$pid")
	CAP_PIDS[$name]=$pid
	for ((i = 0; i < 100; i++)); do
		grep -q 'listening on' "$err" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			_rw_show_file "tcpdump stderr" "$err"
			fail "tcpdump $* in $ns exited before it was ready"
		fi
		sleep 0.1
	done
	fail "tcpdump $* in $ns did not start within 10 s"
}

# wait_capture NAME N: until the capture holds at least N RSTs (5 s at most)
wait_capture() {
	local f="$BATS_TEST_TMPDIR/$1.pcap" want=$2 i n=0
	for ((i = 0; i < 50; i++)); do
		n=$(tcpdump -r "$f" -n 2>/dev/null | grep -c 'Flags \[R' || true)
		((n >= want)) && return 0
		sleep 0.1
	done
	tcpdump -r "$f" -n -e >"$BATS_TEST_TMPDIR/$1.txt" 2>&1 || true
	_rw_show_file "capture $1" "$BATS_TEST_TMPDIR/$1.txt"
	_rw_show_file "tcpdump stderr" "$BATS_TEST_TMPDIR/$1.tcpdump.err"
	fail "capture $1 holds $n RSTs, expected at least $want"
}

# stop_capture NAME: SIGINT, tcpdump writes what it has and exits
stop_capture() {
	local pid=${CAP_PIDS[$1]} rc=0
	kill -INT "$pid" 2>/dev/null || true
	_rw_wait_gone "$pid" 100 || kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	_rw_forget_pid "$pid"
	if ((rc != 0)) ||
		! grep -q '^0 packets dropped by kernel' "$BATS_TEST_TMPDIR/$1.tcpdump.err"; then
		_rw_show_file "tcpdump stderr" "$BATS_TEST_TMPDIR/$1.tcpdump.err"
		fail "tcpdump $1 exited with status $rc or dropped packets"
	fi
}

# start_tinysrv NETNS PORT [unread]
start_tinysrv() {
	local ns=$1 out="$BATS_TEST_TMPDIR/tinysrv.$2.out" pid i
	shift
	ip netns exec "$ns" "$TINYSRV" "$@" >"$out" 2>&1 </dev/null 3>&- &
	pid=$!
	RW_PIDS+=("$pid")
	for ((i = 0; i < 100; i++)); do
		grep -qx listening "$out" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			_rw_show_file tinysrv "$out"
			fail "tinysrv $* failed"
		fi
		sleep 0.1
	done
	fail "tinysrv $* did not listen within 10 s"
}

# client_reset ADDR PORT [DATA]: connect from the client namespace (and send
# DATA); succeeds when the connection is refused or reset
client_reset() {
	local out="$BATS_TEST_TMPDIR/client.out" rc=0
	# shellcheck disable=SC2016 # expanded by the inner bash
	ip netns exec "$CLI_NS" timeout 10 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 7
		[[ -z $3 ]] || printf "%s\n" "$3" >&3
		cat <&3' _ "$@" >"$out" 2>&1 || rc=$?
	if ((rc == 0 || rc == 124)) || ! grep -qiE 'refused|reset' "$out"; then
		_rw_show_file "client" "$out"
		fail "connecting to $1 port $2: expected a refused or reset connection (status $rc)"
	fi
}

# --------------------------------------------------------------------------
# running match / diff

# mrun STATUS ARGS...: run rstwhy ARGS (30 s at most); stdout in $M_OUT,
# stderr in $M_ERR; the exit status must be STATUS
mrun() {
	local want=$1 rc=0
	shift
	M_OUT="$BATS_TEST_TMPDIR/m.out"
	M_ERR="$BATS_TEST_TMPDIR/m.err"
	timeout 30 "$RSTWHY" "$@" >"$M_OUT" 2>"$M_ERR" </dev/null || rc=$?
	sed 's/^/  out: /' "$M_OUT"
	sed 's/^/  err: /' "$M_ERR"
	if ((rc != want)); then
		fail "rstwhy $*: exit status $rc, expected $want"
	fi
}

# mjq JQ_BOOL DESCRIPTION: the last mrun's JSON lines (slurped) satisfy JQ_BOOL
mjq() {
	jq -e -s "$1" "$M_OUT" >/dev/null || fail "match/diff output: expected $2" "  ($1)"
}

# one_line_error PATTERN: stderr holds exactly one line, matching PATTERN (ERE)
one_line_error() {
	local n
	n=$(wc -l <"$M_ERR")
	((n == 1)) || fail "expected exactly one line on stderr, got $n"
	grep -qE -- "$1" "$M_ERR" || fail "stderr does not match /$1/"
	[[ ! -s $M_OUT ]] || fail "expected no output on stdout after an error"
}

# rst_of SPORT: jq filter for the capture RSTs from local port SPORT
rst_of() {
	printf '[.[] | select(.type == "rst" and .sport == %d)]' "$1"
}

# --------------------------------------------------------------------------
# crafted captures: hex strings written with printf %b (no extra tools)

_hex_le32() {
	printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) \
		$(($1 >> 24 & 255))
}
_hex_be16() { printf '%04x' $(($1 & 65535)); }
_hex_be32() { printf '%08x' $(($1 & 4294967295)); }
_hex_write() { printf '%b' "$(sed 's/../\\x&/g' <<<"$1")"; }
_hex_ip4() {
	local IFS=.
	# shellcheck disable=SC2086
	set -- $1
	printf '%02x%02x%02x%02x' "$1" "$2" "$3" "$4"
}
_hex_ip6() {
	local a=$1 head tail n i out="" g H=() T=()
	if [[ $a == *::* ]]; then
		head=${a%%::*} tail=${a#*::}
		[[ -n $head ]] && IFS=: read -ra H <<<"$head"
		[[ -n $tail ]] && IFS=: read -ra T <<<"$tail"
	else
		IFS=: read -ra H <<<"$a"
	fi
	n=$((8 - ${#H[@]} - ${#T[@]}))
	for g in "${H[@]}"; do out+=$(printf '%04x' $((16#$g))); done
	for ((i = 0; i < n; i++)); do out+=0000; done
	for g in "${T[@]}"; do out+=$(printf '%04x' $((16#$g))); done
	printf '%s' "$out"
}

# tcp_hex SRC SPORT DST DPORT SEQ ACK FLAGS: an IPv4 or IPv6 packet, TCP
# header only (checksums are not looked at)
tcp_hex() {
	local tcp
	tcp=$(_hex_be16 "$2")$(_hex_be16 "$4")$(_hex_be32 "$5")$(_hex_be32 "$6")
	tcp+=50$(printf '%02x' "$7")000000000000
	if [[ $1 == *:* ]]; then
		printf '60000000%s0640%s%s%s' "$(_hex_be16 20)" "$(_hex_ip6 "$1")" \
			"$(_hex_ip6 "$3")" "$tcp"
	else
		printf '450000280001400040060000%s%s%s' "$(_hex_ip4 "$1")" "$(_hex_ip4 "$3")" "$tcp"
	fi
}

# pcap_file FILE LINKTYPE [SEC USEC HEX]...: classic pcap, microseconds
pcap_file() {
	local f=$1 lt=$2 out len
	shift 2
	out="d4c3b2a1020004000000000000000000$(_hex_le32 65535)$(_hex_le32 "$lt")"
	while (($# >= 3)); do
		len=$((${#3} / 2))
		out+="$(_hex_le32 "$1")$(_hex_le32 "$2")$(_hex_le32 $len)$(_hex_le32 $len)$3"
		shift 3
	done
	_hex_write "$out" >"$f"
}

# pcapng_file FILE LINKTYPE [SEC USEC HEX]...: one section, one interface
pcapng_file() {
	local f=$1 lt=$2 out len pad blen ts zeros=000000
	shift 2
	out="0a0d0d0a$(_hex_le32 28)4d3c2b1a01000000ffffffffffffffff$(_hex_le32 28)"
	out+="01000000$(_hex_le32 20)$(printf '%02x%02x' $((lt & 255)) $((lt >> 8)))0000"
	out+="$(_hex_le32 65535)$(_hex_le32 20)"
	while (($# >= 3)); do
		len=$((${#3} / 2))
		pad=$(((4 - len % 4) % 4))
		blen=$((32 + len + pad))
		ts=$(($1 * 1000000 + $2))
		out+="06000000$(_hex_le32 $blen)00000000"
		out+="$(_hex_le32 $((ts >> 32)))$(_hex_le32 $((ts & 4294967295)))"
		out+="$(_hex_le32 $len)$(_hex_le32 $len)$3${zeros:0:pad * 2}$(_hex_le32 $blen)"
		shift 3
	done
	_hex_write "$out" >"$f"
}

# event JSON: ev TIME SADDR SPORT DADDR DPORT CAUSE ORIGIN [SEQ ACK FLAGS]
ev() {
	local fam=ipv4 nums=""
	[[ $2 == *:* ]] && fam=ipv6
	(($# >= 10)) && nums=",\"seq\":$8,\"ack\":$9,\"flags\":\"${10}\""
	printf '{"time":"%s","dir":"sent","cause":"%s","origin":"%s","kernel_reason":null,' \
		"$1" "$6" "$7"
	printf '"family":"%s","saddr":"%s","sport":%d,"daddr":"%s","dport":%d,"state":null,' \
		"$fam" "$2" "$3" "$4" "$5"
	printf '"owner":{"pid":42,"comm":"srv"},"actor":null%s,"netns":1,"detail":{}}\n' "$nums"
}

T0=1764054000	# 2025-11-25T07:00:00Z

# --------------------------------------------------------------------------
# the path: middlebox RSTs vs the server's own

# path_run 4|6: the four scenarios through the middlebox, rstwhy on the
# server, tcpdump on the client's interface and on every interface of the
# middlebox (the hypervisor's view: forwarded packets twice)
path_run() {
	local fam=$1 srv
	make_path
	mb_reject
	_rw_scen_args "$fam"
	srv=$SCEN_SRV
	start_rstwhy --netns "$SRV_NSPATH"
	start_capture client "$CLI_NS" -i "$CLI_IF"
	start_capture mb-sll2 "$MB_NS" -i any -y LINUX_SLL2
	start_capture mb-sll "$MB_NS" -i any -y LINUX_SLL
	start_tinysrv "$SRV_NS" "$P_REJECT_DATA"

	SCEN_PORT=$P_UNREAD
	run_scen close-unread "$fam"
	need_g server_pid client_port
	UNR_PID=$G_server_pid UNR_COMM=$G_server_comm UNR_CPORT=$G_client_port
	SCEN_PORT=$P_NOLISTEN
	run_scen no-listener "$fam"
	need_g client_port
	NOL_CPORT=$G_client_port
	client_reset "$srv" "$P_REJECT_SYN"
	client_reset "$srv" "$P_REJECT_DATA" hello

	wait_capture client 4
	wait_capture mb-sll2 6
	wait_capture mb-sll 6
	stop_capture client
	stop_capture mb-sll2
	stop_capture mb-sll
	stop_rstwhy
	assert_event close-unread ".sport=$P_UNREAD" ".owner.pid=$UNR_PID"
	assert_event no-listener ".sport=$P_NOLISTEN"
}

# path_check CAPTURE COPIES: what match must say about a path_run capture
path_check() {
	local cap="$BATS_TEST_TMPDIR/$1.pcap" copies=$2 srv_ep
	mrun 0 match --json "$cap" "$EVENTS"
	mjq "$(rst_of $P_REJECT_SYN) | length == 1 and all(.sent_by_host == false and
		.hint == \"path-in-host-name\" and .flags == \"RA\")" \
		"the middlebox's SYN reject: NOT sent by this host, carries its address"
	mjq "$(rst_of $P_REJECT_DATA) | length == 1 and all(.sent_by_host == false and
		.flags == \"R\")" \
		"the middlebox's reset of an established connection: NOT sent by this host"
	mjq "$(rst_of $P_UNREAD) | length == $((1 + copies)) and
		all(.sent_by_host and .cause == \"close-unread\" and .origin == \"application\" and
		.owner.pid == $UNR_PID and .owner.comm == \"$UNR_COMM\" and .dport == $UNR_CPORT and
		.kernel_reason != null) and (map(.match) | sort) ==
		([\"seq\"] + [range($copies) | \"copy\"] | sort)" \
		"the server's close-unread RST: sent by this host, owner $UNR_PID/$UNR_COMM"
	mjq "$(rst_of $P_NOLISTEN) | length == $((1 + copies)) and
		all(.sent_by_host and .cause == \"no-listener\" and .origin == \"tcp-stack\" and
		.owner == null and .dport == $NOL_CPORT)" \
		"the server's no-listener RST: sent by this host"
	mjq ".[-1] | .type == \"summary\" and .rsts == $((4 + 2 * copies)) and
		.sent_by_host == 2 and .not_sent_by_host == 2 and .copies == $((2 * copies)) and
		.host_events == 2 and .host_events_lost == 0 and
		(.by_cause | map(\"\\(.cause)=\\(.count)\") | sort) ==
		[\"close-unread=1\", \"no-listener=1\"]" \
		"the summary: 2 RSTs by this host (1 close-unread, 1 no-listener), 2 not"

	# the same in words
	mrun 0 match "$cap" "$EVENTS"
	srv_ep="$SCEN_SRV"
	[[ $srv_ep == *:* ]] && srv_ep="[$srv_ep]"
	grep -F "$srv_ep:$P_REJECT_SYN > " "$M_OUT" | grep -q 'NOT sent by this host' ||
		fail "no 'NOT sent by this host' line for the middlebox's SYN reject"
	grep -F "$srv_ep:$P_REJECT_DATA > " "$M_OUT" | grep -q 'NOT sent by this host' ||
		fail "no 'NOT sent by this host' line for the middlebox's data reject"
	grep -F "$srv_ep:$P_UNREAD > " "$M_OUT" | grep -qF \
		"sent by this host: close-unread (application), owner $UNR_PID/$UNR_COMM" ||
		fail "no 'sent by this host: close-unread' line with the owner"
	grep -F "$srv_ep:$P_NOLISTEN > " "$M_OUT" | grep -qF \
		"sent by this host: no-listener (tcp-stack)" ||
		fail "no 'sent by this host: no-listener' line"
	grep -qE '^  NOT sent by this host: +2 ' "$M_OUT" || fail "summary: NOT sent by this host 2"
	grep -qE '^  sent by this host: +2$' "$M_OUT" || fail "summary: sent by this host 2"
}

@test "match IPv4: middlebox RSTs are NOT this host's, the server's carry their cause" {
	path_run 4
	path_check client 0
}

@test "match IPv4: capture on the middlebox (Linux cooked v1 and v2), each RST seen twice" {
	path_run 4
	path_check mb-sll2 1
	path_check mb-sll 1
}

@test "match IPv6: middlebox RSTs are NOT this host's, the server's carry their cause" {
	path_run 6
	path_check client 0
	path_check mb-sll2 1
}

@test "match: host RSTs dropped on the path are reported as lost" {
	make_path
	# the middlebox swallows the server's RSTs from P_DROP; the capture
	# leaves P_UNSEEN out
	mb_nft "table inet rwdrop {
		chain forward {
			type filter hook forward priority 0; policy accept;
			tcp sport $P_DROP tcp flags & rst == rst drop
		}
	}"
	start_rstwhy --netns "$SRV_NSPATH"
	start_capture client "$CLI_NS" -i "$CLI_IF" not port "$P_UNSEEN"
	# nobody listens on P_DROP: the SYN (and its retransmission after 1 s)
	# is answered by the server, but the RSTs never reach the client
	ip netns exec "$CLI_NS" timeout 2.5 bash -c "exec 3<>/dev/tcp/$SRV4/$P_DROP" 2>/dev/null &&
		fail "the connection to port $P_DROP should not have succeeded"
	client_reset "$SRV4" "$P_UNSEEN"
	stop_capture client
	stop_rstwhy
	assert_event no-listener ".sport=$P_DROP"
	assert_event no-listener ".sport=$P_UNSEEN"
	local dropped
	dropped=$(count_events no-listener ".sport=$P_DROP")

	mrun 0 match --json "$BATS_TEST_TMPDIR/client.pcap" "$EVENTS"
	mjq "map(select(.type == \"lost\")) | length == $dropped and
		all(.sport == $P_DROP and .cause == \"no-listener\")" \
		"$dropped lost events, all for port $P_DROP"
	mjq "map(select(.type == \"unseen\")) | length == 1 and .[0].sport == $P_UNSEEN" \
		"the RST on the uncaptured port is not comparable, not lost"
	mjq ".[-1] | .rsts == 0 and .host_events_lost == $dropped and .host_events_unseen == 1" \
		"summary: no RSTs in the capture, $dropped lost, 1 not comparable"
	mrun 0 match "$BATS_TEST_TMPDIR/client.pcap" "$EVENTS"
	grep -q "host RST not in the capture (lost on the way?): no-listener" "$M_OUT" ||
		fail "no 'lost on the way' line"
	grep -qE "^  with no RST in the capture: +$dropped " "$M_OUT" ||
		fail "summary: $dropped host RSTs with no RST in the capture"
}

@test "match --nat: the server behind DNAT, addresses and ports translated" {
	make_path
	mb_nft "table ip rwnat {
		chain pre {
			type nat hook prerouting priority dstnat; policy accept;
			ip daddr 198.51.100.7 tcp dport 8080 dnat to $SRV4:80
			ip daddr 198.51.100.8 dnat to $SRV4
		}
	}"
	start_rstwhy --netns "$SRV_NSPATH"
	start_capture client "$CLI_NS" -i "$CLI_IF"
	# a dual-stack socket: its event names the addresses ::ffff:a.b.c.d
	start_tinysrv "$SRV_NS" "$P_NAT_UNREAD" unread
	client_reset 198.51.100.8 "$P_NAT_UNREAD" hello
	client_reset 198.51.100.7 8080
	wait_capture client 2
	stop_capture client
	stop_rstwhy
	assert_event close-unread ".sport=$P_NAT_UNREAD" .owner.comm=tinysrv
	assert_event no-listener .sport=80

	local cap="$BATS_TEST_TMPDIR/client.pcap"
	mrun 0 match --json "$cap" "$EVENTS"
	mjq '.[-1] | .rsts == 2 and .sent_by_host == 0 and .not_sent_by_host == 2 and
		(.warnings[0] | test("NAT"))' "without --nat nothing matches, and a warning says so"
	mrun 0 match --json "$cap" "$EVENTS" --nat "$SRV4:80=198.51.100.7:8080" \
		--nat "$SRV4=198.51.100.8"
	mjq "$(rst_of $P_NAT_UNREAD) | length == 1 and .[0].sent_by_host and
		.[0].cause == \"close-unread\" and .[0].owner.comm == \"tinysrv\" and
		.[0].saddr == \"198.51.100.8\"" \
		"close-unread behind 198.51.100.8 (address-only mapping)"
	mjq "$(rst_of 8080) | length == 1 and .[0].sent_by_host and
		.[0].cause == \"no-listener\" and .[0].saddr == \"198.51.100.7\"" \
		"no-listener on port 80 seen as 198.51.100.7:8080 (port mapping)"
	mjq '.[-1] | .sent_by_host == 2 and .not_sent_by_host == 0 and .host_events_lost == 0 and
		.warnings == []' "with --nat both are this host's"
	mrun 0 match "$cap" "$EVENTS" --nat "$SRV4:80=198.51.100.7:8080" --nat "$SRV4=198.51.100.8"
	grep -E "^[^ ]+  198\.51\.100\.8:$P_NAT_UNREAD > " "$M_OUT" |
		grep -qE "sent by this host: close-unread \(application\), owner [0-9]+/tinysrv" ||
		fail "text: close-unread behind 198.51.100.8"
	grep -qE "^[^ ]+  198\.51\.100\.7:8080 > .* sent by this host: no-listener" "$M_OUT" ||
		fail "text: no-listener behind 198.51.100.7:8080"
}

# --------------------------------------------------------------------------
# crafted captures: pcapng, raw IP, IPv6, events without seq

@test "match: pcapng with raw IPv4/IPv6, events without seq matched by time" {
	local d=$BATS_TEST_TMPDIR
	ev 2025-11-25T07:00:00.000100Z fd00::1 80 fd00::2 4000 close-linger0 application \
		1000 2000 RA >"$d/ev.jsonl"
	ev 2025-11-25T07:00:01.000000Z 192.0.2.1 80 192.0.2.2 4001 timewait tcp-stack \
		>>"$d/ev.jsonl"
	ev 2025-11-25T07:00:09.000000Z 192.0.2.1 80 192.0.2.2 4002 timewait tcp-stack \
		>>"$d/ev.jsonl"
	printf '\n' >>"$d/ev.jsonl"
	# seq matches, ack differs: not this host's RST
	ev 2025-11-25T07:00:03.000000Z 192.0.2.1 80 192.0.2.2 4003 no-connection tcp-stack \
		5000 6000 RA >>"$d/ev.jsonl"
	pcapng_file "$d/c.pcapng" 101 \
		$T0 0 "$(tcp_hex fd00::1 80 fd00::2 4000 1000 2000 20)" \
		$((T0 + 1)) 200000 "$(tcp_hex 192.0.2.1 80 192.0.2.2 4001 7 0 4)" \
		$((T0 + 2)) 0 "$(tcp_hex 192.0.2.1 80 192.0.2.2 4002 8 0 4)" \
		$((T0 + 3)) 0 "$(tcp_hex 192.0.2.1 80 192.0.2.2 4003 5000 6001 20)" \
		$((T0 + 3)) 20 "$(tcp_hex 192.0.2.1 80 192.0.2.2 4003 5000 6001 20)" \
		$((T0 + 4)) 0 "$(tcp_hex 192.0.2.2 4003 192.0.2.1 80 1 1 16)"

	mrun 0 match --json "$d/c.pcapng" "$d/ev.jsonl"
	mjq '.[0] | .sent_by_host and .match == "seq" and .family == "ipv6" and
		.cause == "close-linger0" and .seq == 1000 and .ack == 2000 and .flags == "RA"' \
		"the IPv6 RST matched by its numbers"
	mjq '.[1] | .sent_by_host and .match == "time" and .cause == "timewait" and
		.dport == 4001' \
		"the seq-less event 0.2 s away matched by addresses and time"
	mjq '.[2] | .sent_by_host == false and .dport == 4002' \
		"the seq-less event 7 s away is outside the default window"
	mjq '.[3] | .sent_by_host == false and .hint == "path-in-host-name"' \
		"same seq, different ack: not this host's RST"
	mjq '.[4] | .sent_by_host == false and .copy_of_packet == 4' \
		"the same packet 20 us later is a copy, not a second RST"
	mjq '.[-1] | .rsts == 5 and .sent_by_host == 2 and .not_sent_by_host == 2 and
		.copies == 1 and .packets == 6' "summary"

	mrun 0 match --json --window 10 "$d/c.pcapng" "$d/ev.jsonl"
	mjq '.[2] | .sent_by_host and .match == "time"' "--window 10 takes the 7 s one in"

	# the same packets as classic pcap, Ethernet
	local eth=020000000002020000000001
	pcap_file "$d/c.pcap" 1 \
		$T0 0 "${eth}86dd$(tcp_hex fd00::1 80 fd00::2 4000 1000 2000 20)" \
		$((T0 + 3)) 0 "${eth}0800$(tcp_hex 192.0.2.1 80 192.0.2.2 4003 5000 6001 20)"
	mrun 0 match --json "$d/c.pcap" "$d/ev.jsonl"
	mjq '.[0].sent_by_host and (.[1].sent_by_host | not) and .[-1].rsts == 2' \
		"Ethernet pcap: the same verdicts"
}

@test "match: link types and encapsulations (VLAN, QinQ, VXLAN, GRE, ERSPAN, cooked, nflog)" {
	local d=$BATS_TEST_TMPDIR ip ip6 tcp eth mac ext t lt hex name n=0
	ev 2025-11-25T07:00:00Z 192.0.2.1 80 192.0.2.2 4000 close-linger0 application 7 9 RA \
		>"$d/ev.jsonl"
	ev 2025-11-25T07:00:00Z fd00::1 80 fd00::2 4000 close-linger0 application 7 9 RA \
		>>"$d/ev.jsonl"
	ip=$(tcp_hex 192.0.2.1 80 192.0.2.2 4000 7 9 20)
	mac=020000000002020000000001
	eth=${mac}0800
	# outer IPv4 header (total length 0: taken as unknown) for protocol $1
	outer() { printf '450000000001400040%s0000c6336401c6336402' "$1"; }
	# IPv6 with a hop-by-hop header (PadN) before TCP
	tcp=${ip:40}
	ext="0600010400000000"
	ip6="60000000$(_hex_be16 28)0040$(_hex_ip6 fd00::1)$(_hex_ip6 fd00::2)$ext$tcp"
	local cases=(
		"vlan 1 ${mac}81000064$(printf 0800)$ip"
		"qinq 1 ${mac}88a800648100 00c80800$ip"
		"vxlan 1 ${eth}$(outer 11)c00012b500000000 0800000000000100${eth}$ip"
		"gre-teb 1 ${eth}$(outer 2f)00006558${eth}$ip"
		"erspan2 1 ${eth}$(outer 2f)100088be00000001 1000000000000000${eth}$ip"
		"ipip 1 ${eth}$(outer 04)$ip"
		"ipv6-hbh 1 ${mac}86dd$ip6"
		"sll 113 00000001000602000000000000000800$ip"
		"sll2 276 0800000000000002000100060200000000000000$ip"
		"null 0 02000000$ip"
		"nflog 239 02000000$(printf '%02x00' $((4 + ${#ip} / 2)))0900$ip"
	)
	for t in "${cases[@]}"; do
		read -r name lt hex <<<"$t"
		hex=${hex// /}
		pcap_file "$d/$name.pcap" "$lt" $T0 0 "$hex"
		mrun 0 match --json "$d/$name.pcap" "$d/ev.jsonl"
		mjq '.[0].type == "rst" and .[0].sent_by_host and .[0].cause == "close-linger0" and
			.[-1].rsts == 1' "$name: the RST inside is found and matched"
		n=$((n + 1))
	done
	((n == ${#cases[@]}))
}

# --------------------------------------------------------------------------
# diff

@test "diff: crafted recordings, counts, rates, ratio, one-sided causes" {
	local d=$BATS_TEST_TMPDIR i
	{
		for i in 0 1 2 3 4 5 6 7 8 9 10; do
			ev "2025-11-25T07:00:$(printf %02d $((i * 5))).000Z" 10.0.0.1 80 \
				10.0.0.2 $((1000 + i)) close-unread application
		done
		ev 2025-11-25T07:00:10.5Z 10.0.0.1 81 10.0.0.2 2000 no-listener tcp-stack
	} >"$d/guest.jsonl"
	{
		ev 2025-11-25T08:00:00Z 10.0.0.1 80 10.0.0.2 1000 close-unread application
		ev 2025-11-25T08:01:40Z 10.0.0.1 80 10.0.0.2 1001 close-unread application
		ev 2025-11-25T08:00:30Z 10.0.0.1 80 10.0.0.2 1001 timewait tcp-stack
	} >"$d/metal.jsonl"

	# guest: 12 events over 50 s; metal: 3 events over 100 s
	mrun 0 diff --json "$d/guest.jsonl" "$d/metal.jsonl"
	mjq '.[0] | .a.events == 12 and .a.span_s == 50 and .b.events == 3 and .b.span_s == 100 and
		.ratio_of == "rate"' "the spans"
	mjq '.[0].rows[0] | .cause == "close-unread" and .a.count == 11 and .a.rate == 0.22 and
		.b.count == 2 and .b.rate == 0.02 and .ratio == 11 and .only == null' \
		"close-unread: 11 vs 2 events, 0.22/s vs 0.02/s, ratio 11"
	mjq '.[0].rows | map(select(.cause == "no-listener"))[0] | .only == "a" and
		.a.count == 1 and .b.count == 0 and .ratio == null' "no-listener only in A"
	mjq '.[0].rows | map(select(.cause == "timewait"))[0] | .only == "b" and
		.origin == "tcp-stack"' "timewait only in B"
	mjq '.[0].total | .a.count == 12 and .b.count == 3 and .ratio == 8' "totals, rate ratio 8"

	# durations given: both recorded for 200 s
	mrun 0 diff --json --span 200 "$d/guest.jsonl" "$d/metal.jsonl"
	mjq '.[0] | .a.span_s == 200 and .a.span_from == "option" and .b.span_s == 200 and
		.rows[0].a.rate == 0.055 and .rows[0].ratio == 5.5' "--span 200: rates over 200 s"
	mrun 0 diff --json --span 50,25 "$d/guest.jsonl" "$d/metal.jsonl"
	mjq '.[0] | .rows[0].b.rate == 0.08 and .rows[0].ratio == 2.75' "--span 50,25"
	mrun 2 diff --span 0 "$d/guest.jsonl" "$d/metal.jsonl"
	one_line_error "bad --span '0'"

	mrun 0 diff "$d/guest.jsonl" "$d/metal.jsonl"
	grep -qE '^close-unread +application +11 +0\.220 +2 +0\.020 +11\.00x$' "$M_OUT" ||
		fail "text: close-unread line"
	grep -qE '^no-listener +tcp-stack +1 .* only in A$' "$M_OUT" || fail "text: only in A"
	grep -qE '^timewait +tcp-stack +0 .* only in B$' "$M_OUT" || fail "text: only in B"
	grep -qx 'only in A: no-listener (tcp-stack)' "$M_OUT" || fail "text: only-in-A list"
	grep -qE '^total +12 ' "$M_OUT" || fail "text: total line"
}

@test "diff: two real recordings of the same load, one with an extra cause" {
	local refused_a refused_b port
	make_hosts
	port=$SCEN_PORT
	# the load: two bursts of 20 refused connections, 1 s apart
	start_rstwhy --netns "$SRV_NSPATH"
	run_scen flood 4 -n 20
	refused_a=$G_refused
	sleep 1
	run_scen flood 4 -n 20
	refused_a=$((refused_a + G_refused))
	stop_rstwhy
	mv "$EVENTS" "$BATS_TEST_TMPDIR/a.jsonl"

	# the same load again, and one more cause
	start_rstwhy --netns "$SRV_NSPATH"
	run_scen flood 4 -n 20
	refused_b=$G_refused
	sleep 1
	run_scen flood 4 -n 20
	refused_b=$((refused_b + G_refused))
	SCEN_PORT=$((port + 1))
	run_scen close-linger0 4
	stop_rstwhy
	mv "$EVENTS" "$BATS_TEST_TMPDIR/b.jsonl"

	mrun 0 diff --json "$BATS_TEST_TMPDIR/a.jsonl" "$BATS_TEST_TMPDIR/b.jsonl"
	mjq ".[0].rows | map(select(.cause == \"no-listener\"))[0] |
		.a.count == $refused_a and .b.count == $refused_b and .only == null and
		.a.rate > 0 and .b.rate > 0" \
		"no-listener on both sides ($refused_a vs $refused_b)"
	# the recordings' own spans depend on how fast this machine ran the scenarios; over the
	# same span the same load has the same rate
	mrun 0 diff --json --span 10 "$BATS_TEST_TMPDIR/a.jsonl" "$BATS_TEST_TMPDIR/b.jsonl"
	mjq ".[0].rows | map(select(.cause == \"no-listener\"))[0] |
		.a.rate == $refused_a / 10 and .b.rate == $refused_b / 10 and
		(.ratio - $refused_a / $refused_b | . * . < 1e-12)" "no-listener over --span 10: the same rate"
	mjq '.[0].rows | map(select(.cause == "close-linger0"))[0] |
		.only == "b" and .a.count == 0 and .b.count >= 1' "close-linger0 only in B"
	mrun 0 diff "$BATS_TEST_TMPDIR/a.jsonl" "$BATS_TEST_TMPDIR/b.jsonl"
	grep -q '^only in B: close-linger0 (application)$' "$M_OUT" || fail "text: only in B"
}

# --------------------------------------------------------------------------
# errors: one clear line, exit 1 (data) or 2 (usage), never a crash

@test "match: damaged, truncated, empty and foreign captures" {
	local d=$BATS_TEST_TMPDIR size
	ev 2025-11-25T07:00:00Z 192.0.2.1 80 192.0.2.2 4000 no-listener tcp-stack 0 1 RA \
		>"$d/ev.jsonl"
	pcap_file "$d/good.pcap" 101 $T0 0 "$(tcp_hex 192.0.2.1 80 192.0.2.2 4000 0 1 20)" \
		$T0 5 "$(tcp_hex 192.0.2.1 80 192.0.2.2 4001 0 1 20)"
	mrun 0 match "$d/good.pcap" "$d/ev.jsonl"

	size=$(stat -c %s "$d/good.pcap")
	head -c $((size - 7)) "$d/good.pcap" >"$d/trunc.pcap"
	mrun 1 match "$d/trunc.pcap" "$d/ev.jsonl"
	one_line_error 'trunc\.pcap: capture damaged or truncated after packet 1'

	pcapng_file "$d/good.pcapng" 101 $T0 0 "$(tcp_hex 192.0.2.1 80 192.0.2.2 4000 0 1 20)"
	size=$(stat -c %s "$d/good.pcapng")
	head -c $((size - 3)) "$d/good.pcapng" >"$d/trunc.pcapng"
	mrun 1 match "$d/trunc.pcapng" "$d/ev.jsonl"
	one_line_error 'trunc\.pcapng: capture damaged or truncated'

	head -c 10 "$d/good.pcap" >"$d/header.pcap"
	mrun 1 match "$d/header.pcap" "$d/ev.jsonl"
	one_line_error 'header\.pcap: not a readable pcap or pcapng capture'

	head -c 65536 /dev/urandom >"$d/garbage.pcap"
	mrun 1 match "$d/garbage.pcap" "$d/ev.jsonl"
	one_line_error 'garbage\.pcap: not a readable pcap or pcapng capture'

	mrun 1 match "$d/ev.jsonl" "$d/ev.jsonl"
	one_line_error 'ev\.jsonl: not a readable pcap or pcapng capture'

	: >"$d/empty.pcap"
	mrun 1 match "$d/empty.pcap" "$d/ev.jsonl"
	one_line_error 'empty\.pcap: an empty file'

	mrun 1 match "$d/nonexistent.pcap" "$d/ev.jsonl"
	one_line_error 'nonexistent\.pcap: No such file or directory'

	# a link type it does not decode (USB)
	pcap_file "$d/usb.pcap" 189 $T0 0 00
	mrun 1 match "$d/usb.pcap" "$d/ev.jsonl"
	one_line_error 'link type 189 .* is not supported'

	# damaged packets inside a well-formed file are skipped, not fatal
	pcap_file "$d/short.pcap" 1 $T0 0 0200000000020200 \
		$T0 1 "0200000000020200000000010800450000"
	mrun 0 match "$d/short.pcap" "$d/ev.jsonl"
	grep -q '2 packets cut too short' "$M_OUT" || fail "short packets are not reported"
}

@test "match and diff: malformed events files name the line" {
	local d=$BATS_TEST_TMPDIR good
	pcap_file "$d/c.pcap" 101 $T0 0 "$(tcp_hex 192.0.2.1 80 192.0.2.2 4000 0 1 20)"
	good=$(ev 2025-11-25T07:00:00Z 192.0.2.1 80 192.0.2.2 4000 no-listener tcp-stack 0 1 RA)

	printf '%s\n\n%s\n' "$good" 'this is not json' >"$d/e1.jsonl"
	mrun 1 match "$d/c.pcap" "$d/e1.jsonl"
	one_line_error 'e1\.jsonl: line 3: not valid JSON'
	mrun 1 diff "$d/e1.jsonl" "$d/e1.jsonl"
	one_line_error 'e1\.jsonl: line 3: not valid JSON'

	printf '%s\n%s' "$good" "${good:0:80}" >"$d/e2.jsonl"
	mrun 1 match "$d/c.pcap" "$d/e2.jsonl"
	one_line_error 'e2\.jsonl: line 2: JSON object cut short'

	printf '%s\n[1,2,3]\n' "$good" >"$d/e3.jsonl"
	mrun 1 diff "$d/e3.jsonl" "$d/e3.jsonl"
	one_line_error 'e3\.jsonl: line 2: not a JSON object'

	printf '{"time":"2025-11-25T07:00:00Z","dir":"sent"}\n' >"$d/e4.jsonl"
	mrun 1 match "$d/c.pcap" "$d/e4.jsonl"
	one_line_error 'e4\.jsonl: line 1: no "cause"'

	sed 's/"sport":80/"sport":"eighty"/' <<<"$good" >"$d/e5.jsonl"
	mrun 1 diff "$d/e5.jsonl" "$d/e5.jsonl"
	one_line_error 'e5\.jsonl: line 1: "sport" must be an integer'

	sed 's/"time":"[^"]*"/"time":"yesterday"/' <<<"$good" >"$d/e6.jsonl"
	mrun 1 match "$d/c.pcap" "$d/e6.jsonl"
	one_line_error 'e6\.jsonl: line 1: "time" is not an ISO 8601'

	sed 's/"saddr":"[^"]*"/"saddr":"192.0.2"/' <<<"$good" >"$d/e7.jsonl"
	mrun 1 match "$d/c.pcap" "$d/e7.jsonl"
	one_line_error 'e7\.jsonl: line 1: "saddr" is not an IPv4 address'

	{ printf '%s\n' "$good"; head -c 4096 /dev/urandom; } >"$d/e8.jsonl"
	mrun 1 diff "$d/e8.jsonl" "$d/e5.jsonl"
	one_line_error 'e8\.jsonl: line [0-9]+: '

	mrun 1 diff "$d/nonexistent.jsonl" "$d/e5.jsonl"
	one_line_error 'nonexistent\.jsonl: No such file or directory'
	mrun 1 match "$d/c.pcap" "$d"
	one_line_error 'a directory, not an events file'
}

@test "match and diff: usage errors exit 2 with one line" {
	mrun 2 match
	one_line_error '^rstwhy match: need a capture file and an events file'
	mrun 2 match a.pcap
	one_line_error 'need a capture file and an events file'
	mrun 2 match --nat 10.0.0.1=10.0.0 a b
	one_line_error "bad --nat '10.0.0.1=10.0.0'"
	mrun 2 match --nat 10.0.0.1:80=198.51.100.7 a b
	one_line_error 'bad --nat'
	mrun 2 match --nat 10.0.0.1=fd00::1 a b
	one_line_error 'bad --nat'
	mrun 2 match --window -1 a b
	one_line_error 'bad --window'
	mrun 2 match --bogus a b
	one_line_error "bad option '--bogus'"
	mrun 2 diff a.jsonl
	one_line_error '^rstwhy diff: need two events files'
	mrun 2 diff -x a b
	one_line_error "bad option '-x'"
	mrun 0 match --help
	grep -q '^usage: rstwhy match CAPTURE EVENTS.jsonl' "$M_OUT" || fail "match --help"
	mrun 0 diff --help
	grep -q '^usage: rstwhy diff A.jsonl B.jsonl' "$M_OUT" || fail "diff --help"
}
