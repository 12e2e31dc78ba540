-- The helpdesk: every question a teacher asks (the question log that reports build on), the
-- tickets that take a question to a human expert, and what was said on each ticket.
-- Times are milliseconds since the Unix epoch (UTC), as in 0001.

-- One row per question, answered or escalated; `number` counts a teacher's questions.
CREATE TABLE questions (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    number        BIGINT  NOT NULL,
    asked_at      BIGINT  NOT NULL,
    body          TEXT    NOT NULL,
    -- en, ur, roman_ur, bn: how the question was written.
    written       TEXT    NOT NULL,
    topic         TEXT,
    confidence    REAL    NOT NULL,
    article       TEXT,
    -- answered, helped, not_helped, escalated, out_of_scope, unclear.
    outcome       TEXT    NOT NULL,
    ticket        TEXT,
    -- The teacher's district and grades when asking, for reports by district and grade.
    district      TEXT,
    grades        TEXT,
    UNIQUE (teacher_id, number)
);
CREATE INDEX questions_by_topic ON questions (topic, asked_at);

-- open → claimed → answered → closed; reopened (back to open) when the answer did not help.
CREATE TABLE tickets (
    code          TEXT    PRIMARY KEY,
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    question      BIGINT  NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'open',
    topic         TEXT,
    language      TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    suggested     TEXT,
    pool          TEXT,
    context       TEXT,
    expert        TEXT,
    -- The expert group's forum topic for this ticket, once created.
    thread_id     BIGINT,
    created_at    BIGINT  NOT NULL,
    claimed_at    BIGINT,
    answered_at   BIGINT,
    closed_at     BIGINT,
    reminded_at   BIGINT,
    escalated_at  BIGINT,
    rating        BIGINT,
    comment       TEXT
);
CREATE INDEX tickets_by_status ON tickets (status, created_at);
CREATE INDEX tickets_by_teacher ON tickets (teacher_id, created_at);

-- The teacher's follow-ups, the experts' answers and internal notes, in order.
CREATE TABLE ticket_messages (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket        TEXT    NOT NULL REFERENCES tickets (code),
    at            BIGINT  NOT NULL,
    -- teacher, expert, note.
    author        TEXT    NOT NULL,
    -- text, photo, voice, document.
    kind          TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    file_id       TEXT,
    expert        TEXT
);
CREATE INDEX ticket_messages_by_ticket ON ticket_messages (ticket, id);
