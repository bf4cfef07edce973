/* SPDX-License-Identifier: GPL-2.0 */
/* A minimal pcapng writer: raw IP packets, each with a comment. */
#ifndef RW_PCAPNG_H
#define RW_PCAPNG_H

#include <stdint.h>
#include <stdio.h>

struct pcapng;

/* NULL and errno set on failure */
struct pcapng *pcapng_open(const char *path);
/* one packet starting at its IP header; orig_len is its full length; 0 or -errno */
int pcapng_write(struct pcapng *pc, uint64_t time_ns, const void *data, uint32_t caplen,
		 uint32_t orig_len, const char *comment);
int pcapng_close(struct pcapng *pc);
uint64_t pcapng_count(const struct pcapng *pc);

#endif
