//! A school's (or a mentor's district's) participation, counted for the headteacher or
//! mentor who asked: teachers who finished onboarding there, those active lately, lessons
//! started and completed, certificates, questions, practices shared. Counts only: nothing
//! here returns a name, a message or anyone's score.
//!
//! Schools and districts are typed by teachers, so they are compared trimmed and
//! case-insensitively ("GGPS Chak 12 " is "ggps chak 12"); a school counts only within its
//! district.

use chrono::{DateTime, Duration, Utc};

use super::{Backend, Recipient, Store, StoreError, millis};
use crate::programme::school::{ACTIVE_DAYS, SchoolSummary, Scope};

/// A teacher who asked for a summary: where to send it and what their profile says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SummaryAsker {
    /// Where the summary goes.
    pub recipient: Recipient,
    /// Their role (`teacher`, `headteacher`, `mentor`).
    pub role: Option<String>,
    /// Their district.
    pub district: Option<String>,
    /// Their school.
    pub school: Option<String>,
}

impl Store {
    /// The teacher `teacher_id`, to answer their request; `None` when there is no such teacher.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn summary_asker(&self, teacher_id: i64) -> Result<Option<SummaryAsker>, StoreError> {
        const SQL: &str = "SELECT channel, channel_user, language, role, district, school \
                           FROM teachers WHERE id = $1";
        type Row = (
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(SQL).bind(teacher_id).fetch_optional(pool).await?);
        Ok(row.map(
            |(channel, channel_user, language, role, district, school)| SummaryAsker {
                recipient: Recipient {
                    teacher_id,
                    channel,
                    channel_user,
                    language,
                },
                role,
                district,
                school,
            },
        ))
    }

    /// The participation figures of `scope` at `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn school_summary(
        &self,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> Result<SchoolSummary, StoreError> {
        let (district, school) = match scope {
            Scope::School { school, district } => (district, Some(school)),
            Scope::District { district } => (district, None),
        };
        let fold = |s: &str| s.trim().to_lowercase();
        // $1: the start of "active", $2: the district, $3: the school (school scope only).
        let mut teachers = "SELECT te.id FROM teachers te WHERE te.consent IS NOT NULL \
                            AND LOWER(TRIM(COALESCE(te.district, ''))) = $2"
            .to_string();
        if school.is_some() {
            teachers.push_str(" AND LOWER(TRIM(COALESCE(te.school, ''))) = $3");
        }
        let counts = format!(
            "SELECT \
             (SELECT COUNT(*) FROM ({teachers}) t), \
             (SELECT COUNT(DISTINCT tr.teacher_id) FROM transcript tr \
              WHERE tr.teacher_id IN ({teachers}) AND tr.direction = 'in' AND tr.at >= $1), \
             (SELECT COUNT(*) FROM lesson_progress lp WHERE lp.teacher_id IN ({teachers})), \
             (SELECT COUNT(*) FROM lesson_progress lp WHERE lp.teacher_id IN ({teachers}) \
              AND lp.completed_at IS NOT NULL), \
             (SELECT COUNT(*) FROM certificates c WHERE c.teacher_id IN ({teachers})), \
             (SELECT COUNT(*) FROM questions q WHERE q.teacher_id IN ({teachers}))"
        );
        let practices = format!(
            "SELECT COUNT(*) FROM practices p WHERE p.teacher_id IN ({teachers}) AND $1 = $1"
        );
        let since = millis(now - Duration::days(ACTIVE_DAYS));
        let (district, school) = (fold(district), school.map(|s| fold(s)));
        let row: (i64, i64, i64, i64, i64, i64) = on_pool!(self, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(counts)).bind(since).bind(&district);
            if let Some(school) = &school {
                q = q.bind(school);
            }
            q.fetch_one(pool).await?
        });
        // Practices are kept by practice sharing (migration 0015); a build without the table
        // says nothing about them rather than failing the whole summary.
        let practices: Option<i64> = on_pool!(self, pool => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(practices)).bind(since).bind(&district);
            if let Some(school) = &school {
                q = q.bind(school);
            }
            q.fetch_one(pool).await.ok()
        });
        let (teachers, active, lessons_started, lessons_completed, certificates, questions) = row;
        Ok(SchoolSummary {
            scope: scope.clone(),
            teachers,
            active,
            lessons_started,
            lessons_completed,
            certificates,
            questions,
            practices,
        })
    }
}
