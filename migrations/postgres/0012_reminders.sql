-- Reminders sent to teachers: a nudge for a lesson left half-way, a suggestion to try a failed
-- quiz again. One row per reminder queued, written in the same transaction as the inbox event
-- that says it, so the daily job sees it at once: at most one reminder of any kind per teacher
-- per week, and one per lesson left (or per failed attempt) until the teacher moves again.
-- Times are milliseconds since the Unix epoch (UTC), as in 0001.

CREATE TABLE reminders (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    teacher_id  BIGINT  NOT NULL REFERENCES teachers (id),
    -- `nudge` or `quiz_retry`.
    kind        TEXT    NOT NULL CHECK (kind IN ('nudge', 'quiz_retry')),
    -- The module (its dialogue tree id).
    module      TEXT    NOT NULL,
    at          BIGINT  NOT NULL
);
CREATE INDEX reminders_by_teacher ON reminders (teacher_id, at);
