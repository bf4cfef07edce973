/* SPDX-License-Identifier: GPL-2.0 */
/* The Internet checksum (RFC 1071) for the hand-built segments of rstgen, rstinject, selftest. */
#ifndef RW_CSUM_H
#define RW_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* ones' complement sum of 16-bit big-endian words, folded at the end by csum_fold() */
static inline uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

/* the checksum in host order: store it with htons() */
static inline uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#endif
