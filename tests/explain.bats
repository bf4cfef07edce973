#!/usr/bin/env bats
#
# The causes in words: --list-causes (text and JSON), rstwhy explain for every cause it
# lists, bad input, and the meaning where the operator reads it: --summary rows and the
# closing summary's top finding, after a real RST between two private namespaces.

load lib/common

setup() {
	require_bin "$RSTWHY" rstwhy
}

teardown() {
	teardown_hosts
}

teardown_file() {
	rw_teardown_file
}

# list_causes: the ids of --list-causes, one per line
list_causes() {
	"$RSTWHY" --list-causes | cut -f1
}

# meaning_of CAUSE: its one-line meaning from --list-causes
meaning_of() {
	"$RSTWHY" --list-causes | awk -F'\t' -v c="$1" '$1 == c { print $3 }'
}

@test "--list-causes: one line per cause, id, origin and meaning; ids unique" {
	local out n ids
	out=$("$RSTWHY" --list-causes) || fail "rstwhy --list-causes failed"
	n=$(grep -c . <<<"$out")
	((n >= 2)) || fail "only $n causes listed"
	awk -F'\t' 'NF != 3 || $1 == "" || $2 == "" || $3 == "" { bad = 1; print }
		END { exit bad }' <<<"$out" || fail "lines without three tab-separated fields"
	ids=$(cut -f1 <<<"$out" | sort | uniq -d)
	[[ -z $ids ]] || fail "ids listed twice: $ids"
	# the causes --cause accepts are the ones listed
	grep -qx $'peer-reset\tpeer\t.*' <<<"$out" || fail "no peer-reset/peer line"
}

@test "--list-causes -j: a JSON array with the same causes, origins and meanings" {
	local txt json
	txt=$("$RSTWHY" --list-causes)
	json=$("$RSTWHY" --list-causes -j | jq -r '.[] | [.cause, .origin, .meaning] | @tsv') ||
		fail "--list-causes -j is not a JSON array of objects"
	[[ $json == "$txt" ]] || fail "JSON and text lists differ:" "$json" "---" "$txt"
}

@test "explain: every cause listed has a meaning, what produces it and what to check" {
	local cause out missing=()
	for cause in $(list_causes); do
		out=$("$RSTWHY" explain "$cause") || fail "rstwhy explain $cause failed"
		[[ $(head -n1 <<<"$out") == "$cause (origin: "* ]] || missing+=("$cause: first line")
		grep -qF "means:       $(meaning_of "$cause")" <<<"$out" || missing+=("$cause: meaning")
		grep -qE '^  usually: +[^ ]' <<<"$out" || missing+=("$cause: usually")
		grep -qE '^  check next: +[^ ]' <<<"$out" || missing+=("$cause: check next")
	done
	((${#missing[@]} == 0)) || fail "incomplete explanations:" "${missing[@]}"
	# without an argument: all of them
	out=$("$RSTWHY" explain) || fail "rstwhy explain failed"
	(($(grep -c '^  check next:' <<<"$out") == $(list_causes | wc -l))) ||
		fail "rstwhy explain does not explain every cause"
}

@test "explain: an unknown cause is one line on stderr and exit 2" {
	local rc=0
	"$RSTWHY" explain no-such-cause >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || rc=$?
	((rc == 2)) || fail "exit status $rc, expected 2"
	[[ ! -s $BATS_TEST_TMPDIR/out ]] || fail "something on stdout: $(cat "$BATS_TEST_TMPDIR/out")"
	(($(wc -l <"$BATS_TEST_TMPDIR/err") == 1)) || fail "stderr: $(cat "$BATS_TEST_TMPDIR/err")"
	grep -q "no-such-cause" "$BATS_TEST_TMPDIR/err" || fail "the bad name is not named"
	rc=0
	"$RSTWHY" explain a b 2>/dev/null || rc=$?
	((rc == 2)) || fail "two causes: exit status $rc, expected 2"
}

@test "--help lists every cause with its meaning" {
	local cause help
	help=$("$RSTWHY" --help)
	for cause in $(list_causes); do
		grep -qE "^  $cause +[a-z-]+ +[^ ]" <<<"$help" || fail "--help does not list $cause"
	done
}

@test "closing summary: the top finding names cause, port, owner and meaning" {
	make_hosts
	start_rstwhy --netns "$SRV_NSPATH"
	run_scen close-unread 4
	stop_rstwhy
	need_g expect_cause server_port server_comm server_pid
	local want
	want="rstwhy: most RSTs: $G_expect_cause on port $G_server_port, owner $G_server_comm $G_server_pid: $(meaning_of "$G_expect_cause") ("
	grep -qF -- "$want" "$RSTWHY_ERR" || {
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
		fail "no top finding line starting: $want"
	}
}

@test "--summary -j rows carry the meaning of their cause; the top finding follows" {
	make_hosts
	start_rstwhy --netns "$SRV_NSPATH" --summary=0.5
	run_scen no-listener 4
	stop_rstwhy
	need_g expect_cause server_port
	jq -e --arg c "$G_expect_cause" --arg m "$(meaning_of "$G_expect_cause")" \
		'select(.rows) | .rows[] | select(.cause == $c) | .meaning == $m' "$EVENTS" \
		>/dev/null || {
		_rw_show_file "summary lines" "$EVENTS" 20
		fail "no $G_expect_cause row with its meaning"
	}
	grep -qF "rstwhy: most RSTs: $G_expect_cause on port $G_server_port: $(meaning_of "$G_expect_cause")" \
		"$RSTWHY_ERR" || {
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
		fail "no top finding for $G_expect_cause on port $G_server_port"
	}
}

@test "closing summary: an accept-overflow top finding gives the listener's backlog" {
	make_hosts
	start_rstwhy --netns "$SRV_NSPATH"
	run_scen accept-overflow 4
	stop_rstwhy
	need_g expect_cause server_port server_comm
	local limit want
	limit=$(jq -r --arg c "$G_expect_cause" 'select(.cause == $c) | .detail.accept_limit' \
		"$EVENTS" | tail -n1)
	[[ $limit =~ ^[0-9]+$ ]] || fail "no accept_limit in the $G_expect_cause events: '$limit'"
	want="rstwhy: most RSTs: $G_expect_cause on port $G_server_port, owner $G_server_comm "
	grep -F -- "$want" "$RSTWHY_ERR" | grep -qF "$(meaning_of "$G_expect_cause") (" || {
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
		fail "no top finding line starting: $want"
	}
	grep -F -- "$want" "$RSTWHY_ERR" | grep -qE ", accept queue limit $limit\)$" || {
		_rw_show_file "rstwhy stderr" "$RSTWHY_ERR"
		fail "the top finding does not give the accept queue limit $limit"
	}
}
