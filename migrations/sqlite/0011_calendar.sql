-- CPD-hour calendar: each teacher's answer to a session's invitation ("I'll attend" /
-- "Can't make it"), one row per session and teacher; a later answer replaces the earlier one.
-- A teacher who said "no" is not announced the session again. Announcements are counted on
-- the console from the outbox rows tagged with their occasion, hence the index.

CREATE TABLE rsvps (
    session_id   TEXT    NOT NULL,
    teacher_id   BIGINT  NOT NULL REFERENCES teachers (id),
    answer       TEXT    NOT NULL,
    answered_at  BIGINT  NOT NULL,
    PRIMARY KEY (session_id, teacher_id)
);
CREATE INDEX calendar_outbox_tags ON outbox (ticket);
