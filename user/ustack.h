/* SPDX-License-Identifier: GPL-2.0 */
/*
 * -u: the user-space stack of the task that sent an active reset, symbolized when its record
 * arrives (while the process most likely still lives): ELF symbol tables of the mapped files
 * through elfutils' libdwfl, call frame information for code without frame pointers, perf map
 * files for JIT-compiled code.
 */
#ifndef RW_USTACK_H
#define RW_USTACK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/types.h>
#include "../bpf/rstwhy.h"

#define USTACK_MAX_FRAMES 64

struct ustack_frame {
	uint64_t addr;
	char sym[160];		/* "name+0x1a", empty: no symbol holds addr */
	char file[200];		/* the mapping's file, "[anon]", "[exited]", "[unknown]" */
	uint64_t offset;	/* in the file (or the anonymous mapping) */
	bool has_offset;
};

struct ustack {
	uint64_t skaddr;
	uint64_t ts_ns;
	uint32_t tid, tgid;
	int n;
	bool truncated;		/* deeper than what was captured */
	bool exited;		/* the process was gone: addresses only */
	const char *unwind;	/* "dwarf", "fp", "dwarf+fp" */
	int fp_from;		/* the first frame from the frame-pointer walk, -1: none */
	struct ustack_frame f[USTACK_MAX_FRAMES];
};

/* a record from the kernel: unwound and symbolized now, kept for its event */
void ustack_record(const struct rw_ustack *u);
/*
 * The stack recorded for this active reset (socket, thread, and taken just before it), NULL
 * if none; valid until the next call. Call it for every active reset, shown or not: a record
 * left behind must not be taken for a later reset of a socket at the same address.
 */
const struct ustack *ustack_take(uint64_t skaddr, uint32_t tid, uint64_t ts_ns);
void ustack_free_all(void);

/* the "user_stack" members of an event's JSON object (docs/user-stacks.md) */
struct jw;
void ustack_json(struct jw *w, const struct ustack *s);
/* one indented line per frame; comm: the thread's name */
void ustack_table(FILE *f, const struct ustack *s, const char *comm);

#endif
