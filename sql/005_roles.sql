-- 005_roles.sql - least privilege. Three kinds of database role touch
-- crosstalk:
--   the owner    runs `crosstalkctl migrate`, owns schema crosstalk and
--                every object in it (and so the SECURITY DEFINER resolver);
--   runtime      crosstalk-fcgi and crosstalk-wsd: owns nothing, may use the
--                schema, execute its functions and read/write the live
--                tables; reads apps (keys, origins) and migrations only;
--   apps' roles  may be given the runtime grants too, to call the SQL
--                functions in their own transactions.
-- `crosstalkctl grant ROLE` (as the owner) calls grant_runtime(), which
-- records the role; every later `migrate` grants again, so objects added by
-- later migrations reach the recorded roles. `crosstalkctl check` reports
-- what privilege_report() finds missing or in excess.

CREATE TABLE crosstalk.runtime_roles (
    role       name PRIMARY KEY,
    granted_at timestamptz NOT NULL DEFAULT now()
);

-- What a runtime role may do with each table of the schema. A table not
-- listed here (added by a later migration) gets SELECT/INSERT/UPDATE/DELETE;
-- list it to narrow that. NULL privileges: none at all.
CREATE FUNCTION crosstalk.runtime_table_privileges()
RETURNS TABLE (tbl name, privileges text[])
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    WITH narrowed (tbl, privileges) AS (VALUES
        ('apps'::name,      ARRAY['SELECT']),
        ('migrations',      ARRAY['SELECT']),
        ('runtime_roles',   NULL::text[]),
        ('sessions',        ARRAY['SELECT', 'INSERT', 'UPDATE']),
        ('channels',        ARRAY['SELECT', 'INSERT', 'UPDATE']),
        ('messages',        ARRAY['SELECT', 'INSERT', 'UPDATE']),
        ('read_markers',    ARRAY['SELECT', 'INSERT', 'UPDATE']))
    SELECT c.relname,
           CASE WHEN n.tbl IS NULL THEN ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']
                ELSE n.privileges END
    FROM pg_class c
    JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'crosstalk'
    LEFT JOIN narrowed n ON n.tbl = c.relname
    WHERE c.relkind IN ('r', 'p')
    ORDER BY c.relname
$$;

-- Grant p_role exactly the runtime privileges (and take back any other
-- table privilege it had). Run by the owner; records p_role.
CREATE FUNCTION crosstalk.grant_runtime(p_role name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
    r record;
    f record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role) THEN
        RAISE EXCEPTION USING ERRCODE = 'CT404',
            MESSAGE = format('role %I does not exist (CREATE ROLE %I LOGIN first)', p_role, p_role);
    END IF;
    IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'crosstalk'
               AND nspowner = (SELECT oid FROM pg_roles WHERE rolname = p_role)) THEN
        RAISE EXCEPTION USING ERRCODE = 'CT422',
            MESSAGE = format('role %I owns schema crosstalk: the daemons need a role of their own', p_role);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA crosstalk TO %I', p_role);
    EXECUTE format('REVOKE CREATE ON SCHEMA crosstalk FROM %I', p_role);
    FOR r IN SELECT * FROM crosstalk.runtime_table_privileges() LOOP
        EXECUTE format('REVOKE ALL ON TABLE crosstalk.%I FROM %I', r.tbl, p_role);
        IF r.privileges IS NOT NULL THEN
            EXECUTE format('GRANT %s ON TABLE crosstalk.%I TO %I',
                           array_to_string(r.privileges, ', '), r.tbl, p_role);
        END IF;
    END LOOP;
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA crosstalk TO %I', p_role);
    FOR f IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
             JOIN pg_namespace s ON s.oid = p.pronamespace AND s.nspname = 'crosstalk'
             WHERE p.proname <> 'grant_runtime' LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', f.sig, p_role);
    END LOOP;
    INSERT INTO crosstalk.runtime_roles (role) VALUES (p_role)
    ON CONFLICT (role) DO UPDATE SET granted_at = now();
END $$;
REVOKE ALL ON FUNCTION crosstalk.grant_runtime(name) FROM PUBLIC;

-- The resolver runs with its owner's rights (to read the apps' session
-- tables): only roles granted the runtime privileges may call it.
REVOKE ALL ON FUNCTION crosstalk.resolve_session(text, text) FROM PUBLIC;

-- What p_role lacks for the runtime, and what it holds beyond it:
-- (problem 'missing' | 'excess', object, privilege). No rows: as it should be.
CREATE FUNCTION crosstalk.privilege_report(p_role name)
RETURNS TABLE (problem text, object text, privilege text)
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
    SELECT 'missing', 'schema crosstalk', 'USAGE'
    WHERE NOT has_schema_privilege(p_role, 'crosstalk', 'USAGE')
    UNION ALL
    SELECT 'missing', 'table crosstalk.' || t.tbl, p.priv
    FROM crosstalk.runtime_table_privileges() t, unnest(t.privileges) p(priv)
    WHERE NOT has_table_privilege(p_role, ('crosstalk.' || quote_ident(t.tbl))::regclass, p.priv)
    UNION ALL
    SELECT 'missing', 'sequence crosstalk.' || c.relname, 'USAGE'
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'crosstalk'
    WHERE c.relkind = 'S'
      AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(p_role, c.oid, 'USAGE') END
    UNION ALL
    SELECT 'missing', 'function ' || p.oid::regprocedure::text, 'EXECUTE'
    FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace AND s.nspname = 'crosstalk'
    WHERE p.proname <> 'grant_runtime' AND NOT has_function_privilege(p_role, p.oid, 'EXECUTE')
    UNION ALL
    SELECT 'excess', 'role ' || quote_ident(p_role), 'SUPERUSER'
    FROM pg_roles WHERE rolname = p_role AND rolsuper
    UNION ALL
    SELECT 'excess', 'schema crosstalk', 'CREATE'
    WHERE has_schema_privilege(p_role, 'crosstalk', 'CREATE')
    UNION ALL
    SELECT 'excess', 'table crosstalk.' || t.tbl, p.priv
    FROM crosstalk.runtime_table_privileges() t,
         unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p(priv)
    WHERE NOT (p.priv = ANY (coalesce(t.privileges, '{}')))
      AND has_table_privilege(p_role, ('crosstalk.' || quote_ident(t.tbl))::regclass, p.priv)
      AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = p_role AND rolsuper)
    UNION ALL
    SELECT 'excess', 'owns ' || c.relname, 'OWNER'
    FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace AND s.nspname = 'crosstalk'
    WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = p_role)
      AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
$$;
