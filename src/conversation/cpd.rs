//! CPD planning reaching teachers: a recurring issue marked planned is written with one notice
//! per teacher who asked about it, as an inbox event of that teacher's conversation (external
//! id [`crate::store::notice_external_id`], so a form posted again or a retry never tells
//! anyone twice). The notice is then processed in order with whatever the teacher sends, and
//! its replies go through the outbox like any other: the WhatsApp window, unreachable teachers
//! and opt-outs ([`crate::helpdesk::notice`]) are handled where they always are.

use std::collections::BTreeMap;

use super::Conversations;
use crate::channel::InboundMessage;
use crate::helpdesk::notice::{CpdNotice, Mode};
use crate::store::{
    Asker, CpdSession, NewPlan, PlanCreated, PlanNotice, StoreError, notice_external_id,
};

impl Conversations {
    /// Marks an issue planned with the questions `question_ids` (their askers are read now,
    /// so the plan keeps exactly who asked) and queues each asker's notice, quoting the first
    /// of their questions; wakes the worker.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for an existing session that does not exist;
    /// [`StoreError::Database`]. Nothing is written then.
    pub async fn plan_cpd(
        &self,
        mut plan: NewPlan,
        question_ids: &[i64],
    ) -> Result<PlanCreated, StoreError> {
        let askers = self.store().askers(question_ids).await?;
        plan.questions = askers
            .iter()
            .map(|a| (a.question_id, a.teacher_id))
            .collect();
        let mut first: BTreeMap<i64, &Asker> = BTreeMap::new();
        for asker in &askers {
            first.entry(asker.teacher_id).or_insert(asker);
        }
        let notices = |id: i64, session: &CpdSession| -> Vec<PlanNotice> {
            let mode = Mode::parse(&session.mode).unwrap_or(Mode::CpdHour);
            first
                .values()
                .map(|asker| PlanNotice {
                    channel: asker.channel.clone(),
                    channel_user: asker.channel_user.clone(),
                    external_id: notice_external_id(id, asker.teacher_id),
                    payload: serde_json::to_string(&InboundMessage::CpdNotice(CpdNotice {
                        plan: id,
                        question: asker.body.clone(),
                        title: session.title.clone(),
                        starts_at: session.starts_at,
                        mode,
                        place: session.place_or_link.clone(),
                    }))
                    .unwrap_or_default(),
                })
                .collect()
        };
        let created = self.store().create_plan(&plan, &notices).await?;
        if created.new {
            tracing::info!(
                plan.id = created.id,
                teachers = first.len(),
                "issue planned; notices queued"
            );
            self.kick();
        }
        Ok(created)
    }
}
