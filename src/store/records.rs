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
    /// A change of reachability (blocked or unblocked the bot), if any.
    pub reachable: Option<bool>,
    /// The teacher wrote (opens WhatsApp's 24-hour window from `now`).
    pub wrote: bool,
    /// The inbox events this commit consumed (one conversation's, in order).
    pub inbox_ids: Vec<i64>,
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
    /// Questions to log.
    pub questions: Vec<QuestionRow>,
    /// Changed question outcomes `(number, outcome, ticket)`.
    pub outcomes: Vec<(i64, String, Option<String>)>,
    /// Tickets to open.
    pub tickets: Vec<TicketRow>,
    /// Words, files and notes to add to tickets.
    pub ticket_messages: Vec<TicketMessageRow>,
    /// Ratings `(ticket, rating)` and comments `(ticket, comment)` of answers.
    pub ratings: Vec<(String, i64)>,
    /// Comments on answers `(ticket, comment)`.
    pub comments: Vec<(String, String)>,
    /// Tickets the teacher reopened (the answer did not help).
    pub reopened: Vec<String>,
    /// Platform statuses of sent messages.
    pub deliveries: Vec<Delivery>,
    /// Programme features' records (`store::programme`).
    pub programme: Vec<crate::programme::Effect>,
}

/// What the platform says became of a sent message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The platform's id of the message (a wamid).
    pub provider_id: String,
    /// sent, delivered, read, played, failed.
    pub status: String,
    /// The platform's error code, for a failure.
    pub code: Option<i64>,
    /// Why it failed.
    pub reason: Option<String>,
}

/// A question for the log.
#[derive(Clone, Debug)]
pub struct QuestionRow {
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
    /// The outcome code.
    pub outcome: String,
    /// The ticket it opened.
    pub ticket: Option<String>,
    /// The teacher's district when asking.
    pub district: Option<String>,
    /// The teacher's grades when asking.
    pub grades: Option<String>,
    /// Its clustering signature (`insights::Signature` as JSON).
    pub signature: Option<String>,
}

/// A ticket to open.
#[derive(Clone, Debug)]
pub struct TicketRow {
    /// Its number.
    pub code: String,
    /// The question it comes from.
    pub question: i64,
    /// Detected topic.
    pub topic: Option<String>,
    /// The teacher's language.
    pub language: String,
    /// The teacher's words.
    pub body: String,
    /// The article suggested before.
    pub suggested: Option<String>,
    /// The expert pool.
    pub pool: Option<String>,
    /// Where the teacher was.
    pub context: Option<String>,
}

/// Something said on a ticket.
#[derive(Clone, Debug)]
pub struct TicketMessageRow {
    /// The ticket.
    pub ticket: String,
    /// teacher, expert, note.
    pub author: String,
    /// text, photo, voice, document.
    pub kind: String,
    /// The words (or a caption).
    pub body: String,
    /// The platform's file id for media.
    pub file_id: Option<String>,
    /// The expert's name.
    pub expert: Option<String>,
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
    /// The ticket whose answer this carries: held, not failed, while the teacher is unreachable.
    pub ticket: Option<String>,
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

/// Placeholders for `rows` rows of `columns` values each, numbered from `$1`, with the given
/// SQL type casts per column (`""` for none): `(CAST($1 AS BIGINT), $2), (CAST($3 AS BIGINT), $4)`.
/// Casts use `CAST(… AS …)`, which both SQLite and PostgreSQL read.
#[must_use]
pub fn value_rows(casts: &[&str], rows: usize) -> String {
    value_rows_from(casts, rows, 1)
}

/// [`value_rows`] numbered from `$first` (for statements with other parameters before them).
#[must_use]
pub fn value_rows_from(casts: &[&str], rows: usize, first: usize) -> String {
    use std::fmt::Write as _;
    let columns = casts.len();
    let mut sql = String::with_capacity(rows * columns * 12);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for (col, cast) in casts.iter().enumerate() {
            let n = row * columns + col + first;
            let sep = if col == 0 { "" } else { ", " };
            let _ = if cast.is_empty() {
                write!(sql, "{sep}${n}")
            } else {
                write!(sql, "{sep}CAST(${n} AS {cast})")
            };
        }
        sql.push(')');
    }
    sql
}

/// How many rows of `columns` values one statement may carry: well under SQLite's 32,766 and
/// PostgreSQL's 65,535 bound parameters.
#[must_use]
pub fn rows_per_statement(columns: usize) -> usize {
    (16_000 / columns.max(1)).max(1)
}

/// Splits `items` into statements of at most [`rows_per_statement`]`(columns)` rows whose sizes
/// are powers of two (37 rows → 32 + 4 + 1). A multi-row statement's SQL text depends on its row
/// count, and each text is prepared and cached per connection: with sizes from a dozen powers
/// of two the cache holds every shape instead of re-preparing a new one for every batch size.
pub fn pow2_chunks<T>(items: &[T], columns: usize) -> impl Iterator<Item = &[T]> {
    let cap = 1usize << rows_per_statement(columns).ilog2();
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let size = (1usize << rest.len().ilog2()).min(cap);
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Lesson progress of a batch, one row per teacher and module (a multi-row upsert may not touch
/// the same row twice): the furthest part, done if any step finished it.
#[must_use]
pub fn merged_lessons(commits: &[Commit]) -> Vec<(i64, i64, &LessonRecord, bool, i64)> {
    let mut merged: Vec<(i64, i64, &LessonRecord, bool, i64)> = Vec::new();
    for c in commits {
        let now = super::millis(c.now);
        for l in &c.lessons {
            match merged
                .iter_mut()
                .find(|(t, _, m, _, _)| *t == c.teacher_id && m.module == l.module)
            {
                Some(row) => {
                    if l.part > row.1 {
                        row.1 = l.part;
                    }
                    row.2 = l;
                    row.3 |= l.done;
                    row.4 = now;
                }
                None => merged.push((c.teacher_id, l.part, l, l.done, now)),
            }
        }
    }
    merged
}

/// Writes a batch of [`Commit`]s (at most one per teacher) inside an open transaction `$tx` of
/// either backend, with a handful of multi-row statements whatever the batch size; returns
/// `Err(StoreError::Conflict)` from the enclosing function when any teacher's version moved.
macro_rules! write_commits {
    ($tx:ident, $commits:expr) => {{
        use $crate::store::records::{pow2_chunks, value_rows};
        let commits: &[$crate::store::Commit] = $commits;
        let ms = |at| $crate::store::millis(at);

        for chunk in pow2_chunks(&commits, 8) {
            let sql = format!(
                "UPDATE teachers SET state = v.column3, version = teachers.version + 1, language = v.column4, \
                 profile = v.column5, updated_at = v.column6, reachable = COALESCE(v.column7, teachers.reachable), \
                 last_inbound_at = CASE WHEN v.column8 THEN v.column6 ELSE teachers.last_inbound_at END \
                 FROM (VALUES {}) AS v WHERE teachers.id = v.column1 AND teachers.version = v.column2",
                value_rows(&["BIGINT", "BIGINT", "", "", "", "BIGINT", "BOOLEAN", "BOOLEAN"], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q.bind(c.teacher_id).bind(c.version).bind(&c.state).bind(&c.language).bind(&c.profile_json).bind(ms(c.now)).bind(c.reachable).bind(c.wrote);
            }
            let updated = q.execute(&mut *$tx).await?;
            if updated.rows_affected() != chunk.len() as u64 {
                return Err($crate::store::StoreError::Conflict);
            }
        }
        // Profile columns that changed, one row per teacher; NULL keeps the old value.
        let profiles: Vec<(i64, [Option<&str>; 8])> = commits
            .iter()
            .filter(|c| !c.profile.is_empty())
            .map(|c| {
                let mut row: [Option<&str>; 8] = [None; 8];
                for (field, value) in &c.profile {
                    let at = match field.as_str() {
                        "name" => 0,
                        "role" => 1,
                        "district" => 2,
                        "school" => 3,
                        "grades" => 4,
                        "subjects" => 5,
                        "consent" => 6,
                        "notices" => 7,
                        _ => continue,
                    };
                    row[at] = Some(value.as_str());
                }
                (c.teacher_id, row)
            })
            .filter(|(_, row)| row.iter().any(Option::is_some))
            .collect();
        for chunk in pow2_chunks(&profiles, 9) {
            let sql = format!(
                "UPDATE teachers SET name = COALESCE(v.column2, teachers.name), role = COALESCE(v.column3, teachers.role), \
                 district = COALESCE(v.column4, teachers.district), school = COALESCE(v.column5, teachers.school), \
                 grades = COALESCE(v.column6, teachers.grades), subjects = COALESCE(v.column7, teachers.subjects), \
                 consent = COALESCE(v.column8, teachers.consent), notices = COALESCE(v.column9, teachers.notices) \
                 FROM (VALUES {}) AS v WHERE teachers.id = v.column1",
                value_rows(&["BIGINT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT"], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (teacher, row) in chunk {
                q = q.bind(*teacher);
                for value in row {
                    q = q.bind(*value);
                }
            }
            q.execute(&mut *$tx).await?;
        }

        let done: Vec<(i64, i64)> = commits.iter().flat_map(|c| c.inbox_ids.iter().map(move |id| (*id, ms(c.now)))).collect();
        for chunk in pow2_chunks(&done, 2) {
            let sql = format!(
                "UPDATE inbox SET status = 'done', processed_at = v.column2 FROM (VALUES {}) AS v \
                 WHERE inbox.id = v.column1 AND inbox.status = 'pending'",
                value_rows(&["BIGINT", "BIGINT"], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, at) in chunk {
                q = q.bind(*id).bind(*at);
            }
            // An event no longer pending was processed by someone else (another instance whose
            // lease this one's outlived): nothing here is written, and the caller reads again.
            if q.execute(&mut *$tx).await?.rows_affected() != chunk.len() as u64 {
                return Err($crate::store::StoreError::Conflict);
            }
        }

        let transcript: Vec<(&$crate::store::Commit, &$crate::store::TranscriptEntry)> =
            commits.iter().flat_map(|c| c.transcript.iter().map(move |t| (c, t))).collect();
        for chunk in pow2_chunks(&transcript, 5) {
            let sql = format!(
                "INSERT INTO transcript (teacher_id, at, direction, node, body) VALUES {}",
                value_rows(&["", "", "", "", ""], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, t) in chunk {
                q = q.bind(c.teacher_id).bind(ms(c.now)).bind(t.direction).bind(&t.node).bind(&t.body);
            }
            q.execute(&mut *$tx).await?;
        }

        let lessons = $crate::store::records::merged_lessons(commits);
        for chunk in pow2_chunks(&lessons, 6) {
            let sql = format!(
                "INSERT INTO lesson_progress (teacher_id, module, part, parts, started_at, updated_at, completed_at) \
                 SELECT column1, column2, column3, column4, column5, column5, column6 FROM (VALUES {}) AS v \
                 WHERE true \
                 ON CONFLICT (teacher_id, module) DO UPDATE SET \
                   part = CASE WHEN excluded.part > lesson_progress.part THEN excluded.part ELSE lesson_progress.part END, \
                   parts = excluded.parts, updated_at = excluded.updated_at, \
                   completed_at = COALESCE(lesson_progress.completed_at, excluded.completed_at)",
                value_rows(&["BIGINT", "", "BIGINT", "BIGINT", "BIGINT", "BIGINT"], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (teacher, part, l, done, at) in chunk {
                q = q.bind(*teacher).bind(&l.module).bind(*part).bind(l.parts).bind(*at).bind(done.then_some(*at));
            }
            q.execute(&mut *$tx).await?;
        }

        let reflections: Vec<(&$crate::store::Commit, &(String, String))> =
            commits.iter().flat_map(|c| c.reflections.iter().map(move |r| (c, r))).collect();
        for chunk in pow2_chunks(&reflections, 4) {
            let sql = format!(
                "INSERT INTO reflections (teacher_id, module, at, body) VALUES {}",
                value_rows(&["", "", "", ""], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, (module, body)) in chunk {
                q = q.bind(c.teacher_id).bind(module).bind(ms(c.now)).bind(body);
            }
            q.execute(&mut *$tx).await?;
        }

        let answers: Vec<(&$crate::store::Commit, &$crate::store::QuizAnswerRecord)> =
            commits.iter().flat_map(|c| c.answers.iter().map(move |a| (c, a))).collect();
        for chunk in pow2_chunks(&answers, 6) {
            let sql = format!(
                "INSERT INTO quiz_answers (teacher_id, module, question, chosen, correct, at) VALUES {}",
                value_rows(&["", "", "", "", "", ""], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, a) in chunk {
                q = q.bind(c.teacher_id).bind(&a.module).bind(&a.question).bind(a.chosen).bind(a.correct).bind(ms(c.now));
            }
            q.execute(&mut *$tx).await?;
        }

        let attempts: Vec<(&$crate::store::Commit, &$crate::store::Attempt)> =
            commits.iter().flat_map(|c| c.attempts.iter().map(move |a| (c, a))).collect();
        for chunk in pow2_chunks(&attempts, 6) {
            let sql = format!(
                "INSERT INTO quiz_attempts (teacher_id, module, score, max_score, passed, finished_at) VALUES {}",
                value_rows(&["", "", "", "", "", ""], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, a) in chunk {
                q = q.bind(c.teacher_id).bind(&a.module).bind(a.score).bind(a.max).bind(a.passed).bind(ms(c.now));
            }
            q.execute(&mut *$tx).await?;
        }

        let certificates: Vec<(&$crate::store::Commit, &(String, String, Option<String>))> =
            commits.iter().flat_map(|c| c.certificates.iter().map(move |x| (c, x))).collect();
        for chunk in pow2_chunks(&certificates, 5) {
            let sql = format!(
                "INSERT INTO certificates (code, teacher_id, module, teacher_name, issued_at) VALUES {} \
                 ON CONFLICT DO NOTHING",
                value_rows(&["", "", "", "", ""], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, (module, code, name)) in chunk {
                q = q.bind(code).bind(c.teacher_id).bind(module).bind(name).bind(ms(c.now));
            }
            q.execute(&mut *$tx).await?;
        }

        // The helpdesk: a handful of rows now and then, one statement each.
        for c in commits {
            for q in &c.questions {
                sqlx::query(
                    "INSERT INTO questions (teacher_id, number, asked_at, body, written, topic, confidence, \
                     article, outcome, ticket, district, grades, signature) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(c.teacher_id).bind(q.number).bind(ms(c.now)).bind(&q.body).bind(&q.written)
                .bind(&q.topic).bind(q.confidence).bind(&q.article).bind(&q.outcome).bind(&q.ticket)
                .bind(&q.district).bind(&q.grades).bind(&q.signature)
                .execute(&mut *$tx).await?;
            }
            for t in &c.tickets {
                sqlx::query(
                    "INSERT INTO tickets (code, teacher_id, question, topic, language, body, suggested, pool, \
                     context, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&t.code).bind(c.teacher_id).bind(t.question).bind(&t.topic).bind(&t.language)
                .bind(&t.body).bind(&t.suggested).bind(&t.pool).bind(&t.context).bind(ms(c.now))
                .execute(&mut *$tx).await?;
            }
            for (number, outcome, ticket) in &c.outcomes {
                sqlx::query(
                    "UPDATE questions SET outcome = CASE WHEN $1 = '' THEN outcome ELSE $1 END, \
                     ticket = COALESCE($2, ticket) WHERE teacher_id = $3 AND number = $4",
                )
                .bind(outcome).bind(ticket).bind(c.teacher_id).bind(*number)
                .execute(&mut *$tx).await?;
            }
            for m in &c.ticket_messages {
                sqlx::query(
                    "INSERT INTO ticket_messages (ticket, at, author, kind, body, file_id, expert) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&m.ticket).bind(ms(c.now)).bind(&m.author).bind(&m.kind).bind(&m.body)
                .bind(&m.file_id).bind(&m.expert)
                .execute(&mut *$tx).await?;
            }
            for (code, rating) in &c.ratings {
                sqlx::query("UPDATE tickets SET rating = $1 WHERE code = $2 AND teacher_id = $3")
                    .bind(*rating).bind(code).bind(c.teacher_id)
                    .execute(&mut *$tx).await?;
            }
            for (code, comment) in &c.comments {
                sqlx::query("UPDATE tickets SET comment = $1 WHERE code = $2 AND teacher_id = $3")
                    .bind(comment).bind(code).bind(c.teacher_id)
                    .execute(&mut *$tx).await?;
            }
            for delivery in &c.deliveries {
                $crate::store::whatsapp::apply_delivery!($tx, delivery, ms(c.now));
            }
            for effect in &c.programme {
                $crate::store::programme::write_effect!($tx, c, effect);
            }
            for code in &c.reopened {
                sqlx::query(
                    "UPDATE tickets SET status = 'open', waiting_since = $1, reminded_at = NULL, \
                     escalated_at = NULL, closed_at = NULL WHERE code = $2 AND teacher_id = $3",
                )
                .bind(ms(c.now)).bind(code).bind(c.teacher_id)
                .execute(&mut *$tx).await?;
            }
        }

        // A teacher who writes again gets the answers held while they could not be reached,
        // before this commit's own replies: copied as new rows so they go out in order.
        let returning: Vec<i64> = commits.iter().filter(|c| c.reachable == Some(true)).map(|c| c.teacher_id).collect();
        for chunk in pow2_chunks(&returning, 1) {
            let list: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let list = list.join(", ");
            let sql = format!(
                "INSERT INTO outbox (teacher_id, channel, channel_user, payload, created_at, ticket) \
                 SELECT teacher_id, channel, channel_user, payload, created_at, ticket FROM outbox \
                 WHERE status = 'held' AND teacher_id IN ({list}) ORDER BY id"
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for teacher in chunk {
                q = q.bind(*teacher);
            }
            if q.execute(&mut *$tx).await?.rows_affected() > 0 {
                let sql = format!(
                    "UPDATE outbox SET status = 'released' WHERE status = 'held' AND teacher_id IN ({list})"
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for teacher in chunk {
                    q = q.bind(*teacher);
                }
                q.execute(&mut *$tx).await?;
            }
        }

        let outbox: Vec<(&$crate::store::Commit, &$crate::store::OutboundRecord)> =
            commits.iter().flat_map(|c| c.outbox.iter().map(move |o| (c, o))).collect();
        for chunk in pow2_chunks(&outbox, 6) {
            let sql = format!(
                "INSERT INTO outbox (teacher_id, channel, channel_user, payload, created_at, ticket) VALUES {}",
                value_rows(&["", "", "", "", "", ""], chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, o) in chunk {
                q = q.bind(c.teacher_id).bind(&o.channel).bind(&o.channel_user).bind(&o.payload).bind(ms(c.now)).bind(&o.ticket);
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}
pub(super) use write_commits;
