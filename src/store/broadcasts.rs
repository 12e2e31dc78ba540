//! Broadcasts in SQL: creating one (its segment resolved into `broadcast_recipients` with one
//! `INSERT … SELECT`, its first feeder job written in the same transaction), one feeder tick
//! (compare-and-set on the broadcast's `run`, the next recipients of each channel moved from
//! `pending` to `queued` and their outbox rows written, the next tick's job scheduled — all in
//! one transaction), pause / resume / cancel, and the figures of the progress page.
//!
//! A recipient is queued exactly once: the tick that queues it writes its outbox row in the
//! same transaction, and only the job whose run number matches the broadcast's may feed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::segments::segment_where;
use super::{Backend, Store, StoreError, from_millis, millis};
use crate::programme::segment::Segment;

/// The kind of the feeder's jobs.
pub const JOB_KIND: &str = "broadcast";

/// The key of a broadcast's feeder job for run `run`.
#[must_use]
pub fn job_key(id: i64, run: i64) -> String {
    format!("{JOB_KIND}:{id}:{run}")
}

/// The payload of a broadcast's feeder job.
#[must_use]
pub fn job_payload(id: i64, run: i64) -> String {
    serde_json::json!({ "broadcast": id, "run": run }).to_string()
}

/// The tag its outbox rows carry in `outbox.ticket`.
#[must_use]
pub fn broadcast_tag(id: i64) -> String {
    format!("broadcast:{id}")
}

/// A broadcast to create.
#[derive(Clone, Debug)]
pub struct NewBroadcast<'a> {
    /// Who creates it.
    pub created_by: &'a str,
    /// Its audience.
    pub segment: &'a Segment,
    /// The audience as staff wrote it.
    pub terms: &'a str,
    /// The message per language (`en` required).
    pub texts: &'a BTreeMap<String, String>,
    /// Messages per second per channel.
    pub rates: &'a BTreeMap<String, f64>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Why a broadcast was not created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Nobody is in the segment now; nothing was written.
    #[error("the segment has no teachers who can receive a broadcast; nothing was sent")]
    Empty,
    /// The database failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A broadcast as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Broadcast {
    /// Its id.
    pub id: i64,
    /// Who created it.
    pub created_by: String,
    /// Its audience.
    pub segment: Segment,
    /// The audience as written.
    pub terms: String,
    /// The message per language.
    pub texts: BTreeMap<String, String>,
    /// draft, sending, paused, done, cancelled.
    pub status: String,
    /// Recipients when created.
    pub total: i64,
    /// Messages per second per channel.
    pub rates: BTreeMap<String, f64>,
    /// The feeder run allowed to feed.
    pub run: i64,
    /// Unused allowance per channel (messages).
    pub credit: BTreeMap<String, f64>,
    /// When the allowance was last counted.
    pub paced_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When sending started.
    pub started_at: Option<DateTime<Utc>>,
    /// When every recipient was queued (done) or it was cancelled.
    pub finished_at: Option<DateTime<Utc>>,
}

/// One channel's figures for a broadcast.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelProgress {
    /// Recipients on it.
    pub total: i64,
    /// Not queued yet.
    pub pending: i64,
    /// Queued (outbox row written).
    pub queued: i64,
    /// Left out at their turn (said STOP, or unreachable).
    pub skipped: i64,
    /// Outbox rows waiting for the dispatcher.
    pub waiting: i64,
    /// Sent.
    pub sent: i64,
    /// Failed.
    pub failed: i64,
    /// Held outside WhatsApp's 24-hour window (or for a teacher who blocked the bot).
    pub held: i64,
}

/// A broadcast's figures, per channel and in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Per channel.
    pub channels: BTreeMap<String, ChannelProgress>,
    /// Summed.
    pub all: ChannelProgress,
}

/// What one feeder tick does.
#[derive(Clone, Debug)]
pub struct Tick<'a> {
    /// The broadcast.
    pub id: i64,
    /// The run this tick belongs to; the tick feeds only if the broadcast is still on it.
    pub run: i64,
    /// How many recipients to queue per channel.
    pub allowance: &'a BTreeMap<String, i64>,
    /// The allowance left afterwards, per channel.
    pub credit: &'a BTreeMap<String, f64>,
    /// The outbox payload per language (`en` for any other).
    pub payloads: &'a BTreeMap<String, String>,
    /// Now.
    pub now: DateTime<Utc>,
    /// When the next tick is due.
    pub next_at: DateTime<Utc>,
}

/// What a tick did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fed {
    /// The broadcast is not sending, or another run feeds it: nothing was written.
    Stale,
    /// Recipients queued and skipped; `done` when none is pending any more (the next tick
    /// was scheduled otherwise).
    Fed {
        /// Queued now.
        queued: i64,
        /// Skipped now.
        skipped: i64,
        /// Whether every recipient has been queued or skipped.
        done: bool,
    },
}

type BroadcastRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
);

const COLUMNS: &str = "id, created_by, segment, terms, texts, status, total, rates, run, credit, \
                       paced_at, created_at, started_at, finished_at";

fn broadcast_of(row: BroadcastRow) -> Broadcast {
    let (
        id,
        created_by,
        segment,
        terms,
        texts,
        status,
        total,
        rates,
        run,
        credit,
        paced_at,
        created_at,
        started_at,
        finished_at,
    ) = row;
    Broadcast {
        id,
        created_by,
        segment: serde_json::from_str(&segment).unwrap_or_default(),
        terms,
        texts: serde_json::from_str(&texts).unwrap_or_default(),
        status,
        total,
        rates: serde_json::from_str(&rates).unwrap_or_default(),
        run,
        credit: credit
            .and_then(|c| serde_json::from_str(&c).ok())
            .unwrap_or_default(),
        paced_at: paced_at.map(from_millis),
        created_at: from_millis(created_at),
        started_at: started_at.map(from_millis),
        finished_at: finished_at.map(from_millis),
    }
}

const INSERT_JOB: &str = "INSERT INTO jobs (kind, dedup_key, payload, due_at, created_at) \
                          VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedup_key) DO NOTHING";

impl Store {
    /// Creates a broadcast and starts it: the row, its recipients (the segment's teachers now,
    /// with one `INSERT … SELECT`) and the first feeder job, in one transaction. Returns its
    /// id and how many teachers it goes to.
    ///
    /// # Errors
    ///
    /// [`CreateError::Empty`] when the segment has nobody (nothing is written);
    /// [`CreateError::Store`].
    pub async fn create_broadcast(
        &self,
        new: &NewBroadcast<'_>,
    ) -> Result<(i64, i64), CreateError> {
        const INSERT: &str = "INSERT INTO broadcasts (created_by, segment, terms, texts, status, \
            rates, run, created_at, started_at, paced_at) \
            VALUES ($1, $2, $3, $4, 'sending', $5, 0, $6, $6, $6) RETURNING id";
        let now = millis(new.now);
        let segment = serde_json::to_string(new.segment).unwrap_or_else(|_| "{}".into());
        let texts = serde_json::to_string(new.texts).unwrap_or_else(|_| "{}".into());
        let rates = serde_json::to_string(new.rates).unwrap_or_else(|_| "{}".into());
        let sql = segment_where(new.segment, 2);
        let select = format!(
            "INSERT INTO broadcast_recipients (broadcast_id, teacher_id, channel, status) \
             SELECT $1, te.id, te.channel, 'pending' FROM teachers te WHERE {}",
            sql.clause
        );
        macro_rules! statements {
            ($tx:ident) => {{
                let (id,): (i64,) = sqlx::query_as(INSERT)
                    .bind(new.created_by)
                    .bind(&segment)
                    .bind(new.terms)
                    .bind(&texts)
                    .bind(&rates)
                    .bind(now)
                    .fetch_one(&mut *$tx)
                    .await
                    .map_err(StoreError::from)?;
                let mut q = sqlx::query(sqlx::AssertSqlSafe(select.clone())).bind(id);
                for b in &sql.binds {
                    q = q.bind(b);
                }
                let total = i64::try_from(
                    q.execute(&mut *$tx)
                        .await
                        .map_err(StoreError::from)?
                        .rows_affected(),
                )
                .unwrap_or(i64::MAX);
                if total == 0 {
                    drop($tx);
                    return Err(CreateError::Empty);
                }
                sqlx::query("UPDATE broadcasts SET total = $1 WHERE id = $2")
                    .bind(total)
                    .bind(id)
                    .execute(&mut *$tx)
                    .await
                    .map_err(StoreError::from)?;
                sqlx::query(INSERT_JOB)
                    .bind(JOB_KIND)
                    .bind(job_key(id, 0))
                    .bind(job_payload(id, 0))
                    .bind(now)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await
                    .map_err(StoreError::from)?;
                $tx.commit().await.map_err(StoreError::from)?;
                Ok((id, total))
            }};
        }
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(StoreError::from)?;
                statements!(tx)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(StoreError::from)?;
                statements!(tx)
            }
        }
    }

    /// How many teachers of `segment` are on each channel now (the preview per channel).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn segment_count_by_channel(
        &self,
        segment: &Segment,
    ) -> Result<BTreeMap<String, i64>, StoreError> {
        let sql = segment_where(segment, 1);
        let text = format!(
            "SELECT te.channel, COUNT(*) FROM teachers te WHERE {} GROUP BY te.channel",
            sql.clause
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(text));
            for b in &sql.binds {
                q = q.bind(b);
            }
            Ok(q.fetch_all(pool).await?.into_iter().collect())
        })
    }

    /// One broadcast.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::Database`].
    pub async fn broadcast(&self, id: i64) -> Result<Broadcast, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM broadcasts WHERE id = $1");
        let row: Option<BroadcastRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(pool).await?);
        row.map(broadcast_of).ok_or(StoreError::NotFound)
    }

    /// The newest broadcasts first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn broadcasts(&self, limit: i64) -> Result<Vec<Broadcast>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM broadcasts ORDER BY id DESC LIMIT $1");
        let rows: Vec<BroadcastRow> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().map(broadcast_of).collect())
    }

    /// Outbox rows of broadcast `id` still waiting for their dispatcher, per channel.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn broadcast_backlog(&self, id: i64) -> Result<BTreeMap<String, i64>, StoreError> {
        // Through the pending-rows index: only what waits is read, however far it has gone.
        const SQL: &str = "SELECT channel, COUNT(*) FROM outbox \
                           WHERE status = 'pending' AND ticket = $1 GROUP BY channel";
        let tag = broadcast_tag(id);
        let rows: Vec<(String, i64)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(&tag).fetch_all(pool).await?);
        Ok(rows.into_iter().collect())
    }

    /// One feeder tick, in one transaction: compare-and-set of the run (a stale or paused
    /// broadcast writes nothing), then per channel the next `allowance` pending recipients by
    /// teacher id: those who still want programme messages and can be reached get their outbox
    /// row (in their language) and become `queued`, the others `skipped`; then the next tick's
    /// job, or the broadcast `done` when nobody is pending.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; nothing was written.
    pub async fn feed_broadcast(&self, tick: &Tick<'_>) -> Result<Fed, StoreError> {
        const CAS: &str = "UPDATE broadcasts SET run = run + 1, credit = $1, paced_at = $2 \
                           WHERE id = $3 AND run = $4 AND status = 'sending'";
        const PICK: &str = "SELECT r.teacher_id, \
            CASE WHEN te.reachable AND COALESCE(te.notices, 'on') <> 'off' THEN 1 ELSE 0 END \
            FROM broadcast_recipients r JOIN teachers te ON te.id = r.teacher_id \
            WHERE r.broadcast_id = $1 AND r.channel = $2 AND r.status = 'pending' \
            ORDER BY r.teacher_id LIMIT $3";
        const LEFT: &str = "SELECT 1 FROM broadcast_recipients \
                            WHERE broadcast_id = $1 AND status = 'pending' LIMIT 1";
        const DONE: &str = "UPDATE broadcasts SET status = 'done', finished_at = $1 WHERE id = $2";
        let now = millis(tick.now);
        let credit = serde_json::to_string(tick.credit).unwrap_or_else(|_| "{}".into());
        let tag = broadcast_tag(tick.id);
        let en = tick.payloads.get("en").cloned().unwrap_or_default();
        let payload = |lang: &str| {
            tick.payloads
                .get(lang)
                .cloned()
                .unwrap_or_else(|| en.clone())
        };
        let (ur, bn) = (payload("ur"), payload("bn"));
        macro_rules! statements {
            ($tx:ident) => {{
                let moved = sqlx::query(CAS)
                    .bind(&credit).bind(now).bind(tick.id).bind(tick.run)
                    .execute(&mut *$tx).await?.rows_affected();
                if moved == 0 {
                    drop($tx);
                    return Ok(Fed::Stale);
                }
                let (mut queued, mut skipped) = (0_i64, 0_i64);
                for (channel, n) in tick.allowance {
                    if *n <= 0 {
                        continue;
                    }
                    let picked: Vec<(i64, i32)> = sqlx::query_as(PICK)
                        .bind(tick.id).bind(channel).bind(*n)
                        .fetch_all(&mut *$tx).await?;
                    let (send, skip): (Vec<(i64, i32)>, Vec<(i64, i32)>) = picked.iter().partition(|p| p.1 == 1);
                    let send: Vec<i64> = send.into_iter().map(|p| p.0).collect();
                    let skip: Vec<i64> = skip.into_iter().map(|p| p.0).collect();
                    for chunk in send.chunks(500) {
                        let list = id_list(6, chunk.len());
                        let sql = format!(
                            "INSERT INTO outbox (teacher_id, channel, channel_user, payload, created_at, ticket) \
                             SELECT te.id, te.channel, te.channel_user, \
                             CASE te.language WHEN 'ur' THEN $2 WHEN 'bn' THEN $3 ELSE $1 END, $4, $5 \
                             FROM teachers te WHERE te.id IN ({list}) ORDER BY te.id"
                        );
                        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(&en).bind(&ur).bind(&bn).bind(now).bind(&tag);
                        for t in chunk {
                            q = q.bind(*t);
                        }
                        q.execute(&mut *$tx).await?;
                    }
                    for (list, status) in [(&send, "queued"), (&skip, "skipped")] {
                        for chunk in list.chunks(500) {
                            let ids = id_list(4, chunk.len());
                            let sql = format!(
                                "UPDATE broadcast_recipients SET status = $1, queued_at = $2 \
                                 WHERE broadcast_id = $3 AND teacher_id IN ({ids})"
                            );
                            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                                .bind(status).bind(now).bind(tick.id);
                            for t in chunk {
                                q = q.bind(*t);
                            }
                            q.execute(&mut *$tx).await?;
                        }
                    }
                    queued += i64::try_from(send.len()).unwrap_or(0);
                    skipped += i64::try_from(skip.len()).unwrap_or(0);
                }
                let left: Option<(i32,)> = sqlx::query_as(LEFT)
                    .bind(tick.id).fetch_optional(&mut *$tx).await?;
                let done = left.is_none();
                if done {
                    sqlx::query(DONE).bind(now).bind(tick.id).execute(&mut *$tx).await?;
                } else {
                    let run = tick.run + 1;
                    sqlx::query(INSERT_JOB)
                        .bind(JOB_KIND).bind(job_key(tick.id, run)).bind(job_payload(tick.id, run))
                        .bind(millis(tick.next_at)).bind(now)
                        .execute(&mut *$tx).await?;
                }
                $tx.commit().await?;
                Ok(Fed::Fed { queued, skipped, done })
            }};
        }
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                statements!(tx)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx)
            }
        }
    }

    /// Pauses a sending broadcast; `false` when it was not sending.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn pause_broadcast(&self, id: i64) -> Result<bool, StoreError> {
        const SQL: &str =
            "UPDATE broadcasts SET status = 'paused' WHERE id = $1 AND status = 'sending'";
        let _turn = self.write_turn().await;
        let n =
            on_pool!(self, pool => sqlx::query(SQL).bind(id).execute(pool).await?.rows_affected());
        Ok(n > 0)
    }

    /// Resumes a paused broadcast: a new run (so a tick of the old one, still due, stops) and
    /// its first job, due now, in one transaction; `false` when it was not paused.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn resume_broadcast(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE broadcasts SET status = 'sending', run = run + 1, credit = NULL, \
                           paced_at = $1 WHERE id = $2 AND status = 'paused' RETURNING run";
        let now = millis(now);
        macro_rules! statements {
            ($tx:ident) => {{
                let run: Option<(i64,)> = sqlx::query_as(SQL)
                    .bind(now)
                    .bind(id)
                    .fetch_optional(&mut *$tx)
                    .await?;
                let Some((run,)) = run else {
                    drop($tx);
                    return Ok(false);
                };
                sqlx::query(INSERT_JOB)
                    .bind(JOB_KIND)
                    .bind(job_key(id, run))
                    .bind(job_payload(id, run))
                    .bind(now)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await?;
                $tx.commit().await?;
                Ok(true)
            }};
        }
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                statements!(tx)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx)
            }
        }
    }

    /// Cancels a broadcast that is sending or paused: nobody still pending gets it (rows
    /// already queued still go out); `false` when it had ended.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn cancel_broadcast(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE broadcasts SET status = 'cancelled', finished_at = $1 \
                           WHERE id = $2 AND status IN ('draft', 'sending', 'paused')";
        let _turn = self.write_turn().await;
        let n = on_pool!(self, pool => sqlx::query(SQL).bind(millis(now)).bind(id)
            .execute(pool).await?.rows_affected());
        Ok(n > 0)
    }

    /// A broadcast's figures: its recipients by state and its outbox rows by status, per
    /// channel (rows copied back after a hold count once).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn broadcast_progress(&self, id: i64) -> Result<Progress, StoreError> {
        const RECIPIENTS: &str = "SELECT channel, status, COUNT(*) FROM broadcast_recipients \
                                  WHERE broadcast_id = $1 GROUP BY channel, status";
        const OUTBOX: &str = "SELECT channel, status, COUNT(*) FROM outbox \
                              WHERE ticket = $1 AND status <> 'released' GROUP BY channel, status";
        let tag = broadcast_tag(id);
        let (recipients, outbox): (Vec<Counted>, Vec<Counted>) = on_pool!(self, pool => (
            sqlx::query_as(RECIPIENTS).bind(id).fetch_all(pool).await?,
            sqlx::query_as(OUTBOX).bind(&tag).fetch_all(pool).await?,
        ));
        let mut progress = Progress::default();
        for (channel, status, n) in recipients {
            for p in [
                progress.channels.entry(channel).or_default(),
                &mut progress.all,
            ] {
                p.total += n;
                match status.as_str() {
                    "pending" => p.pending += n,
                    "queued" => p.queued += n,
                    _ => p.skipped += n,
                }
            }
        }
        for (channel, status, n) in outbox {
            for p in [
                progress.channels.entry(channel).or_default(),
                &mut progress.all,
            ] {
                match status.as_str() {
                    "pending" => p.waiting += n,
                    "sent" => p.sent += n,
                    "failed" => p.failed += n,
                    "held" => p.held += n,
                    _ => {}
                }
            }
        }
        Ok(progress)
    }
}

/// A count by channel and status.
type Counted = (String, String, i64);

/// `$first, $first + 1, …` for `n` values.
fn id_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
