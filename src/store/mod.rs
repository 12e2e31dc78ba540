//! The one storage interface, over SQLite (default) and PostgreSQL.
//!
//! [`Store`] is a concrete type holding either pool; each method runs the same SQL on either
//! backend (times are epoch milliseconds and placeholders are `$n` in both, so one text serves
//! both dialects), and migrations live per backend in `migrations/{sqlite,postgres}/` with the
//! same file names. Row types never leave this module: callers get domain-shaped structs.
//!
//! Invariants the store guarantees:
//! - an inbound event is stored once per `(channel, external_id)`;
//! - [`Store::commit_step`] writes state, profile, transcript, progress and outbox in one
//!   transaction, and refuses (with [`StoreError::Conflict`]) when the conversation changed
//!   since it was loaded.

pub(crate) mod records;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use helpdesk::{ExpertWrite, LoggedQuestion, Mark, Notice, Ticket};
pub use records::{
    Attempt, Commit, Conversation, Delivery, InboxEvent, LessonRecord, NewInbound, OutboundRecord,
    OutboxMessage, QuestionRow, QuizAnswerRecord, TicketMessageRow, TicketRow, TranscriptEntry,
};
pub use whatsapp::{KeptMedia, REENGAGE_PAYLOAD, SentRow, WINDOW_CLOSED, WindowState};

/// What went wrong, shaped by what callers decide.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// Someone else changed the conversation first; load again and retry.
    #[error("conflicting update")]
    Conflict,
    /// The database failed; nothing was written.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The store could not be reached (its writer stopped, or a shared write failed; the cause
    /// was logged where it happened). Nothing was written; try again.
    #[error("store unavailable")]
    Unavailable,
}

/// Errors opening the store, reported at start-up.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL (expected sqlite://… or postgres://…)")]
    UnsupportedUrl,
    /// The database could not be reached or opened.
    #[error("cannot open the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot apply migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// The PostgreSQL notification channel a commit with outbox rows notifies.
pub const OUTBOX_CHANNEL: &str = "baithak_outbox";
const OUTBOX_NOTIFY: &str = "SELECT pg_notify('baithak_outbox', '')";

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// SQLite, one file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The storage handle: cheap to clone, shared by every task.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// SQLite allows one writer at a time. Writers that meet the lock inside SQLite back off
    /// by sleeping whole milliseconds in its busy handler; queueing them here instead keeps a
    /// write's wait as short as the write before it. (PostgreSQL needs no such lock.)
    sqlite_writer: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Clone, Debug)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the store holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

// After `on_pool!`, which it uses.
mod aliases;
mod attachments;
mod certificates;
pub use certificates::{CertificateRecord, normalize_code};
mod console;
mod plans;
pub use plans::{
    Asker, CpdSession, NewPlan, NewSession, NoticeState, Plan, PlanCreated, PlanNotice,
    PlanTeacher, SessionChoice, notice_external_id, notice_tag,
};
mod insights;
mod jobs;
mod monitoring;
pub use monitoring::{Backlog, Backlogs};
mod leases;
pub use leases::conversation_lease;
pub(crate) mod practices;
pub use practices::{EndorsementCount, Practice};
pub(crate) mod calendar;
pub(crate) mod privacy;
pub(crate) mod programme;
pub use privacy::{AuditEntry, AuditFilter};
mod reminders;
pub use reminders::{QueuedReminder, ReminderCandidate, ReminderWindow};
mod school;
pub use school::SummaryAsker;
mod segments;
pub use aliases::Identity;
pub use console::{QueueFilter, QueueRow, StaffSession, StaffUser, TranscriptLine};
pub use insights::{
    AskedQuestion, LessonCount, QuizItemCount, ReportFilter, TicketLine, TicketTimes, TopicCount,
};
pub use jobs::{Job, JobEnd, JobFilter, JobStatus, NewJob};
pub use segments::Recipient;
pub mod broadcasts;
mod helpdesk;
pub(crate) mod whatsapp;

/// Copies SQLite's write-ahead log back into the database file every [`CHECKPOINT_EVERY`],
/// without blocking writers (`PASSIVE`), until the pool closes.
async fn checkpointer(pool: sqlx::SqlitePool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %err, "WAL checkpoint failed; will try again");
        }
    }
}

/// How often the SQLite log is checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 512;

impl Store {
    /// Opens the database at `url`, creating a SQLite file if missing, and applies migrations.
    ///
    /// # Errors
    ///
    /// [`OpenError`] when the URL is unsupported, the database unreachable or a migration fails.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store, OpenError> {
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(OpenError::Connect)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // 16 MiB of page cache per connection (the default is 2 MiB).
                .pragma("cache_size", "-16000")
                // Checkpoints run in the background (`checkpointer`), not inside whichever
                // commit crosses the threshold: that commit's callers waited tens of ms.
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", "67108864")
                // Room for every multi-row statement shape (see `records::pow2_chunks`).
                .statement_cache_capacity(STATEMENT_CACHE);
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(OpenError::Connect)?;
            sqlx::migrate!("./migrations/sqlite")
                .run(&pool)
                .await
                .map_err(OpenError::Migrate)?;
            tokio::spawn(checkpointer(pool.clone()));
            Backend::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(OpenError::Connect)?
                .statement_cache_capacity(STATEMENT_CACHE);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections.max(1))
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(OpenError::Connect)?;
            sqlx::migrate!("./migrations/postgres")
                .run(&pool)
                .await
                .map_err(OpenError::Migrate)?;
            Backend::Postgres(pool)
        } else {
            return Err(OpenError::UnsupportedUrl);
        };
        Ok(Store {
            backend,
            sqlite_writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Waits for the turn to write on SQLite; `None` (no waiting) on PostgreSQL.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite(_) => Some(self.sqlite_writer.lock().await),
            Backend::Postgres(_) => None,
        }
    }

    /// Which backend this store uses.
    #[must_use]
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Closes every connection (used before exit so SQLite checkpoints its WAL).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }

    /// Whether the database answers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop)?);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Inbox.

    /// Stores an inbound event; returns its id, or `None` when the same
    /// `(channel, external_id)` was stored before (a redelivery).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn record_inbound(&self, event: &NewInbound<'_>) -> Result<Option<i64>, StoreError> {
        let ids = self
            .record_inbound_many(std::slice::from_ref(event))
            .await?;
        Ok(ids.into_iter().next().flatten())
    }

    /// Stores many inbound events in one statement; for each, its id or `None` when it was
    /// stored before (a redelivery, or a repeat within `events`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; nothing was stored.
    pub async fn record_inbound_many(
        &self,
        events: &[NewInbound<'_>],
    ) -> Result<Vec<Option<i64>>, StoreError> {
        use records::value_rows;
        let mut ids: HashMap<(String, String), i64> = HashMap::with_capacity(events.len());
        let _turn = self.write_turn().await;
        for chunk in records::pow2_chunks(events, 5) {
            let sql = format!(
                "INSERT INTO inbox (channel, external_id, channel_user, payload, received_at) VALUES {} \
                 ON CONFLICT (channel, external_id) DO NOTHING RETURNING channel, external_id, id",
                value_rows(&["", "", "", "", ""], chunk.len())
            );
            let rows: Vec<(String, String, i64)> = on_pool!(self, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for e in chunk {
                    q = q.bind(e.channel).bind(e.external_id).bind(e.channel_user).bind(e.payload).bind(millis(e.received_at));
                }
                q.fetch_all(pool).await?
            });
            ids.extend(rows.into_iter().map(|(c, x, id)| ((c, x), id)));
        }
        // A repeat inside the batch was not inserted twice: only its first occurrence gets the id.
        Ok(events
            .iter()
            .map(|e| ids.remove(&(e.channel.to_string(), e.external_id.to_string())))
            .collect())
    }

    /// Pending inbound events, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn pending_inbox(&self, limit: i64) -> Result<Vec<InboxEvent>, StoreError> {
        const SQL: &str = "SELECT id, channel, external_id, channel_user, payload, received_at FROM inbox \
                           WHERE status = 'pending' ORDER BY id LIMIT $1";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, (i64, String, String, String, String, i64)>(SQL)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(InboxEvent::from_row).collect())
    }

    /// Up to `limit` pending events, oldest first, of conversations no other instance holds a
    /// lease on at `now` (see [`Store::take_leases`]): what `holder`'s worker may try to claim.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn pending_unleased(
        &self,
        holder: &str,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        const SQL: &str = "SELECT id, channel, external_id, channel_user, payload, received_at FROM inbox \
                           WHERE status = 'pending' AND NOT EXISTS (SELECT 1 FROM leases \
                             WHERE leases.name = 'conversation:' || inbox.channel || ':' || inbox.channel_user \
                             AND leases.holder <> $1 AND leases.until >= $2) \
                           ORDER BY id LIMIT $3";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, (i64, String, String, String, String, i64)>(SQL)
            .bind(holder)
            .bind(millis(now))
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(InboxEvent::from_row).collect())
    }

    /// Pending inbound events of one conversation, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn pending_for(
        &self,
        channel: &str,
        channel_user: &str,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        const SQL: &str = "SELECT id, channel, external_id, channel_user, payload, received_at FROM inbox \
                           WHERE status = 'pending' AND channel = $1 AND channel_user = $2 ORDER BY id";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, (i64, String, String, String, String, i64)>(SQL)
            .bind(channel)
            .bind(channel_user)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(InboxEvent::from_row).collect())
    }

    /// Marks an event as skipped (unreadable, or nothing to do) so it never blocks its queue.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn skip_inbound(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = "UPDATE inbox SET status = 'skipped', processed_at = $1 WHERE id = $2";
        on_pool!(self, pool => sqlx::query(SQL).bind(millis(now)).bind(id).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// Counts a failed attempt at processing an event; returns the attempts so far.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn fail_inbound(&self, id: i64) -> Result<i64, StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str =
            "UPDATE inbox SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts";
        let attempts: Option<i64> =
            on_pool!(self, pool => sqlx::query_scalar(SQL).bind(id).fetch_optional(pool).await?);
        attempts.ok_or(StoreError::NotFound)
    }

    /// Every inbound payload of one conversation with its time, oldest first (web chat history).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn inbound_history(
        &self,
        channel: &str,
        channel_user: &str,
    ) -> Result<Vec<InboxEvent>, StoreError> {
        const SQL: &str = "SELECT id, channel, external_id, channel_user, payload, received_at FROM inbox \
                           WHERE channel = $1 AND channel_user = $2 ORDER BY id";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, (i64, String, String, String, String, i64)>(SQL)
            .bind(channel)
            .bind(channel_user)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(InboxEvent::from_row).collect())
    }

    // -----------------------------------------------------------------------------------------
    // Conversations.

    /// Loads the conversation of a channel user, creating the teacher with `initial_state` on
    /// first contact.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn load_conversation(
        &self,
        channel: &str,
        channel_user: &str,
        initial_state: &str,
        now: DateTime<Utc>,
    ) -> Result<Conversation, StoreError> {
        let key = (channel.to_string(), channel_user.to_string());
        let mut found = self
            .load_conversations(std::slice::from_ref(&key), initial_state, now)
            .await?;
        found.remove(&key).ok_or(StoreError::NotFound)
    }

    /// Loads (creating on first contact, with `initial_state`) the conversations of many
    /// channel users at once, keyed by `(channel, channel_user)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn load_conversations(
        &self,
        keys: &[(String, String)],
        initial_state: &str,
        now: DateTime<Utc>,
    ) -> Result<HashMap<(String, String), Conversation>, StoreError> {
        use records::value_rows;
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in records::pow2_chunks(keys, 5) {
            let all: Vec<&(String, String)> = chunk.iter().collect();
            found.extend(self.select_conversations(&all).await?);
            let missing: Vec<&(String, String)> = all
                .into_iter()
                .filter(|k| !found.contains_key(*k))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let insert = format!(
                "INSERT INTO teachers (channel, channel_user, state, created_at, updated_at) VALUES {} \
                 ON CONFLICT (channel, channel_user) DO NOTHING",
                value_rows(&["", "", "", "", ""], missing.len())
            );
            {
                let _turn = self.write_turn().await;
                on_pool!(self, pool => {
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(insert));
                    for (channel, user) in &missing {
                        q = q.bind(channel).bind(user).bind(initial_state).bind(millis(now)).bind(millis(now));
                    }
                    q.execute(pool).await.map(drop)?
                });
            }
            // Only the new ones are read back (another instance may have created some first).
            found.extend(self.select_conversations(&missing).await?);
        }
        Ok(found)
    }

    /// The existing conversations among `keys`.
    async fn select_conversations(
        &self,
        keys: &[&(String, String)],
    ) -> Result<Vec<((String, String), Conversation)>, StoreError> {
        let sql = format!(
            "SELECT t.channel, t.channel_user, t.id, t.state, t.version FROM teachers t \
             JOIN (VALUES {}) AS v ON t.channel = v.column1 AND t.channel_user = v.column2",
            records::value_rows(&["", ""], keys.len())
        );
        let rows: Vec<(String, String, i64, String, i64)> = on_pool!(self, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for (channel, user) in keys {
                q = q.bind(channel).bind(user);
            }
            q.fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(channel, user, teacher_id, state, version)| {
                (
                    (channel, user),
                    Conversation {
                        teacher_id,
                        state,
                        version,
                    },
                )
            })
            .collect())
    }

    /// Writes the outcome of one step in one transaction.
    ///
    /// # Errors
    ///
    /// As [`Store::commit_batch`].
    pub async fn commit_step(&self, commit: &Commit) -> Result<(), StoreError> {
        self.commit_batch(std::slice::from_ref(commit)).await
    }

    /// Writes the outcome of many conversations' steps (at most one [`Commit`] per teacher) in
    /// one transaction, with a few multi-row statements whatever the batch size.
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when any conversation's version moved since it was loaded
    /// (nothing is written); [`StoreError::Database`] otherwise.
    pub async fn commit_batch(&self, commits: &[Commit]) -> Result<(), StoreError> {
        if commits.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                // IMMEDIATE takes the write lock up front, so two writers queue on the busy
                // timeout instead of failing to upgrade a read lock half-way.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                records::write_commits!(tx, commits);
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                records::write_commits!(tx, commits);
                if commits.iter().any(|c| !c.outbox.is_empty()) {
                    // Delivered at commit: the sending instance may be another one.
                    sqlx::query(OUTBOX_NOTIFY).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Calls `wake` whenever any instance commits outbox rows (PostgreSQL `LISTEN` on
    /// [`OUTBOX_CHANNEL`]), until `wake` says to stop; reconnects after a lost connection. On
    /// SQLite, one process is the only writer and its commits wake its sender directly, so
    /// this returns at once.
    pub async fn watch_outbox(&self, wake: impl Fn() -> bool) {
        let Backend::Postgres(pool) = &self.backend else {
            return;
        };
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::debug!(error = %err, "cannot listen for outbox rows; retrying");
                    if pool.is_closed() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(err) = listener.listen(OUTBOX_CHANNEL).await {
                tracing::debug!(error = %err, "cannot listen for outbox rows; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => {
                        if !wake() {
                            return;
                        }
                    }
                    // The connection was lost (notifications meanwhile are missed: the
                    // sender's sweep finds their rows).
                    Ok(None) => {}
                    Err(err) => {
                        tracing::debug!(error = %err, "outbox listener stopped; reconnecting");
                        break;
                    }
                }
                if pool.is_closed() {
                    return;
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Outbox.

    /// Outbox messages of one recipient after `after_id`, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn outbox_after(
        &self,
        channel: &str,
        channel_user: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        const SQL: &str = "SELECT id, teacher_id, channel, channel_user, payload, created_at, status FROM outbox \
                           WHERE channel = $1 AND channel_user = $2 AND id > $3 ORDER BY id LIMIT $4";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, (i64, i64, String, String, String, i64, String)>(SQL)
            .bind(channel)
            .bind(channel_user)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(OutboxMessage::from_row).collect())
    }

    /// Pending outbox messages of a channel, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn pending_outbox(
        &self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        self.pending_outbox_after(channel, 0, limit).await
    }

    /// Pending outbox messages of a channel with an id above `after_id`, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn pending_outbox_after(
        &self,
        channel: &str,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        const SQL: &str = "SELECT id, teacher_id, channel, channel_user, payload, created_at, status FROM outbox \
                           WHERE status = 'pending' AND channel = $1 AND id > $2 ORDER BY id LIMIT $3";
        let rows = on_pool!(self, pool => sqlx::query_as::<_, (i64, i64, String, String, String, i64, String)>(SQL)
            .bind(channel)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?);
        Ok(rows.into_iter().map(OutboxMessage::from_row).collect())
    }

    /// Marks outbox messages of one recipient up to and including `up_to_id` as sent.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn mark_sent_up_to(
        &self,
        channel: &str,
        channel_user: &str,
        up_to_id: i64,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1 \
                           WHERE channel = $2 AND channel_user = $3 AND id <= $4 AND status = 'pending'";
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(millis(now))
            .bind(channel)
            .bind(channel_user)
            .bind(up_to_id)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done)
    }

    /// Marks outbox messages as sent, by id; returns how many were still pending.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn mark_sent(&self, ids: &[i64], now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.settle(ids, "sent", None, now).await
    }

    /// Marks outbox messages as failed, with the reason (kept for the console and reports).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn mark_failed(
        &self,
        ids: &[i64],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.settle(ids, "failed", Some(reason), now).await
    }

    /// Moves pending outbox rows to `status` (`sent` or `failed`).
    async fn settle(
        &self,
        ids: &[i64],
        status: &str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        use records::value_rows_from;
        let _turn = self.write_turn().await;
        let mut done = 0;
        for chunk in records::pow2_chunks(ids, 1) {
            let sql = format!(
                "UPDATE outbox SET status = $1, error = $2, sent_at = $3, attempts = attempts + 1 \
                 WHERE status = 'pending' AND id IN (SELECT column1 FROM (VALUES {}) AS v)",
                value_rows_from(&["BIGINT"], chunk.len(), 4)
            );
            done += on_pool!(self, pool => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(status).bind(error).bind(millis(now));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(pool).await?.rows_affected()
            });
        }
        Ok(done)
    }

    /// Records whether a teacher can be reached on their channel.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn set_reachable(
        &self,
        channel: &str,
        channel_user: &str,
        reachable: bool,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "UPDATE teachers SET reachable = $1 WHERE channel = $2 AND channel_user = $3";
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(SQL).bind(reachable).bind(channel).bind(channel_user).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// Whether a teacher can be reached (`None` for an unknown teacher).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn reachable(
        &self,
        channel: &str,
        channel_user: &str,
    ) -> Result<Option<bool>, StoreError> {
        const SQL: &str = "SELECT reachable FROM teachers WHERE channel = $1 AND channel_user = $2";
        let found = on_pool!(self, pool => sqlx::query_scalar(SQL).bind(channel).bind(channel_user).fetch_optional(pool).await?);
        Ok(found)
    }

    /// Outbox rows of one recipient with their status and error, oldest first (for tests and
    /// the console): `(id, status, error)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn outbox_status(
        &self,
        channel: &str,
        channel_user: &str,
    ) -> Result<Vec<(i64, String, Option<String>)>, StoreError> {
        const SQL: &str = "SELECT id, status, error FROM outbox WHERE channel = $1 AND channel_user = $2 ORDER BY id";
        let rows = on_pool!(self, pool => sqlx::query_as(SQL).bind(channel).bind(channel_user).fetch_all(pool).await?);
        Ok(rows)
    }

    // -----------------------------------------------------------------------------------------
    // Reads for progress, certificates and tests.

    /// The certificate with a verification code: `(teacher name, module, issued at)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for an unknown code; [`StoreError::Database`].
    pub async fn certificate(
        &self,
        code: &str,
    ) -> Result<(Option<String>, String, DateTime<Utc>), StoreError> {
        const SQL: &str =
            "SELECT teacher_name, module, issued_at FROM certificates WHERE code = $1";
        let row: Option<(Option<String>, String, i64)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(code).fetch_optional(pool).await?);
        let (name, module, at) = row.ok_or(StoreError::NotFound)?;
        Ok((name, module, from_millis(at)))
    }

    /// Counts rows of the tables a step writes, for one teacher: `(transcript, outbox,
    /// quiz answers, quiz attempts, certificates, lesson modules)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn teacher_counts(&self, teacher_id: i64) -> Result<TeacherCounts, StoreError> {
        const SQL: &str = "SELECT \
            (SELECT COUNT(*) FROM transcript WHERE teacher_id = $1), \
            (SELECT COUNT(*) FROM outbox WHERE teacher_id = $1), \
            (SELECT COUNT(*) FROM quiz_answers WHERE teacher_id = $1), \
            (SELECT COUNT(*) FROM quiz_attempts WHERE teacher_id = $1), \
            (SELECT COUNT(*) FROM certificates WHERE teacher_id = $1), \
            (SELECT COUNT(*) FROM lesson_progress WHERE teacher_id = $1), \
            (SELECT COUNT(*) FROM reflections WHERE teacher_id = $1)";
        let (transcript, outbox, quiz_answers, quiz_attempts, certificates, lessons, reflections): (
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
            i64,
        ) = on_pool!(self, pool => sqlx::query_as(SQL).bind(teacher_id).fetch_one(pool).await?);
        Ok(TeacherCounts {
            transcript,
            outbox,
            quiz_answers,
            quiz_attempts,
            certificates,
            lessons,
            reflections,
        })
    }

    /// A teacher's profile columns: `(name, role, district, school, grades, subjects, language)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Database`].
    pub async fn teacher_profile(&self, teacher_id: i64) -> Result<TeacherProfile, StoreError> {
        const SQL: &str = "SELECT name, role, district, school, grades, subjects, consent, language \
                           FROM teachers WHERE id = $1";
        type Row = (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        );
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(SQL).bind(teacher_id).fetch_optional(pool).await?);
        let (name, role, district, school, grades, subjects, consent, language) =
            row.ok_or(StoreError::NotFound)?;
        Ok(TeacherProfile {
            name,
            role,
            district,
            school,
            grades,
            subjects,
            consent,
            language,
        })
    }

    /// Lesson progress rows of a teacher: `(module, part, parts, completed)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn lesson_progress(
        &self,
        teacher_id: i64,
    ) -> Result<Vec<(String, i64, i64, bool)>, StoreError> {
        const SQL: &str = "SELECT module, part, parts, completed_at FROM lesson_progress \
                           WHERE teacher_id = $1 ORDER BY module";
        let rows: Vec<(String, i64, i64, Option<i64>)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(teacher_id).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(m, p, n, c)| (m, p, n, c.is_some()))
            .collect())
    }
}

/// Row counts for one teacher, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TeacherCounts {
    /// Transcript entries (both directions).
    pub transcript: i64,
    /// Outbox messages.
    pub outbox: i64,
    /// Quiz answers.
    pub quiz_answers: i64,
    /// Finished quiz attempts.
    pub quiz_attempts: i64,
    /// Certificates.
    pub certificates: i64,
    /// Modules with lesson progress.
    pub lessons: i64,
    /// Reflections.
    pub reflections: i64,
}

/// The profile columns of a teacher.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TeacherProfile {
    /// Name as typed.
    pub name: Option<String>,
    /// teacher / headteacher / mentor.
    pub role: Option<String>,
    /// District.
    pub district: Option<String>,
    /// School.
    pub school: Option<String>,
    /// Grades taught, `1, 2, 5`.
    pub grades: Option<String>,
    /// Subjects taught.
    pub subjects: Option<String>,
    /// `yes` when consent to data use was given.
    pub consent: Option<String>,
    /// Language code.
    pub language: String,
}

/// Milliseconds since the epoch, the time format of every table.
#[must_use]
pub fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The inverse of [`millis`].
#[must_use]
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
