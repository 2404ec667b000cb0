-- 002_functions.sql - the write path's functions, first version. Their
-- current definitions live in sql/functions.sql (applied after the
-- migrations); what stays here is the one function migrate creates once and
-- never again: the deployer's hook.

-- The default resolver: crosstalk's own sessions table. A deployer replaces
-- it (CREATE OR REPLACE) to read the apps' session storage; no migration
-- ever redefines it. Zero rows: not logged in.
CREATE FUNCTION crosstalk.resolve_session(app text, ref text)
RETURNS TABLE (user_id text, display_name text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, crosstalk AS $$
    SELECT s.user_id, s.display_name FROM crosstalk.sessions s
    WHERE s.ref_hash = encode(sha256(convert_to($2, 'UTF8')), 'hex')
      AND s.app = $1 AND s.ended_at IS NULL AND s.expires_at > now()
$$;
