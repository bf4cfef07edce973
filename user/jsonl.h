/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading back what `rstwhy --json` recorded: one event per line, parsed with json-c and
 * checked against the fields documented in docs/json.md.  Shared by the offline
 * subcommands `match` and `diff`.
 */
#ifndef RW_JSONL_H
#define RW_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "rstwhy.h"

#define JEV_COMM_LEN 16

struct jev_task {
	bool valid;
	int64_t pid;
	char comm[JEV_COMM_LEN + 1];
};

/* one recorded event; strings point into the loader's string table (see jsonl_free) */
struct jev {
	long line;			/* 1-based line number in the file */
	int64_t time_ns;		/* "time", UTC, ns since the epoch */
	bool sent;			/* dir == "sent" */
	int family;			/* AF_INET or AF_INET6 */
	uint8_t saddr[16], daddr[16];	/* IPv4 in the first 4 bytes */
	uint16_t sport, dport;
	bool has_seq;			/* the event carries the RST's own numbers */
	uint32_t seq, ack;
	uint8_t flags;			/* TCP flag bits of the RST (TH_RST, TH_ACK) */
	const char *cause, *origin;
	const char *kreason;		/* NULL when "kernel_reason" is null or absent */
	struct jev_task owner, actor;
};

struct jev_file {
	const char *path;
	struct jev *ev;
	size_t n;
	long lines;			/* lines read, blank ones included */
	void *strings;			/* interned strings */
};

/*
 * Load every event of PATH ("-" is stdin).  Blank lines are skipped; anything else that is
 * not an event is an error.  Returns 0, or -1 with a one-line message in err (that names the
 * file and, for a bad line, its number).
 */
int jsonl_load(struct jev_file *f, const char *path, char *err, size_t errlen);
void jsonl_free(struct jev_file *f);

/* "2026-11-25T07:46:41.530123Z" (Z or +hh:mm/-hh:mm); false when it is not such a time */
bool jsonl_parse_time(const char *s, int64_t *ns);
/* the same form, always UTC with microseconds */
void jsonl_format_time(int64_t ns, char *buf, size_t len);

/* a JSON number for v, written with at most 9 significant digits (no 0.30000000000000004) */
struct json_object;
struct json_object *jsonl_double(double v);

/* "rstwhy CMD: unknown option ARG" (or: it needs a value) on stderr, for getopt's '?' */
void jsonl_bad_option(const char *cmd, const char *arg);

/*
 * TCP flag letters as rstwhy writes them ("RA", "SA"), in the order FSRPAUEC of the flag bits
 * (TF_* in rstwhy.h); buf >= 9 bytes. The one formatter: events, match and diff use it.
 */
void tcp_flags_str(unsigned int flags, char *buf);

#endif
