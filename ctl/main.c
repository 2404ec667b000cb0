/* crosstalkctl - administer crosstalk: migrate the schema, register apps
 * and channels, prune, check a deployment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/auth.h"
#include "core/cli.h"
#include "core/config.h"
#include "core/db.h"
#include "core/log.h"
#include "core/migrations.h"
#include "core/util.h"

static const char usage[] =
	"usage: crosstalkctl --config FILE COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  migrate                          apply pending schema migrations\n"
	"  app add ID --origin URL...       register an app; prints its API "
	"key once\n"
	"      [--name N] [--namespace own|family]  own (default): the "
	"app's user ids\n"
	"                                   are its own (hub id app/id); "
	"family: they\n"
	"                                   are the same people in every "
	"family app\n"
	"  app set ID [--origin URL]... [--name N] [--namespace own|family]\n"
	"  app list                         apps: namespace, origins, "
	"name\n"
	"  app rotate-key ID                new API key (the old one stops "
	"working)\n"
	"  app remove ID                    unregister an app\n"
	"  channel add NAME [--apps a,b] [--title T] [--private "
	"[--members u1,u2]]\n"
	"  channel members NAME             a private channel's members\n"
	"  channel members-add|members-remove NAME u1,u2\n"
	"  channel list\n"
	"  channel rename NAME TITLE        a new title (the name stays)\n"
	"  channel archive|unarchive NAME   read-only, or writable again\n"
	"  channel delete NAME --yes        the channel and all its "
	"messages\n"
	"  hook add APP URL [--events message,mention,member,session]\n"
	"                                   a webhook; prints its secret once\n"
	"  hook list | log ID | retry ID | remove ID\n"
	"  channel-hook add APP PATTERN URL [--events publish,subscribe]\n"
	"               [--timeout MS] [--fail open|closed]\n"
	"                                   asked before a user's publish or "
	"subscribe\n"
	"                                   on the channels PATTERN names "
	"(name, prefix*, *)\n"
	"  channel-hook list | remove ID\n"
	"  prune --older-than DAYS          delete old messages and expired "
	"logins\n"
	"  search-config [NAME]             the text search configuration "
	"of\n"
	"                                   message search (NAME: set it, "
	"rebuilding\n"
	"                                   the index; e.g. simple, english)\n"
	"  grant ROLE                       give a database role the "
	"daemons' privileges\n"
	"                                   (run as the schema owner; "
	"migrate renews it)\n"
	"  check [--role ROLE]              config, database, schema, "
	"resolver, privileges\n"
	"\n"
	"options: --config FILE, --help, --version\n";

/* migrate's advisory lock key (core/migrate.c): grants take it too */
#define CT_MIGRATE_LOCK "7242690915151283712"

static PGconn *conn;

static void die(const char *fmt, const char *arg) __attribute__((noreturn));

static void
die(const char *fmt, const char *arg)
{
	fprintf(stderr, "crosstalkctl: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	PQfinish(conn);
	exit(1);
}

/* Run a parameterized statement; exits with the server's reason. */
static PGresult *
q(const char *sql, int n, const char *const *params)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		char msg[512];

		ct_db_error(conn, res, msg, sizeof(msg));
		PQclear(res);
		die("%s", msg);
	}
	return res; /* caller PQclear()s */
}

static int
valid_origin(const char *o)
{
	size_t n = strlen(o);

	if (strncmp(o, "http://", 7) != 0 && strncmp(o, "https://", 8) != 0)
		return 0;
	if (n > 255 || o[n - 1] == '/' || strchr(o + 8, '/') ||
	    strpbrk(o, " \t\r\n,\"'"))
		return 0;
	return 1;
}

/* Renew the runtime grants of every recorded role (grant_runtime() exists
 * from migration 5 on), so tables and functions a migration added reach
 * them. Under migrate's advisory lock: two migrates never grant at once. */
static int
regrant(void)
{
	PGresult *res;

	res = q("SELECT to_regprocedure('crosstalk.grant_runtime(name)') IS "
		"NOT NULL",
		0, NULL);
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		return 0;
	}
	PQclear(res);
	PQclear(q("BEGIN", 0, NULL));
	PQclear(q("SELECT pg_advisory_xact_lock(" CT_MIGRATE_LOCK ")", 0,
		  NULL));
	res = q("SELECT r.role, crosstalk.grant_runtime(r.role) "
		"FROM crosstalk.runtime_roles r JOIN pg_roles g "
		"ON g.rolname = r.role ORDER BY 1",
		0, NULL);
	for (int i = 0; i < PQntuples(res); i++)
		printf("runtime role %s: privileges granted\n",
		       PQgetvalue(res, i, 0));
	PQclear(res);
	PQclear(q("COMMIT", 0, NULL));
	return 0;
}

static int
cmd_grant(int argc, char **argv)
{
	const char *p[1];

	if (argc != 1 || !argv[0][0] || strlen(argv[0]) > 63)
		die("%s", "grant ROLE (an existing database role)");
	p[0] = argv[0];
	PQclear(q("BEGIN", 0, NULL));
	PQclear(q("SELECT pg_advisory_xact_lock(" CT_MIGRATE_LOCK ")", 0,
		  NULL));
	PQclear(q("SELECT crosstalk.grant_runtime($1)", 1, p));
	PQclear(q("COMMIT", 0, NULL));
	printf("runtime role %s: privileges granted\n", argv[0]);
	return 0;
}

/* Print what privilege_report() finds for role; returns how many
 * privileges are missing (excess ones are warnings). */
static int
report_role(const char *role)
{
	const char *p[1] = { role };
	PGresult *res;
	int missing = 0, excess = 0;

	res = q("SELECT has_schema_privilege($1, 'crosstalk', 'USAGE')", 1, p);
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		PQclear(res);
		printf("privileges: %s lacks USAGE on schema crosstalk (as the "
		       "owner: crosstalkctl grant %s)\n",
		       role, role);
		return 1;
	}
	PQclear(res);
	res = PQexecParams(conn,
			   "SELECT problem, object, privilege FROM "
			   "crosstalk.privilege_report($1) ORDER BY 1, 2, 3",
			   1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		msg[strcspn(msg, "\n")] = 0;
		PQclear(res);
		printf("privileges: %s cannot run privilege_report(): %s\n",
		       role, msg);
		return 1;
	}
	for (int i = 0; i < PQntuples(res); i++) {
		int is_missing = strcmp(PQgetvalue(res, i, 0), "missing") == 0;

		if (is_missing)
			missing++;
		else
			excess++;
		printf("privileges: %s %s %s on %s\n", role,
		       is_missing ? "lacks" : "has more than it needs:",
		       PQgetvalue(res, i, 2), PQgetvalue(res, i, 1));
	}
	PQclear(res);
	if (missing)
		printf("privileges: %s lacks %d (as the owner: crosstalkctl "
		       "grant %s)\n",
		       role, missing, role);
	else if (excess)
		printf("privileges: %s has what the daemons need, and more "
		       "(%d warnings)\n",
		       role, excess);
	else
		printf("privileges: %s ok (runtime role, owns nothing)\n",
		       role);
	return missing;
}

/* As a runtime role: check that role. As the schema owner: check every
 * recorded runtime role. --role ROLE: check that one. */
static int
check_privileges(const char *role)
{
	PGresult *res;
	int missing = 0;

	if (role)
		return report_role(role);
	res = q("SELECT current_user, n.nspowner = (SELECT oid FROM pg_roles "
		"WHERE rolname = current_user) FROM pg_namespace n "
		"WHERE n.nspname = 'crosstalk'",
		0, NULL);
	if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		missing = report_role(PQgetvalue(res, 0, 0));
		PQclear(res);
		return missing;
	}
	printf("privileges: connected as %s, the schema owner (the daemons "
	       "should use a runtime role)\n",
	       PQgetvalue(res, 0, 0));
	PQclear(res);
	res = q("SELECT r.role FROM crosstalk.runtime_roles r ORDER BY 1", 0,
		NULL);
	if (PQntuples(res) == 0)
		printf("privileges: no runtime role yet (CREATE ROLE "
		       "crosstalk_app LOGIN; crosstalkctl grant "
		       "crosstalk_app)\n");
	for (int i = 0; i < PQntuples(res); i++) {
		const char *p[1] = { PQgetvalue(res, i, 0) };
		PGresult *e =
			q("SELECT 1 FROM pg_roles WHERE rolname = $1", 1, p);

		if (PQntuples(e) == 1)
			missing += report_role(p[0]);
		else
			printf("privileges: runtime role %s no longer "
			       "exists\n",
			       p[0]);
		PQclear(e);
	}
	PQclear(res);
	return missing;
}

static int
cmd_migrate(void)
{
	char err[512];
	int applied, functions;

	if (ct_migrate(conn, &applied, &functions, err, sizeof(err)) != CT_OK)
		die("migrate failed: %s", err);
	printf("schema at version %d (%d applied)\nfunctions: %s\n",
	       ct_schema_version(conn), applied,
	       functions ? "defined" : "unchanged");
	return regrant();
}

/* Prints the key and stores only its hash. The key reads "<app>.<secret>"
 * so a request names its app without a lookup by secret. sql takes $1 id,
 * $2 the hash and $3.. the n extra parameters. */
static int
set_new_key(const char *id, const char *sql, const char *const *extra, int n)
{
	char prefix[40], key[CT_TOKEN_MAX + 40], hash[CT_HASH_HEX];
	const char *p[8];
	PGresult *res;

	snprintf(prefix, sizeof(prefix), "%s.", id);
	if (strlen(prefix) > 16) {
		/* long ids: the secret part is still 192 bits */
		char tok[CT_TOKEN_MAX];

		if (ct_auth_token("", tok) != CT_OK)
			die("%s", "no random numbers");
		snprintf(key, sizeof(key), "%s%s", prefix, tok);
	} else if (ct_auth_token(prefix, key) != CT_OK) {
		die("%s", "no random numbers");
	}
	ct_auth_hash_hex(key, hash);
	p[0] = id;
	p[1] = hash;
	for (int i = 0; i < n && i < 6; i++)
		p[2 + i] = extra[i];
	res = q(sql, 2 + n, p);
	if (PQntuples(res) != 1)
		die("no such app: %s", id);
	PQclear(res);
	printf("%s\n", key);
	return 0;
}

/* The options of app add and app set: --origin URL (repeated), --name N,
 * --namespace family|own. Absent ones stay NULL. */
struct app_opts {
	char origins[4096]; /* '{"a","b"}' once one --origin was given */
	size_t n;
	const char *name, *ns;
};

static void
app_opts(int argc, char **argv, struct app_opts *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strncmp(a, "--origin=", 9) == 0) {
			v = a + 9;
		} else if (strcmp(a, "--origin") == 0 && v) {
			i++;
		} else if (strcmp(a, "--name") == 0 && v) {
			o->name = v;
			i++;
			continue;
		} else if (strcmp(a, "--namespace") == 0 && v) {
			if (strcmp(v, "family") != 0 && strcmp(v, "own") != 0)
				die("%s", "--namespace is family or own");
			o->ns = v;
			i++;
			continue;
		} else {
			die("unexpected '%s' (app add and app set take "
			    "--origin URL, --name N, --namespace own|family)",
			    a);
		}
		if (!valid_origin(v))
			die("'%s' is not an origin (scheme://host[:port], no "
			    "path)",
			    v);
		if (!o->n)
			o->origins[o->n++] = '{';
		o->n += (size_t)snprintf(o->origins + o->n,
					 sizeof(o->origins) - o->n, "%s\"%s\"",
					 o->n > 1 ? "," : "", v);
		if (o->n >= sizeof(o->origins) - 2)
			die("%s", "too many origins");
	}
	if (o->n)
		strcat(o->origins, "}");
}

/* Say loudly what sharing the family's ids means. */
static void
warn_family(const char *id)
{
	fprintf(stderr,
		"crosstalkctl: app %s shares the family's user ids: its user "
		"42 IS user 42 of every other family app (the same direct "
		"messages, read markers, mentions). Only do this when the "
		"apps read one user table.\n",
		id);
}

static int
cmd_app(int argc, char **argv)
{
	struct app_opts o;
	PGresult *res;

	if (argc < 1)
		die("%s", "app: add|set|list|rotate-key|remove");
	if (strcmp(argv[0], "add") == 0) {
		const char *extra[3];

		if (argc < 2 || !ct_valid_app_id(argv[1]))
			die("%s",
			    "app add: ID must match [a-z0-9][a-z0-9_-]{0,31}");
		app_opts(argc - 2, argv + 2, &o);
		extra[0] = o.n ? o.origins : "{}";
		extra[1] = o.name;
		extra[2] = o.ns;
		if (o.ns && strcmp(o.ns, "family") == 0)
			warn_family(argv[1]);
		return set_new_key(argv[1],
				   "INSERT INTO crosstalk.apps(id, key_hash, "
				   "origins, name, namespace) VALUES ($1, $2, "
				   "$3, coalesce($4, ''), coalesce($5, 'own')) "
				   "RETURNING id",
				   extra, 3);
	}
	if (strcmp(argv[0], "set") == 0 && argc >= 2) {
		const char *p[4];

		app_opts(argc - 2, argv + 2, &o);
		if (!o.n && !o.name && !o.ns)
			die("%s", "app set ID: give --origin, --name or "
				  "--namespace");
		p[0] = argv[1];
		p[1] = o.n ? o.origins : NULL;
		p[2] = o.name;
		p[3] = o.ns;
		res = q("UPDATE crosstalk.apps SET origins = coalesce($2, "
			"origins), name = coalesce($3, name), namespace = "
			"coalesce($4, namespace) WHERE id = $1 RETURNING id",
			4, p);
		if (PQntuples(res) != 1)
			die("no such app: %s", argv[1]);
		PQclear(res);
		if (o.ns && strcmp(o.ns, "family") == 0)
			warn_family(argv[1]);
		printf("updated %s\n", argv[1]);
		return 0;
	}
	if (strcmp(argv[0], "list") == 0) {
		res = q("SELECT id, namespace, array_to_string(origins, ' '), "
			"crosstalk.iso(created_at), name FROM crosstalk.apps "
			"ORDER BY id",
			0, NULL);
		for (int i = 0; i < PQntuples(res); i++)
			printf("%s\t%s\t%s\t%s\t%s\n", PQgetvalue(res, i, 0),
			       PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			       PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
		PQclear(res);
		return 0;
	}
	if (strcmp(argv[0], "rotate-key") == 0 && argc == 2)
		return set_new_key(argv[1],
				   "UPDATE crosstalk.apps SET key_hash = $2 "
				   "WHERE id = $1 RETURNING id",
				   NULL, 0);
	if (strcmp(argv[0], "remove") == 0 && argc == 2) {
		const char *p[1] = { argv[1] };

		res = q("DELETE FROM crosstalk.apps WHERE id = $1 RETURNING id",
			1, p);
		if (PQntuples(res) != 1)
			die("no such app: %s", argv[1]);
		PQclear(res);
		printf("removed %s\n", argv[1]);
		return 0;
	}
	die("app: unknown or incomplete command '%s'", argv[0]);
	return 1;
}

/* Print every row of res, tab separated. */
static void
print_rows(PGresult *res)
{
	for (int i = 0; i < PQntuples(res); i++)
		for (int j = 0; j < PQnfields(res); j++)
			printf("%s%c", PQgetvalue(res, i, j),
			       j + 1 < PQnfields(res) ? '\t' : '\n');
}

/* hook add APP URL [--events a,b] | list | log ID | retry ID | remove ID */
static int
cmd_hook(int argc, char **argv)
{
	PGresult *res;

	if (argc >= 3 && strcmp(argv[0], "add") == 0) {
		const char *p[3] = { argv[1], argv[2], "message" };

		if (argc == 5 && strcmp(argv[3], "--events") == 0)
			p[2] = argv[4];
		else if (argc != 3)
			die("%s", "hook add APP URL [--events "
				  "message,mention,member,session]");
		res = q("SELECT id, secret FROM crosstalk.hook_add($1, $2, "
			"crosstalk.split_list($3))",
			3, p);
		printf("hook %s\nsecret %s\n(the secret is shown once: the "
		       "endpoint checks X-Crosstalk-Signature with it)\n",
		       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		PQclear(res);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		res = q("SELECT h.id, h.app, h.url, array_to_string(h.events, "
			"','), count(*) FILTER (WHERE o.state = 'pending'), "
			"count(*) FILTER (WHERE o.state = 'parked'), count(*) "
			"FILTER (WHERE o.state = 'delivered') FROM "
			"crosstalk.hooks h LEFT JOIN crosstalk.outbox o ON "
			"o.hook_id = h.id GROUP BY h.id ORDER BY h.id",
			0, NULL);
		print_rows(res);
		PQclear(res);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "log") == 0) {
		const char *p[1] = { argv[1] };

		res = q("SELECT id, event, state, attempts, coalesce("
			"last_status::text, '-'), coalesce(last_error, ''), "
			"crosstalk.iso(created_at) FROM crosstalk.outbox WHERE "
			"hook_id = $1::bigint ORDER BY id DESC LIMIT 50",
			1, p);
		print_rows(res);
		PQclear(res);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "retry") == 0) {
		const char *p[1] = { argv[1] };

		res = q("UPDATE crosstalk.outbox SET state = 'pending', "
			"next_at = now(), attempts = 0 WHERE hook_id = "
			"$1::bigint AND state = 'parked'",
			1, p);
		printf("%s parked deliveries due again\n", PQcmdTuples(res));
		PQclear(res);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "remove") == 0) {
		const char *p[1] = { argv[1] };

		res = q("DELETE FROM crosstalk.hooks WHERE id = $1::bigint "
			"RETURNING id",
			1, p);
		if (PQntuples(res) != 1)
			die("no such hook: %s", argv[1]);
		PQclear(res);
		printf("removed hook %s\n", argv[1]);
		return 0;
	}
	die("%s", "hook: add APP URL [--events message,mention,member,"
		  "session] | list | log ID | retry ID | remove ID");
	return 1;
}

/* channel-hook add APP PATTERN URL [--events a,b] [--timeout MS]
 * [--fail open|closed] | list | remove ID */
static int
cmd_channel_hook(int argc, char **argv)
{
	static const char use[] =
		"channel-hook add APP PATTERN URL [--events publish,subscribe] "
		"[--timeout MS] [--fail open|closed] | list | remove ID";
	PGresult *res;

	if (argc >= 4 && strcmp(argv[0], "add") == 0) {
		const char *p[6] = { argv[1], argv[2],
				     argv[3], "publish,subscribe",
				     "2000",  "true" };

		for (int i = 4; i < argc; i += 2) {
			if (i + 1 >= argc)
				die("%s", use);
			if (strcmp(argv[i], "--events") == 0)
				p[3] = argv[i + 1];
			else if (strcmp(argv[i], "--timeout") == 0)
				p[4] = argv[i + 1];
			else if (strcmp(argv[i], "--fail") == 0 &&
				 (strcmp(argv[i + 1], "open") == 0 ||
				  strcmp(argv[i + 1], "closed") == 0))
				p[5] = strcmp(argv[i + 1], "open") == 0
					       ? "true"
					       : "false";
			else
				die("%s", use);
		}
		res = q("SELECT id, secret FROM crosstalk.channel_hook_add($1, "
			"$2, $3, crosstalk.split_list($4), $5::int, "
			"$6::boolean)",
			6, p);
		printf("channel hook %s\nsecret %s\n(the secret is shown once: "
		       "the endpoint checks X-Crosstalk-Signature with it)\n",
		       PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		PQclear(res);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		res = q("SELECT id, app, pattern, url, array_to_string(events, "
			"','), timeout_ms, CASE WHEN fail_open THEN 'open' "
			"ELSE 'closed' END FROM crosstalk.channel_hooks ORDER "
			"BY id",
			0, NULL);
		print_rows(res);
		PQclear(res);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "remove") == 0) {
		const char *p[1] = { argv[1] };

		res = q("DELETE FROM crosstalk.channel_hooks WHERE id = "
			"$1::bigint RETURNING id",
			1, p);
		if (PQntuples(res) != 1)
			die("no such channel hook: %s", argv[1]);
		PQclear(res);
		printf("removed channel hook %s\n", argv[1]);
		return 0;
	}
	die("%s", use);
	return 1;
}

/* search-config [NAME]: show, or set (the column and index are rebuilt
 * under an exclusive lock of messages: minutes on a big table). */
static int
cmd_search_config(int argc, char **argv)
{
	PGresult *res;

	if (argc == 1) {
		const char *p[1] = { argv[0] };

		PQclear(q("SELECT crosstalk.set_search_config($1)", 1, p));
	} else if (argc != 0) {
		die("%s", "search-config takes at most one NAME");
	}
	res = q("SELECT crosstalk.search_config()::text", 0, NULL);
	printf("search_config = %s\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int
cmd_channel(int argc, char **argv)
{
	PGresult *res;

	if (argc >= 2 && strcmp(argv[0], "add") == 0) {
		const char *title = "", *apps = NULL, *members = NULL;
		const char *priv = "f";
		char arr[4096];
		const char *p[5];

		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--apps") == 0 && i + 1 < argc)
				apps = argv[++i];
			else if (strcmp(argv[i], "--title") == 0 &&
				 i + 1 < argc)
				title = argv[++i];
			else if (strcmp(argv[i], "--private") == 0)
				priv = "t";
			else if (strcmp(argv[i], "--members") == 0 &&
				 i + 1 < argc)
				members = argv[++i];
			else
				die("channel add: unexpected '%s'", argv[i]);
		}
		if (members && *priv != 't')
			die("%s", "channel add: --members needs --private");
		if (apps) {
			if (strpbrk(apps, "{}\"\\ ") ||
			    strlen(apps) > sizeof(arr) - 3)
				die("channel add: --apps takes a,b,c not '%s'",
				    apps);
			snprintf(arr, sizeof(arr), "{%s}", apps);
		}
		p[0] = argv[1];
		p[1] = title;
		p[2] = apps ? arr : NULL;
		p[3] = priv;
		p[4] = members;
		res = q("SELECT name FROM crosstalk.create_channel($1, $2, "
			"$3::text[], $4::boolean, string_to_array($5, ','))",
			5, p);
		printf("created %s\n", PQgetvalue(res, 0, 0));
		PQclear(res);
		return 0;
	}
	if (argc == 1 && strcmp(argv[0], "list") == 0) {
		res = q("SELECT name, coalesce(array_to_string(apps, ','), "
			"'*'), last_seq, title, CASE WHEN archived_at IS NOT "
			"NULL THEN 'archived' ELSE '' END FROM "
			"crosstalk.channels WHERE name NOT LIKE 'dm:%' ORDER "
			"BY name",
			0, NULL);
		for (int i = 0; i < PQntuples(res); i++)
			printf("%s\t%s\t%s\t%s\t%s\n", PQgetvalue(res, i, 0),
			       PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			       PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
		PQclear(res);
		return 0;
	}
	if (argc == 2 && strcmp(argv[0], "members") == 0) {
		const char *p[1] = { argv[1] };

		res = q("SELECT m.user_id, m.role FROM "
			"crosstalk.channel_members m JOIN crosstalk.channels "
			"c ON c.name = m.channel WHERE c.name = $1 ORDER BY "
			"m.user_id COLLATE \"C\"",
			1, p);
		for (int i = 0; i < PQntuples(res); i++)
			printf("%s\t%s\n", PQgetvalue(res, i, 0),
			       PQgetvalue(res, i, 1));
		PQclear(res);
		return 0;
	}
	if (argc == 3 && (strcmp(argv[0], "members-add") == 0 ||
			  strcmp(argv[0], "members-remove") == 0)) {
		const char *p[3] = { argv[1], argv[0][8] == 'a' ? "t" : "f",
				     argv[2] };

		res = q("SELECT crosstalk.change_members($1, $2::boolean, "
			"crosstalk.split_list($3), NULL, NULL) IS NOT NULL",
			3, p);
		printf("%s %s\n",
		       *PQgetvalue(res, 0, 0) == 't' ? "changed" : "unchanged",
		       argv[1]);
		PQclear(res);
		return 0;
	}
	if (argc == 3 && strcmp(argv[0], "rename") == 0) {
		const char *p[2] = { argv[1], argv[2] };

		res = q("SELECT crosstalk.update_channel($1, $2, NULL)", 2, p);
		printf("%s %s\n",
		       PQgetisnull(res, 0, 0) ? "unchanged" : "renamed",
		       argv[1]);
		PQclear(res);
		return 0;
	}
	if (argc == 2 && (strcmp(argv[0], "archive") == 0 ||
			  strcmp(argv[0], "unarchive") == 0)) {
		const char *p[2] = { argv[1], argv[0][0] == 'a' ? "t" : "f" };

		res = q("SELECT crosstalk.update_channel($1, NULL, $2)", 2, p);
		printf("%s %s\n",
		       PQgetisnull(res, 0, 0) ? "unchanged" : argv[0], argv[1]);
		PQclear(res);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[0], "delete") == 0) {
		const char *p[1] = { argv[1] };

		if (argc != 3 || strcmp(argv[2], "--yes") != 0)
			die("channel delete %s: this deletes the channel and "
			    "all its messages for good; add --yes",
			    argv[1]);
		res = q("SELECT crosstalk.delete_channel($1)", 1, p);
		printf("deleted %s (%s events)\n", argv[1],
		       PQgetvalue(res, 0, 0));
		PQclear(res);
		return 0;
	}
	die("%s", "channel: add NAME [--apps a,b] [--title T] [--private "
		  "[--members u1,u2]] | list | members NAME | members-add "
		  "NAME u1,u2 | members-remove NAME u1,u2 | rename NAME TITLE "
		  "| archive NAME | unarchive NAME | delete NAME --yes");
	return 1;
}

static int
cmd_prune(int argc, char **argv)
{
	const char *p[1];
	PGresult *res;
	long days;

	if (argc != 2 || strcmp(argv[0], "--older-than") != 0 ||
	    ct_parse_long(argv[1], 0, 100000, &days) != 0)
		die("%s", "prune --older-than DAYS (a whole number)");
	p[0] = argv[1];
	res = q("SELECT crosstalk.prune($1::int)", 1, p);
	printf("pruned %s events\n", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

static int
cmd_check(int argc, char **argv)
{
	int have = ct_schema_version(conn), want = ct_schema_latest();
	const char *role = NULL;
	PGresult *res;

	printf("config: ok\ndatabase: ok (server %d)\n", PQserverVersion(conn));
	if (have < 0) {
		res = PQexec(conn, "SELECT n.nspname IS NULL, "
				   "has_schema_privilege(current_user, "
				   "n.oid, 'USAGE') FROM (SELECT 1) x LEFT "
				   "JOIN pg_namespace n ON n.nspname = "
				   "'crosstalk'");
		if (PQresultStatus(res) == PGRES_TUPLES_OK &&
		    strcmp(PQgetvalue(res, 0, 0), "f") == 0) {
			int can_use = strcmp(PQgetvalue(res, 0, 1), "t") == 0;

			PQclear(res);
			die("privileges: %s",
			    can_use ? "cannot read crosstalk.migrations (as "
				      "the "
				      "owner: crosstalkctl grant ROLE)"
				    : "no USAGE on schema crosstalk (as the "
				      "owner: crosstalkctl grant ROLE)");
		}
		PQclear(res);
		die("%s", "schema: missing (run: crosstalkctl migrate)");
	}
	if (have != want) {
		char m[64];

		snprintf(m, sizeof(m), "%d, this build wants %d", have, want);
		die("schema: at version %s (run: crosstalkctl migrate)", m);
	}
	printf("schema: version %d\n", have);
	res = PQexec(conn, "SELECT count(*) FROM crosstalk.resolve_session("
			   "'crosstalk-check', 'no-such-ref')");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		msg[strcspn(msg, "\n")] = 0;
		PQclear(res);
		die("resolver: resolve_session() fails: %s", msg);
	}
	PQclear(res);
	printf("resolver: ok\n");
	if (argc == 2 && strcmp(argv[0], "--role") == 0)
		role = argv[1];
	else if (argc != 0)
		die("%s", "check [--role ROLE]");
	if (have >= 5 && check_privileges(role) > 0)
		die("%s", "privileges: missing (see above)");
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct ct_cfg *cfg = NULL;
	char err[512];
	int c, rc;

	/* options stop at the command: its own flags follow it */
	if ((rc = ct_cli_options(argc, argv, "crosstalkctl", usage, &path,
				 &c)) >= 0)
		return rc;
	if (c >= argc) {
		fprintf(stderr, "crosstalkctl: no command\n");
		return 2;
	}
	if (ct_cfg_load(path, &cfg, err, sizeof(err)) != CT_OK)
		die("bad config: %s", err);
	ct_log_init("ctl",
		    (enum ct_log_level)ct_log_parse_level(cfg->log_level));
	/* the daemons' timeouts are for their requests; migrate and prune
	 * may rightly take long, and wait for a lock */
	cfg->db_lock_timeout = 0;
	cfg->db_statement_timeout = 0;
	conn = ct_db_connect(cfg, "crosstalkctl", err, sizeof(err));
	ct_cfg_free(cfg);
	if (!conn)
		die("database unreachable: %s", err);
	PQclear(PQexec(conn, "SET client_min_messages = warning"));

	argv += c;
	argc -= c;
	if (strcmp(argv[0], "migrate") == 0 && argc == 1)
		rc = cmd_migrate();
	else if (strcmp(argv[0], "app") == 0)
		rc = cmd_app(argc - 1, argv + 1);
	else if (strcmp(argv[0], "channel") == 0)
		rc = cmd_channel(argc - 1, argv + 1);
	else if (strcmp(argv[0], "hook") == 0)
		rc = cmd_hook(argc - 1, argv + 1);
	else if (strcmp(argv[0], "channel-hook") == 0)
		rc = cmd_channel_hook(argc - 1, argv + 1);
	else if (strcmp(argv[0], "prune") == 0)
		rc = cmd_prune(argc - 1, argv + 1);
	else if (strcmp(argv[0], "search-config") == 0)
		rc = cmd_search_config(argc - 1, argv + 1);
	else if (strcmp(argv[0], "grant") == 0)
		rc = cmd_grant(argc - 1, argv + 1);
	else if (strcmp(argv[0], "check") == 0)
		rc = cmd_check(argc - 1, argv + 1);
	else
		die("unknown command '%s' (see --help)", argv[0]);
	PQfinish(conn);
	return rc;
}
