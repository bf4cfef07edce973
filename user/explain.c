// SPDX-License-Identifier: GPL-2.0
/*
 * The cause table in words. `rstwhy explain [CAUSE]`: what a cause means, what usually
 * produces it and what to check next; the --help list and --list-causes come from the same
 * table (causes.def).
 */
#include <getopt.h>
#include <string.h>
#include "classify.h"
#include "explain.h"
#include "output.h"
#include "subcmd.h"

#define WIDTH 100

/* text from column `indent` on, wrapped at WIDTH between words */
static void wrap(FILE *f, const char *s, int indent)
{
	int col = indent;

	while (*s) {
		size_t n = strcspn(s, " ");

		if (col > indent && col + 1 + (int)n > WIDTH) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', f);
			col++;
		}
		fwrite(s, 1, n, f);
		col += n;
		s += n;
		while (*s == ' ')
			s++;
	}
	fputc('\n', f);
}

void rw_causes_help(FILE *f)
{
	fputs("Causes (rstwhy explain CAUSE: what produces it and what to check):\n", f);
	for (int c = 0; c < C_NR_CAUSES; c++) {
		fprintf(f, "  %-17s %-12s", rw_cause_name(c), rw_origin_name(rw_cause_origin(c)));
		wrap(f, rw_cause_meaning(c), 32);
	}
}

void rw_causes_list(FILE *f, bool json)
{
	if (json)
		fputc('[', f);
	for (int c = 0; c < C_NR_CAUSES; c++) {
		const char *origin = rw_origin_name(rw_cause_origin(c));

		if (!json) {
			fprintf(f, "%s\t%s\t%s\n", rw_cause_name(c), origin, rw_cause_meaning(c));
			continue;
		}
		fputs(c ? ",{\"cause\":" : "{\"cause\":", f);
		json_str(f, rw_cause_name(c));
		fputs(",\"origin\":", f);
		json_str(f, origin);
		fputs(",\"meaning\":", f);
		json_str(f, rw_cause_meaning(c));
		fputc('}', f);
	}
	if (json)
		fputs("]\n", f);
}

static void explain_one(FILE *f, enum rw_cause c)
{
	fprintf(f, "%s (origin: %s)\n", rw_cause_name(c), rw_origin_name(rw_cause_origin(c)));
	fputs("  means:       ", f);
	wrap(f, rw_cause_meaning(c), 15);
	fputs("  usually:     ", f);
	wrap(f, rw_cause_usually(c), 15);
	fputs("  check next:  ", f);
	wrap(f, rw_cause_check(c), 15);
}

static const char explain_usage[] =
"Usage: rstwhy explain [CAUSE]\n"
"What CAUSE (every cause without one) means, what usually produces it, and what to check\n"
"next. rstwhy --list-causes lists the causes.\n";

int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int o, c;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (o == 'h') {
			fputs(explain_usage, stdout);
			return 0;
		}
		fprintf(stderr, "rstwhy explain: unknown option %s (see rstwhy explain --help)\n",
			argv[optind - 1]);
		return 2;
	}
	if (argc - optind > 1) {
		fprintf(stderr, "rstwhy explain: one cause at most, got %d (see rstwhy explain "
			"--help)\n", argc - optind);
		return 2;
	}
	if (optind == argc) {
		for (c = 0; c < C_NR_CAUSES; c++) {
			if (c)
				fputc('\n', stdout);
			explain_one(stdout, c);
		}
		return 0;
	}
	c = rw_cause_from_name(argv[optind]);
	if (c < 0) {
		fprintf(stderr, "rstwhy explain: no such cause '%s' (rstwhy --list-causes lists "
			"them)\n", argv[optind]);
		return 2;
	}
	explain_one(stdout, c);
	return 0;
}
