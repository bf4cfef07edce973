#!/usr/bin/env bash
# rstwhy overhead benchmark (`make bench`).
#
# Two RST floods, each at the highest rate this machine produces (one rstgen per CPU):
#   flood   connections to a closed port: the server namespace sends the RSTs (softirq)
#   linger  connections closed with SO_LINGER 0: the client namespace sends the RSTs (close())
# and, side by side in one run (interleaved, rotating order, BENCH_ROUNDS rounds, medians):
#   untraced | rstwhy table > /dev/null | rstwhy --json > file | rstwhy --json -s > file
#   | rstwhy --json -u > file (user stacks: the linger flood's resets are close()s)
#   | rstwhy --summary (when this build has it) | rstwhy --json --wakeup-bytes 1 (the wakeup
#   hazard) | a bpftrace one-liner printing each event > file
# For each: RST rate as a ratio to the untraced rate of the same round (rate = RSTs counted by
# the kernel / wall time of the flood), events reported / TcpOutRsts delta, tracer user+sys CPU
# per event, tracer peak RSS (VmHWM), and CPU per RST (floods, softirq included, + tracer) as a
# ratio to untraced: both CPUs are saturated, so 1 / that ratio is the rate ratio on a quiet
# machine, and it is far less disturbed by other work on a shared one. The verdict on each
# flood target (docs/overhead.md) is printed for both. The exit status is 0 whatever the verdicts (a
# measurement, not a test); non-zero only when the bench itself could not run.
#
# Then a profile phase (BENCH_PROFILE=1, default): BPF run-time statistics are switched on for
# one traced flood per variant, through the file descriptor BPF_ENABLE_STATS returns
# (tools/bpfstats.c: off again when it ends, whatever happens; no sysctl is changed), and each
# BPF program's run_cnt, run_time_ns and recursion_misses are printed.
#
# Rules kept: traffic only between two namespaces created here (rwb<PID>s, rwb<PID>c, one
# veth); no other sysctl touched; only PIDs started here are signalled.
#
# Environment: BENCH_ROUNDS (5), BENCH_N (RSTs per rstgen process per closed-port flood,
# 70000), BENCH_NL (per linger flood, 35000), BENCH_PAR (rstgen processes at once: nproc),
# BENCH_VARIANTS (space-separated subset of: untraced table json stack ustack summary wakeup1
# bpftrace), BENCH_FLOODS (flood linger), BENCH_PROFILE (1), BENCH_KEEP (keep the work dir),
# BENCH_LAUNCH (1, 0 or only: the launch phase, see launch_phase below).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=tools/bench-lib.sh
. "$ROOT/tools/bench-lib.sh"
RSTWHY="${RSTWHY:-$ROOT/rstwhy}"
RSTGEN="${RSTGEN:-$ROOT/.output/rstgen}"
ROUNDS="${BENCH_ROUNDS:-5}"
N="${BENCH_N:-70000}"
NL="${BENCH_NL:-35000}"
PAR="${BENCH_PAR:-$(nproc)}"
PROFILE="${BENCH_PROFILE:-1}"
FLOODS="${BENCH_FLOODS:-flood linger}"
TCK=$(getconf CLK_TCK)

die() { echo "bench: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (namespaces, BPF)"
[[ -x $RSTWHY && -x $RSTGEN ]] || die "build first: make (need $RSTWHY and $RSTGEN)"
for t in /usr/bin/time jq bpftool ip unshare; do
	command -v "$t" >/dev/null || die "needs $t (make deps-bench installs it)"
done

# ---- namespaces ------------------------------------------------------------------------------
TAG="rwb$$"
SNS="${TAG}s" CNS="${TAG}c"
SNSP="/run/netns/$SNS" CNSP="/run/netns/$CNS"
SRV4="10.213.$(($$ % 250 + 1)).1" CLI4="10.213.$(($$ % 250 + 1)).2"
PORT0=$((20000 + $$ % 20000))	# flood ports PORT0+i, linger ports PORT0+100+i
WORK=$(mktemp -d /tmp/rwbench.XXXXXX)
# a private copy: the binary in the tree may be rebuilt while the bench runs
cp "$RSTWHY" "$WORK/rstwhy" && RSTWHY="$WORK/rstwhy"
cp "$RSTGEN" "$WORK/rstgen" && RSTGEN="$WORK/rstgen"

HAVE_SUMMARY=0
[[ $("$RSTWHY" --help 2>&1) == *--summary* ]] && HAVE_SUMMARY=1
HAVE_BPFTRACE=0
command -v bpftrace >/dev/null && HAVE_BPFTRACE=1
if [[ -n ${BENCH_VARIANTS:-} ]]; then
	read -r -a VARIANTS <<<"$BENCH_VARIANTS"
else
	VARIANTS=(untraced table json stack ustack)
	((HAVE_SUMMARY)) && VARIANTS+=(summary)
	VARIANTS+=(wakeup1)
	((HAVE_BPFTRACE)) && VARIANTS+=(bpftrace)
fi
[[ ${VARIANTS[0]} == untraced ]] || VARIANTS=(untraced "${VARIANTS[@]/untraced/}")
read -r -a VARIANTS <<<"${VARIANTS[*]}"

label() {
	case $1 in
	untraced) echo "untraced" ;;
	table) echo "rstwhy (table > /dev/null)" ;;
	json) echo "rstwhy --json > file" ;;
	stack) echo "rstwhy --json -s > file" ;;
	ustack) echo "rstwhy --json -u > file" ;;
	summary) echo "rstwhy --summary" ;;
	wakeup1) echo "rstwhy --json --wakeup-bytes 1" ;;
	bpftrace) echo "bpftrace one-liner > file" ;;
	esac
}

PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		kill -INT "$p" 2>/dev/null
	done
	sleep 0.2
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	ip netns del "$SNS" 2>/dev/null
	ip netns del "$CNS" 2>/dev/null
	[[ -n ${LAUNCH_NS:-} ]] && ip netns del "$LAUNCH_NS" 2>/dev/null
	[[ -n ${BENCH_KEEP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$SNS" && ip netns add "$CNS" || die "cannot create namespaces"
ip link add "${TAG}a" netns "$SNS" type veth peer name "${TAG}b" netns "$CNS" ||
	die "cannot create the veth pair"
ip -n "$SNS" addr add "$SRV4/24" dev "${TAG}a"
ip -n "$CNS" addr add "$CLI4/24" dev "${TAG}b"
for ns in "$SNS" "$CNS"; do
	ip -n "$ns" link set lo up
done
ip -n "$SNS" link set "${TAG}a" up
ip -n "$CNS" link set "${TAG}b" up

outrsts() { # NS -> TcpOutRsts of that namespace
	ip netns exec "$1" awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 }
		else print $c["OutRsts"] }' /proc/net/snmp
}

cpu_ticks() { # PID -> utime+stime (clock ticks, all threads)
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# ---- tracers ---------------------------------------------------------------------------------
TPID=""
start_tracer() { # VARIANT NSPATH OUTFILE ERRFILE
	local v=$1 nsp=$2 out=$3 err=$4 ready="$WORK/ready" i
	local -a args=(--netns "$nsp" --ready-file "$ready")
	rm -f "$ready"
	TPID=""
	case $v in
	untraced) return 0 ;;
	table) "$RSTWHY" "${args[@]}" >/dev/null 2>"$err" & ;;
	json) "$RSTWHY" --json "${args[@]}" >"$out" 2>"$err" & ;;
	stack) "$RSTWHY" --json -s "${args[@]}" >"$out" 2>"$err" & ;;
	ustack) "$RSTWHY" --json -u "${args[@]}" >"$out" 2>"$err" & ;;
	summary) "$RSTWHY" --summary "${args[@]}" >"$out" 2>"$err" & ;;
	wakeup1) "$RSTWHY" --json --wakeup-bytes 1 "${args[@]}" >"$out" 2>"$err" & ;;
	bpftrace)
		bpftrace_start 'tracepoint:tcp:tcp_send_reset { printf("%s %d state=%d reason=%d sport=%d dport=%d\n", comm, pid, args->state, args->reason, (args->saddr[2] << 8) | args->saddr[3], (args->daddr[2] << 8) | args->daddr[3]); }' \
			"$out" "$err"
		;;
	esac
	TPID=$!
	PIDS+=("$TPID")
	tracer_wait_ready bench "$v" "$out" "$err" "$ready" 300
}

# wait until the tracer has consumed what the flood produced: CPU time and output size steady
wait_drained() { # PID OUTFILE
	local pid=$1 out=$2 c0 c1 s0 s1 i
	c0=$(cpu_ticks "$pid") s0=$(stat -c %s "$out" 2>/dev/null || echo 0)
	for ((i = 0; i < 100; i++)); do
		sleep 0.3
		c1=$(cpu_ticks "$pid") s1=$(stat -c %s "$out" 2>/dev/null || echo 0)
		[[ $c1 == "$c0" && $s1 == "$s0" ]] && return 0
		c0=$c1 s0=$s1
	done
}

stop_tracer() {
	local p keep=()
	kill -INT "$TPID" 2>/dev/null
	wait "$TPID" 2>/dev/null
	for p in "${PIDS[@]}"; do [[ $p == "$TPID" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

# ---- one measurement ---------------------------------------------------------------------------
# sets LINE: variant flood rsts usecs events cpu_ticks hwm_kb lost flood_cpu_secs
run_one() { # VARIANT FLOOD
	local v=$1 f=$2 sender nsp scen n port pbase out err r0 r1 t0 t1 c0=0 c1=0 hwm=0 ev=NA
	local lost=0 i gcpu
	if [[ $f == flood ]]; then
		sender=$SNS nsp=$SNSP scen=flood n=$N pbase=$PORT0
	else
		sender=$CNS nsp=$CNSP scen=flood-linger n=$NL pbase=$((PORT0 + 100))
	fi
	out="$WORK/$v-$f.out" err="$WORK/$v-$f.err"
	: >"$out"
	start_tracer "$v" "$nsp" "$out" "$err" || return 1
	[[ -n $TPID ]] && c0=$(cpu_ticks "$TPID")
	r0=$(outrsts "$sender")
	t0=$(date +%s%N)
	local gens=() bad=0 g
	for ((i = 0; i < PAR; i++)); do
		port=$((pbase + i))
		/usr/bin/time -f "%U %S" -o "$WORK/time$i" \
			"$RSTGEN" "$scen" --server-ns "$SNSP" --client-ns "$CNSP" -a "$SRV4" -c "$CLI4" \
			-p "$port" -n "$n" >"$WORK/gen$i" 2>&1 &
		gens+=($!)
	done
	PIDS+=("${gens[@]}")
	for g in "${gens[@]}"; do
		wait "$g" || bad=1
	done
	t1=$(date +%s%N)
	r1=$(outrsts "$sender")
	# CPU of the floods (their children and the softirq work done in their context), seconds
	gcpu=$(cat "$WORK"/time* | awk '{ s += $1 + $2 } END { printf "%.2f", s }')
	rm -f "$WORK"/time*
	PIDS=("${PIDS[@]:0:${#PIDS[@]}-${#gens[@]}}")
	if ((bad)); then
		echo "bench: rstgen failed:" >&2
		cat "$WORK"/gen* >&2
	fi
	if [[ -n $TPID ]]; then
		wait_drained "$TPID" "$out"
		c1=$(cpu_ticks "$TPID")
		hwm=$(hwm_kb "$TPID")
		((PROFILE_NOW)) && profile_progs "$v" "$f" "$TPID" "$((r1 - r0))"
		stop_tracer
		if [[ $v == bpftrace ]]; then
			# our RSTs: source port (closed port) or destination port (linger) is ours
			ev=$(awk -v lo="$pbase" -v hi="$((pbase + PAR - 1))" '
				{ sp = dp = -1
				  for (i = 1; i <= NF; i++) { if ($i ~ /^sport=/) sp = substr($i, 7) + 0
					if ($i ~ /^dport=/) dp = substr($i, 7) + 0 }
				  if ((sp >= lo && sp <= hi) || (dp >= lo && dp <= hi)) n++ }
				/^Lost [0-9]+ events/ { lost += $2 }
				END { print n + 0, lost + 0 }' "$out")
			lost=${ev#* } ev=${ev% *}
		else
			ev=$(sed -n 's/.*captured \([0-9]*\) of.*/\1/p' "$err" | tail -1)
			lost=$(sed -n 's/.*lost \([0-9]*\) (ring buffer full).*/\1/p' "$err" | tail -1)
			[[ -n $ev ]] || ev=NA
			[[ -n $lost ]] || lost=NA
			if [[ $v == json || $v == stack || $v == wakeup1 ]]; then
				local lines
				lines=$(grep -c . "$out")
				[[ $ev == NA ]] && ev=$lines
				[[ $lines == "$ev" ]] ||
					echo "bench: note: $v/$f: $lines JSON lines, summary says $ev" >&2
			fi
		fi
	fi
	LINE="$v $f $((r1 - r0)) $(((t1 - t0) / 1000)) $ev $((c1 - c0)) $hwm $lost $gcpu"
}

# ---- profile: per-program BPF run time -------------------------------------------------------
PROFILE_NOW=0
profile_progs() { # VARIANT FLOOD PID RSTS
	local v=$1 f=$2 pid=$3 rsts=$4 id
	# the tracer's programs: the prog_id of its BPF fds (programs and links)
	for id in $(grep -h '^prog_id:' /proc/"$pid"/fdinfo/* 2>/dev/null | awk '{ print $2 }' |
		sort -un); do
		bpftool -j prog show id "$id" 2>/dev/null
	done | jq -r -s --arg v "$v" --arg f "$f" --argjson rsts "$rsts" '.[] |
		select((.run_cnt // 0) > 0 or (.recursion_misses // 0) > 0) |
		"\($v)\t\($f)\t\(.name)\t\(.run_cnt // 0)\t\((.run_time_ns // 0) /
		 ((.run_cnt // 0) | if . == 0 then 1 else . end) | floor)\t\(.recursion_misses // 0)\t\($rsts)"' \
		>>"$WORK/profile.tsv"
}

# ---- main --------------------------------------------------------------------------------------
nv=${#VARIANTS[@]}
echo "rstwhy bench: kernel $(uname -r), $(nproc) CPUs, $PAR rstgen process(es) at once," \
	"$ROUNDS rounds; closed-port flood $((N * PAR)) RSTs, linger flood $((NL * PAR)) RSTs"
echo "variants: ${VARIANTS[*]}$( ((HAVE_SUMMARY)) || echo ' (no --summary in this build)')" \
	"$( ((HAVE_BPFTRACE)) || echo '(bpftrace not installed)')"
RES="$WORK/results"
: >"$RES"
# ---- launch phase: start to ready with many established connections -------------------------
# BENCH_LAUNCH (1; "only": this phase alone), BENCH_LAUNCH_CONNS (100000 connections, both ends
# in one namespace of their own: twice as many sockets), BENCH_LAUNCH_ROUNDS (3). The
# namespace's own limits are raised (ip_local_port_range, somaxconn), nothing else; the
# connections are spread over enough process pairs that none needs more descriptors than
# ulimit -n allows. Prints launch-to-ready (wall), the owner seeding's wall and CPU time (-v),
# and checks that the owners of three pre-existing connections reset after start are right.
launch_phase() {
	local lns="${TAG}l" conns=${BENCH_LAUNCH_CONNS:-100000} rounds=${BENCH_LAUNCH_ROUNDS:-3}
	local hold="$ROOT/.output/holdconns" out="$WORK/hold.out" lim pairs hp client r t0 t1 p
	[[ -x $hold ]] || { echo "launch: $hold missing (make)"; return 0; }
	lim=$(ulimit -n)
	pairs=$(((conns + lim - 200) / (lim - 200)))
	((pairs > 64)) && { echo "launch: ulimit -n $lim too low for $conns connections"; return 0; }
	ip netns add "$lns" || return 0
	LAUNCH_NS=$lns
	ip -n "$lns" link set lo up
	ip netns exec "$lns" sysctl -q -w net.ipv4.ip_local_port_range="20000 65000" \
		net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535
	ip netns exec "$lns" "$hold" -n "$conns" -w "$pairs" -k 3 -p 15000 >"$out" 2>&1 &
	hp=$!
	PIDS+=("$hp")
	for ((r = 0; r < 1200; r++)); do
		grep -q '^ready=1' "$out" && break
		kill -0 "$hp" 2>/dev/null || break
		sleep 0.5
	done
	if ! grep -q '^ready=1' "$out"; then
		echo "launch: holdconns did not get ready:"; cat "$out"
		kill -TERM "$hp"; wait "$hp"; ip netns del "$lns"; LAUNCH_NS=""
		return 0
	fi
	client=$(sed -n 's/^server=[0-9]* client=\([0-9]*\) port=15000$/\1/p' "$out")
	echo
	echo "launch: $conns established connections ($((2 * conns)) sockets) in $lns," \
		"$pairs process pairs; rstwhy --netns $lns -v, $rounds rounds"
	for ((r = 1; r <= rounds; r++)); do
		rm -f "$WORK/ready"
		t0=$(date +%s%N)
		"$RSTWHY" -j -v --netns "/run/netns/$lns" --ready-file "$WORK/ready" \
			>"$WORK/launch.ev" 2>"$WORK/launch.err" &
		p=$!
		while [[ ! -e $WORK/ready ]] && kill -0 "$p" 2>/dev/null; do sleep 0.01; done
		t1=$(date +%s%N)
		if ((r == rounds)); then
			kill -USR1 "$client"
			for ((i = 0; i < 100; i++)); do grep -q '^resets=3' "$out" && break; sleep 0.1; done
		fi
		kill -INT "$p"; wait "$p"
		printf 'launch: round %d: start to ready %d ms; %s\n' "$r" $(((t1 - t0) / 1000000)) \
			"$(sed -n 's/^rstwhy: owners of existing sockets[^:]*: //p' "$WORK/launch.err")"
	done
	local good=0 sport
	for sport in $(sed -n 's/^reset sport=\([0-9]*\) .*/\1/p' "$out"); do
		jq -e -s --argjson s "$sport" --argjson c "$client" 'any(.[]; .sport == $s and
			.owner.pid == $c and .detail.owner_from == "procfs")' "$WORK/launch.ev" \
			>/dev/null && good=$((good + 1))
	done
	echo "launch: owners of the 3 pre-existing connections reset after start: $good right"
	kill -TERM "$hp"; wait "$hp"
	ip netns del "$lns"
	LAUNCH_NS=""
}
LAUNCH_NS=""
if [[ ${BENCH_LAUNCH:-1} == only ]]; then
	launch_phase
	exit 0
fi

t_start=$(date +%s)
for ((r = 0; r < ROUNDS; r++)); do
	for f in $FLOODS; do
		# rotate the order every round so that no variant always runs first or last
		for ((k = 0; k < nv; k++)); do
			v=${VARIANTS[$(((k + r) % nv))]}
			run_one "$v" "$f" || continue
			line=$LINE
			echo "$r $line" >>"$RES"
			printf '  round %d %-7s %-9s %s\n' "$((r + 1))" "$f" "$v" \
				"$(awk '{ printf "rsts=%s secs=%.2f events=%s cpu_ticks=%s hwm_kb=%s lost=%s flood_cpu=%s",
					$3, $4 / 1e6, $5, $6, $7, $8, $9 }' <<<"$line")" >&2
		done
	done
done

# ---- table -------------------------------------------------------------------------------------
report() {
	awk -v tck="$TCK" -v order="${VARIANTS[*]}" -v floods="$FLOODS" -v labels="$1" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	BEGIN { nl = split(labels, L, "|") }
	{	# round variant flood rsts usecs events ticks hwm lost
		r = $1; v = $2; f = $3
		rate[r, v, f] = $5 > 0 ? $4 / ($5 / 1e6) : 0
		rsts[r, v, f] = $4; ev[r, v, f] = $6; tk[r, v, f] = $7; hwm[r, v, f] = $8
		lost[r, v, f] = $9; seen[r] = 1
		cost[r, v, f] = $4 > 0 ? ($10 + $7 / tck) / $4 : 0
	}
	END {
		nv = split(order, V, " "); nf = split(floods, F, " ")
		for (fi = 1; fi <= nf; fi++) {
			f = F[fi]
			n = 0; for (r in seen) if ((r, "untraced", f) in rate) u[++n] = rate[r, "untraced", f]
			title = "SO_LINGER 0 flood (client sends RSTs, close())"
			if (f == "flood") title = "closed-port flood (server sends RSTs, softirq)"
			printf "\n%s: untraced %.0f RST/s (median of %d)\n", title, median(u, n), n
			printf "%-32s %17s %9s %10s %17s %10s %9s\n", "variant", "rate ratio",
				"CPU/RST", "reported", "tracer CPU/event", "peak RSS", "lost"
			for (vi = 1; vi <= nv; vi++) {
				v = V[vi]; nr = 0; ne = 0; nc = 0; nh = 0; nk = 0; totl = 0; haslost = 0
				for (r in seen) {
					if (!((r, v, f) in rate)) continue
					if ((r, "untraced", f) in rate && rate[r, "untraced", f] > 0)
						R[++nr] = rate[r, v, f] / rate[r, "untraced", f]
					if (v != "untraced" && ev[r, v, f] != "NA" && rsts[r, v, f] > 0)
						E[++ne] = ev[r, v, f] / rsts[r, v, f]
					if (v != "untraced" && ev[r, v, f] != "NA" && ev[r, v, f] > 0)
						C[++nc] = tk[r, v, f] / tck / ev[r, v, f] * 1e6
					if (v != "untraced") H[++nh] = hwm[r, v, f]
					if (cost[r, "untraced", f] > 0)
						K[++nk] = cost[r, v, f] / cost[r, "untraced", f]
					if (lost[r, v, f] != "NA") { totl += lost[r, v, f]; haslost = 1 }
				}
				if (!nr) continue
				lo = hi = R[1]; for (i = 2; i <= nr; i++) { if (R[i] < lo) lo = R[i]; if (R[i] > hi) hi = R[i] }
				ratio = sprintf("%.2f", median(R, nr))
				if (v != "untraced") ratio = ratio sprintf(" (%.2f-%.2f)", lo, hi)
				se = sc = sh = sl = sk = "-"
				if (nk) sk = sprintf("%.2f", median(K, nk))
				if (ne) se = sprintf("%.2f%%", 100 * median(E, ne))
				if (nc) sc = sprintf("%.1f us", median(C, nc))
				if (nh) sh = sprintf("%.1f MB", median(H, nh) / 1024)
				if (v != "untraced") sl = haslost ? totl : "?"
				printf "%-32s %17s %9s %10s %17s %10s %9s\n", L[vi], ratio, sk, se, sc, sh, sl
				delete R; delete E; delete C; delete H; delete K
			}
		}
	}' "$RES"
}
labels=""
for v in "${VARIANTS[@]}"; do labels+="$(label "$v")|"; done
echo
echo "== rstwhy overhead, $(date -u +%Y-%m-%dT%H:%MZ), kernel $(uname -r), $(nproc) CPUs =="
echo "rate ratio: median over rounds of (RSTs/s traced) / (RSTs/s untraced, same round), range in"
echo "brackets; reported: events / kernel TcpOutRsts delta; tracer CPU: user+sys of the tracer"
echo "process per event (BPF program time is charged to the flood, so it shows in the ratio);"
echo "peak RSS: VmHWM; lost: total over rounds (ring buffer full / bpftrace 'Lost'); CPU/RST:"
echo "(CPU of the floods, softirq included, + tracer CPU) per RST, as a ratio to untraced: less"
echo "sensitive to other load on the machine than the rate ratio (250 Hz tick accounting)."
report "$labels"

# ---- targets -----------------------------------------------------------------------------------
# Each rate target is judged twice: on the measured rate ratio, and on 1 / CPU-per-RST ratio,
# the rate the floods would keep if the machine were theirs alone (both CPUs are saturated, so
# every extra CPU-second per RST costs rate). On a quiet machine the two agree.
echo
awk -v floods="$FLOODS" -v tck="$TCK" '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ r = $1; v = $2; f = $3; rate[r, v, f] = $5 > 0 ? $4 / ($5 / 1e6) : 0
	  cost[r, v, f] = $4 > 0 ? ($10 + $7 / tck) / $4 : 0
	  rsts[r, v, f] = $4; ev[r, v, f] = $6; seen[r] = 1; have[v] = 1 }
	function med_ratio(v, f,   n, r) {
		n = 0; for (r in seen) if ((r, v, f) in rate && rate[r, "untraced", f] > 0)
			A[++n] = rate[r, v, f] / rate[r, "untraced", f]
		x = n ? median(A, n) : -1; delete A; return x
	}
	function cpu_ratio(v, f,   n, r) {	# 1 / (CPU per RST, traced / untraced)
		n = 0; for (r in seen) if ((r, v, f) in cost && cost[r, v, f] > 0)
			A[++n] = cost[r, "untraced", f] / cost[r, v, f]
		x = n ? median(A, n) : -1; delete A; return x
	}
	function all_reported(v, f,   r, ok) {
		ok = -1; for (r in seen) if ((r, v, f) in ev) {
			if (ev[r, v, f] == "NA" || ev[r, v, f] < rsts[r, v, f]) return 0; ok = 1 }
		return ok
	}
	function verdict(ok) { return ok ? "MET" : "MISSED" }
	function both(what, v, f, min,   x, c) {
		x = med_ratio(v, f); c = cpu_ratio(v, f)
		printf "target %-7s %-37s rate ratio %.3f %-6s | 1/CPU ratio %.3f %s\n", f, what, x,
			verdict(x >= min), c, verdict(c >= min)
	}
	END {
		nf = split(floods, F, " ")
		for (i = 1; i <= nf; i++) {
			f = F[i]
			for (v in have) if (v != "untraced" && v != "bpftrace" && v != "wakeup1") {
				a = all_reported(v, f)
				if (a >= 0) printf "target %-7s %-37s %s\n", f,
					"100% of RSTs reported by " v, verdict(a)
			}
			if ("json" in have) both(">= 0.90 with --json to a file", "json", f, 0.90)
			if ("stack" in have) both(">= 0.80 with --json -s", "stack", f, 0.80)
			if ("summary" in have) both(">= 0.95 with --summary", "summary", f, 0.95)
			if ("bpftrace" in have && "json" in have)
				printf "        %-7s bpftrace one-liner for comparison: rate ratio %.3f, " \
					"1/CPU ratio %.3f\n", f, med_ratio("bpftrace", f),
					cpu_ratio("bpftrace", f)
		}
	}' "$RES"

# ---- profile phase -------------------------------------------------------------------------------
if ((PROFILE)); then
	pv=()
	for v in "${VARIANTS[@]}"; do [[ $v == untraced || $v == summary || $v == table ]] || pv+=("$v"); done
	[[ -x $ROOT/.output/bpfstats ]] || die "build first: make (needs .output/bpfstats)"
	echo
	echo "profile: BPF run-time statistics on for the following runs (BPF_ENABLE_STATS, held" \
		"by tools/bpfstats: off when it ends; no sysctl is changed)"
	coproc STATS { exec "$ROOT/.output/bpfstats"; }
	PIDS+=("$STATS_PID")
	read -r _ <&"${STATS[0]}" || die "bpfstats did not start"
	PROFILE_NOW=1
	: >"$WORK/profile.tsv"
	for f in $FLOODS; do
		for v in "${pv[@]}"; do
			run_one "$v" "$f"
		done
	done
	PROFILE_NOW=0
	sp=$STATS_PID
	kill -INT "$sp" 2>/dev/null
	wait "$sp" 2>/dev/null
	echo "profile: BPF run-time statistics off"
	printf '%-9s %-7s %-22s %10s %12s %16s %10s\n' variant flood program run_cnt ns/run \
		recursion_misses "RSTs"
	awk -F'\t' '{ printf "%-9s %-7s %-22s %10s %12s %16s %10s\n", $1, $2, $3, $4, $5, $6, $7 }' \
		"$WORK/profile.tsv"
fi
[[ ${BENCH_LAUNCH:-1} == 0 ]] || launch_phase
echo
echo "bench: $(($(date +%s) - t_start)) s"
