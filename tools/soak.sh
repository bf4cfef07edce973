#!/usr/bin/env bash
# rstwhy soak test (`make soak`; not part of CI).
#
# For SOAK_SECS seconds (default 600) rstwhy runs with --json > /dev/null while rstgen makes
# distinct connections in a private namespace (loopback): rounds of flood-linger (connections
# closed with SO_LINGER 0, one new listening port per round) and, every SOAK_CLOSED_EVERY-th
# round, a closed-port flood. Every SOAK_SAMPLE seconds (default 10) it prints rstwhy's RSS,
# the memory of rstwhy's BPF maps (bytes_memlock) and the entry counts of the LRU maps
# (sockets, tuple_owners, listeners), the RSTs the hook saw and the events lost.
#
# Pass: at least SOAK_MIN_CONN connections (default 1,000,000), RSS after warm-up (the first
# sample at or after SOAK_WARMUP seconds, default 60) grows by at most SOAK_RSS_SLACK_KB
# (default 2048) to the end, map memory constant, every LRU map within its max_entries, and
# every RST the kernel counted is captured, or the ones missing are reported as lost by rstwhy.
#
# Rate: SOAK_RATE connections/s (default 3000; 0 = as fast as possible).
# Rules kept: traffic only inside one namespace created here (rwb<PID>k), no sysctl touched,
# only PIDs started here are signalled.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RSTWHY="${RSTWHY:-$ROOT/rstwhy}"
RSTGEN="${RSTGEN:-$ROOT/.output/rstgen}"
SECS="${SOAK_SECS:-600}"
SAMPLE="${SOAK_SAMPLE:-10}"
WARMUP="${SOAK_WARMUP:-60}"
RATE="${SOAK_RATE:-3000}"
BATCH="${SOAK_BATCH:-2000}"
CLOSED_EVERY="${SOAK_CLOSED_EVERY:-10}"
MIN_CONN="${SOAK_MIN_CONN:-1000000}"
RSS_SLACK="${SOAK_RSS_SLACK_KB:-2048}"

die() { echo "soak: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root (namespaces, BPF)"
[[ -x $RSTWHY && -x $RSTGEN ]] || die "build first: make (need $RSTWHY and $RSTGEN)"
command -v jq >/dev/null || die "needs jq"
command -v bpftool >/dev/null || die "needs bpftool"

NS="rwb$$k"
NSP="/run/netns/$NS"
WORK=$(mktemp -d /tmp/rwsoak.XXXXXX)
cp "$RSTWHY" "$WORK/rstwhy" && RSTWHY="$WORK/rstwhy"
cp "$RSTGEN" "$WORK/rstgen" && RSTGEN="$WORK/rstgen"
RPID="" GPID=""

cleanup() {
	[[ -n $GPID ]] && kill "$GPID" 2>/dev/null
	[[ -n $RPID ]] && kill -INT "$RPID" 2>/dev/null
	sleep 0.3
	[[ -n $GPID ]] && kill -KILL "$GPID" 2>/dev/null
	[[ -n $RPID ]] && kill -KILL "$RPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	[[ -n ${SOAK_KEEP:-} ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$NS" || die "cannot create namespace $NS"
ip -n "$NS" link set lo up

outrsts() {
	ip netns exec "$NS" awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 }
		else print $c["OutRsts"] }' /proc/net/snmp
}

"$RSTWHY" --json --netns "$NSP" --ready-file "$WORK/ready" >/dev/null 2>"$WORK/rstwhy.err" &
RPID=$!
for ((i = 0; i < 300; i++)); do
	[[ -e $WORK/ready ]] && break
	kill -0 "$RPID" 2>/dev/null || break
	sleep 0.1
done
[[ -e $WORK/ready ]] || { cat "$WORK/rstwhy.err" >&2; die "rstwhy did not start"; }

# rstwhy's maps, by the map_id of its BPF fds
declare -A MAPID
for id in $(grep -h '^map_id:' /proc/"$RPID"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -un); do
	name=$(bpftool -j map show id "$id" 2>/dev/null | jq -r .name)
	MAPID[$name]=$id
done
for m in sockets tuple_owners listeners counters; do
	[[ -n ${MAPID[$m]:-} ]] || die "rstwhy has no map '$m' (maps: ${!MAPID[*]})"
done
declare -A MAXENT
for m in sockets tuple_owners listeners; do
	MAXENT[$m]=$(bpftool -j map show id "${MAPID[$m]}" | jq .max_entries)
done

# load generator: a subshell looping over rstgen rounds until told to stop
gen() {
	local round=0 port0=$((20000 + $$ % 20000)) t0 want now port conn=0 cpid=""
	trap '[[ -n $cpid ]] && kill "$cpid" 2>/dev/null; exit 0' TERM
	t0=$(date +%s%N)
	while :; do
		port=$((port0 + round % 20000))
		if ((CLOSED_EVERY > 0 && round % CLOSED_EVERY == CLOSED_EVERY - 1)); then
			"$RSTGEN" flood --server-ns "$NSP" --client-ns "$NSP" -a 127.0.0.1 -p "$port" \
				-n "$BATCH" >"$WORK/gen.out" 2>&1 &
		else
			"$RSTGEN" flood-linger --server-ns "$NSP" --client-ns "$NSP" -a 127.0.0.1 \
				-p "$port" -n "$BATCH" >"$WORK/gen.out" 2>&1 &
		fi
		cpid=$!
		wait "$cpid" || { cat "$WORK/gen.out" >&2; exit 1; }
		cpid=""
		round=$((round + 1))
		conn=$((conn + BATCH))
		echo "$conn $round" >"$WORK/gen.count.tmp" && mv "$WORK/gen.count.tmp" "$WORK/gen.count"
		if ((RATE > 0)); then
			want=$((t0 + conn * 1000000000 / RATE))
			now=$(date +%s%N)
			((want > now)) && sleep "$(awk -v d=$((want - now)) 'BEGIN { printf "%.3f", d / 1e9 }')"
		fi
	done
}
echo "0 0" >"$WORK/gen.count"
R0=$(outrsts)
gen &
GPID=$!

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
map_count() { bpftool -j map dump id "$1" 2>/dev/null | jq length; }
counter() { # index -> sum over CPUs of the per-CPU counter
	bpftool -j map lookup id "${MAPID[counters]}" key "$1" 0 0 0 2>/dev/null |
		jq '[.formatted.values[]?.value] | add // 0'
}
memlock() {
	local id sum=0 b
	for id in "${MAPID[@]}"; do
		b=$(bpftool -j map show id "$id" | jq '.bytes_memlock // 0')
		sum=$((sum + b))
	done
	echo "$sum"
}

echo "soak: rstwhy --json > /dev/null in $NS for ${SECS}s, target ${RATE} connections/s" \
	"(batches of $BATCH; a closed-port flood every ${CLOSED_EVERY}th batch)"
echo "soak: LRU max_entries: sockets ${MAXENT[sockets]}, tuple_owners ${MAXENT[tuple_owners]}," \
	"listeners ${MAXENT[listeners]}"
printf '%6s %10s %9s %9s %12s %8s %12s %9s %11s %11s %6s\n' t_s connections rss_kb hwm_kb \
	map_memlock sockets tuple_owners listeners hook_sent TcpOutRsts lost
SERIES="$WORK/series"
: >"$SERIES"
T0=$(date +%s)
next=$T0
while :; do
	now=$(date +%s)
	el=$((now - T0))
	kill -0 "$GPID" 2>/dev/null || die "load generator died"
	kill -0 "$RPID" 2>/dev/null || { cat "$WORK/rstwhy.err" >&2; die "rstwhy died"; }
	read -r conn rounds <"$WORK/gen.count"
	line=$(printf '%6d %10d %9d %9d %12d %8d %12d %9d %11d %11d %6d' "$el" "$conn" \
		"$(rss_kb "$RPID")" "$(awk '/^VmHWM:/ { print $2 }' /proc/"$RPID"/status)" \
		"$(memlock)" "$(map_count "${MAPID[sockets]}")" "$(map_count "${MAPID[tuple_owners]}")" \
		"$(map_count "${MAPID[listeners]}")" "$(counter 0)" "$(($(outrsts) - R0))" "$(counter 2)")
	echo "$line"
	echo "$line" >>"$SERIES"
	((el >= SECS)) && break
	next=$((next + SAMPLE))
	now=$(date +%s)
	((next > now)) && sleep $((next - now))
done

kill "$GPID" 2>/dev/null
wait "$GPID" 2>/dev/null
GPID=""
sleep 1
kill -INT "$RPID"
wait "$RPID"
RPID=""
R1=$(outrsts)
read -r conn rounds <"$WORK/gen.count"
echo
echo "soak: rstwhy summary:"
sed 's/^/  /' "$WORK/rstwhy.err"

# ---- verdict ---------------------------------------------------------------------------------------
fail=0
verdict() { # OK MESSAGE
	if (($1)); then echo "soak: PASS $2"; else echo "soak: FAIL $2"; fail=1; fi
}
verdict $((conn >= MIN_CONN)) "connections: $conn in $rounds rstgen rounds (need >= $MIN_CONN)"
read -r rss_first rss_last rss_max mem_min mem_max <<<"$(awk -v w="$WARMUP" '
	$1 >= w { if (!n++) first = $3; last = $3; if ($3 > max) max = $3
		if (min == "" || $5 < min) min = $5; if ($5 > mx) mx = $5 }
	END { print first + 0, last + 0, max + 0, min + 0, mx + 0 }' "$SERIES")"
verdict $((rss_max - rss_first <= RSS_SLACK)) \
	"RSS after warm-up: ${rss_first} kB at ${WARMUP}s, ${rss_last} kB at the end, max ${rss_max} kB (growth allowed ${RSS_SLACK} kB)"
verdict $((mem_min == mem_max)) "BPF map memory: ${mem_min}..${mem_max} bytes memlock"
read -r ms mt ml <<<"$(awk '{ if ($6 > a) a = $6; if ($7 > b) b = $7; if ($8 > c) c = $8 }
	END { print a + 0, b + 0, c + 0 }' "$SERIES")"
verdict $((ms <= MAXENT[sockets] && mt <= MAXENT[tuple_owners] && ml <= MAXENT[listeners])) \
	"LRU maps bounded: max sockets $ms/${MAXENT[sockets]}, tuple_owners $mt/${MAXENT[tuple_owners]}, listeners $ml/${MAXENT[listeners]}"
captured=$(sed -n 's/.*captured \([0-9]*\) of \([0-9]*\).*/\1/p' "$WORK/rstwhy.err" | tail -1)
kernel=$(sed -n 's/.*captured \([0-9]*\) of \([0-9]*\).*/\2/p' "$WORK/rstwhy.err" | tail -1)
lost=$(sed -n 's/.*lost \([0-9]*\) (ring buffer full).*/\1/p' "$WORK/rstwhy.err" | tail -1)
captured=${captured:-0} kernel=${kernel:-0} lost=${lost:-0}
verdict $((captured + lost >= kernel && kernel >= R1 - R0)) \
	"events: captured $captured of $kernel TcpOutRsts (namespace delta $((R1 - R0))), lost $lost (reported by rstwhy)"
((lost == 0)) || echo "soak: note: $lost events were lost (ring buffer full) and reported as such"
exit $fail
