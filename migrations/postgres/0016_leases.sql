-- Leases: work one instance holds for a while, so that several instances on one database share
-- it without doing it twice. Names in use:
--   `conversation:{channel}:{channel_user}`: the worker stepping that conversation's events
--     (one instance at a time, so a conversation's events are processed in order);
--   `leader:{role}`: the one instance running a singleton, such as a platform's dispatcher
--     (which keeps the platform's rate limits for every instance), Telegram polling, the SLA
--     watch or the WhatsApp media keeper.
-- A holder renews a lease while it works and deletes it when done. A lease whose `until` has
-- passed belongs to nobody (its holder died or lost the database) and the next claimer takes
-- it. Times are milliseconds since the Unix epoch (UTC), as in 0001.

CREATE TABLE leases (
    name    TEXT    NOT NULL PRIMARY KEY,
    holder  TEXT    NOT NULL,
    until   BIGINT  NOT NULL
);
