-- 018_attachments.sql - files on messages.
--
-- An upload is one transaction: a row in attachments, its bytes in
-- attachment_chunks (256 KiB each, stored uncompressed: images and archives
-- are compressed already), committed only once the whole file arrived. A
-- message names its files (messages.files, their metadata, so an event needs
-- no join); deleting the message or its channel deletes them, and prune
-- removes uploads no message took.
CREATE TABLE crosstalk.attachments (
    id          bigserial PRIMARY KEY,
    channel     text NOT NULL REFERENCES crosstalk.channels ON DELETE CASCADE,
    app         text NOT NULL,
    user_id     text NOT NULL,              -- the uploader (hub id)
    name        text NOT NULL,
    type        text NOT NULL,              -- sniffed from the bytes
    size        bigint NOT NULL DEFAULT 0,
    message_id  bigint REFERENCES crosstalk.messages ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_message ON crosstalk.attachments (message_id)
    WHERE message_id IS NOT NULL;
CREATE INDEX attachments_unused ON crosstalk.attachments (created_at)
    WHERE message_id IS NULL;

CREATE TABLE crosstalk.attachment_chunks (
    attachment_id bigint NOT NULL REFERENCES crosstalk.attachments ON DELETE CASCADE,
    n             int NOT NULL,
    data          bytea NOT NULL,
    PRIMARY KEY (attachment_id, n)
);
ALTER TABLE crosstalk.attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

ALTER TABLE crosstalk.messages ADD COLUMN files jsonb;

-- The key of signed links and upload tokens (HMAC-SHA256), shared by every
-- daemon through the database; 256 bits from PostgreSQL's strong random
-- source (gen_random_uuid: 122 random bits each).
INSERT INTO crosstalk.settings (name, value)
SELECT 'file_secret', encode(sha256(convert_to(
           gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text,
           'UTF8')), 'hex');
