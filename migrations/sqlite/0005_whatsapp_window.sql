-- WhatsApp's 24-hour window. Outside it only an approved template may be sent: the teacher's
-- real messages wait as `held` rows, and a template row (payload `{"template": purpose}`) asks
-- them to reply; `reengaged_at` is when the last one went out, so a teacher who never replies
-- gets at most one per configured period. A status webhook may arrive before the send's own
-- answer has been recorded (they race on Meta's side): it waits in `early_deliveries` and is
-- applied when the wamid is.
ALTER TABLE teachers ADD COLUMN reengaged_at BIGINT;
CREATE TABLE early_deliveries (
    provider_id   TEXT    PRIMARY KEY,
    status        TEXT    NOT NULL,
    code          BIGINT,
    reason        TEXT,
    at            BIGINT  NOT NULL
);
-- Files teachers attach to a question on WhatsApp, downloaded through the Graph API while
-- Meta still serves them (media ids expire after 7 days), kept for the experts. A failed
-- download is retried a few times (`attempts`, `error`), then left with its reason.
CREATE TABLE media (
    channel       TEXT    NOT NULL,
    file_id       TEXT    NOT NULL,
    mime          TEXT,
    bytes         BLOB,
    attempts      BIGINT  NOT NULL DEFAULT 0,
    error         TEXT,
    fetched_at    BIGINT,
    PRIMARY KEY (channel, file_id)
);
