-- Broadcasts by programme staff (issue 7): a message to a segment of teachers, paced at each
-- channel's broadcast rate. Creating one resolves its segment into `broadcast_recipients` with
-- one INSERT … SELECT; a feeder job then moves recipients from `pending` to `queued` a tick at
-- a time and writes their outbox rows (ticket `broadcast:{id}`) in the same transaction, so a
-- crash never queues a teacher twice and loses no one. Times are epoch milliseconds.

CREATE TABLE broadcasts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Who created it (a console username, or `cli:{user}`).
    created_by    TEXT    NOT NULL,
    -- The audience as `Segment` JSON, and as the terms staff wrote (for display).
    segment       TEXT    NOT NULL,
    terms         TEXT    NOT NULL DEFAULT '',
    -- {"en": "...", "ur": "...", "bn": "..."}; English is always there.
    texts         TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'sending', 'paused', 'done', 'cancelled')),
    -- Recipients when it was created.
    total         BIGINT  NOT NULL DEFAULT 0,
    -- Messages per second per channel, {"telegram": 25, "whatsapp": 60, "web": 50}.
    rates         TEXT    NOT NULL DEFAULT '{}',
    -- The feeder's chain: only the job of run `run` may feed (compare-and-set each tick).
    run           BIGINT  NOT NULL DEFAULT 0,
    -- The feeder's token buckets: unused allowance per channel, and when it was last counted.
    credit        TEXT,
    paced_at      BIGINT,
    created_at    BIGINT  NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT
);

CREATE TABLE broadcast_recipients (
    broadcast_id  BIGINT  NOT NULL REFERENCES broadcasts (id),
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    -- The teacher's channel when the broadcast was created (each channel has its own pace).
    channel       TEXT    NOT NULL,
    -- pending → queued (its outbox row written), or skipped (said STOP or became unreachable
    -- before their turn).
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'queued', 'skipped')),
    queued_at     BIGINT,
    PRIMARY KEY (broadcast_id, teacher_id)
);
-- The feeder reads the next pending recipients of one channel in teacher order.
CREATE INDEX broadcast_recipients_pending
    ON broadcast_recipients (broadcast_id, channel, teacher_id) WHERE status = 'pending';
