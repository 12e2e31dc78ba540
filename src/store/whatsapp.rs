//! What the WhatsApp dispatcher and status webhooks write: the wamid of each sent row, the
//! statuses that follow it (forward only, early ones kept until their wamid is known), and
//! the rows held while a teacher's 24-hour window is closed, with the re-engagement template
//! that asks them to reply.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, millis, records};

/// The payload of a re-engagement template row: the dispatcher sends the template configured
/// for this purpose in the teacher's language.
pub const REENGAGE_PAYLOAD: &str = r#"{"template":"reengage"}"#;

/// Why rows wait while the window is closed (kept on the rows, shown in the console).
pub const WINDOW_CLOSED: &str = "outside WhatsApp's 24-hour window; waiting for the teacher";

/// WhatsApp's error code for a free-form message outside the 24-hour window.
pub const CODE_WINDOW_CLOSED: i64 = 131_047;

/// A status's place in the order a message goes through (`failed` is final).
pub(crate) fn rank_sql(column: &str) -> String {
    format!(
        "(CASE COALESCE({column}, '') WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 \
         WHEN 'played' THEN 4 WHEN 'failed' THEN 9 ELSE 0 END)"
    )
}

/// Applies one status to the row sent with its wamid, inside the open transaction `$tx`:
/// forward only (statuses arrive out of order and twice); `failed` fails the row with the
/// reason, except outside the 24-hour window (131047), where the row is held for the
/// teacher's next message, the window recorded closed and a re-engagement template queued.
/// A status for a wamid not recorded yet waits in `early_deliveries`.
macro_rules! apply_delivery {
    ($tx:ident, $delivery:expr, $now_ms:expr) => {{
        let d: &$crate::store::Delivery = $delivery;
        let now_ms: i64 = $now_ms;
        let rank_new = $crate::store::whatsapp::rank_sql("$1");
        let rank_old = $crate::store::whatsapp::rank_sql("delivery");
        let window = d.status == "failed" && d.code == Some($crate::store::whatsapp::CODE_WINDOW_CLOSED);
        let updated: Vec<(i64, String, String)> = if window {
            sqlx::query_as(
                "UPDATE outbox SET delivery = 'failed', delivery_at = $1, status = 'held', error = $2 \
                 WHERE provider_id = $3 AND COALESCE(delivery, '') <> 'failed' \
                 RETURNING teacher_id, channel, channel_user",
            )
            .bind(now_ms).bind($crate::store::whatsapp::WINDOW_CLOSED).bind(&d.provider_id)
            .fetch_all(&mut *$tx).await?
        } else {
            let sql = format!(
                "UPDATE outbox SET delivery = $1, delivery_at = $2, \
                 error = CASE WHEN $1 = 'failed' THEN COALESCE($3, error) ELSE error END, \
                 status = CASE WHEN $1 = 'failed' THEN 'failed' ELSE status END \
                 WHERE provider_id = $4 AND {rank_new} > {rank_old} \
                 RETURNING teacher_id, channel, channel_user"
            );
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&d.status).bind(now_ms).bind(&d.reason).bind(&d.provider_id)
                .fetch_all(&mut *$tx).await?
        };
        if window {
            for (teacher, channel, channel_user) in &updated {
                // Closed as of the send; a message the teacher wrote since reopened it.
                sqlx::query(
                    "UPDATE teachers SET last_inbound_at = NULL WHERE id = $1 AND \
                     (last_inbound_at IS NULL OR last_inbound_at <= \
                      (SELECT MAX(sent_at) FROM outbox WHERE provider_id = $2))",
                )
                .bind(*teacher).bind(&d.provider_id)
                .execute(&mut *$tx).await?;
                $crate::store::whatsapp::queue_reengage!($tx, *teacher, channel, channel_user, now_ms);
            }
        }
        if updated.is_empty() {
            let known: Option<(i64,)> = sqlx::query_as("SELECT id FROM outbox WHERE provider_id = $1 LIMIT 1")
                .bind(&d.provider_id)
                .fetch_optional(&mut *$tx).await?;
            if known.is_none() {
                let rank_new = $crate::store::whatsapp::rank_sql("excluded.status");
                let rank_old = $crate::store::whatsapp::rank_sql("early_deliveries.status");
                let sql = format!(
                    "INSERT INTO early_deliveries (provider_id, status, code, reason, at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (provider_id) DO UPDATE SET \
                     status = excluded.status, code = excluded.code, reason = excluded.reason, \
                     at = excluded.at WHERE {rank_new} > {rank_old}"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&d.provider_id).bind(&d.status).bind(d.code).bind(&d.reason).bind(now_ms)
                    .execute(&mut *$tx).await?;
            }
        }
    }};
}
pub(crate) use apply_delivery;

/// Queues a re-engagement template for a teacher inside `$tx`, unless one is pending already.
macro_rules! queue_reengage {
    ($tx:ident, $teacher:expr, $channel:expr, $channel_user:expr, $now_ms:expr) => {{
        sqlx::query(
            "INSERT INTO outbox (teacher_id, channel, channel_user, payload, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS \
             (SELECT 1 FROM outbox WHERE teacher_id = $1 AND status = 'pending' AND payload = $4)",
        )
        .bind($teacher)
        .bind($channel)
        .bind($channel_user)
        .bind($crate::store::whatsapp::REENGAGE_PAYLOAD)
        .bind($now_ms)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(crate) use queue_reengage;

/// Where a teacher stands with WhatsApp's 24-hour window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowState {
    /// When the teacher last wrote (`None`: never, or the window was found closed).
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// When the last re-engagement template went out.
    pub reengaged_at: Option<DateTime<Utc>>,
    /// The teacher's language code.
    pub language: String,
}

/// One outbox row as the console and reports show its delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentRow {
    /// The row.
    pub id: i64,
    /// pending, sent, failed, held, released, skipped.
    pub status: String,
    /// What the platform said became of it: sent, delivered, read, played, failed.
    pub delivery: Option<String>,
    /// The platform's id of what was sent.
    pub provider_id: Option<String>,
    /// Why it failed, waits or was skipped.
    pub error: Option<String>,
    /// The payload (a reply, or a template row).
    pub payload: String,
}

impl Store {
    /// Every outbox row of one recipient with its delivery, oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn deliveries(
        &self,
        channel: &str,
        channel_user: &str,
    ) -> Result<Vec<SentRow>, StoreError> {
        const SQL: &str = "SELECT id, status, delivery, provider_id, error, payload FROM outbox \
                           WHERE channel = $1 AND channel_user = $2 ORDER BY id";
        type Row = (
            i64,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL).bind(channel).bind(channel_user).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(
                |(id, status, delivery, provider_id, error, payload)| SentRow {
                    id,
                    status,
                    delivery,
                    provider_id,
                    error,
                    payload,
                },
            )
            .collect())
    }

    /// Marks outbox rows sent, each with the platform's id of what was sent when it gave one,
    /// and applies statuses that arrived for those ids before this record.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn mark_sent_as(
        &self,
        rows: &[(i64, Option<String>)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let plain: Vec<i64> = rows
            .iter()
            .filter(|(_, provider)| provider.is_none())
            .map(|(id, _)| *id)
            .collect();
        if !plain.is_empty() {
            self.mark_sent(&plain, now).await?;
        }
        let named: Vec<(i64, &str)> = rows
            .iter()
            .filter_map(|(id, provider)| provider.as_deref().map(|p| (*id, p)))
            .collect();
        if named.is_empty() {
            return Ok(());
        }
        let now_ms = millis(now);
        macro_rules! statements {
            ($tx:ident) => {{
                for chunk in records::pow2_chunks(&named, 2) {
                    let sql = format!(
                        "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
                         provider_id = v.column2 FROM (VALUES {}) AS v \
                         WHERE outbox.id = v.column1 AND outbox.status = 'pending'",
                        records::value_rows_from(&["BIGINT", "TEXT"], chunk.len(), 2)
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now_ms);
                    for (id, provider) in chunk {
                        q = q.bind(*id).bind(*provider);
                    }
                    q.execute(&mut *$tx).await?;
                }
                for (_, provider) in &named {
                    let early: Option<(String, Option<i64>, Option<String>, i64)> = sqlx::query_as(
                        "DELETE FROM early_deliveries WHERE provider_id = $1 \
                         RETURNING status, code, reason, at",
                    )
                    .bind(*provider)
                    .fetch_optional(&mut *$tx)
                    .await?;
                    if let Some((status, code, reason, at)) = early {
                        let delivery = super::Delivery {
                            provider_id: (*provider).to_string(),
                            status,
                            code,
                            reason,
                        };
                        apply_delivery!($tx, &delivery, at);
                    }
                }
            }};
        }
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx);
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx);
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// The teacher's window: when they last wrote, when they were last sent a re-engagement
    /// template, their language. `None` for an unknown teacher.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn window_state(
        &self,
        channel: &str,
        channel_user: &str,
    ) -> Result<Option<WindowState>, StoreError> {
        const SQL: &str = "SELECT last_inbound_at, reengaged_at, language FROM teachers \
                           WHERE channel = $1 AND channel_user = $2";
        let row: Option<(Option<i64>, Option<i64>, String)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(channel)
            .bind(channel_user)
            .fetch_optional(pool)
            .await?);
        Ok(row.map(|(inbound, reengaged, language)| WindowState {
            last_inbound_at: inbound.and_then(DateTime::from_timestamp_millis),
            reengaged_at: reengaged.and_then(DateTime::from_timestamp_millis),
            language,
        }))
    }

    /// The window is closed: the pending rows `ids` are held for the teacher's next message,
    /// the window is recorded closed (Meta may have said so before our clock did), and a
    /// re-engagement template is queued unless one is pending already. `seen` is the last
    /// inbound time the caller decided on: when the teacher has written since, nothing is
    /// held and `false` comes back (send again instead).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn hold_for_window(
        &self,
        channel: &str,
        channel_user: &str,
        ids: &[i64],
        seen: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let now_ms = millis(now);
        let seen_ms = seen.map(millis);
        macro_rules! statements {
            ($tx:ident) => {{
                let teacher: Option<(i64, Option<i64>)> = sqlx::query_as(
                    "SELECT id, last_inbound_at FROM teachers WHERE channel = $1 AND channel_user = $2",
                )
                .bind(channel)
                .bind(channel_user)
                .fetch_optional(&mut *$tx)
                .await?;
                let Some((teacher, inbound)) = teacher else {
                    return Ok(false);
                };
                if inbound.is_some() && inbound > seen_ms {
                    return Ok(false);
                }
                for chunk in records::pow2_chunks(ids, 1) {
                    let sql = format!(
                        "UPDATE outbox SET status = 'held', error = $1 WHERE status = 'pending' \
                         AND id IN (SELECT column1 FROM (VALUES {}) AS v)",
                        records::value_rows_from(&["BIGINT"], chunk.len(), 2)
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(WINDOW_CLOSED);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *$tx).await?;
                }
                sqlx::query("UPDATE teachers SET last_inbound_at = NULL WHERE id = $1")
                    .bind(teacher)
                    .execute(&mut *$tx)
                    .await?;
                queue_reengage!($tx, teacher, channel, channel_user, now_ms);
            }};
        }
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx);
                tx.commit().await?;
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx);
                tx.commit().await?;
            }
        }
        Ok(true)
    }

    /// Records that a re-engagement template went out to the teacher now.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn record_reengaged(
        &self,
        channel: &str,
        channel_user: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const SQL: &str =
            "UPDATE teachers SET reengaged_at = $1 WHERE channel = $2 AND channel_user = $3";
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(SQL).bind(millis(now)).bind(channel).bind(channel_user).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// Settles pending rows that were deliberately not sent (a re-engagement template inside
    /// its period), with the reason.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn mark_skipped(
        &self,
        ids: &[i64],
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.settle(ids, "skipped", Some(reason), now).await
    }
}

/// Download attempts for one file before it is left with its reason.
pub const MEDIA_ATTEMPTS: i64 = 5;

/// A file a teacher attached to a question, as kept for the experts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeptMedia {
    /// Its MIME type, as the platform gave it.
    pub mime: String,
    /// The file.
    pub bytes: Vec<u8>,
}

impl Store {
    /// Files attached to questions by teachers on `channel` that are not kept yet (never
    /// tried, or failed fewer than [`MEDIA_ATTEMPTS`] times and not in the last minute per
    /// attempt), oldest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn media_to_keep(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        // A failed file waits a minute per attempt before the next.
        // Files of tickets, and photos of shared practices (staff review them in the console).
        const SQL: &str = "SELECT file_id FROM (\
             SELECT tm.file_id AS file_id, tm.id AS n FROM ticket_messages tm \
             JOIN tickets t ON t.code = tm.ticket JOIN teachers te ON te.id = t.teacher_id \
             LEFT JOIN media m ON m.channel = te.channel AND m.file_id = tm.file_id \
             WHERE tm.file_id IS NOT NULL AND te.channel = $1 AND m.bytes IS NULL \
             AND COALESCE(m.attempts, 0) < $2 \
             AND COALESCE(m.fetched_at + m.attempts * 60000, 0) <= $3 \
             UNION ALL \
             SELECT p.photo_file_id AS file_id, p.id AS n FROM practices p \
             LEFT JOIN media m ON m.channel = p.photo_channel AND m.file_id = p.photo_file_id \
             WHERE p.photo_file_id IS NOT NULL AND p.photo_channel = $1 AND m.bytes IS NULL \
             AND COALESCE(m.attempts, 0) < $2 \
             AND COALESCE(m.fetched_at + m.attempts * 60000, 0) <= $3) AS wanted \
             ORDER BY n LIMIT $4";
        let rows: Vec<(String,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(channel).bind(MEDIA_ATTEMPTS).bind(millis(now)).bind(limit)
            .fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Keeps a downloaded file (`Ok`) or records a failed attempt with its reason (`Err`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn keep_media(
        &self,
        channel: &str,
        file_id: &str,
        result: Result<(Vec<u8>, String), String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (mime, bytes, error) = match result {
            Ok((bytes, mime)) => (Some(mime), Some(bytes), None),
            Err(reason) => (None, None, Some(reason)),
        };
        const SQL: &str = "INSERT INTO media (channel, file_id, mime, bytes, attempts, error, fetched_at) \
             VALUES ($1, $2, $3, $4, 1, $5, $6) ON CONFLICT (channel, file_id) DO UPDATE SET \
             mime = COALESCE(excluded.mime, media.mime), bytes = COALESCE(excluded.bytes, media.bytes), \
             attempts = media.attempts + 1, error = excluded.error, fetched_at = excluded.fetched_at";
        let _turn = self.write_turn().await;
        on_pool!(self, pool => sqlx::query(SQL)
            .bind(channel).bind(file_id).bind(&mime).bind(&bytes).bind(&error).bind(millis(now))
            .execute(pool).await.map(drop)?);
        Ok(())
    }

    /// A kept file, if it was downloaded.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn kept_media(
        &self,
        channel: &str,
        file_id: &str,
    ) -> Result<Option<KeptMedia>, StoreError> {
        const SQL: &str = "SELECT mime, bytes FROM media WHERE channel = $1 AND file_id = $2 AND bytes IS NOT NULL";
        let row: Option<(Option<String>, Vec<u8>)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(channel).bind(file_id)
            .fetch_optional(pool).await?);
        Ok(row.map(|(mime, bytes)| KeptMedia {
            mime: mime.unwrap_or_else(|| "application/octet-stream".into()),
            bytes,
        }))
    }
}
