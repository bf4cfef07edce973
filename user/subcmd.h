/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Subcommands of rstwhy other than the tracer. Each takes (argc, argv) with argv[0] the
 * subcommand's name and returns the exit status (0 ok, 1 environment/data error, 2 usage).
 * Add one line to SUBCMDS per subcommand.
 */
#ifndef RW_SUBCMD_H
#define RW_SUBCMD_H

int cmd_match(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_selftest(int argc, char **argv);
int cmd_explain(int argc, char **argv);

#define SUBCMDS \
	{ "match", cmd_match }, \
	{ "diff", cmd_diff }, \
	{ "selftest", cmd_selftest }, \
	{ "explain", cmd_explain },

#endif
