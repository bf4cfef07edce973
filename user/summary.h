/* SPDX-License-Identifier: GPL-2.0 */
/* --summary: a top-like view of the RST storm, or the same as JSON lines. */
#ifndef RW_SUMMARY_H
#define RW_SUMMARY_H

#include <stdbool.h>
#include <stdio.h>
#include "agg.h"
#include "listeners.h"

struct summary_opts {
	bool json;
	bool clear;		/* a terminal: redraw in place */
	double interval;	/* seconds */
};

/* one interval: rows sorted by agg_sort(), listeners polled for the rows' ports */
void summary_print(FILE *f, const struct summary_opts *o, const struct agg *a,
		   const struct listeners *ls, double elapsed, uint64_t lost);
/*
 * The closing summary's top finding: the row of sent RSTs with the highest total, its port,
 * owner and what its cause means; nothing if no RST was sent
 */
void summary_top_finding(FILE *f, const struct agg *a);

#endif
