//! Reading the helpdesk's tables: the question log, tickets and what was said on them.

use super::{Backend, Store, StoreError, from_millis};
use chrono::{DateTime, Utc};

/// A logged question.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedQuestion {
    /// The teacher's question number.
    pub number: i64,
    /// The words.
    pub body: String,
    /// en, ur, `roman_ur`, bn.
    pub written: String,
    /// Detected topic.
    pub topic: Option<String>,
    /// 0–1.
    pub confidence: f32,
    /// The article sent.
    pub article: Option<String>,
    /// answered, helped, `not_helped`, escalated, `out_of_scope`, unclear.
    pub outcome: String,
    /// The ticket it opened.
    pub ticket: Option<String>,
    /// The teacher's district when asking.
    pub district: Option<String>,
}

/// A ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct Ticket {
    /// Its number (`HD-…`).
    pub code: String,
    /// The teacher.
    pub teacher_id: i64,
    /// open, claimed, answered, closed.
    pub status: String,
    /// Detected topic.
    pub topic: Option<String>,
    /// The teacher's language.
    pub language: String,
    /// The question.
    pub body: String,
    /// The article suggested before.
    pub suggested: Option<String>,
    /// The expert pool.
    pub pool: Option<String>,
    /// When it opened.
    pub created_at: DateTime<Utc>,
    /// The rating of the answer, 1–5.
    pub rating: Option<i64>,
    /// The teacher's comment on the answer.
    pub comment: Option<String>,
}

/// Something said on a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketMessage {
    /// teacher, expert, note.
    pub author: String,
    /// text, photo, voice, document.
    pub kind: String,
    /// The words or caption.
    pub body: String,
    /// The file, for media.
    pub file_id: Option<String>,
}

impl Store {
    /// A teacher's questions, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn questions_of(&self, teacher_id: i64) -> Result<Vec<LoggedQuestion>, StoreError> {
        const SQL: &str = "SELECT number, body, written, topic, confidence, article, outcome, ticket, district \
                           FROM questions WHERE teacher_id = $1 ORDER BY number";
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            f32,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(teacher_id).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(number, body, written, topic, confidence, article, outcome, ticket, district)| {
                    LoggedQuestion {
                        number,
                        body,
                        written,
                        topic,
                        confidence,
                        article,
                        outcome,
                        ticket,
                        district,
                    }
                },
            )
            .collect())
    }

    /// One ticket by its number.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Database`].
    pub async fn ticket(&self, code: &str) -> Result<Ticket, StoreError> {
        const SQL: &str = "SELECT code, teacher_id, status, topic, language, body, suggested, pool, created_at, \
                           rating, comment FROM tickets WHERE code = $1";
        type Row = (
            String,
            i64,
            String,
            Option<String>,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(code).fetch_optional(pool).await?);
        let (
            code,
            teacher_id,
            status,
            topic,
            language,
            body,
            suggested,
            pool,
            created,
            rating,
            comment,
        ) = row.ok_or(StoreError::NotFound)?;
        Ok(Ticket {
            code,
            teacher_id,
            status,
            topic,
            language,
            body,
            suggested,
            pool,
            created_at: from_millis(created),
            rating,
            comment,
        })
    }

    /// What was said on a ticket, in order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn ticket_messages(&self, code: &str) -> Result<Vec<TicketMessage>, StoreError> {
        const SQL: &str =
            "SELECT author, kind, body, file_id FROM ticket_messages WHERE ticket = $1 ORDER BY id";
        let rows: Vec<(String, String, String, Option<String>)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(code).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(author, kind, body, file_id)| TicketMessage {
                author,
                kind,
                body,
                file_id,
            })
            .collect())
    }
}
