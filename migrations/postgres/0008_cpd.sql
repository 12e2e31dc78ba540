-- CPD planning: staff mark a recurring issue "planned" and link it to a CPD session, and the
-- teachers who asked are told through their own conversation (an inbox row per teacher with
-- the external id `cpd:{plan}:{teacher}`, unique like every inbox row, so neither a form posted
-- twice nor a retry tells anyone twice; the notice's outbox rows carry `cpd:{plan}` in
-- `outbox.ticket`, which is how the plan's page follows them). A plan keeps exactly which
-- questions it answers and who asked them, however the questions are grouped later.
-- Times are milliseconds since the Unix epoch (UTC), as in 0001.

-- A CPD session: a date, a mode and where (a place, or a link for online sessions).
CREATE TABLE cpd_sessions (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title          TEXT    NOT NULL,
    starts_at      BIGINT  NOT NULL,
    mode           TEXT    NOT NULL CHECK (mode IN ('in_person', 'online', 'cpd_hour')),
    place_or_link  TEXT    NOT NULL,
    created_by     BIGINT  NOT NULL REFERENCES staff_users (id),
    created_at     BIGINT  NOT NULL
);
CREATE INDEX cpd_sessions_by_start ON cpd_sessions (starts_at);

-- A recurring issue marked planned: what the report called it, the period and filters of the
-- report it came from, and the session that covers it.
CREATE TABLE planned_issues (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The random token of the form it was created with: the same form posted again finds this
    -- plan instead of making a second one.
    nonce          TEXT    NOT NULL UNIQUE,
    -- `Q123`: the issue's smallest question id, as the report named it.
    issue_key      TEXT    NOT NULL,
    label          TEXT    NOT NULL,
    topic          TEXT,
    period_since   BIGINT  NOT NULL,
    period_until   BIGINT  NOT NULL,
    -- The report's filters, as a query string (`district=…&grade=…`).
    filters        TEXT    NOT NULL,
    session_id     BIGINT  NOT NULL REFERENCES cpd_sessions (id),
    created_by     BIGINT  NOT NULL REFERENCES staff_users (id),
    created_at     BIGINT  NOT NULL,
    -- When the teachers' notices were queued (with the plan, in one transaction).
    notified_at    BIGINT
);
CREATE INDEX planned_issues_by_session ON planned_issues (session_id);

-- The questions a plan answers and who asked each.
CREATE TABLE planned_questions (
    plan_id        BIGINT  NOT NULL REFERENCES planned_issues (id),
    question_id    BIGINT  NOT NULL REFERENCES questions (id),
    teacher_id     BIGINT  NOT NULL REFERENCES teachers (id),
    PRIMARY KEY (plan_id, question_id)
);
CREATE INDEX planned_questions_by_teacher ON planned_questions (teacher_id);
