// SPDX-License-Identifier: GPL-2.0
/*
 * Aggregation. Rows are few (causes x ports x owners), so a linear search is fine; the
 * kernel's keys are read once per interval, each classified through the same rw_classify()
 * as single events, from an event rebuilt out of the key's evidence.
 */
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "agg.h"

struct agg_seen {
	struct rw_agg_key k;
	uint64_t count;
	uint32_t gen;		/* the last read that found this key in the kernel's map */
};

void agg_add(struct agg *a, const struct rw_report *r, uint64_t n)
{
	const struct rw_event *e = r->e;
	bool recv = e->type == RW_EV_RECV;
	uint16_t port = recv ? e->dport : e->sport;
	bool remote = false;
	struct agg_row *row;

	/* a client socket (its local port is ephemeral) counts under the port it talks to */
	if (!port || (e->flags & RW_F_CLIENT)) {
		port = recv ? e->sport : e->dport;
		remote = true;
	}

	for (int i = 0; i < a->n; i++) {
		row = &a->rows[i];
		if (row->cause == r->v.cause && row->origin == r->v.origin &&
		    row->received == recv && row->netns == e->netns && row->port == port &&
		    row->remote == remote &&
		    row->has_owner == r->has_owner &&
		    (!r->has_owner || (row->pid == r->owner.tgid &&
				       row->cgroup_id == e->cgroup_id &&
				       !strncmp(row->comm, r->owner.comm, 16)))) {
			row->total += n;
			if (r->ev.max_ack_backlog)
				row->accept_limit = r->ev.max_ack_backlog;
			return;
		}
	}
	if (a->n == a->cap) {
		int cap = a->cap ? a->cap * 2 : 64;
		struct agg_row *p = realloc(a->rows, cap * sizeof(*p));

		if (!p)
			return;
		a->rows = p;
		a->cap = cap;
	}
	row = &a->rows[a->n++];
	memset(row, 0, sizeof(*row));
	row->cause = r->v.cause;
	row->origin = r->v.origin;
	row->received = recv;
	row->netns = e->netns;
	row->port = port;
	row->remote = remote;
	row->has_owner = r->has_owner;
	if (r->has_owner) {
		row->pid = r->owner.tgid;
		memcpy(row->comm, r->owner.comm, 16);
		row->comm[15] = 0;
		row->cgroup_id = e->cgroup_id;
		row->has_ct = r->ct != NULL;
		if (r->ct)
			row->ct = *r->ct;
	}
	row->total = n;
	row->accept_limit = r->ev.max_ack_backlog;
}

/* the event a key stands for: every field the classifier and owner logic read */
static void event_from_key(const struct rw_agg_key *k, int stacks_fd, struct rw_event *e)
{
	memset(e, 0, sizeof(*e));
	e->type = k->type;
	e->netns = k->netns;
	e->flags = k->flags & ~RW_F_STACK;
	e->reason = k->reason;
	e->family = k->family;
	if (k->type == RW_EV_RECV) {
		e->dport = k->lport;
		e->sport = k->rport;
	} else {
		e->sport = k->lport;
		e->dport = k->rport;
	}
	e->state = k->state;
	e->prev_state = k->prev_state;
	e->tw_substate = k->tw_substate;
	e->in_flags = k->in_flags;
	e->in_payload = k->has_payload;
	e->rcv_nxt = k->has_unread;
	e->lingertime = !k->linger0;
	e->linger2 = k->linger2_neg ? -1 : 0;
	e->owner_src = k->owner_src;
	e->owner = k->owner;
	e->actor = k->actor;
	e->cgroup_id = k->cgroup_id;
	if (k->stackid >= 0 && !bpf_map_lookup_elem(stacks_fd, &k->stackid, e->stack)) {
		int n = 0;

		while (n < RW_MAX_STACK && e->stack[n])
			n++;
		e->stack_len = n * 8;
		e->flags |= RW_F_STACK;
	}
}

static uint64_t key_hash(const struct rw_agg_key *k)
{
	const unsigned char *p = (const void *)k;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* open addressing, capacity a power of two, kept at most half full */
static struct agg_seen *seen_find(struct agg *a, const struct rw_agg_key *k)
{
	uint64_t h;

	if (2 * (a->nseen + 1) > a->capseen) {
		int cap = a->capseen ? a->capseen * 2 : 1024;
		struct agg_seen *t = calloc(cap, sizeof(*t));

		if (!t)
			return NULL;
		for (int i = 0; i < a->capseen; i++) {
			if (!a->seen[i].k.type)
				continue;
			h = key_hash(&a->seen[i].k);
			while (t[h & (cap - 1)].k.type)
				h++;
			t[h & (cap - 1)] = a->seen[i];
		}
		free(a->seen);
		a->seen = t;
		a->capseen = cap;
	}
	for (h = key_hash(k);; h++) {
		struct agg_seen *s = &a->seen[h & (a->capseen - 1)];

		if (!s->k.type) {
			s->k = *k;
			s->count = 0;
			a->nseen++;
			return s;
		}
		if (!memcmp(&s->k, k, sizeof(*k)))
			return s;
	}
}

uint64_t agg_poll_kernel(struct agg *a, int agg_fd, int stacks_fd, const struct kinfo *ki,
			 const struct ksyms *ks, void *ctx,
			 void (*per_ns)(void *ctx, uint32_t netns, uint64_t n),
			 bool (*want)(void *ctx, const struct rw_report *r))
{
	int ncpu = libbpf_num_possible_cpus();
	struct rw_agg_key k, next, *prev = NULL;
	uint64_t new_sent = 0, *vals;
	static struct rw_event e;
	struct rw_report r;

	if (ncpu <= 0)
		return 0;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return 0;
	while (!bpf_map_get_next_key(agg_fd, prev, &next)) {
		uint64_t sum = 0, delta;
		struct agg_seen *s;

		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(agg_fd, &k, vals))
			continue;
		for (int i = 0; i < ncpu; i++)
			sum += vals[i];
		s = seen_find(a, &k);
		if (!s)
			continue;
		s->gen = a->gen;
		/* a key evicted by the LRU and counted again starts from zero */
		delta = sum >= s->count ? sum - s->count : sum;
		s->count = sum;
		if (!delta)
			continue;
		event_from_key(&k, stacks_fd, &e);
		report_build(&r, &e, ki, ks, 0);
		if (!want || want(ctx, &r))
			agg_add(a, &r, delta);
		if (k.type == RW_EV_SENT) {
			new_sent += delta;
			if (per_ns)
				per_ns(ctx, k.netns, delta);
		}
	}
	free(vals);
	/*
	 * Keys the kernel's LRU evicted stay here until the table is twice the map's size: then
	 * keep only the keys of this read, so memory stays flat however many owners come and go.
	 */
	if (a->nseen > 2 * (int)(a->map_size ? a->map_size : 16384)) {
		struct agg_seen *old = a->seen;
		int cap = a->capseen;

		a->seen = NULL;
		a->nseen = a->capseen = 0;
		for (int i = 0; i < cap; i++) {
			struct agg_seen *n;

			if (!old[i].k.type || old[i].gen != a->gen)
				continue;
			n = seen_find(a, &old[i].k);
			if (n) {
				n->count = old[i].count;
				n->gen = old[i].gen;
			}
		}
		free(old);
	}
	a->gen++;
	return new_sent;
}

static int cmp_rows(const void *x, const void *y)
{
	const struct agg_row *a = x, *b = y;
	uint64_t da = a->total - a->prev, db = b->total - b->prev;

	if (da != db)
		return da > db ? -1 : 1;
	if (a->total != b->total)
		return a->total > b->total ? -1 : 1;
	return (int)a->port - (int)b->port;
}

void agg_sort(struct agg *a)
{
	qsort(a->rows, a->n, sizeof(*a->rows), cmp_rows);
}

void agg_roll(struct agg *a)
{
	for (int i = 0; i < a->n; i++)
		a->rows[i].prev = a->rows[i].total;
}

void agg_free(struct agg *a)
{
	free(a->rows);
	free(a->seen);
	memset(a, 0, sizeof(*a));
}
