//! The shapes that cross the store boundary, and the one transaction that writes a step.

use chrono::{DateTime, Utc};

use super::from_millis;

/// An inbound event to store.
#[derive(Clone, Copy, Debug)]
pub struct NewInbound<'a> {
    /// `telegram`, `whatsapp`, `web`, `terminal`.
    pub channel: &'a str,
    /// The platform's id of the event (update id, message id, client id).
    pub external_id: &'a str,
    /// Who sent it, as the channel names them.
    pub channel_user: &'a str,
    /// The channel-neutral message, as JSON.
    pub payload: &'a str,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// A stored inbound event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxEvent {
    /// Its id, increasing in arrival order.
    pub id: i64,
    /// The channel.
    pub channel: String,
    /// The platform's id.
    pub external_id: String,
    /// The sender.
    pub channel_user: String,
    /// The message JSON.
    pub payload: String,
    /// Arrival time.
    pub received_at: DateTime<Utc>,
}

impl InboxEvent {
    pub(super) fn from_row(row: (i64, String, String, String, String, i64)) -> InboxEvent {
        let (id, channel, external_id, channel_user, payload, received_at) = row;
        InboxEvent {
            id,
            channel,
            external_id,
            channel_user,
            payload,
            received_at: from_millis(received_at),
        }
    }
}

/// A conversation as loaded: who, the state JSON, and the version to commit against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    /// The teacher's id.
    pub teacher_id: i64,
    /// The engine state, JSON.
    pub state: String,
    /// Optimistic-concurrency version.
    pub version: i64,
}

/// Everything one processed event writes.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// The teacher.
    pub teacher_id: i64,
    /// The version that was loaded.
    pub version: i64,
    /// The new state JSON.
    pub state: String,
    /// The whole profile as JSON, plus the fields that changed.
    pub profile_json: String,
    /// Changed profile fields.
    pub profile: Vec<(String, String)>,
    /// The teacher's language code.
    pub language: String,
    /// The inbox event this step consumed.
    pub inbox_id: Option<i64>,
    /// When.
    pub now: DateTime<Utc>,
    /// Transcript entries, in order.
    pub transcript: Vec<TranscriptEntry>,
    /// Lesson progress.
    pub lessons: Vec<LessonRecord>,
    /// Reflections `(module, text)`.
    pub reflections: Vec<(String, String)>,
    /// Quiz answers.
    pub answers: Vec<QuizAnswerRecord>,
    /// Finished attempts.
    pub attempts: Vec<Attempt>,
    /// Certificates `(module, code, teacher name)`.
    pub certificates: Vec<(String, String, Option<String>)>,
    /// Messages to send.
    pub outbox: Vec<OutboundRecord>,
}

/// One transcript line.
#[derive(Clone, Debug)]
pub struct TranscriptEntry {
    /// `in` or `out`.
    pub direction: &'static str,
    /// The node the conversation was at.
    pub node: Option<String>,
    /// The text (or the reply JSON).
    pub body: String,
}

/// Lesson progress to record.
#[derive(Clone, Debug)]
pub struct LessonRecord {
    /// Module id.
    pub module: String,
    /// Part reached, 1-based.
    pub part: i64,
    /// Parts in the lesson.
    pub parts: i64,
    /// Whether the lesson is finished.
    pub done: bool,
}

/// A quiz answer to record.
#[derive(Clone, Debug)]
pub struct QuizAnswerRecord {
    /// Module id.
    pub module: String,
    /// Question node id.
    pub question: String,
    /// 1-based option chosen.
    pub chosen: i64,
    /// Right or wrong.
    pub correct: bool,
}

/// A finished quiz attempt.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// Module id.
    pub module: String,
    /// Points scored.
    pub score: i64,
    /// Points possible.
    pub max: i64,
    /// Passed the module's mark.
    pub passed: bool,
}

/// A message to put in the outbox.
#[derive(Clone, Debug)]
pub struct OutboundRecord {
    /// The channel.
    pub channel: String,
    /// The recipient.
    pub channel_user: String,
    /// The reply JSON.
    pub payload: String,
}

/// An outbox row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Its id, increasing.
    pub id: i64,
    /// The teacher.
    pub teacher_id: i64,
    /// The channel.
    pub channel: String,
    /// The recipient.
    pub channel_user: String,
    /// The reply JSON.
    pub payload: String,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// `pending`, `sent`, `failed`.
    pub status: String,
}

impl OutboxMessage {
    pub(super) fn from_row(row: (i64, i64, String, String, String, i64, String)) -> OutboxMessage {
        let (id, teacher_id, channel, channel_user, payload, created_at, status) = row;
        OutboxMessage {
            id,
            teacher_id,
            channel,
            channel_user,
            payload,
            created_at: from_millis(created_at),
            status,
        }
    }
}

/// `{prefix}($1, …, $n), ($n+1, …), …` for `rows` rows of `columns` placeholders. Only
/// placeholders are generated; values are always bound.
#[must_use]
pub fn multi_row_insert(prefix: &str, columns: usize, rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(prefix.len() + rows * columns * 5);
    sql.push_str(prefix);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..columns {
            let sep = if col == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}${}", row * columns + col + 1);
        }
        sql.push(')');
    }
    sql
}

/// Writes a [`Commit`] inside an open transaction `$tx` (of either backend); returns
/// `Err(StoreError::Conflict)` from the enclosing function when the version moved.
macro_rules! write_commit {
    ($tx:ident, $c:expr) => {{
        let c: &$crate::store::Commit = $c;
        let now = $crate::store::millis(c.now);
        let updated = sqlx::query(
            "UPDATE teachers SET state = $1, version = version + 1, language = $2, profile = $3, updated_at = $4 \
             WHERE id = $5 AND version = $6",
        )
        .bind(&c.state)
        .bind(&c.language)
        .bind(&c.profile_json)
        .bind(now)
        .bind(c.teacher_id)
        .bind(c.version)
        .execute(&mut *$tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err($crate::store::StoreError::Conflict);
        }
        for (field, value) in &c.profile {
            let sql = match field.as_str() {
                "name" => "UPDATE teachers SET name = $1 WHERE id = $2",
                "role" => "UPDATE teachers SET role = $1 WHERE id = $2",
                "district" => "UPDATE teachers SET district = $1 WHERE id = $2",
                "school" => "UPDATE teachers SET school = $1 WHERE id = $2",
                "grades" => "UPDATE teachers SET grades = $1 WHERE id = $2",
                "subjects" => "UPDATE teachers SET subjects = $1 WHERE id = $2",
                "consent" => "UPDATE teachers SET consent = $1 WHERE id = $2",
                _ => continue,
            };
            sqlx::query(sql).bind(value).bind(c.teacher_id).execute(&mut *$tx).await?;
        }
        if let Some(inbox_id) = c.inbox_id {
            sqlx::query("UPDATE inbox SET status = 'done', processed_at = $1 WHERE id = $2")
                .bind(now)
                .bind(inbox_id)
                .execute(&mut *$tx)
                .await?;
        }
        if !c.transcript.is_empty() {
            // One statement for all lines: each statement is a round trip, and a step
            // typically writes three to five lines.
            let sql = $crate::store::records::multi_row_insert(
                "INSERT INTO transcript (teacher_id, at, direction, node, body) VALUES ",
                5,
                c.transcript.len(),
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for t in &c.transcript {
                query = query.bind(c.teacher_id).bind(now).bind(t.direction).bind(&t.node).bind(&t.body);
            }
            query.execute(&mut *$tx).await?;
        }
        for l in &c.lessons {
            sqlx::query(
                "INSERT INTO lesson_progress (teacher_id, module, part, parts, started_at, updated_at, completed_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6) \
                 ON CONFLICT (teacher_id, module) DO UPDATE SET \
                   part = CASE WHEN excluded.part > lesson_progress.part THEN excluded.part ELSE lesson_progress.part END, \
                   parts = excluded.parts, updated_at = excluded.updated_at, \
                   completed_at = COALESCE(lesson_progress.completed_at, excluded.completed_at)",
            )
            .bind(c.teacher_id)
            .bind(&l.module)
            .bind(l.part)
            .bind(l.parts)
            .bind(now)
            .bind(l.done.then_some(now))
            .execute(&mut *$tx)
            .await?;
        }
        for (module, body) in &c.reflections {
            sqlx::query("INSERT INTO reflections (teacher_id, module, at, body) VALUES ($1, $2, $3, $4)")
                .bind(c.teacher_id)
                .bind(module)
                .bind(now)
                .bind(body)
                .execute(&mut *$tx)
                .await?;
        }
        for a in &c.answers {
            sqlx::query(
                "INSERT INTO quiz_answers (teacher_id, module, question, chosen, correct, at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(c.teacher_id)
            .bind(&a.module)
            .bind(&a.question)
            .bind(a.chosen)
            .bind(a.correct)
            .bind(now)
            .execute(&mut *$tx)
            .await?;
        }
        for a in &c.attempts {
            sqlx::query(
                "INSERT INTO quiz_attempts (teacher_id, module, score, max_score, passed, finished_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(c.teacher_id)
            .bind(&a.module)
            .bind(a.score)
            .bind(a.max)
            .bind(a.passed)
            .bind(now)
            .execute(&mut *$tx)
            .await?;
        }
        for (module, code, name) in &c.certificates {
            sqlx::query(
                "INSERT INTO certificates (code, teacher_id, module, teacher_name, issued_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(code)
            .bind(c.teacher_id)
            .bind(module)
            .bind(name)
            .bind(now)
            .execute(&mut *$tx)
            .await?;
        }
        if !c.outbox.is_empty() {
            let sql = $crate::store::records::multi_row_insert(
                "INSERT INTO outbox (teacher_id, channel, channel_user, payload, created_at) VALUES ",
                5,
                c.outbox.len(),
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for o in &c.outbox {
                query = query.bind(c.teacher_id).bind(&o.channel).bind(&o.channel_user).bind(&o.payload).bind(now);
            }
            query.execute(&mut *$tx).await?;
        }
    }};
}
pub(super) use write_commit;
