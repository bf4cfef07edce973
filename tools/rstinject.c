// SPDX-License-Identifier: GPL-2.0
/*
 * rstinject - build a TCP RST by hand and send it, the way an IPS, a load balancer health
 * checker or a "tcpkill" does: the TCP stack never sees it.
 *
 *   rstinject raw|packet --netns PATH -s SRCADDR -d DSTADDR --sport P --dport Q
 *             [--seq N] [--ack N] [-i IFNAME] [--ipproto raw|tcp] [--bypass] [-n COUNT] [--hold]
 *
 * raw     AF_INET/AF_INET6 SOCK_RAW IPPROTO_RAW: the whole IP packet is ours (header included).
 *         --ipproto tcp: SOCK_RAW IPPROTO_TCP instead; the kernel builds the IP header, the
 *         TCP header (checksum included, IPV6_CHECKSUM for IPv6) is ours.
 * packet  AF_PACKET SOCK_DGRAM on -i IFNAME (ETH_P_IP / ETH_P_IPV6), link-layer destination
 *         broadcast. --bypass sets PACKET_QDISC_BYPASS: the packet goes straight to the
 *         driver (__dev_direct_xmit) and skips net:net_dev_queue.
 *
 * The RST carries flags RA when the acknowledgment number is not 0 (default: random seq, random
 * ack), R alone with --ack 0. After it was sent, key=value lines on stdout:
 *   pid=N comm=rst-inject seq=S ack=A flags=F (one line each)
 * --hold keeps the socket open after that until SIGTERM or SIGINT (then exits 0), so that
 * `ss -0 -p` or /proc/net/packet can be shown to list it.
 *
 * Build: gcc -std=gnu11 -O2 -Wall -Wextra -Werror -o rstinject tools/rstinject.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include "csum.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif
#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

#define COMM "rst-inject"
#define TCP_HLEN 20
#define IP4_HLEN 20
#define IP6_HLEN 40

enum mode { M_RAW, M_PACKET };

static struct {
	enum mode mode;
	const char *netns;
	const char *ifname;
	int family;
	uint8_t saddr[16], daddr[16];
	uint16_t sport, dport;
	uint32_t seq, ack;
	bool have_seq, have_ack;
	bool l4_only;		/* raw with IPPROTO_TCP: the kernel builds the IP header */
	bool bypass;
	bool hold;
	long count;
} opt = { .count = 1 };

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("rstinject: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(FILE *f)
{
	fputs("usage: rstinject raw|packet --netns PATH -s SRCADDR -d DSTADDR --sport P --dport Q\n"
	      "                 [--seq N] [--ack N] [-i IFNAME] [--ipproto raw|tcp] [--bypass]\n"
	      "                 [-n COUNT] [--hold]\n"
	      "  raw            send through a raw IP socket (IPPROTO_RAW, own IP header;\n"
	      "                 --ipproto tcp: IPPROTO_TCP, the kernel adds the IP header)\n"
	      "  packet         send through an AF_PACKET SOCK_DGRAM socket on -i IFNAME\n"
	      "  --netns PATH   network namespace to send from (setns), e.g. /run/netns/x\n"
	      "  --seq/--ack N  header fields (default random; --ack 0 sends flags R, else RA)\n"
	      "  --bypass       packet: PACKET_QDISC_BYPASS (skips the qdisc layer)\n"
	      "  -n COUNT       send COUNT copies (default 1)\n"
	      "  --hold         keep the socket open after sending until SIGTERM/SIGINT\n", f);
}

static unsigned long parse_num(const char *what, const char *s, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v > max)
		die("bad %s '%s' (want 0..%lu)", what, s, max);
	return v;
}

static void parse_addr(const char *s, int *family, uint8_t *out)
{
	int fam = strchr(s, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(fam, s, out) != 1)
		die("bad address '%s'", s);
	if (*family && *family != fam)
		die("-s and -d must be of the same address family");
	*family = fam;
}

enum { O_NETNS = 1000, O_SPORT, O_DPORT, O_SEQ, O_ACK, O_IPPROTO, O_BYPASS, O_HOLD };

static const struct option longopts[] = {
	{ "netns", required_argument, NULL, O_NETNS },
	{ "saddr", required_argument, NULL, 's' },
	{ "daddr", required_argument, NULL, 'd' },
	{ "sport", required_argument, NULL, O_SPORT },
	{ "dport", required_argument, NULL, O_DPORT },
	{ "seq", required_argument, NULL, O_SEQ },
	{ "ack", required_argument, NULL, O_ACK },
	{ "interface", required_argument, NULL, 'i' },
	{ "ipproto", required_argument, NULL, O_IPPROTO },
	{ "bypass", no_argument, NULL, O_BYPASS },
	{ "hold", no_argument, NULL, O_HOLD },
	{ "count", required_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 }
};

static void parse_args(int argc, char **argv)
{
	bool have_s = false, have_d = false, have_sp = false, have_dp = false;
	int c;

	if (argc < 2) {
		usage(stderr);
		exit(2);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		exit(0);
	}
	if (!strcmp(argv[1], "raw"))
		opt.mode = M_RAW;
	else if (!strcmp(argv[1], "packet"))
		opt.mode = M_PACKET;
	else
		die("unknown mode '%s' (want raw or packet)", argv[1]);

	optind = 2;
	while ((c = getopt_long(argc, argv, "s:d:i:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case O_NETNS:
			opt.netns = optarg;
			break;
		case 's':
			parse_addr(optarg, &opt.family, opt.saddr);
			have_s = true;
			break;
		case 'd':
			parse_addr(optarg, &opt.family, opt.daddr);
			have_d = true;
			break;
		case O_SPORT:
			opt.sport = parse_num("--sport", optarg, 65535);
			have_sp = true;
			break;
		case O_DPORT:
			opt.dport = parse_num("--dport", optarg, 65535);
			have_dp = true;
			break;
		case O_SEQ:
			opt.seq = parse_num("--seq", optarg, UINT32_MAX);
			opt.have_seq = true;
			break;
		case O_ACK:
			opt.ack = parse_num("--ack", optarg, UINT32_MAX);
			opt.have_ack = true;
			break;
		case 'i':
			opt.ifname = optarg;
			break;
		case O_IPPROTO:
			if (!strcmp(optarg, "tcp"))
				opt.l4_only = true;
			else if (strcmp(optarg, "raw"))
				die("bad --ipproto '%s' (want raw or tcp)", optarg);
			break;
		case O_BYPASS:
			opt.bypass = true;
			break;
		case O_HOLD:
			opt.hold = true;
			break;
		case 'n':
			opt.count = parse_num("-n", optarg, 1000000);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument '%s'", argv[optind]);
	if (!opt.netns)
		die("--netns PATH is required");
	if (!have_s || !have_d || !have_sp || !have_dp)
		die("-s, -d, --sport and --dport are required");
	if (opt.mode == M_PACKET && !opt.ifname)
		die("packet mode needs -i IFNAME");
	if (opt.mode == M_PACKET && opt.l4_only)
		die("--ipproto applies to raw mode only");
	if (opt.mode == M_RAW && opt.bypass)
		die("--bypass applies to packet mode only");
}


static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

/* TCP header at tcp[], checksum over the pseudo header of opt's addresses */
static void build_tcp(uint8_t *tcp, uint8_t flags)
{
	size_t alen = opt.family == AF_INET ? 4 : 16;
	uint8_t tail[8] = { 0 };
	uint32_t sum = 0;
	uint16_t ck;

	memset(tcp, 0, TCP_HLEN);
	put16(tcp, opt.sport);
	put16(tcp + 2, opt.dport);
	put32(tcp + 4, opt.seq);
	put32(tcp + 8, opt.ack);
	tcp[12] = (TCP_HLEN / 4) << 4;
	tcp[13] = flags;
	/* window 0, urgent 0 */

	sum = csum_add(sum, opt.saddr, alen);
	sum = csum_add(sum, opt.daddr, alen);
	if (opt.family == AF_INET) {
		tail[1] = IPPROTO_TCP;
		tail[3] = TCP_HLEN;
		sum = csum_add(sum, tail, 4);
	} else {
		put32(tail, TCP_HLEN);
		tail[7] = IPPROTO_TCP;
		sum = csum_add(sum, tail, 8);
	}
	sum = csum_add(sum, tcp, TCP_HLEN);
	ck = htons(csum_fold(sum));
	memcpy(tcp + 16, &ck, 2);
}

/* the whole IP packet into pkt[]; returns its length */
static size_t build_ip(uint8_t *pkt, uint8_t flags)
{
	uint16_t ck;

	if (opt.family == AF_INET) {
		memset(pkt, 0, IP4_HLEN);
		pkt[0] = 0x45;
		put16(pkt + 2, IP4_HLEN + TCP_HLEN);
		put16(pkt + 4, (uint16_t)getpid());	/* id */
		put16(pkt + 6, 0x4000);			/* DF */
		pkt[8] = 64;
		pkt[9] = IPPROTO_TCP;
		memcpy(pkt + 12, opt.saddr, 4);
		memcpy(pkt + 16, opt.daddr, 4);
		ck = htons(csum_fold(csum_add(0, pkt, IP4_HLEN)));
		memcpy(pkt + 10, &ck, 2);
		build_tcp(pkt + IP4_HLEN, flags);
		return IP4_HLEN + TCP_HLEN;
	}
	memset(pkt, 0, IP6_HLEN);
	pkt[0] = 0x60;
	put16(pkt + 4, TCP_HLEN);
	pkt[6] = IPPROTO_TCP;
	pkt[7] = 64;
	memcpy(pkt + 8, opt.saddr, 16);
	memcpy(pkt + 24, opt.daddr, 16);
	build_tcp(pkt + IP6_HLEN, flags);
	return IP6_HLEN + TCP_HLEN;
}

static void enter_netns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die("--netns %s: %s", path, strerror(errno));
	if (setns(fd, CLONE_NEWNET))
		die("setns(%s): %s", path, strerror(errno));
	close(fd);
}

static void set_sockopt(int fd, int level, int name, int val, const char *what)
{
	if (setsockopt(fd, level, name, &val, sizeof(val)))
		die("setsockopt(%s): %s", what, strerror(errno));
}

/* raw IP socket; returns the socket, fills dst */
static int open_raw(struct sockaddr_storage *dst, socklen_t *dlen)
{
	int proto = opt.l4_only ? IPPROTO_TCP : IPPROTO_RAW;
	int fd = socket(opt.family, SOCK_RAW | SOCK_CLOEXEC, proto);

	if (fd < 0)
		die("socket(%s, SOCK_RAW, %s): %s", opt.family == AF_INET ? "AF_INET" : "AF_INET6",
		    opt.l4_only ? "IPPROTO_TCP" : "IPPROTO_RAW", strerror(errno));
	memset(dst, 0, sizeof(*dst));
	if (opt.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)dst;

		if (!opt.l4_only)
			set_sockopt(fd, IPPROTO_IP, IP_HDRINCL, 1, "IP_HDRINCL");
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, opt.daddr, 4);
		*dlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)dst;

		if (opt.l4_only) {
			/*
			 * The kernel picks the source address and fills in the checksum at offset
			 * 16 of the TCP header; bind to -s so that the pseudo header matches.
			 */
			struct sockaddr_in6 src = { .sin6_family = AF_INET6 };

			memcpy(&src.sin6_addr, opt.saddr, 16);
			if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
				die("bind(%s): %s", "-s", strerror(errno));
			set_sockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, 16, "IPV6_CHECKSUM");
		} else {
			set_sockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, 1, "IPV6_HDRINCL");
		}
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, opt.daddr, 16);
		*dlen = sizeof(*sin6);
	}
	if (opt.l4_only && opt.family == AF_INET) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		memcpy(&src.sin_addr, opt.saddr, 4);
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)))
			die("bind(%s): %s", "-s", strerror(errno));
	}
	return fd;
}

static int open_packet(struct sockaddr_storage *dst, socklen_t *dlen)
{
	uint16_t ethp = opt.family == AF_INET ? ETH_P_IP : ETH_P_IPV6;
	struct sockaddr_ll *sll = (struct sockaddr_ll *)dst;
	unsigned int ifindex = if_nametoindex(opt.ifname);
	int fd;

	if (!ifindex)
		die("-i %s: %s", opt.ifname, strerror(errno));
	/* protocol 0: a send-only socket, it receives nothing */
	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket(AF_PACKET, SOCK_DGRAM): %s", strerror(errno));
	if (opt.bypass)
		set_sockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1, "PACKET_QDISC_BYPASS");
	memset(dst, 0, sizeof(*dst));
	sll->sll_family = AF_PACKET;
	sll->sll_protocol = htons(ethp);
	sll->sll_ifindex = (int)ifindex;
	sll->sll_halen = ETH_ALEN;
	memset(sll->sll_addr, 0xff, ETH_ALEN);
	*dlen = sizeof(*sll);
	return fd;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst;
	socklen_t dlen = 0;
	uint8_t pkt[IP6_HLEN + TCP_HLEN];
	uint8_t flags;
	sigset_t stop;
	size_t len;
	int fd, sig;

	parse_args(argc, argv);
	/* blocked from the start: a SIGTERM before sigwait() is not lost */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (opt.hold && sigprocmask(SIG_BLOCK, &stop, NULL))
		die("sigprocmask: %s", strerror(errno));
	if (!opt.have_seq && getrandom(&opt.seq, sizeof(opt.seq), 0) != sizeof(opt.seq))
		die("getrandom: %s", strerror(errno));
	if (!opt.have_ack) {
		do {
			if (getrandom(&opt.ack, sizeof(opt.ack), 0) != sizeof(opt.ack))
				die("getrandom: %s", strerror(errno));
		} while (!opt.ack);
	}
	flags = opt.ack ? 0x14 : 0x04;	/* RST|ACK or RST */

	enter_netns(opt.netns);
	if (prctl(PR_SET_NAME, COMM, 0, 0, 0))
		die("prctl(PR_SET_NAME): %s", strerror(errno));

	fd = opt.mode == M_RAW ? open_raw(&dst, &dlen) : open_packet(&dst, &dlen);
	if (opt.l4_only) {
		build_tcp(pkt, flags);
		len = TCP_HLEN;
		if (opt.family == AF_INET6)
			memset(pkt + 16, 0, 2);	/* IPV6_CHECKSUM computes it */
	} else {
		len = build_ip(pkt, flags);
	}
	for (long i = 0; i < opt.count; i++) {
		ssize_t n = sendto(fd, pkt, len, 0, (struct sockaddr *)&dst, dlen);

		if (n < 0)
			die("sendto: %s", strerror(errno));
		if ((size_t)n != len)
			die("sendto: short send (%zd of %zu bytes)", n, len);
	}

	printf("pid=%d\ncomm=%s\nseq=%u\nack=%u\nflags=%s\nmode=%s%s\ncount=%ld\n", (int)getpid(),
	       COMM, opt.seq, opt.ack, flags & 0x10 ? "RA" : "R",
	       opt.mode == M_RAW ? "raw" : "packet",
	       opt.l4_only ? "-tcp" : opt.bypass ? "-bypass" : "", opt.count);
	if (fflush(stdout) == EOF)
		die("writing stdout: %s", strerror(errno));
	if (opt.hold && sigwait(&stop, &sig))
		die("sigwait failed");
	close(fd);
	return 0;
}
