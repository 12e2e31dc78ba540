//! Who is who on a channel where a person has several identifiers (WhatsApp: a phone-number
//! id and a business-scoped user id, and a phone number that can change): every identifier
//! maps to the conversation key it was first seen with.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError};

impl Store {
    /// The conversation key of someone known by `ids` (`(kind, identifier)`, the most stable
    /// first): the key any of them already maps to, else the first identifier. Every identifier
    /// is recorded as an alias of the key.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn resolve_identity(
        &self,
        channel: &str,
        ids: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        const FIND: &str =
            "SELECT channel_user FROM channel_aliases WHERE channel = $1 AND alias = $2";
        let Some((_, first)) = ids.first() else {
            return Err(StoreError::NotFound);
        };
        let mut key = None;
        for (_, alias) in ids {
            let found: Option<(String,)> = on_pool!(self, pool => sqlx::query_as(FIND).bind(channel).bind(*alias).fetch_optional(pool).await?);
            if let Some((user,)) = found {
                key = Some(user);
                break;
            }
        }
        let key = key.unwrap_or_else(|| (*first).to_string());
        for (kind, alias) in ids {
            self.record_alias(channel, alias, &key, kind, false, now)
                .await?;
        }
        Ok(key)
    }

    /// Records `alias` as an identifier of `channel_user`; `moved` takes it over from whoever
    /// had it (a phone number that now belongs to this teacher).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn record_alias(
        &self,
        channel: &str,
        alias: &str,
        channel_user: &str,
        kind: &str,
        moved: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        const KEEP: &str = "INSERT INTO channel_aliases (channel, alias, channel_user, kind, seen_at) \
                            VALUES ($1, $2, $3, $4, $5) \
                            ON CONFLICT (channel, alias) DO UPDATE SET seen_at = excluded.seen_at";
        const MOVE: &str = "INSERT INTO channel_aliases (channel, alias, channel_user, kind, seen_at) \
                            VALUES ($1, $2, $3, $4, $5) \
                            ON CONFLICT (channel, alias) DO UPDATE SET seen_at = excluded.seen_at, \
                            channel_user = excluded.channel_user";
        let sql = if moved { MOVE } else { KEEP };
        let at = super::millis(now);
        on_pool!(self, pool => sqlx::query(sql).bind(channel).bind(alias).bind(channel_user).bind(kind).bind(at).execute(pool).await.map(drop)?);
        Ok(())
    }

    /// The identifier to send to: the phone number seen last, else the business-scoped id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn send_address(
        &self,
        channel: &str,
        channel_user: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        const SQL: &str = "SELECT kind, alias FROM channel_aliases WHERE channel = $1 AND channel_user = $2 \
                           ORDER BY CASE kind WHEN 'wa_id' THEN 0 ELSE 1 END, seen_at DESC LIMIT 1";
        let row: Option<(String, String)> = on_pool!(self, pool => sqlx::query_as(SQL).bind(channel).bind(channel_user).fetch_optional(pool).await?);
        Ok(row)
    }
}
