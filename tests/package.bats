#!/usr/bin/env bats
#
# Carrying rstwhy to a machine: the static binary (make dist) in a fresh Debian 12 root with
# nothing installed, make install / uninstall, the man page and bash completion, the Debian
# package (make deb: lintian, installed with apt-get into a fresh root, purged without a
# trace), the container image (make image, run with podman against the host's RSTs), and
# that every program the tests run is installed by `make test` or found in a minimal Debian.
#
# The fresh roots come from tools/debroot.sh: one debootstrap --variant=minbase (1 to 3
# minutes, the first time only; cached in /var/cache/rstwhy-debroot), unpacked anew per test.

load lib/common

STATIC="$ROOT/.output/static/rstwhy"
STATIC_RSTGEN="$ROOT/.output/static/rstgen"
DEBROOT="$ROOT/tools/debroot.sh"

setup() {
	FRESH=""
}

teardown() {
	[[ -z $FRESH ]] || "$DEBROOT" rm "$FRESH" || true
	[[ -z ${CONTAINER:-} ]] || podman rm -f "$CONTAINER" >/dev/null 2>&1 || true
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

# need_prog PROG PACKAGE: fail (never skip) when a program `make test` installs is missing
need_prog() {
	command -v "$1" >/dev/null ||
		fail "$1 is not installed (Debian package $2; 'make test' installs it)"
}

# fresh_root: a new Debian 12 minbase root in $FRESH (removed by teardown)
fresh_root() {
	need_prog debootstrap debootstrap
	FRESH="$BATS_TEST_TMPDIR/root"
	"$DEBROOT" new "$FRESH" || fail "tools/debroot.sh new failed"
}

# in_root CMD...: run CMD chrooted in $FRESH (with /run/netns when there are test hosts)
in_root() {
	DEBROOT_BIND="${SRV_NS:+/run/netns}" "$DEBROOT" run "$FRESH" "$@"
}

# make_in_tree TARGET...: run make in the source tree; show its output when it fails
make_in_tree() {
	local out="$BATS_TEST_TMPDIR/make.out"
	if ! make -C "$ROOT" --no-print-directory "$@" >"$out" 2>&1; then
		_rw_show_file "make $*" "$out" 80
		fail "make $* failed"
	fi
}

# help_long_options [BINARY]: the long options rstwhy --help lists
help_long_options() {
	"${1:-$RSTWHY}" --help | grep -oE '(^|[ ,/])--[a-z][a-z0-9-]*' | sed 's/^[ ,\/]*//' | sort -u
}

# help_causes: the cause names (rstwhy --list-causes)
help_causes() {
	"$RSTWHY" --list-causes | cut -f1
}

# version_args BINARY: --version where the binary has it, --help before that
version_args() {
	if "$1" --help | grep -q -- '--version'; then echo --version; else echo --help; fi
}

# --------------------------------------------------------------------------
# the static binary

@test "make dist: a static, stripped rstwhy with its sha256; no shared library, no interpreter" {
	local version bin
	version=$("$ROOT/tools/version.sh")
	make_in_tree dist
	# named after the version the tree reports
	bin="$ROOT/dist/rstwhy-$version-$(uname -m)"
	[[ -x $bin ]] || fail "make dist made no $bin:" "$(ls "$ROOT/dist")"
	(cd "$ROOT/dist" && sha256sum -c "$(basename "$bin").sha256") || fail "sha256 does not match"
	run readelf -d "$bin"
	[[ $output != *NEEDED* ]] || fail "the dist binary needs shared libraries:" "$output"
	run readelf -l "$bin"
	[[ $output != *"program interpreter"* ]] || fail "the dist binary has an interpreter"
	run readelf -S "$bin"
	[[ $output != *.debug_info* ]] || fail "the dist binary is not stripped"
}

@test "static binary in a fresh Debian 12 root: version, --probe, and a no-listener RST traced right" {
	require_bin "$STATIC" "static rstwhy (make static)"
	require_bin "$STATIC_RSTGEN" "static rstgen (make static)"
	fresh_root
	cp "$STATIC" "$STATIC_RSTGEN" "$FRESH/usr/local/bin/"
	# nothing of the build is in that root
	[[ ! -e $FRESH/usr/lib/x86_64-linux-gnu/libbpf.so.1 ]] || fail "the fresh root has libbpf"

	run in_root rstwhy "$(version_args "$STATIC")"
	((status == 0)) || fail "rstwhy $(version_args "$STATIC") failed in the fresh root:" "$output"
	run in_root rstwhy --probe
	((status == 0)) || fail "rstwhy --probe failed in the fresh root:" "$output"
	[[ $output == *"attach plan for kernel $(uname -r)"* ]] || fail "--probe: no plan:" "$output"

	make_hosts
	SCEN_PORT_X=$SCEN_PORT
	_rw_scen_args 4
	EVENTS="$FRESH/tmp/events.jsonl"
	RSTWHY_ERR="$FRESH/tmp/rstwhy.err"
	RSTGEN_OUT="$FRESH/tmp/rstgen.out"
	run in_root /bin/sh -c '
		rstwhy --json --ready-file /tmp/ready --netns "$1" >/tmp/events.jsonl 2>/tmp/rstwhy.err &
		p=$!
		i=0
		while [ ! -e /tmp/ready ] && kill -0 $p 2>/dev/null && [ $i -lt 600 ]; do
			sleep 0.1; i=$((i + 1))
		done
		[ -e /tmp/ready ] || { echo "rstwhy did not get ready"; kill -KILL $p; exit 1; }
		rstgen no-listener --server-ns "$1" --client-ns "$2" -a "$3" -c "$4" -p "$5" \
			>/tmp/rstgen.out 2>/tmp/rstgen.err || { cat /tmp/rstgen.err; kill -KILL $p; exit 1; }
		kill -TERM $p
		wait $p' sh "$SRV_NSPATH" "$CLI_NSPATH" "$SCEN_SRV" "$SCEN_CLI" "$SCEN_PORT_X"
	if ((status != 0)); then
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
		fail "the scenario in the fresh root failed (status $status):" "$output"
	fi
	_rw_parse_kv "$RSTGEN_OUT"
	need_g server_port client_port
	assert_event no-listener .dir=sent .family=ipv4 ".saddr=$SCEN_SRV" ".sport=$G_server_port" \
		".daddr=$SCEN_CLI" ".dport=$G_client_port" .origin=tcp-stack .owner=null
	assert_common_fields "$SRV_NSPATH"
	grep -q "captured 1 of 1" "$RSTWHY_ERR" || fail "closing summary: $(cat "$RSTWHY_ERR")"
}

# --------------------------------------------------------------------------
# make install / uninstall, man page, completion

@test "make install PREFIX DESTDIR: binary, man page, completion, unit, alert rules; uninstall removes them" {
	local d="$BATS_TEST_TMPDIR/destdir" f
	make_in_tree install DESTDIR="$d" PREFIX=/opt/rw
	for f in sbin/rstwhy share/man/man8/rstwhy.8 share/bash-completion/completions/rstwhy \
		lib/systemd/system/rstwhy.service share/rstwhy/rstwhy-alerts.yml; do
		[[ -f $d/opt/rw/$f ]] || fail "make install did not install /opt/rw/$f" \
			"installed: $(cd "$d" && find . -type f)"
	done
	[[ -x $d/opt/rw/sbin/rstwhy ]] || fail "the binary is not executable"
	# the unit runs the binary where it was installed
	want=$(sed -n 's|^ExecStart=/usr/local/sbin/rstwhy |ExecStart=/opt/rw/sbin/rstwhy |p' \
		"$ROOT/contrib/systemd/rstwhy.service")
	[[ -n $want ]] || fail "contrib/systemd/rstwhy.service has no ExecStart=/usr/local/sbin/rstwhy"
	grep -qxF "$want" "$d/opt/rw/lib/systemd/system/rstwhy.service" ||
		fail "ExecStart does not name /opt/rw/sbin/rstwhy:" \
		"$(grep ExecStart "$d/opt/rw/lib/systemd/system/rstwhy.service")"
	if command -v systemd-analyze >/dev/null; then
		# verify wants the binary where ExecStart says: check a copy naming the DESTDIR one
		sed "s|/opt/rw/sbin|$d/opt/rw/sbin|" "$d/opt/rw/lib/systemd/system/rstwhy.service" \
			>"$BATS_TEST_TMPDIR/rstwhy.service"
		run systemd-analyze verify "$BATS_TEST_TMPDIR/rstwhy.service"
		((status == 0)) || fail "systemd-analyze verify:" "$output"
	fi
	make_in_tree uninstall DESTDIR="$d" PREFIX=/opt/rw
	run find "$d" -type f
	[[ -z $output ]] || fail "make uninstall left:" "$output"
}

@test "man page: renders without warnings, documents every option of --help, every cause, the subcommands, exit codes" {
	need_prog man man-db
	local page="$ROOT/man/rstwhy.8" text opt c missing=()
	run env LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page"
	((status == 0)) || fail "man failed:" "$output"
	text=$output
	run bash -c 'LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$1" 2>&1 >/dev/null' sh "$page"
	[[ -z $output ]] || fail "groff warnings:" "$output"
	for opt in $(help_long_options); do
		grep -qF -- "$opt" <<<"$text" || missing+=("$opt")
	done
	for c in $(help_causes); do
		grep -qE "^ +$c \(" <<<"$text" || missing+=("cause $c")
	done
	[[ -n $(help_causes) ]] || missing+=("(rstwhy --list-causes listed none)")
	for c in SYNOPSIS DESCRIPTION OPTIONS SUBCOMMANDS CAUSES EXAMPLES "EXIT STATUS" FILES \
		"SEE ALSO"; do
		grep -qF -- "$c" <<<"$text" || missing+=("$c")
	done
	# every subcommand --help names
	for c in $("$RSTWHY" --help | sed -n 's/^Subcommands: rstwhy \([a-z|]*\).*/\1/p' | tr '|' ' '); do
		grep -qF -- "rstwhy $c" <<<"$text" || missing+=("rstwhy $c")
	done
	((${#missing[@]} == 0)) || fail "the man page lacks: ${missing[*]}"
}

# complete WORDS...: what the bash completion offers for the last word
complete_words() {
	bash -c '
		source /usr/share/bash-completion/bash_completion
		source "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_rstwhy 2>/dev/null
		printf "%s\n" "${COMPREPLY[@]}"' sh "$ROOT/contrib/bash-completion/rstwhy.bash" "$@"
}

@test "bash completion: options, cause names (also after a comma), subcommands and their options" {
	[[ -f /usr/share/bash-completion/bash_completion ]] ||
		fail "bash-completion is not installed ('make test' installs it)"
	# the completion reads the binary's --help: give it the one under test on PATH
	local bin="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$bin" && ln -s "$RSTWHY" "$bin/rstwhy"
	export PATH="$bin:$PATH"
	run complete_words rstwhy --ca
	[[ $output == --cause ]] || fail "rstwhy --ca<TAB>: '$output'"
	run complete_words rstwhy --cause close-
	[[ $(sort <<<"$output" | tr '\n' ' ') == "close-linger0 close-unread " ]] ||
		fail "rstwhy --cause close-<TAB>: '$output'"
	run complete_words rstwhy --cause no-listener,acc
	[[ $output == no-listener,accept-overflow ]] || fail "--cause no-listener,acc<TAB>: '$output'"
	run complete_words rstwhy sel
	[[ $output == selftest ]] || fail "rstwhy sel<TAB>: '$output'"
	run complete_words rstwhy selftest --att
	[[ $output == --attach ]] || fail "rstwhy selftest --att<TAB>: '$output'"
	run complete_words rstwhy explain keep
	[[ $output == keepalive-timeout ]] || fail "rstwhy explain keep<TAB>: '$output'"
	run complete_words rstwhy help ex
	[[ $output == explain ]] || fail "rstwhy help ex<TAB>: '$output'"
	run complete_words rstwhy --attach k
	[[ $output == kprobe ]] || fail "rstwhy --attach k<TAB>: '$output'"
	# every long option of --help is offered
	run complete_words rstwhy --
	local opt missing=()
	for opt in $(help_long_options); do
		grep -qxF -- "$opt" <<<"$output" || missing+=("$opt")
	done
	((${#missing[@]} == 0)) || fail "rstwhy --<TAB> lacks: ${missing[*]}"
}

# --------------------------------------------------------------------------
# the Debian package

@test "make deb: lintian without errors; apt-get install into a fresh root, run, purge: nothing left" {
	need_prog dpkg-buildpackage dpkg-dev
	need_prog lintian lintian
	make_in_tree deb
	local deb
	deb=$(ls -t "$ROOT"/dist/rstwhy_*.deb | head -n1)
	[[ -f $deb ]] || fail "make deb made no dist/rstwhy_*.deb"
	run dpkg-deb -c "$deb"
	local f
	for f in ./usr/sbin/rstwhy ./usr/share/man/man8/rstwhy.8.gz \
		./usr/share/bash-completion/completions/rstwhy ./lib/systemd/system/rstwhy.service \
		./usr/share/rstwhy/rstwhy-alerts.yml; do
		grep -q " $f\$" <<<"$output" || fail "the package lacks $f:" "$output"
	done
	local files
	files=$(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print $6}' | sed 's/^\.//')

	fresh_root
	cp "$deb" "$FRESH/tmp/"
	run in_root sh -c 'apt-get update -qq && apt-get install -y -qq "/tmp/$1"' sh "$(basename "$deb")"
	((status == 0)) || fail "apt-get install ./$(basename "$deb") failed:" "$output"
	run in_root rstwhy "$(version_args "$STATIC")"
	((status == 0)) || fail "the installed rstwhy failed:" "$output"
	run in_root rstwhy --probe
	((status == 0)) && [[ $output == *"attach plan"* ]] || fail "rstwhy --probe:" "$output"
	# installed, not enabled: no symlink in multi-user.target.wants
	[[ ! -e $FRESH/etc/systemd/system/multi-user.target.wants/rstwhy.service ]] ||
		fail "the package enabled the service"

	run in_root apt-get purge -y -qq rstwhy
	((status == 0)) || fail "apt-get purge rstwhy failed:" "$output"
	run in_root dpkg -L rstwhy
	((status != 0)) || fail "dpkg -L rstwhy still lists files after purge:" "$output"
	run in_root dpkg-query -W -f='${Status}' rstwhy
	[[ $output != *installed* ]] || fail "dpkg still knows rstwhy: $output"
	local left=()
	for f in $files; do
		[[ -e $FRESH$f ]] && left+=("$f")
	done
	((${#left[@]} == 0)) || fail "left behind after purge: ${left[*]}"
	run find "$FRESH/usr" "$FRESH/etc" "$FRESH/lib/systemd" "$FRESH/var/lib/systemd" -name '*rstwhy*'
	[[ -z $output ]] || fail "left behind after purge:" "$output"
}

@test "debian/control Build-Depends and the Makefile's DEB_BUILD name the same packages" {
	local control make
	control=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$ROOT/debian/control" | sed '$d' |
		sed 's/^Build-Depends://' | tr ',' '\n' | sed 's/(.*)//; s/ //g' |
		grep -v '^debhelper-compat$' | grep . | sort)
	make=$(make -C "$ROOT" --no-print-directory -pn deps 2>/dev/null |
		sed -n 's/^DEB_BUILD := //p' | tr ' ' '\n' | grep -vxE 'make|gcc' | grep . | sort)
	[[ -n $make ]] || fail "no DEB_BUILD in the Makefile"
	[[ $control == "$make" ]] || fail "Build-Depends and DEB_BUILD differ:" \
		"$(diff <(echo "$control") <(echo "$make"))"
}

# --------------------------------------------------------------------------
# the container image

# podman_run ARGS...: podman run with what a host like the test machine needs. Root without
# CAP_SYS_RESOURCE cannot raise rlimits, and podman's defaults are above the host's: lower them.
# crun refuses a hybrid cgroup hierarchy (v1 controllers and a v2 mount): runc takes it.
podman_run() {
	local pre=()
	if [[ ! -e /sys/fs/cgroup/cgroup.controllers ]] && command -v runc >/dev/null; then
		pre=(--runtime runc)
	fi
	podman "${pre[@]}" run --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$@"
}

@test "container image from scratch (make image): podman --pid=host with the unit's capabilities traces a host RST right; --privileged --probe plans as the host" {
	need_prog podman podman
	make_in_tree image
	local image
	image=localhost/rstwhy:$(sed 's/+/_/g' <<<"$("$ROOT/tools/version.sh")")
	run podman image inspect --format '{{len .RootFS.Layers}}' "$image"
	((status == 0)) || fail "no image $image:" "$output"
	[[ $output == 1 ]] || fail "the image has $output layers (from scratch: 1)"

	local flags=(--pid=host --network=host)
	[[ -d /sys/kernel/tracing/events ]] && flags+=(-v /sys/kernel/tracing:/sys/kernel/tracing)
	# namespaces held only by a name in /run/netns (no process left in them, like the test
	# hosts once rstgen is done): their TcpOutRsts is read through that name
	flags+=(-v /run/netns:/run/netns:rslave)
	# privileged: the same attach plan as on the host
	run podman_run --rm --privileged "${flags[@]}" "$image" --probe
	((status == 0)) || fail "rstwhy --probe in the container failed:" "$output"
	diff <(echo "$output") <("$RSTWHY" --probe 2>&1) ||
		fail "the container's attach plan differs from the host's"

	# tracing with exactly the capabilities of the unit and the DaemonSet
	flags+=(--cap-drop=all --cap-add=SYS_ADMIN,BPF,PERFMON,SYSLOG,SYS_PTRACE,DAC_READ_SEARCH)
	make_hosts
	local out="$BATS_TEST_TMPDIR/out" ino
	mkdir -p "$out"
	ino=$(ns_inode "$SRV_NSPATH")
	CONTAINER="rstwhy-test-$$-${BATS_TEST_NUMBER}"
	podman_run -d --name "$CONTAINER" "${flags[@]}" -v "$out:/out" "$image" \
		--json --ready-file /out/ready --netns "$ino" >/dev/null ||
		fail "podman run -d failed"
	local i
	for ((i = 0; i < 600; i++)); do
		[[ -e $out/ready ]] && break
		[[ $(podman inspect -f '{{.State.Running}}' "$CONTAINER") == true ]] ||
			fail "the container stopped:" "$(podman logs "$CONTAINER" 2>&1)"
		sleep 0.1
	done
	[[ -e $out/ready ]] || fail "rstwhy in the container did not get ready in 60 s"
	run_scen close-unread 4
	podman kill --signal INT "$CONTAINER" >/dev/null
	run podman wait "$CONTAINER"
	[[ $output == 0 ]] || fail "rstwhy in the container exited with $output:" \
		"$(podman logs "$CONTAINER" 2>&1)"
	EVENTS="$BATS_TEST_TMPDIR/events.jsonl"
	podman logs "$CONTAINER" 2>"$BATS_TEST_TMPDIR/stderr" >"$EVENTS"
	need_g server_port client_port server_pid
	assert_event close-unread .dir=sent ".saddr=$SRV4" ".sport=$G_server_port" \
		".daddr=$CLI4" ".dport=$G_client_port" .origin=application \
		".owner.pid=$G_server_pid" .state=ESTABLISHED
	assert_common_fields "$SRV_NSPATH"
	grep -q "captured 1 of 1" "$BATS_TEST_TMPDIR/stderr" ||
		fail "closing summary: $(cat "$BATS_TEST_TMPDIR/stderr")"
}

# --------------------------------------------------------------------------
# make test on a minimal Debian 12

@test "every program the tests and tools run is installed by 'make test' or is in a minbase Debian 12" {
	fresh_root
	local lists pkgs prog path pkg missing=()
	lists=$(make -C "$ROOT" --no-print-directory -pn test 2>/dev/null |
		sed -n 's/^DEB_\(BUILD\|TEST\|PKG\|KERNELS\) := //p' | tr ' ' '\n')
	# what a minbase root has, plus what `make test` installs and what that pulls in
	pkgs=$(dpkg-query --admindir="$FRESH/var/lib/dpkg" -W -f='${Package}\n'; echo "$lists")
	pkgs+=$'\n'$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
		--no-breaks --no-replaces --no-enhances $lists 2>/dev/null | grep -v '^ ' | sort -u)
	# one dpkg -S for all of them (each path also in its other /usr-merge spelling)
	local -A path_of owner
	local paths=() line
	for prog in $("$ROOT/tools/test-programs.sh"); do
		path=$(command -v "$prog") || { missing+=("$prog (not on this host)"); continue; }
		path=$(realpath "$path")
		path_of[$prog]=$path
		paths+=("$path" "/usr${path#/usr}" "${path#/usr}")
	done
	while IFS= read -r line; do
		owner[${line#*: }]=${line%%:*}
	done < <(dpkg -S "${paths[@]}" 2>/dev/null | grep -v '^diversion')
	# programs whose tests skip, saying why, where they are missing (not worth a JDK in make test)
	local skips_without=(java javac jcmd)
	grep -q 'skip "no JDK' "$ROOT/tests/ustack.bats" ||
		fail "tests/ustack.bats no longer skips without a JDK: drop java from skips_without"
	for prog in "${skips_without[@]}"; do
		unset "path_of[$prog]"
	done
	for prog in "${!path_of[@]}"; do
		path=${path_of[$prog]}
		pkg=${owner[$path]:-${owner[/usr${path#/usr}]:-${owner[${path#/usr}]:-}}}
		[[ -n $pkg ]] || { missing+=("$prog (no package owns $path)"); continue; }
		grep -qxF "$pkg" <<<"$pkgs" || missing+=("$prog ($pkg)")
	done
	((${#missing[@]} == 0)) || fail "not installed by make test nor in minbase: ${missing[*]}"
}
