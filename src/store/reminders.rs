//! Reminders in SQL: the teachers a reminder may be due for, read a page at a time by id with
//! the facts the pure policy ([`crate::programme::reminders::due`]) decides on, and the
//! reminders queued (inbox events and `reminders` rows in one transaction).
//!
//! A candidate is reachable, has not said STOP, finished onboarding, had no reminder within
//! the period, and has a lesson idle long enough that was not nudged since, or a failed quiz
//! attempt old enough, not followed by another attempt or a pass, and not suggested since.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};

use super::{Backend, Recipient, Store, StoreError, from_millis, millis, records};
use crate::programme::reminders::{Facts, FailedQuiz, OpenLesson, Sent, What};

/// The times a candidate search compares with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReminderWindow {
    /// Lessons last moved in at or before this are idle long enough.
    pub idle_before: DateTime<Utc>,
    /// Failed attempts ended at or before this are old enough.
    pub failed_before: DateTime<Utc>,
    /// A reminder after this is too recent for another.
    pub reminded_after: DateTime<Utc>,
}

/// A teacher a reminder may be due for, and what the policy needs to know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReminderCandidate {
    /// Who.
    pub to: Recipient,
    /// Their progress and past reminders.
    pub facts: Facts,
}

/// A reminder to queue in a teacher's conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedReminder {
    /// Who.
    pub to: Recipient,
    /// The inbox event's external id (`{occasion}:{teacher}`).
    pub external_id: String,
    /// The inbox event's payload (the programme message, as JSON).
    pub payload: String,
    /// Which reminder.
    pub what: What,
    /// About which module.
    pub module: String,
}

/// Teachers who may get messages (the same rules as a segment's).
const REACHABLE: &str =
    "te.reachable AND COALESCE(te.notices, 'on') <> 'off' AND te.consent IS NOT NULL";

impl Store {
    /// Up to `limit` candidates with an id above `after`, by id, with their facts.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn reminder_candidates(
        &self,
        window: &ReminderWindow,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ReminderCandidate>, StoreError> {
        let candidates = format!(
            "SELECT te.id, te.channel, te.channel_user, te.language FROM teachers te \
             WHERE te.id > $1 AND {REACHABLE} \
             AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.teacher_id = te.id AND r.at > $2) \
             AND (EXISTS (SELECT 1 FROM lesson_progress lp WHERE lp.teacher_id = te.id \
                    AND lp.completed_at IS NULL AND lp.updated_at <= $3 \
                    AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.teacher_id = te.id \
                        AND r.kind = 'nudge' AND r.module = lp.module AND r.at >= lp.updated_at)) \
               OR EXISTS (SELECT 1 FROM quiz_attempts qa WHERE qa.teacher_id = te.id \
                    AND NOT qa.passed AND qa.finished_at <= $4 \
                    AND NOT EXISTS (SELECT 1 FROM quiz_attempts q2 WHERE q2.teacher_id = te.id \
                        AND q2.module = qa.module AND (q2.passed OR q2.finished_at > qa.finished_at)) \
                    AND NOT EXISTS (SELECT 1 FROM reminders r WHERE r.teacher_id = te.id \
                        AND r.kind = 'quiz_retry' AND r.module = qa.module AND r.at >= qa.finished_at))) \
             ORDER BY te.id LIMIT $5"
        );
        let rows: Vec<(i64, String, String, String)> = on_pool!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(candidates))
                .bind(after)
                .bind(millis(window.reminded_after))
                .bind(millis(window.idle_before))
                .bind(millis(window.failed_before))
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        let Some(last) = rows.last().map(|r| r.0) else {
            return Ok(Vec::new());
        };
        let ids: HashSet<i64> = rows.iter().map(|r| r.0).collect();
        // The facts of every teacher in the page's id range, kept for the candidates only.
        const LESSONS: &str = "SELECT teacher_id, module, part, parts, updated_at FROM lesson_progress \
            WHERE teacher_id > $1 AND teacher_id <= $2 AND completed_at IS NULL";
        const FAILED: &str = "SELECT qa.teacher_id, qa.module, qa.finished_at FROM quiz_attempts qa \
            WHERE qa.teacher_id > $1 AND qa.teacher_id <= $2 AND NOT qa.passed \
            AND NOT EXISTS (SELECT 1 FROM quiz_attempts q2 WHERE q2.teacher_id = qa.teacher_id \
                AND q2.module = qa.module AND (q2.passed OR q2.finished_at > qa.finished_at))";
        const SENT: &str = "SELECT teacher_id, kind, module, MAX(at) FROM reminders \
            WHERE teacher_id > $1 AND teacher_id <= $2 GROUP BY teacher_id, kind, module";
        let (lessons, failed, sent) = on_pool!(self, pool => {
            let lessons: Vec<(i64, String, i64, i64, i64)> = sqlx::query_as(LESSONS)
                .bind(after).bind(last).fetch_all(pool).await?;
            let failed: Vec<(i64, String, i64)> = sqlx::query_as(FAILED)
                .bind(after).bind(last).fetch_all(pool).await?;
            let sent: Vec<(i64, String, String, i64)> = sqlx::query_as(SENT)
                .bind(after).bind(last).fetch_all(pool).await?;
            (lessons, failed, sent)
        });
        let mut facts: BTreeMap<i64, Facts> = ids
            .iter()
            .map(|id| {
                let facts = Facts {
                    wants_messages: true,
                    ..Facts::default()
                };
                (*id, facts)
            })
            .collect();
        for (teacher, module, part, parts, updated_at) in lessons {
            if let Some(f) = facts.get_mut(&teacher) {
                f.lessons.push(OpenLesson {
                    module,
                    part: u32::try_from(part).unwrap_or(0),
                    parts: u32::try_from(parts).unwrap_or(0),
                    last_activity: from_millis(updated_at),
                });
            }
        }
        for (teacher, module, at) in failed {
            if let Some(f) = facts.get_mut(&teacher) {
                f.failed.push(FailedQuiz {
                    module,
                    at: from_millis(at),
                });
            }
        }
        for (teacher, kind, module, at) in sent {
            if let (Some(f), Some(what)) = (facts.get_mut(&teacher), What::parse(&kind)) {
                f.sent.push(Sent {
                    what,
                    module,
                    at: from_millis(at),
                });
            }
        }
        Ok(rows
            .into_iter()
            .map(
                |(teacher_id, channel, channel_user, language)| ReminderCandidate {
                    facts: facts.remove(&teacher_id).unwrap_or_default(),
                    to: Recipient {
                        teacher_id,
                        channel,
                        channel_user,
                        language,
                    },
                },
            )
            .collect())
    }

    /// Queues `reminders`: each one's inbox event and its `reminders` row, in one transaction;
    /// an event already there (the same occasion queued before) writes nothing. Returns how
    /// many were new.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; nothing was written then.
    pub async fn queue_reminders(
        &self,
        reminders: &[QueuedReminder],
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if reminders.is_empty() {
            return Ok(0);
        }
        let at = millis(now);
        macro_rules! statements {
            ($tx:ident) => {{
                let mut new = 0;
                for chunk in records::pow2_chunks(reminders, 5) {
                    let sql = format!(
                        "INSERT INTO inbox (channel, external_id, channel_user, payload, received_at) \
                         VALUES {} ON CONFLICT (channel, external_id) DO NOTHING \
                         RETURNING channel, external_id",
                        records::value_rows(&["", "", "", "", ""], chunk.len())
                    );
                    let mut q = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql));
                    for r in chunk {
                        q = q.bind(&r.to.channel).bind(&r.external_id).bind(&r.to.channel_user)
                            .bind(&r.payload).bind(at);
                    }
                    let inserted: HashSet<(String, String)> =
                        q.fetch_all(&mut *$tx).await?.into_iter().collect();
                    let fresh: Vec<&QueuedReminder> = chunk
                        .iter()
                        .filter(|r| inserted.contains(&(r.to.channel.clone(), r.external_id.clone())))
                        .collect();
                    new += fresh.len();
                    if fresh.is_empty() {
                        continue;
                    }
                    let sql = format!(
                        "INSERT INTO reminders (teacher_id, kind, module, at) VALUES {}",
                        records::value_rows(&["", "", "", ""], fresh.len())
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for r in fresh {
                        q = q.bind(r.to.teacher_id).bind(r.what.code()).bind(&r.module).bind(at);
                    }
                    q.execute(&mut *$tx).await?;
                }
                $tx.commit().await?;
                Ok(new)
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

    /// The reminders queued for a teacher, oldest first (for the console and tests).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn reminders_of(&self, teacher_id: i64) -> Result<Vec<Sent>, StoreError> {
        const SQL: &str =
            "SELECT kind, module, at FROM reminders WHERE teacher_id = $1 ORDER BY at, id";
        let rows: Vec<(String, String, i64)> = on_pool!(self, pool => {
            sqlx::query_as(SQL).bind(teacher_id).fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(kind, module, at)| {
                Some(Sent {
                    what: What::parse(&kind)?,
                    module,
                    at: from_millis(at),
                })
            })
            .collect())
    }
}
