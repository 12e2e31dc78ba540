-- WhatsApp. A teacher may be known by a phone-number id (`wa_id`), a business-scoped user id
-- (BSUID), or both, and the phone number can change: every identifier seen maps to the
-- conversation key (`teachers.channel_user`) it was first seen with. Outbox rows remember the
-- platform's id of what was sent (a wamid) and what became of it (sent < delivered < read;
-- failed is final). `last_inbound_at` opens WhatsApp's 24-hour customer-service window.
CREATE TABLE channel_aliases (
    channel       TEXT    NOT NULL,
    alias         TEXT    NOT NULL,
    channel_user  TEXT    NOT NULL,
    -- wa_id or bsuid.
    kind          TEXT    NOT NULL,
    seen_at       BIGINT  NOT NULL,
    PRIMARY KEY (channel, alias)
);
CREATE INDEX channel_aliases_by_user ON channel_aliases (channel, channel_user, kind, seen_at);
ALTER TABLE outbox ADD COLUMN provider_id TEXT;
ALTER TABLE outbox ADD COLUMN delivery TEXT;
ALTER TABLE outbox ADD COLUMN delivery_at BIGINT;
CREATE INDEX outbox_by_provider_id ON outbox (provider_id) WHERE provider_id IS NOT NULL;
ALTER TABLE teachers ADD COLUMN last_inbound_at BIGINT;
