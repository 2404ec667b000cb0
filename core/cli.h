/* cli.h - the options every crosstalk program takes. */
#ifndef CT_CLI_H
#define CT_CLI_H

/* Parse --config FILE, --help and --version; options stop at the first
 * other argument (where crosstalkctl's command starts; *next is its
 * index; next may be NULL). Returns -1 to go on, with *path set; otherwise the
 * exit status: 0 after --help or --version, 2 on a usage error (reason on
 * stderr). */
int ct_cli_options(int argc, char **argv, const char *prog, const char *usage,
		   const char **path, int *next);

#endif /* CT_CLI_H */
