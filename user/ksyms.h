/* SPDX-License-Identifier: GPL-2.0 */
/* Kernel symbols, loaded once from /proc/kallsyms. */
#ifndef RW_KSYMS_H
#define RW_KSYMS_H

#include <stdint.h>

struct ksyms;

struct ksyms *ksyms_load(const char *path);
void ksyms_free(struct ksyms *ks);
/* name of the function holding addr and the offset into it; NULL if none */
const char *ksyms_lookup(const struct ksyms *ks, uint64_t addr, uint64_t *off);
/* FNBIT()s of the evidence functions (classify.h) found among the addresses */
uint32_t ksyms_fn_bits(const struct ksyms *ks, const uint64_t *addrs, int n);
/* the symbol of function fn, or of a compiler clone of it (fn.isra.0, ...); NULL if none */
const char *ksyms_find_function(const struct ksyms *ks, const char *fn);
/* index of the first frame below the tracing machinery (the traced kernel function) */
int ksyms_first_caller(const struct ksyms *ks, const uint64_t *addrs, int n);

#endif
