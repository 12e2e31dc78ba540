//! The web console's tables: staff accounts, their sessions (kept by the SHA-256 of the cookie's
//! token, never the token) and failed sign-ins for throttling.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, from_millis, millis};

/// A staff account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffUser {
    /// Its id.
    pub id: i64,
    /// The name it signs in with (unique).
    pub name: String,
    /// `expert`, `staff` or `admin`.
    pub role: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// When it was disabled, if it was.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A signed-in browser.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffSession {
    /// Who.
    pub user: StaffUser,
    /// The session's form token.
    pub csrf: String,
    /// When it ends, whatever happens.
    pub expires_at: DateTime<Utc>,
    /// When it was last used.
    pub last_seen_at: DateTime<Utc>,
}

type UserRow = (i64, String, String, String, Option<i64>);

fn user((id, name, role, password_hash, disabled): UserRow) -> StaffUser {
    StaffUser {
        id,
        name,
        role,
        password_hash,
        disabled_at: disabled.map(from_millis),
    }
}

impl Store {
    /// Creates a staff account; `Ok(None)` when the name is taken.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn add_staff_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        const SQL: &str = "INSERT INTO staff_users (name, role, password_hash, created_at) \
                           VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING RETURNING id";
        let _turn = self.write_turn().await;
        let id: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(name).bind(role).bind(password_hash).bind(millis(now))
            .fetch_optional(pool).await?);
        Ok(id.map(|(id,)| id))
    }

    /// Sets a new password on an account (ending its sessions); `false` when there is none.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn set_staff_password(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        const SET: &str = "UPDATE staff_users SET password_hash = $1 WHERE name = $2";
        const END: &str = "DELETE FROM staff_sessions WHERE user_id IN \
                           (SELECT id FROM staff_users WHERE name = $1)";
        let _turn = self.write_turn().await;
        let changed = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(SET).bind(password_hash).bind(name).execute(&mut *tx).await?.rows_affected();
            sqlx::query(END).bind(name).execute(&mut *tx).await?;
            tx.commit().await?;
            n
        });
        Ok(changed > 0)
    }

    /// An account by its name.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn staff_user(&self, name: &str) -> Result<Option<StaffUser>, StoreError> {
        const SQL: &str = "SELECT id, name, role, password_hash, disabled_at FROM staff_users \
                           WHERE name = $1";
        let row: Option<UserRow> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(name).fetch_optional(pool).await?);
        Ok(row.map(user))
    }

    /// Every account, by name.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn staff_users(&self) -> Result<Vec<StaffUser>, StoreError> {
        const SQL: &str =
            "SELECT id, name, role, password_hash, disabled_at FROM staff_users ORDER BY name";
        let rows: Vec<UserRow> = on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(rows.into_iter().map(user).collect())
    }

    /// Starts a session.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn start_staff_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO staff_sessions \
                           (token_hash, user_id, csrf, created_at, last_seen_at, expires_at) \
                           VALUES ($1, $2, $3, $4, $4, $5)";
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(token_hash).bind(user_id).bind(csrf).bind(millis(now)).bind(millis(expires_at))
            .execute(pool).await.map(drop)?);
        Ok(())
    }

    /// The session of a token's hash, with its account, if it exists (expired or not: the
    /// caller decides).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn staff_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<StaffSession>, StoreError> {
        const SQL: &str = "SELECT u.id, u.name, u.role, u.password_hash, u.disabled_at, \
                           s.csrf, s.expires_at, s.last_seen_at \
                           FROM staff_sessions s JOIN staff_users u ON u.id = s.user_id \
                           WHERE s.token_hash = $1";
        type Row = (i64, String, String, String, Option<i64>, String, i64, i64);
        let row: Option<Row> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(token_hash).fetch_optional(pool).await?);
        Ok(row.map(
            |(id, name, role, hash, disabled, csrf, expires, seen)| StaffSession {
                user: user((id, name, role, hash, disabled)),
                csrf,
                expires_at: from_millis(expires),
                last_seen_at: from_millis(seen),
            },
        ))
    }

    /// Records that a session was used.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn touch_staff_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "UPDATE staff_sessions SET last_seen_at = $1 WHERE token_hash = $2";
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(SQL).bind(millis(now)).bind(token_hash)
            .execute(pool).await.map(drop)?);
        Ok(())
    }

    /// Ends a session, and any session that expired before `now`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn end_staff_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM staff_sessions WHERE token_hash = $1 OR expires_at < $2";
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(SQL).bind(token_hash).bind(millis(now))
            .execute(pool).await.map(drop)?);
        Ok(())
    }

    /// Records a failed sign-in against each of `subjects` (the account name, the client).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn record_login_failure(
        &self,
        subjects: &[&str],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "INSERT INTO login_failures (subject, at) VALUES ($1, $2)";
        let _turn = self.write_turn().await;
        for subject in subjects {
            on_pool!(self, pool => sqlx::query(SQL).bind(*subject).bind(millis(now))
                .execute(pool).await.map(drop)?);
        }
        Ok(())
    }

    /// Failed sign-ins against `subject` since `since`, and the latest of them.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn login_failures(
        &self,
        subject: &str,
        since: DateTime<Utc>,
    ) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        const SQL: &str =
            "SELECT COUNT(*), MAX(at) FROM login_failures WHERE subject = $1 AND at >= $2";
        let (count, last): (i64, Option<i64>) = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(subject).bind(millis(since)).fetch_one(pool).await?);
        Ok((count, last.map(from_millis)))
    }

    /// Forgets the failed sign-ins against `subject` (after a successful one), and all those
    /// older than `before`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn clear_login_failures(
        &self,
        subject: &str,
        before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str = "DELETE FROM login_failures WHERE subject = $1 OR at < $2";
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(SQL).bind(subject).bind(millis(before))
            .execute(pool).await.map(drop)?);
        Ok(())
    }
}

/// Which tickets the queue shows; empty strings mean "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueFilter {
    /// `active` (not closed), `all`, or one status.
    pub status: String,
    /// A topic id.
    pub topic: String,
    /// The ticket's language.
    pub language: String,
    /// The teacher's district.
    pub district: String,
    /// Waiting since before this time.
    pub waiting_before: Option<DateTime<Utc>>,
    /// The expert who has it.
    pub expert: String,
    /// At most this many.
    pub limit: i64,
}

/// A ticket as the queue lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRow {
    /// `HD-…`.
    pub code: String,
    /// open, claimed, answered, closed.
    pub status: String,
    /// Its topic.
    pub topic: Option<String>,
    /// Its language.
    pub language: String,
    /// The teacher's district.
    pub district: Option<String>,
    /// The teacher's channel.
    pub channel: String,
    /// The question.
    pub body: String,
    /// The expert who has it.
    pub expert: Option<String>,
    /// Since when it waits (its opening or reopening).
    pub waiting_since: DateTime<Utc>,
}

/// One line of a teacher's conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscriptLine {
    /// When.
    pub at: DateTime<Utc>,
    /// `in` (the teacher) or `out` (the bot).
    pub direction: String,
    /// The words.
    pub body: String,
}

impl Store {
    /// The ticket queue: oldest waiting first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn ticket_queue(&self, filter: &QueueFilter) -> Result<Vec<QueueRow>, StoreError> {
        const SQL: &str = "SELECT t.code, t.status, t.topic, t.language, te.district, te.channel, \
             t.body, t.expert, COALESCE(t.waiting_since, t.created_at) AS since \
             FROM tickets t JOIN teachers te ON te.id = t.teacher_id \
             WHERE ($1 = 'all' OR ($1 = 'active' AND t.status <> 'closed') OR t.status = $1) \
             AND ($2 = '' OR t.topic = $2) AND ($3 = '' OR t.language = $3) \
             AND ($4 = '' OR te.district = $4) AND ($5 = '' OR t.expert = $5) \
             AND COALESCE(t.waiting_since, t.created_at) <= $6 \
             ORDER BY since, t.code LIMIT $7";
        type Row = (
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            String,
            String,
            Option<String>,
            i64,
        );
        let status = if filter.status.is_empty() {
            "active"
        } else {
            filter.status.as_str()
        };
        let before = filter.waiting_before.map_or(i64::MAX, millis);
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(status).bind(&filter.topic).bind(&filter.language).bind(&filter.district)
            .bind(&filter.expert).bind(before).bind(filter.limit)
            .fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(code, status, topic, language, district, channel, body, expert, since)| {
                    QueueRow {
                        code,
                        status,
                        topic,
                        language,
                        district,
                        channel,
                        body,
                        expert,
                        waiting_since: from_millis(since),
                    }
                },
            )
            .collect())
    }

    /// The districts teachers gave, for the queue's filter.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn districts(&self) -> Result<Vec<String>, StoreError> {
        const SQL: &str = "SELECT DISTINCT district FROM teachers WHERE district IS NOT NULL \
                           ORDER BY district";
        let rows: Vec<(String,)> =
            on_pool!(self, pool => sqlx::query_as(SQL).fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(d,)| d).collect())
    }

    /// A teacher's conversation around `at`: up to `before` lines up to it and `after` lines
    /// after it, in order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn transcript_around(
        &self,
        teacher_id: i64,
        at: DateTime<Utc>,
        before: i64,
        after: i64,
    ) -> Result<Vec<TranscriptLine>, StoreError> {
        const BEFORE: &str = "SELECT at, direction, body FROM transcript \
                              WHERE teacher_id = $1 AND at <= $2 ORDER BY id DESC LIMIT $3";
        const AFTER: &str = "SELECT at, direction, body FROM transcript \
                             WHERE teacher_id = $1 AND at > $2 ORDER BY id LIMIT $3";
        let at = millis(at);
        type Line = (i64, String, String);
        let (mut lines, later): (Vec<Line>, Vec<Line>) = on_pool!(self, pool => {
            let earlier = sqlx::query_as(BEFORE).bind(teacher_id).bind(at).bind(before).fetch_all(pool).await?;
            let later = sqlx::query_as(AFTER).bind(teacher_id).bind(at).bind(after).fetch_all(pool).await?;
            (earlier, later)
        });
        lines.reverse();
        lines.extend(later);
        Ok(lines
            .into_iter()
            .map(|(at, direction, body)| TranscriptLine {
                at: from_millis(at),
                direction,
                body,
            })
            .collect())
    }

    /// Where a teacher is reached, in full: `(channel, the identifier a person would
    /// recognise)`: the phone number on WhatsApp when known, else the channel's user id.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Database`].
    pub async fn teacher_contact(&self, teacher_id: i64) -> Result<(String, String), StoreError> {
        let (channel, user) = self.teacher_address(teacher_id).await?;
        let phone = self.send_address(&channel, &user).await?;
        Ok(match phone {
            Some((kind, number)) if kind == "wa_id" => (channel, number),
            _ => (channel, user),
        })
    }
}

impl Store {
    /// Whether the inbox holds an event with this external id already.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn inbox_has(&self, channel: &str, external_id: &str) -> Result<bool, StoreError> {
        const SQL: &str = "SELECT COUNT(*) FROM inbox WHERE channel = $1 AND external_id = $2";
        let (n,): (i64,) = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(channel).bind(external_id).fetch_one(pool).await?);
        Ok(n > 0)
    }
}
