//! What programme features write in a conversation's commit ([`crate::programme::Effect`]):
//! one arm per effect in [`write_effect!`], inside the commit's transaction, so a record and
//! the replies that speak of it are written together or not at all. Features' own reads and
//! writes outside a commit (a broadcast's recipients, a session's RSVP counts) live in their
//! own files of this module.

/// Writes one [`crate::programme::Effect`] of commit `$c` inside the open transaction `$tx`.
macro_rules! write_effect {
    ($tx:ident, $c:expr, $effect:expr) => {{
        let c: &$crate::store::Commit = $c;
        match $effect {
            $crate::programme::Effect::ScheduleJob {
                kind,
                key,
                payload,
                due_at,
            } => {
                sqlx::query(
                    "INSERT INTO jobs (kind, dedup_key, payload, due_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind(kind)
                .bind(key)
                .bind(payload)
                .bind($crate::store::millis(*due_at))
                .bind($crate::store::millis(c.now))
                .execute(&mut *$tx)
                .await?;
            }
        }
    }};
}
pub(crate) use write_effect;
