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
