//! Reading the question log and the tickets for the recurring-issue reports: counts per topic
//! and the tickets of a period, under the staff's filters. Aggregation happens in the pure
//! `insights` module; here only rows are read.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, from_millis, millis};

/// Which questions a report covers; empty strings mean "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// From (inclusive).
    pub since: DateTime<Utc>,
    /// Until (exclusive).
    pub until: DateTime<Utc>,
    /// The teacher's district when asking.
    pub district: String,
    /// A grade the teacher teaches (`3`).
    pub grade: String,
    /// A subject the teacher teaches.
    pub subject: String,
    /// teacher / headteacher / mentor.
    pub role: String,
    /// How the question was written: en, ur, `roman_ur`, bn.
    pub language: String,
    /// telegram, whatsapp, web.
    pub channel: String,
}

/// Questions of one topic in a period, by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicCount {
    /// The topic (`None`: no topic detected).
    pub topic: Option<String>,
    /// Every question.
    pub questions: i64,
    /// Answered from the knowledge base (answered or helped).
    pub answered: i64,
    /// The teacher said the answer helped.
    pub helped: i64,
    /// The answer did not help.
    pub not_helped: i64,
    /// Went to an expert.
    pub escalated: i64,
}

/// A ticket's times, for the helpdesk figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketTimes {
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// First answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Reminded or escalated by the SLA watch.
    pub breached: bool,
    /// The teacher's rating, 1–5.
    pub rating: Option<i64>,
}

/// The `WHERE` clause shared by the report queries: `q` is the question log, `te` the
/// teacher; parameters `$1`–`$8` in [`ReportFilter`]'s order.
const FILTERS: &str = "q.asked_at >= $1 AND q.asked_at < $2 \
    AND ($3 = '' OR q.district = $3) \
    AND ($4 = '' OR (', ' || COALESCE(q.grades, '') || ',') LIKE ('%, ' || $4 || ',%') \
        OR COALESCE(q.grades, '') = $4) \
    AND ($5 = '' OR LOWER(COALESCE(te.subjects, '')) LIKE ('%' || LOWER($5) || '%')) \
    AND ($6 = '' OR te.role = $6) AND ($7 = '' OR q.written = $7) AND ($8 = '' OR te.channel = $8)";

/// Binds a [`ReportFilter`] to `$1`–`$8` of a query built on [`FILTERS`].
macro_rules! filtered {
    ($query:expr, $f:expr) => {{
        let f: &ReportFilter = $f;
        $query
            .bind(millis(f.since))
            .bind(millis(f.until))
            .bind(&f.district)
            .bind(&f.grade)
            .bind(&f.subject)
            .bind(&f.role)
            .bind(&f.language)
            .bind(&f.channel)
    }};
}

impl Store {
    /// Questions per topic in the filter's period, most asked first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn topic_counts(&self, f: &ReportFilter) -> Result<Vec<TopicCount>, StoreError> {
        let sql = format!(
            "SELECT q.topic, COUNT(*), \
             SUM(CASE WHEN q.outcome IN ('answered', 'helped') THEN 1 ELSE 0 END), \
             SUM(CASE WHEN q.outcome = 'helped' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN q.outcome = 'not_helped' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN q.ticket IS NOT NULL THEN 1 ELSE 0 END) \
             FROM questions q JOIN teachers te ON te.id = q.teacher_id \
             WHERE {FILTERS} GROUP BY q.topic ORDER BY COUNT(*) DESC, q.topic"
        );
        type Row = (Option<String>, i64, i64, i64, i64, i64);
        let rows: Vec<Row> = on_pool!(self, pool => filtered!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
            .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(topic, questions, answered, helped, not_helped, escalated)| TopicCount {
                    topic,
                    questions,
                    answered,
                    helped,
                    not_helped,
                    escalated,
                },
            )
            .collect())
    }

    /// The tickets opened by the filter's questions.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn ticket_times(&self, f: &ReportFilter) -> Result<Vec<TicketTimes>, StoreError> {
        let sql = format!(
            "SELECT t.created_at, t.answered_at, t.closed_at, \
             (t.reminded_at IS NOT NULL OR t.escalated_at IS NOT NULL), t.rating \
             FROM questions q JOIN teachers te ON te.id = q.teacher_id \
             JOIN tickets t ON t.code = q.ticket WHERE {FILTERS} ORDER BY t.created_at"
        );
        type Row = (i64, Option<i64>, Option<i64>, bool, Option<i64>);
        let rows: Vec<Row> = on_pool!(self, pool => filtered!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
            .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(created, answered, closed, breached, rating)| TicketTimes {
                    created_at: from_millis(created),
                    answered_at: answered.map(from_millis),
                    closed_at: closed.map(from_millis),
                    breached,
                    rating,
                },
            )
            .collect())
    }
}
