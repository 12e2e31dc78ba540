//! The scheduler's `jobs` table: scheduling (a repeated key is a no-op), claiming due jobs for
//! one runner with a lease, and ending them (done, skipped, failed, retried later, moved out of
//! the night). A recurring series keeps its key on the row still to run: ending an occurrence
//! renames it `{key}@{due time}` and schedules the next under the key, in one transaction.
//! What to do with a job is [`crate::schedule`]'s business; this file only keeps the rows.
//!
//! Also the housekeeping job's one write ([`Store::purge_console`]).

use chrono::{DateTime, SecondsFormat, Utc};

use super::{Backend, Store, StoreError, from_millis, millis};

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for its due time.
    Pending,
    /// Claimed by a runner, whose lease holds until `locked_until`.
    Running,
    /// It ran.
    Done,
    /// Given up.
    Failed,
    /// Not run, for a reason (`last_error`).
    Skipped,
}

impl JobStatus {
    /// The word in the table.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Skipped => "skipped",
        }
    }

    fn parse(word: &str) -> JobStatus {
        match word {
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            "skipped" => JobStatus::Skipped,
            _ => JobStatus::Pending,
        }
    }
}

/// A job to schedule.
#[derive(Clone, Copy, Debug)]
pub struct NewJob<'a> {
    /// Its kind (which handler runs it).
    pub kind: &'a str,
    /// Unique: scheduling the same key again does nothing. Ids, never phone numbers.
    pub key: &'a str,
    /// JSON for the handler.
    pub payload: &'a str,
    /// When it should run.
    pub due_at: DateTime<Utc>,
}

/// A stored job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: i64,
    /// Its kind.
    pub kind: String,
    /// Its unique key.
    pub key: String,
    /// JSON for the handler.
    pub payload: String,
    /// When it is (or was) due.
    pub due_at: DateTime<Utc>,
    /// Where it is.
    pub status: JobStatus,
    /// Claims so far, the current one included.
    pub attempts: i64,
    /// The runner holding it, or the last that did.
    pub locked_by: Option<String>,
    /// Until when the current claim holds.
    pub locked_until: Option<DateTime<Utc>>,
    /// Why it was skipped, or its last failure.
    pub last_error: Option<String>,
    /// When it was scheduled.
    pub created_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
}

/// How a claimed job ends.
#[derive(Clone, Copy, Debug)]
pub struct JobEnd<'a> {
    /// [`JobStatus::Done`], [`JobStatus::Skipped`] or [`JobStatus::Failed`].
    pub status: JobStatus,
    /// Why, when skipped or failed.
    pub reason: Option<&'a str>,
    /// For a recurring job, when its next occurrence is due.
    pub next: Option<DateTime<Utc>>,
}

/// Which jobs a listing shows; `None` means any.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    /// One status.
    pub status: Option<JobStatus>,
    /// One kind.
    pub kind: Option<String>,
    /// At most this many.
    pub limit: i64,
}

const COLUMNS: &str = "id, kind, dedup_key, payload, due_at, status, attempts, locked_by, \
                       locked_until, last_error, created_at, finished_at";

type JobRow = (
    i64,
    String,
    String,
    String,
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
);

fn job(row: JobRow) -> Job {
    let (id, kind, key, payload, due, status, attempts, locked_by, until, error, created, ended) =
        row;
    Job {
        id,
        kind,
        key,
        payload,
        due_at: from_millis(due),
        status: JobStatus::parse(&status),
        attempts,
        locked_by,
        locked_until: until.map(from_millis),
        last_error: error,
        created_at: from_millis(created),
        finished_at: ended.map(from_millis),
    }
}

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Schedules a job; `Ok(None)` when its key was scheduled before (whatever became of it).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn schedule_job(
        &self,
        job: &NewJob<'_>,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        const SQL: &str = "INSERT INTO jobs (kind, dedup_key, payload, due_at, created_at) \
                           VALUES ($1, $2, $3, $4, $5) \
                           ON CONFLICT (dedup_key) DO NOTHING RETURNING id";
        let _turn = self.write_turn().await;
        let id: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(SQL)
            .bind(job.kind).bind(job.key).bind(job.payload)
            .bind(millis(job.due_at)).bind(millis(now))
            .fetch_optional(pool).await?);
        Ok(id)
    }

    /// Claims up to `limit` jobs of `kinds` for `worker` until `lease_until`: pending ones due
    /// by `now`, and running ones whose lease has passed (their runner stopped). Each claim
    /// counts an attempt. Two runners never get the same job while its lease holds: on
    /// PostgreSQL the rows are locked as they are picked (`FOR UPDATE SKIP LOCKED`, so runners
    /// take disjoint jobs without waiting for each other); on SQLite the whole claim is one
    /// write transaction, and writes take turns.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; nothing was claimed.
    pub async fn claim_jobs(
        &self,
        worker: &str,
        kinds: &[&str],
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Job>, StoreError> {
        if kinds.is_empty() || limit <= 0 {
            return Ok(Vec::new());
        }
        let pick = format!(
            "SELECT id FROM jobs \
             WHERE ((status = 'pending' AND due_at <= $3) \
             OR (status = 'running' AND locked_until <= $3)) \
             AND kind IN ({}) ORDER BY due_at, id LIMIT $4",
            placeholders(5, kinds.len())
        );
        let claim = |lock: &str| {
            format!(
                "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, \
                 attempts = attempts + 1 WHERE id IN ({pick}{lock}) RETURNING {COLUMNS}"
            )
        };
        let (now, until) = (millis(now), millis(lease_until));
        let _turn = self.write_turn().await;
        let mut rows: Vec<JobRow> = match &self.backend {
            Backend::Sqlite(pool) => {
                // IMMEDIATE: the claim reads and writes under one write lock, even against
                // another process on the same file.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(claim("")))
                    .bind(worker)
                    .bind(until)
                    .bind(now)
                    .bind(limit);
                for kind in kinds {
                    q = q.bind(*kind);
                }
                let rows = q.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows
            }
            Backend::Postgres(pool) => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(claim(" FOR UPDATE SKIP LOCKED")))
                    .bind(worker)
                    .bind(until)
                    .bind(now)
                    .bind(limit);
                for kind in kinds {
                    q = q.bind(*kind);
                }
                q.fetch_all(pool).await?
            }
        };
        rows.sort_by_key(|r| (r.4, r.0));
        Ok(rows.into_iter().map(job).collect())
    }

    /// Ends a job `worker` holds; for a recurring one, renames it after its due time and
    /// schedules the next occurrence under its key, in the same transaction. `Ok(false)` when
    /// `worker` no longer holds it (its lease passed and another runner took it): nothing is
    /// written.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; nothing was written.
    pub async fn finish_job(
        &self,
        id: i64,
        worker: &str,
        end: &JobEnd<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const END: &str = "UPDATE jobs SET status = $1, last_error = COALESCE($2, last_error), \
                           finished_at = $3, locked_until = NULL \
                           WHERE id = $4 AND status = 'running' AND locked_by = $5 \
                           RETURNING kind, dedup_key, payload, due_at";
        const RENAME: &str = "UPDATE jobs SET dedup_key = $1 WHERE id = $2";
        const NEXT: &str = "INSERT INTO jobs (kind, dedup_key, payload, due_at, created_at) \
                            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedup_key) DO NOTHING";
        let _turn = self.write_turn().await;
        let ended = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let row: Option<(String, String, String, i64)> = sqlx::query_as(END)
                .bind(end.status.as_str()).bind(end.reason).bind(millis(now)).bind(id).bind(worker)
                .fetch_optional(&mut *tx).await?;
            match (row, end.next) {
                (None, _) => false,
                (Some((kind, key, payload, due_at)), Some(next)) => {
                    let done = format!(
                        "{key}@{}",
                        from_millis(due_at).to_rfc3339_opts(SecondsFormat::Secs, true)
                    );
                    sqlx::query(RENAME).bind(done).bind(id).execute(&mut *tx).await?;
                    sqlx::query(NEXT).bind(kind).bind(key).bind(payload)
                        .bind(millis(next)).bind(millis(now))
                        .execute(&mut *tx).await?;
                    tx.commit().await?;
                    true
                }
                (Some(_), None) => {
                    tx.commit().await?;
                    true
                }
            }
        });
        Ok(ended)
    }

    /// Puts a job `worker` holds back to wait until `at`, keeping `error`; `Ok(false)` when
    /// `worker` no longer holds it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn retry_job(
        &self,
        id: i64,
        worker: &str,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET status = 'pending', due_at = $1, last_error = $2, \
                           locked_until = NULL \
                           WHERE id = $3 AND status = 'running' AND locked_by = $4";
        let _turn = self.write_turn().await;
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(millis(at)).bind(error).bind(id).bind(worker)
            .execute(pool).await?.rows_affected());
        Ok(n > 0)
    }

    /// Moves a job `worker` holds to `at` without counting the claim as an attempt (it was
    /// not run: the night); `Ok(false)` when `worker` no longer holds it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn defer_job(
        &self,
        id: i64,
        worker: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE jobs SET status = 'pending', due_at = $1, \
                           attempts = attempts - 1, locked_until = NULL \
                           WHERE id = $2 AND status = 'running' AND locked_by = $3";
        let _turn = self.write_turn().await;
        let n = on_pool!(self, pool => sqlx::query(SQL)
            .bind(millis(at)).bind(id).bind(worker)
            .execute(pool).await?.rows_affected());
        Ok(n > 0)
    }

    /// When a job of `kinds` is next due, or a running one's lease passes: the earliest time a
    /// runner has something to claim.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn next_job_at(&self, kinds: &[&str]) -> Result<Option<DateTime<Utc>>, StoreError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        let list = placeholders(1, kinds.len());
        let sql = format!(
            "SELECT MIN(at) FROM (\
             SELECT MIN(due_at) AS at FROM jobs WHERE status = 'pending' AND kind IN ({list}) \
             UNION ALL \
             SELECT MIN(locked_until) AS at FROM jobs WHERE status = 'running' AND kind IN ({list})\
             ) AS soonest"
        );
        let at: Option<i64> = on_pool!(self, pool => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for kind in kinds {
                q = q.bind(*kind);
            }
            q.fetch_one(pool).await?
        });
        Ok(at.map(from_millis))
    }

    /// The job with this key, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn job(&self, key: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE dedup_key = $1");
        let row: Option<JobRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(key).fetch_optional(pool).await?);
        Ok(row.map(job))
    }

    /// Jobs by due time (earliest first), for the console.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE ($1 = '' OR status = $1) AND ($2 = '' OR kind = $2) \
             ORDER BY due_at, id LIMIT $3"
        );
        let status = filter.status.map_or("", JobStatus::as_str);
        let kind = filter.kind.as_deref().unwrap_or("");
        let rows: Vec<JobRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(status).bind(kind).bind(filter.limit)
            .fetch_all(pool).await?);
        Ok(rows.into_iter().map(job).collect())
    }

    // -----------------------------------------------------------------------------------------
    // Housekeeping.

    /// Deletes console sessions that ended (past `now`, or unused since `idle_before`) and
    /// failed sign-ins older than `failures_before`; returns how many of each.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; nothing was deleted.
    pub async fn purge_console(
        &self,
        now: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        failures_before: DateTime<Utc>,
    ) -> Result<(u64, u64), StoreError> {
        const SESSIONS: &str =
            "DELETE FROM staff_sessions WHERE expires_at <= $1 OR last_seen_at <= $2";
        const FAILURES: &str = "DELETE FROM login_failures WHERE at < $1";
        let _turn = self.write_turn().await;
        let purged = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let sessions = sqlx::query(SESSIONS).bind(millis(now)).bind(millis(idle_before))
                .execute(&mut *tx).await?.rows_affected();
            let failures = sqlx::query(FAILURES).bind(millis(failures_before))
                .execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            (sessions, failures)
        });
        Ok(purged)
    }
}
