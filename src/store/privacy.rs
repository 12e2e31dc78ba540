//! What Baithak keeps about a teacher, as they may ask for it (`/mydata`), forgets (`/forget`)
//! and lets go of with time (the transcript's retention), and the console's audit log.
//!
//! - [`Store::my_data`]: the profile, the channel, since when, and counts (the `mydata` job).
//! - [`forget!`]: a teacher's erasure, one arm of `store::programme::write_effect!`, so it is
//!   written in the same transaction as the step that confirmed it. The teacher's row is
//!   anonymised in place (name, school, consent, profile and state cleared; `channel_user`
//!   replaced by `forgotten:{id}`, `forgotten_at` set); the transcript, reflections, inbox
//!   rows, aliases and kept media are deleted; the words of their questions, tickets, the
//!   teacher's own ticket messages and practices are replaced by
//!   [`crate::helpdesk::privacy::REMOVED`]; sent outbox rows lose their address and words.
//!   What reports count stays: the question log's topic, district, grades, outcome and times,
//!   tickets' status and times, lesson progress, quiz attempts and answers, certificates'
//!   codes (without the name), and the row's coarse columns (district, grades, subjects, role,
//!   language, channel). A fresh row for the same chat is created in the same transaction,
//!   so the confirmation can still be sent (WhatsApp's window is read from it) and the next
//!   message starts a new teacher's onboarding.
//! - [`Store::purge_transcript`], [`Store::tidy_forgotten`]: the nightly housekeeping.
//! - [`Store::audit`], [`Store::audit_entries`]: the console's audit log.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, from_millis, millis};
use crate::helpdesk::privacy::MyData;

/// The prefix of a forgotten teacher's `channel_user`.
pub const FORGOTTEN_PREFIX: &str = "forgotten:";

/// Erases teacher `c.teacher_id` inside the open transaction `$tx` (see the module's doc);
/// `$state` and `$profile` are the JSON of the fresh conversation for the same chat.
macro_rules! forget {
    ($tx:ident, $c:expr, $state:expr, $profile:expr) => {{
        let c: &$crate::store::Commit = $c;
        let removed = $crate::helpdesk::privacy::REMOVED;
        let now = $crate::store::millis(c.now);
        let found: Option<(String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT channel, channel_user, language, last_inbound_at FROM teachers WHERE id = $1",
        )
        .bind(c.teacher_id)
        .fetch_optional(&mut *$tx)
        .await?;
        if let Some((channel, user, language, inbound)) = found
            && !user.starts_with($crate::store::privacy::FORGOTTEN_PREFIX)
        {
            let token = format!("{}{}", $crate::store::privacy::FORGOTTEN_PREFIX, c.teacher_id);
            let id = c.teacher_id;
            sqlx::query(
                "DELETE FROM media WHERE channel = $1 AND file_id IN (SELECT tm.file_id \
                 FROM ticket_messages tm JOIN tickets t ON t.code = tm.ticket \
                 WHERE t.teacher_id = $2 AND tm.file_id IS NOT NULL)",
            )
            .bind(&channel).bind(id).execute(&mut *$tx).await?;
            sqlx::query(
                "DELETE FROM media WHERE EXISTS (SELECT 1 FROM practices p WHERE p.teacher_id = $1 \
                 AND p.photo_file_id = media.file_id AND p.photo_channel = media.channel)",
            )
            .bind(id).execute(&mut *$tx).await?;
            sqlx::query(
                "UPDATE ticket_messages SET body = $1, file_id = NULL WHERE author = 'teacher' \
                 AND ticket IN (SELECT code FROM tickets WHERE teacher_id = $2)",
            )
            .bind(removed).bind(id).execute(&mut *$tx).await?;
            sqlx::query(
                "UPDATE tickets SET body = $1, \
                 comment = CASE WHEN comment IS NULL THEN NULL ELSE $1 END WHERE teacher_id = $2",
            )
            .bind(removed).bind(id).execute(&mut *$tx).await?;
            sqlx::query("UPDATE questions SET body = $1 WHERE teacher_id = $2")
                .bind(removed).bind(id).execute(&mut *$tx).await?;
            sqlx::query(
                "UPDATE practices SET what = $1, result = $1, class = NULL, school = NULL, \
                 photo_file_id = NULL, photo_channel = NULL, status = 'withdrawn' WHERE teacher_id = $2",
            )
            .bind(removed).bind(id).execute(&mut *$tx).await?;
            sqlx::query("DELETE FROM transcript WHERE teacher_id = $1")
                .bind(id).execute(&mut *$tx).await?;
            sqlx::query("DELETE FROM reflections WHERE teacher_id = $1")
                .bind(id).execute(&mut *$tx).await?;
            sqlx::query("UPDATE certificates SET teacher_name = NULL WHERE teacher_id = $1")
                .bind(id).execute(&mut *$tx).await?;
            sqlx::query("DELETE FROM channel_aliases WHERE channel = $1 AND channel_user = $2")
                .bind(&channel).bind(&user).execute(&mut *$tx).await?;
            sqlx::query(
                "DELETE FROM inbox WHERE channel = $1 AND channel_user = $2 AND status <> 'pending'",
            )
            .bind(&channel).bind(&user).execute(&mut *$tx).await?;
            sqlx::query(
                "UPDATE outbox SET channel_user = $1, payload = '{}' \
                 WHERE teacher_id = $2 AND status <> 'pending'",
            )
            .bind(&token).bind(id).execute(&mut *$tx).await?;
            sqlx::query(
                "UPDATE teachers SET channel_user = $1, name = NULL, school = NULL, consent = NULL, \
                 profile = '{}', state = '{}', notices = 'off', reachable = FALSE, \
                 last_inbound_at = NULL, reengaged_at = NULL, forgotten_at = $2, updated_at = $2 \
                 WHERE id = $3",
            )
            .bind(&token).bind(now).bind(id).execute(&mut *$tx).await?;
            sqlx::query(
                "INSERT INTO teachers (channel, channel_user, language, state, profile, created_at, \
                 updated_at, last_inbound_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) \
                 ON CONFLICT (channel, channel_user) DO NOTHING",
            )
            .bind(&channel).bind(&user).bind(&language).bind($state).bind($profile)
            .bind(now).bind(inbound).execute(&mut *$tx).await?;
            tracing::info!(teacher.id = id, "teacher forgotten at their request");
        }
    }};
}
pub(crate) use forget;

/// One entry of the console's audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// The staff account's name.
    pub staff: String,
    /// What they did (`ticket.view`, `export.csv`, …).
    pub action: String,
    /// On what (a ticket code, a teacher id, an account id), or empty.
    pub target: String,
    /// A short detail without personal data.
    pub detail: String,
}

/// Which audit entries to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// One account's name (empty: everyone).
    pub staff: String,
    /// One action (empty: every action).
    pub action: String,
}

/// Counts and profile columns read for [`Store::my_data`].
type ProfileRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
);

impl Store {
    /// What Baithak keeps about teacher `teacher` (a forgotten teacher's row reads as
    /// `NotFound`); `request` is left empty for the caller.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`], [`StoreError::Database`].
    pub async fn my_data(&self, teacher: i64) -> Result<MyData, StoreError> {
        const PROFILE: &str = "SELECT name, role, district, school, grades, subjects, language, \
             consent, notices, channel, created_at FROM teachers \
             WHERE id = $1 AND forgotten_at IS NULL";
        const COUNTS: &str = "SELECT \
             (SELECT COUNT(*) FROM transcript WHERE teacher_id = $1), \
             (SELECT COUNT(*) FROM questions WHERE teacher_id = $1), \
             (SELECT COUNT(*) FROM lesson_progress WHERE teacher_id = $1), \
             (SELECT COUNT(*) FROM lesson_progress WHERE teacher_id = $1 AND completed_at IS NOT NULL), \
             (SELECT COUNT(*) FROM quiz_attempts WHERE teacher_id = $1), \
             (SELECT COUNT(*) FROM reflections WHERE teacher_id = $1), \
             (SELECT COUNT(*) FROM practices WHERE teacher_id = $1)";
        const TICKETS: &str =
            "SELECT code, status FROM tickets WHERE teacher_id = $1 ORDER BY created_at, code";
        const CERTIFICATES: &str =
            "SELECT code, module FROM certificates WHERE teacher_id = $1 ORDER BY issued_at, code";
        type Counts = (i64, i64, i64, i64, i64, i64, i64);
        let (profile, counts, tickets, certificates) = on_pool!(self, pool => {
            let profile: Option<ProfileRow> =
                sqlx::query_as(PROFILE).bind(teacher).fetch_optional(pool).await?;
            let counts: Counts = sqlx::query_as(COUNTS).bind(teacher).fetch_one(pool).await?;
            let tickets: Vec<(String, String)> =
                sqlx::query_as(TICKETS).bind(teacher).fetch_all(pool).await?;
            let certificates: Vec<(String, String)> =
                sqlx::query_as(CERTIFICATES).bind(teacher).fetch_all(pool).await?;
            (profile, counts, tickets, certificates)
        });
        let (
            name,
            role,
            district,
            school,
            grades,
            subjects,
            language,
            consent,
            notices,
            channel,
            since,
        ) = profile.ok_or(StoreError::NotFound)?;
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        Ok(MyData {
            request: String::new(),
            name,
            role,
            district,
            school,
            grades,
            subjects,
            language,
            consent,
            notices_on: notices.as_deref() != Some("off"),
            channel,
            since: from_millis(since),
            messages: count(counts.0),
            questions: count(counts.1),
            tickets,
            lessons_started: count(counts.2),
            lessons_completed: count(counts.3),
            quiz_attempts: count(counts.4),
            reflections: count(counts.5),
            practices: count(counts.6),
            certificates,
        })
    }

    /// Deletes transcript lines written before `before` (the retention period); how many.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn purge_transcript(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        const SQL: &str = "DELETE FROM transcript WHERE at < $1";
        let _turn = self.write_turn().await;
        Ok(on_pool!(self, pool => sqlx::query(SQL).bind(millis(before))
            .execute(pool).await?.rows_affected()))
    }

    /// Forgotten teachers' outbox rows still carrying their chat's address (the confirmation
    /// of `/forget`, and rows pending then) lose it and their words once sent, or once older
    /// than `stale_before` (a web chat never read again); how many.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn tidy_forgotten(&self, stale_before: DateTime<Utc>) -> Result<u64, StoreError> {
        const SQL: &str = "UPDATE outbox SET channel_user = $1 || CAST(teacher_id AS TEXT), \
             payload = '{}' WHERE (status <> 'pending' OR created_at < $2) \
             AND channel_user NOT LIKE 'forgotten:%' \
             AND teacher_id IN (SELECT id FROM teachers WHERE forgotten_at IS NOT NULL)";
        let _turn = self.write_turn().await;
        Ok(
            on_pool!(self, pool => sqlx::query(SQL).bind(FORGOTTEN_PREFIX)
            .bind(millis(stale_before)).execute(pool).await?.rows_affected()),
        )
    }

    /// Records what a staff account did in the console.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn audit(
        &self,
        staff: (i64, &str),
        action: &str,
        target: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO audit_log (at, staff_id, staff, action, target, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(SQL).bind(millis(now)).bind(staff.0).bind(staff.1)
            .bind(action).bind(target).bind(detail).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// The latest audit entries matching `filter`, newest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn audit_entries(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        const SQL: &str = "SELECT at, staff, action, target, detail FROM audit_log \
             WHERE ($1 = '' OR staff = $1) AND ($2 = '' OR action = $2) \
             ORDER BY id DESC LIMIT $3";
        let rows: Vec<(i64, String, String, String, String)> = on_pool!(self, pool =>
            sqlx::query_as(SQL).bind(&filter.staff).bind(&filter.action).bind(limit)
                .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(at, staff, action, target, detail)| AuditEntry {
                at: from_millis(at),
                staff,
                action,
                target,
                detail,
            })
            .collect())
    }

    /// The staff names and actions the audit log holds, for its filters.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn audit_choices(&self) -> Result<(Vec<String>, Vec<String>), StoreError> {
        const STAFF: &str = "SELECT DISTINCT staff FROM audit_log ORDER BY staff";
        const ACTIONS: &str = "SELECT DISTINCT action FROM audit_log ORDER BY action";
        Ok(on_pool!(self, pool => {
            let staff: Vec<(String,)> = sqlx::query_as(STAFF).fetch_all(pool).await?;
            let actions: Vec<(String,)> = sqlx::query_as(ACTIONS).fetch_all(pool).await?;
            (staff.into_iter().map(|r| r.0).collect(), actions.into_iter().map(|r| r.0).collect())
        }))
    }
}
