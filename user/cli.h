/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tracer's command line: one struct env filled by cli_parse(). To add an option: a field
 * here, a line in the usage text, a row in long_opts and a case in cli_parse() (cli.c); if it
 * filters events, a test in pipeline_wanted() (pipeline.c); if it is an output, a sink (sink.h).
 */
#ifndef RW_CLI_H
#define RW_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include "kfilter.h"
#include "listeners.h"
#include "loader.h"

#ifndef RSTWHY_VERSION
#define RSTWHY_VERSION "0.2"	/* the Makefile passes git describe */
#endif

#define MAX_PORTS 64

struct env {
	/* filters (pipeline_wanted) */
	const char *netns_arg;
	uint32_t netns;
	int pid;
	int nports;
	uint16_t ports[MAX_PORTS];
	uint32_t causes;	/* bitmask of enum rw_cause, 0: all */
	bool v4, v6;
	bool recv;
	const char *comm;	/* --comm */
	struct kfilter kf;	/* what of the above the kernel applies (-c only there) */
	/* outputs (sinks) */
	bool json;
	bool stacks;
	bool ustack;		/* -u: user stacks of application resets */
	bool quiet;
	double summary;		/* --summary interval in seconds, 0: off */
	const char *pcapng;
	const char *prometheus;
	struct sockaddr_storage prom_addr;
	socklen_t prom_addrlen;
	long prom_max_series;
	const char *stats_file;
	struct listener_watch watch;	/* --watch-listeners */
	/* run */
	bool verbose;
	const char *ready_file;
	long duration;
	long wakeup_bytes;	/* -1: default (a quarter of the ring buffer) */
	bool no_egress;
	bool probe;
	bool list_causes;
	enum attach_mode attach;
	const char *btf;
	/* derived */
	bool per_event;		/* a table line or JSON object per event */
	bool aggregating;	/* counts kept for --summary, --prometheus or -q */
};

/* fill env from argv; exits 0 after --help/--version, 2 on bad usage (one line on stderr) */
void cli_parse(int argc, char **argv, struct env *env);

/* `rstwhy help [SUBCOMMAND]`, --help and --version */
int cli_help(int argc, char **argv);
void cli_version(void);

__attribute__((format(printf, 1, 2), noreturn))
void die_usage(const char *fmt, ...);

#endif
