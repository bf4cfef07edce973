// SPDX-License-Identifier: GPL-2.0
/*
 * rstwhy: for every TCP RST this host sends, who decided it and why.
 *
 * parse the command line (cli.c) -> kernel facts (kinfo.c, ksyms.c) -> open, configure, load,
 * attach (loader.c) -> the event pipeline and its sinks (pipeline.c, sink_*.c) -> consume the
 * ring buffer on a timer; on SIGINT/SIGTERM, --duration or when the outputs are gone: drain,
 * flush, the closing summary, clean up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "rstwhy.skel.h"
#include "cli.h"
#include "explain.h"
#include "kinfo.h"
#include "ksyms.h"
#include "loader.h"
#include "netns.h"
#include "pipeline.h"
#include "prefill.h"
#include "subcmd.h"
#include "ustack.h"
#include "util.h"

static volatile sig_atomic_t exiting;
static bool verbose;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	/* errors are reported in our own words; -v shows libbpf's (the verifier log among them) */
	if (!verbose || (level == LIBBPF_DEBUG && !getenv("RSTWHY_LIBBPF_DEBUG")))
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void on_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

/* root, or the capabilities we need */
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

/* the kernel's BTF, its tracepoint and symbols; 0 or an exit status after one line */
/*
 * /proc/kallsyms takes about 100 ms to read: it is read by a thread while BTF is parsed and the
 * programs load, and waited for only where it is needed (kprobes need addresses to attach).
 */
struct ksyms_job {
	pthread_t thread;
	bool started;
	struct ksyms *ks;
};

static void *ksyms_thread(void *arg)
{
	struct ksyms_job *j = arg;

	j->ks = ksyms_load(NULL);
	return NULL;
}

static void ksyms_start(struct ksyms_job *j)
{
	j->started = !pthread_create(&j->thread, NULL, ksyms_thread, j);
	if (!j->started)
		ksyms_thread(j);
}

/* the symbols, or NULL after one line */
static struct ksyms *ksyms_wait(struct ksyms_job *j)
{
	if (j->started) {
		pthread_join(j->thread, NULL);
		j->started = false;
	}
	if (!j->ks)
		fprintf(stderr, "rstwhy: cannot read kernel symbol addresses from /proc/kallsyms "
			"(they read as zero without CAP_SYSLOG, or with kernel.kptr_restrict=2): "
			"run as root\n");
	return j->ks;
}

static int kernel_facts(const struct env *env, struct kinfo *ki)
{
	int err = kinfo_load(ki, env->btf);

	if (err) {
		if (env->btf) {
			char why[128];

			libbpf_strerror(err, why, sizeof(why));
			fprintf(stderr, "rstwhy: --btf %s: not a usable BTF file (%s)\n", env->btf,
				why);
		} else {
			fprintf(stderr, "rstwhy: kernel %s has no BTF (/sys/kernel/btf/vmlinux): use "
				"a kernel built with CONFIG_DEBUG_INFO_BTF=y, or give this kernel's "
				"BTF with --btf PATH (e.g. from btfhub or pahole -J)\n", ki->release);
		}
		return EXIT_ENV;
	}
	if (ki->send_reset_args < 0) {
		fprintf(stderr, "rstwhy: kernel %s has no tcp:tcp_send_reset tracepoint\n",
			ki->release);
		return EXIT_ENV;
	}
	return 0;
}

/* whether loading may attach kprobes (which need kallsyms addresses) */
static bool may_kprobe(const struct env *env, const struct kinfo *ki)
{
	return env->probe || env->attach == ATTACH_KPROBE ||
	       (env->attach == ATTACH_AUTO && ki->send_reset_args < 3);
}

/* RSTWHY_SEED=proc: owners at start from sock_diag and /proc, as without the iterator */
static bool seed_forced_proc(void)
{
	const char *s = getenv("RSTWHY_SEED");

	return s && !strcmp(s, "proc");
}

/* the environment's settings: 0, or EXIT_USAGE after one line */
static int check_environment(void)
{
	const char *s = getenv("RSTWHY_SEED");

	if (s && *s && strcmp(s, "proc")) {
		fprintf(stderr, "rstwhy: RSTWHY_SEED=%s: the only value is proc (owners of existing "
			"sockets from sock_diag and /proc)\n", s);
		return EXIT_USAGE;
	}
	return 0;
}

/* open, configure, load and attach; 0 or -1 after one line */
static int load(const struct env *env, struct loader *ld, const struct kinfo *ki,
		const struct ksyms *ks)
{
	struct loader_opts lo = {
		.netns = env->netns, .stacks = env->stacks, .recv = env->recv,
		.egress = !env->no_egress, .egress_required = env->pcapng != NULL,
		.egress_stack_pkts = env->pcapng != NULL, .wakeup_bytes = env->wakeup_bytes,
		.attach = env->attach, .verbose = env->verbose,
		.aggregate = !env->per_event && !env->pcapng, .ustack = env->ustack,
		.filter = &env->kf, .existing_socks = prefill_count(env->netns),
		.seed_iter = ki->task_file_iter && !seed_forced_proc(),
		.seed_cgroup_id = prefill_cgroup_id(&env->kf),
	};
	char why[300];
	int err = loader_start(ld, &lo, ki, ks, why, sizeof(why));

	if (err && env->attach >= ATTACH_FENTRY)
		fprintf(stderr, "rstwhy: --attach=%s is not available on kernel %s (%s): use "
			"--attach=auto\n", attach_mode_name(env->attach), ki->release, why);
	else if (err == -EPERM)
		fprintf(stderr, "rstwhy: the kernel refused to load BPF programs (%s): run as "
			"root; check lockdown and kernel.unprivileged_bpf_disabled\n", why);
	else if (err)
		fprintf(stderr, "rstwhy: cannot attach to kernel %s: %s (-v shows the verifier "
			"log)\n", ki->release, why);
	if (err)
		return -1;
	if (env->probe) {
		loader_probe(ld, &lo, ki, ks, env->json, stdout);
	} else if (env->verbose) {
		loader_print_plan(ld, ki, stderr);
	}
	return 0;
}

/* the owners of sockets that exist already: the seeding iterator, or sock_diag and /proc */
static void prefill(const struct env *env, const struct loader *ld)
{
	struct rstwhy_bpf *skel = ld->skel;
	double t0 = mono_secs(), c0 = cpu_secs();
	const char *how = "BPF iterator over open files";
	int nl = 0, nt = 0;
	long failed = 0;

	if (!ld->seed_iter) {
		how = "sock_diag, /proc/PID/fd";
		prefill_owners(bpf_map__fd(skel->maps.listeners),
			       bpf_map__fd(skel->maps.tuple_owners), env->netns, &env->kf, &nl,
			       &nt);
	} else if (prefill_run_iter(skel->progs.rw_seed_even, skel->progs.rw_seed_odd, &nl, &nt,
				    &failed)) {
		/* loaded, but the walk failed: the 4-tuple map was not sized for a fallback */
		fprintf(stderr, "rstwhy: warning: the owners of sockets that existed at start could "
			"not all be read (%s): they show as the listener's or none\n",
			strerror(errno));
	} else if (failed) {
		fprintf(stderr, "rstwhy: warning: the owners of %ld existing connections could "
			"not be recorded\n", failed);
	}
	if (env->verbose)
		fprintf(stderr, "rstwhy: owners of existing sockets (%s): %d listeners, "
			"%d connections, in %.0f ms (%.0f ms of CPU)\n", how, nl, nt,
			(mono_secs() - t0) * 1000, (cpu_secs() - c0) * 1000);
}

/* consume until a signal, --duration, or the outputs are gone; 0 or -1 after one line */
static int poll_loop(const struct env *env, struct ring_buffer *rb, struct pipeline *p)
{
	time_t deadline = env->duration ? time(NULL) + env->duration : 0;

	while (!exiting && !p->stop) {
		int err = ring_buffer__poll(rb, 100);

		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "rstwhy: reading events failed: %s\n", strerror(-err));
			return -1;
		}
		/* producers do not wake us for each event: drain what is there */
		ring_buffer__consume(rb);
		pipeline_tick(p, false);
		if (deadline && time(NULL) >= deadline)
			break;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct env env;
	static struct loader ld;
	static struct kinfo ki;
	struct pipeline *p = NULL;
	struct ksyms *ks = NULL;
	struct ksyms_job ksj = {};
	struct ring_buffer *rb = NULL;
	struct ns_snapshot start = {};
	uint64_t hooked;
	int ret = EXIT_ENV;
	double t_start = mono_secs(), t_facts, t_load, t_seed;

	for (const struct subcmd *sc = subcmds; argc > 1 && sc->name; sc++)
		if (!strcmp(argv[1], sc->name))
			return sc->fn(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "help"))
		return cli_help(argc - 1, argv + 1);
	cli_parse(argc, argv, &env);
	verbose = env.verbose;
	if (check_environment())
		return EXIT_USAGE;
	if (env.list_causes) {
		rw_causes_list(stdout, env.json);
		return EXIT_OK;
	}

	if (!privileged()) {
		fprintf(stderr, "rstwhy: needs root (or CAP_BPF, CAP_PERFMON, CAP_SYSLOG, "
			"CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH): run it as root or "
			"with sudo\n");
		return EXIT_ENV;
	}
	libbpf_set_print(libbpf_print);
	ksyms_start(&ksj);
	if (kernel_facts(&env, &ki))
		goto out;
	t_facts = mono_secs();
	if (may_kprobe(&env, &ki) && !(ks = ksyms_wait(&ksj)))
		goto out;
	if (load(&env, &ld, &ki, ks))
		goto out;
	if (!ks && !(ks = ksyms_wait(&ksj)))
		goto out;
	t_load = mono_secs();
	if (env.probe) {
		ret = EXIT_OK;
		goto out;
	}
	/* a write to a reader that went away fails with EPIPE: the sink says so, we end */
	signal(SIGPIPE, SIG_IGN);
	p = calloc(1, sizeof(*p));
	if (!p) {
		fprintf(stderr, "rstwhy: out of memory\n");
		goto out;
	}
	p->mono_to_real = mono_to_real_offset();
	if (pipeline_open(p, &env, &ki, ks, ld.skel, &ld))
		goto out;
	rb = ring_buffer__new(bpf_map__fd(ld.skel->maps.events), pipeline_handle_event, p, NULL);
	if (!rb) {
		fprintf(stderr, "rstwhy: cannot set up the ring buffer: %s\n", strerror(errno));
		goto out;
	}
	t_seed = mono_secs();
	prefill(&env, &ld);
	t_seed = mono_secs() - t_seed;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ns_snapshot_take(&start, env.netns, env.netns_arg);
	if (env.netns && !start.n)
		fprintf(stderr, "rstwhy: warning: --netns %u: no process and no /run/netns entry "
			"is in a network namespace with that inode: nothing may be traced\n",
			env.netns);
	p->mono_to_real = mono_to_real_offset();
	if (env.ready_file && loader_write_ready(&ld, &ki, env.ready_file))
		goto out;
	if (env.verbose)
		fprintf(stderr, "rstwhy: ready %.0f ms after start: kernel facts (BTF) "
			"%.0f ms, BPF load and attach %.0f ms, existing owners %.0f ms\n",
			(mono_secs() - t_start) * 1000, (t_facts - t_start) * 1000,
			(t_load - t_facts) * 1000, t_seed * 1000);
	if (poll_loop(&env, rb, p))
		goto out;

	hooked = pipeline_counter(p, RW_CNT_SENT);
	ring_buffer__consume(rb);
	pipeline_tick(p, true);
	pipeline_close(p);
	ret = pipeline_closing(p, &start, hooked) || p->failed ? EXIT_ENV : EXIT_OK;
out:
	if (p) {
		pipeline_close(p);
		pipeline_free(p);
		free(p);
	}
	ring_buffer__free(rb);
	ustack_free_all();
	loader_stop(&ld);
	ns_snapshot_free(&start);
	if (ksj.started)
		pthread_join(ksj.thread, NULL);
	ksyms_free(ksj.ks);
	kinfo_free(&ki);
	return ret;
}
