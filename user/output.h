/* SPDX-License-Identifier: GPL-2.0 */
/* Output sinks: the live table and JSON lines. */
#ifndef RW_OUTPUT_H
#define RW_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>
#include "json.h"
#include "report.h"

struct out_opts {
	bool json;
	bool stacks;
	int width;		/* terminal width to cut table lines at, 0: no limit */
	const struct ksyms *ks;
};

void out_table_header(FILE *f, const struct out_opts *o);
void out_event(FILE *f, const struct out_opts *o, const struct rw_report *r);
/* the owner's container as JSON: {"runtime","id","cgroup","pod_uid"} or null */
void json_container(struct jw *w, const char *key, const struct container *c);
/* "PID/COMM", then " RUNTIME:ID" when the container is known; buf >= 100 bytes */
void owner_str(char *buf, size_t len, uint32_t pid, const char *comm, const struct container *c);

#endif
