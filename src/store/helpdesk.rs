//! Reading the helpdesk's tables: the question log, tickets and what was said on them.

use super::{Backend, Store, StoreError, from_millis};

/// The statements of [`Store::commit_expert`] inside an open transaction of either backend.
macro_rules! expert_statements {
    ($tx:ident, $write:expr, $now:expr) => {{
        let w: &ExpertWrite = $write;
        // First: an event another instance processed already writes nothing again (the
        // transaction rolls back when dropped).
        if let Some(id) = w.inbox_id {
            let pending = sqlx::query("UPDATE inbox SET status = 'done', processed_at = $1 WHERE id = $2 AND status = 'pending'")
                .bind($now).bind(id)
                .execute(&mut *$tx).await?
                .rows_affected();
            if pending == 0 {
                return Ok(());
            }
        }
        if let Some(code) = &w.ticket {
            let (expect_status, expect_expert) = match &w.expect {
                Some((status, expert)) => (Some(status.as_str()), Some(expert.as_deref().unwrap_or(""))),
                None => (None, None),
            };
            let changed = sqlx::query(
                "UPDATE tickets SET status = COALESCE($1, status), expert = COALESCE(expert, $2), \
                 topic = COALESCE($3, topic), \
                 claimed_at = CASE WHEN $1 = 'claimed' AND claimed_at IS NULL THEN $4 ELSE claimed_at END, \
                 answered_at = CASE WHEN $1 = 'answered' THEN $4 ELSE answered_at END, \
                 closed_at = CASE WHEN $1 = 'closed' THEN $4 WHEN $8 THEN NULL ELSE closed_at END, \
                 waiting_since = CASE WHEN $8 THEN $4 ELSE waiting_since END, \
                 reminded_at = CASE WHEN $8 THEN NULL ELSE reminded_at END, \
                 escalated_at = CASE WHEN $8 THEN NULL ELSE escalated_at END \
                 WHERE code = $5 AND ($6 IS NULL OR (status = $6 AND COALESCE(expert, '') = $7))",
            )
            .bind(&w.status).bind(&w.expert).bind(&w.topic).bind($now).bind(code)
            .bind(expect_status).bind(expect_expert).bind(w.reopen)
            .execute(&mut *$tx).await?
            .rows_affected();
            if changed == 0 && w.expect.is_some() {
                // Someone acted first; the transaction rolls back when dropped.
                return Err(StoreError::Conflict);
            }
            if let Some(m) = &w.message {
                sqlx::query(
                    "INSERT INTO ticket_messages (ticket, at, author, kind, body, file_id, expert) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(code).bind($now).bind(&m.author).bind(&m.kind).bind(&m.body)
                .bind(&m.file_id).bind(&m.expert)
                .execute(&mut *$tx).await?;
            }
        }
        for (teacher, group, payload) in &w.replies {
            sqlx::query(
                "INSERT INTO outbox (teacher_id, channel, channel_user, payload, created_at) \
                 VALUES ($1, 'telegram', $2, $3, $4)",
            )
            .bind(*teacher).bind(group).bind(payload).bind($now)
            .execute(&mut *$tx).await?;
        }
        if let Some((channel, user, external, payload)) = &w.relay {
            sqlx::query(
                "INSERT INTO inbox (channel, external_id, channel_user, payload, received_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, external_id) DO NOTHING",
            )
            .bind(channel).bind(external).bind(user).bind(payload).bind($now)
            .execute(&mut *$tx).await?;
        }
    }};
}
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
    /// Since when it waits for an expert (its opening, or its reopening).
    pub waiting_since: DateTime<Utc>,
    /// What became of the answer's message to the teacher: `pending`, `sent`, `failed`, or
    /// `held` while the teacher cannot be reached; `None` before an answer.
    pub delivery: Option<String>,
    /// The expert who has it (claimed or answered it).
    pub expert: Option<String>,
}

impl Store {
    /// Where a teacher is reached: `(channel, channel user)`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Database`].
    pub async fn teacher_address(&self, teacher_id: i64) -> Result<(String, String), StoreError> {
        const SQL: &str = "SELECT channel, channel_user FROM teachers WHERE id = $1";
        let row: Option<(String, String)> = on_pool!(self, pool => sqlx::query_as(SQL).bind(teacher_id).fetch_optional(pool).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// The expert group's forum topic of a ticket, once created.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] (no such ticket); [`StoreError::Database`].
    pub async fn ticket_thread(&self, code: &str) -> Result<Option<i64>, StoreError> {
        const SQL: &str = "SELECT thread_id FROM tickets WHERE code = $1";
        let row: Option<(Option<i64>,)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(code).fetch_optional(pool).await?);
        Ok(row.ok_or(StoreError::NotFound)?.0)
    }

    /// Records the forum topic created for a ticket.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn set_ticket_thread(&self, code: &str, thread: i64) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = "UPDATE tickets SET thread_id = $1 WHERE code = $2";
        on_pool!(self, pool => sqlx::query(SQL).bind(thread).bind(code).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// The ticket whose topic is `thread`, if any.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn ticket_by_thread(&self, thread: i64) -> Result<Option<Ticket>, StoreError> {
        const SQL: &str = "SELECT code FROM tickets WHERE thread_id = $1";
        let row: Option<(String,)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(thread).fetch_optional(pool).await?);
        match row {
            Some((code,)) => self.ticket(&code).await.map(Some),
            None => Ok(None),
        }
    }

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
                           rating, comment, waiting_since, \
                           (SELECT status FROM outbox WHERE ticket = tickets.code ORDER BY id DESC LIMIT 1), \
                           expert FROM tickets WHERE code = $1";
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
            Option<i64>,
            Option<String>,
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
            waiting_since,
            delivery,
            expert,
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
            waiting_since: from_millis(waiting_since.unwrap_or(created)),
            delivery,
            expert,
        })
    }

    /// What was said on a ticket, in order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn ticket_messages(
        &self,
        code: &str,
    ) -> Result<Vec<super::TicketMessageRow>, StoreError> {
        const SQL: &str = "SELECT author, kind, body, file_id, expert FROM ticket_messages \
                           WHERE ticket = $1 ORDER BY id";
        type Row = (String, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(code).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(author, kind, body, file_id, expert)| super::TicketMessageRow {
                    ticket: code.to_string(),
                    author,
                    kind,
                    body,
                    file_id,
                    expert,
                },
            )
            .collect())
    }
}

/// A message to the expert group about a ticket (an SLA reminder, an escalation, a delivery
/// problem), with the mark it sets on the ticket.
#[derive(Clone, Debug)]
pub struct Notice {
    /// The ticket.
    pub ticket: String,
    /// The outbox payload for the expert group.
    pub payload: String,
    /// Sets `reminded_at` or `escalated_at` on the ticket, so the notice is sent once.
    pub marks: Option<Mark>,
}

/// What a [`Notice`] records on its ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// The pool was reminded.
    Reminded,
    /// The lead was told.
    Escalated,
}

/// Everything one expert message in the expert group writes, in one transaction.
#[derive(Clone, Debug, Default)]
pub struct ExpertWrite {
    /// The expert's inbox event, marked done (none for an action in the console).
    pub inbox_id: Option<i64>,
    /// When.
    pub now: Option<DateTime<Utc>>,
    /// The ticket acted on.
    pub ticket: Option<String>,
    /// Its new status (`claimed`, `answered`, `closed`).
    pub status: Option<String>,
    /// The expert, kept when none was recorded yet.
    pub expert: Option<String>,
    /// A corrected topic.
    pub topic: Option<String>,
    /// An answer or a note for the ticket's record.
    pub message: Option<super::TicketMessageRow>,
    /// Replies in the expert group `(teacher the row is about, payload)`.
    pub replies: Vec<(i64, String, String)>,
    /// A message for the teacher's conversation: `(channel, channel user, external id,
    /// payload)`, stored in the inbox like anything the teacher sends.
    pub relay: Option<(String, String, String, String)>,
    /// Write only if the ticket still has this `(status, expert)`; else
    /// [`StoreError::Conflict`] and nothing is written.
    pub expect: Option<(String, Option<String>)>,
    /// The ticket waits for an expert again: its SLA clock restarts.
    pub reopen: bool,
}

impl Store {
    /// Writes what an expert's message did (see [`ExpertWrite`]).
    ///
    /// # Errors
    ///
    /// [`StoreError::Conflict`] when the ticket is no longer as expected;
    /// [`StoreError::Database`].
    pub async fn commit_expert(&self, write: &ExpertWrite) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let now = super::millis(write.now.unwrap_or_else(Utc::now));
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                expert_statements!(tx, write, now);
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                expert_statements!(tx, write, now);
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Open tickets (not closed), oldest first, for `/queue` and the SLA.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn open_tickets(&self, limit: i64) -> Result<Vec<Ticket>, StoreError> {
        const SQL: &str =
            "SELECT code FROM tickets WHERE status <> 'closed' ORDER BY created_at LIMIT $1";
        let codes: Vec<(String,)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(limit).fetch_all(pool).await?);
        let mut out = Vec::with_capacity(codes.len());
        for (code,) in codes {
            out.push(self.ticket(&code).await?);
        }
        Ok(out)
    }

    /// Tickets in the experts' hands (open or claimed) that still have a reminder or an
    /// escalation to come, oldest first, with their teacher, for the SLA.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn waiting_tickets(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, crate::helpdesk::sla::Waiting)>, StoreError> {
        const SQL: &str = "SELECT teacher_id, code, status, pool, COALESCE(waiting_since, created_at), \
                           reminded_at IS NOT NULL, escalated_at IS NOT NULL FROM tickets \
                           WHERE status IN ('open', 'claimed') AND (reminded_at IS NULL OR escalated_at IS NULL) \
                           ORDER BY created_at LIMIT $1";
        type Row = (i64, String, String, Option<String>, i64, bool, bool);
        let rows: Vec<Row> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(limit).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(teacher, code, status, pool, since, reminded, escalated)| {
                    (
                        teacher,
                        crate::helpdesk::sla::Waiting {
                            code,
                            status,
                            pool,
                            since: from_millis(since),
                            reminded,
                            escalated,
                        },
                    )
                },
            )
            .collect())
    }

    /// Queues notices for the expert group `group` and sets their marks, in one transaction.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn commit_notices(
        &self,
        group: &str,
        notices: &[Notice],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        macro_rules! statements {
            ($tx:ident, $now:ident) => {{
                for notice in notices {
                    let mark = match notice.marks {
                        Some(Mark::Reminded) => "reminded_at",
                        Some(Mark::Escalated) => "escalated_at",
                        None => "",
                    };
                    if !mark.is_empty() {
                        let sql = format!("UPDATE tickets SET {mark} = $1 WHERE code = $2");
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind($now).bind(&notice.ticket)
                            .execute(&mut *$tx).await?;
                    }
                    sqlx::query(
                        "INSERT INTO outbox (teacher_id, channel, channel_user, payload, created_at) \
                         SELECT teacher_id, 'telegram', $1, $2, $3 FROM tickets WHERE code = $4",
                    )
                    .bind(group).bind(&notice.payload).bind($now).bind(&notice.ticket)
                    .execute(&mut *$tx).await?;
                }
            }};
        }
        if notices.is_empty() {
            return Ok(());
        }
        let now_ms = super::millis(now);
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx, now_ms);
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx, now_ms);
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// A teacher turned out to be unreachable on `channel`: of the pending rows `ids`, those
    /// that carry an expert's answer are held for when the teacher writes again, the rest fail
    /// with `reason`, and the teacher is marked unreachable, all in one transaction, so a
    /// reader sees either none of it or all of it (the teacher writing again between the two
    /// would otherwise find nothing held, or see failed rows on a teacher still reachable).
    /// Returns the tickets whose answers are held.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn hold_or_fail(
        &self,
        (channel, chat): (&str, &str),
        ids: &[i64],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        macro_rules! statements {
            ($tx:ident, $held:ident) => {{
                for chunk in super::records::pow2_chunks(ids, 1) {
                    let list = |first: usize| -> String {
                        (first..chunk.len() + first).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
                    };
                    let hold = format!(
                        "UPDATE outbox SET status = 'held', attempts = attempts + 1, error = $1 \
                         WHERE status = 'pending' AND ticket IS NOT NULL AND id IN ({}) RETURNING ticket",
                        list(2)
                    );
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(hold)).bind(reason);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    let rows: Vec<(String,)> = q.fetch_all(&mut *$tx).await?;
                    $held.extend(rows.into_iter().map(|(t,)| t));
                    let fail = format!(
                        "UPDATE outbox SET status = 'failed', error = $1, sent_at = $2, attempts = attempts + 1 \
                         WHERE status = 'pending' AND id IN ({})",
                        list(3)
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(fail)).bind(reason).bind(super::millis(now));
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *$tx).await?;
                }
                sqlx::query("UPDATE teachers SET reachable = $1 WHERE channel = $2 AND channel_user = $3")
                    .bind(false).bind(channel).bind(chat)
                    .execute(&mut *$tx).await?;
            }};
        }
        let mut held = Vec::new();
        {
            let _turn = self.write_turn().await;
            match &self.backend {
                Backend::Sqlite(pool) => {
                    let mut tx = pool.begin().await?;
                    statements!(tx, held);
                    tx.commit().await?;
                }
                Backend::Postgres(pool) => {
                    let mut tx = pool.begin().await?;
                    statements!(tx, held);
                    tx.commit().await?;
                }
            }
        }
        held.sort();
        held.dedup();
        Ok(held)
    }
}
