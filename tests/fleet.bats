#!/usr/bin/env bats
#
# Containers: a real runtime (Debian's podman, with crun, or runc where crun refuses this
# host's cgroup layout) runs a container from a root filesystem built here (no registry is
# needed): a tiny static server that reads one byte of what a client sends and closes the
# connection, so the rest is unread and the kernel resets it (close-unread). The event names
# the container (as `podman inspect` shows it) and the host pid of its process; the
# --summary row and the rstwhy_rst_total series carry it too.

load lib/common

CT_NAME=""
CT_IMAGE=""

teardown() {
	if [[ -n $CT_NAME ]]; then
		podman rm -f -t 0 "$CT_NAME" >/dev/null 2>&1 || true
		CT_NAME=""
	fi
	if [[ -n $CT_IMAGE ]]; then
		podman rmi -f "$CT_IMAGE" >/dev/null 2>&1 || true
		CT_IMAGE=""
	fi
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

# build_image: a root filesystem holding one static server, imported as a local image
build_image() {
	local root="$BATS_TEST_TMPDIR/rootfs"
	command -v podman >/dev/null || skip "podman is not installed (Debian package podman)"
	mkdir -p "$root"
	cat >"$BATS_TEST_TMPDIR/server.c" <<'EOF'
/* accept, read one byte, close: whatever else the client sent is unread (RST) */
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	char b;

	if (argc < 2 || s < 0)
		return 1;
	a.sin_port = htons(atoi(argv[1]));
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 8))
		return 1;
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0)
			continue;
		if (read(c, &b, 1) < 0)
			return 1;
		close(c);
	}
}
EOF
	cc -static -O2 -o "$root/server" "$BATS_TEST_TMPDIR/server.c" || fail "cannot build the static server"
	CT_IMAGE="localhost/rstwhy-test-server:$$-$BATS_TEST_NUMBER"
	tar -C "$root" -c . | podman import - "$CT_IMAGE" >/dev/null || fail "podman import failed"
}

# run_container ARGS...: podman run -d, with crun or else runc; the id in CT_ID
run_container() {
	local rt out
	CT_NAME="rstwhy-test-$$-$BATS_TEST_NUMBER"
	# limits this host allows lowering to (raising them needs CAP_SYS_RESOURCE)
	for rt in "" runc; do
		[[ -z $rt ]] || command -v "$rt" >/dev/null || continue
		podman rm -f -t 0 "$CT_NAME" >/dev/null 2>&1 || true
		if out=$(podman ${rt:+--runtime "$rt"} run -d --name "$CT_NAME" \
			--ulimit nofile=1024:1024 --ulimit nproc=1000:1000 "$@" 2>&1); then
			CT_ID=$(podman inspect --format '{{.Id}}' "$CT_NAME")
			echo "# container $CT_ID (runtime ${rt:-default})" >&3
			return 0
		fi
		echo "# podman ${rt:+--runtime $rt }run: $out" >&3
	done
	skip "podman cannot run a container here: $out"
}

@test "container: a podman container resetting connections; the event, summary row and metrics name its id, runtime and the host pid" {
	local port pid pp i m="$BATS_TEST_TMPDIR/metrics.txt" ev
	build_image
	make_hosts
	port=$SCEN_PORT
	run_container --network "ns:$SRV_NSPATH" "$CT_IMAGE" /server "$port"
	for ((i = 0; i < 300; i++)); do
		[[ -n $(ip netns exec "$SRV_NS" ss -Htln "sport = :$port") ]] && break
		sleep 0.1
	done
	((i < 300)) || { podman logs "$CT_NAME"; fail "the server did not listen within 30 s"; }
	pid=$(podman inspect --format '{{.State.Pid}}' "$CT_NAME")
	[[ $pid =~ ^[1-9][0-9]*$ ]] || fail "no host pid from podman inspect: '$pid'"

	pp=$((port + 20000))
	start_rstwhy --netns "$SRV_NSPATH" --summary=0.5 --prometheus "127.0.0.1:$pp"
	local evt="$EVENTS"
	# a second rstwhy prints the events themselves
	env --default-signal=INT "$RSTWHY" --json --netns "$SRV_NSPATH" --ready-file "$BATS_TEST_TMPDIR/ready2" \
		>"$BATS_TEST_TMPDIR/events2.jsonl" 2>"$BATS_TEST_TMPDIR/stderr2" </dev/null 3>&- &
	local pid2=$!
	RW_PIDS+=("$pid2")
	for ((i = 0; i < 300; i++)); do [[ -e $BATS_TEST_TMPDIR/ready2 ]] && break; sleep 0.1; done
	[[ -e $BATS_TEST_TMPDIR/ready2 ]] || { cat "$BATS_TEST_TMPDIR/stderr2"; fail "the second rstwhy is not ready"; }

	# a client sends two bytes in one segment; the server reads one and closes
	timeout 30 ip netns exec "$CLI_NS" bash -c "exec 3<>/dev/tcp/$SRV4/$port; printf ab >&3; cat <&3 >/dev/null" 2>/dev/null || true
	ev="$BATS_TEST_TMPDIR/events2.jsonl"
	for ((i = 0; i < 300; i++)); do
		jq -e 'select(.cause == "close-unread")' "$ev" >/dev/null 2>&1 && break
		sleep 0.1
	done
	kill -INT "$pid2"
	_rw_wait_gone "$pid2" 300 || fail "the second rstwhy did not exit"
	_rw_forget_pid "$pid2"
	jq -c 'select(.cause == "close-unread") | {owner, container}' "$ev" >&3
	jq -e --argjson pid "$pid" --arg id "$CT_ID" 'select(.cause == "close-unread" and
		.owner.pid == $pid and .container.runtime == "podman" and .container.id == $id and
		(.container.cgroup | contains($id)))' "$ev" >/dev/null ||
		{ _rw_show_file events "$ev"; fail "no close-unread event owned by $pid in podman container $CT_ID"; }

	# the summary row and the metrics series, from the first rstwhy
	wait_metric_re "$pp" "rstwhy_rst_total\\{cause=\"close-unread\",.*owner=\"server\",netns=\"$(ns_inode "$SRV_NSPATH")\",runtime=\"podman\",container=\"${CT_ID:0:12}\",pod_uid=\"\"\\} 1"
	stop_rstwhy
	jq -se --argjson pid "$pid" --arg id "$CT_ID" '[.[].rows[] | select(.cause == "close-unread"
		and .owner.pid == $pid and .container.id == $id and .container.runtime == "podman")]
		| length > 0' "$evt" >/dev/null ||
		{ _rw_show_file summary "$evt" 20; fail "no summary row with the container"; }
}

# wait_metric_re PORT REGEX: scrape until a line of /metrics matches REGEX (30 s at most)
wait_metric_re() {
	local i m="$BATS_TEST_TMPDIR/metrics.txt"
	for ((i = 0; i < 150; i++)); do
		curl -sS --max-time 5 -o "$m" "http://127.0.0.1:$1/metrics" 2>/dev/null &&
			grep -Eq "^$2$" "$m" && return 0
		sleep 0.2
	done
	_rw_show_file "last /metrics" "$m" 60
	fail "no /metrics line matching $2"
}

@test "container: an event of a process in the root cgroup or with no owner has container null" {
	make_hosts
	start_rstwhy --netns "$SRV_NSPATH"
	run_scen flood 4 -n 3
	stop_rstwhy
	jq -se 'length == 3 and all(.[]; .owner == null and .container == null)' "$EVENTS" >/dev/null ||
		{ _rw_show_file events "$EVENTS"; fail "no-listener events have a container"; }
}
