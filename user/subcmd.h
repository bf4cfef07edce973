/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Subcommands of rstwhy other than the tracer. Each takes (argc, argv) with argv[0] the
 * subcommand's name and returns the exit status (0 ok, 1 environment/data error, 2 usage);
 * `rstwhy help NAME` runs it with --help. Add one line to SUBCMDS per subcommand: name,
 * function, and the one line --help shows for it.
 */
#ifndef RW_SUBCMD_H
#define RW_SUBCMD_H

int cmd_match(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_explain(int argc, char **argv);

#define SUBCMDS \
	{ "match", cmd_match, "which RSTs of a capture (tcpdump -w) rstwhy explained" }, \
	{ "diff", cmd_diff, "compare two rstwhy --json recordings, cause by cause" }, \
	{ "selftest", cmd_selftest, "provoke every cause between two namespaces and check it" }, \
	{ "explain", cmd_explain, "what a cause means, what usually makes it, what to check" },

struct subcmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;	/* one line for --help */
};

/* the table built from SUBCMDS (cli.c), ended by a NULL name */
extern const struct subcmd subcmds[];

#endif
