// SPDX-License-Identifier: GPL-2.0
/* The live table (fits 120 columns for IPv4) and JSON lines (fields: docs/json.md). */
#include <inttypes.h>
#include <string.h>
#include <time.h>
#include "json.h"
#include "jsonl.h"
#include "output.h"

static void iso_time(uint64_t ns, char *buf, size_t len, bool full)
{
	time_t sec = ns / 1000000000ull;
	struct tm tm;
	char base[32];

	gmtime_r(&sec, &tm);
	if (full) {
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf, len, "%s.%06uZ", base, (unsigned int)(ns % 1000000000ull / 1000));
	} else {
		localtime_r(&sec, &tm);
		strftime(base, sizeof(base), "%H:%M:%S", &tm);
		snprintf(buf, len, "%s.%03u", base, (unsigned int)(ns % 1000000000ull / 1000000));
	}
}

/* cause-specific evidence: key/value pairs shared by the table's short detail and JSON */
struct kv {
	const char *key;
	char val[48];
	bool str;
};

static int details(const struct rw_report *r, struct kv *kv, int max)
{
	const struct rw_event *e = r->e;
	const struct rw_evidence *ev = &r->ev;
	int n = 0;

#define ADD(k, s, fmt, ...)						\
	do {								\
		if (n < max) {						\
			kv[n].key = (k);				\
			kv[n].str = (s);				\
			snprintf(kv[n].val, sizeof(kv[n].val), fmt, __VA_ARGS__); \
			n++;						\
		}							\
	} while (0)

	if (ev->fullsock && (ev->unread || r->v.cause == C_CLOSE_UNREAD))
		ADD("unread_bytes", false, "%u", ev->unread);
	if (ev->linger)
		ADD("linger_jiffies", false, "%" PRIu64, (uint64_t)ev->lingertime);
	if (ev->fullsock && ev->linger2 < 0)
		ADD("linger2", false, "%d", ev->linger2);
	if (ev->reqsk || ev->state == ST_LISTEN) {
		ADD("accept_queue", false, "%u", ev->ack_backlog);
		ADD("accept_limit", false, "%u", ev->max_ack_backlog);
	}
	if (ev->timewait)
		ADD("timewait_substate", true, "%s",
		    rw_state_name(ev->tw_substate) ? rw_state_name(ev->tw_substate) : "?");
	if (ev->has_skb) {
		char fl[9];

		tcp_flags_str(ev->in_flags, fl);
		ADD("in_flags", true, "%s", fl);
		ADD("in_payload", false, "%u", ev->in_payload);
		ADD("in_seq", false, "%u", e->in_seq);
		if (ev->in_flags & TF_ACK)
			ADD("in_ack", false, "%u", e->in_ack);
	}
	if (ev->fullsock && (r->v.cause == C_KEEPALIVE_TIMEOUT || e->probes_out))
		ADD("probes_out", false, "%u", e->probes_out);
	if (ev->fullsock && e->user_timeout)
		ADD("user_timeout_ms", false, "%u", e->user_timeout);
	if (ev->dead)
		ADD("orphan", false, "%s", "true");
	if (ev->mptcp)
		ADD("mptcp", false, "%s", "true");
	if (r->pkt) {
		static const char *const kinds[] = {
			[RW_EG_STACK] = "tcp-stack", [RW_EG_NETFILTER] = "no socket (netfilter)",
			[RW_EG_RAW] = "raw socket", [RW_EG_PACKET] = "packet socket",
			[RW_EG_OTHER] = "other socket",
			[RW_EG_AMBIGUOUS] = "no socket (netfilter, or the TCP stack unseen here)",
		};
		ADD("seen_at", true, "%s", "egress");
		ADD("ifindex", false, "%u", r->pkt->ifindex);
		if (r->pkt->kind <= RW_EG_AMBIGUOUS && kinds[r->pkt->kind])
			ADD("built_by", true, "%s", kinds[r->pkt->kind]);
		if (r->has_listener) {
			char c[COMM_CLEAN_LEN];

			ADD("local_listener", true, "%u/%s", r->listener.tgid,
			    comm_clean(c, r->listener.comm));
		}
	}
	if (r->has_owner && owner_from_name(r->owner_from))
		ADD("owner_from", true, "%s", owner_from_name(r->owner_from));
	if (r->has_owner && e->cgroup_id)
		ADD("cgroup_id", false, "%" PRIu64, (uint64_t)e->cgroup_id);
#undef ADD
	return n;
}

static void json_stack(struct jw *w, const struct out_opts *o, const struct rw_event *e)
{
	int n = e->stack_len > 0 ? e->stack_len / 8 : 0;
	int first = ksyms_first_caller(o->ks, (const uint64_t *)e->stack, n);

	jw_arr(w, "stack");
	for (int i = first; i < n; i++) {
		uint64_t off = 0;
		const char *name = ksyms_lookup(o->ks, e->stack[i], &off);
		char buf[300];

		if (name)
			snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, name, off);
		else
			snprintf(buf, sizeof(buf), "0x%" PRIx64, (uint64_t)e->stack[i]);
		jw_str(w, NULL, buf);
	}
	jw_end(w);
}

/* pid and comm: the process; the actor also names its thread (tid, thread) */
static void json_task(struct jw *w, const char *key, bool valid, const struct rw_task *t,
		      bool thread)
{
	if (!valid) {
		jw_null(w, key);
		return;
	}
	jw_obj(w, key);
	jw_u64(w, "pid", t->tgid);
	jw_strn(w, "comm", t->comm, RW_COMM_LEN);
	if (thread) {
		jw_u64(w, "tid", t->pid ? t->pid : t->tgid);
		jw_strn(w, "thread", t->thread[0] ? t->thread : t->comm, RW_COMM_LEN);
	}
	jw_end(w);
}

/* {"runtime","id","cgroup","pod_uid"} (unknown parts null), or null */
void json_container(struct jw *w, const char *key, const struct container *c)
{
	if (!c) {
		jw_null(w, key);
		return;
	}
	jw_obj(w, key);
	jw_str(w, "runtime", c->runtime[0] ? c->runtime : NULL);
	jw_str(w, "id", c->id[0] ? c->id : NULL);
	jw_str(w, "cgroup", c->cgroup[0] ? c->cgroup : NULL);
	jw_str(w, "pod_uid", c->pod_uid[0] ? c->pod_uid : NULL);
	jw_end(w);
}

/* "PID/COMM" (cleaned), then " RUNTIME:ID" when the container is known */
void owner_str(char *buf, size_t len, uint32_t pid, const char *comm, const struct container *c)
{
	char cc[COMM_CLEAN_LEN], ct[72] = "";

	if (c && c->id[0])
		container_short(c, ct, sizeof(ct));
	snprintf(buf, len, "%u/%s%s%s", pid, comm_clean(cc, comm), ct[0] ? " " : "", ct);
}

/* one event as one JSON line: every field is in docs/json.md */
static void out_json(FILE *f, const struct out_opts *o, const struct rw_report *r)
{
	const struct rw_event *e = r->e;
	struct kv kv[16];
	struct jw w;
	char t[48];
	int n;

	iso_time(r->time_ns, t, sizeof(t), true);
	jw_init(&w, f);
	jw_obj(&w, NULL);
	jw_str(&w, "time", t);
	jw_str(&w, "dir", e->type == RW_EV_RECV ? "received" : "sent");
	jw_str(&w, "cause", rw_cause_name(r->v.cause));
	jw_str(&w, "origin", rw_origin_name(r->v.origin));
	jw_str(&w, "kernel_reason", r->kreason);
	jw_str(&w, "family", e->family == AF_INET6 ? "ipv6" : "ipv4");
	jw_str(&w, "saddr", r->saddr);
	jw_u64(&w, "sport", e->sport);
	jw_str(&w, "daddr", r->daddr);
	jw_u64(&w, "dport", e->dport);
	jw_str(&w, "state", rw_state_name(r->v.state));
	json_task(&w, "owner", r->has_owner, &r->owner, false);
	json_task(&w, "actor", r->has_actor, &r->actor, true);
	json_container(&w, "container", r->ct);
	if (r->has_seq) {
		char fl[9];

		tcp_flags_str(r->rst_flags, fl);
		jw_u64(&w, "seq", r->seq);
		jw_u64(&w, "ack", r->ack);
		jw_str(&w, "flags", fl);
	}
	jw_u64(&w, "netns", e->netns);
	jw_obj(&w, "detail");
	n = details(r, kv, 16);
	for (int i = 0; i < n; i++) {
		if (kv[i].str)
			jw_str(&w, kv[i].key, kv[i].val);
		else
			jw_raw(&w, kv[i].key, kv[i].val);
	}
	jw_end(&w);
	if (o->stacks)
		json_stack(&w, o, e);
	if (r->ustack)
		ustack_json(&w, r->ustack);
	jw_end(&w);
	fputc('\n', f);
}

void out_table_header(FILE *f, const struct out_opts *o)
{
	if (o->json)
		return;
	fprintf(f, "%-12s %-17s %-11s %-20s %-43s %-11s %s\n", "TIME", "CAUSE", "ORIGIN",
		"OWNER", "LOCAL -> REMOTE", "STATE", "DETAIL");
}

static void fmt_ep(char *buf, size_t len, int family, const char *addr, unsigned int port)
{
	if (family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", addr, port);
	else
		snprintf(buf, len, "%s:%u", addr, port);
}

static void out_table(FILE *f, const struct out_opts *o, const struct rw_report *r)
{
	const struct rw_event *e = r->e;
	char t[32], owner[128], conn[160], a[64], b[64], det[192] = "", line[640];
	char cc[COMM_CLEAN_LEN];
	const char *state = rw_state_name(r->v.state);
	struct kv kv[16];
	size_t used = 0;
	int n;

	iso_time(r->time_ns, t, sizeof(t), false);
	if (r->has_owner)
		owner_str(owner, sizeof(owner), r->owner.tgid, r->owner.comm, r->ct);
	else
		snprintf(owner, sizeof(owner), "-");
	/* this host first: a received RST's source is the peer */
	if (e->type == RW_EV_RECV) {
		fmt_ep(a, sizeof(a), e->family, r->daddr, e->dport);
		fmt_ep(b, sizeof(b), e->family, r->saddr, e->sport);
	} else {
		fmt_ep(a, sizeof(a), e->family, r->saddr, e->sport);
		fmt_ep(b, sizeof(b), e->family, r->daddr, e->dport);
	}
	snprintf(conn, sizeof(conn), "%s %s %s", a, e->type == RW_EV_RECV ? "<-" : "->", b);
	if (r->kreason)
		used += snprintf(det, sizeof(det), "%s", r->kreason);
	n = details(r, kv, 16);
	for (int i = 0; i < n && used < sizeof(det); i++) {
		/* the table keeps it short: the segment's numbers are for JSON */
		if (!strcmp(kv[i].key, "in_seq") || !strcmp(kv[i].key, "in_ack") ||
		    !strcmp(kv[i].key, "cgroup_id") || !strcmp(kv[i].key, "owner_from"))
			continue;
		used += snprintf(det + used, sizeof(det) - used, "%s%s=%s", used ? " " : "",
				 kv[i].key, kv[i].val);
	}
	if (r->has_actor && (!r->has_owner || r->actor.tgid != r->owner.tgid) &&
	    used < sizeof(det))
		snprintf(det + used, sizeof(det) - used, "%sby=%u/%s", used ? " " : "",
			 r->actor.tgid, comm_clean(cc, r->actor.comm));
	n = snprintf(line, sizeof(line), "%-12s %-17s %-11s %-20s %-43s %-11s %s", t,
		     rw_cause_name(r->v.cause), rw_origin_name(r->v.origin), owner, conn,
		     state ? state : "-", det);
	/* on a terminal, one event is one screen line: JSON has everything */
	if (o->width > 0 && n > o->width)
		n = o->width;
	if (n > (int)sizeof(line) - 1)
		n = sizeof(line) - 1;
	fwrite(line, 1, n, f);
	fputc('\n', f);
	if (o->stacks) {
		int ns = e->stack_len > 0 ? e->stack_len / 8 : 0;

		for (int i = ksyms_first_caller(o->ks, (const uint64_t *)e->stack, ns); i < ns; i++) {
			uint64_t off = 0;
			const char *name = ksyms_lookup(o->ks, e->stack[i], &off);

			if (name)
				fprintf(f, "\t%s+0x%" PRIx64 "\n", name, off);
			else
				fprintf(f, "\t0x%" PRIx64 "\n", (uint64_t)e->stack[i]);
		}
	}
	if (r->ustack)
		ustack_table(f, r->ustack, r->actor.thread[0] ? r->actor.thread : r->actor.comm);
}

void out_event(FILE *f, const struct out_opts *o, const struct rw_report *r)
{
	if (o->json)
		out_json(f, o, r);
	else
		out_table(f, o, r);
}
