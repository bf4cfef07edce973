/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Perf map files (perf-PID.map in the temporary directory): what JIT compilers (OpenJDK's
 * Compiler.perfmap and -XX:+DumpPerfMapAtExit, Node's --perf-basic-prof) write about the
 * code they generate, "START SIZE NAME" per line in hex.
 */
#ifndef RW_PERFMAP_H
#define RW_PERFMAP_H

#include <stdint.h>
#include <sys/types.h>

struct perfmap;

/* the map of process pid (read again when the file changed); NULL if it has none */
struct perfmap *perfmap_get(pid_t pid);
/* the name of the code at addr and addr's offset in it, NULL if no entry holds addr */
const char *perfmap_lookup(const struct perfmap *pm, uint64_t addr, uint64_t *off);
void perfmap_free_all(void);

#endif
