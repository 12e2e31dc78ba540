//! Shared classroom practices and their endorsements: the console's review queue, the
//! practice of the week's picks, and the counts the author is told. Practices are written in
//! a conversation's commit (`store::programme`, with [`INSERT_PRACTICE`] and
//! [`INSERT_ENDORSEMENT`]); reviews and features here, each one statement.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Backend, Recipient, Store, StoreError, from_millis, millis};

/// A practice from the teacher's commit: district, school and channel from the teacher's row.
pub(crate) const INSERT_PRACTICE: &str = "INSERT INTO practices \
     (teacher_id, district, school, grade, subject, what, class, result, photo_file_id, \
      photo_channel, status, created_at) \
     SELECT te.id, te.district, te.school, $2, $3, $4, $5, $6, $7, te.channel, 'pending', $8 \
     FROM teachers te WHERE te.id = $1";

/// An endorsement: once per teacher, of an approved practice, never the author's own.
pub(crate) const INSERT_ENDORSEMENT: &str = "INSERT INTO endorsements (practice_id, teacher_id, at) \
     SELECT p.id, $2, $3 FROM practices p \
     WHERE p.id = $1 AND p.status = 'approved' AND p.teacher_id <> $2 \
     ON CONFLICT (practice_id, teacher_id) DO NOTHING";

const COLUMNS: &str = "p.id, p.teacher_id, COALESCE(te.name, ''), COALESCE(p.district, ''), \
     COALESCE(p.school, ''), p.what, \
     COALESCE(p.class, ''), p.result, p.photo_file_id, p.photo_channel, p.status, p.created_at, \
     p.reviewed_at, p.note, p.featured_week, \
     (SELECT COUNT(*) FROM endorsements e WHERE e.practice_id = p.id)";

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
);

/// A shared practice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Practice {
    /// Its id.
    pub id: i64,
    /// The author.
    pub teacher_id: i64,
    /// The author's name as they gave it.
    pub author: String,
    /// The author's district when they shared it.
    pub district: String,
    /// The author's school.
    pub school: String,
    /// What was tried.
    pub what: String,
    /// The class as shown (`Grade 4 · Maths`).
    pub class: String,
    /// What happened.
    pub result: String,
    /// The photo's file id on `photo_channel`.
    pub photo_file_id: Option<String>,
    /// The author's channel.
    pub photo_channel: Option<String>,
    /// pending, approved, rejected.
    pub status: String,
    /// When it was shared.
    pub created_at: DateTime<Utc>,
    /// When.
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The reviewer's note.
    pub note: Option<String>,
    /// The week it was the practice of the week (`2026-W09`).
    pub featured_week: Option<String>,
    /// Endorsements so far.
    pub endorsements: i64,
}

impl Practice {
    /// The author's first name (what other teachers see).
    #[must_use]
    pub fn first_name(&self) -> String {
        self.author
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

fn practice(row: Row) -> Practice {
    Practice {
        id: row.0,
        teacher_id: row.1,
        author: row.2,
        district: row.3,
        school: row.4,
        what: row.5,
        class: row.6,
        result: row.7,
        photo_file_id: row.8,
        photo_channel: row.9,
        status: row.10,
        created_at: from_millis(row.11),
        reviewed_at: row.12.map(from_millis),
        note: row.13,
        featured_week: row.14,
        endorsements: row.15,
    }
}

/// How the author's practices stand after endorsements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndorsementCount {
    /// The author.
    pub author: i64,
    /// Endorsements of this practice.
    pub practice: i64,
    /// Endorsements of all the author's practices.
    pub total: i64,
}

impl Store {
    /// Practices with `status` (all when `None`), newest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn practices(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Practice>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM practices p JOIN teachers te ON te.id = p.teacher_id \
             WHERE ($1 = '' OR p.status = $1) ORDER BY p.id DESC LIMIT $2"
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(status.unwrap_or_default()).bind(limit)
            .fetch_all(pool).await?);
        Ok(rows.into_iter().map(practice).collect())
    }

    /// One practice.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn practice(&self, id: i64) -> Result<Option<Practice>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM practices p JOIN teachers te ON te.id = p.teacher_id \
             WHERE p.id = $1"
        );
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id).fetch_optional(pool).await?);
        Ok(row.map(practice))
    }

    /// Approves or rejects a pending practice; `false` when it was not pending (reviewed
    /// already, or no such practice).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn review_practice(
        &self,
        id: i64,
        approved: bool,
        by: i64,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE practices SET status = $2, reviewed_by = $3, reviewed_at = $4, \
             note = $5 WHERE id = $1 AND status = 'pending'";
        let status = if approved { "approved" } else { "rejected" };
        let _turn = self.write_turn().await;
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(id).bind(status).bind(by).bind(millis(now)).bind(note)
            .execute(pool).await?.rows_affected());
        Ok(done == 1)
    }

    /// The practice of the week of every district that has one for `week`: the practice
    /// already featured that week, else the approved practice never featured with the most
    /// endorsements, then the newest. Districts compared without case and spaces around.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn week_picks(&self, week: &str) -> Result<Vec<Practice>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM practices p JOIN teachers te ON te.id = p.teacher_id \
             WHERE p.status = 'approved' AND TRIM(COALESCE(p.district, '')) <> '' \
             AND (p.featured_week IS NULL OR p.featured_week = $1) ORDER BY p.id"
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(week).fetch_all(pool).await?);
        let mut picks: BTreeMap<String, Practice> = BTreeMap::new();
        for p in rows.into_iter().map(practice) {
            let district = p.district.trim().to_lowercase();
            let better = match picks.get(&district) {
                None => true,
                Some(best) if best.featured_week.is_some() => false,
                Some(_) if p.featured_week.is_some() => true,
                // Rows come oldest first: a tie goes to the newer.
                Some(best) => p.endorsements >= best.endorsements,
            };
            if better {
                picks.insert(district, p);
            }
        }
        Ok(picks.into_values().collect())
    }

    /// Marks a practice as `week`'s practice of the week (a practice featured in another week
    /// is left alone); `false` when it was.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn feature_practice(
        &self,
        id: i64,
        week: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const SQL: &str = "UPDATE practices SET featured_week = $2, featured_at = $3 \
             WHERE id = $1 AND (featured_week IS NULL OR featured_week = $2)";
        let _turn = self.write_turn().await;
        let done = on_pool!(self, pool => sqlx::query(SQL)
            .bind(id).bind(week).bind(millis(now))
            .execute(pool).await?.rows_affected());
        Ok(done == 1)
    }

    /// Endorsements of a practice and of all its author's practices.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn endorsement_count(
        &self,
        practice: i64,
    ) -> Result<Option<EndorsementCount>, StoreError> {
        const SQL: &str = "SELECT p.teacher_id, \
             (SELECT COUNT(*) FROM endorsements e WHERE e.practice_id = p.id), \
             (SELECT COUNT(*) FROM endorsements e JOIN practices q ON q.id = e.practice_id \
              WHERE q.teacher_id = p.teacher_id) \
             FROM practices p WHERE p.id = $1";
        let row: Option<(i64, i64, i64)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(practice).fetch_optional(pool).await?);
        Ok(row.map(|(author, practice, total)| EndorsementCount {
            author,
            practice,
            total,
        }))
    }

    /// Where to reach one teacher (whatever their notices setting: the message decides).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn teacher_recipient(&self, teacher: i64) -> Result<Option<Recipient>, StoreError> {
        const SQL: &str = "SELECT id, channel, channel_user, language FROM teachers WHERE id = $1";
        let row: Option<(i64, String, String, String)> = on_pool!(self, pool =>
            sqlx::query_as(SQL).bind(teacher).fetch_optional(pool).await?);
        Ok(
            row.map(|(teacher_id, channel, channel_user, language)| Recipient {
                teacher_id,
                channel,
                channel_user,
                language,
            }),
        )
    }
}
