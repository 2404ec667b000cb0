"""deploy_sql.py - the SQL of docs/DEPLOY.md runs, and does what it says.

Takes every ```sql block marked <!-- test: NAME --> from docs/DEPLOY.md and
runs it in a fresh database of the shared stack's cluster, with the role
names made unique: the role setup, then `crosstalkctl migrate` as the
(non-superuser) owner and `grant` of the runtime role, then both resolver
examples against stand-in `user_sessions` / `users` and Lucee
`cf_session_data` tables, calling resolve_session as the runtime role.
The `crosstalkctl check` output shown is what check prints (schema version
included), and the SQL inside the Adobe ColdFusion and Lucee code that
writes, slides and deletes a `user_sessions` row runs, with the values
ColdFusion would bind, and does to the resolver what the text says.
"""
import os
import re
import subprocess
import sys
import uuid

import ct

T = ct.T
E = ct.ENV
SRC = os.environ["CT_SRC"]
CTL = os.path.join(os.environ["CT_BIN"], "ctl", "crosstalkctl")
tag = uuid.uuid4().hex[:8]
DB = "appsdb_" + tag
OWNER = "ctown_" + tag
RUNTIME = "ctapp_" + tag


def blocks(lang="sql"):
    text = open(os.path.join(SRC, "docs", "DEPLOY.md")).read()
    found = {}
    for m in re.finditer(r"<!-- test: ([a-z0-9-]+) -->\n```%s\n(.*?)```" % lang,
                         text, re.S):
        sql = m.group(2)
        sql = sql.replace("crosstalk_owner", OWNER)
        sql = sql.replace("crosstalk_app", RUNTIME)
        sql = re.sub(r"\bappsdb\b", DB, sql)
        found[m.group(1)] = sql
    return found


def psql(sql, db=None, user=None, ok=True):
    cmd = [ct.PSQL, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
           "-h", E["PGHOST"], "-p", E["PGPORT"], "-U", user or E["PGUSER"],
           "-d", db or DB]
    out = subprocess.run(cmd, input=sql, capture_output=True, text=True)
    if ok and out.returncode != 0:
        raise RuntimeError("psql as %s: %s" % (user, out.stderr.strip()))
    return out


def rows(sql, user=None):
    out = psql(sql, user=user)
    return [l.split("\t") for l in out.stdout.splitlines() if l]


def conf(path, user):
    with open(E["CROSSTALK_CONFIG"]) as f:
        text = f.read()
    text = re.sub(r"(?m)^conninfo = .*$",
                  "conninfo = host=%s port=%s dbname=%s user=%s"
                  % (E["PGHOST"], E["PGPORT"], DB, user), text)
    with open(path, "w") as f:
        f.write(text)
    return path


def ctl(cfg, *args):
    return subprocess.run([CTL, "--config", cfg] + list(args),
                          capture_output=True, text=True)


STANDIN = r"""
CREATE TABLE public.users (id int PRIMARY KEY, display_name text);
CREATE TABLE public.user_sessions (token text PRIMARY KEY,
    user_id int NOT NULL, expires_at timestamptz NOT NULL);
INSERT INTO public.users VALUES (42, 'Ann Lee'), (43, '');
INSERT INTO public.user_sessions VALUES
    ('tok-live', 42, now() + interval '1 hour'),
    ('tok-noname', 43, now() + interval '1 hour'),
    ('tok-expired', 42, now() - interval '1 minute');
-- Lucee's table, as datasource session storage creates it
CREATE TABLE public.cf_session_data (expires varchar(64) NOT NULL,
    cfid varchar(64) NOT NULL, name varchar(255) NOT NULL, data text);
INSERT INTO public.cf_session_data VALUES
    ((extract(epoch FROM now()) * 1000 + 3600000)::bigint::text, 'cf1', 'wiki',
     '{''cfid'':''cf1'',''chat_ref'':''ct_0123456789abcdef0123456789abcdef'',''chat_user_id'':''7'',''chat_name'':''Wiki Walt'',''cart'':[]}'),
    ((extract(epoch FROM now()) * 1000 + 3600000)::bigint::text, 'cf2', 'wiki',
     '{"CFID":"cf2","CHAT_REF":"ct_fedcba9876543210fedcba9876543210","CHAT_USER_ID":8,"CHAT_NAME":"Json Jo"}'),
    ((extract(epoch FROM now()) * 1000 - 1000)::bigint::text, 'cf3', 'wiki',
     '{''chat_ref'':''ct_11111111111111111111111111111111'',''chat_user_id'':''9'',''chat_name'':''Gone''}'),
    ((extract(epoch FROM now()) * 1000 + 3600000)::bigint::text, 'cf4', 'other',
     '{''chat_ref'':''ct_22222222222222222222222222222222'',''chat_user_id'':''10'',''chat_name'':''Other App''}'),
    ('not-a-number', 'cf5', 'wiki', '{''chat_ref'':''ct_33333333333333333333333333333333''}');
"""


def resolve(app, ref):
    q = lambda v: "'" + v.replace("'", "''") + "'"  # noqa: E731
    return rows("SELECT user_id, display_name FROM crosstalk.resolve_session"
                "(%s, %s)" % (q(app), q(ref)), user=RUNTIME)


def check_output(runtime):
    """The `crosstalkctl check` lines DEPLOY.md shows are what check prints."""
    want = blocks("")["check-output"].strip().split("\n") if "check-output" in blocks("") else []
    if not T.ok(want, "DEPLOY.md shows the output of crosstalkctl check"):
        return
    r = ctl(runtime, "check")
    got = r.stdout.strip().split("\n")
    norm = lambda l: re.sub(r"\(server \d+\)", "(server N)", l.replace(RUNTIME, "crosstalk_app"))  # noqa: E731
    T.eq([norm(l) for l in got], [norm(l) for l in want],
         "crosstalkctl check prints what DEPLOY.md shows (the schema version too)")


# what ColdFusion binds for the expressions in DEPLOY.md's CFML
def cfml_sql(code, values):
    """The statements of <cfquery> bodies (cfqueryparam bound) and of
    queryExecute strings (:name bound), in order."""
    out = []
    for m in re.finditer(r"<cfquery[^>]*>(.*?)</cfquery>", code, re.S):
        def bind(p):
            v = p.group(1).strip("#")
            if v not in values:
                raise KeyError("no value for cfqueryparam %r" % v)
            return values[v]
        out.append(re.sub(r'<cfqueryparam value="([^"]+)" cfsqltype="[^"]+">', bind, m.group(1)))
    for m in re.finditer(r'queryExecute\(\s*"(.*?)"', code, re.S):
        def named(p):
            if p.group(1) not in values:
                raise KeyError("no value for :%s" % p.group(1))
            return values[p.group(1)]
        out.append(re.sub(r"(?<!:):(\w+)", named, m.group(1)))
    return out


def cfml_checks():
    code = blocks("cfml")
    for name in ("cfml-adobe", "cfml-lucee"):
        if not T.ok(name in code, "DEPLOY.md has the ColdFusion block '%s'" % name):
            continue
        token = "tok" + uuid.uuid4().hex
        values = {"'": "'", "token": "'%s'" % token, "session.loginToken": "'%s'" % token,
                  "arguments.sessionScope.loginToken": "'%s'" % token, "arguments.userId": "42",
                  "userId": "42", "ttl": "28800", "28800": "28800"}
        stmts = cfml_sql(code[name], values)
        if not T.eq([s.split()[0] for s in stmts], ["INSERT", "UPDATE", "DELETE"],
                    "%s: writes, slides and deletes the row" % name):
            continue
        psql(stmts[0])
        T.eq(resolve("shop", token), [["42", "Ann Lee"]], "%s: after login, the token resolves" % name)
        psql("UPDATE public.user_sessions SET expires_at = now() + interval '10 seconds' "
             "WHERE token = '%s'" % token)
        psql(stmts[1])
        left = rows("SELECT round(extract(epoch FROM expires_at - now()))::int FROM "
                    "public.user_sessions WHERE token = '%s'" % token)
        T.ok(left and abs(int(left[0][0]) - 28800) < 10,
             "%s: a request slides the row to now + the session timeout" % name, left)
        psql(stmts[2])
        T.eq(resolve("shop", token), [], "%s: at session end the login is gone" % name)


def main():
    b = blocks()
    for name in ("roles", "resolver-grants", "resolver-user-sessions",
                 "resolver-grants-lucee", "resolver-lucee"):
        T.ok(name in b, "DEPLOY.md has the SQL block '%s'" % name)
    psql("CREATE DATABASE %s" % DB, db="postgres")
    try:
        run(b)
    finally:
        psql("DROP DATABASE IF EXISTS %s" % DB, db="postgres", ok=False)
        psql("DROP ROLE IF EXISTS %s; DROP ROLE IF EXISTS %s" % (RUNTIME, OWNER),
             db="postgres", ok=False)


def run(b):
    psql(b["roles"])
    st = os.environ.get("CT_STATE")
    admin = conf(os.path.join(st, "deploy-admin-%s.conf" % tag), OWNER)
    runtime = conf(os.path.join(st, "deploy-runtime-%s.conf" % tag), RUNTIME)
    r = ctl(admin, "migrate")
    T.ok(r.returncode == 0, "migrate as the owner role after the roles block",
         r.stderr)
    r = ctl(admin, "grant", RUNTIME)
    T.ok(r.returncode == 0, "grant the runtime role", r.stderr)
    r = ctl(admin, "app", "add", "app1", "--origin", "https://app1.example.test")
    T.ok(r.returncode == 0, "app add as the owner role", r.stderr)
    T.eq(rows("SELECT rolsuper FROM pg_roles WHERE rolname = '%s'" % OWNER),
         [["f"]], "the owner role is no superuser")

    psql(STANDIN)
    psql(b["resolver-grants"])

    # --- user_sessions ---
    psql(b["resolver-user-sessions"], user=OWNER)
    T.eq(rows("SELECT p.proowner::regrole::text, p.prosecdef, p.proconfig::text "
              "FROM pg_proc p WHERE p.oid = 'crosstalk.resolve_session(text,text)'::regprocedure"),
         [[OWNER, "t", "{\"search_path=pg_catalog, pg_temp\"}"]],
         "resolver: owned by the owner, SECURITY DEFINER, fixed search_path")
    T.eq(resolve("shop", "tok-live"), [["42", "Ann Lee"]],
         "user_sessions: a live token resolves")
    T.eq(resolve("shop", "tok-noname"), [["43", "43"]],
         "user_sessions: an empty name falls back to the id")
    T.eq(resolve("shop", "tok-expired"), [], "user_sessions: expired")
    T.eq(resolve("intranet", "tok-live"), [], "user_sessions: the shop's token is no login of another app")
    T.eq(resolve("wiki", "tok-live"), [], "user_sessions: nor of a third")
    T.eq(resolve("shop", "nope"), [], "user_sessions: unknown token")
    T.eq(rows("SELECT coalesce(expires::text, 'null'), coalesce(ttl::text, 'null') "
              "FROM crosstalk.touch_session('shop', 'tok-live')", user=RUNTIME), [["null", "null"]],
         "touch_session of the shop's token: live, but the expiry is the app's (slid: false)")
    cfml_checks()
    check_output(runtime)
    ref = rows("SELECT crosstalk.register_session('app1', 'u9', 'Reg Istered', 3600)",
               user=RUNTIME)
    T.eq(resolve("app1", ref[0][0]), [["u9", "Reg Istered"]],
         "user_sessions: registered sessions still resolve")
    out = psql("SELECT count(*) FROM public.user_sessions", user=RUNTIME, ok=False)
    T.ok(out.returncode != 0 and "permission denied" in out.stderr,
         "the runtime role cannot read the apps' tables itself", out.stderr)
    r = ctl(runtime, "check")
    T.ok(r.returncode == 0 and "resolver: ok" in r.stdout and
         "privileges: %s ok" % RUNTIME in r.stdout,
         "crosstalkctl check as the runtime role", r.stdout + r.stderr)

    # --- Lucee cf_session_data ---
    psql(b["resolver-grants-lucee"])
    psql(b["resolver-lucee"], user=OWNER)
    T.eq(resolve("wiki", "ct_0123456789abcdef0123456789abcdef"),
         [["7", "Wiki Walt"]], "lucee: CFML-serialized session resolves")
    T.eq(resolve("wiki", "ct_fedcba9876543210fedcba9876543210"),
         [["8", "Json Jo"]], "lucee: JSON-serialized, upper-case keys")
    T.eq(resolve("wiki", "ct_11111111111111111111111111111111"), [],
         "lucee: expired session")
    T.eq(resolve("wiki", "ct_22222222222222222222222222222222"), [],
         "lucee: another Lucee application's session")
    T.eq(resolve("intranet", "ct_0123456789abcdef0123456789abcdef"), [],
         "lucee: another crosstalk app")
    T.eq(resolve("wiki", "ct_%"), [], "lucee: LIKE wildcards are no ref")
    T.eq(resolve("wiki", "cf1"), [], "lucee: a CFID is no ref")
    T.eq(resolve("wiki", "ct_33333333333333333333333333333333"), [],
         "lucee: a malformed expires is skipped, not an error")
    T.eq(resolve("app1", ref[0][0]), [["u9", "Reg Istered"]],
         "lucee: registered sessions still resolve")
    r = ctl(runtime, "check")
    T.ok(r.returncode == 0, "check after the Lucee resolver", r.stdout + r.stderr)
    r = ctl(admin, "migrate")
    T.eq(rows("SELECT position('cf_session_data' IN prosrc) > 0 FROM pg_proc "
              "WHERE oid = 'crosstalk.resolve_session(text,text)'::regprocedure"),
         [["t"]], "migrate leaves the replaced resolver alone")

    # --- check names what is missing, and what is too much ---
    psql("REVOKE SELECT ON crosstalk.apps FROM %s; "
         "GRANT TRUNCATE ON crosstalk.messages TO %s" % (RUNTIME, RUNTIME))
    r = ctl(runtime, "check")
    T.ok(r.returncode != 0 and
         "%s lacks SELECT on table crosstalk.apps" % RUNTIME in r.stdout,
         "check names a missing privilege and fails", r.stdout + r.stderr)
    T.ok("more than it needs: TRUNCATE on table crosstalk.messages" in r.stdout,
         "check names an excess privilege", r.stdout)
    r = ctl(admin, "check")
    T.ok(r.returncode != 0 and "connected as %s, the schema owner" % OWNER
         in r.stdout and "%s lacks SELECT" % RUNTIME in r.stdout,
         "check as the owner reports on the recorded runtime role",
         r.stdout + r.stderr)
    r = ctl(admin, "migrate")
    T.ok("runtime role %s: privileges granted" % RUNTIME in r.stdout,
         "migrate renews the recorded role's grants", r.stdout + r.stderr)
    r = ctl(runtime, "check")
    T.ok(r.returncode == 0 and "privileges: %s ok" % RUNTIME in r.stdout,
         "after migrate: nothing missing, nothing in excess", r.stdout)
    psql("REVOKE USAGE ON SCHEMA crosstalk FROM %s" % RUNTIME)
    r = ctl(runtime, "check")
    T.ok(r.returncode != 0 and "no USAGE on schema crosstalk" in r.stderr,
         "check without schema USAGE says so", r.stdout + r.stderr)
    r = ctl(runtime, "app", "add", "evil", "--origin", "https://evil.example")
    T.ok(r.returncode != 0, "the runtime role cannot register apps")
    for f in (admin, runtime):
        os.unlink(f)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001
        T.ok(False, "deploy SQL", repr(e))
    T.done()
    sys.exit(0)
