// SPDX-License-Identifier: GPL-2.0
/*
 * pcapng (draft-ietf-opsawg-pcapng): a Section Header Block, one Interface Description Block
 * (LINKTYPE_RAW: packets start at the IP header; nanosecond timestamps), then one Enhanced
 * Packet Block per RST with an opt_comment that Wireshark shows as frame.comment. Every block
 * is written whole and flushed, so the file is complete after any write: Ctrl-C leaves a file
 * tshark reads.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "pcapng.h"

#define BT_SHB 0x0A0D0D0A
#define BT_IDB 0x00000001
#define BT_EPB 0x00000006
#define LINKTYPE_RAW 101
#define OPT_ENDOFOPT 0
#define OPT_COMMENT 1
#define IF_TSRESOL 9
#define SHB_USERAPPL 4

struct pcapng {
	FILE *f;
	uint64_t packets;
};

static size_t pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* append an option (code, value) to buf at *off */
static void put_opt(uint8_t *buf, size_t *off, uint16_t code, const void *val, uint16_t len)
{
	memcpy(buf + *off, &code, 2);
	memcpy(buf + *off + 2, &len, 2);
	memcpy(buf + *off + 4, val, len);
	memset(buf + *off + 4 + len, 0, pad4(len) - len);
	*off += 4 + pad4(len);
}

static int write_block(struct pcapng *pc, uint32_t type, const uint8_t *body, size_t len)
{
	uint32_t total = 12 + len;

	if (fwrite(&type, 4, 1, pc->f) != 1 || fwrite(&total, 4, 1, pc->f) != 1 ||
	    (len && fwrite(body, len, 1, pc->f) != 1) || fwrite(&total, 4, 1, pc->f) != 1 ||
	    fflush(pc->f))
		return -EIO;
	return 0;
}

struct pcapng *pcapng_open(const char *path)
{
	static const char appl[] = "rstwhy";
	struct pcapng *pc = calloc(1, sizeof(*pc));
	uint8_t body[128];
	size_t off = 0;
	uint32_t magic = 0x1A2B3C4D, linktype = LINKTYPE_RAW, snap = 0;
	uint16_t major = 1, minor = 0;
	int64_t seclen = -1;
	uint8_t tsresol = 9;
	uint16_t end = OPT_ENDOFOPT, zero = 0;

	if (!pc)
		return NULL;
	pc->f = fopen(path, "wb");
	if (!pc->f) {
		free(pc);
		return NULL;
	}
	memcpy(body, &magic, 4);
	memcpy(body + 4, &major, 2);
	memcpy(body + 6, &minor, 2);
	memcpy(body + 8, &seclen, 8);
	off = 16;
	put_opt(body, &off, SHB_USERAPPL, appl, sizeof(appl) - 1);
	memcpy(body + off, &end, 2);
	memcpy(body + off + 2, &zero, 2);
	off += 4;
	if (write_block(pc, BT_SHB, body, off))
		goto fail;

	off = 0;
	memcpy(body, &linktype, 2);	/* LinkType (16 bits) + reserved */
	memset(body + 2, 0, 2);
	memcpy(body + 4, &snap, 4);
	off = 8;
	put_opt(body, &off, IF_TSRESOL, &tsresol, 1);
	memcpy(body + off, &end, 2);
	memcpy(body + off + 2, &zero, 2);
	off += 4;
	if (write_block(pc, BT_IDB, body, off))
		goto fail;
	return pc;
fail:
	fclose(pc->f);
	free(pc);
	errno = EIO;
	return NULL;
}

int pcapng_write(struct pcapng *pc, uint64_t time_ns, const void *data, uint32_t caplen,
		 uint32_t orig_len, const char *comment)
{
	size_t clen = comment ? strlen(comment) : 0, off;
	uint32_t ifid = 0, hi = time_ns >> 32, lo = (uint32_t)time_ns;
	uint16_t end = OPT_ENDOFOPT, zero = 0;
	uint8_t *body;
	int err;

	if (clen > 65000)
		clen = 65000;
	body = malloc(20 + pad4(caplen) + 4 + pad4(clen) + 4);
	if (!body)
		return -ENOMEM;
	memcpy(body, &ifid, 4);
	memcpy(body + 4, &hi, 4);
	memcpy(body + 8, &lo, 4);
	memcpy(body + 12, &caplen, 4);
	memcpy(body + 16, &orig_len, 4);
	memcpy(body + 20, data, caplen);
	memset(body + 20 + caplen, 0, pad4(caplen) - caplen);
	off = 20 + pad4(caplen);
	if (clen) {
		put_opt(body, &off, OPT_COMMENT, comment, clen);
		memcpy(body + off, &end, 2);
		memcpy(body + off + 2, &zero, 2);
		off += 4;
	}
	err = write_block(pc, BT_EPB, body, off);
	free(body);
	if (!err)
		pc->packets++;
	return err;
}

uint64_t pcapng_count(const struct pcapng *pc)
{
	return pc ? pc->packets : 0;
}

int pcapng_close(struct pcapng *pc)
{
	int err = 0;

	if (!pc)
		return 0;
	if (fclose(pc->f))
		err = -errno;
	free(pc);
	return err;
}
