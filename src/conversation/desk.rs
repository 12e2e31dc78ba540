//! Experts acting on tickets, from the web console or the Telegram expert group: the ticket is
//! read, [`crate::helpdesk::desk::decide`] says what changes, and the change is written only if
//! the ticket is still as read (a compare-and-set in one transaction); when another expert was
//! quicker it is read again and decided again, so the second claim is refused with the first
//! expert's name instead of overwriting it. An answer reaches the teacher through their inbox,
//! ordered with what they send; every action is mirrored in the ticket's topic of the expert
//! group when there is one, so both places show the same ticket.

use super::Conversations;
use crate::channel::InboundMessage;
use crate::helpdesk::desk::{self, Action, Refusal, Seen};
use crate::store::{ExpertWrite, StoreError, TicketMessageRow};

/// Times a ticket is read again when another expert changed it in between.
const RETRIES: usize = 3;

/// Why an expert's action was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The action does not fit the ticket's state (tell the expert why).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The ticket kept changing under us (try again).
    #[error("the ticket kept changing; try again")]
    Busy,
    /// The store failed, or the ticket does not exist ([`StoreError::NotFound`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the action came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The web console; `nonce` is the form's, so a form posted twice relays its answer once.
    Console {
        /// Random per rendered form.
        nonce: u64,
    },
}

impl Conversations {
    /// `actor` does `action` on ticket `code`; returns the line the expert group is told.
    ///
    /// # Errors
    ///
    /// [`DeskError::Refused`] with the reason; [`DeskError::Store`] (`NotFound` for an unknown
    /// ticket); [`DeskError::Busy`] after repeated concurrent changes.
    pub async fn expert_act(
        &self,
        code: &str,
        actor: &str,
        action: &Action,
        origin: Origin,
    ) -> Result<String, DeskError> {
        let store = self.store();
        for _ in 0..RETRIES {
            let ticket = store.ticket(code).await?;
            let seen = Seen {
                status: ticket.status.clone(),
                expert: ticket.expert.clone(),
            };
            let content = self.content().get();
            let change = desk::decide(code, &seen, actor, action, |t| content.topics.contains(t))?;
            if change.unchanged {
                return Ok(change.summary);
            }
            let now = self.clock().now();
            let mut write = ExpertWrite {
                inbox_id: None,
                now: Some(now),
                ticket: Some(code.to_string()),
                status: change.status.map(str::to_string),
                expert: change.expert.clone(),
                topic: change.topic.clone(),
                expect: Some((seen.status.clone(), seen.expert.clone())),
                reopen: change.reopen,
                ..ExpertWrite::default()
            };
            let row = |author: &str, body: &str| TicketMessageRow {
                ticket: code.to_string(),
                author: author.into(),
                kind: "text".into(),
                body: body.into(),
                file_id: None,
                expert: Some(actor.to_string()),
            };
            if let Some(note) = &change.note {
                write.message = Some(row("note", note));
            }
            if let Some(answer) = &change.answer {
                write.message = Some(row("expert", answer));
                let (channel, user) = store.teacher_address(ticket.teacher_id).await?;
                let payload = serde_json::to_string(&InboundMessage::ExpertAnswer {
                    ticket: code.to_string(),
                    text: answer.clone(),
                })
                .unwrap_or_default();
                let Origin::Console { nonce } = origin;
                let external = format!("expert:console:{code}:{nonce:016x}");
                if store.inbox_has(&channel, &external).await? {
                    // The same form posted again (a double click, a reload): done already.
                    return Ok(change.summary);
                }
                write.relay = Some((channel, user, external, payload));
            }
            if let Some(group) = self.expert_group() {
                write.replies.push((
                    ticket.teacher_id,
                    group.to_string(),
                    crate::sla_watch::in_topic(
                        code,
                        &format!("{} (from the console)", change.summary),
                    ),
                ));
            }
            match store.commit_expert(&write).await {
                Ok(()) => {
                    self.kick();
                    self.notify_committed();
                    return Ok(change.summary);
                }
                Err(StoreError::Conflict) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Err(DeskError::Busy)
    }
}
