//! Audiences in SQL: the teachers of a [`Segment`], counted for a preview or read a page at a
//! time, ordered by id so a sender can go on after the last one it handled. Teachers who said
//! STOP (`notices` = `off`), who cannot be reached or who never finished onboarding (no
//! consent answer) are never in a segment.
//!
//! [`segment_where`] is the one place the conditions are written; queries that insert from a
//! segment (a broadcast's recipients) build on it too.

use super::{Backend, Store, StoreError};
use crate::programme::segment::{Progress, Segment};

/// A teacher a programme message goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The teacher.
    pub teacher_id: i64,
    /// Their channel.
    pub channel: String,
    /// Their id on it (a phone number on WhatsApp: never log it).
    pub channel_user: String,
    /// Their chat language (`en`, `ur`, `bn`).
    pub language: String,
}

/// A segment's `WHERE` conditions on the teachers table aliased `te`, and the text values to
/// bind, in order, to `$first`, `$first + 1`, ….
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentSql {
    /// Conditions joined with `AND` (never empty).
    pub clause: String,
    /// Values for its placeholders.
    pub binds: Vec<String>,
}

/// The conditions of `segment` for a query whose next free placeholder is `$first`.
pub(crate) fn segment_where(segment: &Segment, first: usize) -> SegmentSql {
    let mut binds: Vec<String> = Vec::new();
    let mut param = |value: String| {
        binds.push(value);
        format!("${}", first + binds.len() - 1)
    };
    let mut clauses = vec![
        "te.reachable".to_string(),
        "COALESCE(te.notices, 'on') <> 'off'".to_string(),
        "te.consent IS NOT NULL".to_string(),
    ];
    let mut any = |list: Vec<String>| {
        if !list.is_empty() {
            clauses.push(format!("({})", list.join(" OR ")));
        }
    };
    let folded = |column: &str, values: &[String], param: &mut dyn FnMut(String) -> String| {
        values
            .iter()
            .map(|v| {
                format!(
                    "LOWER(TRIM(COALESCE(te.{column}, ''))) = {}",
                    param(v.trim().to_lowercase())
                )
            })
            .collect::<Vec<_>>()
    };
    any(folded("district", &segment.districts, &mut param));
    any(folded("school", &segment.schools, &mut param));
    any(folded("role", &segment.roles, &mut param));
    any(folded("language", &segment.languages, &mut param));
    any(folded("channel", &segment.channels, &mut param));
    any(segment
        .grades
        .iter()
        .map(|g| {
            format!(
                "(',' || REPLACE(COALESCE(te.grades, ''), ' ', '') || ',') LIKE ('%,' || {} || ',%')",
                param(g.to_string())
            )
        })
        .collect());
    if !segment.subjects.is_empty() {
        let mut list: Vec<String> = segment
            .subjects
            .iter()
            .map(|s| {
                format!(
                    "LOWER(COALESCE(te.subjects, '')) LIKE ('%' || {} || '%')",
                    param(s.trim().to_lowercase())
                )
            })
            .collect();
        list.push("LOWER(COALESCE(te.subjects, '')) = 'all subjects'".to_string());
        any(list);
    }
    for progress in &segment.progress {
        let lessons = "SELECT 1 FROM lesson_progress lp WHERE lp.teacher_id = te.id";
        let clause = match progress {
            Progress::NotStarted => format!("NOT EXISTS ({lessons})"),
            Progress::Started => format!("EXISTS ({lessons})"),
            Progress::Certified => {
                "EXISTS (SELECT 1 FROM certificates c WHERE c.teacher_id = te.id)".to_string()
            }
            Progress::InProgress(m) => format!(
                "EXISTS ({lessons} AND lp.module = {} AND lp.completed_at IS NULL)",
                param(m.clone())
            ),
            Progress::Completed(m) => format!(
                "EXISTS ({lessons} AND lp.module = {} AND lp.completed_at IS NOT NULL)",
                param(m.clone())
            ),
            Progress::NotCompleted(m) => format!(
                "NOT EXISTS ({lessons} AND lp.module = {} AND lp.completed_at IS NOT NULL)",
                param(m.clone())
            ),
        };
        clauses.push(clause);
    }
    SegmentSql {
        clause: clauses.join(" AND "),
        binds,
    }
}

impl Store {
    /// How many teachers `segment` reaches now (the preview before sending).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn segment_count(&self, segment: &Segment) -> Result<i64, StoreError> {
        let sql = segment_where(segment, 1);
        let text = format!("SELECT COUNT(*) FROM teachers te WHERE {}", sql.clause);
        on_pool!(self, pool => {
            let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(text));
            for b in &sql.binds {
                q = q.bind(b);
            }
            Ok(q.fetch_one(pool).await?)
        })
    }

    /// Up to `limit` teachers of `segment` with an id above `after`, by id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn segment_page(
        &self,
        segment: &Segment,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Recipient>, StoreError> {
        let sql = segment_where(segment, 3);
        let text = format!(
            "SELECT te.id, te.channel, te.channel_user, te.language FROM teachers te \
             WHERE te.id > $1 AND {} ORDER BY te.id LIMIT $2",
            sql.clause
        );
        on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, (i64, String, String, String)>(sqlx::AssertSqlSafe(text))
                .bind(after)
                .bind(limit);
            for b in &sql.binds {
                q = q.bind(b);
            }
            let rows = q.fetch_all(pool).await?;
            Ok(rows
                .into_iter()
                .map(|(teacher_id, channel, channel_user, language)| Recipient {
                    teacher_id,
                    channel,
                    channel_user,
                    language,
                })
                .collect())
        })
    }
}
