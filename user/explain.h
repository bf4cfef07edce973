/* SPDX-License-Identifier: GPL-2.0 */
/* The cause table (causes.def) in words: --help, --list-causes, rstwhy explain. */
#ifndef RW_EXPLAIN_H
#define RW_EXPLAIN_H

#include <stdbool.h>
#include <stdio.h>

/* the cause list of --help: id, origin and the one-line meaning of each */
void rw_causes_help(FILE *f);
/* --list-causes: "id<TAB>origin<TAB>meaning" lines, or (json) one array of objects */
void rw_causes_list(FILE *f, bool json);

#endif
