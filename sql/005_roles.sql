-- 005_roles.sql - least privilege: the roles granted the runtime
-- privileges (grant_runtime(), privilege_report(): sql/functions.sql).

CREATE TABLE crosstalk.runtime_roles (
    role       name PRIMARY KEY,
    granted_at timestamptz NOT NULL DEFAULT now()
);

-- The resolver runs with its owner's rights (to read the apps' session
-- tables): only roles granted the runtime privileges may call it.
REVOKE ALL ON FUNCTION crosstalk.resolve_session(text, text) FROM PUBLIC;
