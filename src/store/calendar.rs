//! The CPD-hour calendar's records: teachers' RSVPs (written in a conversation's commit by
//! `store::programme`, read here for the scheduler and the console), and how many teachers an
//! announcement's occasion reached (its tagged outbox rows).

use std::collections::{HashMap, HashSet};

use super::{Backend, Store, StoreError};

/// Records a teacher's answer to a session (`$1` session, `$2` teacher, `$3` `yes`/`no`,
/// `$4` when); a later answer replaces the earlier one.
pub(crate) const UPSERT_RSVP: &str = "INSERT INTO rsvps (session_id, teacher_id, answer, answered_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (session_id, teacher_id) \
     DO UPDATE SET answer = excluded.answer, answered_at = excluded.answered_at";

/// A session's answers so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RsvpCount {
    /// "I'll attend".
    pub yes: i64,
    /// "Can't make it".
    pub no: i64,
}

impl Store {
    /// The teachers who said they cannot come to `session` (not announced it again).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn rsvp_declined(&self, session: &str) -> Result<HashSet<i64>, StoreError> {
        const SQL: &str = "SELECT teacher_id FROM rsvps WHERE session_id = $1 AND answer = 'no'";
        on_pool!(self, pool => {
            let ids: Vec<i64> = sqlx::query_scalar(SQL).bind(session).fetch_all(pool).await?;
            Ok(ids.into_iter().collect())
        })
    }

    /// Every session's answers, by session id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn rsvp_counts(&self) -> Result<HashMap<String, RsvpCount>, StoreError> {
        const SQL: &str = "SELECT session_id, \
             COALESCE(SUM(CASE WHEN answer = 'yes' THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN answer = 'no' THEN 1 ELSE 0 END), 0) \
             FROM rsvps GROUP BY session_id";
        on_pool!(self, pool => {
            let rows: Vec<(String, i64, i64)> = sqlx::query_as(SQL).fetch_all(pool).await?;
            Ok(rows
                .into_iter()
                .map(|(session, yes, no)| (session, RsvpCount { yes, no }))
                .collect())
        })
    }

    /// A teacher's answer to `session`: `Some(true)` attending, `Some(false)` not.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn rsvp(&self, session: &str, teacher: i64) -> Result<Option<bool>, StoreError> {
        const SQL: &str = "SELECT answer FROM rsvps WHERE session_id = $1 AND teacher_id = $2";
        on_pool!(self, pool => {
            let answer: Option<String> = sqlx::query_scalar(SQL)
                .bind(session)
                .bind(teacher)
                .fetch_optional(pool)
                .await?;
            Ok(answer.map(|a| a == "yes"))
        })
    }

    /// How many teachers have messages tagged `tag` (an announcement's occasion) queued or
    /// sent.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn tag_reach(&self, tag: &str) -> Result<i64, StoreError> {
        const SQL: &str = "SELECT COUNT(DISTINCT teacher_id) FROM outbox WHERE ticket = $1";
        on_pool!(self, pool => {
            Ok(sqlx::query_scalar(SQL).bind(tag).fetch_one(pool).await?)
        })
    }
}
