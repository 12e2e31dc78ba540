//! Leases (`leases` table): work one instance holds for a while, so that several instances on
//! one database share it without doing it twice: a conversation being stepped
//! (`conversation:{channel}:{channel_user}`), or a singleton role (`leader:{role}`: a platform's
//! dispatcher, Telegram polling, the SLA watch).
//!
//! Taking a lease is one upsert that succeeds only where the lease is free, has expired, or is
//! the taker's already (so renewing is the same statement); releasing deletes it only while the
//! releaser still holds it. The primary key makes two takers of one name meet on one row, which
//! both backends serialise, so exactly one of them gets it.

use chrono::{DateTime, Utc};

use super::records::{pow2_chunks, value_rows_from};
use super::{Backend, Store, StoreError, millis};

/// The lease name of a conversation's worker.
#[must_use]
pub fn conversation_lease(channel: &str, channel_user: &str) -> String {
    format!("conversation:{channel}:{channel_user}")
}

impl Store {
    /// Takes (or renews) each lease of `names` for `holder` until `until` where it is free, has
    /// expired by `now`, or is `holder`'s already; returns the names `holder` now holds.
    ///
    /// Names are taken in sorted order, so two instances asking for overlapping sets at once
    /// never deadlock on PostgreSQL's row locks.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; nothing was taken.
    pub async fn take_leases(
        &self,
        names: &[String],
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let mut sorted: Vec<&String> = names.iter().collect();
        sorted.sort();
        sorted.dedup();
        let mut held = Vec::with_capacity(sorted.len());
        let _turn = self.write_turn().await;
        for chunk in pow2_chunks(&sorted, 1) {
            // `WHERE true`: SQLite reads `ON` after a bare `FROM (…)` as a join constraint.
            let sql = format!(
                "INSERT INTO leases (name, holder, until) \
                 SELECT v.column1, CAST($1 AS TEXT), CAST($2 AS BIGINT) FROM (VALUES {}) AS v WHERE true \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until \
                 WHERE leases.until < $3 OR leases.holder = excluded.holder \
                 RETURNING name",
                value_rows_from(&["TEXT"], chunk.len(), 4)
            );
            let rows: Vec<(String,)> = on_pool!(self, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(holder)
                    .bind(millis(until))
                    .bind(millis(now));
                for name in chunk {
                    q = q.bind(name.as_str());
                }
                q.fetch_all(pool).await?
            });
            held.extend(rows.into_iter().map(|(name,)| name));
        }
        Ok(held)
    }

    /// Takes (or renews) one lease; whether `holder` now holds it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; nothing was taken.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let held = self
            .take_leases(&[name.to_string()], holder, now, until)
            .await?;
        Ok(!held.is_empty())
    }

    /// Gives back the leases of `names` that `holder` still holds (one it lost to someone else
    /// stays theirs).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; the leases expire on their own.
    pub async fn release_leases(&self, names: &[String], holder: &str) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        for chunk in pow2_chunks(names, 1) {
            let sql = format!(
                "DELETE FROM leases WHERE holder = $1 AND name IN (SELECT v.column1 FROM (VALUES {}) AS v)",
                value_rows_from(&["TEXT"], chunk.len(), 2)
            );
            on_pool!(self, pool => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(holder);
                for name in chunk {
                    q = q.bind(name.as_str());
                }
                q.execute(pool).await.map(drop)?
            });
        }
        Ok(())
    }

    /// Gives back every lease `holder` holds (an instance shutting down).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`]; the leases expire on their own.
    pub async fn release_all_leases(&self, holder: &str) -> Result<u64, StoreError> {
        let _turn = self.write_turn().await;
        const SQL: &str = "DELETE FROM leases WHERE holder = $1";
        let done = on_pool!(self, pool => sqlx::query(SQL).bind(holder).execute(pool).await?.rows_affected());
        Ok(done)
    }

    /// Who holds the lease `name` now, if anyone (an expired lease is nobody's).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn lease_holder(
        &self,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        const SQL: &str = "SELECT holder FROM leases WHERE name = $1 AND until >= $2";
        let row: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(name)
            .bind(millis(now))
            .fetch_optional(pool)
            .await?);
        Ok(row.map(|(holder,)| holder))
    }
}
