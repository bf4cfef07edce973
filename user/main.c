// SPDX-License-Identifier: GPL-2.0
/*
 * rstwhy: for every TCP RST this host sends, who decided it and why.
 *
 * parse args -> check privileges and BTF -> open, configure, load, attach -> consume the ring
 * buffer on a timer -> classify -> print; on SIGINT/SIGTERM flush, summarise, clean up.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "rstwhy.skel.h"
#include "classify.h"
#include "kfilter.h"
#include "kinfo.h"
#include "loader.h"
#include "ksyms.h"
#include "netns.h"
#include "output.h"
#include "pcapng.h"
#include "prefill.h"
#include "prom.h"
#include "summary.h"
#include "agg.h"
#include "listeners.h"
#include "subcmd.h"
#include "report.h"
#include "explain.h"

#define RSTWHY_VERSION "0.2"
#define EXIT_USAGE 2
#define EXIT_ENV 1
#define MAX_PORTS 64

static struct env {
	bool json;
	bool verbose;
	bool stacks;
	bool ustack;
	bool recv;
	bool v4, v6;
	const char *ready_file;
	const char *netns_arg;
	uint32_t netns;
	int pid;
	int nports;
	uint16_t ports[MAX_PORTS];
	uint32_t causes;	/* bitmask of enum rw_cause, 0: all */
	long duration;
	long wakeup_bytes;	/* -1: default (a quarter of the ring buffer) */
	const char *pcapng;
	bool no_egress;
	bool probe;
	enum attach_mode attach;
	const char *btf;
	double summary;		/* --summary interval in seconds, 0: off */
	bool quiet;
	const char *prometheus;
	long prom_max_series;
	bool list_causes;
	const char *comm;	/* --comm */
	struct listener_watch watch;	/* --watch-listeners */
} env = { .pid = -1, .wakeup_bytes = -1, .prom_max_series = 1000 };

/* filters applied in the kernel (built from env after parsing; -c opens its directory) */
static struct kfilter kf = { .cgroup_fd = -1 };

static volatile sig_atomic_t exiting;
static struct sockaddr_storage prom_addr;
static socklen_t prom_addrlen;
static struct agg agg;
static bool aggregating;	/* --summary or --prometheus */
static bool per_event = true;	/* table or JSON line per event */

static const char usage[] =
"Usage: rstwhy [OPTION...]\n"
"For every TCP RST this host sends: who decided it (application, TCP stack, admin, ...), the\n"
"precise cause, the process that owns the socket, its state before the reset, the evidence.\n"
"\n"
"  -j, --json                 one JSON object per line instead of the table\n"
"      --ready-file PATH      once every probe is attached, create PATH holding the attach\n"
"                             plan (the JSON object of --probe -j, without \"modes\")\n"
"      --netns PATH|INODE     only this network namespace (e.g. /run/netns/web)\n"
"  -p, --pid PID              only sockets owned by (or reset by) process PID\n"
"  -P, --port PORT[,PORT...]  only these ports (local or remote)\n"
"  -4, --ipv4 / -6, --ipv6    only IPv4 / only IPv6\n"
"      --cause ID[,ID...]     only these causes\n"
"  -c, --cgroup PATH          only sockets owned by tasks in this cgroup v2 subtree\n"
"      --comm NAME            only sockets owned by (or reset by) a process named NAME\n"
"  -r, --received             also show RSTs received (cause peer-reset)\n"
"  -s, --stack                show the kernel stack of each event\n"
"  -u, --user-stack           show the user stack of the task that decided an application's\n"
"                             reset (close, shutdown, ss -K): functions, libraries, JIT\n"
"                             methods from perf-PID.map (see docs/user-stacks.md)\n"
"  -d, --duration SECS        stop after SECS seconds\n"
"      --pcapng FILE          write each RST packet to FILE (pcapng), with a comment giving\n"
"                             cause, origin, owner and kernel reason (tshark -e frame.comment)\n"
"      --no-egress            do not watch packets leaving (no netfilter/injected RSTs)\n"
"      --attach MODE          auto (default), tracepoint, fentry or kprobe: how resets that\n"
"                             answer a segment are caught (kernels before 6.10 need a hook)\n"
"      --btf PATH             BTF of the running kernel, for kernels built without it\n"
"      --probe                print the attach plan for this kernel and what is missing\n"
"                             (with -j: as one JSON object)\n"
"      --summary[=SECS]       a top-like view every SECS (default 2): RSTs per cause, origin,\n"
"                             port and owner, and the listeners on those ports (-j: JSON\n"
"                             lines); counted in the kernel, no per-event output\n"
"  -q, --quiet                no per-event output (with --prometheus)\n"
"      --prometheus ADDR:PORT serve /metrics (e.g. 127.0.0.1:9464, [::1]:9464, :9464)\n"
"      --prom-max-series N    at most N rstwhy_rst_total series, the rest fold into\n"
"                             port=\"other\" (default 1000)\n"
"      --watch-listeners all|PORT[,PORT...]\n"
"                             listener health (accept queue, drops, ListenOverflows) of\n"
"                             every listener, or those on PORTs, in the watched namespaces,\n"
"                             with or without RSTs (at most 512 listeners); events are not\n"
"                             filtered\n"
"  -v, --verbose              print the attach plan and libbpf messages\n"
"      --list-causes          the causes, one per line: id, origin, meaning (-j: JSON)\n"
"  -h, --help                 this text\n"
"\n"
"Examples:\n"
"  rstwhy                       live table of RSTs sent, every network namespace\n"
"  rstwhy -j > rst.jsonl        one JSON object per RST\n"
"  rstwhy -P 51244 -s           RSTs on port 51244, with kernel stacks\n"
"  rstwhy -P 51244 -u           ... and the code in the application that closed the socket\n"
"  rstwhy --cause close-unread,close-linger0 -p 812\n"
"  rstwhy --netns /run/netns/web -d 60\n"
"\n"
"Subcommands: rstwhy match|diff|selftest|explain (each has --help).\n"
"\n"
"On SIGINT/SIGTERM: flush, print a summary on stderr (events by cause, captured against the\n"
"kernel's TcpOutRsts), exit 0. Exit 1: environment error (privileges, BTF); 2: bad usage.\n"
"\n";

enum { OPT_READY = 1000, OPT_NETNS, OPT_CAUSE, OPT_WAKEUP, OPT_PCAPNG, OPT_NO_EGRESS, OPT_PROBE,
       OPT_ATTACH, OPT_BTF, OPT_SUMMARY, OPT_PROM, OPT_PROM_MAX, OPT_LIST_CAUSES, OPT_COMM,
       OPT_WATCH };

static const struct option long_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "ready-file", required_argument, NULL, OPT_READY },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "pid", required_argument, NULL, 'p' },
	{ "port", required_argument, NULL, 'P' },
	{ "ipv4", no_argument, NULL, '4' },
	{ "ipv6", no_argument, NULL, '6' },
	{ "cause", required_argument, NULL, OPT_CAUSE },
	{ "cgroup", required_argument, NULL, 'c' },
	{ "comm", required_argument, NULL, OPT_COMM },
	{ "received", no_argument, NULL, 'r' },
	{ "stack", no_argument, NULL, 's' },
	{ "user-stack", no_argument, NULL, 'u' },
	{ "duration", required_argument, NULL, 'd' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "pcapng", required_argument, NULL, OPT_PCAPNG },
	{ "no-egress", no_argument, NULL, OPT_NO_EGRESS },
	{ "probe", no_argument, NULL, OPT_PROBE },
	{ "attach", required_argument, NULL, OPT_ATTACH },
	{ "btf", required_argument, NULL, OPT_BTF },
	{ "summary", optional_argument, NULL, OPT_SUMMARY },
	{ "quiet", no_argument, NULL, 'q' },
	{ "prometheus", required_argument, NULL, OPT_PROM },
	{ "prom-max-series", required_argument, NULL, OPT_PROM_MAX },
	{ "list-causes", no_argument, NULL, OPT_LIST_CAUSES },
	{ "watch-listeners", required_argument, NULL, OPT_WATCH },
	/* for measurements: wake the consumer once this many bytes wait (1: every event) */
	{ "wakeup-bytes", required_argument, NULL, OPT_WAKEUP },
	{},
};

static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("rstwhy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see rstwhy --help)\n", stderr);
	exit(EXIT_USAGE);
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die_usage("%s %s: expected a number from %ld to %ld", opt, s, min, max);
	return v;
}

static void parse_list(const char *opt, const char *arg, void (*one)(const char *opt,
								      const char *tok))
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int n = 0;

	if (!copy)
		die_usage("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++)
		one(opt, tok);
	free(copy);
	if (!n)
		die_usage("%s '%s': expected a comma-separated list", opt, arg);
}

static void add_port(const char *opt, const char *tok)
{
	if (env.nports == MAX_PORTS)
		die_usage("%s: at most %d ports", opt, MAX_PORTS);
	env.ports[env.nports++] = parse_long(opt, tok, 1, 65535);
}

static void add_cause(const char *opt, const char *tok)
{
	int c = rw_cause_from_name(tok);

	if (c < 0)
		die_usage("%s %s: no such cause (the list is in --help)", opt, tok);
	env.causes |= 1u << c;
}

static void parse_args(int argc, char **argv)
{
	char err[256];
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jp:P:46rsud:vhqc:", long_opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			env.json = true;
			break;
		case 'v':
			env.verbose = true;
			break;
		case 's':
			env.stacks = true;
			break;
		case 'u':
			env.ustack = true;
			break;
		case 'r':
			env.recv = true;
			break;
		case '4':
			env.v4 = true;
			break;
		case '6':
			env.v6 = true;
			break;
		case 'h':
			fputs(usage, stdout);
			rw_causes_help(stdout);
			exit(0);
		case OPT_READY:
			env.ready_file = optarg;
			break;
		case OPT_NETNS:
			env.netns_arg = optarg;
			env.netns = ns_resolve(optarg, err, sizeof(err));
			if (!env.netns)
				die_usage("%s", err);
			break;
		case 'p':
			env.pid = parse_long("-p", optarg, 1, INT_MAX);
			break;
		case 'd':
			env.duration = parse_long("-d", optarg, 1, 365L * 24 * 3600);
			break;
		case 'P':
			parse_list("-P", optarg, add_port);
			break;
		case OPT_CAUSE:
			parse_list("--cause", optarg, add_cause);
			break;
		case 'c':
			if (kf.cgroup_fd >= 0)
				die_usage("-c: one cgroup only");
			if (kfilter_open_cgroup(&kf, optarg, err, sizeof(err)))
				die_usage("%s", err);
			break;
		case OPT_COMM:
			if (!optarg[0] || strlen(optarg) >= RW_COMM_LEN)
				die_usage("--comm '%s': a process name has 1 to %d bytes", optarg,
					  RW_COMM_LEN - 1);
			env.comm = optarg;
			break;
		case OPT_PCAPNG:
			env.pcapng = optarg;
			break;
		case OPT_NO_EGRESS:
			env.no_egress = true;
			break;
		case OPT_PROBE:
			env.probe = true;
			break;
		case OPT_ATTACH: {
			int m = attach_mode_from_name(optarg);

			if (m < 0)
				die_usage("--attach %s: expected auto, tracepoint, fentry or kprobe",
					  optarg);
			env.attach = m;
			break;
		}
		case 'q':
			env.quiet = true;
			break;
		case OPT_SUMMARY: {
			char *end;

			env.summary = 2;
			if (optarg) {
				errno = 0;
				env.summary = strtod(optarg, &end);
				if (errno || end == optarg || *end || !(env.summary >= 0.1) ||
				    env.summary > 3600)
					die_usage("--summary=%s: the interval is a number of seconds "
						  "from 0.1 to 3600", optarg);
			}
			break;
		}
		case OPT_PROM: {
			char perr[300];

			if (prom_parse_addr(optarg, &prom_addr, &prom_addrlen, perr, sizeof(perr)))
				die_usage("%s", perr);
			env.prometheus = optarg;
			break;
		}
		case OPT_PROM_MAX:
			env.prom_max_series = parse_long("--prom-max-series", optarg, 1, 100000);
			break;
		case OPT_WATCH: {
			char werr[200];

			if (listeners_watch_parse(&env.watch, optarg, werr, sizeof(werr)))
				die_usage("%s", werr);
			break;
		}
		case OPT_BTF:
			if (access(optarg, R_OK))
				die_usage("--btf %s: %s", optarg, strerror(errno));
			env.btf = optarg;
			break;
		case OPT_LIST_CAUSES:
			env.list_causes = true;
			break;
		case OPT_WAKEUP:
			env.wakeup_bytes = parse_long("--wakeup-bytes", optarg, 0, 1L << 30);
			break;
		case ':':
			die_usage("option %s needs a value", argv[optind - 1]);
			break;
		default:
			if (optopt)
				die_usage("unknown option -%c", optopt);
			die_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		die_usage("unexpected argument '%s'", argv[optind]);
	if (env.v4 && env.v6)
		env.v4 = env.v6 = false;	/* both: no family filter */
	kf.family = env.v4 ? AF_INET : env.v6 ? AF_INET6 : 0;
	kf.nports = env.nports;
	memcpy(kf.ports, env.ports, sizeof(env.ports[0]) * env.nports);
	kf.tgid = env.pid > 0 ? env.pid : 0;
	kf.comm = env.comm;
	kf.causes = env.causes;
	kf.recv = env.recv;
	/* a numeric --netns has no path: counters are then found by enumeration */
	if (env.netns_arg && env.netns_arg[0] != '/')
		env.netns_arg = NULL;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* errors are reported in our own words; -v shows libbpf's (the verifier log among them) */
	if (!env.verbose || (level == LIBBPF_DEBUG && !getenv("RSTWHY_LIBBPF_DEBUG")))
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

/* root, or the three capabilities we need */
static bool privileged(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {};
	/*
	 * measured: BPF and PERFMON load and attach; SYSLOG reads kallsyms addresses; SYS_ADMIN
	 * enters other namespaces (counters, listener health); SYS_PTRACE and DAC_READ_SEARCH
	 * read other processes' /proc entries (owners of pre-existing sockets)
	 */
	const int need[] = { 38 /* CAP_PERFMON */, 39 /* CAP_BPF */, CAP_SYSLOG, CAP_SYS_ADMIN };

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data))
		return false;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!(data[need[i] / 32].effective & (1u << (need[i] % 32))))
			return false;
	return true;
}

static struct {
	struct kinfo ki;
	struct ksyms *ks;
	struct out_opts out;
	int64_t mono_to_real;
	uint64_t sent, recv, shown, egress;
	uint64_t by_cause[C_NR_CAUSES];
} run;

static bool port_match(const struct rw_event *e)
{
	if (!env.nports)
		return true;
	for (int i = 0; i < env.nports; i++)
		if (env.ports[i] == e->sport || env.ports[i] == e->dport)
			return true;
	return false;
}

static bool wanted(const struct rw_report *r)
{
	const struct rw_event *e = r->e;

	if ((env.v4 || env.v6) && !((env.v4 && e->family == 2) || (env.v6 && e->family == 10)))
		return false;
	if (!port_match(e))
		return false;
	if (env.causes && !(env.causes & (1u << r->v.cause)))
		return false;
	if (env.pid > 0 && !((r->has_owner && r->owner.tgid == (uint32_t)env.pid) ||
			     (r->has_actor && r->actor.tgid == (uint32_t)env.pid)))
		return false;
	if (env.comm && !((r->has_owner && !strncmp(r->owner.comm, env.comm, RW_COMM_LEN)) ||
			  (r->has_actor && !strncmp(r->actor.comm, env.comm, RW_COMM_LEN))))
		return false;
	return true;
}

/*
 * --pcapng: the stack's RSTs are reported by tcp_send_reset and their bytes come from the
 * egress hook. Which comes first depends on the path (tcp_send_active_reset fires its
 * tracepoint after transmitting, tcp_v4_send_reset before), so whichever arrives first waits
 * here for its partner: same namespace, addresses and ports.
 */
static unsigned int round_no;	/* polling rounds, to age what waits for a partner */

#define MAX_PENDING 4096
struct pend_key {
	uint32_t netns;
	uint16_t family, sport, dport;
	uint8_t saddr[16], daddr[16];
};

static struct pending {
	struct pend_key k;
	unsigned int round;
	char comment[200];
} pending[MAX_PENDING];
static int npending;

static struct pending_pkt {
	struct pend_key k;
	unsigned int round;
	struct rw_pkt p;
} pending_pkts[MAX_PENDING];
static int npending_pkts;

static struct pcapng *pcap;
static uint64_t pcap_unmatched_pkts, pcap_unseen_events;

static void pcap_comment(const struct rw_report *r, char *buf, size_t len)
{
	int n = snprintf(buf, len, "rstwhy: cause=%s origin=%s", rw_cause_name(r->v.cause),
			 rw_origin_name(r->v.origin));

	if (r->has_owner)
		n += snprintf(buf + n, len - n, " owner=%u/%.15s", r->owner.tgid, r->owner.comm);
	else
		n += snprintf(buf + n, len - n, " owner=-");
	if (r->has_actor && (size_t)n < len)
		n += snprintf(buf + n, len - n, " actor=%u/%.15s", r->actor.tgid, r->actor.comm);
	if ((size_t)n < len)
		snprintf(buf + n, len - n, " kernel_reason=%s", r->kreason ? r->kreason : "-");
}

static void key_of(const struct rw_event *e, struct pend_key *k)
{
	memset(k, 0, sizeof(*k));
	k->netns = e->netns;
	k->family = e->family;
	k->sport = e->sport;
	k->dport = e->dport;
	memcpy(k->saddr, e->saddr, 16);
	memcpy(k->daddr, e->daddr, 16);
}

static void pcap_write(const struct rw_pkt *p, const char *comment)
{
	if (!pcap)
		return;
	if (pcapng_write(pcap, p->ts_ns + run.mono_to_real, p->data, p->caplen, p->len, comment)) {
		fprintf(stderr, "rstwhy: writing %s failed: %s; pcapng output stopped\n",
			env.pcapng, strerror(errno));
		pcapng_close(pcap);
		pcap = NULL;
	}
}

/* a stack RST was reported: write its packet if it already came, or wait for it */
static void pcap_expect(const struct rw_report *r)
{
	struct pending *q;
	struct pend_key k;
	char c[200];

	key_of(r->e, &k);
	pcap_comment(r, c, sizeof(c));
	for (int i = 0; i < npending_pkts; i++) {
		if (!memcmp(&pending_pkts[i].k, &k, sizeof(k))) {
			pcap_write(&pending_pkts[i].p, c);
			pending_pkts[i] = pending_pkts[--npending_pkts];
			return;
		}
	}
	if (npending == MAX_PENDING) {
		pcap_unseen_events++;
		pending[0] = pending[--npending];
	}
	q = &pending[npending++];
	q->k = k;
	q->round = round_no;
	memcpy(q->comment, c, sizeof(c));
}

/* a stack RST left: write it with its event's comment, or wait for the event */
static void pcap_stack_packet(const struct rw_pkt *p)
{
	struct pending_pkt *q;
	struct rw_event e;
	struct pend_key k;
	uint32_t seq, ack;
	unsigned int flags;

	if (!pcap || parse_tcp_packet(p->data, p->caplen, p->family, &e, &seq, &ack, &flags))
		return;
	e.netns = p->netns;
	key_of(&e, &k);
	for (int i = 0; i < npending; i++) {
		if (!memcmp(&pending[i].k, &k, sizeof(k))) {
			pcap_write(p, pending[i].comment);
			pending[i] = pending[--npending];
			return;
		}
	}
	if (npending_pkts == MAX_PENDING) {
		pcap_unmatched_pkts++;
		pending_pkts[0] = pending_pkts[--npending_pkts];
	}
	q = &pending_pkts[npending_pkts++];
	q->k = k;
	q->round = round_no;
	q->p = *p;
}

/*
 * Events whose packet never came left through no device (dropped on the way out); packets
 * whose event never came were filtered out (-p, -P, --cause) or lost.
 */
static void pcap_expire(bool all)
{
	int kept = 0;

	for (int i = 0; i < npending; i++) {
		if (all || round_no - pending[i].round > 2)
			pcap_unseen_events++;
		else
			pending[kept++] = pending[i];
	}
	npending = kept;
	kept = 0;
	for (int i = 0; i < npending_pkts; i++) {
		if (all || round_no - pending_pkts[i].round > 2)
			pcap_unmatched_pkts++;
		else
			pending_pkts[kept++] = pending_pkts[i];
	}
	npending_pkts = kept;
}

static void show(const struct rw_report *r)
{
	if (r->e->type == RW_EV_SENT)
		run.by_cause[r->v.cause]++;
	else
		run.recv++;
	if (!wanted(r))
		return;
	run.shown++;
	/* always: the closing summary's top finding comes from the rows */
	agg_add(&agg, r, 1);
	if (per_event)
		out_event(stdout, &run.out, r);
	if (pcap && r->e->type == RW_EV_SENT) {
		if (r->pkt) {
			char c[200];

			pcap_comment(r, c, sizeof(c));
			pcap_write(r->pkt, c);
		} else {
			pcap_expect(r);
		}
	}
}

static void emit(const struct rw_event *e)
{
	struct rw_report r;

	report_build(&r, e, &run.ki, run.ks, run.mono_to_real);
	/* a user stack means something only where the task on the CPU decided the reset */
	if (env.ustack && e->type == RW_EV_SENT && !(e->flags & RW_F_SKB)) {
		const struct ustack *s = ustack_take(e->skaddr, e->actor.pid, e->ts_ns);

		if (r.v.actor_valid)
			r.ustack = s;
	}
	show(&r);
}

static int listeners_fd = -1;

/* an RST seen leaving that the TCP stack did not build */
static void emit_pkt(const struct rw_pkt *p)
{
	static struct rw_report r;	/* large: keep it off the stack */
	struct rw_listener_key k = { .netns = p->netns, .family = p->family };
	struct rw_owner_rec o;

	report_build_pkt(&r, p, run.mono_to_real);
	k.port = r.e->sport;
	if (r.v.cause == C_NETFILTER_REJECT && listeners_fd >= 0 &&
	    !bpf_map_lookup_elem(listeners_fd, &k, &o)) {
		r.has_listener = true;
		r.listener = o.owner;
	}
	run.egress++;
	show(&r);
}

/*
 * tcp:tcp_receive_reset also fires when a closed socket in FIN_WAIT1/2 gets data: the kernel
 * calls tcp_reset() on itself and then sends a RST (TCP_ABORT_ON_DATA); nothing was received.
 * Such "received" events wait one polling round for the matching sent RST, which cancels them.
 */
#define MAX_HELD 256
static struct held {
	struct rw_event e;
	unsigned int round;
} held[MAX_HELD];
static int nheld;

static bool maybe_abort_on_data(const struct rw_event *e)
{
	return (e->state == ST_FIN_WAIT1 || e->state == ST_FIN_WAIT2) &&
	       (e->sk_shutdown & 1 /* RCV_SHUTDOWN */);
}

static void flush_held(bool all)
{
	int kept = 0;

	for (int i = 0; i < nheld; i++) {
		if (all || held[i].round != round_no)
			emit(&held[i].e);
		else
			held[kept++] = held[i];
	}
	nheld = kept;
}

/*
 * Captured RSTs per namespace, to compare with each namespace's own TcpOutRsts: a namespace
 * born and gone during the run has no counter left to compare with.
 */
#define NS_SLOTS 4096
static struct {
	uint32_t ino;
	uint64_t sent;
} ns_sent[NS_SLOTS];
static uint64_t ns_overflow;

static void count_ns_n(uint32_t ino, uint64_t n);

static void count_ns(uint32_t ino)
{
	count_ns_n(ino, 1);
}

static void count_ns_n(uint32_t ino, uint64_t n)
{
	uint32_t h = ino * 2654435761u;

	for (int i = 0; i < NS_SLOTS; i++) {
		uint32_t k = (h + i) % NS_SLOTS;

		if (ns_sent[k].ino == ino || !ns_sent[k].ino) {
			ns_sent[k].ino = ino;
			ns_sent[k].sent += n;
			return;
		}
	}
	ns_overflow += n;
}

static uint64_t sent_in(const struct ns_snapshot *snap)
{
	uint64_t sum = 0;

	for (int i = 0; i < NS_SLOTS; i++)
		for (int j = 0; ns_sent[i].ino && j < snap->n; j++)
			if (snap->ns[j].ino == ns_sent[i].ino)
				sum += ns_sent[i].sent;
	return sum;
}

static int handle_event(void *ctx, void *data, size_t len)
{
	const struct rw_event *e = data;

	(void)ctx;
	if (len < sizeof(e->type))
		return 0;
	if (e->type != RW_EV_EGRESS && e->type != RW_EV_USTACK && len < sizeof(*e))
		return 0;
	if (e->type == RW_EV_SENT) {
		run.sent++;
		count_ns(e->netns);
		for (int i = 0; i < nheld; i++) {
			if (held[i].e.skaddr == e->skaddr) {
				held[i] = held[--nheld];
				break;
			}
		}
	} else if (e->type == RW_EV_EGRESS) {
		const struct rw_pkt *p = data;

		if (len < sizeof(*p))
			return 0;
		if (p->kind == RW_EG_STACK)
			pcap_stack_packet(p);
		else
			emit_pkt(p);
		return 0;
	} else if (e->type == RW_EV_USTACK) {
		if (len >= sizeof(struct rw_ustack))
			ustack_record(data);
		return 0;
	} else if (e->type == RW_EV_RECV) {
		if (maybe_abort_on_data(e)) {
			if (nheld == MAX_HELD)
				flush_held(true);
			held[nheld].e = *e;
			held[nheld++].round = round_no;
			return 0;
		}
	} else {
		return 0;
	}
	emit(e);
	return 0;
}

static double mono_secs(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_secs(void)
{
	struct timespec t;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static int64_t mono_to_real_offset(void)
{
	struct timespec m, r;

	clock_gettime(CLOCK_MONOTONIC, &m);
	clock_gettime(CLOCK_REALTIME, &r);
	return ((int64_t)r.tv_sec - m.tv_sec) * 1000000000ll + (r.tv_nsec - m.tv_nsec);
}

static uint64_t sum_counter(struct rstwhy_bpf *skel, __u32 idx)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1], sum = 0;

	if (ncpu <= 0 || bpf_map__lookup_elem(skel->maps.counters, &idx, sizeof(idx), vals,
					      sizeof(uint64_t) * ncpu, 0))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += vals[i];
	return sum;
}

static uint64_t kernel_lost(struct rstwhy_bpf *skel)
{
	return sum_counter(skel, RW_CNT_RB_FAIL);
}

/*
 * Filters applied in the kernel: the per-namespace counts of what was captured are those the
 * send-reset hook saw before filtering, so that they still compare with TcpOutRsts.
 */
static uint64_t seen_total;

static void seen_from_kernel(struct rstwhy_bpf *skel)
{
	int fd = bpf_map__fd(skel->maps.ns_seen), ncpu = libbpf_num_possible_cpus();
	uint64_t vals[ncpu > 0 ? ncpu : 1];
	uint32_t key, next, *prev = NULL;

	memset(ns_sent, 0, sizeof(ns_sent));
	ns_overflow = sum_counter(skel, RW_CNT_NS_FULL);
	seen_total = ns_overflow;
	while (ncpu > 0 && !bpf_map_get_next_key(fd, prev, &next)) {
		uint64_t n = 0;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		for (int i = 0; i < ncpu; i++)
			n += vals[i];
		count_ns_n(key, n);
		seen_total += n;
	}
}

static void print_summary(struct rstwhy_bpf *skel, const struct ns_snapshot *start,
			  uint64_t hooked)
{
	struct ns_snapshot end;
	struct ns_delta d;
	uint64_t lost = sum_counter(skel, RW_CNT_RB_FAIL);
	uint64_t checked, captured;
	char causes[1024] = "";
	size_t used = 0;

	for (int c = 0; c < C_NR_CAUSES; c++) {
		if (!run.by_cause[c] || used >= sizeof(causes))
			continue;
		used += snprintf(causes + used, sizeof(causes) - used, "%s%s %llu",
				 used ? ", " : "", rw_cause_name(c),
				 (unsigned long long)run.by_cause[c]);
	}
	fprintf(stderr, "rstwhy: %llu RSTs sent by the TCP stack, %llu by others (firewall, "
		"processes)%s%s%s, %llu received, %llu shown\n",
		(unsigned long long)run.sent, (unsigned long long)run.egress, used ? " (" : "",
		causes, used ? ")" : "", (unsigned long long)run.recv,
		(unsigned long long)run.shown);
	summary_top_finding(stderr, &agg);
	if (env.pcapng)
		fprintf(stderr, "rstwhy: %llu packets written to %s; %llu stack RSTs never left "
			"through a device; %llu left with no event to match (filtered out)\n",
			(unsigned long long)pcapng_count(pcap), env.pcapng,
			(unsigned long long)pcap_unseen_events,
			(unsigned long long)pcap_unmatched_pkts);
	if (ns_overflow)
		fprintf(stderr, "rstwhy: %llu RSTs came from namespaces beyond the first %d: not "
			"checked against their TcpOutRsts\n", (unsigned long long)ns_overflow,
			NS_SLOTS);

	if (ns_snapshot_take(&end, env.netns, env.netns_arg)) {
		fprintf(stderr, "rstwhy: could not read TcpOutRsts at exit\n");
		return;
	}
	ns_delta(start, &end, &d);
	if (kfilter_active(&kf))
		seen_from_kernel(skel);
	captured = kfilter_active(&kf) ? seen_total : run.sent;
	checked = sent_in(&end);
	fprintf(stderr, "rstwhy: kernel TcpOutRsts +%llu in %d watched namespace%s; "
		"captured %llu of %llu (%.1f%%); lost %llu (ring buffer full)",
		(unsigned long long)d.outrsts, d.watched, d.watched == 1 ? "" : "s",
		(unsigned long long)checked, (unsigned long long)d.outrsts,
		d.outrsts ? 100.0 * checked / d.outrsts : 100.0, (unsigned long long)lost);
	if (captured > checked)
		fprintf(stderr, "; %llu more from namespaces gone before exit (no counter to check)",
			(unsigned long long)(captured - checked));
	if (kfilter_active(&kf))
		fprintf(stderr, "; %llu filtered out in the kernel",
			(unsigned long long)(seen_total > hooked ? seen_total - hooked : 0));
	fputc('\n', stderr);
	if (run.sent + lost < hooked)
		fprintf(stderr, "rstwhy: warning: the hook saw %llu RSTs, %llu arrived, %llu lost\n",
			(unsigned long long)hooked, (unsigned long long)run.sent,
			(unsigned long long)lost);
	if (d.outrsts > checked)
		fprintf(stderr, "rstwhy: warning: %llu RSTs the kernel counted were not captured "
			"(%s)\n", (unsigned long long)(d.outrsts - checked),
			lost ? "ring buffer full: events were lost" :
			"sent before the probes were attached or by a path this kernel does not "
			"trace");
	if (env.ustack && sum_counter(skel, RW_CNT_USTACK_SKIP))
		fprintf(stderr, "rstwhy: -u: %llu user stacks not taken (the ring buffer was over "
			"half full)\n", (unsigned long long)sum_counter(skel, RW_CNT_USTACK_SKIP));
	ns_snapshot_free(&end);
}

static struct listeners lstn;
static uint32_t self_netns;	/* -P without --netns: the listeners of our own namespace */
static struct prom *prom;
static char build_labels[300];

/* captured RSTs of one namespace, for its rstwhy_captured_rsts_total */
static uint64_t captured_in(uint32_t ino)
{
	uint32_t h = ino * 2654435761u;

	for (int i = 0; i < NS_SLOTS; i++) {
		uint32_t k = (h + i) % NS_SLOTS;

		if (ns_sent[k].ino == ino || !ns_sent[k].ino)
			return ns_sent[k].ino ? ns_sent[k].sent : 0;
	}
	return 0;
}

/*
 * The (netns, port) pairs whose listeners the summary shows: the rows', -P with --netns, and
 * --watch-listeners in each watched namespace (port 0: all of them).
 */
#define POLL_MAX 2048
static void poll_listeners(const struct ns_snapshot *snap)
{
	static uint32_t ns[POLL_MAX];
	static uint16_t ports[POLL_MAX];
	int n = 0;

	for (int i = 0; i < agg.n && n < 256; i++)
		if (!agg.rows[i].remote) {
			ns[n] = agg.rows[i].netns;
			ports[n++] = agg.rows[i].port;
		}
	for (int i = 0; i < env.nports && n < POLL_MAX; i++) {
		ns[n] = env.netns ? env.netns : self_netns;
		ports[n++] = env.ports[i];
	}
	for (int j = 0; snap && j < snap->n; j++) {
		for (int i = 0; i < (env.watch.all ? 1 : env.watch.n) && n < POLL_MAX; i++) {
			ns[n] = snap->ns[j].ino;
			ports[n++] = env.watch.all ? 0 : env.watch.ports[i];
		}
	}
	listeners_poll(&lstn, ns, ports, n);
}

static uint64_t kernel_lost(struct rstwhy_bpf *skel);

/* one interval of --summary / --prometheus */
static void refresh(struct rstwhy_bpf *skel, bool kernel_agg, double elapsed)
{
	struct summary_opts so = { .json = env.json, .interval = env.summary,
				   .clear = !env.json && isatty(STDOUT_FILENO) };
	struct ns_snapshot snap = {};

	if (kernel_agg)
		run.sent += agg_poll_kernel(&agg, bpf_map__fd(skel->maps.agg),
					    bpf_map__fd(skel->maps.stacks), &run.ki, run.ks,
					    count_ns_n, wanted);
	agg_sort(&agg);
	/* the watched namespaces: their TcpOutRsts, and where --watch-listeners looks */
	if ((prom || env.watch.all || env.watch.n) &&
	    ns_snapshot_take(&snap, env.netns, env.netns_arg))
		snap.n = 0;
	poll_listeners(&snap);
	if (env.summary > 0)
		summary_print(stdout, &so, &agg, &lstn, elapsed, kernel_lost(skel));
	prom_set_netns(prom, &snap, captured_in);
	prom_update(prom, &agg, &lstn, kernel_lost(skel), run.sent, build_labels);
	ns_snapshot_free(&snap);
	agg_roll(&agg);
}

/*
 * Subcommands that are not the tracer (offline analysis, self test): each lives in its own
 * file and is declared in subcmd.h.
 */
static const struct subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
} subcmds[] = {
	SUBCMDS
	{ NULL, NULL },
};

int main(int argc, char **argv)
{
	static struct loader ld;
	struct rstwhy_bpf *skel = NULL;
	struct ring_buffer *rb = NULL;
	struct ns_snapshot start = {};
	time_t deadline = 0;
	double last_refresh = mono_secs();
	uint64_t hooked;
	int err, ret = EXIT_ENV;

	for (const struct subcmd *sc = subcmds; argc > 1 && sc->name; sc++)
		if (!strcmp(argv[1], sc->name))
			return sc->fn(argc - 1, argv + 1);
	parse_args(argc, argv);
	if (env.list_causes) {
		rw_causes_list(stdout, env.json);
		return 0;
	}
	per_event = !(env.summary > 0 || env.quiet);
	if (env.stacks && !per_event)
		die_usage("-s shows the stack of each event: it has no effect with --summary or -q");
	if (env.ustack && !per_event)
		die_usage("-u shows the user stack of each event: it has no effect with --summary "
			  "or -q");
	/* without per-event output the counts are all there is: keep them */
	aggregating = env.summary > 0 || env.prometheus || !per_event;
	if ((env.watch.all || env.watch.n) && !(env.summary > 0 || env.prometheus))
		die_usage("--watch-listeners shows listeners in --summary and --prometheus: give one");

	if (!privileged()) {
		fprintf(stderr, "rstwhy: needs root (or CAP_BPF, CAP_PERFMON, CAP_SYSLOG, "
			"CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH): run it as root or "
			"with sudo\n");
		return EXIT_ENV;
	}
	libbpf_set_print(libbpf_print);

	err = kinfo_load(&run.ki, env.btf);
	if (err) {
		if (env.btf) {
			char why[128];

			libbpf_strerror(err, why, sizeof(why));
			fprintf(stderr, "rstwhy: --btf %s: not a usable BTF file (%s)\n", env.btf,
				why);
		}
		else
			fprintf(stderr, "rstwhy: kernel %s has no BTF (/sys/kernel/btf/vmlinux): use a "
				"kernel built with CONFIG_DEBUG_INFO_BTF=y, or give this kernel's BTF "
				"with --btf PATH (e.g. from btfhub or pahole -J)\n", run.ki.release);
		return EXIT_ENV;
	}
	if (run.ki.send_reset_args < 0) {
		fprintf(stderr, "rstwhy: kernel %s has no tcp:tcp_send_reset tracepoint\n",
			run.ki.release);
		goto out;
	}
	run.ks = ksyms_load(NULL);
	if (!run.ks) {
		fprintf(stderr, "rstwhy: cannot read kernel symbol addresses from /proc/kallsyms "
			"(they read as zero without CAP_SYSLOG, or with kernel.kptr_restrict=2): run "
			"as root\n");
		goto out;
	}
	run.out.json = env.json;
	run.out.stacks = env.stacks;
	run.out.ks = run.ks;
	if (!env.json && isatty(STDOUT_FILENO)) {
		struct winsize ws;

		if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col >= 80)
			run.out.width = ws.ws_col;
	}

	{
		struct loader_opts lo = {
			.netns = env.netns, .stacks = env.stacks, .recv = env.recv,
			.egress = !env.no_egress, .egress_required = env.pcapng != NULL,
			.egress_stack_pkts = env.pcapng != NULL, .wakeup_bytes = env.wakeup_bytes,
			.attach = env.attach, .verbose = env.verbose,
			.aggregate = !per_event && !env.pcapng, .ustack = env.ustack,
			.filter = &kf,
			.existing_socks = prefill_count(env.netns),
		};
		char why[300];

		err = loader_start(&ld, &lo, &run.ki, run.ks, why, sizeof(why));
		if (err && env.attach >= ATTACH_FENTRY) {
			fprintf(stderr, "rstwhy: --attach=%s is not available on kernel %s (%s): "
				"use --attach=auto\n", attach_mode_name(env.attach), run.ki.release,
				why);
			goto out;
		} else if (err) {
			if (err == -EPERM)
				fprintf(stderr, "rstwhy: the kernel refused to load BPF programs "
					"(%s): run as root; check lockdown and "
					"kernel.unprivileged_bpf_disabled\n", why);
			else
				fprintf(stderr, "rstwhy: cannot attach to kernel %s: %s (-v shows the "
					"verifier log)\n", run.ki.release, why);
			goto out;
		}
		skel = ld.skel;
		if (env.probe) {
			loader_probe(&ld, &lo, &run.ki, run.ks, env.json, stdout);
			ret = 0;
			goto out;
		}
	}
	if (env.verbose)
		loader_print_plan(&ld, &run.ki, stderr);

	listeners_fd = bpf_map__fd(skel->maps.listeners);
	if (env.pcapng) {
		pcap = pcapng_open(env.pcapng);
		if (!pcap) {
			fprintf(stderr, "rstwhy: --pcapng %s: %s\n", env.pcapng, strerror(errno));
			goto out;
		}
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), handle_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "rstwhy: cannot set up the ring buffer: %s\n", strerror(errno));
		goto out;
	}

	{
		int nl = 0, nt = 0;
		double t0 = mono_secs(), c0 = cpu_secs();

		prefill_owners(bpf_map__fd(skel->maps.listeners), bpf_map__fd(skel->maps.tuple_owners),
			       env.netns, &kf, &nl, &nt);
		if (env.verbose)
			fprintf(stderr, "rstwhy: owners of existing sockets (sock_diag, /proc/PID/fd): "
				"%d listeners, %d connections, in %.0f ms (%.0f ms of CPU)\n", nl, nt,
				(mono_secs() - t0) * 1000, (cpu_secs() - c0) * 1000);
	}
	{
		struct stat st;

		if (!stat("/proc/thread-self/ns/net", &st))
			self_netns = st.st_ino;
	}
	if (aggregating && listeners_init(&lstn)) {
		fprintf(stderr, "rstwhy: cannot open this thread's network namespace: %s\n",
			strerror(errno));
		goto out;
	}
	snprintf(build_labels, sizeof(build_labels), "version=\"%s\",kernel=\"%s\","
		 "tracepoints=\"%s\",passive=\"%s\"", RSTWHY_VERSION, run.ki.release,
		 tp_flavor_name(ld.flavor),
		 attach_mode_name(ld.passive));
	if (env.prometheus) {
		char perr[300];

		prom = prom_start(&prom_addr, prom_addrlen, env.prom_max_series, perr,
				  sizeof(perr));
		if (!prom) {
			fprintf(stderr, "rstwhy: --prometheus %s: %s\n", env.prometheus, perr);
			goto out;
		}
		prom_update(prom, &agg, &lstn, 0, 0, build_labels);
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ns_snapshot_take(&start, env.netns, env.netns_arg);
	run.mono_to_real = mono_to_real_offset();
	if (env.ready_file && loader_write_ready(&ld, &run.ki, env.ready_file))
		goto out;
	if (per_event)
		out_table_header(stdout, &run.out);
	fflush(stdout);
	if (env.duration)
		deadline = time(NULL) + env.duration;

	while (!exiting) {
		err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "rstwhy: reading events failed: %s\n", strerror(-err));
			goto out;
		}
		/* producers do not wake us for each event: drain what is there */
		ring_buffer__consume(rb);
		flush_held(false);
		pcap_expire(false);
		round_no++;
		fflush(stdout);
		if (aggregating) {
			double now = mono_secs(), period = env.summary > 0 ? env.summary : 1.0;

			if (now - last_refresh >= period) {
				refresh(skel, ld.aggregate, now - last_refresh);
				last_refresh = now;
			}
		}
		if (deadline && time(NULL) >= deadline)
			break;
	}
	hooked = sum_counter(skel, RW_CNT_SENT);
	ring_buffer__consume(rb);
	flush_held(true);
	pcap_expire(true);
	if (aggregating)
		refresh(skel, ld.aggregate, mono_secs() - last_refresh);
	if (ld.aggregate) {
		/* counted in the kernel: the closing summary's numbers come from the rows */
		memset(run.by_cause, 0, sizeof(run.by_cause));
		run.shown = 0;
		for (int i = 0; i < agg.n; i++) {
			if (!agg.rows[i].received)
				run.by_cause[agg.rows[i].cause] += agg.rows[i].total;
			else
				run.recv += agg.rows[i].total;
			run.shown += agg.rows[i].total;
		}
	}
	fflush(stdout);
	print_summary(skel, &start, hooked);
	ret = 0;
out:
	prom_stop(prom);
	ring_buffer__free(rb);
	ustack_free_all();
	pcapng_close(pcap);
	if (aggregating)
		listeners_free(&lstn);
	agg_free(&agg);
	loader_stop(&ld);
	ns_snapshot_free(&start);
	ksyms_free(run.ks);
	kinfo_free(&run.ki);
	return ret;
}
