// SPDX-License-Identifier: GPL-2.0
/*
 * The attach plan. Candidates are tried for real, in order of preference, until one loads and
 * attaches: the tracepoint flavour (tp_btf, raw_tp, classic tracepoint) and, where the
 * tcp:tcp_send_reset tracepoint misses resets with no full socket (before 6.10), a hook on
 * tcp_v4/v6_send_reset (fentry, then kprobe). What could not be had is written down with what
 * it costs the user.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "rstwhy.skel.h"
#include "loader.h"
#include "kfilter.h"

const char *attach_mode_name(enum attach_mode m)
{
	switch (m) {
	case ATTACH_TRACEPOINT:
		return "tracepoint";
	case ATTACH_FENTRY:
		return "fentry";
	case ATTACH_KPROBE:
		return "kprobe";
	default:
		return "auto";
	}
}

int attach_mode_from_name(const char *s)
{
	static const char *const names[] = { "auto", "tracepoint", "fentry", "kprobe" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static const char *const flavor_names[] = {
	[TPF_BTF] = "tp_btf", [TPF_RAW] = "raw_tp", [TPF_CLASSIC] = "tracepoint",
};

static void note(struct loader *l, const char *fmt, ...)
{
	va_list ap;

	if (l->nnotes == LOADER_MAX_NOTES)
		return;
	va_start(ap, fmt);
	vsnprintf(l->notes[l->nnotes++], sizeof(l->notes[0]), fmt, ap);
	va_end(ap);
}

struct hook {
	const char *name;		/* tracepoint */
	struct bpf_program *prog[3];	/* by enum tp_flavor */
	enum kinfo_tp tp;
	bool wanted;
	bool required;
	const char *cost;		/* what the user loses without it */
};

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

/* tcp_v4_send_reset may be renamed by the compiler (.isra, .constprop): find it */
static const char *kprobe_target(const struct ksyms *ks, const char *fn)
{
	return ksyms_find_function(ks, fn);
}

static int try_plan(struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		    const struct ksyms *ks, enum tp_flavor fl, enum attach_mode passive,
		    char *err, size_t errlen)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = ki->btf_path);
	struct rstwhy_bpf *skel;
	struct bpf_program *p, *ph[2] = { NULL, NULL };
	const char *hook_fn[2] = { "tcp_v4_send_reset", "tcp_v6_send_reset" };
	int e;

	l->nnotes = 0;
	skel = rstwhy_bpf__open_opts(&oo);
	if (!skel) {
		e = -errno;
		snprintf(err, errlen, "cannot open the BPF object: %s", strerror(-e));
		return e;
	}
	l->skel = skel;
	l->flavor = fl;
	l->passive = passive;
	l->aggregate = o->aggregate;
	skel->rodata->filter_netns = o->netns;
	skel->rodata->want_stacks = o->stacks;
	skel->rodata->want_recv = o->recv;
	skel->rodata->reason_arg = fl != TPF_CLASSIC && ki->send_reset_args >= 3;
	skel->rodata->egress_stack_pkts = o->egress_stack_pkts;
	skel->rodata->wakeup_bytes = o->wakeup_bytes >= 0 ? o->wakeup_bytes :
				     bpf_map__max_entries(skel->maps.events) / 4;
	skel->rodata->passive_by_hook = passive == ATTACH_FENTRY || passive == ATTACH_KPROBE;
	skel->rodata->hook_has_reason = ki->v4_reset_args >= 3;
	skel->rodata->aggregate = o->aggregate;
	skel->rodata->no_egress_watch = !o->egress;
	skel->rodata->v6_nosk_ambiguous = passive == ATTACH_TRACEPOINT && ki->send_reset_args < 3;
	/* the task's user registers come through a BTF-typed helper: not for classic tracepoints */
	skel->rodata->want_ustack = o->ustack && fl != TPF_CLASSIC;
	if (o->ustack && fl == TPF_CLASSIC)
		note(l, "-u: no user stacks with classic tracepoints (needs tp_btf or raw_tp)");
	if (o->filter)
		kfilter_set_rodata(skel, o->filter);
	if (o->existing_socks > 0) {
		/* room for every socket found at start and as many again for timewait stand-ins */
		long want = o->existing_socks + bpf_map__max_entries(skel->maps.tuple_owners);

		bpf_map__set_max_entries(skel->maps.tuple_owners, want > 1 << 22 ? 1 << 22 : want);
	}

	struct hook hooks[] = {
		{ "tcp:tcp_send_reset", { skel->progs.rw_send_reset, skel->progs.rw_send_reset_raw,
		  skel->progs.rw_send_reset_tp }, KTP_SEND_RESET, true, true, NULL },
		{ "tcp:tcp_receive_reset", { skel->progs.rw_recv_reset,
		  skel->progs.rw_recv_reset_raw, skel->progs.rw_recv_reset_tp }, KTP_RECV_RESET,
		  o->recv, true, "-r cannot show received RSTs" },
		{ "sock:inet_sock_set_state", { skel->progs.rw_set_state,
		  skel->progs.rw_set_state_raw, skel->progs.rw_set_state_tp }, KTP_SET_STATE,
		  true, false, "no state before the reset for closed sockets; owners only from "
		  "send/recv and listeners" },
		{ "sock:sock_send_length", { skel->progs.rw_sock_send, NULL, NULL },
		  KTP_SEND_LENGTH, true, false, "owners of accepted connections come from "
		  "accept or the listener" },
		{ "sock:sock_recv_length", { skel->progs.rw_sock_recv, NULL, NULL },
		  KTP_RECV_LENGTH, true, false, "owners of accepted connections come from "
		  "accept or the listener" },
		{ "tcp:tcp_destroy_sock", { skel->progs.rw_destroy, skel->progs.rw_destroy_raw,
		  skel->progs.rw_destroy_tp }, KTP_DESTROY_SOCK, true, false,
		  "owner records of closed sockets age out by LRU only" },
		{ "net:net_dev_queue", { skel->progs.rw_dev_queue, skel->progs.rw_dev_queue_raw,
		  skel->progs.rw_dev_queue_tp }, KTP_DEV_QUEUE, o->egress, o->egress_required,
		  "firewall and injected RSTs are not seen; --pcapng has no packets" },
	};
	const int nh = sizeof(hooks) / sizeof(hooks[0]);

	bpf_object__for_each_program(p, skel->obj)
		bpf_program__set_autoload(p, false);
	for (int i = 0; i < nh; i++) {
		struct hook *h = &hooks[i];

		if (!h->wanted)
			continue;
		if (!ki->has_tp[h->tp] || !h->prog[fl]) {
			if (h->required) {
				snprintf(err, errlen, "%s: %s", h->name, !ki->has_tp[h->tp] ?
					 "no such tracepoint in this kernel" :
					 "not available as this kind of tracepoint");
				destroy(l);
				return -ENOENT;
			}
			continue;
		}
		bpf_program__set_autoload(h->prog[fl], true);
	}
	bpf_program__set_autoload(skel->progs.rw_accept4, true);
	bpf_program__set_autoload(skel->progs.rw_accept, true);
	if (passive == ATTACH_FENTRY) {
		ph[0] = skel->progs.rw_v4_reset_fentry;
		ph[1] = skel->progs.rw_v6_reset_fentry;
	} else if (passive == ATTACH_KPROBE) {
		ph[0] = skel->progs.rw_v4_reset_kprobe;
		ph[1] = skel->progs.rw_v6_reset_kprobe;
		for (int i = 0; i < 2; i++) {
			if (!kprobe_target(ks, hook_fn[i])) {
				snprintf(err, errlen, "kprobe: %s is not in /proc/kallsyms", hook_fn[i]);
				destroy(l);
				return -ENOENT;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (ph[i])
			bpf_program__set_autoload(ph[i], true);

	e = rstwhy_bpf__load(skel);
	if (e) {
		snprintf(err, errlen, "loading %s%s%s programs failed: %s", flavor_names[fl],
			 ph[0] ? " and " : "", ph[0] ? attach_mode_name(passive) : "",
			 strerror(-e));
		destroy(l);
		return e;
	}
	if (o->filter && (e = kfilter_set_maps(skel, o->filter))) {
		snprintf(err, errlen, "setting the -c cgroup filter failed: %s", strerror(-e));
		destroy(l);
		return e;
	}

	for (int i = 0; i < nh; i++) {
		struct hook *h = &hooks[i];
		struct bpf_program *hp = h->prog[fl];

		if (!h->wanted || !hp || !bpf_program__autoload(hp))
			continue;
		e = keep_link(l, bpf_program__attach(hp));
		if (e && h->required) {
			snprintf(err, errlen, "attaching %s (%s) failed: %s", h->name,
				 flavor_names[fl], strerror(-e));
			destroy(l);
			return e;
		}
		if (e)
			note(l, "%-24s not attached (%s): %s", h->name, strerror(-e), h->cost);
		else
			note(l, "%-24s %s", h->name, flavor_names[fl]);
	}
	for (int i = 0; i < nh; i++)
		if (hooks[i].wanted && !hooks[i].required &&
		    (!ki->has_tp[hooks[i].tp] || !hooks[i].prog[fl]))
			note(l, "%-24s missing: %s", hooks[i].name, hooks[i].cost);

	bpf_object__for_each_program(p, skel->obj) {
		if (p != skel->progs.rw_accept4 && p != skel->progs.rw_accept)
			continue;
		e = keep_link(l, bpf_program__attach(p));
		if (e)
			note(l, "%-24s missing (%s): accepted sockets the application never used "
			     "are attributed to the listener's owner", bpf_program__section_name(p) +
			     11, strerror(-e));
		else
			note(l, "%-24s tracepoint", bpf_program__section_name(p) + 11);
	}

	for (int i = 0; i < 2 && ph[i]; i++) {
		struct bpf_link *link;

		if (passive == ATTACH_KPROBE)
			link = bpf_program__attach_kprobe(ph[i], false,
							  kprobe_target(ks, hook_fn[i]));
		else
			link = bpf_program__attach(ph[i]);
		e = keep_link(l, link);
		if (e) {
			snprintf(err, errlen, "%s on %s: %s%s", attach_mode_name(passive), hook_fn[i],
				 strerror(-e), passive == ATTACH_KPROBE && (e == -ENOENT ||
				 e == -EOPNOTSUPP) ? " (this kernel has no kprobe support)" : "");
			destroy(l);
			return e;
		}
		note(l, "%-24s %s (passive resets, all socket kinds)", hook_fn[i],
		     attach_mode_name(passive));
	}
	l->gap = passive == ATTACH_TRACEPOINT && ki->send_reset_args < 3;
	return 0;
}

int loader_start(struct loader *l, const struct loader_opts *o, const struct kinfo *ki,
		 const struct ksyms *ks, char *err, size_t errlen)
{
	enum tp_flavor flavors[3];
	enum attach_mode modes[3];
	int nf = 0, nm = 0, e = -ENOENT;
	char why[LOADER_MAX_NOTES][200];
	int nwhy = 0;

	memset(l, 0, sizeof(*l));
	/* tp_btf and fentry need the running kernel's own BTF */
	if (ki->kernel_btf)
		flavors[nf++] = TPF_BTF;
	flavors[nf++] = TPF_RAW;
	flavors[nf++] = TPF_CLASSIC;

	if (o->attach != ATTACH_AUTO) {
		modes[nm++] = o->attach;
	} else if (ki->send_reset_args >= 3) {
		/* 6.10+: the tracepoint sees every reset, with the kernel's reason */
		modes[nm++] = ATTACH_TRACEPOINT;
	} else {
		if (ki->kernel_btf)
			modes[nm++] = ATTACH_FENTRY;
		modes[nm++] = ATTACH_KPROBE;
		modes[nm++] = ATTACH_TRACEPOINT;
	}
	for (int m = 0; m < nm; m++) {
		for (int f = 0; f < nf; f++) {
			e = try_plan(l, o, ki, ks, flavors[f], modes[m], err, errlen);
			if (!e)
				goto done;
			if (nwhy < LOADER_MAX_NOTES)
				snprintf(why[nwhy++], sizeof(why[0]), "tried %s with %s: %s",
					 attach_mode_name(modes[m]), flavor_names[flavors[f]], err);
			/* the passive hook failed, not the tracepoints: next mode */
			if (modes[m] == ATTACH_FENTRY || modes[m] == ATTACH_KPROBE)
				break;
		}
	}
	return e;
done:
	for (int i = 0; i < nwhy; i++)
		note(l, "%s", why[i]);
	return 0;
}

void loader_probe_hooks(const struct loader_opts *o, const struct kinfo *ki,
			const struct ksyms *ks, enum attach_mode used, FILE *f)
{
	static struct loader t;
	char err[300];

	for (int m = ATTACH_FENTRY; m <= ATTACH_KPROBE; m++) {
		if (m == (int)used)
			continue;
		if (try_plan(&t, o, ki, ks, ki->kernel_btf ? TPF_BTF : TPF_RAW, m, err,
			     sizeof(err))) {
			fprintf(f, "  %-24s unavailable: %s\n", attach_mode_name(m), err);
		} else {
			fprintf(f, "  %-24s available (--attach=%s)\n", attach_mode_name(m),
				attach_mode_name(m));
			destroy(&t);
		}
	}
}

void loader_stop(struct loader *l)
{
	destroy(l);
}

void loader_print_plan(const struct loader *l, const struct kinfo *ki, FILE *f)
{
	fprintf(f, "rstwhy: attach plan for kernel %s (BTF: %s)\n", ki->release,
		ki->btf_path ? ki->btf_path : "/sys/kernel/btf/vmlinux");
	fprintf(f, "  %-24s %s\n", "tracepoints", flavor_names[l->flavor]);
	if (ki->send_reset_args >= 3 && l->flavor != TPF_CLASSIC)
		fprintf(f, "  %-24s the kernel's sk_rst_reason is recorded (6.10+)\n", "reason");
	else
		fprintf(f, "  %-24s none from the kernel: causes come from the stack, the socket "
			"and the segment\n", "reason");
	switch (l->passive) {
	case ATTACH_TRACEPOINT:
		if (l->gap)
			fprintf(f, "  %-24s tracepoint only: RSTs with no socket or a timewait "
				"socket are NOT seen (no-listener, no-connection, timewait, "
				"data-after-close): fentry and kprobe unavailable\n", "passive resets");
		else
			fprintf(f, "  %-24s tcp:tcp_send_reset (complete on this kernel)\n",
				"passive resets");
		break;
	default:
		fprintf(f, "  %-24s %s on tcp_v4_send_reset / tcp_v6_send_reset (the kernel's "
			"checks repeated: only RSTs really sent)\n", "passive resets",
			attach_mode_name(l->passive));
	}
	for (int i = 0; i < l->nnotes; i++)
		fprintf(f, "  %s\n", l->notes[i]);
}
