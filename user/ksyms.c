// SPDX-License-Identifier: GPL-2.0
/*
 * /proc/kallsyms, read once at start: a sorted table of text symbols, each tagged with the
 * classifier's evidence bit if it is one of the functions whose presence on a reset's stack
 * tells which path the reset took (evidence.def, next to the classifier).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "classify.h"
#include "ksyms.h"

struct ksym {
	uint64_t addr;
	uint32_t name_off;
	uint32_t bits;
};

struct ksyms {
	struct ksym *syms;
	int n;
	char *names;
	size_t names_len;
};

static int cmp_sym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

struct ksyms *ksyms_load(const char *path)
{
	struct ksyms *ks = calloc(1, sizeof(*ks));
	size_t cap = 0, ncap = 0;
	static char iobuf[1 << 16];
	char line[512];
	FILE *f;

	if (!ks)
		return NULL;
	f = fopen(path ? path : "/proc/kallsyms", "r");
	if (!f) {
		free(ks);
		return NULL;
	}
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	/* "ADDR TYPE NAME[\t[MODULE]]": parsed by hand, it is 200,000 lines at every start */
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char *end, *name, type;
		size_t len;

		addr = strtoull(line, &end, 16);
		if (end == line || end[0] != ' ' || !end[1] || end[2] != ' ')
			continue;
		type = end[1];
		if (type != 't' && type != 'T' && type != 'W' && type != 'w')
			continue;
		if (!addr)
			continue;	/* kptr_restrict hides addresses */
		name = end + 3;
		name[strcspn(name, " \t\n")] = 0;
		if (!*name)
			continue;
		if ((size_t)ks->n == cap) {
			struct ksym *s;

			cap = cap ? cap * 2 : 65536;
			s = realloc(ks->syms, cap * sizeof(*s));
			if (!s)
				goto fail;
			ks->syms = s;
		}
		len = strlen(name) + 1;
		if (ks->names_len + len > ncap) {
			char *p;

			ncap = ncap ? ncap * 2 : 1 << 20;
			p = realloc(ks->names, ncap);
			if (!p)
				goto fail;
			ks->names = p;
		}
		memcpy(ks->names + ks->names_len, name, len);
		ks->syms[ks->n].addr = addr;
		ks->syms[ks->n].name_off = ks->names_len;
		ks->syms[ks->n].bits = rw_fn_bits_of_symbol(name);
		ks->names_len += len;
		ks->n++;
	}
	fclose(f);
	if (!ks->n) {
		ksyms_free(ks);
		return NULL;
	}
	qsort(ks->syms, ks->n, sizeof(*ks->syms), cmp_sym);
	return ks;
fail:
	fclose(f);
	ksyms_free(ks);
	return NULL;
}

void ksyms_free(struct ksyms *ks)
{
	if (!ks)
		return;
	free(ks->syms);
	free(ks->names);
	free(ks);
}

int ksyms_first_caller(const struct ksyms *ks, const uint64_t *addrs, int n)
{
	for (int i = 0; i < n; i++) {
		const char *name = ksyms_lookup(ks, addrs[i], NULL);

		if (name && (!strncmp(name, "bpf_trace_run", 13) ||
			     !strncmp(name, "__bpf_trace_", 12) || !strncmp(name, "__traceiter_", 12) ||
			     !strncmp(name, "bpf_prog_", 9) || !strncmp(name, "perf_trace_", 11)))
			continue;
		if (!name && i < 2)
			continue;	/* the BPF program itself */
		return i;
	}
	return 0;
}

const char *ksyms_find_function(const struct ksyms *ks, const char *fn)
{
	size_t len = strlen(fn);
	const char *clone = NULL;

	for (int i = 0; ks && i < ks->n; i++) {
		const char *name = ks->names + ks->syms[i].name_off;

		if (strncmp(name, fn, len))
			continue;
		if (!name[len])
			return name;
		if (name[len] == '.' && !clone)
			clone = name;
	}
	return clone;
}

static const struct ksym *find(const struct ksyms *ks, uint64_t addr)
{
	int lo = 0, hi = ks->n - 1, best = -1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (ks->syms[mid].addr <= addr) {
			best = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return best < 0 ? NULL : &ks->syms[best];
}

const char *ksyms_lookup(const struct ksyms *ks, uint64_t addr, uint64_t *off)
{
	const struct ksym *s = ks ? find(ks, addr) : NULL;

	/* past the last symbol (a BPF program loaded after we read kallsyms) */
	if (!s || addr - s->addr > (1u << 20))
		return NULL;
	if (off)
		*off = addr - s->addr;
	return ks->names + s->name_off;
}

uint32_t ksyms_fn_bits(const struct ksyms *ks, const uint64_t *addrs, int n)
{
	uint32_t bits = 0;

	if (!ks)
		return 0;
	for (int i = 0; i < n; i++) {
		/* a return address may be the first byte after a call at a function's end */
		const struct ksym *s = find(ks, addrs[i] - (i ? 1 : 0));

		if (!s)
			continue;
		bits |= s->bits;
		/*
		 * Below a softirq or timer entry lies whatever task the interrupt landed on:
		 * its functions say nothing about this reset.
		 */
		if (s->bits & FNBIT(FN_IRQ_CONTEXT))
			break;
	}
	return bits;
}
