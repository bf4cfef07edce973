// SPDX-License-Identifier: GPL-2.0
/*
 * The attach plan. Candidates are tried for real, in order of preference, until one loads and
 * attaches: the tracepoint flavour (tp_btf, raw_tp, classic tracepoint) and, where the
 * tcp:tcp_send_reset tracepoint misses resets with no full socket (before 6.10), a hook on
 * tcp_v4/v6_send_reset (fentry, then kprobe). What could not be had is written down with what
 * it costs the user.
 *
 * Two tables make every plan: the ways to attach (the tracepoint flavours, the passive-reset
 * modes), each with its attach function, and the hooks, each with its BPF program for every
 * way it can be attached. A new way to attach is one BPF program per hook it serves, one enum
 * value (loader.h) and one row.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "rstwhy.skel.h"
#include "loader.h"
#include "kfilter.h"

/* ---- ways to attach ----------------------------------------------------------------------- */

struct kind {
	const char *name;
	bool kernel_btf;		/* needs the running kernel's own BTF */
	/* 0, or -errno with the reason in err: checked before anything is loaded */
	int (*check)(const char *target, const struct ksyms *ks, char *err, size_t errlen);
	/* NULL: no program of its own (passive resets through tcp:tcp_send_reset) */
	struct bpf_link *(*attach)(struct bpf_program *p, const char *target,
				   const struct ksyms *ks);
	const char *enoent;		/* added when attaching fails with ENOENT or EOPNOTSUPP */
};

/* the section name says where (tp_btf/..., raw_tp/..., tracepoint/..., fentry/...) */
static struct bpf_link *attach_by_section(struct bpf_program *p, const char *target,
					  const struct ksyms *ks)
{
	return bpf_program__attach(p);
}

/* tcp_v4_send_reset may be renamed by the compiler (.isra, .constprop): attach to that name */
static int kprobe_check(const char *fn, const struct ksyms *ks, char *err, size_t errlen)
{
	if (ksyms_find_function(ks, fn))
		return 0;
	snprintf(err, errlen, "kprobe: %s is not in /proc/kallsyms", fn);
	return -ENOENT;
}

static struct bpf_link *attach_kprobe(struct bpf_program *p, const char *fn,
				      const struct ksyms *ks)
{
	return bpf_program__attach_kprobe(p, false, ksyms_find_function(ks, fn));
}

/* tracepoint flavours: every tracepoint hook of a plan is attached in one of them */
static const struct kind flavors[TPF__N] = {
	[TPF_BTF] = { "tp_btf", true, NULL, attach_by_section, NULL },
	[TPF_RAW] = { "raw_tp", false, NULL, attach_by_section, NULL },
	[TPF_CLASSIC] = { "tracepoint", false, NULL, attach_by_section, NULL },
};

/* how passive resets are seen; the modes with an attach function hook tcp_v4/v6_send_reset */
static const struct kind modes[ATTACH__N] = {
	[ATTACH_AUTO] = { "auto", false, NULL, NULL, NULL },
	[ATTACH_TRACEPOINT] = { "tracepoint", false, NULL, NULL, NULL },
	[ATTACH_FENTRY] = { "fentry", true, NULL, attach_by_section, NULL },
	[ATTACH_KPROBE] = { "kprobe", false, kprobe_check, attach_kprobe,
			    " (this kernel has no kprobe support)" },
};

const char *attach_mode_name(enum attach_mode m)
{
	return m > ATTACH_AUTO && m < ATTACH__N ? modes[m].name : modes[ATTACH_AUTO].name;
}

const char *tp_flavor_name(enum tp_flavor f)
{
	return f < TPF__N ? flavors[f].name : "?";
}

int attach_mode_from_name(const char *s)
{
	for (int i = 0; i < ATTACH__N; i++)
		if (!strcmp(s, modes[i].name))
			return i;
	return -1;
}

/* ---- hooks -------------------------------------------------------------------------------- */

/* a program of the skeleton, by its place in struct rstwhy_bpf (off 0: none) */
struct prog_ref {
	size_t off;
	const char *name;
};
#define PROG(n) { offsetof(struct rstwhy_bpf, progs.n) + 1, #n }

static struct bpf_program *prog_get(struct rstwhy_bpf *skel, const struct prog_ref *r)
{
	return r->off ? *(struct bpf_program **)((char *)skel + r->off - 1) : NULL;
}

enum hook_class {
	HC_TP,		/* a tracepoint in the plan's flavour: prog[] by enum tp_flavor */
	HC_SYSCALL,	/* a syscall tracepoint, classic whatever the flavour: prog[TPF_CLASSIC] */
	HC_PASSIVE,	/* tcp_v4/v6_send_reset in the plan's passive mode: prog[] by attach_mode */
};

enum hook_need {
	NEED_ALWAYS,	/* wanted; the plan fails without it */
	NEED_OPTIONAL,	/* wanted; the plan goes on without it, at its cost */
	NEED_RECV,	/* wanted and needed with -r */
	NEED_EGRESS,	/* wanted unless --no-egress; needed with --pcapng */
};

#define KINDS_MAX 4
_Static_assert(TPF__N <= KINDS_MAX && ATTACH__N <= KINDS_MAX, "prog[] too small");

struct hook_def {
	const char *name;
	enum hook_class cls;
	enum kinfo_tp tp;		/* HC_TP: must exist in this kernel */
	enum hook_need need;
	struct prog_ref prog[KINDS_MAX];
	const char *cost;		/* what the user loses without it */
};

#define ACCEPT_COST "accepted sockets the application never used are attributed to the " \
	"listener's owner"
#define SENDRECV_COST "owners of accepted connections come from accept or the listener"

static const struct hook_def hook_defs[] = {
	{ "tcp:tcp_send_reset", HC_TP, KTP_SEND_RESET, NEED_ALWAYS,
	  { PROG(rw_send_reset), PROG(rw_send_reset_raw), PROG(rw_send_reset_tp) }, NULL },
	{ "tcp:tcp_receive_reset", HC_TP, KTP_RECV_RESET, NEED_RECV,
	  { PROG(rw_recv_reset), PROG(rw_recv_reset_raw), PROG(rw_recv_reset_tp) },
	  "-r cannot show received RSTs" },
	{ "sock:inet_sock_set_state", HC_TP, KTP_SET_STATE, NEED_OPTIONAL,
	  { PROG(rw_set_state), PROG(rw_set_state_raw), PROG(rw_set_state_tp) },
	  "no state before the reset for closed sockets; owners only from send/recv and "
	  "listeners" },
	{ "sock:sock_send_length", HC_TP, KTP_SEND_LENGTH, NEED_OPTIONAL,
	  { [TPF_BTF] = PROG(rw_sock_send) }, SENDRECV_COST },
	{ "sock:sock_recv_length", HC_TP, KTP_RECV_LENGTH, NEED_OPTIONAL,
	  { [TPF_BTF] = PROG(rw_sock_recv) }, SENDRECV_COST },
	{ "tcp:tcp_destroy_sock", HC_TP, KTP_DESTROY_SOCK, NEED_OPTIONAL,
	  { PROG(rw_destroy), PROG(rw_destroy_raw), PROG(rw_destroy_tp) },
	  "owner records of closed sockets age out by LRU only" },
	{ "net:net_dev_queue", HC_TP, KTP_DEV_QUEUE, NEED_EGRESS,
	  { PROG(rw_dev_queue), PROG(rw_dev_queue_raw), PROG(rw_dev_queue_tp) },
	  "firewall and injected RSTs are not seen; --pcapng has no packets" },
	{ "syscalls/sys_exit_accept4", HC_SYSCALL, 0, NEED_OPTIONAL,
	  { [TPF_CLASSIC] = PROG(rw_accept4) }, ACCEPT_COST },
	{ "syscalls/sys_exit_accept", HC_SYSCALL, 0, NEED_OPTIONAL,
	  { [TPF_CLASSIC] = PROG(rw_accept) }, ACCEPT_COST },
	{ "tcp_v4_send_reset", HC_PASSIVE, 0, NEED_ALWAYS,
	  { [ATTACH_FENTRY] = PROG(rw_v4_reset_fentry), [ATTACH_KPROBE] = PROG(rw_v4_reset_kprobe) },
	  NULL },
	{ "tcp_v6_send_reset", HC_PASSIVE, 0, NEED_ALWAYS,
	  { [ATTACH_FENTRY] = PROG(rw_v6_reset_fentry), [ATTACH_KPROBE] = PROG(rw_v6_reset_kprobe) },
	  NULL },
};
#define NHOOKS ((int)(sizeof(hook_defs) / sizeof(hook_defs[0])))
_Static_assert(NHOOKS <= LOADER_MAX_HOOKS, "LOADER_MAX_HOOKS too small");

/* what tcp:tcp_send_reset misses before 6.10: resets with no socket or a timewait socket */
static const enum rw_cause gap_causes[] = {
	C_NO_LISTENER, C_NO_CONNECTION, C_TIMEWAIT, C_DATA_AFTER_CLOSE,
};
#define NGAP ((int)(sizeof(gap_causes) / sizeof(gap_causes[0])))

#define GAP_WHAT "RSTs with no socket or a timewait socket"

/* the causes of the gap, "no-listener, no-connection, ..." */
static const char *gap_list(void)
{
	static char buf[120];

	if (!*buf)
		for (int i = 0, n = 0; i < NGAP && n < (int)sizeof(buf); i++)
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? ", " : "",
				      rw_cause_name(gap_causes[i]));
	return buf;
}

/* what tcp:tcp_send_reset misses when it is all there is */
static const char *gap_misses(void)
{
	static char buf[200];

	if (!*buf)
		snprintf(buf, sizeof(buf), GAP_WHAT " (%s)", gap_list());
	return buf;
}

static bool hook_wanted(const struct loader *l, const struct hook_def *h,
			const struct loader_opts *o)
{
	/*
	 * Socket-local storage goes with the socket (nothing to forget on destroy), and classic
	 * syscall tracepoints cannot reach it.
	 */
	if (l->sk_storage && (h->cls == HC_SYSCALL || h->tp == KTP_DESTROY_SOCK))
		return false;
	return h->need == NEED_RECV ? o->recv : h->need == NEED_EGRESS ? o->egress : true;
}

static bool hook_required(const struct hook_def *h, const struct loader_opts *o)
{
	return h->need == NEED_ALWAYS || h->need == NEED_RECV ||
	       (h->need == NEED_EGRESS && o->egress_required);
}

/* how this hook is attached in the plan: the kind, and its program's index in prog[] */
static const struct kind *hook_kind(const struct hook_def *h, enum tp_flavor fl,
				    enum attach_mode passive, int *idx)
{
	switch (h->cls) {
	case HC_TP:
		*idx = fl;
		return &flavors[fl];
	case HC_SYSCALL:
		*idx = TPF_CLASSIC;
		return &flavors[TPF_CLASSIC];
	default:
		*idx = passive;
		return &modes[passive];
	}
}

/* ---- loading ------------------------------------------------------------------------------ */

static void destroy(struct loader *l)
{
	while (l->nlinks > 0)
		bpf_link__destroy(l->links[--l->nlinks]);
	rstwhy_bpf__destroy(l->skel);
	l->skel = NULL;
}

static int keep_link(struct loader *l, struct bpf_link *link)
{
	if (!link)
		return -errno;
	if (l->nlinks == LOADER_MAX_LINKS) {
		bpf_link__destroy(link);
		return -E2BIG;
	}
	l->links[l->nlinks++] = link;
	return 0;
}

static struct loader_hook *record(struct loader *l, const struct hook_def *h)
{
	struct loader_hook *r = &l->hooks[l->nhooks++];

	memset(r, 0, sizeof(*r));
	r->def = h;
	r->hook = h->name;
	return r;
}

enum todo { T_SKIP, T_MISSING, T_ATTACH };

/* which hooks this plan loads; 0, or -errno when a hook it needs cannot be had */
static int choose(struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		  const struct ksyms *ks, enum todo *todo, char *err, size_t errlen)
{
	for (int i = 0; i < NHOOKS; i++) {
		const struct hook_def *h = &hook_defs[i];
		const struct kind *k;
		struct bpf_program *p;
		int idx, e;

		todo[i] = T_SKIP;
		if (!hook_wanted(l, h, o))
			continue;
		k = hook_kind(h, l->flavor, l->passive, &idx);
		if (!k->attach)
			continue;
		p = prog_get(l->skel, &h->prog[idx]);
		if (h->cls == HC_TP && (!ki->has_tp[h->tp] || !p)) {
			if (hook_required(h, o)) {
				snprintf(err, errlen, "%s: %s", h->name, !ki->has_tp[h->tp] ?
					 "no such tracepoint in this kernel" :
					 "not available as this kind of tracepoint");
				return -ENOENT;
			}
			todo[i] = T_MISSING;
			continue;
		}
		if (!p)
			continue;
		if (k->check) {
			e = k->check(h->name, ks, err, errlen);
			if (e)
				return e;
		}
		bpf_program__set_autoload(p, true);
		todo[i] = T_ATTACH;
	}
	return 0;
}

/* attach hook i (chosen T_ATTACH); 0, or -errno when a hook the plan needs failed */
static int attach_hook(struct loader *l, const struct loader_opts *o, const struct ksyms *ks,
		       int i, char *err, size_t errlen)
{
	const struct hook_def *h = &hook_defs[i];
	struct loader_hook *r;
	const struct kind *k;
	int idx, e;

	k = hook_kind(h, l->flavor, l->passive, &idx);
	e = keep_link(l, k->attach(prog_get(l->skel, &h->prog[idx]), h->name, ks));
	if (e && hook_required(h, o)) {
		if (h->cls == HC_PASSIVE)
			snprintf(err, errlen, "%s on %s: %s%s", k->name, h->name, strerror(-e),
				 k->enoent && (e == -ENOENT || e == -EOPNOTSUPP) ? k->enoent : "");
		else
			snprintf(err, errlen, "attaching %s (%s) failed: %s", h->name, k->name,
				 strerror(-e));
		return e;
	}
	r = record(l, h);
	r->program = h->prog[idx].name;
	r->attach = e ? NULL : k->name;
	r->error = -e;
	r->misses = e ? h->cost : NULL;
	return 0;
}

static void configure(struct loader *l, const struct loader_opts *o, const struct kinfo *ki)
{
	struct rstwhy_bpf *skel = l->skel;
	bool hooked = modes[l->passive].attach != NULL;

	l->aggregate = o->aggregate;
	l->reason = l->flavor != TPF_CLASSIC && ki->send_reset_args >= 3;
	l->gap = !hooked && ki->send_reset_args < 3;
	skel->rodata->filter_netns = o->netns;
	skel->rodata->want_stacks = o->stacks;
	skel->rodata->want_recv = o->recv;
	skel->rodata->reason_arg = l->reason;
	skel->rodata->egress_stack_pkts = o->egress_stack_pkts;
	/*
	 * The ring's pages are mapped twice into rstwhy and all count in its RSS: per-event output
	 * needs room for a burst (8 MiB, 20,000 records); counting in the kernel sends only the
	 * RSTs no socket sent (firewall, injected) through it.
	 */
	bpf_map__set_max_entries(skel->maps.events, o->aggregate ? 2 << 20 : 8 << 20);
	skel->rodata->wakeup_bytes = o->wakeup_bytes >= 0 ? o->wakeup_bytes :
				     bpf_map__max_entries(skel->maps.events) / 4;
	skel->rodata->passive_by_hook = hooked;
	skel->rodata->hook_has_reason = ki->v4_reset_args >= 3;
	skel->rodata->aggregate = o->aggregate;
	skel->rodata->use_sk_storage = l->sk_storage;
	skel->rodata->no_egress_watch = !o->egress;
	skel->rodata->v6_nosk_ambiguous = l->gap;
	/* the task's user registers come through a BTF-typed helper: not for classic tracepoints */
	l->ustack_asked = o->ustack;
	l->ustack = o->ustack && l->flavor != TPF_CLASSIC;
	skel->rodata->want_ustack = l->ustack;
	if (o->filter)
		kfilter_set_rodata(skel, o->filter);
	skel->rodata->seed_cgroup_id = o->seed_cgroup_id;
	/* with socket-local storage the hash map of socket records is never used */
	if (l->sk_storage)
		bpf_map__set_max_entries(skel->maps.sockets, 1);
	/*
	 * The 4-tuple map holds only the sockets found at start: none when the iterator puts them
	 * in their sockets' storage, else all of them (sized from the kernel's own counts).
	 */
	if (l->seed_iter && l->sk_storage) {
		bpf_map__set_max_entries(skel->maps.tuple_owners, 1);
	} else if (o->existing_socks > 0) {
		long want = o->existing_socks + 1024;

		bpf_map__set_max_entries(skel->maps.tuple_owners, want > 1 << 22 ? 1 << 22 : want);
	}
}

static int try_plan_sks(struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
			const struct ksyms *ks, enum tp_flavor fl, enum attach_mode passive,
			bool sks, bool seed, char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = ki->btf_path);
	enum todo todo[NHOOKS];
	struct bpf_program *p;
	int e;

	l->nhooks = 0;
	l->skel = rstwhy_bpf__open_opts(&oo);
	if (!l->skel) {
		e = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-e));
		return e;
	}
	l->flavor = fl;
	l->passive = passive;
	l->sk_storage = sks;
	l->seed_iter = seed;
	configure(l, o, ki);
	bpf_object__for_each_program(p, l->skel->obj)
		bpf_program__set_autoload(p, false);
	bpf_program__set_autoload(l->skel->progs.rw_seed_even, seed);
	bpf_program__set_autoload(l->skel->progs.rw_seed_odd, seed);
	e = choose(l, o, ki, ks, todo, err, errlen);
	if (e)
		goto fail;
	e = rstwhy_bpf__load(l->skel);
	if (e) {
		bool hooked = modes[passive].attach != NULL;

		snprintf(err, errlen, "loading %s%s%s programs failed: %s", flavors[fl].name,
			 hooked ? " and " : "", hooked ? modes[passive].name : "", strerror(-e));
		goto fail;
	}
	if (o->filter && (e = kfilter_set_maps(l->skel, o->filter))) {
		snprintf(err, errlen, "setting the -c cgroup filter failed: %s", strerror(-e));
		goto fail;
	}
	/* the plan's order: tracepoints attached, those this kernel lacks, then the others */
	for (int i = 0; i < NHOOKS; i++)
		if (todo[i] == T_ATTACH && hook_defs[i].cls == HC_TP &&
		    (e = attach_hook(l, o, ks, i, err, errlen)))
			goto fail;
	for (int i = 0; i < NHOOKS; i++)
		if (todo[i] == T_MISSING)
			record(l, &hook_defs[i])->misses = hook_defs[i].cost;
	for (int i = 0; i < NHOOKS; i++)
		if (todo[i] == T_ATTACH && hook_defs[i].cls != HC_TP &&
		    (e = attach_hook(l, o, ks, i, err, errlen)))
			goto fail;
	if (l->gap)
		for (int i = 0; i < l->nhooks; i++)
			if (l->hooks[i].def == &hook_defs[0])
				l->hooks[i].misses = gap_misses();
	return 0;
fail:
	destroy(l);
	return e;
}

/*
 * Socket-local storage needs BTF pointers in every program that reads or writes a socket's
 * record (tp_btf and fentry, not raw_tp, tracepoints or kprobes) and a kernel that lets
 * tracing programs use it: tried for real, the hash map keyed by socket address otherwise.
 * The seeding iterator loads with the rest where the kernel has it; a kernel that refuses it
 * (before 5.11 it lacks bpf_sock_from_file) costs one more try without it, and the owners of
 * existing sockets then come from sock_diag and /proc (prefill.c).
 */
static int try_plan(struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		    const struct ksyms *ks, enum tp_flavor fl, enum attach_mode passive,
		    char *err, size_t errlen)
{
	int e = -ENOENT;

	for (int sks = fl == TPF_BTF && passive != ATTACH_KPROBE; sks >= 0; sks--)
		for (int seed = o->seed_iter; seed >= 0; seed--)
			if (!(e = try_plan_sks(l, o, ki, ks, fl, passive, sks, seed, err, errlen)))
				return 0;
	return e;
}

int loader_start(struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		 const struct ksyms *ks, char *err, size_t errlen)
{
	enum tp_flavor fls[TPF__N];
	enum attach_mode ms[ATTACH__N];
	int nf = 0, nm = 0, e = -ENOENT;

	memset(l, 0, sizeof(*l));
	/* tp_btf and fentry need the running kernel's own BTF */
	for (int f = 0; f < TPF__N; f++)
		if (ki->kernel_btf || !flavors[f].kernel_btf)
			fls[nf++] = f;
	if (o->attach != ATTACH_AUTO) {
		ms[nm++] = o->attach;
	} else if (ki->send_reset_args >= 3) {
		/* 6.10+: the tracepoint sees every reset, with the kernel's reason */
		ms[nm++] = ATTACH_TRACEPOINT;
	} else {
		/* the hooks that close the gap, in order of preference, then the gap */
		for (int m = 0; m < ATTACH__N; m++)
			if (modes[m].attach && (ki->kernel_btf || !modes[m].kernel_btf))
				ms[nm++] = m;
		ms[nm++] = ATTACH_TRACEPOINT;
	}
	for (int m = 0; m < nm; m++) {
		for (int f = 0; f < nf; f++) {
			e = try_plan(l, o, ki, ks, fls[f], ms[m], err, errlen);
			if (!e)
				return 0;
			if (l->ntried < LOADER_MAX_TRIED) {
				struct loader_tried *t = &l->tried[l->ntried++];

				t->passive = ms[m];
				t->flavor = fls[f];
				snprintf(t->why, sizeof(t->why), "%s", err);
			}
			/* the passive hook failed, not the tracepoints: next mode */
			if (modes[ms[m]].attach)
				break;
		}
	}
	return e;
}

void loader_stop(struct loader *l)
{
	destroy(l);
}

/* ---- the plan for people ------------------------------------------------------------------ */

static void print_hook(const struct loader_hook *h, FILE *f)
{
	if (h->attach)
		fprintf(f, "  %-24s %s%s\n", h->hook, h->attach, h->def->cls == HC_PASSIVE ?
			" (passive resets, all socket kinds)" : "");
	else if (h->error)
		fprintf(f, "  %-24s %s (%s): %s\n", h->hook, h->def->cls == HC_SYSCALL ?
			"missing" : "not attached", strerror(h->error), h->misses);
	else
		fprintf(f, "  %-24s missing: %s\n", h->hook, h->misses);
}

void loader_print_plan(const struct loader *l, const struct kinfo *ki, FILE *f)
{
	fprintf(f, "rstwhy: attach plan for kernel %s (BTF: %s)\n", ki->release,
		ki->btf_path ? ki->btf_path : "/sys/kernel/btf/vmlinux");
	fprintf(f, "  %-24s %s\n", "tracepoints", flavors[l->flavor].name);
	if (l->reason)
		fprintf(f, "  %-24s the kernel's sk_rst_reason is recorded (6.10+)\n", "reason");
	else
		fprintf(f, "  %-24s none from the kernel: causes come from the stack, the socket "
			"and the segment\n", "reason");
	if (modes[l->passive].attach)
		fprintf(f, "  %-24s %s on tcp_v4_send_reset / tcp_v6_send_reset (the kernel's "
			"checks repeated: only RSTs really sent)\n", "passive resets",
			modes[l->passive].name);
	else if (l->gap)
		fprintf(f, "  %-24s tracepoint only: " GAP_WHAT " are NOT seen (%s): fentry and "
			"kprobe unavailable\n", "passive resets", gap_list());
	else
		fprintf(f, "  %-24s tcp:tcp_send_reset (complete on this kernel)\n",
			"passive resets");
	for (int i = 0; i < l->nhooks; i++)
		print_hook(&l->hooks[i], f);
	fprintf(f, "  %-24s %s\n", "existing owners", l->seed_iter ?
		"BPF iterator over open files (iter/task_file)" :
		"sock_diag and /proc/PID/fd (no iterator over open files, or RSTWHY_SEED=proc)");
	if (l->ustack_asked && !l->ustack)
		fprintf(f, "  -u: no user stacks with classic tracepoints (needs tp_btf or raw_tp)\n");
	for (int i = 0; i < l->ntried; i++)
		fprintf(f, "  tried %s with %s: %s\n", modes[l->tried[i].passive].name,
			flavors[l->tried[i].flavor].name, l->tried[i].why);
}

/* ---- the plan as data --------------------------------------------------------------------- */

static struct json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *plan_json(const struct loader *l, const struct kinfo *ki)
{
	struct json_object *o = json_object_new_object(), *a;

	json_object_object_add(o, "kernel", jstr(ki->release));
	json_object_object_add(o, "btf", jstr(ki->btf_path ?: "/sys/kernel/btf/vmlinux"));
	json_object_object_add(o, "tracepoints", jstr(flavors[l->flavor].name));
	json_object_object_add(o, "reason", json_object_new_boolean(l->reason));
	json_object_object_add(o, "passive", jstr(modes[l->passive].name));
	json_object_object_add(o, "gap", json_object_new_boolean(l->gap));
	json_object_object_add(o, "seed_iter", json_object_new_boolean(l->seed_iter));
	a = json_object_new_array();
	for (int i = 0; l->gap && i < NGAP; i++)
		json_object_array_add(a, jstr(rw_cause_name(gap_causes[i])));
	json_object_object_add(o, "gap_causes", a);
	json_object_object_add(o, "aggregate", json_object_new_boolean(l->aggregate));
	json_object_object_add(o, "user_stacks", json_object_new_boolean(l->ustack));
	a = json_object_new_array();
	for (int i = 0; i < l->nhooks; i++) {
		const struct loader_hook *h = &l->hooks[i];
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "hook", jstr(h->hook));
		json_object_object_add(x, "attach", jstr(h->attach));
		json_object_object_add(x, "program", jstr(h->program));
		json_object_object_add(x, "misses", jstr(h->misses));
		json_object_object_add(x, "error", jstr(h->error ? strerror(h->error) : NULL));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "hooks", a);
	a = json_object_new_array();
	for (int i = 0; i < l->ntried; i++) {
		struct json_object *x = json_object_new_object();

		json_object_object_add(x, "passive", jstr(modes[l->tried[i].passive].name));
		json_object_object_add(x, "tracepoints", jstr(flavors[l->tried[i].flavor].name));
		json_object_object_add(x, "error", jstr(l->tried[i].why));
		json_object_array_add(a, x);
	}
	json_object_object_add(o, "tried", a);
	return o;
}

static const char *plan_str(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					      JSON_C_TO_STRING_NOSLASHESCAPE);
}

void loader_probe(const struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		  const struct ksyms *ks, bool json, FILE *f)
{
	static struct loader t;
	struct json_object *root = NULL, *ma = NULL;
	char err[300];

	if (json) {
		root = plan_json(l, ki);
		ma = json_object_new_array();
	} else {
		loader_print_plan(l, ki, f);
	}
	/* the modes that hook tcp_v4/v6_send_reset */
	for (int m = 0; m < ATTACH__N; m++) {
		struct json_object *x;
		bool used = m == (int)l->passive;
		int e = 0;

		if (!modes[m].attach)
			continue;
		if (!used) {
			e = try_plan(&t, o, ki, ks, ki->kernel_btf ? TPF_BTF : TPF_RAW, m, err,
				     sizeof(err));
			if (!e)
				destroy(&t);
		}
		if (!json) {
			if (used)
				continue;
			if (e)
				fprintf(f, "  %-24s unavailable: %s\n", modes[m].name, err);
			else
				fprintf(f, "  %-24s available (--attach=%s)\n", modes[m].name,
					modes[m].name);
			continue;
		}
		x = json_object_new_object();
		json_object_object_add(x, "mode", jstr(modes[m].name));
		json_object_object_add(x, "available", json_object_new_boolean(!e));
		json_object_object_add(x, "in_use", json_object_new_boolean(used));
		json_object_object_add(x, "why", jstr(e ? err : NULL));
		json_object_array_add(ma, x);
	}
	if (json) {
		json_object_object_add(root, "modes", ma);
		fprintf(f, "%s\n", plan_str(root));
		json_object_put(root);
	}
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= w;
	}
	return 0;
}

int loader_write_ready(const struct loader *l, const struct kinfo *ki, const char *path)
{
	struct json_object *root = plan_json(l, ki);
	const char *text = plan_str(root);
	char tmp[PATH_MAX];
	struct stat st;
	int fd, bad, ret = -1;

	/* a regular file appears whole (written aside, then renamed); a FIFO or device as it is */
	if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			ret = write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1) ? -1 : 0;
			close(fd);
		}
		goto out;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto out;
	bad = write_all(fd, text, strlen(text)) || write_all(fd, "\n", 1) || fchmod(fd, 0644);
	bad = close(fd) || bad;
	if (bad || rename(tmp, path)) {
		int e = errno;

		unlink(tmp);
		errno = e;
		goto out;
	}
	ret = 0;
out:
	if (ret)
		fprintf(stderr, "rstwhy: --ready-file %s: %s\n", path, strerror(errno));
	json_object_put(root);
	return ret;
}
