-- The web console: staff accounts, their sessions, and failed logins (for throttling).
-- Times are milliseconds since the Unix epoch (UTC), as in 0001.

-- expert (tickets), staff (reports), admin (accounts, and everything else).
CREATE TABLE staff_users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    role           TEXT    NOT NULL CHECK (role IN ('expert', 'staff', 'admin')),
    -- Argon2id, as a PHC string.
    password_hash  TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    disabled_at    BIGINT
);

-- One row per signed-in browser. The cookie holds a random token; only its SHA-256 is kept,
-- so a copy of the database does not sign anyone in.
CREATE TABLE staff_sessions (
    token_hash     TEXT    PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES staff_users (id),
    -- The form token of this session (CSRF), rendered into every form.
    csrf           TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    last_seen_at   BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL
);
CREATE INDEX staff_sessions_by_user ON staff_sessions (user_id);

-- Failed sign-ins, by account name and by client address, for throttling.
CREATE TABLE login_failures (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    subject        TEXT    NOT NULL,
    at             BIGINT  NOT NULL
);
CREATE INDEX login_failures_by_subject ON login_failures (subject, at);
