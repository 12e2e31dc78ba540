//! Who is who on a channel where a person has several identifiers (WhatsApp: a phone-number
//! id and a business-scoped user id, and a phone number that can change): every identifier
//! maps to the conversation key it was first seen with.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, records};

/// One sender to resolve with [`Store::resolve_identities`].
#[derive(Debug, Clone)]
pub struct Identity<'a> {
    /// `(kind, identifier)`, the most stable first (`bsuid` before `wa_id`).
    pub ids: Vec<(&'a str, &'a str)>,
    /// The person wrote (a message): their identifiers' `seen_at` is refreshed, which decides
    /// which phone number is sent to. A status about our own message only looks up.
    pub wrote: bool,
}

/// How stale an identifier's `seen_at` may get before a message from it is written down again:
/// an hour of precision is plenty for "the number seen last", and it spares a write per message.
const SEEN_PRECISION_MS: i64 = 60 * 60 * 1000;

impl Store {
    /// The conversation key of each of `people`, in order: the key any of their identifiers
    /// already maps to, else their first identifier. Identifiers not known yet are recorded as
    /// aliases of the key, and those of people who wrote get a fresh `seen_at`; with one lookup
    /// and at most one write for the whole webhook, however many events it carries.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] when someone has no identifier; [`StoreError::Database`].
    pub async fn resolve_identities(
        &self,
        channel: &str,
        people: &[Identity<'_>],
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        use std::collections::HashMap;
        let now_ms = super::millis(now);
        let mut aliases: Vec<&str> = people
            .iter()
            .flat_map(|p| p.ids.iter().map(|(_, a)| *a))
            .collect();
        aliases.sort_unstable();
        aliases.dedup();
        // alias → (conversation key, seen_at)
        let mut known: HashMap<String, (String, i64)> = HashMap::with_capacity(aliases.len());
        for chunk in records::pow2_chunks(&aliases, 1) {
            let sql = format!(
                "SELECT a.alias, a.channel_user, a.seen_at FROM channel_aliases a \
                 JOIN (VALUES {}) AS v ON a.alias = v.column1 WHERE a.channel = $1",
                records::value_rows_from(&[""], chunk.len(), 2)
            );
            let rows: Vec<(String, String, i64)> = on_pool!(self, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(channel);
                for alias in chunk {
                    q = q.bind(*alias);
                }
                q.fetch_all(pool).await?
            });
            known.extend(
                rows.into_iter()
                    .map(|(alias, user, seen)| (alias, (user, seen))),
            );
        }
        let mut keys = Vec::with_capacity(people.len());
        // alias → (key, kind): what to write, one row per alias (a multi-row upsert may not
        // touch the same row twice).
        let mut writes: Vec<(&str, String, &str)> = Vec::new();
        for person in people {
            let Some((_, first)) = person.ids.first() else {
                return Err(StoreError::NotFound);
            };
            let key = person
                .ids
                .iter()
                .find_map(|(_, alias)| known.get(*alias).map(|(user, _)| user.clone()))
                .unwrap_or_else(|| (*first).to_string());
            for (kind, alias) in &person.ids {
                let stale = match known.get(*alias) {
                    None => true,
                    Some((_, seen)) => person.wrote && now_ms - seen >= SEEN_PRECISION_MS,
                };
                if stale {
                    // Later people in the same webhook find it known and fresh.
                    known.insert((*alias).to_string(), (key.clone(), now_ms));
                    writes.push((alias, key.clone(), kind));
                }
            }
            keys.push(key);
        }
        for chunk in records::pow2_chunks(&writes, 5) {
            let sql = format!(
                "INSERT INTO channel_aliases (channel, alias, channel_user, kind, seen_at) VALUES {} \
                 ON CONFLICT (channel, alias) DO UPDATE SET seen_at = excluded.seen_at",
                records::value_rows(&["", "", "", "", "BIGINT"], chunk.len())
            );
            on_pool!(self, pool => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (alias, key, kind) in chunk {
                    q = q.bind(channel).bind(*alias).bind(key).bind(*kind).bind(now_ms);
                }
                q.execute(pool).await.map(drop)?
            });
        }
        Ok(keys)
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
