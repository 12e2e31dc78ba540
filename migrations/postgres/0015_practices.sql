-- Peer practice sharing: a classroom practice a teacher shared in the guided dialogue,
-- reviewed by staff in the console (pending → approved | rejected), featured as the
-- "practice of the week" of its district (featured_week: the ISO week, programme time, e.g.
-- 2026-W09), and endorsed by peers (one endorsement per teacher and practice).

CREATE TABLE practices (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    teacher_id     BIGINT  NOT NULL REFERENCES teachers (id),
    district       TEXT,
    school         TEXT,
    grade          TEXT,
    subject        TEXT,
    what           TEXT    NOT NULL,
    class          TEXT,
    result         TEXT    NOT NULL,
    photo_file_id  TEXT,
    photo_channel  TEXT,
    status         TEXT    NOT NULL DEFAULT 'pending',
    created_at     BIGINT  NOT NULL,
    reviewed_by    BIGINT,
    reviewed_at    BIGINT,
    note           TEXT,
    featured_week  TEXT,
    featured_at    BIGINT
);
CREATE INDEX practices_by_status ON practices (status, id);
CREATE INDEX practices_by_teacher ON practices (teacher_id);

CREATE TABLE endorsements (
    practice_id    BIGINT  NOT NULL REFERENCES practices (id),
    teacher_id     BIGINT  NOT NULL REFERENCES teachers (id),
    at             BIGINT  NOT NULL,
    UNIQUE (practice_id, teacher_id)
);
