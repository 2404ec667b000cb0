"""Two migrates at once both succeed with one schema; the shipped resolver
is PL/pgSQL (migration 22) and a deployer's resolver survives every later
migrate, 22 included; sql/functions.sql applies over itself (what an
upgrade does)."""
import os
import subprocess
import tempfile

from ct import ENV, PSQL as CT_PSQL, T, sql, sql1, uniq

CTL = os.path.join(os.environ["CT_BIN"], "ctl", "crosstalkctl")


def conf_for(db):
    f = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
    f.write("[database]\nconninfo = host=%s port=%s dbname=%s user=%s\n"
            % (ENV["PGHOST"], ENV["PGPORT"], db, ENV["PGUSER"]))
    f.close()
    return f.name


db = uniq("mig")
sql("CREATE DATABASE %s" % db)
conf = conf_for(db)
try:
    # two at once, on an empty database
    procs = [subprocess.Popen([CTL, "--config", conf, "migrate"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    for i, (p, (out, err)) in enumerate(zip(procs, outs)):
        T.eq(p.returncode, 0, "concurrent migrate %d exit (%s)" % (i, err.strip()))
    applied = sorted(int(o.split("(")[1].split()[0]) for o, _ in outs)
    T.ok(applied[0] == 0 and applied[1] > 0, "one migrate applied, the other found it done", str(outs))

    def q(s):
        r = subprocess.run([CT_PSQL, "-X", "-At", "-h", ENV["PGHOST"], "-p",
                            ENV["PGPORT"], "-U", ENV["PGUSER"], "-d", db,
                            "-c", s], capture_output=True, text=True)
        return r.stdout.strip()

    def ctl(cmd, forget=None):
        """crosstalkctl migrate or check on this database; forget: a
        migration's version taken off the record first, so it runs again"""
        if forget:
            q("DELETE FROM crosstalk.migrations WHERE version = %d" % forget)
        return subprocess.run([CTL, "--config", conf, cmd], capture_output=True, text=True)

    versions = q("SELECT string_agg(version::text, ',' ORDER BY version) FROM crosstalk.migrations")
    dup = q("SELECT count(*) - count(DISTINCT version) FROM crosstalk.migrations")
    T.ok(versions.startswith("1,2"), "migrations recorded in order", versions)
    T.eq(dup, "0", "each migration recorded once")
    T.eq(q("SELECT count(*) FROM pg_namespace WHERE nspname = 'crosstalk'"), "1", "one schema")

    # the shipped resolver was made PL/pgSQL by migration 22 (its plan is
    # kept per connection), with the same rights and search path
    lang = ("SELECT l.lanname || ' ' || p.prosecdef || ' ' || array_to_string(p.proconfig, ';') "
            "FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
            "WHERE p.oid = 'crosstalk.resolve_session(text, text)'::regprocedure")
    T.eq(q(lang), "plpgsql true search_path=pg_catalog, crosstalk", "shipped resolver in PL/pgSQL")
    q("INSERT INTO crosstalk.apps (id, key_hash) VALUES ('mig', 'x'), ('mig2', 'y'); "
      "INSERT INTO crosstalk.sessions (ref_hash, app, user_id, display_name, expires_at) "
      "VALUES (encode(sha256('mig-ref'::bytea), 'hex'), 'mig', 'mig-u', 'Mig U', now() + interval '1 hour')")
    T.eq(q("SELECT user_id || '|' || display_name FROM crosstalk.resolve_session('mig', 'mig-ref')"),
         "mig-u|Mig U", "it resolves a registered session")
    T.eq(q("SELECT count(*) FROM crosstalk.resolve_session('mig2', 'mig-ref')"), "0",
         "not for another app")

    # a deployer replaces the resolver; migrate again leaves it alone
    q("CREATE OR REPLACE FUNCTION crosstalk.resolve_session(app text, ref text) "
      "RETURNS TABLE (user_id text, display_name text) LANGUAGE sql AS "
      "$$ SELECT 'deployer-' || $2, 'Deployer' $$")
    r = ctl("migrate")
    T.eq(r.returncode, 0, "migrate after replacing the resolver")
    T.ok("(0 applied)" in r.stdout, "nothing re-applied", r.stdout)
    T.eq(q("SELECT user_id FROM crosstalk.resolve_session('app1', 'x')"), "deployer-x",
         "replaced resolver survives migrate")
    # migration 22 itself, run over a deployer's SQL resolver (as on an
    # upgrade from 21), leaves it alone
    r = ctl("migrate", forget=22)
    T.eq(r.returncode, 0, "migration 22 again (%s)" % r.stderr.strip())
    T.ok("(1 applied)" in r.stdout, "it ran", r.stdout)
    T.eq(q("SELECT user_id FROM crosstalk.resolve_session('app1', 'x')"), "deployer-x",
         "migration 22 keeps a deployer's resolver")
    # an upgrade: a changed functions.sql is applied again over the
    # functions of the last one (as if its recorded hash differed); every
    # definition in it must apply over itself
    nfun = q("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
             "WHERE n.nspname = 'crosstalk'")
    q("DELETE FROM crosstalk.code")
    r = ctl("migrate")
    T.eq(r.returncode, 0, "functions.sql applies over itself (%s)" % r.stderr.strip())
    T.ok("functions: defined" in r.stdout, "it was applied again", r.stdout)
    T.eq(q("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
           "WHERE n.nspname = 'crosstalk'"), nfun, "the same functions, none left twice")
    T.eq(q("SELECT user_id FROM crosstalk.resolve_session('app1', 'x')"), "deployer-x",
         "the replaced resolver survives that too")
    # and crosstalkctl check runs the replaced resolver
    r = ctl("check")
    T.eq(r.returncode, 0, "check passes with a replaced resolver (%s)" % r.stderr.strip())
    T.ok("resolver: ok" in r.stdout, "check reports the resolver", r.stdout)

    # a missing resolver is reported by check; migration 22 over it does not
    # fail the migrate (it has nothing to replace)
    q("DROP FUNCTION crosstalk.resolve_session(text, text)")
    r = ctl("check")
    T.ok(r.returncode != 0 and "resolver" in r.stderr, "check fails on a missing resolver", r.stderr)
    r = ctl("migrate", forget=22)
    T.ok(r.returncode == 0 and "(1 applied)" in r.stdout,
         "migration 22 over a missing resolver (%s)" % r.stderr.strip(), r.stdout)
finally:
    os.unlink(conf)
    sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
T.done()
