// SPDX-License-Identifier: GPL-2.0
/*
 * rstwhy's command line: the tracer's options (struct env), --help, --version and
 * `rstwhy help [SUBCOMMAND]`. Every option with a value takes it as `--opt V` or `--opt=V`
 * (getopt_long); --summary's value is optional: `--summary=5`, or `--summary 5` when the next
 * argument is a number.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>
#include "classify.h"
#include "explain.h"
#include "cli.h"
#include "netns.h"
#include "prom.h"
#include "subcmd.h"
#include "util.h"

const struct subcmd subcmds[] = {
	SUBCMDS
	{ NULL, NULL, NULL },
};

static const char usage[] =
"Usage: rstwhy [OPTION...]\n"
"       rstwhy SUBCOMMAND [ARG...]     (rstwhy help SUBCOMMAND)\n"
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
"                             lines); counted in the kernel, no per-event output.\n"
"                             `--summary 5` works too: a number after it is its interval\n"
"  -q, --quiet                no per-event output (with --prometheus)\n"
"      --prometheus ADDR:PORT serve /metrics (e.g. 127.0.0.1:9464, [::1]:9464, :9464)\n"
"      --prom-max-series N    at most N rstwhy_rst_total series, the rest fold into\n"
"                             port=\"other\" (default 1000)\n"
"      --watch-listeners all|PORT[,PORT...]\n"
"                             listener health (accept queue, drops, ListenOverflows) of\n"
"                             every listener, or those on PORTs, in the watched namespaces,\n"
"                             with or without RSTs (at most 512 listeners); events are not\n"
"                             filtered\n"
"      --stats-file PATH      at exit, write the closing summary to PATH as one JSON object\n"
"  -v, --verbose              print the attach plan and libbpf messages\n"
"      --list-causes          the causes, one per line: id, origin, meaning (-j: JSON)\n"
"  -V, --version              rstwhy's version, libbpf's, and the kernel it runs on\n"
"  -h, --help                 this text\n"
"Options with a value take it as `--opt VALUE` or `--opt=VALUE`.\n"
"\n"
"Examples:\n"
"  rstwhy                       live table of RSTs sent, every network namespace\n"
"  rstwhy -j > rst.jsonl        one JSON object per RST\n"
"  rstwhy -P 51244 -s           RSTs on port 51244, with kernel stacks\n"
"  rstwhy -P 51244 -u           ... and the code in the application that closed the socket\n"
"  rstwhy --cause close-unread,close-linger0 -p 812\n"
"  rstwhy --netns /run/netns/web -d 60\n"
"\n";

static const char usage_tail[] =
"\n"
"On SIGINT/SIGTERM: flush, print a summary on stderr (events by cause, captured against the\n"
"kernel's TcpOutRsts), exit 0. A reader that goes away (rstwhy -j | head -1) ends rstwhy\n"
"quietly, also with 0.\n"
"Exit 1: environment error (privileges, BTF), or an output that failed (disk full, I/O\n"
"error: one line on stderr, the closing summary says what was really written). 2: bad usage.\n";

static void print_usage(FILE *f)
{
	fputs(usage, f);
	fputs("Subcommands:\n", f);
	for (const struct subcmd *sc = subcmds; sc->name; sc++)
		fprintf(f, "  %-10s %s\n", sc->name, sc->what ? sc->what : "");
	fputs("  help       rstwhy help SUBCOMMAND: that subcommand's options\n\n", f);
	rw_causes_help(f);
	fputs(usage_tail, f);
}

void die_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("rstwhy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see rstwhy --help)\n", stderr);
	exit(EXIT_USAGE);
}

void cli_version(void)
{
	struct utsname u;
	struct stat st;

	printf("rstwhy %s\n", RSTWHY_VERSION);
	printf("libbpf %u.%u\n", libbpf_major_version(), libbpf_minor_version());
	if (uname(&u))
		return;
	printf("kernel %s %s, BTF %s\n", u.release, u.machine,
	       stat("/sys/kernel/btf/vmlinux", &st) ? "missing (/sys/kernel/btf/vmlinux; "
	       "give one with --btf)" : "present (/sys/kernel/btf/vmlinux)");
}

int cli_help(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "help")) {
		print_usage(stdout);
		return EXIT_OK;
	}
	for (const struct subcmd *sc = subcmds; sc->name; sc++) {
		if (!strcmp(argv[1], sc->name)) {
			char *args[] = { argv[1], "--help", NULL };

			return sc->fn(2, args);
		}
	}
	fprintf(stderr, "rstwhy help %s: no such subcommand (rstwhy --help lists them)\n",
		argv[1]);
	return EXIT_USAGE;
}

enum { OPT_READY = 1000, OPT_NETNS, OPT_CAUSE, OPT_WAKEUP, OPT_PCAPNG, OPT_NO_EGRESS, OPT_PROBE,
       OPT_ATTACH, OPT_BTF, OPT_SUMMARY, OPT_PROM, OPT_PROM_MAX, OPT_STATS, OPT_LIST_CAUSES,
       OPT_COMM, OPT_WATCH };

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
	{ "version", no_argument, NULL, 'V' },
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
	{ "stats-file", required_argument, NULL, OPT_STATS },
	{ "list-causes", no_argument, NULL, OPT_LIST_CAUSES },
	{ "watch-listeners", required_argument, NULL, OPT_WATCH },
	/* for measurements: wake the consumer once this many bytes wait (1: every event) */
	{ "wakeup-bytes", required_argument, NULL, OPT_WAKEUP },
	{},
};

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

static void parse_list(struct env *env, const char *opt, const char *arg,
		       void (*one)(struct env *env, const char *opt, const char *tok))
{
	char *copy = strdup(arg), *save = NULL, *tok;
	int n = 0;

	if (!copy)
		die_usage("out of memory");
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++)
		one(env, opt, tok);
	free(copy);
	if (!n)
		die_usage("%s '%s': expected a comma-separated list", opt, arg);
}

static void add_port(struct env *env, const char *opt, const char *tok)
{
	if (env->nports == MAX_PORTS)
		die_usage("%s: at most %d ports", opt, MAX_PORTS);
	env->ports[env->nports++] = parse_long(opt, tok, 1, 65535);
}

static void add_cause(struct env *env, const char *opt, const char *tok)
{
	int c = rw_cause_from_name(tok);

	if (c < 0)
		die_usage("%s %s: no such cause (the list is in --help)", opt, tok);
	env->causes |= 1u << c;
}

/* a --summary interval: false when s is not a number */
static bool summary_secs(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return !errno && end != s && !*end;
}

static void parse_summary(struct env *env, int argc, char **argv)
{
	const char *arg = optarg;
	double next;

	env->summary = 2;
	/* `--summary 5`: the next argument is the interval when it is a number */
	if (!arg && optind < argc && summary_secs(argv[optind], &next))
		arg = argv[optind++];
	if (arg && (!summary_secs(arg, &env->summary) || !(env->summary >= 0.1) ||
		    env->summary > 3600))
		die_usage("--summary=%s: the interval is a number of seconds from 0.1 to 3600",
			  arg);
}

void cli_parse(int argc, char **argv, struct env *env)
{
	char err[300];
	int c;

	*env = (struct env){ .pid = -1, .wakeup_bytes = -1, .prom_max_series = 1000,
			     .kf = { .cgroup_fd = -1 } };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jp:P:46rsud:vVhqc:", long_opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			env->json = true;
			break;
		case 'v':
			env->verbose = true;
			break;
		case 'V':
			cli_version();
			exit(EXIT_OK);
		case 's':
			env->stacks = true;
			break;
		case 'u':
			env->ustack = true;
			break;
		case 'r':
			env->recv = true;
			break;
		case '4':
			env->v4 = true;
			break;
		case '6':
			env->v6 = true;
			break;
		case 'h':
			print_usage(stdout);
			exit(EXIT_OK);
		case OPT_READY:
			env->ready_file = optarg;
			break;
		case OPT_NETNS:
			env->netns_arg = optarg;
			env->netns = ns_resolve(optarg, err, sizeof(err));
			if (!env->netns)
				die_usage("%s", err);
			break;
		case 'p':
			env->pid = parse_long("-p", optarg, 1, INT_MAX);
			break;
		case 'd':
			env->duration = parse_long("-d", optarg, 1, 365L * 24 * 3600);
			break;
		case 'P':
			parse_list(env, "-P", optarg, add_port);
			break;
		case OPT_CAUSE:
			parse_list(env, "--cause", optarg, add_cause);
			break;
		case 'c':
			if (env->kf.cgroup_fd >= 0)
				die_usage("-c: one cgroup only");
			if (kfilter_open_cgroup(&env->kf, optarg, err, sizeof(err)))
				die_usage("%s", err);
			break;
		case OPT_COMM:
			if (!optarg[0] || strlen(optarg) >= RW_COMM_LEN)
				die_usage("--comm '%s': a process name has 1 to %d bytes", optarg,
					  RW_COMM_LEN - 1);
			env->comm = optarg;
			break;
		case OPT_PCAPNG:
			env->pcapng = optarg;
			break;
		case OPT_NO_EGRESS:
			env->no_egress = true;
			break;
		case OPT_PROBE:
			env->probe = true;
			break;
		case OPT_ATTACH: {
			int m = attach_mode_from_name(optarg);

			if (m < 0)
				die_usage("--attach %s: expected auto, tracepoint, fentry or "
					  "kprobe", optarg);
			env->attach = m;
			break;
		}
		case 'q':
			env->quiet = true;
			break;
		case OPT_SUMMARY:
			parse_summary(env, argc, argv);
			break;
		case OPT_PROM:
			if (prom_parse_addr(optarg, &env->prom_addr, &env->prom_addrlen, err,
					    sizeof(err)))
				die_usage("%s", err);
			env->prometheus = optarg;
			break;
		case OPT_PROM_MAX:
			env->prom_max_series = parse_long("--prom-max-series", optarg, 1, 100000);
			break;
		case OPT_WATCH:
			if (listeners_watch_parse(&env->watch, optarg, err, sizeof(err)))
				die_usage("%s", err);
			break;
		case OPT_STATS:
			env->stats_file = optarg;
			break;
		case OPT_LIST_CAUSES:
			env->list_causes = true;
			break;
		case OPT_BTF:
			if (access(optarg, R_OK))
				die_usage("--btf %s: %s", optarg, strerror(errno));
			env->btf = optarg;
			break;
		case OPT_WAKEUP:
			env->wakeup_bytes = parse_long("--wakeup-bytes", optarg, 0, 1L << 30);
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
	if (env->v4 && env->v6)
		env->v4 = env->v6 = false;	/* both: no family filter */
	/* the filters the kernel applies itself */
	env->kf.family = env->v4 ? AF_INET : env->v6 ? AF_INET6 : 0;
	env->kf.nports = env->nports;
	memcpy(env->kf.ports, env->ports, sizeof(env->ports[0]) * env->nports);
	env->kf.tgid = env->pid > 0 ? env->pid : 0;
	env->kf.comm = env->comm;
	env->kf.causes = env->causes;
	env->kf.recv = env->recv;
	/* a numeric --netns has no path: counters are then found by enumeration */
	if (env->netns_arg && env->netns_arg[0] != '/')
		env->netns_arg = NULL;
	env->per_event = !(env->summary > 0 || env->quiet);
	if (env->stacks && !env->per_event)
		die_usage("-s shows the stack of each event: it has no effect with --summary or "
			  "-q");
	if (env->ustack && !env->per_event)
		die_usage("-u shows the user stack of each event: it has no effect with --summary "
			  "or -q");
	/* without per-event output the counts are all there is: keep them */
	env->aggregating = env->summary > 0 || env->prometheus || !env->per_event;
	if ((env->watch.all || env->watch.n) && !(env->summary > 0 || env->prometheus))
		die_usage("--watch-listeners shows listeners in --summary and --prometheus: give one");
}
