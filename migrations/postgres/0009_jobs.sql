-- The scheduler's persisted jobs: one row per piece of work due at a time (housekeeping, and
-- later CPD-hour announcements, nudges, broadcasts), so that a restart forgets nothing and
-- several instances on one database run each job once. A runner claims a due row by setting
-- it `running` with a lease (`locked_by`, `locked_until`); a runner that crashes leaves the row
-- `running`, and once the lease has passed another runner takes it again.
-- Times are milliseconds since the Unix epoch (UTC), as in 0001.

CREATE TABLE jobs (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Which handler runs it (`housekeeping`, …).
    kind           TEXT    NOT NULL,
    -- Scheduling the same key again is a no-op. A recurring series keeps its key on the row
    -- still to run; each finished occurrence is renamed `{key}@{due time}`.
    dedup_key      TEXT    NOT NULL UNIQUE,
    -- JSON, read by the kind's handler only.
    payload        TEXT    NOT NULL DEFAULT '{}',
    due_at         BIGINT  NOT NULL,
    status         TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'running', 'done', 'failed', 'skipped')),
    -- Claims so far (a claim whose runner crashed counts too).
    attempts       BIGINT  NOT NULL DEFAULT 0,
    -- The runner that holds (or last held) it, and until when its claim holds.
    locked_by      TEXT,
    locked_until   BIGINT,
    -- Why it was skipped, or the last failure.
    last_error     TEXT,
    created_at     BIGINT  NOT NULL,
    finished_at    BIGINT
);
-- Partial indexes, as for the inbox: claiming looks only at rows still to run (due ones, and
-- running ones whose lease may have passed), however long the history grows.
CREATE INDEX jobs_pending_by_due ON jobs (due_at) WHERE status = 'pending';
CREATE INDEX jobs_running_by_lease ON jobs (locked_until) WHERE status = 'running';
