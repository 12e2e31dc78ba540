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

/// One logged question, as the clusters need it.
#[derive(Clone, Debug, PartialEq)]
pub struct AskedQuestion {
    /// The row id.
    pub id: i64,
    /// Who asked.
    pub teacher_id: i64,
    /// When.
    pub asked_at: DateTime<Utc>,
    /// The words.
    pub body: String,
    /// en, ur, `roman_ur`, bn.
    pub written: String,
    /// The detected topic.
    pub topic: Option<String>,
    /// answered, helped, `not_helped`, escalated, `out_of_scope`, unclear.
    pub outcome: String,
    /// The ticket it opened.
    pub ticket: Option<String>,
    /// The ticket's rating, 1–5.
    pub rating: Option<i64>,
    /// The signature logged with it (JSON), `None` for questions older than signatures.
    pub signature: Option<String>,
}

/// Answers to one quiz item in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuizItemCount {
    /// The module.
    pub module: String,
    /// The quiz question's id in the module.
    pub question: String,
    /// Answers given.
    pub answers: i64,
    /// Wrong ones.
    pub wrong: i64,
    /// Teachers who answered it.
    pub teachers: i64,
}

/// Lessons of one module started in a period, and where unfinished ones stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonCount {
    /// The module.
    pub module: String,
    /// Its number of parts.
    pub parts: i64,
    /// Started in the period.
    pub started: i64,
    /// Of those, completed.
    pub completed: i64,
    /// Of those, not completed and untouched since the cut-off.
    pub abandoned: i64,
    /// The furthest part (1-based) most abandoned ones reached, and how many stopped there.
    pub stopped_at: Option<(i64, i64)>,
}

/// The teacher-side filters of a report over a table `x` with a time column: `te` is the
/// teacher; parameters `$1`–`$8` in [`ReportFilter`]'s order (`language`: the teacher's).
fn teacher_filters(time: &str) -> String {
    format!(
        "{time} >= $1 AND {time} < $2 \
         AND ($3 = '' OR te.district = $3) \
         AND ($4 = '' OR (', ' || COALESCE(te.grades, '') || ',') LIKE ('%, ' || $4 || ',%') \
             OR COALESCE(te.grades, '') = $4) \
         AND ($5 = '' OR LOWER(COALESCE(te.subjects, '')) LIKE ('%' || LOWER($5) || '%')) \
         AND ($6 = '' OR te.role = $6) \
         AND ($7 = '' OR te.language = $7 OR ($7 = 'roman_ur' AND te.language = 'ur')) \
         AND ($8 = '' OR te.channel = $8)"
    )
}

impl Store {
    /// The filter's questions with their signatures, oldest first, at most `limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn logged_questions(
        &self,
        f: &ReportFilter,
        limit: i64,
    ) -> Result<Vec<AskedQuestion>, StoreError> {
        let sql = format!(
            "SELECT q.id, q.teacher_id, q.asked_at, q.body, q.written, q.topic, q.outcome, q.ticket, \
             t.rating, q.signature \
             FROM questions q JOIN teachers te ON te.id = q.teacher_id \
             LEFT JOIN tickets t ON t.code = q.ticket \
             WHERE {FILTERS} ORDER BY q.id LIMIT $9"
        );
        type Row = (
            i64,
            i64,
            i64,
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = on_pool!(self, pool => filtered!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
            .bind(limit).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    teacher_id,
                    asked,
                    body,
                    written,
                    topic,
                    outcome,
                    ticket,
                    rating,
                    signature,
                )| {
                    AskedQuestion {
                        id,
                        teacher_id,
                        asked_at: from_millis(asked),
                        body,
                        written,
                        topic,
                        outcome,
                        ticket,
                        rating,
                        signature,
                    }
                },
            )
            .collect())
    }

    /// Stores signatures computed later for questions logged without one: `(id, json)`, in
    /// transactions of a few hundred, so writers wait at most one of them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn set_signatures(&self, signed: &[(i64, String)]) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE questions SET signature = $1 WHERE id = $2";
        for chunk in signed.chunks(500) {
            let _turn = self.write_turn().await;
            match &self.backend {
                Backend::Sqlite(pool) => {
                    let mut tx = pool.begin().await?;
                    for (id, json) in chunk {
                        sqlx::query(SQL)
                            .bind(json)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                }
                Backend::Postgres(pool) => {
                    let mut tx = pool.begin().await?;
                    for (id, json) in chunk {
                        sqlx::query(SQL)
                            .bind(json)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                }
            }
        }
        Ok(())
    }

    /// Quiz items answered in the filter's period, most often wrong first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn quiz_item_counts(
        &self,
        f: &ReportFilter,
    ) -> Result<Vec<QuizItemCount>, StoreError> {
        let sql = format!(
            "SELECT a.module, a.question, COUNT(*), \
             SUM(CASE WHEN a.correct THEN 0 ELSE 1 END), COUNT(DISTINCT a.teacher_id) \
             FROM quiz_answers a JOIN teachers te ON te.id = a.teacher_id \
             WHERE {} GROUP BY a.module, a.question \
             ORDER BY SUM(CASE WHEN a.correct THEN 0 ELSE 1 END) DESC, a.module, a.question",
            teacher_filters("a.at")
        );
        let rows: Vec<(String, String, i64, i64, i64)> = on_pool!(self, pool =>
            filtered!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(module, question, answers, wrong, teachers)| QuizItemCount {
                    module,
                    question,
                    answers,
                    wrong,
                    teachers,
                },
            )
            .collect())
    }

    /// Lessons started in the filter's period, by module: completed, and abandoned (not
    /// completed and untouched since `stalled_before`), with where the abandoned ones stopped.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn lesson_counts(
        &self,
        f: &ReportFilter,
        stalled_before: DateTime<Utc>,
    ) -> Result<Vec<LessonCount>, StoreError> {
        let sql = format!(
            "SELECT p.module, MAX(p.parts), p.part, COUNT(*), \
             SUM(CASE WHEN p.completed_at IS NOT NULL THEN 1 ELSE 0 END), \
             SUM(CASE WHEN p.completed_at IS NULL AND p.updated_at < $9 THEN 1 ELSE 0 END) \
             FROM lesson_progress p JOIN teachers te ON te.id = p.teacher_id \
             WHERE {} GROUP BY p.module, p.part ORDER BY p.module, p.part",
            teacher_filters("p.started_at")
        );
        let rows: Vec<(String, i64, i64, i64, i64, i64)> = on_pool!(self, pool =>
            filtered!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
                .bind(millis(stalled_before)).fetch_all(pool).await?);
        let mut counts: Vec<LessonCount> = Vec::new();
        for (module, parts, part, started, completed, abandoned) in rows {
            if counts.last().is_none_or(|c| c.module != module) {
                counts.push(LessonCount {
                    module: module.clone(),
                    parts,
                    started: 0,
                    completed: 0,
                    abandoned: 0,
                    stopped_at: None,
                });
            }
            let Some(count) = counts.last_mut() else {
                continue;
            };
            count.parts = count.parts.max(parts);
            count.started += started;
            count.completed += completed;
            count.abandoned += abandoned;
            if abandoned > 0 && count.stopped_at.is_none_or(|(_, n)| abandoned > n) {
                count.stopped_at = Some((part, abandoned));
            }
        }
        counts.sort_by(|a, b| b.abandoned.cmp(&a.abandoned).then(a.module.cmp(&b.module)));
        Ok(counts)
    }
}

/// A ticket as the tickets export lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketLine {
    /// `HD-…`.
    pub code: String,
    /// Opened.
    pub created_at: DateTime<Utc>,
    /// open, claimed, answered, closed.
    pub status: String,
    /// Its topic.
    pub topic: Option<String>,
    /// Its language.
    pub language: String,
    /// The teacher's district when asking.
    pub district: Option<String>,
    /// The teacher's channel.
    pub channel: String,
    /// The expert who has it.
    pub expert: Option<String>,
    /// First answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Reminded or escalated by the SLA watch.
    pub breached: bool,
    /// The teacher's rating, 1–5.
    pub rating: Option<i64>,
    /// The teacher's question.
    pub body: String,
}

impl Store {
    /// The tickets opened by the filter's questions, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn ticket_lines(&self, f: &ReportFilter) -> Result<Vec<TicketLine>, StoreError> {
        let sql = format!(
            "SELECT t.code, t.created_at, t.status, t.topic, t.language, q.district, te.channel, \
             t.expert, t.answered_at, t.closed_at, \
             (t.reminded_at IS NOT NULL OR t.escalated_at IS NOT NULL), t.rating, t.body \
             FROM questions q JOIN teachers te ON te.id = q.teacher_id \
             JOIN tickets t ON t.code = q.ticket WHERE {FILTERS} ORDER BY t.created_at, t.code"
        );
        type Row = (
            String,
            i64,
            String,
            Option<String>,
            String,
            Option<String>,
            String,
            Option<String>,
            Option<i64>,
            Option<i64>,
            bool,
            Option<i64>,
            String,
        );
        let rows: Vec<Row> = on_pool!(self, pool => filtered!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f)
            .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|r| TicketLine {
                code: r.0,
                created_at: from_millis(r.1),
                status: r.2,
                topic: r.3,
                language: r.4,
                district: r.5,
                channel: r.6,
                expert: r.7,
                answered_at: r.8.map(from_millis),
                closed_at: r.9.map(from_millis),
                breached: r.10,
                rating: r.11,
                body: r.12,
            })
            .collect())
    }
}
