#!/usr/bin/env bash
#
# Kernel matrix (make test-kernels): boot Debian's 6.1 and 6.12 cloud kernels under qemu TCG
# with a busybox initramfs holding the static rstwhy, rstgen and holdconns, run the end-to-end
# scenarios of tests/causes.bats inside each guest, and check the guests' events on the host with
# the very assertions of tests/causes.bats (replayed against the recorded guest output), which
# compare them with what rstgen says each scenario produces (its expect_* lines). One case of
# the guests alone, preexisting: the owners of connections made before rstwhy started.
#
#   tools/kernel-matrix.sh              build initramfs, boot, check (needs make static first)
#   tools/kernel-matrix.sh --check-only re-check the logs of the last run, boot nothing
#   tools/kernel-matrix.sh --help
#
# Output: one line per kernel x attach mode x case x family, "ok"/"not ok" (TAP-like, skips
# as "ok ... # skip REASON"), then "N passed, N failed, N skipped"; exit status 1 on failures.
# Details of a failure follow its line, indented with "#".
#
# Knobs (environment):
#   KM_KERNELS        kernel series to boot                    (default "6.1 6.12")
#   RSTWHY_ATTACH     attach modes, all run in each guest, e.g. "auto fentry kprobe"
#                     (default "auto"; a mode rstwhy rejects with status 2 is skipped)
#   KM_CASES          cases: first words of causes.bats test names, preexisting  (default: all)
#   KM_FAMILIES       address families                                 (default "4 6")
#   KM_RSTWHY_ARGS    more rstwhy options for every case, e.g. "-u"             (default none)
#   KM_JOBS           guests running at once                   (default: number of CPUs)
#   KM_CACHE          downloaded .debs, extracted kernels (default /var/cache/rstwhy-kernels)
#   KM_OUT            initramfs, console logs, per-case records  (default .output/kernels)
#   KM_GUEST_TIMEOUT  seconds one guest may run         (default 240 + 240 per attach mode)
#   KM_MEM, KM_SMP    guest memory and vCPUs                            (default 1G, 1)
#   KM_MODULES        kernel modules loaded in the guest        (default "veth tcp_diag")

set -u
set -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KM_KERNELS=${KM_KERNELS:-"6.1 6.12"}
RSTWHY_ATTACH=${RSTWHY_ATTACH:-auto fentry kprobe}
KM_CASES=${KM_CASES:-}
KM_FAMILIES=${KM_FAMILIES:-"4 6"}
KM_RSTWHY_ARGS=${KM_RSTWHY_ARGS:-}
KM_JOBS=${KM_JOBS:-$(nproc 2>/dev/null || echo 1)}
KM_CACHE=${KM_CACHE:-/var/cache/rstwhy-kernels}
KM_OUT=${KM_OUT:-$ROOT/.output/kernels}
# about 75 s per attach mode on this 2-core machine; generous margin for slower ones
read -ra _modes <<<"$RSTWHY_ATTACH"
KM_NMODES=${#_modes[@]}
KM_GUEST_TIMEOUT=${KM_GUEST_TIMEOUT:-$((240 + 240 * KM_NMODES))}
KM_SMP=${KM_SMP:-1}
KM_MEM=${KM_MEM:-1G}
STATIC_RSTWHY=${STATIC_RSTWHY:-$ROOT/.output/static/rstwhy}
STATIC_RSTGEN=${STATIC_RSTGEN:-$ROOT/.output/static/rstgen}
STATIC_HOLDCONNS=${STATIC_HOLDCONNS:-$ROOT/.output/static/holdconns}
BATS_FILE=${KM_BATS_FILE:-$ROOT/tests/causes.bats}
# kernel modules the scenarios need (their dependencies are added from the modules' .modinfo)
KM_MODULES=${KM_MODULES:-"veth tcp_diag"}

CHECK_ONLY=0
case ${1:-} in
-h | --help)
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	exit 0
	;;
--check-only) CHECK_ONLY=1 ;;
"") ;;
*)
	echo "kernel-matrix: unknown argument '$1' (see --help)" >&2
	exit 2
	;;
esac

say() { printf 'kernel-matrix: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

# guests still running on exit: their timeout(1) processes (timeout passes SIGTERM to qemu)
cleanup() {
	local f p
	for f in "$KM_OUT"/*.pid; do
		[[ -e $f ]] || continue
		p=$(cat "$f")
		[[ -n $p ]] && kill -TERM "$p" 2>/dev/null
		rm -f "$f"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- kernels -----------------------------------------------------------------------------

# pkg_regex SERIES: the unsigned cloud image packages of that series
pkg_regex() {
	case $1 in
	6.1) echo '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$' ;;
	*) echo "^linux-image-${1//./\\.}\\.[0-9]+\\+deb[0-9]+-cloud-amd64-unsigned\$" ;;
	esac
}

# newest_pkg SERIES: newest package name apt knows for the series (empty if none)
newest_pkg() {
	apt-cache search --names-only "$(pkg_regex "$1")" 2>/dev/null | awk '{print $1}' |
		sort -V | tail -n 1
}

APT_UPDATED=0

# fetch_kernel SERIES: sets KDIR (extracted package) and KVER, downloading if needed.
fetch_kernel() {
	local series=$1 pkg deb ver
	KDIR=
	KVER=
	mkdir -p "$KM_CACHE/debs" "$KM_CACHE/x" || return 1
	pkg=$(newest_pkg "$series")
	if [[ -z $pkg && $APT_UPDATED == 0 ]]; then
		say "no $series cloud kernel in apt's lists; running apt-get update once"
		apt-get update -qq >&2 || say "apt-get update failed"
		APT_UPDATED=1
		pkg=$(newest_pkg "$series")
	fi
	if [[ -n $pkg ]]; then
		ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/{print $2}')
		deb=$(find "$KM_CACHE/debs" -maxdepth 1 -name "${pkg}_${ver//:/%3a}_*.deb" | head -n 1)
		if [[ -z $deb ]]; then
			say "downloading $pkg $ver"
			(cd "$KM_CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
				say "apt-get download $pkg failed"
			deb=$(find "$KM_CACHE/debs" -maxdepth 1 -name "${pkg}_*.deb" | sort -V | tail -n 1)
		fi
	else
		# offline: the newest cached package of the series, if any
		deb=$(find "$KM_CACHE/debs" -maxdepth 1 -name '*.deb' | while read -r f; do
			b=$(basename "$f")
			[[ ${b%%_*} =~ $(pkg_regex "$series") ]] && echo "$f"
		done | sort -V | tail -n 1)
		[[ -n $deb ]] && say "apt knows no $series cloud kernel; using the cached $(basename "$deb")"
	fi
	if [[ -z $deb || ! -f $deb ]]; then
		say "kernel $series: no package matching $(pkg_regex "$series") in the configured apt" \
			"sources, and none cached in $KM_CACHE/debs"
		return 1
	fi
	KDIR="$KM_CACHE/x/$(basename "$deb" .deb)"
	if [[ ! -e $KDIR/.extracted ]]; then
		say "extracting $(basename "$deb")"
		if ! { rm -rf "$KDIR" && mkdir -p "$KDIR" && dpkg-deb -x "$deb" "$KDIR"; }; then
			say "extracting $deb failed"
			return 1
		fi
		touch "$KDIR/.extracted"
	fi
	KVER=$(basename "$(find "$KDIR/boot" -name 'vmlinuz-*' | head -n 1)")
	KVER=${KVER#vmlinuz-}
	[[ -n $KVER ]] || {
		say "no vmlinuz in $deb"
		return 1
	}
}

# ---- initramfs ---------------------------------------------------------------------------

# modfile KDIR NAME: path of module NAME (.ko or .ko.xz/.ko.zst) in the extracted package
modfile() {
	find "$1/lib/modules" "$1/usr/lib/modules" \( -name "$2.ko" -o -name "$2.ko.*" \) 2>/dev/null |
		head -n 1
}

# mod_cat FILE: the module, decompressed
mod_cat() {
	case $1 in
	*.xz) xz -dc "$1" ;;
	*.zst) zstd -dc "$1" ;;
	*.gz) gzip -dc "$1" ;;
	*) cat "$1" ;;
	esac
}

# add_module KDIR NAME DEST: NAME and its dependencies into DEST/modules, dependencies first
add_module() {
	local kdir=$1 name=$2 dest=$3 f dep
	grep -qxF "$name" "$dest/modules/order" 2>/dev/null && return 0
	f=$(modfile "$kdir" "$name")
	if [[ -z $f ]]; then
		# built into this kernel?
		if grep -q "/$name.ko" "$kdir"/lib/modules/*/modules.builtin 2>/dev/null ||
			grep -q "/$name.ko" "$kdir"/usr/lib/modules/*/modules.builtin 2>/dev/null; then
			return 0
		fi
		say "module $name not found in $kdir"
		return 1
	fi
	mod_cat "$f" >"$dest/modules/$name.ko" || return 1
	for dep in $(strings "$dest/modules/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$kdir" "$dep" "$dest" || return 1
	done
	echo "$name" >>"$dest/modules/order"
}

# copy_dyn BIN DEST: a dynamic binary and its shared libraries (ldd) into DEST
copy_dyn() {
	local bin=$1 dest=$2 lib
	install -D -m 0755 "$bin" "$dest/usr/bin/$(basename "$bin")"
	for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
		[[ -e $dest$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$dest$lib"
	done
}

# build_initramfs KDIR KVER MODES OUT.cpio
build_initramfs() {
	local kdir=$1 kver=$2 modes=$3 out=$4 st app
	st=$(mktemp -d "${TMPDIR:-/tmp}/km-initramfs.XXXXXX") || return 1
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,etc,modules,var} &&
		ln -s /run "$st/var/run" || return 1
	install -m 0755 "$(command -v busybox)" "$st/bin/busybox" || return 1
	for app in $("$st/bin/busybox" --list); do
		case $app in
		busybox | ip | ss) continue ;; # iproute2's ip and ss are in /usr/bin
		esac
		[[ -e $st/bin/$app ]] || ln -s busybox "$st/bin/$app"
	done
	copy_dyn "$(command -v ip)" "$st" || return 1
	copy_dyn "$(command -v ss)" "$st" || return 1
	install -m 0755 "$STATIC_RSTWHY" "$st/bin/rstwhy" &&
		install -m 0755 "$STATIC_RSTGEN" "$st/bin/rstgen" &&
		install -m 0755 "$STATIC_HOLDCONNS" "$st/bin/holdconns" &&
		install -m 0755 "$ROOT/tools/kernel-matrix-init.sh" "$st/init" || return 1
	: >"$st/modules/order"
	for m in $KM_MODULES; do
		add_module "$kdir" "$m" "$st" || return 1
	done
	mknod -m 600 "$st/dev/console" c 5 1 2>/dev/null
	mknod -m 666 "$st/dev/null" c 1 3 2>/dev/null
	{
		printf 'KM_MODES="%s"\n' "$modes"
		printf 'KM_CASES="%s"\n' "$KM_CASES"
		printf 'KM_FAMILIES="%s"\n' "$KM_FAMILIES"
		printf 'KM_RSTWHY_ARGS="%s"\n' "$KM_RSTWHY_ARGS"
		printf 'KM_TIMEOUT=%s\n' 120
	} >"$st/etc/km.conf"
	(cd "$st" && find . | LC_ALL=C sort | "$st/bin/busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$out"
	local rc=$?
	rm -rf "$st"
	return $rc
}

# ---- guests ------------------------------------------------------------------------------

# split_log LOG DIR: one directory per case (DIR/MODE/CASE.FAM) with the recorded files
split_log() {
	local log=$1 dir=$2
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	tr -d '\r' <"$log" | awk -v D="$dir" '
	function kv(s,   n, i, a, p) {
		delete KV
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) {
			p = index(a[i], "=")
			if (p) KV[substr(a[i], 1, p - 1)] = substr(a[i], p + 1)
		}
	}
	BEGIN { F[1] = "events.jsonl"; F[2] = "rstwhy.err"; F[3] = "rstgen.out"; F[4] = "rstgen.err" }
	function out(file, line) { if (C != "") print line > (C "/" file) }
	/^@@KM case / {
		kv(substr($0, 10))
		fam = KV["fam"]
		C = D "/" KV["mode"] "/" KV["case"] "." fam
		system("mkdir -p \"" C "\"")
		for (i = 1; i <= 4; i++) printf "" > (C "/" F[i])
		print substr($0, 10) > (C "/meta")
		next
	}
	/^@@KM netns / { out("meta", substr($0, 6)); next }
	/^@@KM result / { out("meta", substr($0, 6)); next }
	/^@@KM end$/ {
		if (C != "") {
			print "complete" > (C "/meta")
			close(C "/meta"); close(C "/ss.out"); close(C "/rstwhy-verbose.err")
			close(C "/plan.json")
			for (i = 1; i <= 4; i++) close(C "/" F[i])
		}
		C = ""
		next
	}
	/^@@EV / { out("events.jsonl", substr($0, 6)); next }
	/^@@RE / { out("rstwhy.err", substr($0, 6)); next }
	/^@@GO / { out("rstgen.out", substr($0, 6)); next }
	/^@@GE / { out("rstgen.err", substr($0, 6)); next }
	/^@@SS / { out("ss.out", substr($0, 6)); next }
	/^@@VL / { out("rstwhy-verbose.err", substr($0, 6)); next }
	/^@@RF / { out("plan.json", substr($0, 6)); next }
	/^@@PR / { print substr($0, 6) > (D "/probe.txt"); next }
	/^@@PJ / { print substr($0, 6) > (D "/probe.json"); next }
	/^@@DM / { print substr($0, 6) > (D "/dmesg.txt"); next }
	/^@@KM mode-skip / { kv(substr($0, 16)); r = $0; sub(/.* reason=/, "", r)
		m = D "/" KV["mode"]; system("mkdir -p \"" m "\""); print r > (m "/SKIPPED"); next }
	/^@@KM / { print substr($0, 6) > (D "/control.txt"); next }
	'
}

# ---- checks: tests/causes.bats replayed against the records ------------------------------

# The bats file's @test lines: "NAME<TAB>BODY" (single-line tests; multi-line ones too).
bats_tests() {
	awk '
	/^@test "/ {
		name = $0; sub(/^@test "/, "", name); sub(/".*/, "", name)
		body = $0; sub(/^@test "[^"]*" *\{ */, "", body)
		if (body ~ /\} *$/) { sub(/ *\} *$/, "", body); print name "\t" body; next }
		inbody = 1; next
	}
	inbody && /^\}/ { print name "\t" body; inbody = 0; body = ""; next }
	inbody { body = body "; " $0 }
	' "$BATS_FILE"
}

# Everything but the @test blocks: the t_* functions and helpers of the bats file.
bats_functions() {
	awk '
	/^@test "/ { if ($0 !~ /\} *$/) skip = 1; next }
	skip && /^\}/ { skip = 0; next }
	!skip { print }
	' "$BATS_FILE"
}

# Cases the guest runs that the bats file only skips on a host: guest-only checks, used when
# the bats test of that case calls skip.  They use the bats file's own helpers, and rstgen's
# expect_* lines say what the scenario must produce.
kt_orphan_memory() {
	t_cause server orphan-memory "$1"
}
declare -A GUEST_CHECK=([orphan-memory]=kt_orphan_memory)

# preexisting: tools/holdconns made its connections in the server namespace before rstwhy -v
# started, then the client of its first server reset three of them. Their owner is that client,
# learnt at start by the BPF iterator over open files (where it does not load: its verifier log).
kt_preexisting() {
	local out=$rec/rstgen.out client
	start_rstwhy --netns "$SRV_NSPATH" -v
	stop_rstwhy
	if ! grep -qF "owners of existing sockets (BPF iterator" "$RSTWHY_ERR"; then
		grep -e "owners of existing sockets" -e rw_seed_ "$RSTWHY_ERR" | head -n 20 || true
		sed -n "/prog 'rw_seed_.*BEGIN PROG LOAD LOG/,/END PROG LOAD LOG/p" "$RSTWHY_ERR" |
			tail -n 60
		fail "the owners were not learnt by the BPF iterator (rstwhy -v: $RSTWHY_ERR)"
	fi
	client=$(holdconns_client "$out" "$(meta port)")
	if [[ -z $client ]] || ! grep -qx resets=3 "$out"; then
		_rw_show_file "holdconns (guest)" "$out"
		_rw_show_file "holdconns stderr (guest)" "$rec/rstgen.err"
		fail "holdconns did not reset three connections of its first client"
	fi
	assert_seeded_owners "$out" "$client"
}
# the guest's own cases (no test of the bats file): lines like bats_tests'
GUEST_TESTS=$'preexisting owners of connections made before rstwhy started ipv4\tkt_preexisting'

# every test a guest case is checked with: the bats file's, then the guest's own
km_tests() {
	bats_tests
	printf '%s\n' "$GUEST_TESTS"
}

# check_case REC NAME BODY: run BODY with the harness replaced by the record in REC.
# Prints the test's diagnostics; exit status 0 pass, 1 fail, 3 skip (reason on the last line).
# shellcheck disable=SC2034,SC2317 # the replayed harness is called from the bats functions
check_case() {
	local rec=$1 name=$2 body=$3 caseid fn
	caseid=${name%% *}
	(
		export BATS_TEST_TMPDIR
		BATS_TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/km-case.XXXXXX") || exit 1
		trap 'rm -rf "$BATS_TEST_TMPDIR"' EXIT
		# shellcheck disable=SC1091
		source "$ROOT/tests/lib/common.bash"
		load() { :; }
		# shellcheck disable=SC1090
		source <(bats_functions)
		meta() { sed -n "s/.*\\<$1=\\([^ ]*\\).*/\\1/p" "$rec/meta" | tail -n 1; }

		# the guest's hosts (tools/kernel-matrix-init.sh)
		SRV_NS=kms CLI_NS=kmc SRV_NSPATH=/run/netns/kms CLI_NSPATH=/run/netns/kmc
		SRV_IF=rws CLI_IF=rwc RW_N=1 SCEN_PORT=0
		SRV4=10.210.1.1 CLI4=10.210.1.2 SPOOF4=10.210.1.99
		SRV6=fd00:210:1::1 CLI6=fd00:210:1::2 SPOOF6=fd00:210:1::99
		SKIPFILE=$BATS_TEST_TMPDIR/.skip

		# replayed harness
		skip() {
			echo "${*:-skipped}" >"$SKIPFILE"
			exit 0
		}
		ns_inode() {
			case $1 in
			"$SRV_NSPATH") meta srv_ino ;;
			"$CLI_NSPATH") meta cli_ino ;;
			*) fail "ns_inode: unknown namespace $1" ;;
			esac
		}
		start_rstwhy() {
			EVENTS=$rec/events.jsonl RSTWHY_ERR=$rec/rstwhy.err
			export EVENTS RSTWHY_ERR
			if [[ $(meta rstwhy_ready) != 1 ]]; then
				_rw_show_file "rstwhy stderr (guest)" "$RSTWHY_ERR"
				if [[ -s $rec/rstwhy-verbose.err ]]; then
					echo "--- rstwhy -v (guest), last 30 lines of $rec/rstwhy-verbose.err ---"
					tail -n 30 "$rec/rstwhy-verbose.err"
					echo "--- end of rstwhy -v ---"
				fi
				fail "rstwhy --json $* exited with status $(meta rstwhy_status) before it was ready (in the guest)"
			fi
		}
		stop_rstwhy() {
			RSTWHY_STATUS=$(meta rstwhy_status)
			if [[ $RSTWHY_STATUS != 0 ]]; then
				_rw_show_file "rstwhy stderr (guest)" "$RSTWHY_ERR"
				fail "rstwhy exited with status $RSTWHY_STATUS after SIGINT (expected 0)"
			fi
		}
		start_scen() {
			RSTGEN_SCEN=$1
			_rw_scen_args "$2"
			RSTGEN_OUT=$rec/rstgen.out RSTGEN_ERR=$rec/rstgen.err RSTGEN_PID=guest
		}
		wait_scen_line() {
			grep -qxF -- "$1" "$RSTGEN_OUT" ||
				fail "rstgen $RSTGEN_SCEN did not print '$1' (in the guest)"
		}
		finish_scen() {
			local rc
			rc=$(meta rstgen_status)
			RSTGEN_PID=
			_rw_parse_kv "$RSTGEN_OUT"
			sed 's/^/rstgen: /' "$RSTGEN_OUT"
			if [[ $rc != 0 ]]; then
				_rw_show_file "rstgen stderr (guest)" "$RSTGEN_ERR"
				fail "rstgen $RSTGEN_SCEN exited with status ${rc:-?} (in the guest)"
			fi
		}
		run_scen() {
			start_scen "$@"
			finish_scen
		}
		# t_socket_destroy runs "ip netns exec NS ss -K ..."; the guest did
		ip() {
			[[ -e $rec/ss.out ]] && cat "$rec/ss.out"
			return "$(meta ss_status | grep . || echo 1)"
		}

		set -eE
		if [[ ! -e $rec/meta ]]; then
			fail "no record of this case in the guest's console log"
		fi
		if ! grep -qx complete "$rec/meta"; then
			fail "the guest's record of this case is incomplete (guest crashed or timed out?)"
		fi
		if [[ $(meta hosts) == failed ]]; then
			_rw_show_file "namespace setup (guest)" "$rec/rstwhy.err"
			fail "creating the namespaces and veth failed in the guest"
		fi
		# a subshell of its own: skip() leaves it, the guest-only check may follow
		( eval "$body" )
		if [[ -e $SKIPFILE && -n ${GUEST_CHECK[$caseid]:-} ]]; then
			rm -f "$SKIPFILE"
			fn=${GUEST_CHECK[$caseid]}
			"$fn" "${name##* }"
		fi
		if [[ -e $SKIPFILE ]]; then
			cat "$SKIPFILE"
			exit 3
		fi
	)
}

PASSED=0
FAILED=0
SKIPPED=0

# report RESULT DESCRIPTION [DETAILS_FILE]
report() {
	case $1 in
	ok) PASSED=$((PASSED + 1)); echo "ok $2" ;;
	skip) SKIPPED=$((SKIPPED + 1)); echo "ok $2 # skip $3" ;;
	*)
		FAILED=$((FAILED + 1))
		echo "not ok $2"
		[[ -n ${3:-} && -s $3 ]] && sed -n '1,80s/^/#   /p' "$3"
		;;
	esac
}

# in_list WORD LIST: is WORD one of the whitespace-separated words of LIST?
in_list() {
	local w
	for w in $2; do
		[[ $w == "$1" ]] && return 0
	done
	return 1
}

want_case() {
	[[ -z $KM_CASES ]] || in_list "$1" "$KM_CASES"
}

want_family() {
	in_list "${1#ipv}" "$KM_FAMILIES"
}

# check_plan RECDIR MODE: the attach plan the guest's rstwhy wrote into its ready file (every
# case of MODE) agrees with the mode asked for and with what rstwhy --probe -j found: a forced
# hook mode is the plan's passive mode on both hooks; auto leaves a gap only when no hook mode
# is available; every mode loads the BPF iterator over open files (seed_iter). Prints the plan
# (or what is wrong); 0 pass, 1 fail, 3 nothing recorded.
check_plan() {
	local dir=$1 mode=$2 probe=$1/probe.json plans n
	plans=$(cat "$dir/$mode"/*/plan.json 2>/dev/null |
		jq -sc 'map({tracepoints, passive, gap, seed_iter}) | unique') ||
		{ echo "a ready file does not hold one JSON object"; return 1; }
	n=$(jq length <<<"$plans")
	((n > 0)) || { echo "no ready file recorded for this mode"; return 3; }
	jq -r '.[] | "tracepoints=\(.tracepoints) passive=\(.passive) gap=\(.gap)" +
		" seed_iter=\(.seed_iter)"' <<<"$plans"
	((n == 1)) || { echo "the plan differs between cases"; return 1; }
	jq -e '.[0].seed_iter == true' <<<"$plans" >/dev/null ||
		{ echo "the BPF iterator over open files did not load (see the case preexisting)"; return 1; }
	jq -e --arg m "$mode" '. as $p | ($m == "auto" or $p.passive == $m) and
		([$p.hooks[] | select(.hook | test("^tcp_v[46]_send_reset$")) | .attach] |
			if $p.passive == "tracepoint" then length == 0 else . == [$p.passive, $p.passive] end)
		' <<<"$(cat "$dir/$mode"/*/plan.json | head -n 1)" >/dev/null ||
		{ echo "the plan does not attach passive resets the way --attach=$mode asks"; return 1; }
	[[ -s $probe ]] || { echo "no rstwhy --probe -j output"; return 1; }
	if [[ $mode == auto ]]; then
		jq -e --argjson p "$(jq '.[0]' <<<"$plans")" '
			.tracepoints == $p.tracepoints and .passive == $p.passive and .gap == $p.gap and
			.seed_iter == $p.seed_iter and
			(if .gap then all(.modes[]; .available | not) else true end)' "$probe" >/dev/null ||
			{ echo "--probe -j says: $(jq -c '{tracepoints, passive, gap, seed_iter, modes}' "$probe")"
				return 1; }
	fi
	return 0
}

# check_kernel LABEL RECDIR MODE...: a result line per mode x test of the bats file
check_kernel() {
	local label=$1 dir=$2 mode name body rec rc out reason
	shift 2
	out=$(mktemp) || return 1
	for mode in "$@"; do
		if [[ ! -e $dir/$mode/SKIPPED ]]; then
			rc=0
			check_plan "$dir" "$mode" >"$out" 2>&1 || rc=$?
			case $rc in
			0) report ok "$label attach=$mode plan: $(head -n 1 "$out")" ;;
			3) report skip "$label attach=$mode plan" "$(tail -n 1 "$out")" ;;
			*) report fail "$label attach=$mode plan" "$out" ;;
			esac
		fi
		while IFS=$'\t' read -r name body; do
			want_case "${name%% *}" || continue
			want_family "${name##* }" || continue
			local desc="$label attach=$mode $name"
			if [[ -e $dir/$mode/SKIPPED ]]; then
				report skip "$desc" "$(head -c 300 "$dir/$mode/SKIPPED")"
				continue
			fi
			rec="$dir/$mode/${name%% *}.${name##* ipv}"
			rc=0
			# not in a || list: that would turn off errexit in the replayed test
			check_case "$rec" "$name" "$body" >"$out" 2>&1
			rc=$?
			case $rc in
			0) report ok "$desc" ;;
			3)
				reason=$(tail -n 1 "$out")
				report skip "$desc" "$reason"
				;;
			*) report fail "$desc" "$out" ;;
			esac
		done < <(km_tests)
	done
	rm -f "$out"
}

# ---- main --------------------------------------------------------------------------------

command -v jq >/dev/null || die "jq is needed on the host (make test-kernels installs it)"
[[ -f $BATS_FILE ]] || die "no $BATS_FILE"
mkdir -p "$KM_OUT" || die "cannot create $KM_OUT"

SERIES=()
if ((CHECK_ONLY == 0)); then
	for b in "$STATIC_RSTWHY" "$STATIC_RSTGEN" "$STATIC_HOLDCONNS"; do
		[[ -x $b ]] || die "$b missing: run 'make static' (make test-kernels does)"
	done
	for t in qemu-system-x86_64 busybox dpkg-deb apt-get xz strings ldd; do
		command -v "$t" >/dev/null || die "$t is missing (make test-kernels installs what it needs)"
	done
	busybox --list 2>/dev/null | grep -x cpio >/dev/null || die "busybox has no cpio applet"
	"$STATIC_RSTGEN" --list | grep -x orphan-memory >/dev/null ||
		say "warning: this rstgen has no orphan-memory scenario"

	run_start=$SECONDS
	running=0
	for s in $KM_KERNELS; do
		if ! fetch_kernel "$s"; then
			echo "$s: not available" >"$KM_OUT/$s.unavailable"
			SERIES+=("$s")
			continue
		fi
		rm -f "$KM_OUT/$s.unavailable"
		echo "$KVER" >"$KM_OUT/$s.kver"
		SERIES+=("$s")
		say "kernel $s: $KVER ($(basename "$KDIR"))"
		build_initramfs "$KDIR" "$KVER" "$RSTWHY_ATTACH" "$KM_OUT/$s.cpio" ||
			die "building the initramfs for $KVER failed"
		while ((running >= KM_JOBS)); do
			wait -n 2>/dev/null
			running=$((running - 1))
		done
		say "booting $KVER under qemu TCG (attach modes: $RSTWHY_ATTACH)"
		(
			t0=$SECONDS
			timeout -k 10 "$KM_GUEST_TIMEOUT" qemu-system-x86_64 -accel tcg -m "$KM_MEM" -smp "$KM_SMP" \
				-nographic -no-reboot -nic none \
				-kernel "$KDIR/boot/vmlinuz-$KVER" -initrd "$KM_OUT/$s.cpio" \
				-append "console=ttyS0 loglevel=1 panic=-1 oops=panic mitigations=off" \
					</dev/null >"$KM_OUT/$s.log" 2>&1 &
			echo $! >"$KM_OUT/$s.pid"
			rc=0
			wait $! || rc=$?
			rm -f "$KM_OUT/$s.pid"
			echo "$((SECONDS - t0))" >"$KM_OUT/$s.secs"
			echo "$rc" >"$KM_OUT/$s.qemu-status"
			say "$KVER: guest finished after $((SECONDS - t0)) s (qemu status $rc)"
		) &
		running=$((running + 1))
	done
	wait
	say "all guests done in $((SECONDS - run_start)) s"
fi

# The checks run the bodies of the bats tests (with the harness replaced, and only for cases the
# guest recorded): run them in a network namespace of their own, so that nothing a test body
# might do to the network can reach the host's.
if [[ -z ${KM_CHECK_NETNS:-} ]] && unshare --net true 2>/dev/null; then
	KM_CHECK_NETNS=1 exec unshare --net -- "${BASH_SOURCE[0]}" --check-only
fi
if ((CHECK_ONLY)); then
	for s in $KM_KERNELS; do SERIES+=("$s"); done
fi

for s in "${SERIES[@]}"; do
	if [[ -e $KM_OUT/$s.unavailable || ! -e $KM_OUT/$s.log ]]; then
		while IFS=$'\t' read -r name _; do
			want_case "${name%% *}" || continue
			want_family "${name##* }" || continue
			for mode in $RSTWHY_ATTACH; do
				report skip "linux-$s attach=$mode $name" "no $s kernel package available (see above)"
			done
		done < <(km_tests)
		continue
	fi
	kver=$(cat "$KM_OUT/$s.kver" 2>/dev/null || echo "$s")
	split_log "$KM_OUT/$s.log" "$KM_OUT/$s.records" || die "cannot split $KM_OUT/$s.log"
	if ! grep -q '^done' "$KM_OUT/$s.records/control.txt" 2>/dev/null; then
		say "$kver: the guest did not finish (qemu status $(cat "$KM_OUT/$s.qemu-status" 2>/dev/null));" \
			"console log: $KM_OUT/$s.log"
		tr -d '\r' <"$KM_OUT/$s.log" | grep -av '^@@' | tail -n 15 | sed 's/^/kernel-matrix:   /' >&2
	fi
	echo "# $kver: $(grep -m1 '^boot ' "$KM_OUT/$s.records/control.txt" 2>/dev/null)" \
		"guest time $(cat "$KM_OUT/$s.secs" 2>/dev/null || echo ?) s"
	[[ -s $KM_OUT/$s.records/probe.txt ]] && sed 's/^/#   probe: /' "$KM_OUT/$s.records/probe.txt"
	grep -E '^(module .* failed|warning|mode-skip)' "$KM_OUT/$s.records/control.txt" 2>/dev/null |
		sed 's/^/#   /'
	# shellcheck disable=SC2086 # one argument per mode
	check_kernel "$kver" "$KM_OUT/$s.records" $RSTWHY_ATTACH
done

echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
((FAILED == 0))
