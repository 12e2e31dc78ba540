-- The foundation: teachers and their conversations, the inbox that makes inbound events
-- durable and deduplicated before anything acts on them, the transcript, learning progress,
-- certificates, and the outbox that makes replies durable before any channel sends them.
-- Times are milliseconds since the Unix epoch (UTC) in both backends, so the SQL is shared.

CREATE TABLE teachers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    channel       TEXT    NOT NULL,
    channel_user  TEXT    NOT NULL,
    language      TEXT    NOT NULL DEFAULT 'en',
    name          TEXT,
    role          TEXT,
    district      TEXT,
    school        TEXT,
    grades        TEXT,
    subjects      TEXT,
    consent       TEXT,
    -- FALSE after the teacher blocked the bot (or the platform said they cannot be reached).
    reachable     BOOLEAN NOT NULL DEFAULT TRUE,
    profile       TEXT    NOT NULL DEFAULT '{}',
    state         TEXT    NOT NULL DEFAULT '{}',
    version       BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    UNIQUE (channel, channel_user)
);

-- One row per inbound event, unique on (channel, external_id) so a redelivery is ignored.
CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    channel       TEXT    NOT NULL,
    external_id   TEXT    NOT NULL,
    channel_user  TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    received_at   BIGINT  NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending',
    attempts      BIGINT  NOT NULL DEFAULT 0,
    processed_at  BIGINT,
    UNIQUE (channel, external_id)
);
-- Partial indexes: they hold only the rows still waiting, so finding work stays cheap
-- however long the history grows.
CREATE INDEX inbox_pending ON inbox (id) WHERE status = 'pending';
CREATE INDEX inbox_by_user ON inbox (channel, channel_user, id);

CREATE TABLE transcript (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    at            BIGINT  NOT NULL,
    direction     TEXT    NOT NULL,
    node          TEXT,
    body          TEXT    NOT NULL
);
CREATE INDEX transcript_by_teacher ON transcript (teacher_id, id);

CREATE TABLE lesson_progress (
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    module        TEXT    NOT NULL,
    part          BIGINT  NOT NULL,
    parts         BIGINT  NOT NULL,
    started_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    completed_at  BIGINT,
    PRIMARY KEY (teacher_id, module)
);

CREATE TABLE reflections (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    module        TEXT    NOT NULL,
    at            BIGINT  NOT NULL,
    body          TEXT    NOT NULL
);

-- Every answer, so that reports can find the quiz items teachers fail most.
CREATE TABLE quiz_answers (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    module        TEXT    NOT NULL,
    question      TEXT    NOT NULL,
    chosen        BIGINT  NOT NULL,
    correct       BOOLEAN NOT NULL,
    at            BIGINT  NOT NULL
);

CREATE TABLE quiz_attempts (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    module        TEXT    NOT NULL,
    score         BIGINT  NOT NULL,
    max_score     BIGINT  NOT NULL,
    passed        BOOLEAN NOT NULL,
    finished_at   BIGINT  NOT NULL
);
CREATE INDEX quiz_attempts_by_teacher ON quiz_attempts (teacher_id, module);

CREATE TABLE certificates (
    code          TEXT    PRIMARY KEY,
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    module        TEXT    NOT NULL,
    teacher_name  TEXT,
    issued_at     BIGINT  NOT NULL,
    UNIQUE (teacher_id, module)
);

-- Replies waiting for (or done with) their channel. The dispatcher sends pending rows in id
-- order per recipient.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    teacher_id    BIGINT  NOT NULL REFERENCES teachers (id),
    channel       TEXT    NOT NULL,
    channel_user  TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending',
    attempts      BIGINT  NOT NULL DEFAULT 0,
    sent_at       BIGINT,
    error         TEXT
);
CREATE INDEX outbox_pending ON outbox (channel, id) WHERE status = 'pending';
CREATE INDEX outbox_by_user ON outbox (channel, channel_user, id);
