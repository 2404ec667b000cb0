/* test_config.c - the sample config loads; bad files fail naming the line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"

static char *
write_tmp(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	strcpy(path, "/tmp/ctcfgXXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void
sample_loads(void **state)
{
	char path[4096], err[512];
	struct ct_cfg *cfg = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/conf/crosstalk.conf",
		 getenv("CT_SRC"));
	assert_int_equal(ct_cfg_load(path, &cfg, err, sizeof(err)), 0);
	assert_non_null(cfg);
	assert_string_equal(cfg->db_conninfo,
			    "host=/var/run/postgresql dbname=crosstalk "
			    "user=crosstalk");
	assert_int_equal(cfg->wsd_port, 8888);
	assert_int_equal(cfg->lim_text_max, 4000);
	assert_int_equal(cfg->lim_ticket_ttl, 60);
	assert_int_equal(cfg->lim_publish_count, 20);
	assert_int_equal(cfg->lim_publish_window, 10);
	assert_string_equal(cfg->wsd_listen, "127.0.0.1");
	ct_cfg_free(cfg);
}

/* The sample is the reference a deployer reads: every key the programs
 * accept appears in it, under its section, with the built-in default
 * (database.conninfo, which has none, excepted). A key added to the table
 * and not to the sample fails here. */
struct dump {
	char lines[128][160];
	int n;
};

static void
collect(const char *line, void *arg)
{
	struct dump *d = arg;

	assert_true(d->n < 128);
	snprintf(d->lines[d->n++], sizeof(d->lines[0]), "%s", line);
}

static void
sample_matches_defaults(void **state)
{
	char path[4096], err[512], text[65536], want[256];
	struct ct_cfg *cfg = NULL, *def = ct_cfg_defaults();
	struct dump *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	size_t len;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/conf/crosstalk.conf",
		 getenv("CT_SRC"));
	assert_int_equal(ct_cfg_load(path, &cfg, err, sizeof(err)), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(text, 1, sizeof(text) - 1, f);
	text[len] = '\0';
	fclose(f);
	ct_cfg_dump(def, collect, a);
	ct_cfg_dump(cfg, collect, b);
	assert_int_equal(a->n, b->n);
	for (int i = 0; i < a->n; i++) {
		char sec[64], key[64];
		const char *at, *end;

		if (strncmp(a->lines[i], "database.conninfo ", 18) == 0)
			continue;
		if (strcmp(a->lines[i], b->lines[i]) != 0)
			fail_msg("sample says '%s', built-in '%s'", b->lines[i],
				 a->lines[i]);
		assert_int_equal(sscanf(a->lines[i], "%63[^.].%63s", sec, key),
				 2);
		snprintf(want, sizeof(want), "\n[%s]\n", sec);
		at = strstr(text, want);
		if (!at)
			fail_msg("no [%s] in the sample", sec);
		end = strstr(at + 1, "\n[");
		snprintf(want, sizeof(want), "\n%s =", key);
		at = strstr(at, want);
		if (!at || (end && at > end))
			fail_msg("%s.%s is not in the sample", sec, key);
	}
	free(a);
	free(b);
	ct_cfg_free(cfg);
	ct_cfg_free(def);
}

struct bad_case {
	const char *text;
	const char *want; /* substring of the error */
};

static void
bad_configs(void **state)
{
	static const struct bad_case cases[] = {
		{ "[database]\nconninfo=x\n[wsd]\nbogus = 1\n",
		  ":4: unknown key 'bogus' in [wsd]" },
		{ "[database]\nconninfo=x\n[wsd]\nport = 70000\n",
		  ":4: wsd.port: '70000' is not a whole number in 1..65535" },
		{ "[database]\nconninfo=x\n[wsd]\nport = 12ab\n",
		  ":4: wsd.port: '12ab'" },
		{ "[wsd]\nport = 9000\n",
		  "missing required key database.conninfo" },
		{ "[database]\nconninfo=x\nconninfo=y\n",
		  ":3: database.conninfo given twice" },
		{ "conninfo = x\n", ":1: key 'conninfo' outside a [section]" },
		{ "[database]\nconninfo=x\n[limits\n", ":3: syntax error" },
		{ "[database]\nconninfo=x\n[log]\nlevel = loud\n",
		  "log.level: 'loud' is not error|warn|info|debug" },
		{ "[database]\nconninfo=x\n[limits]\ntext_max = 0\n",
		  ":4: limits.text_max: '0'" },
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ct_cfg *cfg = NULL;
		char *path = write_tmp(cases[i].text);
		int rc = ct_cfg_load(path, &cfg, err, sizeof(err));

		unlink(path);
		if (rc == 0 || !strstr(err, cases[i].want))
			fail_msg("case %zu: rc=%d err='%s' want '%s'", i, rc,
				 err, cases[i].want);
		assert_null(cfg);
		assert_non_null(strstr(err, "/tmp/ctcfg")); /* names the file */
	}
}

/* A list key goes on over indented lines; any other key given twice, or a
 * continuation of one, is an error. */
static void
list_lines(void **state)
{
	char err[512], *path;
	struct ct_cfg *cfg = NULL;

	(void)state;
	path = write_tmp("[database]\nconninfo = x\n[attachments]\n"
			 "types = image/png text/plain\n"
			 "\tapplication/pdf\n  text/csv\n");
	assert_int_equal(ct_cfg_load(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->att_types,
			    "image/png text/plain application/pdf text/csv");
	ct_cfg_free(cfg);
	unlink(path);
	path = write_tmp("[database]\nconninfo = x\n[http]\nsocket = a\n"
			 "  b\n");
	assert_int_not_equal(ct_cfg_load(path, &cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "given twice"));
	unlink(path);
}

static void
missing_file(void **state)
{
	struct ct_cfg *cfg = NULL;
	char err[256];

	(void)state;
	assert_int_not_equal(
		ct_cfg_load("/nonexistent/ct.conf", &cfg, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/nonexistent/ct.conf: No such file"));
}

static void
append_line(const char *line, void *arg)
{
	strcat(arg, line);
	strcat(arg, "\n");
}

static void
dump_masks_secret(void **state)
{
	struct ct_cfg *cfg = ct_cfg_defaults();
	char buf[8192] = "";

	(void)state;
	free(cfg->db_conninfo);
	cfg->db_conninfo = strdup("password=hunter2");
	ct_cfg_dump(cfg, append_line, buf);
	assert_null(strstr(buf, "hunter2"));
	assert_non_null(strstr(buf, "database.conninfo = (set)"));
	assert_non_null(strstr(buf, "wsd.port = 8888"));
	ct_cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sample_loads),
		cmocka_unit_test(sample_matches_defaults),
		cmocka_unit_test(bad_configs),
		cmocka_unit_test(list_lines),
		cmocka_unit_test(missing_file),
		cmocka_unit_test(dump_masks_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
