//! CPD planning's tables: CPD sessions, recurring issues marked planned and linked to one, and
//! the questions (with who asked them) each plan answers. A plan, its session when new, its
//! questions and one inbox event per teacher (the notice, processed in the teacher's
//! conversation) are written in one transaction; the notices' outbox rows carry the plan's
//! [`notice_tag`] in `outbox.ticket`, which is how a plan's page follows each teacher's notice
//! (told, waiting for the WhatsApp window, skipped because they turned notices off, failed).

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, WINDOW_CLOSED, from_millis, millis, records};

/// What a plan's notices carry in `outbox.ticket` (and nothing else does): `cpd:{plan}`.
#[must_use]
pub fn notice_tag(plan: i64) -> String {
    format!("cpd:{plan}")
}

/// The inbox external id of a plan's notice to one teacher: `cpd:{plan}:{teacher}` (the inbox is
/// unique on it, so a teacher is told about a plan once).
#[must_use]
pub fn notice_external_id(plan: i64, teacher: i64) -> String {
    format!("cpd:{plan}:{teacher}")
}

/// A CPD session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpdSession {
    /// Its id.
    pub id: i64,
    /// Its title, as staff wrote it.
    pub title: String,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// `in_person`, `online` or `cpd_hour`.
    pub mode: String,
    /// A place, or a link.
    pub place_or_link: String,
}

/// A session to create with a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSession {
    /// Its title.
    pub title: String,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// `in_person`, `online` or `cpd_hour`.
    pub mode: String,
    /// A place, or a link.
    pub place_or_link: String,
}

/// The session a new plan links to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionChoice {
    /// One that exists, by id.
    Existing(i64),
    /// A new one.
    New(NewSession),
}

/// A recurring issue to mark planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPlan {
    /// The form's random token: the same form posted again finds the plan it made.
    pub nonce: String,
    /// `Q123`, as the report named the issue.
    pub issue_key: String,
    /// The issue's one-line name.
    pub label: String,
    /// Its most frequent topic.
    pub topic: Option<String>,
    /// The report's period, `[since, until)`.
    pub since: DateTime<Utc>,
    /// The end of the report's period.
    pub until: DateTime<Utc>,
    /// The report's filters, as a query string.
    pub filters: String,
    /// The session.
    pub session: SessionChoice,
    /// The staff account planning it.
    pub created_by: i64,
    /// Now.
    pub now: DateTime<Utc>,
    /// The issue's questions and who asked each: `(question id, teacher id)`.
    pub questions: Vec<(i64, i64)>,
}

/// A notice for one teacher's inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanNotice {
    /// The teacher's channel.
    pub channel: String,
    /// The teacher on it.
    pub channel_user: String,
    /// [`notice_external_id`].
    pub external_id: String,
    /// The inbound message, as JSON.
    pub payload: String,
}

/// What [`Store::create_plan`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanCreated {
    /// The plan's id.
    pub id: i64,
    /// `false` when the form had made it before (nothing new was written).
    pub new: bool,
}

/// A question of a recurring issue, with who asked it and where they are reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asker {
    /// The question's id.
    pub question_id: i64,
    /// The teacher.
    pub teacher_id: i64,
    /// Their channel.
    pub channel: String,
    /// Them on it.
    pub channel_user: String,
    /// What they asked.
    pub body: String,
}

/// A plan as its pages show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Its id.
    pub id: i64,
    /// `Q123`.
    pub issue_key: String,
    /// The issue's one-line name.
    pub label: String,
    /// Its topic.
    pub topic: Option<String>,
    /// The report's period, `[since, until)`.
    pub since: DateTime<Utc>,
    /// The end of the report's period.
    pub until: DateTime<Utc>,
    /// The report's filters, as a query string.
    pub filters: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its notices were queued.
    pub notified_at: Option<DateTime<Utc>>,
    /// Who made it.
    pub created_by: String,
    /// Its session.
    pub session: CpdSession,
    /// Questions it answers.
    pub questions: i64,
}

/// Where one teacher's notice of a plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NoticeState {
    /// Queued: not processed or not sent yet.
    OnTheWay,
    /// Sent (for the web chat: read).
    Told,
    /// Held outside the teacher's WhatsApp window, behind a re-engagement template.
    WaitingWindow,
    /// Held because the teacher cannot be reached (blocked the bot); sent when they write.
    WaitingUnreachable,
    /// Not sent: the teacher turned notices off.
    Skipped,
    /// The platform refused it, or it could not be processed.
    Failed,
}

/// One teacher of a plan and their notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanTeacher {
    /// The plan.
    pub plan_id: i64,
    /// The teacher.
    pub teacher_id: i64,
    /// Their name, if they gave one.
    pub name: Option<String>,
    /// Their language code.
    pub language: String,
    /// Their channel.
    pub channel: String,
    /// Their notice.
    pub state: NoticeState,
}

impl NoticeState {
    /// From the notice's inbox status (`None`: no event) and its outbox rows by status.
    fn of(inbox: Option<&str>, rows: NoticeRows) -> NoticeState {
        match inbox {
            None | Some("pending") => NoticeState::OnTheWay,
            Some("skipped") => NoticeState::Failed,
            _ if rows.failed > 0 => NoticeState::Failed,
            _ if rows.held_window > 0 => NoticeState::WaitingWindow,
            _ if rows.held_other > 0 => NoticeState::WaitingUnreachable,
            _ if rows.pending > 0 => NoticeState::OnTheWay,
            _ if rows.sent > 0 => NoticeState::Told,
            // Processed, and it said nothing: the teacher had turned notices off.
            _ => NoticeState::Skipped,
        }
    }
}

/// A notice's outbox rows by status (copies released from `held` count as themselves).
#[derive(Clone, Copy, Debug, Default)]
struct NoticeRows {
    sent: i64,
    pending: i64,
    held_window: i64,
    held_other: i64,
    failed: i64,
}

type PlanRow = (
    i64,
    String,
    String,
    Option<String>,
    i64,
    i64,
    String,
    i64,
    Option<i64>,
    String,
    i64,
    String,
    i64,
    String,
    String,
    i64,
);

fn plan_of(row: PlanRow) -> Plan {
    let (id, issue_key, label, topic, since, until, filters, created_at, notified_at, by) = (
        row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9,
    );
    Plan {
        id,
        issue_key,
        label,
        topic,
        since: from_millis(since),
        until: from_millis(until),
        filters,
        created_at: from_millis(created_at),
        notified_at: notified_at.map(from_millis),
        created_by: by,
        session: CpdSession {
            id: row.10,
            title: row.11,
            starts_at: from_millis(row.12),
            mode: row.13,
            place_or_link: row.14,
        },
        questions: row.15,
    }
}

type SessionRow = (i64, String, i64, String, String);

fn session_of((id, title, starts_at, mode, place_or_link): SessionRow) -> CpdSession {
    CpdSession {
        id,
        title,
        starts_at: from_millis(starts_at),
        mode,
        place_or_link,
    }
}

impl Store {
    /// The questions `ids` with who asked them and where they are reached, by id.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn askers(&self, ids: &[i64]) -> Result<Vec<Asker>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in records::pow2_chunks(ids, 1) {
            let sql = format!(
                "SELECT q.id, q.teacher_id, t.channel, t.channel_user, q.body FROM questions q \
                 JOIN teachers t ON t.id = q.teacher_id \
                 WHERE q.id IN (SELECT column1 FROM (VALUES {}) AS v) ORDER BY q.id",
                records::value_rows(&["BIGINT"], chunk.len())
            );
            let rows: Vec<(i64, i64, String, String, String)> = on_pool!(self, pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await?
            });
            found.extend(rows.into_iter().map(
                |(question_id, teacher_id, channel, channel_user, body)| Asker {
                    question_id,
                    teacher_id,
                    channel,
                    channel_user,
                    body,
                },
            ));
        }
        found.sort_by_key(|a| a.question_id);
        Ok(found)
    }

    /// Sessions starting at `from` or later, soonest first (the ones a plan can link to).
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn upcoming_cpd_sessions(
        &self,
        from: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<CpdSession>, StoreError> {
        const SQL: &str = "SELECT id, title, starts_at, mode, place_or_link FROM cpd_sessions \
                           WHERE starts_at >= $1 ORDER BY starts_at, id LIMIT $2";
        let rows: Vec<SessionRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(millis(from)).bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().map(session_of).collect())
    }

    /// The latest sessions, latest start first, with how many plans each covers.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn cpd_sessions(&self, limit: i64) -> Result<Vec<(CpdSession, i64)>, StoreError> {
        const SQL: &str = "SELECT s.id, s.title, s.starts_at, s.mode, s.place_or_link, \
                           (SELECT COUNT(*) FROM planned_issues p WHERE p.session_id = s.id) \
                           FROM cpd_sessions s ORDER BY s.starts_at DESC, s.id DESC LIMIT $1";
        let rows: Vec<(i64, String, i64, String, String, i64)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(limit).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|(id, title, at, mode, place, plans)| {
                (session_of((id, title, at, mode, place)), plans)
            })
            .collect())
    }

    /// Marks an issue planned: its session (when new), the plan, its questions, and the
    /// notices `notices(plan id, session)` makes (inbox events, each stored once) in one
    /// transaction. A form posted again (same nonce) writes nothing and names the plan it made.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for an existing session that does not exist;
    /// [`StoreError::Database`]. Nothing is written then.
    pub async fn create_plan(
        &self,
        plan: &NewPlan,
        notices: &(dyn Fn(i64, &CpdSession) -> Vec<PlanNotice> + Sync),
    ) -> Result<PlanCreated, StoreError> {
        const NEW_SESSION: &str = "INSERT INTO cpd_sessions \
            (title, starts_at, mode, place_or_link, created_by, created_at) \
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        const SESSION: &str =
            "SELECT id, title, starts_at, mode, place_or_link FROM cpd_sessions WHERE id = $1";
        const PLAN: &str = "INSERT INTO planned_issues (nonce, issue_key, label, topic, \
            period_since, period_until, filters, session_id, created_by, created_at, notified_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
            ON CONFLICT (nonce) DO NOTHING RETURNING id";
        let now = millis(plan.now);
        macro_rules! statements {
            ($tx:ident) => {{
                let session = match &plan.session {
                    SessionChoice::New(s) => {
                        let (id,): (i64,) = sqlx::query_as(NEW_SESSION)
                            .bind(&s.title).bind(millis(s.starts_at)).bind(&s.mode)
                            .bind(&s.place_or_link).bind(plan.created_by).bind(now)
                            .fetch_one(&mut *$tx).await?;
                        CpdSession {
                            id,
                            title: s.title.clone(),
                            starts_at: s.starts_at,
                            mode: s.mode.clone(),
                            place_or_link: s.place_or_link.clone(),
                        }
                    }
                    SessionChoice::Existing(id) => {
                        let row: Option<SessionRow> = sqlx::query_as(SESSION)
                            .bind(*id).fetch_optional(&mut *$tx).await?;
                        session_of(row.ok_or(StoreError::NotFound)?)
                    }
                };
                let made: Option<(i64,)> = sqlx::query_as(PLAN)
                    .bind(&plan.nonce).bind(&plan.issue_key).bind(&plan.label).bind(&plan.topic)
                    .bind(millis(plan.since)).bind(millis(plan.until)).bind(&plan.filters)
                    .bind(session.id).bind(plan.created_by).bind(now)
                    .fetch_optional(&mut *$tx).await?;
                let Some((id,)) = made else {
                    // Posted before: drop this transaction (and any session it made).
                    drop($tx);
                    let id = self.plan_with_nonce(&plan.nonce).await?.ok_or(StoreError::NotFound)?;
                    return Ok(PlanCreated { id, new: false });
                };
                for chunk in records::pow2_chunks(&plan.questions, 3) {
                    let sql = format!(
                        "INSERT INTO planned_questions (plan_id, question_id, teacher_id) VALUES {} \
                         ON CONFLICT DO NOTHING",
                        records::value_rows(&["", "", ""], chunk.len())
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (question, teacher) in chunk {
                        q = q.bind(id).bind(*question).bind(*teacher);
                    }
                    q.execute(&mut *$tx).await?;
                }
                let notices = notices(id, &session);
                for chunk in records::pow2_chunks(&notices, 5) {
                    let sql = format!(
                        "INSERT INTO inbox (channel, external_id, channel_user, payload, received_at) \
                         VALUES {} ON CONFLICT (channel, external_id) DO NOTHING",
                        records::value_rows(&["", "", "", "", ""], chunk.len())
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for n in chunk {
                        q = q.bind(&n.channel).bind(&n.external_id).bind(&n.channel_user)
                            .bind(&n.payload).bind(now);
                    }
                    q.execute(&mut *$tx).await?;
                }
                $tx.commit().await?;
                Ok(PlanCreated { id, new: true })
            }};
        }
        let _turn = self.write_turn().await;
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                statements!(tx)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                statements!(tx)
            }
        }
    }

    /// The plan a form made, by the form's nonce.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn plan_with_nonce(&self, nonce: &str) -> Result<Option<i64>, StoreError> {
        const SQL: &str = "SELECT id FROM planned_issues WHERE nonce = $1";
        let row: Option<(i64,)> =
            on_pool!(self, pool => sqlx::query_as(SQL).bind(nonce).fetch_optional(pool).await?);
        Ok(row.map(|(id,)| id))
    }

    /// The latest plans, newest first.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn plans(&self, limit: i64) -> Result<Vec<Plan>, StoreError> {
        self.select_plans(0, limit).await
    }

    /// One plan.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`]; [`StoreError::Database`].
    pub async fn plan(&self, id: i64) -> Result<Plan, StoreError> {
        if id <= 0 {
            return Err(StoreError::NotFound);
        }
        let mut found = self.select_plans(id, 1).await?;
        found.pop().ok_or(StoreError::NotFound)
    }

    /// Plan `id` (0: any), newest first.
    async fn select_plans(&self, id: i64, limit: i64) -> Result<Vec<Plan>, StoreError> {
        const SQL: &str = "SELECT p.id, p.issue_key, p.label, p.topic, p.period_since, \
            p.period_until, p.filters, p.created_at, p.notified_at, u.name, \
            s.id, s.title, s.starts_at, s.mode, s.place_or_link, \
            (SELECT COUNT(*) FROM planned_questions pq WHERE pq.plan_id = p.id) \
            FROM planned_issues p JOIN staff_users u ON u.id = p.created_by \
            JOIN cpd_sessions s ON s.id = p.session_id \
            WHERE ($1 = 0 OR p.id = $1) ORDER BY p.id DESC LIMIT $2";
        let rows: Vec<PlanRow> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(id).bind(limit).fetch_all(pool).await?);
        Ok(rows.into_iter().map(plan_of).collect())
    }

    /// The teachers of plan `id` (0: of the latest `limit` plans) and where each one's notice
    /// stands, by plan and teacher.
    ///
    /// # Errors
    ///
    /// [`StoreError::Database`].
    pub async fn plan_teachers(&self, id: i64, limit: i64) -> Result<Vec<PlanTeacher>, StoreError> {
        // The ids are written as `notice_external_id` and `notice_tag` write them.
        const SQL: &str = "SELECT p.plan_id, p.teacher_id, t.name, t.language, t.channel, i.status, \
            COALESCE(SUM(CASE WHEN o.status = 'sent' THEN 1 ELSE 0 END), 0), \
            COALESCE(SUM(CASE WHEN o.status = 'pending' THEN 1 ELSE 0 END), 0), \
            COALESCE(SUM(CASE WHEN o.status = 'held' AND COALESCE(o.error, '') = $1 THEN 1 ELSE 0 END), 0), \
            COALESCE(SUM(CASE WHEN o.status = 'held' AND COALESCE(o.error, '') <> $1 THEN 1 ELSE 0 END), 0), \
            COALESCE(SUM(CASE WHEN o.status = 'failed' THEN 1 ELSE 0 END), 0) \
            FROM (SELECT DISTINCT plan_id, teacher_id FROM planned_questions WHERE plan_id IN \
                  (SELECT id FROM planned_issues WHERE ($2 = 0 OR id = $2) ORDER BY id DESC LIMIT $3)) p \
            JOIN teachers t ON t.id = p.teacher_id \
            LEFT JOIN inbox i ON i.channel = t.channel \
                 AND i.external_id = 'cpd:' || CAST(p.plan_id AS TEXT) || ':' || CAST(p.teacher_id AS TEXT) \
            LEFT JOIN outbox o ON o.teacher_id = p.teacher_id \
                 AND o.ticket = 'cpd:' || CAST(p.plan_id AS TEXT) \
            GROUP BY p.plan_id, p.teacher_id, t.name, t.language, t.channel, i.status \
            ORDER BY p.plan_id DESC, p.teacher_id";
        type Row = (
            i64,
            i64,
            Option<String>,
            String,
            String,
            Option<String>,
            i64,
            i64,
            i64,
            i64,
            i64,
        );
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(SQL)
            .bind(WINDOW_CLOSED).bind(id).bind(limit).fetch_all(pool).await?);
        Ok(rows
            .into_iter()
            .map(|r| {
                let counts = NoticeRows {
                    sent: r.6,
                    pending: r.7,
                    held_window: r.8,
                    held_other: r.9,
                    failed: r.10,
                };
                PlanTeacher {
                    plan_id: r.0,
                    teacher_id: r.1,
                    name: r.2,
                    language: r.3,
                    channel: r.4,
                    state: NoticeState::of(r.5.as_deref(), counts),
                }
            })
            .collect())
    }
}
