// SPDX-License-Identifier: GPL-2.0
/*
 * rstwhy match CAPTURE EVENTS.jsonl: "was it this host at all?"
 *
 * Every TCP RST in a packet capture taken anywhere on the path (hypervisor, switch mirror, the
 * peer) is compared with the RSTs this host recorded with `rstwhy --json`.  A capture RST is
 * this host's when an event has the same addresses and ports (after --nat) and the same
 * sequence number, and the same acknowledgment number where the RST carries ACK.  Those
 * numbers are what makes the answer trustworthy: they do not depend on clocks, and a
 * middlebox that resets a connection in the host's name cannot know the host's snd_nxt
 * unless it copies it from the segment it answers, and then the ACK bit or ack differs from
 * what the host would have sent.  Events recorded without the RST's numbers (older rstwhy)
 * fall back to addresses and ports plus time, within --window seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <pcap/pcap.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include "jsonl.h"
#include "subcmd.h"
#include "util.h"

#define EXIT_DATA EXIT_ENV


#define NSEC 1000000000LL
#define COPY_WINDOW_NS (50 * 1000000LL)	/* same packet seen twice on the path */
#define SPAN_SLACK_NS NSEC		/* events this close to the capture's ends count */
#define MAX_ENCAP 8			/* nested tunnels / VLAN tags we follow */

/* ---- tuples ------------------------------------------------------------------------------ */

struct ep {
	uint8_t a[16];
	uint16_t port;
};

struct tuple {
	int family;
	struct ep src, dst;
};

/* a byte string that sorts and compares tuples, then the RST's numbers */
#define TKEY_LEN 37
#define SKEY_LEN (TKEY_LEN + 9)

static void tuple_key(const struct tuple *t, uint8_t *k)
{
	k[0] = t->family == AF_INET6 ? 6 : 4;
	memcpy(k + 1, t->src.a, 16);
	memcpy(k + 17, t->dst.a, 16);
	k[33] = t->src.port >> 8;
	k[34] = t->src.port;
	k[35] = t->dst.port >> 8;
	k[36] = t->dst.port;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* tuple + seq + ACK bit + ack (only when the RST has ACK: otherwise the field is noise) */
static void seq_key(const struct tuple *t, uint32_t seq, uint8_t flags, uint32_t ack, uint8_t *k)
{
	tuple_key(t, k);
	put32(k + TKEY_LEN, seq);
	k[TKEY_LEN + 4] = !!(flags & TF_ACK);
	put32(k + TKEY_LEN + 5, (flags & TF_ACK) ? ack : 0);
}

/* the connection, whichever direction: both endpoints in a fixed order */
static void flow_key(const struct tuple *t, uint8_t *k)
{
	struct tuple r = { .family = t->family, .src = t->dst, .dst = t->src };
	uint8_t a[TKEY_LEN], b[TKEY_LEN];

	tuple_key(t, a);
	tuple_key(&r, b);
	memcpy(k, memcmp(a, b, TKEY_LEN) <= 0 ? a : b, TKEY_LEN);
}

static void fmt_ep(int family, const struct ep *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(family, e->a, a, sizeof(a));
	if (family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, e->port);
	else
		snprintf(buf, len, "%s:%u", a, e->port);
}

static void fmt_addr(int family, const uint8_t *a, char *buf)
{
	inet_ntop(family, a, buf, INET6_ADDRSTRLEN);
}

/* ---- a set of connections seen in the capture ------------------------------------------- */

struct flowset {
	uint8_t (*k)[TKEY_LEN + 1];	/* last byte: slot used */
	size_t cap, used;
};

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	while (n--)
		h = (h ^ *p++) * 1099511628211ull;
	return h;
}

static bool flowset_add(struct flowset *s, const uint8_t *key);

static bool flowset_grow(struct flowset *s)
{
	struct flowset n = { .cap = s->cap ? s->cap * 2 : 1024 };

	n.k = calloc(n.cap, sizeof(*n.k));
	if (!n.k)
		return false;
	for (size_t i = 0; i < s->cap; i++)
		if (s->k[i][TKEY_LEN])
			flowset_add(&n, s->k[i]);
	free(s->k);
	*s = n;
	return true;
}

static bool flowset_add(struct flowset *s, const uint8_t *key)
{
	size_t j;

	if ((s->used + 1) * 2 > s->cap && !flowset_grow(s))
		return false;
	for (j = fnv(key, TKEY_LEN) & (s->cap - 1); s->k[j][TKEY_LEN]; j = (j + 1) & (s->cap - 1))
		if (!memcmp(s->k[j], key, TKEY_LEN))
			return true;
	memcpy(s->k[j], key, TKEY_LEN);
	s->k[j][TKEY_LEN] = 1;
	s->used++;
	return true;
}

static bool flowset_has(const struct flowset *s, const uint8_t *key)
{
	if (!s->cap)
		return false;
	for (size_t j = fnv(key, TKEY_LEN) & (s->cap - 1); s->k[j][TKEY_LEN];
	     j = (j + 1) & (s->cap - 1))
		if (!memcmp(s->k[j], key, TKEY_LEN))
			return true;
	return false;
}

/* ---- decoding a captured frame down to TCP ----------------------------------------------- */

struct seg {
	struct tuple t;
	uint32_t seq, ack;
	uint8_t flags;
	bool has_ipid;
	uint16_t ipid;
};

enum { DEC_OTHER = 0, DEC_TCP = 1, DEC_SHORT = -1 };

static uint16_t be16(const uint8_t *p)
{
	return p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static int dec_ip(const uint8_t *p, size_t len, int depth, struct seg *s);
static int dec_ether(const uint8_t *p, size_t len, int depth, struct seg *s);

static int dec_ethertype(uint16_t type, const uint8_t *p, size_t len, int depth, struct seg *s)
{
	switch (type) {
	case 0x0800:
	case 0x86dd:
		return dec_ip(p, len, depth, s);
	case 0x6558:	/* transparent Ethernet bridging */
		return dec_ether(p, len, depth, s);
	case 0x8847:	/* MPLS: pop labels up to bottom of stack, then IP */
	case 0x8848:
		for (;;) {
			if (len < 4)
				return DEC_SHORT;
			p += 4;
			len -= 4;
			if (p[-2] & 1)
				return dec_ip(p, len, depth, s);
		}
	case 0x8864:	/* PPPoE session */
		if (len < 8)
			return DEC_SHORT;
		if (be16(p + 6) == 0x0021 || be16(p + 6) == 0x0057)
			return dec_ip(p + 8, len - 8, depth, s);
		return DEC_OTHER;
	default:
		return DEC_OTHER;
	}
}

static int dec_ether(const uint8_t *p, size_t len, int depth, struct seg *s)
{
	uint16_t type;

	if (++depth > MAX_ENCAP)
		return DEC_OTHER;
	if (len < 14)
		return DEC_SHORT;
	type = be16(p + 12);
	p += 14;
	len -= 14;
	while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
		if (len < 4)
			return DEC_SHORT;
		type = be16(p + 2);
		p += 4;
		len -= 4;
	}
	return dec_ethertype(type, p, len, depth, s);
}

static int dec_gre(const uint8_t *p, size_t len, int depth, struct seg *s)
{
	uint16_t fl, proto;
	size_t off = 4;

	if (len < 4)
		return DEC_SHORT;
	fl = be16(p);
	proto = be16(p + 2);
	if (fl & 7)		/* version 1 is PPTP's enhanced GRE */
		return DEC_OTHER;
	off += (fl & 0x8000 ? 4 : 0) + (fl & 0x2000 ? 4 : 0) + (fl & 0x1000 ? 4 : 0);
	if (len < off)
		return DEC_SHORT;
	p += off;
	len -= off;
	if (proto == 0x88be) {		/* ERSPAN type II */
		if (len < 8)
			return DEC_SHORT;
		return dec_ether(p + 8, len - 8, depth, s);
	}
	if (proto == 0x22eb) {		/* ERSPAN type III, maybe with a platform subheader */
		size_t h = 12;

		if (len < h)
			return DEC_SHORT;
		h += (p[11] & 1) ? 8 : 0;
		if (len < h)
			return DEC_SHORT;
		return dec_ether(p + h, len - h, depth, s);
	}
	return dec_ethertype(proto, p, len, depth, s);
}

static int dec_l4(int proto, const uint8_t *p, size_t len, int depth, struct seg *s)
{
	uint16_t dport;

	switch (proto) {
	case 6:
		if (len < 14)
			return DEC_SHORT;
		s->t.src.port = be16(p);
		s->t.dst.port = be16(p + 2);
		s->seq = be32(p + 4);
		s->ack = be32(p + 8);
		s->flags = p[13];
		return DEC_TCP;
	case 4:
	case 41:
		return dec_ip(p, len, depth, s);
	case 47:
		return dec_gre(p, len, depth, s);
	case 17:
		if (len < 8)
			return DEC_SHORT;
		dport = be16(p + 2);
		if (dport == 4789 || dport == 8472) {	/* VXLAN */
			if (len < 16)
				return DEC_SHORT;
			return dec_ether(p + 16, len - 16, depth, s);
		}
		if (dport == 6081) {			/* Geneve */
			size_t h;

			if (len < 16)
				return DEC_SHORT;
			h = 16 + (p[8] & 0x3f) * 4;
			if (len < h)
				return DEC_SHORT;
			return dec_ethertype(be16(p + 10), p + h, len - h, depth, s);
		}
		return DEC_OTHER;
	default:
		return DEC_OTHER;
	}
}

static int dec_ip(const uint8_t *p, size_t len, int depth, struct seg *s)
{
	size_t hl, tl;
	int nh;

	if (++depth > MAX_ENCAP)
		return DEC_OTHER;
	if (len < 1)
		return DEC_SHORT;
	if (p[0] >> 4 == 4) {
		if (len < 20)
			return DEC_SHORT;
		hl = (p[0] & 15) * 4;
		tl = be16(p + 2);
		if (hl < 20 || len < hl)
			return DEC_SHORT;
		if (tl >= hl && tl < len)	/* drop link-layer padding; tl 0 is TSO */
			len = tl;
		if (be16(p + 6) & 0x1fff)	/* not the first fragment */
			return DEC_OTHER;
		s->t.family = AF_INET;
		memset(s->t.src.a, 0, 16);
		memset(s->t.dst.a, 0, 16);
		memcpy(s->t.src.a, p + 12, 4);
		memcpy(s->t.dst.a, p + 16, 4);
		s->has_ipid = true;
		s->ipid = be16(p + 4);
		return dec_l4(p[9], p + hl, len - hl, depth, s);
	}
	if (p[0] >> 4 == 6) {
		if (len < 40)
			return DEC_SHORT;
		tl = 40 + be16(p + 4);
		if (tl > 40 && tl < len)
			len = tl;
		s->t.family = AF_INET6;
		memcpy(s->t.src.a, p + 8, 16);
		memcpy(s->t.dst.a, p + 24, 16);
		s->has_ipid = false;
		nh = p[6];
		p += 40;
		len -= 40;
		for (;;) {
			switch (nh) {
			case 0:		/* hop-by-hop, routing, destination options */
			case 43:
			case 60:
				if (len < 8 || len < (size_t)(p[1] + 1) * 8)
					return DEC_SHORT;
				hl = (p[1] + 1) * 8;
				break;
			case 44:	/* fragment */
				if (len < 8)
					return DEC_SHORT;
				if (be16(p + 2) & 0xfff8)
					return DEC_OTHER;
				hl = 8;
				break;
			case 51:	/* AH */
				if (len < 8 || len < (size_t)(p[1] + 2) * 4)
					return DEC_SHORT;
				hl = (p[1] + 2) * 4;
				break;
			default:
				return dec_l4(nh, p, len, depth, s);
			}
			nh = p[0];
			p += hl;
			len -= hl;
		}
	}
	return DEC_OTHER;
}

/* NFLOG: a 4-byte header, then TLVs (host byte order) of which NFULA_PAYLOAD is the packet */
static int dec_nflog(const uint8_t *p, size_t len, struct seg *s)
{
	size_t off = 4;

	if (len < 4)
		return DEC_SHORT;
	while (off + 4 <= len) {
		uint16_t tlen, type;

		memcpy(&tlen, p + off, 2);
		memcpy(&type, p + off + 2, 2);
		if (tlen < 4 || off + tlen > len)
			return DEC_SHORT;
		if ((type & 0x7fff) == 9)
			return dec_ip(p + off + 4, tlen - 4, 0, s);
		off += (tlen + 3) & ~3u;
	}
	return DEC_OTHER;
}

static int dec_frame(int dlt, const uint8_t *p, size_t len, struct seg *s)
{
	switch (dlt) {
	case DLT_EN10MB:
		return dec_ether(p, len, 0, s);
	case DLT_LINUX_SLL:
		if (len < 16)
			return DEC_SHORT;
		return dec_ethertype(be16(p + 14), p + 16, len - 16, 0, s);
	case DLT_LINUX_SLL2:
		if (len < 20)
			return DEC_SHORT;
		return dec_ethertype(be16(p), p + 20, len - 20, 0, s);
	case DLT_RAW:
	case DLT_IPV4:
	case DLT_IPV6:
		return dec_ip(p, len, 0, s);
	case DLT_NULL:
	case DLT_LOOP:
		if (len < 4)
			return DEC_SHORT;
		return dec_ip(p + 4, len - 4, 0, s);
	case DLT_NFLOG:
		return dec_nflog(p, len, s);
	default:
		return DEC_OTHER;
	}
}

static bool dlt_supported(int dlt)
{
	static const int ok[] = { DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, DLT_IPV4,
				  DLT_IPV6, DLT_NULL, DLT_LOOP, DLT_NFLOG };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (dlt == ok[i])
			return true;
	return false;
}

/* ---- the capture's RSTs ------------------------------------------------------------------ */

enum how { M_NONE, M_SEQ, M_TIME, M_COPY };

struct crst {
	int64_t ts;
	long pkt;		/* 1-based packet number in the capture */
	struct seg s;
	enum how how;
	long ev;		/* matched host event (index into hev), -1 */
	long copy_of;		/* M_COPY: the capture RST this repeats */
	uint8_t skey[SKEY_LEN];
};

struct capture {
	const char *path;
	int dlt;
	long packets, tcp, short_pkts;
	int64_t first_ts, last_ts;
	struct crst *r;
	size_t n, cap;
	struct flowset flows;
};

/* a packet's time in ns; pcapng allows times int64_t ns cannot hold: those are clamped */
static int64_t ts_ns(const struct pcap_pkthdr *h)
{
	int64_t max_s = INT64_MAX / NSEC - 1;

	if (h->ts.tv_sec < 0)
		return 0;
	if (h->ts.tv_sec > max_s)
		return max_s * NSEC;
	return (int64_t)h->ts.tv_sec * NSEC + h->ts.tv_usec % NSEC;
}

static int read_capture(struct capture *c, const char *path, char *err, size_t errlen)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const u_char *data;
	struct seg s;
	pcap_t *p;
	int rc, d;

	struct stat st;
	FILE *fp;

	memset(c, 0, sizeof(*c));
	c->path = path;
	fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	if (!fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!fstat(fileno(fp), &st) && (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) &&
								  !st.st_size))) {
		snprintf(err, errlen, "%s: %s, not a pcap or pcapng capture", path,
			 S_ISDIR(st.st_mode) ? "a directory" : "an empty file");
		if (fp != stdin)
			fclose(fp);
		return -1;
	}
	/* from here on pcap_close() closes fp */
	p = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, ebuf);
	if (!p) {
		snprintf(err, errlen, "%s: not a readable pcap or pcapng capture: %s", path, ebuf);
		if (fp != stdin)
			fclose(fp);
		return -1;
	}
	c->dlt = pcap_datalink(p);
	if (!dlt_supported(c->dlt)) {
		const char *name = pcap_datalink_val_to_name(c->dlt);

		snprintf(err, errlen, "%s: link type %d (%s) is not supported: capture on an "
			 "Ethernet, 'any' (Linux cooked), raw IP, loopback or nflog interface",
			 path, c->dlt, name ? name : "unknown");
		pcap_close(p);
		return -1;
	}
	while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
		int64_t ts = ts_ns(h);
		uint8_t fk[TKEY_LEN];

		c->packets++;
		if (c->packets == 1 || ts < c->first_ts)
			c->first_ts = ts;
		if (c->packets == 1 || ts > c->last_ts)
			c->last_ts = ts;
		memset(&s, 0, sizeof(s));
		d = dec_frame(c->dlt, data, h->caplen, &s);
		if (d == DEC_SHORT)
			c->short_pkts++;
		if (d != DEC_TCP)
			continue;
		c->tcp++;
		flow_key(&s.t, fk);
		if (!flowset_add(&c->flows, fk))
			goto oom;
		if (!(s.flags & TF_RST))
			continue;
		if (c->n == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 256;
			struct crst *nr = realloc(c->r, ncap * sizeof(*nr));

			if (!nr)
				goto oom;
			c->r = nr;
			c->cap = ncap;
		}
		c->r[c->n] = (struct crst){ .ts = ts, .pkt = c->packets, .s = s, .ev = -1,
					    .copy_of = -1 };
		seq_key(&s.t, s.seq, s.flags, s.ack, c->r[c->n].skey);
		c->n++;
	}
	if (rc != PCAP_ERROR_BREAK) {
		snprintf(err, errlen, "%s: capture damaged or truncated after packet %ld: %s", path,
			 c->packets, pcap_geterr(p));
		pcap_close(p);
		return -1;
	}
	pcap_close(p);
	return 0;
oom:
	snprintf(err, errlen, "%s: out of memory after packet %ld", path, c->packets);
	pcap_close(p);
	return -1;
}

/* ---- NAT mappings ------------------------------------------------------------------------ */

struct nat {
	int family;
	struct ep in, out;
	bool ports;		/* in and out carry ports */
};

/* "1.2.3.4", "1.2.3.4:80", "fd00::1", "[fd00::1]:80" */
static bool parse_ep(const char *s, int *family, struct ep *e, bool *has_port)
{
	char buf[INET6_ADDRSTRLEN + 8], *port = NULL, *end;
	long v;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	memset(e, 0, sizeof(*e));
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');

		if (!rb || (rb[1] && rb[1] != ':'))
			return false;
		*rb = 0;
		if (rb[1])
			port = rb + 2;
		memmove(buf, buf + 1, strlen(buf + 1) + 1);
		*family = AF_INET6;
	} else if (strchr(buf, ':') && strchr(buf, ':') == strrchr(buf, ':') &&
		   strchr(buf, '.')) {
		port = strchr(buf, ':');
		*port++ = 0;
		*family = AF_INET;
	} else {
		*family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	}
	if (inet_pton(*family, buf, e->a) != 1)
		return false;
	*has_port = port;
	if (port) {
		errno = 0;
		v = strtol(port, &end, 10);
		if (errno || !*port || *end || v < 1 || v > 65535)
			return false;
		e->port = v;
	}
	return true;
}

static int parse_nat(const char *arg, struct nat *n)
{
	char buf[2 * (INET6_ADDRSTRLEN + 8) + 2], *eq;
	int fin, fout;
	bool pin, pout;

	if (strlen(arg) >= sizeof(buf) || !(eq = strchr(strcpy(buf, arg), '=')))
		return -1;
	*eq = 0;
	if (!parse_ep(buf, &fin, &n->in, &pin) || !parse_ep(eq + 1, &fout, &n->out, &pout))
		return -1;
	if (fin != fout || pin != pout)
		return -1;
	n->family = fin;
	n->ports = pin;
	return 0;
}

/*
 * A dual-stack (AF_INET6) socket talking to an IPv4 peer sends IPv4 packets, while the event
 * may name its addresses as ::ffff:a.b.c.d: compare what is on the wire.
 */
static void unmap_v4(struct tuple *t)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	if (t->family != AF_INET6 || memcmp(t->src.a, mapped, 12) || memcmp(t->dst.a, mapped, 12))
		return;
	t->family = AF_INET;
	memmove(t->src.a, t->src.a + 12, 4);
	memset(t->src.a + 4, 0, 12);
	memmove(t->dst.a, t->dst.a + 12, 4);
	memset(t->dst.a + 4, 0, 12);
}

/* rules with ports first, then address-only ones; the first that fits wins */
static void nat_apply(const struct nat *rules, int n, int family, struct ep *e)
{
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++) {
			const struct nat *r = &rules[i];

			if (r->ports != !pass || r->family != family ||
			    memcmp(r->in.a, e->a, 16) || (r->ports && r->in.port != e->port))
				continue;
			memcpy(e->a, r->out.a, 16);
			if (r->ports)
				e->port = r->out.port;
			return;
		}
	}
}

/* ---- host events, as the capture would see them ------------------------------------------ */

struct hev {
	const struct jev *j;
	struct tuple t;		/* after --nat */
	uint8_t skey[SKEY_LEN];
	long rst;		/* matched capture RST, -1 */
};

static const struct hev *sort_hev;
static const struct crst *sort_crst;

/* events by (tuple, seq, ack) then time */
static int cmp_hev_seq(const void *a, const void *b)
{
	const struct hev *x = &sort_hev[*(const long *)a], *y = &sort_hev[*(const long *)b];
	int c = memcmp(x->skey, y->skey, SKEY_LEN);

	if (c)
		return c;
	return (x->j->time_ns > y->j->time_ns) - (x->j->time_ns < y->j->time_ns);
}

/* events by tuple then time */
static int cmp_hev_tuple(const void *a, const void *b)
{
	const struct hev *x = &sort_hev[*(const long *)a], *y = &sort_hev[*(const long *)b];
	int c = memcmp(x->skey, y->skey, TKEY_LEN);

	if (c)
		return c;
	return (x->j->time_ns > y->j->time_ns) - (x->j->time_ns < y->j->time_ns);
}

static int cmp_crst_seq(const void *a, const void *b)
{
	const struct crst *x = &sort_crst[*(const long *)a], *y = &sort_crst[*(const long *)b];
	int c = memcmp(x->skey, y->skey, SKEY_LEN);

	if (c)
		return c;
	if (x->s.flags != y->s.flags)
		return x->s.flags - y->s.flags;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* first index in idx[0..n) whose event key (first klen bytes) is >= key */
static size_t lower_bound(const struct hev *h, const long *idx, size_t n, const uint8_t *key,
			  size_t klen)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(h[idx[mid]].skey, key, klen) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int64_t i64abs(int64_t v)
{
	return v < 0 ? -v : v;
}

/* a + b, saturated: times in a crafted file may be anything */
static int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN + 1;
	return r;
}

struct matcher {
	struct capture cap;
	struct jev_file evf;
	struct hev *h;
	size_t nh;			/* sent events */
	long received;			/* received events, not compared */
	int64_t offset;			/* capture clock - host clock, from seq matches */
	long offset_from;
	int64_t window;
	/* host addresses (as the capture sees them), sorted, unique */
	struct { int family; uint8_t a[16]; } *host;
	size_t nhost;
};

static void do_match(struct matcher *m)
{
	struct capture *c = &m->cap;
	long *seqi = NULL, *tupi = NULL, *ci = NULL;
	size_t nseq = 0, ntup = 0;
	int64_t *diffs = NULL;
	size_t ndiff = 0;

	seqi = calloc(m->nh + 1, sizeof(*seqi));
	tupi = calloc(m->nh + 1, sizeof(*tupi));
	ci = calloc(c->n + 1, sizeof(*ci));
	diffs = calloc(c->n + 1, sizeof(*diffs));
	if (!seqi || !tupi || !ci || !diffs) {
		fprintf(stderr, "rstwhy match: out of memory\n");
		exit(EXIT_DATA);
	}
	for (size_t i = 0; i < m->nh; i++) {
		if (m->h[i].j->has_seq)
			seqi[nseq++] = i;
		else
			tupi[ntup++] = i;
	}
	sort_hev = m->h;
	qsort(seqi, nseq, sizeof(*seqi), cmp_hev_seq);
	qsort(tupi, ntup, sizeof(*tupi), cmp_hev_tuple);

	/* 1. same tuple and numbers: the event nearest in time among equal ones */
	for (size_t i = 0; i < c->n; i++) {
		struct crst *r = &c->r[i];
		size_t k = lower_bound(m->h, seqi, nseq, r->skey, SKEY_LEN);
		long best = -1;

		for (; k < nseq && !memcmp(m->h[seqi[k]].skey, r->skey, SKEY_LEN); k++) {
			struct hev *h = &m->h[seqi[k]];

			if (h->rst >= 0)
				continue;
			if (best < 0 || i64abs(r->ts - h->j->time_ns) <
					i64abs(r->ts - m->h[best].j->time_ns))
				best = seqi[k];
		}
		if (best >= 0) {
			r->how = M_SEQ;
			r->ev = best;
			m->h[best].rst = i;
			diffs[ndiff++] = r->ts - m->h[best].j->time_ns;
		}
	}
	if (ndiff) {
		qsort(diffs, ndiff, sizeof(*diffs), cmp_i64);
		m->offset = diffs[ndiff / 2];
		m->offset_from = ndiff;
	}

	/* 2. events without the RST's numbers: same tuple, near in time */
	for (size_t i = 0; i < c->n && ntup; i++) {
		struct crst *r = &c->r[i];
		size_t k = lower_bound(m->h, tupi, ntup, r->skey, TKEY_LEN);
		int64_t bestd = 0;
		long best = -1;

		if (r->how != M_NONE)
			continue;
		for (; k < ntup && !memcmp(m->h[tupi[k]].skey, r->skey, TKEY_LEN); k++) {
			struct hev *h = &m->h[tupi[k]];
			int64_t d = i64abs(sat_add(r->ts, -sat_add(m->offset, h->j->time_ns)));

			if (h->rst >= 0 || d > m->window)
				continue;
			if (best < 0 || d < bestd) {
				best = tupi[k];
				bestd = d;
			}
		}
		if (best >= 0) {
			r->how = M_TIME;
			r->ev = best;
			m->h[best].rst = i;
		}
	}

	/* 3. the same packet captured twice (two interfaces of a bridge, "any", ...) */
	for (size_t i = 0; i < c->n; i++)
		ci[i] = i;
	sort_crst = c->r;
	qsort(ci, c->n, sizeof(*ci), cmp_crst_seq);
	for (size_t a = 0; a < c->n;) {
		size_t b = a;

		while (b < c->n && !memcmp(c->r[ci[b]].skey, c->r[ci[a]].skey, SKEY_LEN) &&
		       c->r[ci[b]].s.flags == c->r[ci[a]].s.flags)
			b++;
		for (size_t x = a; x < b; x++) {
			struct crst *r = &c->r[ci[x]];

			if (r->how != M_NONE)
				continue;
			for (size_t y = a; y < b; y++) {
				const struct crst *o = &c->r[ci[y]];

				if ((o->how != M_SEQ && o->how != M_TIME) ||
				    i64abs(o->ts - r->ts) > COPY_WINDOW_NS ||
				    (o->s.has_ipid && r->s.has_ipid && o->s.ipid != r->s.ipid))
					continue;
				r->how = M_COPY;
				r->copy_of = ci[y];
				r->ev = o->ev;
				break;
			}
		}
		/* copies of a RST the host did not send: the earliest one stands for all */
		for (size_t x = a; x < b; x++) {
			struct crst *r = &c->r[ci[x]];

			for (size_t y = a; y < x && r->how == M_NONE; y++) {
				const struct crst *o = &c->r[ci[y]];

				if (o->how != M_NONE || o->copy_of >= 0 ||
				    r->ts - o->ts > COPY_WINDOW_NS ||
				    (o->s.has_ipid && r->s.has_ipid && o->s.ipid != r->s.ipid))
					continue;
				r->copy_of = ci[y];
			}
		}
		a = b;
	}
	free(seqi);
	free(tupi);
	free(ci);
	free(diffs);
}

static int cmp_hostaddr(const void *a, const void *b)
{
	const struct { int family; uint8_t a[16]; } *x = a, *y = b;

	if (x->family != y->family)
		return x->family - y->family;
	return memcmp(x->a, y->a, 16);
}

static void collect_host_addrs(struct matcher *m)
{
	size_t n = 0;

	m->host = calloc(m->nh + 1, sizeof(*m->host));
	if (!m->host) {
		fprintf(stderr, "rstwhy match: out of memory\n");
		exit(EXIT_DATA);
	}
	for (size_t i = 0; i < m->nh; i++) {
		m->host[n].family = m->h[i].t.family;
		memcpy(m->host[n].a, m->h[i].t.src.a, 16);
		n++;
	}
	qsort(m->host, n, sizeof(*m->host), cmp_hostaddr);
	m->nhost = 0;
	for (size_t i = 0; i < n; i++)
		if (!m->nhost || cmp_hostaddr(&m->host[m->nhost - 1], &m->host[i]))
			m->host[m->nhost++] = m->host[i];
}

static bool is_host_addr(const struct matcher *m, int family, const uint8_t *a)
{
	struct { int family; uint8_t a[16]; } k = { .family = family };

	memcpy(k.a, a, 16);
	return bsearch(&k, m->host, m->nhost, sizeof(k), cmp_hostaddr);
}

/* ---- output ------------------------------------------------------------------------------ */

enum hint { H_NONE, H_HOST_SRC, H_HOST_DST };

static enum hint not_host_hint(const struct matcher *m, const struct crst *r)
{
	if (is_host_addr(m, r->s.t.family, r->s.t.src.a))
		return H_HOST_SRC;
	if (is_host_addr(m, r->s.t.family, r->s.t.dst.a))
		return H_HOST_DST;
	return H_NONE;
}

static const char *hint_text(enum hint h)
{
	switch (h) {
	case H_HOST_SRC:
		return ": it carries this host's address, so something on the path (middlebox, "
		       "hypervisor, firewall) sent it in the host's name";
	case H_HOST_DST:
		return " (it was sent to this host)";
	default:
		return "";
	}
}

static const char *hint_id(enum hint h)
{
	switch (h) {
	case H_HOST_SRC:
		return "path-in-host-name";
	case H_HOST_DST:
		return "to-host";
	default:
		return NULL;
	}
}

static const char *how_id(enum how h)
{
	switch (h) {
	case M_SEQ:
		return "seq";
	case M_TIME:
		return "time";
	case M_COPY:
		return "copy";
	default:
		return NULL;
	}
}

static void fmt_numbers(uint32_t seq, uint32_t ack, uint8_t flags, char *buf, size_t len)
{
	char fl[9];

	tcp_flags_str(flags, fl);
	if (flags & TF_ACK)
		snprintf(buf, len, "%s seq=%u ack=%u", fl, seq, ack);
	else
		snprintf(buf, len, "%s seq=%u", fl, seq);
}

static void print_cause(FILE *f, const struct jev *j)
{
	fprintf(f, "%s (%s)", j->cause, j->origin);
	if (j->owner.valid)
		fprintf(f, ", owner %lld/%s", (long long)j->owner.pid, j->owner.comm);
	if (j->actor.valid && (!j->owner.valid || j->actor.pid != j->owner.pid))
		fprintf(f, ", actor %lld/%s", (long long)j->actor.pid, j->actor.comm);
	if (j->kreason)
		fprintf(f, ", kernel %s", j->kreason);
}

static void text_rst(FILE *f, const struct matcher *m, const struct crst *r)
{
	char t[48], s[64], d[64], nums[64];

	jsonl_format_time(r->ts, t, sizeof(t));
	fmt_ep(r->s.t.family, &r->s.t.src, s, sizeof(s));
	fmt_ep(r->s.t.family, &r->s.t.dst, d, sizeof(d));
	fmt_numbers(r->s.seq, r->s.ack, r->s.flags, nums, sizeof(nums));
	fprintf(f, "%s  %s > %s  %-28s  ", t, s, d, nums);
	if (r->how == M_NONE) {
		fprintf(f, "NOT sent by this host%s", hint_text(not_host_hint(m, r)));
		if (r->copy_of >= 0)
			fprintf(f, " [the same packet again, captured twice: see packet %ld]",
				m->cap.r[r->copy_of].pkt);
		fputc('\n', f);
		return;
	}
	fputs("sent by this host: ", f);
	print_cause(f, m->h[r->ev].j);
	if (r->how == M_TIME)
		fputs(" [matched by addresses and time: the event has no seq]", f);
	else if (r->how == M_COPY)
		fprintf(f, " [the same packet again, captured twice: see packet %ld]",
			m->cap.r[r->copy_of].pkt);
	fputc('\n', f);
}

static void text_event(FILE *f, const struct hev *h, const char *what)
{
	const struct jev *j = h->j;
	char t[48], s[64], d[64], nums[64] = "seq unknown";

	jsonl_format_time(j->time_ns, t, sizeof(t));
	fmt_ep(h->t.family, &h->t.src, s, sizeof(s));
	fmt_ep(h->t.family, &h->t.dst, d, sizeof(d));
	if (j->has_seq)
		fmt_numbers(j->seq, j->ack, j->flags, nums, sizeof(nums));
	fprintf(f, "%s  %s > %s  %-28s  %s: ", t, s, d, nums, what);
	print_cause(f, j);
	fprintf(f, " [events line %ld]\n", j->line);
}

static json_object *jtask(const struct jev_task *t)
{
	json_object *o;

	if (!t->valid)
		return NULL;
	o = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int64(t->pid));
	json_object_object_add(o, "comm", json_object_new_string(t->comm));
	return o;
}

static void jadd_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void jadd_tuple(json_object *o, const struct tuple *t)
{
	char a[INET6_ADDRSTRLEN];

	jadd_str(o, "family", t->family == AF_INET6 ? "ipv6" : "ipv4");
	fmt_addr(t->family, t->src.a, a);
	jadd_str(o, "saddr", a);
	json_object_object_add(o, "sport", json_object_new_int(t->src.port));
	fmt_addr(t->family, t->dst.a, a);
	jadd_str(o, "daddr", a);
	json_object_object_add(o, "dport", json_object_new_int(t->dst.port));
}

static void jadd_event(json_object *o, const struct jev *j)
{
	char t[48];

	jsonl_format_time(j->time_ns, t, sizeof(t));
	jadd_str(o, "cause", j->cause);
	jadd_str(o, "origin", j->origin);
	jadd_str(o, "kernel_reason", j->kreason);
	json_object_object_add(o, "owner", jtask(&j->owner));
	json_object_object_add(o, "actor", jtask(&j->actor));
	jadd_str(o, "event_time", t);
	json_object_object_add(o, "event_line", json_object_new_int64(j->line));
}

static void jprint(FILE *f, json_object *o)
{
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static void json_rst(FILE *f, const struct matcher *m, const struct crst *r)
{
	json_object *o = json_object_new_object();
	char t[48], fl[9];

	jsonl_format_time(r->ts, t, sizeof(t));
	tcp_flags_str(r->s.flags, fl);
	jadd_str(o, "type", "rst");
	jadd_str(o, "time", t);
	json_object_object_add(o, "packet", json_object_new_int64(r->pkt));
	jadd_tuple(o, &r->s.t);
	json_object_object_add(o, "seq", json_object_new_int64(r->s.seq));
	json_object_object_add(o, "ack", json_object_new_int64(r->s.ack));
	jadd_str(o, "flags", fl);
	json_object_object_add(o, "sent_by_host", json_object_new_boolean(r->how != M_NONE));
	if (r->how == M_NONE) {
		jadd_str(o, "hint", hint_id(not_host_hint(m, r)));
		if (r->copy_of >= 0)
			json_object_object_add(o, "copy_of_packet",
					       json_object_new_int64(m->cap.r[r->copy_of].pkt));
	} else {
		jadd_str(o, "match", how_id(r->how));
		if (r->how == M_COPY)
			json_object_object_add(o, "copy_of_packet",
					       json_object_new_int64(m->cap.r[r->copy_of].pkt));
		jadd_event(o, m->h[r->ev].j);
	}
	jprint(f, o);
}

static void json_event(FILE *f, const struct hev *h, const char *type)
{
	json_object *o = json_object_new_object();
	const struct jev *j = h->j;
	char t[48], fl[9];

	jsonl_format_time(j->time_ns, t, sizeof(t));
	jadd_str(o, "type", type);
	jadd_str(o, "time", t);
	jadd_tuple(o, &h->t);
	if (j->has_seq) {
		tcp_flags_str(j->flags, fl);
		json_object_object_add(o, "seq", json_object_new_int64(j->seq));
		json_object_object_add(o, "ack", json_object_new_int64(j->ack));
		jadd_str(o, "flags", fl);
	}
	jadd_event(o, j);
	json_object_object_del(o, "event_time");
	jprint(f, o);
}

/* causes of the matched RSTs, in first-seen order */
struct cause_count {
	const char *cause, *origin;
	long n;
};

static bool in_capture_span(const struct matcher *m, const struct hev *h)
{
	int64_t t = sat_add(h->j->time_ns, m->offset);

	return m->cap.packets && t >= m->cap.first_ts - SPAN_SLACK_NS &&
	       t <= m->cap.last_ts + SPAN_SLACK_NS;
}

/* lost: the capture shows the connection around that time but not this RST */
static bool event_lost(const struct matcher *m, const struct hev *h)
{
	uint8_t fk[TKEY_LEN];

	flow_key(&h->t, fk);
	return flowset_has(&m->cap.flows, fk) && in_capture_span(m, h);
}

/* things that make the verdicts doubtful: wrong files, clocks, NAT */
static int warnings(const struct matcher *m, long host, const char **w)
{
	const struct capture *c = &m->cap;
	int64_t lo = 0, hi = 0;
	int n = 0;

	for (size_t i = 0; i < m->nh; i++) {
		int64_t t = sat_add(m->h[i].j->time_ns, m->offset);

		if (!i || t < lo)
			lo = t;
		if (!i || t > hi)
			hi = t;
	}
	if (!m->nh && c->n)
		w[n++] = "the events file holds no RST sent by this host: if it was recording "
			 "during the capture, this host sent none (check rstwhy's --netns and "
			 "filters)";
	if (m->nh && c->packets && (hi < c->first_ts - SPAN_SLACK_NS ||
				    lo > c->last_ts + SPAN_SLACK_NS))
		w[n++] = "the events and the capture do not overlap in time: files of different "
			 "runs, or clocks far apart?";
	else if (m->nh && c->n && !host)
		w[n++] = "no RST of the capture matched a host event: capture and events of the "
			 "same host? NAT on the way (see --nat)?";
	return n;
}

static int report(struct matcher *m, bool json)
{
	const char *warn[4];
	int nwarn;
	struct capture *c = &m->cap;
	struct cause_count *cc = calloc(c->n + 1, sizeof(*cc));
	long host = 0, nothost = 0, copies = 0, in_name = 0, lost = 0, unseen = 0;
	size_t ncc = 0;

	if (!cc) {
		fprintf(stderr, "rstwhy match: out of memory\n");
		return EXIT_DATA;
	}
	for (size_t i = 0; i < c->n; i++) {
		const struct crst *r = &c->r[i];

		if (json)
			json_rst(stdout, m, r);
		else
			text_rst(stdout, m, r);
		if (r->how == M_NONE && r->copy_of >= 0) {
			copies++;
			continue;
		}
		if (r->how == M_NONE) {
			nothost++;
			in_name += not_host_hint(m, r) == H_HOST_SRC;
			continue;
		}
		if (r->how == M_COPY) {
			copies++;
			continue;
		}
		host++;
		const struct jev *j = m->h[r->ev].j;
		size_t k;

		for (k = 0; k < ncc; k++)
			if (cc[k].cause == j->cause && cc[k].origin == j->origin)
				break;
		if (k == ncc)
			cc[ncc++] = (struct cause_count){ j->cause, j->origin, 0 };
		cc[k].n++;
	}
	for (size_t i = 0; i < m->nh; i++) {
		const struct hev *h = &m->h[i];

		if (h->rst >= 0)
			continue;
		if (event_lost(m, h)) {
			lost++;
			if (json)
				json_event(stdout, h, "lost");
			else
				text_event(stdout, h,
					   "host RST not in the capture (lost on the way?)");
		} else {
			unseen++;
			if (json)
				json_event(stdout, h, "unseen");
		}
	}

	nwarn = warnings(m, host, warn);
	if (json) {
		json_object *o = json_object_new_object(), *bc = json_object_new_array();
		json_object *wa = json_object_new_array();

		jadd_str(o, "type", "summary");
		json_object_object_add(o, "packets", json_object_new_int64(c->packets));
		json_object_object_add(o, "rsts", json_object_new_int64(c->n));
		json_object_object_add(o, "sent_by_host", json_object_new_int64(host));
		for (size_t k = 0; k < ncc; k++) {
			json_object *x = json_object_new_object();

			jadd_str(x, "cause", cc[k].cause);
			jadd_str(x, "origin", cc[k].origin);
			json_object_object_add(x, "count", json_object_new_int64(cc[k].n));
			json_object_array_add(bc, x);
		}
		json_object_object_add(o, "by_cause", bc);
		json_object_object_add(o, "not_sent_by_host", json_object_new_int64(nothost));
		json_object_object_add(o, "not_sent_by_host_with_host_source",
				       json_object_new_int64(in_name));
		json_object_object_add(o, "copies", json_object_new_int64(copies));
		json_object_object_add(o, "host_events", json_object_new_int64(m->nh));
		json_object_object_add(o, "host_events_lost", json_object_new_int64(lost));
		json_object_object_add(o, "host_events_unseen", json_object_new_int64(unseen));
		json_object_object_add(o, "clock_offset_s", m->offset_from ?
				       jsonl_double(m->offset / 1e9) : NULL);
		json_object_object_add(o, "short_packets", json_object_new_int64(c->short_pkts));
		for (int k = 0; k < nwarn; k++)
			json_object_array_add(wa, json_object_new_string(warn[k]));
		json_object_object_add(o, "warnings", wa);
		jprint(stdout, o);
		free(cc);
		return 0;
	}

	printf("--\n");
	printf("capture %s: %ld packets, %ld TCP, link type %s\n", c->path, c->packets, c->tcp,
	       pcap_datalink_val_to_name(c->dlt) ?: "?");
	if (c->short_pkts)
		printf("  %ld packets cut too short to see their TCP flags (snap length?)\n",
		       c->short_pkts);
	printf("RSTs in the capture:                %6zu\n", c->n);
	printf("  sent by this host:                %6ld\n", host);
	for (size_t k = 0; k < ncc; k++) {
		char name[80];

		snprintf(name, sizeof(name), "%s (%s)", cc[k].cause, cc[k].origin);
		printf("    %-30s  %6ld\n", name, cc[k].n);
	}
	printf("  NOT sent by this host:            %6ld", nothost);
	if (in_name)
		printf("   (%ld with this host's address as source)", in_name);
	putchar('\n');
	if (copies)
		printf("  the same RST captured again:      %6ld\n", copies);
	printf("host RSTs recorded (%s):\n", m->evf.path);
	printf("  sent:                             %6zu", m->nh);
	if (m->received)
		printf("   (%ld received RSTs not compared)", m->received);
	putchar('\n');
	printf("  with no RST in the capture:       %6ld   (lost on the way?)\n", lost);
	printf("  not comparable:                   %6ld   (connection not in the capture, or "
	       "outside its time span)\n", unseen);
	if (m->offset_from)
		printf("clock: capture %+.6f s from the host (median of %ld RSTs matched by seq)\n",
		       m->offset / 1e9, m->offset_from);
	for (int k = 0; k < nwarn; k++)
		printf("warning: %s\n", warn[k]);
	free(cc);
	return 0;
}

/* ---- command ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: rstwhy match CAPTURE EVENTS.jsonl [--nat INSIDE=OUTSIDE]... [--window SECS]"
		" [--json]\n"
		"  CAPTURE      pcap or pcapng taken anywhere on the path (tcpdump -w)\n"
		"  EVENTS       what `rstwhy --json` recorded on the host meanwhile\n"
		"  --nat A=B    the host's address A (or A:PORT) appears as B (B:PORT) in the\n"
		"               capture; IPv6 with a port: [fd00::1]:80; repeatable\n"
		"  --window S   for events without the RST's seq (older recordings): match by\n"
		"               addresses and time within S seconds (default 1)\n"
		"  -j, --json   one JSON object per line, the summary last\n");
}

int cmd_match(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nat", required_argument, NULL, 'n' },
		{ "window", required_argument, NULL, 'w' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct matcher m = { .window = NSEC };
	struct nat *nat = NULL;
	char err[512], *end;
	bool json = false;
	int opt, nnat = 0, ret;
	double w;

	nat = calloc(argc, sizeof(*nat));
	if (!nat)
		return EXIT_DATA;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			if (parse_nat(optarg, &nat[nnat])) {
				fprintf(stderr, "rstwhy match: bad --nat '%s': want "
					"INSIDE=OUTSIDE, e.g. 10.0.0.5=198.51.100.7 or "
					"10.0.0.5:80=198.51.100.7:8080 (same family, ports on both "
					"sides or neither)\n", optarg);
				free(nat);
				return EXIT_USAGE;
			}
			nnat++;
			break;
		case 'w':
			errno = 0;
			w = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(w >= 0) || w > 86400) {
				fprintf(stderr, "rstwhy match: bad --window '%s': seconds, "
					"0..86400\n", optarg);
				free(nat);
				return EXIT_USAGE;
			}
			m.window = (int64_t)(w * 1e9 + 0.5);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			free(nat);
			return 0;
		default:
			jsonl_bad_option("match", argv[optind - 1]);
			free(nat);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "rstwhy match: need a capture file and an events file: "
			"rstwhy match CAPTURE EVENTS.jsonl (see --help)\n");
		free(nat);
		return EXIT_USAGE;
	}

	if (jsonl_load(&m.evf, argv[optind + 1], err, sizeof(err))) {
		fprintf(stderr, "rstwhy match: %s\n", err);
		ret = EXIT_DATA;
		goto out;
	}
	if (read_capture(&m.cap, argv[optind], err, sizeof(err))) {
		fprintf(stderr, "rstwhy match: %s\n", err);
		ret = EXIT_DATA;
		goto out;
	}

	m.h = calloc(m.evf.n + 1, sizeof(*m.h));
	if (!m.h) {
		fprintf(stderr, "rstwhy match: out of memory\n");
		ret = EXIT_DATA;
		goto out;
	}
	for (size_t i = 0; i < m.evf.n; i++) {
		const struct jev *j = &m.evf.ev[i];
		struct hev *h = &m.h[m.nh];

		if (!j->sent) {
			m.received++;
			continue;
		}
		h->j = j;
		h->rst = -1;
		h->t.family = j->family;
		memcpy(h->t.src.a, j->saddr, 16);
		memcpy(h->t.dst.a, j->daddr, 16);
		h->t.src.port = j->sport;
		h->t.dst.port = j->dport;
		unmap_v4(&h->t);
		nat_apply(nat, nnat, h->t.family, &h->t.src);
		nat_apply(nat, nnat, h->t.family, &h->t.dst);
		seq_key(&h->t, j->seq, j->flags, j->ack, h->skey);
		m.nh++;
	}
	collect_host_addrs(&m);
	do_match(&m);
	ret = report(&m, json);
	free(m.h);
	free(m.host);
out:
	free(m.cap.r);
	free(m.cap.flows.k);
	jsonl_free(&m.evf);
	free(nat);
	return ret;
}
