# shellcheck shell=bash
# Pieces shared by the benchmarks (tools/bench.sh, tools/bench-steady.sh); sourced, not run.

# bpftrace_start PROGRAM OUT ERR: a bpftrace one-liner in the background ($! is its PID).
# Debian's bpftrace looks tracepoints up in tracefs, which may not be mounted: it is mounted in
# a private mount namespace of bpftrace's own (nothing changes outside).
bpftrace_start() {
	unshare -m sh -c 'mountpoint -q /sys/kernel/tracing ||
		mount -t tracefs nodev /sys/kernel/tracing; exec bpftrace -e "$0"' "$1" >"$2" 2>"$3" &
}

# tracer_wait_ready NAME VARIANT OUT ERR READY TRIES: until the tracer of PID $TPID is attached
# (bpftrace says "Attaching", rstwhy creates its ready file), 0.1 s a try; 1 if it died or
# never got there, with its stderr
tracer_wait_ready() {
	local i
	for ((i = 0; i < $6; i++)); do
		if [[ $2 == bpftrace ]]; then
			grep -q '^Attaching' "$3" 2>/dev/null && { sleep 1; return 0; }
		else
			[[ -e $5 ]] && return 0
		fi
		kill -0 "$TPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "$1: $2 did not start:" >&2
	cat "$4" >&2
	return 1
}
