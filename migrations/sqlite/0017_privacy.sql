-- Privacy: teachers who asked to be forgotten, and the console's audit log.
--
-- `/forget` anonymises a teacher's row in place (the conversation's commit, one transaction):
-- the name, school, consent, profile and state are cleared, `channel_user` becomes the token
-- `forgotten:{id}` so the chat can no longer be found or reached, and `forgotten_at` says when.
-- The coarse columns reports are filtered by (district, grades, subjects, role, language,
-- channel) are kept, so insights counted by district, grade and topic stay correct.
-- Times are milliseconds since the Unix epoch (UTC), as in 0001.

ALTER TABLE teachers ADD COLUMN forgotten_at BIGINT;

-- What staff did in the console: who (the account's id and name at the time), what (a fixed
-- action word such as `ticket.view`), on what (a ticket code, a teacher id, an account id) and
-- a short detail without personal data (never a phone number or a teacher's words).
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        BIGINT  NOT NULL,
    staff_id  BIGINT,
    staff     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL DEFAULT '',
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX audit_log_by_staff ON audit_log (staff, at);
CREATE INDEX transcript_by_at ON transcript (at);
