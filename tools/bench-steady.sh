#!/usr/bin/env bash
# rstwhy steady-state overhead (`make bench`, after the RST floods): what a host pays for
# running rstwhy when nothing is reset. Real servers and clients between two namespaces joined
# by a veth, zero RSTs expected:
#   close   nginx (Debian's nginx-light) + wrk, "Connection: close": a new connection per request
#   keep    nginx + wrk, keep-alive
#   redis   redis-server + redis-benchmark GET
# Variants, side by side in one run (alternating, order rotated every round, BENCH_ROUNDS
# rounds, medians): untraced | noop (untraced again: the noise floor) | rstwhy --json > file |
# rstwhy table > /dev/null | rstwhy --summary | rstwhy -q --prometheus | a bpftrace one-liner on
# tcp:tcp_send_reset. Each is a ratio of requests/s to the untraced run of the same round.
# rstwhy watches the whole host, as it would on a gateway.
#
# Then (BENCH_PROFILE=1) BPF run-time statistics are switched on for one traced run per
# workload, through the file descriptor BPF_ENABLE_STATS returns (tools/bpfstats.c: off again
# when it ends, whatever happens): BPF time per program per request.
#
# Only namespaces made here (rws<PID>s, rws<PID>c) carry traffic; only PIDs started here are
# signalled. Environment: BENCH_ROUNDS (5), BENCH_SECS (8, per run), BENCH_LOADS
# (close keep redis), BENCH_VARIANTS (untraced noop json table summary prom bpftrace),
# BENCH_PROFILE (1).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/bench-lib.sh
. "$ROOT/tools/bench-lib.sh"
RSTWHY="${RSTWHY:-$ROOT/rstwhy}"
ROUNDS="${BENCH_ROUNDS:-5}"
SECS="${BENCH_SECS:-8}"
LOADS="${BENCH_LOADS:-close keep redis}"
PROFILE="${BENCH_PROFILE:-1}"
read -r -a VARIANTS <<<"${BENCH_VARIANTS:-untraced noop json table summary prom bpftrace}"

die() { echo "bench-steady: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (namespaces, BPF)"
[[ -x $RSTWHY ]] || die "build first: make"
for t in nginx wrk redis-server redis-benchmark jq bpftool ip; do
	command -v "$t" >/dev/null || die "needs $t (make bench installs it)"
done

TAG="rws$$" SNS="rws$$s" CNS="rws$$c"
SRV="10.214.$(($$ % 250 + 1)).1" CLI="10.214.$(($$ % 250 + 1)).2"
WORK=$(mktemp -d /tmp/rwsteady.XXXXXX)
cp "$RSTWHY" "$WORK/rstwhy" && RSTWHY="$WORK/rstwhy"
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "$WORK/nginx.pid" "$WORK/redis.pid"; do
		[[ -s $p ]] && kill "$(cat "$p")" 2>/dev/null
	done
	sleep 0.3
	ip netns del "$SNS" 2>/dev/null
	ip netns del "$CNS" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$SNS" && ip netns add "$CNS" || die "cannot create namespaces"
ip link add "${TAG}a" netns "$SNS" type veth peer name "${TAG}b" netns "$CNS" ||
	die "cannot create the veth pair"
ip -n "$SNS" addr add "$SRV/24" dev "${TAG}a"
ip -n "$CNS" addr add "$CLI/24" dev "${TAG}b"
for ns in "$SNS" "$CNS"; do ip -n "$ns" link set lo up; done
ip -n "$SNS" link set "${TAG}a" up
ip -n "$CNS" link set "${TAG}b" up

mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
	access_log off;
	server { listen $SRV:8080 backlog=4096; location / { return 200 "hello\n"; } }
}
EOF
ip netns exec "$SNS" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" || die "nginx failed"
ip netns exec "$SNS" redis-server --bind "$SRV" --port 6379 --protected-mode no --save '' \
	--appendonly no --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" ||
	die "redis-server failed"
sleep 1

# busy CPU time of the whole machine, in ticks: user nice system irq softirq of all CPUs (idle,
# iowait and steal left out). The tracer's own work, BPF programs included, is in it.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
now() { date +%s.%N; }

# load LOAD -> requests/s on stdout
load() {
	case $1 in
	close) ip netns exec "$CNS" wrk -t1 -c32 -d"${SECS}s" -H 'Connection: close' \
		"http://$SRV:8080/" | awk '/^Requests\/sec/ { print $2 }' ;;
	keep) ip netns exec "$CNS" wrk -t1 -c32 -d"${SECS}s" "http://$SRV:8080/" |
		awk '/^Requests\/sec/ { print $2 }' ;;
	redis) ip netns exec "$CNS" timeout $((SECS * 4)) redis-benchmark -h "$SRV" -t get \
		-c 32 -n $((SECS * 40000)) -q | tr '\r' '\n' |
		awk '/requests per second/ { print $2 }' | tail -1 ;;
	esac
}

TPID=""
start_tracer() { # VARIANT
	local ready="$WORK/ready" i port=$((9400 + $$ % 500))
	rm -f "$ready"
	TPID=""
	case $1 in
	untraced | noop) return 0 ;;
	json) "$RSTWHY" --json --ready-file "$ready" >"$WORK/out" 2>"$WORK/err" & ;;
	table) "$RSTWHY" --ready-file "$ready" >/dev/null 2>"$WORK/err" & ;;
	summary) "$RSTWHY" --summary --ready-file "$ready" >"$WORK/out" 2>"$WORK/err" & ;;
	prom) "$RSTWHY" -q --prometheus "127.0.0.1:$port" --ready-file "$ready" \
		>"$WORK/out" 2>"$WORK/err" & ;;
	bpftrace)
		bpftrace_start 'tracepoint:tcp:tcp_send_reset { printf("%s %d state=%d\n", comm, pid, args->state); }' \
			"$WORK/out" "$WORK/err"
		;;
	esac
	TPID=$!
	PIDS+=("$TPID")
	tracer_wait_ready bench-steady "$1" "$WORK/out" "$WORK/err" "$ready" 600
}

stop_tracer() {
	[[ -n $TPID ]] || return 0
	kill -INT "$TPID" 2>/dev/null
	wait "$TPID" 2>/dev/null
	PIDS=("${PIDS[@]/$TPID/}")
	TPID=""
}

label() {
	case $1 in
	untraced) echo "untraced" ;;
	noop) echo "do-nothing (noise floor)" ;;
	json) echo "rstwhy -j > file" ;;
	table) echo "rstwhy table > /dev/null" ;;
	summary) echo "rstwhy --summary" ;;
	prom) echo "rstwhy -q --prometheus" ;;
	bpftrace) echo "bpftrace on tcp:tcp_send_reset" ;;
	esac
}

echo "rstwhy steady-state bench: kernel $(uname -r), $(nproc) CPUs, $ROUNDS rounds of" \
	"${SECS}s per variant and workload; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
RES="$WORK/results"
: >"$RES"
nv=${#VARIANTS[@]}
for ((r = 0; r < ROUNDS; r++)); do
	for l in $LOADS; do
		for ((k = 0; k < nv; k++)); do
			v=${VARIANTS[$(((k + r) % nv))]}
			start_tracer "$v" || continue
			c0=$(cpu_busy) t0=$(now)
			rate=$(load "$l")
			c1=$(cpu_busy) t1=$(now)
			stop_tracer
			[[ -n $rate ]] || { echo "bench-steady: $l gave no rate" >&2; continue; }
			# busy CPU ticks per 1000 requests
			cpk=$(awk -v c=$((c1 - c0)) -v r="$rate" -v a="$t0" -v b="$t1" \
				'BEGIN { printf("%.4f", r > 0 ? c * 1000 / (r * (b - a)) : 0) }')
			echo "$r $l $v $rate $cpk" >>"$RES"
			printf '  round %d %-6s %-9s %10s req/s %8s CPU ticks/1000 req\n' "$((r + 1))" \
				"$l" "$v" "$rate" "$cpk" >&2
		done
	done
done

labels=""
for v in "${VARIANTS[@]}"; do labels+="$(label "$v")|"; done
echo
ratios() { # 0: requests/s; 1: CPU per request
	awk -v cpu="$1" -v order="${VARIANTS[*]}" -v loads="$LOADS" -v labels="$labels" '
		function median(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		{ rate[$1, $2, $3] = (cpu ? ($5 > 0 ? 1 / $5 : 0) : $4); seen[$1] = 1 }
		END {
			nv = split(order, V, " "); nl = split(loads, Lo, " "); split(labels, L, "|")
			printf "%-32s", "variant"
			for (i = 1; i <= nl; i++) printf " %22s", Lo[i]
			printf "\n"
			for (vi = 1; vi <= nv; vi++) {
				v = V[vi]; printf "%-32s", L[vi]
				for (i = 1; i <= nl; i++) {
					n = 0
					for (r in seen) if (rate[r, Lo[i], "untraced"] > 0 && (r, Lo[i], v) in rate)
						R[++n] = rate[r, Lo[i], v] / rate[r, Lo[i], "untraced"]
					if (!n) { printf " %22s", "-"; continue }
					lo = hi = R[1]
					for (j = 2; j <= n; j++) { if (R[j] < lo) lo = R[j]; if (R[j] > hi) hi = R[j] }
					if (v == "untraced") {
						for (j = 1; j <= n; j++) U[j] = rate[j - 1, Lo[i], v]
						m = median(U, n)
						x = cpu ? sprintf("%.2f ticks/1k", 1 / m) : sprintf("%.0f/s", m)
						printf " %22s", x
					} else {
						printf " %22s", sprintf("%.3f (%.2f-%.2f)", median(R, n), lo, hi)
					}
					delete R; delete U
				}
				printf "\n"
			}
		}' "$RES"
}
echo "== steady state, $(date -u +%Y-%m-%dT%H:%MZ), $ROUNDS rounds =="
echo "requests/s as a ratio to untraced in the same round, median (range):"
ratios 0
echo
echo "1 / CPU per request as a ratio to untraced in the same round (busy CPU of the whole"
echo "machine, tracer included, per request: less disturbed by other guests on a shared host;"
echo "below 1: costs CPU), median (range):"
ratios 1
echo

((PROFILE)) || exit 0
BPFSTATS="$ROOT/.output/bpfstats"
[[ -x $BPFSTATS ]] || die "build first: make (needs .output/bpfstats)"
echo
echo "profile: BPF run-time statistics on (BPF_ENABLE_STATS, held by tools/bpfstats: they go" \
	"off when it ends; no sysctl is changed) for one rstwhy -j run per workload. Counts" \
	"include any other traffic on the host."
printf '%-6s %-20s %10s %8s %10s %10s\n' load program runs ns/run runs/req ns/req
for l in $LOADS; do
	start_tracer json || continue
	coproc STATS { exec "$BPFSTATS"; }
	PIDS+=("$STATS_PID")
	read -r _ <&"${STATS[0]}" || die "bpfstats did not start"
	ids=$(grep -h '^prog_id:' /proc/"$TPID"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -un)
	snap() { for id in $ids; do bpftool -j prog show id "$id"; done |
		jq -r '"\(.name) \(.run_cnt // 0) \(.run_time_ns // 0)"' | sort; }
	snap >"$WORK/s0"
	rate=$(load "$l")
	snap >"$WORK/s1"
	sp=$STATS_PID
	kill -INT "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	stop_tracer
	join "$WORK/s0" "$WORK/s1" | awk -v l="$l" -v n="$(awk -v r="${rate:-0}" -v s="$SECS" \
		'BEGIN { print r * s }')" '{ c = $4 - $2; t = $5 - $3; tot += t
		if (c > 0 && n > 0) printf "%-6s %-20s %10d %8.0f %10.2f %10.0f\n", l, $1, c, t / c,
			c / n, t / n }
		END { if (n > 0) printf "%-6s %-20s %10s %8s %10s %10.0f\n", l, "all", "", "", "",
			tot / n }'
done
