// SPDX-License-Identifier: GPL-2.0
/*
 * Aggregation. Rows (cause x port x owner) are found through a hash index and bounded: past
 * AGG_MAX_ROWS, new ones count in a folded row per cause, origin and direction, so a host that
 * sees ever new ports or owners for days does not grow rstwhy. The kernel's keys are read once
 * per interval, each classified through the same rw_classify()
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

/* the row key without the counters: what makes two reports the same row */
struct row_key {
	enum rw_cause cause;
	enum rw_origin origin;
	bool received, remote, has_owner, folded;
	uint32_t netns;
	uint16_t port;
	uint32_t pid;
	uint64_t cgroup_id;
	char comm[16];
};

static bool row_is(const struct agg_row *row, const struct row_key *k)
{
	return row->cause == k->cause && row->origin == k->origin &&
	       row->received == k->received && row->netns == k->netns && row->port == k->port &&
	       row->remote == k->remote && row->folded == k->folded &&
	       row->has_owner == k->has_owner &&
	       (!k->has_owner || (row->pid == k->pid && row->cgroup_id == k->cgroup_id &&
				  !strncmp(row->comm, k->comm, 16)));
}

static uint32_t row_hash(const struct row_key *k)
{
	uint64_t h = 1469598103934665603ull;
	uint64_t w[] = { k->cause, k->origin, k->received | k->remote << 1 | k->has_owner << 2 |
			 (uint64_t)k->folded << 3, k->netns, k->port, k->pid, k->cgroup_id };

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
		h = (h ^ w[i]) * 1099511628211ull;
	for (int i = 0; i < 16 && k->has_owner && k->comm[i]; i++)
		h = (h ^ (unsigned char)k->comm[i]) * 1099511628211ull;
	return h ^ h >> 32;
}

/* the row's slot in the index (rows are never removed), or the free slot where it goes */
static int *slot_of(struct agg *a, const struct row_key *k)
{
	for (uint32_t i = row_hash(k) & (AGG_INDEX - 1);; i = (i + 1) & (AGG_INDEX - 1))
		if (!a->index[i] || row_is(&a->rows[a->index[i] - 1], k))
			return &a->index[i];
}

void agg_add(struct agg *a, const struct rw_report *r, uint64_t n)
{
	const struct rw_event *e = r->e;
	bool recv = e->type == RW_EV_RECV;
	struct row_key k = { .cause = r->v.cause, .origin = r->v.origin, .received = recv,
			     .netns = e->netns, .port = recv ? e->dport : e->sport };
	struct agg_row *row;
	int *slot;

	/* a client socket (its local port is ephemeral) counts under the port it talks to */
	if (!k.port || (e->flags & RW_F_CLIENT)) {
		k.port = recv ? e->sport : e->dport;
		k.remote = true;
	}
	if (r->has_owner) {
		k.has_owner = true;
		k.pid = r->owner.tgid;
		k.cgroup_id = e->cgroup_id;
		memcpy(k.comm, r->owner.comm, 15);
	}
	if (!a->index && !(a->index = calloc(AGG_INDEX, sizeof(*a->index))))
		return;
	slot = slot_of(a, &k);
	if (!*slot && a->n >= AGG_MAX_ROWS) {
		/* full: what is new counts in one row per cause, origin and direction */
		k = (struct row_key){ .cause = k.cause, .origin = k.origin, .received = recv,
				      .folded = true };
		slot = slot_of(a, &k);
	}
	if (*slot) {
		row = &a->rows[*slot - 1];
		row->total += n;
		if (r->ev.max_ack_backlog)
			row->accept_limit = r->ev.max_ack_backlog;
		return;
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
	*slot = a->n;
	memset(row, 0, sizeof(*row));
	row->cause = k.cause;
	row->origin = k.origin;
	row->received = k.received;
	row->netns = k.netns;
	row->port = k.port;
	row->remote = k.remote;
	row->folded = k.folded;
	row->has_owner = k.has_owner;
	if (k.has_owner) {
		row->pid = k.pid;
		memcpy(row->comm, k.comm, 16);
		row->cgroup_id = k.cgroup_id;
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
	/* the rows moved: index them again */
	if (!a->index)
		return;
	memset(a->index, 0, AGG_INDEX * sizeof(*a->index));
	for (int i = 0; i < a->n; i++) {
		const struct agg_row *row = &a->rows[i];
		struct row_key k = {
			.cause = row->cause, .origin = row->origin, .received = row->received,
			.remote = row->remote, .has_owner = row->has_owner, .folded = row->folded,
			.netns = row->netns, .port = row->port, .pid = row->pid,
			.cgroup_id = row->cgroup_id,
		};

		memcpy(k.comm, row->comm, sizeof(k.comm));
		*slot_of(a, &k) = i + 1;
	}
}

void agg_roll(struct agg *a)
{
	for (int i = 0; i < a->n; i++)
		a->rows[i].prev = a->rows[i].total;
}

void agg_free(struct agg *a)
{
	free(a->rows);
	free(a->index);
	free(a->seen);
	memset(a, 0, sizeof(*a));
}
