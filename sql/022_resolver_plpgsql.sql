-- 022_resolver_plpgsql.sql - the shipped session resolver in PL/pgSQL.
-- A SQL-language function that is SECURITY DEFINER or has a SET clause is
-- never inlined, and PostgreSQL 15 parses and plans its body on every
-- call: every HTTP post that carries a session paid that (a one-post group
-- commit 0.73-1.11 ms with a session against 0.61-0.67 with a user id).
-- PL/pgSQL keeps the query's plan for the connection's life (0.58-0.71
-- against 0.54-0.58). The same query, the same rights and search path.
-- Only the shipped resolver is replaced: one a deployer wrote (any other
-- text, or another language) is left exactly as it is, and a missing one
-- stays missing (crosstalkctl check reports it).
DO $do$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        WHERE p.oid = to_regprocedure('crosstalk.resolve_session(text, text)')
          AND l.lanname = 'sql'
          AND p.prosrc = $src$
    SELECT s.user_id, s.display_name FROM crosstalk.sessions s
    WHERE s.ref_hash = encode(sha256(convert_to($2, 'UTF8')), 'hex')
      AND s.app = $1 AND s.ended_at IS NULL AND s.expires_at > now()
$src$) THEN
        CREATE OR REPLACE FUNCTION crosstalk.resolve_session(app text, ref text)
        RETURNS TABLE (user_id text, display_name text)
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, crosstalk AS $fn$
        BEGIN
            RETURN QUERY
            SELECT s.user_id, s.display_name FROM crosstalk.sessions s
            WHERE s.ref_hash = encode(sha256(convert_to($2, 'UTF8')), 'hex')
              AND s.app = $1 AND s.ended_at IS NULL AND s.expires_at > now();
        END $fn$;
    END IF;
END $do$;
