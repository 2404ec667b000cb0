-- 010_session_ttl.sql - logins slide (POST sessions/touch, and every ticket
-- minted for a live login): each keeps the lifetime it was registered with,
-- so a slide knows how far to move it. Logins registered before this
-- migration get the lifetime they were given.
ALTER TABLE crosstalk.sessions
    ADD COLUMN ttl_seconds int NOT NULL DEFAULT 86400
    CHECK (ttl_seconds BETWEEN 60 AND 2678400);
UPDATE crosstalk.sessions
SET ttl_seconds = least(2678400, greatest(60,
    round(extract(epoch FROM expires_at - created_at))::int))
WHERE ended_at IS NULL AND expires_at > now();
