/* cli.c - see cli.h. */
#include <getopt.h>
#include <stdio.h>

#include "core/cli.h"

int
ct_cli_options(int argc, char **argv, const char *prog, const char *usage,
	       const char **path, int *next)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*path = NULL;
	while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("%s %s\n", prog, CT_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (!*path) {
		fprintf(stderr, "%s: --config FILE is required\n", prog);
		return 2;
	}
	if (next)
		*next = optind;
	return -1;
}
