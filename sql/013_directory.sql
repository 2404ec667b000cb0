-- 013_directory.sql - everyone the hub has seen, for finding people who
-- are not online (GET users, the WebSocket "users" request). A row per hub
-- user id (012: "app/id" for an app whose ids are its own), written when a
-- login is registered (POST sessions) and when a ticket is minted (every
-- page that opens the widget); avatar_url and title are what the app passed
-- there. Online or not comes from presence.
CREATE TABLE crosstalk.users (
    id           text PRIMARY KEY,
    app          text NOT NULL,          -- the app it was last seen in
    apps         text[] NOT NULL,        -- every app it was seen in
    display_name text NOT NULL,
    avatar_url   text,
    title        text,
    first_seen   timestamptz NOT NULL DEFAULT now(),
    last_seen    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_name ON crosstalk.users (lower(display_name) text_pattern_ops);
CREATE INDEX users_lower_id ON crosstalk.users (lower(id) text_pattern_ops);
CREATE INDEX presence_user ON crosstalk.presence (user_id);

-- Everyone who wrote or logged in before: every app was 'family' then
-- (012), so the stored ids are the hub's ids.
INSERT INTO crosstalk.users (id, app, apps, display_name, first_seen, last_seen)
SELECT s.user_id, (array_agg(s.app ORDER BY s.at DESC))[1], array_agg(DISTINCT s.app),
       (array_agg(s.display_name ORDER BY s.at DESC))[1], min(s.at), max(s.at)
FROM (SELECT m.user_id, m.app, m.display_name, m.created_at AS at
      FROM crosstalk.messages m WHERE m.kind = 'message'
      UNION ALL
      SELECT x.user_id, x.app, x.display_name, x.created_at FROM crosstalk.sessions x) s
WHERE s.user_id <> ''
GROUP BY s.user_id;
