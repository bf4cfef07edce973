// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the pure parts: the classifier, fed with evidence as recorded from real
 * resets (kernel 6.18 here; the same paths with no reason and the stack alone, as kernels
 * before 6.10 give them), the cause table of the contract, and the /proc/net/snmp parser.
 * Output: "ok N - name" / "not ok N - name" lines.
 */
#include <stdio.h>
#include <string.h>
#include "classify.h"
#include "netns.h"
#include "listeners.h"
#include "prom.h"
#include "json.h"
#include "agg.h"
#include <sys/socket.h>
#include <netinet/in.h>

static int n, failed;

static void check(int cond, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static void check(int cond, const char *name, const char *fmt, ...)
{
	va_list ap;

	n++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", n, name);
	if (!cond) {
		failed++;
		printf("# ");
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
}

static void expect(const char *name, const struct rw_evidence *ev, enum rw_cause cause,
		   int state, int actor)
{
	struct rw_verdict v;

	memset(&v, 0xaa, sizeof(v));
	rw_classify(ev, &v);
	check(v.cause == cause && v.origin == rw_cause_origin(cause) &&
	      (state < 0 || v.state == state) && (actor < 0 || v.actor_valid == !!actor),
	      name, "got cause=%s origin=%s state=%s actor=%d; want cause=%s state=%s actor=%d",
	      rw_cause_name(v.cause), rw_origin_name(v.origin),
	      rw_state_name(v.state) ? rw_state_name(v.state) : "none", v.actor_valid,
	      rw_cause_name(cause), state > 0 && rw_state_name(state) ? rw_state_name(state) :
	      "none", actor);
}

/* a passive reset: the incoming segment is known */
static struct rw_evidence passive(unsigned int flags, unsigned int payload, enum rw_kreason r)
{
	struct rw_evidence ev = { .has_skb = true, .in_flags = flags, .in_payload = payload,
				  .reason = r };
	return ev;
}

/* an active reset on a full socket: only the stack tells the path */
static struct rw_evidence active(enum rw_kreason r, int state, int prev, uint32_t fns)
{
	struct rw_evidence ev = { .has_sk = true, .fullsock = true, .state = state,
				  .prev_state = prev, .reason = r, .has_stack = true, .fns = fns };
	return ev;
}

static void test_passive(void)
{
	struct rw_evidence ev;

	for (int old = 0; old < 2; old++) {
		enum rw_kreason nosock = old ? KR_NONE : KR_NO_SOCKET;
		char name[80];

		ev = passive(TF_SYN, 0, nosock);
		snprintf(name, sizeof(name), "SYN, no socket -> no-listener%s", old ? " (no reason)" : "");
		expect(name, &ev, C_NO_LISTENER, ST_NONE, 0);

		ev = passive(TF_ACK | TF_PSH, 10, nosock);
		snprintf(name, sizeof(name), "data, no socket -> no-connection%s", old ? " (no reason)" : "");
		expect(name, &ev, C_NO_CONNECTION, ST_NONE, 0);

		/* 6.18: tcp_check_req -> embryonic_reset says INVALID_SYN for an overflow too */
		ev = passive(TF_ACK | TF_PSH, 1, old ? KR_NONE : KR_INVALID_SYN);
		ev.has_sk = ev.fullsock = true;
		ev.state = ST_LISTEN;
		ev.ack_backlog = 5;
		ev.max_ack_backlog = 4;
		ev.has_stack = true;
		ev.fns = FNBIT(FN_CHECK_REQ) | FNBIT(FN_IRQ_CONTEXT);
		snprintf(name, sizeof(name), "check_req, queue full -> accept-overflow%s", old ? " (no reason)" : "");
		expect(name, &ev, C_ACCEPT_OVERFLOW, ST_SYN_RECV, 0);

		ev.in_flags = TF_SYN;
		ev.in_payload = 0;
		ev.ack_backlog = 0;
		snprintf(name, sizeof(name), "check_req, in-window SYN -> bad-segment%s", old ? " (no reason)" : "");
		expect(name, &ev, C_BAD_SEGMENT, ST_SYN_RECV, 0);

		ev = passive(TF_ACK | TF_PSH, 10, old ? KR_NONE : KR_TCP_FLAGS);
		ev.has_sk = ev.fullsock = true;
		ev.state = ST_LISTEN;
		ev.has_stack = true;
		ev.fns = FNBIT(FN_RCV_STATE) | FNBIT(FN_IRQ_CONTEXT);
		snprintf(name, sizeof(name), "ACK to a listener -> no-connection%s", old ? " (no reason)" : "");
		expect(name, &ev, C_NO_CONNECTION, ST_LISTEN, 0);

		ev = passive(TF_ACK | TF_PSH, 10, old ? KR_NONE : KR_TCP_TIMEWAIT_SOCKET);
		ev.has_sk = ev.timewait = true;
		ev.state = ST_TIME_WAIT;
		ev.tw_substate = ST_FIN_WAIT2;
		snprintf(name, sizeof(name), "data to FIN_WAIT2 timewait -> data-after-close%s", old ? " (no reason)" : "");
		expect(name, &ev, C_DATA_AFTER_CLOSE, ST_FIN_WAIT2, 0);

		ev.in_flags = TF_SYN;
		ev.in_payload = 0;
		snprintf(name, sizeof(name), "SYN to FIN_WAIT2 timewait -> timewait%s", old ? " (no reason)" : "");
		expect(name, &ev, C_TIMEWAIT, ST_FIN_WAIT2, 0);
	}

	ev = passive(TF_ACK | TF_PSH, 10, KR_TCP_ABORT_ON_DATA);
	ev.has_sk = ev.fullsock = ev.dead = true;
	ev.state = ST_FIN_WAIT1;
	expect("data to an orphaned FIN_WAIT1 -> data-after-close", &ev, C_DATA_AFTER_CLOSE,
	       ST_FIN_WAIT1, 0);
	ev.reason = KR_NONE;
	expect("data to an orphaned FIN_WAIT1 -> data-after-close (no reason)", &ev,
	       C_DATA_AFTER_CLOSE, ST_FIN_WAIT1, 0);

	ev = passive(TF_ACK, 0, KR_TCP_ABORT_ON_DATA);
	ev.has_sk = ev.fullsock = ev.dead = true;
	ev.state = ST_CLOSE;
	ev.prev_state = ST_FIN_WAIT1;
	ev.linger2 = -1;
	expect("ACK of FIN with TCP_LINGER2 < 0 -> fin-wait2-abort", &ev, C_FIN_WAIT2_ABORT,
	       ST_FIN_WAIT1, 0);

	ev = passive(TF_SYN | TF_ACK, 0, KR_TCP_INVALID_ACK_SEQUENCE);
	ev.has_sk = ev.fullsock = true;
	ev.state = ST_SYN_SENT;
	expect("bad SYN-ACK in SYN_SENT -> bad-segment", &ev, C_BAD_SEGMENT, ST_SYN_SENT, 0);
	ev.reason = KR_NONE;
	expect("bad SYN-ACK in SYN_SENT -> bad-segment (no reason)", &ev, C_BAD_SEGMENT,
	       ST_SYN_SENT, 0);
	ev.reason = KR_TCP_RFC7323_PAWS;
	ev.state = ST_ESTABLISHED;
	expect("PAWS -> bad-segment", &ev, C_BAD_SEGMENT, ST_ESTABLISHED, 0);

	ev = passive(TF_ACK, 0, KR_MPTCP);
	ev.has_sk = ev.fullsock = ev.mptcp = true;
	ev.state = ST_ESTABLISHED;
	expect("MPTCP reason -> mptcp", &ev, C_MPTCP, -1, 0);
}

static void test_active(void)
{
	const uint32_t close = FNBIT(FN_TCP_CLOSE), disc = FNBIT(FN_TCP_DISCONNECT);
	struct rw_evidence ev;

	for (int old = 0; old < 2; old++) {
		char name[80];
		const char *sfx = old ? " (no reason)" : "";

		ev = active(old ? KR_NONE : KR_TCP_ABORT_ON_CLOSE, ST_CLOSE, ST_ESTABLISHED, close);
		ev.unread = 100;
		snprintf(name, sizeof(name), "close with unread data -> close-unread%s", sfx);
		expect(name, &ev, C_CLOSE_UNREAD, ST_ESTABLISHED, 1);

		ev = active(old ? KR_NONE : KR_TCP_STATE, ST_CLOSE, ST_ESTABLISHED, close | disc);
		ev.linger = true;
		snprintf(name, sizeof(name), "close with SO_LINGER 0 -> close-linger0%s", sfx);
		expect(name, &ev, C_CLOSE_LINGER0, ST_ESTABLISHED, 1);

		ev = active(old ? KR_NONE : KR_TCP_STATE, ST_CLOSE, ST_ESTABLISHED,
			    FNBIT(FN_STREAM_CONNECT) | disc);
		snprintf(name, sizeof(name), "connect(AF_UNSPEC) -> disconnect%s", sfx);
		expect(name, &ev, C_DISCONNECT, ST_ESTABLISHED, 1);

		/* the listener's close resets the children still queued */
		ev = active(old ? KR_NONE : KR_TCP_STATE, ST_CLOSE, ST_ESTABLISHED,
			    close | FNBIT(FN_LISTEN_STOP) | disc);
		snprintf(name, sizeof(name), "listener closed with a queue -> listener-closed%s", sfx);
		expect(name, &ev, C_LISTENER_CLOSED, ST_ESTABLISHED, 1);

		ev = active(old ? KR_NONE : KR_TCP_STATE, ST_ESTABLISHED, ST_NONE,
			    FNBIT(FN_TCP_ABORT));
		snprintf(name, sizeof(name), "ss -K -> socket-destroy%s", sfx);
		expect(name, &ev, C_SOCKET_DESTROY, ST_ESTABLISHED, 1);

		ev = active(old ? KR_NONE : KR_TCP_KEEPALIVE_TIMEOUT, ST_ESTABLISHED, ST_NONE,
			    FNBIT(FN_KEEPALIVE_TIMER) | FNBIT(FN_IRQ_CONTEXT));
		snprintf(name, sizeof(name), "keepalive probes unanswered -> keepalive-timeout%s", sfx);
		expect(name, &ev, C_KEEPALIVE_TIMEOUT, ST_ESTABLISHED, 0);

		ev = active(old ? KR_NONE : KR_TCP_ABORT_ON_LINGER, ST_CLOSE, ST_FIN_WAIT2, close);
		ev.linger2 = -1;
		snprintf(name, sizeof(name), "close in FIN_WAIT2, TCP_LINGER2 < 0 -> fin-wait2-abort%s", sfx);
		expect(name, &ev, C_FIN_WAIT2_ABORT, ST_FIN_WAIT2, 1);

		ev = active(old ? KR_NONE : KR_TCP_ABORT_ON_MEMORY, ST_CLOSE, ST_FIN_WAIT1,
			    FNBIT(FN_WRITE_TIMER) | FNBIT(FN_IRQ_CONTEXT));
		ev.dead = true;
		snprintf(name, sizeof(name), "orphan out of resources -> orphan-memory%s", sfx);
		expect(name, &ev, C_ORPHAN_MEMORY, ST_FIN_WAIT1, 0);

		ev = active(old ? KR_NONE : KR_TCP_ABORT_ON_MEMORY, ST_CLOSE, ST_ESTABLISHED, close);
		snprintf(name, sizeof(name), "close with too many orphans -> orphan-memory%s", sfx);
		expect(name, &ev, C_ORPHAN_MEMORY, ST_ESTABLISHED, 1);

		/* the keepalive timer also ends orphaned FIN_WAIT2 sockets: the app closed them */
		ev = active(old ? KR_NONE : KR_TCP_STATE, ST_FIN_WAIT2, ST_NONE,
			    FNBIT(FN_KEEPALIVE_TIMER) | FNBIT(FN_IRQ_CONTEXT));
		ev.dead = true;
		snprintf(name, sizeof(name), "orphaned FIN_WAIT2 timer -> fin-wait2-abort%s", sfx);
		expect(name, &ev, C_FIN_WAIT2_ABORT, ST_FIN_WAIT2, 0);
	}

	ev = active(KR_TCP_STATE, ST_CLOSE, ST_ESTABLISHED, 0);
	ev.has_stack = false;
	expect("TCP_STATE and no stack -> unknown", &ev, C_UNKNOWN, ST_ESTABLISHED, 0);

	ev = active(KR_MPTCP, ST_CLOSE, ST_ESTABLISHED, FNBIT(FN_MPTCP));
	expect("MPTCP subflow reset -> mptcp", &ev, C_MPTCP, ST_ESTABLISHED, -1);

	/* recorded on 6.18: SO_LINGER 0 close of an MPTCP socket, mptcp_do_fastclose */
	ev = active(KR_TCP_ABORT_ON_CLOSE, ST_ESTABLISHED, ST_NONE, FNBIT(FN_MPTCP));
	ev.mptcp = ev.linger = true;
	expect("MPTCP fastclose says ABORT_ON_CLOSE -> mptcp", &ev, C_MPTCP, ST_ESTABLISHED, 1);

	/* ss -K on a socket whose close is in progress: the admin decided */
	ev = active(KR_TCP_STATE, ST_CLOSE, ST_ESTABLISHED, FNBIT(FN_TCP_ABORT) | close);
	expect("tcp_abort wins over other frames -> socket-destroy", &ev, C_SOCKET_DESTROY,
	       ST_ESTABLISHED, 1);

	ev = active(KR_NONE, ST_ESTABLISHED, ST_NONE, 0);
	ev.received = true;
	expect("received RST -> peer-reset", &ev, C_PEER_RESET, ST_ESTABLISHED, 0);
}

static void test_tables(void)
{
	static const struct {
		const char *cause, *origin;
	} contract[] = {
		{ "no-listener", "tcp-stack" }, { "no-connection", "tcp-stack" },
		{ "listener-closed", "application" }, { "accept-overflow", "tcp-stack" },
		{ "close-unread", "application" }, { "close-linger0", "application" },
		{ "disconnect", "application" }, { "data-after-close", "application" },
		{ "fin-wait2-abort", "application" }, { "keepalive-timeout", "tcp-stack" },
		{ "orphan-memory", "tcp-stack" }, { "timewait", "tcp-stack" },
		{ "bad-segment", "tcp-stack" }, { "socket-destroy", "admin" },
		{ "netfilter-reject", "firewall" }, { "injected", "injected" },
		{ "mptcp", "tcp-stack" }, { "unknown", "unknown" }, { "peer-reset", "peer" },
	};
	int bad = 0;

	for (size_t i = 0; i < sizeof(contract) / sizeof(contract[0]); i++) {
		int c = rw_cause_from_name(contract[i].cause);

		if (c < 0 || strcmp(rw_origin_name(rw_cause_origin(c)), contract[i].origin) ||
		    strcmp(rw_cause_name(c), contract[i].cause))
			bad++;
	}
	check(!bad, "contract cause ids and origins", "%d mismatches", bad);
	check(sizeof(contract) / sizeof(contract[0]) == C_NR_CAUSES,
	      "the table has exactly the contract's causes", "%d in the table", C_NR_CAUSES);
	check(rw_cause_from_name("nonsense") < 0, "unknown cause id is rejected", "accepted");
	check(rw_kreason_from_name("MPTCP_RST_EMPTCP") == KR_MPTCP &&
	      rw_kreason_from_name("TCP_STATE") == KR_TCP_STATE &&
	      rw_kreason_from_name("SOMETHING_NEW") == KR_OTHER,
	      "kernel reasons resolved by name", "mismatch");
}

static void test_snmp(void)
{
	const char *txt =
		"Ip: Forwarding DefaultTTL\nIp: 1 64\n"
		"Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails "
		"EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n"
		"Tcp: 1 200 120000 -1 13 2 0 0 0 634 372 0 0 123456 0\n"
		"Udp: InDatagrams\nUdp: 5\n";

	check(snmp_outrsts(txt) == 123456, "TcpOutRsts parsed from /proc/net/snmp", "got %lld",
	      (long long)snmp_outrsts(txt));
	check(snmp_outrsts("Ip: a\nIp: 1\n") == -1, "no Tcp line -> -1", "got %lld",
	      (long long)snmp_outrsts("Ip: a\nIp: 1\n"));
}

static void test_netstat_and_addr(void)
{
	const char *ns = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\n"
			 "TcpExt: 0 17 19\nIpExt: InNoRoutes\nIpExt: 0\n";
	struct sockaddr_storage ss;
	socklen_t len;
	char err[200];

	check(netstat_value(ns, "ListenOverflows") == 17 && netstat_value(ns, "ListenDrops") == 19,
	      "TcpExt counters parsed from /proc/net/netstat", "got %lld",
	      (long long)netstat_value(ns, "ListenOverflows"));
	check(!prom_parse_addr("127.0.0.1:9464", &ss, &len, err, sizeof(err)) &&
	      ss.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&ss)->sin_port) == 9464,
	      "--prometheus 127.0.0.1:9464", "%s", err);
	check(!prom_parse_addr("[::1]:9464", &ss, &len, err, sizeof(err)) &&
	      ss.ss_family == AF_INET6, "--prometheus [::1]:9464", "%s", err);
	check(!prom_parse_addr(":9464", &ss, &len, err, sizeof(err)), "--prometheus :9464", "%s",
	      err);
	check(prom_parse_addr("127.0.0.1:0", &ss, &len, err, sizeof(err)) &&
	      prom_parse_addr("127.0.0.1", &ss, &len, err, sizeof(err)) &&
	      prom_parse_addr("[::1:9464", &ss, &len, err, sizeof(err)) &&
	      prom_parse_addr("1.2.3.4:70000", &ss, &len, err, sizeof(err)),
	      "bad --prometheus addresses are refused", "accepted");
}

/* causes.def and evidence.def: complete, unique, and names that lead back to their ids */
static void test_cause_table(void)
{
	int bad = 0, dup = 0, trip = 0;

	for (int c = 0; c < C_NR_CAUSES; c++) {
		const char *id = rw_cause_name(c);

		if (!id || !*id || !*rw_cause_meaning(c) || !*rw_cause_usually(c) ||
		    !*rw_cause_check(c) || strchr(rw_cause_meaning(c), '\n') ||
		    strchr(rw_cause_meaning(c), '\t') ||
		    (unsigned int)rw_cause_origin(c) >= O_NR_ORIGINS)
			bad++;
		for (int d = 0; d < c; d++)
			dup += !strcmp(id, rw_cause_name(d));
		trip += rw_cause_from_name(id) != c;
	}
	check(!bad, "every cause has an id, an origin, a one-line meaning, causes and checks",
	      "%d incomplete", bad);
	check(!dup, "cause ids are unique", "%d duplicates", dup);
	check(!trip, "cause id -> enum -> id round trip", "%d wrong", trip);
	check(rw_cause_from_name("") < 0 && !strcmp(rw_cause_name(C_NR_CAUSES), "unknown"),
	      "out-of-range causes read as unknown", "mismatch");

	bad = 0;
	for (int f = 0; f < FN_NR; f++)
		bad += !rw_fn_name(f) || !strcmp(rw_fn_name(f), "?");
	check(!bad, "every evidence bit has a label", "%d without", bad);
	check(rw_fn_bits_of_symbol("__tcp_close") == FNBIT(FN_TCP_CLOSE) &&
	      rw_fn_bits_of_symbol("tcp_close") == FNBIT(FN_TCP_CLOSE) &&
	      rw_fn_bits_of_symbol("inet_child_forget") == FNBIT(FN_LISTEN_STOP) &&
	      rw_fn_bits_of_symbol("mptcp_subflow_reset") == FNBIT(FN_MPTCP) &&
	      rw_fn_bits_of_symbol("__mptcp_close_ssk") == FNBIT(FN_MPTCP) &&
	      rw_fn_bits_of_symbol("handle_softirqs") == FNBIT(FN_IRQ_CONTEXT) &&
	      !rw_fn_bits_of_symbol("tcp_closer") && !rw_fn_bits_of_symbol("mptcp"),
	      "kernel symbols -> evidence bits (exact names and prefixes)", "mismatch");
}

/* the JSON writer and UTF-8 cleaning, against hand-made byte strings */
static void json_of(const char *s, size_t n, char *out, size_t len)
{
	FILE *f = fmemopen(out, len, "w");

	json_strn(f, s, n);
	fclose(f);
}

static void test_json(void)
{
	/* "ёёёёёёёёz" cut by the kernel at 15 bytes: 7 letters and half of the 8th */
	static const char cut[16] = "\xd1\x91\xd1\x91\xd1\x91\xd1\x91\xd1\x91\xd1\x91\xd1\x91\xd1";
	static const struct { const char *name, *in, *want; } cases[] = {
		{ "valid UTF-8 passes unescaped",
		  "gw-\xc3\xbcn\xc3\xaf" "code", "\"gw-\xc3\xbcn\xc3\xaf" "code\"" },
		{ "quote, backslash, controls escaped",
		  "a\"b\\c\n\t\x01\x7f", "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\"" },
		{ "a lone continuation byte becomes U+FFFD", "a\x80z", "\"a\xef\xbf\xbdz\"" },
		{ "overlong C0 AF: one U+FFFD per byte",
		  "\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "a surrogate (ED A0 80) is refused",
		  "\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "a truncated 3-byte sequence is one U+FFFD", "\xe2\x82z", "\"\xef\xbf\xbdz\"" },
		{ "a 4-byte character passes", "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },
		{ "above U+10FFFF (F4 90) is refused", "\xf4\x90\x80\x80",
		  "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
	};
	char out[256], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_of(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		check(!strcmp(out, cases[i].want), cases[i].name, "got %s, want %s", out,
		      cases[i].want);
	}
	json_of(cut, 16, out, sizeof(out));
	snprintf(want, sizeof(want), "\"%.14s\xef\xbf\xbd\"", cut);
	check(!strcmp(out, want), "a comm cut mid-character ends in U+FFFD", "got %s", out);
	{
		char c[COMM_CLEAN_LEN];

		comm_clean(c, cut);
		check(strlen(c) == 17 && !strcmp(c + 14, "\xef\xbf\xbd"),
		      "comm_clean: the same for the table, labels and pcapng", "got %s", c);
		comm_clean(c, "nginx");
		check(!strcmp(c, "nginx"), "comm_clean leaves ASCII alone", "got %s", c);
	}
	{
		FILE *f = fmemopen(out, sizeof(out), "w");
		struct jw w;

		jw_init(&w, f);
		jw_obj(&w, NULL);
		jw_u64(&w, "sent", 3);
		jw_obj(&w, "causes");
		jw_u64(&w, "close-unread", 2);
		jw_end(&w);
		jw_arr(&w, "sinks");
		jw_obj(&w, NULL);
		jw_str(&w, "sink", "json");
		jw_null(&w, "error");
		jw_end(&w);
		jw_end(&w);
		jw_double(&w, "rate", 1.25, 1);
		jw_end(&w);
		fclose(f);
		check(!strcmp(out, "{\"sent\":3,\"causes\":{\"close-unread\":2},\"sinks\":"
			      "[{\"sink\":\"json\",\"error\":null}],\"rate\":1.2}") ||
		      !strcmp(out, "{\"sent\":3,\"causes\":{\"close-unread\":2},\"sinks\":"
			      "[{\"sink\":\"json\",\"error\":null}],\"rate\":1.3}"),
		      "jw: nesting and commas", "got %s", out);
	}
}

/* aggregation rows: one per cause, port and owner, found again after sorting, bounded */
static void test_agg(void)
{
	struct agg a = { 0 };
	struct rw_event e = { .type = RW_EV_SENT, .netns = 7 };
	struct rw_report r = { .e = &e, .has_owner = true };
	uint64_t sum = 0;
	int folded = -1, port80 = -1;

	r.v.cause = C_NO_LISTENER;
	strcpy(r.owner.comm, "gw");
	r.owner.tgid = 100;
	/* 5,000 distinct ports, twice each, port 80 a hundred times */
	for (int round = 0; round < 2; round++)
		for (int p = 1; p <= 5000; p++) {
			e.sport = p;
			agg_add(&a, &r, 1);
			if (round == 0 && p == 2000)
				agg_sort(&a);	/* the index follows the rows as they move */
		}
	e.sport = 80;
	for (int i = 0; i < 100; i++)
		agg_add(&a, &r, 1);
	for (int i = 0; i < a.n; i++) {
		sum += a.rows[i].total;
		if (a.rows[i].folded)
			folded = i;
		if (!a.rows[i].folded && a.rows[i].port == 80)
			port80 = i;
	}
	check(a.n == AGG_MAX_ROWS + 1, "aggregation rows are bounded (then one folded row)",
	      "%d rows", a.n);
	check(sum == 10100, "every count kept, folded or not", "sum %llu",
	      (unsigned long long)sum);
	check(folded >= 0 && a.rows[folded].total == 2 * (5000 - AGG_MAX_ROWS) &&
	      !a.rows[folded].has_owner, "what comes past the bound counts in the folded row",
	      "folded row %d", folded);
	check(port80 >= 0 && a.rows[port80].total == 102, "a row is found again after sorting",
	      "port 80 row %d", port80);
	agg_free(&a);
}

int main(void)
{
	test_json();
	test_netstat_and_addr();
	test_passive();
	test_active();
	test_tables();
	test_cause_table();
	test_snmp();
	test_agg();
	printf("# unit: %d tests, %d failed\n", n, failed);
	return failed ? 1 : 0;
}
