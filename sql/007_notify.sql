-- 007_notify.sql - the event rides in its NOTIFY (notify_event,
-- post_message_x); functions only, now in sql/functions.sql. Kept so that
-- the version stays recorded.
SELECT 1;
