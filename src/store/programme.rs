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
                // `{teacher}` stands for the teacher's id, which the pure side does not know.
                let teacher = c.teacher_id.to_string();
                sqlx::query(
                    "INSERT INTO jobs (kind, dedup_key, payload, due_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind(kind)
                .bind(key.replace("{teacher}", &teacher))
                .bind(payload.replace("{teacher}", &teacher))
                .bind($crate::store::millis(*due_at))
                .bind($crate::store::millis(c.now))
                .execute(&mut *$tx)
                .await?;
            }
            $crate::programme::Effect::SharePractice(shared) => {
                sqlx::query($crate::store::practices::INSERT_PRACTICE)
                    .bind(c.teacher_id)
                    .bind(&shared.grade)
                    .bind(&shared.subject)
                    .bind(&shared.what)
                    .bind(&shared.class)
                    .bind(&shared.result)
                    .bind(&shared.photo)
                    .bind($crate::store::millis(c.now))
                    .execute(&mut *$tx)
                    .await?;
            }
            $crate::programme::Effect::Endorse { practice } => {
                sqlx::query($crate::store::practices::INSERT_ENDORSEMENT)
                    .bind(*practice)
                    .bind(c.teacher_id)
                    .bind($crate::store::millis(c.now))
                    .execute(&mut *$tx)
                    .await?;
            }
            $crate::programme::Effect::Verify { code } => {
                let payload = serde_json::json!({ "teacher": c.teacher_id, "code": code });
                sqlx::query(
                    "INSERT INTO jobs (kind, dedup_key, payload, due_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dedup_key) DO NOTHING",
                )
                .bind($crate::scheduler::verify::KIND)
                .bind(format!(
                    "verify:{}:{}",
                    c.teacher_id,
                    $crate::store::millis(c.now)
                ))
                .bind(payload.to_string())
                .bind($crate::store::millis(c.now))
                .bind($crate::store::millis(c.now))
                .execute(&mut *$tx)
                .await?;
            }
            $crate::programme::Effect::Forget { state, profile } => {
                $crate::store::privacy::forget!($tx, c, state, profile);
            }
            $crate::programme::Effect::Rsvp { session, attend } => {
                sqlx::query($crate::store::calendar::UPSERT_RSVP)
                    .bind(session)
                    .bind(c.teacher_id)
                    .bind(if *attend { "yes" } else { "no" })
                    .bind($crate::store::millis(c.now))
                    .execute(&mut *$tx)
                    .await?;
            }
        }
    }};
}
pub(crate) use write_effect;
